//! Long-running operations started from chat (a replication run, a
//! deployment) that must outlive the instance that started them.
//!
//! An operation is held by one instance at a time through a lease: the
//! holder renews it while it works; when an instance dies its lease runs out
//! and another instance takes the operation over with `claim_orphans`. Every
//! write that only the holder may make is a compare-and-set on `owner` (and,
//! for progress, on the lease still being live), so two instances never both
//! believe they run the same operation. Instance ids must be unique per
//! process start (a fresh uuid), or a restarted process would inherit the
//! leases of its previous life.

use std::fmt;
use std::str::FromStr;

use sqlx::any::AnyRow;

use super::{column, Store, StoreError};

/// Where an operation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperationState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl OperationState {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationState::Pending => "pending",
            OperationState::Running => "running",
            OperationState::Succeeded => "succeeded",
            OperationState::Failed => "failed",
            OperationState::Canceled => "canceled",
        }
    }

    /// Finished, one way or another.
    pub fn is_terminal(self) -> bool {
        !matches!(self, OperationState::Pending | OperationState::Running)
    }
}

impl fmt::Display for OperationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OperationState {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "pending" => OperationState::Pending,
            "running" => OperationState::Running,
            "succeeded" => OperationState::Succeeded,
            "failed" => OperationState::Failed,
            "canceled" => OperationState::Canceled,
            other => return Err(StoreError::Corrupt(format!("operation state '{other}'"))),
        })
    }
}

/// How an ended operation ended: the terminal [`OperationState`]s, under
/// the same words (`succeeded`, `failed`, `canceled`) in the state column
/// and in the `outcome` of a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Succeeded,
    Failed,
    Canceled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        OperationState::from(self).as_str()
    }

    /// The outcome a result (an operation's, a run's counts) records under
    /// `outcome`; `None` when it records none.
    pub fn of(result: &serde_json::Value) -> Option<Outcome> {
        match result["outcome"].as_str()?.parse().ok()? {
            OperationState::Succeeded => Some(Outcome::Succeeded),
            OperationState::Failed => Some(Outcome::Failed),
            OperationState::Canceled => Some(Outcome::Canceled),
            OperationState::Pending | OperationState::Running => None,
        }
    }
}

impl From<Outcome> for OperationState {
    fn from(outcome: Outcome) -> OperationState {
        match outcome {
            Outcome::Succeeded => OperationState::Succeeded,
            Outcome::Failed => OperationState::Failed,
            Outcome::Canceled => OperationState::Canceled,
        }
    }
}

/// What an operation is: the row's `kind`. The words are stored, so a
/// variant's word never changes (existing databases must still read); a new
/// kind is a new variant. A word this build does not know is a corrupt row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Replication,
    Deployment,
    /// A failover, failback or drill runbook.
    Failover,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Replication => "replication",
            Kind::Deployment => "deployment",
            Kind::Failover => "failover",
        }
    }
}

impl Kind {
    /// Kinds that change a pair: one of them at a time per pair.
    pub fn one_per_pair(self) -> bool {
        matches!(self, Kind::Replication | Kind::Failover)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "replication" => Kind::Replication,
            "deployment" => Kind::Deployment,
            "failover" => Kind::Failover,
            other => return Err(StoreError::Corrupt(format!("operation kind '{other}'"))),
        })
    }
}

/// SQL for "still active", kept in one place.
const ACTIVE: &str = "state IN ('pending', 'running')";

/// An operation as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub id: String,
    pub idempotency_key: String,
    pub kind: Kind,
    pub state: OperationState,
    pub conversation_id: String,
    /// The card showing its progress, updated in place.
    pub card_activity_id: Option<String>,
    pub started_by_oid: Option<String>,
    pub started_by_upn: Option<String>,
    /// The DR pair it works on (none for a hub or transit deployment).
    pub pair: Option<String>,
    /// The plan and the progress checkpoint; opaque to the store.
    pub payload: serde_json::Value,
    /// The outcome, once finished.
    pub result: Option<serde_json::Value>,
    /// The instance holding the lease.
    pub owner: String,
    pub lease_until_ms: i64,
    /// How often another instance took it over: an operation that keeps
    /// orphaning probably kills its runner, and the runner can give up on it.
    pub takeovers: i64,
    pub cancel_requested: bool,
    pub final_posted: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// What to start.
#[derive(Clone, Debug, PartialEq)]
pub struct NewOperation {
    /// Same key, same operation: a double click or a replayed invoke must
    /// not start the work twice.
    pub idempotency_key: String,
    pub kind: Kind,
    pub conversation_id: String,
    pub card_activity_id: Option<String>,
    pub started_by_oid: Option<String>,
    pub started_by_upn: Option<String>,
    /// The DR pair it works on: a pair is not removed while it has one in flight.
    pub pair: Option<String>,
    pub payload: serde_json::Value,
}

