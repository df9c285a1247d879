//! The failover runner's services over the real clients: a pair's two
//! workspaces (jobs, warehouses, replication, SQL), its storage account in
//! ARM and the store's active side. The runbook (`src/failover/run.rs`)
//! only sees the traits; this is the edge where they meet the wire.
//!
//! Every call acts as whoever the run acts for (the tokens given). The
//! Databricks and ARM clients retry throttling, transient 5xx and lost
//! connections themselves within their budgets; what still fails comes back
//! as a [`ControlError`] marked transient or not, and the runner decides.
//!
//! The final sync is the replication `replicate` runs (read both sides,
//! plan, run the plan), over the pair turned the way the sync goes: for a
//! failback the secondary is read as the source and the primary is written.
//! Its replicated versions are recorded as a replication records them, under
//! a key of their own per direction ([`versions_key`]), so that a failback's
//! versions (in the secondary's own numbering) never stand in for the
//! primary's in the scheduled replication or the forced failover's loss.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::actor::{DatabricksTokens, DeployTokens};
use super::error::{NotConfigured, PairError, RunError};
use super::{now_ms, Bot};
use crate::azure::{private_dns, storage_failover, ArmClient, ArmError, PollOptions};
use crate::databricks::job_definitions::JobDefinition;
use crate::databricks::jobs::{RunPhase, RunResult};
use crate::databricks::unity_catalog::{PermissionChange, Securable};
use crate::databricks::{DatabricksError, RetryPolicy, WorkspaceClient};
use crate::deploy::Tokens;
use crate::failover::aliases::DnsAlias;
use crate::failover::freeze::CatalogGrant;
use crate::failover::group::{GroupAnswer, GroupRead, StableUrl};
use crate::failover::jobs::{
    ActiveRun, ControlError, JobControl, JobRun, JobTriggers, RunStatus, Trigger, SOURCE_JOB_TAG,
};
use crate::failover::run::{Services, SyncProof};
use crate::failover::warehouses::{WarehouseControl, WarehouseInfo, WarehouseState};
use crate::identity::{AccessToken, IdentityError, ARM_SCOPE};
use crate::pairs::{Pair, Side};
use crate::replication::plan::Plan;
use crate::replication::run::{self, ActionStatus, RunEvent};
use crate::replication::snapshot::CatalogKind;

/// How long a storage account's failover is followed (Azure documents up
/// to an hour).
const STORAGE_WITHIN: Duration = Duration::from_secs(2 * 3600);
/// How long a smoke count may take.
const COUNT_WITHIN: Duration = Duration::from_secs(300);

/// The pair's services as the runner drives them, acting for one identity.
pub struct LiveServices {
    bot: Arc<Bot>,
    pair: Pair,
    tokens: DatabricksTokens,
    /// `[primary, secondary]`.
    jobs: [LiveJobs; 2],
    warehouses: [LiveWarehouses; 2],
    /// A few quick attempts: a reachability probe says so soon.
    probes: [WorkspaceClient; 2],
    arm: ArmClient,
    /// How often an ARM operation is polled (tests shorten it).
    arm_poll: Duration,
    /// A managed-DR pair's failover group (`super::managed_dr`).
    managed: Option<super::managed_dr::ManagedGroup>,
}

/// One workspace's jobs.
pub struct LiveJobs {
    client: WorkspaceClient,
    tokens: DatabricksTokens,
}

/// One workspace's SQL warehouses.
pub struct LiveWarehouses {
    client: WorkspaceClient,
    tokens: DatabricksTokens,
}

fn index(side: Side) -> usize {
    match side {
        Side::Primary => 0,
        Side::Secondary => 1,
    }
}

fn from_databricks(error: DatabricksError) -> ControlError {
    ControlError { transient: error.is_transient(), message: error.to_string() }
}

fn from_identity(error: IdentityError) -> ControlError {
    ControlError { transient: matches!(error, IdentityError::Unavailable(_)), message: error.to_string() }
}

fn arm_error(error: ArmError) -> ControlError {
    ControlError { transient: matches!(error, ArmError::Unreachable(_)), message: error.to_string() }
}

fn failed(message: String) -> ControlError {
    ControlError { message, transient: false }
}

