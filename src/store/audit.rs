//! The audit log: who did what, to what, when, and how it ended.

use sqlx::any::AnyRow;

use super::{column, Store, StoreError};

/// One audited action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: String,
    pub at_ms: i64,
    pub actor_oid: Option<String>,
    pub actor_upn: Option<String>,
    /// What was attempted: `replicate`, `deploy spoke`, `signin`, ...
    pub action: String,
    pub target: Option<String>,
    /// `allowed`, `refused`, `succeeded`, `failed: …`
    pub result: String,
    pub correlation_id: Option<String>,
}

impl Store {
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit (id, at_ms, actor_oid, actor_upn, action, target, result, correlation_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&entry.id)
        .bind(entry.at_ms)
        .bind(&entry.actor_oid)
        .bind(&entry.actor_upn)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(&entry.result)
        .bind(&entry.correlation_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The newest `limit` entries, newest first.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit ORDER BY at_ms DESC, id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(entry_from_row).collect()
    }
}

fn entry_from_row(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: column(row, "id")?,
        at_ms: column(row, "at_ms")?,
        actor_oid: column(row, "actor_oid")?,
        actor_upn: column(row, "actor_upn")?,
        action: column(row, "action")?,
        target: column(row, "target")?,
        result: column(row, "result")?,
        correlation_id: column(row, "correlation_id")?,
    })
}
