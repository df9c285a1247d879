//! Whether a statement with a storage path can run on a metastore: pure
//! checks of a snapshot's external locations, so the planner blocks what
//! would fail and readiness shows it before anyone replicates.
//!
//! Unity Catalog's rules (sandbox/FIDELITY.md, "Storage permissions"), on
//! the metastore that runs the statement:
//! - every path read or written must be inside an external location of
//!   that metastore (locations never nest, so there is at most one);
//! - reading files by path (`DEEP CLONE delta.\`path\``) needs READ FILES on
//!   it; a new external table needs CREATE EXTERNAL TABLE, an external
//!   volume CREATE EXTERNAL VOLUME; a read-only location takes neither;
//! - the principal must own the location or hold the privilege (directly or
//!   through a group; ALL PRIVILEGES counts). Being a metastore admin is not
//!   enough;
//! - a table's or volume's path may not overlap another table's or
//!   volume's, nor a catalog's or schema's managed storage.

use std::fmt;

use super::snapshot::{LocationInfo, Principal, Snapshot};

/// What a statement needs of the location covering a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Need {
    ReadFiles,
    CreateExternalTable,
    CreateExternalVolume,
}

impl Need {
    /// As SQL spells the privilege (`GRANT READ FILES ON EXTERNAL LOCATION …`).
    pub fn sql(self) -> &'static str {
        match self {
            Need::ReadFiles => "READ FILES",
            Need::CreateExternalTable => "CREATE EXTERNAL TABLE",
            Need::CreateExternalVolume => "CREATE EXTERNAL VOLUME",
        }
    }

    /// As the permissions API spells it.
    fn api(self) -> &'static str {
        match self {
            Need::ReadFiles => "READ_FILES",
            Need::CreateExternalTable => "CREATE_EXTERNAL_TABLE",
            Need::CreateExternalVolume => "CREATE_EXTERNAL_VOLUME",
        }
    }
}

/// Why a path cannot be used, each with the fix in its `Display`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum StorageProblem {
    /// No external location of the metastore covers the path.
    NoLocation { path: String, need: Need },
    /// The covering location is read-only and the statement writes.
    ReadOnly { path: String, location: String, need: Need },
    /// The principal neither owns the location nor holds the privilege.
    NoPrivilege { path: String, location: String, need: Need, principal: String },
    /// The path overlaps another object's path.
    Overlap { path: String, other: String },
}

impl StorageProblem {
    /// What one blocker stands for: problems of the same key have the same
    /// fix (a location, or a container without one).
    pub fn key(&self) -> String {
        match self {
            StorageProblem::NoLocation { path, need } => format!("none:{}:{need:?}", container(path)),
            StorageProblem::ReadOnly { location, need, .. } => format!("read-only:{location}:{need:?}"),
            StorageProblem::NoPrivilege { location, need, principal, .. } => {
                format!("privilege:{location}:{need:?}:{principal}")
            }
            StorageProblem::Overlap { path, .. } => format!("overlap:{path}"),
        }
    }

    pub fn path(&self) -> &str {
        match self {
            StorageProblem::NoLocation { path, .. }
            | StorageProblem::ReadOnly { path, .. }
            | StorageProblem::NoPrivilege { path, .. }
            | StorageProblem::Overlap { path, .. } => path,
        }
    }
}

impl fmt::Display for StorageProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageProblem::NoLocation { path, need } => write!(
                f,
                "no external location on the secondary covers {path}: create one on {} (drbot deploy's bootstrap does) and grant {} on it to the identity that replicates",
                container(path),
                need.sql()
            ),
            StorageProblem::ReadOnly { path, location, need } => write!(
                f,
                "external location {location} covering {path} is read-only, and {} writes: make it writable or add a writable one for that path",
                need.sql()
            ),
            StorageProblem::NoPrivilege { path, location, need, principal } => write!(
                f,
                "{principal} lacks {} on external location {location} (covering {path}): GRANT {} ON EXTERNAL LOCATION `{location}` TO `{principal}`",
                need.sql(),
                need.sql()
            ),
            StorageProblem::Overlap { path, other } => write!(
                f,
                "{path} overlaps {other} on the secondary; Unity Catalog paths may not overlap: move or drop that object"
            ),
        }
    }
}

/// `abfss://container@account.dfs.core.windows.net/` of a path: the unit a
/// location is usually made for.
fn container(path: &str) -> String {
    match path.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}/", rest.split('/').next().unwrap_or_default()),
        None => path.to_string(),
    }
}

/// Whether `inner` is `outer` or below it, by whole path segments.
pub fn within(inner: &str, outer: &str) -> bool {
    let (inner, outer) = (inner.trim_end_matches('/'), outer.trim_end_matches('/'));
    inner == outer || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('/'))
}

fn overlaps(a: &str, b: &str) -> bool {
    within(a, b) || within(b, a)
}

/// Whether `path` may be used for `need` on the metastore of `snapshot` by
/// the principal that read it. `object` is the full name of the table or
/// volume being made (its own path is no overlap; `None` for a path only
/// read). A snapshot without its external locations judges nothing.
pub fn check(snapshot: &Snapshot, path: &str, need: Need, object: Option<&str>) -> Result<(), StorageProblem> {
    let Some(storage) = &snapshot.storage else { return Ok(()) };
    let Some(location) = storage.locations.iter().find(|l| within(path, &l.url)) else {
        return Err(StorageProblem::NoLocation { path: path.into(), need });
    };
    if need != Need::ReadFiles && location.read_only {
        return Err(StorageProblem::ReadOnly { path: path.into(), location: location.name.clone(), need });
    }
    if let Some(reader) = &storage.reader {
        if !may(reader, location, need) {
            return Err(StorageProblem::NoPrivilege {
                path: path.into(),
                location: location.name.clone(),
                need,
                principal: reader.name.clone(),
            });
        }
    }
    if let Some(object) = object {
        if let Some(other) = overlapping(snapshot, path, object) {
            return Err(StorageProblem::Overlap { path: path.into(), other });
        }
    }
    Ok(())
}

