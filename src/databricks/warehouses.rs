//! SQL warehouses: the list and create of the SQL Warehouses API, for the
//! deployment bootstrap that gives a new pair the warehouse its engine runs
//! statements on (asking a warehouse's state lives with the statements).
//!
//! - `GET /api/2.0/sql/warehouses` → `{warehouses: [{id, name, state,
//!   warehouse_type, enable_serverless_compute, …}]}`;
//! - `POST /api/2.0/sql/warehouses` `{name, cluster_size, max_num_clusters,
//!   auto_stop_mins, warehouse_type, enable_serverless_compute}` → `{id}`.
//!   Serverless needs `warehouse_type: PRO`; `auto_stop_mins` is 0 or ≥ 10
//!   (REST reference, Warehouses › Create; sandbox/FIDELITY.md).

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

impl WorkspaceClient {
    /// Every warehouse of the workspace the caller may see.
    pub async fn warehouses(&self, token: &AccessToken) -> Result<Vec<Warehouse>, DatabricksError> {
        let body: Value = self.get("/api/2.0/sql/warehouses", &[], token).await?;
        match body.get("warehouses") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(list) => serde_json::from_value(list.clone())
                .map_err(|e| DatabricksError::Protocol(format!("GET /api/2.0/sql/warehouses: {e}"))),
        }
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
