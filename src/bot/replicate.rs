//! `replicate [catalog] [--dry-run]`, the Run and Cancel buttons, and
//! `cancel ID`: a plan first, a run after a click.
//!
//! Planning reads both metastores with the person's own identity, so it is
//! answered in two steps: a "planning" card at once, the plan card in its
//! place when the reads are done. The plan is stored, and Run executes that
//! plan, not a fresh one: what runs is what the person read.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::actor::{ActingAs, Actor, DatabricksTokens};
use super::error::TurnError;
use super::replication_run::{ReplicationJob, REPLICATION};
use super::runs::{catalog_label, worded_time};
use super::{now_ms, Answer, Bot};
use crate::access::Role;
use crate::botframework::activity::Activity;
use crate::cards::views::{self};
use crate::cards::{self};
use crate::pairs::Pair;
use crate::replication::plan::{ActionKind, Plan};
use crate::replication::read::read_snapshot;
use crate::replication::{history, planner};
use crate::store::operations::NewOperation;
use crate::store::plans::StoredPlan;
use crate::teams::invoke::InvokeResponse;

/// What a stored replication plan holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredReplicationPlan {
    pub plan: Plan,
    pub catalog: Option<String>,
    pub requested_by: String,
    /// The pair it was read from (plans made before pairs are `default`'s).
    #[serde(default)]
    pub pair: Option<String>,
    /// Made by `replicate --dry-run`: shown, never run.
    #[serde(default)]
    pub dry_run: bool,
}

/// Who asked for a plan, and where.
struct Asker {
    conversation_id: String,
    /// Display name, shown on the plan card.
    name: String,
    oid: Option<String>,
}

/// Verbs of the plan and progress cards' buttons.
pub(crate) const RUN_VERB: &str = "replicate.run";
pub(crate) const CANCEL_VERB: &str = "replicate.cancel";

/// The plan card's heading for a kind of action.
pub(crate) fn kind_label(kind: &ActionKind) -> &'static str {
    match kind {
        ActionKind::CreateCatalog { .. } => "Create catalog",
        ActionKind::UpdateCatalog { .. } | ActionKind::UpdateSchema { .. } => "Update comment and properties",
        ActionKind::CreateSchema { .. } => "Create schema",
        ActionKind::CreateRecipient { .. }
        | ActionKind::CreateShare
        | ActionKind::AddSchemasToShare { .. }
        | ActionKind::GrantShareSelect { .. }
        | ActionKind::MountSharedCatalog { .. } => "Set up Delta Sharing",
        ActionKind::CloneTable { .. } => "Deep clone table",
        ActionKind::RegisterExternalTable { .. } => "Register external table",
        ActionKind::CreateView { .. } => "Create view",
        ActionKind::CreateExternalVolume { .. } => "Create volume",
        ActionKind::Grant { .. } | ActionKind::Revoke { .. } => "Update grants",
        ActionKind::SetOwner { .. } => "Set owner",
        ActionKind::Drop => "Drop (prune)",
        ActionKind::Blocked(_) => "Cannot replicate",
    }
}

