//! Unity Catalog 2.1 over HTTP: catalogs, schemas, tables, volumes,
//! table summaries, permissions and effective permissions.
//!
//! Lists paginate like the real service: a page is a slice of *all* objects,
//! filtered afterwards by what the caller may see, so a page can be empty and
//! still carry a `next_page_token`. Clients must read on until the token is
//! gone; a client that stops at the first empty page misses objects here,
//! as it would against Databricks.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::metastore::{Catalog, Common, Function, Metastore, Principal, Securable, UcError};
use super::{databricks_error, Workspace};

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.1/unity-catalog/catalogs", get(list_catalogs).post(create_catalog))
        .route("/api/2.1/unity-catalog/catalogs/{name}", get(get_catalog).patch(update_catalog).delete(delete_catalog))
        .route("/api/2.1/unity-catalog/schemas", get(list_schemas).post(create_schema))
        .route("/api/2.1/unity-catalog/schemas/{full_name}", get(get_schema).patch(update_schema).delete(delete_schema))
        .route("/api/2.1/unity-catalog/tables", get(list_tables).post(create_table))
        .route("/api/2.1/unity-catalog/tables/{full_name}", get(get_table).patch(update_table).delete(delete_table))
        .route("/api/2.1/unity-catalog/table-summaries", get(table_summaries))
        .route("/api/2.1/unity-catalog/volumes", get(list_volumes).post(create_volume))
        .route("/api/2.1/unity-catalog/volumes/{full_name}", get(get_volume).patch(update_volume).delete(delete_volume))
        .route("/api/2.1/unity-catalog/functions", get(list_functions))
        .route("/api/2.1/unity-catalog/functions/{full_name}", get(get_function))
        .route("/api/2.1/unity-catalog/permissions/{kind}/{full_name}", get(get_permissions).patch(update_permissions))
        .route("/api/2.1/unity-catalog/effective-permissions/{kind}/{full_name}", get(effective_permissions))
}

impl IntoResponse for UcError {
    fn into_response(self) -> Response {
        match self {
            UcError::NotFound(message) => databricks_error(StatusCode::NOT_FOUND, "NOT_FOUND", &message),
            UcError::Missing(object, message) => {
                databricks_error(StatusCode::NOT_FOUND, &format!("{object}_DOES_NOT_EXIST"), &message)
            }
            UcError::PermissionDenied(message) => {
                databricks_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED", &message)
            }
            // No document gives the status of a duplicate create; clients
            // seen in the wild catch it as a 400 (FIDELITY.md). A client must
            // decide by the code, so the status here is the unhelpful one.
            UcError::Exists(object, message) => {
                databricks_error(StatusCode::BAD_REQUEST, &format!("{object}_ALREADY_EXISTS"), &message)
            }
            UcError::AlreadyExists(message) => {
                databricks_error(StatusCode::CONFLICT, "RESOURCE_ALREADY_EXISTS", &message)
            }
            UcError::Invalid(message) => databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", &message),
        }
    }
}

pub(super) type Query = HashMap<String, String>;

pub(super) fn query(raw: Option<String>) -> Query {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default()
}

fn required<'q>(query: &'q Query, name: &str) -> Result<&'q str, UcError> {
    query
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| UcError::Invalid(format!("{name} is required.")))
}

/// One page: a slice of all `items` from the token's offset, then filtered.
pub(super) fn page<T>(
    items: Vec<T>,
    visible: impl Fn(&T) -> bool,
    query: &Query,
    server_page: usize,
) -> Result<(Vec<T>, Option<String>), UcError> {
    let Some(max_results) = query.get("max_results") else {
        return Ok((items.into_iter().filter(|i| visible(i)).collect(), None));
    };
    let max_results: i64 = max_results.parse().map_err(|_| UcError::Invalid("max_results must be a number.".into()))?;
    if max_results < 0 {
        return Err(UcError::Invalid("max_results must be greater than or equal to 0.".into()));
    }
    let size = if max_results == 0 { server_page } else { (max_results as usize).min(server_page) }.max(1);
    let offset = match query.get("page_token").filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => decode_token(token).ok_or_else(|| UcError::Invalid("Invalid page_token.".into()))?,
    };
    let total = items.len();
    let slice: Vec<T> = items.into_iter().skip(offset).take(size).filter(|i| visible(i)).collect();
    let next = (offset + size < total).then(|| encode_token(offset + size));
    Ok((slice, next))
}

fn encode_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_token(token: &str) -> Option<usize> {
    let text = String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    text.strip_prefix("offset:")?.parse().ok()
}