async fn token(tokens: &DatabricksTokens) -> Result<AccessToken, ControlError> {
    tokens.get(false).await.map_err(from_identity)
}

/// One call with the identity's token; a token the workspace refused (it
/// expired during a long run) is asked for afresh once, as a replication does.
async fn with_token<T, F, Fut>(tokens: &DatabricksTokens, call: F) -> Result<T, ControlError>
where
    F: Fn(AccessToken) -> Fut,
    Fut: std::future::Future<Output = Result<T, DatabricksError>>,
{
    match call(token(tokens).await?).await {
        Err(DatabricksError::Unauthenticated(_)) => {
            let fresh = tokens.get(true).await.map_err(from_identity)?;
            call(fresh).await.map_err(from_databricks)
        }
        answered => answered.map_err(from_databricks),
    }
}

/// The settings field of each trigger (Jobs 2.2: `schedule`, `trigger`, `continuous`).
fn field(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Schedule => "schedule",
        Trigger::Trigger => "trigger",
        Trigger::Continuous => "continuous",
    }
}

const TRIGGERS: [Trigger; 3] = [Trigger::Schedule, Trigger::Trigger, Trigger::Continuous];

/// A job's triggers as the runbook sees them. A trigger without a
/// `pause_status` fires (the API's default is `UNPAUSED`).
pub fn job_triggers(job: &JobDefinition) -> JobTriggers {
    let paused = TRIGGERS
        .iter()
        .filter_map(|t| {
            let settings = job.settings[field(*t)].as_object()?;
            Some((*t, settings.get("pause_status").and_then(Value::as_str) == Some("PAUSED")))
        })
        .collect();
    JobTriggers {
        job_id: job.job_id,
        name: job.name().to_string(),
        source_job_id: job.tag(SOURCE_JOB_TAG).and_then(|id| id.trim().parse().ok()),
        paused,
    }
}

/// The `jobs/update` fields that set `triggers` of `job` to `paused`: each
/// field whole, as the job has it, with only `pause_status` changed
/// (`jobs/update` replaces a top-level field whole).
pub fn pause_fields(job: &JobDefinition, triggers: &BTreeSet<Trigger>, paused: bool) -> Result<Value, String> {
    let mut fields = Map::new();
    for trigger in triggers {
        let name = field(*trigger);
        let Some(Value::Object(whole)) = job.settings.get(name) else {
            return Err(format!("job {} has no {name}", job.job_id));
        };
        let mut whole = whole.clone();
        whole.insert("pause_status".into(), Value::String(if paused { "PAUSED" } else { "UNPAUSED" }.into()));
        fields.insert(name.into(), Value::Object(whole));
    }
    Ok(Value::Object(fields))
}

impl JobControl for LiveJobs {
    async fn jobs(&self) -> Result<Vec<JobTriggers>, ControlError> {
        let client = &self.client;
        let listed = with_token(&self.tokens, |token| async move { client.list_jobs(&token, None).await }).await?;
        Ok(listed.iter().map(job_triggers).collect())
    }

    async fn set_paused(&self, job_id: i64, triggers: &BTreeSet<Trigger>, paused: bool) -> Result<(), ControlError> {
        let client = &self.client;
        let job = with_token(&self.tokens, |token| async move { client.get_job(&token, job_id).await }).await?;
        let fields = &pause_fields(&job, triggers, paused).map_err(failed)?;
        with_token(&self.tokens, |token| async move { client.update_job(&token, job_id, fields).await }).await
    }

    async fn active_runs(&self) -> Result<Vec<ActiveRun>, ControlError> {
        let client = &self.client;
        let runs = with_token(&self.tokens, |token| async move { client.active_runs(&token).await }).await?;
        Ok(runs
            .into_iter()
            .filter(|r| !r.state.is_terminal())
            .map(|r| ActiveRun { run_id: r.run_id, job_id: r.job_id.unwrap_or_default() })
            .collect())
    }

    async fn cancel_run(&self, run_id: i64) -> Result<(), ControlError> {
        let client = &self.client;
        with_token(&self.tokens, |token| async move { client.cancel_run(&token, run_id).await }).await
    }

