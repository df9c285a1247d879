//! Object permissions (Permissions API 2.0) on cluster policies, clusters,
//! instance pools, notebooks, directories, queries, alerts and AI/BI
//! dashboards: `GET` and `PATCH /api/2.0/permissions/{cluster-policies|clusters|instance-pools|notebooks|directories|queries|alerts|dashboards}/{id}`
//! (a notebook's or directory's id is its workspace `object_id`).
//!
//! `GET` → `{object_id, object_type, access_control_list: [{user_name |
//! group_name | service_principal_name, all_permissions: [{permission_level,
//! inherited}]}]}`; `PATCH {access_control_list: [{<one principal field>,
//! permission_level}]}` sets those principals' levels and keeps the others.
//! Levels: a policy's `CAN_USE`; a cluster's `CAN_ATTACH_TO`, `CAN_RESTART`,
//! `CAN_MANAGE`; a pool's `CAN_ATTACH_TO`, `CAN_MANAGE`; a notebook's or
//! directory's or dashboard's `CAN_READ`, `CAN_RUN`, `CAN_EDIT`,
//! `CAN_MANAGE`; a query's or alert's `CAN_VIEW`, `CAN_RUN`, `CAN_EDIT`,
//! `CAN_MANAGE` (the SDK's `sql.PermissionLevel`). Sources: REST
//! reference, Permissions › Get / Update object permissions, and "Compute
//! permissions" / "Cluster policy permissions" / "Pool permissions" /
//! "Notebook permissions" / "Folder permissions"
//! (FIDELITY.md, "Workspace assets"). **Stricter**: only admins (and a
//! cluster's CAN_MANAGE holders) change them; a missing object is
//! `404 RESOURCE_DOES_NOT_EXIST`; the sandbox tells principals apart as the
//! warehouses' permissions do (an `@`: a user; a GUID: a service principal).

use std::collections::BTreeMap;
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

/// Direct permissions by (object type, id): principal → level.
#[derive(Default)]
pub struct ObjectAcls {
    acls: Mutex<BTreeMap<(String, String), BTreeMap<String, String>>>,
}

impl ObjectAcls {
    /// Sets a level (the seed; someone in the UI).
    pub fn grant(&self, object_type: &str, id: &str, principal: &str, level: &str) {
        self.acls
            .lock()
            .entry((object_type.to_string(), id.to_string()))
            .or_default()
            .insert(principal.to_string(), level.to_string());
    }

    pub fn of(&self, object_type: &str, id: &str) -> BTreeMap<String, String> {
        self.acls.lock().get(&(object_type.to_string(), id.to_string())).cloned().unwrap_or_default()
    }
}

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.0/permissions/cluster-policies/{id}", get(get_policy).patch(patch_policy))
        .route("/api/2.0/permissions/clusters/{id}", get(get_cluster).patch(patch_cluster))
        .route("/api/2.0/permissions/instance-pools/{id}", get(get_pool).patch(patch_pool))
        .route("/api/2.0/permissions/notebooks/{id}", get(get_notebook).patch(patch_notebook))
        .route("/api/2.0/permissions/directories/{id}", get(get_directory).patch(patch_directory))
        .route("/api/2.0/permissions/queries/{id}", typed(QUERY))
        .route("/api/2.0/permissions/alerts/{id}", typed(ALERT))
        .route("/api/2.0/permissions/dashboards/{id}", typed(DASHBOARD))
}

/// `GET` and `PATCH` of one object type's permissions.
fn typed(object_type: &'static str) -> axum::routing::MethodRouter<Arc<Workspace>> {
    get(move |State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>| async move {
        read(&ws, &headers, object_type, &id)
    })
    .patch(
        move |State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>, raw: Bytes| async move {
            update(&ws, &headers, object_type, &id, &raw)
        },
    )
}

const POLICY: &str = "cluster-policies";
const CLUSTER: &str = "clusters";
const POOL: &str = "instance-pools";
const NOTEBOOK: &str = "notebooks";
const DIRECTORY: &str = "directories";
const QUERY: &str = super::queries::OBJECT_TYPE;
const ALERT: &str = super::alerts::OBJECT_TYPE;
const DASHBOARD: &str = super::lakeview::OBJECT_TYPE;

fn levels(object_type: &str) -> &'static [&'static str] {
    match object_type {
        POLICY => &["CAN_USE"],
        CLUSTER => &["CAN_ATTACH_TO", "CAN_RESTART", "CAN_MANAGE"],
        POOL => &["CAN_ATTACH_TO", "CAN_MANAGE"],
        QUERY | ALERT => &["CAN_VIEW", "CAN_RUN", "CAN_EDIT", "CAN_MANAGE"],
        _ => &["CAN_READ", "CAN_RUN", "CAN_EDIT", "CAN_MANAGE"],
    }
}

/// The singular `object_type` the API answers with.
fn singular(object_type: &str) -> &'static str {
    match object_type {
        POLICY => "cluster-policy",
        CLUSTER => "cluster",
        POOL => "instance-pool",
        NOTEBOOK => "notebook",
        QUERY => "query",
        ALERT => "alert",
        DASHBOARD => "dashboard",
        _ => "directory",
    }
}

