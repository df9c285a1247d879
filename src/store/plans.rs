//! Plans shown to a person before anything runs (a replication plan, a
//! deployment's What-If), kept so that the Run or Approve button runs exactly
//! what the person read, not whatever a fresh read would find a minute later.
//! A plan expires: an hour-old plan no longer describes the metastores.

use std::fmt;
use std::str::FromStr;

use sqlx::any::AnyRow;

use super::{column, Store, StoreError};

/// What a plan is for: the row's `kind`. The words are stored and never
/// change, so existing databases read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlanKind {
    Replication,
    Deployment,
    /// A failover, failback or drill runbook awaiting its approvers.
    Runbook,
}

impl PlanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanKind::Replication => "replication",
            PlanKind::Deployment => "deploy",
            PlanKind::Runbook => "runbook",
        }
    }
}

impl fmt::Display for PlanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PlanKind {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "replication" => PlanKind::Replication,
            "deploy" => PlanKind::Deployment,
            "runbook" => PlanKind::Runbook,
            other => return Err(StoreError::Corrupt(format!("plan kind '{other}'"))),
        })
    }
}

/// A plan as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredPlan {
    pub id: String,
    pub kind: PlanKind,
    /// The conversation whose card shows it: a button elsewhere cannot run it.
    pub conversation_id: String,
    pub created_by_oid: Option<String>,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// The plan itself; its shape is the caller's.
    pub payload: serde_json::Value,
}

impl Store {
    pub async fn save_plan(&self, plan: &StoredPlan) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO plans (id, kind, conversation_id, created_by_oid, created_ms, expires_ms, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&plan.id)
        .bind(plan.kind.as_str())
        .bind(&plan.conversation_id)
        .bind(&plan.created_by_oid)
        .bind(plan.created_ms)
        .bind(plan.expires_ms)
        .bind(plan.payload.to_string())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The plan, unless it is unknown or expired at `now_ms`.
    pub async fn plan(&self, id: &str, now_ms: i64) -> Result<Option<StoredPlan>, StoreError> {
        let row = sqlx::query(
            "SELECT id, kind, conversation_id, created_by_oid, created_ms, expires_ms, payload
             FROM plans WHERE id = $1 AND expires_ms > $2",
        )
        .bind(id)
        .bind(now_ms)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(plan_from_row).transpose()
    }

    /// The plans of `kind` made in `conversation_id` that are unexpired at
    /// `now_ms` and that no operation has started (an operation runs a plan
    /// under the key `<verb>:<plan id>`), newest first, at most `limit`.
    pub async fn open_plans(
        &self,
        kind: PlanKind,
        conversation_id: &str,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<StoredPlan>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, conversation_id, created_by_oid, created_ms, expires_ms, payload
             FROM plans WHERE kind = $1 AND conversation_id = $2 AND expires_ms > $3 AND NOT EXISTS (
                 SELECT 1 FROM operations o WHERE o.idempotency_key LIKE '%:' || plans.id)
             ORDER BY created_ms DESC, id LIMIT $4",
        )
        .bind(kind.as_str())
        .bind(conversation_id)
        .bind(now_ms)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(plan_from_row).collect()
    }

    /// Ends a plan nobody will run (it expires at `now_ms`), unless an
    /// operation already runs it: true when it was open and now is not.
    pub async fn discard_plan(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE plans SET expires_ms = $2 WHERE id = $1 AND expires_ms > $2 AND NOT EXISTS (
                 SELECT 1 FROM operations o WHERE o.idempotency_key LIKE '%:' || plans.id)",
        )
        .bind(id)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces a plan's payload only if it still is `expected` (a
    /// compare-and-set: two approvals clicked at once cannot both count as
    /// the first). True when replaced.
    pub async fn replace_plan_payload(
        &self,
        id: &str,
        expected: &serde_json::Value,
        payload: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE plans SET payload = $3 WHERE id = $1 AND payload = $2")
            .bind(id)
            .bind(expected.to_string())
            .bind(payload.to_string())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Drops expired plans; returns how many. A plan that an operation still
    /// in progress runs is kept (its key is `<verb>:<plan id>`): a takeover
    /// after the hour reads it again to carry on.
    pub async fn purge_expired_plans(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM plans WHERE expires_ms <= $1 AND NOT EXISTS (
                 SELECT 1 FROM operations o
                 WHERE o.idempotency_key LIKE '%:' || plans.id AND o.state IN ('pending', 'running'))",
        )
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}

fn plan_from_row(row: &AnyRow) -> Result<StoredPlan, StoreError> {
    let payload: String = column(row, "payload")?;
    let kind: String = column(row, "kind")?;
    Ok(StoredPlan {
        id: column(row, "id")?,
        kind: kind.parse()?,
        conversation_id: column(row, "conversation_id")?,
        created_by_oid: column(row, "created_by_oid")?,
        created_ms: column(row, "created_ms")?,
        expires_ms: column(row, "expires_ms")?,
        payload: serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt(format!("plan payload: {e}")))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored words: existing databases must still read.
    #[test]
    fn plan_kinds_keep_their_stored_words() {
        for (kind, word) in [(PlanKind::Replication, "replication"), (PlanKind::Deployment, "deploy")] {
            assert_eq!(kind.as_str(), word);
            assert_eq!(word.parse::<PlanKind>().unwrap(), kind);
        }
        assert!(matches!("deploy hub".parse::<PlanKind>(), Err(StoreError::Corrupt(_))));
    }
}
