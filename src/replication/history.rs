//! Each table's latest commit from its Delta history, the documented source.
//!
//! Unity Catalog's table properties `delta.lastUpdateVersion` and
//! `delta.lastCommitTimestamp` are not documented to change on every commit
//! (the open-source server updates them on metadata changes only; a
//! path-based write to an external table cannot update them). `DESCRIBE
//! HISTORY t LIMIT 1` is: it returns the newest commit first, with its
//! `version` and `timestamp` (Databricks SQL reference, "DESCRIBE HISTORY",
//! learn.microsoft.com/azure/databricks/sql/language-manual/delta-describe-history;
//! Delta Lake "Retrieve Delta table history"). One statement per table, a
//! bounded number in flight: a metadata read, cheap next to a clone.

use std::collections::BTreeMap;

use futures::StreamExt;
use tokio::time::Instant;

use super::freshness;
use super::snapshot::{DeltaState, Snapshot, TableKind};
use super::sql::quote_name;
use crate::databricks::WorkspaceClient;
use crate::identity::AccessToken;
use crate::store::table_versions::{Commit, TableVersion};
use crate::store::{Store, StoreError};

/// `DESCRIBE HISTORY `c`.`s`.`t` LIMIT 1`; `None` for a name that is not three parts.
pub fn latest_commit_statement(full_name: &str) -> Option<String> {
    let parts: Vec<&str> = full_name.split('.').collect();
    if parts.len() != 3 {
        return None;
    }
    Some(format!("DESCRIBE HISTORY {} LIMIT 1", quote_name(&parts).ok()?))
}

/// The newest commit in a `DESCRIBE HISTORY` answer (the first row). The
/// timestamp comes as ISO 8601 text, with or without an offset (then UTC).
pub fn latest_commit(columns: &[String], rows: &[Vec<Option<String>>]) -> Option<DeltaState> {
    let at = |name: &str| columns.iter().position(|c| c.eq_ignore_ascii_case(name));
    let row = rows.first()?;
    let version = row.get(at("version")?)?.as_deref()?.trim().parse::<i64>().ok()?;
    let text = row.get(at("timestamp")?)?.as_deref()?.trim();
    let last_commit_ms = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
                .map(|t| t.and_utc().timestamp_millis())
        })
        .ok()?;
    Some(DeltaState { version, last_commit_ms })
}

/// Reads the latest commit of each table, at most `concurrency` statements
/// at once. A table whose history could not be read maps to why; the
/// caller falls back to what it knew (and says so) rather than failing the cycle.
pub async fn read_latest_commits(
    client: &WorkspaceClient,
    token: &AccessToken,
    warehouse_id: &str,
    tables: Vec<String>,
    concurrency: usize,
    deadline: Instant,
) -> BTreeMap<String, Result<DeltaState, String>> {
    futures::stream::iter(tables)
        .map(|table| async move {
            let Some(sql) = latest_commit_statement(&table) else {
                return (table, Err("not a three-part name".to_string()));
            };
            let reading = match client.query(token, warehouse_id, &sql, deadline).await {
                Ok((columns, rows)) => {
                    latest_commit(&columns, &rows).ok_or_else(|| "DESCRIBE HISTORY returned no commit".to_string())
                }
                Err(error) => Err(error.to_string()),
            };
            (table, reading)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await
}

/// The source's Delta tables whose history a cycle reads: those with data
/// of their own (managed and external Delta tables; views have none).
pub fn tables_to_read(primary: &Snapshot) -> Vec<String> {
    primary
        .tables
        .values()
        .filter(|t| t.is_delta() && matches!(t.kind, TableKind::Managed | TableKind::External))
        .map(|t| t.full_name())
        .collect()
}

/// A replication cycle's freshness step, before planning: reads each source
/// Delta table's latest commit from its history (on the primary's
/// warehouse), records the readings with their time, and applies them and
/// `pair`'s recorded replicated versions to the two snapshots
/// ([`freshness::apply`]). Returns the tables whose history could not be
/// read, with why (they keep what the listing said).
#[allow(clippy::too_many_arguments)]
pub async fn freshen(
    store: &Store,
    pair: &str,
    client: &WorkspaceClient,
    token: &AccessToken,
    warehouse_id: &str,
    concurrency: usize,
    deadline: Instant,
    primary: &mut Snapshot,
    secondary: &mut Snapshot,
) -> Result<BTreeMap<String, String>, StoreError> {
    let readings =
        read_latest_commits(client, token, warehouse_id, tables_to_read(primary), concurrency, deadline).await;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut read = BTreeMap::new();
    let mut unread = BTreeMap::new();
    for (table, reading) in readings {
        match reading {
            Ok(delta) => {
                let commit = Commit { version: delta.version, commit_ms: delta.last_commit_ms };
                store.record_source_reading(pair, &table, commit, now_ms).await?;
                read.insert(table, delta);
            }
            Err(why) => {
                unread.insert(table, why);
            }
        }
    }
    let recorded = replicated(&store.table_versions(pair).await?);
    freshness::apply(primary, secondary, &read, &recorded);
    Ok(unread)
}

/// The recorded replicated source commits, by table.
pub fn replicated(rows: &[TableVersion]) -> BTreeMap<String, DeltaState> {
    rows.iter()
        .filter_map(|row| {
            let held = row.replicated?;
            Some((row.table_name.clone(), DeltaState { version: held.version, last_commit_ms: held.commit_ms }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_quoted_statement_per_table() {
        assert_eq!(
            latest_commit_statement("main.sales.or`ders").as_deref(),
            Some("DESCRIBE HISTORY `main`.`sales`.`or``ders` LIMIT 1")
        );
        assert_eq!(latest_commit_statement("main.orders"), None);
    }

    #[test]
    fn the_first_row_is_the_latest_commit() {
        let columns: Vec<String> = ["version", "timestamp", "operation"].iter().map(|c| c.to_string()).collect();
        let row = |v: &str, t: &str| vec![Some(v.to_string()), Some(t.to_string()), Some("WRITE".to_string())];
        let rows = vec![row("12", "2026-12-06T05:00:00.000+00:00"), row("11", "2026-12-06T04:00:00Z")];
        assert_eq!(latest_commit(&columns, &rows), Some(DeltaState { version: 12, last_commit_ms: 1_796_533_200_000 }));
        let spaced = vec![row("3", "2026-12-06 05:00:00.000")];
        assert_eq!(latest_commit(&columns, &spaced).map(|d| d.last_commit_ms), Some(1_796_533_200_000));
        assert_eq!(latest_commit(&columns, &[]), None);
        assert_eq!(latest_commit(&columns, &[row("x", "2026-12-06T05:00:00Z")]), None);
    }
}
