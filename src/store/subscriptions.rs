//! Scheduled status posts: which conversation, on what schedule, of which
//! pair, and when next. Several instances may share one database: each
//! firing is claimed by exactly one of them (`store::firings`).

use sqlx::any::AnyRow;

use super::firings::Firings;
use super::{column, Store, StoreError};
use crate::scheduler::schedule::{self, Schedule};

/// One subscription of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub conversation_id: String,
    /// Whose rate limit the post counts against.
    pub tenant_id: Option<String>,
    pub schedule: Schedule,
    /// The pair it posts; `None`: the conversation's (`use PAIR`, or every pair).
    pub pair: Option<String>,
    pub created_by_oid: Option<String>,
    pub created_by_upn: Option<String>,
    pub created_ms: i64,
    pub next_fire_ms: i64,
}

/// What to create: a conversation's schedule and who asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSubscription {
    pub conversation_id: String,
    pub tenant_id: Option<String>,
    pub schedule: Schedule,
    /// The pair it posts; `None`: the conversation's (`use PAIR`, or every pair).
    pub pair: Option<String>,
    pub created_by_oid: Option<String>,
    pub created_by_upn: Option<String>,
}

/// A firing this instance has claimed and must post.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    pub subscription_id: String,
    pub conversation_id: String,
    pub tenant_id: Option<String>,
    pub schedule: Schedule,
    /// The pair it posts; `None`: the conversation's.
    pub pair: Option<String>,
    /// The time this firing was scheduled for (at or before the claim).
    pub fire_ms: i64,
    /// When the subscription fires next.
    pub next_fire_ms: i64,
}

impl Store {
    /// Subscribes a conversation. Subscribing again to the same schedule of
    /// the same pair replaces the earlier one (new author, next firing
    /// recomputed) instead of posting twice.
    pub async fn subscribe(&self, new: &NewSubscription, now_ms: i64) -> Result<Subscription, StoreError> {
        schedule::validate(&new.schedule).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let next_fire_ms =
            schedule::next_after(&new.schedule, now_ms, now_ms).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let row = sqlx::query(
            "INSERT INTO subscriptions (id, conversation_id, tenant_id, schedule, created_by_oid, created_by_upn,
                                        created_ms, next_fire_ms, pair)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (conversation_id, schedule, pair) DO UPDATE SET
                tenant_id = excluded.tenant_id, created_by_oid = excluded.created_by_oid,
                created_by_upn = excluded.created_by_upn, created_ms = excluded.created_ms,
                next_fire_ms = excluded.next_fire_ms
             RETURNING *",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&new.conversation_id)
        .bind(&new.tenant_id)
        .bind(schedule::to_json(&new.schedule))
        .bind(&new.created_by_oid)
        .bind(&new.created_by_upn)
        .bind(now_ms)
        .bind(next_fire_ms)
        .bind(new.pair.clone().unwrap_or_default())
        .fetch_one(self.pool())
        .await?;
        subscription_from_row(&row)
    }

    /// A conversation's subscriptions, soonest first.
    pub async fn subscriptions(&self, conversation_id: &str) -> Result<Vec<Subscription>, StoreError> {
        let rows = sqlx::query("SELECT * FROM subscriptions WHERE conversation_id = $1 ORDER BY next_fire_ms, id")
            .bind(conversation_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(subscription_from_row).collect()
    }

    /// Removes one subscription of a conversation; true if it existed. The
    /// conversation is part of the key so a chat can only remove its own.
    pub async fn unsubscribe(&self, conversation_id: &str, id: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM subscriptions WHERE conversation_id = $1 AND id = $2")
            .bind(conversation_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Removes every subscription of a conversation (`unsubscribe`, or the
    /// bot was removed from the chat); returns how many.
    pub async fn remove_subscriptions_for_conversation(&self, conversation_id: &str) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM subscriptions WHERE conversation_id = $1")
            .bind(conversation_id)
            .execute(self.pool())
            .await?;
        Ok(deleted.rows_affected())
    }

    /// Claims up to `limit` firings due at `now_ms`, each for exactly one
    /// caller across every instance, and moves each subscription to its next
    /// occurrence after `now_ms` (firings missed while nothing ran collapse
    /// into this one). Empty when nothing is due.
    pub async fn claim_due(&self, now_ms: i64, limit: i64) -> Result<Vec<Due>, StoreError> {
        let claimed = self.claim_firings(&SUBSCRIPTIONS, now_ms, limit).await?;
        claimed
            .into_iter()
            .map(|firing| {
                Ok(Due {
                    conversation_id: column(&firing.row, "conversation_id")?,
                    tenant_id: column(&firing.row, "tenant_id")?,
                    pair: pair_of(&firing.row)?,
                    subscription_id: firing.key,
                    schedule: firing.schedule,
                    fire_ms: firing.fire_ms,
                    next_fire_ms: firing.next_fire_ms,
                })
            })
            .collect()
    }
}

/// Subscriptions fire by id.
const SUBSCRIPTIONS: Firings = Firings { table: "subscriptions", key: "id" };

fn subscription_from_row(row: &AnyRow) -> Result<Subscription, StoreError> {
    let stored: String = column(row, "schedule")?;
    Ok(Subscription {
        id: column(row, "id")?,
        conversation_id: column(row, "conversation_id")?,
        tenant_id: column(row, "tenant_id")?,
        schedule: schedule::from_json(&stored).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        pair: pair_of(row)?,
        created_by_oid: column(row, "created_by_oid")?,
        created_by_upn: column(row, "created_by_upn")?,
        created_ms: column(row, "created_ms")?,
        next_fire_ms: column(row, "next_fire_ms")?,
    })
}

/// The stored pair: `''` is none (the column is part of a key, so not NULL).
fn pair_of(row: &AnyRow) -> Result<Option<String>, StoreError> {
    let pair: String = column(row, "pair")?;
    Ok(Some(pair).filter(|p| !p.is_empty()))
}
