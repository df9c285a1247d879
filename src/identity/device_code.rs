//! An operator's sign-in on another device: the OAuth 2.0 device
//! authorization grant (RFC 8628), as Entra ID serves it at
//! `{authority}/{tenant}/oauth2/v2.0/devicecode`
//! (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code>).
//!
//! `drbot setup` and the CLI run in a terminal, often over SSH, where no
//! browser can be opened: the operator is shown a code and a URL, signs in
//! wherever they like, and the CLI polls the token endpoint until Entra says
//! yes (`authorization_pending` and `slow_down` mean "keep waiting", the
//! latter five seconds longer; `expired_token` and a refusal end it). The
//! `oauth2` crate speaks the grant; this file only names Entra's endpoints,
//! asks for `offline_access` and trades the refresh token for the other
//! resources a command needs, so one sign-in gives tokens for Graph and ARM
//! (or each Databricks workspace) without a second code.
//!
//! The client is a *public* client (no secret): by default the Azure CLI's
//! well-known application id, which every tenant already trusts for Graph,
//! ARM and Azure Databricks; a tenant that blocks it names its own public
//! client with `--client-id`.

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicTokenResponse};
use oauth2::{
    ClientId, DeviceAuthorizationUrl, EndpointNotSet, EndpointSet, RefreshToken, Scope,
    StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
};

use super::AccessToken;

/// The Azure CLI's public client id (Microsoft first-party, in every tenant).
pub const AZURE_CLI_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// What the operator must do: open `verification_uri` and type `user_code`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCodePrompt {
    pub verification_uri: String,
    pub user_code: String,
    /// How long the code is good for.
    pub expires_in: Duration,
}

impl std::fmt::Display for DeviceCodePrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "To sign in, open {} and enter the code {} (valid {} minutes).",
            self.verification_uri,
            self.user_code,
            self.expires_in.as_secs().div_ceil(60)
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceCodeError {
    #[error("the sign-in endpoint is not a URL: {0}")]
    Endpoint(String),
    #[error("Entra ID did not start the sign-in: {0}")]
    Start(String),
    /// The code expired, the operator declined, or Entra refused the grant.
    #[error("the sign-in did not complete: {0}")]
    NotSignedIn(String),
    /// The refresh token was not accepted for another resource.
    #[error("no token for {scope}: {message}")]
    Resource { scope: String, message: String },
}

type DeviceClient = BasicClient<EndpointNotSet, EndpointSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// One operator's session: the first resource's token from the device code,
/// the others from its refresh token.
pub struct DeviceCodeSignIn {
    client: DeviceClient,
    http: reqwest::Client,
    refresh_token: Option<RefreshToken>,
}

