//! Job mode: for teams that keep replication as a Databricks job, drbot
//! starts the job and follows it task by task instead of running a plan.
//!
//! `run-now` carries an idempotency token derived from drbot's own
//! operation id, so a request retried after a timeout, or sent again by a
//! bot restarted mid-request, starts one run, not two. The run id is
//! handed out at once (`JobEvent::RunStarted`): a restarted bot resumes by
//! following that id ([`follow_run`]). Each task's start and end becomes an
//! event, a failed task is reported with the job's own message, and
//! cancelling the token cancels the run in the workspace, then waits for it
//! to say it ended.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::run::TokenSource;
use crate::databricks::jobs::{Run, RunPhase, RunResult, MAX_IDEMPOTENCY_TOKEN};
use crate::databricks::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobEvent {
    RunStarted { run_id: i64, run_page_url: Option<String> },
    TaskStarted { task_key: String },
    TaskFinished { task_key: String, result: RunResult, message: Option<String> },
    RunFinished { result: RunResult, message: Option<String> },
}

/// How a followed run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobReport {
    pub run_id: i64,
    pub result: RunResult,
    pub message: Option<String>,
    /// Each task's result and message, by task key.
    pub tasks: BTreeMap<String, (RunResult, Option<String>)>,
    /// drbot cancelled it (the token fired).
    pub canceled: bool,
}

impl JobReport {
    pub fn succeeded(&self) -> bool {
        self.result == RunResult::Success
    }
}

/// How often the run is looked at, and how long to wait for it to end once
/// cancelled.
#[derive(Clone, Copy, Debug)]
pub struct JobPolling {
    pub interval: Duration,
    pub cancel_grace: Duration,
}

impl Default for JobPolling {
    fn default() -> Self {
        JobPolling { interval: Duration::from_secs(5), cancel_grace: Duration::from_secs(120) }
    }
}

/// An idempotency token for `run-now` from drbot's operation id: the same
/// operation always names the same run, and the token fits the API's 64
/// characters whatever the id's length.
pub fn idempotency_token(operation_id: &str) -> String {
    let digest = Sha256::digest(operation_id.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let token = format!("drbot-{hex}");
    token[..token.len().min(MAX_IDEMPOTENCY_TOKEN)].to_string()
}

/// Starts the job (idempotently) and follows it to its end.
#[allow(clippy::too_many_arguments)]
pub async fn run_job<T: TokenSource>(
    client: &WorkspaceClient,
    tokens: &T,
    job_id: i64,
    operation_id: &str,
    parameters: &BTreeMap<String, String>,
    polling: JobPolling,
    cancel: CancellationToken,
    events: mpsc::UnboundedSender<JobEvent>,
) -> Result<JobReport, String> {
    let idempotency = idempotency_token(operation_id);
    let started = with_token(tokens, |token| {
        let idempotency = idempotency.clone();
        async move { client.run_now(&token, job_id, &idempotency, parameters).await }
    })
    .await
    .map_err(|e| format!("could not start job {job_id}: {e}"))?;
    follow_run(client, tokens, started.run_id, polling, cancel, events).await
}

/// Follows a run (started by [`run_job`] or earlier, before a restart) to
/// its end, reporting each task once as it starts and once as it ends.
pub async fn follow_run<T: TokenSource>(
    client: &WorkspaceClient,
    tokens: &T,
    run_id: i64,
    polling: JobPolling,
    cancel: CancellationToken,
    events: mpsc::UnboundedSender<JobEvent>,
) -> Result<JobReport, String> {
    let get = || with_token(tokens, |token| async move { client.get_run(&token, run_id).await });
    let mut run = get().await.map_err(|e| format!("could not read run {run_id}: {e}"))?;
    let _ = events.send(JobEvent::RunStarted { run_id, run_page_url: run.run_page_url.clone() });
    let mut started: BTreeSet<String> = BTreeSet::new();
    let mut finished: BTreeMap<String, (RunResult, Option<String>)> = BTreeMap::new();
    let mut canceled_at: Option<Instant> = None;
    loop {
        report_tasks(&run, &mut started, &mut finished, &events);
        if let RunPhase::Terminated(result) = &run.state.phase {
            let _ = events.send(JobEvent::RunFinished { result: result.clone(), message: run.state.message.clone() });
            return Ok(JobReport {
                run_id,
                result: result.clone(),
                message: run.state.message.clone(),
                tasks: finished,
                canceled: canceled_at.is_some(),
            });
        }
        if let Some(at) = canceled_at {
            if at.elapsed() > polling.cancel_grace {
                return Err(format!("run {run_id} was cancelled but had not ended after {:?}", polling.cancel_grace));
            }
        }
        let cancel_now = tokio::select! {
            _ = tokio::time::sleep(polling.interval) => false,
            _ = cancel.cancelled(), if canceled_at.is_none() => true,
        };
        if cancel_now {
            canceled_at = Some(Instant::now());
            with_token(tokens, |token| async move { client.cancel_run(&token, run_id).await })
                .await
                .map_err(|e| format!("could not cancel run {run_id}: {e}"))?;
        }
        run = get().await.map_err(|e| format!("could not read run {run_id}: {e}"))?;
    }
}

/// Emits what changed in the run's tasks since the last look.
fn report_tasks(
    run: &Run,
    started: &mut BTreeSet<String>,
    finished: &mut BTreeMap<String, (RunResult, Option<String>)>,
    events: &mpsc::UnboundedSender<JobEvent>,
) {
    for task in &run.tasks {
        if finished.contains_key(&task.task_key) {
            continue;
        }
        let running = matches!(task.state.phase, RunPhase::Running | RunPhase::Terminating)
            || (matches!(task.state.phase, RunPhase::Terminated(_)) && task.start_time.is_some());
        if running && started.insert(task.task_key.clone()) {
            let _ = events.send(JobEvent::TaskStarted { task_key: task.task_key.clone() });
        }
        if let RunPhase::Terminated(result) = &task.state.phase {
            finished.insert(task.task_key.clone(), (result.clone(), task.state.message.clone()));
            let _ = events.send(JobEvent::TaskFinished {
                task_key: task.task_key.clone(),
                result: result.clone(),
                message: task.state.message.clone(),
            });
        }
    }
}

/// One call with the source's token, and once more with a fresh one if the
/// workspace refused it.
async fn with_token<T, F, Fut, R>(tokens: &T, call: F) -> Result<R, String>
where
    T: TokenSource,
    F: Fn(AccessToken) -> Fut,
    Fut: std::future::Future<Output = Result<R, DatabricksError>>,
{
    let token = tokens.token(false).await.map_err(|e| e.to_string())?;
    match call(token).await {
        Err(DatabricksError::Unauthenticated(_)) => {
            let fresh = tokens.token(true).await.map_err(|e| e.to_string())?;
            call(fresh).await.map_err(|e| e.to_string())
        }
        other => other.map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_tokens_are_stable_and_fit_the_api() {
        let a = idempotency_token("op-1");
        assert_eq!(a, idempotency_token("op-1"));
        assert_ne!(a, idempotency_token("op-2"));
        assert!(a.len() <= MAX_IDEMPOTENCY_TOKEN && a.starts_with("drbot-"));
        assert!(idempotency_token(&"x".repeat(500)).len() <= MAX_IDEMPOTENCY_TOKEN);
    }
}
