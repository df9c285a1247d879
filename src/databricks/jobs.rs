//! Jobs 2.2: run a job once (idempotently), follow its tasks, cancel it.
//!
//! `run-now` carries an idempotency token so that a retried request (or a
//! caller restarted mid-request) starts one run, not two. Runs report their
//! state in two shapes: the newer `status{state, termination_details}` and
//! the older `state{life_cycle_state, result_state, state_message}`; both
//! are folded into one [`RunState`].

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

const JOBS: &str = "/api/2.2/jobs";

/// The longest idempotency token Databricks accepts.
pub const MAX_IDEMPOTENCY_TOKEN: usize = 64;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct RunNow {
    pub run_id: i64,
    #[serde(default)]
    pub number_in_job: Option<i64>,
}

/// Where a run or a task is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunPhase {
    /// Blocked, pending, queued or waiting.
    Waiting,
    Running,
    Terminating,
    Terminated(RunResult),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunResult {
    Success,
    Canceled,
    /// Not run because something upstream failed or was cancelled.
    Skipped,
    /// The failure code (`RUN_EXECUTION_ERROR`, `FAILED`, `TIMEDOUT`, …).
    Failed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunState {
    pub phase: RunPhase,
    pub message: Option<String>,
}

impl RunState {
    pub fn is_terminal(&self) -> bool {
        matches!(self.phase, RunPhase::Terminated(_))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunTask {
    pub task_key: String,
    pub state: RunState,
    /// Epoch ms; `None` when not started or not ended.
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub run_id: i64,
    pub job_id: Option<i64>,
    pub run_page_url: Option<String>,
    pub state: RunState,
    pub tasks: Vec<RunTask>,
}

#[derive(Default, Deserialize)]
struct WireStatus {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    termination_details: Option<WireTermination>,
}

#[derive(Default, Deserialize)]
struct WireTermination {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Default, Deserialize)]
struct WireLegacyState {
    #[serde(default)]
    life_cycle_state: Option<String>,
    #[serde(default)]
    result_state: Option<String>,
    #[serde(default)]
    state_message: Option<String>,
}

#[derive(Deserialize)]
struct WireTask {
    #[serde(default)]
    task_key: String,
    #[serde(default)]
    status: Option<WireStatus>,
    #[serde(default)]
    state: Option<WireLegacyState>,
    #[serde(default)]
    start_time: Option<i64>,
    #[serde(default)]
    end_time: Option<i64>,
}

#[derive(Deserialize)]
struct WireRun {
    run_id: i64,
    #[serde(default)]
    job_id: Option<i64>,
    #[serde(default)]
    run_page_url: Option<String>,
    #[serde(default)]
    status: Option<WireStatus>,
    #[serde(default)]
    state: Option<WireLegacyState>,
    #[serde(default)]
    tasks: Vec<WireTask>,
}

fn result_of(code: &str) -> RunResult {
    match code {
        "SUCCESS" | "SUCCESS_WITH_FAILURES" => RunResult::Success,
        "CANCELED" | "CANCELLED" | "USER_CANCELED" => RunResult::Canceled,
        "UPSTREAM_FAILED" | "UPSTREAM_CANCELED" | "SKIPPED" | "EXCLUDED" => RunResult::Skipped,
        other => RunResult::Failed(other.to_string()),
    }
}

/// One state from whichever shape the run carries, the newer one first.
fn fold(status: Option<WireStatus>, legacy: Option<WireLegacyState>) -> RunState {
    let legacy = legacy.unwrap_or_default();
    if let Some(status) = status.filter(|s| s.state.is_some()) {
        let termination = status.termination_details.unwrap_or_default();
        let phase = match status.state.as_deref().unwrap_or_default() {
            "RUNNING" => RunPhase::Running,
            "TERMINATING" => RunPhase::Terminating,
            "TERMINATED" => {
                // A skipped task is TERMINATED with UPSTREAM_FAILED; the legacy
                // shape, when present, is as good a witness.
                let code = termination.code.or(legacy.result_state).unwrap_or_else(|| "UNKNOWN".into());
                RunPhase::Terminated(result_of(&code))
            }
            _ => RunPhase::Waiting,
        };
        let message = termination.message.or(legacy.state_message).filter(|m| !m.is_empty());
        return RunState { phase, message };
    }
    let phase = match legacy.life_cycle_state.as_deref().unwrap_or_default() {
        "RUNNING" => RunPhase::Running,
        "TERMINATING" => RunPhase::Terminating,
        "TERMINATED" => RunPhase::Terminated(result_of(legacy.result_state.as_deref().unwrap_or("UNKNOWN"))),
        "SKIPPED" => RunPhase::Terminated(RunResult::Skipped),
        "INTERNAL_ERROR" => RunPhase::Terminated(RunResult::Failed("INTERNAL_ERROR".into())),
        _ => RunPhase::Waiting,
    };
    RunState { phase, message: legacy.state_message.filter(|m| !m.is_empty()) }
}

fn parse_run(body: Value) -> Result<Run, DatabricksError> {
    let wire: WireRun = serde_json::from_value(body)
        .map_err(|e| DatabricksError::Protocol(format!("a job run does not parse: {e}")))?;
    Ok(Run {
        run_id: wire.run_id,
        job_id: wire.job_id,
        run_page_url: wire.run_page_url,
        state: fold(wire.status, wire.state),
        tasks: wire
            .tasks
            .into_iter()
            .map(|t| RunTask {
                task_key: t.task_key,
                state: fold(t.status, t.state),
                start_time: t.start_time.filter(|&ms| ms > 0),
                end_time: t.end_time.filter(|&ms| ms > 0),
            })
            .collect(),
    })
}

impl WorkspaceClient {
    /// Starts a run; the same `idempotency_token` always names the same run.
    pub async fn run_now(
        &self,
        token: &AccessToken,
        job_id: i64,
        idempotency_token: &str,
        job_parameters: &BTreeMap<String, String>,
    ) -> Result<RunNow, DatabricksError> {
        if idempotency_token.is_empty() || idempotency_token.len() > MAX_IDEMPOTENCY_TOKEN {
            return Err(DatabricksError::InvalidParameter(format!(
                "an idempotency token has 1 to {MAX_IDEMPOTENCY_TOKEN} characters"
            )));
        }
        let mut body = json!({"job_id": job_id, "idempotency_token": idempotency_token});
        if !job_parameters.is_empty() {
            body["job_parameters"] = json!(job_parameters);
        }
        self.post(&format!("{JOBS}/run-now"), body, token).await
    }

    pub async fn get_run(&self, token: &AccessToken, run_id: i64) -> Result<Run, DatabricksError> {
        let body: Value = self.get(&format!("{JOBS}/runs/get"), &[("run_id", run_id.to_string())], token).await?;
        parse_run(body)
    }

    /// Every run not yet ended (`runs/list?active_only=true`), page by page
    /// (`page_token`, 25 a page: the documented most).
    pub async fn active_runs(&self, token: &AccessToken) -> Result<Vec<Run>, DatabricksError> {
        let listed: Vec<Value> = super::paging::collect_pages(|page_token| async move {
            let mut query = vec![("active_only", "true".to_string()), ("limit", "25".to_string())];
            if let Some(page_token) = page_token {
                query.push(("page_token", page_token));
            }
            let mut body: Value = self.get(&format!("{JOBS}/runs/list"), &query, token).await?;
            // `has_more: false` ends the list whatever token comes with it.
            if body["has_more"] == json!(false) {
                if let Some(object) = body.as_object_mut() {
                    object.remove("next_page_token");
                }
            }
            super::Page::from_json(body, "runs")
        })
        .await?;
        listed.into_iter().map(parse_run).collect()
    }

    pub async fn cancel_run(&self, token: &AccessToken, run_id: i64) -> Result<(), DatabricksError> {
        self.post::<Value>(&format!("{JOBS}/runs/cancel"), json!({ "run_id": run_id }), token).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_state_shapes_fold_into_one() {
        let run = parse_run(json!({
            "run_id": 1, "job_id": 2, "run_page_url": "https://x/jobs/2/runs/1",
            "status": {"state": "TERMINATED", "termination_details": {"code": "RUN_EXECUTION_ERROR", "message": "boom"}},
            "tasks": [
                {"task_key": "a", "status": {"state": "TERMINATED", "termination_details": {"code": "SUCCESS"}}, "start_time": 5, "end_time": 9},
                {"task_key": "b", "state": {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "bad"}},
                {"task_key": "c", "state": {"life_cycle_state": "SKIPPED", "result_state": "UPSTREAM_FAILED"}},
                {"task_key": "d", "status": {"state": "BLOCKED"}, "start_time": 0},
                {"task_key": "e", "state": {"life_cycle_state": "RUNNING"}}
            ]
        }))
        .unwrap();
        assert_eq!(run.state.phase, RunPhase::Terminated(RunResult::Failed("RUN_EXECUTION_ERROR".into())));
        assert_eq!(run.state.message.as_deref(), Some("boom"));
        let phases: Vec<_> = run.tasks.iter().map(|t| t.state.phase.clone()).collect();
        assert_eq!(
            phases,
            vec![
                RunPhase::Terminated(RunResult::Success),
                RunPhase::Terminated(RunResult::Failed("FAILED".into())),
                RunPhase::Terminated(RunResult::Skipped),
                RunPhase::Waiting,
                RunPhase::Running,
            ]
        );
        assert_eq!((run.tasks[0].start_time, run.tasks[3].start_time), (Some(5), None));
    }

    #[test]
    fn a_run_without_an_id_is_a_protocol_error() {
        assert!(matches!(parse_run(json!({"tasks": []})), Err(DatabricksError::Protocol(_))));
    }
}
