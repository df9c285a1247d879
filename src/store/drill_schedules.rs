//! Scheduled drills: at most one schedule per pair (`subscribe drill PAIR
//! weekly | monthly`), the conversation that set it (a failed drill is told
//! there), and the person who set it: they hold the failover role and are
//! recorded as each scheduled drill's approver.
//!
//! A firing is claimed as a subscription's is (`store::firings`): across
//! every instance on the store exactly one claims it.

use sqlx::any::AnyRow;

use super::firings::Firings;
use super::{column, Store, StoreError};
use crate::scheduler::schedule::{self, Schedule};

/// A pair's drill schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrillSchedule {
    pub pair: String,
    pub schedule: Schedule,
    /// The conversation that set it: a failed scheduled drill is told there.
    pub conversation_id: String,
    /// Who set it, the approver of every drill it starts.
    pub approver_oid: Option<String>,
    pub approver_upn: Option<String>,
    pub created_ms: i64,
    pub next_fire_ms: i64,
}

/// A drill firing this instance has claimed and must start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueDrill {
    pub schedule: DrillSchedule,
    /// The time this firing was scheduled for (at or before the claim).
    pub fire_ms: i64,
}

impl DueDrill {
    /// The operation key of this firing: one firing, at most one drill.
    pub fn key(&self) -> String {
        format!("drill-schedule:{}:{}", self.schedule.pair, self.fire_ms)
    }
}

impl Store {
    /// Sets (or replaces) `pair`'s drill schedule, approved by `approver`
    /// (object id, UPN); it first fires at its next occurrence after `now_ms`.
    pub async fn set_drill_schedule(
        &self,
        pair: &str,
        schedule: &Schedule,
        conversation_id: &str,
        approver: (Option<&str>, Option<&str>),
        now_ms: i64,
    ) -> Result<DrillSchedule, StoreError> {
        schedule::validate(schedule).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let next_fire_ms =
            schedule::next_after(schedule, now_ms, now_ms).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let row = sqlx::query(
            "INSERT INTO drill_schedules (pair_name, schedule, conversation_id, approver_oid, approver_upn,
                                          created_ms, next_fire_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (pair_name) DO UPDATE SET
                schedule = excluded.schedule, conversation_id = excluded.conversation_id,
                approver_oid = excluded.approver_oid, approver_upn = excluded.approver_upn,
                created_ms = excluded.created_ms, next_fire_ms = excluded.next_fire_ms
             RETURNING *",
        )
        .bind(pair)
        .bind(schedule::to_json(schedule))
        .bind(conversation_id)
        .bind(approver.0.map(str::to_string))
        .bind(approver.1.map(str::to_string))
        .bind(now_ms)
        .bind(next_fire_ms)
        .fetch_one(self.pool())
        .await?;
        drill_schedule_from_row(&row)
    }

    /// Stops `pair`'s drill schedule; true if it had one.
    pub async fn remove_drill_schedule(&self, pair: &str) -> Result<bool, StoreError> {
        let deleted =
            sqlx::query("DELETE FROM drill_schedules WHERE pair_name = $1").bind(pair).execute(self.pool()).await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Every pair's drill schedule, soonest first.
    pub async fn drill_schedules(&self) -> Result<Vec<DrillSchedule>, StoreError> {
        let rows = sqlx::query("SELECT * FROM drill_schedules ORDER BY next_fire_ms, pair_name")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(drill_schedule_from_row).collect()
    }

    /// Claims up to `limit` drill firings due at `now_ms`, each for exactly
    /// one caller across every instance, and moves each schedule to its next
    /// occurrence after `now_ms`. Empty when nothing is due.
    pub async fn claim_due_drills(&self, now_ms: i64, limit: i64) -> Result<Vec<DueDrill>, StoreError> {
        let claimed = self.claim_firings(&SCHEDULES, now_ms, limit).await?;
        claimed
            .into_iter()
            .map(|firing| {
                let mut schedule = drill_schedule_from_row(&firing.row)?;
                schedule.next_fire_ms = firing.next_fire_ms;
                Ok(DueDrill { schedule, fire_ms: firing.fire_ms })
            })
            .collect()
    }
}

/// Drill schedules fire by pair.
const SCHEDULES: Firings = Firings { table: "drill_schedules", key: "pair_name" };

fn drill_schedule_from_row(row: &AnyRow) -> Result<DrillSchedule, StoreError> {
    let stored: String = column(row, "schedule")?;
    Ok(DrillSchedule {
        pair: column(row, "pair_name")?,
        schedule: schedule::from_json(&stored).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        conversation_id: column(row, "conversation_id")?,
        approver_oid: column(row, "approver_oid")?,
        approver_upn: column(row, "approver_upn")?,
        created_ms: column(row, "created_ms")?,
        next_fire_ms: column(row, "next_fire_ms")?,
    })
}