    async fn run_now(&self, job_id: i64, key: &str) -> Result<i64, ControlError> {
        let (client, idempotency) = (&self.client, &crate::replication::job::idempotency_token(key));
        let none = &BTreeMap::new();
        let started =
            with_token(&self.tokens, |token| async move { client.run_now(&token, job_id, idempotency, none).await })
                .await?;
        Ok(started.run_id)
    }

    async fn run(&self, run_id: i64) -> Result<JobRun, ControlError> {
        let client = &self.client;
        let run = with_token(&self.tokens, |token| async move { client.get_run(&token, run_id).await }).await?;
        let status = match run.state.phase {
            RunPhase::Terminated(RunResult::Success) => RunStatus::Succeeded,
            RunPhase::Terminated(result) => {
                let code = match result {
                    RunResult::Failed(code) => code,
                    other => format!("{other:?}").to_ascii_uppercase(),
                };
                RunStatus::Failed(match run.state.message.filter(|m| !m.is_empty()) {
                    Some(message) => format!("{code}: {message}"),
                    None => code,
                })
            }
            _ => RunStatus::Running,
        };
        Ok(JobRun { status, url: run.run_page_url })
    }
}

impl WarehouseControl for LiveWarehouses {
    async fn warehouses(&self) -> Result<Vec<WarehouseInfo>, ControlError> {
        let client = &self.client;
        let listed = with_token(&self.tokens, |token| async move { client.warehouses(&token).await }).await?;
        listed
            .into_iter()
            .map(|w| match WarehouseState::parse(&w.state) {
                Some(state) => Ok(WarehouseInfo { id: w.id, name: w.name, state }),
                None => Err(failed(format!("warehouse {} is in an unknown state {:?}", w.id, w.state))),
            })
            .collect()
    }

    async fn start(&self, id: &str) -> Result<(), ControlError> {
        let client = &self.client;
        with_token(&self.tokens, |token| async move { client.start_warehouse(&token, id).await }).await
    }

    async fn stop(&self, id: &str) -> Result<(), ControlError> {
        let client = &self.client;
        with_token(&self.tokens, |token| async move { client.stop_warehouse(&token, id).await }).await
    }
}

/// The pair turned so that `from` is its source: the same pair for a sync
/// from the primary; for one from the secondary, the two workspaces, their
/// warehouses and the location mapping swapped, under [`versions_key`].
pub fn oriented(pair: &Pair, from: Side) -> Pair {
    if from == Side::Primary {
        return pair.clone();
    }
    let mut turned = pair.clone();
    turned.name = versions_key(&pair.name, from);
    std::mem::swap(&mut turned.primary, &mut turned.secondary);
    std::mem::swap(&mut turned.warehouse_id, &mut turned.primary_warehouse_id);
    turned.location_mapping = pair.location_mapping.iter().map(|(a, b)| (b.clone(), a.clone())).collect();
    turned
}

/// Where a sync from `from` records its table versions (and volume files
/// copied): the pair's own name from the primary, as `replicate` does; a
/// name of its own from the secondary.
pub fn versions_key(pair: &str, from: Side) -> String {
    match from {
        Side::Primary => pair.to_string(),
        Side::Secondary => format!("{pair}{FROM_SECONDARY}"),
    }
}

/// What [`versions_key`] appends for a sync from the secondary.
const FROM_SECONDARY: &str = ":from-secondary";

/// The pair a [`versions_key`] (or an [`oriented`] pair's name) names, and
/// the side it syncs from.
pub fn pair_of_key(key: &str) -> (&str, Side) {
    match key.strip_suffix(FROM_SECONDARY) {
        Some(pair) => (pair, Side::Secondary),
        None => (key, Side::Primary),
    }
}

impl LiveServices {
    /// How often ARM's long-running operations are polled without a `Retry-After`.
    pub fn with_arm_poll(mut self, every: Duration) -> LiveServices {
        self.arm_poll = every;
        self
    }

