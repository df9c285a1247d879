//! The Databricks account API's network connectivity configurations (NCCs):
//! what gives serverless compute private endpoints to a customer's storage.
//!
//! As documented (Azure Databricks, "Configure private connectivity from
//! serverless compute", and the account API reference for
//! `network-connectivity-configs` and `workspaces`):
//! - everything lives under `/api/2.0/accounts/{account_id}` on the accounts
//!   host, takes an Entra token for the Azure Databricks resource, and is
//!   for account admins only (`403 PERMISSION_DENIED` for anyone else);
//! - `POST /network-connectivity-configs` `{name, region}`: the name 3 to 30
//!   characters of letters, digits, hyphens and underscores; `GET` lists
//!   them as `{items, next_page_token}`;
//! - `POST /network-connectivity-configs/{id}/private-endpoint-rules`
//!   `{resource_id, group_id}`: the rule starts with `connection_state`
//!   `PENDING` until the resource's owner approves the private endpoint
//!   connection Databricks requested; for a storage account the groups are
//!   `blob` and `dfs` (the sandbox takes storage accounts only);
//! - `PATCH /workspaces/{workspace_id}` `{network_connectivity_config_id}`
//!   binds an NCC to a workspace of the same region.
//!
//! Anything else (unknown fields, another account, other resources) is
//! refused rather than pretended.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Value};

use super::account::Account;
use super::assignment::workspace_id;
use super::{databricks_error, DATABRICKS_AUDIENCE};
use crate::caller::AccessTokenVerifier;

/// The sandbox's Databricks account id.
pub const SANDBOX_ACCOUNT_ID: &str = "5a4d7e8f-0000-4000-8000-00000000acc7";

/// Items per page of the lists (small, so clients must follow `next_page_token`).
const PAGE: usize = 2;

#[derive(Default)]
struct Objects {
    nccs: Vec<Value>,
    /// NCC id → its rules.
    rules: BTreeMap<String, Vec<Value>>,
    /// Workspace id → bound NCC id.
    bindings: BTreeMap<u64, String>,
}

pub struct AccountApi {
    account: Arc<Account>,
    verifier: Arc<dyn AccessTokenVerifier>,
    /// Account admins, by user name (or an app's application id).
    admins: Mutex<HashSet<String>>,
    state: Mutex<Objects>,
    /// Managed DR's failover groups (`account_failover_groups`).
    pub failover_groups: Arc<super::account_failover_groups::FailoverGroups>,
}

impl AccountApi {
    pub fn new(account: Arc<Account>, verifier: Arc<dyn AccessTokenVerifier>) -> Arc<AccountApi> {
        Arc::new(AccountApi {
            failover_groups: account.failover_groups.clone(),
            account,
            verifier,
            admins: Mutex::default(),
            state: Mutex::default(),
        })
    }

    pub(super) fn account(&self) -> &Arc<Account> {
        &self.account
    }

    /// Makes a person (or an app, by application id) an account admin.
    pub fn add_account_admin(&self, name: &str) {
        self.admins.lock().insert(name.to_string());
    }

    /// Every NCC, as the API shows it.
    pub fn network_connectivity_configs(&self) -> Vec<Value> {
        self.state.lock().nccs.clone()
    }

    /// The rules of an NCC.
    pub fn private_endpoint_rules(&self, ncc_id: &str) -> Vec<Value> {
        self.state.lock().rules.get(ncc_id).cloned().unwrap_or_default()
    }

    /// The NCC bound to a workspace.
    pub fn binding(&self, workspace_id: u64) -> Option<String> {
        self.state.lock().bindings.get(&workspace_id).cloned()
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let base = "/api/2.0/accounts/{account_id}";
        Router::new()
            .route(&format!("{base}/network-connectivity-configs"), get(list_nccs).post(create_ncc))
            .route(
                &format!("{base}/network-connectivity-configs/{{ncc_id}}/private-endpoint-rules"),
                get(list_rules).post(create_rule),
            )
            .route(&format!("{base}/workspaces/{{workspace_id}}"), patch(bind))
            .merge(super::account_metastores::routes(base))
            .merge(super::account_failover_groups::routes())
            .fallback(|| async {
                databricks_error(
                    StatusCode::NOT_FOUND,
                    "ENDPOINT_NOT_FOUND",
                    "No API found for this path in the sandbox account.",
                )
            })
            .with_state(self.clone())
    }

    /// The caller must hold a Databricks token, be an account admin, and
    /// name this account.
    pub(super) fn admit(&self, headers: &HeaderMap, account_id: &str) -> Result<(), Response> {
        let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let Some(caller) = token.and_then(|t| self.verifier.verify(t, DATABRICKS_AUDIENCE)) else {
            return Err(databricks_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "Invalid access token."));
        };
        if account_id != SANDBOX_ACCOUNT_ID {
            return Err(databricks_error(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", "Account not found."));
        }
        let admins = self.admins.lock();
        // A person by user name; an app's `upn` is its application id.
        if !admins.contains(&caller.upn) {
            return Err(databricks_error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                "This API is available to account admins only.",
            ));
        }
        Ok(())
    }
}

fn invalid(message: String) -> Response {
    databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", &message)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    #[serde(default)]
    page_token: Option<String>,
}

/// One page of `items` from the offset in the token.
fn page(items: &[Value], query: &PageQuery) -> Response {
    let start = match query.page_token.as_deref() {
        None | Some("") => 0,
        Some(token) => match token.parse::<usize>() {
            Ok(start) if start <= items.len() => start,
            _ => return invalid("Invalid page token.".into()),
        },
    };
    let end = (start + PAGE).min(items.len());
    let mut body = json!({"items": items[start..end]});
    if end < items.len() {
        body["next_page_token"] = json!(end.to_string());
    }
    Json(body).into_response()
}

