//! One turn: an authenticated activity in, replies out.
//!
//! Messages are parsed into commands and answered through the connector;
//! invokes are answered in the HTTP response; the bot joining a chat gets a
//! welcome. Commands that act for a person first make sure the person is
//! signed in ([`signin`]). Everything the user sees on failure carries a
//! correlation id that is also in the log line; nothing the user typed, and
//! no token, is logged.

mod signin;
mod whoami;

use std::sync::Arc;

use serde_json::Value;
use tokio_util::task::TaskTracker;

use crate::botframework::activity::{Activity, ActivityType, Attachment};
use crate::botframework::connector::{ConnectorClient, ConnectorError};
use crate::botframework::user_token::{UserKey, UserTokenClient};
use crate::cards;
use crate::commands::{self, catalog, Command, ParseError};
use crate::databricks::WorkspaceClient;
use crate::identity::OnBehalfOf;
use crate::store::conversations::ConversationReference;
use crate::store::Store;
use crate::teams::invoke::InvokeResponse;
use crate::teams::{address_reply, mentions};

/// What the HTTP layer answers for a turn.
#[derive(Debug, PartialEq)]
pub enum TurnOutcome {
    /// 200 with no body: the replies went through the connector.
    Done,
    /// The invoke's answer, in the HTTP response.
    Invoke(InvokeResponse),
}

/// What a command produces.
pub(crate) enum Answer {
    Card(Value),
    /// The person must sign in first: an OAuthCard.
    SignIn(Attachment),
}

/// The outside services a turn may use.
pub struct Services {
    pub connector: Arc<ConnectorClient>,
    pub store: Store,
    pub users: UserTokenClient,
    pub obo: OnBehalfOf,
    pub primary: Option<WorkspaceClient>,
}

pub struct Bot {
    services: Services,
    /// Work a turn started that outlives it (a command resumed after sign-in).
    background: TaskTracker,
}

impl Bot {
    pub fn new(services: Services) -> Arc<Bot> {
        Arc::new(Bot { services, background: TaskTracker::new() })
    }

    /// Waits for background work (graceful shutdown).
    pub async fn finish_background_work(&self) {
        self.background.close();
        self.background.wait().await;
    }

    pub async fn on_activity(self: &Arc<Self>, activity: &Activity, correlation_id: &str) -> TurnOutcome {
        match &activity.kind {
            ActivityType::Message => {
                let text = command_text(activity);
                let answer = self.answer(activity, &text, correlation_id).await;
                self.reply(activity, answer, correlation_id).await;
                TurnOutcome::Done
            }
            ActivityType::Invoke => TurnOutcome::Invoke(self.on_invoke(activity, correlation_id).await),
            ActivityType::ConversationUpdate if activity.adds_the_bot() => {
                self.remember_conversation(activity, correlation_id).await;
                self.reply(activity, Answer::Card(cards::welcome()), correlation_id).await;
                TurnOutcome::Done
            }
            // An install comes with a conversationUpdate that welcomes; here we only remember or forget.
            ActivityType::InstallationUpdate => {
                match activity.action.as_deref() {
                    Some(action) if action.starts_with("add") => {
                        self.remember_conversation(activity, correlation_id).await
                    }
                    Some(action) if action.starts_with("remove") => {
                        self.forget_conversation(activity, correlation_id).await
                    }
                    _ => {}
                }
                TurnOutcome::Done
            }
            _ => TurnOutcome::Done,
        }
    }

    async fn on_invoke(self: &Arc<Self>, activity: &Activity, correlation_id: &str) -> InvokeResponse {
        match activity.name.as_deref() {
            Some("adaptiveCard/action") => {
                let action = activity.value.as_ref().map(|v| &v["action"]);
                let verb = action.and_then(|a| a["verb"].as_str()).unwrap_or_default();
                let text = action.and_then(|a| a["data"]["text"].as_str());
                match (verb, text) {
                    (cards::COMMAND_VERB, Some(text)) => match self.answer(activity, text, correlation_id).await {
                        Answer::Card(card) => InvokeResponse::card(card),
                        Answer::SignIn(oauth) => crate::teams::signin::login_request(&oauth),
                    },
                    _ => InvokeResponse::error(
                        400,
                        "UnknownAction",
                        &format!("drbot does not know this button. Correlation id: {correlation_id}"),
                    ),
                }
            }
            Some("signin/tokenExchange") => self.on_token_exchange(activity, correlation_id).await,
            Some("signin/verifyState") => self.on_verify_state(activity, correlation_id).await,
            Some("signin/failure") => self.on_sign_in_failure(activity, correlation_id).await,
            _ => InvokeResponse::not_implemented(),
        }
    }

