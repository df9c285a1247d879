//! Secret scopes, their keys and their ACLs (Secrets API 2.0).
//!
//! - `GET /api/2.0/secrets/scopes/list` → `{scopes: [{name, backend_type,
//!   keyvault_metadata?: {resource_id, dns_name}}]}`;
//! - `POST /api/2.0/secrets/scopes/create {scope, initial_manage_principal?,
//!   scope_backend_type?, backend_azure_keyvault?}`;
//! - `GET /api/2.0/secrets/list?scope=` → `{secrets: [{key,
//!   last_updated_timestamp}]}`: keys only, **never values**;
//! - `POST /api/2.0/secrets/put {scope, key, string_value | bytes_value}`;
//! - `GET /api/2.0/secrets/acls/list?scope=` → `{items: [{principal,
//!   permission}]}`; `POST /api/2.0/secrets/acls/put {scope, principal,
//!   permission}`.
//!
//! As documented: scope names are alphanumerics, `-`, `_`, `.`, at most 128
//! characters, unique (`RESOURCE_ALREADY_EXISTS`); `initial_manage_principal`
//! may only be `users`, and without it the caller gets MANAGE; an Azure Key
//! Vault-backed scope needs `backend_azure_keyvault {resource_id, dns_name}`,
//! is read-only through Databricks (a put is `BAD_REQUEST`) and can only be
//! created with a user's Entra token, not a service principal's; listing
//! keys needs READ, reading and changing ACLs MANAGE (admins hold all). The
//! sandbox serves no endpoint that returns a value. Sources: REST reference,
//! Secrets › Create scope / List scopes / List secret keys / Put secret /
//! List ACLs / Put ACL; "Secret scopes" (Azure Key Vault-backed scopes)
//! (FIDELITY.md, "Secrets").

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{databricks_error, Workspace};

/// Where a scope's secrets live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Databricks,
    AzureKeyVault { resource_id: String, dns_name: String },
}

/// One scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub backend: Backend,
    /// Key → (value, last updated, epoch ms).
    secrets: BTreeMap<String, (Vec<u8>, i64)>,
    /// Principal → READ, WRITE or MANAGE.
    pub acls: BTreeMap<String, String>,
}

impl Scope {
    pub fn keys(&self) -> Vec<String> {
        self.secrets.keys().cloned().collect()
    }
}

/// The workspace's secret scopes.
#[derive(Default)]
pub struct Secrets {
    scopes: Mutex<BTreeMap<String, Scope>>,
}

/// The primary's Key Vault (the seeded Key Vault-backed scope points at it).
pub const PRIMARY_VAULT: &str =
    "/subscriptions/00000000-0000-0000-0000-00000000dr01/resourceGroups/dr-primary/providers/Microsoft.KeyVault/vaults/kv-dr-primary";

const PERMISSIONS: &[&str] = &["READ", "WRITE", "MANAGE"];

