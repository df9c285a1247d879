//! The connector client: how the bot talks back.
//!
//! Send, reply, update, delete and create conversation against the
//! activity's `serviceUrl`, with the bot's own token. Throttling and
//! transient failures (429, 412, 502, 503, 504) are retried, honouring
//! `Retry-After`, a bounded number of times; sends are paced per
//! conversation so Teams rarely needs to throttle us at all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::activity::{Activity, ChannelAccount};
use super::bot_token::{BotTokenError, BotTokenProvider};
use super::pacing;
use super::service_hosts::ServiceHosts;
use crate::microsoft_retry::{retryable, Attempt};
use crate::rate_limit::RateLimiter;

/// The retry policy is shared with Microsoft Graph's client.
pub use crate::microsoft_retry::RetryPolicy;

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("the bot is not in this conversation any more ({code})")]
    NotInConversation { code: String },
    #[error("connector answered HTTP {status}: {code}")]
    Http { status: u16, code: String },
    #[error("connector unreachable: {0}")]
    Unreachable(String),
    #[error("gave up after {attempts} attempts (last HTTP {last_status})")]
    GaveUp { attempts: u32, last_status: u16 },
    #[error("bot token: {0}")]
    Token(#[from] BotTokenError),
    #[error("invalid service URL")]
    InvalidServiceUrl,
    /// The bot's token never goes to a host outside the allow-list.
    #[error("the service URL's host is not an allowed connector host")]
    ForeignServiceHost,
}

/// `{"id": …}`: what the connector returns for a send.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ResourceResponse {
    #[serde(default)]
    pub id: String,
}

/// A new conversation for proactive messages.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationParameters {
    pub is_group: bool,
    pub bot: Value,
    pub members: Vec<Value>,
    pub tenant_id: String,
    pub channel_data: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<Activity>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationResourceResponse {
    pub id: String,
    #[serde(default)]
    pub activity_id: Option<String>,
    #[serde(default)]
    pub service_url: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
}

/// The connector client. One per bot; cheap to share.
pub struct ConnectorClient {
    http: reqwest::Client,
    token: Arc<BotTokenProvider>,
    pacer: RateLimiter,
    retry: RetryPolicy,
    hosts: ServiceHosts,
}

impl ConnectorClient {
    /// A client that sends the bot's token only to `hosts`.
    pub fn new(
        http: reqwest::Client,
        token: Arc<BotTokenProvider>,
        retry: RetryPolicy,
        hosts: ServiceHosts,
    ) -> ConnectorClient {
        ConnectorClient { http, token, pacer: pacing::teams_conversations(), retry, hosts }
    }

    /// The per-conversation pacer, for the periodic sweep of idle conversations.
    pub fn pacer(&self) -> &RateLimiter {
        &self.pacer
    }

    /// `POST v3/conversations/{id}/activities`
    pub async fn send(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity: &Activity,
    ) -> Result<ResourceResponse, ConnectorError> {
        let url = activities_url(service_url, conversation_id, None)?;
        self.pacer.acquire(conversation_id).await;
        self.call(Method::POST, url, Some(activity)).await.map(|body| resource(&body))
    }

    /// `POST v3/conversations/{id}/activities/{replyToId}`
    pub async fn reply(
        &self,
        service_url: &str,
        conversation_id: &str,
        reply_to_id: &str,
        activity: &Activity,
    ) -> Result<ResourceResponse, ConnectorError> {
        let url = activities_url(service_url, conversation_id, Some(reply_to_id))?;
        self.pacer.acquire(conversation_id).await;
        self.call(Method::POST, url, Some(activity)).await.map(|body| resource(&body))
    }

    /// `PUT v3/conversations/{id}/activities/{activityId}`: replace a card in place.
    pub async fn update(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
        activity: &Activity,
    ) -> Result<ResourceResponse, ConnectorError> {
        let url = activities_url(service_url, conversation_id, Some(activity_id))?;
        self.pacer.acquire(conversation_id).await;
        self.call(Method::PUT, url, Some(activity)).await.map(|body| resource(&body))
    }

    /// `DELETE v3/conversations/{id}/activities/{activityId}`
    pub async fn delete(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
    ) -> Result<(), ConnectorError> {
        let url = activities_url(service_url, conversation_id, Some(activity_id))?;
        self.pacer.acquire(conversation_id).await;
        self.call(Method::DELETE, url, None::<&Value>).await.map(|_| ())
    }

    /// `POST v3/conversations`: start a conversation (proactive messages).
    pub async fn create_conversation(
        &self,
        service_url: &str,
        parameters: &ConversationParameters,
    ) -> Result<ConversationResourceResponse, ConnectorError> {
        let mut url = url::Url::parse(service_url).map_err(|_| ConnectorError::InvalidServiceUrl)?;
        url.path_segments_mut()
            .map_err(|_| ConnectorError::InvalidServiceUrl)?
            .pop_if_empty()
            .extend(["v3", "conversations"]);
        let body = self.call(Method::POST, url, Some(parameters)).await?;
        serde_json::from_slice(&body).map_err(|_| ConnectorError::Http { status: 200, code: "InvalidResponse".into() })
    }

