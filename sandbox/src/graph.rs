//! The Microsoft Graph stand-in (v1.0), as much as `drbot setup` needs to
//! automate the Entra app registration for Teams SSO: applications (create,
//! get, list with `$filter=appId eq '…'`, PATCH incl. identifier URIs, the
//! API's scopes and pre-authorized clients, required resource access and web
//! redirect URIs; an enabled scope cannot be removed, pre-authorised clients
//! only get scopes the application has), `addPassword`, and service principals (create, list by
//! app id). OData shapes; every call needs an Entra token for Graph.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use crate::caller::AccessTokenVerifier;

/// The audience of Graph tokens.
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";

/// Properties of an application `drbot setup` may set; anything else is refused.
const APPLICATION_PROPERTIES: &[&str] = &[
    "displayName",
    "signInAudience",
    "identifierUris",
    "api",
    "requiredResourceAccess",
    "web",
    "tags",
    "notes",
    "groupMembershipClaims",
];

/// The values Graph documents for `groupMembershipClaims` (application
/// resource type, Microsoft Graph v1.0): anything else is a 400.
const GROUP_MEMBERSHIP_CLAIMS: &[&str] = &["None", "SecurityGroup", "All", "DirectoryRole", "ApplicationGroup"];

pub struct Graph {
    verifier: Arc<dyn AccessTokenVerifier>,
    base_url: Mutex<String>,
    /// object id → application.
    applications: Mutex<HashMap<String, Value>>,
    /// object id → service principal.
    service_principals: Mutex<HashMap<String, Value>>,
    /// How many writes (POST, PATCH) were made: `drbot setup` run twice must change things once.
    writes: Mutex<u64>,
    /// The tenant's users and groups, for membership checks.
    directory: crate::directory::Directory,
    member_checks: Mutex<u64>,
    /// Teams activity-feed notifications (`crate::activity_feed`).
    pub activity_feed: Arc<crate::activity_feed::ActivityFeed>,
}

impl Graph {
    pub fn new(verifier: Arc<dyn AccessTokenVerifier>, directory: crate::directory::Directory) -> Arc<Graph> {
        Arc::new(Graph {
            activity_feed: crate::activity_feed::ActivityFeed::new(verifier.clone(), directory.clone()),
            verifier,
            directory,
            member_checks: Mutex::new(0),
            base_url: Mutex::new(String::new()),
            applications: Mutex::new(HashMap::new()),
            service_principals: Mutex::new(HashMap::new()),
            writes: Mutex::new(0),
        })
    }

    /// How many `checkMemberGroups` calls were answered.
    pub fn member_checks(&self) -> u64 {
        *self.member_checks.lock()
    }

    pub fn set_base_url(&self, base: &str) {
        *self.base_url.lock() = base.trim_end_matches('/').to_string();
    }

    /// Registers an application as the tenant already has it (e.g. the bot's own).
    pub fn seed_application(&self, app_id: &str, display_name: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let app = json!({"id": id, "appId": app_id, "displayName": display_name, "identifierUris": [], "signInAudience": "AzureADMyOrg",
            "api": {"oauth2PermissionScopes": [], "preAuthorizedApplications": []}, "requiredResourceAccess": [], "web": {"redirectUris": []}, "passwordCredentials": []});
        self.applications.lock().insert(id.clone(), app);
        id
    }

    pub fn application_by_app_id(&self, app_id: &str) -> Option<Value> {
        self.applications.lock().values().find(|a| a["appId"] == app_id).cloned()
    }

    pub fn write_count(&self) -> u64 {
        *self.writes.lock()
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/v1.0/me/checkMemberGroups", post(check_member_groups))
            .route("/v1.0/users/{id}", get(get_user))
            .route("/v1.0/applications", get(list_applications).post(create_application))
            .route("/v1.0/applications/{id}", get(get_application).patch(update_application))
            .route("/v1.0/applications/{id}/addPassword", post(add_password))
            .route("/v1.0/servicePrincipals", get(list_service_principals).post(create_service_principal))
            .with_state(self.clone())
            .merge(self.activity_feed.router())
    }

