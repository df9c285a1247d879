//! Every tag of a metastore, catalog to column, in five statements.
//!
//! Unity Catalog publishes tags as `information_schema` views (Databricks
//! SQL reference, "Information schema", and the pages of each view):
//! `CATALOG_TAGS (CATALOG_NAME, TAG_NAME, TAG_VALUE)`, `SCHEMA_TAGS
//! (CATALOG_NAME, SCHEMA_NAME, …)`, `TABLE_TAGS (CATALOG_NAME, SCHEMA_NAME,
//! TABLE_NAME, …)` (tables and views), `COLUMN_TAGS (…, TABLE_NAME,
//! COLUMN_NAME, …)` and `VOLUME_TAGS (CATALOG_NAME, SCHEMA_NAME,
//! VOLUME_NAME, …)`, every column non-null, rows "displayed only for" the
//! objects the caller may interact with; the `system` catalog's
//! `information_schema` covers every catalog. No REST list returns tags
//! (only one entity-tag-assignments call per object would), so a read
//! without a running SQL warehouse records tags as not read
//! (`SkippedPart::Tags`), which the diff takes as unknown and readiness and
//! the dry run show: never as "no tags".

use std::collections::{BTreeMap, HashMap};

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::snapshot::{Skipped, SkippedPart, Snapshot, Tags};
use crate::databricks::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// The views read, with the columns naming the object (before `tag_name,
/// tag_value`).
pub const VIEWS: [(&str, &[&str]); 5] = [
    ("catalog_tags", &["catalog_name"]),
    ("schema_tags", &["catalog_name", "schema_name"]),
    ("table_tags", &["catalog_name", "schema_name", "table_name"]),
    ("column_tags", &["catalog_name", "schema_name", "table_name", "column_name"]),
    ("volume_tags", &["catalog_name", "schema_name", "volume_name"]),
];

/// `SELECT <name columns>, tag_name, tag_value FROM system.information_schema.<view>`.
pub fn query(view: &str, name_columns: &[&str]) -> String {
    format!("SELECT {}, tag_name, tag_value FROM `system`.`information_schema`.`{view}`", name_columns.join(", "))
}

/// Tags by full name (`catalog.schema.table` for a column's table, then by
/// column name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BulkTags {
    pub catalogs: HashMap<String, Tags>,
    pub schemas: HashMap<String, Tags>,
    pub tables: HashMap<String, Tags>,
    pub columns: HashMap<String, BTreeMap<String, Tags>>,
    pub volumes: HashMap<String, Tags>,
}

