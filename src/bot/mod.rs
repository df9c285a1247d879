//! One turn: an authenticated activity in, replies out.
//!
//! Messages are parsed into commands and answered through the connector;
//! invokes are answered in the HTTP response; the bot joining a chat gets a
//! welcome. Commands that act for a person first make sure the person is
//! signed in ([`signin`]). Everything the user sees on failure carries a
//! correlation id that is also in the log line; nothing the user typed, and
//! no token, is logged.

pub mod actor;
pub mod alerts;
mod audit;
pub mod cmd;
mod deploy;
mod deploy_cards;
mod deploy_job;
mod deploy_progress;
mod deploy_run;
mod error;
pub(crate) mod failover;
mod failover_cards;
mod failover_job;
mod failover_run;
pub mod failover_services;
mod gate;
mod managed_dr;
mod managed_status;
mod operations;
pub mod pairs;
pub(crate) mod plan_view;
mod plans;
pub mod poster;
mod readings;
pub use readings::FailoverEnded;
mod replicate;
mod replication_assets;
mod replication_plan;
mod replication_run;
mod replication_schedule;
pub mod rpo_checks;
mod runs;
pub mod scheduled_drill;
pub mod scheduled_replication;
mod signin;
mod status;
mod subscriptions;
mod trend;
mod verify;
mod whoami;

use crate::teams::lifecycle;

use std::sync::Arc;

use serde_json::Value;
use tokio_util::task::TaskTracker;

use crate::botframework::activity::{Activity, ActivityType, Attachment, Content};
use crate::botframework::auth::Caller;
use crate::botframework::connector::{ConnectorClient, ConnectorError};
use crate::botframework::user_token::{UserKey, UserTokenClient};
use crate::cards;
use crate::commands::ParseError;
use crate::config::Config;
use crate::identity::app::AppIdentity;
use crate::identity::OnBehalfOf;
use crate::ops::{Engine, EngineParts};
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
    /// A card drawn once for the process and kept serialized (`help`): sent
    /// as it is, never copied or serialized again.
    Drawn(&'static serde_json::value::RawValue),
    /// The person must sign in first: an OAuthCard.
    SignIn(Attachment),
    /// A card button's answer that is not a card (an error for the client).
    Invoke(InvokeResponse),
    /// Slow work: `now` is shown at once, and replaced in place by what
    /// `then` gives when it is done (Teams waits seconds, not minutes).
    Later {
        now: Value,
        then: futures::future::BoxFuture<'static, Value>,
    },
    /// Slow work that shows how far it got: as `Later`, and `then` may
    /// replace `now` in place while it works (coalesced, at most once per
    /// `[operations] card_update_interval_ms`) before its card replaces it last.
    Live {
        now: Value,
        then: Box<dyn FnOnce(LiveProgress) -> futures::future::BoxFuture<'static, Value> + Send>,
    },
}

/// Where slow work ([`Answer::Live`]) shows its progress card.
#[derive(Clone)]
pub(crate) struct LiveProgress(tokio::sync::mpsc::UnboundedSender<Value>);

impl LiveProgress {
    /// Shows `card` in place of the answer's card (the newest wins).
    pub fn show(&self, card: Value) {
        let _ = self.0.send(card);
    }
}

/// The outside services a turn may use.
pub struct Services {
    pub connector: Arc<ConnectorClient>,
    pub store: Store,
    pub users: UserTokenClient,
    pub obo: Arc<OnBehalfOf>,
    /// Group membership from Graph, for tokens with too many groups.
    pub groups: Arc<crate::identity::groups::GroupMembership>,
    /// The HTTP client every pair's workspace clients share.
    pub http: reqwest::Client,
    /// The bot's own identity (scheduled posts, the local demo); `None` when
    /// it could not be set up, which only disables those.
    pub app: Option<Arc<AppIdentity>>,
    pub config: Arc<Config>,
    /// This process, as the store's leases name it (fresh on every start).
    pub instance_id: String,
}

