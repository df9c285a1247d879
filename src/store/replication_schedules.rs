//! Scheduled replication: one schedule per pair (`replicate PAIR every 15m`),
//! where its failures are reported, and when it fires next.
//!
//! A firing is claimed as a subscription's is (`store::firings`): across
//! every instance on the store exactly one claims it.

use sqlx::any::AnyRow;

use super::firings::Firings;
use super::{column, Store, StoreError};
use crate::assets::coverage::Coverage;
use crate::scheduler::schedule::{self, Schedule};

/// A pair's replication schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationSchedule {
    pub pair: String,
    pub schedule: Schedule,
    /// What each cycle replicates (`replicate PAIR every 15m --assets`).
    pub coverage: Coverage,
    /// The conversation that set it: a failed scheduled run is told there.
    pub conversation_id: String,
    pub created_by_oid: Option<String>,
    pub created_by_upn: Option<String>,
    pub created_ms: i64,
    pub next_fire_ms: i64,
}

/// A firing this instance has claimed and must start (or record as skipped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueReplication {
    pub pair: String,
    pub conversation_id: String,
    pub schedule: Schedule,
    pub coverage: Coverage,
    /// The time this firing was scheduled for (at or before the claim).
    pub fire_ms: i64,
    pub next_fire_ms: i64,
}

impl DueReplication {
    /// The operation key of this firing: one firing, at most one operation.
    pub fn key(&self) -> String {
        format!("schedule:{}:{}", self.pair, self.fire_ms)
    }
}

impl Store {
    /// Sets (or replaces) `pair`'s schedule and what its cycles cover; it
    /// first fires at its next occurrence after `now_ms`.
    pub async fn set_replication_schedule(
        &self,
        pair: &str,
        schedule: &Schedule,
        coverage: Coverage,
        conversation_id: &str,
        created_by: (Option<&str>, Option<&str>),
        now_ms: i64,
    ) -> Result<ReplicationSchedule, StoreError> {
        schedule::validate(schedule).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let next_fire_ms =
            schedule::next_after(schedule, now_ms, now_ms).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let row = sqlx::query(
            "INSERT INTO replication_schedules (pair_name, schedule, conversation_id, created_by_oid, created_by_upn,
                                                created_ms, next_fire_ms, coverage)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (pair_name) DO UPDATE SET
                schedule = excluded.schedule, conversation_id = excluded.conversation_id, coverage = excluded.coverage,
                created_by_oid = excluded.created_by_oid, created_by_upn = excluded.created_by_upn,
                created_ms = excluded.created_ms, next_fire_ms = excluded.next_fire_ms
             RETURNING *",
        )
        .bind(pair)
        .bind(schedule::to_json(schedule))
        .bind(conversation_id)
        .bind(created_by.0.map(str::to_string))
        .bind(created_by.1.map(str::to_string))
        .bind(now_ms)
        .bind(next_fire_ms)
        .bind(coverage_text(coverage))
        .fetch_one(self.pool())
        .await?;
        schedule_from_row(&row)
    }

    /// Stops `pair`'s schedule; true if it had one.
    pub async fn remove_replication_schedule(&self, pair: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM replication_schedules WHERE pair_name = $1")
            .bind(pair)
            .execute(self.pool())
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    pub async fn replication_schedule(&self, pair: &str) -> Result<Option<ReplicationSchedule>, StoreError> {
        let row = sqlx::query("SELECT * FROM replication_schedules WHERE pair_name = $1")
            .bind(pair)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(schedule_from_row).transpose()
    }

    /// Every pair's schedule, soonest first.
    pub async fn replication_schedules(&self) -> Result<Vec<ReplicationSchedule>, StoreError> {
        let rows = sqlx::query("SELECT * FROM replication_schedules ORDER BY next_fire_ms, pair_name")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(schedule_from_row).collect()
    }

    /// Claims up to `limit` replication firings due at `now_ms`, each for
    /// exactly one caller across every instance, and moves each schedule to
    /// its next occurrence after `now_ms`. Empty when nothing is due.
    pub async fn claim_due_replications(&self, now_ms: i64, limit: i64) -> Result<Vec<DueReplication>, StoreError> {
        let claimed = self.claim_firings(&SCHEDULES, now_ms, limit).await?;
        claimed
            .into_iter()
            .map(|firing| {
                Ok(DueReplication {
                    conversation_id: column(&firing.row, "conversation_id")?,
                    coverage: coverage_of(&firing.row)?,
                    pair: firing.key,
                    schedule: firing.schedule,
                    fire_ms: firing.fire_ms,
                    next_fire_ms: firing.next_fire_ms,
                })
            })
            .collect()
    }
}

/// Schedules fire by pair.
const SCHEDULES: Firings = Firings { table: "replication_schedules", key: "pair_name" };

fn schedule_from_row(row: &AnyRow) -> Result<ReplicationSchedule, StoreError> {
    let stored: String = column(row, "schedule")?;
    Ok(ReplicationSchedule {
        pair: column(row, "pair_name")?,
        schedule: schedule::from_json(&stored).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        coverage: coverage_of(row)?,
        conversation_id: column(row, "conversation_id")?,
        created_by_oid: column(row, "created_by_oid")?,
        created_by_upn: column(row, "created_by_upn")?,
        created_ms: column(row, "created_ms")?,
        next_fire_ms: column(row, "next_fire_ms")?,
    })
}

/// The stored word for a coverage (`data`, `both`, `assets`).
fn coverage_text(coverage: Coverage) -> String {
    serde_json::to_value(coverage).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn coverage_of(row: &AnyRow) -> Result<Coverage, StoreError> {
    let stored: String = column(row, "coverage")?;
    serde_json::from_value(serde_json::Value::String(stored.clone()))
        .map_err(|_| StoreError::Corrupt(format!("a schedule's coverage {stored:?}")))
}
