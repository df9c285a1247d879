//! External locations and storage credentials over Unity Catalog 2.1: list
//! (paginated like every list), get, create, patch (incl. owner), delete.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::metastore::{Common, ExternalLocation, Securable, StorageCredential, UcError};
use super::unity_catalog::{listed, page, query, with_caller};
use super::Workspace;

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.1/unity-catalog/external-locations", get(list_locations).post(create_location))
        .route(
            "/api/2.1/unity-catalog/external-locations/{name}",
            get(get_location).patch(update_location).delete(delete_location),
        )
        .route("/api/2.1/unity-catalog/storage-credentials", get(list_credentials).post(create_credential))
        .route(
            "/api/2.1/unity-catalog/storage-credentials/{name}",
            get(get_credential).patch(update_credential).delete(delete_credential),
        )
}

fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, UcError> {
    serde_json::from_slice(bytes).map_err(|e| UcError::Invalid(format!("Invalid request body: {e}")))
}

fn new_common(owner: &str, comment: Option<String>) -> Common {
    let now = chrono::Utc::now().timestamp_millis();
    Common { owner: owner.into(), comment, created_at: now, updated_at: now, ..Default::default() }
}

#[derive(Deserialize)]
struct UpdateSecurable {
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    read_only: Option<bool>,
}

async fn list_locations(State(ws): State<Arc<Workspace>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    with_caller(&ws, &headers, "external-locations.list", |who| {
        let metastore = ws.metastore.read();
        let all: Vec<&ExternalLocation> = metastore.external_locations.values().collect();
        let (items, next) =
            page(all, |l| metastore.visible(who, Securable::ExternalLocation, &l.name), &query(raw), ws.page_size())?;
        Ok(listed("external_locations", items.iter().map(|l| l.to_json(&metastore)).collect(), next))
    })
}

async fn get_location(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    with_caller(&ws, &headers, "external-locations.get", |who| {
        let metastore = ws.metastore.read();
        metastore.common(Securable::ExternalLocation, &name)?;
        if !metastore.visible(who, Securable::ExternalLocation, &name) {
            return Err(UcError::PermissionDenied(format!("User cannot see External location '{name}'.")));
        }
        Ok(Json(metastore.external_locations[&name].to_json(&metastore)).into_response())
    })
}

#[derive(Deserialize)]
struct CreateLocation {
    name: String,
    url: String,
    credential_name: String,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    comment: Option<String>,
}

async fn create_location(State(ws): State<Arc<Workspace>>, headers: HeaderMap, bytes: Bytes) -> Response {
    with_caller(&ws, &headers, "external-locations.create", |who| {
        let request: CreateLocation = body(&bytes)?;
        let mut metastore = ws.metastore.write();
        if !metastore.is_admin(who) {
            return Err(UcError::PermissionDenied("User does not have CREATE EXTERNAL LOCATION on Metastore.".into()));
        }
        if !metastore.storage_credentials.contains_key(&request.credential_name) {
            return Err(UcError::Missing(
                "STORAGE_CREDENTIAL",
                format!("Storage credential '{}' does not exist.", request.credential_name),
            ));
        }
        if !request.url.starts_with("abfss://") {
            return Err(UcError::Invalid(format!("'{}' is not an abfss:// URL.", request.url)));
        }
        if metastore.external_locations.contains_key(&request.name) {
            return Err(UcError::Exists(
                "EXTERNAL_LOCATION",
                format!("External location '{}' already exists.", request.name),
            ));
        }
        if let Some(overlap) = metastore
            .external_locations
            .values()
            .find(|l| l.url.starts_with(&request.url) || request.url.starts_with(&l.url))
        {
            return Err(UcError::Invalid(format!("'{}' overlaps external location '{}'.", request.url, overlap.name)));
        }
        let location = ExternalLocation {
            name: request.name.clone(),
            url: request.url,
            credential_name: request.credential_name,
            read_only: request.read_only,
            common: new_common(&who.name, request.comment),
        };
        let json = location.to_json(&metastore);
        metastore.external_locations.insert(request.name, location);
        Ok(Json(json).into_response())
    })
}

async fn update_location(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    with_caller(&ws, &headers, "external-locations.update", |who| {
        let request: UpdateSecurable = body(&bytes)?;
        let mut metastore = ws.metastore.write();
        metastore.require_manage(who, Securable::ExternalLocation, &name)?;
        let location = metastore.external_locations.get_mut(&name).ok_or_else(|| {
            UcError::Missing("EXTERNAL_LOCATION", format!("External location '{name}' does not exist."))
        })?;
        if let Some(url) = request.url {
            location.url = url;
        }
        if let Some(read_only) = request.read_only {
            location.read_only = read_only;
        }
        apply(&mut location.common, request.owner, request.comment);
        let json = metastore.external_locations[&name].to_json(&metastore);
        Ok(Json(json).into_response())
    })
}

