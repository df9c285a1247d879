//! What each secondary table holds of its source, durably: the source Delta
//! version (and that commit's time) its last successful clone copied, and
//! the source's latest commit as the last replication cycle read it
//! (`DESCRIBE HISTORY … LIMIT 1`) with when it was read.
//!
//! A cycle re-clones only tables whose source moved past the replicated
//! version; `status` reports each table's RPO from these rows (as of the
//! last reading, with its age) instead of reading every history on demand.
//! Keyed by the pair and the table's full name (the same on both sides of
//! a pair; two pairs may well both hold a `main.sales.orders`).

use std::collections::BTreeMap;

use sqlx::any::AnyRow;

use super::{column, Store, StoreError};

/// One table's row. A table read but never cloned has no replicated
/// version; one cloned but not read since has no source reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableVersion {
    pub table_name: String,
    pub replicated: Option<Commit>,
    /// When the replicated version was recorded (the clone finished).
    pub replicated_ms: Option<i64>,
    pub source: Option<Commit>,
    /// When the source was last read.
    pub read_ms: Option<i64>,
}

/// A Delta commit: its version and its timestamp (epoch ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commit {
    pub version: i64,
    pub commit_ms: i64,
}

impl Store {
    /// A clone of `table_name` copied source `commit`. Never moves the
    /// recorded version back (a late result of an older clone).
    pub async fn record_replicated(
        &self,
        pair: &str,
        table_name: &str,
        commit: Commit,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO table_versions (table_name, replicated_version, replicated_commit_ms, replicated_ms, pair)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (pair, table_name) DO UPDATE SET
                replicated_version = excluded.replicated_version,
                replicated_commit_ms = excluded.replicated_commit_ms,
                replicated_ms = excluded.replicated_ms
             WHERE table_versions.replicated_version IS NULL
                OR table_versions.replicated_version <= excluded.replicated_version",
        )
        .bind(table_name)
        .bind(commit.version)
        .bind(commit.commit_ms)
        .bind(now_ms)
        .bind(pair)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A cycle read the source's latest commit of `table_name` at `now_ms`.
    pub async fn record_source_reading(
        &self,
        pair: &str,
        table_name: &str,
        commit: Commit,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO table_versions (table_name, source_version, source_commit_ms, read_ms, pair)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (pair, table_name) DO UPDATE SET
                source_version = excluded.source_version,
                source_commit_ms = excluded.source_commit_ms,
                read_ms = excluded.read_ms",
        )
        .bind(table_name)
        .bind(commit.version)
        .bind(commit.commit_ms)
        .bind(now_ms)
        .bind(pair)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every table's row of `pair`, by name.
    pub async fn table_versions(&self, pair: &str) -> Result<Vec<TableVersion>, StoreError> {
        let rows = sqlx::query("SELECT * FROM table_versions WHERE pair = $1 ORDER BY table_name")
            .bind(pair)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }
}

impl Store {
    /// Every pair's rows, by pair and then by name: a card over many pairs
    /// reads them once.
    pub async fn table_versions_of_every_pair(&self) -> Result<BTreeMap<String, Vec<TableVersion>>, StoreError> {
        let rows = sqlx::query("SELECT * FROM table_versions ORDER BY pair, table_name").fetch_all(self.pool()).await?;
        let mut by_pair: BTreeMap<String, Vec<TableVersion>> = BTreeMap::new();
        for row in &rows {
            by_pair.entry(column(row, "pair")?).or_default().push(from_row(row)?);
        }
        Ok(by_pair)
    }
}

fn from_row(row: &AnyRow) -> Result<TableVersion, StoreError> {
    let commit =
        |version: Option<i64>, commit_ms: Option<i64>| Some(Commit { version: version?, commit_ms: commit_ms? });
    Ok(TableVersion {
        table_name: column(row, "table_name")?,
        replicated: commit(column(row, "replicated_version")?, column(row, "replicated_commit_ms")?),
        replicated_ms: column(row, "replicated_ms")?,
        source: commit(column(row, "source_version")?, column(row, "source_commit_ms")?),
        read_ms: column(row, "read_ms")?,
    })
}