impl DeviceCodeSignIn {
    /// `login_authority` is `https://login.microsoftonline.com` (or the
    /// sandbox's); `tenant` the directory to sign in to.
    pub fn new(login_authority: &str, tenant: &str, client_id: &str) -> Result<DeviceCodeSignIn, DeviceCodeError> {
        let base = format!("{}/{tenant}/oauth2/v2.0", login_authority.trim_end_matches('/'));
        let device = DeviceAuthorizationUrl::new(format!("{base}/devicecode"))
            .map_err(|e| DeviceCodeError::Endpoint(e.to_string()))?;
        let token = TokenUrl::new(format!("{base}/token")).map_err(|e| DeviceCodeError::Endpoint(e.to_string()))?;
        let client = BasicClient::new(ClientId::new(client_id.to_string()))
            .set_device_authorization_url(device)
            .set_token_uri(token);
        // A token endpoint that redirects must not be followed (the
        // credentials would go wherever it points): the `oauth2` crate's advice.
        let http = crate::http_client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| DeviceCodeError::Endpoint(e.to_string()))?;
        Ok(DeviceCodeSignIn { client, http, refresh_token: None })
    }

    /// Signs the operator in for `scope` (a `…/.default` scope): shows the
    /// code through `prompt`, then waits until they signed in, declined, or
    /// the code expired.
    pub async fn sign_in(
        &mut self,
        scope: &str,
        prompt: impl FnOnce(&DeviceCodePrompt),
    ) -> Result<AccessToken, DeviceCodeError> {
        let details: StandardDeviceAuthorizationResponse = self
            .client
            .exchange_device_code()
            .add_scope(Scope::new(scope.to_string()))
            .add_scope(Scope::new("offline_access".into()))
            .request_async(&self.http)
            .await
            .map_err(|e| DeviceCodeError::Start(describe(&e)))?;
        prompt(&DeviceCodePrompt {
            verification_uri: details.verification_uri().to_string(),
            user_code: details.user_code().secret().clone(),
            expires_in: details.expires_in(),
        });
        let answer = self
            .client
            .exchange_device_access_token(&details)
            .request_async(&self.http, tokio::time::sleep, None)
            .await
            .map_err(|e| DeviceCodeError::NotSignedIn(describe(&e)))?;
        Ok(self.keep(answer))
    }

    /// A token for another resource, from the sign-in's refresh token (Entra
    /// issues refresh tokens good for any resource the client may call).
    pub async fn token_for(&mut self, scope: &str) -> Result<AccessToken, DeviceCodeError> {
        let refresh = self.refresh_token.clone().ok_or_else(|| DeviceCodeError::Resource {
            scope: scope.to_string(),
            message: "sign in first (no refresh token)".into(),
        })?;
        let answer = self
            .client
            .exchange_refresh_token(&refresh)
            .add_scope(Scope::new(scope.to_string()))
            .request_async(&self.http)
            .await
            .map_err(|e| DeviceCodeError::Resource { scope: scope.to_string(), message: describe(&e) })?;
        Ok(self.keep(answer))
    }

    /// The access token; the (possibly rotated) refresh token kept for the next resource.
    fn keep(&mut self, answer: BasicTokenResponse) -> AccessToken {
        if let Some(refresh) = answer.refresh_token() {
            self.refresh_token = Some(refresh.clone());
        }
        AccessToken::new(answer.access_token().secret().clone())
    }
}

/// The operator's token for `scope` after a device code sign-in whose
/// prompt goes to stderr (a command's output stays on stdout). `tenant` is
/// the directory to sign in to (`organizations` lets Entra find it).
pub async fn sign_in_on_terminal(
    login_authority: &str,
    tenant: &str,
    client_id: &str,
    scope: &str,
) -> Result<AccessToken, DeviceCodeError> {
    let mut session = DeviceCodeSignIn::new(login_authority, tenant, client_id)?;
    session.sign_in(scope, |prompt| eprintln!("{prompt}")).await
}

/// An `oauth2` request error as one line: Entra's `error` and description
/// for a refusal; never a token (the crate's errors carry none).
fn describe<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    error: &oauth2::RequestTokenError<RE, T>,
) -> String {
    match error {
        oauth2::RequestTokenError::ServerResponse(response) => response.to_string(),
        oauth2::RequestTokenError::Request(e) => format!("request failed: {e}"),
        oauth2::RequestTokenError::Parse(e, _) => format!("the answer does not parse: {e}"),
        oauth2::RequestTokenError::Other(e) => e.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_says_where_and_what_to_type() {
        let prompt = DeviceCodePrompt {
            verification_uri: "https://microsoft.com/devicelogin".into(),
            user_code: "FJ4KQ2XMB".into(),
            expires_in: Duration::from_secs(900),
        };
        assert_eq!(
            prompt.to_string(),
            "To sign in, open https://microsoft.com/devicelogin and enter the code FJ4KQ2XMB (valid 15 minutes)."
        );
        assert!(DeviceCodeSignIn::new("not a url", "t", AZURE_CLI_CLIENT_ID).is_err());
    }
}
