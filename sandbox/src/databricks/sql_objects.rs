//! What the sandbox's Databricks SQL object APIs share: queries
//! ([`super::queries`]), alerts ([`super::alerts`]) and AI/BI dashboards
//! ([`super::lakeview`]) page the same way, live in workspace folders, are
//! owned by a user and are changed by their owner, whoever holds CAN_EDIT or
//! CAN_MANAGE on them, or an admin.
//!
//! Paging (REST reference, Queries › List, Alerts › List, Lakeview › List):
//! `page_size` and `page_token` in, `next_page_token` out, absent on the
//! last page. The server's page is small ([`PAGE`]) so clients follow tokens.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use super::workspace_tree::{Kind, Node};
use super::{databricks_error, Workspace};
use crate::caller::Caller;

/// The most objects a page holds, whatever `page_size` asks.
pub const PAGE: usize = 2;

pub fn invalid(message: &str) -> Response {
    databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
}

pub fn missing(what: &str, id: &str) -> Response {
    databricks_error(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", &format!("{what} {id} does not exist."))
}

pub fn forbidden(message: &str) -> Response {
    databricks_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED", message)
}

/// The slice of `all` a request asks for, and the next page's token.
pub fn page<T: Clone>(all: &[T], query: &HashMap<String, String>) -> Result<(Vec<T>, Option<String>), Response> {
    let size = match query.get("page_size").map(|s| s.parse::<usize>()) {
        None => PAGE,
        Some(Ok(size)) => size.clamp(1, PAGE),
        Some(Err(_)) => return Err(invalid("page_size is not a number.")),
    };
    let start = match query.get("page_token").map(String::as_str) {
        None | Some("") => 0,
        Some(token) => match token.parse::<usize>() {
            Ok(start) if start <= all.len() => start,
            _ => return Err(invalid("Invalid page token.")),
        },
    };
    let end = (start + size).min(all.len());
    let next = (end < all.len()).then(|| end.to_string());
    Ok((all[start..end].to_vec(), next))
}

/// Refuses query parameters a list does not take.
pub fn only_params(query: &HashMap<String, String>, allowed: &[&str]) -> Result<(), Response> {
    match query.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(invalid(&format!("Unknown query parameter {unknown}."))),
        None => Ok(()),
    }
}

/// The time as the SQL APIs write it (RFC 3339).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Whether `path` is a folder of the workspace.
pub fn is_folder(ws: &Workspace, path: &str) -> bool {
    matches!(ws.tree.get(path), Some(Node { kind: Kind::Directory, .. }))
}

/// The folder a new object goes to: the one asked for (it must exist), or
/// the caller's home folder.
pub fn parent_folder(ws: &Workspace, caller: &Caller, asked: Option<&Value>) -> Result<String, Response> {
    let path = match asked {
        None | Some(Value::Null) => format!("/Users/{}", caller.upn),
        Some(Value::String(path)) => path.trim_end_matches('/').to_string(),
        Some(_) => return Err(invalid("parent_path is not a string.")),
    };
    if !is_folder(ws, &path) {
        return Err(databricks_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            &format!("The parent folder ({path}) does not exist."),
        ));
    }
    Ok(path)
}

/// The fields an `update_mask` names (`*`: every one of `allowed`), each
/// one of `allowed`.
pub fn mask(update_mask: Option<&Value>, allowed: &[&str]) -> Result<Vec<String>, Response> {
    let Some(Value::String(mask)) = update_mask else { return Err(invalid("update_mask is required.")) };
    if mask.trim() == "*" {
        return Ok(allowed.iter().map(|f| f.to_string()).collect());
    }
    let fields: Vec<String> = mask.split(',').map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect();
    if fields.is_empty() {
        return Err(invalid("update_mask names no field."));
    }
    match fields.iter().find(|f| !allowed.contains(&f.as_str())) {
        Some(unknown) => Err(invalid(&format!("Field {unknown} cannot be updated."))),
        None => Ok(fields),
    }
}

/// A request body split: the object under its key, and the rest.
type Split = (Map<String, Value>, Map<String, Value>);

