//! What a Delta table holds, as far as a reader of its rows can tell: how
//! many rows, an order-independent digest of them, and its columns. The
//! sandbox stores no rows; it derives them, so that what Databricks
//! promises of a deep clone holds by construction (FIDELITY.md,
//! "Verification"):
//!
//! - a table that is not a clone holds the rows of its own history: its
//!   content is a function of its name and its Delta version, so every
//!   commit (an append, the writer's commits) changes count and digest;
//! - a deep clone of source version `v` holds exactly the source's rows at
//!   `v` ("A deep clone is a clone that copies the source table data to the
//!   clone target", Clone a table on Azure Databricks): its content is the
//!   source's content at `v`, whether the source was named, read through a
//!   share, or by its storage path;
//! - a clone written after it was cloned (a commit since, `Table::append`)
//!   holds those rows and more: its content moves away from the source's.
//!
//! The statements answered are exactly the ones drbot's `verify` sends
//! (`SELECT COUNT(*) AS row_count [, bit_xor(xxhash64(*)) AS row_hash] FROM
//! t`, `DESCRIBE DETAIL t`, `information_schema.columns`); the hash is the
//! sandbox's own 64-bit digest, not xxHash: only its equality means anything.

use serde_json::{json, Value};

use super::super::metastore::{Column, Metastore, Principal, Securable, Table};
use super::execute::{Outcome, SharedTables, StatementError, Storage};

/// Rows added by each commit of the sandbox's tables.
const ROWS_PER_COMMIT: i64 = 10;
/// Bytes a row takes on storage, for `sizeInBytes`.
const BYTES_PER_ROW: i64 = 96;
/// Bytes of a Delta table's files beyond its rows (the log, footers).
const BYTES_OVERHEAD: i64 = 4_096;

/// A table's rows, as a reader counts and digests them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Content {
    pub rows: i64,
    pub digest: i64,
}

/// FNV-1a, 64 bits: stable across runs and builds, unlike `std`'s hasher.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// The rows of the table that began as `origin` at its version `version`.
fn at(origin: &str, version: i64) -> Content {
    let base = (fnv(origin) % 900) as i64 + 100;
    Content { rows: base + version.max(0) * ROWS_PER_COMMIT, digest: fnv(&format!("{origin}@{version}")) as i64 }
}

/// The name the sandbox derives a table's rows from: its own full name.
/// A share's provider reports it for the tables it shares.
pub fn origin_of(table: &Table) -> String {
    table.full_name()
}

/// What `table` of `metastore` holds.
pub fn content(metastore: &Metastore, storage: &Storage, shared: SharedTables<'_>, table: &Table) -> Content {
    let Some((source, version)) = &table.cloned_from else {
        return at(&origin_of(table), table.delta_version);
    };
    let origin = clone_origin(metastore, storage, shared, table, source);
    let mut content = at(&origin, *version);
    // Commits since the clone (an append sets `properties_commit` to the
    // version the clone had): its own rows on top of the copied ones.
    if let Some((cloned_at, _)) = table.properties_commit {
        if table.delta_version > cloned_at {
            content.rows += (table.delta_version - cloned_at) * ROWS_PER_COMMIT;
            content.digest ^= fnv(&format!("{}@{}", table.full_name(), table.delta_version)) as i64;
        }
    }
    content
}

/// The origin of the rows a clone copied from `source` (its name as the
/// clone statement gave it).
fn clone_origin(
    metastore: &Metastore,
    storage: &Storage,
    shared: SharedTables<'_>,
    table: &Table,
    source: &str,
) -> String {
    if let Some(path) = source.strip_prefix("delta.`").and_then(|p| p.strip_suffix('`')) {
        let path = path.trim_end_matches('/');
        return storage.origins.read().get(path).cloned().unwrap_or_else(|| path.to_string());
    }
    let parts: Vec<&str> = source.split('.').collect();
    if let [catalog, schema, name] = parts[..] {
        if let Some(mounted) = metastore.catalogs.get(catalog).filter(|c| c.catalog_type == "DELTASHARING_CATALOG") {
            let (provider, share) =
                (mounted.provider_name.clone().unwrap_or_default(), mounted.share_name.clone().unwrap_or_default());
            if let Some((_, _, origin)) = shared(&provider, &share, schema, name) {
                return origin;
            }
        }
    }
    // A clone of a table of the same metastore (or, seeded, of the
    // primary's same-named table): that table's own origin.
    match metastore.tables.get(source) {
        Some(other) if other.full_name() != table.full_name() && other.cloned_from.is_none() => origin_of(other),
        _ => source.to_string(),
    }
}

/// The columns a reader sees: the modelled ones, or for a Delta table
/// whose columns the sandbox does not model, the same three for every
/// table (a clone copies its source's schema, so both sides agree).
pub fn columns_of(table: &Table) -> Vec<Column> {
    if !table.columns.is_empty() || table.data_source_format.as_deref() != Some("DELTA") {
        return table.columns.clone();
    }
    [("id", "BIGINT"), ("amount", "DECIMAL(18,2)"), ("updated_at", "TIMESTAMP")]
        .iter()
        .map(|(name, type_text)| Column {
            name: name.to_string(),
            type_text: type_text.to_string(),
            partition_index: None,
        })
        .collect()
}