pub struct Bot {
    services: Services,
    /// Work a turn started that outlives it (a command resumed after sign-in).
    background: TaskTracker,
    /// Cancelled when the process shuts down: work that may take hours (a
    /// deployment) lets go instead of holding the shutdown up.
    stopping: tokio_util::sync::CancellationToken,
    /// Runs replications and deployments (and takes them over).
    operations: Arc<Engine>,
    /// Each warehouse's statement slots, shared by the runs on it.
    warehouse_slots: crate::replication::slots::WarehouseSlots,
    /// Turns what runs and checks observe into alerts, once, and sends them.
    alerter: Arc<crate::alerts::deliver::Alerter<alerts::TeamsAlerts>>,
}

impl Bot {
    pub fn new(services: Services) -> Arc<Bot> {
        Arc::new_cyclic(|bot| {
            let background = TaskTracker::new();
            let stopping = tokio_util::sync::CancellationToken::new();
            let operations = Engine::new(EngineParts {
                store: services.store.clone(),
                connector: services.connector.clone(),
                instance_id: services.instance_id.clone(),
                settings: services.config.operations.clone(),
                tasks: background.clone(),
                stopping: stopping.clone(),
            });
            operations.register(replication_run::Replication(bot.clone()));
            operations.register(deploy_run::Deployment(bot.clone()));
            operations.register(failover_run::Failover(bot.clone()));
            let warehouse_slots =
                crate::replication::slots::WarehouseSlots::new(services.config.replication.concurrency);
            let alerter = Arc::new(alerter(&services));
            Bot { services, background, stopping, operations, warehouse_slots, alerter }
        })
    }

    /// The per-tenant send budget alerts spend; the scheduler shares it
    /// (and divides it between the instances).
    pub fn send_budget(&self) -> Arc<crate::scheduler::budget::TenantBudget> {
        self.alerter.budget()
    }

    /// Hands observations to the alerter in the background: what is news is
    /// posted (paced), and nothing the caller does waits for it.
    pub(crate) fn observe(&self, observations: Vec<crate::alerts::Observation>) {
        if observations.is_empty() {
            return;
        }
        let alerter = self.alerter.clone();
        self.background.spawn(async move {
            if let Err(error) = alerter.handle(&observations, now_ms()).await {
                tracing::warn!(%error, "alert conditions not checked");
            }
        });
    }

    /// The alerter, for tests and the failover helper's result hook.
    pub fn alerter(&self) -> &Arc<crate::alerts::deliver::Alerter<alerts::TeamsAlerts>> {
        &self.alerter
    }

    /// The operation engine (its supervisor runs beside the server).
    pub fn operations(&self) -> &Arc<Engine> {
        &self.operations
    }

    /// Waits for background work (graceful shutdown).
    pub async fn finish_background_work(&self) {
        self.stopping.cancel();
        self.background.close();
        self.background.wait().await;
    }

    pub async fn on_activity(
        self: &Arc<Self>,
        activity: &Activity,
        caller: &Caller,
        correlation_id: &str,
    ) -> TurnOutcome {
        let anonymous = matches!(caller, Caller::Anonymous);
        if !anonymous && !self.tenant_allowed(activity) {
            return self.refuse_tenant(activity, correlation_id).await;
        }
        match &activity.kind {
            ActivityType::Message => {
                let answer = match submitted_action(activity) {
                    Some((verb, data)) => self.on_card_action(activity, &verb, &data, anonymous, correlation_id).await,
                    None => self.answer(activity, &command_text(activity), anonymous, correlation_id).await,
                };
                self.reply(activity, answer, correlation_id).await;
                TurnOutcome::Done
            }
            ActivityType::Invoke => TurnOutcome::Invoke(self.on_invoke(activity, anonymous, correlation_id).await),
            ActivityType::ConversationUpdate if activity.adds_the_bot() => {
                self.remember_conversation(activity, correlation_id).await;
                self.reply(activity, Answer::Card(cards::welcome()), correlation_id).await;
                TurnOutcome::Done
            }
            ActivityType::ConversationUpdate => {
                if let Some(gone) = lifecycle::gone(activity) {
                    self.forget(gone, correlation_id).await;
                }
                TurnOutcome::Done
            }
            // An install comes with a conversationUpdate that welcomes; here we only remember or forget.
            ActivityType::InstallationUpdate => {
                match activity.action.as_deref() {
                    Some(action) if action.starts_with("add") => {
                        self.remember_conversation(activity, correlation_id).await
                    }
                    Some(action) if action.starts_with("remove") => {
                        if let Some(gone) = lifecycle::uninstalled(activity) {
                            self.forget(gone, correlation_id).await;
                        }
                    }
                    _ => {}
                }
                TurnOutcome::Done
            }
            _ => TurnOutcome::Done,
        }
    }

