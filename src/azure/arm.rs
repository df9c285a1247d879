//! The ARM REST client: one request with retries, ARM's error shape as typed
//! errors, and URL handling.
//!
//! The client holds no token: every call takes the caller's, so a deployment
//! started for a person runs under that person's Azure RBAC. Throttling
//! (429) and transient failures (5xx) are retried, waiting what
//! `Retry-After` asks, within a total time budget so a struggling ARM cannot
//! hold a command forever. URLs ARM hands back (`Location`,
//! `Azure-AsyncOperation`, `nextLink`) are followed only on ARM's own host,
//! so the bearer token never travels anywhere else.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::identity::AccessToken;

/// Public Azure's Resource Manager.
pub const DEFAULT_BASE_URL: &str = crate::config::DEFAULT_ARM_URL;
/// The Microsoft.Resources API version drbot speaks.
pub const API_VERSION: &str = "2025-04-01";

/// How hard to retry throttled and transiently failed calls.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The total time spent waiting between attempts may not exceed this.
    pub budget: Duration,
    /// The first back-off when ARM gives no `Retry-After`; doubles each time.
    pub default_delay: Duration,
    /// A `Retry-After` above this is cut down to it.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            budget: Duration::from_secs(60),
            default_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// ARM's error body: `{"error": {"code", "message", "target", "details"}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArmErrorBody {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ArmErrorBody>,
}

impl ArmErrorBody {
    /// The innermost messages, where ARM puts what actually went wrong.
    pub fn innermost_message(&self) -> String {
        match self.details.iter().map(ArmErrorBody::innermost_message).find(|m| !m.is_empty()) {
            Some(inner) => inner,
            None => self.message.clone(),
        }
    }
}

impl std::fmt::Display for ArmErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArmError {
    /// 401: the token was refused (expired, wrong audience).
    #[error("not authenticated: {0}")]
    Unauthenticated(ArmErrorBody),
    /// 403 `AuthorizationFailed`: Azure RBAC does not let this caller do it.
    #[error("not authorized: {0}")]
    AuthorizationFailed(ArmErrorBody),
    /// 404: no such deployment, operation or resource group.
    #[error("not found: {0}")]
    NotFound(ArmErrorBody),
    /// Any other error ARM answered with.
    #[error("HTTP {status}: {error}")]
    Api { status: u16, error: ArmErrorBody },
    #[error("Azure Resource Manager unreachable: {0}")]
    Unreachable(String),
    /// An answer drbot cannot read, or a URL pointing away from ARM.
    #[error("unexpected answer from Azure Resource Manager: {0}")]
    BadResponse(String),
    /// A long-running operation outlived its deadline.
    #[error("gave up waiting for Azure Resource Manager")]
    DeadlineExceeded,
    /// The caller stopped waiting.
    #[error("canceled")]
    Canceled,
}

impl ArmError {
    /// ARM's error code, when ARM gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ArmError::Unauthenticated(e) | ArmError::AuthorizationFailed(e) | ArmError::NotFound(e) => Some(&e.code),
            ArmError::Api { error, .. } => Some(&error.code),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ArmError::NotFound(_))
    }
}

/// A successful answer: status, headers and the JSON body (`null` when empty).
#[derive(Debug)]
pub struct ArmResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl ArmResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }

    /// The wait `Retry-After` asks for (ARM sends seconds).
    pub fn retry_after(&self) -> Option<Duration> {
        crate::retry_after::from_headers(&self.headers)
    }

    /// The body as `T`, or a `BadResponse` naming what was expected.
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, ArmError> {
        serde_json::from_value(self.body.clone()).map_err(|e| ArmError::BadResponse(format!("{what}: {e}")))
    }
}

/// One Azure Resource Manager endpoint.
#[derive(Clone)]
pub struct ArmClient {
    http: reqwest::Client,
    base_url: String,
    api_version: String,
    retry: RetryPolicy,
}