    /// The answer to a command typed (or clicked) in `activity`'s conversation.
    pub(crate) async fn answer(&self, activity: &Activity, text: &str, correlation_id: &str) -> Answer {
        let card = match commands::parse(text) {
            Ok(Command::Help { topic: None }) | Err(ParseError::Empty) => {
                cards::help(&catalog::available().collect::<Vec<_>>())
            }
            Ok(Command::Help { topic: Some(topic) }) => match catalog::find(&topic) {
                Some(help) => cards::help(&[help]),
                None => cards::unknown_command(&topic, catalog::closest_command(&topic)),
            },
            Ok(Command::Whoami) => return self.whoami(activity, text, correlation_id).await,
            Ok(Command::Signout) => self.sign_out(activity, correlation_id).await,
            Ok(other) => cards::not_available(command_name(&other)),
            Err(ParseError::Unknown { word, suggestion }) => {
                cards::with_correlation_id(cards::unknown_command(&word, suggestion), correlation_id)
            }
            Err(ParseError::Usage { command, usage, problem }) => {
                cards::with_correlation_id(cards::usage(command, usage, &problem), correlation_id)
            }
        };
        Answer::Card(card)
    }

    /// Replies in the conversation of `inbound` (a reply to it when it has an id).
    async fn reply(&self, inbound: &Activity, answer: Answer, correlation_id: &str) {
        let (Some(service_url), Some(conversation)) = (inbound.service_url.as_deref(), inbound.conversation.as_ref())
        else {
            tracing::warn!(correlation_id, "activity without serviceUrl or conversation: no reply possible");
            return;
        };
        let mut message = Activity::new(ActivityType::Message);
        message.attachments.push(match answer {
            Answer::Card(card) => Attachment::adaptive_card(card),
            Answer::SignIn(oauth) => oauth,
        });
        let reply = address_reply(inbound, message);
        let connector = &self.services.connector;
        let sent = match inbound.id.as_deref().filter(|_| inbound.kind == ActivityType::Message) {
            Some(id) => connector.reply(service_url, &conversation.id, id, &reply).await,
            None => connector.send(service_url, &conversation.id, &reply).await,
        };
        if let Err(error) = sent {
            log_send_failure(&error, correlation_id);
        }
    }

    /// Keeps what is needed to post here later (scheduled posts, finished operations).
    async fn remember_conversation(&self, activity: &Activity, correlation_id: &str) {
        let Some(reference) = conversation_reference(activity) else { return };
        if let Err(error) = self.services.store.save_conversation(&reference, now_ms()).await {
            tracing::error!(correlation_id, %error, "conversation reference not saved");
        }
    }

    async fn forget_conversation(&self, activity: &Activity, correlation_id: &str) {
        let Some(conversation) = &activity.conversation else { return };
        if let Err(error) = self.services.store.forget_conversation(&conversation.id).await {
            tracing::error!(correlation_id, %error, "conversation reference not removed");
        }
    }
}

/// The token service's key for the person behind an activity.
pub(crate) fn user_key(activity: &Activity) -> Option<UserKey<'_>> {
    Some(UserKey { user_id: &activity.from.as_ref()?.id, channel_id: activity.channel_id.as_deref()? })
}

fn conversation_reference(activity: &Activity) -> Option<ConversationReference> {
    let conversation = activity.conversation.as_ref()?;
    let channel_data = activity.teams_channel_data();
    Some(ConversationReference {
        conversation_id: conversation.id.clone(),
        service_url: activity.service_url.clone()?,
        channel_id: activity.channel_id.clone()?,
        bot_id: activity.recipient.as_ref()?.id.clone(),
        tenant_id: activity.tenant_id(),
        conversation_type: conversation.conversation_type.clone(),
        teams_channel_id: channel_data.and_then(|d| d.channel).map(|c| c.id),
        installed_by_oid: activity.from.as_ref().and_then(|f| f.aad_object_id.clone()),
    })
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn log_send_failure(error: &ConnectorError, correlation_id: &str) {
    tracing::error!(correlation_id, %error, "reply could not be delivered");
}

/// The command a message carries: its text, or an Action.Submit's `data.text`.
fn command_text(activity: &Activity) -> String {
    let typed = activity.text.as_deref().map(mentions::strip_mentions).unwrap_or_default();
    if !typed.is_empty() {
        return typed;
    }
    activity.value.as_ref().and_then(|v| v["text"].as_str()).map(mentions::strip_mentions).unwrap_or_default()
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Help { .. } => "help",
        Command::Status => "status",
        Command::Replicate { .. } => "replicate",
        Command::Runs => "runs",
        Command::Run { .. } => "run",
        Command::Cancel { .. } => "cancel",
        Command::Subscribe { .. } => "subscribe",
        Command::Unsubscribe => "unsubscribe",
        Command::Subscriptions => "subscriptions",
        Command::DeployHub | Command::DeploySpoke { .. } => "deploy",
        Command::Whoami => "whoami",
        Command::Signout => "signout",
        Command::Audit => "audit",
    }
}
