//! Managed DR's status events from the `system.replication.states` system
//! table, read through the SQL Statement Execution API as the table is
//! read: one row per event per failover group, emitted periodically and at
//! every change of the group. drbot reads the latest event of a group: its
//! `replication_state`, `replication_lag_ms` (null: at least one asset was
//! never replicated) and `errors` (each with the count of affected assets
//! per asset type; while REPLICATING, what blocks replication of at least
//! one asset). `errors` is an array; it is selected as `to_json(errors)`,
//! so its JSON text comes back whatever the result format renders arrays as.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::time::Instant;

use super::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;
use crate::replication::sql_quote::{quote_literal, SqlError};

/// One asset type an error holds back, and how many of it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct AffectedAssets {
    pub asset_type: String,
    pub failing_count: u64,
}

/// An error blocking replication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationError {
    pub error_class: String,
    pub message: String,
    pub affected: Vec<AffectedAssets>,
}

impl ReplicationError {
    /// Assets affected in all.
    pub fn failing(&self) -> u64 {
        self.affected.iter().map(|a| a.failing_count).sum()
    }
}

/// The latest status event of a failover group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationStatus {
    pub event_time: Option<DateTime<Utc>>,
    pub replication_state: String,
    /// `None`: at least one asset was never replicated.
    pub replication_lag_ms: Option<i64>,
    pub errors: Vec<ReplicationError>,
    pub effective_primary_region: String,
}

/// The query of group `group_name`'s latest event (its full name,
/// `accounts/{account_id}/failover-groups/{id}`, as a quoted literal).
pub fn latest_sql(group_name: &str) -> Result<String, SqlError> {
    Ok(format!(
        "SELECT event_time, replication_state, replication_lag_ms, to_json(errors) AS errors, \
         effective_primary_region FROM system.replication.states WHERE failover_group_name = {} \
         ORDER BY event_time DESC LIMIT 1",
        quote_literal(group_name)?
    ))
}

#[derive(Deserialize)]
struct ErrorRow {
    #[serde(default)]
    error: ErrorDetail,
    #[serde(default)]
    affected_assets_counts: Vec<AffectedAssets>,
}

#[derive(Default, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    error_class: String,
    #[serde(default)]
    message: String,
}

/// One row of [`latest_sql`]'s answer, by column name.
pub fn parse_row(columns: &[String], row: &[Option<String>]) -> Result<ReplicationStatus, DatabricksError> {
    let cell = |name: &str| -> Option<&str> {
        columns.iter().position(|c| c.eq_ignore_ascii_case(name)).and_then(|i| row.get(i)).and_then(|v| v.as_deref())
    };
    let bad = |what: String| DatabricksError::Protocol(format!("system.replication.states: {what}"));
    let replication_lag_ms = match cell("replication_lag_ms") {
        None => None,
        Some(text) => Some(text.trim().parse::<i64>().map_err(|_| bad(format!("a lag of {text:?}")))?),
    };
    let errors: Vec<ErrorRow> = match cell("errors") {
        None => Vec::new(),
        Some(text) => serde_json::from_str::<Option<Vec<ErrorRow>>>(text)
            .map_err(|e| bad(format!("errors are not a JSON array of errors ({e})")))?
            .unwrap_or_default(),
    };
    Ok(ReplicationStatus {
        event_time: cell("event_time").and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc()),
        replication_state: cell("replication_state").unwrap_or_default().to_string(),
        replication_lag_ms,
        errors: errors
            .into_iter()
            .map(|e| ReplicationError {
                error_class: e.error.error_class,
                message: e.error.message,
                affected: e.affected_assets_counts,
            })
            .collect(),
        effective_primary_region: cell("effective_primary_region").unwrap_or_default().to_string(),
    })
}

impl WorkspaceClient {
    /// The latest status event of the group named `group_name`, queried on
    /// `warehouse_id`; `None` when the table holds none for it.
    pub async fn latest_replication_status(
        &self,
        token: &AccessToken,
        warehouse_id: &str,
        group_name: &str,
        deadline: Instant,
    ) -> Result<Option<ReplicationStatus>, DatabricksError> {
        let sql = latest_sql(group_name).map_err(|e| DatabricksError::Protocol(format!("the group's name: {e}")))?;
        let (columns, rows) = self.query(token, warehouse_id, &sql, deadline).await?;
        rows.first().map(|row| parse_row(&columns, row)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_name_is_a_quoted_literal() {
        let sql = latest_sql("accounts/a/failover-groups/it's").unwrap();
        assert!(sql.contains("failover_group_name = 'accounts/a/failover-groups/it\\'s'"), "{sql}");
        assert!(latest_sql("a\nb").is_err());
    }

    #[test]
    fn a_row_reads_its_lag_and_errors_with_their_counts() {
        let columns: Vec<String> =
            ["event_time", "replication_state", "replication_lag_ms", "errors", "effective_primary_region"]
                .map(String::from)
                .to_vec();
        let errors = r#"[{"error":{"error_class":"ROW_FILTER_NOT_SUPPORTED","parameters":{},"message":"tables with row filters"},
                        "affected_assets_counts":[{"asset_type":"TABLE","failing_count":3},{"asset_type":"VIEW","failing_count":1}]}]"#;
        let row = vec![
            Some("2026-12-06T09:00:00.000Z".into()),
            Some("REPLICATING".into()),
            Some("125000".into()),
            Some(errors.into()),
            Some("westeurope".into()),
        ];
        let status = parse_row(&columns, &row).unwrap();
        assert_eq!(status.replication_lag_ms, Some(125_000));
        assert_eq!(status.errors[0].error_class, "ROW_FILTER_NOT_SUPPORTED");
        assert_eq!(status.errors[0].failing(), 4);
        assert_eq!(status.event_time.unwrap().timestamp_millis(), 1_796_547_600_000);

        let never = vec![None, Some("INITIALIZING".into()), None, Some("[]".into()), Some("westeurope".into())];
        let status = parse_row(&columns, &never).unwrap();
        assert_eq!((status.replication_lag_ms, status.errors.len()), (None, 0));
        let garbled = vec![None, None, Some("soon".into()), None, None];
        assert!(parse_row(&columns, &garbled).is_err(), "bad wire input is an error, not a panic");
    }
}
