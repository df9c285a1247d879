//! A typed REST client for one Databricks workspace.
//!
//! Errors come from the body's `error_code` first, the HTTP status second,
//! as Databricks documents. Every call takes the caller's access token: the
//! client never holds one, so it cannot act as anyone but the person the
//! token names. (Unity Catalog, Delta Sharing, statements and jobs grow here.)

use std::time::Duration;

use serde::Deserialize;

use crate::identity::AccessToken;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DatabricksError {
    /// 401: the token was not accepted (expired, wrong audience).
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{code}: {message}")]
    Api { status: u16, code: String, message: String },
    #[error("workspace unreachable: {0}")]
    Unreachable(String),
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error_code: String,
    #[serde(default)]
    message: String,
}

/// The SCIM user behind a token.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimUser {
    #[serde(default)]
    pub id: String,
    pub user_name: String,
    #[serde(default)]
    pub display_name: String,
}

/// One workspace, by host.
#[derive(Clone)]
pub struct WorkspaceClient {
    http: reqwest::Client,
    host: String,
}

impl WorkspaceClient {
    pub fn new(http: reqwest::Client, host: &str) -> WorkspaceClient {
        WorkspaceClient { http, host: host.trim_end_matches('/').to_string() }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// `GET /api/2.0/preview/scim/v2/Me`: who the workspace thinks the caller is.
    pub async fn me(&self, token: &AccessToken) -> Result<ScimUser, DatabricksError> {
        self.get_json("/api/2.0/preview/scim/v2/Me", token).await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: &AccessToken,
    ) -> Result<T, DatabricksError> {
        let response = self
            .http
            .get(format!("{}{path}", self.host))
            .bearer_auth(token.secret())
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| DatabricksError::Unreachable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return response.json().await.map_err(|e| DatabricksError::Unreachable(e.without_url().to_string()));
        }
        let body: ErrorBody =
            response.json().await.unwrap_or(ErrorBody { error_code: String::new(), message: String::new() });
        Err(error_from(status, body))
    }
}

fn error_from(status: u16, body: ErrorBody) -> DatabricksError {
    match (body.error_code.as_str(), status) {
        ("UNAUTHENTICATED", _) | (_, 401) => DatabricksError::Unauthenticated(body.message),
        ("PERMISSION_DENIED", _) | (_, 403) => DatabricksError::PermissionDenied(body.message),
        ("NOT_FOUND" | "RESOURCE_DOES_NOT_EXIST", _) | (_, 404) => DatabricksError::NotFound(body.message),
        (code, status) => DatabricksError::Api { status, code: code.to_string(), message: body.message },
    }
}