    async fn on_invoke(self: &Arc<Self>, activity: &Activity, anonymous: bool, correlation_id: &str) -> InvokeResponse {
        match activity.name.as_deref() {
            Some("adaptiveCard/action") => {
                let action = activity.value.as_ref().map(|v| &v["action"]);
                let verb = action.and_then(|a| a["verb"].as_str()).unwrap_or_default().to_string();
                let data = action.map(|a| a["data"].clone()).unwrap_or(Value::Null);
                match self.on_card_action(activity, &verb, &data, anonymous, correlation_id).await {
                    Answer::Card(card) => InvokeResponse::card(card),
                    Answer::Drawn(card) => InvokeResponse::card(Content::Serialized(card).to_value()),
                    Answer::SignIn(oauth) => crate::teams::signin::login_request(&oauth),
                    Answer::Invoke(response) => response,
                    Answer::Later { now, then } => {
                        // The clicked card shows `now`; `then` replaces it in place.
                        self.replace_later(activity, activity.reply_to_id.clone(), then, correlation_id);
                        InvokeResponse::card(now)
                    }
                    Answer::Live { now, then } => {
                        self.replace_live(activity, activity.reply_to_id.clone(), then, correlation_id);
                        InvokeResponse::card(now)
                    }
                }
            }
            Some("signin/tokenExchange") => self.on_token_exchange(activity, correlation_id).await,
            Some("signin/verifyState") => self.on_verify_state(activity, correlation_id).await,
            Some("signin/failure") => self.on_sign_in_failure(activity, correlation_id).await,
            _ => InvokeResponse::not_implemented(),
        }
    }

    /// A card button: `command` runs its `data.text` as if typed; the DR
    /// verbs act on the plan or run their `data` names.
    pub(crate) async fn on_card_action(
        self: &Arc<Self>,
        activity: &Activity,
        verb: &str,
        data: &Value,
        anonymous: bool,
        correlation_id: &str,
    ) -> Answer {
        if verb == cards::COMMAND_VERB {
            return match data["text"].as_str() {
                Some(text) => self.answer(activity, text, anonymous, correlation_id).await,
                None => bad_button(correlation_id),
            };
        }
        // A plan card's refresh asks for this person's own view of it: shown
        // to whoever is in the chat, signed in or not (nothing is done).
        if verb == plan_view::VIEW_VERB {
            return self.plan_view(activity, data, correlation_id).await;
        }
        if verb == plan_view::DEPLOY_VIEW_VERB {
            return self.deploy_view(activity, data, anonymous, correlation_id).await;
        }
        if verb == failover::VIEW_VERB {
            return self.runbook_view(activity, data, anonymous, correlation_id).await;
        }
        // Only buttons of drbot's own cards, as the table lists them.
        let Some((_, button)) = cmd::verb(verb) else { return bad_button(correlation_id) };
        let actor = match self.actor(activity, anonymous).await {
            Ok(Some(actor)) => actor,
            Ok(None) => return self.prompt_sign_in(activity, signin::Resume::Click, correlation_id).await,
            Err(card) => return Answer::Card(card),
        };
        if let Err(refusal) = self.admit(&actor, button.needs, button.audit, None, correlation_id).await {
            return Answer::Card(refusal);
        }
        match verb {
            deploy::APPROVE_VERB => return self.approve_deployment(activity, &actor, data, correlation_id).await,
            deploy::CANCEL_VERB => return self.cancel_deployment_from_card(&actor, data, correlation_id).await,
            failover::APPROVE_VERB => return self.approve_runbook(activity, &actor, data, correlation_id).await,
            failover::CANCEL_VERB => {
                return self.cancel_runbook_from_card(activity, &actor, data, correlation_id).await
            }
            _ => {}
        }
        if verb == replicate::CANCEL_VERB {
            return self.cancel_from_card(&actor, data, correlation_id).await;
        }
        match plans::plan_id_of(data) {
            Some(plan_id) => self.start_replication(activity, &actor, plan_id, correlation_id).await,
            None => plans::bad_plan_button(),
        }
    }

