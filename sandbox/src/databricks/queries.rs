//! Databricks SQL queries (Queries API): list, get, create, update, trash.
//!
//! - `GET /api/2.0/sql/queries[?page_size=&page_token=]` → `{results: [...],
//!   next_page_token?}`, by creation time, trashed ones left out; a listed
//!   query has no `parent_path` (the SDK's `ListQueryObjectsResponseQuery`);
//! - `GET /api/2.0/sql/queries/{id}` → the query, with `parent_path`;
//! - `POST /api/2.0/sql/queries {query: {display_name, query_text,
//!   warehouse_id, parent_path, catalog, schema, description, parameters,
//!   tags, run_as_mode, apply_auto_limit}, auto_resolve_display_name?}` → the
//!   query, owned by the caller, in `parent_path` (default: the caller's
//!   home folder); a display name another query of that folder has is
//!   refused unless `auto_resolve_display_name`;
//! - `PATCH /api/2.0/sql/queries/{id} {update_mask, query}`: the masked
//!   fields (`*`: all), `owner_user_name` among them;
//! - `DELETE /api/2.0/sql/queries/{id}`: to the trash (`lifecycle_state:
//!   TRASHED`; no longer listed).
//!
//! Sources: REST reference, Queries › Create / Get / List / Update / Delete,
//! and the databricks-sdk's `QueriesAPI`, `CreateQueryRequestQuery`,
//! `UpdateQueryRequestQuery` (FIDELITY.md, "Databricks SQL objects").
//! **Stricter**: `display_name` is required; a `warehouse_id` must name one
//! of the workspace's warehouses; fields outside those above are refused.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{Map, Value};

use super::sql_objects::{self, invalid, Objects, SqlApi};
use super::Workspace;

/// The Permissions API's name for queries.
pub const OBJECT_TYPE: &str = "queries";

/// The workspace's queries.
pub type Queries = Objects;

/// The Queries API as the shared handlers serve it.
const API: SqlApi = SqlApi {
    what: "query",
    body_key: "query",
    object_type: OBJECT_TYPE,
    endpoint: "sql.queries",
    create_fields: &[
        "display_name",
        "query_text",
        "warehouse_id",
        "parent_path",
        "catalog",
        "schema",
        "description",
        "parameters",
        "tags",
        "run_as_mode",
        "apply_auto_limit",
    ],
    update_fields: &[
        "display_name",
        "query_text",
        "warehouse_id",
        "catalog",
        "schema",
        "description",
        "parameters",
        "tags",
        "run_as_mode",
        "apply_auto_limit",
        "owner_user_name",
    ],
    required: &[],
    store: |ws| &ws.queries,
    check,
    defaults: |query, modifier| {
        query.entry("run_as_mode").or_insert("OWNER".into());
        query.insert("last_modifier_user_name".into(), modifier.into());
    },
};

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.0/sql/queries", get(list).post(create))
        .route("/api/2.0/sql/queries/{id}", get(one).patch(update).delete(trash))
}

/// A query's definition: its warehouse the workspace's, a known run-as mode, tags strings.
fn check(ws: &Workspace, query: &Map<String, Value>) -> Result<(), Response> {
    sql_objects::check_warehouse(ws, query)?;
    if let Some(mode) = query.get("run_as_mode") {
        if !matches!(mode.as_str(), Some("OWNER" | "VIEWER")) {
            return Err(invalid(&format!("run_as_mode {mode} is not OWNER or VIEWER.")));
        }
    }
    if let Some(tags) = query.get("tags") {
        if !tags.as_array().is_some_and(|t| t.iter().all(Value::is_string)) {
            return Err(invalid("tags is a list of strings."));
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