    /// `GET v3/conversations/{id}/members`: who is in the conversation
    /// (Teams answers each member's `id`, `name` and `aadObjectId`).
    pub async fn conversation_members(
        &self,
        service_url: &str,
        conversation_id: &str,
    ) -> Result<Vec<ChannelAccount>, ConnectorError> {
        let mut url = url::Url::parse(service_url).map_err(|_| ConnectorError::InvalidServiceUrl)?;
        url.path_segments_mut().map_err(|_| ConnectorError::InvalidServiceUrl)?.pop_if_empty().extend([
            "v3",
            "conversations",
            conversation_id,
            "members",
        ]);
        let body = self.call(Method::GET, url, None::<&Value>).await?;
        serde_json::from_slice(&body).map_err(|_| ConnectorError::Http { status: 200, code: "InvalidResponse".into() })
    }

    /// One call with retries; the response body on success.
    async fn call(
        &self,
        method: Method,
        url: url::Url,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<bytes::Bytes, ConnectorError> {
        // The one place the token is attached, so the one place the host is checked.
        if !self.hosts.allows(url.as_str()) {
            tracing::warn!("connector call refused: the service URL is not an allowed connector host");
            return Err(ConnectorError::ForeignServiceHost);
        }
        // A token revoked or rotated early is fetched anew, once.
        let refreshed_token = AtomicBool::new(false);
        let (method, url, refreshed_token) = (&method, &url, &refreshed_token);
        let attempt = |_| async move {
            let token = match self.token.token().await {
                Ok(token) => token,
                Err(error) => return Attempt::Done(Err(error.into())),
            };
            let mut request =
                self.http.request(method.clone(), url.clone()).bearer_auth(token).timeout(Duration::from_secs(30));
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => return Attempt::Unreachable(ConnectorError::Unreachable(e.without_url().to_string())),
            };
            let status = response.status();
            if status.is_success() {
                let body = response.bytes().await;
                return Attempt::Done(body.map_err(|e| ConnectorError::Unreachable(e.without_url().to_string())));
            }
            if status == StatusCode::UNAUTHORIZED && !refreshed_token.swap(true, Ordering::Relaxed) {
                self.token.invalidate().await;
                return Attempt::Again;
            }
            let retry_after = crate::retry_after::from_headers(response.headers());
            let code = response.json::<ErrorBody>().await.map(|b| b.error.code).unwrap_or_default();
            if status == StatusCode::FORBIDDEN
                && (code == "BotNotInConversationRoster"
                    || code == "BotDisabledByAdmin"
                    || code.contains("MessageWritesBlocked"))
            {
                return Attempt::Done(Err(ConnectorError::NotInConversation { code }));
            }
            if retryable(status.as_u16()) {
                Attempt::Busy { status: status.as_u16(), retry_after }
            } else {
                Attempt::Done(Err(ConnectorError::Http { status: status.as_u16(), code }))
            }
        };
        self.retry
            .run("connector", attempt, |attempts, last_status| ConnectorError::GaveUp { attempts, last_status })
            .await
    }
}

/// The `{"id"}` of a send; some connectors answer an update with an empty body.
fn resource(body: &[u8]) -> ResourceResponse {
    serde_json::from_slice(body).unwrap_or_default()
}

/// `{serviceUrl}/v3/conversations/{conversation}/activities[/{activity}]`, each id
/// percent-encoded as the official SDKs do (Teams ids contain `:`, `@` and `;`).
fn activities_url(
    service_url: &str,
    conversation_id: &str,
    activity_id: Option<&str>,
) -> Result<url::Url, ConnectorError> {
    let base = url::Url::parse(service_url).map_err(|_| ConnectorError::InvalidServiceUrl)?;
    if !matches!(base.scheme(), "https" | "http") || base.cannot_be_a_base() {
        return Err(ConnectorError::InvalidServiceUrl);
    }
    let mut text =
        format!("{}/v3/conversations/{}/activities", base.as_str().trim_end_matches('/'), encode(conversation_id));
    if let Some(id) = activity_id {
        text = format!("{text}/{}", encode(id));
    }
    url::Url::parse(&text).map_err(|_| ConnectorError::InvalidServiceUrl)
}

/// Like JavaScript's `encodeURIComponent`.
fn encode(segment: &str) -> String {
    const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'!')
        .remove(b'~')
        .remove(b'*')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')');
    percent_encoding::utf8_percent_encode(segment, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_into_the_path() {
        let url =
            activities_url("https://smba.trafficmanager.net/emea/", "19:abc@thread.tacv2;messageid=1", Some("1:2"))
                .unwrap();
        assert_eq!(
            url.as_str(),
            "https://smba.trafficmanager.net/emea/v3/conversations/19%3Aabc%40thread.tacv2%3Bmessageid%3D1/activities/1%3A2"
        );
        assert!(activities_url("file:///etc/passwd", "a", None).is_err());
        assert!(activities_url("not a url", "a", None).is_err());
    }
}