impl Bot {
    /// `replicate`: reads both metastores as `actor` and answers with the plan.
    pub(crate) async fn plan_replication(
        self: &Arc<Self>,
        activity: &Activity,
        actor: &Actor,
        named: Option<String>,
        mut catalog: Option<String>,
        dry_run: bool,
        correlation_id: &str,
    ) -> Answer {
        let Some(conversation) = activity.conversation.as_ref().map(|c| c.id.clone()) else {
            return Answer::Card(cards::error("This activity has no conversation.", correlation_id));
        };
        // `replicate WORD`: a pair when one is named so, a catalog otherwise.
        let mut named = named;
        if named.is_none() {
            if let Some(word) = catalog.as_deref() {
                if matches!(self.services.store.pair(word).await, Ok(Some(_))) {
                    named = catalog.take();
                }
            }
        }
        let pair = match self.choose_pair(Some(&conversation), named.as_deref()).await {
            Ok(pair) => pair,
            Err(error) => return Answer::Card(error.card(correlation_id)),
        };
        // The gate (`cmd/replicate.rs`) has checked the role a real run needs.
        let what = if dry_run { "plan a replication" } else { "replicate" };
        let target = match &catalog {
            Some(catalog) => format!("{} {catalog}", pair.name),
            None => pair.name.clone(),
        };
        self.audit(actor, what, Some(&target), "allowed", correlation_id).await;
        self.remember_conversation(activity, correlation_id).await;
        let tokens = match self.tokens_for(actor) {
            Ok(tokens) => tokens,
            Err(error) => return Answer::Card(error.card("The plan could not be made", correlation_id)),
        };
        let placeholder = cards::notice(
            "Planning the replication…",
            &format!("Reading both metastores for {} as {}.", catalog_label(catalog.as_deref()), actor.display_name()),
        );
        let bot = self.clone();
        let correlation_id = correlation_id.to_string();
        let requested_by = actor.display_name().to_string();
        let asker =
            Asker { conversation_id: conversation, name: requested_by.clone(), oid: actor.oid().map(str::to_string) };
        Answer::Later {
            now: placeholder,
            then: Box::pin(async move {
                match bot.make_plan(&tokens, &pair, catalog.clone(), dry_run, asker).await {
                    Ok((plan_id, plan)) => bot.plan_card(&plan_id, &plan, catalog.as_deref(), &requested_by, dry_run),
                    Err(error) => error.card("The plan could not be made", &correlation_id),
                }
            }),
        }
    }

    /// Reads both sides concurrently, plans, and stores the plan.
    async fn make_plan(
        &self,
        tokens: &DatabricksTokens,
        pair: &Pair,
        catalog: Option<String>,
        dry_run: bool,
        asker: Asker,
    ) -> Result<(String, Plan), TurnError> {
        let workspaces = self.pair_workspaces(pair).map_err(|e| TurnError::NotConfigured(e.to_string()))?;
        let settings = &self.pair_settings(pair);
        let token = tokens.get(false).await?;
        let read = settings.read_options(catalog.as_deref());
        let (primary, secondary) = tokio::join!(
            read_snapshot(&workspaces.primary, &token, &read),
            read_snapshot(&workspaces.secondary, &token, &read)
        );
        let mut primary = primary.map_err(|source| TurnError::Read { side: "primary", source })?;
        let mut secondary = secondary.map_err(|source| TurnError::Read { side: "secondary", source })?;
        // Freshness from each table's history, not its commit properties
        // (which need not move on an append); see replication/history.rs.
        if let Some(warehouse_id) = read.warehouse_id.as_deref() {
            let deadline = tokio::time::Instant::now() + read.statement_timeout;
            let unread = history::freshen(
                &self.services.store,
                &workspaces.primary,
                &token,
                warehouse_id,
                read.concurrency,
                deadline,
                &mut primary,
                &mut secondary,
            )
            .await?;
            if let Some((table, why)) = unread.iter().next() {
                tracing::warn!(tables = unread.len(), %table, %why, "history unread; those tables keep their listed commit");
            }
        }
        let plan = planner::plan(&primary, &secondary, &settings.replication_config(catalog.as_deref()));
        let id = uuid::Uuid::new_v4().to_string();
        let stored = StoredPlan {
            id: id.clone(),
            kind: REPLICATION.into(),
            conversation_id: asker.conversation_id,
            created_by_oid: asker.oid,
            created_ms: now_ms(),
            expires_ms: now_ms() + (self.services.config.operations.plan_ttl_secs * 1000) as i64,
            payload: serde_json::to_value(StoredReplicationPlan {
                plan: plan.clone(),
                catalog,
                requested_by: asker.name,
                pair: Some(pair.name.clone()),
                dry_run,
            })?,
        };
        self.services.store.save_plan(&stored).await?;
        Ok((id, plan))
    }

