//! The workspace's SQL warehouses, as the SQL Warehouses API has them:
//! `GET /api/2.0/sql/warehouses` (`{warehouses: [...]}`), `POST
//! /api/2.0/sql/warehouses` (`{name, cluster_size, max_num_clusters,
//! auto_stop_mins, enable_serverless_compute, warehouse_type, …}` →
//! `{id}`), `GET /api/2.0/sql/warehouses/{id}` and `DELETE` of the same.
//!
//! As documented (REST reference, Warehouses › Create; "Create a SQL
//! warehouse"; FIDELITY.md): a name is unique in the workspace; serverless
//! compute needs `warehouse_type: PRO`; `auto_stop_mins` is 0 or at least
//! 10; creating one needs the cluster-creation entitlement, which workspace
//! admins hold (the sandbox: members of the metastore's admin group). A
//! region without serverless SQL refuses `enable_serverless_compute`
//! ([`Warehouses::set_serverless_offered`]).
//!
//! Every warehouse of a sandbox workspace runs its statements on the one
//! statement engine ([`super::statements::Statements`]): one power state and
//! one concurrency limit, whichever warehouse a statement names. What is
//! modelled per warehouse is that it exists (a statement for a deleted or
//! unknown one answers 404) and what the list and get show.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{databricks_error, Workspace};

/// One warehouse, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warehouse {
    pub id: String,
    pub name: String,
    pub cluster_size: String,
    pub warehouse_type: String,
    pub serverless: bool,
    pub auto_stop_mins: u32,
    pub min_num_clusters: u32,
    pub max_num_clusters: u32,
    pub creator_name: String,
    /// Its own power state (`RUNNING`, `STOPPED`) once stopped or started by
    /// itself; until then (and always for the seeded warehouse) the
    /// statement engine's.
    pub own_state: Option<String>,
    /// A start or stop on its way: the state it reaches, and when
    /// (`Warehouses::set_power_delay`); until then `own_state` says
    /// STARTING or STOPPING.
    pub settles: Option<(std::time::Instant, &'static str)>,
    /// Its permissions: principal (user name, group name, or a service
    /// principal's application id) → `CAN_USE`, `CAN_MONITOR`, `CAN_MANAGE`
    /// or `IS_OWNER`; `users` is every user of the workspace.
    pub acl: std::collections::BTreeMap<String, String>,
}

/// The permission levels of a warehouse, weakest first.
const LEVELS: &[&str] = &["CAN_VIEW", "CAN_MONITOR", "CAN_USE", "CAN_MANAGE", "IS_OWNER"];

fn level(name: &str) -> Option<usize> {
    LEVELS.iter().position(|l| *l == name)
}

impl Warehouse {
    /// The strongest level `principal` holds, directly or through a group (or `users`).
    fn held(&self, principal: &super::metastore::Principal) -> Option<usize> {
        std::iter::once(principal.name.as_str())
            .chain(principal.groups.iter().map(String::as_str))
            .chain(std::iter::once("users"))
            .filter_map(|name| self.acl.get(name).and_then(|l| level(l)))
            .max()
    }
}

/// The workspace's warehouses; the seeded one from the start.
pub struct Warehouses {
    list: Mutex<Vec<Warehouse>>,
    serverless_offered: Mutex<bool>,
    /// How long a warehouse of its own stays STARTING or STOPPING after a
    /// start or stop (zero: it is RUNNING or STOPPED at once).
    power_delay: Mutex<std::time::Duration>,
}

impl Warehouses {
    /// The workspace's warehouses: the seeded one, `id`.
    pub fn seeded(id: &str) -> Self {
        Warehouses {
            list: Mutex::new(vec![Warehouse {
                id: id.into(),
                name: "drbot sandbox warehouse".into(),
                cluster_size: "Small".into(),
                warehouse_type: "PRO".into(),
                serverless: true,
                auto_stop_mins: 10,
                min_num_clusters: 1,
                max_num_clusters: 1,
                creator_name: "System user".into(),
                own_state: None,
                settles: None,
                acl: [("users".to_string(), "CAN_USE".to_string())].into(),
            }]),
            serverless_offered: Mutex::new(true),
            power_delay: Mutex::new(std::time::Duration::ZERO),
        }
    }

