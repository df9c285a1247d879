//! What a primary holds of the kinds some replication leaves out: its
//! materialized views, streaming tables and managed volumes (whose files a
//! metadata-only copy lacks), and its schemas (where registered models are
//! listed). Read from the snapshot readiness already took, so a dashboard
//! can say what Databricks' managed DR does not cover without reading the
//! metastore again.

use crate::replication::snapshot::{Snapshot, TableKind};

/// The primary's objects of those kinds, by full name, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    pub materialized_views: Vec<String>,
    pub streaming_tables: Vec<String>,
    pub managed_volumes: Vec<String>,
    /// `(catalog, schema)`.
    pub schemas: Vec<(String, String)>,
}

impl Inventory {
    pub fn of(snapshot: &Snapshot) -> Inventory {
        let tables = |kind: TableKind| -> Vec<String> {
            snapshot.tables.iter().filter(|(_, t)| t.kind == kind).map(|(name, _)| name.clone()).collect()
        };
        Inventory {
            materialized_views: tables(TableKind::MaterializedView),
            streaming_tables: tables(TableKind::StreamingTable),
            managed_volumes: snapshot
                .volumes
                .iter()
                .filter(|(_, v)| v.volume_type.eq_ignore_ascii_case("MANAGED"))
                .map(|(name, _)| name.clone())
                .collect(),
            schemas: snapshot.schemas.values().map(|s| (s.catalog.clone(), s.name.clone())).collect(),
        }
    }

    /// Only what lies in `catalogs`.
    pub fn within(&self, catalogs: &[String]) -> Inventory {
        let inside = |name: &String| name.split('.').next().is_some_and(|c| catalogs.iter().any(|k| k == c));
        let keep = |names: &[String]| names.iter().filter(|n| inside(n)).cloned().collect();
        Inventory {
            materialized_views: keep(&self.materialized_views),
            streaming_tables: keep(&self.streaming_tables),
            managed_volumes: keep(&self.managed_volumes),
            schemas: self.schemas.iter().filter(|(c, _)| catalogs.contains(c)).cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_lies_in_the_catalogs_is_kept() {
        let inventory = Inventory {
            materialized_views: vec!["main.s.mv".into(), "other.s.mv".into()],
            streaming_tables: vec!["main.s.st".into()],
            managed_volumes: vec!["other.s.v".into()],
            schemas: vec![("main".into(), "s".into()), ("other".into(), "s".into())],
        };
        let main = inventory.within(&["main".into()]);
        assert_eq!(main.materialized_views, ["main.s.mv"]);
        assert_eq!(main.streaming_tables, ["main.s.st"]);
        assert!(main.managed_volumes.is_empty());
        assert_eq!(main.schemas, [("main".to_string(), "s".to_string())]);
    }
}
