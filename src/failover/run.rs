//! Runs a runbook step by step over the pair's services, checkpointing
//! after each step (and inside a step before any effect a resumed run could
//! not see again), so that a run killed anywhere and resumed elsewhere
//! repeats no step's effect.
//!
//! Every effect goes through [`Services`] (jobs, warehouses, replication,
//! storage, the active side) and every checkpoint through [`Journal`]: the
//! operation engine provides both in production, the tests provide doubles.
//! Cancellation is honoured between steps only: a step is never left half
//! done by a cancel.

use std::collections::BTreeMap;
use std::future::Future;

use serde::{Deserialize, Serialize};

use super::aliases::DnsAlias;
use super::freeze::{self, CatalogGrant};
use super::group::{self, GroupAnswer, GroupRead, StableUrl};
use super::jobs::{self, ControlError, JobControl, PriorStates, RunStatus, RunsVerdict};
use super::mode::Mode;
use super::progress::{self, Flip, Progress, StepOutcome};
use super::runbook::{Runbook, Step, StepKind};
use super::warehouses::{self, WarehouseControl, WarehouseState};
use crate::pairs::Side;

mod managed_step;

/// What a final sync proved: each table's version on the frozen side and
/// the version its copy holds now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncProof {
    pub frozen: BTreeMap<String, i64>,
    pub held: BTreeMap<String, i64>,
}

/// Everything a runbook touches, per side.
pub trait Services: Send + Sync {
    type Jobs: JobControl;
    type Warehouses: WarehouseControl;

    fn jobs(&self, side: Side) -> &Self::Jobs;
    fn warehouses(&self, side: Side) -> &Self::Warehouses;
    /// drbot's own warehouse on the side (a freeze keeps it running: the final sync reads with it).
    fn kept_warehouse(&self, side: Side) -> Option<&str>;
    /// The grants made directly on the side's replicated catalogs.
    fn catalog_grants(&self, side: Side) -> impl Future<Output = Result<Vec<CatalogGrant>, ControlError>> + Send;
    /// Grants (`true`) or revokes MODIFY on a catalog of the side for `principals`; idempotent.
    fn set_modify(
        &self,
        side: Side,
        catalog: &str,
        principals: &[String],
        granted: bool,
    ) -> impl Future<Output = Result<(), ControlError>> + Send;
    /// Whether the side's workspace answers.
    fn reach(&self, side: Side) -> impl Future<Output = Result<(), ControlError>> + Send;
    /// An incremental replication `from` → `to`, then each table's versions.
    fn sync(&self, from: Side, to: Side) -> impl Future<Output = Result<SyncProof, ControlError>> + Send;
    /// The storage account's failover, followed to completion; `Ok(false)`
    /// when it had failed over already (nothing done).
    fn fail_storage_over(&self, account_id: &str) -> impl Future<Output = Result<bool, ControlError>> + Send;
    /// Points a private DNS alias at its value for `side`; `Ok(false)` when
    /// it held that value already (nothing written).
    fn point_alias(&self, alias: &DnsAlias, side: Side) -> impl Future<Output = Result<bool, ControlError>> + Send;
    /// The store's compare-and-set of the active side, and the side it holds after.
    fn set_active(&self, from: Side, to: Side) -> impl Future<Output = Result<(bool, Side), ControlError>> + Send;
    /// `SELECT COUNT(*)` of a table on a side.
    fn count(&self, side: Side, table: &str) -> impl Future<Output = Result<i64, ControlError>> + Send;
    fn now_ms(&self) -> i64;
    /// Waits between two polls (a test double returns at once).
    fn pause(&self, ms: i64) -> impl Future<Output = ()> + Send;
    /// A managed-DR pair's failover group as it is now (only a runbook
    /// with a [`Runbook::managed`] part asks).
    fn group(&self) -> impl Future<Output = Result<GroupRead, ControlError>> + Send {
        async { Err(ControlError { message: "this pair has no managed-DR failover group".into(), transient: false }) }
    }
    /// Asks managed DR for a `FORCED` failover of the group to `target`,
    /// conditional on `etag`.
    fn fail_group_over(
        &self,
        _target: &str,
        _etag: &str,
    ) -> impl Future<Output = Result<GroupAnswer, ControlError>> + Send {
        async { Err(ControlError { message: "this pair has no managed-DR failover group".into(), transient: false }) }
    }
    /// The stable URLs linked to the managed-DR pair's failover group now.
    fn stable_urls(&self) -> impl Future<Output = Result<Vec<StableUrl>, ControlError>> + Send {
        async { Err(ControlError { message: "this pair has no managed-DR failover group".into(), transient: false }) }
    }
}

/// Where the run's checkpoints go.
pub trait Journal: Send {
    /// Stores the progress; `Err` stops the run here (the lease is lost,
    /// the process is going down): the next owner resumes from the last save.
    fn save(&mut self, progress: &Progress) -> impl Future<Output = Result<(), Halt>> + Send;
    /// Whether someone asked to cancel (read between steps).
    fn cancel_requested(&mut self) -> impl Future<Output = bool> + Send;
}

/// The run stops here and is resumed by the next owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Halt;

/// What a runbook's run told of itself when it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ending", rename_all = "snake_case")]
pub enum Ended {
    Completed {
        rto_ms: i64,
        findings: Vec<String>,
    },
    /// A step that may not fail failed: the pair is as that step left it.
    Stopped {
        step: StepKind,
        why: String,
        findings: Vec<String>,
    },
    /// Cancelled before `step` started.
    Cancelled {
        before: StepKind,
        findings: Vec<String>,
    },
}

/// How long a cancel request may take to end active runs after the wait.
const CANCEL_GRACE_MS: i64 = 60_000;
/// Between two polls of runs or warehouses.
const POLL_MS: i64 = 2_000;
/// How long a warehouse may take to start or stop.
const WAREHOUSE_MS: i64 = 20 * 60_000;

/// Options the approver chose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOptions {
    /// Go on despite readiness blockers and a final sync that did not prove
    /// every table (an explicit choice on the card).
    pub override_checks: bool,
}

