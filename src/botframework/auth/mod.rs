//! Inbound authentication: is this request really from the channel?
//!
//! The Bot Framework's rules
//! (<https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication>),
//! and a few stricter ones (docs/SECURITY.md says which and why): RS256/384/512 only;
//! keys from OpenID metadata ([`keys`]), signing keys only; the issuer picks
//! the key source; audience = our app id; `exp`/`nbf` with 300 s skew; the
//! `serviceurl` claim must match the activity, and its host must be one the
//! bot's token may go to ([`ServiceHosts`]); a key endorsed for some channels
//! signs only for those.
//!
//! Emulator-style tokens (Entra ID tokens issued to the bot) are off unless
//! `[server] accept_emulator_tokens` is set, and even then only app-only
//! tokens pass: a person's own token for the bot's API has the same issuer,
//! audience and `azp`, and must never let them post as someone else. Local
//! anonymous mode replies only to loopback. A rejection tells the caller
//! nothing: the reason goes to a debug log line, never the token.

pub mod keys;
pub mod verified;

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use crate::botframework::activity::Activity;
use crate::botframework::service_hosts::{self, ServiceHosts};
use crate::clock::Clock;
use crate::config::{AppType, BotIdentity, Endpoints};
use keys::{KeyError, KeySource, PublishedKey};
use verified::VerifiedTokens;

/// Clock skew allowed on `exp` and `nbf`.
pub const CLOCK_SKEW_SECS: u64 = 300;

/// Who sent the request, once authenticated.
#[derive(Clone, Debug, PartialEq)]
pub enum Caller {
    /// A channel (Teams) token.
    Channel { claims: Value },
    /// An Entra ID token issued to the bot itself (emulator-style).
    Emulator { claims: Value },
    /// No token, accepted because local anonymous mode is on.
    Anonymous,
}

/// Why a request was refused. Logged at debug level; the caller sees only 401.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no Authorization header")]
    MissingHeader,
    #[error("Authorization is not a Bearer token")]
    NotBearer,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("algorithm {0} is not allowed")]
    Algorithm(String),
    #[error("the token has no key id")]
    NoKeyId,
    #[error("issuer not trusted")]
    UntrustedIssuer,
    #[error("signing key not published")]
    UnknownKey,
    #[error("signing keys unavailable")]
    KeysUnavailable,
    #[error("key not endorsed for this channel")]
    NotEndorsed,
    #[error("token rejected: {0}")]
    Invalid(String),
    #[error("serviceurl claim missing or different from the activity's")]
    ServiceUrl,
    #[error("the token was issued to another application")]
    WrongApp,
    #[error("a delegated (user) token is not an app-only emulator token")]
    Delegated,
    #[error("the serviceUrl's host is not one the bot's token may go to")]
    ServiceHost,
}

/// Validates inbound requests for one bot.
pub struct Authenticator {
    app_id: String,
    channel_issuer: String,
    emulator_tenant: Option<String>,
    anonymous_allowed: bool,
    hosts: ServiceHosts,
    channel_keys: KeySource,
    entra_keys: KeySource,
    verified: VerifiedTokens,
}

impl Authenticator {
    /// `anonymous_allowed`: a request without a token is the local
    /// Playground's (`[server] local_anonymous`), never set in production.
    /// `accept_emulator_tokens`: `[server] accept_emulator_tokens` (app-only
    /// Entra tokens of the bot itself; off unless a harness needs them).
    pub fn new(
        bot: &BotIdentity,
        endpoints: &Endpoints,
        anonymous_allowed: bool,
        accept_emulator_tokens: bool,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
    ) -> Authenticator {
        let emulator_tenant = match bot.app_type {
            _ if !accept_emulator_tokens => None,
            AppType::MultiTenant => None,
            AppType::SingleTenant | AppType::UserAssignedMSI => bot.tenant_id.clone(),
        };
        Authenticator {
            app_id: bot.app_id.clone(),
            channel_issuer: endpoints.channel_issuer.clone(),
            emulator_tenant,
            anonymous_allowed,
            hosts: ServiceHosts::new(&endpoints.service_hosts, false),
            channel_keys: KeySource::new(&endpoints.channel_openid_metadata, http.clone(), clock.clone()),
            entra_keys: KeySource::new(&endpoints.entra_openid_metadata, http, clock),
            verified: VerifiedTokens::default(),
        }
    }

    /// Whether local anonymous mode is on.
    pub fn anonymous_allowed(&self) -> bool {
        self.anonymous_allowed
    }

    /// Ready once the channel's signing keys are loaded.
    pub fn is_ready(&self) -> bool {
        self.anonymous_allowed || self.channel_keys.is_loaded()
    }

