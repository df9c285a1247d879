//! The bot's own identity, for work nobody typed: scheduled posts and
//! operations resumed after a restart call Databricks and ARM as the bot, not
//! as a person. The credential is chosen by configuration
//! ([`super::credential`]): a client secret, a managed identity (App Service,
//! Container Apps, VMs) or a workload identity (a federated Kubernetes
//! service account token). Tokens are cached per scope until five minutes
//! before they expire.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;

use super::credential::{token_url, AppCredential, CredentialError, ManagedIdentityEndpoint};
use super::{AccessToken, IdentityError, RENEW_BEFORE_EXPIRY};
use crate::config::{AppCredentialKind, Config, Secret};

/// The bot's credential, for any scope.
pub struct AppIdentity {
    credential: AppCredential,
    http: reqwest::Client,
    cache: Mutex<HashMap<String, (Secret, Instant)>>,
    pub kind: AppCredentialKind,
}

impl AppIdentity {
    /// The configured credential, on a client of its own (for the CLI's one-off commands).
    pub fn from_config(config: &Config) -> Result<AppIdentity, IdentityError> {
        AppIdentity::with_client(config, crate::http_client::client())
    }

    /// The configured credential, speaking over `http` (the server's shared client).
    pub fn with_client(config: &Config, http: reqwest::Client) -> Result<AppIdentity, IdentityError> {
        let kind = config.app_identity.kind(config.bot.app_type);
        let tenant = config.bot.tenant_id.clone().unwrap_or_default();
        let client_id = config.bot.app_id.clone();
        let credential = match kind {
            AppCredentialKind::ClientSecret => AppCredential::ClientSecret {
                token_url: token_url(&config.endpoints.login_authority, &tenant),
                client_id,
                secret: config.bot.app_password.clone().unwrap_or_else(|| Secret::new("")),
            },
            AppCredentialKind::ManagedIdentity => {
                AppCredential::ManagedIdentity { endpoint: ManagedIdentityEndpoint::from_environment(), client_id }
            }
            AppCredentialKind::WorkloadIdentity => {
                let token_file = config
                    .app_identity
                    .federated_token_file
                    .clone()
                    .or_else(|| std::env::var_os("AZURE_FEDERATED_TOKEN_FILE").map(Into::into))
                    .ok_or_else(|| {
                        IdentityError::Unavailable(
                            "workload identity needs [app_identity] federated_token_file or AZURE_FEDERATED_TOKEN_FILE"
                                .into(),
                        )
                    })?;
                AppCredential::WorkloadIdentity {
                    token_url: token_url(&config.endpoints.login_authority, &tenant),
                    client_id,
                    token_file,
                }
            }
        };
        Ok(AppIdentity { credential, http, cache: Mutex::new(HashMap::new()), kind })
    }

    /// A token for `scope` (`…/.default`) as the bot.
    pub async fn token(&self, scope: &str) -> Result<AccessToken, IdentityError> {
        if let Some((token, expires)) = self.cache.lock().get(scope) {
            if Instant::now() + RENEW_BEFORE_EXPIRY < *expires {
                return Ok(AccessToken(token.clone()));
            }
        }
        let issued = self.credential.fetch(&self.http, scope).await.map_err(|error| match error {
            CredentialError::Refused { status, error } => {
                IdentityError::Unavailable(format!("the token endpoint refused the bot: HTTP {status} {error}"))
            }
            other => IdentityError::Unavailable(other.to_string()),
        })?;
        self.cache.lock().insert(scope.to_string(), (issued.token.clone(), Instant::now() + issued.lifetime));
        Ok(AccessToken(issued.token))
    }
}
