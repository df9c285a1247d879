//! Freezing and promoting jobs, without naming the Jobs client: a small
//! trait ([`JobControl`]) the runbook drives, planned by pure functions.
//!
//! The rules come from the users' pain points with earlier DR tools:
//! never pause-all then unpause-all (jobs paused on purpose stay paused);
//! record each job's prior state before pausing anything, so a run that
//! crashes halfway and resumes still knows which were unpaused; pause first,
//! then wait for or cancel active runs (cancelling does not stop new ones).
//!
//! A job stands for its *origin*: the primary job it is or copies. The
//! asset sync tags each secondary copy with `drbot_source_job_id` = the
//! primary's job id, so prior states keyed by origin apply to either side.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::store::job_pause_states::JobPauseState;

/// The job tag naming the primary job a secondary copy was made from.
pub const SOURCE_JOB_TAG: &str = "drbot_source_job_id";

/// A job's three pause switches (Jobs 2.2 settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `schedule.pause_status`.
    Schedule,
    /// `trigger.pause_status` (file arrival, table update, periodic).
    Trigger,
    /// `continuous.pause_status`.
    Continuous,
}

/// A job and its triggers' pause states (`true`: paused).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTriggers {
    pub job_id: i64,
    pub name: String,
    /// The `drbot_source_job_id` tag, on a secondary copy.
    pub source_job_id: Option<i64>,
    pub paused: BTreeMap<Trigger, bool>,
}

impl JobTriggers {
    /// The primary job this one is or copies.
    pub fn origin(&self) -> i64 {
        self.source_job_id.unwrap_or(self.job_id)
    }

    /// The triggers that fire now.
    pub fn unpaused(&self) -> BTreeSet<Trigger> {
        self.paused.iter().filter(|(_, paused)| !**paused).map(|(t, _)| *t).collect()
    }
}

/// A run that has not ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveRun {
    pub run_id: i64,
    pub job_id: i64,
}

/// Where a job run started by the runbook is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// Not ended yet (queued, pending, running, terminating).
    Running,
    Succeeded,
    /// Ended otherwise: failed, cancelled, timed out, skipped; the why.
    Failed(String),
}

/// A run as the runbook follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRun {
    pub status: RunStatus,
    /// Its page in the workspace, when the service gives one.
    pub url: Option<String>,
}

/// A call that failed; `transient` ones may be retried.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ControlError {
    pub message: String,
    pub transient: bool,
}

/// What the runbook needs of one workspace's jobs.
pub trait JobControl: Send + Sync {
    /// Every job with its triggers' pause states.
    fn jobs(&self) -> impl Future<Output = Result<Vec<JobTriggers>, ControlError>> + Send;
    /// Sets `triggers` of the job paused (`true`) or unpaused; idempotent.
    fn set_paused(
        &self,
        job_id: i64,
        triggers: &BTreeSet<Trigger>,
        paused: bool,
    ) -> impl Future<Output = Result<(), ControlError>> + Send;
    /// Runs not yet ended.
    fn active_runs(&self) -> impl Future<Output = Result<Vec<ActiveRun>, ControlError>> + Send;
    /// Asks for a run's cancellation (asynchronous in Databricks); idempotent.
    fn cancel_run(&self, run_id: i64) -> impl Future<Output = Result<(), ControlError>> + Send;
    /// Starts a run of the job; the same `key` always names the same run
    /// (an idempotency token derived from it), so a resumed step that asks
    /// again starts nothing new. The run's id.
    fn run_now(&self, job_id: i64, key: &str) -> impl Future<Output = Result<i64, ControlError>> + Send;
    /// Where a run is now.
    fn run(&self, run_id: i64) -> impl Future<Output = Result<JobRun, ControlError>> + Send;
}

/// The prior states a freeze recorded: per origin job, the triggers that
/// were unpaused. Checkpointed before the first pause.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorStates {
    pub unpaused: BTreeMap<i64, BTreeSet<Trigger>>,
}

impl PriorStates {
    /// Recorded from the side being frozen, as it is before any pause.
    pub fn record(jobs: &[JobTriggers]) -> PriorStates {
        PriorStates {
            unpaused: jobs
                .iter()
                .map(|job| (job.origin(), job.unpaused()))
                .filter(|(_, unpaused)| !unpaused.is_empty())
                .collect(),
        }
    }
}

