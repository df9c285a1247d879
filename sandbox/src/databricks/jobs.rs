//! Jobs 2.2 (2.1 has the same shapes): `run-now` with an idempotency token,
//! `runs/get` with tasks that progress one after another over time, and
//! `runs/cancel`. The seeded job is the replication job drbot replaces: six
//! tasks in a chain.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{databricks_error, Workspace};

/// The replication job every sandbox workspace has.
pub const REPLICATION_JOB_ID: i64 = 1001;
const REPLICATION_TASKS: &[&str] =
    &["schemas", "managed_tables", "external_tables", "external_volumes", "views", "grants"];

struct Run {
    run_id: i64,
    job_id: i64,
    number_in_job: i64,
    started: Instant,
    start_time_ms: i64,
    task_duration: Duration,
    /// When cancelled, how long after the start.
    cancelled_after: Option<Duration>,
    failing_task: Option<String>,
}

#[derive(Default)]
struct State_ {
    runs: HashMap<i64, Run>,
    by_token: HashMap<String, i64>,
    next_run_id: i64,
    task_duration: Option<Duration>,
    failing_task: Option<String>,
}

/// The workspace's job runs.
#[derive(Default)]
pub struct Jobs {
    state: Mutex<State_>,
}

impl Jobs {
    /// How long each task of a new run takes (default 200 ms).
    pub fn set_task_duration(&self, duration: Duration) {
        self.state.lock().task_duration = Some(duration);
    }

    /// New runs fail at this task; the tasks after it are not run.
    pub fn fail_task(&self, task_key: Option<&str>) {
        self.state.lock().failing_task = task_key.map(str::to_string);
    }
}

pub fn router() -> Router<Arc<Workspace>> {
    let mut router = Router::new();
    for version in ["2.1", "2.2"] {
        router = router
            .route(&format!("/api/{version}/jobs/run-now"), post(run_now))
            .route(&format!("/api/{version}/jobs/runs/get"), get(get_run))
            .route(&format!("/api/{version}/jobs/runs/cancel"), post(cancel_run));
    }
    router
}

#[derive(Deserialize)]
struct RunNow {
    job_id: i64,
    #[serde(default)]
    idempotency_token: Option<String>,
    #[serde(default)]
    job_parameters: Option<Value>,
}

async fn run_now(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = ws.caller(&headers, "jobs.run-now") {
        return refusal;
    }
    let request: RunNow = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return databricks_error(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                &format!("Invalid request: {e}"),
            )
        }
    };
    if request.job_id != REPLICATION_JOB_ID {
        return databricks_error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            &format!("Job {} does not exist.", request.job_id),
        );
    }
    if request.idempotency_token.as_ref().is_some_and(|t| t.len() > 64) {
        return databricks_error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "idempotency_token must be at most 64 characters.",
        );
    }
    let _ = request.job_parameters;
    let mut state = ws.jobs.state.lock();
    if let Some(run_id) = request.idempotency_token.as_ref().and_then(|t| state.by_token.get(t)) {
        let run = &state.runs[run_id];
        return Json(json!({"run_id": run.run_id, "number_in_job": run.number_in_job})).into_response();
    }
    state.next_run_id += 1;
    let run_id = 700_000 + state.next_run_id;
    let run = Run {
        run_id,
        job_id: request.job_id,
        number_in_job: state.next_run_id,
        started: Instant::now(),
        start_time_ms: chrono::Utc::now().timestamp_millis(),
        task_duration: state.task_duration.unwrap_or(Duration::from_millis(200)),
        cancelled_after: None,
        failing_task: state.failing_task.clone(),
    };
    if let Some(token) = request.idempotency_token {
        state.by_token.insert(token, run_id);
    }
    let answer = json!({"run_id": run_id, "number_in_job": run.number_in_job});
    state.runs.insert(run_id, run);
    Json(answer).into_response()
}

fn run_id(raw: Option<String>, body: Option<&Bytes>) -> Option<i64> {
    let from_query = serde_urlencoded::from_str::<HashMap<String, String>>(raw.as_deref().unwrap_or(""))
        .ok()
        .and_then(|q| q.get("run_id").and_then(|v| v.parse().ok()));
    from_query.or_else(|| body.and_then(|b| serde_json::from_slice::<Value>(b).ok()).and_then(|v| v["run_id"].as_i64()))
}

