//! Who is calling a simulated service: the identity in the bearer token.
//!
//! Every simulated resource server (Databricks, ARM, Graph, the connector)
//! takes an [`AccessTokenVerifier`] and learns the caller from it, so the
//! services never parse tokens themselves and Entra ID stays the one issuer.

use std::sync::Arc;

use serde_json::Value;

use crate::keys::KeySet;

/// The identity a verified access token carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Entra object id of the user or service principal (`oid`).
    pub oid: String,
    /// User principal name (`upn`, else `preferred_username`); for an app, its app id.
    pub upn: String,
    /// Display name (`name`), empty for apps.
    pub name: String,
    /// Tenant id (`tid`).
    pub tenant: String,
    /// The client application the token was issued to (`appid` or `azp`).
    pub app_id: String,
    /// Group object ids (`groups`).
    pub groups: Vec<String>,
    /// Whether the token was issued to an application rather than a user.
    pub is_app: bool,
}

impl Caller {
    /// Reads the identity claims of a verified token.
    pub fn from_claims(claims: &Value) -> Option<Caller> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
        let oid = text("oid")?;
        let app_id = text("azp").or_else(|| text("appid")).unwrap_or_default();
        let upn = text("upn").or_else(|| text("preferred_username"));
        Some(Caller {
            is_app: upn.is_none(),
            upn: upn.unwrap_or_else(|| app_id.clone()),
            name: text("name").unwrap_or_default(),
            tenant: text("tid").unwrap_or_default(),
            app_id,
            groups: claims
                .get("groups")
                .and_then(Value::as_array)
                .map(|g| g.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            oid,
        })
    }
}

/// Checks a bearer token for one resource and says who sent it.
pub trait AccessTokenVerifier: Send + Sync {
    /// `None` for anything not valid for `audience`: bad signature, expired,
    /// wrong audience or issuer, missing identity claims.
    fn verify(&self, bearer_token: &str, audience: &str) -> Option<Caller>;
}

/// A verifier backed by an issuer's key set, for services and tests alike.
pub struct KeySetVerifier {
    pub keys: Arc<KeySet>,
    pub issuers: Vec<String>,
}

impl AccessTokenVerifier for KeySetVerifier {
    fn verify(&self, bearer_token: &str, audience: &str) -> Option<Caller> {
        let issuers: Vec<&str> = self.issuers.iter().map(String::as_str).collect();
        let claims = self.keys.verify(bearer_token, &issuers, &[audience]).ok()?;
        Caller::from_claims(&claims)
    }
}