pub(super) fn listed(key: &str, items: Vec<Value>, next: Option<String>) -> Response {
    let mut body = json!({ key: items });
    if let Some(token) = next {
        body["next_page_token"] = json!(token);
    }
    Json(body).into_response()
}

/// Runs `handler` for an authenticated caller with the metastore.
pub(super) fn with_caller(
    workspace: &Workspace,
    headers: &HeaderMap,
    path: &str,
    handler: impl FnOnce(&Principal) -> Result<Response, UcError>,
) -> Response {
    let caller = match workspace.caller(headers, path) {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let principal = workspace.principal(&caller);
    handler(&principal).unwrap_or_else(IntoResponse::into_response)
}

async fn list_catalogs(State(ws): State<Arc<Workspace>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    with_caller(&ws, &headers, "catalogs.list", |who| {
        let metastore = ws.metastore.read();
        let all: Vec<&Catalog> = metastore.catalogs.values().collect();
        let (items, next) =
            page(all, |c| metastore.visible(who, Securable::Catalog, &c.name), &query(raw), ws.page_size())?;
        Ok(listed("catalogs", items.iter().map(|c| c.to_json(&metastore)).collect(), next))
    })
}

async fn get_catalog(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    with_caller(&ws, &headers, "catalogs.get", |who| {
        let metastore = ws.metastore.read();
        let catalog = metastore
            .catalogs
            .get(&name)
            .ok_or_else(|| UcError::Missing("CATALOG", format!("Catalog '{name}' does not exist.")))?;
        if !metastore.visible(who, Securable::Catalog, &name) {
            return Err(UcError::PermissionDenied(format!("User does not have USE CATALOG on Catalog '{name}'.")));
        }
        Ok(Json(catalog.to_json(&metastore)).into_response())
    })
}

#[derive(Deserialize)]
struct CreateCatalog {
    name: String,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    properties: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    storage_root: Option<String>,
    #[serde(default)]
    provider_name: Option<String>,
    #[serde(default)]
    share_name: Option<String>,
}

async fn create_catalog(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    with_caller(&ws, &headers, "catalogs.create", |who| {
        let request: CreateCatalog =
            serde_json::from_slice(&body).map_err(|e| UcError::Invalid(format!("Invalid request body: {e}")))?;
        valid_name(&request.name)?;
        if let Some(provider) = &request.provider_name {
            let share = request
                .share_name
                .as_deref()
                .ok_or_else(|| UcError::Invalid("share_name is required with provider_name.".into()))?;
            if ws.shared_objects(provider, share).is_none() {
                return Err(UcError::Missing(
                    "SHARE",
                    format!(
                        "Share '{share}' of provider '{provider}' does not exist or is not shared with this metastore."
                    ),
                ));
            }
        }
        let mut metastore = ws.metastore.write();
        if !metastore.is_admin(who) {
            return Err(UcError::PermissionDenied("User does not have CREATE CATALOG on Metastore.".into()));
        }
        if metastore.catalogs.contains_key(&request.name) {
            return Err(UcError::Exists("CATALOG", format!("Catalog '{}' already exists.", request.name)));
        }
        let now = chrono::Utc::now().timestamp_millis();
        let catalog_type = if request.provider_name.is_some() { "DELTASHARING_CATALOG" } else { "MANAGED_CATALOG" };
        let catalog = Catalog {
            name: request.name.clone(),
            catalog_type: catalog_type.into(),
            storage_root: request.storage_root,
            provider_name: request.provider_name,
            share_name: request.share_name,
            common: Common {
                owner: who.name.clone(),
                comment: request.comment,
                properties: request.properties,
                created_at: now,
                updated_at: now,
                grants: Default::default(),
                tags: Default::default(),
            },
        };
        let json = catalog.to_json(&metastore);
        metastore.catalogs.insert(request.name, catalog);
        Ok(Json(json).into_response())
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateCatalog {
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    properties: Option<std::collections::BTreeMap<String, String>>,
}

async fn update_catalog(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    with_caller(&ws, &headers, "catalogs.update", |who| {
        let request: UpdateCatalog =
            serde_json::from_slice(&body).map_err(|e| UcError::Invalid(format!("Invalid request body: {e}")))?;
        // Who may change it first, then whom it names.
        ws.metastore.read().require_manage(who, Securable::Catalog, &name)?;
        ws.require_principals(request.owner.as_deref()).map_err(|message| UcError::Missing("PRINCIPAL", message))?;
        let mut metastore = ws.metastore.write();
        metastore.require_manage(who, Securable::Catalog, &name)?;
        let common = metastore.common_mut(Securable::Catalog, &name)?;
        if let Some(owner) = request.owner {
            common.owner = owner;
        }
        if let Some(comment) = request.comment {
            common.comment = Some(comment);
        }
        if let Some(properties) = request.properties {
            common.properties = properties;
        }
        common.updated_at = chrono::Utc::now().timestamp_millis();
        let json = metastore.catalogs[&name].to_json(&metastore);
        Ok(Json(json).into_response())
    })
}

async fn delete_catalog(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    with_caller(&ws, &headers, "catalogs.delete", |who| {
        let mut metastore = ws.metastore.write();
        metastore.require_manage(who, Securable::Catalog, &name)?;
        let prefix = format!("{name}.");
        let has_schemas = metastore.schemas.keys().any(|s| s.starts_with(&prefix));
        if has_schemas && query(raw).get("force").map(String::as_str) != Some("true") {
            return Err(UcError::Invalid(format!("Catalog '{name}' is not empty.")));
        }
        metastore.schemas.retain(|k, _| !k.starts_with(&prefix));
        metastore.tables.retain(|k, _| !k.starts_with(&prefix));
        metastore.volumes.retain(|k, _| !k.starts_with(&prefix));
        metastore.catalogs.remove(&name);
        Ok(Json(json!({})).into_response())
    })
}

async fn list_schemas(State(ws): State<Arc<Workspace>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    with_caller(&ws, &headers, "schemas.list", |who| {
        let query = query(raw);
        let catalog = required(&query, "catalog_name")?;
        if is_shared(&ws, who, catalog)? {
            let mut schemas: Vec<String> = ws.shared_tables(catalog).into_iter().map(|t| t.schema).collect();
            schemas.dedup();
            let metastore_id = ws.metastore.read().metastore_id.clone();
            let items = schemas
                .iter()
                .map(|s| json!({"name": s, "catalog_name": catalog, "full_name": format!("{catalog}.{s}"), "metastore_id": metastore_id}))
                .collect();
            return Ok(listed("schemas", items, None));
        }
        let metastore = ws.metastore.read();
        metastore.require_use(who, catalog, None)?;
        let prefix = format!("{catalog}.");
        let all: Vec<_> = metastore
            .schemas
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, s)| s)
            .collect();
        let (items, next) =
            page(all, |s| metastore.visible(who, Securable::Schema, &s.full_name()), &query, ws.page_size())?;
        Ok(listed("schemas", items.iter().map(|s| s.to_json(&metastore)).collect(), next))
    })
}

async fn get_schema(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(full_name): Path<String>) -> Response {
    with_caller(&ws, &headers, "schemas.get", |who| {
        let metastore = ws.metastore.read();
        let (catalog, schema) = full_name
            .split_once('.')
            .ok_or_else(|| UcError::Invalid("A schema's full name is catalog.schema.".into()))?;
        metastore.require_use(who, catalog, Some(schema))?;
        Ok(Json(metastore.schemas[&full_name].to_json(&metastore)).into_response())
    })
}

async fn list_tables(State(ws): State<Arc<Workspace>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    with_caller(&ws, &headers, "tables.list", |who| {
        let query = query(raw);
        let (catalog, schema) = (required(&query, "catalog_name")?, required(&query, "schema_name")?);
        if is_shared(&ws, who, catalog)? {
            let tables: Vec<_> = ws.shared_tables(catalog).into_iter().filter(|t| t.schema == schema).collect();
            let metastore = ws.metastore.read();
            let (items, next) = page(tables, |_| true, &query, ws.page_size())?;
            return Ok(listed("tables", items.iter().map(|t| t.to_json(&metastore, false)).collect(), next));
        }
        let metastore = ws.metastore.read();
        metastore.require_use(who, catalog, Some(schema))?;
        let prefix = format!("{catalog}.{schema}.");
        let all: Vec<_> = metastore
            .tables
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, t)| t)
            .collect();
        let (items, next) =
            page(all, |t| metastore.visible(who, Securable::Table, &t.full_name()), &query, ws.page_size())?;
        Ok(listed("tables", items.iter().map(|t| t.to_json(&metastore, false)).collect(), next))
    })
}