async fn get_run(State(ws): State<Arc<Workspace>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    if let Err(refusal) = ws.caller(&headers, "jobs.runs.get") {
        return refusal;
    }
    let Some(run_id) = run_id(raw, None) else {
        return databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", "run_id is required.");
    };
    let state = ws.jobs.state.lock();
    match state.runs.get(&run_id) {
        Some(run) => Json(render(run, &ws.name)).into_response(),
        None => databricks_error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            &format!("Run {run_id} does not exist."),
        ),
    }
}

async fn cancel_run(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = ws.caller(&headers, "jobs.runs.cancel") {
        return refusal;
    }
    let Some(run_id) = run_id(None, Some(&body)) else {
        return databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", "run_id is required.");
    };
    let mut state = ws.jobs.state.lock();
    match state.runs.get_mut(&run_id) {
        Some(run) => {
            run.cancelled_after.get_or_insert(run.started.elapsed());
            Json(json!({})).into_response()
        }
        None => databricks_error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            &format!("Run {run_id} does not exist."),
        ),
    }
}

/// The run as `runs/get` shows it now: tasks in a chain, each taking `task_duration`.
fn render(run: &Run, workspace: &str) -> Value {
    let elapsed = run.started.elapsed();
    let cut = run.cancelled_after.map_or(elapsed, |c| c.min(elapsed));
    let per = run.task_duration.as_millis().max(1) as u64;
    let mut upstream_failed = false;
    let mut tasks = Vec::new();
    let mut run_state = ("TERMINATED", "SUCCESS", "SUCCESS");
    for (i, key) in REPLICATION_TASKS.iter().enumerate() {
        let start = per * i as u64;
        let end = start + per;
        let now = cut.as_millis() as u64;
        let (life, result, code) = if upstream_failed {
            ("SKIPPED", Some("UPSTREAM_FAILED"), "UPSTREAM_FAILED")
        } else if now >= end {
            if run.failing_task.as_deref() == Some(key) {
                upstream_failed = true;
                ("TERMINATED", Some("FAILED"), "RUN_EXECUTION_ERROR")
            } else {
                ("TERMINATED", Some("SUCCESS"), "SUCCESS")
            }
        } else if run.cancelled_after.is_some() {
            upstream_failed = true;
            ("TERMINATED", Some("CANCELED"), "CANCELED")
        } else if now >= start {
            ("RUNNING", None, "")
        } else {
            ("BLOCKED", None, "")
        };
        if life != "TERMINATED" || result != Some("SUCCESS") {
            run_state = match (life, result) {
                ("TERMINATED", Some("FAILED")) | ("SKIPPED", _) if run_state.1 == "SUCCESS" => {
                    ("TERMINATED", "FAILED", "RUN_EXECUTION_ERROR")
                }
                ("TERMINATED", Some("CANCELED")) => ("TERMINATED", "CANCELED", "CANCELED"),
                ("RUNNING" | "BLOCKED", _) if run_state.0 == "TERMINATED" && run_state.1 == "SUCCESS" => {
                    ("RUNNING", "", "")
                }
                _ => run_state,
            };
        }
        let mut task = json!({
            "task_key": key,
            "run_id": run.run_id * 10 + i as i64,
            "start_time": if now >= start { run.start_time_ms + start as i64 } else { 0 },
            "end_time": if life == "TERMINATED" { run.start_time_ms + end.min(now) as i64 } else { 0 },
            "state": {"life_cycle_state": if life == "BLOCKED" { "BLOCKED" } else { life }},
            "status": {"state": if life == "SKIPPED" { "TERMINATED" } else { life }},
        });
        if i > 0 {
            task["depends_on"] = json!([{"task_key": REPLICATION_TASKS[i - 1]}]);
        }
        if let Some(result) = result {
            task["state"]["result_state"] = json!(result);
            task["status"]["termination_details"] = json!({"code": code, "type": if result == "SUCCESS" { "SUCCESS" } else { "CLIENT_ERROR" }, "message": ""});
        }
        tasks.push(task);
    }
    let mut body = json!({
        "job_id": run.job_id,
        "run_id": run.run_id,
        "number_in_job": run.number_in_job,
        "start_time": run.start_time_ms,
        "run_page_url": format!("https://{workspace}.sandbox.azuredatabricks.net/jobs/{}/runs/{}", run.job_id, run.run_id),
        "tasks": tasks,
        "state": {"life_cycle_state": run_state.0},
        "status": {"state": run_state.0},
    });
    if run_state.0 == "TERMINATED" {
        body["state"]["result_state"] = json!(run_state.1);
        body["status"]["termination_details"] = json!({"code": run_state.2, "type": if run_state.1 == "SUCCESS" { "SUCCESS" } else { "CLIENT_ERROR" }, "message": ""});
    }
    body
}