/// Runs or resumes `runbook` from `progress`. What each step found is kept
/// with the step's record in the checkpoint, so a run resumed by another
/// process ends with every finding once: a step cut short by a crash is run
/// again and finds again, one that was over is not.
pub async fn run(
    services: &impl Services,
    journal: &mut impl Journal,
    runbook: &Runbook,
    options: RunOptions,
    progress: &mut Progress,
) -> Result<Ended, Halt> {
    while let Some(step) = progress.next(runbook) {
        if journal.cancel_requested().await {
            let mut found = Vec::new();
            undo_drill(services, runbook, progress, &mut found).await?;
            progress.findings.extend(found);
            return Ok(Ended::Cancelled { before: step.kind, findings: progress.findings.clone() });
        }
        let started_ms = services.now_ms();
        let mut found = Vec::new();
        let result = match step.timeout_ms {
            Some(ms) => {
                let budget = std::time::Duration::from_millis(ms.max(0) as u64);
                match tokio::time::timeout(budget, one(services, journal, runbook, options, step, progress, &mut found))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(Failure::Step(format!("timed out after {} ms", ms))),
                }
            }
            None => one(services, journal, runbook, options, step, progress, &mut found).await,
        };
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(Failure::Halt) => return Err(Halt),
            Err(Failure::Step(why)) if step.best_effort => {
                found.push(format!("{}: {why} (best effort, went on)", step.kind.as_str()));
                StepOutcome::Failed { why }
            }
            Err(Failure::Step(why)) => {
                undo_drill(services, runbook, progress, &mut found).await?;
                progress.findings.extend(found);
                journal.save(progress).await?;
                return Ok(Ended::Stopped { step: step.kind, why, findings: progress.findings.clone() });
            }
        };
        progress.findings.extend(found);
        progress.finish(step.kind, outcome, started_ms, services.now_ms());
        journal.save(progress).await?;
    }
    Ok(Ended::Completed { rto_ms: progress.rto_ms(services.now_ms()), findings: progress.findings.clone() })
}

/// A drill that stops or is cancelled after its promotion still returns
/// the side it rehearsed on to passive: the warehouses it started are
/// stopped (a drill leaves both sides as they were, whatever happens).
/// What could not be stopped is a finding, with what to do.
async fn undo_drill(
    services: &impl Services,
    runbook: &Runbook,
    progress: &Progress,
    findings: &mut Vec<String>,
) -> Result<(), Halt> {
    if runbook.mode != Mode::Drill || progress.started_warehouses.is_empty() {
        return Ok(());
    }
    let side = runbook.direction.to.as_str();
    match stop_started(services, runbook, progress).await {
        Ok(_) => findings.push(format!("the warehouses the drill started on the {side} side were stopped")),
        Err(Failure::Halt) => return Err(Halt),
        Err(Failure::Step(why)) => findings.push(format!(
            "the warehouses the drill started on the {side} side may still run ({why}): stop them by hand"
        )),
    }
    Ok(())
}

/// Stops the warehouses the drill started, and waits until they have;
/// `false` when none was running (nothing done).
async fn stop_started(services: &impl Services, runbook: &Runbook, progress: &Progress) -> Result<bool, Failure> {
    let target = services.warehouses(runbook.direction.to);
    let stop = warehouses::stop_plan(&progress.started_warehouses, &target.warehouses().await?);
    for id in &stop {
        target.stop(id).await?;
    }
    settle(services, target, &stop, WarehouseState::Stopped).await?;
    Ok(!stop.is_empty())
}

enum Failure {
    Step(String),
    Halt,
}

impl From<ControlError> for Failure {
    fn from(error: ControlError) -> Failure {
        Failure::Step(error.message)
    }
}

impl From<Halt> for Failure {
    fn from(_: Halt) -> Failure {
        Failure::Halt
    }
}

async fn one(
    services: &impl Services,
    journal: &mut impl Journal,
    runbook: &Runbook,
    options: RunOptions,
    step: &Step,
    progress: &mut Progress,
    findings: &mut Vec<String>,
) -> Result<StepOutcome, Failure> {
    let d = runbook.direction;
    match step.kind {
        StepKind::Preflight => {
            services.reach(d.to).await?;
            match services.reach(d.from).await {
                Ok(()) => {}
                Err(error) if runbook.mode == Mode::Forced => {
                    findings.push(format!("the {} side is unreachable: {}", d.from.as_str(), error.message));
                }
                Err(error) => return Err(error.into()),
            }
            if !runbook.blocked.is_empty() {
                if !options.override_checks {
                    return Err(Failure::Step(format!("blocked: {}", runbook.blocked.join("; "))));
                }
                findings.push(format!("went on despite: {}", runbook.blocked.join("; ")));
            }
            Ok(StepOutcome::Done)
        }
        StepKind::ManagedFailover => managed_step::fail_over(services, journal, runbook, progress, findings).await,
        StepKind::CatchUp => {
            services.sync(d.from, d.to).await?;
            Ok(StepOutcome::Done)
        }
        StepKind::Freeze => freeze(services, journal, runbook, progress, findings).await,
        StepKind::FinalSync => {
            let proof = services.sync(d.from, d.to).await?;
            progress.frozen_versions = proof.frozen.clone();
            let lagging = progress::prove(&proof.frozen, &proof.held);
            if lagging.is_empty() {
                return Ok(StepOutcome::Done);
            }
            let listed: Vec<String> = lagging
                .iter()
                .map(|l| match l.held {
                    Some(held) => format!("{} at version {held} of {}", l.table, l.frozen),
                    None => format!("{} missing (version {})", l.table, l.frozen),
                })
                .collect();
            let why = format!("not at the frozen version: {}", listed.join(", "));
            if options.override_checks && !step.best_effort {
                findings.push(format!("went on despite: {why}"));
                return Ok(StepOutcome::Done);
            }
            Err(Failure::Step(why))
        }
        StepKind::Storage => {
            let Some(account) = &runbook.storage_account_id else { return Ok(StepOutcome::AlreadyDone) };
            Ok(if services.fail_storage_over(account).await? { StepOutcome::Done } else { StepOutcome::AlreadyDone })
        }
        StepKind::Promote => promote(services, journal, runbook, progress, findings).await,
        StepKind::Repoint => {
            // Each alias is checked before it is written: a resumed step
            // writes only those not yet pointed.
            let mut written = 0;
            for alias in &runbook.aliases {
                if services.point_alias(alias, d.to).await.map_err(|e| {
                    Failure::Step(format!("{} not pointed at the {} side: {}", alias.fqdn(), d.to.as_str(), e.message))
                })? {
                    written += 1;
                }
                findings.push(format!("{} now resolves to {} (TTL {} s)", alias.fqdn(), alias.value(d.to), alias.ttl));
            }
            // Managed DR moves its stable URLs with the group: checked, never
            // written. The group has failed over and the side is promoted by
            // now, so a check that cannot read them does not stop the runbook
            // before its validation: it says so, for people to look.
            let mut checked = false;
            if let Some(managed) = runbook.managed.as_ref().filter(|m| !m.stable_urls.is_empty()) {
                match services.stable_urls().await {
                    Ok(now) => findings
                        .extend(group::stable_url_findings(managed, &now, d.to.as_str()).map_err(Failure::Step)?),
                    Err(error) => findings.push(format!(
                        "the stable URLs of failover group {} could not be read after the failover ({}): check \
                         that each routes to the {} side before sending clients to it",
                        managed.group.id,
                        error.message,
                        d.to.as_str()
                    )),
                }
                checked = true;
            }
            Ok(if written == 0 && !checked { StepOutcome::AlreadyDone } else { StepOutcome::Done })
        }
        StepKind::Validate => {
            for table in &runbook.smoke_tables {
                let rows = services.count(d.to, table).await?;
                findings.push(format!("{table}: {rows} rows on the {} side", d.to.as_str()));
            }
            if let Some(job) = &runbook.validate_job {
                validate_job(services, journal, runbook, job, progress, findings).await?;
            }
            Ok(StepOutcome::Done)
        }
        StepKind::ReturnToPassive => Ok(if stop_started(services, runbook, progress).await? {
            StepOutcome::Done
        } else {
            StepOutcome::AlreadyDone
        }),
    }
}

