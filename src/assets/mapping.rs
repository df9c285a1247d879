//! How a pair's primary references map to its secondary: workspace-scoped ids
//! (cluster policies, SQL warehouses, clusters), principals whose names
//! differ, and workspace paths. The pair's mapping table in the store
//! (`asset_mappings`) fills it; planning reads it and never guesses: an id
//! with no mapping blocks the object that uses it, with the reference named.
//!
//! Principals and paths map to themselves unless mapped: in Azure Databricks
//! users, groups and service principals are the account's, the same in both
//! workspaces, and the workspace kinds copy notebooks to the same paths. A
//! principal the secondary does not know fails that object's create with
//! Databricks' own words, reported on its result.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one mapping row maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingKind {
    Principal,
    ClusterPolicy,
    Warehouse,
    Cluster,
    InstancePool,
    /// A Lakeflow (DLT) pipeline a job task runs.
    Pipeline,
    /// A workspace path prefix (`/Users/a@x.com` → `/Users/b@y.com`).
    PathPrefix,
    /// An Azure Key Vault (resource id) a secret scope reads → the
    /// secondary region's vault.
    KeyVault,
}

impl MappingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MappingKind::Principal => "principal",
            MappingKind::ClusterPolicy => "cluster_policy",
            MappingKind::Warehouse => "warehouse",
            MappingKind::Cluster => "cluster",
            MappingKind::InstancePool => "instance_pool",
            MappingKind::Pipeline => "pipeline",
            MappingKind::PathPrefix => "path_prefix",
            MappingKind::KeyVault => "key_vault",
        }
    }

    pub fn parse(text: &str) -> Option<MappingKind> {
        [
            MappingKind::Principal,
            MappingKind::ClusterPolicy,
            MappingKind::Warehouse,
            MappingKind::Cluster,
            MappingKind::InstancePool,
            MappingKind::Pipeline,
            MappingKind::PathPrefix,
            MappingKind::KeyVault,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }

    /// How a reference of this kind is named in a blocked item's reason.
    pub fn noun(self) -> &'static str {
        match self {
            MappingKind::Principal => "principal",
            MappingKind::ClusterPolicy => "cluster policy",
            MappingKind::Warehouse => "SQL warehouse",
            MappingKind::Cluster => "cluster",
            MappingKind::InstancePool => "instance pool",
            MappingKind::Pipeline => "pipeline",
            MappingKind::PathPrefix => "path",
            MappingKind::KeyVault => "Key Vault",
        }
    }
}

/// A pair's mappings, by kind then source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetMapping {
    pub entries: BTreeMap<MappingKind, BTreeMap<String, String>>,
}

/// A reference planning could not map.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unmapped {
    pub kind: MappingKind,
    pub source: String,
}

impl std::fmt::Display for Unmapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} has no counterpart mapped in the secondary", self.kind.noun(), self.source)
    }
}

impl AssetMapping {
    pub fn insert(&mut self, kind: MappingKind, source: &str, target: &str) {
        self.entries.entry(kind).or_default().insert(source.to_string(), target.to_string());
    }

    fn get(&self, kind: MappingKind, source: &str) -> Option<&String> {
        self.entries.get(&kind).and_then(|m| m.get(source))
    }

    /// The pair's own warehouses as a warehouse mapping (the pair names the
    /// primary's and the secondary's), unless the table maps that id already.
    pub fn with_pair_warehouses(mut self, primary: Option<&str>, secondary: Option<&str>) -> AssetMapping {
        if let (Some(primary), Some(secondary)) = (primary, secondary) {
            let warehouses = self.entries.entry(MappingKind::Warehouse).or_default();
            warehouses.entry(primary.to_string()).or_insert_with(|| secondary.to_string());
        }
        self
    }

