//! Teams, the client: builds activities exactly as Teams sends them, signs
//! them with a channel token and posts them to the bot.
//!
//! Tests and the HTTP route `POST /_sandbox/teams/send` both use it, so a
//! message "typed" in the sandbox reaches the bot the way a real one would.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::channel::{Channel, CHANNEL_ID};
use crate::directory::{Directory, User};

/// Where a message is typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conversation {
    /// One-to-one chat with the bot.
    Personal { id: String },
    /// A group chat the bot was added to.
    GroupChat { id: String },
    /// A channel of a team.
    Channel { id: String, team_id: String, channel_id: String },
}

impl Conversation {
    pub fn id(&self) -> &str {
        match self {
            Conversation::Personal { id } | Conversation::GroupChat { id } | Conversation::Channel { id, .. } => id,
        }
    }
}

/// What the bot answered on the HTTP request.
#[derive(Clone, Debug)]
pub struct BotResponse {
    pub status: u16,
    pub body: Value,
}

/// The Teams client stand-in.
pub struct Teams {
    channel: Arc<Channel>,
    pub directory: Directory,
    pub tenant_id: String,
    pub bot_app_id: String,
    pub bot_name: String,
    service_url: RwLock<String>,
    bot_endpoint: RwLock<String>,
    http: reqwest::Client,
}

impl Teams {
    pub fn new(channel: Arc<Channel>, directory: Directory, tenant_id: &str, bot_app_id: &str) -> Arc<Teams> {
        Arc::new(Teams {
            channel,
            directory,
            tenant_id: tenant_id.to_string(),
            bot_app_id: bot_app_id.to_string(),
            bot_name: "drbot".to_string(),
            service_url: RwLock::new(String::new()),
            bot_endpoint: RwLock::new(String::new()),
            http: reqwest::Client::new(),
        })
    }

    /// The connector's URL as activities carry it (`serviceUrl`, with a trailing slash).
    pub fn service_url(&self) -> String {
        self.service_url.read().clone()
    }

    pub fn set_service_url(&self, url: &str) {
        *self.service_url.write() = format!("{}/", url.trim_end_matches('/'));
    }

    /// Where activities are posted: the bot's `/api/messages`.
    pub fn set_bot_endpoint(&self, url: &str) {
        *self.bot_endpoint.write() = url.to_string();
    }

    pub fn bot_endpoint(&self) -> String {
        self.bot_endpoint.read().clone()
    }

    pub fn user(&self, who: &str) -> anyhow::Result<User> {
        self.directory.user(who).cloned().ok_or_else(|| anyhow::anyhow!("no sandbox user '{who}'"))
    }

    /// The personal chat between `user` and the bot.
    pub fn personal(&self, user: &User) -> Conversation {
        Conversation::Personal { id: format!("a:1personal-{}", user.oid) }
    }

    pub fn group_chat(&self, name: &str) -> Conversation {
        Conversation::GroupChat { id: format!("19:{name}@thread.v2") }
    }

    pub fn channel(&self, team: &str, channel: &str) -> Conversation {
        Conversation::Channel {
            id: format!("19:{channel}@thread.tacv2;messageid=1700000000000"),
            team_id: format!("19:{team}@thread.tacv2"),
            channel_id: format!("19:{channel}@thread.tacv2"),
        }
    }

    /// The fields every activity from Teams carries.
    pub fn base_activity(&self, kind: &str, user: &User, conversation: &Conversation) -> Value {
        let now = chrono::Utc::now();
        let (conversation_json, channel_data) = match conversation {
            Conversation::Personal { id } => (
                json!({"conversationType": "personal", "tenantId": self.tenant_id, "id": id}),
                json!({"tenant": {"id": self.tenant_id}}),
            ),
            Conversation::GroupChat { id } => (
                json!({"isGroup": true, "conversationType": "groupChat", "tenantId": self.tenant_id, "id": id}),
                json!({"tenant": {"id": self.tenant_id}}),
            ),
            Conversation::Channel { id, team_id, channel_id } => (
                json!({"isGroup": true, "conversationType": "channel", "tenantId": self.tenant_id, "id": id}),
                json!({
                    "teamsChannelId": channel_id,
                    "teamsTeamId": team_id,
                    "channel": {"id": channel_id},
                    "team": {"id": team_id},
                    "tenant": {"id": self.tenant_id},
                }),
            ),
        };
        json!({
            "type": kind,
            "id": format!("1{}", now.timestamp_millis()),
            "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "localTimestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "serviceUrl": self.service_url(),
            "channelId": CHANNEL_ID,
            "from": {"id": user.teams_id, "name": user.name, "aadObjectId": user.oid},
            "conversation": conversation_json,
            "recipient": {"id": format!("28:{}", self.bot_app_id), "name": self.bot_name},
            "locale": "en-US",
            "channelData": channel_data,
        })
    }

    /// A typed message. In group chats and channels Teams prefixes the mention.
    pub fn message(&self, user: &User, conversation: &Conversation, text: &str) -> Value {
        let mut activity = self.base_activity("message", user, conversation);
        let mentioned = !matches!(conversation, Conversation::Personal { .. });
        let at = format!("<at>{}</at>", self.bot_name);
        activity["textFormat"] = json!("plain");
        activity["text"] = json!(if mentioned { format!("{at} {text}") } else { text.to_string() });
        let mut entities = vec![
            json!({"type": "clientInfo", "locale": "en-US", "country": "US", "platform": "Web", "timezone": "Europe/Amsterdam"}),
        ];
        if mentioned {
            entities.push(json!({
                "type": "mention",
                "text": at,
                "mentioned": {"id": format!("28:{}", self.bot_app_id), "name": self.bot_name},
            }));
        }
        activity["entities"] = json!(entities);
        activity
    }

