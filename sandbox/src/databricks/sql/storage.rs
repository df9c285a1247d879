//! The storage rules a statement with a path must pass, on the metastore
//! that runs it: an external location covering every path it reads or
//! writes, the caller's privilege on that location, and no overlap of a new
//! table or volume with the paths of the others (sandbox/FIDELITY.md,
//! "Storage permissions").
//!
//! Unity Catalog, "External locations" (SQL reference): a principal with
//! permission on an external location may use any path within the
//! location's path, and locations cannot nest. "Path rules and access"
//! (volumes/paths): tables and volumes cannot overlap each other, nor
//! managed storage locations. CREATE VOLUME: an external volume needs
//! CREATE EXTERNAL VOLUME on the external location. An external table needs
//! CREATE EXTERNAL TABLE on it; reading files by path (`delta.\`path\``)
//! needs READ FILES.

use super::super::metastore::{ExternalLocation, Metastore, Principal};
use super::execute::StatementError;

/// `path` without its trailing slashes, for prefix comparisons by segment.
fn trimmed(path: &str) -> &str {
    path.trim_end_matches('/')
}

/// Whether `inner` is `outer` or a path below it (by whole segments:
/// `…/ab` is not inside `…/a`).
pub fn within(inner: &str, outer: &str) -> bool {
    let (inner, outer) = (trimmed(inner), trimmed(outer));
    inner == outer || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('/'))
}

/// Whether two paths overlap: one is within the other.
pub fn overlaps(a: &str, b: &str) -> bool {
    within(a, b) || within(b, a)
}

/// The external location whose path holds `path`, if any (locations never
/// nest, so there is at most one).
pub fn covering<'a>(metastore: &'a Metastore, path: &str) -> Option<&'a ExternalLocation> {
    metastore.external_locations.values().find(|l| within(path, &l.url))
}

/// The caller's `privilege` (`READ_FILES`, `CREATE_EXTERNAL_TABLE`, …) on
/// the location covering `path`, or the refusal Databricks gives.
pub fn require(metastore: &Metastore, who: &Principal, path: &str, privilege: &str) -> Result<(), StatementError> {
    let words = privilege.replace('_', " ");
    let Some(location) = covering(metastore, path) else {
        return Err(StatementError::new(
            "PERMISSION_DENIED",
            format!("No external location of this metastore covers '{path}': {words} cannot be checked."),
        ));
    };
    if privilege != "READ_FILES" && location.read_only {
        return Err(StatementError::new(
            "PERMISSION_DENIED",
            format!("External location '{}' is read-only; '{path}' cannot be written.", location.name),
        ));
    }
    if metastore.holds_on_location(who, &location.name, privilege) {
        Ok(())
    } else {
        Err(StatementError::new(
            "PERMISSION_DENIED",
            format!("User does not have {words} on External Location '{}'.", location.name),
        ))
    }
}

/// A new table or volume at `path` must not overlap another table's or
/// volume's path, nor a catalog's or schema's managed storage root.
/// `replacing` names the table a `CREATE OR REPLACE` replaces (its own path
/// is no conflict).
pub fn require_no_overlap(metastore: &Metastore, path: &str, replacing: Option<&str>) -> Result<(), StatementError> {
    let tables = metastore
        .tables
        .iter()
        .filter(|(name, _)| Some(name.as_str()) != replacing)
        .filter_map(|(name, t)| Some((format!("table {name}"), t.storage_location.as_deref()?)));
    let volumes = metastore
        .volumes
        .iter()
        .filter_map(|(name, v)| Some((format!("volume {name}"), v.storage_location.as_deref()?)));
    let catalogs = metastore
        .catalogs
        .iter()
        .filter_map(|(name, c)| Some((format!("the managed storage of catalog {name}"), c.storage_root.as_deref()?)));
    let schemas = metastore
        .schemas
        .iter()
        .filter_map(|(name, s)| Some((format!("the managed storage of schema {name}"), s.storage_root.as_deref()?)));
    let mut all = tables.chain(volumes).chain(catalogs).chain(schemas);
    match all.find(|(_, other)| overlaps(path, other)) {
        Some((what, other)) => Err(StatementError::new(
            "INVALID_PARAMETER_VALUE",
            format!("'{path}' overlaps {what} at '{other}'; Unity Catalog paths may not overlap."),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_nest_by_whole_segments() {
        assert!(within("abfss://c@a.dfs.core.windows.net/x/y", "abfss://c@a.dfs.core.windows.net/"));
        assert!(within("abfss://c@a.dfs.core.windows.net/x", "abfss://c@a.dfs.core.windows.net/x/"));
        assert!(!within("abfss://c@a.dfs.core.windows.net/xy", "abfss://c@a.dfs.core.windows.net/x"));
        assert!(!within("abfss://c@b.dfs.core.windows.net/x", "abfss://c@a.dfs.core.windows.net/"));
        assert!(overlaps("abfss://c@a/x", "abfss://c@a/x/y") && overlaps("abfss://c@a/x/y", "abfss://c@a/x"));
    }
}
