//! Delta Sharing, Databricks to Databricks: recipients and shares on the
//! provider's metastore, providers appearing by themselves on the
//! recipient's, and catalogs mounted from a share that show the shared
//! schemas' tables live, later ones included.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::metastore::{Metastore, Principal, Securable, Table, UcError};
use super::Workspace;

#[derive(Clone, Debug)]
pub struct Recipient {
    pub name: String,
    pub data_recipient_global_metastore_id: String,
    pub owner: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Share {
    pub name: String,
    pub owner: String,
    /// Shared objects by name in this metastore (`catalog.schema` or `catalog.schema.table`) → type.
    pub objects: BTreeMap<String, String>,
    /// recipient → privileges (SELECT).
    pub permissions: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Default)]
pub struct SharingState {
    pub recipients: BTreeMap<String, Recipient>,
    pub shares: BTreeMap<String, Share>,
}

/// At most this many updates in one PATCH of a share.
pub const MAX_SHARE_UPDATES: usize = 100;

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.1/unity-catalog/recipients", get(list_recipients).post(create_recipient))
        .route("/api/2.1/unity-catalog/shares", get(list_shares).post(create_share))
        .route("/api/2.1/unity-catalog/shares/{name}", get(get_share).patch(update_share))
        .route(
            "/api/2.1/unity-catalog/shares/{name}/permissions",
            get(share_permissions).patch(update_share_permissions),
        )
        .route("/api/2.1/unity-catalog/providers", get(list_providers))
        .route("/api/2.1/unity-catalog/providers/{name}/shares", get(provider_shares))
}

fn invalid(message: String) -> UcError {
    UcError::Invalid(message)
}