    fn plan_card(&self, plan_id: &str, plan: &Plan, catalog: Option<&str>, requested_by: &str, dry_run: bool) -> Value {
        let mut summary: Vec<views::KindCount> = Vec::new();
        for action in &plan.actions {
            let kind = kind_label(&action.kind);
            match summary.iter_mut().find(|k| k.kind == kind) {
                Some(entry) => entry.count += 1,
                None => summary.push(views::KindCount { kind: kind.to_string(), count: 1 }),
            }
        }
        let unrunnable = plan.unrunnable();
        let runnable = plan.actions.len() - unrunnable.len();
        let total = plan.actions.len();
        let view = views::PlanView {
            plan_id: plan_id.to_string(),
            catalog_label: catalog_label(catalog),
            source: "primary".into(),
            target: "secondary".into(),
            created_at: worded_time(now_ms()),
            requested_by: requested_by.to_string(),
            dry_run,
            can_run: runnable > 0 && !dry_run,
            can_cancel: true,
            total_actions: total as u64,
            summary,
            actions_heading: if dry_run {
                format!("Dry run: {total} action(s), nothing has changed yet")
            } else {
                format!("{total} action(s)")
            },
            actions: plan
                .actions
                .iter()
                .map(|a| views::PlannedAction {
                    kind: kind_label(&a.kind).to_string(),
                    object: a.object.full_name(),
                    detail: a.describe(),
                })
                .collect(),
            blocked_total: plan.blocked().count() as u64,
            blocked: plan
                .blocked()
                .map(|a| views::BlockedAction {
                    object: a.object.full_name(),
                    reason: match &a.kind {
                        ActionKind::Blocked(reason) => reason.to_string(),
                        _ => String::new(),
                    },
                })
                .collect(),
        };
        views::render_plan(&view).unwrap_or_else(|error| cards::error(&error.to_string(), plan_id))
    }

    /// The Run button: starts the stored plan as a durable operation, once.
    pub(crate) async fn start_replication(
        self: &Arc<Self>,
        activity: &Activity,
        actor: &Actor,
        plan_id: &str,
        correlation_id: &str,
    ) -> Answer {
        if let Err(refusal) = self.require(actor, Role::Replicate, "run a replication", None, correlation_id).await {
            return Answer::Card(refusal);
        }
        let store = &self.services.store;
        let conversation_id = activity.conversation.as_ref().map(|c| c.id.clone()).unwrap_or_default();
        let stored = match store.plan(plan_id, now_ms()).await {
            Ok(Some(stored)) if stored.conversation_id == conversation_id && stored.kind == REPLICATION => stored,
            Ok(_) => {
                return Answer::Card(cards::notice(
                    "This plan can no longer run",
                    "It expired or belongs to another conversation. Plan again with replicate.",
                ))
            }
            Err(error) => {
                tracing::error!(correlation_id, %error, "plan unavailable");
                return Answer::Card(cards::error("The plan could not be read.", correlation_id));
            }
        };
        if stored.payload["dry_run"].as_bool() == Some(true) {
            // Its card offers no Run; a click that names it anyway was made by hand.
            return Answer::Card(cards::notice(
                "A dry run does not run",
                "This plan was a dry run: nothing changes. Plan with replicate (without --dry-run) to run it.",
            ));
        }
        // The plan is what its author could read; the run acts as the clicker.
        // Someone else's plan would show and act on objects the clicker may
        // never have seen, so it runs only for the person who read it.
        let same_reader = match (stored.created_by_oid.as_deref(), actor.oid()) {
            (Some(author), Some(clicker)) => author.eq_ignore_ascii_case(clicker),
            (None, None) => true,
            _ => false,
        };
        if !same_reader {
            self.audit(
                actor,
                "run a replication",
                Some(plan_id),
                "refused: plan read by another person",
                correlation_id,
            )
            .await;
            return Answer::Card(cards::with_correlation_id(
                cards::notice(
                    "This plan was read by someone else",
                    "A plan shows what the person who asked for it may read, and a run acts as the person who \
                     clicks. Run replicate yourself: your plan is read with your own access, then Run it.",
                ),
                correlation_id,
            ));
        }
        let catalog = stored.payload["catalog"].as_str().map(str::to_string);
        let pair = stored.payload["pair"].as_str().unwrap_or(crate::pairs::DEFAULT_PAIR).to_string();
        let Some(acting_as) = ActingAs::in_turn(actor, activity) else {
            return Answer::Card(cards::error("This activity names no user.", correlation_id));
        };
        let job = ReplicationJob {
            plan_id: plan_id.to_string(),
            catalog: catalog.clone(),
            acting_as,
            service_url: activity.service_url.clone().unwrap_or_default(),
            started_by: actor.display_name().to_string(),
            started_ms: now_ms(),
            pair: Some(pair.clone()),
            in_flight: Default::default(),
        };
        let new = NewOperation {
            idempotency_key: format!("replicate:{plan_id}"),
            kind: REPLICATION.into(),
            conversation_id: conversation_id.clone(),
            card_activity_id: activity.reply_to_id.clone(),
            started_by_oid: actor.oid().map(str::to_string),
            started_by_upn: Some(actor.upn().to_string()),
            pair: Some(pair),
            payload: serde_json::to_value(&job).unwrap_or(Value::Null),
        };
        let (op, created) = match self.operations.start(&new).await {
            Ok(created) => created,
            Err(error) => {
                tracing::error!(correlation_id, %error, "operation not created");
                return Answer::Card(cards::error("The run could not be started.", correlation_id));
            }
        };
        if !created {
            // A double click or a replayed invoke: the run that exists, not a second.
            return Answer::Card(cards::notice(
                "Already running",
                &format!("This plan runs as {}. Its card shows the progress; run {} shows the details.", op.id, op.id),
            ));
        }
        self.audit(actor, "run a replication", catalog.as_deref(), &format!("started {}", op.id), correlation_id).await;
        let plan_len =
            serde_json::from_value::<StoredReplicationPlan>(stored.payload).map(|p| p.plan.actions.len()).unwrap_or(0);
        let first = views::ProgressView {
            run_id: op.id.clone(),
            plan_id: plan_id.to_string(),
            catalog_label: catalog_label(catalog.as_deref()),
            started_at: worded_time(job.started_ms),
            started_by: job.started_by.clone(),
            updated_at: worded_time(now_ms()),
            done: 0,
            total: plan_len as u64,
            percent: 0,
            bar_done: 0,
            bar_left: 0,
            succeeded: 0,
            failed: 0,
            skipped: 0,
            kinds: Vec::new(),
            current: Vec::new(),
            can_cancel: true,
        }
        .with_bar();
        let card = views::render_progress(&first).unwrap_or_else(|e| cards::error(&e.to_string(), correlation_id));
        Answer::Card(card)
    }

