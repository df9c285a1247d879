//! A typed REST client for one Databricks workspace.
//!
//! Every call takes the caller's access token: the client never holds one,
//! so it cannot act as anyone but the person (or the bot) the token names.
//! Errors are typed from the body's `error_code` first, the HTTP status
//! second ([`error`]); requests are paced below each endpoint's documented
//! rate limit ([`pacing`]); transient failures are retried within a budget
//! ([`retry`]); lists are read to their real end ([`paging`]). The API areas
//! live beside this file: [`unity_catalog`], [`sharing`], [`statements`],
//! [`jobs`], [`files`], and the workspace assets: [`workspace_tree`]
//! (notebooks, files, folders, git folders), [`policies`], [`clusters`],
//! [`secrets`], [`sql_objects`] (queries, alerts), [`lakeview`] (AI/BI
//! dashboards).

pub mod account;
pub mod clusters;
pub mod error;
pub mod failover_groups;
pub mod files;
pub mod instance_pools;
pub mod job_definitions;
pub mod jobs;
pub mod lakeview;
pub mod links;
pub mod models;
pub mod pacing;
pub mod paging;
pub mod permissions;
pub mod policies;
pub mod replication_states;
pub mod retry;
pub mod scim;
pub mod secrets;
pub mod sharing;
pub mod sql_objects;
pub mod statements;
pub mod unity_catalog;
pub mod warehouses;
pub mod workspace_tree;

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

pub use error::DatabricksError;
pub use paging::Page;
pub use retry::RetryPolicy;

use crate::identity::AccessToken;

/// The SCIM user behind a token.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimUser {
    #[serde(default)]
    pub id: String,
    pub user_name: String,
    #[serde(default)]
    pub display_name: String,
    /// The groups the caller belongs to (SCIM `groups[].display`).
    #[serde(default)]
    pub groups: Vec<ScimGroup>,
}

/// A group a SCIM user belongs to.
#[derive(Clone, Debug, Deserialize)]
pub struct ScimGroup {
    /// The group's name, as Unity Catalog names it in owners and grants.
    #[serde(default)]
    pub display: String,
}

/// One workspace, by host.
#[derive(Clone)]
pub struct WorkspaceClient {
    http: reqwest::Client,
    host: String,
    retry: RetryPolicy,
    /// `max_results` asked of every list (0 = the server's own page length).
    page_size: u32,
    /// How long one HTTP exchange may take before it counts as unreachable.
    request_timeout: Duration,
}

/// Characters kept as they are in a path segment (names are sent whole:
/// `main.sales.orders` stays dotted; anything else is escaped).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'-').remove(b'_').remove(b'~');

/// A name as one path segment.
pub(crate) fn segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

impl WorkspaceClient {
    pub fn new(http: reqwest::Client, host: &str) -> WorkspaceClient {
        WorkspaceClient {
            http,
            host: host.trim_end_matches('/').to_string(),
            retry: RetryPolicy::default(),
            page_size: 0,
            request_timeout: Duration::from_secs(60),
        }
    }

    /// The retry policy for every call of this client.
    pub fn with_retry(mut self, retry: RetryPolicy) -> WorkspaceClient {
        self.retry = retry;
        self
    }

    /// The `max_results` of lists (0, the default, lets the server choose).
    pub fn with_page_size(mut self, page_size: u32) -> WorkspaceClient {
        self.page_size = page_size;
        self
    }

    /// The limit of one HTTP exchange (default 60 s; statements wait up to 50 s).
    pub fn with_request_timeout(mut self, timeout: Duration) -> WorkspaceClient {
        self.request_timeout = timeout;
        self
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// `GET /api/2.0/preview/scim/v2/Me`: who the workspace thinks the caller is.
    pub async fn me(&self, token: &AccessToken) -> Result<ScimUser, DatabricksError> {
        self.get("/api/2.0/preview/scim/v2/Me", &[], token).await
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        token: &AccessToken,
    ) -> Result<T, DatabricksError> {
        self.call(Method::GET, path, query, None, token).await
    }

    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Value,
        token: &AccessToken,
    ) -> Result<T, DatabricksError> {
        self.call(Method::POST, path, &[], Some(body), token).await
    }

    pub(crate) async fn put<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Value,
        token: &AccessToken,
    ) -> Result<T, DatabricksError> {
        self.call(Method::PUT, path, &[], Some(body), token).await
    }

    pub(crate) async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Value,
        token: &AccessToken,
    ) -> Result<T, DatabricksError> {
        self.call(Method::PATCH, path, &[], Some(body), token).await
    }

    pub(crate) async fn delete(
        &self,
        path: &str,
        query: &[(&str, String)],
        token: &AccessToken,
    ) -> Result<(), DatabricksError> {
        self.call::<Value>(Method::DELETE, path, query, None, token).await.map(|_| ())
    }

    /// Every object of a paginated list, read to the page without a token.
    pub(crate) async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        key: &str,
        token: &AccessToken,
    ) -> Result<Vec<T>, DatabricksError> {
        paging::collect_pages(|page_token| async move {
            let mut query = query.to_vec();
            query.push(("max_results", self.page_size.to_string()));
            if let Some(page_token) = page_token {
                query.push(("page_token", page_token));
            }
            let body: Value = self.get(path, &query, token).await?;
            Page::from_json(body, key)
        })
        .await
    }

    /// One call, retried as the policy says.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
        token: &AccessToken,
    ) -> Result<T, DatabricksError> {
        let bytes = self.retry.run(|| self.send_once(method.clone(), path, query, body.as_ref(), token)).await?;
        let bytes = if bytes.is_empty() { &b"{}"[..] } else { &bytes[..] };
        serde_json::from_slice(bytes)
            .map_err(|e| DatabricksError::Protocol(format!("{method} {path}: the answer does not parse: {e}")))
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        token: &AccessToken,
    ) -> Result<bytes::Bytes, DatabricksError> {
        pacing::pace(&self.host, &method, path).await;
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.host))
            .bearer_auth(token.secret())
            .timeout(self.request_timeout);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| DatabricksError::Unreachable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let retry_after = crate::retry_after::from_headers(response.headers());
        if status == 429 {
            pacing::hold(&self.host, &method, path, retry_after.unwrap_or(Duration::from_secs(1)));
        }
        let bytes = response.bytes().await.map_err(|e| DatabricksError::Unreachable(e.without_url().to_string()))?;
        if (200..300).contains(&status) {
            Ok(bytes)
        } else {
            Err(DatabricksError::from_response(status, &bytes, retry_after))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_path_segment() {
        assert_eq!(segment("main.sales.orders"), "main.sales.orders");
        assert_eq!(segment("a b/c?d#e"), "a%20b%2Fc%3Fd%23e");
        assert_eq!(segment("données"), "donn%C3%A9es");
    }
}
