//! A replication started from chat, as a durable operation.
//!
//! The operation row holds what a restarted bot needs to carry on: the plan
//! it runs (by id), whose identity it acts with, where its card is, and the
//! statements submitted but not yet known to be finished. Results go to the
//! run history as they come, so a resumed run skips what already succeeded
//! and reconciles the statements in flight by id instead of starting them
//! again. The engine (`crate::ops`) does the rest: the lease, takeover,
//! cancel, the live card, the outcome and the one result card.
//!
//! A scheduled cycle (`src/bot/scheduled_replication.rs`) is the same kind,
//! acting as the bot: it starts without a plan, reads both metastores and
//! stores its plan exactly as `replicate` does for a person (checkpointed,
//! so a takeover runs that plan), then runs it. Nobody waits on a card for
//! it: only a failure is posted where the schedule was set.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Weak;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::actor::{ActingAs, DatabricksTokens};
use super::error::RunError;
use super::plans::PlanRequest;
use super::replication_plan::{kind_label, StoredReplicationPlan};
use super::runs::{catalog_label, failures, with_reasons, worded_duration, worded_time};
use super::{now_ms, Bot};
use crate::assets::apply::AssetEvent;
use crate::assets::plan::{ItemOutcome, ItemResult};
use crate::assets::AssetPlan;
use crate::cards::views::{self, Tone};
use crate::cards::{self};
use crate::identity::{AccessToken, IdentityError};
use crate::ops::kind::failure;
use crate::ops::{Ending, OperationKind, Running};
use crate::replication::plan::{ActionId, Plan};
use crate::replication::run::{self, ActionStatus, RunEvent, TokenSource};
use crate::replication::volume_survey;
use crate::store::operations::{Kind, Operation, Outcome};
use crate::store::runs::{ResultStatus, Run};

/// What the operation row carries for a replication.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ReplicationJob {
    /// The stored plan it runs; empty for a scheduled cycle until it has planned.
    pub plan_id: String,
    pub catalog: Option<String>,
    pub acting_as: ActingAs,
    pub service_url: String,
    /// Display name of who started it.
    pub started_by: String,
    pub started_ms: i64,
    /// The pair it replicates (runs started before pairs are `default`'s).
    #[serde(default)]
    pub pair: Option<String>,
    /// Action id → statement id, for statements submitted and not finished.
    #[serde(default)]
    pub in_flight: BTreeMap<String, String>,
    /// Started by the pair's schedule, as the bot.
    #[serde(default)]
    pub scheduled: bool,
    /// What a scheduled cycle plans: the schedule's coverage (a person's
    /// run has its plan already, with the coverage they asked for).
    #[serde(default)]
    pub coverage: crate::assets::coverage::Coverage,
}

impl ReplicationJob {
    /// The pair it replicates (runs started before pairs are `default`'s).
    pub fn pair_name(&self, op: &Operation) -> String {
        self.pair.clone().or_else(|| op.pair.clone()).unwrap_or_else(|| crate::pairs::DEFAULT_PAIR.into())
    }
}

impl TokenSource for DatabricksTokens {
    async fn token(&self, fresh: bool) -> Result<AccessToken, IdentityError> {
        self.get(fresh).await
    }
}

/// Counts for the progress card.
struct Progress {
    total: usize,
    done: usize,
    succeeded: usize,
    failed: usize,
    blocked: usize,
    skipped: usize,
    per_kind: BTreeMap<String, (usize, usize)>,
    running: BTreeMap<ActionId, (String, String)>,
}

impl Progress {
    fn new(plan: &Plan) -> Progress {
        let mut per_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for action in &plan.actions {
            per_kind.entry(kind_label(&action.kind).to_string()).or_default().1 += 1;
        }
        Progress {
            total: plan.actions.len(),
            done: 0,
            succeeded: 0,
            failed: 0,
            blocked: 0,
            skipped: 0,
            per_kind,
            running: BTreeMap::new(),
        }
    }

    fn started(&mut self, plan: &Plan, action: &ActionId) {
        if let Some(found) = plan.get(action) {
            self.running.insert(action.clone(), (kind_label(&found.kind).to_string(), found.object.full_name()));
        }
    }

    fn finished(&mut self, plan: &Plan, action: &ActionId, status: ActionStatus) {
        self.running.remove(action);
        self.done += 1;
        match status {
            ActionStatus::Succeeded => self.succeeded += 1,
            ActionStatus::Failed => self.failed += 1,
            ActionStatus::Blocked => self.blocked += 1,
            ActionStatus::Skipped | ActionStatus::Canceled => self.skipped += 1,
        }
        if let Some(found) = plan.get(action) {
            self.per_kind.entry(kind_label(&found.kind).to_string()).or_default().0 += 1;
        }
    }