fn failed(code: &str, message: String) -> StatementError {
    StatementError::new(code, message)
}

/// The Delta table a data statement reads: it exists, is Delta (the
/// sandbox models no rows of views or files), and `who` may SELECT it.
fn readable<'a>(metastore: &'a Metastore, who: &Principal, full_name: &str) -> Result<&'a Table, StatementError> {
    let table = metastore.tables.get(full_name).ok_or_else(|| {
        failed(
            "TABLE_OR_VIEW_NOT_FOUND",
            format!("The table or view `{}` cannot be found.", full_name.replace('.', "`.`")),
        )
    })?;
    let parts: Vec<&str> = full_name.split('.').collect();
    metastore.require_use(who, parts[0], Some(parts[1]))?;
    if !metastore.reads(who, Securable::Table, full_name) {
        return Err(failed(
            "INSUFFICIENT_PERMISSIONS",
            format!("Insufficient privileges: User does not have SELECT on Table '{full_name}'."),
        ));
    }
    if table.data_source_format.as_deref() != Some("DELTA") {
        return Err(failed(
            "UNSUPPORTED_FEATURE",
            format!("The sandbox models the rows of Delta tables only; '{full_name}' is not one."),
        ));
    }
    Ok(table)
}

/// `SELECT COUNT(*) AS row_count [, bit_xor(xxhash64(*)) AS row_hash] FROM t`.
pub fn count(
    metastore: &Metastore,
    storage: &Storage,
    shared: SharedTables<'_>,
    who: &Principal,
    full_name: &str,
    hash: bool,
) -> Result<Outcome, StatementError> {
    let table = readable(metastore, who, full_name)?;
    let content = content(metastore, storage, shared, table);
    let mut outcome = Outcome { columns: vec!["row_count"], rows: vec![vec![json!(content.rows)]] };
    if hash {
        outcome.columns.push("row_hash");
        // `bit_xor` of no rows is NULL.
        outcome.rows[0].push(if content.rows == 0 { Value::Null } else { json!(content.digest) });
    }
    Ok(outcome)
}

/// `DESCRIBE DETAIL t`: one row; the sandbox answers the documented columns
/// it models (`format`, `id`, `name`, `location`, `numFiles`,
/// `sizeInBytes`, `partitionColumns`).
pub fn detail(
    metastore: &Metastore,
    storage: &Storage,
    shared: SharedTables<'_>,
    who: &Principal,
    full_name: &str,
) -> Result<Outcome, StatementError> {
    let table = readable(metastore, who, full_name)?;
    let content = content(metastore, storage, shared, table);
    let size = content.rows * BYTES_PER_ROW + BYTES_OVERHEAD;
    let partitions: Vec<&str> =
        table.columns.iter().filter(|c| c.partition_index.is_some()).map(|c| c.name.as_str()).collect();
    Ok(Outcome {
        columns: vec!["format", "id", "name", "location", "numFiles", "sizeInBytes", "partitionColumns"],
        rows: vec![vec![
            json!("delta"),
            json!(format!("{:016x}", fnv(&table.full_name()))),
            json!(table.full_name()),
            json!(table.storage_location),
            json!(1 + table.delta_version.max(0)),
            json!(size),
            json!(serde_json::to_string(&partitions).unwrap_or_default()),
        ]],
    })
}

/// The `COLUMNS` view's columns the sandbox models (all documented).
const COLUMN_COLUMNS: &[&str] = &[
    "table_catalog",
    "table_schema",
    "table_name",
    "column_name",
    "ordinal_position",
    "is_nullable",
    "full_data_type",
    "data_type",
];

/// `SELECT … FROM catalog.information_schema.columns`: one row per column of
/// every table and view the caller may interact with (`Metastore::visible`).
pub fn columns_view(
    metastore: &Metastore,
    who: &Principal,
    catalog: &str,
    columns: &[String],
    direct_only: bool,
) -> Result<Outcome, StatementError> {
    if direct_only {
        return Err(failed(
            "UNRESOLVED_COLUMN.WITH_SUGGESTION",
            format!("A column with name `inherited_from` cannot be resolved. Did you mean one of {COLUMN_COLUMNS:?}?"),
        ));
    }
    let picked = super::information_schema::pick(columns, COLUMN_COLUMNS)?;
    let every_catalog = catalog == "system";
    let mut rows = Vec::new();
    for table in metastore.tables.values() {
        if !(every_catalog || table.catalog.eq_ignore_ascii_case(catalog))
            || !metastore.visible(who, Securable::Table, &table.full_name())
        {
            continue;
        }
        for (position, column) in columns_of(table).iter().enumerate() {
            let row = [
                json!(table.catalog),
                json!(table.schema),
                json!(table.name),
                json!(column.name),
                // "The position (numbered from 1) of the column within the relation."
                json!(position + 1),
                json!("YES"),
                json!(column.type_text.to_ascii_lowercase()),
                json!(super::super::metastore::type_name(&column.type_text)),
            ];
            rows.push(picked.iter().map(|&i| row[i].clone()).collect());
        }
    }
    Ok(Outcome { columns: picked.iter().map(|&i| COLUMN_COLUMNS[i]).collect(), rows })
}