/// Records the prior states (checkpointed before the first pause, with the
/// warehouses that run and, when asked, the MODIFY grants to revoke),
/// pauses every trigger, then waits for active runs and cancels them at the
/// timeout; then, when the pair's freeze asks for it, stops the side's
/// warehouses and revokes MODIFY on its catalogs.
async fn freeze(
    services: &impl Services,
    journal: &mut impl Journal,
    runbook: &Runbook,
    progress: &mut Progress,
    findings: &mut Vec<String>,
) -> Result<StepOutcome, Failure> {
    let (side, wait_ms, options) = (runbook.direction.from, runbook.run_wait_ms, &runbook.freeze);
    let control = services.jobs(side);
    if progress.prior_jobs.is_none() {
        let listed = control.jobs().await?;
        let running = warehouses::running_names(&services.warehouses(side).warehouses().await?);
        if let Some(kept) = &options.revoke_modify_except {
            progress.revoked_modify = Some(freeze::revocations(&services.catalog_grants(side).await?, kept).0);
        }
        progress.prior_jobs = Some(PriorStates::record(&listed));
        progress.running_warehouses = Some(running);
        journal.save(progress).await?;
    }
    let switches = jobs::freeze(&control.jobs().await?);
    jobs::apply(control, &switches).await?;
    let started = services.now_ms();
    loop {
        let active = control.active_runs().await?;
        let waited = services.now_ms() - started;
        match jobs::runs_verdict(&active, waited, wait_ms) {
            RunsVerdict::Settled => break,
            RunsVerdict::Wait => services.pause(POLL_MS).await,
            RunsVerdict::Cancel(ids) => {
                if waited > wait_ms.saturating_add(CANCEL_GRACE_MS) {
                    return Err(Failure::Step(format!("{} runs still active after cancelling", ids.len())));
                }
                for id in ids {
                    control.cancel_run(id).await?;
                }
                services.pause(POLL_MS).await;
            }
        }
    }
    let mut stopped = Vec::new();
    if options.stop_warehouses {
        let names = progress.running_warehouses.clone().unwrap_or_default();
        let (own, kept) = (services.warehouses(side), services.kept_warehouse(side));
        let listed = own.warehouses().await?;
        stopped = warehouses::freeze_plan(&names, &listed, kept);
        for id in &stopped {
            own.stop(id).await?;
        }
        settle(services, own, &stopped, WarehouseState::Stopped).await?;
        // Named whether this run or the one before a crash stopped them.
        let named: Vec<&str> = listed
            .iter()
            .filter(|w| names.contains(&w.name) && Some(w.id.as_str()) != kept)
            .map(|w| w.name.as_str())
            .collect();
        if !named.is_empty() {
            findings.push(format!("warehouses stopped on the {} side: {}", side.as_str(), named.join(", ")));
        }
    }
    let revoked = progress.revoked_modify.clone().unwrap_or_default();
    let mut revokes = 0;
    if let Some(kept) = &options.revoke_modify_except {
        let held = services.catalog_grants(side).await?;
        revokes = set_modify_where_needed(services, side, &held, &revoked, false).await?;
        let all = freeze::revocations(&held, kept).1;
        if !all.is_empty() {
            findings.push(format!("ALL PRIVILEGES (MODIFY included) kept by: {}", all.join(", ")));
        }
    }
    for catalog in &revoked {
        findings.push(format!(
            "MODIFY on {} revoked on the {} side from {}",
            catalog.catalog,
            side.as_str(),
            catalog.principals.join(", ")
        ));
    }
    let changed = !switches.is_empty() || !stopped.is_empty() || revokes > 0;
    Ok(if changed { StepOutcome::Done } else { StepOutcome::AlreadyDone })
}

/// Starts the warehouses, sets the jobs' pause states as recorded, moves
/// the active side (not in a drill).
async fn promote(
    services: &impl Services,
    journal: &mut impl Journal,
    runbook: &Runbook,
    progress: &mut Progress,
    findings: &mut Vec<String>,
) -> Result<StepOutcome, Failure> {
    let d = runbook.direction;
    let target = services.warehouses(d.to);
    let wanted = match &progress.running_warehouses {
        Some(names) => names.clone(),
        // A drill freezes nothing, so nothing recorded what runs on the
        // active side: it reads that now (the side is up and stays active),
        // checkpointed with the warehouses it starts.
        None if runbook.mode == Mode::Drill => {
            let running = warehouses::running_names(&services.warehouses(d.from).warehouses().await?);
            progress.running_warehouses = Some(running.clone());
            running
        }
        None => {
            findings.push("which warehouses ran on the frozen side is unknown: none started".into());
            Default::default()
        }
    };
    let plan = warehouses::start_plan(&wanted, &target.warehouses().await?);
    if !plan.missing.is_empty() {
        findings.push(format!("no warehouse on the {} side for: {}", d.to.as_str(), plan.missing.join(", ")));
    }
    let mut ids: Vec<String> = plan.start.iter().chain(&plan.later).cloned().collect();
    if runbook.mode == Mode::Drill {
        // Recorded before starting: a resumed drill stops them even if it
        // finds them running already.
        let before = progress.started_warehouses.len();
        progress.started_warehouses.extend(ids.iter().cloned());
        if progress.started_warehouses.len() != before {
            journal.save(progress).await?;
        }
    }
    settle(services, target, &plan.later, WarehouseState::Stopped).await?;
    for id in &ids {
        target.start(id).await?;
    }
    ids.extend(target.warehouses().await?.iter().filter(|w| wanted.contains(&w.name)).map(|w| w.id.clone()));
    ids.sort();
    ids.dedup();
    settle(services, target, &ids, WarehouseState::Running).await?;
    if runbook.mode == Mode::Drill {
        return Ok(StepOutcome::Done);
    }
    // Writing rights back, on this side, before the writers come back.
    let revoked = progress.revoked_modify.clone().unwrap_or_default();
    if !revoked.is_empty() {
        let held = services.catalog_grants(d.to).await?;
        set_modify_where_needed(services, d.to, &held, &revoked, true).await?;
    }
    for catalog in &revoked {
        findings.push(format!(
            "MODIFY on {} granted on the {} side to {}",
            catalog.catalog,
            d.to.as_str(),
            catalog.principals.join(", ")
        ));
    }
    // A failback restores the original side's states as they were before
    // the failover (its own freeze read the copies, which may lack a job);
    // anything else restores what its freeze read, or the record without one.
    let (own, recorded) = (progress.prior_jobs.as_ref(), runbook.recorded_jobs.as_ref());
    let prior = match runbook.mode {
        Mode::Failback => recorded.or(own),
        _ => own.or(recorded),
    };
    if own.is_none() && prior.is_some() {
        findings.push("pause states as last recorded by the asset sync (the freeze could not read them)".into());
    }
    match prior {
        Some(prior) => {
            let control = services.jobs(d.to);
            let promotion = jobs::promote(prior, &control.jobs().await?);
            if !promotion.missing.is_empty() {
                let missing: Vec<String> = promotion.missing.iter().map(|id| id.to_string()).collect();
                findings.push(format!("jobs unpaused before with no copy: {}", missing.join(", ")));
            }
            jobs::apply(control, &promotion.switches).await?;
        }
        None => findings.push("the jobs' pause states are unknown: none unpaused".into()),
    }
    let (moved, now) = services.set_active(d.from, d.to).await?;
    match progress::flip(d, moved, now) {
        Flip::Moved => Ok(StepOutcome::Done),
        Flip::AlreadyThere => Ok(StepOutcome::AlreadyDone),
        Flip::Conflict { active } => {
            Err(Failure::Step(format!("the pair is active on the {} side: another change won", active.as_str())))
        }
    }
}

