//! What to replicate and under which names: the planner's only input besides
//! the two snapshots.
//!
//! The share, recipient and mounted-catalog names are derived here, in one
//! place, so that the planner, the executor and readiness agree on them and a
//! re-plan recognises what an earlier run created.

use std::collections::BTreeSet;

use super::mapping::LocationMapping;
use super::principal_map::PrincipalMap;

/// Schemas Unity Catalog creates by itself in every catalog; replicating them
/// would fail (and they are never drift).
const BUILT_IN_SCHEMAS: &[&str] = &["information_schema"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// Storage locations, primary → secondary.
    pub mapping: LocationMapping,
    /// Only these catalogs (by name), or every managed catalog when `None`.
    pub catalogs: Option<BTreeSet<String>>,
    /// Only schemas whose *name* (not full name) matches this glob (`*`, `?`).
    pub schema_pattern: Option<String>,
    /// Drop objects that exist only in the secondary. Off by default: without
    /// it they are reported and left alone.
    pub prune: bool,
    /// The Delta Sharing recipient created on the primary for the secondary.
    pub recipient_name: String,
    /// Prefix of the share created per catalog on the primary.
    pub share_prefix: String,
    /// Prefix of the catalog the share is mounted as on the secondary.
    pub shared_catalog_prefix: String,
    /// Who owns the DR shares (the DR group): a share replication creates is
    /// handed to it, and the owner's SELECT is what the shared tables need.
    /// `None`: a share stays with whoever created it.
    pub share_owner: Option<String>,
    /// Principals named otherwise on the secondary (the pair's mapping
    /// table, `principals.rs`): grants and owners replicated under the
    /// mapped name. Empty: every principal keeps its name.
    pub principals: PrincipalMap,
}

impl ReplicationConfig {
    /// Everything, no pruning, drbot's default names.
    pub fn new(mapping: LocationMapping) -> ReplicationConfig {
        ReplicationConfig {
            mapping,
            catalogs: None,
            schema_pattern: None,
            prune: false,
            recipient_name: "drbot_secondary".into(),
            share_prefix: "drbot_".into(),
            shared_catalog_prefix: "drbot_shared_".into(),
            share_owner: None,
            principals: PrincipalMap::default(),
        }
    }

    /// The share on the primary holding `catalog`'s schemas.
    pub fn share_name(&self, catalog: &str) -> String {
        format!("{}{catalog}", self.share_prefix)
    }

    /// The catalog on the secondary that mounts `catalog`'s share; managed
    /// tables are deep-cloned from it.
    pub fn shared_catalog_name(&self, catalog: &str) -> String {
        format!("{}{catalog}", self.shared_catalog_prefix)
    }

    /// Whether `name` is one of drbot's mounted share catalogs (never drift).
    pub fn is_shared_catalog_name(&self, name: &str) -> bool {
        name.starts_with(&self.shared_catalog_prefix)
    }

    pub fn includes_catalog(&self, catalog: &str) -> bool {
        if self.is_shared_catalog_name(catalog) {
            return false;
        }
        self.catalogs.as_ref().is_none_or(|wanted| wanted.contains(catalog))
    }

    /// Whether schema `schema` of an included catalog is replicated.
    pub fn includes_schema(&self, catalog: &str, schema: &str) -> bool {
        self.includes_catalog(catalog)
            && !BUILT_IN_SCHEMAS.contains(&schema)
            && self.schema_pattern.as_deref().is_none_or(|pattern| glob_match(pattern, schema))
    }
}

/// `*` matches any run of characters, `?` exactly one; everything else is
/// literal and case-sensitive, as Unity Catalog names are stored.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Iterative matcher with one backtrack point: linear-ish, no recursion,
    // so a hostile pattern cannot blow the stack.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", ""));
        assert!(glob_match("sales_*", "sales_eu"));
        assert!(!glob_match("sales_*", "hr_eu"));
        assert!(glob_match("s?les", "sales"));
        assert!(glob_match("*_eu", "sales_eu"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(!glob_match("Sales", "sales"));
        assert!(glob_match("exact", "exact"));
    }

    #[test]
    fn filters_and_names() {
        let mut config = ReplicationConfig::new(LocationMapping::default());
        assert_eq!(config.share_name("main"), "drbot_main");
        assert_eq!(config.shared_catalog_name("main"), "drbot_shared_main");
        assert!(config.includes_catalog("main"));
        assert!(!config.includes_catalog("drbot_shared_main"));
        assert!(!config.includes_schema("main", "information_schema"));
        config.catalogs = Some(["main".to_string()].into());
        config.schema_pattern = Some("raw*".into());
        assert!(!config.includes_catalog("other"));
        assert!(config.includes_schema("main", "raw_events"));
        assert!(!config.includes_schema("main", "gold"));
        assert!(!config.includes_schema("other", "raw_events"));
    }
}