/// Runs the five statements at once on `warehouse_id`, each once one of
/// `permits` is free.
pub async fn read(
    client: &WorkspaceClient,
    token: &AccessToken,
    warehouse_id: &str,
    deadline: Instant,
    permits: &Semaphore,
) -> Result<BulkTags, DatabricksError> {
    let run = |(view, names): (&'static str, &'static [&'static str])| async move {
        let _permit = permits.acquire().await.ok();
        let (_, rows) = client.query(token, warehouse_id, &query(view, names), deadline).await?;
        Ok::<_, DatabricksError>(fold(rows, names.len()))
    };
    let (catalogs, schemas, tables, columns, volumes) =
        tokio::try_join!(run(VIEWS[0]), run(VIEWS[1]), run(VIEWS[2]), run(VIEWS[3]), run(VIEWS[4]))?;
    Ok(BulkTags { catalogs, schemas, tables, columns: by_table(columns), volumes })
}

/// Column tags (keyed `table` + unit separator + `column` by `fold`) by
/// table, then column.
fn by_table(columns: HashMap<String, Tags>) -> HashMap<String, BTreeMap<String, Tags>> {
    let mut out: HashMap<String, BTreeMap<String, Tags>> = HashMap::new();
    for (name, tags) in columns {
        if let Some((table, column)) = name.split_once('\u{1f}') {
            out.entry(table.to_string()).or_default().insert(column.to_string(), tags);
        }
    }
    out
}

/// Rows `name parts…, tag_name, tag_value` → object → tags. The table of a
/// column is separated from the column by a unit separator, which no row
/// carries (control characters are refused in names). A row with a missing
/// value is wire garbage and is dropped, never a panic.
fn fold(rows: Vec<Vec<Option<String>>>, name_parts: usize) -> HashMap<String, Tags> {
    let mut out: HashMap<String, Tags> = HashMap::new();
    for row in rows {
        if row.len() != name_parts + 2 {
            continue;
        }
        let Some(values) = row.into_iter().collect::<Option<Vec<String>>>() else { continue };
        let name = match name_parts {
            4 => format!("{}\u{1f}{}", values[..3].join("."), values[3]),
            _ => values[..name_parts].join("."),
        };
        out.entry(name).or_default().insert(values[name_parts].clone(), values[name_parts + 1].clone());
    }
    out
}

/// Puts the tags on every object the snapshot holds; an object with no row
/// has no tags.
pub fn apply(snapshot: &mut Snapshot, mut tags: BulkTags) {
    for (name, catalog) in snapshot.catalogs.iter_mut() {
        catalog.common.tags = tags.catalogs.remove(name).unwrap_or_default();
    }
    for (name, schema) in snapshot.schemas.iter_mut() {
        schema.common.tags = tags.schemas.remove(name).unwrap_or_default();
    }
    for (name, table) in snapshot.tables.iter_mut() {
        table.common.tags = tags.tables.remove(name).unwrap_or_default();
        for metadata in table.column_metadata.values_mut() {
            metadata.tags.clear();
        }
        for (column, column_tags) in tags.columns.remove(name).unwrap_or_default() {
            table.column_metadata.entry(column).or_default().tags = column_tags;
        }
    }
    for (name, volume) in snapshot.volumes.iter_mut() {
        volume.common.tags = tags.volumes.remove(name).unwrap_or_default();
    }
}

/// The record of tags not read, and why.
pub fn unread(reason: String) -> Skipped {
    Skipped { securable: "metastore".into(), full_name: String::new(), part: SkippedPart::Tags, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::fixtures::*;
    use crate::replication::snapshot::CatalogKind;

    fn row(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| Some(v.to_string())).collect()
    }

    #[test]
    fn rows_fold_onto_the_objects_and_garbage_is_dropped() {
        assert_eq!(
            query(VIEWS[3].0, VIEWS[3].1),
            "SELECT catalog_name, schema_name, table_name, column_name, tag_name, tag_value \
             FROM `system`.`information_schema`.`column_tags`"
        );
        let tables =
            fold(vec![row(&["main", "sales", "orders", "tier", "gold"]), vec![None, None, None, None, None]], 3);
        assert_eq!(tables.len(), 1);
        let columns = fold(vec![row(&["main", "sales", "orders", "e.mail", "pii", ""]), row(&["x", "y"])], 4);
        let mut snapshot = empty(PRIMARY_ID)
            .with_catalog(catalog("main", CatalogKind::Managed))
            .with_schema(schema("main", "sales"))
            .with_table(managed("main.sales.orders", 1));
        snapshot.tables.get_mut("main.sales.orders").unwrap().common.tags.insert("stale".into(), "x".into());
        let catalogs = fold(vec![row(&["main", "env", "prod"])], 1);
        apply(&mut snapshot, BulkTags { catalogs, tables, columns: by_table(columns), ..Default::default() });
        assert_eq!(snapshot.catalogs["main"].common.tags["env"], "prod");
        let orders = &snapshot.tables["main.sales.orders"];
        assert_eq!(orders.common.tags, [("tier".to_string(), "gold".to_string())].into());
        assert_eq!(orders.column_metadata["e.mail"].tags["pii"], "");
        assert!(snapshot.schemas["main.sales"].common.tags.is_empty());
    }
}
