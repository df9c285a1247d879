//! Claiming the firings of a schedule table (scheduled posts, scheduled
//! replications) so that each is taken by exactly one caller across every
//! instance on the store: a row's `next_fire_ms` is moved to its next
//! occurrence with a compare-and-set, and whoever's UPDATE still sees the
//! old value has the firing; everyone else sees zero rows changed. Firings
//! missed while nothing ran collapse into one.

use sqlx::any::AnyRow;

use super::{column, Store, StoreError};
use crate::scheduler::schedule::{self, Schedule};

/// A table whose rows fire: its name and key column (fixed names, never input).
pub(super) struct Firings {
    pub table: &'static str,
    pub key: &'static str,
}

/// A row this caller has claimed, with its schedule and both times.
pub(super) struct Claimed {
    pub row: AnyRow,
    pub key: String,
    pub schedule: Schedule,
    /// The time this firing was scheduled for (at or before the claim).
    pub fire_ms: i64,
    pub next_fire_ms: i64,
}

impl Store {
    /// Claims up to `limit` rows of `firings` due at `now_ms`; empty when
    /// nothing is due.
    pub(super) async fn claim_firings(
        &self,
        firings: &Firings,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let Firings { table, key } = firings;
        loop {
            let candidates = sqlx::query(&format!(
                "SELECT * FROM {table} WHERE next_fire_ms <= $1 ORDER BY next_fire_ms, {key} LIMIT $2"
            ))
            .bind(now_ms)
            .bind(limit.max(0))
            .fetch_all(self.pool())
            .await?;
            if candidates.is_empty() {
                return Ok(Vec::new());
            }
            let mut claimed = Vec::new();
            for row in candidates {
                if let Some(firing) = self.claim_firing(firings, row, now_ms).await? {
                    claimed.push(firing);
                }
            }
            // All lost to another instance: those rows have moved on, so the
            // next look sees the ones behind them (or nothing).
            if !claimed.is_empty() {
                return Ok(claimed);
            }
        }
    }

    async fn claim_firing(&self, firings: &Firings, row: AnyRow, now_ms: i64) -> Result<Option<Claimed>, StoreError> {
        let Firings { table, key } = firings;
        let id: String = column(&row, key)?;
        let fire_ms: i64 = column(&row, "next_fire_ms")?;
        let stored: String = column(&row, "schedule")?;
        let parsed = schedule::from_json(&stored).and_then(|s| Ok((schedule::next_after(&s, fire_ms, now_ms)?, s)));
        let (next_fire_ms, schedule) = match parsed {
            Ok(next) => next,
            Err(error) => {
                // It can never fire; left in place it would be first in line forever.
                tracing::warn!(table, key = %id, %error, "dropping a schedule that cannot be read");
                sqlx::query(&format!("DELETE FROM {table} WHERE {key} = $1 AND next_fire_ms = $2"))
                    .bind(&id)
                    .bind(fire_ms)
                    .execute(self.pool())
                    .await?;
                return Ok(None);
            }
        };
        let updated =
            sqlx::query(&format!("UPDATE {table} SET next_fire_ms = $3 WHERE {key} = $1 AND next_fire_ms = $2"))
                .bind(&id)
                .bind(fire_ms)
                .bind(next_fire_ms)
                .execute(self.pool())
                .await?;
        if updated.rows_affected() != 1 {
            return Ok(None);
        }
        Ok(Some(Claimed { row, key: id, schedule, fire_ms, next_fire_ms }))
    }
}
