//! The Bot Framework token service stand-in: where a bot gets its users'
//! tokens for an OAuth connection.
//!
//! `GetSignInResource` (the sign-in link and the token-exchange resource for
//! Teams SSO), `exchange` (Teams' SSO token in, the connection's token out),
//! `GetToken` (a stored token, or one completed with a magic code) and
//! `SignOut`. Every call needs the bot's own token. The connection's tokens
//! are Entra tokens for the bot's API (`api://botid-{appId}`), which is what
//! the bot then trades on-behalf-of for Databricks and ARM.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine;
use parking_lot::{Mutex, RwLock};
use serde_json::{json, Value};

use crate::connector::BOTFRAMEWORK_AUDIENCE;
use crate::directory::User;
use crate::entra::Entra;

/// The OAuth connection the sandbox's Azure Bot resource has.
pub const SANDBOX_CONNECTION_NAME: &str = "drbot-sso";

#[derive(Clone)]
struct StoredToken {
    token: String,
    expired: bool,
}

#[derive(Default)]
struct Tokens {
    /// (Teams user id, connection) → the connection's token.
    signed_in: HashMap<(String, String), StoredToken>,
    /// (Teams user id, connection) → (magic code, token waiting for it).
    pending: HashMap<(String, String), (String, String)>,
    /// Users whose SSO exchange fails (e.g. consent missing on the connection).
    failing_exchange: HashSet<String>,
    exchanges: u64,
    /// Every magic code handed out, so tests can look for them in logs.
    codes: Vec<String>,
}

pub struct TokenService {
    entra: Arc<Entra>,
    bot_app_id: String,
    connection_name: String,
    base_url: RwLock<String>,
    tokens: Mutex<Tokens>,
}

impl TokenService {
    pub fn new(entra: Arc<Entra>, bot_app_id: &str) -> Arc<TokenService> {
        Arc::new(TokenService {
            entra,
            bot_app_id: bot_app_id.to_string(),
            connection_name: SANDBOX_CONNECTION_NAME.to_string(),
            base_url: RwLock::new(String::new()),
            tokens: Mutex::new(Tokens::default()),
        })
    }

    pub fn set_base_url(&self, base: &str) {
        *self.base_url.write() = base.trim_end_matches('/').to_string();
    }

    /// The user finished sign-in in the browser: the page shows this 6-digit code.
    pub fn complete_sign_in(&self, user: &User) -> String {
        let code = format!("{:06}", rand::random::<u32>() % 1_000_000);
        let token = self.connection_token(user);
        let mut tokens = self.tokens.lock();
        tokens.pending.insert((user.teams_id.clone(), self.connection_name.clone()), (code.clone(), token));
        tokens.codes.push(code.clone());
        code
    }

    /// Every magic code [`complete_sign_in`](Self::complete_sign_in) handed out.
    pub fn magic_codes(&self) -> Vec<String> {
        self.tokens.lock().codes.clone()
    }

    /// The stored token of this user is past its expiry.
    pub fn expire_token(&self, user: &User) {
        if let Some(stored) =
            self.tokens.lock().signed_in.get_mut(&(user.teams_id.clone(), self.connection_name.clone()))
        {
            stored.expired = true;
        }
    }

    /// Exchanges for this user fail as if the connection lacked consent.
    pub fn fail_exchanges_for(&self, user: &User) {
        self.tokens.lock().failing_exchange.insert(user.teams_id.clone());
    }

    /// Whether the user has a usable token.
    pub fn is_signed_in(&self, user: &User) -> bool {
        self.tokens
            .lock()
            .signed_in
            .get(&(user.teams_id.clone(), self.connection_name.clone()))
            .is_some_and(|t| !t.expired)
    }

    /// How many exchanges succeeded.
    pub fn exchange_count(&self) -> u64 {
        self.tokens.lock().exchanges
    }

    fn connection_token(&self, user: &User) -> String {
        self.entra.user_token(user, &self.bot_app_id, &format!("api://botid-{}", self.bot_app_id), "access_as_user")
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/api/botsignin/GetSignInResource", get(sign_in_resource))
            .route("/api/usertoken/GetToken", get(get_token))
            .route("/api/usertoken/exchange", post(exchange))
            .route("/api/usertoken/SignOut", delete(sign_out))
            .route("/_sandbox/signin", get(sign_in_page))
            .with_state(self.clone())
    }

    fn bot_authenticated(&self, headers: &HeaderMap) -> bool {
        let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        token
            .and_then(|t| self.entra.verify(t, BOTFRAMEWORK_AUDIENCE))
            .is_some_and(|caller| caller.app_id == self.bot_app_id)
    }

    fn token_response(&self, channel_id: &str, token: &str) -> Value {
        json!({
            "channelId": channel_id,
            "connectionName": self.connection_name,
            "token": token,
            "expiration": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
        })
    }
}

