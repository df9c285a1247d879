//! SQL warehouses: the list and create of the SQL Warehouses API, for the
//! deployment bootstrap that gives a new pair the warehouse its engine runs
//! statements on (asking a warehouse's state lives with the statements).
//!
//! - `GET /api/2.0/sql/warehouses` → `{warehouses: [{id, name, state,
//!   warehouse_type, enable_serverless_compute, …}], next_page_token}`;
//! - `POST /api/2.0/sql/warehouses` `{name, cluster_size, max_num_clusters,
//!   auto_stop_mins, warehouse_type, enable_serverless_compute}` → `{id}`.
//!   Serverless needs `warehouse_type: PRO`; `auto_stop_mins` is 0 or ≥ 10
//!   (REST reference, Warehouses › Create; sandbox/FIDELITY.md);
//! - `GET`/`PATCH /api/2.0/permissions/warehouses/{id}`
//!   `{access_control_list: [{group_name | service_principal_name, permission_level}]}`:
//!   who may use it (its creator owns it; others need CAN_USE);
//! - `POST /api/2.0/sql/warehouses/{id}/edit` (the settings, whole) and
//!   `POST …/{id}/stop` (idempotent), for asset sync's warehouse definitions
//!   ([`WarehouseDefinition`]); their grants are `super::permissions`'.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// One warehouse (only the fields drbot reads).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Warehouse {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub enable_serverless_compute: bool,
}

/// What a new warehouse is: its name, and whether it is serverless (a
/// classic one otherwise, for a region that offers no serverless SQL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewWarehouse {
    pub name: String,
    pub cluster_size: String,
    pub serverless: bool,
}

/// What a warehouse is, apart from its id and state: what an asset sync
/// copies to the secondary (sent whole on create and on edit).
#[derive(Clone, Debug, Default, serde::Serialize, Deserialize, PartialEq, Eq)]
pub struct WarehouseDefinition {
    pub name: String,
    pub cluster_size: String,
    #[serde(default = "one")]
    pub min_num_clusters: u32,
    #[serde(default = "one")]
    pub max_num_clusters: u32,
    #[serde(default)]
    pub auto_stop_mins: u32,
    #[serde(default = "classic")]
    pub warehouse_type: String,
    #[serde(default)]
    pub enable_serverless_compute: bool,
}

fn one() -> u32 {
    1
}

fn classic() -> String {
    "CLASSIC".into()
}

/// A warehouse with its definition, as the list shows it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct DefinedWarehouse {
    pub id: String,
    #[serde(default)]
    pub state: String,
    #[serde(flatten)]
    pub definition: WarehouseDefinition,
}

/// Who a warehouse permission is for, as the Permissions API names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grantee<'a> {
    Group(&'a str),
    /// By application id.
    ServicePrincipal(&'a str),
}

impl Grantee<'_> {
    fn key(self) -> (&'static str, String) {
        match self {
            Grantee::Group(name) => ("group_name", name.to_string()),
            Grantee::ServicePrincipal(id) => ("service_principal_name", id.to_string()),
        }
    }
}

/// The levels that let a principal run statements on a warehouse.
const USE_OR_MORE: [&str; 3] = ["CAN_USE", "CAN_MANAGE", "IS_OWNER"];

