//! Instance pools (Instance Pools API 2.0): list, get, create, edit, delete.
//!
//! - `GET /api/2.0/instance-pools/list` → `{instance_pools: [...]}` (not
//!   paginated; `{}` when there are none);
//! - `GET /api/2.0/instance-pools/get?instance_pool_id=`;
//! - `POST /api/2.0/instance-pools/create {instance_pool_name, node_type_id,
//!   min_idle_instances?, max_capacity?, idle_instance_autotermination_minutes?,
//!   custom_tags?, azure_attributes?, enable_elastic_disk?, disk_spec?,
//!   preloaded_spark_versions?}` → `{instance_pool_id}`;
//! - `POST /api/2.0/instance-pools/edit {instance_pool_id, instance_pool_name,
//!   node_type_id, custom_tags?, idle_instance_autotermination_minutes?,
//!   max_capacity?, min_idle_instances?}`: only these fields are editable,
//!   and what is not sent is cleared;
//! - `POST /api/2.0/instance-pools/delete {instance_pool_id}`: the pool is
//!   gone (no longer listed, `get` answers it does not exist).
//!
//! As documented: `instance_pool_name` is required, unique, 1 to 100
//! characters; `node_type_id` is required; `max_capacity` counts idle and
//! used instances, so it is at least `min_idle_instances`. Sources: REST
//! reference, Instance Pools › Create / Edit / Get / List / Delete; the
//! databricks-sdk's `InstancePoolsAPI`, `GetInstancePool`, `EditInstancePool`
//! (FIDELITY.md, "Workspace assets"). **Stricter**: only admins create, edit
//! and delete; `node_type_id` cannot change in an edit; fields outside the
//! spec above are refused.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use super::{databricks_error, Workspace};

/// The fields a create may carry.
const CREATE_FIELDS: &[&str] = &[
    "instance_pool_name",
    "node_type_id",
    "min_idle_instances",
    "max_capacity",
    "idle_instance_autotermination_minutes",
    "custom_tags",
    "azure_attributes",
    "enable_elastic_disk",
    "disk_spec",
    "preloaded_spark_versions",
];

/// The fields an edit may carry (the API's `EditInstancePool`).
const EDIT_FIELDS: &[&str] = &[
    "instance_pool_name",
    "node_type_id",
    "custom_tags",
    "idle_instance_autotermination_minutes",
    "max_capacity",
    "min_idle_instances",
];

/// One pool: its id and spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub instance_pool_id: String,
    pub spec: Map<String, Value>,
}

/// The workspace's instance pools.
#[derive(Default)]
pub struct InstancePools {
    list: Mutex<Vec<Pool>>,
}

impl InstancePools {
    pub fn all(&self) -> Vec<Pool> {
        self.list.lock().clone()
    }

    /// Deletes a pool as someone would in the UI (for tests).
    pub fn remove(&self, instance_pool_id: &str) {
        self.list.lock().retain(|p| p.instance_pool_id != instance_pool_id);
    }

    pub fn by_name(&self, name: &str) -> Vec<Pool> {
        self.all()
            .into_iter()
            .filter(|p| p.spec.get("instance_pool_name").and_then(Value::as_str) == Some(name))
            .collect()
    }

    fn add(&self, id: &str, spec: Value) {
        let Value::Object(spec) = spec else { return };
        self.list.lock().push(Pool { instance_pool_id: id.into(), spec });
    }

    /// A pool of warm D4 nodes on the primary; the secondary has it with a
    /// smaller capacity.
    pub fn seed(&self, primary: bool) {
        let capacity = if primary { 20 } else { 8 };
        self.add(
            if primary { "0101-000000-pool-prim1" } else { "0202-000000-pool-seco1" },
            json!({"instance_pool_name": "Warm D4 nodes", "node_type_id": "Standard_D4ds_v5",
                   "min_idle_instances": 2, "max_capacity": capacity,
                   "idle_instance_autotermination_minutes": 30,
                   "azure_attributes": {"availability": "ON_DEMAND_AZURE"},
                   "preloaded_spark_versions": ["15.4.x-scala2.12"]}),
        );
        if primary {
            self.add(
                "0101-000000-pool-prim2",
                json!({"instance_pool_name": "Spot E8 nodes", "node_type_id": "Standard_E8ds_v5",
                       "min_idle_instances": 0, "max_capacity": 40,
                       "idle_instance_autotermination_minutes": 15,
                       "azure_attributes": {"availability": "SPOT_WITH_FALLBACK_AZURE", "spot_bid_max_price": -1.0},
                       "custom_tags": {"team": "etl"}}),
            );
        }
    }
}

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.0/instance-pools/list", get(list))
        .route("/api/2.0/instance-pools/get", get(one))
        .route("/api/2.0/instance-pools/create", post(create))
        .route("/api/2.0/instance-pools/edit", post(edit))
        .route("/api/2.0/instance-pools/delete", post(delete))
}

fn invalid(message: &str) -> Response {
    databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
}

fn missing(id: &str) -> Response {
    databricks_error(
        StatusCode::BAD_REQUEST,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Can't find an instance pool with id: {id}."),
    )
}

fn to_json(pool: &Pool) -> Value {
    let mut body = Value::Object(pool.spec.clone());
    body["instance_pool_id"] = json!(pool.instance_pool_id);
    body["state"] = json!("ACTIVE");
    body["default_tags"] = json!({"Vendor": "Databricks", "DatabricksInstancePoolId": pool.instance_pool_id,
        "DatabricksInstancePoolCreatorId": "1001", "DatabricksInstanceGroupId": "-1"});
    body["stats"] = json!({"used_count": 0, "idle_count": 0, "pending_used_count": 0, "pending_idle_count": 0});
    body
}

