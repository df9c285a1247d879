//! Teams activity-feed notifications through Microsoft Graph, as the bot's
//! own identity (Graph v1.0, application permission `TeamsActivity.Send`).
//! A [`FeedTarget`] says whose feed: one person
//! (`POST /users/{id}/teamwork/sendActivityNotification`), every member of a
//! team or of one of its channels (`POST /teams/{id}/sendActivityNotification`
//! with a `teamMembersNotificationRecipient` or
//! `channelMembersNotificationRecipient`), or every member of a chat
//! (`POST /chats/{id}/sendActivityNotification` with a
//! `chatMembersNotificationRecipient`). Each person sees a toast and a feed
//! item; clicking it opens `web_url`, a deep link back to the card in its
//! chat. The activity type must be declared in the app manifest's
//! `activities` section (manifest/manifest.json), and Teams delivers only
//! where drbot is installed (the user, the team, the chat).
//!
//! Throttling and transient failures (429, 412, 502, 503, 504) are retried
//! by the loop shared with the Bot Framework connector
//! (`crate::microsoft_retry`: `Retry-After` honoured, else exponential
//! back-off with jitter, a bounded number of times); the caller paces the sends.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::identity::app::AppIdentity;
use crate::identity::GRAPH_SCOPE;
use crate::microsoft_retry::{retryable, Attempt, RetryPolicy};
pub use crate::teams::feed_target::FeedTarget;

/// The activity type drbot declares in its manifest for alerts.
pub const ALERT_ACTIVITY_TYPE: &str = "drAlert";

/// One notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Declared in the manifest (`activities.activityTypes[].type`).
    pub activity_type: String,
    /// What the feed item is about (the topic's text).
    pub topic: String,
    /// The deep link the feed item opens.
    pub web_url: String,
    /// Teams shows the first 150 characters.
    pub preview: String,
    /// Values for the activity type's `templateText` placeholders.
    pub template: Vec<(String, String)>,
}

impl Notification {
    /// The request body Graph documents (topic source `text` needs `webUrl`).
    pub fn body(&self) -> Value {
        json!({
            "topic": {"source": "text", "value": self.topic, "webUrl": self.web_url},
            "activityType": self.activity_type,
            "previewText": {"content": self.preview.chars().take(150).collect::<String>()},
            "templateParameters": self.template.iter()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect::<Vec<_>>(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("no token for Graph: {0}")]
    Token(String),
    #[error("Graph answered HTTP {status}: {code}")]
    Http { status: u16, code: String },
    #[error("Graph unreachable: {0}")]
    Unreachable(String),
    #[error("gave up after {attempts} attempts (last HTTP {last_status})")]
    GaveUp { attempts: u32, last_status: u16 },
}

pub struct ActivityFeed {
    http: reqwest::Client,
    graph: String,
    app: Arc<AppIdentity>,
    retry: RetryPolicy,
}

impl ActivityFeed {
    /// A client for Graph at `graph` (`https://graph.microsoft.com`).
    pub fn new(http: reqwest::Client, graph: &str, app: Arc<AppIdentity>, retry: RetryPolicy) -> ActivityFeed {
        ActivityFeed { http, graph: graph.trim_end_matches('/').to_string(), app, retry }
    }

    /// Notifies `target`: one person, or every member of a team, channel or chat.
    pub async fn notify(&self, target: &FeedTarget, notification: &Notification) -> Result<(), FeedError> {
        let (segments, recipient) = target.route();
        let mut url = url::Url::parse(&self.graph).map_err(|e| FeedError::Unreachable(e.to_string()))?;
        url.path_segments_mut()
            .map_err(|_| FeedError::Unreachable("the Graph endpoint is not a base URL".into()))?
            .pop_if_empty()
            .push("v1.0")
            .extend(segments);
        let mut body = notification.body();
        if let Some(recipient) = recipient {
            body["recipient"] = recipient;
        }
        let (url, body) = (&url, &body);
        let attempt = |_| async move {
            let token = match self.app.token(GRAPH_SCOPE).await {
                Ok(token) => token,
                Err(error) => return Attempt::Done(Err(FeedError::Token(error.to_string()))),
            };
            let sent = self
                .http
                .post(url.clone())
                .bearer_auth(token.secret())
                .json(body)
                .timeout(Duration::from_secs(30))
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(e) => return Attempt::Unreachable(FeedError::Unreachable(e.without_url().to_string())),
            };
            let status = response.status();
            if status.is_success() {
                return Attempt::Done(Ok(()));
            }
            let retry_after = crate::retry_after::from_headers(response.headers());
            let code = response
                .json::<Value>()
                .await
                .ok()
                .and_then(|body| body["error"]["code"].as_str().map(str::to_string))
                .unwrap_or_default();
            if retryable(status.as_u16()) {
                Attempt::Busy { status: status.as_u16(), retry_after }
            } else {
                Attempt::Done(Err(FeedError::Http { status: status.as_u16(), code }))
            }
        };
        self.retry.run("Graph", attempt, |attempts, last_status| FeedError::GaveUp { attempts, last_status }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_what_graph_documents() {
        let notification = Notification {
            activity_type: ALERT_ACTIVITY_TYPE.into(),
            topic: "Pair sales".into(),
            web_url: "https://teams.microsoft.com/l/message/19%3Aabc/1".into(),
            preview: "x".repeat(200),
            template: vec![("pair".into(), "sales".into())],
        };
        let body = notification.body();
        assert_eq!(body["topic"]["source"], "text");
        assert_eq!(body["topic"]["webUrl"], "https://teams.microsoft.com/l/message/19%3Aabc/1");
        assert_eq!(body["previewText"]["content"].as_str().unwrap().len(), 150, "Teams shows 150 characters");
        assert_eq!(body["templateParameters"][0], json!({"name": "pair", "value": "sales"}));
    }
}