async fn list_nccs(
    State(api): State<Arc<AccountApi>>,
    headers: HeaderMap,
    Path(account_id): Path<String>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refusal) = api.admit(&headers, &account_id) {
        return refusal;
    }
    let Ok(Query(query)) = query else { return invalid("Unknown query parameter.".into()) };
    page(&api.state.lock().nccs, &query)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateNcc {
    name: String,
    region: String,
}

async fn create_ncc(
    State(api): State<Arc<AccountApi>>,
    headers: HeaderMap,
    Path(account_id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = api.admit(&headers, &account_id) {
        return refusal;
    }
    let request: CreateNcc = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return invalid(format!("Invalid request body: {e}")),
    };
    let valid_name = (3..=30).contains(&request.name.len())
        && request.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid_name {
        return invalid(format!("Name '{}' must be 3 to 30 letters, digits, hyphens or underscores.", request.name));
    }
    if request.region.is_empty() {
        return invalid("region is required.".into());
    }
    let now = now_ms();
    let ncc = json!({
        "network_connectivity_config_id": uuid::Uuid::new_v4().to_string(),
        "account_id": SANDBOX_ACCOUNT_ID,
        "name": request.name,
        "region": request.region,
        "egress_config": {"default_rules": {}, "target_rules": {}},
        "creation_time": now,
        "updated_time": now,
    });
    api.state.lock().nccs.push(ncc.clone());
    Json(ncc).into_response()
}

fn ncc_exists(api: &AccountApi, ncc_id: &str) -> bool {
    api.state.lock().nccs.iter().any(|n| n["network_connectivity_config_id"] == ncc_id)
}

async fn list_rules(
    State(api): State<Arc<AccountApi>>,
    headers: HeaderMap,
    Path((account_id, ncc_id)): Path<(String, String)>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refusal) = api.admit(&headers, &account_id) {
        return refusal;
    }
    let Ok(Query(query)) = query else { return invalid("Unknown query parameter.".into()) };
    if !ncc_exists(&api, &ncc_id) {
        return databricks_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            "Network connectivity config not found.",
        );
    }
    page(&api.private_endpoint_rules(&ncc_id), &query)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRule {
    resource_id: String,
    group_id: String,
}

async fn create_rule(
    State(api): State<Arc<AccountApi>>,
    headers: HeaderMap,
    Path((account_id, ncc_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = api.admit(&headers, &account_id) {
        return refusal;
    }
    let request: CreateRule = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return invalid(format!("Invalid request body: {e}")),
    };
    if !ncc_exists(&api, &ncc_id) {
        return databricks_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            "Network connectivity config not found.",
        );
    }
    let storage = request.resource_id.starts_with("/subscriptions/")
        && request.resource_id.to_ascii_lowercase().contains("/providers/microsoft.storage/storageaccounts/");
    if !storage || !matches!(request.group_id.as_str(), "blob" | "dfs") {
        return invalid(format!(
            "The sandbox takes private endpoint rules to storage accounts (blob, dfs) only, not {} ({}).",
            request.resource_id, request.group_id
        ));
    }
    let now = now_ms();
    let rule_id = uuid::Uuid::new_v4().to_string();
    let rule = json!({
        "rule_id": rule_id,
        "network_connectivity_config_id": ncc_id,
        "resource_id": request.resource_id,
        "group_id": request.group_id,
        "endpoint_name": format!("databricks-{}-pe-{}", &ncc_id[..8.min(ncc_id.len())], &rule_id[..8]),
        "connection_state": "PENDING",
        "deactivated": false,
        "creation_time": now,
        "updated_time": now,
    });
    api.state.lock().rules.entry(ncc_id).or_default().push(rule.clone());
    Json(rule).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Bind {
    network_connectivity_config_id: String,
}

async fn bind(
    State(api): State<Arc<AccountApi>>,
    headers: HeaderMap,
    Path((account_id, workspace)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = api.admit(&headers, &account_id) {
        return refusal;
    }
    let request: Bind = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return invalid(format!("Invalid request body: {e}")),
    };
    let Ok(id) = workspace.parse::<u64>() else { return invalid(format!("'{workspace}' is not a workspace id.")) };
    let Some(target) = api.account.workspaces().into_iter().find(|w| workspace_id(w) == id) else {
        return databricks_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            "Workspace not found in this account.",
        );
    };
    let region = target.metastore.read().region.clone();
    let ncc_region = {
        let state = api.state.lock();
        state
            .nccs
            .iter()
            .find(|n| n["network_connectivity_config_id"] == request.network_connectivity_config_id.as_str())
            .and_then(|n| n["region"].as_str().map(str::to_string))
    };
    let Some(ncc_region) = ncc_region else {
        return databricks_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            "Network connectivity config not found.",
        );
    };
    if !ncc_region.eq_ignore_ascii_case(&region) {
        return invalid(format!("The network connectivity config is in {ncc_region}; workspace {id} is in {region}."));
    }
    api.state.lock().bindings.insert(id, request.network_connectivity_config_id.clone());
    Json(json!({
        "workspace_id": id,
        "account_id": SANDBOX_ACCOUNT_ID,
        "location": region,
        "network_connectivity_config_id": request.network_connectivity_config_id,
        "workspace_status": "RUNNING",
    }))
    .into_response()
}
