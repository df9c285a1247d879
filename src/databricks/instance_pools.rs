//! Instance pools (Instance Pools API 2.0): their definitions.
//!
//! - `GET /api/2.0/instance-pools/list` → `{instance_pools: [...]}` (not
//!   paginated; `{}` when there are none); each pool carries its spec beside
//!   runtime fields (`state`, `stats`, `status`, `default_tags`);
//! - `POST /api/2.0/instance-pools/create {spec}` → `{instance_pool_id}`;
//! - `POST /api/2.0/instance-pools/edit {instance_pool_id, instance_pool_name,
//!   node_type_id, …}`: only [`EDITABLE`] fields change, and what is not
//!   sent is cleared.

use serde_json::{json, Map, Value};

use super::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// The fields that define a pool (what a copy carries).
pub const SPEC_FIELDS: &[&str] = &[
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

/// The fields an edit may send (the API's `EditInstancePool`); the others
/// are fixed when the pool is made.
pub const EDITABLE: &[&str] = &[
    "instance_pool_name",
    "node_type_id",
    "custom_tags",
    "idle_instance_autotermination_minutes",
    "max_capacity",
    "min_idle_instances",
];

/// One pool and its definition.
#[derive(Clone, Debug, PartialEq)]
pub struct InstancePool {
    pub instance_pool_id: String,
    /// [`SPEC_FIELDS`] present on the pool.
    pub spec: Map<String, Value>,
}

impl InstancePool {
    pub fn name(&self) -> &str {
        self.spec.get("instance_pool_name").and_then(Value::as_str).unwrap_or_default()
    }
}

fn parse(pool: Value) -> Result<InstancePool, DatabricksError> {
    let Value::Object(fields) = pool else {
        return Err(DatabricksError::Protocol("an instance pool is not a JSON object".into()));
    };
    let Some(instance_pool_id) = fields.get("instance_pool_id").and_then(Value::as_str).map(str::to_string) else {
        return Err(DatabricksError::Protocol("an instance pool without instance_pool_id".into()));
    };
    let spec =
        fields.iter().filter(|(k, _)| SPEC_FIELDS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    Ok(InstancePool { instance_pool_id, spec })
}

impl WorkspaceClient {
    /// Every instance pool of the workspace.
    pub async fn instance_pools(&self, token: &AccessToken) -> Result<Vec<InstancePool>, DatabricksError> {
        let body: Value = self.get("/api/2.0/instance-pools/list", &[], token).await?;
        let pools = body.get("instance_pools").and_then(Value::as_array).cloned().unwrap_or_default();
        pools.into_iter().map(parse).collect()
    }

    /// A new pool from `spec`; its id.
    pub async fn create_instance_pool(
        &self,
        token: &AccessToken,
        spec: &Map<String, Value>,
    ) -> Result<String, DatabricksError> {
        let body: Value = self.post("/api/2.0/instance-pools/create", Value::Object(spec.clone()), token).await?;
        body["instance_pool_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| DatabricksError::Protocol("instance-pools/create answered no instance_pool_id".into()))
    }

    /// Edits a pool: `spec`'s editable fields (the rest cannot change).
    pub async fn edit_instance_pool(
        &self,
        token: &AccessToken,
        instance_pool_id: &str,
        spec: &Map<String, Value>,
    ) -> Result<(), DatabricksError> {
        let mut body: Map<String, Value> =
            spec.iter().filter(|(k, _)| EDITABLE.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
        body.insert("instance_pool_id".into(), json!(instance_pool_id));
        self.post::<Value>("/api/2.0/instance-pools/edit", Value::Object(body), token).await.map(|_| ())
    }
}
