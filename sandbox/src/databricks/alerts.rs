//! Databricks SQL alerts (Alerts API): list, get, create, update, trash,
//! served as the queries are ([`super::sql_objects`]).
//!
//! - `GET /api/2.0/sql/alerts[?page_size=&page_token=]` → `{results: [...],
//!   next_page_token?}`; a listed alert has no `parent_path` (the SDK's
//!   `ListAlertsResponseAlert`);
//! - `GET /api/2.0/sql/alerts/{id}`, `POST /api/2.0/sql/alerts {alert:
//!   {display_name, query_id, condition, parent_path, custom_subject,
//!   custom_body, notify_on_ok, seconds_to_retrigger},
//!   auto_resolve_display_name?}`, `PATCH … {update_mask, alert}` (with
//!   `owner_user_name`), `DELETE` (to the trash).
//!
//! An alert runs a query: `query_id` must name an active query of the
//! workspace; its `condition` compares a result column (`operand.column.name`)
//! with `op` and a `threshold.value` (not for `IS_NULL`). A new alert's
//! `state` is `UNKNOWN` until it first runs (the sandbox never runs it).
//! Sources: REST reference, Alerts › Create / Get / List / Update / Delete;
//! the SDK's `AlertsAPI`, `CreateAlertRequestAlert`, `AlertCondition`,
//! `AlertOperator` (FIDELITY.md, "Databricks SQL objects"). **Stricter**:
//! `display_name` and a whole `condition` are required; fields outside
//! those above are refused.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{Map, Value};

use super::sql_objects::{self, active, invalid, Objects, SqlApi};
use super::Workspace;

/// The Permissions API's name for alerts.
pub const OBJECT_TYPE: &str = "alerts";

/// The workspace's alerts.
pub type Alerts = Objects;

const OPERATORS: &[&str] =
    &["EQUAL", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN", "LESS_THAN_OR_EQUAL", "IS_NULL"];

const API: SqlApi = SqlApi {
    what: "alert",
    body_key: "alert",
    object_type: OBJECT_TYPE,
    endpoint: "sql.alerts",
    create_fields: &[
        "display_name",
        "query_id",
        "condition",
        "parent_path",
        "custom_subject",
        "custom_body",
        "notify_on_ok",
        "seconds_to_retrigger",
    ],
    update_fields: &[
        "display_name",
        "query_id",
        "condition",
        "custom_subject",
        "custom_body",
        "notify_on_ok",
        "seconds_to_retrigger",
        "owner_user_name",
    ],
    required: &["query_id", "condition"],
    store: |ws| &ws.alerts,
    check,
    defaults: |alert, _| {
        alert.insert("state".into(), "UNKNOWN".into());
    },
};

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.0/sql/alerts", get(list).post(create))
        .route("/api/2.0/sql/alerts/{id}", get(one).patch(update).delete(trash))
}

/// An alert's query is an active query of the workspace; its condition whole.
fn check(ws: &Workspace, alert: &Map<String, Value>) -> Result<(), Response> {
    if let Some(query) = alert.get("query_id") {
        let known = query.as_str().and_then(|id| ws.queries.get(id)).is_some_and(|q| active(&q));
        if !known {
            return Err(invalid(&format!("Query {query} does not exist.")));
        }
    }
    if let Some(condition) = alert.get("condition") {
        let op = condition["op"].as_str().unwrap_or_default();
        if !OPERATORS.contains(&op) {
            return Err(invalid(&format!("condition.op {op:?} is not an alert operator.")));
        }
        if !condition["operand"]["column"]["name"].is_string() {
            return Err(invalid("condition.operand.column.name is required."));
        }
        if op != "IS_NULL" && !condition["threshold"]["value"].is_object() {
            return Err(invalid("condition.threshold.value is required."));
        }
    }
    Ok(())
}

async fn list(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    sql_objects::list(&API, &ws, &headers, &q)
}

async fn one(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    sql_objects::one(&API, &ws, &headers, &id)
}

async fn create(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    sql_objects::create(&API, &ws, &headers, &body)
}

async fn update(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    sql_objects::update(&API, &ws, &headers, &id, &body)
}

async fn trash(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    sql_objects::trash(&API, &ws, &headers, &id)
}
