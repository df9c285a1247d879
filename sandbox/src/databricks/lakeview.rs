//! AI/BI dashboards (Lakeview API): list, get, create, update, trash,
//! publish.
//!
//! - `GET /api/2.0/lakeview/dashboards[?page_size=&page_token=&show_trashed=&view=]`
//!   → `{dashboards: [...], next_page_token?}`; a listed dashboard has no
//!   `serialized_dashboard`, `parent_path`, `path`, `etag` nor `update_time`;
//! - `GET /api/2.0/lakeview/dashboards/{id}` → the whole draft;
//! - `POST /api/2.0/lakeview/dashboards {display_name, warehouse_id,
//!   serialized_dashboard, parent_path}` → the draft, at
//!   `parent_path/display_name.lvdash.json` in the workspace tree (a
//!   `DASHBOARD` object there), owned by the caller;
//! - `PATCH /api/2.0/lakeview/dashboards/{id} {display_name?, warehouse_id?,
//!   serialized_dashboard?, etag?}`: a stale `etag` is refused;
//! - `DELETE /api/2.0/lakeview/dashboards/{id}`: to the trash;
//! - `POST …/{id}/published {embed_credentials?, warehouse_id?}` publishes
//!   the current draft → `{display_name, embed_credentials, warehouse_id,
//!   revision_create_time}`; `GET …/{id}/published` reads it (404 when never
//!   published); `DELETE …/{id}/published` unpublishes.
//!
//! Sources: REST reference, Lakeview › Create / Get / List / Update / Trash /
//! Publish / Get published / Unpublish; the SDK's `LakeviewAPI`, `Dashboard`
//! ("Exported dashboards always have the file extension `.lvdash.json`"),
//! `PublishedDashboard` (FIDELITY.md, "Databricks SQL objects"). **Stricter**:
//! `display_name` is required, `serialized_dashboard` must be JSON, a
//! `warehouse_id` must be the workspace's; `dataset_catalog` /
//! `dataset_schema` and fields outside those above are refused.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use super::sql_objects::{
    check_warehouse, forbidden, invalid, may_edit, missing, now, only_params, page, parent_folder,
};
use super::{databricks_error, Workspace};
use crate::caller::Caller;

/// The Permissions API's name for AI/BI dashboards.
pub const OBJECT_TYPE: &str = "dashboards";

const FIELDS: &[&str] = &["display_name", "warehouse_id", "serialized_dashboard", "parent_path", "etag"];

/// A published revision.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    pub warehouse_id: Option<String>,
    pub embed_credentials: bool,
    pub revision_create_time: String,
    /// The draft's contents when it was published.
    pub serialized_dashboard: String,
}

/// One dashboard.
#[derive(Clone, Debug, PartialEq)]
pub struct Dashboard {
    pub dashboard_id: String,
    pub display_name: String,
    pub parent_path: String,
    pub warehouse_id: Option<String>,
    pub serialized_dashboard: String,
    pub owner: String,
    pub trashed: bool,
    pub create_time: String,
    pub update_time: String,
    /// Bumped by every change of the draft.
    pub revision: u64,
    pub published: Option<Published>,
}

impl Dashboard {
    pub fn path(&self) -> String {
        format!("{}/{}.lvdash.json", self.parent_path, self.display_name)
    }

    fn listed(&self) -> Value {
        let mut body = json!({
            "dashboard_id": self.dashboard_id,
            "display_name": self.display_name,
            "lifecycle_state": if self.trashed { "TRASHED" } else { "ACTIVE" },
            "create_time": self.create_time,
        });
        if let Some(warehouse) = &self.warehouse_id {
            body["warehouse_id"] = json!(warehouse);
        }
        body
    }

    fn whole(&self) -> Value {
        let mut body = self.listed();
        body["parent_path"] = json!(self.parent_path);
        body["path"] = json!(self.path());
        body["serialized_dashboard"] = json!(self.serialized_dashboard);
        body["update_time"] = json!(self.update_time);
        body["etag"] = json!(self.revision.to_string());
        body
    }
}

/// The workspace's dashboards.
#[derive(Default)]
pub struct Dashboards {
    list: Mutex<Vec<Dashboard>>,
}

impl Dashboards {
    pub fn all(&self) -> Vec<Dashboard> {
        self.list.lock().clone()
    }

    pub fn get(&self, id: &str) -> Option<Dashboard> {
        self.list.lock().iter().find(|d| d.dashboard_id == id).cloned()
    }

    /// The active dashboard at `path`.
    pub fn at(&self, path: &str) -> Option<Dashboard> {
        self.all().into_iter().find(|d| !d.trashed && d.path() == path)
    }

    /// A dashboard as someone made it (the seed; a create): placed in the
    /// workspace tree, or `Err` why not.
    pub fn add(&self, ws: &Workspace, owner: &str, mut dashboard: Dashboard) -> Result<String, String> {
        dashboard.dashboard_id = uuid::Uuid::new_v4().simple().to_string();
        dashboard.owner = owner.to_string();
        dashboard.create_time = now();
        dashboard.update_time = dashboard.create_time.clone();
        dashboard.revision = 1;
        ws.tree.place_dashboard(&dashboard.path(), &dashboard.dashboard_id, chrono::Utc::now().timestamp_millis())?;
        let id = dashboard.dashboard_id.clone();
        self.list.lock().push(dashboard);
        Ok(id)
    }