async fn get_table(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(full_name): Path<String>) -> Response {
    with_caller(&ws, &headers, "tables.get", |who| {
        let metastore = ws.metastore.read();
        let parts: Vec<&str> = full_name.split('.').collect();
        let [catalog, schema, _] = parts[..] else {
            return Err(UcError::Invalid("A table's full name is catalog.schema.table.".into()));
        };
        metastore.require_use(who, catalog, Some(schema))?;
        let table = metastore
            .tables
            .get(&full_name)
            .ok_or_else(|| UcError::Missing("TABLE", format!("Table '{full_name}' does not exist.")))?;
        if !metastore.visible(who, Securable::Table, &full_name) {
            return Err(UcError::PermissionDenied(format!("User does not have SELECT on Table '{full_name}'.")));
        }
        Ok(Json(table.to_json(&metastore, true)).into_response())
    })
}

/// Like SQL LIKE patterns in `table-summaries`: `%` any run, `_` one character; `*` too.
fn matches_pattern(pattern: Option<&String>, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('%' | '*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('_'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let Some(pattern) = pattern.filter(|p| !p.is_empty()) else { return true };
    go(&pattern.chars().collect::<Vec<_>>(), &text.chars().collect::<Vec<_>>())
}

async fn table_summaries(State(ws): State<Arc<Workspace>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    with_caller(&ws, &headers, "table-summaries", |who| {
        let query = query(raw);
        let catalog = required(&query, "catalog_name")?;
        let metastore = ws.metastore.read();
        metastore.require_use(who, catalog, None)?;
        let prefix = format!("{catalog}.");
        let all: Vec<_> = metastore
            .tables
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, t)| t)
            .filter(|t| {
                matches_pattern(query.get("schema_name_pattern"), &t.schema)
                    && matches_pattern(query.get("table_name_pattern"), &t.name)
            })
            .collect();
        let mut query = query.clone();
        query.entry("max_results".into()).or_insert_with(|| "10000".into());
        let (items, next) = page(all, |t| metastore.visible(who, Securable::Table, &t.full_name()), &query, 10_000)?;
        let summaries = items.iter().map(|t| json!({"full_name": t.full_name(), "table_type": t.table_type})).collect();
        Ok(listed("tables", summaries, next))
    })
}

