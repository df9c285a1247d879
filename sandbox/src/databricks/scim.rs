//! Who a workspace has (SCIM 2.0 under `/api/2.0/preview/scim/v2`):
//! `GET /Users`, `/Groups` and `/ServicePrincipals`, each with a `filter`
//! of one `eq` (`userName`, `displayName`, `applicationId`), `startIndex`
//! (1-based) and `count` → `{schemas, totalResults, startIndex,
//! itemsPerPage, Resources: [...]}`.
//!
//! In Azure Databricks users, groups and service principals are the
//! account's, and a workspace has those assigned to it: here, the tenant's
//! directory, the workspace's built-in groups (`users`, `admins`), the
//! groups the seed's teams use, and any service principal (application ids
//! are not modelled further), less what a test takes out of one workspace
//! ([`super::Workspace::remove_principal`]). Sources: REST reference, Users
//! / Groups / Service principals › List (the SDK's `UsersAPI.list`, which
//! pages by `startIndex` until a page has no `Resources`), RFC 7644 §3.4.2.2
//! (filters). **Stricter**: a filter other than one `eq` on those
//! attributes is refused; `attributes`, `excludedAttributes`, `sortBy` and
//! `sortOrder` are accepted and ignored.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::sql_objects::invalid;
use super::Workspace;

/// Groups every workspace has, and those the seed's teams use.
pub const WORKSPACE_GROUPS: &[&str] = &["users", "admins", "account users", "data-engineers", "analysts"];

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.0/preview/scim/v2/Users", get(users))
        .route("/api/2.0/preview/scim/v2/Groups", get(groups))
        .route("/api/2.0/preview/scim/v2/ServicePrincipals", get(service_principals))
}

/// The refusal of a principal the workspace does not have, in the
/// Permissions API's words (terraform-provider-databricks #2302 quotes the
/// API refusing a principal that "does not exist"; the exact text here is
/// the sandbox's): `field` is `user_name`, `group_name` or
/// `service_principal_name`.
pub fn unknown_principal(ws: &Workspace, field: &str, name: &str) -> Option<Response> {
    if ws.knows_principal(name) {
        return None;
    }
    let kind = match field {
        "user_name" => "UserName",
        "service_principal_name" => "ServicePrincipalName",
        _ => "GroupName",
    };
    Some(invalid(&format!("Principal: {kind}({name}) does not exist.")))
}

/// The value a filter asks `attribute` to equal, or the refusal.
fn wanted(filter: Option<&String>, attribute: &str) -> Result<Option<String>, Response> {
    let Some(filter) = filter else { return Ok(None) };
    let refused = || invalid(&format!("The sandbox filters only on `{attribute} eq \"…\"`."));
    let Some((left, right)) = filter.trim().split_once(" eq ") else { return Err(refused()) };
    if !left.trim().eq_ignore_ascii_case(attribute) {
        return Err(refused());
    }
    match serde_json::from_str::<Value>(right.trim()) {
        Ok(Value::String(value)) => Ok(Some(value)),
        _ => Err(refused()),
    }
}

/// A page of `all` as SCIM lists answer.
fn listed(all: Vec<Value>, query: &HashMap<String, String>) -> Response {
    let start = query.get("startIndex").and_then(|s| s.parse::<usize>().ok()).unwrap_or(1).max(1);
    let count = query.get("count").and_then(|s| s.parse::<usize>().ok()).unwrap_or(10_000);
    let page: Vec<Value> = all.iter().skip(start - 1).take(count).cloned().collect();
    Json(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": all.len(),
        "startIndex": start,
        "itemsPerPage": page.len(),
        "Resources": page,
    }))
    .into_response()
}

fn list(
    ws: &Workspace,
    headers: &HeaderMap,
    endpoint: &str,
    attribute: &str,
    query: &HashMap<String, String>,
    all: Vec<(String, Value)>,
) -> Response {
    if let Err(refusal) = ws.caller(headers, endpoint) {
        return refusal;
    }
    let value = match wanted(query.get("filter"), attribute) {
        Ok(value) => value,
        Err(refusal) => return refusal,
    };
    let found =
        all.into_iter().filter(|(name, _)| value.as_ref().is_none_or(|v| v.eq_ignore_ascii_case(name))).map(|(_, v)| v);
    listed(found.collect(), query)
}

async fn users(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let all = ws
        .directory()
        .users
        .iter()
        .filter(|u| ws.knows_principal(&u.upn))
        .map(|u| (u.upn.clone(), json!({"id": u.oid, "userName": u.upn, "displayName": u.name, "active": true})))
        .collect();
    list(&ws, &headers, "scim.users.list", "userName", &q, all)
}

async fn groups(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let names = ws.directory().groups.iter().map(|g| (g.name.clone(), g.oid.clone()));
    let builtin = WORKSPACE_GROUPS.iter().map(|g| (g.to_string(), format!("group-{g}")));
    let all = names
        .chain(builtin)
        .filter(|(name, _)| ws.knows_principal(name))
        .map(|(name, id)| (name.clone(), json!({"id": id, "displayName": name})))
        .collect();
    list(&ws, &headers, "scim.groups.list", "displayName", &q, all)
}

async fn service_principals(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    // Any application id is a service principal of the workspace (not
    // modelled further): the one a filter names is listed, unless removed.
    let asked = match wanted(q.get("filter"), "applicationId") {
        Ok(asked) => asked,
        Err(refusal) => return refusal,
    };
    let all = asked
        .filter(|id| uuid::Uuid::parse_str(id).is_ok() && ws.knows_principal(id))
        .map(|id| {
            (id.clone(), json!({"id": format!("sp-{id}"), "applicationId": id, "displayName": id, "active": true}))
        })
        .into_iter()
        .collect();
    list(&ws, &headers, "scim.service-principals.list", "applicationId", &q, all)
}