/// A request body's object under `key`, and the body's other fields.
pub fn object_in(body: &[u8], key: &str) -> Result<Split, Response> {
    let Ok(Value::Object(mut request)) = serde_json::from_slice::<Value>(body) else {
        return Err(invalid("The body is not a JSON object."));
    };
    let object = match request.remove(key) {
        Some(Value::Object(object)) => object,
        None => Map::new(),
        Some(_) => return Err(invalid(&format!("{key} is not an object."))),
    };
    Ok((object, request))
}

/// Refuses a field outside `allowed`.
pub fn only_fields(object: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), Response> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(invalid(&format!("The sandbox does not model the {what} field {unknown}."))),
        None => Ok(()),
    }
}

/// Whether the caller may change an object of `object_type` with id `id`
/// owned by `owner`: its owner, an admin, or CAN_EDIT / CAN_MANAGE on it.
pub fn may_edit(ws: &Workspace, caller: &Caller, object_type: &str, id: &str, owner: &str) -> bool {
    let principal = ws.principal(caller);
    if principal.name.eq_ignore_ascii_case(owner) || ws.metastore.read().is_admin(&principal) {
        return true;
    }
    let acl = ws.object_acls.of(object_type, id);
    std::iter::once(&principal.name)
        .chain(principal.groups.iter())
        .any(|p| acl.get(p).is_some_and(|level| level == "CAN_EDIT" || level == "CAN_MANAGE"))
}

/// Whether the caller may hand an object over to someone else: its owner or an admin.
pub fn may_transfer(ws: &Workspace, caller: &Caller, owner: &str) -> bool {
    let principal = ws.principal(caller);
    principal.name.eq_ignore_ascii_case(owner) || ws.metastore.read().is_admin(&principal)
}

/// A warehouse id a definition names must be the workspace's.
pub fn check_warehouse(ws: &Workspace, object: &Map<String, Value>) -> Result<(), Response> {
    match object.get("warehouse_id") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(id)) if ws.warehouses.exists(id) => Ok(()),
        Some(other) => Err(invalid(&format!("Warehouse {other} does not exist."))),
    }
}

/// A new owner must be a user the workspace knows.
pub fn check_owner(ws: &Workspace, object: &Map<String, Value>) -> Result<(), Response> {
    match object.get("owner_user_name") {
        None => Ok(()),
        Some(Value::String(name)) if ws.knows_user(name) => Ok(()),
        Some(other) => Err(invalid(&format!("User {other} does not exist in this workspace."))),
    }
}

/// One kind of SQL object of a workspace (queries, alerts), oldest first,
/// each the API's object (`id`, `parent_path`, `display_name`,
/// `owner_user_name`, `lifecycle_state`, times, and its definition).
#[derive(Default)]
pub struct Objects {
    list: Mutex<Vec<Map<String, Value>>>,
}

pub fn field<'a>(object: &'a Map<String, Value>, name: &str) -> &'a str {
    object.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// Not in the trash.
pub fn active(object: &Map<String, Value>) -> bool {
    field(object, "lifecycle_state") != "TRASHED"
}

impl Objects {
    /// Every object, trashed ones too.
    pub fn all(&self) -> Vec<Map<String, Value>> {
        self.list.lock().clone()
    }

    /// The active object of this name in this folder.
    pub fn find(&self, parent_path: &str, display_name: &str) -> Option<Map<String, Value>> {
        self.all()
            .into_iter()
            .find(|o| active(o) && field(o, "parent_path") == parent_path && field(o, "display_name") == display_name)
    }

    pub fn get(&self, id: &str) -> Option<Map<String, Value>> {
        self.list.lock().iter().find(|o| field(o, "id") == id).cloned()
    }

    /// Adds an object as someone made it (the seed; a create), returning its id.
    pub fn add(&self, owner: &str, definition: Value) -> String {
        let Value::Object(mut object) = definition else { return String::new() };
        let id = uuid::Uuid::new_v4().to_string();
        let at = now();
        object.insert("id".into(), json!(id));
        object.insert("owner_user_name".into(), json!(owner));
        object.insert("lifecycle_state".into(), json!("ACTIVE"));
        object.insert("create_time".into(), json!(at));
        object.insert("update_time".into(), json!(at));
        self.list.lock().push(object);
        id
    }

