//! `replicate [catalog] [--dry-run]`, the Run and Cancel buttons, and
//! `cancel ID`: a plan first, a run after a click.
//!
//! Planning reads both metastores with the person's own identity, so it is
//! answered in two steps: a "planning" card at once, the plan card in its
//! place when the reads are done. The plan is stored, and Run executes that
//! plan, not a fresh one: what runs is what the person read.

use std::sync::Arc;

use serde_json::Value;

use super::actor::{ActingAs, Actor, DatabricksTokens};
use super::error::TurnError;
use super::operations::Start;
use super::plan_view::{Audience, Viewer};
use super::plans::PlanRequest;
use super::replication_assets;
use super::replication_plan::{kind_label, StoredReplicationPlan};
use super::replication_run::ReplicationJob;
use super::runs::{catalog_label, worded_time};
use super::{now_ms, Answer, Bot};
use crate::access::Role;
use crate::assets::coverage::Coverage;
use crate::assets::AssetPlan;
use crate::botframework::activity::Activity;
use crate::cards::views::{self};
use crate::cards::{self};
use crate::pairs::Pair;
use crate::replication::plan::{ActionKind, Plan};
use crate::replication::read::read_snapshot;
use crate::replication::{history, planner, principal_survey, volume_survey};
use crate::store::operations::Kind;
use crate::store::plans::PlanKind;

/// Verbs of the plan and progress cards' buttons.
pub(crate) const RUN_VERB: &str = "replicate.run";
pub(crate) const CANCEL_VERB: &str = "replicate.cancel";