    /// Changes a dashboard (someone editing it), bumping its revision.
    pub fn edit(&self, id: &str, change: impl FnOnce(&mut Dashboard)) -> Option<Dashboard> {
        let mut list = self.list.lock();
        let dashboard = list.iter_mut().find(|d| d.dashboard_id == id)?;
        change(dashboard);
        dashboard.revision += 1;
        dashboard.update_time = now();
        Some(dashboard.clone())
    }

    /// Publishes the current draft (the seed; someone clicking Publish).
    pub fn publish(&self, id: &str, embed_credentials: bool, warehouse_id: Option<String>) -> Option<Published> {
        let mut list = self.list.lock();
        let dashboard = list.iter_mut().find(|d| d.dashboard_id == id)?;
        let published = Published {
            warehouse_id: warehouse_id.or_else(|| dashboard.warehouse_id.clone()),
            embed_credentials,
            revision_create_time: now(),
            serialized_dashboard: dashboard.serialized_dashboard.clone(),
        };
        dashboard.published = Some(published.clone());
        Some(published)
    }
}

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.0/lakeview/dashboards", get(list).post(create))
        .route("/api/2.0/lakeview/dashboards/{id}", get(one).patch(update).delete(trash))
        .route("/api/2.0/lakeview/dashboards/{id}/published", post(publish).get(published).delete(unpublish))
}

fn published_json(dashboard: &Dashboard, published: &Published) -> Value {
    let mut body = json!({
        "display_name": dashboard.display_name,
        "embed_credentials": published.embed_credentials,
        "revision_create_time": published.revision_create_time,
    });
    if let Some(warehouse) = &published.warehouse_id {
        body["warehouse_id"] = json!(warehouse);
    }
    body
}

async fn list(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(refusal) = ws.caller(&headers, "lakeview.dashboards.list") {
        return refusal;
    }
    if let Err(refusal) = only_params(&query, &["page_size", "page_token", "show_trashed", "view"]) {
        return refusal;
    }
    let show_trashed = query.get("show_trashed").map(String::as_str) == Some("true");
    let shown: Vec<Value> =
        ws.dashboards.all().iter().filter(|d| show_trashed || !d.trashed).map(Dashboard::listed).collect();
    match page(&shown, &query) {
        Ok((dashboards, next)) => {
            let mut body = json!({ "dashboards": dashboards });
            if let Some(next) = next {
                body["next_page_token"] = json!(next);
            }
            Json(body).into_response()
        }
        Err(refusal) => refusal,
    }
}

async fn one(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(refusal) = ws.caller(&headers, "lakeview.dashboards.get") {
        return refusal;
    }
    match ws.dashboards.get(&id) {
        Some(dashboard) => Json(dashboard.whole()).into_response(),
        None => missing("Dashboard", &id),
    }
}

/// A create's or update's body, checked: its fields, warehouse and contents.
fn body_of(ws: &Workspace, raw: &[u8], query: &HashMap<String, String>) -> Result<Map<String, Value>, Response> {
    if let Some(unknown) = query.keys().next() {
        return Err(invalid(&format!("The sandbox does not model the query parameter {unknown}.")));
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(raw) else {
        return Err(invalid("The body is not a JSON object."));
    };
    // What a client read and sends back whole (the SDK's Dashboard) is not a change.
    let body: Map<String, Value> = body
        .into_iter()
        .filter(|(k, _)| {
            !matches!(k.as_str(), "dashboard_id" | "create_time" | "update_time" | "lifecycle_state" | "path")
        })
        .collect();
    if let Some(unknown) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(invalid(&format!("The sandbox does not model the dashboard field {unknown}.")));
    }
    check_warehouse(ws, &body)?;
    if let Some(contents) = body.get("serialized_dashboard") {
        if contents.as_str().is_none_or(|c| serde_json::from_str::<Value>(c).is_err()) {
            return Err(invalid("serialized_dashboard is not a serialized dashboard (JSON)."));
        }
    }
    Ok(body)
}

fn text(body: &Map<String, Value>, name: &str) -> Option<String> {
    body.get(name).and_then(Value::as_str).map(str::to_string)
}