    fn authorized(&self, headers: &HeaderMap) -> Result<(), Response> {
        let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        match token.and_then(|t| self.verifier.verify(t, GRAPH_AUDIENCE)) {
            Some(_) => Ok(()),
            None => Err(odata_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty or invalid.",
            )),
        }
    }

    fn context(&self, entity: &str) -> String {
        format!("{}/v1.0/$metadata#{entity}", self.base_url.lock())
    }
}

/// Graph's OData error body.
pub fn odata_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message, "innerError": {
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "request-id": uuid::Uuid::new_v4(), "client-request-id": uuid::Uuid::new_v4()}}});
    (status, Json(body)).into_response()
}

/// `$filter=appId eq '…'`, the one filter the stand-in understands.
fn app_id_filter(raw: Option<String>) -> Result<Option<String>, Response> {
    let query: HashMap<String, String> = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let Some(filter) = query.get("$filter") else { return Ok(None) };
    let value =
        filter.strip_prefix("appId eq '").and_then(|rest| rest.strip_suffix('\'')).filter(|v| !v.contains('\''));
    match value {
        Some(value) => Ok(Some(value.to_string())),
        None => Err(odata_error(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            &format!("Unsupported query: {filter}"),
        )),
    }
}

fn object(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(odata_error(StatusCode::BAD_REQUEST, "BadRequest", "The request body must be a JSON object.")),
    }
}

fn check_properties(map: &Map<String, Value>) -> Result<(), Response> {
    if let Some(claims) = map.get("groupMembershipClaims") {
        if !claims.as_str().is_some_and(|c| c.split(',').all(|v| GROUP_MEMBERSHIP_CLAIMS.contains(&v.trim()))) {
            return Err(odata_error(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                "Invalid value specified for property 'groupMembershipClaims' of resource 'Application'.",
            ));
        }
    }
    match map.keys().find(|k| !APPLICATION_PROPERTIES.contains(&k.as_str())) {
        Some(unknown) => Err(odata_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            &format!("Property '{unknown}' does not exist on type 'microsoft.graph.application'."),
        )),
        None => Ok(()),
    }
}

/// `POST /me/checkMemberGroups` (user: checkMemberGroups, Microsoft Graph
/// v1.0): `{groupIds}` (at most 20, each a GUID) in, the ones the signed-in
/// user is a member of out, as `{value}`. Delegated tokens only for `/me`;
/// a malformed id or more than 20 fail the whole request.
async fn check_member_groups(State(graph): State<Arc<Graph>>, headers: HeaderMap, body: Bytes) -> Response {
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(caller) = token.and_then(|t| graph.verifier.verify(t, GRAPH_AUDIENCE)) else {
        return odata_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty or invalid.",
        );
    };
    if caller.is_app {
        return odata_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        );
    }
    let ids: Option<Vec<String>> = serde_json::from_slice::<Value>(&body).ok().and_then(|b| {
        b.as_object()
            .filter(|o| o.len() == 1)?
            .get("groupIds")?
            .as_array()?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    });
    let Some(ids) = ids.filter(|ids| ids.len() <= 20 && ids.iter().all(|id| uuid::Uuid::parse_str(id).is_ok())) else {
        return odata_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "groupIds must be a list of at most 20 group object ids.",
        );
    };
    let Some(user) = graph.directory.user(&caller.oid) else {
        return odata_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", "The user does not exist.");
    };
    *graph.member_checks.lock() += 1;
    let member: Vec<&String> = ids.iter().filter(|id| user.groups.iter().any(|g| g.eq_ignore_ascii_case(id))).collect();
    Json(json!({"@odata.context": graph.context("Collection(Edm.String)"), "value": member})).into_response()
}

