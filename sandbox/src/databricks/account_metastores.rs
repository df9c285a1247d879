//! Unity Catalog metastores of the account, as the account API has them,
//! and a workspace of a region that has none.
//!
//! As documented (Azure Databricks, "Create a Unity Catalog metastore" and
//! the account API reference for `metastores` and
//! `workspaces/{workspace_id}/metastores/{metastore_id}`; FIDELITY.md):
//! - creating a metastore and assigning it are for account admins only
//!   (`403 PERMISSION_DENIED` for anyone else, as the rest of the account API);
//! - one metastore per region: creating a second in a region is refused;
//! - `GET /metastores` → `{metastores: [{metastore_id, name, region, …}]}`;
//!   `POST /metastores` `{metastore_info: {name, region, storage_root?}}` →
//!   `{metastore_info: {…}}`; `POST /workspaces/{id}/metastores/{metastore_id}`
//!   `{metastore_assignment: {metastore_id, default_catalog_name?}}` assigns
//!   (`PUT` of the same path updates an assignment: not modelled, refused);
//! - a workspace without a metastore answers Unity Catalog calls with
//!   `METASTORE_DOES_NOT_EXIST` ("No metastore assigned for the current
//!   workspace").
//!
//! The sandbox has one metastore per workspace, made with it: a workspace
//! "without a metastore" ([`Workspace::remove_metastore`]) keeps its
//! metastore hidden until an account admin creates the region's metastore
//! (which is that one) and assigns it. Creating one in a region no sandbox
//! workspace is in is refused, loudly, rather than pretended.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::account_api::AccountApi;
use super::assignment::workspace_id;
use super::{databricks_error, Workspace};

/// Whether a workspace's metastore exists and is assigned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Presence {
    #[default]
    Assigned,
    /// The region's metastore does not exist (yet), or it was created and
    /// is not assigned to this workspace.
    Unassigned { created: bool },
}

impl Workspace {
    /// The workspace of a region that has no metastore: Unity Catalog calls
    /// answer `METASTORE_DOES_NOT_EXIST` until an account admin creates the
    /// region's metastore and assigns it.
    pub fn remove_metastore(&self) {
        *self.presence.lock() = Presence::Unassigned { created: false };
    }

    pub(super) fn set_metastore_assigned(&self) {
        *self.presence.lock() = Presence::Assigned;
    }

    pub fn metastore_presence(&self) -> Presence {
        *self.presence.lock()
    }
}

pub fn routes(base: &str) -> Router<Arc<AccountApi>> {
    Router::new()
        .route(&format!("{base}/metastores"), axum::routing::get(list).post(create))
        .route(&format!("{base}/workspaces/{{workspace_id}}/metastores/{{metastore_id}}"), axum::routing::post(assign))
}

/// Refuses Unity Catalog calls (but the assignment) on a workspace without a metastore.
pub async fn require_metastore(
    State(workspace): State<Arc<Workspace>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    let unity_catalog = path.starts_with("/api/2.1/unity-catalog/");
    let assigning = request.method() == Method::PUT && path.ends_with("/metastore");
    if unity_catalog && !assigning && workspace.metastore_presence() != Presence::Assigned {
        return databricks_error(
            StatusCode::NOT_FOUND,
            "METASTORE_DOES_NOT_EXIST",
            "No metastore assigned for the current workspace.",
        );
    }
    next.run(request).await
}

fn info(workspace: &Workspace) -> Value {
    let metastore = workspace.metastore.read();
    json!({
        "metastore_id": metastore.metastore_id,
        "global_metastore_id": metastore.global_id,
        "name": format!("metastore-{}", metastore.region),
        "region": metastore.region,
        "cloud": "azure",
    })
}

/// The account's metastores: those of workspaces whose metastore exists.
fn existing(api: &AccountApi) -> Vec<Arc<Workspace>> {
    let mut seen = std::collections::BTreeSet::new();
    api.account()
        .workspaces()
        .into_iter()
        .filter(|w| w.metastore_presence() != Presence::Unassigned { created: false })
        .filter(|w| seen.insert(w.metastore.read().metastore_id.clone()))
        .collect()
}

async fn list(State(api): State<Arc<AccountApi>>, headers: HeaderMap, Path(account_id): Path<String>) -> Response {
    if let Err(refusal) = api.admit(&headers, &account_id) {
        return refusal;
    }
    let metastores: Vec<Value> = existing(&api).iter().map(|w| info(w)).collect();
    Json(json!({ "metastores": metastores })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    metastore_info: CreateInfo,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateInfo {
    name: String,
    region: String,
    #[serde(default)]
    storage_root: Option<String>,
}

fn invalid(message: String) -> Response {
    databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", &message)
}

async fn create(
    State(api): State<Arc<AccountApi>>,
    headers: HeaderMap,
    Path(account_id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = api.admit(&headers, &account_id) {
        return refusal;
    }
    let request: Create = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return invalid(format!("Invalid request body: {e}")),
    };
    let CreateInfo { name, region, storage_root } = request.metastore_info;
    if name.trim().is_empty() {
        return invalid("metastore_info.name is required.".into());
    }
    if storage_root.as_deref().is_some_and(|root| !root.starts_with("abfss://")) {
        return invalid("storage_root must be an abfss:// URL.".into());
    }
    let in_region: Vec<Arc<Workspace>> = api
        .account()
        .workspaces()
        .into_iter()
        .filter(|w| w.metastore.read().region.eq_ignore_ascii_case(&region))
        .collect();
    if in_region.iter().any(|w| w.metastore_presence() != Presence::Unassigned { created: false }) {
        return invalid(format!("A metastore already exists in region {region}: one metastore per region."));
    }
    let Some(workspace) = in_region.first() else {
        return invalid(format!("The sandbox has no metastore to create in region {region}."));
    };
    for w in &in_region {
        *w.presence.lock() = Presence::Unassigned { created: true };
    }
    let mut created = info(workspace);
    created["name"] = json!(name);
    Json(json!({ "metastore_info": created })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Assign {
    metastore_assignment: Assignment,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Assignment {
    metastore_id: String,
    #[serde(default)]
    default_catalog_name: Option<String>,
}

async fn assign(
    State(api): State<Arc<AccountApi>>,
    headers: HeaderMap,
    Path((account_id, workspace, metastore_id)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = api.admit(&headers, &account_id) {
        return refusal;
    }
    let request: Assign = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return invalid(format!("Invalid request body: {e}")),
    };
    let _ = request.metastore_assignment.default_catalog_name;
    if request.metastore_assignment.metastore_id != metastore_id {
        return invalid("metastore_assignment.metastore_id differs from the path's.".into());
    }
    let Ok(id) = workspace.parse::<u64>() else { return invalid(format!("'{workspace}' is not a workspace id.")) };
    let Some(target) = api.account().workspaces().into_iter().find(|w| workspace_id(w) == id) else {
        return databricks_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            "Workspace not found in this account.",
        );
    };
    if !existing(&api).iter().any(|w| w.metastore.read().metastore_id == metastore_id) {
        return databricks_error(StatusCode::NOT_FOUND, "METASTORE_DOES_NOT_EXIST", "Metastore not found.");
    }
    if target.metastore.read().metastore_id != metastore_id {
        return invalid(format!(
            "The sandbox's workspace {id} can be assigned its region's metastore only, not {metastore_id}."
        ));
    }
    *target.presence.lock() = Presence::Assigned;
    Json(json!({})).into_response()
}
