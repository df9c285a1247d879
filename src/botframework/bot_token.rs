//! The bot's own token for the connector and the token service.
//!
//! Client credentials against `{login_authority}/{tenant}/oauth2/v2.0/token`
//! for SingleTenant and MultiTenant bots; a managed identity (azure_identity)
//! for UserAssignedMSI. Cached until five minutes before it expires: the
//! connector is called on every reply, the token endpoint should not be.

use std::sync::Arc;
use std::time::{Duration, Instant};

use oauth2::TokenResponse as _;
use serde::Deserialize;

use crate::config::{AppType, BotIdentity, Endpoints, Secret};

/// Tokens are renewed this long before they expire.
pub const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum BotTokenError {
    #[error("token endpoint unreachable: {0}")]
    Unreachable(String),
    #[error("token endpoint refused the bot's credentials: HTTP {status} {error}")]
    Refused { status: u16, error: String },
    #[error("managed identity: {0}")]
    ManagedIdentity(String),
}

enum Source {
    ClientSecret { token_url: String, client_id: String, secret: Secret },
    ManagedIdentity(Arc<dyn azure_core::credentials::TokenCredential>),
}

/// Issues and caches the bot's access token for one scope.
pub struct BotTokenProvider {
    source: Source,
    scope: String,
    http: reqwest::Client,
    cached: tokio::sync::Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    #[serde(default)]
    error: String,
}

impl BotTokenProvider {
    /// The provider for the Bot Framework scope, as configured.
    pub fn for_botframework(
        bot: &BotIdentity,
        endpoints: &Endpoints,
        http: reqwest::Client,
    ) -> Result<BotTokenProvider, BotTokenError> {
        Self::new(bot, &endpoints.login_authority, &endpoints.botframework_scope, http)
    }

    /// The provider of `bot`'s tokens for `scope`, from `login_authority`'s
    /// token endpoint (or the managed identity).
    pub fn new(
        bot: &BotIdentity,
        login_authority: &str,
        scope: &str,
        http: reqwest::Client,
    ) -> Result<BotTokenProvider, BotTokenError> {
        let source = match bot.app_type {
            AppType::SingleTenant | AppType::MultiTenant => Source::ClientSecret {
                token_url: format!(
                    "{}/{}/oauth2/v2.0/token",
                    login_authority.trim_end_matches('/'),
                    bot.token_tenant()
                ),
                client_id: bot.app_id.clone(),
                secret: bot.app_password.clone().unwrap_or_else(|| Secret::new("")),
            },
            AppType::UserAssignedMSI => {
                use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};
                let options = ManagedIdentityCredentialOptions {
                    user_assigned_id: Some(UserAssignedId::ClientId(bot.app_id.clone())),
                    ..Default::default()
                };
                let credential = ManagedIdentityCredential::new(Some(options))
                    .map_err(|e| BotTokenError::ManagedIdentity(e.to_string()))?;
                Source::ManagedIdentity(credential)
            }
        };
        Ok(BotTokenProvider { source, scope: scope.to_string(), http, cached: tokio::sync::Mutex::new(None) })
    }

    /// A valid token, from the cache when it has more than five minutes left.
    pub async fn token(&self) -> Result<String, BotTokenError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, expires_at)) = cached.as_ref() {
            if Instant::now() + RENEW_BEFORE_EXPIRY < *expires_at {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = self.fetch().await?;
        *cached = Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }

    /// Drops the cached token (after the connector answered 401).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self) -> Result<(String, Duration), BotTokenError> {
        match &self.source {
            Source::ClientSecret { token_url, client_id, secret } => {
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", secret.expose()),
                    ("scope", self.scope.as_str()),
                ];
                let response = self
                    .http
                    .post(token_url)
                    .form(&form)
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
                    .map_err(|e| BotTokenError::Unreachable(e.without_url().to_string()))?;
                let status = response.status();
                if !status.is_success() {
                    let body: TokenErrorBody = response.json().await.unwrap_or(TokenErrorBody { error: String::new() });
                    return Err(BotTokenError::Refused { status: status.as_u16(), error: body.error });
                }
                let body: oauth2::basic::BasicTokenResponse =
                    response.json().await.map_err(|e| BotTokenError::Unreachable(e.without_url().to_string()))?;
                // Entra always says; without it the token is fetched again next time.
                Ok((body.access_token().secret().clone(), body.expires_in().unwrap_or(Duration::ZERO)))
            }
            Source::ManagedIdentity(credential) => {
                let token = credential
                    .get_token(&[self.scope.as_str()], None)
                    .await
                    .map_err(|e| BotTokenError::ManagedIdentity(e.to_string()))?;
                let left = token.expires_on.unix_timestamp() - chrono::Utc::now().timestamp();
                Ok((token.token.secret().to_string(), Duration::from_secs(left.max(0) as u64)))
            }
        }
    }
}
