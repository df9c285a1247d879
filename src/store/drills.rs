//! Drills as they ended (RTO, findings) and who approved each failover
//! runbook.
//!
//! A drill is recorded once, under its operation's id: the engine may post
//! its result again after a takeover, the record stays one. Approvals are
//! one row per person per runbook, so a double click or a second instance
//! handling the same click counts once; the approvers are kept with the
//! runbook for the audit.

use sqlx::any::AnyRow;

use super::{column, Store, StoreError};

/// One past drill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drill {
    /// The drill operation's id.
    pub id: String,
    pub pair: String,
    pub started_ms: i64,
    pub finished_ms: i64,
    /// `succeeded`, `failed` or `cancelled`.
    pub outcome: String,
    /// Approval (start) to validated; `None` when it did not get that far.
    pub rto_ms: Option<i64>,
    /// What the drill found, one line each.
    pub findings: Vec<String>,
}

/// One approval of a runbook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    pub approver_oid: String,
    pub approver_upn: Option<String>,
    pub approved_ms: i64,
}

impl Store {
    /// Records `drill`; false when it was recorded already (left as it was).
    pub async fn record_drill(&self, drill: &Drill) -> Result<bool, StoreError> {
        let findings = serde_json::to_string(&drill.findings).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let inserted = sqlx::query(
            "INSERT INTO drills (id, pair, started_ms, finished_ms, outcome, rto_ms, findings)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&drill.id)
        .bind(&drill.pair)
        .bind(drill.started_ms)
        .bind(drill.finished_ms)
        .bind(&drill.outcome)
        .bind(drill.rto_ms)
        .bind(findings)
        .execute(self.pool())
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Past drills, newest first: of `pair`, or of every pair; at most `limit`.
    pub async fn drills(&self, pair: Option<&str>, limit: i64) -> Result<Vec<Drill>, StoreError> {
        let rows = match pair {
            Some(pair) => {
                sqlx::query("SELECT * FROM drills WHERE pair = $1 ORDER BY started_ms DESC, id LIMIT $2")
                    .bind(pair)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM drills ORDER BY started_ms DESC, id LIMIT $1")
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter().map(drill_from_row).collect()
    }

    /// Records that `approver_oid` approved runbook `runbook_id` (once per
    /// person), and returns every approval of it, oldest first.
    pub async fn approve_runbook(
        &self,
        runbook_id: &str,
        approver_oid: &str,
        approver_upn: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<Approval>, StoreError> {
        sqlx::query(
            "INSERT INTO runbook_approvals (runbook_id, approver_oid, approver_upn, approved_ms)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (runbook_id, approver_oid) DO NOTHING",
        )
        .bind(runbook_id)
        .bind(approver_oid)
        .bind(approver_upn)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        self.runbook_approvals(runbook_id).await
    }

    /// Every approval of runbook `runbook_id`, oldest first.
    pub async fn runbook_approvals(&self, runbook_id: &str) -> Result<Vec<Approval>, StoreError> {
        let rows = sqlx::query(
            "SELECT approver_oid, approver_upn, approved_ms FROM runbook_approvals
             WHERE runbook_id = $1 ORDER BY approved_ms, approver_oid",
        )
        .bind(runbook_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Approval {
                    approver_oid: column(row, "approver_oid")?,
                    approver_upn: column(row, "approver_upn")?,
                    approved_ms: column(row, "approved_ms")?,
                })
            })
            .collect()
    }
}

fn drill_from_row(row: &AnyRow) -> Result<Drill, StoreError> {
    let findings: String = column(row, "findings")?;
    Ok(Drill {
        id: column(row, "id")?,
        pair: column(row, "pair")?,
        started_ms: column(row, "started_ms")?,
        finished_ms: column(row, "finished_ms")?,
        outcome: column(row, "outcome")?,
        rto_ms: column(row, "rto_ms")?,
        findings: serde_json::from_str(&findings).map_err(|e| StoreError::Corrupt(format!("drill findings: {e}")))?,
    })
}
