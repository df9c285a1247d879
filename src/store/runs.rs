//! Replication run history: one row per run, one per object it touched.
//!
//! A run shares its id with the operation that drives it. A run resumed
//! after a takeover records objects again; results are keyed by object, so
//! the newer outcome replaces the older one and the history never counts an
//! object twice.

use std::fmt;
use std::str::FromStr;

use sqlx::any::AnyRow;

use super::{column, Store, StoreError};

/// A run as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The operation's id.
    pub id: String,
    pub started_by_oid: Option<String>,
    pub started_by_upn: Option<String>,
    /// The catalog asked for, or none for everything.
    pub catalog_filter: Option<String>,
    pub dry_run: bool,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    /// Summary counts, written when the run finishes; shape is the caller's.
    pub counts: Option<serde_json::Value>,
    /// Started by its pair's schedule (as the bot), not by a person.
    pub scheduled: bool,
}

impl Run {
    /// A scheduled firing recorded as skipped (its pair was busy): it ran
    /// nothing, so it is no replication as far as freshness goes.
    pub fn skipped(&self) -> bool {
        self.counts.as_ref().is_some_and(|counts| counts["outcome"] == "skipped")
    }
}

/// How one object fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResultStatus {
    Succeeded,
    Failed,
    /// Never attempted: something a person must settle first (the reason says what).
    Blocked,
    Skipped,
}

impl ResultStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultStatus::Succeeded => "succeeded",
            ResultStatus::Failed => "failed",
            ResultStatus::Blocked => "blocked",
            ResultStatus::Skipped => "skipped",
        }
    }
}

impl fmt::Display for ResultStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResultStatus {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "succeeded" => ResultStatus::Succeeded,
            "failed" => ResultStatus::Failed,
            "blocked" => ResultStatus::Blocked,
            "skipped" => ResultStatus::Skipped,
            other => return Err(StoreError::Corrupt(format!("result status '{other}'"))),
        })
    }
}

/// One object's outcome within a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectResult {
    pub run_id: String,
    /// The object's full (three-level) name.
    pub object_name: String,
    /// What was done: `create schema`, `deep clone`, `grant`, ...
    pub action: String,
    pub status: ResultStatus,
    pub duration_ms: i64,
    /// Rows copied, or the table version copied, when it applies.
    pub copied: Option<i64>,
    pub error: Option<String>,
    /// Why it was skipped.
    pub reason: Option<String>,
}

/// How many objects ended each way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResultCounts {
    pub succeeded: i64,
    pub failed: i64,
    pub blocked: i64,
    pub skipped: i64,
}

