//! MLflow's Unity Catalog model registry, as far as a model version's tags:
//! the Unity Catalog API (`/api/2.1/unity-catalog/models`, `models.rs`)
//! has none, and MLflow's client reads and writes them through its own
//! service (`mlflow/protos/databricks_uc_registry_service.proto`):
//!
//! - `GET /api/2.0/mlflow/unity-catalog/model-versions/get?name=&version=`
//!   → `{"model_version": ModelVersion}`, the version number a string, its
//!   tags as `[{key, value}]`;
//! - `POST /api/2.0/mlflow/unity-catalog/model-versions/tags`
//!   `{name, version, key, value}` → `{}`;
//! - `DELETE` of the same path, `name`, `version` and `key` in the query
//!   (as the databricks-sdk sends a DELETE) or in a JSON body (as MLflow's
//!   client does) → `{}`.
//!
//! Reading takes what reading the model takes (EXECUTE, or owning it);
//! tagging its owner, or APPLY TAG on it (Unity Catalog privileges
//! reference). Unknown fields are refused. FIDELITY.md cites each rule.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::metastore::{Metastore, Principal, Securable, UcError};
use super::models::{may_manage, readable, version_of, RegisteredModel};
use super::unity_catalog::{query, with_caller};
use super::Workspace;

const PREFIX: &str = "/api/2.0/mlflow/unity-catalog/model-versions";

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route(&format!("{PREFIX}/get"), get(get_version))
        .route(&format!("{PREFIX}/tags"), axum::routing::post(set_tag).delete(delete_tag))
}

/// MLflow's ModelVersion message of version `number`.
fn version_message(model: &RegisteredModel, number: i64) -> Value {
    let version = &model.versions[&number];
    let aliases: Vec<Value> = model
        .aliases
        .iter()
        .filter(|(_, v)| **v == number)
        .map(|(alias, v)| json!({"alias": alias, "version": v.to_string()}))
        .collect();
    let tags: Vec<Value> = version.tags.iter().map(|(key, value)| json!({"key": key, "value": value})).collect();
    let mut message = json!({
        "name": model.full_name(),
        "version": number.to_string(),
        "creation_timestamp": version.created_at,
        "last_updated_timestamp": version.created_at,
        "source": version.source,
        "status": version.status,
        "storage_location": version.storage_location,
        "aliases": aliases,
        "tags": tags,
    });
    if let Some(run_id) = &version.run_id {
        message["run_id"] = json!(run_id);
    }
    if let Some(comment) = &version.comment {
        message["description"] = json!(comment);
    }
    message
}

/// `name` and `version` of a request, both required.
fn named(name: Option<&String>, version: Option<&String>) -> Result<(String, String), UcError> {
    match (name.filter(|n| !n.is_empty()), version.filter(|v| !v.is_empty())) {
        (Some(name), Some(version)) => Ok((name.clone(), version.clone())),
        _ => Err(UcError::Invalid("name and version are required.".into())),
    }
}

async fn get_version(State(ws): State<Arc<Workspace>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    with_caller(&ws, &headers, "mlflow.uc.model-versions.get", |who| {
        let query = query(raw);
        let (name, version) = named(query.get("name"), query.get("version"))?;
        let metastore = ws.metastore.read();
        let model = readable(&metastore, who, &name)?;
        let number = version_of(model, &version)?;
        Ok(Json(json!({"model_version": version_message(model, number)})).into_response())
    })
}

/// SetModelVersionTagRequest.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetTag {
    name: String,
    version: String,
    key: String,
    #[serde(default)]
    value: String,
}

/// DeleteModelVersionTagRequest, when sent as a body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteTag {
    name: String,
    version: String,
    key: String,
}

/// The model once the caller may tag it: its owner (or an admin, or an
/// owner above it), or APPLY TAG on it or a parent.
fn taggable<'m>(metastore: &'m Metastore, who: &Principal, name: &str) -> Result<&'m RegisteredModel, UcError> {
    let model = readable(metastore, who, name)?;
    if may_manage(metastore, who, model) || metastore.holds(who, Securable::Function, name, "APPLY_TAG") {
        Ok(model)
    } else {
        Err(UcError::PermissionDenied(format!("User does not have APPLY TAG on Registered model '{name}'.")))
    }
}

async fn set_tag(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    with_caller(&ws, &headers, "mlflow.uc.model-versions.set-tag", |who| {
        let request: SetTag =
            serde_json::from_slice(&body).map_err(|e| UcError::Invalid(format!("Invalid request body: {e}")))?;
        if request.key.is_empty() {
            return Err(UcError::Invalid("key is required.".into()));
        }
        let mut metastore = ws.metastore.write();
        let number = version_of(taggable(&metastore, who, &request.name)?, &request.version)?;
        if let Some(version) = metastore.models.get_mut(&request.name).and_then(|m| m.versions.get_mut(&number)) {
            version.tags.insert(request.key, request.value);
        }
        Ok(Json(json!({})).into_response())
    })
}

async fn delete_tag(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    with_caller(&ws, &headers, "mlflow.uc.model-versions.delete-tag", |who| {
        let query = query(raw);
        let request = match query.get("name") {
            Some(_) => {
                let (name, version) = named(query.get("name"), query.get("version"))?;
                let key = query.get("key").cloned().ok_or_else(|| UcError::Invalid("key is required.".into()))?;
                DeleteTag { name, version, key }
            }
            None => serde_json::from_slice(&body).map_err(|e| UcError::Invalid(format!("Invalid request: {e}")))?,
        };
        let mut metastore = ws.metastore.write();
        let number = version_of(taggable(&metastore, who, &request.name)?, &request.version)?;
        let version = metastore.models.get_mut(&request.name).and_then(|m| m.versions.get_mut(&number));
        match version.and_then(|v| v.tags.remove(&request.key)) {
            Some(_) => Ok(Json(json!({})).into_response()),
            None => Err(UcError::NotFound(format!(
                "Tag '{}' of version {number} of '{}' does not exist.",
                request.key, request.name
            ))),
        }
    })
}