/// Runs the configured job once on the promoted side and follows it to its
/// end. The run is started with a key of this runbook's own (the same run
/// whoever resumes it) and its id checkpointed before it is followed, so a
/// resumed validation follows that run. A run that fails, or outlives the
/// timeout (then it is cancelled), fails validation.
async fn validate_job(
    services: &impl Services,
    journal: &mut impl Journal,
    runbook: &Runbook,
    name: &str,
    progress: &mut Progress,
    findings: &mut Vec<String>,
) -> Result<(), Failure> {
    let side = runbook.direction.to;
    let control = services.jobs(side);
    let run_id = match progress.validate_run {
        Some(run_id) => run_id,
        None => {
            let named: Vec<i64> =
                control.jobs().await?.into_iter().filter(|job| job.name == name).map(|job| job.job_id).collect();
            let job_id = match named.as_slice() {
                [one] => *one,
                [] => return Err(Failure::Step(format!("no job named {name} on the {} side", side.as_str()))),
                many => {
                    let ids: Vec<String> = many.iter().map(i64::to_string).collect();
                    return Err(Failure::Step(format!(
                        "{} jobs are named {name} on the {} side ({}): name one",
                        many.len(),
                        side.as_str(),
                        ids.join(", ")
                    )));
                }
            };
            let key = format!("validate:{}:{}:{}", runbook.pair, progress.approved_ms, side.as_str());
            let run_id = control.run_now(job_id, &key).await?;
            progress.validate_run = Some(run_id);
            journal.save(progress).await?;
            run_id
        }
    };
    let started = services.now_ms();
    loop {
        let run = control.run(run_id).await?;
        let link = run.url.as_deref().map(|url| format!(", {url}")).unwrap_or_default();
        match run.status {
            RunStatus::Succeeded => {
                findings
                    .push(format!("job {name} ran once on the {} side: succeeded (run {run_id}{link})", side.as_str()));
                return Ok(());
            }
            RunStatus::Failed(why) => {
                return Err(Failure::Step(format!(
                    "job {name} (run {run_id}{link}) failed on the {} side: {why}",
                    side.as_str()
                )));
            }
            RunStatus::Running if services.now_ms() - started >= runbook.validate_job_timeout_ms => {
                control.cancel_run(run_id).await?;
                return Err(Failure::Step(format!(
                    "job {name} (run {run_id}{link}) did not end within {} on the {} side: cancelled",
                    crate::readiness::report::duration(runbook.validate_job_timeout_ms),
                    side.as_str()
                )));
            }
            RunStatus::Running => services.pause(POLL_MS).await,
        }
    }
}