    /// The answer to a command typed (or clicked) in `activity`'s
    /// conversation: parsed by the table, let through (or refused, and
    /// audited) by the gate for what the command needs, then handled.
    pub(crate) async fn answer(
        self: &Arc<Self>,
        activity: &Activity,
        text: &str,
        anonymous: bool,
        correlation_id: &str,
    ) -> Answer {
        let (spec, invocation) = match cmd::parse(text) {
            Ok(parsed) => parsed,
            Err(ParseError::Empty) => return cmd::help::whole_table_help(),
            Err(ParseError::Unknown { word, suggestion }) => {
                return Answer::Card(cards::with_correlation_id(
                    cards::unknown_command(&word, suggestion),
                    correlation_id,
                ))
            }
            Err(ParseError::Usage { command, usage, problem }) => {
                return Answer::Card(cards::with_correlation_id(cards::usage(command, usage, &problem), correlation_id))
            }
        };
        let needs = invocation.needs(spec);
        let actor = if needs.sign_in() {
            let actor = match self.actor(activity, anonymous).await {
                Ok(Some(actor)) => actor,
                Ok(None) => return self.prompt_sign_in(activity, signin::Resume::Command(text), correlation_id).await,
                Err(card) => return Answer::Card(card),
            };
            // The words after the name, as the parser accepted them.
            let arguments = text.split_whitespace().skip(1).collect::<Vec<_>>().join(" ");
            let target = Some(arguments.as_str()).filter(|a| !a.is_empty());
            if let Err(refusal) = self.admit(&actor, needs, spec.audit, target, correlation_id).await {
                return Answer::Card(refusal);
            }
            Some(actor)
        } else {
            None
        };
        let turn = cmd::Turn { activity, text, actor, correlation_id };
        invocation.run(self, &turn).await
    }

    /// Replies in the conversation of `inbound` (a reply to it when it has an id).
    async fn reply(self: &Arc<Self>, inbound: &Activity, answer: Answer, correlation_id: &str) {
        match answer {
            Answer::Later { now, then } => {
                let sent = self.send_reply(inbound, Answer::Card(now), correlation_id).await;
                self.replace_later(inbound, sent, then, correlation_id);
            }
            Answer::Live { now, then } => {
                let sent = self.send_reply(inbound, Answer::Card(now), correlation_id).await;
                self.replace_live(inbound, sent, then, correlation_id);
            }
            other => {
                self.send_reply(inbound, other, correlation_id).await;
            }
        }
    }