/// Whether the caller still holds an operation's lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lease {
    /// Still ours; `cancel_requested` is the flag the runner polls.
    Held { cancel_requested: bool },
    /// Taken over, lapsed, or the operation finished: stop working on it.
    Lost,
}

impl Store {
    /// Creates an operation held by `instance` for `lease_ms`, or returns the
    /// one already created with the same idempotency key. The flag is true
    /// only for the call that created it (the one that should start the work).
    /// A replication or runbook of a pair that has one of them active
    /// already is refused with [`StoreError::PairBusy`] naming it: the
    /// database's unique index decides, so two instances racing cannot both
    /// start one.
    pub async fn create_operation(
        &self,
        new: &NewOperation,
        instance: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<(Operation, bool), StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let inserted = sqlx::query(
            "INSERT INTO operations (id, idempotency_key, kind, state, conversation_id, card_activity_id,
                                     started_by_oid, started_by_upn, payload, owner, lease_until_ms,
                                     cancel_requested, final_posted, created_ms, updated_ms, pair)
             VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, 0, 0, $11, $11, $12)
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&id)
        .bind(&new.idempotency_key)
        .bind(new.kind.as_str())
        .bind(&new.conversation_id)
        .bind(&new.card_activity_id)
        .bind(&new.started_by_oid)
        .bind(&new.started_by_upn)
        .bind(new.payload.to_string())
        .bind(instance)
        .bind(now_ms.saturating_add(lease_ms))
        .bind(now_ms)
        .bind(&new.pair)
        .execute(self.pool())
        .await;
        let inserted = match inserted {
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() && new.kind.one_per_pair() => {
                let pair = new.pair.clone().unwrap_or_default();
                let busy = self.active_on_pair(&pair).await?;
                // Ended between the refusal and the look: still a refusal (the caller may try again).
                let operation = busy.map(|op| op.id).unwrap_or_default();
                return Err(StoreError::PairBusy { pair, operation });
            }
            other => other?,
        };
        let row = sqlx::query("SELECT * FROM operations WHERE idempotency_key = $1")
            .bind(&new.idempotency_key)
            .fetch_one(self.pool())
            .await?;
        Ok((operation_from_row(&row)?, inserted.rows_affected() == 1))
    }

    /// The replication or runbook of `pair` in flight, if any (there is one at most).
    pub async fn active_on_pair(&self, pair: &str) -> Result<Option<Operation>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT * FROM operations WHERE pair = $1 AND kind IN ('replication', 'failover') AND {ACTIVE}
             ORDER BY created_ms LIMIT 1"
        ))
        .bind(pair)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(operation_from_row).transpose()
    }

    /// Records a scheduled firing that did not start because `busy` (the
    /// pair's replication in flight) was running: an operation that ended at
    /// once, with nothing to deliver, and a run that says it was skipped and
    /// why, so `runs` and `run ID` show it beside the runs that did start.
    pub async fn record_skipped_firing(
        &self,
        new: &NewOperation,
        instance: &str,
        busy: &str,
        now_ms: i64,
    ) -> Result<String, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let reason = format!("skipped: run {busy} of the pair was in flight");
        let result = serde_json::json!({"outcome": Outcome::Canceled.as_str(), "error": reason});
        // Both rows or neither: a skip is never an operation the history lacks.
        let mut transaction = self.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO operations (id, idempotency_key, kind, state, conversation_id, card_activity_id,
                                     started_by_oid, started_by_upn, payload, result, owner, lease_until_ms,
                                     cancel_requested, final_posted, created_ms, updated_ms, pair)
             VALUES ($1, $2, $3, 'canceled', $4, NULL, NULL, NULL, $5, $6, $7, $8, 0, 1, $8, $8, $9)
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&id)
        .bind(&new.idempotency_key)
        .bind(new.kind.as_str())
        .bind(&new.conversation_id)
        .bind(new.payload.to_string())
        .bind(result.to_string())
        .bind(instance)
        .bind(now_ms)
        .bind(&new.pair)
        .execute(&mut *transaction)
        .await?;
        if inserted.rows_affected() == 1 {
            let counts = serde_json::json!({"outcome": "skipped", "reason": reason, "busy": busy});
            sqlx::query(
                "INSERT INTO runs (id, started_by_oid, started_by_upn, catalog_filter, dry_run, started_ms,
                                   finished_ms, counts, scheduled)
                 VALUES ($1, NULL, NULL, NULL, 0, $2, $2, $3, 1)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&id)
            .bind(now_ms)
            .bind(counts.to_string())
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(id)
    }

    pub async fn operation(&self, id: &str) -> Result<Option<Operation>, StoreError> {
        let row = sqlx::query("SELECT * FROM operations WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(operation_from_row).transpose()
    }

    /// A conversation's newest `limit` operations, newest first.
    pub async fn recent_operations(&self, conversation_id: &str, limit: i64) -> Result<Vec<Operation>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM operations WHERE conversation_id = $1 ORDER BY created_ms DESC, id DESC LIMIT $2",
        )
        .bind(conversation_id)
        .bind(limit.max(0))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(operation_from_row).collect()
    }

    /// Remembers which activity is the operation's card (known only after
    /// the card is posted). Anyone may set it: it is not the holder's work.
    pub async fn set_operation_card(&self, id: &str, activity_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE operations SET card_activity_id = $2, updated_ms = $3 WHERE id = $1")
            .bind(id)
            .bind(activity_id)
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Saves progress (the new payload) and marks the operation running,
    /// if `instance` holds a live lease.
    pub async fn update_operation_progress(
        &self,
        id: &str,
        instance: &str,
        payload: &serde_json::Value,
        now_ms: i64,
    ) -> Result<Lease, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE operations SET payload = $3, state = 'running', updated_ms = $4
             WHERE id = $1 AND owner = $2 AND lease_until_ms > $4 AND {ACTIVE}
             RETURNING cancel_requested"
        ))
        .bind(id)
        .bind(instance)
        .bind(payload.to_string())
        .bind(now_ms)
        .fetch_optional(self.pool())
        .await?;
        lease_from(row)
    }

    /// Extends a live lease to `now_ms + lease_ms`. A lapsed lease is not
    /// renewed, even if nobody took it yet: the holder was too slow to be
    /// trusted with it, and an orphan claim is already allowed.
    pub async fn renew_operation_lease(
        &self,
        id: &str,
        instance: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Lease, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE operations SET lease_until_ms = $4, updated_ms = $3
             WHERE id = $1 AND owner = $2 AND lease_until_ms > $3 AND {ACTIVE}
             RETURNING cancel_requested"
        ))
        .bind(id)
        .bind(instance)
        .bind(now_ms)
        .bind(now_ms.saturating_add(lease_ms))
        .fetch_optional(self.pool())
        .await?;
        lease_from(row)
    }

    /// Takes over active operations whose lease has run out, each for
    /// exactly one instance, `limit` at most: what this instance claims it
    /// must run, and the rest stay orphans for the next look (this
    /// instance's or another's). Returns those `instance` now holds.
    pub async fn claim_orphans(
        &self,
        instance: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Operation>, StoreError> {
        let orphans: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM operations WHERE {ACTIVE} AND lease_until_ms <= $1 ORDER BY created_ms, id"
        ))
        .bind(now_ms)
        .fetch_all(self.pool())
        .await?;
        let mut claimed = Vec::new();
        for id in orphans {
            if claimed.len() >= limit {
                break;
            }
            // The WHERE is re-checked against the row as it is when the UPDATE
            // runs: a second claimer finds the lease live again and changes nothing.
            let row = sqlx::query(&format!(
                "UPDATE operations SET owner = $2, lease_until_ms = $4, updated_ms = $3, takeovers = takeovers + 1
                 WHERE id = $1 AND lease_until_ms <= $3 AND {ACTIVE}
                 RETURNING *"
            ))
            .bind(&id)
            .bind(instance)
            .bind(now_ms)
            .bind(now_ms.saturating_add(lease_ms))
            .fetch_optional(self.pool())
            .await?;
            if let Some(row) = row {
                claimed.push(operation_from_row(&row)?);
            }
        }
        Ok(claimed)
    }

    /// Records the outcome. Only the holder may finish, but a lapsed lease
    /// that nobody took over still counts: finished work is not thrown away
    /// for being late. False if another instance holds it or it already ended.
    pub async fn finish_operation(
        &self,
        id: &str,
        instance: &str,
        state: OperationState,
        result: &serde_json::Value,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        if !state.is_terminal() {
            return Err(StoreError::Invalid(format!("cannot finish an operation as {state}")));
        }
        let updated = sqlx::query(&format!(
            "UPDATE operations SET state = $3, result = $4, updated_ms = $5
             WHERE id = $1 AND owner = $2 AND {ACTIVE}"
        ))
        .bind(id)
        .bind(instance)
        .bind(state.as_str())
        .bind(result.to_string())
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Asks the runner to stop; it sees the flag on its next renewal or
    /// progress update. False if the operation is unknown or already ended.
    pub async fn request_operation_cancel(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let updated = sqlx::query(&format!(
            "UPDATE operations SET cancel_requested = 1, updated_ms = $2 WHERE id = $1 AND {ACTIVE}"
        ))
        .bind(id)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Keeps the final card of an ended operation: the first card kept wins,
    /// so every delivery, by whichever instance, shows the same card. Returns
    /// the card kept (`None` if the operation is unknown or still active).
    pub async fn keep_final_card(
        &self,
        id: &str,
        card: &serde_json::Value,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        sqlx::query(&format!(
            "UPDATE operations SET final_card = $2 WHERE id = $1 AND final_card IS NULL AND NOT ({ACTIVE})"
        ))
        .bind(id)
        .bind(card.to_string())
        .execute(self.pool())
        .await?;
        self.final_card(id).await
    }

    /// The final card kept for an operation, if any.
    pub async fn final_card(&self, id: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let text: Option<Option<String>> = sqlx::query_scalar("SELECT final_card FROM operations WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        text.flatten()
            .map(|text| serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("final_card: {e}"))))
            .transpose()
    }

    /// Claims delivering the final card for `claim_ms`: true for one caller
    /// at a time. A claimer that died lets its claim run out and another
    /// instance delivers again; delivery is an update of the operation's own
    /// card, so a second delivery shows the same card, not a second one.
    pub async fn claim_final_post(&self, id: &str, now_ms: i64, claim_ms: i64) -> Result<bool, StoreError> {
        let updated = sqlx::query(&format!(
            "UPDATE operations SET final_claim_until_ms = $3
             WHERE id = $1 AND final_posted = 0 AND final_claim_until_ms <= $2 AND NOT ({ACTIVE})"
        ))
        .bind(id)
        .bind(now_ms)
        .bind(now_ms.saturating_add(claim_ms))
        .execute(self.pool())
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// True for exactly one caller once the operation has ended: the final
    /// card is delivered, and nobody needs to deliver it again.
    pub async fn mark_final_posted(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let updated = sqlx::query(&format!(
            "UPDATE operations SET final_posted = 1, updated_ms = $2
             WHERE id = $1 AND final_posted = 0 AND NOT ({ACTIVE})"
        ))
        .bind(id)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Ended operations whose final card is not known to be delivered (the
    /// instance that finished one died before it was), oldest first.
    pub async fn operations_awaiting_final_post(&self, limit: i64) -> Result<Vec<Operation>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT * FROM operations WHERE final_posted = 0 AND NOT ({ACTIVE}) ORDER BY updated_ms, id LIMIT $1"
        ))
        .bind(limit.max(0))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(operation_from_row).collect()
    }
}

