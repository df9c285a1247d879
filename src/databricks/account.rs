//! The Databricks account API, for what is not a workspace's: network
//! connectivity configurations (NCCs), which give serverless compute its
//! private endpoints, and binding one to a workspace.
//!
//! Azure Databricks serves it at `https://accounts.azuredatabricks.net`
//! under `/api/2.0/accounts/{account_id}`, with the same Entra token
//! (the Azure Databricks resource) as a workspace, and only for account
//! admins: anyone else gets `PERMISSION_DENIED`. The calls reuse the
//! workspace client's transport (typed errors, retries), pointed at the
//! account host.
//!
//! - `POST /network-connectivity-configs` `{name, region}`;
//!   `GET /network-connectivity-configs` (`items`, `next_page_token`);
//! - `POST /network-connectivity-configs/{id}/private-endpoint-rules`
//!   `{resource_id, group_id}`; `GET` the same path lists them;
//! - `PATCH /workspaces/{workspace_id}` `{network_connectivity_config_id}`
//!   binds the NCC to a workspace of its region;
//! - Unity Catalog metastores (one per region): `GET /metastores`
//!   (`metastores`), `POST /metastores` `{metastore_info: {name, region}}`,
//!   and `POST /workspaces/{workspace_id}/metastores/{metastore_id}`
//!   `{metastore_assignment: {metastore_id, default_catalog_name}}`.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{paging, segment, DatabricksError, Page, RetryPolicy, WorkspaceClient};
use crate::identity::AccessToken;

/// Azure Databricks' account console and API.
pub const DEFAULT_ACCOUNTS_URL: &str = crate::config::DEFAULT_DATABRICKS_ACCOUNTS_URL;

/// A network connectivity configuration (only the fields drbot reads).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct NetworkConnectivityConfig {
    pub network_connectivity_config_id: String,
    pub name: String,
    pub region: String,
}

/// One private endpoint rule of an NCC. Its connection starts `PENDING`
/// until the target resource's owner approves it (`ESTABLISHED`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PrivateEndpointRule {
    #[serde(default)]
    pub rule_id: String,
    pub resource_id: String,
    pub group_id: String,
    #[serde(default)]
    pub connection_state: String,
    #[serde(default)]
    pub deactivated: bool,
}

/// A Unity Catalog metastore of the account (the fields drbot reads).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct AccountMetastore {
    pub metastore_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub region: String,
}

/// One Databricks account.
#[derive(Clone)]
pub struct AccountClient {
    pub(super) inner: WorkspaceClient,
    pub(super) account_id: String,
}

impl AccountClient {
    pub fn new(http: reqwest::Client, accounts_url: &str, account_id: &str) -> AccountClient {
        AccountClient { inner: WorkspaceClient::new(http, accounts_url), account_id: account_id.to_string() }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> AccountClient {
        self.inner = self.inner.with_retry(retry);
        self
    }

    fn path(&self, rest: &str) -> String {
        format!("/api/2.0/accounts/{}{rest}", segment(&self.account_id))
    }

    /// Every NCC of the account (all regions).
    pub async fn network_connectivity_configs(
        &self,
        token: &AccessToken,
    ) -> Result<Vec<NetworkConnectivityConfig>, DatabricksError> {
        self.list(&self.path("/network-connectivity-configs"), token).await
    }

    pub async fn create_network_connectivity_config(
        &self,
        token: &AccessToken,
        name: &str,
        region: &str,
    ) -> Result<NetworkConnectivityConfig, DatabricksError> {
        let path = self.path("/network-connectivity-configs");
        self.inner.post(&path, json!({"name": name, "region": region}), token).await
    }

    pub async fn private_endpoint_rules(
        &self,
        token: &AccessToken,
        ncc_id: &str,
    ) -> Result<Vec<PrivateEndpointRule>, DatabricksError> {
        let path = self.path(&format!("/network-connectivity-configs/{}/private-endpoint-rules", segment(ncc_id)));
        self.list(&path, token).await
    }

    pub async fn create_private_endpoint_rule(
        &self,
        token: &AccessToken,
        ncc_id: &str,
        resource_id: &str,
        group_id: &str,
    ) -> Result<PrivateEndpointRule, DatabricksError> {
        let path = self.path(&format!("/network-connectivity-configs/{}/private-endpoint-rules", segment(ncc_id)));
        self.inner.post(&path, json!({"resource_id": resource_id, "group_id": group_id}), token).await
    }

    /// Binds the NCC to the workspace (a workspace has at most one; binding
    /// the same again changes nothing).
    pub async fn bind_network_connectivity_config(
        &self,
        token: &AccessToken,
        workspace_id: u64,
        ncc_id: &str,
    ) -> Result<(), DatabricksError> {
        let path = self.path(&format!("/workspaces/{workspace_id}"));
        self.inner.patch::<Value>(&path, json!({"network_connectivity_config_id": ncc_id}), token).await.map(|_| ())
    }

    /// Every metastore of the account (at most one per region).
    pub async fn metastores(&self, token: &AccessToken) -> Result<Vec<AccountMetastore>, DatabricksError> {
        let body: Value = self.inner.get(&self.path("/metastores"), &[], token).await?;
        match body.get("metastores") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(list) => serde_json::from_value(list.clone())
                .map_err(|e| DatabricksError::Protocol(format!("the account's metastores: {e}"))),
        }
    }

    /// Creates the region's metastore (storage is given per catalog later).
    pub async fn create_metastore(
        &self,
        token: &AccessToken,
        name: &str,
        region: &str,
    ) -> Result<AccountMetastore, DatabricksError> {
        #[derive(Deserialize)]
        struct Created {
            metastore_info: AccountMetastore,
        }
        let body = json!({"metastore_info": {"name": name, "region": region}});
        let created: Created = self.inner.post(&self.path("/metastores"), body, token).await?;
        Ok(created.metastore_info)
    }

    /// Assigns a metastore to a workspace of its region.
    pub async fn assign_metastore(
        &self,
        token: &AccessToken,
        workspace_id: u64,
        metastore_id: &str,
        default_catalog_name: &str,
    ) -> Result<(), DatabricksError> {
        let path = self.path(&format!("/workspaces/{workspace_id}/metastores/{}", segment(metastore_id)));
        let body = json!({"metastore_assignment": {"metastore_id": metastore_id, "default_catalog_name": default_catalog_name}});
        self.inner.post::<Value>(&path, body, token).await.map(|_| ())
    }

    /// A list read to its end (`items`, `page_token`; these lists take no `max_results`).
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: &AccessToken,
    ) -> Result<Vec<T>, DatabricksError> {
        paging::collect_pages(|page_token| async move {
            let query: Vec<(&str, String)> = page_token.map(|t| ("page_token", t)).into_iter().collect();
            let body: Value = self.inner.get(path, &query, token).await?;
            Page::from_json(body, "items")
        })
        .await
    }
}