async fn list(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(refusal) = ws.caller(&headers, "instance-pools.list") {
        return refusal;
    }
    if let Some(unknown) = query.keys().next() {
        return invalid(&format!("Unknown query parameter {unknown}."));
    }
    let pools: Vec<Value> = ws.instance_pools.all().iter().map(to_json).collect();
    match pools.is_empty() {
        true => Json(json!({})).into_response(),
        false => Json(json!({ "instance_pools": pools })).into_response(),
    }
}

async fn one(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(refusal) = ws.caller(&headers, "instance-pools.get") {
        return refusal;
    }
    let Some(id) = query.get("instance_pool_id") else { return invalid("instance_pool_id is required.") };
    match ws.instance_pools.all().iter().find(|p| &p.instance_pool_id == id) {
        Some(pool) => Json(to_json(pool)).into_response(),
        None => missing(id),
    }
}

/// A create or edit body checked as the API checks it: the spec, and the
/// pool id (edit).
fn check(
    ws: &Workspace,
    headers: &HeaderMap,
    endpoint: &str,
    fields: &[&str],
    body: &[u8],
) -> Result<(Map<String, Value>, Option<String>), Response> {
    let caller = ws.caller(headers, endpoint)?;
    let Ok(Value::Object(mut spec)) = serde_json::from_slice::<Value>(body) else {
        return Err(invalid("The body is not a JSON object."));
    };
    if !ws.metastore.read().is_admin(&ws.principal(&caller)) {
        return Err(databricks_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Only workspace admins may create, edit or delete instance pools.",
        ));
    }
    let id = spec.remove("instance_pool_id").and_then(|v| v.as_str().map(str::to_string));
    if let Some(unknown) = spec.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(invalid(&format!("The instance pool field {unknown} is not accepted here.")));
    }
    let name = spec.get("instance_pool_name").and_then(Value::as_str).unwrap_or_default();
    if name.trim().is_empty() || name.len() > 100 {
        return Err(invalid("instance_pool_name is required, 1 to 100 characters."));
    }
    if !spec.get("node_type_id").is_some_and(Value::is_string) {
        return Err(invalid("node_type_id is required."));
    }
    let count = |field: &'static str| spec.get(field).map(|v| v.as_u64().ok_or(field));
    match (count("min_idle_instances"), count("max_capacity")) {
        (Some(Err(field)), _) | (_, Some(Err(field))) => {
            return Err(invalid(&format!("{field} must be a non-negative integer.")))
        }
        (Some(Ok(min)), Some(Ok(max))) if max < min => {
            return Err(invalid("max_capacity must be at least min_idle_instances."))
        }
        _ => {}
    }
    let others = ws.instance_pools.all();
    if others.iter().any(|p| {
        p.spec.get("instance_pool_name").and_then(Value::as_str) == Some(name)
            && Some(&p.instance_pool_id) != id.as_ref()
    }) {
        return Err(invalid(&format!("Instance pool name '{name}' already exists.")));
    }
    Ok((spec, id))
}

async fn create(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    let (spec, id) = match check(&ws, &headers, "instance-pools.create", CREATE_FIELDS, &body) {
        Ok(checked) => checked,
        Err(refusal) => return refusal,
    };
    if id.is_some() {
        return invalid("create takes no instance_pool_id.");
    }
    let instance_pool_id = format!("1206-{:06}-pool{:08x}", rand::random::<u32>() % 1_000_000, rand::random::<u32>());
    ws.instance_pools.list.lock().push(Pool { instance_pool_id: instance_pool_id.clone(), spec });
    Json(json!({ "instance_pool_id": instance_pool_id })).into_response()
}

async fn edit(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    let (spec, id) = match check(&ws, &headers, "instance-pools.edit", EDIT_FIELDS, &body) {
        Ok(checked) => checked,
        Err(refusal) => return refusal,
    };
    let Some(id) = id else { return invalid("edit needs instance_pool_id.") };
    let mut list = ws.instance_pools.list.lock();
    let Some(pool) = list.iter_mut().find(|p| p.instance_pool_id == id) else { return missing(&id) };
    if pool.spec.get("node_type_id") != spec.get("node_type_id") {
        return invalid("node_type_id cannot be changed; create another pool.");
    }
    // The editable fields are replaced; what is not sent is cleared.
    for field in EDIT_FIELDS {
        match spec.get(*field) {
            Some(value) => pool.spec.insert(field.to_string(), value.clone()),
            None => pool.spec.remove(*field),
        };
    }
    Json(json!({})).into_response()
}

async fn delete(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match ws.caller(&headers, "instance-pools.delete") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    if !ws.metastore.read().is_admin(&ws.principal(&caller)) {
        return databricks_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Only workspace admins may create, edit or delete instance pools.",
        );
    }
    let id =
        serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["instance_pool_id"].as_str().map(str::to_string));
    let Some(id) = id else { return invalid("instance_pool_id is required.") };
    let mut list = ws.instance_pools.list.lock();
    let before = list.len();
    list.retain(|p| p.instance_pool_id != id);
    match list.len() == before {
        true => missing(&id),
        false => Json(json!({})).into_response(),
    }
}