    /// Records what a finished clone holds, as a replication does.
    async fn on_event(&self, key: &str, plan: &Plan, event: &RunEvent, failures: &mut Vec<String>) {
        let RunEvent::Finished { action, result } = event else { return };
        if matches!(result.status, ActionStatus::Failed | ActionStatus::Blocked) {
            let name = plan.get(action).map_or_else(|| action.0.clone(), |a| a.object.full_name());
            failures.push(format!("{name} ({})", result.error.as_deref().unwrap_or("failed")));
        }
        let (Some(commit), Some(cloned)) = (run::replicated_commit(plan, action, result), plan.get(action)) else {
            return;
        };
        let store = &self.bot.services.store;
        if let Err(error) = store.record_replicated(key, &cloned.object.full_name(), commit, now_ms()).await {
            tracing::error!(pair = %self.pair.name, %error, "replicated version not recorded");
        }
    }
}

impl Services for LiveServices {
    type Jobs = LiveJobs;
    type Warehouses = LiveWarehouses;

    fn jobs(&self, side: Side) -> &LiveJobs {
        &self.jobs[index(side)]
    }

    fn warehouses(&self, side: Side) -> &LiveWarehouses {
        &self.warehouses[index(side)]
    }

    fn kept_warehouse(&self, side: Side) -> Option<&str> {
        self.pair.warehouse_of(side)
    }

    async fn catalog_grants(&self, side: Side) -> Result<Vec<CatalogGrant>, ControlError> {
        // The catalogs a replication copies (managed ones the pair's scope
        // includes), as they are named on either side.
        let client = &self.jobs[index(side)].client;
        let config = self.bot.pair_settings(&self.pair).replication_config(None);
        let listed = with_token(&self.tokens, |token| async move { client.list_catalogs(&token).await }).await?;
        let replicated = listed.into_iter().filter(|catalog| {
            CatalogKind::from_api(catalog.catalog_type.as_deref().unwrap_or("MANAGED_CATALOG")) == CatalogKind::Managed
                && config.includes_catalog(&catalog.name)
        });
        let mut grants = Vec::new();
        for catalog in replicated {
            let name = catalog.name.as_str();
            let assignments = with_token(&self.tokens, |token| async move {
                client.get_permissions(&token, Securable::Catalog, name).await
            })
            .await?;
            grants.extend(assignments.into_iter().map(|a| CatalogGrant {
                catalog: catalog.name.clone(),
                principal: a.principal,
                privileges: a.privileges,
            }));
        }
        Ok(grants)
    }

    async fn set_modify(
        &self,
        side: Side,
        catalog: &str,
        principals: &[String],
        granted: bool,
    ) -> Result<(), ControlError> {
        let client = &self.jobs[index(side)].client;
        let modify = vec!["MODIFY".to_string()];
        let changes: Vec<PermissionChange> = principals
            .iter()
            .map(|principal| PermissionChange {
                principal: principal.clone(),
                add: if granted { modify.clone() } else { Vec::new() },
                remove: if granted { Vec::new() } else { modify.clone() },
            })
            .collect();
        let changes = &changes;
        with_token(&self.tokens, |token| async move {
            client.update_permissions(&token, Securable::Catalog, catalog, changes).await
        })
        .await
        .map(|_| ())
    }

    async fn reach(&self, side: Side) -> Result<(), ControlError> {
        let probe = &self.probes[index(side)];
        with_token(&self.tokens, |token| async move { probe.me(&token).await.map(|_| ()) }).await
    }

