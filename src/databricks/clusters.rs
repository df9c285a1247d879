//! All-purpose clusters' definitions (Clusters API 2.1).
//!
//! - `GET /api/2.1/clusters/list?page_token=` → `{clusters: [...],
//!   next_page_token}`; each cluster carries its spec beside runtime fields
//!   (`state`, `driver`, `executors`, `start_time`, …);
//! - `POST /api/2.1/clusters/create {spec}` → `{cluster_id}` (it starts);
//! - `POST /api/2.1/clusters/edit {cluster_id, spec}`: the spec, whole;
//! - `POST /api/2.1/clusters/delete {cluster_id}`: terminates it (the
//!   definition stays).
//!
//! Only the spec fields of [`SPEC_FIELDS`] are read as the definition: the
//! rest is runtime state, or set by Databricks (`default_tags`).

use serde_json::{json, Map, Value};

use super::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// The fields that define a cluster (what a copy carries).
pub const SPEC_FIELDS: &[&str] = &[
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

/// One cluster: who made it (`UI`, `API`, `JOB`, `PIPELINE`, …), its state
/// and its definition.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterInfo {
    pub cluster_id: String,
    pub cluster_source: String,
    pub state: String,
    /// The definition: [`SPEC_FIELDS`] present on the cluster.
    pub spec: Map<String, Value>,
}

impl ClusterInfo {
    pub fn name(&self) -> &str {
        self.spec.get("cluster_name").and_then(Value::as_str).unwrap_or_default()
    }
}

fn parse(cluster: Value) -> Result<ClusterInfo, DatabricksError> {
    let Value::Object(fields) = cluster else {
        return Err(DatabricksError::Protocol("a cluster is not a JSON object".into()));
    };
    let text = |key: &str| fields.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let Some(cluster_id) = fields.get("cluster_id").and_then(Value::as_str).map(str::to_string) else {
        return Err(DatabricksError::Protocol("a cluster without cluster_id".into()));
    };
    let spec =
        fields.iter().filter(|(k, _)| SPEC_FIELDS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    Ok(ClusterInfo { cluster_id, cluster_source: text("cluster_source"), state: text("state"), spec })
}

impl WorkspaceClient {
    /// Every cluster of the workspace, page by page.
    pub async fn clusters(&self, token: &AccessToken) -> Result<Vec<ClusterInfo>, DatabricksError> {
        let raw: Vec<Value> = super::paging::collect_pages(|page_token| async move {
            let query: Vec<(&str, String)> = page_token.map(|t| ("page_token", t)).into_iter().collect();
            let body: Value = self.get("/api/2.1/clusters/list", &query, token).await?;
            super::Page::from_json(body, "clusters")
        })
        .await?;
        raw.into_iter().map(parse).collect()
    }

    /// A new cluster from `spec` (it starts); its id.
    pub async fn create_cluster(
        &self,
        token: &AccessToken,
        spec: &Map<String, Value>,
    ) -> Result<String, DatabricksError> {
        let body: Value = self.post("/api/2.1/clusters/create", Value::Object(spec.clone()), token).await?;
        body["cluster_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| DatabricksError::Protocol("a created cluster without cluster_id".into()))
    }

    /// Replaces a cluster's spec (its state is kept: a running one restarts).
    pub async fn edit_cluster(
        &self,
        token: &AccessToken,
        cluster_id: &str,
        spec: &Map<String, Value>,
    ) -> Result<(), DatabricksError> {
        let mut body = Value::Object(spec.clone());
        body["cluster_id"] = json!(cluster_id);
        self.post::<Value>("/api/2.1/clusters/edit", body, token).await.map(|_| ())
    }

    /// Terminates a cluster (nothing if it is terminated).
    pub async fn terminate_cluster(&self, token: &AccessToken, cluster_id: &str) -> Result<(), DatabricksError> {
        self.post::<Value>("/api/2.1/clusters/delete", json!({ "cluster_id": cluster_id }), token).await.map(|_| ())
    }
}
