//! Which tables `verify` answers for, and the ones it can already say it
//! cannot compare (with why): pure.
//!
//! In scope: every table and view of the primary in a schema replication
//! copies (the pair's catalogs and schema pattern, `diff::is_replicated_schema`),
//! and every table of the secondary in such a schema that the primary lacks.
//! Each is either compared (a Delta table with data of its own on both
//! sides) or blocked with its reason. Nothing in scope is left out.

use crate::replication::diff::is_replicated_schema;
use crate::replication::snapshot::{Snapshot, TableInfo, TableKind};
use crate::replication::ReplicationConfig;

/// One table in scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InScope {
    pub table: String,
    /// `managed`, `external`, `view`, …
    pub kind: String,
    /// `None`: compare it; else why it cannot be.
    pub blocked: Option<String>,
}

/// Every table in scope, by name.
pub fn scope(primary: &Snapshot, secondary: &Snapshot, config: &ReplicationConfig) -> Vec<InScope> {
    let replicated = |t: &TableInfo| is_replicated_schema(primary, secondary, config, &t.catalog, &t.schema);
    let mut out: Vec<InScope> = primary
        .tables
        .values()
        .filter(|t| replicated(t))
        .map(|table| {
            let name = table.full_name();
            InScope { blocked: blocked(table, secondary.tables.get(&name)), kind: kind_word(&table.kind), table: name }
        })
        .collect();
    out.extend(
        secondary.tables.values().filter(|t| replicated(t) && !primary.tables.contains_key(&t.full_name())).map(
            |table| InScope {
                table: table.full_name(),
                kind: kind_word(&table.kind),
                blocked: Some("only on the secondary: the primary has no such table to compare with".into()),
            },
        ),
    );
    out.sort_by(|a, b| a.table.cmp(&b.table));
    out
}

/// Why a primary table cannot be compared, if it cannot.
fn blocked(table: &TableInfo, replica: Option<&TableInfo>) -> Option<String> {
    let what = match &table.kind {
        TableKind::View => return Some("a view: it holds no data of its own (status compares its definition)".into()),
        TableKind::MaterializedView | TableKind::StreamingTable => {
            return Some(format!(
                "a {}: its rows are its pipeline's, refreshed on each side, not cloned",
                kind_word(&table.kind).replace('_', " ")
            ))
        }
        TableKind::Other(kind) => return Some(format!("a table of type {kind}, which verify does not compare")),
        TableKind::Managed | TableKind::External => kind_word(&table.kind),
    };
    if !table.is_delta() {
        return Some(format!(
            "not a Delta table ({} {what}): its files are copied by storage replication, and only Delta tables carry \
             the versions verify compares",
            table.format.as_deref().unwrap_or("unknown format")
        ));
    }
    match replica {
        None => Some("missing on the secondary: replicate copies it".into()),
        Some(replica) if !replica.is_delta() || !matches!(replica.kind, TableKind::Managed | TableKind::External) => {
            Some(format!("the secondary's table is not a Delta table ({})", kind_word(&replica.kind)))
        }
        Some(_) => None,
    }
}

fn kind_word(kind: &TableKind) -> String {
    match kind {
        TableKind::Managed => "managed".into(),
        TableKind::External => "external".into(),
        TableKind::View => "view".into(),
        TableKind::MaterializedView => "materialized_view".into(),
        TableKind::StreamingTable => "streaming_table".into(),
        TableKind::Other(kind) => kind.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::fixtures::*;
    use crate::replication::snapshot::CatalogKind;

    #[test]
    fn every_table_in_scope_is_compared_or_blocked_with_why() {
        let primary = empty(PRIMARY_ID)
            .with_catalog(catalog("main", CatalogKind::Managed))
            .with_schema(schema("main", "sales"))
            .with_table(managed("main.sales.orders", 1_000))
            .with_table(managed("main.sales.gone", 1_000))
            .with_table(external("main.sales.csv", "CSV"))
            .with_table(view("main.sales.v", &["main.sales.orders"]));
        let mut secondary = empty(SECONDARY_ID)
            .with_catalog(replica_of_catalog(&primary.catalogs["main"]))
            .with_schema(schema("main", "sales"))
            .with_table(managed("main.sales.scratch", 1_000));
        for name in ["orders", "csv", "v"] {
            secondary = secondary.with_table(replica_of(&primary.tables[&format!("main.sales.{name}")]));
        }
        let found: Vec<(String, bool)> =
            scope(&primary, &secondary, &config()).into_iter().map(|s| (s.table, s.blocked.is_none())).collect();
        assert_eq!(
            found,
            vec![
                ("main.sales.csv".to_string(), false),
                ("main.sales.gone".to_string(), false),
                ("main.sales.orders".to_string(), true),
                ("main.sales.scratch".to_string(), false),
                ("main.sales.v".to_string(), false),
            ]
        );
        let reasons: Vec<String> =
            scope(&primary, &secondary, &config()).into_iter().filter_map(|s| s.blocked).collect();
        assert!(reasons[0].starts_with("not a Delta table (CSV external)"), "{reasons:?}");
        assert!(reasons[1].starts_with("missing on the secondary"), "{reasons:?}");
        assert!(reasons[2].starts_with("only on the secondary"), "{reasons:?}");
        assert!(reasons[3].starts_with("a view"), "{reasons:?}");
    }
}