    /// Sends one reply; the id of the activity the connector created.
    async fn send_reply(&self, inbound: &Activity, answer: Answer, correlation_id: &str) -> Option<String> {
        let (Some(service_url), Some(conversation)) = (inbound.service_url.as_deref(), inbound.conversation.as_ref())
        else {
            tracing::warn!(correlation_id, "activity without serviceUrl or conversation: no reply possible");
            return None;
        };
        let mut message = Activity::new(ActivityType::Message);
        message.attachments.push(match answer {
            Answer::Card(card) | Answer::Later { now: card, .. } | Answer::Live { now: card, .. } => {
                Attachment::adaptive_card(card)
            }
            Answer::Drawn(card) => Attachment::serialized_adaptive_card(card),
            Answer::SignIn(oauth) => oauth,
            Answer::Invoke(response) => {
                // Only buttons answer this way; as a message, say what it was.
                let text = response.body.as_ref().and_then(|b| b["value"]["message"].as_str()).unwrap_or_default();
                Attachment::adaptive_card(cards::error(text, correlation_id))
            }
        });
        let reply = address_reply(inbound, message);
        let connector = &self.services.connector;
        let sent = match inbound.id.as_deref().filter(|_| inbound.kind == ActivityType::Message) {
            Some(id) => connector.reply(service_url, &conversation.id, id, &reply).await,
            None => connector.send(service_url, &conversation.id, &reply).await,
        };
        match sent {
            Ok(resource) => Some(resource.id).filter(|id| !id.is_empty()),
            Err(error) => {
                log_send_failure(&error, correlation_id);
                None
            }
        }
    }

    /// Waits for `then` in the background and puts its card in place of the
    /// activity `card_id` (or sends it, when there is no card to replace).
    fn replace_later(
        self: &Arc<Self>,
        inbound: &Activity,
        card_id: Option<String>,
        then: futures::future::BoxFuture<'static, Value>,
        correlation_id: &str,
    ) {
        let bot = self.clone();
        let inbound = inbound.clone();
        let correlation_id = correlation_id.to_string();
        self.background.spawn(async move {
            let card = then.await;
            let (Some(service_url), Some(conversation)) = (inbound.service_url.clone(), inbound.conversation.clone())
            else {
                return;
            };
            let result = match card_id {
                Some(activity_id) => {
                    let address = crate::ops::live_card::CardAddress {
                        service_url,
                        conversation_id: conversation.id,
                        activity_id,
                    };
                    crate::ops::live_card::write(&bot.services.connector, &address, card).await.map(|_| ())
                }
                None => bot
                    .send_reply(&inbound, Answer::Card(card), &correlation_id)
                    .await
                    .map(|_| ())
                    .ok_or(crate::botframework::connector::ConnectorError::Unreachable("reply not sent".into())),
            };
            if let Err(error) = result {
                log_send_failure(&error, &correlation_id);
            }
        });
    }

    /// As [`Bot::replace_later`], with the card `card_id` kept current
    /// while `then` works ([`crate::ops::live_card::LiveCard`]).
    fn replace_live(
        self: &Arc<Self>,
        inbound: &Activity,
        card_id: Option<String>,
        then: Box<dyn FnOnce(LiveProgress) -> futures::future::BoxFuture<'static, Value> + Send>,
        correlation_id: &str,
    ) {
        let address = match (card_id, inbound.service_url.clone(), inbound.conversation.clone()) {
            (Some(activity_id), Some(service_url), Some(conversation)) => {
                Some(crate::ops::live_card::CardAddress { service_url, conversation_id: conversation.id, activity_id })
            }
            _ => None,
        };
        let Some(address) = address else {
            // No card to keep current: only the final card, sent as a reply.
            let (sender, _) = tokio::sync::mpsc::unbounded_channel();
            return self.replace_later(inbound, None, then(LiveProgress(sender)), correlation_id);
        };
        let bot = self.clone();
        let correlation_id = correlation_id.to_string();
        let interval = std::time::Duration::from_millis(self.services.config.operations.card_update_interval_ms);
        self.background.spawn(async move {
            let live = crate::ops::live_card::LiveCard::start(bot.services.connector.clone(), address, interval);
            let (sender, mut shown) = tokio::sync::mpsc::unbounded_channel();
            let work = then(LiveProgress(sender));
            tokio::pin!(work);
            let card = loop {
                tokio::select! {
                    card = &mut work => break card,
                    Some(progress) = shown.recv() => live.show(progress),
                }
            };
            if let Err(error) = live.finish(card).await {
                log_send_failure(&error, &correlation_id);
            }
        });
    }