    /// Sets fields of an object (`null` removes one): someone editing it.
    pub fn edit(&self, id: &str, fields: Value) {
        let Value::Object(fields) = fields else { return };
        if let Some(object) = self.list.lock().iter_mut().find(|o| field(o, "id") == id) {
            for (name, value) in fields {
                match value {
                    Value::Null => object.remove(&name),
                    value => object.insert(name, value),
                };
            }
            object.insert("update_time".into(), json!(now()));
        }
    }
}

/// A display name no other active object of `parent_path` has: `wanted`,
/// or with ` (n)` when `resolve`; refused when taken and not `resolve`.
pub fn free_name(
    objects: &Objects,
    what: &str,
    parent_path: &str,
    wanted: &str,
    resolve: bool,
    except: &str,
) -> Result<String, Response> {
    let taken = |name: &str| objects.find(parent_path, name).is_some_and(|o| field(&o, "id") != except);
    if !taken(wanted) {
        return Ok(wanted.to_string());
    }
    if !resolve {
        return Err(databricks_error(
            StatusCode::BAD_REQUEST,
            "RESOURCE_ALREADY_EXISTS",
            &format!("A {what} named '{wanted}' already exists in {parent_path}."),
        ));
    }
    Ok((1..).map(|n| format!("{wanted} ({n})")).find(|name| !taken(name)).unwrap_or_default())
}

/// One SQL object API (queries, alerts): what differs between them; the
/// handlers below serve the rest alike.
pub struct SqlApi {
    /// How a message names one (`query`).
    pub what: &'static str,
    /// The request body's key for the object (`query`).
    pub body_key: &'static str,
    /// The Permissions API's name for them (`queries`).
    pub object_type: &'static str,
    /// The call log's name (`sql.queries`).
    pub endpoint: &'static str,
    pub create_fields: &'static [&'static str],
    pub update_fields: &'static [&'static str],
    /// What a create must carry beside `display_name`.
    pub required: &'static [&'static str],
    pub store: fn(&Workspace) -> &Objects,
    /// Checks a definition (a create's, or an update's changes).
    pub check: fn(&Workspace, &Map<String, Value>) -> Result<(), Response>,
    /// Fills what a create leaves to the server; the caller's name given.
    pub defaults: fn(&mut Map<String, Value>, &str),
}

fn caller(api: &SqlApi, ws: &Workspace, headers: &HeaderMap, verb: &str) -> Result<Caller, Response> {
    ws.caller(headers, &format!("{}.{verb}", api.endpoint))
}

/// `GET …`: a page of the active objects (`results`, without `parent_path`).
pub fn list(api: &SqlApi, ws: &Workspace, headers: &HeaderMap, query: &HashMap<String, String>) -> Response {
    if let Err(refusal) =
        caller(api, ws, headers, "list").and_then(|_| only_params(query, &["page_size", "page_token"]))
    {
        return refusal;
    }
    let listed: Vec<Map<String, Value>> = (api.store)(ws)
        .all()
        .into_iter()
        .filter(active)
        .map(|mut o| {
            o.remove("parent_path");
            o
        })
        .collect();
    match page(&listed, query) {
        Ok((results, next)) => {
            let mut body = json!({ "results": results });
            if let Some(next) = next {
                body["next_page_token"] = json!(next);
            }
            Json(body).into_response()
        }
        Err(refusal) => refusal,
    }
}

/// `GET …/{id}`: the object, trashed or not.
pub fn one(api: &SqlApi, ws: &Workspace, headers: &HeaderMap, id: &str) -> Response {
    if let Err(refusal) = caller(api, ws, headers, "get") {
        return refusal;
    }
    match (api.store)(ws).get(id) {
        Some(object) => Json(object).into_response(),
        None => missing(api.what, id),
    }
}

fn resolve_names(rest: &Map<String, Value>) -> bool {
    rest.get("auto_resolve_display_name").and_then(Value::as_bool) == Some(true)
}

