//! Entra ID tokens for the person who asked: the OAuth 2.0 on-behalf-of flow.
//!
//! The bot holds a token for its own API per signed-in user (from Teams SSO
//! through the token service). For each Databricks or ARM call it trades that
//! assertion for a token for the resource, as that user, so Unity Catalog and
//! Azure RBAC judge the call. Tokens are cached per user and scope in memory
//! only, renewed five minutes before they expire, and never logged or stored.
//!
//! The `oauth2` crate does not implement on-behalf-of (an Entra extension of
//! the JWT bearer grant, RFC 7523, with `requested_token_use=on_behalf_of`),
//! so the request is built here; its answer is the crate's standard token
//! response. The operator's own sign-in, the device authorization grant the
//! crate does implement, is [`device_code`].

pub mod app;
pub mod credential;
pub mod device_code;
pub mod directory;
pub mod groups;

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine;
use oauth2::TokenResponse;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::Value;

use crate::config::{Config, Secret};

/// Azure Databricks, for every workspace.
pub const DATABRICKS_SCOPE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default";
/// Microsoft Graph (the signed-in person's own group membership).
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// Azure Resource Manager.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// The signed-in user's token for the bot's own API, and who it names.
#[derive(Clone)]
pub struct UserAssertion {
    token: Secret,
    pub oid: String,
    pub upn: String,
    pub name: String,
    pub tenant_id: String,
    /// Entra group object ids (the `groups` claim), for drbot's own roles.
    pub groups: Vec<String>,
    /// The token has too many groups to carry them (`_claim_names.groups`,
    /// or `hasgroups`): membership must be asked of Microsoft Graph.
    pub groups_overage: bool,
}

impl fmt::Debug for UserAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserAssertion").field("oid", &self.oid).field("upn", &self.upn).finish_non_exhaustive()
    }
}

impl UserAssertion {
    /// Reads the identity claims of a token the token service gave us. The
    /// signature is Entra's to check when we present it on-behalf-of; here we
    /// only need to know whose it is.
    pub fn from_token(token: &str) -> Option<UserAssertion> {
        let payload = token.split('.').nth(1)?;
        let claims: Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
        Some(UserAssertion {
            oid: text("oid")?,
            upn: text("upn").or_else(|| text("preferred_username")).unwrap_or_default(),
            name: text("name").unwrap_or_default(),
            tenant_id: text("tid").unwrap_or_default(),
            groups: claims
                .get("groups")
                .and_then(Value::as_array)
                .map(|groups| groups.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            groups_overage: claims.pointer("/_claim_names/groups").is_some()
                || claims.get("hasgroups").and_then(Value::as_bool) == Some(true),
            token: Secret::new(token),
        })
    }
}

/// Who the activity says is speaking: its tenant and the sender's Entra
/// object id. Built once per turn from the (authenticated) activity, before
/// any token is used, and compared with the sign-in token's own claims.
#[derive(Clone, Copy, Debug)]
pub struct ClaimedIdentity<'a> {
    pub tenant_id: Option<&'a str>,
    pub oid: Option<&'a str>,
}

/// Why a sign-in token may not act for this turn.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BindError {
    #[error("the activity names no Entra user (from.aadObjectId)")]
    NoObjectId,
    #[error("the activity names no tenant")]
    NoTenant,
    #[error("the sign-in token belongs to another user than the activity's sender")]
    OtherUser,
    #[error("the sign-in token belongs to another tenant than the activity's")]
    OtherTenant,
}

impl UserAssertion {
    /// This assertion, if it is the sender's own: `oid` equal to the
    /// activity's `from.aadObjectId` and `tid` to its tenant. Only a bound
    /// assertion reaches on-behalf-of, so a token can never act for a name
    /// taken from the body.
    pub fn bind(self, claimed: &ClaimedIdentity<'_>) -> Result<UserAssertion, BindError> {
        let oid = claimed.oid.filter(|o| !o.is_empty()).ok_or(BindError::NoObjectId)?;
        let tenant = claimed.tenant_id.filter(|t| !t.is_empty()).ok_or(BindError::NoTenant)?;
        if !self.oid.eq_ignore_ascii_case(oid) {
            return Err(BindError::OtherUser);
        }
        if !self.tenant_id.eq_ignore_ascii_case(tenant) {
            return Err(BindError::OtherTenant);
        }
        Ok(self)
    }
}

