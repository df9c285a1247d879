//! Azure Bot resources through ARM (`Microsoft.BotService`): the bot
//! (`botServices/{bot}`, PUT and GET) and its OAuth connection settings
//! (`botServices/{bot}/connections/{name}`, PUT, GET and `listWithSecrets`),
//! which is what `drbot setup` writes for Teams SSO.
//!
//! As in Azure: a connection needs its bot to exist (404 otherwise), GET
//! never returns the client secret (`clientSecret: null`), only the
//! `listWithSecrets` action does, and PUT answers 201 on create, 200 on
//! update. Writes need `dr-operators` or the app itself, like the rest of
//! the ARM stand-in.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::arm::{arm_error, Arm};

/// API versions of Microsoft.BotService the stand-in speaks.
pub const API_VERSIONS: &[&str] = &["2021-03-01", "2021-05-01-preview", "2022-09-15", "2023-09-15-preview"];

/// The service provider id of "Azure Active Directory v2" in the Bot Service.
pub const AAD_V2_PROVIDER_ID: &str = "30dd229c-58e3-4a48-bdfd-91ec48eb906c";

pub(crate) fn routes() -> Router<Arc<Arm>> {
    let mut router = Router::new();
    for rg in ["resourcegroups", "resourceGroups"] {
        let bot = format!("/subscriptions/{{sub}}/{rg}/{{rg}}/providers/Microsoft.BotService/botServices/{{bot}}");
        router = router
            .route(&bot, get(get_bot).put(put_bot))
            .route(&format!("{bot}/connections/{{name}}"), get(get_connection).put(put_connection))
            .route(&format!("{bot}/connections/{{name}}/listWithSecrets"), post(list_with_secrets));
    }
    router
}

fn bot_id(arm: &Arm, rg: &str, bot: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.BotService/botServices/{bot}",
        arm.subscription_id
    )
}

fn connection_id(arm: &Arm, rg: &str, bot: &str, name: &str) -> String {
    format!("{}/connections/{name}", bot_id(arm, rg, bot))
}

/// The stored body of a directly written resource (ARM ids ignore case).
fn stored(arm: &Arm, id: &str) -> Option<Value> {
    arm.state.lock().direct.iter().find(|(k, _)| k.eq_ignore_ascii_case(id)).map(|(_, v)| v.clone())
}

fn store(arm: &Arm, id: &str, body: Value) -> bool {
    let mut state = arm.state.lock();
    let existing = state.direct.keys().find(|k| k.eq_ignore_ascii_case(id)).cloned();
    let created = existing.is_none();
    state.direct.insert(existing.unwrap_or_else(|| id.to_string()), body);
    state.writes.push(format!("PUT {id}"));
    created
}

fn not_found(kind: &str, name: &str, rg: &str) -> Response {
    arm_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("The Resource '{kind}/{name}' under resource group '{rg}' was not found."),
    )
}

fn invalid(message: &str) -> Response {
    arm_error(StatusCode::BAD_REQUEST, "InvalidRequestContent", message)
}

fn valid_name(name: &str) -> bool {
    (2..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

async fn put_bot(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, rg, bot)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let id = bot_id(&arm, &rg, &bot);
    if let Err(refusal) = arm.writer_for(&headers, &query, API_VERSIONS, "Microsoft.BotService/botServices/write", &id)
    {
        return refusal;
    }
    if !valid_name(&bot) {
        return arm_error(StatusCode::BAD_REQUEST, "InvalidResourceName", &format!("The bot name '{bot}' is invalid."));
    }
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(&body) else {
        return invalid("The request content was invalid and could not be deserialized.");
    };
    if request.get("location").and_then(Value::as_str).is_none() {
        return invalid("The 'location' property is required.");
    }
    if request.get("properties").and_then(|p| p.get("msaAppId")).and_then(Value::as_str).is_none() {
        return invalid("The 'properties.msaAppId' property is required.");
    }
    let mut resource = json!({
        "id": id, "name": bot, "type": "Microsoft.BotService/botServices",
        "location": request["location"], "kind": request.get("kind").cloned().unwrap_or(json!("azurebot")),
        "sku": request.get("sku").cloned().unwrap_or(json!({"name": "F0"})),
        "properties": request["properties"],
    });
    resource["properties"]["provisioningState"] = json!("Succeeded");
    let created = store(&arm, &id, resource.clone());
    (if created { StatusCode::CREATED } else { StatusCode::OK }, Json(resource)).into_response()
}

async fn get_bot(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, rg, bot)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refusal) = arm.caller_for(&headers, &query, API_VERSIONS) {
        return refusal;
    }
    match stored(&arm, &bot_id(&arm, &rg, &bot)) {
        Some(resource) => Json(resource).into_response(),
        None => not_found("Microsoft.BotService/botServices", &bot, &rg),
    }
}

fn bot_exists(arm: &Arm, rg: &str, bot: &str) -> bool {
    let id = bot_id(arm, rg, bot);
    stored(arm, &id).is_some() || arm.deployed(&id)
}

