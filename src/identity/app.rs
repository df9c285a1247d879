//! The bot's own identity, for work nobody typed: scheduled posts and
//! operations resumed after a restart call Databricks and ARM as the bot, not
//! as a person. The credential is azure_identity's, chosen by configuration:
//! a client secret, a managed identity (App Service, Container Apps, VMs) or
//! a workload identity (a federated Kubernetes service account token).

use std::sync::Arc;

use azure_core::credentials::{Secret as AzureSecret, TokenCredential};
use azure_identity::{
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, TokenCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};

use super::{AccessToken, IdentityError};
use crate::config::{AppCredentialKind, Config, Secret};

/// The bot's credential, for any scope.
pub struct AppIdentity {
    credential: Arc<dyn TokenCredential>,
    pub kind: AppCredentialKind,
}

impl AppIdentity {
    pub fn from_config(config: &Config) -> Result<AppIdentity, IdentityError> {
        let kind = config.app_identity.kind(config.bot.app_type);
        let unavailable = |e: azure_core::Error| IdentityError::Unavailable(e.to_string());
        let mut options = TokenCredentialOptions::default();
        options.set_authority_host(config.endpoints.login_authority.clone());
        let tenant = config.bot.tenant_id.clone().unwrap_or_default();
        let credential: Arc<dyn TokenCredential> = match kind {
            AppCredentialKind::ClientSecret => {
                let secret = config.bot.app_password.as_ref().map(Secret::expose).unwrap_or_default().to_string();
                ClientSecretCredential::new(
                    &tenant,
                    config.bot.app_id.clone(),
                    AzureSecret::new(secret),
                    Some(ClientSecretCredentialOptions { credential_options: options }),
                )
                .map_err(unavailable)?
            }
            AppCredentialKind::ManagedIdentity => {
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id: Some(UserAssignedId::ClientId(config.bot.app_id.clone())),
                    credential_options: options,
                }))
                .map_err(unavailable)?
            }
            AppCredentialKind::WorkloadIdentity => {
                WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                    credential_options: ClientAssertionCredentialOptions {
                        credential_options: options,
                        ..Default::default()
                    },
                    client_id: Some(config.bot.app_id.clone()),
                    tenant_id: Some(tenant),
                    token_file_path: config.app_identity.federated_token_file.clone(),
                }))
                .map_err(unavailable)?
            }
        };
        Ok(AppIdentity { credential, kind })
    }

    /// A token for `scope` (`…/.default`) as the bot.
    pub async fn token(&self, scope: &str) -> Result<AccessToken, IdentityError> {
        let token =
            self.credential.get_token(&[scope], None).await.map_err(|e| IdentityError::Unavailable(e.to_string()))?;
        Ok(AccessToken(Secret::new(token.token.secret())))
    }
}