/// An access token for one resource.
#[derive(Clone)]
pub struct AccessToken(Secret);

impl AccessToken {
    /// A token obtained elsewhere (an operator's `az account get-access-token`).
    pub fn from_secret(secret: Secret) -> AccessToken {
        AccessToken(secret)
    }

    /// A token obtained elsewhere (the CLI's `AZURE_ACCESS_TOKEN`, a test's).
    pub fn new(token: impl Into<String>) -> AccessToken {
        AccessToken(Secret::new(token))
    }

    pub fn secret(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<token>)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    /// AADSTS65001: nobody consented to this resource for this user.
    #[error("consent required for {scope}")]
    ConsentRequired { scope: String },
    /// The assertion expired or the grant was revoked: the user must sign in again.
    #[error("sign-in required")]
    SignInRequired,
    #[error("Entra ID: {0}")]
    Unavailable(String),
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_codes: Vec<u64>,
    #[serde(default)]
    suberror: String,
}

/// The on-behalf-of client with its cache.
pub struct OnBehalfOf {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: Option<Secret>,
    cache: Mutex<TokenCache>,
}

/// (tenant, object id, scope) of a bound assertion, lower-cased: never a name from the body.
type CacheKey = (String, String, String);

impl OnBehalfOf {
    pub fn new(config: &Config, http: reqwest::Client) -> OnBehalfOf {
        OnBehalfOf {
            http,
            token_url: format!(
                "{}/{}/oauth2/v2.0/token",
                config.endpoints.login_authority.trim_end_matches('/'),
                config.bot.tenant_id.as_deref().unwrap_or("common")
            ),
            client_id: config.bot.app_id.clone(),
            client_secret: config.bot.app_password.clone(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A token for `scope` as the user, from the cache unless `fresh`.
    pub async fn token(&self, user: &UserAssertion, scope: &str, fresh: bool) -> Result<AccessToken, IdentityError> {
        let key = (user.tenant_id.to_ascii_lowercase(), user.oid.to_ascii_lowercase(), scope.to_string());
        if !fresh {
            if let Some((token, expires)) = self.cache.lock().get(&key) {
                if Instant::now() + RENEW_BEFORE_EXPIRY < *expires {
                    return Ok(token.clone());
                }
            }
        }
        let secret = self.client_secret.as_ref().map(Secret::expose).unwrap_or_default();
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", secret),
            ("assertion", user.token.expose()),
            ("scope", scope),
            ("requested_token_use", "on_behalf_of"),
        ];
        let response = self
            .http
            .post(&self.token_url)
            .form(&form)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| IdentityError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            let body: oauth2::basic::BasicTokenResponse =
                response.json().await.map_err(|e| IdentityError::Unavailable(e.without_url().to_string()))?;
            let token = AccessToken(Secret::new(body.access_token().secret().as_str()));
            // Entra always says; without it, the token is used once and asked again.
            let lifetime = body.expires_in().unwrap_or(Duration::ZERO);
            let mut cache = self.cache.lock();
            if cache.len() >= MAX_CACHED_TOKENS {
                forget_expired(&mut cache);
            }
            if cache.len() < MAX_CACHED_TOKENS {
                cache.insert(key, (token.clone(), Instant::now() + lifetime));
            }
            return Ok(token);
        }
        let body: ErrorBody = response.json().await.unwrap_or_default();
        Err(classify(status.as_u16(), &body, scope))
    }

    /// Drops the tokens too close to expiry to be handed out (the periodic
    /// sweep); returns how many are left.
    pub fn forget_expired(&self) -> usize {
        let mut cache = self.cache.lock();
        forget_expired(&mut cache);
        cache.len()
    }

    /// Forgets every cached token of the user (sign-out).
    pub fn forget(&self, user: &UserAssertion) {
        let (tenant, oid) = (user.tenant_id.to_ascii_lowercase(), user.oid.to_ascii_lowercase());
        self.cache.lock().retain(|(t, o, _), _| *t != tenant || *o != oid);
    }
}

/// At most this many user tokens are cached (an hour's worth of distinct
/// people and scopes for a large tenant); beyond it a token is used once and
/// not kept, so the cache cannot grow without bound.
const MAX_CACHED_TOKENS: usize = 10_000;

type TokenCache = HashMap<CacheKey, (AccessToken, Instant)>;

fn forget_expired(cache: &mut TokenCache) {
    let now = Instant::now();
    cache.retain(|_, (_, expires)| now + RENEW_BEFORE_EXPIRY < *expires);
    if cache.capacity() > 64 && cache.len() < cache.capacity() / 4 {
        cache.shrink_to_fit();
    }
}

fn classify(status: u16, body: &ErrorBody, scope: &str) -> IdentityError {
    let has = |code: u64| body.error_codes.contains(&code);
    if has(65001) || body.suberror == "consent_required" {
        return IdentityError::ConsentRequired { scope: scope.to_string() };
    }
    // Expired assertion, revoked grant, bad or foreign assertion: a new sign-in fixes all of them.
    if body.error == "invalid_grant" || has(500133) || has(50173) || has(50013) || has(50034) {
        return IdentityError::SignInRequired;
    }
    IdentityError::Unavailable(format!("HTTP {status} {}", body.error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_errors_become_what_the_user_must_do() {
        let consent =
            ErrorBody { error: "invalid_grant".into(), error_codes: vec![65001], suberror: "consent_required".into() };
        assert_eq!(classify(400, &consent, ARM_SCOPE), IdentityError::ConsentRequired { scope: ARM_SCOPE.into() });
        let revoked = ErrorBody { error: "invalid_grant".into(), error_codes: vec![50173], suberror: String::new() };
        assert_eq!(classify(400, &revoked, ARM_SCOPE), IdentityError::SignInRequired);
        let down = ErrorBody { error: "temporarily_unavailable".into(), ..Default::default() };
        assert!(matches!(classify(503, &down, ARM_SCOPE), IdentityError::Unavailable(_)));
    }

    #[test]
    fn an_assertion_binds_only_to_its_own_sender_and_tenant() {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"oid":"O1","tid":"T1"}"#);
        let token = format!("e30.{claims}.s");
        let user = || UserAssertion::from_token(&token).unwrap();
        let claimed = |tenant_id, oid| ClaimedIdentity { tenant_id, oid };
        assert!(user().bind(&claimed(Some("t1"), Some("o1"))).is_ok(), "GUIDs compare without case");
        assert_eq!(user().bind(&claimed(Some("t1"), Some("o2"))).unwrap_err(), BindError::OtherUser);
        assert_eq!(user().bind(&claimed(Some("t2"), Some("o1"))).unwrap_err(), BindError::OtherTenant);
        assert_eq!(user().bind(&claimed(Some("t1"), None)).unwrap_err(), BindError::NoObjectId);
        assert_eq!(user().bind(&claimed(None, Some("o1"))).unwrap_err(), BindError::NoTenant);
    }

    #[test]
    fn assertions_print_no_token() {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"oid":"o","upn":"a@b","tid":"t"}"#);
        let assertion = UserAssertion::from_token(&format!("e30.{claims}.signature-bytes")).unwrap();
        assert_eq!(assertion.upn, "a@b");
        assert!(assertion.groups.is_empty());
        let with_groups =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"oid":"o","groups":["g1","g2"]}"#);
        assert_eq!(UserAssertion::from_token(&format!("e30.{with_groups}.s")).unwrap().groups, vec!["g1", "g2"]);
        assert!(!assertion.groups_overage);
        let overage = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"oid":"o","_claim_names":{"groups":"src1"},"_claim_sources":{"src1":{"endpoint":"x"}}}"#);
        assert!(UserAssertion::from_token(&format!("e30.{overage}.s")).unwrap().groups_overage);
        let hasgroups = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"oid":"o","hasgroups":true}"#);
        assert!(UserAssertion::from_token(&format!("e30.{hasgroups}.s")).unwrap().groups_overage);
        assert!(!format!("{assertion:?}").contains("signature-bytes"));
        assert!(UserAssertion::from_token("garbage").is_none());
    }
}