    /// An invoke (`adaptiveCard/action`, `signin/tokenExchange`, …).
    pub fn invoke(&self, user: &User, conversation: &Conversation, name: &str, value: Value) -> Value {
        let mut activity = self.base_activity("invoke", user, conversation);
        activity["name"] = json!(name);
        activity["value"] = value;
        activity
    }

    /// An `Action.Execute` click on a card the bot sent as `reply_to`.
    pub fn card_action(
        &self,
        user: &User,
        conversation: &Conversation,
        reply_to: &str,
        verb: &str,
        data: Value,
    ) -> Value {
        let mut activity = self.invoke(
            user,
            conversation,
            "adaptiveCard/action",
            json!({"action": {"type": "Action.Execute", "id": uuid::Uuid::new_v4().to_string(), "verb": verb, "data": data}, "trigger": "manual"}),
        );
        activity["replyToId"] = json!(reply_to);
        activity
    }

    /// Teams' `signin/tokenExchange` after an OAuthCard: the user's SSO token for the bot's API.
    pub fn token_exchange(
        &self,
        user: &User,
        conversation: &Conversation,
        exchange_id: &str,
        connection: &str,
        token: &str,
    ) -> Value {
        self.invoke(
            user,
            conversation,
            "signin/tokenExchange",
            json!({"id": exchange_id, "connectionName": connection, "token": token}),
        )
    }

    /// The bot was added to a conversation.
    pub fn bot_added(&self, user: &User, conversation: &Conversation) -> Value {
        let mut activity = self.base_activity("conversationUpdate", user, conversation);
        activity["membersAdded"] = json!([{"id": format!("28:{}", self.bot_app_id)}]);
        activity
    }

    /// The app was installed (`add`) or removed (`remove`).
    pub fn installation_update(&self, user: &User, conversation: &Conversation, action: &str) -> Value {
        let mut activity = self.base_activity("installationUpdate", user, conversation);
        activity["action"] = json!(action);
        activity
    }

    /// A valid channel token for this activity.
    pub fn token_for(&self, activity: &Value) -> String {
        let service_url = activity["serviceUrl"].as_str().unwrap_or_default();
        self.channel.token(&self.bot_app_id, service_url)
    }

    /// Signs and posts the activity, as Teams does.
    pub async fn send(&self, activity: &Value) -> anyhow::Result<BotResponse> {
        let token = self.token_for(activity);
        self.send_raw(activity.to_string().into_bytes(), Some(&format!("Bearer {token}"))).await
    }

    /// Signs and posts the activity to another bot endpoint (a second instance of the bot).
    pub async fn send_to(&self, endpoint: &str, activity: &Value) -> anyhow::Result<BotResponse> {
        let token = self.token_for(activity);
        self.post(endpoint, activity.to_string().into_bytes(), Some(&format!("Bearer {token}"))).await
    }

    /// Posts arbitrary bytes with an arbitrary Authorization header (for hostile-input tests).
    pub async fn send_raw(&self, body: Vec<u8>, authorization: Option<&str>) -> anyhow::Result<BotResponse> {
        self.post(&self.bot_endpoint(), body, authorization).await
    }

    async fn post(&self, endpoint: &str, body: Vec<u8>, authorization: Option<&str>) -> anyhow::Result<BotResponse> {
        let mut request = self.http.post(endpoint).header("content-type", "application/json").body(body);
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok(BotResponse { status, body })
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().route("/_sandbox/teams/send", post(send_route)).with_state(self.clone())
    }
}

/// `POST /_sandbox/teams/send`: what a person does in Teams.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    /// `alice`, a UPN or an object id.
    user: String,
    /// `personal` (default), `group` or `channel`.
    #[serde(default)]
    conversation: Option<String>,
    /// A message's text.
    #[serde(default)]
    text: Option<String>,
    /// An invoke: `{name, value}`.
    #[serde(default)]
    invoke: Option<InvokeRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvokeRequest {
    name: String,
    #[serde(default)]
    value: Value,
}

async fn send_route(State(teams): State<Arc<Teams>>, Json(request): Json<SendRequest>) -> Response {
    let user = match teams.user(&request.user) {
        Ok(user) => user,
        Err(e) => return (StatusCode::NOT_FOUND, Json(json!({"error": e.to_string()}))).into_response(),
    };
    let conversation = match request.conversation.as_deref().unwrap_or("personal") {
        "personal" => teams.personal(&user),
        "group" => teams.group_chat("sandbox-group"),
        "channel" => teams.channel("sandbox-team", "sandbox-channel"),
        other => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("unknown conversation '{other}': personal, group or channel")})),
            )
                .into_response()
        }
    };
    let activity = match (request.text, request.invoke) {
        (Some(text), None) => teams.message(&user, &conversation, &text),
        (None, Some(invoke)) => teams.invoke(&user, &conversation, &invoke.name, invoke.value),
        _ => {
            return (StatusCode::BAD_REQUEST, Json(json!({"error": "give exactly one of text or invoke"})))
                .into_response()
        }
    };
    match teams.send(&activity).await {
        Ok(answer) => Json(json!({"status": answer.status, "body": answer.body, "activity": activity})).into_response(),
        Err(e) => {
            (StatusCode::BAD_GATEWAY, Json(json!({"error": format!("the bot did not answer: {e}")}))).into_response()
        }
    }
}