fn params(query: Option<String>) -> HashMap<String, String> {
    serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default()
}

fn service_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

/// Checks the bot's token and the connection name; returns (user id, channel id).
fn checked(
    service: &TokenService,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<(String, String), Response> {
    if !service.bot_authenticated(headers) {
        return Err(StatusCode::UNAUTHORIZED.into_response());
    }
    if params.get("connectionName") != Some(&service.connection_name) {
        return Err(service_error(StatusCode::BAD_REQUEST, "BadArgument", "Unknown connection name."));
    }
    match (params.get("userId"), params.get("channelId")) {
        (Some(user), Some(channel)) if !user.is_empty() && !channel.is_empty() => Ok((user.clone(), channel.clone())),
        _ => Err(service_error(StatusCode::BAD_REQUEST, "BadArgument", "userId and channelId are required.")),
    }
}

async fn sign_in_resource(
    State(service): State<Arc<TokenService>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !service.bot_authenticated(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let params = params(query);
    let state = params.get("state").cloned().unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&state)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    let Some(decoded) = decoded else {
        return service_error(StatusCode::BAD_REQUEST, "BadArgument", "state must be base64 JSON.");
    };
    if decoded["connectionName"].as_str() != Some(service.connection_name.as_str()) {
        return service_error(StatusCode::BAD_REQUEST, "BadArgument", "Unknown connection name.");
    }
    let base = service.base_url.read().clone();
    let state_param: String = url::form_urlencoded::byte_serialize(state.as_bytes()).collect();
    Json(json!({
        "signInLink": format!("{base}/_sandbox/signin?state={state_param}"),
        "tokenExchangeResource": {
            "id": uuid::Uuid::new_v4().to_string(),
            "uri": format!("api://botid-{}", service.bot_app_id),
            "providerId": "8c7b7c9e-0c7a-4f5e-9e8a-5c3c0d6a9f11",
        },
        "tokenPostResource": {"sasUrl": null},
    }))
    .into_response()
}

async fn get_token(
    State(service): State<Arc<TokenService>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = params(query);
    let (user_id, channel_id) = match checked(&service, &headers, &params) {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let key = (user_id, service.connection_name.clone());
    let mut tokens = service.tokens.lock();
    if let Some(code) = params.get("code").filter(|c| !c.is_empty()) {
        match tokens.pending.get(&key) {
            Some((expected, token)) if expected == code => {
                let token = token.clone();
                tokens.pending.remove(&key);
                tokens.signed_in.insert(key, StoredToken { token: token.clone(), expired: false });
                return Json(service.token_response(&channel_id, &token)).into_response();
            }
            _ => return StatusCode::NOT_FOUND.into_response(),
        }
    }
    match tokens.signed_in.get(&key) {
        Some(stored) if !stored.expired => Json(service.token_response(&channel_id, &stored.token)).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn exchange(
    State(service): State<Arc<TokenService>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = params(query);
    let (user_id, channel_id) = match checked(&service, &headers, &params) {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(sso_token) = body["token"].as_str() else {
        return service_error(StatusCode::BAD_REQUEST, "BadArgument", "An exchangeable token is required.");
    };
    let Some(user) = service.entra.directory.user(&user_id).cloned() else {
        return service_error(StatusCode::NOT_FOUND, "UserNotFound", "No such user.");
    };
    let audience = format!("api://botid-{}", service.bot_app_id);
    let caller = service.entra.verify(sso_token, &audience);
    let failing = service.tokens.lock().failing_exchange.contains(&user.teams_id);
    match caller {
        Some(caller) if caller.oid == user.oid && !failing => {
            let token = service.connection_token(&user);
            let mut tokens = service.tokens.lock();
            tokens.signed_in.insert(
                (user_id, service.connection_name.clone()),
                StoredToken { token: token.clone(), expired: false },
            );
            tokens.exchanges += 1;
            Json(service.token_response(&channel_id, &token)).into_response()
        }
        _ => service_error(StatusCode::BAD_REQUEST, "TokenExchangeFailed", "The token could not be exchanged."),
    }
}

async fn sign_out(State(service): State<Arc<TokenService>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let params = params(query);
    let (user_id, _) = match checked(&service, &headers, &params) {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let mut tokens = service.tokens.lock();
    let key = (user_id, service.connection_name.clone());
    tokens.signed_in.remove(&key);
    tokens.pending.remove(&key);
    StatusCode::OK.into_response()
}

async fn sign_in_page() -> Response {
    (
        StatusCode::OK,
        [("content-type", "text/html; charset=utf-8")],
        "<!doctype html><title>Sandbox sign-in</title><p>This is the sandbox's sign-in page. Tests complete sign-in with TokenService::complete_sign_in, which returns the magic code a person would type.</p>",
    )
        .into_response()
}