/// Runs `handler` for a metastore admin (sharing is an admin's business here).
fn as_admin(
    ws: &Workspace,
    headers: &HeaderMap,
    path: &str,
    handler: impl FnOnce(&str) -> Result<Response, UcError>,
) -> Response {
    let caller = match ws.caller(headers, path) {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let principal = ws.principal(&caller);
    if !ws.metastore.read().is_admin(&principal) {
        return UcError::PermissionDenied("Only metastore admins manage Delta Sharing in the sandbox.".into())
            .into_response();
    }
    handler(&principal.name).unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
struct CreateRecipient {
    name: String,
    authentication_type: String,
    #[serde(default)]
    data_recipient_global_metastore_id: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

async fn create_recipient(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    as_admin(&ws, &headers, "recipients.create", |owner| {
        let request: CreateRecipient =
            serde_json::from_slice(&body).map_err(|e| invalid(format!("Invalid request body: {e}")))?;
        let _ = request.comment;
        if request.authentication_type != "DATABRICKS" {
            return Err(invalid(
                "The sandbox shares Databricks-to-Databricks only: authentication_type DATABRICKS.".into(),
            ));
        }
        let target = request
            .data_recipient_global_metastore_id
            .ok_or_else(|| invalid("data_recipient_global_metastore_id is required.".into()))?;
        let parts: Vec<&str> = target.split(':').collect();
        if parts.len() != 3 || parts[0] != "azure" {
            return Err(invalid(format!("'{target}' is not a global metastore id (azure:<region>:<uuid>).")));
        }
        let mut sharing = ws.sharing.lock();
        if sharing.recipients.contains_key(&request.name) {
            return Err(UcError::Exists("RECIPIENT", format!("Recipient '{}' already exists.", request.name)));
        }
        let recipient = Recipient {
            name: request.name.clone(),
            data_recipient_global_metastore_id: target,
            owner: owner.into(),
            created_at: chrono::Utc::now().timestamp_millis(),
        };
        let json = recipient_json(&recipient);
        sharing.recipients.insert(request.name, recipient);
        Ok(Json(json).into_response())
    })
}

fn recipient_json(recipient: &Recipient) -> Value {
    json!({
        "name": recipient.name,
        "authentication_type": "DATABRICKS",
        "data_recipient_global_metastore_id": recipient.data_recipient_global_metastore_id,
        "owner": recipient.owner,
        "created_at": recipient.created_at,
        "activated": true,
    })
}

async fn list_recipients(State(ws): State<Arc<Workspace>>, headers: HeaderMap) -> Response {
    as_admin(&ws, &headers, "recipients.list", |_| {
        let recipients: Vec<Value> = ws.sharing.lock().recipients.values().map(recipient_json).collect();
        Ok(Json(json!({"recipients": recipients})).into_response())
    })
}

#[derive(Deserialize)]
struct CreateShare {
    name: String,
    #[serde(default)]
    comment: Option<String>,
}

async fn create_share(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    as_admin(&ws, &headers, "shares.create", |owner| {
        let request: CreateShare =
            serde_json::from_slice(&body).map_err(|e| invalid(format!("Invalid request body: {e}")))?;
        let _ = request.comment;
        let mut sharing = ws.sharing.lock();
        if sharing.shares.contains_key(&request.name) {
            return Err(UcError::Exists("SHARE", format!("Share '{}' already exists.", request.name)));
        }
        let share = Share { name: request.name.clone(), owner: owner.into(), ..Default::default() };
        let json = share_json(&share);
        sharing.shares.insert(request.name, share);
        Ok(Json(json).into_response())
    })
}

fn share_json(share: &Share) -> Value {
    let objects: Vec<Value> = share
        .objects
        .iter()
        .map(|(name, kind)| json!({"name": name, "data_object_type": kind, "status": "ACTIVE"}))
        .collect();
    json!({"name": share.name, "owner": share.owner, "objects": objects})
}

async fn list_shares(State(ws): State<Arc<Workspace>>, headers: HeaderMap) -> Response {
    as_admin(&ws, &headers, "shares.list", |_| {
        let shares: Vec<Value> =
            ws.sharing.lock().shares.values().map(|s| json!({"name": s.name, "owner": s.owner})).collect();
        Ok(Json(json!({"shares": shares})).into_response())
    })
}

async fn get_share(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    as_admin(&ws, &headers, "shares.get", |_| {
        let sharing = ws.sharing.lock();
        let share = sharing
            .shares
            .get(&name)
            .ok_or_else(|| UcError::Missing("SHARE", format!("Share '{name}' does not exist.")))?;
        Ok(Json(share_json(share)).into_response())
    })
}

#[derive(Deserialize)]
struct ShareUpdate {
    action: String,
    data_object: DataObject,
}

#[derive(Deserialize)]
struct DataObject {
    name: String,
    data_object_type: String,
}

#[derive(Deserialize)]
struct UpdateShare {
    #[serde(default)]
    updates: Vec<ShareUpdate>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

/// Whether `who` is the share's owner: the owning user or service
/// principal, or a member of the owning group.
fn owns_share(who: &Principal, share: &Share) -> bool {
    who.name == share.owner || who.groups.contains(&share.owner)
}

/// Whether the share's owner may read `name` (a `TABLE` or a `SCHEMA`): a
/// shared object stays readable by recipients only while it can.
fn owner_reads(ws: &Workspace, metastore: &Metastore, share_owner: &str, name: &str, kind: &str) -> bool {
    let securable = if kind == "SCHEMA" { Securable::Schema } else { Securable::Table };
    metastore.reads(&ws.principal_named(share_owner), securable, name)
}

async fn update_share(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let caller = match ws.caller(&headers, "shares.update") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let who = ws.principal(&caller);
    let answer = (|| {
        let request: UpdateShare =
            serde_json::from_slice(&body).map_err(|e| invalid(format!("Invalid request body: {e}")))?;
        if request.updates.len() > MAX_SHARE_UPDATES {
            return Err(invalid(format!(
                "A share update takes at most {MAX_SHARE_UPDATES} changes; got {}.",
                request.updates.len()
            )));
        }
        let metastore = ws.metastore.read();
        let mut sharing = ws.sharing.lock();
        let share = sharing
            .shares
            .get_mut(&name)
            .ok_or_else(|| UcError::Missing("SHARE", format!("Share '{name}' does not exist.")))?;
        // "The caller must be the owner of the share or a metastore admin.
        // When the caller is a metastore admin, only the owner field can be
        // updated." (REST reference, Shares › Update)
        let owner = owns_share(&who, share);
        let admin = metastore.is_admin(&who);
        if !owner && !admin {
            return Err(UcError::PermissionDenied(format!("User is not an owner of Share '{name}'.")));
        }
        if !owner && (!request.updates.is_empty() || request.comment.is_some()) {
            return Err(UcError::PermissionDenied(format!(
                "User is not an owner of Share '{name}': a metastore admin may only change its owner."
            )));
        }
        if let Some(new_owner) = request.owner {
            if new_owner.trim().is_empty() {
                return Err(invalid("owner may not be empty.".into()));
            }
            share.owner = new_owner;
        }
        for update in request.updates {
            let object = update.data_object;
            let exists = match object.data_object_type.as_str() {
                "SCHEMA" => metastore.schemas.contains_key(&object.name),
                "TABLE" => {
                    metastore.tables.get(&object.name).is_some_and(|t| t.data_source_format.as_deref() == Some("DELTA"))
                }
                other => return Err(invalid(format!("Unsupported data object type {other}."))),
            };
            match update.action.as_str() {
                "ADD" if !exists => {
                    return Err(UcError::NotFound(format!(
                        "{} '{}' does not exist.",
                        object.data_object_type, object.name
                    )))
                }
                "ADD" if share.objects.contains_key(&object.name) => {
                    return Err(UcError::AlreadyExists(format!("'{}' is already in share '{name}'.", object.name)))
                }
                // "For each table that is added through this method, the
                // share owner must also have SELECT privilege on the table."
                "ADD" | "UPDATE"
                    if !owner_reads(&ws, &metastore, &share.owner, &object.name, &object.data_object_type) =>
                {
                    return Err(UcError::PermissionDenied(format!(
                        "The owner of Share '{name}', {}, does not have SELECT on {} '{}'.",
                        share.owner, object.data_object_type, object.name
                    )))
                }
                "ADD" | "UPDATE" => {
                    share.objects.insert(object.name, object.data_object_type);
                }
                "REMOVE" => {
                    share.objects.remove(&object.name);
                }
                other => return Err(invalid(format!("Unknown share update action {other}."))),
            }
        }
        Ok(Json(share_json(share)).into_response())
    })();
    answer.unwrap_or_else(IntoResponse::into_response)
}

async fn share_permissions(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    as_admin(&ws, &headers, "shares.permissions.get", |_| {
        let sharing = ws.sharing.lock();
        let share = sharing
            .shares
            .get(&name)
            .ok_or_else(|| UcError::Missing("SHARE", format!("Share '{name}' does not exist.")))?;
        Ok(Json(json!({"privilege_assignments": Metastore::assignments(&share.permissions)})).into_response())
    })
}

#[derive(Deserialize)]
struct PermissionChange {
    principal: String,
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(Deserialize)]
struct UpdatePermissions {
    #[serde(default)]
    changes: Vec<PermissionChange>,
}

async fn update_share_permissions(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    as_admin(&ws, &headers, "shares.permissions.update", |_| {
        let request: UpdatePermissions =
            serde_json::from_slice(&body).map_err(|e| invalid(format!("Invalid request body: {e}")))?;
        let mut sharing = ws.sharing.lock();
        for change in &request.changes {
            if !sharing.recipients.contains_key(&change.principal) {
                return Err(UcError::Missing("RECIPIENT", format!("Recipient '{}' does not exist.", change.principal)));
            }
            if let Some(other) = change.add.iter().chain(&change.remove).find(|p| p.as_str() != "SELECT") {
                return Err(invalid(format!("Privilege {other} is not applicable to shares.")));
            }
        }
        let share = sharing
            .shares
            .get_mut(&name)
            .ok_or_else(|| UcError::Missing("SHARE", format!("Share '{name}' does not exist.")))?;
        for change in request.changes {
            let held = share.permissions.entry(change.principal.clone()).or_default();
            held.extend(change.add);
            for removed in change.remove {
                held.remove(&removed);
            }
            if held.is_empty() {
                share.permissions.remove(&change.principal);
            }
        }
        Ok(Json(json!({"privilege_assignments": Metastore::assignments(&share.permissions)})).into_response())
    })
}

/// A provider as this workspace sees it: another metastore with a recipient for ours.
pub struct Provider {
    pub name: String,
    pub workspace: Arc<Workspace>,
    pub recipient: String,
}

impl Workspace {
    /// Providers that appeared because another metastore created a recipient for ours.
    pub fn providers(&self) -> Vec<Provider> {
        // No lock on our own metastore here: a statement holding it for writing
        // resolves shared tables through this.
        let own = self.global_id.clone();
        let mut providers = Vec::new();
        for other in self.account.workspaces() {
            if std::ptr::eq(Arc::as_ptr(&other), self) {
                continue;
            }
            let recipients: Vec<String> = other
                .sharing
                .lock()
                .recipients
                .values()
                .filter(|r| r.data_recipient_global_metastore_id == own)
                .map(|r| r.name.clone())
                .collect();
            for recipient in recipients {
                providers.push(Provider {
                    name: format!("{}-provider", other.name),
                    workspace: other.clone(),
                    recipient,
                });
            }
        }
        providers
    }

    /// For a catalog mounted from a share: the provider and the objects shared with us.
    pub fn shared_objects(
        &self,
        provider_name: &str,
        share_name: &str,
    ) -> Option<(Arc<Workspace>, BTreeMap<String, String>, String)> {
        let provider = self.providers().into_iter().find(|p| p.name == provider_name)?;
        let sharing = provider.workspace.sharing.lock();
        let share = sharing.shares.get(share_name)?;
        share.permissions.get(&provider.recipient).filter(|p| p.contains("SELECT"))?;
        Some((provider.workspace.clone(), share.objects.clone(), share.owner.clone()))
    }

    /// The version and last commit of a table a share exposes, by its schema and name.
    pub fn shared_table_version(
        &self,
        provider: &str,
        share: &str,
        schema: &str,
        table: &str,
    ) -> Option<(i64, i64, String)> {
        let (source, objects, owner) = self.shared_objects(provider, share)?;
        let metastore = source.metastore.read();
        let found = metastore.tables.values().find(|t| {
            t.schema == schema
                && t.name == table
                && t.data_source_format.as_deref() == Some("DELTA")
                && (objects.contains_key(&t.full_name())
                    || objects.get(&format!("{}.{}", t.catalog, t.schema)).is_some_and(|k| k == "SCHEMA"))
                && owner_reads(&source, &metastore, &owner, &t.full_name(), "TABLE")
        })?;
        Some((found.delta_version, found.last_commit_ms, super::sql::data::origin_of(found)))
    }

    /// The provider's tables a mounted catalog shows now: every table of a shared
    /// schema (later ones included) and every shared table, renamed into `catalog`.
    pub fn shared_tables(&self, catalog: &str) -> Vec<Table> {
        let (provider_name, share_name) = {
            let metastore = self.metastore.read();
            match metastore.catalogs.get(catalog) {
                Some(c) if c.catalog_type == "DELTASHARING_CATALOG" => {
                    (c.provider_name.clone().unwrap_or_default(), c.share_name.clone().unwrap_or_default())
                }
                _ => return Vec::new(),
            }
        };
        let Some((provider, objects, owner)) = self.shared_objects(&provider_name, &share_name) else {
            return Vec::new();
        };
        let source = provider.metastore.read();
        source
            .tables
            .values()
            .filter(|t| t.data_source_format.as_deref() == Some("DELTA"))
            .filter(|t| {
                objects.contains_key(&t.full_name())
                    || objects.get(&format!("{}.{}", t.catalog, t.schema)).is_some_and(|k| k == "SCHEMA")
            })
            // A table its share's owner can no longer read is out of the
            // recipient's reach: "This privilege must be maintained
            // indefinitely for recipients to be able to access the table."
            // It reads the data unfiltered and unmasked: the provider's
            // filters and masks do not govern it (FIDELITY.md).
            .filter(|t| owner_reads(&provider, &source, &owner, &t.full_name(), "TABLE"))
            .map(|t| Table {
                catalog: catalog.to_string(),
                common: Default::default(),
                protection: Default::default(),
                constraints: Vec::new(),
                ..t.clone()
            })
            .collect()
    }
}

async fn list_providers(State(ws): State<Arc<Workspace>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    as_admin(&ws, &headers, "providers.list", |_| {
        let query: std::collections::HashMap<String, String> =
            serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
        let wanted = query.get("data_provider_global_metastore_id");
        let providers: Vec<Value> = ws
            .providers()
            .iter()
            .map(|p| (p, p.workspace.global_id.clone()))
            .filter(|(_, id)| wanted.is_none_or(|w| w == id))
            .map(|(p, id)| json!({"name": p.name, "authentication_type": "DATABRICKS", "data_provider_global_metastore_id": id, "owner": "System user"}))
            .collect();
        Ok(Json(json!({"providers": providers})).into_response())
    })
}

async fn provider_shares(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    as_admin(&ws, &headers, "providers.shares", |_| {
        let provider = ws
            .providers()
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| UcError::Missing("PROVIDER", format!("Provider '{name}' does not exist.")))?;
        let sharing = provider.workspace.sharing.lock();
        let shares: Vec<Value> = sharing
            .shares
            .values()
            .filter(|s| s.permissions.get(&provider.recipient).is_some_and(|p| p.contains("SELECT")))
            .map(|s| json!({"name": s.name}))
            .collect();
        Ok(Json(json!({"shares": shares})).into_response())
    })
}
