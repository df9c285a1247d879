//! The bot's own token for the connector and the token service.
//!
//! Client credentials against `{login_authority}/{tenant}/oauth2/v2.0/token`
//! for SingleTenant and MultiTenant bots; a managed identity
//! for UserAssignedMSI. Cached until five minutes before it expires: the
//! connector is called on every reply, the token endpoint should not be.

use std::time::{Duration, Instant};

use crate::config::{AppType, BotIdentity, Endpoints, Secret};
use crate::identity::credential::{token_url, AppCredential, CredentialError, ManagedIdentityEndpoint};

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

/// Issues and caches the bot's access token for one scope.
pub struct BotTokenProvider {
    credential: AppCredential,
    scope: String,
    http: reqwest::Client,
    cached: tokio::sync::Mutex<Option<(String, Instant)>>,
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
        let credential = match bot.app_type {
            AppType::SingleTenant | AppType::MultiTenant => AppCredential::ClientSecret {
                token_url: token_url(login_authority, bot.token_tenant()),
                client_id: bot.app_id.clone(),
                secret: bot.app_password.clone().unwrap_or_else(|| Secret::new("")),
            },
            AppType::UserAssignedMSI => AppCredential::ManagedIdentity {
                endpoint: ManagedIdentityEndpoint::from_environment(),
                client_id: bot.app_id.clone(),
            },
        };
        Ok(BotTokenProvider { credential, scope: scope.to_string(), http, cached: tokio::sync::Mutex::new(None) })
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
        match self.credential.fetch(&self.http, &self.scope).await {
            Ok(issued) => Ok((issued.token.expose().to_string(), issued.lifetime)),
            Err(CredentialError::Refused { status, error }) => Err(BotTokenError::Refused { status, error }),
            Err(CredentialError::Unreachable(error)) => Err(BotTokenError::Unreachable(error)),
            Err(CredentialError::Misconfigured(error)) => Err(BotTokenError::ManagedIdentity(error)),
        }
    }
}