    async fn sync(&self, from: Side, to: Side) -> Result<SyncProof, ControlError> {
        if from == to {
            return Err(failed("a sync needs two sides".into()));
        }
        let pair = oriented(&self.pair, from);
        let started_ms = now_ms();
        let plan = self
            .bot
            .plan_data(&self.tokens, &pair, None)
            .await
            .map_err(|error| failed(format!("the plan could not be made: {error}")))?;
        let workspaces = self.bot.pair_workspaces(&pair).map_err(|e| failed(e.to_string()))?;
        let mut options = self.bot.pair_settings(&pair).run_options();
        options.warehouse_slots = Some(self.bot.warehouse_slots.of(&pair.secondary.url, &workspaces.warehouse_id));
        let (events, mut received) = mpsc::unbounded_channel();
        let runner = run::run_plan(&plan, &workspaces, &self.tokens, options, CancellationToken::new(), events);
        tokio::pin!(runner);
        let mut failures = Vec::new();
        let report = loop {
            tokio::select! {
                report = &mut runner => break report,
                Some(event) = received.recv() => self.on_event(&pair.name, &plan, &event, &mut failures).await,
            }
        };
        while let Ok(event) = received.try_recv() {
            self.on_event(&pair.name, &plan, &event, &mut failures).await;
        }
        // Every action is reported: a failure (and what it held back) stops
        // the sync with each named; a skip without a failure is one too.
        let skipped = report.count(ActionStatus::Skipped) + report.count(ActionStatus::Canceled);
        if !failures.is_empty() || skipped > 0 {
            let total = plan.actions.len();
            let listed = failures.iter().take(10).cloned().collect::<Vec<_>>().join("; ");
            let more = failures.len().saturating_sub(10);
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            let blocked = report.count(ActionStatus::Blocked);
            return Err(failed(format!(
                "{} of {total} actions failed, {blocked} blocked (to settle first), {skipped} not run: {listed}{more}",
                failures.len().saturating_sub(blocked)
            )));
        }
        // The frozen side's versions as this sync read them; what the copy
        // holds of each, as the clones recorded it.
        let rows = self.bot.services.store.table_versions(&pair.name).await.map_err(|e| failed(e.to_string()))?;
        let mut proof = SyncProof::default();
        let mut unrecorded = BTreeMap::new();
        for row in rows {
            let Some(source) = row.source.filter(|_| row.read_ms.is_some_and(|ms| ms >= started_ms)) else { continue };
            proof.frozen.insert(row.table_name.clone(), source.version);
            match row.replicated {
                Some(held) => {
                    proof.held.insert(row.table_name, held.version);
                }
                None => {
                    unrecorded.insert(row.table_name, source);
                }
            }
        }
        // A copy no clone of drbot's recorded (made before drbot recorded
        // versions, so this sync found it current and left it): it holds the
        // source's frozen commit when its own latest commit is no older, the
        // replication's own staleness rule (`replication/diff.rs`). Its
        // version is its own, so it is proven as holding the frozen one.
        if !unrecorded.is_empty() {
            let token = token(&self.tokens).await?;
            let settings = self.bot.pair_settings(&pair);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(settings.statement_timeout_secs);
            let readings = crate::replication::history::read_latest_commits(
                &workspaces.secondary,
                &token,
                &workspaces.warehouse_id,
                unrecorded.keys().cloned().collect(),
                settings.read_concurrency.max(1),
                deadline,
            )
            .await;
            for (table, reading) in readings {
                match (reading, unrecorded.get(&table)) {
                    (Ok(copy), Some(source)) if copy.last_commit_ms >= source.commit_ms => {
                        proof.held.insert(table, source.version);
                    }
                    (Ok(copy), _) => tracing::info!(%table, copy = copy.version, "a copy older than its source"),
                    (Err(why), _) => tracing::warn!(%table, %why, "the copy's history could not be read"),
                }
            }
        }
        Ok(proof)
    }

    async fn fail_storage_over(&self, account_id: &str) -> Result<bool, ControlError> {
        let arm_token = DeployTokens::from(self.tokens.clone()).token(ARM_SCOPE).await.map_err(from_identity)?;
        // The paired region: where the passive workspace is, else where the
        // account replicates to.
        let passive = crate::failover::mode::other(self.pair.active);
        let region = match passive {
            Side::Primary => self.pair.primary.region.clone(),
            Side::Secondary => self.pair.secondary.region.clone(),
        };
        let target = match region {
            Some(region) => region,
            None => storage_failover::storage_account(&self.arm, &arm_token, account_id)
                .await
                .map_err(arm_error)?
                .secondary_location
                .ok_or_else(|| failed(format!("{account_id} replicates to no other region")))?,
        };
        // A planned failover (no loss, both regions needed) while the side
        // being left answers; otherwise the unplanned one.
        let planned = self.reach(self.pair.active).await.is_ok();
        let poll = PollOptions::new(self.arm_poll, STORAGE_WITHIN, CancellationToken::new());
        storage_failover::fail_over(&self.arm, &arm_token, account_id, &target, planned, &poll).await.map_err(arm_error)
    }