    /// Cancel on a plan card (discard it) or a progress card (stop the run).
    pub(crate) async fn cancel_from_card(&self, actor: &Actor, data: &Value, correlation_id: &str) -> Answer {
        match data["run_id"].as_str() {
            Some(run_id) => Answer::Card(self.cancel_operation(actor, run_id, correlation_id).await),
            None => Answer::Card(cards::notice("Plan discarded", "Nothing was changed.")),
        }
    }

    /// `cancel ID` and the progress card's Cancel: asks the run to stop.
    pub(crate) async fn cancel_operation(&self, actor: &Actor, id: &str, correlation_id: &str) -> Value {
        if let Ok(Some(op)) = self.services.store.operation(id).await {
            if op.kind == super::deploy_run::DEPLOYMENT {
                return self.cancel_deployment(actor, id, &op.payload, correlation_id).await;
            }
        }
        if let Err(refusal) = self.require(actor, Role::Replicate, "cancel a run", Some(id), correlation_id).await {
            return refusal;
        }
        match self.services.store.request_operation_cancel(id, now_ms()).await {
            Ok(true) => {
                self.audit(actor, "cancel a run", Some(id), "requested", correlation_id).await;
                cards::notice("Stopping", &format!("Run {id} stops after the statements in flight."))
            }
            Ok(false) => cards::notice("Nothing to cancel", &format!("{id} is not running.")),
            Err(error) => {
                tracing::error!(correlation_id, %error, "cancel not recorded");
                cards::error("The cancel could not be recorded.", correlation_id)
            }
        }
    }

    /// Databricks tokens for a turn's actor.
    pub(crate) fn tokens_for(&self, actor: &Actor) -> Result<DatabricksTokens, TurnError> {
        match actor {
            Actor::Person(user) => Ok(DatabricksTokens::User { obo: self.services.obo.clone(), user: user.clone() }),
            Actor::Local => self
                .services
                .app
                .clone()
                .map(DatabricksTokens::App)
                .ok_or_else(|| TurnError::NotConfigured("the bot's own identity is not configured".into())),
        }
    }
}

/// The button data a Run click carries.
pub(crate) fn plan_id_of(data: &Value) -> Option<&str> {
    data["plan_id"].as_str().filter(|id| id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// For a Run click without a usable plan id.
pub(crate) fn bad_plan_button() -> Answer {
    Answer::Invoke(InvokeResponse::error(400, "BadRequest", "This button carries no plan."))
}