fn exists(ws: &Workspace, object_type: &str, id: &str) -> bool {
    use super::workspace_tree::Kind;
    let in_tree = |wanted: &str| {
        let found = id.parse().ok().and_then(|id| ws.tree.kind_of(id));
        matches!((found, wanted), (Some(Kind::Notebook { .. }), NOTEBOOK) | (Some(Kind::Directory), DIRECTORY))
    };
    match object_type {
        POLICY => ws.policies.all().iter().any(|p| p.policy_id == id),
        CLUSTER => ws.clusters.all().iter().any(|c| c.cluster_id == id),
        POOL => ws.instance_pools.all().iter().any(|p| p.instance_pool_id == id),
        QUERY => ws.queries.get(id).is_some_and(|q| super::sql_objects::active(&q)),
        ALERT => ws.alerts.get(id).is_some_and(|a| super::sql_objects::active(&a)),
        DASHBOARD => ws.dashboards.get(id).is_some_and(|d| !d.trashed),
        kind => in_tree(kind),
    }
}

fn principal_field(principal: &str) -> &'static str {
    if principal.contains('@') {
        "user_name"
    } else if uuid::Uuid::parse_str(principal).is_ok() {
        "service_principal_name"
    } else {
        "group_name"
    }
}

fn body(object_type: &str, id: &str, acl: &BTreeMap<String, String>) -> Value {
    let entries: Vec<Value> = acl
        .iter()
        .map(|(principal, level)| {
            json!({ principal_field(principal): principal,
                    "all_permissions": [{"permission_level": level, "inherited": false}] })
        })
        .collect();
    json!({"object_id": format!("/{object_type}/{id}"), "object_type": singular(object_type),
           "access_control_list": entries})
}

fn missing(object_type: &str, id: &str) -> Response {
    databricks_error(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", &format!("{object_type} {id} does not exist."))
}

fn read(ws: &Workspace, headers: &HeaderMap, object_type: &str, id: &str) -> Response {
    if let Err(refusal) = ws.caller(headers, &format!("permissions.{object_type}.get")) {
        return refusal;
    }
    if !exists(ws, object_type, id) {
        return missing(object_type, id);
    }
    Json(body(object_type, id, &ws.object_acls.of(object_type, id))).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    group_name: Option<String>,
    #[serde(default)]
    service_principal_name: Option<String>,
    permission_level: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    access_control_list: Vec<Entry>,
}

fn update(ws: &Workspace, headers: &HeaderMap, object_type: &str, id: &str, raw: &[u8]) -> Response {
    let caller = match ws.caller(headers, &format!("permissions.{object_type}.update")) {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    if !exists(ws, object_type, id) {
        return missing(object_type, id);
    }
    let principal = ws.principal(&caller);
    let admin = ws.metastore.read().is_admin(&principal);
    let acl = ws.object_acls.of(object_type, id);
    let manager = std::iter::once(&principal.name)
        .chain(principal.groups.iter())
        .any(|p| acl.get(p).is_some_and(|l| l == "CAN_MANAGE"));
    if !admin && !manager {
        return databricks_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "You need CAN_MANAGE (or to be an admin) to change these permissions.",
        );
    }
    let request: Update = match serde_json::from_slice(raw) {
        Ok(request) => request,
        Err(e) => {
            return databricks_error(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                &format!("Invalid request: {e}"),
            )
        }
    };
    let mut changes = Vec::new();
    for entry in request.access_control_list {
        let mut names = [entry.user_name, entry.group_name, entry.service_principal_name].into_iter().flatten();
        let (Some(name), None) = (names.next(), names.next()) else {
            return databricks_error(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                "Each entry names exactly one of user_name, group_name, service_principal_name.",
            );
        };
        if !levels(object_type).contains(&entry.permission_level.as_str()) {
            return databricks_error(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                &format!("Permission level {} is not valid for {object_type}.", entry.permission_level),
            );
        }
        changes.push((name, entry.permission_level));
    }
    for (name, _) in &changes {
        if let Some(refusal) = super::identities::unknown_principal(ws, principal_field(name), name) {
            return refusal;
        }
    }
    for (name, level) in changes {
        ws.object_acls.grant(object_type, id, &name, &level);
    }
    Json(body(object_type, id, &ws.object_acls.of(object_type, id))).into_response()
}

async fn get_policy(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    read(&ws, &headers, POLICY, &id)
}

async fn patch_policy(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Bytes,
) -> Response {
    update(&ws, &headers, POLICY, &id, &raw)
}

async fn get_cluster(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    read(&ws, &headers, CLUSTER, &id)
}

async fn patch_cluster(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Bytes,
) -> Response {
    update(&ws, &headers, CLUSTER, &id, &raw)
}

async fn get_pool(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    read(&ws, &headers, POOL, &id)
}

async fn patch_pool(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Bytes,
) -> Response {
    update(&ws, &headers, POOL, &id, &raw)
}

async fn get_notebook(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    read(&ws, &headers, NOTEBOOK, &id)
}

async fn patch_notebook(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Bytes,
) -> Response {
    update(&ws, &headers, NOTEBOOK, &id, &raw)
}

async fn get_directory(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    read(&ws, &headers, DIRECTORY, &id)
}

async fn patch_directory(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Bytes,
) -> Response {
    update(&ws, &headers, DIRECTORY, &id, &raw)
}
