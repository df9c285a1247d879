//! "Process this once": the first writer of a key wins, across every bot
//! instance sharing the store. Used for Teams' duplicate token exchanges
//! (`{channelId}/{conversationId}/{value.id}`) and replayed card actions.

use super::{Store, StoreError};

impl Store {
    /// True for exactly one caller per key until the key expires.
    pub async fn claim_once(&self, key: &str, now_ms: i64, ttl_ms: i64) -> Result<bool, StoreError> {
        // An expired claim on the same key may be taken again.
        sqlx::query("DELETE FROM dedupe WHERE key = $1 AND expires_ms <= $2")
            .bind(key)
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        let inserted = sqlx::query("INSERT INTO dedupe (key, expires_ms) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(now_ms.saturating_add(ttl_ms))
            .execute(self.pool())
            .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Gives a claim up before it expires (what it stood for is over), so
    /// the next `claim_once` of the key wins again; whether there was one.
    pub async fn release_claim(&self, key: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM dedupe WHERE key = $1").bind(key).execute(self.pool()).await?;
        Ok(deleted.rows_affected() == 1)
    }

    /// Drops expired claims; returns how many.
    pub async fn purge_expired_claims(&self, now_ms: i64) -> Result<u64, StoreError> {
        let deleted =
            sqlx::query("DELETE FROM dedupe WHERE expires_ms <= $1").bind(now_ms).execute(self.pool()).await?;
        Ok(deleted.rows_affected())
    }
}