    /// Keeps what is needed to post here later (scheduled posts, finished operations).
    async fn remember_conversation(&self, activity: &Activity, correlation_id: &str) {
        let Some(reference) = conversation_reference(activity) else { return };
        if let Err(error) = self.services.store.save_conversation(&reference, now_ms()).await {
            tracing::error!(correlation_id, %error, "conversation reference not saved");
        }
    }

    /// Forgets the conversations drbot can no longer post to, and their
    /// scheduled posts, at once.
    async fn forget(&self, gone: lifecycle::Gone, correlation_id: &str) {
        let store = &self.services.store;
        let forgotten = match &gone {
            lifecycle::Gone::Conversation(id) => store.forget_conversation(id).await.map(u64::from),
            lifecycle::Gone::Channel(id) => store.forget_channel(id).await,
            lifecycle::Gone::Team(id) => store.forget_team(id).await,
        };
        match forgotten {
            // Ids stay out of the log: they are the team's and its people's.
            Ok(count) => tracing::info!(correlation_id, what = gone.what(), count, "conversations forgotten"),
            Err(error) => tracing::error!(correlation_id, %error, "conversation references not removed"),
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
        teams_channel_id: channel_data.as_ref().and_then(|d| d.channel.as_ref()).map(|c| c.id.clone()),
        team_id: channel_data.and_then(|d| d.team).map(|t| t.id),
        installed_by_oid: activity.from.as_ref().and_then(|f| f.aad_object_id.clone()),
    })
}

/// The alerter over Teams: chats through the connector, the activity feed
/// through Graph as the bot (when it has an identity), each tenant at
/// Teams' 50 sends a second, each conversation at Teams' limits.
fn alerter(services: &Services) -> crate::alerts::deliver::Alerter<alerts::TeamsAlerts> {
    let feed = services.app.clone().map(|app| {
        crate::teams::activity_feed::ActivityFeed::new(
            services.http.clone(),
            &services.config.endpoints.graph,
            app,
            crate::botframework::connector::RetryPolicy::default(),
        )
    });
    let sink =
        alerts::TeamsAlerts::new(services.store.clone(), services.connector.clone(), feed, &services.config.bot.app_id);
    crate::alerts::deliver::Alerter::new(
        services.store.clone(),
        sink,
        Arc::new(crate::scheduler::budget::TenantBudget::new(crate::scheduler::TENANT_SENDS_PER_SECOND)),
        &crate::botframework::pacing::TEAMS_CONVERSATION_LIMITS,
    )
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn log_send_failure(error: &ConnectorError, correlation_id: &str) {
    tracing::error!(correlation_id, %error, "reply could not be delivered");
}

/// An Action.Submit (the fallback of Action.Execute on older clients) that
/// carries a DR verb: `(verb, data)`.
fn submitted_action(activity: &Activity) -> Option<(String, Value)> {
    let value = activity.value.as_ref()?;
    let verb = value["verb"].as_str().filter(|v| *v != cards::COMMAND_VERB)?;
    Some((verb.to_string(), value.clone()))
}

/// A button drbot did not make (or no longer understands).
fn bad_button(correlation_id: &str) -> Answer {
    tracing::info!(correlation_id, "unknown card action");
    Answer::Invoke(InvokeResponse::error(
        400,
        "UnknownAction",
        &format!("drbot does not know this button. Correlation id: {correlation_id}"),
    ))
}

/// The command a message carries: its text, or an Action.Submit's `data.text`.
fn command_text(activity: &Activity) -> String {
    let typed = activity.text.as_deref().map(mentions::strip_mentions).unwrap_or_default();
    if !typed.is_empty() {
        return typed;
    }
    activity.value.as_ref().and_then(|v| v["text"].as_str()).map(mentions::strip_mentions).unwrap_or_default()
}