async fn delete_location(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    with_caller(&ws, &headers, "external-locations.delete", |who| {
        let mut metastore = ws.metastore.write();
        metastore.require_manage(who, Securable::ExternalLocation, &name)?;
        metastore.external_locations.remove(&name);
        Ok(Json(json!({})).into_response())
    })
}

async fn list_credentials(State(ws): State<Arc<Workspace>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    with_caller(&ws, &headers, "storage-credentials.list", |who| {
        let metastore = ws.metastore.read();
        let all: Vec<&StorageCredential> = metastore.storage_credentials.values().collect();
        let (items, next) =
            page(all, |c| metastore.visible(who, Securable::StorageCredential, &c.name), &query(raw), ws.page_size())?;
        Ok(listed("storage_credentials", items.iter().map(|c| c.to_json(&metastore)).collect(), next))
    })
}

async fn get_credential(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    with_caller(&ws, &headers, "storage-credentials.get", |who| {
        let metastore = ws.metastore.read();
        metastore.common(Securable::StorageCredential, &name)?;
        if !metastore.visible(who, Securable::StorageCredential, &name) {
            return Err(UcError::PermissionDenied(format!("User cannot see Storage credential '{name}'.")));
        }
        Ok(Json(metastore.storage_credentials[&name].to_json(&metastore)).into_response())
    })
}

#[derive(Deserialize)]
struct AzureManagedIdentity {
    access_connector_id: String,
}

#[derive(Deserialize)]
struct CreateCredential {
    name: String,
    azure_managed_identity: Option<AzureManagedIdentity>,
    #[serde(default)]
    comment: Option<String>,
}

async fn create_credential(State(ws): State<Arc<Workspace>>, headers: HeaderMap, bytes: Bytes) -> Response {
    with_caller(&ws, &headers, "storage-credentials.create", |who| {
        let request: CreateCredential = body(&bytes)?;
        let identity = request.azure_managed_identity.ok_or_else(|| {
            UcError::Invalid("The sandbox takes Azure managed identity (access connector) credentials only.".into())
        })?;
        if !identity.access_connector_id.contains("/providers/Microsoft.Databricks/accessConnectors/") {
            return Err(UcError::Invalid(format!("'{}' is not an access connector id.", identity.access_connector_id)));
        }
        let mut metastore = ws.metastore.write();
        if !metastore.is_admin(who) {
            return Err(UcError::PermissionDenied("User does not have CREATE STORAGE CREDENTIAL on Metastore.".into()));
        }
        if metastore.storage_credentials.contains_key(&request.name) {
            return Err(UcError::Exists(
                "STORAGE_CREDENTIAL",
                format!("Storage credential '{}' already exists.", request.name),
            ));
        }
        let credential = StorageCredential {
            name: request.name.clone(),
            access_connector_id: identity.access_connector_id,
            common: new_common(&who.name, request.comment),
        };
        let json = credential.to_json(&metastore);
        metastore.storage_credentials.insert(request.name, credential);
        Ok(Json(json).into_response())
    })
}

async fn update_credential(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    with_caller(&ws, &headers, "storage-credentials.update", |who| {
        let request: UpdateSecurable = body(&bytes)?;
        let mut metastore = ws.metastore.write();
        metastore.require_manage(who, Securable::StorageCredential, &name)?;
        let common = metastore.common_mut(Securable::StorageCredential, &name)?;
        apply(common, request.owner, request.comment);
        let json = metastore.storage_credentials[&name].to_json(&metastore);
        Ok(Json(json).into_response())
    })
}

async fn delete_credential(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    with_caller(&ws, &headers, "storage-credentials.delete", |who| {
        let mut metastore = ws.metastore.write();
        metastore.require_manage(who, Securable::StorageCredential, &name)?;
        if let Some(user) = metastore.external_locations.values().find(|l| l.credential_name == name) {
            return Err(UcError::Invalid(format!(
                "Storage credential '{name}' is used by external location '{}'.",
                user.name
            )));
        }
        metastore.storage_credentials.remove(&name);
        Ok(Json(json!({})).into_response())
    })
}

/// Owner and comment changes, as every securable's PATCH takes them.
pub fn apply(common: &mut Common, owner: Option<String>, comment: Option<String>) {
    if let Some(owner) = owner {
        common.owner = owner;
    }
    if let Some(comment) = comment {
        common.comment = Some(comment);
    }
    common.updated_at = chrono::Utc::now().timestamp_millis();
}