/// `POST …`: a new object owned by the caller, in its folder.
pub fn create(api: &SqlApi, ws: &Workspace, headers: &HeaderMap, body: &[u8]) -> Response {
    let caller = match caller(api, ws, headers, "create") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let (mut object, rest) = match object_in(body, api.body_key) {
        Ok(parts) => parts,
        Err(refusal) => return refusal,
    };
    if let Some(unknown) = rest.keys().find(|k| k.as_str() != "auto_resolve_display_name") {
        return invalid(&format!("Unknown field {unknown}."));
    }
    if let Err(refusal) = only_fields(&object, api.create_fields, api.what).and_then(|()| (api.check)(ws, &object)) {
        return refusal;
    }
    let wanted = field(&object, "display_name").to_string();
    if wanted.is_empty() {
        return invalid("display_name is required.");
    }
    if let Some(absent) = api.required.iter().find(|f| !object.contains_key(**f)) {
        return invalid(&format!("{absent} is required."));
    }
    let parent = match parent_folder(ws, &caller, object.get("parent_path")) {
        Ok(parent) => parent,
        Err(refusal) => return refusal,
    };
    let store = (api.store)(ws);
    let name = match free_name(store, api.what, &parent, &wanted, resolve_names(&rest), "") {
        Ok(name) => name,
        Err(refusal) => return refusal,
    };
    let owner = ws.principal(&caller).name;
    object.insert("display_name".into(), json!(name));
    object.insert("parent_path".into(), json!(parent));
    (api.defaults)(&mut object, &owner);
    let id = store.add(&owner, Value::Object(object));
    Json(store.get(&id)).into_response()
}

/// `PATCH …/{id} {update_mask, <object>}`: the masked fields; a masked
/// field left out is cleared (the name and the owner never are); a new name
/// must be free in the folder; a new owner needs the owner or an admin.
pub fn update(api: &SqlApi, ws: &Workspace, headers: &HeaderMap, id: &str, body: &[u8]) -> Response {
    let caller = match caller(api, ws, headers, "update") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let (changes, rest) = match object_in(body, api.body_key) {
        Ok(parts) => parts,
        Err(refusal) => return refusal,
    };
    if let Some(unknown) = rest.keys().find(|k| !matches!(k.as_str(), "update_mask" | "auto_resolve_display_name")) {
        return invalid(&format!("Unknown field {unknown}."));
    }
    let fields = match mask(rest.get("update_mask"), api.update_fields) {
        Ok(fields) => fields,
        Err(refusal) => return refusal,
    };
    let checked = only_fields(&changes, api.update_fields, api.what)
        .and_then(|()| (api.check)(ws, &changes))
        .and_then(|()| check_owner(ws, &changes));
    if let Err(refusal) = checked {
        return refusal;
    }
    let store = (api.store)(ws);
    let Some(current) = store.get(id).filter(active) else { return missing(api.what, id) };
    let owner = field(&current, "owner_user_name").to_string();
    if !may_edit(ws, &caller, api.object_type, id, &owner) {
        return forbidden(&format!(
            "You need CAN_EDIT or CAN_MANAGE on this {} (or to own it) to change it.",
            api.what
        ));
    }
    let transfers = fields.iter().any(|f| f == "owner_user_name") && changes.contains_key("owner_user_name");
    if transfers && !may_transfer(ws, &caller, &owner) {
        return forbidden(&format!("Only the {}'s owner or an admin may transfer it.", api.what));
    }
    let mut next = Map::new();
    for name in &fields {
        match changes.get(name) {
            Some(value) => next.insert(name.clone(), value.clone()),
            None if name == "owner_user_name" || name == "display_name" => continue,
            None => next.insert(name.clone(), Value::Null),
        };
    }
    if let Some(Value::String(name)) = next.get("display_name") {
        match free_name(store, api.what, field(&current, "parent_path"), name, resolve_names(&rest), id) {
            Ok(name) => next.insert("display_name".into(), json!(name)),
            Err(refusal) => return refusal,
        };
    }
    store.edit(id, Value::Object(next));
    Json(store.get(id)).into_response()
}

/// `DELETE …/{id}`: to the trash.
pub fn trash(api: &SqlApi, ws: &Workspace, headers: &HeaderMap, id: &str) -> Response {
    let caller = match caller(api, ws, headers, "delete") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let store = (api.store)(ws);
    let Some(current) = store.get(id).filter(active) else { return missing(api.what, id) };
    if !may_edit(ws, &caller, api.object_type, id, field(&current, "owner_user_name")) {
        return forbidden(&format!("You need CAN_MANAGE on this {} (or to own it) to trash it.", api.what));
    }
    store.edit(id, json!({"lifecycle_state": "TRASHED"}));
    Json(json!({})).into_response()
}