impl Bot {
    /// `replicate`: reads both metastores as `actor` and answers with the plan.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn plan_replication(
        self: &Arc<Self>,
        activity: &Activity,
        actor: &Actor,
        named: Option<String>,
        mut catalog: Option<String>,
        dry_run: bool,
        coverage: Coverage,
        correlation_id: &str,
    ) -> Answer {
        let conversation = activity.conversation.as_ref().map(|c| c.id.clone());
        // `replicate WORD`: a pair when one is named so, a catalog otherwise.
        let mut named = named;
        if named.is_none() {
            if let Some(word) = catalog.as_deref() {
                if matches!(self.services.store.pair(word).await, Ok(Some(_))) {
                    named = catalog.take();
                }
            }
        }
        let pair = match self.choose_pair(conversation.as_deref(), named.as_deref()).await {
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
        let request = match self.plan_request(activity, actor, "The plan could not be made", correlation_id).await {
            Ok(request) => request,
            Err(answer) => return answer,
        };
        let reading = match coverage {
            Coverage::Data => format!("both metastores for {}", catalog_label(catalog.as_deref())),
            Coverage::Both => {
                format!("both metastores for {} and both workspaces' assets", catalog_label(catalog.as_deref()))
            }
            Coverage::Assets => "both workspaces' assets".to_string(),
        };
        let placeholder =
            cards::notice("Planning the replication…", &format!("Reading {reading} as {}.", actor.display_name()));
        let bot = self.clone();
        let audience = Audience::of(activity);
        Answer::Later {
            now: placeholder,
            then: Box::pin(async move {
                match bot.make_plan(&request, &pair, catalog.clone(), dry_run, coverage).await {
                    Ok((plan_id, stored)) => {
                        let mut card = bot.plan_card(&plan_id, &stored, &Viewer::Author);
                        if let Some(audience) = &audience {
                            let verb = super::plan_view::VIEW_VERB;
                            bot.refresh_for_members(&mut card, audience, verb, &plan_id, &request.correlation_id).await;
                        }
                        card
                    }
                    Err(error) => error.card("The plan could not be made", &request.correlation_id),
                }
            }),
        }
    }

    /// Reads both sides concurrently, plans, and stores the plan: the data,
    /// the workspace assets or both, as `coverage` says.
    pub(super) async fn make_plan(
        &self,
        request: &PlanRequest,
        pair: &Pair,
        catalog: Option<String>,
        dry_run: bool,
        coverage: Coverage,
    ) -> Result<(String, StoredReplicationPlan), TurnError> {
        pair.replicates_from_primary()?;
        let (plan, assets) = match coverage {
            Coverage::Data => (self.plan_data(&request.tokens, pair, catalog.as_deref()).await?, AssetPlan::default()),
            Coverage::Assets => (Plan::default(), self.plan_assets(pair, &request.tokens).await?),
            Coverage::Both => tokio::try_join!(
                self.plan_data(&request.tokens, pair, catalog.as_deref()),
                self.plan_assets(pair, &request.tokens)
            )?,
        };
        let stored = StoredReplicationPlan {
            plan,
            catalog,
            requested_by: request.requested_by.clone(),
            pair: Some(pair.name.clone()),
            dry_run,
            coverage,
            assets,
        };
        let id = self.save_plan(PlanKind::Replication, request, &stored).await?;
        Ok((id, stored))
    }

    /// The Unity Catalog plan: both metastores read at once. A failover's
    /// sync (`failover_services.rs`) plans with it too, over the pair turned
    /// the way it syncs.
    pub(super) async fn plan_data(
        &self,
        tokens: &DatabricksTokens,
        pair: &Pair,
        catalog: Option<&str>,
    ) -> Result<Plan, TurnError> {
        let workspaces = self.pair_workspaces(pair)?;
        let settings = &self.pair_settings(pair);
        let token = tokens.get(false).await?;
        let [primary_read, secondary_read] = settings.read_options_per_side(catalog);
        let (primary, secondary) = tokio::join!(
            read_snapshot(&workspaces.primary, &token, &primary_read),
            read_snapshot(&workspaces.secondary, &token, &secondary_read)
        );
        let mut primary = primary.map_err(|source| TurnError::Read { side: "primary", source })?;
        let mut secondary = secondary.map_err(|source| TurnError::Read { side: "secondary", source })?;
        // Freshness from each table's history, not its commit properties
        // (which need not move on an append); see replication/history.rs.
        // It is asked of the primary, so on the primary's warehouse.
        if let Some(warehouse_id) = primary_read.warehouse_id.as_deref() {
            let deadline = tokio::time::Instant::now() + primary_read.statement_timeout;
            let unread = history::freshen(
                &self.services.store,
                &pair.name,
                &workspaces.primary,
                &token,
                warehouse_id,
                primary_read.concurrency,
                deadline,
                &mut primary,
                &mut secondary,
            )
            .await?;
            if let Some((table, why)) = unread.iter().next() {
                tracing::warn!(tables = unread.len(), %table, %why, "history unread; those tables keep their listed commit");
            }
        }
        // Managed volumes' files, with what was copied before (the manifest).
        volume_survey::survey(
            &self.services.store,
            &pair.name,
            &workspaces.primary,
            &workspaces.secondary,
            &token,
            primary_read.concurrency,
            &mut primary,
            &mut secondary,
        )
        .await?;
        // Grants and owners under the pair's principal mapping; those naming
        // a principal the secondary lacks are planned blocked.
        let config = self.replication_config(pair, catalog).await?;
        let concurrency = secondary_read.concurrency;
        principal_survey::survey(&workspaces.secondary, &token, &primary, &mut secondary, &config, concurrency).await;
        Ok(planner::plan(&primary, &secondary, &config))
    }

    /// The plan's card as `viewer` sees it: its author gets Run and Cancel.
    pub(crate) fn plan_card(&self, plan_id: &str, stored: &StoredReplicationPlan, viewer: &Viewer) -> Value {
        let (plan, dry_run) = (&stored.plan, stored.dry_run);
        let catalog = stored.catalog.as_deref();
        let requested_by = &stored.requested_by;
        let (asset_summary, asset_actions, asset_blocked) = replication_assets::plan_rows(&stored.assets);
        let author = matches!(viewer, Viewer::Author);
        let mut summary: Vec<views::KindCount> = Vec::new();
        for action in &plan.actions {
            let kind = kind_label(&action.kind);
            match summary.iter_mut().find(|k| k.kind == kind) {
                Some(entry) => entry.count += 1,
                None => summary.push(views::KindCount { kind: kind.to_string(), count: 1 }),
            }
        }
        summary.extend(asset_summary);
        let unrunnable = plan.unrunnable();
        let runnable = plan.actions.len() - unrunnable.len() + asset_actions.len();
        let total = plan.actions.len() + asset_actions.len();
        let view = views::PlanView {
            plan_id: plan_id.to_string(),
            catalog_label: match stored.coverage {
                Coverage::Data => catalog_label(catalog),
                Coverage::Both => format!("{} and workspace assets", catalog_label(catalog)),
                Coverage::Assets => "workspace assets".to_string(),
            },
            source: "primary".into(),
            target: "secondary".into(),
            created_at: worded_time(now_ms()),
            requested_by: requested_by.to_string(),
            dry_run,
            can_run: author && runnable > 0 && !dry_run,
            can_cancel: author,
            who_may_act: viewer.note(),
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
                .chain(asset_actions)
                .collect(),
            blocked_total: (plan.blocked().count() + plan.not_compared.len() + asset_blocked.len()) as u64,
            blocked: plan
                .blocked()
                .map(|a| views::BlockedAction {
                    object: a.object.full_name(),
                    reason: match &a.kind {
                        ActionKind::Blocked(reason) => reason.to_string(),
                        _ => String::new(),
                    },
                })
                // What could not be compared (tags without a warehouse), said
                // beside what cannot run.
                .chain(
                    plan.not_compared
                        .iter()
                        .map(|note| views::BlockedAction { object: "tags".into(), reason: note.clone() }),
                )
                .chain(asset_blocked)
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
        let stored = match self.plan_here(activity, plan_id, PlanKind::Replication, correlation_id).await {
            Ok(stored) => stored,
            Err(answer) => return answer,
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
            scheduled: false,
            // The stored plan says what it covers; this is for a cycle that plans.
            coverage: Default::default(),
        };
        let start = Start {
            kind: Kind::Replication,
            key: format!("replicate:{plan_id}"),
            job: &job,
            pair: Some(pair),
            audit: "run a replication",
            target: catalog.as_deref(),
            already: |op| {
                cards::notice(
                    "Already running",
                    &format!(
                        "This plan runs as {}. Its card shows the progress; run {} shows the details.",
                        op.id, op.id
                    ),
                )
            },
        };
        let op = match self.start_operation(start, actor, activity, correlation_id).await {
            Ok(op) => op,
            Err(answer) => return answer,
        };
        let plan_len = serde_json::from_value::<StoredReplicationPlan>(stored.payload)
            .map(|p| p.plan.actions.len() + p.assets.items.len())
            .unwrap_or(0);
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
            blocked: 0,
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
            match op.kind {
                Kind::Deployment => return self.cancel_deployment(actor, id, &op.payload, correlation_id).await,
                Kind::Failover => return self.cancel_runbook(actor, id, correlation_id).await,
                Kind::Replication => {}
            }
        }
        let stopping = format!("Run {id} stops after the statements in flight.");
        self.request_cancel(actor, id, Role::Replicate, "cancel a run", &stopping, correlation_id).await
    }

    /// Records a cancel of `id` for its runner (wherever it runs), for a
    /// person holding `role`; `stopping` says when it takes effect.
    pub(crate) async fn request_cancel(
        &self,
        actor: &Actor,
        id: &str,
        role: Role,
        audit: &str,
        stopping: &str,
        correlation_id: &str,
    ) -> Value {
        if let Err(refusal) = self.require(actor, role, audit, Some(id), correlation_id).await {
            return refusal;
        }
        match self.services.store.request_operation_cancel(id, now_ms()).await {
            Ok(true) => {
                self.audit(actor, audit, Some(id), "requested", correlation_id).await;
                cards::notice("Stopping", stopping)
            }
            Ok(false) => cards::notice("Nothing to cancel", &format!("{id} is not running.")),
            Err(error) => {
                tracing::error!(correlation_id, %error, "cancel not recorded");
                cards::error("The cancel could not be recorded.", correlation_id)
            }
        }
    }
}
