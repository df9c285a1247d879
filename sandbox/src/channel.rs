//! The Bot Framework channel stand-in: the issuer of the tokens Teams puts on
//! every request it sends to a bot.
//!
//! Tokens carry `iss = https://api.botframework.com`, `aud` = the bot's app id
//! and the `serviceurl` the bot must reply to, signed with keys endorsed for
//! `msteams`. [`ChannelToken`] lets tests change any part of a token, which is
//! how the bot's forged-token tests are written.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use parking_lot::RwLock;
use serde_json::{json, Map, Value};

use crate::keys::{KeySet, SigningKey};

/// The issuer of Bot Framework channel tokens, exactly as the real service sets it.
pub const CHANNEL_ISSUER: &str = "https://api.botframework.com";
/// The channel the sandbox plays.
pub const CHANNEL_ID: &str = "msteams";

/// The channel's keys and metadata.
pub struct Channel {
    pub keys: Arc<KeySet>,
    base_url: RwLock<String>,
}

impl Channel {
    pub fn new() -> Arc<Channel> {
        Arc::new(Channel {
            keys: Arc::new(KeySet::new("botframework", vec![CHANNEL_ID.to_string()])),
            base_url: RwLock::new(String::new()),
        })
    }

    pub fn set_base_url(&self, base: &str) {
        *self.base_url.write() = base.trim_end_matches('/').to_string();
    }

    /// `{botframework}/v1/.well-known/openidconfiguration`: the bot's `channel_openid_metadata`.
    pub fn openid_metadata_url(&self) -> String {
        format!("{}/v1/.well-known/openidconfiguration", self.base_url.read())
    }

    /// A valid token for a request to the bot `app_id` whose replies go to `service_url`.
    pub fn token(&self, app_id: &str, service_url: &str) -> String {
        self.token_builder(app_id, service_url).sign()
    }

    /// A token to tamper with before signing.
    pub fn token_builder(&self, app_id: &str, service_url: &str) -> ChannelToken {
        let now = chrono::Utc::now().timestamp();
        let mut claims = Map::new();
        claims.insert("serviceurl".into(), json!(service_url));
        claims.insert("nbf".into(), json!(now - 5));
        claims.insert("exp".into(), json!(now + 3600));
        claims.insert("iss".into(), json!(CHANNEL_ISSUER));
        claims.insert("aud".into(), json!(app_id));
        ChannelToken { claims, algorithm: Algorithm::RS256, key: self.keys.current(), kid: None }
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/v1/.well-known/openidconfiguration", get(openid_configuration))
            .route("/v1/.well-known/keys", get(keys))
            .with_state(self.clone())
    }
}

async fn openid_configuration(State(channel): State<Arc<Channel>>) -> Json<Value> {
    let base = channel.base_url.read().clone();
    Json(json!({
        "issuer": CHANNEL_ISSUER,
        "authorization_endpoint": "https://invalid.botframework.com",
        "jwks_uri": format!("{base}/v1/.well-known/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    }))
}

async fn keys(State(channel): State<Arc<Channel>>) -> Json<Value> {
    Json(channel.keys.jwks())
}

/// A channel token before signing: claims, algorithm and key can all be changed.
pub struct ChannelToken {
    pub claims: Map<String, Value>,
    pub algorithm: Algorithm,
    pub key: Arc<SigningKey>,
    /// A `kid` to put in the header instead of the key's own.
    pub kid: Option<String>,
}

impl ChannelToken {
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.to_string(), value);
        self
    }

    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Signs with a key that may not be published (a forgery).
    pub fn key(mut self, key: Arc<SigningKey>) -> Self {
        self.key = key;
        self
    }

    pub fn kid(mut self, kid: &str) -> Self {
        self.kid = Some(kid.to_string());
        self
    }

    pub fn sign(self) -> String {
        let token = self.key.sign(self.algorithm, &Value::Object(self.claims));
        match self.kid {
            None => token,
            Some(kid) => replace_header(&token, |header| header["kid"] = json!(kid)),
        }
    }

    /// An unsigned token with `alg: none`.
    pub fn unsigned(self) -> String {
        let header = json!({"alg": "none", "typ": "JWT", "kid": self.key.kid});
        format!("{}.{}.", encode_part(&header), encode_part(&Value::Object(self.claims)))
    }

    /// HS256 with the signing key's public modulus as the HMAC secret: the
    /// classic key-confusion forgery.
    pub fn hs256_with_public_key(self) -> String {
        let header =
            jsonwebtoken::Header { alg: Algorithm::HS256, kid: Some(self.key.kid.clone()), ..Default::default() };
        let secret = jsonwebtoken::EncodingKey::from_secret(self.key.modulus_b64().as_bytes());
        jsonwebtoken::encode(&header, &Value::Object(self.claims), &secret).expect("HMAC signing")
    }
}

/// Rewrites the header of a signed token without re-signing it.
pub fn replace_header(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut parts = token.splitn(3, '.');
    let (header, payload, signature) =
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut header: Value = decode_part(header).unwrap_or_else(|| json!({}));
    edit(&mut header);
    format!("{}.{payload}.{signature}", encode_part(&header))
}

/// Rewrites the payload of a signed token without re-signing it.
pub fn replace_payload(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut parts = token.splitn(3, '.');
    let (header, payload, signature) =
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut payload: Value = decode_part(payload).unwrap_or_else(|| json!({}));
    edit(&mut payload);
    format!("{header}.{}.{signature}", encode_part(&payload))
}

fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

fn decode_part(part: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}