    /// The workspace assets' items, run after the data: every item has a result.
    fn add_assets(&mut self, assets: &AssetPlan) {
        self.total += assets.items.len();
        for item in &assets.items {
            self.per_kind.entry(asset_heading(&item.kind)).or_default().1 += 1;
        }
    }

    fn asset_started(&mut self, id: &str, name: &str) {
        let kind = id.split_once(':').map_or(id, |(kind, _)| kind);
        self.running.insert(ActionId(id.to_string()), (format!("Copy {kind}"), name.to_string()));
    }

    fn asset_finished(&mut self, result: &ItemResult) {
        self.running.remove(&ActionId(result.id.clone()));
        self.done += 1;
        match result.outcome {
            ItemOutcome::Done | ItemOutcome::Unchanged => self.succeeded += 1,
            ItemOutcome::Failed(_) => self.failed += 1,
            ItemOutcome::Blocked(_) => self.blocked += 1,
            ItemOutcome::Canceled => self.skipped += 1,
        }
        self.per_kind.entry(asset_heading(&result.kind)).or_default().0 += 1;
    }

    fn view(&self, op: &Operation, job: &ReplicationJob, can_cancel: bool) -> views::ProgressView {
        views::ProgressView {
            run_id: op.id.clone(),
            plan_id: job.plan_id.clone(),
            catalog_label: catalog_label(job.catalog.as_deref()),
            started_at: worded_time(job.started_ms),
            started_by: job.started_by.clone(),
            updated_at: worded_time(now_ms()),
            done: self.done as u64,
            total: self.total as u64,
            percent: 0,
            bar_done: 0,
            bar_left: 0,
            succeeded: self.succeeded as u64,
            failed: self.failed as u64,
            blocked: self.blocked as u64,
            skipped: self.skipped as u64,
            kinds: self
                .per_kind
                .iter()
                .map(|(kind, (done, total))| views::KindProgress {
                    kind: kind.to_string(),
                    done: *done as u64,
                    total: *total as u64,
                })
                .collect(),
            current: self
                .running
                .values()
                .map(|(action, object)| views::CurrentItem { action: action.clone(), object: object.clone() })
                .collect(),
            can_cancel,
        }
        .with_bar()
    }
}

/// How often asset results re-render the progress card.
const ASSET_CARD_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// The progress card's heading for an asset kind.
fn asset_heading(kind: &str) -> String {
    format!("Workspace assets: {kind}")
}

/// Replication as an operation kind: it runs in this process, so a lost
/// lease stops it, and the next owner resumes from the run history and the
/// statements checkpointed in flight.
pub(crate) struct Replication(pub Weak<Bot>);

impl OperationKind for Replication {
    type State = ReplicationJob;
    type Error = RunError;
    const KIND: Kind = Kind::Replication;

    async fn run(&self, op: &Operation, job: ReplicationJob, running: &Running) -> Result<Ending, RunError> {
        let bot = self.0.upgrade().ok_or(RunError::ShuttingDown)?;
        let pair = job.pair_name(op);
        let started_ms = job.started_ms;
        let ended = bot.run_replication(op, job, running).await;
        if let Err(problem) = &ended {
            // The run history says why too (`run ID`).
            let _ = bot.services.store.finish_run(&op.id, now_ms(), &failure(problem)).await;
        }
        let counts = match &ended {
            Ok(Ending::Finished { result, .. }) => Some(result.clone()),
            Ok(Ending::LetGo) => None,
            Err(problem) => Some(failure(problem)),
        };
        if let Some(counts) = counts {
            bot.run_ended(&pair, &op.id, started_ms, &counts).await;
        }
        ended
    }

    async fn result_card(&self, op: &Operation, job: ReplicationJob) -> Value {
        match self.0.upgrade() {
            Some(bot) => bot.result_card(op, &job).await,
            None => cards::error("The bot is shutting down.", &op.id),
        }
    }
}