    async fn point_alias(&self, alias: &DnsAlias, side: Side) -> Result<bool, ControlError> {
        let arm_token = DeployTokens::from(self.tokens.clone()).token(ARM_SCOPE).await.map_err(from_identity)?;
        let (kind, value) = (alias.kind.as_str(), alias.value(side));
        private_dns::point(&self.arm, &arm_token, &alias.zone, kind, &alias.name, value, alias.ttl)
            .await
            .map_err(arm_error)
    }

    async fn set_active(&self, from: Side, to: Side) -> Result<(bool, Side), ControlError> {
        let store = &self.bot.services.store;
        let name = &self.pair.name;
        let moved = store.set_active_side(name, from, to, now_ms()).await.map_err(|e| failed(e.to_string()))?;
        let now = store.pair(name).await.map_err(|e| failed(e.to_string()))?;
        let now = now.ok_or_else(|| failed(format!("pair {name} is no longer registered")))?;
        Ok((moved, now.active))
    }

    async fn count(&self, side: Side, table: &str) -> Result<i64, ControlError> {
        // `verify`'s count: identifiers quoted, the shape it reads back.
        let sql = crate::verify::statements::count(table).map_err(|e| failed(format!("{table}: {e}")))?;
        let warehouse = self
            .pair
            .warehouse_of(side)
            .ok_or_else(|| failed(format!("no warehouse on the {} side", side.as_str())))?;
        let deadline = tokio::time::Instant::now() + COUNT_WITHIN;
        let (client, sql) = (&self.jobs[index(side)].client, &sql);
        let (_, rows) =
            with_token(&self.tokens, |token| async move { client.query(&token, warehouse, sql, deadline).await })
                .await?;
        rows.first()
            .and_then(|row| row.first().cloned().flatten())
            .and_then(|count| count.trim().parse().ok())
            .ok_or_else(|| failed(format!("COUNT(*) of {table} answered no number")))
    }

    fn now_ms(&self) -> i64 {
        now_ms()
    }

    async fn pause(&self, ms: i64) {
        tokio::time::sleep(Duration::from_millis(ms.max(0) as u64)).await;
    }

    async fn group(&self) -> Result<GroupRead, ControlError> {
        super::managed_dr::read_group(self.managed.as_ref(), &self.tokens).await
    }

    async fn fail_group_over(&self, target: &str, etag: &str) -> Result<GroupAnswer, ControlError> {
        super::managed_dr::fail_group_over(self.managed.as_ref(), &self.tokens, target, etag).await
    }

    async fn stable_urls(&self) -> Result<Vec<StableUrl>, ControlError> {
        super::managed_dr::read_stable_urls(self.managed.as_ref(), &self.tokens).await
    }
}

/// A reachability probe: three quick attempts, not a replication's minutes.
fn probe_policy() -> RetryPolicy {
    RetryPolicy {
        budget: Duration::from_secs(15),
        max_attempts: 3,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
    }
}

impl Bot {
    /// The services a failover, failback or drill of `pair` runs over,
    /// acting for `tokens` (the person who approved it, or the bot).
    pub(crate) async fn failover_services(
        self: &Arc<Bot>,
        pair: &crate::pairs::Pair,
        tokens: super::actor::DatabricksTokens,
    ) -> Result<LiveServices, super::error::RunError> {
        for side in [Side::Primary, Side::Secondary] {
            if pair.warehouse_of(side).is_none_or(str::is_empty) {
                return Err(RunError::Pair(PairError::NoWarehouse(pair.name.clone(), side)));
            }
        }
        let (primary, secondary) = self.pair_clients(pair);
        let side = |client: &WorkspaceClient| {
            (
                LiveJobs { client: client.clone(), tokens: tokens.clone() },
                LiveWarehouses { client: client.clone(), tokens: tokens.clone() },
            )
        };
        let ((primary_jobs, primary_warehouses), (secondary_jobs, secondary_warehouses)) =
            (side(&primary), side(&secondary));
        let arm_url = &self.services.config.deploy.arm_url;
        if arm_url.is_empty() {
            return Err(RunError::NotConfigured(NotConfigured("no Azure Resource Manager URL is configured")));
        }
        Ok(LiveServices {
            bot: self.clone(),
            pair: pair.clone(),
            jobs: [primary_jobs, secondary_jobs],
            warehouses: [primary_warehouses, secondary_warehouses],
            probes: [primary.with_retry(probe_policy()), secondary.with_retry(probe_policy())],
            arm: ArmClient::new(self.services.http.clone(), arm_url),
            arm_poll: Duration::from_secs(10),
            managed: self.managed_group(pair)?,
            tokens,
        })
    }

