//! Alert conditions that have alerted and not yet cleared, per pair: the
//! deduplication behind "one alert per condition until it clears".
//!
//! Raising is an insert that only the first writer wins, clearing a delete
//! that only one deleter sees, so two instances that notice the same failure
//! (or a retried run noticing it twice) alert once, and a recovery is
//! announced once.

use super::{column, Store, StoreError};

/// A condition that is raised now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaisedCondition {
    pub pair: String,
    /// The condition's key within the pair (`replication`, `rpo`, ...).
    pub condition: String,
    /// What the alert said when it was raised.
    pub summary: String,
    pub raised_ms: i64,
}

impl Store {
    /// Raises `condition` of `pair`: true only for the caller that raised
    /// it (it was clear until now), which is the one that alerts.
    pub async fn raise_alert(
        &self,
        pair: &str,
        condition: &str,
        summary: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO alert_conditions (pair, condition, summary, raised_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (pair, condition) DO NOTHING",
        )
        .bind(pair)
        .bind(condition)
        .bind(summary)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Clears `condition` of `pair`: the condition as it was raised, for the
    /// one caller that cleared it (which announces the recovery); `None`
    /// when it was not raised.
    pub async fn clear_alert(&self, pair: &str, condition: &str) -> Result<Option<RaisedCondition>, StoreError> {
        let row = sqlx::query("DELETE FROM alert_conditions WHERE pair = $1 AND condition = $2 RETURNING *")
            .bind(pair)
            .bind(condition)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            Ok(RaisedCondition {
                pair: column(&row, "pair")?,
                condition: column(&row, "condition")?,
                summary: column(&row, "summary")?,
                raised_ms: column(&row, "raised_ms")?,
            })
        })
        .transpose()
    }

    /// The conditions raised now, of one pair or of all.
    pub async fn raised_alerts(&self, pair: Option<&str>) -> Result<Vec<RaisedCondition>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM alert_conditions WHERE pair = COALESCE($1, pair) ORDER BY pair, condition")
                .bind(pair.map(str::to_string))
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|row| {
                Ok(RaisedCondition {
                    pair: column(row, "pair")?,
                    condition: column(row, "condition")?,
                    summary: column(row, "summary")?,
                    raised_ms: column(row, "raised_ms")?,
                })
            })
            .collect()
    }

    /// The conversations that follow `pair`: a subscription naming it, or one
    /// naming no pair in a conversation whose pair is it (or that chose none).
    /// Each with the tenant its posts count against.
    pub async fn alert_conversations(&self, pair: &str) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT s.conversation_id, MAX(s.tenant_id) FROM subscriptions s
             LEFT JOIN conversation_pairs c ON c.conversation_id = s.conversation_id
             WHERE s.pair = $1 OR (s.pair = '' AND (c.pair_name IS NULL OR c.pair_name = $1))
             GROUP BY s.conversation_id ORDER BY s.conversation_id",
        )
        .bind(pair)
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }
}