async fn list_volumes(State(ws): State<Arc<Workspace>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    with_caller(&ws, &headers, "volumes.list", |who| {
        let query = query(raw);
        let (catalog, schema) = (required(&query, "catalog_name")?, required(&query, "schema_name")?);
        let metastore = ws.metastore.read();
        metastore.require_use(who, catalog, Some(schema))?;
        let prefix = format!("{catalog}.{schema}.");
        let all: Vec<_> = metastore
            .volumes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v)
            .collect();
        let (items, next) =
            page(all, |v| metastore.visible(who, Securable::Volume, &v.full_name()), &query, ws.page_size())?;
        Ok(listed("volumes", items.iter().map(|v| v.to_json(&metastore)).collect(), next))
    })
}

/// Functions REST reference, List functions: "the output list contains only
/// functions for which either the user has the EXECUTE privilege or the user
/// is the owner" (a metastore admin sees all); the caller needs USE CATALOG
/// and USE SCHEMA. Paged like the other lists.
async fn list_functions(State(ws): State<Arc<Workspace>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    with_caller(&ws, &headers, "functions.list", |who| {
        let query = query(raw);
        let (catalog, schema) = (required(&query, "catalog_name")?, required(&query, "schema_name")?);
        let metastore = ws.metastore.read();
        metastore.require_use(who, catalog, Some(schema))?;
        let prefix = format!("{catalog}.{schema}.");
        let all: Vec<_> = metastore
            .functions
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, f)| f)
            .collect();
        let (items, next) = page(all, |f| may_execute(&metastore, who, f), &query, ws.page_size())?;
        Ok(listed("functions", items.iter().map(|f| f.to_json(&metastore)).collect(), next))
    })
}

async fn get_function(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(full_name): Path<String>) -> Response {
    with_caller(&ws, &headers, "functions.get", |who| {
        let metastore = ws.metastore.read();
        let function = metastore
            .functions
            .get(&full_name)
            .ok_or_else(|| UcError::Missing("FUNCTION", format!("Routine or Model '{full_name}' does not exist.")))?;
        metastore.require_use(who, &function.catalog, Some(&function.schema))?;
        if !may_execute(&metastore, who, function) {
            return Err(UcError::PermissionDenied(format!("User does not have EXECUTE on Routine '{full_name}'.")));
        }
        Ok(Json(function.to_json(&metastore)).into_response())
    })
}