/// A connection as GET shows it: the secret withheld, as Azure does.
fn without_secret(mut connection: Value) -> Value {
    connection["properties"]["clientSecret"] = Value::Null;
    connection
}

async fn put_connection(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, rg, bot, name)): Path<(String, String, String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let id = connection_id(&arm, &rg, &bot, &name);
    let action = "Microsoft.BotService/botServices/connections/write";
    if let Err(refusal) = arm.writer_for(&headers, &query, API_VERSIONS, action, &id) {
        return refusal;
    }
    if !bot_exists(&arm, &rg, &bot) {
        return not_found("Microsoft.BotService/botServices", &bot, &rg);
    }
    if !valid_name(&name) {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidResourceName",
            &format!("The connection name '{name}' is invalid."),
        );
    }
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(&body) else {
        return invalid("The request content was invalid and could not be deserialized.");
    };
    let properties = request.get("properties").cloned().unwrap_or(Value::Null);
    for required in ["serviceProviderId", "clientId"] {
        if properties.get(required).and_then(Value::as_str).is_none_or(str::is_empty) {
            return invalid(&format!("The 'properties.{required}' property is required."));
        }
    }
    let parameters = properties.get("parameters").cloned().unwrap_or(json!([]));
    let Some(parameters) = parameters.as_array() else {
        return invalid("'properties.parameters' must be an array of {key, value}.");
    };
    if parameters.iter().any(|p| p.get("key").and_then(Value::as_str).is_none()) {
        return invalid("Every entry of 'properties.parameters' needs a 'key'.");
    }
    if properties["serviceProviderId"] == AAD_V2_PROVIDER_ID
        && !parameters.iter().any(|p| p["key"].as_str().is_some_and(|k| k.eq_ignore_ascii_case("tenantID")))
    {
        return invalid("The service provider 'Azure Active Directory v2' needs the parameter 'tenantID'.");
    }
    // An update without a secret keeps the one stored, as the portal's save does.
    let previous = stored(&arm, &id);
    let secret = properties
        .get("clientSecret")
        .filter(|s| s.as_str().is_some_and(|s| !s.is_empty()))
        .cloned()
        .or_else(|| previous.as_ref().map(|p| p["properties"]["clientSecret"].clone()))
        .unwrap_or(Value::Null);
    let mut resource = json!({
        "id": id, "name": format!("{bot}/{name}"), "type": "Microsoft.BotService/botServices/connections",
        "location": request.get("location").cloned().unwrap_or(json!("global")),
        "etag": format!("\"{}\"", uuid::Uuid::new_v4().simple()),
        "properties": properties,
    });
    resource["properties"]["clientSecret"] = secret;
    resource["properties"]["name"] = json!(name);
    resource["properties"]["settingId"] = previous
        .as_ref()
        .map(|p| p["properties"]["settingId"].clone())
        .unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string()));
    resource["properties"]["provisioningState"] = json!("Succeeded");
    let created = store(&arm, &id, resource.clone());
    (if created { StatusCode::CREATED } else { StatusCode::OK }, Json(without_secret(resource))).into_response()
}

async fn get_connection(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, rg, bot, name)): Path<(String, String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refusal) = arm.caller_for(&headers, &query, API_VERSIONS) {
        return refusal;
    }
    match stored(&arm, &connection_id(&arm, &rg, &bot, &name)) {
        Some(connection) => Json(without_secret(connection)).into_response(),
        None => not_found("Microsoft.BotService/botServices/connections", &format!("{bot}/{name}"), &rg),
    }
}

/// `POST …/connections/{name}/listWithSecrets`: the connection with its secret.
async fn list_with_secrets(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, rg, bot, name)): Path<(String, String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let id = connection_id(&arm, &rg, &bot, &name);
    let action = "Microsoft.BotService/botServices/connections/listWithSecrets/action";
    if let Err(refusal) = arm.writer_for(&headers, &query, API_VERSIONS, action, &id) {
        return refusal;
    }
    match stored(&arm, &id) {
        Some(connection) => Json(connection).into_response(),
        None => not_found("Microsoft.BotService/botServices/connections", &format!("{bot}/{name}"), &rg),
    }
}

impl Arm {
    /// An Azure Bot as the subscription already has it (the bot's own resource).
    pub fn seed_bot_service(&self, resource_group: &str, bot: &str, msa_app_id: &str) {
        let id = bot_id(self, resource_group, bot);
        let resource = json!({"id": id, "name": bot, "type": "Microsoft.BotService/botServices", "location": "global",
            "kind": "azurebot", "sku": {"name": "S1"},
            "properties": {"displayName": bot, "msaAppId": msa_app_id, "msaAppType": "SingleTenant", "provisioningState": "Succeeded"}});
        self.state.lock().direct.insert(id, resource);
    }

    /// A bot's OAuth connection as stored, secret included (for tests).
    pub fn bot_connection(&self, resource_group: &str, bot: &str, name: &str) -> Option<Value> {
        stored(self, &connection_id(self, resource_group, bot, name))
    }
}