/// `GET /users/{id | userPrincipalName}` (user: get, Microsoft Graph v1.0):
/// the user, `$select` honoured for `id`, `userPrincipalName`, `displayName`;
/// 404 `Request_ResourceNotFound` for someone the directory does not know.
async fn get_user(
    State(graph): State<Arc<Graph>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Err(refusal) = graph.authorized(&headers) {
        return refusal;
    }
    let Some(user) = graph.directory.users.iter().find(|u| u.oid == id || u.upn.eq_ignore_ascii_case(&id)) else {
        return odata_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    };
    let full = json!({"id": user.oid, "userPrincipalName": user.upn, "displayName": user.name});
    let params: HashMap<String, String> = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let body = match params.get("$select") {
        Some(select) => {
            let mut picked = Map::new();
            for field in select.split(',').map(str::trim) {
                match full.get(field) {
                    Some(value) => drop(picked.insert(field.to_string(), value.clone())),
                    None => {
                        return odata_error(
                            StatusCode::BAD_REQUEST,
                            "Request_BadRequest",
                            &format!("Could not find a property named '{field}' on type 'microsoft.graph.user'."),
                        )
                    }
                }
            }
            Value::Object(picked)
        }
        None => full,
    };
    Json(body).into_response()
}

async fn list_applications(State(graph): State<Arc<Graph>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    if let Err(refusal) = graph.authorized(&headers) {
        return refusal;
    }
    let filter = match app_id_filter(raw) {
        Ok(filter) => filter,
        Err(refusal) => return refusal,
    };
    let apps: Vec<Value> = graph
        .applications
        .lock()
        .values()
        .filter(|a| filter.as_ref().is_none_or(|id| a["appId"] == id.as_str()))
        .cloned()
        .collect();
    Json(json!({"@odata.context": graph.context("applications"), "value": apps})).into_response()
}

async fn create_application(State(graph): State<Arc<Graph>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = graph.authorized(&headers) {
        return refusal;
    }
    let map = match object(&body).and_then(|m| check_properties(&m).map(|_| m)) {
        Ok(map) => map,
        Err(refusal) => return refusal,
    };
    if map.get("displayName").and_then(Value::as_str).is_none_or(str::is_empty) {
        return odata_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "displayName is required.");
    }
    let id = graph.seed_application(&uuid::Uuid::new_v4().to_string(), "");
    let mut apps = graph.applications.lock();
    let app = apps.get_mut(&id).expect("just inserted");
    for (key, value) in map {
        app[key.as_str()] = value;
    }
    *graph.writes.lock() += 1;
    let mut answer = app.clone();
    answer["@odata.context"] = json!(graph.context("applications/$entity"));
    (StatusCode::CREATED, Json(answer)).into_response()
}

async fn get_application(State(graph): State<Arc<Graph>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(refusal) = graph.authorized(&headers) {
        return refusal;
    }
    match graph.applications.lock().get(&id) {
        Some(app) => Json(app.clone()).into_response(),
        None => odata_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        ),
    }
}

async fn update_application(
    State(graph): State<Arc<Graph>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = graph.authorized(&headers) {
        return refusal;
    }
    let map = match object(&body).and_then(|m| check_properties(&m).map(|_| m)) {
        Ok(map) => map,
        Err(refusal) => return refusal,
    };
    let mut apps = graph.applications.lock();
    let Some(app) = apps.get_mut(&id) else {
        return odata_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist."),
        );
    };
    if let Some(uris) = map.get("identifierUris").and_then(Value::as_array) {
        let app_id = app["appId"].as_str().unwrap_or_default().to_string();
        if let Some(bad) =
            uris.iter().filter_map(Value::as_str).find(|u| u.starts_with("api://") && !u.contains(&app_id))
        {
            return odata_error(
                StatusCode::BAD_REQUEST,
                "HostNameNotOnVerifiedDomain",
                &format!("Values of identifierUris property must use a verified domain or the app id: {bad}"),
            );
        }
    }
    let mut updated = app.clone();
    for (key, value) in map {
        updated[key.as_str()] = value;
    }
    if let Err(refusal) = check_api(&app["api"], &updated["api"]) {
        return refusal;
    }
    *app = updated;
    *graph.writes.lock() += 1;
    StatusCode::NO_CONTENT.into_response()
}