/// Owner, metastore admin, or EXECUTE (or ALL PRIVILEGES) on the function,
/// its schema or its catalog.
pub(crate) fn may_execute(metastore: &Metastore, who: &Principal, function: &Function) -> bool {
    let names: Vec<&str> = std::iter::once(who.name.as_str()).chain(who.groups.iter().map(String::as_str)).collect();
    let grants_execute = |common: &Common| {
        names.contains(&common.owner.as_str())
            || names.iter().any(|n| {
                common.grants.get(*n).is_some_and(|held| held.contains("EXECUTE") || held.contains("ALL_PRIVILEGES"))
            })
    };
    let schema = metastore.schemas.get(&format!("{}.{}", function.catalog, function.schema));
    let catalog = metastore.catalogs.get(&function.catalog);
    metastore.is_admin(who)
        || grants_execute(&function.common)
        || schema.is_some_and(|s| {
            s.common.grants.iter().any(|(p, held)| {
                names.contains(&p.as_str()) && (held.contains("EXECUTE") || held.contains("ALL_PRIVILEGES"))
            })
        })
        || catalog.is_some_and(|c| {
            c.common.grants.iter().any(|(p, held)| {
                names.contains(&p.as_str()) && (held.contains("EXECUTE") || held.contains("ALL_PRIVILEGES"))
            })
        })
}

/// Whether `catalog` is mounted from a share (and the caller may use it).
fn is_shared(ws: &Workspace, who: &Principal, catalog: &str) -> Result<bool, UcError> {
    let metastore = ws.metastore.read();
    let shared = metastore.catalogs.get(catalog).is_some_and(|c| c.catalog_type == "DELTASHARING_CATALOG");
    if shared {
        metastore.require_use(who, catalog, None)?;
    }
    Ok(shared)
}

fn securable(kind: &str) -> Result<Securable, UcError> {
    Securable::parse(kind).ok_or_else(|| UcError::Invalid(format!("Unsupported securable type '{kind}'.")))
}

/// Principals per page of a paged grants read: small, so that objects with a
/// few grants already span pages and a client that reads one page misses some.
const GRANTS_PAGE: usize = 2;

