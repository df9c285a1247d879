//! All-purpose clusters' definitions (Clusters API 2.1): list (pages),
//! get, create, edit and delete (terminate).
//!
//! - `GET /api/2.1/clusters/list[?page_size=&page_token=&filter_by.…]` →
//!   `{clusters: [...], next_page_token?}`;
//! - `GET /api/2.1/clusters/get?cluster_id=`;
//! - `POST /api/2.1/clusters/create {cluster_name, spark_version, node_type_id,
//!   num_workers | autoscale, …}` → `{cluster_id}`: a new cluster starts;
//! - `POST /api/2.1/clusters/edit {cluster_id, …}`: the whole spec replaced;
//!   the cluster keeps its state (a running one restarts, still running);
//! - `POST /api/2.1/clusters/delete {cluster_id}`: terminates it (it stays
//!   listed, TERMINATED).
//!
//! As documented: `spark_version` is required; a cluster has `num_workers`
//! or `autoscale {min_workers, max_workers}`; a `policy_id` must name a
//! policy; job clusters (`cluster_source: JOB`) cannot be edited. Sources:
//! REST reference, Clusters › Create / Edit / Get / List / Terminate
//! (FIDELITY.md, "Workspace assets"). A cluster on an instance pool
//! (`instance_pool_id`, `driver_instance_pool_id`) takes its node types from
//! the pools: the pools must exist, `node_type_id` may be left out, and a
//! read reports the pool's. **Stricter**: only admins create and edit (the
//! cluster-creation entitlement); fields outside the spec below are
//! refused, and so is a node type other than the pool's.

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

/// The spec fields a create or edit may carry.
const SPEC_FIELDS: &[&str] = &[
    "cluster_name",
    "spark_version",
    "node_type_id",
    "driver_node_type_id",
    "num_workers",
    "autoscale",
    "autotermination_minutes",
    "spark_conf",
    "spark_env_vars",
    "custom_tags",
    "policy_id",
    "apply_policy_default_values",
    "data_security_mode",
    "single_user_name",
    "runtime_engine",
    "enable_elastic_disk",
    "azure_attributes",
    "init_scripts",
    "cluster_log_conf",
    "kind",
    "is_single_node",
    "use_ml_runtime",
    "instance_pool_id",
    "driver_instance_pool_id",
];

/// Each pool field and the node type field it decides.
const POOLED_NODES: [(&str, &str); 2] =
    [("instance_pool_id", "node_type_id"), ("driver_instance_pool_id", "driver_node_type_id")];

/// Clusters a page holds at most.
const PAGE: usize = 3;

/// One cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    pub cluster_id: String,
    pub spec: Map<String, Value>,
    pub state: String,
    pub cluster_source: String,
}

/// The workspace's clusters.
#[derive(Default)]
pub struct Clusters {
    list: Mutex<Vec<Cluster>>,
}

impl Clusters {
    pub fn all(&self) -> Vec<Cluster> {
        self.list.lock().clone()
    }

    pub fn by_name(&self, name: &str) -> Vec<Cluster> {
        self.all().into_iter().filter(|c| c.spec.get("cluster_name").and_then(Value::as_str) == Some(name)).collect()
    }

    fn add(&self, id: &str, source: &str, state: &str, spec: Value) {
        let Value::Object(spec) = spec else { return };
        self.list.lock().push(Cluster {
            cluster_id: id.into(),
            spec,
            state: state.into(),
            cluster_source: source.into(),
        });
    }

