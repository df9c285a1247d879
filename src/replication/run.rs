//! Running a plan against the workspaces: the graph engine (`execute`) with
//! one action per step (`apply`), progress as a stream of [`RunEvent`]s,
//! and a result per action.
//!
//! Lanes: statements (clones, views, volumes, grants, owners) share the
//! secondary's warehouse and run on the Warehouse lane; REST calls
//! (catalogs, schemas, sharing, drops) run on the Api lane, bounded to spare
//! the workspaces' rate limits. The Warehouse lane's bound is best set a
//! little above the warehouse's own concurrency (×1.5): a statement's end
//! is only noticed at the next poll, and the few statements waiting in the
//! warehouse's queue take a freed slot at once. At exactly the warehouse's
//! concurrency each slot idles for a poll interval per statement, which on
//! short statements (grants) cost the benchmark a third of its makespan.
//!
//! Estimates, which only order the ready steps (longest remaining chain
//! first): the snapshot carries no table sizes, so a clone is a constant,
//! longer for a first copy than for an incremental refresh, and everything
//! else is short. What matters is that chains ending in clones start early,
//! not the absolute numbers. See [`estimate`].
//!
//! Resuming: a run interrupted (the bot restarted) is planned again and run
//! with the actions it already finished in `RunOptions::done`, which are
//! reported as succeeded without running, and the statements it had
//! submitted in `RunOptions::in_flight`, which are followed by id before
//! anything is sent again.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::apply::{apply, ActionSettings, Applied, ApplyError, Prior};
use super::execute::{self, run_graph, Lane, Step, StepEvent, StepOutcome};
use super::plan::{Action, ActionId, ActionKind, CloneReason, Plan};
use super::volume_copy::{copy_volume, CopySettings};
use super::volume_files::FileState;
use crate::databricks::statements::Polling;
use crate::databricks::RetryPolicy;

use crate::store::runs::{ObjectResult, ResultStatus};
use crate::store::table_versions::Commit;
use crate::store::volume_files::CopiedFile;
use crate::store::{Store, StoreError};