/// Grants or revokes MODIFY as `revoked` lists it, only where the side's
/// grants (`held`) are not that way already (a resumed step changes
/// nothing twice); how many catalogs were changed.
async fn set_modify_where_needed(
    services: &impl Services,
    side: Side,
    held: &[CatalogGrant],
    revoked: &[freeze::Revoked],
    granted: bool,
) -> Result<usize, Failure> {
    let holds = |catalog: &str, principal: &str| {
        held.iter()
            .any(|g| g.catalog == catalog && g.principal == principal && g.privileges.iter().any(|p| p == "MODIFY"))
    };
    let mut changed = 0;
    for catalog in revoked {
        let needed: Vec<String> =
            catalog.principals.iter().filter(|p| holds(&catalog.catalog, p) != granted).cloned().collect();
        if !needed.is_empty() {
            services.set_modify(side, &catalog.catalog, &needed, granted).await?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// Polls until every warehouse of `ids` is in `state`.
async fn settle(
    services: &impl Services,
    control: &impl WarehouseControl,
    ids: &[String],
    state: WarehouseState,
) -> Result<(), Failure> {
    let started = services.now_ms();
    while !ids.is_empty() && !warehouses::all_in(ids, &control.warehouses().await?, state) {
        if services.now_ms() - started > WAREHOUSE_MS {
            return Err(Failure::Step(format!("warehouses not {state:?} after {} min", WAREHOUSE_MS / 60_000)));
        }
        services.pause(POLL_MS).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
    use std::sync::Mutex;

    use super::*;
    use crate::failover::jobs::double::FakeJobs;
    use crate::failover::jobs::{ActiveRun, JobTriggers, Trigger};
    use crate::failover::runbook::{plan, RunbookSettings};
    use crate::failover::warehouses::WarehouseInfo;
    use crate::pairs::{Pair, PairWorkspace};
    use crate::store::table_versions::{Commit, TableVersion};

    /// Warehouses that take one poll to start or stop.
    #[derive(Default)]
    struct FakeWarehouses {
        down: AtomicBool,
        list: Mutex<Vec<WarehouseInfo>>,
        starts: AtomicUsize,
        stops: AtomicUsize,
    }

    impl FakeWarehouses {
        fn with(list: &[(&str, &str, WarehouseState)]) -> FakeWarehouses {
            let list = list.iter().map(|(id, name, state)| WarehouseInfo {
                id: id.to_string(),
                name: name.to_string(),
                state: *state,
            });
            FakeWarehouses { list: Mutex::new(list.collect()), ..FakeWarehouses::default() }
        }

        fn state(&self, id: &str) -> WarehouseState {
            self.list.lock().unwrap().iter().find(|w| w.id == id).unwrap().state
        }

        fn up(&self) -> Result<(), ControlError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(ControlError { message: "connection refused".into(), transient: true });
            }
            Ok(())
        }

        fn set(&self, id: &str, state: WarehouseState) {
            self.list.lock().unwrap().iter_mut().find(|w| w.id == id).unwrap().state = state;
        }
    }

    impl WarehouseControl for FakeWarehouses {
        async fn warehouses(&self) -> Result<Vec<WarehouseInfo>, ControlError> {
            self.up()?;
            let mut list = self.list.lock().unwrap();
            let seen = list.clone();
            for w in list.iter_mut() {
                w.state = match w.state {
                    WarehouseState::Starting => WarehouseState::Running,
                    WarehouseState::Stopping => WarehouseState::Stopped,
                    other => other,
                };
            }
            Ok(seen)
        }

        async fn start(&self, id: &str) -> Result<(), ControlError> {
            self.up()?;
            if self.state(id) == WarehouseState::Stopped {
                self.starts.fetch_add(1, Ordering::SeqCst);
                self.set(id, WarehouseState::Starting);
            }
            Ok(())
        }

        async fn stop(&self, id: &str) -> Result<(), ControlError> {
            self.up()?;
            if self.state(id).is_up() {
                self.stops.fetch_add(1, Ordering::SeqCst);
                self.set(id, WarehouseState::Stopping);
            }
            Ok(())
        }
    }

    struct World {
        jobs: [FakeJobs; 2],
        warehouses: [FakeWarehouses; 2],
        /// Each side's table versions (a sync copies `from`'s onto `to`'s).
        versions: [Mutex<BTreeMap<String, i64>>; 2],
        syncs: AtomicUsize,
        storage_failed_over: AtomicBool,
        storage_calls: AtomicUsize,
        active: Mutex<Side>,
        flips: AtomicUsize,
        clock: AtomicI64,
        /// Each alias's value (by name), and how many writes were made.
        aliases: Mutex<BTreeMap<String, String>>,
        alias_writes: AtomicUsize,
        /// Each side's catalog grants, and how many changes were asked.
        grants: [Mutex<Vec<CatalogGrant>>; 2],
        grant_calls: AtomicUsize,
    }

    fn index(side: Side) -> usize {
        match side {
            Side::Primary => 0,
            Side::Secondary => 1,
        }
    }

    impl World {
        fn new() -> World {
            // A copy has its origin's name, as the asset sync makes it.
            let job = |job_id: i64, source: Option<i64>, trigger, paused| JobTriggers {
                job_id,
                name: format!("job{}", source.unwrap_or(job_id)),
                source_job_id: source,
                paused: [(trigger, paused)].into(),
            };
            let primary_jobs = FakeJobs::with(vec![
                job(1, None, Trigger::Schedule, false),
                job(2, None, Trigger::Schedule, true),
                job(3, None, Trigger::Continuous, false),
            ]);
            *primary_jobs.runs.lock().unwrap() = vec![ActiveRun { run_id: 77, job_id: 3 }];
            let secondary_jobs = FakeJobs::with(vec![
                job(101, Some(1), Trigger::Schedule, true),
                job(102, Some(2), Trigger::Schedule, true),
                job(103, Some(3), Trigger::Continuous, true),
            ]);
            use WarehouseState::*;
            World {
                jobs: [primary_jobs, secondary_jobs],
                warehouses: [
                    FakeWarehouses::with(&[("p1", "bi", Running), ("p2", "adhoc", Stopped)]),
                    FakeWarehouses::with(&[("s1", "bi", Stopped), ("s2", "adhoc", Stopped)]),
                ],
                versions: [
                    Mutex::new([("c.s.a".to_string(), 7), ("c.s.b".to_string(), 3)].into()),
                    Mutex::new([("c.s.a".to_string(), 5), ("c.s.b".to_string(), 3)].into()),
                ],
                syncs: AtomicUsize::new(0),
                storage_failed_over: AtomicBool::new(false),
                storage_calls: AtomicUsize::new(0),
                active: Mutex::new(Side::Primary),
                flips: AtomicUsize::new(0),
                clock: AtomicI64::new(1_000_000),
                aliases: Mutex::new([("databricks".to_string(), "adb-1.example".to_string())].into()),
                alias_writes: AtomicUsize::new(0),
                grants: [Mutex::new(World::grants()), Mutex::new(World::grants())],
                grant_calls: AtomicUsize::new(0),
            }
        }

        /// The analysts and the DR group may write `sales`, its owners hold
        /// everything (the copy's grants are the same).
        fn grants() -> Vec<CatalogGrant> {
            let grant = |principal: &str, privileges: &[&str]| CatalogGrant {
                catalog: "sales".into(),
                principal: principal.into(),
                privileges: privileges.iter().map(|p| p.to_string()).collect(),
            };
            vec![
                grant("analysts", &["USE_CATALOG", "MODIFY"]),
                grant("dr", &["MODIFY"]),
                grant("owners", &["ALL_PRIVILEGES"]),
            ]
        }

        fn may_modify(&self, side: Side, principal: &str) -> bool {
            let grants = self.grants[index(side)].lock().unwrap();
            grants.iter().any(|g| g.principal == principal && g.privileges.iter().any(|p| p == "MODIFY"))
        }

        fn primary_down(&self) {
            self.jobs[0].down.store(true, Ordering::SeqCst);
            self.warehouses[0].down.store(true, Ordering::SeqCst);
        }

        fn is_down(&self, side: Side) -> bool {
            self.jobs[index(side)].down.load(Ordering::SeqCst)
        }

        fn unpaused(&self, side: Side) -> Vec<i64> {
            let jobs = self.jobs[index(side)].jobs.lock().unwrap();
            jobs.iter().filter(|j| !j.unpaused().is_empty()).map(|j| j.job_id).collect()
        }

        fn effects(&self) -> (usize, usize, usize, usize, usize, usize, usize, usize) {
            let pauses = |side: usize| self.jobs[side].calls.lock().unwrap().len();
            (
                pauses(0) + pauses(1),
                self.warehouses[0].starts.load(Ordering::SeqCst) + self.warehouses[1].starts.load(Ordering::SeqCst),
                self.warehouses[0].stops.load(Ordering::SeqCst) + self.warehouses[1].stops.load(Ordering::SeqCst),
                self.storage_calls.load(Ordering::SeqCst),
                self.flips.load(Ordering::SeqCst),
                self.alias_writes.load(Ordering::SeqCst),
                self.jobs[0].started.lock().unwrap().len() + self.jobs[1].started.lock().unwrap().len(),
                self.grant_calls.load(Ordering::SeqCst),
            )
        }
    }

    impl Services for World {
        type Jobs = FakeJobs;
        type Warehouses = FakeWarehouses;

        fn jobs(&self, side: Side) -> &FakeJobs {
            &self.jobs[index(side)]
        }

        fn warehouses(&self, side: Side) -> &FakeWarehouses {
            &self.warehouses[index(side)]
        }

        fn kept_warehouse(&self, _side: Side) -> Option<&str> {
            None
        }

        async fn catalog_grants(&self, side: Side) -> Result<Vec<CatalogGrant>, ControlError> {
            self.reach(side).await?;
            Ok(self.grants[index(side)].lock().unwrap().clone())
        }

        async fn set_modify(
            &self,
            side: Side,
            catalog: &str,
            principals: &[String],
            granted: bool,
        ) -> Result<(), ControlError> {
            self.reach(side).await?;
            self.grant_calls.fetch_add(1, Ordering::SeqCst);
            let mut grants = self.grants[index(side)].lock().unwrap();
            for principal in principals {
                let at = grants.iter().position(|g| g.catalog == catalog && &g.principal == principal);
                let grant = match at {
                    Some(at) => &mut grants[at],
                    None => {
                        grants.push(CatalogGrant {
                            catalog: catalog.into(),
                            principal: principal.clone(),
                            privileges: Vec::new(),
                        });
                        grants.last_mut().unwrap()
                    }
                };
                grant.privileges.retain(|p| p != "MODIFY");
                if granted {
                    grant.privileges.push("MODIFY".into());
                }
            }
            Ok(())
        }

        async fn reach(&self, side: Side) -> Result<(), ControlError> {
            if self.is_down(side) {
                return Err(ControlError { message: "connection refused".into(), transient: true });
            }
            Ok(())
        }

        async fn sync(&self, from: Side, to: Side) -> Result<SyncProof, ControlError> {
            self.reach(from).await?;
            self.syncs.fetch_add(1, Ordering::SeqCst);
            let frozen = self.versions[index(from)].lock().unwrap().clone();
            *self.versions[index(to)].lock().unwrap() = frozen.clone();
            Ok(SyncProof { held: frozen.clone(), frozen })
        }

        async fn fail_storage_over(&self, _account: &str) -> Result<bool, ControlError> {
            if self.storage_failed_over.swap(true, Ordering::SeqCst) {
                return Ok(false);
            }
            self.storage_calls.fetch_add(1, Ordering::SeqCst);
            Ok(true)
        }

        async fn point_alias(&self, alias: &DnsAlias, side: Side) -> Result<bool, ControlError> {
            let mut aliases = self.aliases.lock().unwrap();
            if aliases.get(&alias.name).map(String::as_str) == Some(alias.value(side)) {
                return Ok(false);
            }
            aliases.insert(alias.name.clone(), alias.value(side).to_string());
            self.alias_writes.fetch_add(1, Ordering::SeqCst);
            Ok(true)
        }

        async fn set_active(&self, from: Side, to: Side) -> Result<(bool, Side), ControlError> {
            let mut active = self.active.lock().unwrap();
            if *active == from {
                *active = to;
                self.flips.fetch_add(1, Ordering::SeqCst);
                return Ok((true, to));
            }
            Ok((false, *active))
        }

        async fn count(&self, _side: Side, _table: &str) -> Result<i64, ControlError> {
            Ok(42)
        }

        fn now_ms(&self) -> i64 {
            self.clock.load(Ordering::SeqCst)
        }

        async fn pause(&self, ms: i64) {
            self.clock.fetch_add(ms, Ordering::SeqCst);
        }
    }

    /// Checkpoints kept in memory; the `kill_at`th save is lost with the
    /// process (the run stops before it is stored).
    #[derive(Default)]
    struct Memory {
        saved: Option<Progress>,
        saves: usize,
        kill_at: Option<usize>,
        cancel: bool,
    }

    impl Journal for Memory {
        async fn save(&mut self, progress: &Progress) -> Result<(), Halt> {
            let n = self.saves;
            self.saves += 1;
            if self.kill_at == Some(n) {
                return Err(Halt);
            }
            self.saved = Some(progress.clone());
            Ok(())
        }

        async fn cancel_requested(&mut self) -> bool {
            self.cancel
        }
    }

    fn runbook(mode: Mode, active: Side) -> Runbook {
        let mut pair =
            Pair::new("fin", PairWorkspace::at("https://adb-1.example"), PairWorkspace::at("https://adb-2.example"));
        pair.active = active;
        let settings = RunbookSettings {
            storage_account_id: Some(
                "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/ext".into(),
            ),
            smoke_tables: vec!["c.s.a".into()],
            forced_timeout_ms: 30_000,
            run_wait_ms: 60_000,
            aliases: vec![DnsAlias {
                zone: "/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/privateDnsZones/corp.example"
                    .into(),
                name: "databricks".into(),
                kind: crate::failover::aliases::RecordKind::Cname,
                primary: "adb-1.example".into(),
                secondary: "adb-2.example".into(),
                ttl: 60,
            }],
            validate_job: Some("job2".into()),
            validate_job_timeout_ms: 600_000,
            freeze: crate::failover::freeze::FreezeOptions {
                stop_warehouses: true,
                revoke_modify_except: Some("dr".into()),
            },
        };
        let versions = [TableVersion {
            table_name: "c.s.a".into(),
            replicated: Some(Commit { version: 5, commit_ms: 900_000 }),
            replicated_ms: Some(900_100),
            source: None,
            read_ms: None,
        }];
        plan(&pair, mode, &settings, &versions, &[], 1_000_000).unwrap()
    }

    async fn run_to_end(world: &World, runbook: &Runbook) -> (Ended, Memory) {
        let mut journal = Memory::default();
        let mut progress = Progress::new(world.now_ms());
        let ended = run(world, &mut journal, runbook, RunOptions::default(), &mut progress).await.unwrap();
        (ended, journal)
    }

    #[tokio::test]
    async fn a_planned_failover_ends_secondary_active_with_every_table_at_its_frozen_version() {
        let world = World::new();
        let runbook = runbook(Mode::Planned, Side::Primary);
        let (ended, journal) = run_to_end(&world, &runbook).await;
        let Ended::Completed { rto_ms, findings } = ended else { panic!("{ended:?}") };
        assert!(rto_ms > 0);
        assert_eq!(*world.active.lock().unwrap(), Side::Secondary);
        assert!(world.unpaused(Side::Primary).is_empty(), "every trigger on the primary paused");
        assert_eq!(world.unpaused(Side::Secondary), [101, 103], "exactly the jobs unpaused before (not 102)");
        assert!(world.jobs[0].runs.lock().unwrap().is_empty(), "the active run was cancelled at the timeout");
        assert_eq!(world.warehouses[1].state("s1"), WarehouseState::Running, "bi ran on the primary");
        assert_eq!(world.warehouses[1].state("s2"), WarehouseState::Stopped, "adhoc did not");
        assert!(world.storage_failed_over.load(Ordering::SeqCst));
        let saved = journal.saved.unwrap();
        assert_eq!(saved.frozen_versions, *world.versions[1].lock().unwrap(), "proof by version");
        assert!(findings.iter().any(|f| f == "c.s.a: 42 rows on the secondary side"), "{findings:?}");
        assert_eq!(world.aliases.lock().unwrap()["databricks"], "adb-2.example", "the alias follows");
        // The freeze's options: the primary's warehouse stopped, MODIFY revoked there but from the DR group.
        assert_eq!(world.warehouses[0].state("p1"), WarehouseState::Stopped);
        assert!(!world.may_modify(Side::Primary, "analysts") && world.may_modify(Side::Primary, "dr"));
        assert!(world.may_modify(Side::Secondary, "analysts"), "granted where work runs now");
        assert!(findings.iter().any(|f| f == "MODIFY on sales revoked on the primary side from analysts"));
        assert!(findings.iter().any(|f| f == "ALL PRIVILEGES (MODIFY included) kept by: sales: owners"));
        assert!(findings.iter().any(|f| f == "warehouses stopped on the primary side: bi"), "{findings:?}");
        assert!(findings.iter().any(|f| f == "databricks.corp.example now resolves to adb-2.example (TTL 60 s)"));
        let started = world.jobs[1].started.lock().unwrap().clone();
        assert_eq!(started.len(), 1, "the validation job ran once, on the secondary: {started:?}");
        assert_eq!(started[0].1 / 1_000, 102, "job2's copy");
        let ran = "job job2 ran once on the secondary side: succeeded (run 102000, https://example/runs/102000)";
        assert!(findings.iter().any(|f| f == ran), "{findings:?}");
    }

    #[tokio::test]
    async fn a_validation_job_that_fails_or_is_missing_fails_validation_with_the_reason() {
        let world = World::new();
        *world.jobs[1].failing_job.lock().unwrap() = Some(102);
        let (ended, _) = run_to_end(&world, &runbook(Mode::Planned, Side::Primary)).await;
        let Ended::Stopped { step: StepKind::Validate, why, .. } = &ended else { panic!("{ended:?}") };
        assert!(
            why.starts_with("job job2 (run 102000, https://example/runs/102000) failed on the secondary side"),
            "{why}"
        );
        assert_eq!(*world.active.lock().unwrap(), Side::Secondary, "promoted before validation");

        let world = World::new();
        let mut missing = runbook(Mode::Drill, Side::Primary);
        missing.validate_job = Some("nightly".into());
        let (ended, _) = run_to_end(&world, &missing).await;
        assert!(
            matches!(&ended, Ended::Stopped { step: StepKind::Validate, why, .. } if why == "no job named nightly on the secondary side"),
            "{ended:?}"
        );
    }

    #[tokio::test]
    async fn a_validation_job_that_outlives_its_timeout_is_cancelled() {
        let world = World::new();
        let mut runbook = runbook(Mode::Drill, Side::Primary);
        runbook.validate_job_timeout_ms = 0;
        let (ended, _) = run_to_end(&world, &runbook).await;
        let Ended::Stopped { step: StepKind::Validate, why, findings } = &ended else { panic!("{ended:?}") };
        assert!(why.contains("did not end within") && why.ends_with("cancelled"), "{why}");
        assert!(world.jobs[1].calls.lock().unwrap().iter().any(|c| c == "cancel 102000"));
        // The drill stopped, and still returned the secondary to passive.
        assert_eq!(world.warehouses[1].starts.load(Ordering::SeqCst), 1, "the drill started one warehouse");
        assert_eq!(world.warehouses[1].state("s1"), WarehouseState::Stopped, "and stopped it on its way out");
        assert!(findings.iter().any(|f| f == "the warehouses the drill started on the secondary side were stopped"));
    }

    #[tokio::test]
    async fn a_drill_cancelled_after_its_promotion_stops_what_it_started() {
        let world = World::new();
        let runbook = runbook(Mode::Drill, Side::Primary);
        let mut progress = Progress::new(world.now_ms());
        // Run up to the promotion, then ask to cancel before the validation.
        let mut journal = Memory { kill_at: Some(3), ..Memory::default() };
        assert_eq!(run(&world, &mut journal, &runbook, RunOptions::default(), &mut progress).await, Err(Halt));
        assert_eq!(progress.next(&runbook).map(|s| s.kind), Some(StepKind::Validate), "promoted, not validated");
        assert_eq!(world.warehouses[1].state("s1"), WarehouseState::Running);
        let mut journal = Memory { cancel: true, ..Memory::default() };
        let ended = run(&world, &mut journal, &runbook, RunOptions::default(), &mut progress).await.unwrap();
        assert!(matches!(ended, Ended::Cancelled { before: StepKind::Validate, .. }), "{ended:?}");
        assert_eq!(world.warehouses[1].state("s1"), WarehouseState::Stopped, "the secondary is passive again");
    }

    #[tokio::test]
    async fn a_forced_failover_with_the_primary_down_goes_on_and_says_what_it_could_not_do() {
        let world = World::new();
        world.primary_down();
        let runbook = runbook(Mode::Forced, Side::Primary);
        assert_eq!(runbook.loss[0].loss, crate::failover::loss::Loss::Window { since_ms: 900_000, ms: 100_000 });
        let (ended, journal) = run_to_end(&world, &runbook).await;
        let Ended::Completed { findings, .. } = ended else { panic!("{ended:?}") };
        assert_eq!(*world.active.lock().unwrap(), Side::Secondary);
        assert!(findings.iter().any(|f| f.starts_with("the primary side is unreachable")), "{findings:?}");
        assert!(findings.iter().any(|f| f.starts_with("freeze:") && f.contains("best effort")), "{findings:?}");
        assert!(findings.iter().any(|f| f.starts_with("final_sync:")), "{findings:?}");
        assert!(findings.iter().any(|f| f.contains("pause states are unknown")), "{findings:?}");
        assert!(world.unpaused(Side::Secondary).is_empty(), "nothing unpaused without the recorded states");
        let saved = journal.saved.unwrap();
        assert!(matches!(saved.steps[1].outcome, StepOutcome::Failed { .. }));
    }

    #[tokio::test]
    async fn a_primary_lost_mid_runbook_stops_a_planned_failover_at_the_named_step() {
        let world = World::new();
        let runbook = runbook(Mode::Planned, Side::Primary);
        let mut journal = Memory::default();
        let mut progress = Progress::new(world.now_ms());
        // Preflight passes; then the primary goes away before the freeze.
        journal.kill_at = Some(0);
        assert_eq!(run(&world, &mut journal, &runbook, RunOptions::default(), &mut progress).await, Err(Halt));
        world.primary_down();
        let mut journal = Memory::default();
        let ended = run(&world, &mut journal, &runbook, RunOptions::default(), &mut progress).await.unwrap();
        assert!(matches!(ended, Ended::Stopped { step: StepKind::Freeze, .. }), "{ended:?}");
        assert_eq!(*world.active.lock().unwrap(), Side::Primary, "nothing promoted");
    }

    #[tokio::test]
    async fn a_drill_leaves_both_sides_as_they_were() {
        let world = World::new();
        let before_jobs = [world.unpaused(Side::Primary), world.unpaused(Side::Secondary)];
        let runbook = runbook(Mode::Drill, Side::Primary);
        let (ended, _) = run_to_end(&world, &runbook).await;
        assert!(matches!(ended, Ended::Completed { .. }), "{ended:?}");
        assert_eq!(*world.active.lock().unwrap(), Side::Primary);
        assert_eq!([world.unpaused(Side::Primary), world.unpaused(Side::Secondary)], before_jobs);
        assert_eq!(world.warehouses[1].starts.load(Ordering::SeqCst), 1, "the drill started what runs on the primary");
        assert_eq!(world.warehouses[1].state("s1"), WarehouseState::Stopped, "the drill stopped what it started");
        assert_eq!(world.jobs[1].started.lock().unwrap().len(), 1, "the validation job ran on the secondary");
        assert!(world.jobs[0].started.lock().unwrap().is_empty());
        assert_eq!(world.warehouses[0].state("p1"), WarehouseState::Running, "the primary untouched");
        assert_eq!(world.jobs[0].runs.lock().unwrap().len(), 1, "the primary's runs untouched");
        assert!(!world.storage_failed_over.load(Ordering::SeqCst));
        assert_eq!(world.flips.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_failback_after_a_failover_restores_the_original_state() {
        let world = World::new();
        let original = world.unpaused(Side::Primary);
        run_to_end(&world, &runbook(Mode::Planned, Side::Primary)).await;
        // Written while failed over.
        world.versions[1].lock().unwrap().insert("c.s.a".into(), 9);
        let (ended, _) = run_to_end(&world, &runbook(Mode::Failback, Side::Secondary)).await;
        assert!(matches!(ended, Ended::Completed { .. }), "{ended:?}");
        assert_eq!(*world.active.lock().unwrap(), Side::Primary);
        assert_eq!(world.unpaused(Side::Primary), original);
        assert!(world.unpaused(Side::Secondary).is_empty());
        assert_eq!(world.versions[0].lock().unwrap()["c.s.a"], 9, "the writes made while failed over came back");
        assert_eq!(world.aliases.lock().unwrap()["databricks"], "adb-1.example", "the alias is back");
        assert_eq!(world.warehouses[0].state("p1"), WarehouseState::Running, "the primary's warehouse again");
        assert_eq!(world.warehouses[1].state("s1"), WarehouseState::Stopped, "the secondary's stopped");
        assert!(world.may_modify(Side::Primary, "analysts") && !world.may_modify(Side::Secondary, "analysts"));
        assert_eq!(world.alias_writes.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_cancel_is_honoured_between_steps() {
        let world = World::new();
        let runbook = runbook(Mode::Planned, Side::Primary);
        let mut journal = Memory { cancel: true, ..Memory::default() };
        let mut progress = Progress::new(world.now_ms());
        let ended = run(&world, &mut journal, &runbook, RunOptions::default(), &mut progress).await.unwrap();
        assert!(matches!(ended, Ended::Cancelled { before: StepKind::Preflight, .. }));
        assert_eq!(world.effects(), (0, 0, 0, 0, 0, 0, 0, 0));
    }

    #[tokio::test]
    async fn blockers_stop_the_preflight_unless_overridden() {
        let world = World::new();
        let mut runbook = runbook(Mode::Planned, Side::Primary);
        runbook.blocked = vec!["never replicated: c.s.z".into()];
        let (ended, _) = run_to_end(&world, &runbook).await;
        assert!(matches!(&ended, Ended::Stopped { step: StepKind::Preflight, why, .. } if why.contains("c.s.z")));
        let mut progress = Progress::new(world.now_ms());
        let options = RunOptions { override_checks: true };
        let ended = run(&world, &mut Memory::default(), &runbook, options, &mut progress).await.unwrap();
        assert!(matches!(ended, Ended::Completed { .. }), "{ended:?}");
    }

    /// Kills the run at every checkpoint of each runbook (the checkpoint
    /// lost with the process), resumes from the last one stored, and
    /// compares with an uninterrupted run: same end state, no effect twice,
    /// and the pair active on exactly the expected side at the end.
    #[tokio::test]
    async fn a_run_killed_at_any_checkpoint_resumes_without_repeating_an_effect() {
        for mode in [Mode::Planned, Mode::Forced, Mode::Drill] {
            let reference = World::new();
            let (reference_ended, journal) = run_to_end(&reference, &runbook(mode, Side::Primary)).await;
            let Ended::Completed { findings: reference_findings, .. } = reference_ended else { panic!("{mode:?}") };
            assert!(!reference_findings.is_empty(), "{mode:?}: the smoke count at least");
            let checkpoints = journal.saves;
            assert!(checkpoints >= runbook(mode, Side::Primary).steps.len());
            for kill_at in 0..checkpoints {
                let world = World::new();
                let runbook = runbook(mode, Side::Primary);
                let mut first = Memory { kill_at: Some(kill_at), ..Memory::default() };
                let mut progress = Progress::new(world.now_ms());
                let halted = run(&world, &mut first, &runbook, RunOptions::default(), &mut progress).await;
                assert_eq!(halted, Err(Halt), "{mode:?} killed at {kill_at}");
                let mut resumed = first.saved.clone().unwrap_or_else(|| Progress::new(world.now_ms()));
                let mut second = Memory::default();
                let ended = run(&world, &mut second, &runbook, RunOptions::default(), &mut resumed).await.unwrap();
                let Ended::Completed { findings, .. } = &ended else { panic!("{mode:?} at {kill_at}: {ended:?}") };
                assert_eq!(findings, &reference_findings, "{mode:?} at {kill_at}: every finding once");
                assert_eq!(world.effects(), reference.effects(), "{mode:?} at {kill_at}: an effect repeated");
                assert_eq!(*world.active.lock().unwrap(), *reference.active.lock().unwrap(), "{mode:?} at {kill_at}");
                assert_eq!(world.unpaused(Side::Secondary), reference.unpaused(Side::Secondary));
                assert_eq!(world.unpaused(Side::Primary), reference.unpaused(Side::Primary));
                assert_eq!(resumed.steps.len(), runbook.steps.len(), "each step recorded once");
                let states = |w: &World| {
                    [&w.warehouses[0], &w.warehouses[1]]
                        .map(|f| f.list.lock().unwrap().iter().map(|w| w.state).collect::<Vec<_>>())
                };
                assert_eq!(states(&world), states(&reference), "{mode:?} at {kill_at}: warehouses");
            }
        }
        let _: BTreeSet<i64> = BTreeSet::new();
    }
}