    pub fn exists(&self, id: &str) -> bool {
        self.list.lock().iter().any(|w| w.id == id)
    }

    /// Whether `principal` may run statements on warehouse `id` (CAN_USE or
    /// more; workspace admins may all).
    pub fn may_use(&self, id: &str, principal: &super::metastore::Principal, admin: bool) -> bool {
        admin || self.list.lock().iter().find(|w| w.id == id).and_then(|w| w.held(principal)) >= level("CAN_USE")
    }

    pub fn all(&self) -> Vec<Warehouse> {
        self.list.lock().clone()
    }

    pub fn by_name(&self, name: &str) -> Option<Warehouse> {
        self.list.lock().iter().find(|w| w.name == name).cloned()
    }

    /// Deletes a warehouse (an admin cleaning up): its id answers 404 from now on.
    pub fn delete(&self, id: &str) -> bool {
        let mut list = self.list.lock();
        let before = list.len();
        list.retain(|w| w.id != id);
        list.len() != before
    }

    /// The primary's warehouses for people (BI, ad hoc), stopped: what an
    /// asset sync copies as definitions.
    pub fn seed(&self, primary: bool) {
        let mut list = self.list.lock();
        let mut add = |id: &str, name: &str, size: &str, max: u32| {
            list.push(Warehouse {
                id: id.into(),
                name: name.into(),
                cluster_size: size.into(),
                warehouse_type: "PRO".into(),
                serverless: true,
                auto_stop_mins: 20,
                min_num_clusters: 1,
                max_num_clusters: max,
                creator_name: "admin@contoso.com".into(),
                own_state: Some("STOPPED".into()),
                settles: None,
                acl: [("users".to_string(), "CAN_USE".to_string())].into(),
            })
        };
        if primary {
            add("b1a0c0ffee000001", "BI dashboards", "Medium", 4);
            add("b1a0c0ffee000002", "Ad hoc analysts", "Small", 2);
        } else {
            add("5ec0c0ffee000001", "BI dashboards", "Small", 1);
        }
        // The BI team manages its warehouse on the primary.
        if let Some(bi) = list.iter_mut().find(|w| primary && w.name == "BI dashboards") {
            bi.acl.insert("data-engineers".into(), "CAN_MANAGE".into());
        }
    }

    /// How long a start or stop takes: the warehouse is STARTING or
    /// STOPPING for `delay`, then RUNNING or STOPPED (zero, the default: at once).
    pub fn set_power_delay(&self, delay: std::time::Duration) {
        *self.power_delay.lock() = delay;
    }

    /// Whether the workspace's region offers serverless SQL (it does by default).
    pub fn set_serverless_offered(&self, offered: bool) {
        *self.serverless_offered.lock() = offered;
    }
}

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.0/sql/warehouses", get(list).post(create))
        .route("/api/2.0/sql/warehouses/{id}", get(one).delete(remove))
        .route("/api/2.0/sql/warehouses/{id}/edit", axum::routing::post(edit))
        .route("/api/2.0/sql/warehouses/{id}/stop", axum::routing::post(stop))
        .route("/api/2.0/sql/warehouses/{id}/start", axum::routing::post(start))
        .route("/api/2.0/permissions/warehouses/{id}", get(permissions).patch(update_permissions))
}

/// A warehouse's state: its own, or the statement engine's for the seeded one.
fn state_of<'a>(ws: &Workspace, warehouse: &'a Warehouse) -> &'a str {
    match (&warehouse.settles, &warehouse.own_state) {
        (Some((at, state)), _) if std::time::Instant::now() >= *at => state,
        (_, Some(state)) => state,
        (_, None) => ws.statements.warehouse_state(),
    }
}

fn to_json(warehouse: &Warehouse, state: &str) -> Value {
    json!({
        "id": warehouse.id,
        "name": warehouse.name,
        "state": state,
        "cluster_size": warehouse.cluster_size,
        "warehouse_type": warehouse.warehouse_type,
        "enable_serverless_compute": warehouse.serverless,
        "auto_stop_mins": warehouse.auto_stop_mins,
        "creator_name": warehouse.creator_name,
        "min_num_clusters": warehouse.min_num_clusters,
        "max_num_clusters": warehouse.max_num_clusters,
    })
}