fn lease_from(row: Option<AnyRow>) -> Result<Lease, StoreError> {
    match row {
        Some(row) => Ok(Lease::Held { cancel_requested: column::<i64>(&row, "cancel_requested")? != 0 }),
        None => Ok(Lease::Lost),
    }
}

fn json(row: &AnyRow, name: &str) -> Result<serde_json::Value, StoreError> {
    let text: String = column(row, name)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}

fn operation_from_row(row: &AnyRow) -> Result<Operation, StoreError> {
    let state: String = column(row, "state")?;
    let kind: String = column(row, "kind")?;
    let result: Option<String> = column(row, "result")?;
    Ok(Operation {
        id: column(row, "id")?,
        idempotency_key: column(row, "idempotency_key")?,
        kind: kind.parse()?,
        state: state.parse()?,
        conversation_id: column(row, "conversation_id")?,
        card_activity_id: column(row, "card_activity_id")?,
        started_by_oid: column(row, "started_by_oid")?,
        started_by_upn: column(row, "started_by_upn")?,
        pair: column(row, "pair")?,
        payload: json(row, "payload")?,
        result: result
            .map(|text| serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("result: {e}"))))
            .transpose()?,
        owner: column(row, "owner")?,
        lease_until_ms: column(row, "lease_until_ms")?,
        takeovers: column(row, "takeovers")?,
        cancel_requested: column::<i64>(row, "cancel_requested")? != 0,
        final_posted: column::<i64>(row, "final_posted")? != 0,
        created_ms: column(row, "created_ms")?,
        updated_ms: column(row, "updated_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Existing databases (SQLite and PostgreSQL) hold these words: they
    /// must read back as they always did.
    #[test]
    fn kinds_and_outcomes_keep_their_stored_words() {
        for (kind, word) in
            [(Kind::Replication, "replication"), (Kind::Deployment, "deployment"), (Kind::Failover, "failover")]
        {
            assert_eq!(kind.as_str(), word);
            assert_eq!(word.parse::<Kind>().unwrap(), kind);
        }
        assert!(matches!("failback".parse::<Kind>(), Err(StoreError::Corrupt(_))), "an unknown kind is refused");
        for (outcome, word) in
            [(Outcome::Succeeded, "succeeded"), (Outcome::Failed, "failed"), (Outcome::Canceled, "canceled")]
        {
            assert_eq!(outcome.as_str(), word);
            assert_eq!(Outcome::of(&serde_json::json!({ "outcome": word })), Some(outcome));
        }
        assert_eq!(Outcome::of(&serde_json::json!({"outcome": "running"})), None, "not an ending");
        assert_eq!(Outcome::of(&serde_json::json!({})), None);
    }
}