    /// Loads the channel's keys (and Entra's, best effort) before traffic arrives.
    pub async fn load_keys(&self) -> Result<(), KeyError> {
        if self.emulator_tenant.is_some() {
            let _ = self.entra_keys.ensure_loaded().await;
        }
        self.channel_keys.ensure_loaded().await
    }

    /// How many times the channel's metadata was fetched.
    pub fn channel_key_fetches(&self) -> u64 {
        self.channel_keys.fetch_count()
    }

    /// Checks the request's Authorization header against the activity it carries.
    pub async fn authenticate(&self, authorization: Option<&str>, activity: &Activity) -> Result<Caller, AuthError> {
        let Some(header) = authorization else {
            if !self.anonymous_allowed {
                return Err(AuthError::MissingHeader);
            }
            // Nobody vouches for an anonymous serviceUrl: replies stay on this machine.
            if activity.service_url.as_deref().is_some_and(|url| !service_hosts::is_loopback_url(url)) {
                return Err(AuthError::ServiceHost);
            }
            return Ok(Caller::Anonymous);
        };
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::NotBearer)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512) {
            return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(AuthError::NoKeyId)?;
        let issuer = unverified_issuer(token).ok_or(AuthError::Malformed)?;

        if issuer == self.channel_issuer {
            let key = self.channel_keys.key(&kid).await.map_err(key_error)?;
            let channel_id = activity.channel_id.as_deref().unwrap_or_default();
            if !key.endorsements.is_empty() && !key.endorsements.iter().any(|e| e == channel_id) {
                return Err(AuthError::NotEndorsed);
            }
            let claims = self.verify(token, header.alg, &key, &issuer)?;
            let service_url = claims.get("serviceurl").and_then(Value::as_str).ok_or(AuthError::ServiceUrl)?;
            if Some(service_url) != activity.service_url.as_deref() {
                return Err(AuthError::ServiceUrl);
            }
            if !self.hosts.allows_with(service_url, false) {
                return Err(AuthError::ServiceHost);
            }
            return Ok(Caller::Channel { claims });
        }

        if self.emulator_issuers().contains(&issuer) {
            let key = self.entra_keys.key(&kid).await.map_err(key_error)?;
            let claims = self.verify(token, header.alg, &key, &issuer)?;
            let app_claim = match claims.get("ver").and_then(Value::as_str) {
                Some("2.0") => "azp",
                _ => "appid",
            };
            if claims.get(app_claim).and_then(Value::as_str) != Some(self.app_id.as_str()) {
                return Err(AuthError::WrongApp);
            }
            // A person's token for the bot's API has the same issuer, audience
            // and azp: only an app-only token may speak for a channel.
            if claims.get("idtyp").and_then(Value::as_str) != Some("app") || claims.get("scp").is_some() {
                return Err(AuthError::Delegated);
            }
            if activity.service_url.as_deref().is_some_and(|url| !self.hosts.allows_with(url, true)) {
                return Err(AuthError::ServiceHost);
            }
            return Ok(Caller::Emulator { claims });
        }
        Err(AuthError::UntrustedIssuer)
    }

    /// The token's claims once its signature, audience, issuer and validity
    /// window check out; a token this key already verified is taken from
    /// [`VerifiedTokens`] instead of being verified again.
    fn verify(
        &self,
        token: &str,
        algorithm: Algorithm,
        key: &Arc<PublishedKey>,
        issuer: &str,
    ) -> Result<Value, AuthError> {
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(claims) = self.verified.get(token, key, issuer, now, CLOCK_SKEW_SECS) {
            return Ok(claims);
        }
        let mut validation = Validation::new(algorithm);
        validation.leeway = CLOCK_SKEW_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_audience(&[&self.app_id]);
        validation.set_issuer(&[issuer]);
        let claims = jsonwebtoken::decode::<Value>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| AuthError::Invalid(format!("{:?}", e.kind())))?;
        self.verified.remember(token, key, issuer, &claims, now, CLOCK_SKEW_SECS);
        Ok(claims)
    }

    /// Issuers of Entra ID tokens a single-tenant bot accepts: its own tenant's.
    fn emulator_issuers(&self) -> Vec<String> {
        let Some(tenant) = &self.emulator_tenant else { return Vec::new() };
        let mut issuers = vec![
            format!("https://sts.windows.net/{tenant}/"),
            format!("https://login.microsoftonline.com/{tenant}/v2.0"),
        ];
        if let Some(declared) = self.entra_keys.issuer() {
            issuers.push(declared.replace("{tenantid}", tenant));
        }
        issuers
    }
}

fn key_error(error: KeyError) -> AuthError {
    match error {
        KeyError::UnknownKey => AuthError::UnknownKey,
        KeyError::Unavailable(_) => AuthError::KeysUnavailable,
    }
}

/// The `iss` claim before verification, to choose where the key comes from.
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}