pub use super::workspaces::{FixedToken, TokenSource, Workspaces};

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub limits: execute::Limits,
    pub statement_timeout: Duration,
    pub action_budget: Duration,
    /// Actions already succeeded in an earlier attempt of this run (resume): not run again.
    pub done: BTreeSet<ActionId>,
    /// Statements submitted by an earlier attempt and not known to be finished: reconciled by id first.
    pub in_flight: BTreeMap<ActionId, String>,
    /// An earlier attempt of this run existed (a restart, a takeover): an
    /// action with no recorded statement may still have been sent, so a
    /// clone is looked for in the table before it is sent.
    pub resumed: bool,
    /// How often running statements are looked at.
    pub polling: Polling,
    /// Backoff between attempts of an action after a transient failure.
    pub backoff: RetryPolicy,
    /// The warehouse's slots, shared with other runs on the same warehouse
    /// ([`super::slots`]); a statement holds one while it runs. `None`: the
    /// run's own limit is the only bound.
    pub warehouse_slots: Option<Arc<Semaphore>>,
    /// The manifest of volume files copied (volume → path → source state),
    /// as the store had it when this attempt started: a resumed run does
    /// not copy again what its earlier attempt copied.
    pub copied_files: Arc<BTreeMap<String, BTreeMap<String, FileState>>>,
    /// One volume file's copy attempt (download and upload together).
    pub file_timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        let settings = ActionSettings::default();
        RunOptions {
            limits: execute::Limits { warehouse: 16, api: 8 },
            statement_timeout: settings.statement_timeout,
            action_budget: settings.budget,
            done: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            resumed: false,
            polling: settings.polling,
            backoff: settings.backoff,
            warehouse_slots: None,
            copied_files: Arc::default(),
            file_timeout: Duration::from_secs(3600),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEvent {
    Started {
        action: ActionId,
    },
    /// Recorded before the statement is waited for, so a restart can find it.
    StatementSubmitted {
        action: ActionId,
        statement_id: String,
    },
    Finished {
        action: ActionId,
        result: ActionResult,
    },
    /// One file of a managed volume arrived on the secondary, carrying the
    /// source at `source`: recorded in the manifest at once.
    FileCopied {
        action: ActionId,
        volume: String,
        path: String,
        source: FileState,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActionStatus {
    Succeeded,
    Failed,
    /// Never run: the planner could not make it runnable; the error says why.
    Blocked,
    Skipped,
    Canceled,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionResult {
    pub status: ActionStatus,
    pub duration: Duration,
    /// e.g. "version 42".
    pub detail: Option<String>,
    pub copied_version: Option<i64>,
    /// The failure, or why it was skipped.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct RunReport {
    pub results: BTreeMap<ActionId, ActionResult>,
    pub makespan: Duration,
    pub canceled: bool,
}

impl RunReport {
    pub fn count(&self, status: ActionStatus) -> usize {
        self.results.values().filter(|r| r.status == status).count()
    }

    /// Everything succeeded.
    pub fn is_success(&self) -> bool {
        !self.canceled && self.results.values().all(|r| r.status == ActionStatus::Succeeded)
    }
}

/// Which lane an action runs on: statements on the warehouse, the rest on the API.
pub fn lane(action: &Action) -> Lane {
    match action.kind {
        ActionKind::CloneTable { .. }
        | ActionKind::RegisterExternalTable { .. }
        | ActionKind::CreateView { .. }
        | ActionKind::CreateExternalVolume { .. }
        | ActionKind::CreateDataset { .. }
        | ActionKind::Grant { .. }
        | ActionKind::Revoke { .. }
        | ActionKind::SetOwner { .. }
        | ActionKind::Metadata(_) => Lane::Warehouse,
        _ => Lane::Api,
    }
}

/// The guessed duration of an action, for ordering: a first (or replacing)
/// deep clone 60 s, an incremental one 20 s (it copies only new files), any
/// other statement 2 s, a REST call 0.5 s. Without sizes in the snapshot a
/// constant per kind is as good as a proxy; only the relative order of
/// chains matters to the schedule.
pub fn estimate(action: &Action) -> Duration {
    match &action.kind {
        ActionKind::CloneTable { reason: CloneReason::Stale, .. } => Duration::from_secs(20),
        ActionKind::CloneTable { .. } => Duration::from_secs(60),
        // A volume's files: a call per file, a second per 100 MB.
        ActionKind::CopyVolumeFiles(copy) => {
            Duration::from_millis(500 + 100 * copy.copy.len() as u64) + Duration::from_secs(copy.bytes() / 100_000_000)
        }
        _ if lane(action) == Lane::Warehouse => Duration::from_secs(2),
        _ => Duration::from_millis(500),
    }
}

/// The plan's steps for the graph runner (lanes, estimates); also used by the benchmark's lower bound.
pub fn steps(plan: &Plan, options: &RunOptions) -> Vec<Step> {
    let index: HashMap<&ActionId, usize> = plan.actions.iter().enumerate().map(|(i, a)| (&a.id, i)).collect();
    plan.actions
        .iter()
        .enumerate()
        .map(|(i, action)| Step {
            index: i,
            // A dependency outside the plan is already there (the planner only
            // names actions it made); it cannot hold anything up.
            depends_on: action.depends_on.iter().filter_map(|d| index.get(d).copied()).collect(),
            lane: lane(action),
            estimate: estimate(action),
            already_done: options.done.contains(&action.id),
            blocked: match &action.kind {
                ActionKind::Blocked(reason) => Some(reason.to_string()),
                _ => None,
            },
        })
        .collect()
}

/// Runs the plan; every action ends with a result, none is lost.
pub async fn run_plan<T: TokenSource>(
    plan: &Plan,
    workspaces: &Workspaces,
    tokens: &T,
    options: RunOptions,
    cancel: CancellationToken,
    events: mpsc::UnboundedSender<RunEvent>,
) -> RunReport {
    let started = Instant::now();
    let steps = steps(plan, &options);
    let settings = ActionSettings {
        statement_timeout: options.statement_timeout,
        budget: options.action_budget,
        backoff: options.backoff.clone(),
        polling: options.polling,
    };
    let applied: Arc<Mutex<HashMap<usize, Applied>>> = Arc::default();
    // Actions that ended waiting (files not replicated yet): skipped with their reason.
    let waiting: Arc<Mutex<HashMap<usize, String>>> = Arc::default();
    let (step_tx, mut step_rx) = mpsc::unbounded_channel::<StepEvent>();

    let run = {
        let (applied, waiting, events, settings, cancel) =
            (applied.clone(), waiting.clone(), events.clone(), &settings, &cancel);
        let (in_flight, resumed) = (&options.in_flight, options.resumed);
        let warehouse_slots = &options.warehouse_slots;
        let (copied_files, limits, file_timeout) = (&options.copied_files, options.limits, options.file_timeout);
        async move {
            let outcome = run_graph(&steps, options.limits, cancel, Some(&step_tx), |index, token| {
                let action = &plan.actions[index];
                let (applied, waiting, events) = (applied.clone(), waiting.clone(), events.clone());
                async move {
                    // A statement waits for its warehouse's slot (shared with the other
                    // runs on that warehouse) before it counts as started.
                    let _slot = match warehouse_slots {
                        Some(slots) if lane(action) == Lane::Warehouse => tokio::select! {
                            slot = slots.clone().acquire_owned() => slot.ok(),
                            () = token.cancelled() => return Err("canceled".to_string()),
                        },
                        _ => None,
                    };
                    let _ = events.send(RunEvent::Started { action: action.id.clone() });
                    let submitted = |id: &str| {
                        let _ = events
                            .send(RunEvent::StatementSubmitted { action: action.id.clone(), statement_id: id.into() });
                    };
                    let ended = if let ActionKind::CopyVolumeFiles(copy) = &action.kind {
                        let volume = action.object.full_name();
                        let none = BTreeMap::new();
                        let before = copied_files.get(&volume).unwrap_or(&none);
                        let on_copied = |path: &str, source: FileState| {
                            let _ = events.send(RunEvent::FileCopied {
                                action: action.id.clone(),
                                volume: volume.clone(),
                                path: path.to_string(),
                                source,
                            });
                        };
                        let settings = CopySettings { concurrency: limits.api, file_timeout };
                        copy_volume(action, copy, workspaces, tokens, before, settings, &token, &on_copied).await
                    } else {
                        let prior = match in_flight.get(&action.id) {
                            Some(statement_id) => Prior::Submitted(statement_id),
                            None if resumed => Prior::Unrecorded,
                            None => Prior::Nothing,
                        };
                        apply(action, workspaces, tokens, settings, prior, &token, &submitted).await
                    };
                    match ended {
                        Ok(result) => {
                            let detail = result.detail.clone();
                            applied.lock().insert(index, result);
                            Ok(detail)
                        }
                        Err(ApplyError::Canceled) => Err("canceled".to_string()),
                        Err(ApplyError::Failed(error)) => Err(error),
                        Err(ApplyError::Waiting(reason)) => {
                            waiting.lock().insert(index, reason.clone());
                            Err(reason)
                        }
                    }
                }
            })
            .await;
            drop(step_tx);
            outcome
        }
    };

    let collect = async {
        let mut results: BTreeMap<ActionId, ActionResult> = BTreeMap::new();
        while let Some(event) = step_rx.recv().await {
            let StepEvent::Finished { index, outcome, duration } = event else { continue };
            let action = &plan.actions[index];
            let outcome = match (outcome, waiting.lock().remove(&index)) {
                (StepOutcome::Failed { .. }, Some(reason)) => StepOutcome::Skipped { reason },
                (outcome, _) => outcome,
            };
            let result = result_of(action, outcome, duration, applied.lock().remove(&index), &results, plan);
            results.insert(action.id.clone(), result.clone());
            let _ = events.send(RunEvent::Finished { action: action.id.clone(), result });
        }
        results
    };

    let (graph, mut results) = tokio::join!(run, collect);
    if let Err(error) = graph {
        // A plan whose graph is broken runs nothing; every action says why.
        for action in &plan.actions {
            let result = ActionResult {
                status: ActionStatus::Failed,
                duration: Duration::ZERO,
                detail: None,
                copied_version: None,
                error: Some(format!("the plan cannot run: {error}")),
            };
            results.insert(action.id.clone(), result.clone());
            let _ = events.send(RunEvent::Finished { action: action.id.clone(), result });
        }
    }
    RunReport { results, makespan: started.elapsed(), canceled: cancel.is_cancelled() }
}

fn result_of(
    action: &Action,
    outcome: StepOutcome,
    duration: Duration,
    applied: Option<Applied>,
    earlier: &BTreeMap<ActionId, ActionResult>,
    plan: &Plan,
) -> ActionResult {
    let result = |status, error| ActionResult { status, duration, detail: None, copied_version: None, error };
    match outcome {
        StepOutcome::Succeeded { detail } => {
            let applied = applied.unwrap_or_default();
            ActionResult {
                status: ActionStatus::Succeeded,
                duration,
                detail: detail.or(applied.detail),
                copied_version: applied.copied_version,
                error: None,
            }
        }
        StepOutcome::Failed { error } => result(ActionStatus::Failed, Some(error)),
        StepOutcome::Blocked { reason } => result(ActionStatus::Blocked, Some(reason)),
        StepOutcome::Canceled => result(ActionStatus::Canceled, Some("the run was canceled".into())),
        StepOutcome::Skipped { reason } => {
            // Name the dependency that did not succeed, by action, not by step number.
            let culprit = action.depends_on.iter().find_map(|d| {
                let r = earlier.get(d)?;
                (r.status != ActionStatus::Succeeded).then_some((d, r.status))
            });
            let reason = match culprit {
                Some((id, status)) => {
                    let what = plan.get(id).map(|a| a.describe()).unwrap_or_else(|| id.to_string());
                    let how = match status {
                        ActionStatus::Failed => "failed",
                        ActionStatus::Blocked => "is blocked",
                        ActionStatus::Skipped => "was skipped",
                        _ => "did not run",
                    };
                    format!("not run: it needs \"{what}\", which {how}")
                }
                None => reason,
            };
            result(ActionStatus::Skipped, Some(reason))
        }
    }
}

/// The store's row for one finished action: keyed by the action id (unique
/// per action, and it holds the object's full name).
pub fn object_result(run_id: &str, plan: &Plan, action: &ActionId, result: &ActionResult) -> ObjectResult {
    let what = match (plan.get(action), &result.detail) {
        // A volume's result (copied, unchanged, gone since the plan) is kept
        // with it: the run history is where a person reads it.
        (Some(found @ Action { kind: ActionKind::CopyVolumeFiles(_), .. }), Some(detail)) => {
            format!("{}: {detail}", found.describe())
        }
        (found, _) => found.map(|a| a.describe()).unwrap_or_default(),
    };
    let (status, error, reason) = match result.status {
        ActionStatus::Succeeded => (ResultStatus::Succeeded, None, None),
        ActionStatus::Failed => (ResultStatus::Failed, result.error.clone(), None),
        ActionStatus::Blocked => (ResultStatus::Blocked, None, result.error.clone()),
        ActionStatus::Skipped => (ResultStatus::Skipped, None, result.error.clone()),
        ActionStatus::Canceled => (ResultStatus::Skipped, None, Some("canceled".to_string())),
    };
    ObjectResult {
        run_id: run_id.to_string(),
        object_name: action.to_string(),
        action: what,
        status,
        duration_ms: i64::try_from(result.duration.as_millis()).unwrap_or(i64::MAX),
        copied: result.copied_version,
        error,
        reason,
    }
}

/// Keeps a finished action's result in the run history; other events are
/// not results and are ignored here. A clone that succeeded also records the
/// source version it copied (as `pair`'s), which the next cycle compares the source with.
pub async fn record(store: &Store, pair: &str, run_id: &str, plan: &Plan, event: &RunEvent) -> Result<(), StoreError> {
    if let RunEvent::FileCopied { volume, path, source, .. } = event {
        let file = CopiedFile {
            source_size: i64::try_from(source.size).unwrap_or(i64::MAX),
            source_modified_ms: source.modified_ms,
        };
        return store.record_copied_file(pair, volume, path, file, chrono::Utc::now().timestamp_millis()).await;
    }
    let RunEvent::Finished { action, result } = event else { return Ok(()) };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let row = object_result(run_id, plan, action, result);
    store.record_result(&row, now_ms).await?;
    if let (Some(copied), Some(cloned)) = (replicated_commit(plan, action, result), plan.get(action)) {
        store.record_replicated(pair, &cloned.object.full_name(), copied, now_ms).await?;
    }
    Ok(())
}

/// The source commit a succeeded clone holds: the version the warehouse
/// reported (else the one the plan saw), with the commit time the plan saw.
/// When the clone copied a newer version than planned, that time is a lower
/// bound of its commit time, so an RPO computed from it errs long, never short.
pub fn replicated_commit(plan: &Plan, action: &ActionId, result: &ActionResult) -> Option<Commit> {
    if result.status != ActionStatus::Succeeded {
        return None;
    }
    let ActionKind::CloneTable { source_delta: Some(seen), .. } = &plan.get(action)?.kind else { return None };
    Some(Commit { version: result.copied_version.unwrap_or(seen.version), commit_ms: seen.last_commit_ms })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::databricks::WorkspaceClient;
    use crate::identity::AccessToken;
    use crate::replication::object::{ObjectKind, ObjectRef};
    use crate::replication::plan::{BlockReason, CloneSource};

    fn action(id: &str, kind: ActionKind, depends_on: &[&str]) -> Action {
        Action {
            id: ActionId(id.into()),
            object: ObjectRef::new(ObjectKind::Table, ["main", "s", id]),
            kind,
            depends_on: depends_on.iter().map(|d| ActionId(d.to_string())).collect(),
        }
    }

    #[tokio::test]
    async fn blocked_actions_are_reported_blocked_with_their_reason_and_their_dependants_skipped_naming_them() {
        let blocked = ActionKind::Blocked(BlockReason::Unmapped { location: "abfss://x@y/t".into() });
        let grant = ActionKind::Grant { principal: "bob".into(), privileges: BTreeSet::from(["SELECT".to_string()]) };
        let plan = Plan {
            actions: vec![action("t", blocked, &[]), action("g", grant.clone(), &["t"]), action("h", grant, &["g"])],
            extras: Vec::new(),
            not_compared: Vec::new(),
        };
        // Nothing may reach a workspace: port 9 answers nobody.
        let client = WorkspaceClient::new(reqwest::Client::new(), "http://127.0.0.1:9");
        let workspaces = Workspaces { primary: client.clone(), secondary: client, warehouse_id: "w".into() };
        let tokens = FixedToken(AccessToken::from_secret(Secret::new("t")));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let report = run_plan(&plan, &workspaces, &tokens, RunOptions::default(), CancellationToken::new(), tx).await;

        let t = &report.results[&ActionId("t".into())];
        assert_eq!(t.status, ActionStatus::Blocked);
        assert!(t.error.as_deref().unwrap().contains("no location mapping rule covers abfss://x@y/t"));
        let row = object_result("r", &plan, &ActionId("t".into()), t);
        assert_eq!((row.status, row.error.is_none()), (ResultStatus::Blocked, true));
        assert!(row.reason.as_deref().unwrap().contains("no location mapping rule"), "{row:?}");
        let g = &report.results[&ActionId("g".into())];
        assert_eq!(g.status, ActionStatus::Skipped);
        assert!(g.error.as_deref().unwrap().contains("cannot replicate table main.s.t"), "{g:?}");
        assert!(g.error.as_deref().unwrap().contains("which is blocked"), "{g:?}");
        let h = &report.results[&ActionId("h".into())];
        assert!(h.status == ActionStatus::Skipped && h.error.as_deref().unwrap().contains("was skipped"), "{h:?}");
        let mut finished = 0;
        while let Ok(event) = rx.try_recv() {
            assert!(matches!(event, RunEvent::Finished { .. }), "nothing started: {event:?}");
            finished += 1;
        }
        assert_eq!(finished, 3);
        assert!(!report.is_success() && !report.canceled);
    }

    #[test]
    fn statements_go_to_the_warehouse_lane_rest_calls_to_the_api_and_done_steps_are_marked() {
        let clone = ActionKind::CloneTable {
            source: CloneSource::Shared(vec!["drbot_shared_main".into(), "s".into(), "t".into()]),
            location: None,
            source_delta: None,
            reason: CloneReason::Missing,
        };
        let plan = Plan {
            actions: vec![
                action(
                    "schema",
                    ActionKind::CreateSchema { storage_root: None, comment: None, properties: BTreeMap::new() },
                    &[],
                ),
                action("clone", clone, &["schema", "outside-the-plan"]),
            ],
            extras: Vec::new(),
            not_compared: Vec::new(),
        };
        let options = RunOptions { done: BTreeSet::from([ActionId("schema".into())]), ..RunOptions::default() };
        let steps = steps(&plan, &options);
        assert_eq!((steps[0].lane, steps[1].lane), (Lane::Api, Lane::Warehouse));
        assert!(steps[0].already_done && !steps[1].already_done);
        assert_eq!(steps[1].depends_on, vec![0], "a dependency outside the plan holds nothing up");
        assert!(steps[1].estimate > steps[0].estimate);
    }
}