impl PriorStates {
    /// From the asset sync's record of each primary job's pause states.
    pub fn from_recorded(recorded: &[JobPauseState]) -> PriorStates {
        let unpaused = |state: &Option<String>, trigger: Trigger| {
            state.as_deref().is_some_and(|s| s != "PAUSED").then_some(trigger)
        };
        PriorStates {
            unpaused: recorded
                .iter()
                .map(|job| {
                    let p = &job.pause;
                    let triggers: BTreeSet<Trigger> = [
                        unpaused(&p.schedule, Trigger::Schedule),
                        unpaused(&p.trigger, Trigger::Trigger),
                        unpaused(&p.continuous, Trigger::Continuous),
                    ]
                    .into_iter()
                    .flatten()
                    .collect();
                    (job.source_job_id, triggers)
                })
                .filter(|(_, triggers)| !triggers.is_empty())
                .collect(),
        }
    }
}

/// One pause-state change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switch {
    pub job_id: i64,
    pub triggers: BTreeSet<Trigger>,
    pub paused: bool,
}

/// The pauses that freeze a side: every unpaused trigger of every job.
/// Empty when it is frozen already (a resumed freeze changes nothing).
pub fn freeze(jobs: &[JobTriggers]) -> Vec<Switch> {
    jobs.iter()
        .filter_map(|job| {
            let triggers = job.unpaused();
            (!triggers.is_empty()).then_some(Switch { job_id: job.job_id, triggers, paused: true })
        })
        .collect()
}

/// What promoting a side does to its jobs, and what it could not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    pub switches: Vec<Switch>,
    /// Origin jobs unpaused before that have no job on the promoted side.
    pub missing: Vec<i64>,
}

/// Makes the promoted side's pause states exactly the recorded ones: each
/// trigger unpaused before is unpaused, every other trigger paused. A job
/// already as recorded is left alone, so a resumed promotion changes nothing.
pub fn promote(prior: &PriorStates, target: &[JobTriggers]) -> Promotion {
    let mut switches = Vec::new();
    let mut present = BTreeSet::new();
    for job in target {
        present.insert(job.origin());
        let wanted = prior.unpaused.get(&job.origin()).cloned().unwrap_or_default();
        let unpaused = job.unpaused();
        let to_unpause: BTreeSet<Trigger> =
            wanted.iter().filter(|t| !unpaused.contains(t) && job.paused.contains_key(t)).copied().collect();
        let to_pause: BTreeSet<Trigger> = unpaused.difference(&wanted).copied().collect();
        if !to_unpause.is_empty() {
            switches.push(Switch { job_id: job.job_id, triggers: to_unpause, paused: false });
        }
        if !to_pause.is_empty() {
            switches.push(Switch { job_id: job.job_id, triggers: to_pause, paused: true });
        }
    }
    let missing = prior.unpaused.keys().filter(|origin| !present.contains(origin)).copied().collect();
    Promotion { switches, missing }
}

/// What to do about runs still active during a freeze.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunsVerdict {
    /// None left: the freeze is complete.
    Settled,
    /// Wait, the timeout has not passed.
    Wait,
    /// The timeout passed: cancel these.
    Cancel(Vec<i64>),
}

/// Decides from the active runs and how long the freeze has waited.
pub fn runs_verdict(active: &[ActiveRun], waited_ms: i64, timeout_ms: i64) -> RunsVerdict {
    if active.is_empty() {
        RunsVerdict::Settled
    } else if waited_ms < timeout_ms {
        RunsVerdict::Wait
    } else {
        RunsVerdict::Cancel(active.iter().map(|r| r.run_id).collect())
    }
}

/// How many pause-state changes are in flight at once: each is a
/// `jobs/get` and a `jobs/update`, so a side with 1,000 jobs takes about
/// 1,000 / 8 round trips, not 1,000, while staying well inside the Jobs
/// API's request rate (the client backs off on a 429 anyway).
pub const SWITCHES_AT_ONCE: usize = 8;

