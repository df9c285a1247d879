//! `system.replication.states`: managed DR's status events, one row per
//! event per failover group, queried through the SQL Statement Execution
//! API as the real system table is.
//!
//! As documented ("Replication system table reference",
//! docs.databricks.com/aws/en/admin/system-tables/replication; FIDELITY.md):
//! columns `event_id`, `event_time`, `account_id`, `failover_group_name`
//! (`accounts/{account_id}/failover-groups/{id}`), `replication_state`
//! (INITIALIZING, REPLICATING, CREATED, UPDATED, DELETED, FAILOVER_STARTED,
//! FAILOVER_FINISHED, FAILOVER_ABORTED), `errors` (an array of `{error:
//! {error_class, parameters, message}, affected_assets_counts: [{asset_type,
//! failing_count}]}`: while REPLICATING, what blocks at least one asset;
//! otherwise what failed the operation), `replication_lag_ms` (null: at
//! least one asset never replicated), `effective_primary_region`,
//! `managed_assets` (not modelled). Events are emitted "periodically and
//! whenever the failover group changes": here when a group is added, when
//! its replication point moves or a test reports errors, and at each
//! failover's start and end (`account_failover_groups.rs`).
//!
//! The one query shape answered is the one a monitor issues for the latest
//! events of one group: `SELECT col | to_json(col) AS col, … FROM
//! system.replication.states WHERE failover_group_name = '…' ORDER BY
//! event_time DESC [LIMIT n]`. Reading it takes a metastore admin (system
//! tables are granted by them); anyone else is refused as Unity Catalog
//! refuses a table they may not select. Both workspaces of the account see
//! every event (the table is the account's).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::sql::execute::{Outcome, StatementError};

/// One status event of one group.
#[derive(Clone, Debug)]
pub struct StateEvent {
    pub event_id: String,
    pub event_time: DateTime<Utc>,
    /// `accounts/{account_id}/failover-groups/{id}`.
    pub failover_group_name: String,
    pub replication_state: &'static str,
    /// The `errors` array as the table holds it.
    pub errors: Value,
    pub replication_lag_ms: Option<i64>,
    pub effective_primary_region: String,
}

/// An error blocking replication, as a test reports it.
#[derive(Clone, Debug)]
pub struct BlockingError {
    pub error_class: String,
    pub message: String,
    /// `(asset_type, failing_count)`, e.g. `("TABLE", 3)`.
    pub affected: Vec<(String, u64)>,
}

impl BlockingError {
    pub fn new(error_class: &str, message: &str, affected: &[(&str, u64)]) -> BlockingError {
        BlockingError {
            error_class: error_class.into(),
            message: message.into(),
            affected: affected.iter().map(|(kind, n)| (kind.to_string(), *n)).collect(),
        }
    }
}

/// The `errors` column's value for `errors`.
pub fn errors_value(errors: &[BlockingError]) -> Value {
    Value::Array(
        errors
            .iter()
            .map(|e| {
                json!({
                    "error": {"error_class": e.error_class, "parameters": {}, "message": e.message},
                    "affected_assets_counts": e.affected.iter()
                        .map(|(kind, n)| json!({"asset_type": kind, "failing_count": n}))
                        .collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// The table's columns the sandbox answers (`managed_assets` is not modelled).
const COLUMNS: [&str; 8] = [
    "event_id",
    "event_time",
    "account_id",
    "failover_group_name",
    "replication_state",
    "errors",
    "replication_lag_ms",
    "effective_primary_region",
];

/// A parsed query of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Each selected column, and whether it was wrapped in `to_json(…) AS` itself.
    pub columns: Vec<(String, bool)>,
    pub group_name: String,
    pub limit: Option<usize>,
}

/// Answers `query` over `events` (newest first), for a caller who is
/// (`admin`) or is not a metastore admin.
pub fn answer(events: &[StateEvent], account_id: &str, admin: bool, query: &Query) -> Result<Outcome, StatementError> {
    if !admin {
        return Err(StatementError::new(
            "PERMISSION_DENIED",
            "User does not have SELECT on Table 'system.replication.states'.".into(),
        ));
    }
    let mut columns = Vec::new();
    for (column, to_json) in &query.columns {
        let Some(known) = COLUMNS.iter().find(|c| c.eq_ignore_ascii_case(column)) else {
            return Err(StatementError::new("UNRESOLVED_COLUMN", format!("A column `{column}` cannot be resolved.")));
        };
        if *to_json && *known != "errors" {
            return Err(StatementError::new(
                "DATATYPE_MISMATCH",
                format!("to_json needs a struct, array or map, not `{known}`."),
            ));
        }
        columns.push(*known);
    }
    let mut rows: Vec<&StateEvent> = events.iter().filter(|e| e.failover_group_name == query.group_name).collect();
    rows.sort_by_key(|e| std::cmp::Reverse(e.event_time));
    rows.truncate(query.limit.unwrap_or(usize::MAX));
    let rows = rows
        .into_iter()
        .map(|event| {
            columns
                .iter()
                .map(|column| match *column {
                    "event_id" => json!(event.event_id),
                    "event_time" => json!(event.event_time.to_rfc3339_opts(SecondsFormat::Millis, true)),
                    "account_id" => json!(account_id),
                    "failover_group_name" => json!(event.failover_group_name),
                    "replication_state" => json!(event.replication_state),
                    // JSON_ARRAY renders a complex value as its JSON text either way.
                    "errors" => json!(event.errors.to_string()),
                    "replication_lag_ms" => event.replication_lag_ms.map_or(Value::Null, |ms| json!(ms.to_string())),
                    _ => json!(event.effective_primary_region),
                })
                .collect()
        })
        .collect();
    Ok(Outcome { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, at: i64, state: &'static str, lag: Option<i64>) -> StateEvent {
        StateEvent {
            event_id: format!("e{at}"),
            event_time: DateTime::from_timestamp_millis(at).unwrap(),
            failover_group_name: name.into(),
            replication_state: state,
            errors: errors_value(&[BlockingError::new("ROW_FILTER", "has a row filter", &[("TABLE", 2)])]),
            replication_lag_ms: lag,
            effective_primary_region: "westeurope".into(),
        }
    }

    #[test]
    fn the_latest_events_of_one_group_come_newest_first() {
        let events = [
            event("accounts/a/failover-groups/g", 1_000, "REPLICATING", Some(5)),
            event("accounts/a/failover-groups/g", 3_000, "REPLICATING", None),
            event("accounts/a/failover-groups/other", 9_000, "REPLICATING", Some(1)),
        ];
        let query = Query {
            columns: vec![("event_time".into(), false), ("replication_lag_ms".into(), false), ("errors".into(), true)],
            group_name: "accounts/a/failover-groups/g".into(),
            limit: Some(1),
        };
        let out = answer(&events, "a", true, &query).unwrap();
        assert_eq!(out.columns, ["event_time", "replication_lag_ms", "errors"]);
        assert_eq!(out.rows.len(), 1);
        assert_eq!(out.rows[0][0], "1970-01-01T00:00:03.000Z");
        assert_eq!(out.rows[0][1], Value::Null, "never replicated");
        let errors: Value = serde_json::from_str(out.rows[0][2].as_str().unwrap()).unwrap();
        assert_eq!(errors[0]["affected_assets_counts"][0]["failing_count"], 2);
        assert!(answer(&events, "a", false, &query).is_err(), "metastore admins only");
        let unknown = Query { columns: vec![("lag".into(), false)], ..query };
        assert_eq!(answer(&events, "a", true, &unknown).unwrap_err().error_code, "UNRESOLVED_COLUMN");
    }
}
