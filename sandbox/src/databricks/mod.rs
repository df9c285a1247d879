//! A Databricks workspace stand-in: the start of it.
//!
//! Today it serves who-am-I (`GET /api/2.0/preview/scim/v2/Me`) and the Unity
//! Catalog catalog list (`GET /api/2.1/unity-catalog/catalogs`, paginated
//! with `max_results`/`page_token`, filtered by what the caller may see),
//! with Databricks' authentication and error shapes. Every request needs an
//! Entra token for the Azure Databricks resource; the caller is that token's
//! user, and the workspace records who called what, so tests can prove a call
//! ran with a person's identity. The rest of the workspace (schemas, tables,
//! sharing, statements, jobs) grows here.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::caller::{AccessTokenVerifier, Caller};
use crate::directory::{Directory, DR_OPERATORS_GROUP, DR_READERS_GROUP};

/// The Azure Databricks resource (application) id: the `aud` of its tokens.
pub const DATABRICKS_AUDIENCE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";

/// One catalog of the metastore.
#[derive(Clone, Debug)]
pub struct Catalog {
    pub name: String,
    pub owner: String,
    pub catalog_type: String,
    /// Principals (UPNs or group names) holding USE CATALOG.
    pub users: Vec<String>,
}

/// A call the workspace answered, and who made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub caller_upn: String,
    pub caller_oid: String,
    pub path: String,
}

pub struct Workspace {
    pub name: String,
    pub metastore_id: String,
    verifier: Arc<dyn AccessTokenVerifier>,
    directory: Directory,
    catalogs: Mutex<Vec<Catalog>>,
    calls: Mutex<Vec<Call>>,
    /// How many more calls to answer 401 whatever the token (a token revoked early).
    reject_tokens: Mutex<u32>,
}

impl Workspace {
    pub fn new(
        name: &str,
        region: &str,
        verifier: Arc<dyn AccessTokenVerifier>,
        directory: Directory,
    ) -> Arc<Workspace> {
        let catalog = |name: &str, owner: &str, users: &[&str]| Catalog {
            name: name.into(),
            owner: owner.into(),
            catalog_type: "MANAGED_CATALOG".into(),
            users: users.iter().map(|u| u.to_string()).collect(),
        };
        Arc::new(Workspace {
            name: name.to_string(),
            metastore_id: format!("azure:{region}:{}", uuid::Uuid::new_v4()),
            verifier,
            directory,
            catalogs: Mutex::new(vec![
                catalog("main", "dr-operators", &["dr-readers"]),
                catalog("sales", "dr-operators", &[]),
                catalog("finance", "alice@contoso.example", &[]),
                Catalog {
                    catalog_type: "SYSTEM_CATALOG".into(),
                    ..catalog("system", "System user", &["account users"])
                },
            ]),
            calls: Mutex::new(Vec::new()),
            reject_tokens: Mutex::new(0),
        })
    }

    /// The next `n` calls get 401 even with a valid token.
    pub fn reject_next_tokens(&self, n: u32) {
        *self.reject_tokens.lock() = n;
    }

    /// Every authenticated call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().clone()
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/api/2.0/preview/scim/v2/Me", get(me))
            .route("/api/2.1/unity-catalog/catalogs", get(list_catalogs))
            .fallback(not_found)
            .with_state(self.clone())
    }

    /// The caller, or Databricks' 401.
    fn caller(&self, headers: &HeaderMap, path: &str) -> Result<Caller, Response> {
        let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let rejected = {
            let mut remaining = self.reject_tokens.lock();
            let reject = *remaining > 0;
            *remaining = remaining.saturating_sub(1);
            reject
        };
        let caller = token.and_then(|t| self.verifier.verify(t, DATABRICKS_AUDIENCE)).filter(|_| !rejected);
        let Some(caller) = caller else {
            return Err(databricks_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "Invalid access token."));
        };
        self.calls.lock().push(Call {
            caller_upn: caller.upn.clone(),
            caller_oid: caller.oid.clone(),
            path: path.into(),
        });
        Ok(caller)
    }

    fn is_admin(&self, caller: &Caller) -> bool {
        caller.groups.iter().any(|g| g == DR_OPERATORS_GROUP)
    }

    /// The principals a caller acts as: their UPN and their groups' names.
    fn principals(&self, caller: &Caller) -> Vec<String> {
        let mut principals = vec![caller.upn.clone(), "account users".to_string()];
        for group in &caller.groups {
            if let Some(g) = self.directory.group(group) {
                principals.push(g.name.clone());
            }
        }
        if caller.groups.iter().any(|g| g == DR_READERS_GROUP) && !principals.contains(&"dr-readers".to_string()) {
            principals.push("dr-readers".into());
        }
        principals
    }
}

/// Databricks' error body: `{"error_code", "message"}`.
pub fn databricks_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error_code": code, "message": message}))).into_response()
}

async fn not_found() -> Response {
    databricks_error(
        StatusCode::NOT_FOUND,
        "ENDPOINT_NOT_FOUND",
        "No API found for this path in the sandbox workspace.",
    )
}

async fn me(State(workspace): State<Arc<Workspace>>, headers: HeaderMap) -> Response {
    let caller = match workspace.caller(&headers, "/api/2.0/preview/scim/v2/Me") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let groups: Vec<Value> = caller
        .groups
        .iter()
        .filter_map(|g| workspace.directory.group(g))
        .map(|g| json!({"display": g.name, "value": g.oid}))
        .collect();
    Json(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": caller.oid,
        "userName": caller.upn,
        "displayName": caller.name,
        "active": true,
        "emails": [{"value": caller.upn, "type": "work", "primary": true}],
        "groups": groups,
    }))
    .into_response()
}

async fn list_catalogs(
    State(workspace): State<Arc<Workspace>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let caller = match workspace.caller(&headers, "/api/2.1/unity-catalog/catalogs") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let params: std::collections::HashMap<String, String> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let max_results = match params.get("max_results").map(|v| v.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) if n <= 1000 => n,
        Some(_) => {
            return databricks_error(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                "max_results must be between 0 and 1000.",
            )
        }
    };
    let start = match params.get("page_token").map(|t| t.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", "Invalid page token.")
        }
    };
    let principals = workspace.principals(&caller);
    let visible: Vec<Catalog> = workspace
        .catalogs
        .lock()
        .iter()
        .filter(|c| {
            workspace.is_admin(&caller)
                || principals.contains(&c.owner)
                || c.users.iter().any(|u| principals.contains(u))
        })
        .cloned()
        .collect();
    let page_size = if max_results == 0 { visible.len().max(1) } else { max_results };
    let page: Vec<Value> = visible
        .iter()
        .skip(start)
        .take(page_size)
        .map(|c| {
            json!({
                "name": c.name,
                "owner": c.owner,
                "catalog_type": c.catalog_type,
                "metastore_id": workspace.metastore_id,
                "full_name": c.name,
                "securable_type": "CATALOG",
            })
        })
        .collect();
    let mut body = json!({"catalogs": page});
    if start + page_size < visible.len() {
        body["next_page_token"] = json!((start + page_size).to_string());
    }
    Json(body).into_response()
}