    /// Shared clusters people use on the primary (one under a policy, two on
    /// instance pools: `pools` are the warm and the spot pool's ids) and a
    /// job's cluster; the secondary has one of them with older settings.
    pub fn seed(&self, primary: bool, jobs_policy_id: Option<&str>, pools: (Option<&str>, Option<&str>)) {
        let version = "15.4.x-scala2.12";
        if primary {
            let mut governed = json!({"cluster_name": "Shared analytics", "spark_version": version,
                "node_type_id": "Standard_D4ds_v5", "autoscale": {"min_workers": 1, "max_workers": 4},
                "autotermination_minutes": 30, "data_security_mode": "USER_ISOLATION",
                "custom_tags": {"team": "analytics"}});
            if let Some(policy) = jobs_policy_id {
                governed["policy_id"] = json!(policy);
            }
            self.add("0101-000000-prim0001", "UI", "TERMINATED", governed);
            self.add(
                "0101-000000-prim0002",
                "API",
                "RUNNING",
                json!({"cluster_name": "ETL interactive",
                "spark_version": version, "node_type_id": "Standard_D8ds_v5", "num_workers": 2,
                "autotermination_minutes": 60, "spark_conf": {"spark.sql.shuffle.partitions": "64"}}),
            );
            self.add(
                "0101-000000-prim0003",
                "JOB",
                "TERMINATED",
                json!({"cluster_name": "job-1001-run-7",
                "spark_version": version, "node_type_id": "Standard_D4ds_v5", "num_workers": 1}),
            );
            if let (Some(warm), Some(spot)) = pools {
                self.add(
                    "0101-000000-prim0004",
                    "UI",
                    "TERMINATED",
                    json!({"cluster_name": "Pooled ETL", "spark_version": version,
                    "instance_pool_id": warm, "num_workers": 2, "autotermination_minutes": 20}),
                );
                self.add(
                    "0101-000000-prim0005",
                    "UI",
                    "TERMINATED",
                    json!({"cluster_name": "Spot batch", "spark_version": version, "instance_pool_id": spot,
                    "driver_instance_pool_id": warm, "autoscale": {"min_workers": 1, "max_workers": 8}}),
                );
            }
        } else {
            self.add(
                "0202-000000-seco0002",
                "UI",
                "TERMINATED",
                json!({"cluster_name": "ETL interactive",
                "spark_version": version, "node_type_id": "Standard_D8ds_v5", "num_workers": 2,
                "autotermination_minutes": 120}),
            );
        }
    }
}

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.1/clusters/list", get(list))
        .route("/api/2.1/clusters/get", get(one))
        .route("/api/2.1/clusters/create", post(create))
        .route("/api/2.1/clusters/edit", post(edit))
        .route("/api/2.1/clusters/delete", post(terminate))
}

fn invalid(message: &str) -> Response {
    databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
}

fn missing(id: &str) -> Response {
    databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", &format!("Cluster {id} does not exist"))
}

/// A pool's node type, if the pool exists.
fn pool_node_type(ws: &Workspace, pool_id: &str) -> Option<Value> {
    ws.instance_pools.all().into_iter().find(|p| p.instance_pool_id == pool_id).map(|p| p.spec["node_type_id"].clone())
}

/// A cluster as the API reads it: on a pool, with the pool's node types.
fn to_json(ws: &Workspace, cluster: &Cluster) -> Value {
    let mut body = Value::Object(cluster.spec.clone());
    for (pool_field, node_field) in POOLED_NODES {
        if let Some(node_type) =
            cluster.spec.get(pool_field).and_then(Value::as_str).and_then(|id| pool_node_type(ws, id))
        {
            body[node_field] = node_type;
        }
    }
    body["cluster_id"] = json!(cluster.cluster_id);
    body["state"] = json!(cluster.state);
    body["cluster_source"] = json!(cluster.cluster_source);
    body["creator_user_name"] = json!("admin@contoso.com");
    body
}

async fn list(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(refusal) = ws.caller(&headers, "clusters.list") {
        return refusal;
    }
    if let Some(unknown) = query.keys().find(|k| {
        !(k.starts_with("filter_by.") || k.starts_with("sort_by.") || *k == "page_size" || *k == "page_token")
    }) {
        return invalid(&format!("Unknown query parameter {unknown}."));
    }
    let all = ws.clusters.all();
    let start = match query.get("page_token").map(String::as_str) {
        None | Some("") => 0,
        Some(token) => match token.parse::<usize>() {
            Ok(start) if start <= all.len() => start,
            _ => return invalid("Invalid page token."),
        },
    };
    let size = query.get("page_size").and_then(|s| s.parse::<usize>().ok()).unwrap_or(PAGE).clamp(1, PAGE);
    let end = (start + size).min(all.len());
    let mut body = json!({ "clusters": all[start..end].iter().map(|c| to_json(&ws, c)).collect::<Vec<_>>() });
    if end < all.len() {
        body["next_page_token"] = json!(end.to_string());
    }
    Json(body).into_response()
}