async fn get_permissions(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path((kind, full_name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    with_caller(&ws, &headers, "permissions.get", |who| {
        let query = query(raw);
        let kind = securable(&kind)?;
        let metastore = ws.metastore.read();
        let common = metastore.common(kind, &full_name)?;
        if !metastore.visible(who, kind, &full_name) {
            return Err(UcError::PermissionDenied(format!("User cannot read the permissions of '{full_name}'.")));
        }
        let mut grants = common.grants.clone();
        if let Some(principal) = query.get("principal") {
            grants.retain(|p, _| p == principal);
        }
        let assignments = match Metastore::assignments(&grants) {
            Value::Array(assignments) => assignments,
            _ => Vec::new(),
        };
        // Databricks: unset returns everything (deprecated), 0 is the
        // server's page length, 1..=149 is refused so that a page always
        // holds at least one principal's complete assignment.
        if let Some(Ok(asked @ 1..=149)) = query.get("max_results").map(|m| m.parse::<i64>()) {
            return Err(UcError::Invalid(format!("max_results {asked} must be 0 or at least 150.")));
        }
        let (page, next) = page(assignments, |_| true, &query, GRANTS_PAGE)?;
        let mut body = json!({ "privilege_assignments": page });
        if let Some(token) = next {
            body["next_page_token"] = json!(token);
        }
        Ok(Json(body).into_response())
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionsChange {
    principal: String,
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePermissions {
    #[serde(default)]
    changes: Vec<PermissionsChange>,
    /// Accepted as the real API does; the answer always carries the permissions.
    #[serde(default)]
    #[allow(dead_code)]
    omit_permissions_in_response: Option<bool>,
}

/// The privileges Unity Catalog knows, in both spellings the API accepts.
const PRIVILEGES: &[&str] = &[
    "ALL PRIVILEGES",
    "ALL_PRIVILEGES",
    "USE CATALOG",
    "USE_CATALOG",
    "USE SCHEMA",
    "USE_SCHEMA",
    "SELECT",
    "MODIFY",
    "CREATE SCHEMA",
    "CREATE_SCHEMA",
    "CREATE TABLE",
    "CREATE_TABLE",
    "CREATE VOLUME",
    "CREATE_VOLUME",
    "READ VOLUME",
    "READ_VOLUME",
    "WRITE VOLUME",
    "WRITE_VOLUME",
    "BROWSE",
    "MANAGE",
    "EXECUTE",
    "APPLY TAG",
    "APPLY_TAG",
    // On external locations (Unity Catalog privileges reference).
    "READ FILES",
    "READ_FILES",
    "WRITE FILES",
    "WRITE_FILES",
    "CREATE EXTERNAL TABLE",
    "CREATE_EXTERNAL_TABLE",
    "CREATE EXTERNAL VOLUME",
    "CREATE_EXTERNAL_VOLUME",
    "CREATE MANAGED STORAGE",
    "CREATE_MANAGED_STORAGE",
];

async fn update_permissions(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path((kind, full_name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    with_caller(&ws, &headers, "permissions.update", |who| {
        let kind = securable(&kind)?;
        let request: UpdatePermissions =
            serde_json::from_slice(&body).map_err(|e| UcError::Invalid(format!("Invalid request body: {e}")))?;
        // Who may change them first; then granting needs a principal the
        // metastore knows (revoking does not).
        ws.metastore.read().require_manage(who, kind, &full_name)?;
        let granted = request.changes.iter().filter(|c| !c.add.is_empty()).map(|c| c.principal.as_str());
        ws.require_principals(granted).map_err(|message| UcError::Missing("PRINCIPAL", message))?;
        let mut metastore = ws.metastore.write();
        metastore.require_manage(who, kind, &full_name)?;
        for change in &request.changes {
            if let Some(unknown) = change.add.iter().chain(&change.remove).find(|p| !PRIVILEGES.contains(&p.as_str())) {
                return Err(UcError::Invalid(format!("Privilege {unknown} is not applicable to this entity.")));
            }
        }
        let common = metastore.common_mut(kind, &full_name)?;
        for change in request.changes {
            let held = common.grants.entry(change.principal.clone()).or_insert_with(BTreeSet::new);
            held.extend(change.add.iter().map(|p| p.replace(' ', "_")));
            for removed in change.remove {
                held.remove(&removed.replace(' ', "_"));
            }
            if held.is_empty() {
                common.grants.remove(&change.principal);
            }
        }
        Ok(Json(json!({"privilege_assignments": Metastore::assignments(&common.grants)})).into_response())
    })
}

async fn effective_permissions(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path((kind, full_name)): Path<(String, String)>,
) -> Response {
    with_caller(&ws, &headers, "effective-permissions.get", |who| {
        let kind = securable(&kind)?;
        let metastore = ws.metastore.read();
        metastore.common(kind, &full_name)?;
        if !metastore.visible(who, kind, &full_name) {
            return Err(UcError::PermissionDenied(format!("User cannot read the permissions of '{full_name}'.")));
        }
        // Every principal with a grant here or on a parent, with where each privilege comes from.
        let mut assignments: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
        let parts: Vec<&str> = full_name.split('.').collect();
        let mut chain = vec![(kind, full_name.clone())];
        if parts.len() == 3 {
            chain.push((Securable::Schema, format!("{}.{}", parts[0], parts[1])));
        }
        if parts.len() >= 2 {
            chain.push((Securable::Catalog, parts[0].to_string()));
        }
        for (level, name) in chain {
            if let Ok(common) = metastore.common(level, &name) {
                for (principal, privileges) in &common.grants {
                    for privilege in privileges {
                        let mut entry = json!({"privilege": privilege});
                        if name != full_name {
                            entry["inherited_from_type"] = json!(level.api_name());
                            entry["inherited_from_name"] = json!(name);
                        }
                        assignments.entry(principal.clone()).or_default().push(entry);
                    }
                }
            }
        }
        let privilege_assignments: Vec<Value> = assignments
            .into_iter()
            .map(|(principal, privileges)| json!({"principal": principal, "privileges": privileges}))
            .collect();
        Ok(Json(json!({"privilege_assignments": privilege_assignments})).into_response())
    })
}

/// Names Unity Catalog accepts for a new object.
fn valid_name(name: &str) -> Result<(), UcError> {
    let ok = !name.is_empty() && name.len() <= 255 && !name.contains(['.', ' ', '/', '\u{0}']);
    ok.then_some(()).ok_or_else(|| UcError::Invalid(format!("Invalid name '{name}'.")))
}

#[derive(Deserialize)]
struct CreateSchema {
    name: String,
    catalog_name: String,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    properties: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    storage_root: Option<String>,
}

async fn create_schema(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    with_caller(&ws, &headers, "schemas.create", |who| {
        let request: CreateSchema =
            serde_json::from_slice(&body).map_err(|e| UcError::Invalid(format!("Invalid request body: {e}")))?;
        valid_name(&request.name)?;
        let mut metastore = ws.metastore.write();
        metastore.require_use(who, &request.catalog_name, None)?;
        let catalog = &request.catalog_name;
        let may_create = metastore.holds(who, Securable::Catalog, catalog, "CREATE_SCHEMA");
        if !may_create {
            return Err(UcError::PermissionDenied(format!("User does not have CREATE SCHEMA on Catalog '{catalog}'.")));
        }
        let full_name = format!("{catalog}.{}", request.name);
        if metastore.schemas.contains_key(&full_name) {
            return Err(UcError::Exists("SCHEMA", format!("Schema '{full_name}' already exists.")));
        }
        let now = chrono::Utc::now().timestamp_millis();
        let schema = super::metastore::Schema {
            catalog: catalog.clone(),
            name: request.name,
            storage_root: request.storage_root,
            common: Common {
                owner: who.name.clone(),
                comment: request.comment,
                properties: request.properties,
                created_at: now,
                updated_at: now,
                grants: Default::default(),
                tags: Default::default(),
            },
        };
        let json = schema.to_json(&metastore);
        metastore.schemas.insert(full_name, schema);
        Ok(Json(json).into_response())
    })
}

#[derive(Deserialize)]
struct UpdateCommon {
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    properties: Option<std::collections::BTreeMap<String, String>>,
}

/// PATCH of a schema, table or volume: owner, comment, properties.
fn update_securable(ws: &Workspace, headers: &HeaderMap, kind: Securable, full_name: &str, body: &Bytes) -> Response {
    with_caller(ws, headers, "securable.update", |who| {
        let request: UpdateCommon =
            serde_json::from_slice(body).map_err(|e| UcError::Invalid(format!("Invalid request body: {e}")))?;
        ws.metastore.read().require_manage(who, kind, full_name)?;
        ws.require_principals(request.owner.as_deref()).map_err(|message| UcError::Missing("PRINCIPAL", message))?;
        let mut metastore = ws.metastore.write();
        metastore.require_manage(who, kind, full_name)?;
        let common = metastore.common_mut(kind, full_name)?;
        if let Some(properties) = request.properties {
            common.properties = properties;
        }
        super::locations::apply(common, request.owner, request.comment);
        let json = match kind {
            Securable::Schema => metastore.schemas[full_name].to_json(&metastore),
            Securable::Table => metastore.tables[full_name].to_json(&metastore, true),
            _ => metastore.volumes[full_name].to_json(&metastore),
        };
        Ok(Json(json).into_response())
    })
}

/// DELETE of a schema (empty unless forced), table or volume.
fn delete_securable(ws: &Workspace, headers: &HeaderMap, kind: Securable, full_name: &str, force: bool) -> Response {
    with_caller(ws, headers, "securable.delete", |who| {
        let mut metastore = ws.metastore.write();
        metastore.require_manage(who, kind, full_name)?;
        match kind {
            Securable::Schema => {
                let prefix = format!("{full_name}.");
                let busy = metastore.tables.keys().chain(metastore.volumes.keys()).any(|k| k.starts_with(&prefix));
                if busy && !force {
                    return Err(UcError::Invalid(format!("Schema '{full_name}' is not empty.")));
                }
                metastore.tables.retain(|k, _| !k.starts_with(&prefix));
                metastore.volumes.retain(|k, _| !k.starts_with(&prefix));
                metastore.schemas.remove(full_name);
            }
            Securable::Table => {
                metastore.tables.remove(full_name);
            }
            _ => {
                metastore.volumes.remove(full_name);
            }
        }
        Ok(Json(json!({})).into_response())
    })
}

async fn update_schema(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(full_name): Path<String>,
    body: Bytes,
) -> Response {
    update_securable(&ws, &headers, Securable::Schema, &full_name, &body)
}

async fn delete_schema(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(full_name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let force = query(raw).get("force").map(String::as_str) == Some("true");
    delete_securable(&ws, &headers, Securable::Schema, &full_name, force)
}

async fn update_table(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(full_name): Path<String>,
    body: Bytes,
) -> Response {
    update_securable(&ws, &headers, Securable::Table, &full_name, &body)
}

async fn delete_table(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(full_name): Path<String>) -> Response {
    delete_securable(&ws, &headers, Securable::Table, &full_name, false)
}

async fn get_volume(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(full_name): Path<String>) -> Response {
    with_caller(&ws, &headers, "volumes.get", |who| {
        let metastore = ws.metastore.read();
        let volume = metastore
            .volumes
            .get(&full_name)
            .ok_or_else(|| UcError::Missing("VOLUME", format!("Volume '{full_name}' does not exist.")))?;
        metastore.require_use(who, &volume.catalog, Some(&volume.schema))?;
        if !metastore.visible(who, Securable::Volume, &full_name) {
            return Err(UcError::PermissionDenied(format!("User does not have READ VOLUME on Volume '{full_name}'.")));
        }
        Ok(Json(volume.to_json(&metastore)).into_response())
    })
}

#[derive(Deserialize)]
struct CreateVolume {
    catalog_name: String,
    schema_name: String,
    name: String,
    volume_type: String,
    #[serde(default)]
    storage_location: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

async fn create_volume(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    with_caller(&ws, &headers, "volumes.create", |who| {
        let request: CreateVolume =
            serde_json::from_slice(&body).map_err(|e| UcError::Invalid(format!("Invalid request body: {e}")))?;
        valid_name(&request.name)?;
        if request.volume_type == "EXTERNAL" && request.storage_location.is_none() {
            return Err(UcError::Invalid("An external volume needs a storage_location.".into()));
        }
        let mut metastore = ws.metastore.write();
        metastore.require_use(who, &request.catalog_name, Some(&request.schema_name))?;
        let schema = format!("{}.{}", request.catalog_name, request.schema_name);
        let may_create = metastore.holds(who, Securable::Schema, &schema, "CREATE_VOLUME");
        if !may_create {
            return Err(UcError::PermissionDenied(format!("User does not have CREATE VOLUME on Schema '{schema}'.")));
        }
        let full_name = format!("{schema}.{}", request.name);
        if metastore.volumes.contains_key(&full_name) {
            return Err(UcError::Exists("VOLUME", format!("Volume '{full_name}' already exists.")));
        }
        let now = chrono::Utc::now().timestamp_millis();
        let volume = super::metastore::Volume {
            catalog: request.catalog_name,
            schema: request.schema_name,
            name: request.name,
            volume_type: request.volume_type,
            storage_location: request.storage_location,
            common: Common {
                owner: who.name.clone(),
                comment: request.comment,
                created_at: now,
                updated_at: now,
                ..Default::default()
            },
        };
        let json = volume.to_json(&metastore);
        metastore.volumes.insert(full_name, volume);
        Ok(Json(json).into_response())
    })
}

async fn update_volume(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(full_name): Path<String>,
    body: Bytes,
) -> Response {
    update_securable(&ws, &headers, Securable::Volume, &full_name, &body)
}

async fn delete_volume(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(full_name): Path<String>,
) -> Response {
    delete_securable(&ws, &headers, Securable::Volume, &full_name, false)
}

#[derive(Deserialize)]
struct CreateTable {
    name: String,
    catalog_name: String,
    schema_name: String,
    table_type: String,
    data_source_format: String,
    #[serde(default)]
    storage_location: Option<String>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    columns: Option<Value>,
    #[serde(default)]
    properties: std::collections::BTreeMap<String, String>,
}

/// `POST /tables`: registers an external table (managed tables come from SQL, as on Databricks).
async fn create_table(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    with_caller(&ws, &headers, "tables.create", |who| {
        let request: CreateTable =
            serde_json::from_slice(&body).map_err(|e| UcError::Invalid(format!("Invalid request body: {e}")))?;
        valid_name(&request.name)?;
        let _ = request.columns;
        if request.table_type != "EXTERNAL" {
            return Err(UcError::Invalid(
                "Only EXTERNAL tables can be created through this API; create managed tables with SQL.".into(),
            ));
        }
        let location = request
            .storage_location
            .ok_or_else(|| UcError::Invalid("storage_location is required for an external table.".into()))?;
        let mut metastore = ws.metastore.write();
        metastore.require_use(who, &request.catalog_name, Some(&request.schema_name))?;
        let schema = format!("{}.{}", request.catalog_name, request.schema_name);
        if !metastore.holds(who, Securable::Schema, &schema, "CREATE_TABLE") {
            return Err(UcError::PermissionDenied(format!("User does not have CREATE TABLE on Schema '{schema}'.")));
        }
        let full_name = format!("{schema}.{}", request.name);
        if metastore.tables.contains_key(&full_name) {
            return Err(UcError::Exists("TABLE", format!("Table '{full_name}' already exists.")));
        }
        let now = chrono::Utc::now().timestamp_millis();
        let table = super::metastore::Table {
            catalog: request.catalog_name,
            schema: request.schema_name,
            name: request.name,
            table_type: "EXTERNAL".into(),
            data_source_format: Some(request.data_source_format.to_ascii_uppercase()),
            storage_location: Some(location),
            view_definition: None,
            view_dependencies: Vec::new(),
            view_functions: Vec::new(),
            columns: Vec::new(),
            options: Default::default(),
            delta_version: 0,
            last_commit_ms: now,
            cloned_from: None,
            protection: Default::default(),
            constraints: Vec::new(),
            properties_commit: None,
            pipeline_id: None,
            column_metadata: Default::default(),
            common: Common {
                owner: who.name.clone(),
                comment: request.comment,
                properties: request.properties,
                created_at: now,
                updated_at: now,
                grants: Default::default(),
                tags: Default::default(),
            },
        };
        let json = table.to_json(&metastore, true);
        metastore.tables.insert(full_name, table);
        Ok(Json(json).into_response())
    })
}