/// Applies every switch, [`SWITCHES_AT_ONCE`] at a time. Each switch is
/// idempotent, so a failure does not stop the others: every job is tried,
/// and the error names each one that failed (the step re-plans and
/// re-applies only those on resume). Transient only if every failure was.
pub async fn apply(control: &impl JobControl, switches: &[Switch]) -> Result<usize, ControlError> {
    // Boxed one by one (not a closure over the switches): the runbook is
    // awaited from a Send context, which a closure taking a reference trips up.
    let mut calls: Vec<BoxFuture<'_, (i64, Result<(), ControlError>)>> = Vec::with_capacity(switches.len());
    for switch in switches {
        calls.push(Box::pin(async move {
            (switch.job_id, control.set_paused(switch.job_id, &switch.triggers, switch.paused).await)
        }));
    }
    let outcomes: Vec<(i64, Result<(), ControlError>)> =
        stream::iter(calls).buffer_unordered(SWITCHES_AT_ONCE).collect().await;
    let mut failed: Vec<(i64, ControlError)> =
        outcomes.into_iter().filter_map(|(job_id, outcome)| outcome.err().map(|e| (job_id, e))).collect();
    if failed.is_empty() {
        return Ok(switches.len());
    }
    failed.sort_by_key(|(job_id, _)| *job_id);
    let transient = failed.iter().all(|(_, error)| error.transient);
    let named: Vec<String> =
        failed.iter().take(10).map(|(job_id, error)| format!("job {job_id}: {}", error.message)).collect();
    let more = failed.len().saturating_sub(10);
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    Err(ControlError {
        message: format!("{} of {} jobs not switched: {}{more}", failed.len(), switches.len(), named.join("; ")),
        transient,
    })
}

#[cfg(test)]
pub(crate) mod double {
    //! An in-memory workspace's jobs, for the runbook's unit tests.
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    pub struct FakeJobs {
        /// The workspace does not answer.
        pub down: AtomicBool,
        pub jobs: Mutex<Vec<JobTriggers>>,
        pub runs: Mutex<Vec<ActiveRun>>,
        pub calls: Mutex<Vec<String>>,
        /// Fail the nth `set_paused` call (0-based), once.
        pub fail_call: Mutex<Option<usize>>,
        /// Runs started by key (a key names one run), with how often each was looked at.
        pub started: Mutex<Vec<(String, i64, usize)>>,
        /// Runs of this job end failed.
        pub failing_job: Mutex<Option<i64>>,
    }

    impl FakeJobs {
        pub fn with(jobs: Vec<JobTriggers>) -> FakeJobs {
            FakeJobs { jobs: Mutex::new(jobs), ..FakeJobs::default() }
        }