async fn one(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(refusal) = ws.caller(&headers, "clusters.get") {
        return refusal;
    }
    let id = query.get("cluster_id").cloned().unwrap_or_default();
    match ws.clusters.all().iter().find(|c| c.cluster_id == id) {
        Some(cluster) => Json(to_json(&ws, cluster)).into_response(),
        None => missing(&id),
    }
}

/// A create or edit body checked: the spec, and the cluster id (edit).
fn check(
    ws: &Workspace,
    headers: &HeaderMap,
    endpoint: &str,
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
            "You are not authorized to create clusters (the cluster creation entitlement).",
        ));
    }
    let id = spec.remove("cluster_id").and_then(|v| v.as_str().map(str::to_string));
    if let Some(unknown) = spec.keys().find(|k| !SPEC_FIELDS.contains(&k.as_str())) {
        return Err(invalid(&format!("The sandbox does not model the cluster field {unknown}.")));
    }
    if !spec.get("spark_version").is_some_and(Value::is_string) {
        return Err(invalid("spark_version is required."));
    }
    for (pool_field, node_field) in POOLED_NODES {
        let Some(pool) = spec.get(pool_field) else { continue };
        let Some(node_type) = pool.as_str().and_then(|id| pool_node_type(ws, id)) else {
            return Err(invalid(&format!("Instance pool {pool} does not exist.")));
        };
        if spec.get(node_field).is_some_and(|given| *given != node_type) {
            return Err(invalid(&format!("{node_field} must be the instance pool's ({node_type}) or left out.")));
        }
    }
    if !spec.get("node_type_id").is_some_and(Value::is_string) && !spec.contains_key("instance_pool_id") {
        return Err(invalid("node_type_id is required unless the cluster is on an instance pool."));
    }
    let autoscale = spec.get("autoscale");
    match (spec.get("num_workers").and_then(Value::as_u64), autoscale) {
        (Some(_), None) => {}
        (None, Some(scale)) => {
            let (min, max) = (scale["min_workers"].as_u64(), scale["max_workers"].as_u64());
            if !matches!((min, max), (Some(min), Some(max)) if min <= max && max > 0) {
                return Err(invalid("autoscale needs min_workers ≤ max_workers, max_workers ≥ 1."));
            }
        }
        _ => return Err(invalid("Give exactly one of num_workers and autoscale.")),
    }
    if let Some(policy) = spec.get("policy_id") {
        let known = policy.as_str().is_some_and(|id| ws.policies.all().iter().any(|p| p.policy_id == id));
        if !known {
            return Err(invalid(&format!("Cluster policy {policy} does not exist.")));
        }
    }
    Ok((spec, id))
}

async fn create(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    let (spec, id) = match check(&ws, &headers, "clusters.create", &body) {
        Ok(checked) => checked,
        Err(refusal) => return refusal,
    };
    if id.is_some() {
        return invalid("create takes no cluster_id.");
    }
    let cluster_id = format!("{:04}-{:06}-{:08x}", 1206, rand::random::<u32>() % 1_000_000, rand::random::<u32>());
    ws.clusters.list.lock().push(Cluster {
        cluster_id: cluster_id.clone(),
        spec,
        state: "PENDING".into(),
        cluster_source: "API".into(),
    });
    Json(json!({ "cluster_id": cluster_id })).into_response()
}

async fn edit(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    let (spec, id) = match check(&ws, &headers, "clusters.edit", &body) {
        Ok(checked) => checked,
        Err(refusal) => return refusal,
    };
    let Some(id) = id else { return invalid("edit needs cluster_id.") };
    let mut list = ws.clusters.list.lock();
    let Some(cluster) = list.iter_mut().find(|c| c.cluster_id == id) else { return missing(&id) };
    if cluster.cluster_source == "JOB" {
        return invalid("A job cluster cannot be edited.");
    }
    cluster.spec = spec;
    Json(json!({})).into_response()
}

async fn terminate(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = ws.caller(&headers, "clusters.delete") {
        return refusal;
    }
    let id = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["cluster_id"].as_str().map(str::to_string));
    let Some(id) = id else { return invalid("cluster_id is required.") };
    let mut list = ws.clusters.list.lock();
    let Some(cluster) = list.iter_mut().find(|c| c.cluster_id == id) else { return missing(&id) };
    cluster.state = "TERMINATED".into();
    Json(json!({})).into_response()
}
