//! Metastore assignment, as the workspace-level Unity Catalog API has it:
//! `PUT /api/2.1/unity-catalog/workspaces/{workspace_id}/metastore`
//! (`{metastore_id, default_catalog_name}`), `GET
//! /api/2.1/unity-catalog/current-metastore-assignment` and `GET
//! /api/2.1/unity-catalog/metastore_summary`.
//!
//! Each sandbox workspace has exactly one metastore, so assigning is only
//! accepted for that metastore (what a new workspace's bootstrap does);
//! assigning another is refused rather than pretended. The workspace id is
//! derived from the metastore's global id, stable for the sandbox's life,
//! and any workspace of the account can be assigned from either, as an
//! account admin can. The assignments live here, keyed by the metastore's
//! global id (unique per sandbox), to keep the workspace's own state as it is.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::json;

use super::metastore::UcError;
use super::unity_catalog::with_caller;
use super::Workspace;

/// global metastore id → (workspace id, default catalog name).
static ASSIGNMENTS: LazyLock<Mutex<HashMap<String, (u64, String)>>> = LazyLock::new(Default::default);

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.1/unity-catalog/workspaces/{workspace_id}/metastore", put(assign))
        .route("/api/2.1/unity-catalog/current-metastore-assignment", get(current))
        .route("/api/2.1/unity-catalog/metastore_summary", get(summary))
}

/// The workspace's numeric id (what ARM reports as `properties.workspaceId`).
pub fn workspace_id(workspace: &Workspace) -> u64 {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(workspace.global_id.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    // Sixteen digits, as Azure Databricks workspace ids have.
    1_000_000_000_000_000 + u64::from_be_bytes(bytes) % 9_000_000_000_000_000
}

/// The default catalog last assigned to the workspace, if any.
pub fn default_catalog(workspace: &Workspace) -> Option<String> {
    ASSIGNMENTS.lock().get(&workspace.global_id).map(|(_, catalog)| catalog.clone())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Assign {
    metastore_id: String,
    #[serde(default)]
    default_catalog_name: Option<String>,
}

async fn assign(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(requested): Path<String>,
    body: Bytes,
) -> Response {
    with_caller(&ws, &headers, "metastore.assign", |who| {
        let request: Assign =
            serde_json::from_slice(&body).map_err(|e| UcError::Invalid(format!("Invalid request body: {e}")))?;
        if !ws.metastore.read().is_admin(who) {
            return Err(UcError::PermissionDenied("Only account admins assign metastores.".into()));
        }
        let id: u64 =
            requested.parse().map_err(|_| UcError::Invalid(format!("'{requested}' is not a workspace id.")))?;
        let target = ws
            .account
            .workspaces()
            .into_iter()
            .find(|w| workspace_id(w) == id)
            .ok_or_else(|| UcError::NotFound(format!("Workspace {id} does not exist in this account.")))?;
        if target.metastore_presence() == (super::account_metastores::Presence::Unassigned { created: false }) {
            return Err(UcError::NotFound(format!("Metastore {} does not exist.", request.metastore_id)));
        }
        let metastore_id = target.metastore.read().metastore_id.clone();
        if request.metastore_id != metastore_id {
            return Err(UcError::Invalid(format!(
                "The sandbox's workspace {id} serves metastore {metastore_id} only; cannot assign {}.",
                request.metastore_id
            )));
        }
        let catalog = request.default_catalog_name.unwrap_or_else(|| "hive_metastore".into());
        ASSIGNMENTS.lock().insert(target.global_id.clone(), (id, catalog));
        target.set_metastore_assigned();
        Ok(Json(json!({})).into_response())
    })
}

async fn current(State(ws): State<Arc<Workspace>>, headers: HeaderMap) -> Response {
    with_caller(&ws, &headers, "metastore.current", |_| {
        let catalog = default_catalog(&ws).unwrap_or_else(|| "hive_metastore".into());
        let metastore_id = ws.metastore.read().metastore_id.clone();
        Ok(Json(json!({
            "workspace_id": workspace_id(&ws),
            "metastore_id": metastore_id,
            "default_catalog_name": catalog,
        }))
        .into_response())
    })
}

async fn summary(State(ws): State<Arc<Workspace>>, headers: HeaderMap) -> Response {
    with_caller(&ws, &headers, "metastore.summary", |_| {
        let metastore = ws.metastore.read();
        Ok(Json(json!({
            "metastore_id": metastore.metastore_id,
            "global_metastore_id": metastore.global_id,
            "name": format!("metastore-{}", metastore.region),
            "region": metastore.region,
            "cloud": "azure",
            "delta_sharing_scope": "INTERNAL_AND_EXTERNAL",
        }))
        .into_response())
    })
}
