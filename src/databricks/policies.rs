//! Cluster policies (Cluster Policies API 2.0).
//!
//! - `GET /api/2.0/policies/clusters/list` → `{policies: [{policy_id, name,
//!   definition, description, max_clusters_per_user, policy_family_id,
//!   policy_family_definition_overrides, …}]}`, not paginated;
//! - `POST /api/2.0/policies/clusters/create {name, definition | policy_family_id
//!   + policy_family_definition_overrides, description, max_clusters_per_user}`
//!   → `{policy_id}`;
//! - `POST /api/2.0/policies/clusters/edit {policy_id, …}`: replaces every
//!   setting, so the whole settings are always sent.
//!
//! `definition` and the overrides are JSON documents carried as strings.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// What a policy is, apart from its id.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct PolicySettings {
    pub name: String,
    /// Absent for a policy of a family (the family's rules apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_clusters_per_user: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_family_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_family_definition_overrides: Option<String>,
}

/// One policy of a workspace.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ClusterPolicy {
    pub policy_id: String,
    #[serde(flatten)]
    pub settings: PolicySettings,
}

impl WorkspaceClient {
    /// Every cluster policy of the workspace.
    pub async fn cluster_policies(&self, token: &AccessToken) -> Result<Vec<ClusterPolicy>, DatabricksError> {
        let body: Value = self.get("/api/2.0/policies/clusters/list", &[], token).await?;
        super::Page::from_json(body, "policies").map(|page| page.items)
    }

    /// A new policy; its id.
    pub async fn create_cluster_policy(
        &self,
        token: &AccessToken,
        settings: &PolicySettings,
    ) -> Result<String, DatabricksError> {
        #[derive(Deserialize)]
        struct Created {
            policy_id: String,
        }
        let body = serde_json::to_value(settings).map_err(|e| DatabricksError::Protocol(e.to_string()))?;
        let created: Created = self.post("/api/2.0/policies/clusters/create", body, token).await?;
        Ok(created.policy_id)
    }

    /// Replaces a policy's settings.
    pub async fn edit_cluster_policy(
        &self,
        token: &AccessToken,
        policy_id: &str,
        settings: &PolicySettings,
    ) -> Result<(), DatabricksError> {
        let mut body = serde_json::to_value(settings).map_err(|e| DatabricksError::Protocol(e.to_string()))?;
        body["policy_id"] = Value::String(policy_id.to_string());
        self.post::<Value>("/api/2.0/policies/clusters/edit", body, token).await.map(|_| ())
    }
}