impl Store {
    /// Starts a run's history. Starting it again (a resumed operation) keeps
    /// the original; true only the first time.
    pub async fn start_run(&self, run: &Run) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO runs (id, started_by_oid, started_by_upn, catalog_filter, dry_run, started_ms, finished_ms, counts,
                               scheduled)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&run.id)
        .bind(&run.started_by_oid)
        .bind(&run.started_by_upn)
        .bind(&run.catalog_filter)
        .bind(i64::from(run.dry_run))
        .bind(run.started_ms)
        .bind(run.finished_ms)
        .bind(run.counts.as_ref().map(|c| c.to_string()))
        .bind(i64::from(run.scheduled))
        .execute(self.pool())
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Records (or, on resume, replaces) one object's outcome.
    pub async fn record_result(&self, result: &ObjectResult, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO run_results (run_id, object_name, action, status, duration_ms, copied, error, reason, recorded_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (run_id, object_name) DO UPDATE SET
                action = excluded.action, status = excluded.status, duration_ms = excluded.duration_ms,
                copied = excluded.copied, error = excluded.error, reason = excluded.reason,
                recorded_ms = excluded.recorded_ms",
        )
        .bind(&result.run_id)
        .bind(&result.object_name)
        .bind(&result.action)
        .bind(result.status.as_str())
        .bind(result.duration_ms)
        .bind(result.copied)
        .bind(&result.error)
        .bind(&result.reason)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Closes a run with its summary. True if the run exists.
    pub async fn finish_run(&self, id: &str, finished_ms: i64, counts: &serde_json::Value) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE runs SET finished_ms = $2, counts = $3 WHERE id = $1")
            .bind(id)
            .bind(finished_ms)
            .bind(counts.to_string())
            .execute(self.pool())
            .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// The newest `limit` runs, newest first.
    pub async fn recent_runs(&self, limit: i64) -> Result<Vec<Run>, StoreError> {
        let rows = sqlx::query("SELECT * FROM runs ORDER BY started_ms DESC, id DESC LIMIT $1")
            .bind(limit.max(0))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// The newest `limit` runs of `pair`, of every conversation, or of
    /// `conversation_id` only (a run records its pair on its operation).
    pub async fn recent_runs_of_pair(
        &self,
        pair: &str,
        conversation_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Run>, StoreError> {
        let rows = sqlx::query(
            "SELECT runs.* FROM runs JOIN operations ON operations.id = runs.id
             WHERE operations.pair = $1 AND operations.conversation_id = COALESCE($2, operations.conversation_id)
             ORDER BY runs.started_ms DESC, runs.id DESC LIMIT $3",
        )
        .bind(pair)
        .bind(conversation_id.map(str::to_string))
        .bind(limit.max(0))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// The newest `limit` runs started from `conversation_id` (a run from
    /// chat is an operation of that conversation, under the same id).
    pub async fn recent_runs_in_conversation(&self, conversation_id: &str, limit: i64) -> Result<Vec<Run>, StoreError> {
        let rows = sqlx::query(
            "SELECT runs.* FROM runs JOIN operations ON operations.id = runs.id
             WHERE operations.conversation_id = $1 ORDER BY runs.started_ms DESC, runs.id DESC LIMIT $2",
        )
        .bind(conversation_id)
        .bind(limit.max(0))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    pub async fn run(&self, id: &str) -> Result<Option<Run>, StoreError> {
        let row = sqlx::query("SELECT * FROM runs WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// A page of a run's results, by object name: failures are what people
    /// ask about, so `failed_first` puts them at the top.
    pub async fn run_results(
        &self,
        run_id: &str,
        failed_first: bool,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<ObjectResult>, StoreError> {
        let order = if failed_first {
            "CASE status WHEN 'failed' THEN 0 WHEN 'blocked' THEN 1 ELSE 2 END, object_name"
        } else {
            "object_name"
        };
        let rows =
            sqlx::query(&format!("SELECT * FROM run_results WHERE run_id = $1 ORDER BY {order} LIMIT $2 OFFSET $3"))
                .bind(run_id)
                .bind(limit.max(0))
                .bind(offset.max(0))
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(result_from_row).collect()
    }

    /// A run and the first `limit` of its results (failures first).
    pub async fn run_with_results(&self, id: &str, limit: i64) -> Result<Option<(Run, Vec<ObjectResult>)>, StoreError> {
        let Some(run) = self.run(id).await? else { return Ok(None) };
        let results = self.run_results(id, true, 0, limit).await?;
        Ok(Some((run, results)))
    }

    /// Counts a run's results by status, from the results themselves.
    pub async fn run_result_counts(&self, run_id: &str) -> Result<ResultCounts, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM run_results WHERE run_id = $1 GROUP BY status")
                .bind(run_id)
                .fetch_all(self.pool())
                .await?;
        let mut counts = ResultCounts::default();
        for (status, count) in rows {
            match status.parse()? {
                ResultStatus::Succeeded => counts.succeeded = count,
                ResultStatus::Failed => counts.failed = count,
                ResultStatus::Blocked => counts.blocked = count,
                ResultStatus::Skipped => counts.skipped = count,
            }
        }
        Ok(counts)
    }
}

fn run_from_row(row: &AnyRow) -> Result<Run, StoreError> {
    let counts: Option<String> = column(row, "counts")?;
    Ok(Run {
        id: column(row, "id")?,
        started_by_oid: column(row, "started_by_oid")?,
        started_by_upn: column(row, "started_by_upn")?,
        catalog_filter: column(row, "catalog_filter")?,
        dry_run: column::<i64>(row, "dry_run")? != 0,
        started_ms: column(row, "started_ms")?,
        finished_ms: column(row, "finished_ms")?,
        counts: counts
            .map(|text| serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("counts: {e}"))))
            .transpose()?,
        scheduled: column::<i64>(row, "scheduled")? != 0,
    })
}

fn result_from_row(row: &AnyRow) -> Result<ObjectResult, StoreError> {
    let status: String = column(row, "status")?;
    Ok(ObjectResult {
        run_id: column(row, "run_id")?,
        object_name: column(row, "object_name")?,
        action: column(row, "action")?,
        status: status.parse()?,
        duration_ms: column(row, "duration_ms")?,
        copied: column(row, "copied")?,
        error: column(row, "error")?,
        reason: column(row, "reason")?,
    })
}