async fn create(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    raw: Bytes,
) -> Response {
    let caller = match ws.caller(&headers, "lakeview.dashboards.create") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let body = match body_of(&ws, &raw, &query) {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let Some(display_name) = text(&body, "display_name").filter(|n| !n.is_empty()) else {
        return invalid("display_name is required.");
    };
    let parent_path = match parent_folder(&ws, &caller, body.get("parent_path")) {
        Ok(parent) => parent,
        Err(refusal) => return refusal,
    };
    let dashboard = Dashboard {
        dashboard_id: String::new(),
        display_name,
        parent_path,
        warehouse_id: text(&body, "warehouse_id"),
        serialized_dashboard: text(&body, "serialized_dashboard").unwrap_or_else(|| "{}".into()),
        owner: String::new(),
        trashed: false,
        create_time: String::new(),
        update_time: String::new(),
        revision: 0,
        published: None,
    };
    match ws.dashboards.add(&ws, &ws.principal(&caller).name, dashboard) {
        Ok(id) => Json(ws.dashboards.get(&id).map(|d| d.whole())).into_response(),
        Err(why) if why.contains("parent folder") => {
            databricks_error(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", &why)
        }
        Err(why) => databricks_error(StatusCode::BAD_REQUEST, "RESOURCE_ALREADY_EXISTS", &why),
    }
}

/// The active dashboard the caller may change, or the refusal.
fn editable(ws: &Workspace, caller: &Caller, id: &str) -> Result<Dashboard, Response> {
    let Some(dashboard) = ws.dashboards.get(id).filter(|d| !d.trashed) else { return Err(missing("Dashboard", id)) };
    if !may_edit(ws, caller, OBJECT_TYPE, id, &dashboard.owner) {
        return Err(forbidden("You need CAN_EDIT or CAN_MANAGE on this dashboard (or to own it) to change it."));
    }
    Ok(dashboard)
}

async fn update(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    raw: Bytes,
) -> Response {
    let caller = match ws.caller(&headers, "lakeview.dashboards.update") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let body = match body_of(&ws, &raw, &query) {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let current = match editable(&ws, &caller, &id) {
        Ok(current) => current,
        Err(refusal) => return refusal,
    };
    if text(&body, "etag").is_some_and(|etag| etag != current.revision.to_string()) {
        return databricks_error(
            StatusCode::CONFLICT,
            "ABORTED",
            "The dashboard was changed since it was read (etag mismatch).",
        );
    }
    if text(&body, "parent_path").is_some_and(|p| p.trim_end_matches('/') != current.parent_path) {
        return invalid("An update does not move a dashboard (parent_path).");
    }
    if let Some(name) = text(&body, "display_name").filter(|n| *n != current.display_name) {
        let path = format!("{}/{name}.lvdash.json", current.parent_path);
        if let Err(why) = ws.tree.place_dashboard(&path, &id, chrono::Utc::now().timestamp_millis()) {
            return databricks_error(StatusCode::BAD_REQUEST, "RESOURCE_ALREADY_EXISTS", &why);
        }
        ws.tree.remove(&current.path());
    }
    let updated = ws.dashboards.edit(&id, |d| {
        if let Some(name) = text(&body, "display_name") {
            d.display_name = name;
        }
        if let Some(warehouse) = body.get("warehouse_id") {
            d.warehouse_id = warehouse.as_str().map(str::to_string);
        }
        if let Some(contents) = text(&body, "serialized_dashboard") {
            d.serialized_dashboard = contents;
        }
    });
    Json(updated.map(|d| d.whole())).into_response()
}

async fn trash(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let caller = match ws.caller(&headers, "lakeview.dashboards.trash") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let current = match editable(&ws, &caller, &id) {
        Ok(current) => current,
        Err(refusal) => return refusal,
    };
    ws.tree.remove(&current.path());
    ws.dashboards.edit(&id, |d| d.trashed = true);
    Json(json!({})).into_response()
}

async fn publish(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>, raw: Bytes) -> Response {
    let caller = match ws.caller(&headers, "lakeview.dashboards.publish") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let request: Value = if raw.is_empty() { json!({}) } else { serde_json::from_slice(&raw).unwrap_or(Value::Null) };
    let Some(request) = request.as_object() else { return invalid("The body is not a JSON object.") };
    if let Some(unknown) = request.keys().find(|k| !matches!(k.as_str(), "embed_credentials" | "warehouse_id")) {
        return invalid(&format!("Unknown field {unknown}."));
    }
    if let Err(refusal) = check_warehouse(&ws, request) {
        return refusal;
    }
    let current = match editable(&ws, &caller, &id) {
        Ok(current) => current,
        Err(refusal) => return refusal,
    };
    let embed = request.get("embed_credentials").and_then(Value::as_bool).unwrap_or(false);
    let warehouse = text(request, "warehouse_id");
    match ws.dashboards.publish(&id, embed, warehouse) {
        Some(published) => Json(published_json(&current, &published)).into_response(),
        None => missing("Dashboard", &id),
    }
}

async fn published(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(refusal) = ws.caller(&headers, "lakeview.dashboards.get_published") {
        return refusal;
    }
    match ws.dashboards.get(&id).filter(|d| !d.trashed) {
        Some(dashboard) => match &dashboard.published {
            Some(published) => Json(published_json(&dashboard, published)).into_response(),
            None => missing("Published dashboard", &id),
        },
        None => missing("Dashboard", &id),
    }
}

async fn unpublish(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let caller = match ws.caller(&headers, "lakeview.dashboards.unpublish") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    if let Err(refusal) = editable(&ws, &caller, &id) {
        return refusal;
    }
    let mut list = ws.dashboards.list.lock();
    if let Some(dashboard) = list.iter_mut().find(|d| d.dashboard_id == id) {
        dashboard.published = None;
    }
    Json(json!({})).into_response()
}