fn missing(id: &str) -> Response {
    databricks_error(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", &format!("Warehouse {id} does not exist."))
}

fn invalid(message: &str) -> Response {
    databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    page_size: Option<usize>,
    #[serde(default)]
    page_token: Option<String>,
    #[serde(default)]
    run_as_user_id: Option<u64>,
}

/// Warehouses a page holds at most (small, so clients follow `next_page_token`).
const PAGE: usize = 2;

async fn list(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refusal) = ws.caller(&headers, "sql.warehouses.list") {
        return refusal;
    }
    let Ok(axum::extract::Query(query)) = query else { return invalid("Unknown query parameter.") };
    let _ = query.run_as_user_id;
    let all = ws.warehouses.all();
    let start = match query.page_token.as_deref() {
        None | Some("") => 0,
        Some(token) => match token.parse::<usize>() {
            Ok(start) if start <= all.len() => start,
            _ => return invalid("Invalid page token."),
        },
    };
    let end = (start + query.page_size.unwrap_or(PAGE).clamp(1, PAGE)).min(all.len());
    let warehouses: Vec<Value> = all[start..end].iter().map(|w| to_json(w, state_of(&ws, w))).collect();
    let mut body = json!({ "warehouses": warehouses });
    if end < all.len() {
        body["next_page_token"] = json!(end.to_string());
    }
    Json(body).into_response()
}

/// `GET /api/2.0/sql/warehouses/{id}`: the fields drbot reads.
async fn one(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(refusal) = ws.caller(&headers, "sql.warehouses.get") {
        return refusal;
    }
    match ws.warehouses.all().iter().find(|w| w.id == id) {
        Some(warehouse) => Json(to_json(warehouse, state_of(&ws, warehouse))).into_response(),
        None => missing(&id),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    name: String,
    cluster_size: String,
    #[serde(default)]
    min_num_clusters: Option<u32>,
    #[serde(default)]
    max_num_clusters: Option<u32>,
    #[serde(default)]
    auto_stop_mins: Option<u32>,
    #[serde(default)]
    enable_serverless_compute: Option<bool>,
    #[serde(default)]
    enable_photon: Option<bool>,
    #[serde(default)]
    warehouse_type: Option<String>,
    #[serde(default)]
    spot_instance_policy: Option<String>,
    #[serde(default)]
    tags: Option<Value>,
}

const CLUSTER_SIZES: &[&str] =
    &["2X-Small", "X-Small", "Small", "Medium", "Large", "X-Large", "2X-Large", "3X-Large", "4X-Large"];

/// A create or edit body checked as the API checks it (the caller an
/// admin): the warehouse type, whether serverless, and `auto_stop_mins`.
fn check_settings(
    ws: &Workspace,
    headers: &HeaderMap,
    endpoint: &str,
    body: &[u8],
) -> Result<(Create, String, String, bool, u32), Response> {
    let caller = ws.caller(headers, endpoint)?;
    let request: Create = serde_json::from_slice(body).map_err(|e| invalid(&format!("Invalid request: {e}")))?;
    let _ = (&request.enable_photon, &request.spot_instance_policy, &request.tags);
    let principal = ws.principal(&caller);
    if !ws.metastore.read().is_admin(&principal) {
        return Err(databricks_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "You do not have permission to create SQL warehouses (the cluster creation entitlement).",
        ));
    }
    if request.name.trim().is_empty() || request.name.len() > 100 {
        return Err(invalid("name must be 1 to 100 characters."));
    }
    if !CLUSTER_SIZES.contains(&request.cluster_size.as_str()) {
        return Err(invalid(&format!("cluster_size '{}' is not a warehouse size.", request.cluster_size)));
    }
    if request.max_num_clusters.is_some_and(|n| !(1..=30).contains(&n)) {
        return Err(invalid("max_num_clusters must be between 1 and 30."));
    }
    if request.min_num_clusters.is_some_and(|n| n < 1 || n > request.max_num_clusters.unwrap_or(1)) {
        return Err(invalid("min_num_clusters must be between 1 and max_num_clusters."));
    }
    let auto_stop = request.auto_stop_mins.unwrap_or(120);
    if auto_stop != 0 && auto_stop < 10 {
        return Err(invalid("auto_stop_mins must be 0 or at least 10."));
    }
    let warehouse_type = request.warehouse_type.clone().unwrap_or_else(|| "CLASSIC".into());
    if !matches!(warehouse_type.as_str(), "CLASSIC" | "PRO") {
        return Err(invalid(&format!("warehouse_type '{warehouse_type}' is not CLASSIC or PRO.")));
    }
    let serverless = request.enable_serverless_compute.unwrap_or(false);
    if serverless && warehouse_type != "PRO" {
        return Err(invalid("Serverless compute requires warehouse_type PRO."));
    }
    if serverless && !*ws.warehouses.serverless_offered.lock() {
        return Err(invalid("Serverless SQL warehouses are not available in this workspace's region."));
    }
    Ok((request, principal.name, warehouse_type, serverless, auto_stop))
}