    /// [`Bot::failover_services`] of a stored pair, acting as the bot's own
    /// identity: what the tests drive the runbooks with.
    pub async fn failover_services_as_bot(
        self: &Arc<Bot>,
        pair: &str,
    ) -> Result<LiveServices, Box<dyn std::error::Error + Send + Sync>> {
        let app = self.services.app.clone().ok_or("the bot has no identity of its own")?;
        let pair = self.services.store.pair(pair).await?.ok_or_else(|| format!("no pair {pair}"))?;
        Ok(self.failover_services(&pair, DatabricksTokens::App(app)).await?)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::pairs::PairWorkspace;

    fn job(settings: Value) -> JobDefinition {
        serde_json::from_value(json!({"job_id": 7, "settings": settings})).unwrap()
    }

    #[test]
    fn a_job_s_triggers_are_read_with_their_pause_states_and_origin() {
        let copy = job(json!({
            "name": "nightly",
            "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC", "pause_status": "PAUSED"},
            "continuous": {},
            "tags": {"drbot_source_job_id": "42"}
        }));
        let triggers = job_triggers(&copy);
        assert_eq!(triggers.source_job_id, Some(42));
        assert_eq!(triggers.paused, [(Trigger::Schedule, true), (Trigger::Continuous, false)].into());
        assert_eq!(triggers.origin(), 42);
        assert_eq!(job_triggers(&job(json!({"name": "manual"}))).paused, BTreeMap::new());
    }

    #[test]
    fn a_pause_sends_each_field_whole_with_only_its_pause_status_changed() {
        let definition = job(json!({
            "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"},
            "trigger": {"file_arrival": {"url": "abfss://x@y/z"}},
            "tasks": [{"task_key": "a"}]
        }));
        let all: BTreeSet<Trigger> = [Trigger::Schedule, Trigger::Trigger].into();
        let fields = pause_fields(&definition, &all, true).unwrap();
        assert_eq!(
            fields,
            json!({
                "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC", "pause_status": "PAUSED"},
                "trigger": {"file_arrival": {"url": "abfss://x@y/z"}, "pause_status": "PAUSED"}
            })
        );
        let missing = pause_fields(&definition, &[Trigger::Continuous].into(), false).unwrap_err();
        assert_eq!(missing, "job 7 has no continuous");
    }

    #[test]
    fn a_sync_from_the_secondary_turns_the_pair_and_keeps_its_versions_apart() {
        let mut pair =
            Pair::new("fin", PairWorkspace::at("https://adb-1.example"), PairWorkspace::at("https://adb-2.example"));
        pair.warehouse_id = Some("w2".into());
        pair.primary_warehouse_id = Some("w1".into());
        pair.location_mapping = vec![("abfss://a@p/".into(), "abfss://a@s/".into())];
        assert_eq!(oriented(&pair, Side::Primary), pair);
        let back = oriented(&pair, Side::Secondary);
        assert_eq!(
            (back.primary.url.as_str(), back.secondary.url.as_str()),
            (pair.secondary.url.as_str(), pair.primary.url.as_str())
        );
        assert_eq!((back.primary_warehouse_id.as_deref(), back.warehouse_id.as_deref()), (Some("w2"), Some("w1")));
        assert_eq!(back.location_mapping, [("abfss://a@s/".to_string(), "abfss://a@p/".to_string())]);
        assert_eq!(back.name, versions_key("fin", Side::Secondary));
        assert_ne!(back.name, "fin");
        assert_eq!(back.sharing, pair.sharing, "the same recipient and shares, named by the pair");
        // Its name leads back to the pair, whose principal mapping it reads the other way.
        assert_eq!(pair_of_key(&back.name), ("fin", Side::Secondary));
        assert_eq!(pair_of_key("fin"), ("fin", Side::Primary));
    }
}
