//! One turn: an authenticated activity in, replies out.
//!
//! Messages are parsed into commands and answered through the connector;
//! invokes are answered in the HTTP response; the bot joining a chat gets a
//! welcome. Everything the user sees on failure carries a correlation id that
//! is also in the log line, and nothing the user typed is logged.

use std::sync::Arc;

use serde_json::Value;

use crate::botframework::activity::{Activity, ActivityType};
use crate::botframework::connector::{ConnectorClient, ConnectorError};
use crate::cards;
use crate::commands::{self, catalog, Command, ParseError};
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

pub struct Bot {
    connector: Arc<ConnectorClient>,
    store: Store,
}

impl Bot {
    pub fn new(connector: Arc<ConnectorClient>, store: Store) -> Bot {
        Bot { connector, store }
    }

    pub async fn on_activity(&self, activity: &Activity, correlation_id: &str) -> TurnOutcome {
        match &activity.kind {
            ActivityType::Message => {
                let text = command_text(activity);
                let card = self.answer(&text);
                self.reply(activity, card, correlation_id).await;
                TurnOutcome::Done
            }
            ActivityType::Invoke => TurnOutcome::Invoke(self.on_invoke(activity)),
            ActivityType::ConversationUpdate if activity.adds_the_bot() => {
                self.remember_conversation(activity, correlation_id).await;
                self.reply(activity, cards::welcome(), correlation_id).await;
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

    fn on_invoke(&self, activity: &Activity) -> InvokeResponse {
        match activity.name.as_deref() {
            Some("adaptiveCard/action") => {
                let action = activity.value.as_ref().map(|v| &v["action"]);
                let verb = action.and_then(|a| a["verb"].as_str()).unwrap_or_default();
                let text = action.and_then(|a| a["data"]["text"].as_str());
                match (verb, text) {
                    (cards::COMMAND_VERB, Some(text)) => InvokeResponse::card(self.answer(text)),
                    _ => InvokeResponse::error(400, "UnknownAction", "drbot does not know this button."),
                }
            }
            _ => InvokeResponse::not_implemented(),
        }
    }

    /// The card that answers a command.
    fn answer(&self, text: &str) -> Value {
        match commands::parse(text) {
            Ok(Command::Help { topic: None }) | Err(ParseError::Empty) => {
                cards::help(&catalog::available().collect::<Vec<_>>())
            }
            Ok(Command::Help { topic: Some(topic) }) => match catalog::find(&topic) {
                Some(help) => cards::help(&[help]),
                None => cards::unknown_command(&topic, catalog::closest_command(&topic)),
            },
            Ok(other) => cards::not_available(command_name(&other)),
            Err(ParseError::Unknown { word, suggestion }) => cards::unknown_command(&word, suggestion),
            Err(ParseError::Usage { command, usage, problem }) => cards::usage(command, usage, &problem),
        }
    }

    async fn reply(&self, inbound: &Activity, card: Value, correlation_id: &str) {
        let (Some(service_url), Some(conversation)) = (inbound.service_url.as_deref(), inbound.conversation.as_ref())
        else {
            tracing::warn!(correlation_id, "activity without serviceUrl or conversation: no reply possible");
            return;
        };
        let reply = address_reply(inbound, Activity::card(card));
        let sent = match inbound.id.as_deref() {
            Some(id) => self.connector.reply(service_url, &conversation.id, id, &reply).await,
            None => self.connector.send(service_url, &conversation.id, &reply).await,
        };
        if let Err(error) = sent {
            log_send_failure(&error, correlation_id);
        }
    }
}

impl Bot {
    /// Keeps what is needed to post here later (scheduled posts, finished operations).
    async fn remember_conversation(&self, activity: &Activity, correlation_id: &str) {
        let Some(reference) = conversation_reference(activity) else { return };
        if let Err(error) = self.store.save_conversation(&reference, now_ms()).await {
            tracing::error!(correlation_id, %error, "conversation reference not saved");
        }
    }

    async fn forget_conversation(&self, activity: &Activity, correlation_id: &str) {
        let Some(conversation) = &activity.conversation else { return };
        if let Err(error) = self.store.forget_conversation(&conversation.id).await {
            tracing::error!(correlation_id, %error, "conversation reference not removed");
        }
    }
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

fn now_ms() -> i64 {
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
