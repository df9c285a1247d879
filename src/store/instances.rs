//! Which bot instances are alive: each one heartbeats a row, and a budget
//! that Teams counts for the whole app (the per-tenant send limit) is divided
//! by how many rows are fresh. One small upsert and a count per heartbeat,
//! never anything on the path of a single send.

use super::{Store, StoreError};

impl Store {
    /// Records that `instance_id` is alive at `now_ms`, forgets instances not
    /// seen for `ttl_ms` (they died without leaving), and returns how many are
    /// alive, this one included.
    pub async fn instance_heartbeat(&self, instance_id: &str, now_ms: i64, ttl_ms: i64) -> Result<usize, StoreError> {
        sqlx::query(
            "INSERT INTO instances (id, joined_ms, seen_ms) VALUES ($1, $2, $2)
             ON CONFLICT (id) DO UPDATE SET seen_ms = excluded.seen_ms",
        )
        .bind(instance_id)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        sqlx::query("DELETE FROM instances WHERE seen_ms < $1")
            .bind(now_ms.saturating_sub(ttl_ms))
            .execute(self.pool())
            .await?;
        let alive: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM instances").fetch_one(self.pool()).await?;
        Ok(alive.max(1) as usize)
    }

    /// An instance shutting down: the others take its share at their next heartbeat.
    pub async fn instance_leave(&self, instance_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM instances WHERE id = $1").bind(instance_id).execute(self.pool()).await?;
        Ok(())
    }
}