impl WorkspaceClient {
    /// Whether `grantee` holds CAN_USE (or more) on the warehouse directly
    /// (`GET /api/2.0/permissions/warehouses/{id}`).
    pub async fn may_use_warehouse(
        &self,
        token: &AccessToken,
        id: &str,
        grantee: Grantee<'_>,
    ) -> Result<bool, DatabricksError> {
        let body: Value =
            self.get(&format!("/api/2.0/permissions/warehouses/{}", super::segment(id)), &[], token).await?;
        let (key, name) = grantee.key();
        let entries = body["access_control_list"].as_array().cloned().unwrap_or_default();
        Ok(entries.iter().filter(|e| e[key].as_str() == Some(name.as_str())).any(|e| {
            e["all_permissions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["permission_level"].as_str().is_some_and(|l| USE_OR_MORE.contains(&l)))
        }))
    }

    /// Grants `grantee` CAN_USE on the warehouse (`PATCH` adds to what is there).
    pub async fn grant_warehouse_use(
        &self,
        token: &AccessToken,
        id: &str,
        grantee: Grantee<'_>,
    ) -> Result<(), DatabricksError> {
        let (key, name) = grantee.key();
        let body = json!({"access_control_list": [{key: name, "permission_level": "CAN_USE"}]});
        self.patch::<Value>(&format!("/api/2.0/permissions/warehouses/{}", super::segment(id)), body, token)
            .await
            .map(|_| ())
    }

    /// Every warehouse of the workspace the caller may see, page by page
    /// (`page_token` → `next_page_token`).
    pub async fn warehouses(&self, token: &AccessToken) -> Result<Vec<Warehouse>, DatabricksError> {
        super::paging::collect_pages(|page_token| async move {
            let query: Vec<(&str, String)> = page_token.map(|t| ("page_token", t)).into_iter().collect();
            let body: Value = self.get("/api/2.0/sql/warehouses", &query, token).await?;
            super::Page::from_json(body, "warehouses")
        })
        .await
    }

    /// Every warehouse with its definition, page by page.
    pub async fn warehouse_definitions(&self, token: &AccessToken) -> Result<Vec<DefinedWarehouse>, DatabricksError> {
        super::paging::collect_pages(|page_token| async move {
            let query: Vec<(&str, String)> = page_token.map(|t| ("page_token", t)).into_iter().collect();
            let body: Value = self.get("/api/2.0/sql/warehouses", &query, token).await?;
            super::Page::from_json(body, "warehouses")
        })
        .await
    }

    /// Creates a warehouse as `definition` says; its id.
    pub async fn create_warehouse_as(
        &self,
        token: &AccessToken,
        definition: &WarehouseDefinition,
    ) -> Result<String, DatabricksError> {
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let body = serde_json::to_value(definition).map_err(|e| DatabricksError::Protocol(e.to_string()))?;
        let created: Created = self.post("/api/2.0/sql/warehouses", body, token).await?;
        Ok(created.id)
    }

    /// Replaces a warehouse's settings with `definition`.
    pub async fn edit_warehouse(
        &self,
        token: &AccessToken,
        id: &str,
        definition: &WarehouseDefinition,
    ) -> Result<(), DatabricksError> {
        let body = serde_json::to_value(definition).map_err(|e| DatabricksError::Protocol(e.to_string()))?;
        let path = format!("/api/2.0/sql/warehouses/{}/edit", super::segment(id));
        self.post::<Value>(&path, body, token).await.map(|_| ())
    }

    /// Stops a warehouse (nothing if it is stopped).
    pub async fn stop_warehouse(&self, token: &AccessToken, id: &str) -> Result<(), DatabricksError> {
        let path = format!("/api/2.0/sql/warehouses/{}/stop", super::segment(id));
        self.post::<Value>(&path, json!({}), token).await.map(|_| ())
    }

    /// Starts a warehouse (nothing if it is running or starting); it passes
    /// through STARTING before RUNNING.
    pub async fn start_warehouse(&self, token: &AccessToken, id: &str) -> Result<(), DatabricksError> {
        let path = format!("/api/2.0/sql/warehouses/{}/start", super::segment(id));
        self.post::<Value>(&path, json!({}), token).await.map(|_| ())
    }

    /// Creates a warehouse (one cluster, stopping after 10 idle minutes); its id.
    pub async fn create_warehouse(&self, token: &AccessToken, new: &NewWarehouse) -> Result<String, DatabricksError> {
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let body = json!({
            "name": new.name,
            "cluster_size": new.cluster_size,
            "max_num_clusters": 1,
            "auto_stop_mins": 10,
            "warehouse_type": "PRO",
            "enable_serverless_compute": new.serverless,
        });
        let created: Created = self.post("/api/2.0/sql/warehouses", body, token).await?;
        Ok(created.id)
    }
}