impl Bot {
    async fn run_replication(
        &self,
        op: &Operation,
        mut job: ReplicationJob,
        running: &Running,
    ) -> Result<Ending, RunError> {
        let services = &self.services;
        let store = &services.store;
        // The run's row first, so a run that cannot even start is in the
        // history with why. Not the first attempt when it exists already.
        let resumed = !store
            .start_run(&Run {
                id: op.id.clone(),
                started_by_oid: op.started_by_oid.clone(),
                started_by_upn: op.started_by_upn.clone(),
                catalog_filter: job.catalog.clone(),
                dry_run: false,
                started_ms: job.started_ms,
                finished_ms: None,
                counts: None,
                scheduled: job.scheduled,
            })
            .await?;
        let pair_name = job.pair_name(op);
        let pair = store.pair(&pair_name).await?.ok_or_else(|| RunError::PairGone(pair_name.clone()))?;
        // A plan read before a failover must not run after it.
        pair.replicates_from_primary()?;
        let tokens = self.tokens_acting_as(&job.acting_as).await?;
        if job.plan_id.is_empty() {
            // A scheduled cycle: the plan a person would read first, read as the bot.
            let request = PlanRequest {
                conversation_id: op.conversation_id.clone(),
                requested_by: job.started_by.clone(),
                creator: None,
                tokens: tokens.clone(),
                correlation_id: op.id.clone(),
            };
            let (plan_id, _) = self.make_plan(&request, &pair, job.catalog.clone(), false, job.coverage).await?;
            job.plan_id = plan_id;
            running.checkpoint(&job).await;
        }
        let stored = store.plan(&job.plan_id, 0).await?.ok_or(RunError::PlanGone)?;
        let stored =
            serde_json::from_value::<StoredReplicationPlan>(stored.payload).map_err(RunError::PlanUnreadable)?;
        let (plan, assets, coverage) = (stored.plan, stored.assets, stored.coverage);
        let whole_metastore = stored.catalog.is_none();
        let workspaces = self.pair_workspaces(&pair)?;

        // What an earlier attempt finished is not done again.
        let earlier = store.run_results(&op.id, false, 0, i64::MAX).await?;
        let done: BTreeSet<ActionId> = earlier
            .iter()
            .filter(|r| r.status == ResultStatus::Succeeded)
            .map(|r| ActionId(r.object_name.clone()))
            .collect();
        let mut options = self.pair_settings(&pair).run_options();
        options.warehouse_slots = Some(self.warehouse_slots.of(&pair.secondary.url, &workspaces.warehouse_id));
        options.done = done;
        options.in_flight = job.in_flight.iter().map(|(a, s)| (ActionId(a.clone()), s.clone())).collect();
        options.resumed = resumed;
        // Volume files an earlier attempt copied are not copied again.
        options.copied_files = std::sync::Arc::new(volume_survey::manifest(&store.copied_files(&pair_name).await?));
        if !options.done.is_empty() || !options.in_flight.is_empty() {
            tracing::info!(
                operation = %op.id,
                done = options.done.len(),
                in_flight = options.in_flight.len(),
                "resuming a replication"
            );
        }

        let (events, mut received) = mpsc::unbounded_channel();
        let mut progress = Progress::new(&plan);
        progress.add_assets(&assets);
        let cancel = running.cancel();
        let runner = run::run_plan(&plan, &workspaces, &tokens, options, cancel.clone(), events);
        tokio::pin!(runner);
        let report = loop {
            tokio::select! {
                report = &mut runner => break report,
                Some(event) = received.recv() => {
                    self.on_run_event(op, &plan, &mut job, &mut progress, &event, running).await;
                    running.show(self.progress_card(&progress, op, &job, true));
                }
            }
        };
        while let Ok(event) = received.try_recv() {
            self.on_run_event(op, &plan, &mut job, &mut progress, &event, running).await;
        }
        if running.lost() {
            return Ok(Ending::LetGo);
        }
        // The workspace assets, after the data (jobs name tables and notebooks
        // the data run may just have created).
        let mut asset_results = Vec::new();
        if !assets.items.is_empty() {
            // A card is rendered a few times a second at most: hundreds of
            // jobs finish in seconds, and the live card coalesces anyway.
            let mut shown: Option<std::time::Instant> = None;
            asset_results = self
                .run_assets(op, &pair, &tokens, &assets, running, |event| {
                    match event {
                        AssetEvent::Started { id, name } => progress.asset_started(id, name),
                        AssetEvent::Finished(result) => progress.asset_finished(result),
                    }
                    if shown.is_none_or(|at| at.elapsed() >= ASSET_CARD_EVERY) || progress.done == progress.total {
                        running.show(self.progress_card(&progress, op, &job, true));
                        shown = Some(std::time::Instant::now());
                    }
                })
                .await?;
            if running.lost() {
                return Ok(Ending::LetGo);
            }
        }
        let tally = crate::assets::apply::tally(&asset_results);
        let asset_count = |label: &str| tally.get(label).copied().unwrap_or(0);

        let canceled = report.canceled || cancel.is_cancelled();
        let failed = report.count(ActionStatus::Failed) + asset_count("failed");
        let outcome = if canceled {
            Outcome::Canceled
        } else if failed == 0 {
            Outcome::Succeeded
        } else {
            Outcome::Failed
        };
        let mut counts = json!({
            "outcome": outcome.as_str(),
            "plan_id": job.plan_id,
            "succeeded": report.count(ActionStatus::Succeeded) + asset_count("done"),
            "failed": failed,
            "blocked": report.count(ActionStatus::Blocked) + asset_count("blocked"),
            "skipped": report.count(ActionStatus::Skipped) + report.count(ActionStatus::Canceled)
                + asset_count("cancelled"),
            "makespan_ms": report.makespan.as_millis() as u64,
        });
        if !asset_results.is_empty() {
            counts["assets"] = json!(tally);
        }
        // What the run covered, for the blocked-objects alerts
        // (`alerts::condition::replication_blocked`).
        if coverage.data() {
            counts["blocked_data"] = json!(report.count(ActionStatus::Blocked));
            counts["whole_metastore"] = json!(whole_metastore);
        }
        if coverage.assets() {
            counts["blocked_assets"] = json!(asset_count("blocked"));
        }
        store.finish_run(&op.id, now_ms(), &counts).await?;
        Ok(Ending::Finished { outcome, result: counts })
    }