async fn create(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    let (request, creator, warehouse_type, serverless, auto_stop) =
        match check_settings(&ws, &headers, "sql.warehouses.create", &body) {
            Ok(checked) => checked,
            Err(refusal) => return refusal,
        };
    let principal = super::metastore::Principal { name: creator, groups: Vec::new() };
    let mut list = ws.warehouses.list.lock();
    if list.iter().any(|w| w.name == request.name) {
        return databricks_error(
            StatusCode::BAD_REQUEST,
            "RESOURCE_ALREADY_EXISTS",
            &format!("A SQL warehouse named '{}' already exists.", request.name),
        );
    }
    let id = format!("{:016x}", rand::random::<u64>());
    list.push(Warehouse {
        id: id.clone(),
        name: request.name,
        cluster_size: request.cluster_size,
        warehouse_type,
        serverless,
        auto_stop_mins: auto_stop,
        min_num_clusters: request.min_num_clusters.unwrap_or(1),
        max_num_clusters: request.max_num_clusters.unwrap_or(1),
        creator_name: principal.name.clone(),
        // It runs on the statement engine, with the engine's state, until
        // someone stops or starts it by itself.
        own_state: None,
        settles: None,
        acl: [(principal.name.clone(), "IS_OWNER".to_string())].into(),
    });
    Json(json!({ "id": id })).into_response()
}

/// `POST /api/2.0/sql/warehouses/{id}/edit`: the settings replaced; the
/// power state is left as it is.
async fn edit(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let (request, _, warehouse_type, serverless, auto_stop) =
        match check_settings(&ws, &headers, "sql.warehouses.edit", &body) {
            Ok(checked) => checked,
            Err(refusal) => return refusal,
        };
    let mut list = ws.warehouses.list.lock();
    if list.iter().any(|w| w.name == request.name && w.id != id) {
        return databricks_error(
            StatusCode::BAD_REQUEST,
            "RESOURCE_ALREADY_EXISTS",
            &format!("A SQL warehouse named '{}' already exists.", request.name),
        );
    }
    let Some(warehouse) = list.iter_mut().find(|w| w.id == id) else { return missing(&id) };
    warehouse.name = request.name;
    warehouse.cluster_size = request.cluster_size;
    warehouse.warehouse_type = warehouse_type;
    warehouse.serverless = serverless;
    warehouse.auto_stop_mins = auto_stop;
    warehouse.min_num_clusters = request.min_num_clusters.unwrap_or(1);
    warehouse.max_num_clusters = request.max_num_clusters.unwrap_or(1);
    Json(json!({})).into_response()
}