/// Owner (itself or a group of it) or holder of the privilege. Grants that
/// could not be read are not held against the principal.
fn may(reader: &Principal, location: &LocationInfo, need: Need) -> bool {
    let names = || std::iter::once(&reader.name).chain(reader.groups.iter());
    names().any(|n| *n == location.owner)
        || !location.grants_read
        || names().any(|n| {
            location
                .grants
                .get(n.as_str())
                .is_some_and(|held| held.contains(need.api()) || held.contains("ALL_PRIVILEGES"))
        })
}

/// Another table's or volume's path, or a managed storage root, that
/// `path` overlaps (a description of it).
fn overlapping(snapshot: &Snapshot, path: &str, object: &str) -> Option<String> {
    let tables = snapshot
        .tables
        .iter()
        .filter(|(name, _)| name.as_str() != object)
        .filter_map(|(name, t)| Some((format!("table {name}"), t.storage_location.as_deref()?)));
    let volumes = snapshot
        .volumes
        .iter()
        .filter(|(name, _)| name.as_str() != object)
        .filter_map(|(name, v)| Some((format!("volume {name}"), v.storage_location.as_deref()?)));
    let catalogs = snapshot
        .catalogs
        .iter()
        .filter_map(|(name, c)| Some((format!("the managed storage of catalog {name}"), c.storage_root.as_deref()?)));
    let schemas = snapshot
        .schemas
        .iter()
        .filter_map(|(name, s)| Some((format!("the managed storage of schema {name}"), s.storage_root.as_deref()?)));
    tables.chain(volumes).chain(catalogs).chain(schemas).find(|(_, other)| overlaps(path, other)).map(|(what, _)| what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::fixtures::*;
    use crate::replication::snapshot::{CatalogKind, StorageAccess};

    fn location(name: &str, url: &str, owner: &str) -> LocationInfo {
        LocationInfo {
            name: name.into(),
            url: url.into(),
            owner: owner.into(),
            grants_read: true,
            ..Default::default()
        }
    }

    fn secondary() -> Snapshot {
        let mut snapshot = empty(SECONDARY_ID).with_catalog(catalog("main", CatalogKind::Managed));
        snapshot.storage = Some(StorageAccess {
            locations: vec![
                location("files", "abfss://files@b.dfs.core.windows.net/", "storage-team"),
                location("source", "abfss://files@a.dfs.core.windows.net/", "dr-operators"),
            ],
            reader: Some(Principal { name: "svc".into(), groups: vec!["dr-operators".into()] }),
        });
        snapshot
    }

    #[test]
    fn a_path_needs_a_covering_location_the_privilege_and_no_overlap() {
        let mut s = secondary();
        let target = "abfss://files@b.dfs.core.windows.net/main/raw/t";
        // Through the group that owns it.
        assert_eq!(check(&s, "abfss://files@a.dfs.core.windows.net/main/raw/t", Need::ReadFiles, None), Ok(()));
        // Owned by someone else and nothing granted.
        let problem = check(&s, target, Need::CreateExternalTable, Some("main.raw.t")).unwrap_err();
        assert!(matches!(&problem, StorageProblem::NoPrivilege { location, .. } if location == "files"));
        assert!(problem.to_string().contains("GRANT CREATE EXTERNAL TABLE ON EXTERNAL LOCATION `files` TO `svc`"));
        let files = &mut s.storage.as_mut().unwrap().locations[0];
        files.grants.entry("dr-operators".into()).or_default().insert("CREATE_EXTERNAL_TABLE".into());
        assert_eq!(check(&s, target, Need::CreateExternalTable, Some("main.raw.t")), Ok(()));
        assert!(matches!(
            check(&s, target, Need::CreateExternalVolume, Some("main.raw.t")),
            Err(StorageProblem::NoPrivilege { .. })
        ));
        // Uncovered, read-only, overlapping.
        let elsewhere = check(&s, "abfss://x@c.dfs.core.windows.net/t", Need::CreateExternalTable, Some("main.raw.u"));
        assert!(
            matches!(&elsewhere, Err(p @ StorageProblem::NoLocation { .. }) if p.to_string().contains("abfss://x@c.dfs.core.windows.net/"))
        );
        s.storage.as_mut().unwrap().locations[1].read_only = true;
        assert!(matches!(
            check(&s, "abfss://files@a.dfs.core.windows.net/t", Need::CreateExternalTable, Some("main.raw.u")),
            Err(StorageProblem::ReadOnly { .. })
        ));
        let mut taken = external("main.raw.other", "CSV");
        taken.storage_location = Some(format!("{target}/part"));
        let s = s.with_table(taken);
        assert!(matches!(
            check(&s, target, Need::CreateExternalTable, Some("main.raw.t")),
            Err(StorageProblem::Overlap { other, .. }) if other == "table main.raw.other"
        ));
        // Unread locations judge nothing.
        let unread = Snapshot { storage: None, ..s };
        assert_eq!(check(&unread, "abfss://nowhere/x", Need::ReadFiles, None), Ok(()));
    }
}