impl ArmClient {
    pub fn new(http: reqwest::Client, base_url: &str) -> ArmClient {
        ArmClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_version: API_VERSION.into(),
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> ArmClient {
        self.retry = retry;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The absolute URL for an ARM path, with the api-version.
    pub fn url(&self, path: &str) -> String {
        let separator = if path.contains('?') { '&' } else { '?' };
        format!("{}{path}{separator}api-version={}", self.base_url, self.api_version)
    }

    /// Checks that a URL ARM handed back points at ARM itself: the token goes
    /// with it, so a foreign host would receive the caller's credentials.
    pub fn check_same_origin(&self, url: &str) -> Result<(), ArmError> {
        let origin = |u: &str| url::Url::parse(u).ok().map(|u| u.origin());
        match (origin(url), origin(&self.base_url)) {
            (Some(a), Some(b)) if a == b => Ok(()),
            _ => Err(ArmError::BadResponse("a follow-up URL that does not point at Azure Resource Manager".into())),
        }
    }

    /// One call, retried on 429 and 5xx as [`RetryPolicy`] allows. `url` is
    /// absolute (from [`ArmClient::url`] or a URL ARM gave back).
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        token: &AccessToken,
        body: Option<&Value>,
    ) -> Result<ArmResponse, ArmError> {
        self.request_with(method, url, token, body, &[]).await
    }

    /// [`request`](Self::request) with extra headers (`If-Match`, `If-None-Match`).
    pub async fn request_with(
        &self,
        method: Method,
        url: &str,
        token: &AccessToken,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<ArmResponse, ArmError> {
        self.check_same_origin(url)?;
        let mut attempt = 0;
        let mut waited = Duration::ZERO;
        loop {
            attempt += 1;
            let mut request =
                self.http.request(method.clone(), url).bearer_auth(token.secret()).timeout(Duration::from_secs(60));
            if let Some(body) = body {
                request = request.json(body);
            }
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let outcome = request.send().await;
            let (delay, error) = match outcome {
                Err(error) => {
                    let error = ArmError::Unreachable(error.without_url().to_string());
                    (None, error)
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    let bytes =
                        response.bytes().await.map_err(|e| ArmError::Unreachable(e.without_url().to_string()))?;
                    if (200..300).contains(&status) {
                        let body = if bytes.is_empty() {
                            Value::Null
                        } else {
                            serde_json::from_slice(&bytes)
                                .map_err(|e| ArmError::BadResponse(format!("a body that is not JSON ({e})")))?
                        };
                        return Ok(ArmResponse { status, headers, body });
                    }
                    let error = error_from(status, &bytes);
                    if status != 429 && !(500..600).contains(&status) {
                        return Err(error);
                    }
                    (crate::retry_after::from_headers(&headers), error)
                }
            };
            let backoff = self.retry.default_delay.saturating_mul(1 << (attempt - 1).min(10));
            let delay = delay.unwrap_or(backoff).min(self.retry.max_delay);
            if attempt >= self.retry.max_attempts || waited + delay > self.retry.budget {
                return Err(error);
            }
            tracing::debug!(attempt, delay_ms = delay.as_millis() as u64, code = ?error.code(), "ARM call retried");
            waited += delay;
            tokio::time::sleep(delay).await;
        }
    }
}

/// ARM's error, typed by status and code.
pub(crate) fn error_from(status: u16, bytes: &[u8]) -> ArmError {
    #[derive(Deserialize)]
    struct Wrapped {
        error: ArmErrorBody,
    }
    let body = serde_json::from_slice::<Wrapped>(bytes)
        .map(|w| w.error)
        .or_else(|_| serde_json::from_slice::<ArmErrorBody>(bytes))
        .unwrap_or_default();
    let body = if body.code.is_empty() && body.message.is_empty() {
        ArmErrorBody { code: format!("Http{status}"), message: "no error body".into(), ..Default::default() }
    } else {
        body
    };
    match status {
        401 => ArmError::Unauthenticated(body),
        403 if body.code == "AuthorizationFailed" || body.code.starts_with("Http") => {
            ArmError::AuthorizationFailed(body)
        }
        404 => ArmError::NotFound(body),
        _ => ArmError::Api { status, error: body },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_errors_are_typed_by_status_and_code() {
        let denied = error_from(403, br#"{"error":{"code":"AuthorizationFailed","message":"no"}}"#);
        assert!(matches!(&denied, ArmError::AuthorizationFailed(e) if e.message == "no"));
        let missing = error_from(404, br#"{"error":{"code":"DeploymentNotFound","message":"gone"}}"#);
        assert!(missing.is_not_found());
        assert_eq!(missing.code(), Some("DeploymentNotFound"));
        let nested = error_from(
            400,
            br#"{"error":{"code":"InvalidTemplate","message":"outer","details":[{"code":"x","message":"inner"}]}}"#,
        );
        match nested {
            ArmError::Api { status: 400, error } => assert_eq!(error.innermost_message(), "inner"),
            other => panic!("{other:?}"),
        }
        let bare = error_from(502, b"<html>bad gateway</html>");
        assert_eq!(bare.code(), Some("Http502"));
        let top_level = error_from(409, br#"{"code":"DeploymentActive","message":"busy"}"#);
        assert_eq!(top_level.code(), Some("DeploymentActive"));
    }

    #[test]
    fn urls_carry_the_api_version_and_stay_on_arm() {
        let client = ArmClient::new(reqwest::Client::new(), "https://management.azure.com/");
        assert_eq!(client.url("/x"), "https://management.azure.com/x?api-version=2025-04-01");
        assert_eq!(client.url("/x?a=b"), "https://management.azure.com/x?a=b&api-version=2025-04-01");
        assert!(client.check_same_origin("https://management.azure.com/y?api-version=1").is_ok());
        assert!(client.check_same_origin("https://evil.example/y").is_err());
        assert!(client.check_same_origin("http://management.azure.com/y").is_err());
        assert!(client.check_same_origin("not a url").is_err());
    }
}