/// `POST …/{id}/stop` and `…/start`: idempotent; the seeded warehouse's
/// power is the statement engine's.
async fn power(ws: &Workspace, headers: &HeaderMap, id: &str, stop: bool) -> Response {
    if let Err(refusal) = ws.caller(headers, if stop { "sql.warehouses.stop" } else { "sql.warehouses.start" }) {
        return refusal;
    }
    let mut list = ws.warehouses.list.lock();
    let Some(warehouse) = list.iter_mut().find(|w| w.id == id) else { return missing(id) };
    match (id == super::statements::seeded_warehouse_id(&ws.name), stop) {
        (true, true) => ws.statements.stop_warehouse(),
        (true, false) => {
            ws.statements.start_warehouse();
        }
        (false, stop) => {
            // Idempotent: a warehouse already there or on its way is left alone.
            let now = state_of(ws, warehouse).to_string();
            let (going, there) = if stop { ("STOPPING", "STOPPED") } else { ("STARTING", "RUNNING") };
            if now != going && now != there {
                let delay = *ws.warehouses.power_delay.lock();
                if delay.is_zero() {
                    warehouse.own_state = Some(there.into());
                    warehouse.settles = None;
                } else {
                    warehouse.own_state = Some(going.into());
                    warehouse.settles = Some((std::time::Instant::now() + delay, there));
                }
            }
        }
    }
    Json(json!({})).into_response()
}

async fn stop(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    power(&ws, &headers, &id, true).await
}

async fn start(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    power(&ws, &headers, &id, false).await
}

async fn remove(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let caller = match ws.caller(&headers, "sql.warehouses.delete") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    if !ws.metastore.read().is_admin(&ws.principal(&caller)) {
        return databricks_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED", "Only admins delete this warehouse.");
    }
    if ws.warehouses.delete(&id) {
        Json(json!({})).into_response()
    } else {
        missing(&id)
    }
}

fn acl_json(warehouse: &Warehouse) -> Value {
    let entries: Vec<Value> = warehouse
        .acl
        .iter()
        .map(|(principal, level)| {
            // The sandbox tells kinds apart as Databricks names them: a
            // user name has an `@`, an application id is a GUID, else a group.
            let key = if principal.contains('@') {
                "user_name"
            } else if uuid::Uuid::parse_str(principal).is_ok() {
                "service_principal_name"
            } else {
                "group_name"
            };
            json!({ key: principal, "all_permissions": [{"permission_level": level, "inherited": false}] })
        })
        .collect();
    json!({
        "object_id": format!("/sql/warehouses/{}", warehouse.id),
        "object_type": "warehouses",
        "access_control_list": entries,
    })
}

/// `GET /api/2.0/permissions/warehouses/{id}`.
async fn permissions(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(refusal) = ws.caller(&headers, "permissions.warehouses.get") {
        return refusal;
    }
    match ws.warehouses.all().iter().find(|w| w.id == id) {
        Some(warehouse) => Json(acl_json(warehouse)).into_response(),
        None => missing(&id),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AclUpdate {
    access_control_list: Vec<AclEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AclEntry {
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    group_name: Option<String>,
    #[serde(default)]
    service_principal_name: Option<String>,
    permission_level: String,
}

/// `PATCH /api/2.0/permissions/warehouses/{id}`: adds to the permissions
/// (CAN_MANAGE or more, or a workspace admin, may); IS_OWNER is not granted
/// this way.
async fn update_permissions(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let caller = match ws.caller(&headers, "permissions.warehouses.update") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let request: AclUpdate = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return invalid(&format!("Invalid request: {e}")),
    };
    let principal = ws.principal(&caller);
    let admin = ws.metastore.read().is_admin(&principal);
    let mut list = ws.warehouses.list.lock();
    let Some(warehouse) = list.iter_mut().find(|w| w.id == id) else { return missing(&id) };
    if !admin && warehouse.held(&principal) < level("CAN_MANAGE") {
        return databricks_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "You need CAN_MANAGE on this warehouse to change its permissions.",
        );
    }
    for entry in request.access_control_list {
        let names = [entry.user_name, entry.group_name, entry.service_principal_name];
        let mut given = names.into_iter().flatten();
        let (Some(name), None) = (given.next(), given.next()) else {
            return invalid("Each entry names exactly one of user_name, group_name, service_principal_name.");
        };
        if level(&entry.permission_level).is_none() || entry.permission_level == "IS_OWNER" {
            return invalid(&format!("'{}' is not a permission level to grant.", entry.permission_level));
        }
        warehouse.acl.insert(name, entry.permission_level);
    }
    Json(acl_json(warehouse)).into_response()
}
