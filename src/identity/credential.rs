//! The bot's own credential, spoken over drbot's HTTP client: a client
//! secret, a workload identity (a federated token file) or a managed
//! identity (App Service and Container Apps' `IDENTITY_ENDPOINT`, else the
//! instance metadata service).
//!
//! Why not an SDK's credential: each of them builds an HTTP client of its
//! own, with its own TLS stack and CA store, for three form posts and a GET
//! (src/http_client.rs says what that cost). The protocols are small and
//! documented:
//! - client credentials with a secret or a client assertion:
//!   <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>;
//! - App Service / Container Apps (`api-version=2019-08-01`, `X-IDENTITY-HEADER`):
//!   <https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference>;
//! - IMDS (`api-version=2018-02-01`, `Metadata: true`):
//!   <https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#get-a-token-using-http>.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::Secret;

/// The instance metadata service's token endpoint (VMs, scale sets, AKS nodes).
pub const IMDS_TOKEN_URL: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// What a client assertion is, for the token endpoint.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// No token request may hang a turn or a scheduled run.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("token endpoint unreachable: {0}")]
    Unreachable(String),
    #[error("token endpoint refused the credential: HTTP {status} {error}")]
    Refused { status: u16, error: String },
    #[error("{0}")]
    Misconfigured(String),
}

/// Where a managed identity's tokens come from.
#[derive(Debug)]
pub enum ManagedIdentityEndpoint {
    /// App Service and Container Apps: `IDENTITY_ENDPOINT`, with `IDENTITY_HEADER` echoed back.
    AppService { url: String, header: Secret },
    /// Everywhere else on Azure compute.
    Imds,
}

impl ManagedIdentityEndpoint {
    /// As the hosting environment announces it (read once, when the bot starts).
    pub fn from_environment() -> ManagedIdentityEndpoint {
        match (std::env::var("IDENTITY_ENDPOINT"), std::env::var("IDENTITY_HEADER")) {
            (Ok(url), Ok(header)) if !url.is_empty() => {
                ManagedIdentityEndpoint::AppService { url, header: Secret::new(header) }
            }
            _ => ManagedIdentityEndpoint::Imds,
        }
    }
}

/// How the bot proves who it is.
#[derive(Debug)]
pub enum AppCredential {
    /// Client credentials with the app's secret.
    ClientSecret { token_url: String, client_id: String, secret: Secret },
    /// Client credentials with a federated token read from a file (it is
    /// rotated on disk, so it is read for every request).
    WorkloadIdentity { token_url: String, client_id: String, token_file: PathBuf },
    /// A user-assigned managed identity, by client id.
    ManagedIdentity { endpoint: ManagedIdentityEndpoint, client_id: String },
}

/// A token and how long it stays valid.
pub struct IssuedToken {
    pub token: Secret,
    pub lifetime: Duration,
}

/// `{authority}/{tenant}/oauth2/v2.0/token`.
pub fn token_url(login_authority: &str, tenant: &str) -> String {
    format!("{}/{}/oauth2/v2.0/token", login_authority.trim_end_matches('/'), tenant)
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    /// Seconds; Entra sends a number, the managed identity endpoints a string.
    #[serde(default)]
    expires_in: Option<Seconds>,
    /// Unix time (managed identity endpoints).
    #[serde(default)]
    expires_on: Option<Seconds>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Seconds {
    Number(u64),
    Text(String),
}

impl Seconds {
    fn value(&self) -> Option<u64> {
        match self {
            Seconds::Number(n) => Some(*n),
            Seconds::Text(text) => text.trim().parse().ok(),
        }
    }
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: Option<String>,
    /// App Service's shape: `{"statusCode": 401, "message": "…"}`.
    #[serde(default)]
    message: Option<String>,
}

impl AppCredential {
    /// A token for `scope` (`…/.default`).
    pub async fn fetch(&self, http: &reqwest::Client, scope: &str) -> Result<IssuedToken, CredentialError> {
        let request = match self {
            AppCredential::ClientSecret { token_url, client_id, secret } => http.post(token_url).form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", secret.expose()),
                ("scope", scope),
            ]),
            AppCredential::WorkloadIdentity { token_url, client_id, token_file } => {
                let assertion = std::fs::read_to_string(token_file).map_err(|e| {
                    CredentialError::Misconfigured(format!(
                        "the federated token file {} cannot be read: {e}",
                        token_file.display()
                    ))
                })?;
                http.post(token_url).form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", assertion.trim()),
                    ("scope", scope),
                ])
            }
            AppCredential::ManagedIdentity { endpoint, client_id } => {
                // The managed identity endpoints take a resource, not a scope.
                let resource = scope.strip_suffix("/.default").unwrap_or(scope);
                match endpoint {
                    ManagedIdentityEndpoint::AppService { url, header } => http
                        .get(url)
                        .header("X-IDENTITY-HEADER", header.expose())
                        .query(&[("api-version", "2019-08-01"), ("resource", resource), ("client_id", client_id)]),
                    ManagedIdentityEndpoint::Imds => http.get(IMDS_TOKEN_URL).header("Metadata", "true").query(&[
                        ("api-version", "2018-02-01"),
                        ("resource", resource),
                        ("client_id", client_id),
                    ]),
                }
            }
        };
        let unreachable = |e: reqwest::Error| CredentialError::Unreachable(e.without_url().to_string());
        let response = request.timeout(TOKEN_TIMEOUT).send().await.map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            let body: ErrorBody = response.json().await.unwrap_or_default();
            let error = body.error.or(body.message).unwrap_or_default();
            return Err(CredentialError::Refused { status: status.as_u16(), error });
        }
        let body: TokenBody = response.json().await.map_err(unreachable)?;
        Ok(IssuedToken { lifetime: lifetime(&body), token: Secret::new(body.access_token) })
    }
}

/// How long a token stays valid: `expires_in`, else `expires_on` minus now;
/// zero when neither says (the token is then fetched again next time).
fn lifetime(body: &TokenBody) -> Duration {
    if let Some(seconds) = body.expires_in.as_ref().and_then(Seconds::value) {
        return Duration::from_secs(seconds);
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let until = body.expires_on.as_ref().and_then(Seconds::value).unwrap_or(now);
    Duration::from_secs(until.saturating_sub(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> TokenBody {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn lifetimes_come_from_entra_numbers_and_managed_identity_strings() {
        assert_eq!(lifetime(&body(r#"{"access_token":"t","expires_in":3599}"#)), Duration::from_secs(3599));
        assert_eq!(lifetime(&body(r#"{"access_token":"t","expires_in":"86399"}"#)), Duration::from_secs(86399));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let later = lifetime(&body(&format!(r#"{{"access_token":"t","expires_on":"{}"}}"#, now + 600)));
        assert!(later <= Duration::from_secs(600) && later >= Duration::from_secs(590), "{later:?}");
        assert_eq!(lifetime(&body(r#"{"access_token":"t"}"#)), Duration::ZERO);
        assert_eq!(lifetime(&body(r#"{"access_token":"t","expires_on":"12"}"#)), Duration::ZERO);
    }
}
