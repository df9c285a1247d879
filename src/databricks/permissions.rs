//! Object permissions (Permissions API 2.0) on workspace objects:
//! `GET`/`PATCH /api/2.0/permissions/{object_type}/{id}` for `warehouses`,
//! `cluster-policies`, `clusters` (and the other object types alike).
//!
//! `GET` → `{access_control_list: [{user_name | group_name |
//! service_principal_name, all_permissions: [{permission_level, inherited}]}]}`;
//! `PATCH {access_control_list: [{<principal field>, permission_level}]}`
//! sets those principals' levels and keeps every other entry.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// A permission granted directly on an object: the principal's kind as the
/// Permissions API names it (`user_name`, `group_name`,
/// `service_principal_name`), the principal, and the level.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectGrant {
    pub principal_field: String,
    pub principal: String,
    pub level: String,
}

const PRINCIPAL_FIELDS: [&str; 3] = ["user_name", "group_name", "service_principal_name"];

fn path(object_type: &str, id: &str) -> String {
    format!("/api/2.0/permissions/{object_type}/{}", super::segment(id))
}

impl WorkspaceClient {
    /// The permissions granted directly on an object: not inherited (from
    /// the workspace or a folder), and not its owner, which comes with
    /// creating it.
    pub async fn object_grants(
        &self,
        token: &AccessToken,
        object_type: &str,
        id: &str,
    ) -> Result<Vec<ObjectGrant>, DatabricksError> {
        let body: Value = self.get(&path(object_type, id), &[], token).await?;
        let mut grants = Vec::new();
        for entry in body["access_control_list"].as_array().into_iter().flatten() {
            let Some((field, principal)) =
                PRINCIPAL_FIELDS.iter().find_map(|f| entry[*f].as_str().map(|p| (f.to_string(), p.to_string())))
            else {
                continue;
            };
            for permission in entry["all_permissions"].as_array().into_iter().flatten() {
                let level = permission["permission_level"].as_str().unwrap_or_default();
                if permission["inherited"].as_bool() != Some(true) && !level.is_empty() && level != "IS_OWNER" {
                    grants.push(ObjectGrant {
                        principal_field: field.clone(),
                        principal: principal.clone(),
                        level: level.to_string(),
                    });
                }
            }
        }
        grants.sort();
        Ok(grants)
    }

    /// Sets these principals' levels on an object (others are kept).
    pub async fn add_object_grants(
        &self,
        token: &AccessToken,
        object_type: &str,
        id: &str,
        grants: &[ObjectGrant],
    ) -> Result<(), DatabricksError> {
        let entries: Vec<Value> = grants
            .iter()
            .map(|g| json!({g.principal_field.as_str(): g.principal, "permission_level": g.level}))
            .collect();
        self.patch::<Value>(&path(object_type, id), json!({ "access_control_list": entries }), token).await.map(|_| ())
    }
}
