//! Delta Sharing, Databricks to Databricks: the primary's recipient and
//! shares, the secondary's providers.
//!
//! Replication clones managed tables from a catalog mounted from a share, so
//! the share must hold every schema; a share PATCH takes at most 100 updates,
//! which is why `update_share` sends them in chunks.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::unity_catalog::{PermissionChange, PrivilegeAssignment};
use super::{segment, DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

const UC: &str = "/api/2.1/unity-catalog";

/// At most this many updates in one PATCH of a share.
pub const MAX_SHARE_UPDATES: usize = 100;

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Recipient {
    pub name: String,
    #[serde(default)]
    pub authentication_type: Option<String>,
    /// `azure:<region>:<uuid>` of the metastore receiving.
    #[serde(default)]
    pub data_recipient_global_metastore_id: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Share {
    pub name: String,
    #[serde(default)]
    pub owner: Option<String>,
    /// Present on a GET of the share (the list may leave it out).
    #[serde(default)]
    pub objects: Vec<SharedObject>,
}

/// A table, schema, … in a share, by its name in the provider's metastore.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct SharedObject {
    pub name: String,
    /// `TABLE`, `SCHEMA`, …
    pub data_object_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum ShareAction {
    Add,
    Remove,
    Update,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ShareUpdate {
    pub action: ShareAction,
    pub data_object: SharedObject,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Provider {
    pub name: String,
    #[serde(default)]
    pub authentication_type: Option<String>,
    /// `azure:<region>:<uuid>` of the metastore sharing.
    #[serde(default)]
    pub data_provider_global_metastore_id: Option<String>,
}

#[derive(Deserialize)]
struct Assignments {
    #[serde(default)]
    privilege_assignments: Vec<PrivilegeAssignment>,
}

impl WorkspaceClient {
    /// A Databricks-to-Databricks recipient for the metastore `global_metastore_id`.
    pub async fn create_recipient(
        &self,
        token: &AccessToken,
        name: &str,
        global_metastore_id: &str,
        comment: Option<&str>,
    ) -> Result<Recipient, DatabricksError> {
        let mut body = json!({
            "name": name,
            "authentication_type": "DATABRICKS",
            "data_recipient_global_metastore_id": global_metastore_id,
        });
        if let Some(comment) = comment {
            body["comment"] = json!(comment);
        }
        self.post(&format!("{UC}/recipients"), body, token).await
    }

    pub async fn list_recipients(&self, token: &AccessToken) -> Result<Vec<Recipient>, DatabricksError> {
        self.list_all(&format!("{UC}/recipients"), &[], "recipients", token).await
    }

    pub async fn get_recipient(&self, token: &AccessToken, name: &str) -> Result<Recipient, DatabricksError> {
        self.get(&format!("{UC}/recipients/{}", segment(name)), &[], token).await
    }

    pub async fn create_share(&self, token: &AccessToken, name: &str) -> Result<Share, DatabricksError> {
        self.post(&format!("{UC}/shares"), json!({ "name": name }), token).await
    }

    pub async fn list_shares(&self, token: &AccessToken) -> Result<Vec<Share>, DatabricksError> {
        self.list_all(&format!("{UC}/shares"), &[], "shares", token).await
    }

    /// A share with its objects.
    pub async fn get_share(&self, token: &AccessToken, name: &str) -> Result<Share, DatabricksError> {
        let query = [("include_shared_data", "true".to_string())];
        self.get(&format!("{UC}/shares/{}", segment(name)), &query, token).await
    }

    /// Applies `updates` in PATCHes of at most [`MAX_SHARE_UPDATES`], in order;
    /// returns the share after the last one. Chunks already sent stay applied
    /// if a later one fails (each is idempotent to resend as UPDATE).
    pub async fn update_share(
        &self,
        token: &AccessToken,
        name: &str,
        updates: &[ShareUpdate],
    ) -> Result<Share, DatabricksError> {
        let path = format!("{UC}/shares/{}", segment(name));
        if updates.is_empty() {
            return self.get_share(token, name).await;
        }
        let mut share = None;
        for chunk in updates.chunks(MAX_SHARE_UPDATES) {
            let answer = self.patch::<Share>(&path, json!({ "updates": chunk }), token).await?;
            // The answer is the share after the update: check it shows it.
            for update in chunk {
                let listed = answer.objects.iter().any(|o| o.name == update.data_object.name);
                let wrong = match update.action {
                    ShareAction::Add | ShareAction::Update => !listed,
                    ShareAction::Remove => listed,
                };
                if wrong {
                    return Err(DatabricksError::Protocol(format!(
                        "share {name} accepted {:?} of {} but its answer does not show it",
                        update.action, update.data_object.name
                    )));
                }
            }
            share = Some(answer);
        }
        share.ok_or_else(|| DatabricksError::Protocol("no share update was sent".into()))
    }

    pub async fn share_permissions(
        &self,
        token: &AccessToken,
        name: &str,
    ) -> Result<Vec<PrivilegeAssignment>, DatabricksError> {
        let answer: Assignments = self.get(&format!("{UC}/shares/{}/permissions", segment(name)), &[], token).await?;
        Ok(answer.privilege_assignments)
    }

    /// Grants or revokes recipients' SELECT on a share.
    pub async fn update_share_permissions(
        &self,
        token: &AccessToken,
        name: &str,
        changes: &[PermissionChange],
    ) -> Result<Vec<PrivilegeAssignment>, DatabricksError> {
        let path = format!("{UC}/shares/{}/permissions", segment(name));
        let answer: Value = self.patch(&path, json!({ "changes": changes }), token).await?;
        // Some API versions answer with nothing; the grants are then unknown here.
        Ok(serde_json::from_value::<Assignments>(answer).map(|a| a.privilege_assignments).unwrap_or_default())
    }

    /// Providers, optionally only the one for a sharing metastore.
    pub async fn list_providers(
        &self,
        token: &AccessToken,
        data_provider_global_metastore_id: Option<&str>,
    ) -> Result<Vec<Provider>, DatabricksError> {
        let query: Vec<(&str, String)> = data_provider_global_metastore_id
            .map(|id| vec![("data_provider_global_metastore_id", id.to_string())])
            .unwrap_or_default();
        self.list_all(&format!("{UC}/providers"), &query, "providers", token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_updates_are_written_as_the_api_wants() {
        let update = ShareUpdate {
            action: ShareAction::Add,
            data_object: SharedObject { name: "main.raw".into(), data_object_type: "SCHEMA".into(), status: None },
        };
        assert_eq!(
            serde_json::to_value(update).unwrap(),
            json!({"action": "ADD", "data_object": {"name": "main.raw", "data_object_type": "SCHEMA"}})
        );
    }
}
