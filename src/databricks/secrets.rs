//! Secret scopes, the names of their keys, and their ACLs (Secrets API 2.0).
//!
//! - `GET /api/2.0/secrets/scopes/list` → `{scopes: [{name, backend_type:
//!   DATABRICKS | AZURE_KEYVAULT, keyvault_metadata?: {resource_id, dns_name}}]}`;
//! - `POST /api/2.0/secrets/scopes/create {scope, scope_backend_type?,
//!   backend_azure_keyvault?}` (a Key Vault-backed one needs a user's token);
//! - `GET /api/2.0/secrets/list?scope=` → `{secrets: [{key, last_updated_timestamp}]}`;
//! - `GET /api/2.0/secrets/acls/list?scope=` → `{items: [{principal, permission}]}`;
//!   `POST /api/2.0/secrets/acls/put {scope, principal, permission}`.
//!
//! This client has no call that reads or writes a secret's value, on
//! purpose: drbot never holds one, so none can reach a card, a log or the
//! store. The values are provided in the secondary by people.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// Where a scope's secrets are kept.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
pub enum ScopeBackend {
    Databricks,
    /// An Azure Key Vault, read through the scope.
    AzureKeyVault {
        resource_id: String,
        dns_name: String,
    },
}

/// One scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretScope {
    pub name: String,
    pub backend: ScopeBackend,
}

/// A key of a scope (its value is not readable).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct SecretKey {
    pub key: String,
    #[serde(default)]
    pub last_updated_timestamp: Option<i64>,
}

/// Who may do what with a scope: `READ`, `WRITE` or `MANAGE`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ScopeAcl {
    pub principal: String,
    pub permission: String,
}

#[derive(Deserialize)]
struct WireVault {
    resource_id: String,
    dns_name: String,
}

#[derive(Deserialize)]
struct WireScope {
    name: String,
    #[serde(default)]
    backend_type: Option<String>,
    #[serde(default)]
    keyvault_metadata: Option<WireVault>,
}

impl WorkspaceClient {
    /// Every secret scope of the workspace.
    pub async fn secret_scopes(&self, token: &AccessToken) -> Result<Vec<SecretScope>, DatabricksError> {
        let body: Value = self.get("/api/2.0/secrets/scopes/list", &[], token).await?;
        let wire: Vec<WireScope> = super::Page::from_json(body, "scopes")?.items;
        wire.into_iter()
            .map(|scope| {
                let backend = match (scope.backend_type.as_deref(), scope.keyvault_metadata) {
                    (Some("AZURE_KEYVAULT"), Some(vault)) => {
                        ScopeBackend::AzureKeyVault { resource_id: vault.resource_id, dns_name: vault.dns_name }
                    }
                    (None | Some("DATABRICKS"), _) => ScopeBackend::Databricks,
                    (Some(other), _) => {
                        return Err(DatabricksError::Protocol(format!(
                            "scope {} has a backend drbot does not know ({other})",
                            scope.name
                        )))
                    }
                };
                Ok(SecretScope { name: scope.name, backend })
            })
            .collect()
    }

    /// The keys of a scope (names and when each was last set).
    pub async fn secret_keys(&self, token: &AccessToken, scope: &str) -> Result<Vec<SecretKey>, DatabricksError> {
        let body: Value = self.get("/api/2.0/secrets/list", &[("scope", scope.to_string())], token).await?;
        super::Page::from_json(body, "secrets").map(|page| page.items)
    }

    /// Who holds what on a scope.
    pub async fn secret_acls(&self, token: &AccessToken, scope: &str) -> Result<Vec<ScopeAcl>, DatabricksError> {
        let body: Value = self.get("/api/2.0/secrets/acls/list", &[("scope", scope.to_string())], token).await?;
        super::Page::from_json(body, "items").map(|page| page.items)
    }

    /// A new scope (the caller gets MANAGE on it).
    pub async fn create_secret_scope(
        &self,
        token: &AccessToken,
        name: &str,
        backend: &ScopeBackend,
    ) -> Result<(), DatabricksError> {
        let body = match backend {
            ScopeBackend::Databricks => json!({"scope": name, "scope_backend_type": "DATABRICKS"}),
            ScopeBackend::AzureKeyVault { resource_id, dns_name } => json!({
                "scope": name,
                "scope_backend_type": "AZURE_KEYVAULT",
                "backend_azure_keyvault": {"resource_id": resource_id, "dns_name": dns_name},
            }),
        };
        self.post::<Value>("/api/2.0/secrets/scopes/create", body, token).await.map(|_| ())
    }

    /// Sets `principal`'s permission on a scope (replacing what it held).
    pub async fn put_secret_acl(
        &self,
        token: &AccessToken,
        scope: &str,
        principal: &str,
        permission: &str,
    ) -> Result<(), DatabricksError> {
        let body = json!({"scope": scope, "principal": principal, "permission": permission});
        self.post::<Value>("/api/2.0/secrets/acls/put", body, token).await.map(|_| ())
    }
}