    /// Records an action's result, and checkpoints the statements in flight.
    async fn on_run_event(
        &self,
        op: &Operation,
        plan: &Plan,
        job: &mut ReplicationJob,
        progress: &mut Progress,
        event: &RunEvent,
        running: &Running,
    ) {
        if let Err(error) = run::record(&self.services.store, &job.pair_name(op), &op.id, plan, event).await {
            tracing::error!(operation = %op.id, %error, "result not recorded");
        }
        let checkpoint = match event {
            RunEvent::Started { action } => {
                progress.started(plan, action);
                false
            }
            RunEvent::StatementSubmitted { action, statement_id } => {
                job.in_flight.insert(action.0.clone(), statement_id.clone());
                true
            }
            RunEvent::Finished { action, result } => {
                progress.finished(plan, action, result.status);
                job.in_flight.remove(&action.0).is_some()
            }
            RunEvent::FileCopied { .. } => false,
        };
        if checkpoint {
            running.checkpoint(&*job).await;
        }
    }

    fn progress_card(&self, progress: &Progress, op: &Operation, job: &ReplicationJob, running: bool) -> Value {
        let view = progress.view(op, job, running);
        views::render_progress(&view).unwrap_or_else(|error| cards::error(&error.to_string(), &op.id))
    }

    /// The result card; none (`Null`) for a scheduled cycle that succeeded:
    /// nobody is waiting on it, and `runs` and the dashboard show it.
    async fn result_card(&self, op: &Operation, job: &ReplicationJob) -> Value {
        let store = &self.services.store;
        let run = store.run(&op.id).await.ok().flatten();
        let results = store.run_results(&op.id, true, 0, 200).await.unwrap_or_default();
        let counts = op.result.clone().or_else(|| run.as_ref().and_then(|r| r.counts.clone())).unwrap_or(Value::Null);
        if job.scheduled && (Outcome::of(&counts) == Some(Outcome::Succeeded) || job.service_url.is_empty()) {
            return Value::Null;
        }
        let number = |key: &str| counts[key].as_u64().unwrap_or(0);
        let (label, color) = match Outcome::of(&counts) {
            Some(Outcome::Succeeded) if number("blocked") > 0 => ("succeeded, with objects blocked", Tone::Warning),
            Some(Outcome::Succeeded) => ("succeeded", Tone::Good),
            Some(Outcome::Canceled) => ("cancelled", Tone::Warning),
            Some(Outcome::Failed) if counts["error"].is_string() => ("failed", Tone::Attention),
            _ => ("finished with failures", Tone::Attention),
        };
        let mut failures = failures(&results);
        if let Some(error) = counts["error"].as_str() {
            failures.insert(
                0,
                views::Failure { object: "the run".into(), action: "start".into(), error: error.to_string() },
            );
        }
        let finished_ms = run.as_ref().and_then(|r| r.finished_ms).unwrap_or_else(now_ms);
        let view = views::ResultView {
            run_id: op.id.clone(),
            catalog_label: match job.scheduled {
                true => format!("{} (scheduled, pair {})", catalog_label(job.catalog.as_deref()), job.pair_name(op)),
                false => catalog_label(job.catalog.as_deref()),
            },
            outcome_label: label.into(),
            outcome_color: color,
            finished_at: worded_time(finished_ms),
            duration: worded_duration(finished_ms - job.started_ms),
            succeeded: number("succeeded"),
            failed: number("failed"),
            blocked: number("blocked"),
            skipped: number("skipped"),
            failures,
            blocked_items: with_reasons(&results, ResultStatus::Blocked),
            skipped_items: with_reasons(&results, ResultStatus::Skipped),
        };
        views::render_result(&view).unwrap_or_else(|error| cards::error(&error.to_string(), &op.id))
    }
}
