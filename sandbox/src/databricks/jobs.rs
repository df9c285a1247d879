//! Jobs 2.2 (2.1 has the same shapes): `run-now` with an idempotency token,
//! `runs/get` with tasks that progress one after another over time,
//! `runs/list` (`active_only`, paged by `page_token`, at most 25 a page) and
//! `runs/cancel`. The seeded job is the replication job drbot replaces: six
//! tasks in a chain; a job defined in the workspace (`job_definitions.rs`)
//! runs its own tasks, one after another.

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
    /// Its tasks' keys, run in this order.
    tasks: Vec<String>,
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

    /// Starts a run of `job_id` with `tasks` each taking `task_duration`
    /// (a run its schedule started, for tests); its id.
    pub fn start(&self, job_id: i64, tasks: Vec<String>, task_duration: Duration) -> i64 {
        let mut state = self.state.lock();
        state.next_run_id += 1;
        let run_id = 700_000 + state.next_run_id;
        let run = Run {
            run_id,
            job_id,
            tasks,
            number_in_job: state.next_run_id,
            started: Instant::now(),
            start_time_ms: chrono::Utc::now().timestamp_millis(),
            task_duration,
            cancelled_after: None,
            failing_task: None,
        };
        state.runs.insert(run_id, run);
        run_id
    }

    /// The ids of every run of `job_id` (a run-now repeated with its
    /// idempotency token names the same run: it counts once).
    pub fn runs_of(&self, job_id: i64) -> Vec<i64> {
        let state = self.state.lock();
        let mut ids: Vec<i64> = state.runs.values().filter(|r| r.job_id == job_id).map(|r| r.run_id).collect();
        ids.sort();
        ids
    }

    /// The ids of the runs not yet terminated.
    pub fn active(&self) -> Vec<i64> {
        let state = self.state.lock();
        let mut ids: Vec<i64> = state.runs.values().filter(|r| is_active(r)).map(|r| r.run_id).collect();
        ids.sort();
        ids
    }
}

/// Whether the run has not ended, as `runs/get` would show it now (a
/// cancelled one ends at once).
fn is_active(run: &Run) -> bool {
    render(run, "")["status"]["state"] != "TERMINATED"
}

/// The most runs one page of `runs/list` holds.
const LIST_LIMIT: usize = 25;

pub fn router() -> Router<Arc<Workspace>> {
    let mut router = Router::new();
    for version in ["2.1", "2.2"] {
        router = router
            .route(&format!("/api/{version}/jobs/run-now"), post(run_now))
            .route(&format!("/api/{version}/jobs/runs/get"), get(get_run))
            .route(&format!("/api/{version}/jobs/runs/list"), get(list_runs))
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
    let tasks: Vec<String> = if request.job_id == REPLICATION_JOB_ID {
        REPLICATION_TASKS.iter().map(|t| t.to_string()).collect()
    } else {
        match ws.job_definitions.all().get(&request.job_id) {
            Some(settings) => settings["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["task_key"].as_str().map(str::to_string))
                .collect(),
            None => {
                return databricks_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_PARAMETER_VALUE",
                    &format!("Job {} does not exist.", request.job_id),
                )
            }
        }
    };
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
        tasks,
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

/// `GET runs/list`: the runs newest first, `active_only` or
/// `completed_only` (not both), of one `job_id` if given, `limit` (1..=25,
/// default 20) a page, the next page by `page_token`.
async fn list_runs(State(ws): State<Arc<Workspace>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    if let Err(refusal) = ws.caller(&headers, "jobs.runs.list") {
        return refusal;
    }
    let query = serde_urlencoded::from_str::<HashMap<String, String>>(raw.as_deref().unwrap_or("")).unwrap_or_default();
    const KNOWN: &[&str] =
        &["active_only", "completed_only", "job_id", "limit", "page_token", "expand_tasks", "run_type", "offset"];
    if let Some(unknown) = query.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return databricks_error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            &format!("Unknown parameter {unknown}."),
        );
    }
    let flag = |name: &str| query.get(name).is_some_and(|v| v == "true");
    let (active_only, completed_only) = (flag("active_only"), flag("completed_only"));
    if active_only && completed_only {
        return databricks_error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "active_only and completed_only cannot both be true.",
        );
    }
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 20,
        Some(Ok(limit)) if (1..=LIST_LIMIT).contains(&limit) => limit,
        Some(_) => {
            return databricks_error(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                &format!("limit must be between 1 and {LIST_LIMIT}."),
            )
        }
    };
    let job_id = query.get("job_id").and_then(|j| j.parse::<i64>().ok());
    // A page token is the id of the last run of the page before (newest first).
    let after = match query.get("page_token").map(|t| t.parse::<i64>()) {
        None => i64::MAX,
        Some(Ok(after)) => after,
        Some(Err(_)) => {
            return databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", "Invalid page_token.")
        }
    };
    let state = ws.jobs.state.lock();
    let mut runs: Vec<&Run> = state
        .runs
        .values()
        .filter(|r| r.run_id < after && job_id.is_none_or(|j| r.job_id == j))
        .filter(|r| (!active_only || is_active(r)) && (!completed_only || !is_active(r)))
        .collect();
    runs.sort_by_key(|r| std::cmp::Reverse(r.run_id));
    let has_more = runs.len() > limit;
    runs.truncate(limit);
    let mut body = json!({
        "runs": runs.iter().map(|r| render(r, &ws.name)).collect::<Vec<_>>(),
        "has_more": has_more,
    });
    if has_more {
        if let Some(last) = runs.last() {
            body["next_page_token"] = json!(last.run_id.to_string());
        }
    }
    Json(body).into_response()
}

/// The run as `runs/get` shows it now: tasks in a chain, each taking `task_duration`.
fn render(run: &Run, workspace: &str) -> Value {
    let elapsed = run.started.elapsed();
    let cut = run.cancelled_after.map_or(elapsed, |c| c.min(elapsed));
    let per = run.task_duration.as_millis().max(1) as u64;
    let mut upstream_failed = false;
    let mut tasks = Vec::new();
    let mut run_state = ("TERMINATED", "SUCCESS", "SUCCESS");
    for (i, key) in run.tasks.iter().enumerate() {
        let start = per * i as u64;
        let end = start + per;
        let now = cut.as_millis() as u64;
        let (life, result, code) = if upstream_failed {
            ("SKIPPED", Some("UPSTREAM_FAILED"), "UPSTREAM_FAILED")
        } else if now >= end {
            if run.failing_task.as_deref() == Some(key.as_str()) {
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
            task["depends_on"] = json!([{"task_key": run.tasks[i - 1]}]);
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