/// Entra's rules for an application's API: an enabled scope cannot be
/// removed (it must be disabled first), and a pre-authorised client can only
/// be given scopes the application has.
fn check_api(before: &Value, after: &Value) -> Result<(), Response> {
    let ids = |api: &Value| -> Vec<String> {
        api["oauth2PermissionScopes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["id"].as_str())
            .map(str::to_string)
            .collect()
    };
    let remaining = ids(after);
    let removed_enabled = before["oauth2PermissionScopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["isEnabled"] == true)
        .any(|s| s["id"].as_str().is_some_and(|id| !remaining.iter().any(|r| r == id)));
    if removed_enabled {
        return Err(odata_error(
            StatusCode::BAD_REQUEST,
            "CannotDeleteOrUpdateEnabledEntitlement",
            "Permission (scope or role) cannot be deleted or updated unless disabled first.",
        ));
    }
    let unknown = after["preAuthorizedApplications"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["delegatedPermissionIds"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .find(|id| !remaining.iter().any(|r| r == id));
    if let Some(unknown) = unknown {
        return Err(odata_error(
            StatusCode::BAD_REQUEST,
            "InvalidPreAuthorizedAppPermission",
            &format!("Property preAuthorizedApplications.delegatedPermissionIds has an invalid value: {unknown} is not a scope of this application."),
        ));
    }
    Ok(())
}

async fn add_password(
    State(graph): State<Arc<Graph>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = graph.authorized(&headers) {
        return refusal;
    }
    let display_name = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["passwordCredential"]["displayName"].as_str().map(str::to_string));
    let mut apps = graph.applications.lock();
    let Some(app) = apps.get_mut(&id) else {
        return odata_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist."),
        );
    };
    let key_id = uuid::Uuid::new_v4().to_string();
    let secret = format!("sbx~{}", uuid::Uuid::new_v4().simple());
    let credential = json!({"keyId": key_id, "displayName": display_name, "hint": &secret[..3], "endDateTime": (chrono::Utc::now() + chrono::Duration::days(180)).to_rfc3339()});
    if let Some(list) = app["passwordCredentials"].as_array_mut() {
        list.push(credential.clone());
    }
    *graph.writes.lock() += 1;
    let mut answer = credential;
    answer["secretText"] = json!(secret);
    answer["@odata.context"] = json!(graph.context("microsoft.graph.passwordCredential"));
    Json(answer).into_response()
}

async fn list_service_principals(
    State(graph): State<Arc<Graph>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Err(refusal) = graph.authorized(&headers) {
        return refusal;
    }
    let filter = match app_id_filter(raw) {
        Ok(filter) => filter,
        Err(refusal) => return refusal,
    };
    let principals: Vec<Value> = graph
        .service_principals
        .lock()
        .values()
        .filter(|p| filter.as_ref().is_none_or(|id| p["appId"] == id.as_str()))
        .cloned()
        .collect();
    Json(json!({"@odata.context": graph.context("servicePrincipals"), "value": principals})).into_response()
}

async fn create_service_principal(State(graph): State<Arc<Graph>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = graph.authorized(&headers) {
        return refusal;
    }
    let map = match object(&body) {
        Ok(map) => map,
        Err(refusal) => return refusal,
    };
    let Some(app_id) = map.get("appId").and_then(Value::as_str).map(str::to_string) else {
        return odata_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "appId is required.");
    };
    let Some(app) = graph.application_by_app_id(&app_id) else {
        return odata_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            &format!("The appId '{app_id}' of the service principal does not reference a valid application object."),
        );
    };
    let mut principals = graph.service_principals.lock();
    if principals.values().any(|p| p["appId"] == app_id.as_str()) {
        return odata_error(StatusCode::CONFLICT, "Request_MultipleObjectsWithSameKeyValue", "The service principal cannot be created, updated, or restored because the service principal name is already in use.");
    }
    let id = uuid::Uuid::new_v4().to_string();
    let principal =
        json!({"id": id, "appId": app_id, "displayName": app["displayName"], "servicePrincipalType": "Application"});
    principals.insert(id, principal.clone());
    *graph.writes.lock() += 1;
    (StatusCode::CREATED, Json(principal)).into_response()
}