    /// A workspace-scoped id (policy, warehouse, cluster): only what the
    /// table maps; an id means nothing in another workspace.
    pub fn id(&self, kind: MappingKind, source: &str) -> Result<String, Unmapped> {
        self.get(kind, source).cloned().ok_or_else(|| Unmapped { kind, source: source.to_string() })
    }

    /// Whether the table maps this principal (a mapped one is taken as given).
    pub fn maps_principal(&self, source: &str) -> bool {
        self.get(MappingKind::Principal, source).is_some()
    }

    /// Every principal mapping row: (primary name, secondary name).
    pub fn principals(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.get(&MappingKind::Principal).into_iter().flatten().map(|(a, b)| (a.as_str(), b.as_str()))
    }

    /// A principal: its mapping, or itself (account identities are shared).
    pub fn principal(&self, source: &str) -> String {
        self.get(MappingKind::Principal, source).cloned().unwrap_or_else(|| source.to_string())
    }

    /// A workspace path with the longest mapped prefix replaced (whole path
    /// segments only), or itself.
    pub fn path(&self, source: &str) -> String {
        let Some(prefixes) = self.entries.get(&MappingKind::PathPrefix) else {
            return source.to_string();
        };
        let best = prefixes
            .iter()
            .filter(|(from, _)| {
                let from = from.trim_end_matches('/');
                source == from || source.strip_prefix(from).is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|(from, _)| from.len());
        match best {
            Some((from, to)) => format!("{}{}", to.trim_end_matches('/'), &source[from.trim_end_matches('/').len()..]),
            None => source.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_only_through_the_table() {
        let mut mapping = AssetMapping::default();
        mapping.insert(MappingKind::ClusterPolicy, "P1", "S1");
        assert_eq!(mapping.id(MappingKind::ClusterPolicy, "P1"), Ok("S1".into()));
        let unmapped = mapping.id(MappingKind::Warehouse, "w9").unwrap_err();
        assert_eq!(unmapped.to_string(), "SQL warehouse w9 has no counterpart mapped in the secondary");
    }

    #[test]
    fn principals_and_paths_map_to_themselves_unless_mapped() {
        let mut mapping = AssetMapping::default();
        mapping.insert(MappingKind::Principal, "a@contoso.com", "a@fabrikam.com");
        mapping.insert(MappingKind::PathPrefix, "/Users/a@contoso.com", "/Users/a@fabrikam.com/");
        mapping.insert(MappingKind::PathPrefix, "/Shared", "/Shared/dr");
        assert_eq!(mapping.principal("a@contoso.com"), "a@fabrikam.com");
        assert_eq!(mapping.principal("etl-group"), "etl-group");
        assert_eq!(mapping.path("/Users/a@contoso.com/etl/daily"), "/Users/a@fabrikam.com/etl/daily");
        assert_eq!(mapping.path("/Shared/x"), "/Shared/dr/x");
        assert_eq!(mapping.path("/SharedStuff/x"), "/SharedStuff/x", "whole segments only");
        assert_eq!(mapping.path("/Repos/r/nb"), "/Repos/r/nb");
    }

    #[test]
    fn the_pairs_warehouses_map_unless_the_table_says_otherwise() {
        let mapping = AssetMapping::default().with_pair_warehouses(Some("pw"), Some("sw"));
        assert_eq!(mapping.id(MappingKind::Warehouse, "pw"), Ok("sw".into()));
        let mut table = AssetMapping::default();
        table.insert(MappingKind::Warehouse, "pw", "other");
        assert_eq!(
            table.with_pair_warehouses(Some("pw"), Some("sw")).id(MappingKind::Warehouse, "pw"),
            Ok("other".into())
        );
        assert_eq!(AssetMapping::default().with_pair_warehouses(None, Some("sw")), AssetMapping::default());
    }

    #[test]
    fn kinds_parse_back() {
        for kind in [MappingKind::Principal, MappingKind::Warehouse, MappingKind::PathPrefix, MappingKind::KeyVault] {
            assert_eq!(MappingKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(MappingKind::parse("nope"), None);
    }
}
