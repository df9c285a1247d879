//! The manifest of managed volumes' files copied to the secondary: per
//! pair, volume and file (relative path), the source's size and
//! modification time the copy carried, and when it finished.
//!
//! Written as each file's copy succeeds, so a run killed mid-volume leaves
//! the manifest naming exactly what arrived; the next plan (or the resumed
//! run) copies only the rest (`replication/volume_files.rs` explains why
//! the source's state, not the secondary's, decides).

use std::collections::BTreeMap;

use super::{column, Store, StoreError};

/// One copied file, as the manifest holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopiedFile {
    pub source_size: i64,
    pub source_modified_ms: i64,
}

impl Store {
    /// `path` of `volume` now holds the source at `file`.
    pub async fn record_copied_file(
        &self,
        pair: &str,
        volume: &str,
        path: &str,
        file: CopiedFile,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO volume_files (pair, volume, path, source_size, source_modified_ms, copied_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (pair, volume, path) DO UPDATE SET
                source_size = excluded.source_size,
                source_modified_ms = excluded.source_modified_ms,
                copied_ms = excluded.copied_ms",
        )
        .bind(pair)
        .bind(volume)
        .bind(path)
        .bind(file.source_size)
        .bind(file.source_modified_ms)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every copied file of `pair`: volume → path → source state.
    pub async fn copied_files(&self, pair: &str) -> Result<BTreeMap<String, BTreeMap<String, CopiedFile>>, StoreError> {
        let rows = sqlx::query(
            "SELECT volume, path, source_size, source_modified_ms FROM volume_files WHERE pair = $1
             ORDER BY volume, path",
        )
        .bind(pair)
        .fetch_all(self.pool())
        .await?;
        let mut out: BTreeMap<String, BTreeMap<String, CopiedFile>> = BTreeMap::new();
        for row in &rows {
            let file = CopiedFile {
                source_size: column(row, "source_size")?,
                source_modified_ms: column(row, "source_modified_ms")?,
            };
            out.entry(column(row, "volume")?).or_default().insert(column(row, "path")?, file);
        }
        Ok(out)
    }
}