        fn up(&self) -> Result<(), ControlError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(ControlError { message: "connection refused".into(), transient: true });
            }
            Ok(())
        }
    }

    impl JobControl for FakeJobs {
        async fn jobs(&self) -> Result<Vec<JobTriggers>, ControlError> {
            self.up()?;
            Ok(self.jobs.lock().unwrap().clone())
        }

        async fn set_paused(
            &self,
            job_id: i64,
            triggers: &BTreeSet<Trigger>,
            paused: bool,
        ) -> Result<(), ControlError> {
            self.up()?;
            let mut calls = self.calls.lock().unwrap();
            if *self.fail_call.lock().unwrap() == Some(calls.len()) {
                *self.fail_call.lock().unwrap() = None;
                return Err(ControlError { message: "503".into(), transient: true });
            }
            calls.push(format!("{job_id}:{triggers:?}:{paused}"));
            let mut jobs = self.jobs.lock().unwrap();
            let job = jobs.iter_mut().find(|j| j.job_id == job_id).expect("known job");
            for trigger in triggers {
                job.paused.insert(*trigger, paused);
            }
            Ok(())
        }

        async fn active_runs(&self) -> Result<Vec<ActiveRun>, ControlError> {
            self.up()?;
            Ok(self.runs.lock().unwrap().clone())
        }

        async fn cancel_run(&self, run_id: i64) -> Result<(), ControlError> {
            self.up()?;
            self.calls.lock().unwrap().push(format!("cancel {run_id}"));
            self.runs.lock().unwrap().retain(|r| r.run_id != run_id);
            Ok(())
        }

        async fn run_now(&self, job_id: i64, key: &str) -> Result<i64, ControlError> {
            self.up()?;
            let mut started = self.started.lock().unwrap();
            if let Some((_, run_id, _)) = started.iter().find(|(k, _, _)| k == key) {
                return Ok(*run_id);
            }
            let run_id = job_id * 1_000 + started.len() as i64;
            started.push((key.to_string(), run_id, 0));
            Ok(run_id)
        }

        /// A run ends at its second look.
        async fn run(&self, run_id: i64) -> Result<JobRun, ControlError> {
            self.up()?;
            let mut started = self.started.lock().unwrap();
            let Some(run) = started.iter_mut().find(|(_, id, _)| *id == run_id) else {
                return Err(ControlError { message: format!("no run {run_id}"), transient: false });
            };
            run.2 += 1;
            let status = match (run.2, *self.failing_job.lock().unwrap()) {
                (1, _) => RunStatus::Running,
                (_, Some(job)) if run_id / 1_000 == job => RunStatus::Failed("RUN_EXECUTION_ERROR: boom".into()),
                _ => RunStatus::Succeeded,
            };
            Ok(JobRun { status, url: Some(format!("https://example/runs/{run_id}")) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::double::FakeJobs;
    use super::*;

    fn job(job_id: i64, source: Option<i64>, states: &[(Trigger, bool)]) -> JobTriggers {
        JobTriggers {
            job_id,
            name: format!("job{job_id}"),
            source_job_id: source,
            paused: states.iter().copied().collect(),
        }
    }

    fn primary() -> Vec<JobTriggers> {
        vec![
            job(1, None, &[(Trigger::Schedule, false)]),
            job(2, None, &[(Trigger::Schedule, true)]), // paused on purpose
            job(3, None, &[(Trigger::Continuous, false)]),
            job(4, None, &[(Trigger::Trigger, false)]),
            job(5, None, &[]), // manual only
        ]
    }

    /// The asset sync's copies: same triggers, all paused, tagged.
    fn secondary() -> Vec<JobTriggers> {
        primary()
            .into_iter()
            .filter(|j| j.job_id != 4) // not copied yet
            .map(|j| job(j.job_id + 100, Some(j.job_id), &j.paused.keys().map(|t| (*t, true)).collect::<Vec<_>>()))
            .collect()
    }

    #[tokio::test]
    async fn a_freeze_pauses_every_unpaused_trigger_and_a_second_freeze_changes_nothing() {
        let fake = FakeJobs::with(primary());
        let prior = PriorStates::record(&fake.jobs().await.unwrap());
        assert_eq!(prior.unpaused.keys().copied().collect::<Vec<_>>(), [1, 3, 4]);
        let switches = freeze(&fake.jobs().await.unwrap());
        assert_eq!(apply(&fake, &switches).await.unwrap(), 3);
        let after = fake.jobs().await.unwrap();
        assert!(after.iter().all(|j| j.unpaused().is_empty()));
        assert!(freeze(&after).is_empty(), "resumed: nothing left to pause");
        assert!(PriorStates::record(&after).unpaused.is_empty(), "why the prior states are recorded before pausing");
    }

    #[tokio::test]
    async fn promotion_unpauses_exactly_the_jobs_that_were_unpaused_and_names_the_missing() {
        let prior = PriorStates::record(&primary());
        let fake = FakeJobs::with(secondary());
        let promotion = promote(&prior, &fake.jobs().await.unwrap());
        assert_eq!(promotion.missing, [4]);
        apply(&fake, &promotion.switches).await.unwrap();
        let after = fake.jobs().await.unwrap();
        let unpaused: Vec<i64> = after.iter().filter(|j| !j.unpaused().is_empty()).map(|j| j.job_id).collect();
        assert_eq!(unpaused, [101, 103], "job 2 was paused on purpose and stays paused");
        assert!(promote(&prior, &after).switches.is_empty(), "resumed: nothing changes twice");
    }

    #[tokio::test]
    async fn promotion_pauses_a_trigger_that_was_not_unpaused_before() {
        let prior = PriorStates::record(&primary());
        let stray = vec![job(102, Some(2), &[(Trigger::Schedule, false)])];
        let promotion = promote(&prior, &stray);
        assert_eq!(promotion.switches, [Switch { job_id: 102, triggers: [Trigger::Schedule].into(), paused: true }]);
    }

    #[tokio::test]
    async fn a_failed_switch_is_named_the_others_are_made_and_a_retry_finishes_it() {
        let fake = FakeJobs::with(primary());
        *fake.fail_call.lock().unwrap() = Some(1);
        let error = apply(&fake, &freeze(&primary())).await.unwrap_err();
        assert!(error.transient, "{error}");
        assert!(error.message.starts_with("1 of 3 jobs not switched: job "), "{error}");
        let rest = freeze(&fake.jobs().await.unwrap());
        assert_eq!(rest.len(), 1, "only the failed job remains");
        apply(&fake, &rest).await.unwrap();
        assert_eq!(fake.calls.lock().unwrap().len(), 3, "no job paused twice");
    }

    #[tokio::test]
    async fn a_thousand_switches_are_made_a_few_at_a_time() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        /// Counts how many calls are in flight at once.
        struct Slow {
            inner: FakeJobs,
            now: AtomicUsize,
            most: AtomicUsize,
        }
        impl JobControl for Slow {
            async fn jobs(&self) -> Result<Vec<JobTriggers>, ControlError> {
                self.inner.jobs().await
            }
            async fn set_paused(&self, id: i64, t: &BTreeSet<Trigger>, p: bool) -> Result<(), ControlError> {
                let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
                self.most.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                let done = self.inner.set_paused(id, t, p).await;
                self.now.fetch_sub(1, Ordering::SeqCst);
                done
            }
            async fn active_runs(&self) -> Result<Vec<ActiveRun>, ControlError> {
                self.inner.active_runs().await
            }
            async fn cancel_run(&self, run_id: i64) -> Result<(), ControlError> {
                self.inner.cancel_run(run_id).await
            }
            async fn run_now(&self, job_id: i64, key: &str) -> Result<i64, ControlError> {
                self.inner.run_now(job_id, key).await
            }
            async fn run(&self, run_id: i64) -> Result<JobRun, ControlError> {
                self.inner.run(run_id).await
            }
        }
        let many: Vec<JobTriggers> = (1..=1_000).map(|id| job(id, None, &[(Trigger::Schedule, false)])).collect();
        let slow = Slow { inner: FakeJobs::with(many.clone()), now: AtomicUsize::new(0), most: AtomicUsize::new(0) };
        assert_eq!(apply(&slow, &freeze(&many)).await.unwrap(), 1_000);
        assert_eq!(slow.most.load(Ordering::SeqCst), SWITCHES_AT_ONCE, "bounded, and more than one at a time");
        assert!(slow.inner.jobs().await.unwrap().iter().all(|j| j.unpaused().is_empty()));
    }

    #[test]
    fn recorded_pause_states_become_the_prior_states_of_their_jobs() {
        use crate::assets::job_settings::PauseState;
        let state = |schedule: Option<&str>, continuous: Option<&str>| PauseState {
            schedule: schedule.map(str::to_string),
            trigger: None,
            continuous: continuous.map(str::to_string),
        };
        let recorded = [
            JobPauseState { source_job_id: 1, job_name: "a".into(), pause: state(Some("UNPAUSED"), None) },
            JobPauseState { source_job_id: 2, job_name: "b".into(), pause: state(Some("PAUSED"), Some("PAUSED")) },
            JobPauseState { source_job_id: 3, job_name: "c".into(), pause: state(Some("PAUSED"), Some("UNPAUSED")) },
        ];
        let prior = PriorStates::from_recorded(&recorded);
        assert_eq!(
            prior.unpaused,
            BTreeMap::from([(1, BTreeSet::from([Trigger::Schedule])), (3, BTreeSet::from([Trigger::Continuous]))])
        );
    }

    #[test]
    fn active_runs_are_waited_for_until_the_timeout_then_cancelled() {
        let runs = [ActiveRun { run_id: 7, job_id: 1 }, ActiveRun { run_id: 8, job_id: 3 }];
        assert_eq!(runs_verdict(&[], 0, 1_000), RunsVerdict::Settled);
        assert_eq!(runs_verdict(&runs, 999, 1_000), RunsVerdict::Wait);
        assert_eq!(runs_verdict(&runs, 1_000, 1_000), RunsVerdict::Cancel(vec![7, 8]));
    }
}