fn rank(permission: &str) -> usize {
    PERMISSIONS.iter().position(|p| *p == permission).map_or(0, |i| i + 1)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl Secrets {
    pub fn scope(&self, name: &str) -> Option<Scope> {
        self.scopes.lock().get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        self.scopes.lock().keys().cloned().collect()
    }

    /// Every secret value the workspace holds (for tests that prove none leaks).
    pub fn values(&self) -> Vec<String> {
        self.scopes
            .lock()
            .values()
            .flat_map(|s| s.secrets.values().map(|(v, _)| String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    /// Sets a secret as someone with WRITE would (tests, the seed).
    pub fn put(&self, scope: &str, key: &str, value: &str, at: i64) {
        if let Some(scope) = self.scopes.lock().get_mut(scope) {
            scope.secrets.insert(key.into(), (value.as_bytes().to_vec(), at));
        }
    }

    /// A Databricks-backed scope with two keys and a Key Vault-backed one on
    /// the primary; the secondary has none.
    pub fn seed(&self, primary: bool) {
        if !primary {
            return;
        }
        let unique = format!("{:x}", rand::random::<u64>());
        let acls: BTreeMap<String, String> =
            [("dr-operators".to_string(), "MANAGE".to_string()), ("data-engineers".to_string(), "READ".to_string())]
                .into();
        let mut scopes = self.scopes.lock();
        scopes
            .insert("etl".into(), Scope { backend: Backend::Databricks, secrets: BTreeMap::new(), acls: acls.clone() });
        scopes.insert(
            "kv-prod".into(),
            Scope {
                backend: Backend::AzureKeyVault {
                    resource_id: PRIMARY_VAULT.into(),
                    dns_name: "https://kv-dr-primary.vault.azure.net/".into(),
                },
                secrets: BTreeMap::new(),
                acls,
            },
        );
        drop(scopes);
        self.put("etl", "jdbc-password", &format!("sandbox-jdbc-{unique}"), 1_760_000_000_000);
        self.put("etl", "api-token", &format!("sandbox-api-{unique}"), 1_760_000_000_000);
    }
}

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.0/secrets/scopes/list", get(list_scopes))
        .route("/api/2.0/secrets/scopes/create", post(create_scope))
        .route("/api/2.0/secrets/list", get(list_secrets))
        .route("/api/2.0/secrets/put", post(put_secret))
        .route("/api/2.0/secrets/acls/list", get(list_acls))
        .route("/api/2.0/secrets/acls/put", post(put_acl))
}

fn invalid(message: &str) -> Response {
    databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
}

fn no_scope(name: &str) -> Response {
    databricks_error(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", &format!("Scope {name} does not exist!"))
}

/// The caller's permission on a scope (admins: MANAGE), or the refusal.
fn require(ws: &Workspace, headers: &HeaderMap, endpoint: &str, scope: &str, needed: &str) -> Result<Scope, Response> {
    let caller = ws.caller(headers, endpoint)?;
    let Some(found) = ws.secrets.scope(scope) else { return Err(no_scope(scope)) };
    let principal = ws.principal(&caller);
    let admin = ws.metastore.read().is_admin(&principal);
    let held = std::iter::once(principal.name.as_str())
        .chain(principal.groups.iter().map(String::as_str))
        .chain(std::iter::once("users"))
        .filter_map(|p| found.acls.get(p).map(|l| rank(l)))
        .max()
        .unwrap_or(0);
    if !admin && held < rank(needed) {
        return Err(databricks_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            &format!("User does not have {needed} permission on scope {scope}"),
        ));
    }
    Ok(found)
}

async fn list_scopes(State(ws): State<Arc<Workspace>>, headers: HeaderMap) -> Response {
    if let Err(refusal) = ws.caller(&headers, "secrets.scopes.list") {
        return refusal;
    }
    let scopes: Vec<Value> = ws
        .secrets
        .scopes
        .lock()
        .iter()
        .map(|(name, scope)| match &scope.backend {
            Backend::Databricks => json!({"name": name, "backend_type": "DATABRICKS"}),
            Backend::AzureKeyVault { resource_id, dns_name } => json!({
                "name": name,
                "backend_type": "AZURE_KEYVAULT",
                "keyvault_metadata": {"resource_id": resource_id, "dns_name": dns_name},
            }),
        })
        .collect();
    if scopes.is_empty() {
        return Json(json!({})).into_response();
    }
    Json(json!({ "scopes": scopes })).into_response()
}

async fn create_scope(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match ws.caller(&headers, "secrets.scopes.create") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct KeyVault {
        resource_id: String,
        dns_name: String,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Create {
        scope: String,
        #[serde(default)]
        initial_manage_principal: Option<String>,
        #[serde(default)]
        scope_backend_type: Option<String>,
        #[serde(default)]
        backend_azure_keyvault: Option<KeyVault>,
    }
    let request: Create = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return invalid(&format!("Invalid request: {e}")),
    };
    if !valid_name(&request.scope) {
        return invalid("Scope names are alphanumeric characters, dashes, underscores and periods, at most 128.");
    }
    let backend = match (request.scope_backend_type.as_deref(), request.backend_azure_keyvault) {
        (None | Some("DATABRICKS"), None) => Backend::Databricks,
        (Some("AZURE_KEYVAULT"), Some(vault)) => {
            if caller.is_app {
                return databricks_error(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    "Creating an Azure Key Vault-backed scope needs a user's Entra ID token.",
                );
            }
            if !vault.resource_id.contains("/providers/Microsoft.KeyVault/vaults/")
                || !vault.dns_name.starts_with("https://")
            {
                return invalid("backend_azure_keyvault needs a Key Vault resource_id and dns_name.");
            }
            Backend::AzureKeyVault { resource_id: vault.resource_id, dns_name: vault.dns_name }
        }
        (Some("AZURE_KEYVAULT"), None) => return invalid("An AZURE_KEYVAULT scope needs backend_azure_keyvault."),
        _ => {
            return invalid(
                "scope_backend_type is DATABRICKS or AZURE_KEYVAULT, with backend_azure_keyvault for the latter.",
            )
        }
    };
    let manager = match request.initial_manage_principal.as_deref() {
        None => ws.principal(&caller).name,
        Some("users") => "users".to_string(),
        Some(_) => return invalid("initial_manage_principal may only be 'users'."),
    };
    let mut scopes = ws.secrets.scopes.lock();
    if scopes.contains_key(&request.scope) {
        return databricks_error(
            StatusCode::BAD_REQUEST,
            "RESOURCE_ALREADY_EXISTS",
            &format!("Scope {} already exists!", request.scope),
        );
    }
    let acls = [(manager, "MANAGE".to_string())].into();
    scopes.insert(request.scope, Scope { backend, secrets: BTreeMap::new(), acls });
    Json(json!({})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeQuery {
    scope: String,
}

async fn list_secrets(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    query: Result<Query<ScopeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else { return invalid("list takes scope.") };
    let scope = match require(&ws, &headers, "secrets.list", &query.scope, "READ") {
        Ok(scope) => scope,
        Err(refusal) => return refusal,
    };
    let secrets: Vec<Value> =
        scope.secrets.iter().map(|(key, (_, at))| json!({"key": key, "last_updated_timestamp": at})).collect();
    if secrets.is_empty() {
        return Json(json!({})).into_response();
    }
    Json(json!({ "secrets": secrets })).into_response()
}

async fn put_secret(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Put {
        scope: String,
        key: String,
        #[serde(default)]
        string_value: Option<String>,
        #[serde(default)]
        bytes_value: Option<String>,
    }
    let request: Put = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(_) => return invalid("Invalid request: put takes scope, key and one of string_value, bytes_value."),
    };
    let scope = match require(&ws, &headers, "secrets.put", &request.scope, "WRITE") {
        Ok(scope) => scope,
        Err(refusal) => return refusal,
    };
    if matches!(scope.backend, Backend::AzureKeyVault { .. }) {
        return databricks_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "Put secret is not supported for Azure KeyVault-backed scopes: set it in the vault.",
        );
    }
    if !valid_name(&request.key) {
        return invalid("Keys are alphanumeric characters, dashes, underscores and periods, at most 128.");
    }
    let value = match (request.string_value, request.bytes_value) {
        (Some(text), None) => text.into_bytes(),
        (None, Some(bytes)) => {
            use base64::Engine as _;
            match base64::engine::general_purpose::STANDARD.decode(bytes) {
                Ok(bytes) => bytes,
                Err(_) => return invalid("bytes_value is not base64."),
            }
        }
        _ => return invalid("Give exactly one of string_value and bytes_value."),
    };
    if value.len() > 128 * 1024 {
        return invalid("A secret value is at most 128 KB.");
    }
    if let Some(scope) = ws.secrets.scopes.lock().get_mut(&request.scope) {
        scope.secrets.insert(request.key, (value, chrono::Utc::now().timestamp_millis()));
    }
    Json(json!({})).into_response()
}

async fn list_acls(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    query: Result<Query<ScopeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else { return invalid("acls/list takes scope.") };
    let scope = match require(&ws, &headers, "secrets.acls.list", &query.scope, "MANAGE") {
        Ok(scope) => scope,
        Err(refusal) => return refusal,
    };
    let items: Vec<Value> = scope.acls.iter().map(|(p, l)| json!({"principal": p, "permission": l})).collect();
    Json(json!({ "items": items })).into_response()
}

async fn put_acl(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PutAcl {
        scope: String,
        principal: String,
        permission: String,
    }
    let request: PutAcl = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return invalid(&format!("Invalid request: {e}")),
    };
    if let Err(refusal) = require(&ws, &headers, "secrets.acls.put", &request.scope, "MANAGE") {
        return refusal;
    }
    if !PERMISSIONS.contains(&request.permission.as_str()) {
        return invalid(&format!("{} is not READ, WRITE or MANAGE.", request.permission));
    }
    if request.principal.trim().is_empty() {
        return invalid("principal is required.");
    }
    let field = if request.principal.contains('@') { "user_name" } else { "group_name" };
    if let Some(refusal) = super::identities::unknown_principal(&ws, field, &request.principal) {
        return refusal;
    }
    if let Some(scope) = ws.secrets.scopes.lock().get_mut(&request.scope) {
        scope.acls.insert(request.principal, request.permission);
    }
    Json(json!({})).into_response()
}
