//! Jobs in the sandbox workspace: run-now is idempotent by token, tasks
//! progress in order, a failing task stops its dependents, cancel stops a run;
//! active runs are listed page by page.

use std::time::{Duration, Instant};

use sandbox::databricks::jobs::REPLICATION_JOB_ID;
use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

async fn call(sandbox: &Sandbox, method: &str, path: &str, body: Value) -> Value {
    let alice = sandbox.teams.user("alice").unwrap();
    let token = sandbox.entra.user_token(&alice, "tests", DATABRICKS_AUDIENCE, "user_impersonation");
    let http = reqwest::Client::new();
    let url = format!("{}{path}", sandbox.primary_url());
    let request = if method == "GET" { http.get(url) } else { http.post(url).json(&body) };
    request.bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

async fn until_terminated(sandbox: &Sandbox, run_id: i64) -> (Value, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    loop {
        let run = call(sandbox, "GET", &format!("/api/2.2/jobs/runs/get?run_id={run_id}"), Value::Null).await;
        let state = run["state"]["life_cycle_state"].as_str().unwrap_or_default().to_string();
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        if state == "TERMINATED" {
            return (run, seen);
        }
        assert!(Instant::now() < deadline, "run {run_id} never ended: {run}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn run_now_is_idempotent_and_tasks_progress_to_success() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    // Long enough that a poller on a busy machine still sees the run RUNNING.
    sandbox.primary.jobs.set_task_duration(Duration::from_millis(400));
    let body = json!({"job_id": REPLICATION_JOB_ID, "idempotency_token": "drbot-run-1"});
    let first = call(&sandbox, "POST", "/api/2.2/jobs/run-now", body.clone()).await;
    let second = call(&sandbox, "POST", "/api/2.2/jobs/run-now", body).await;
    assert_eq!(first["run_id"], second["run_id"], "same token, same run");
    let other = call(&sandbox, "POST", "/api/2.2/jobs/run-now", json!({"job_id": REPLICATION_JOB_ID})).await;
    assert_ne!(first["run_id"], other["run_id"]);

    let (run, seen) = until_terminated(&sandbox, first["run_id"].as_i64().unwrap()).await;
    assert_eq!(seen.last().unwrap(), "TERMINATED");
    assert!(seen.contains(&"RUNNING".to_string()), "{seen:?}");
    assert_eq!(run["state"]["result_state"], "SUCCESS");
    let tasks = run["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 6);
    assert!(tasks.iter().all(|t| t["state"]["result_state"] == "SUCCESS"));
    assert_eq!(tasks[1]["depends_on"][0]["task_key"], "schemas");
    assert!(run["run_page_url"].as_str().unwrap().contains("/runs/"));
    let unknown = call(&sandbox, "POST", "/api/2.2/jobs/run-now", json!({"job_id": 1})).await;
    assert_eq!(unknown["error_code"], "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn a_failing_task_skips_its_dependents_and_cancel_stops_a_run() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sandbox.primary.jobs.set_task_duration(Duration::from_millis(30));
    sandbox.primary.jobs.fail_task(Some("external_tables"));
    let failing = call(&sandbox, "POST", "/api/2.2/jobs/run-now", json!({"job_id": REPLICATION_JOB_ID})).await;
    let (run, _) = until_terminated(&sandbox, failing["run_id"].as_i64().unwrap()).await;
    assert_eq!(run["state"]["result_state"], "FAILED");
    let results: Vec<&str> =
        run["tasks"].as_array().unwrap().iter().map(|t| t["state"]["result_state"].as_str().unwrap()).collect();
    assert_eq!(results, ["SUCCESS", "SUCCESS", "FAILED", "UPSTREAM_FAILED", "UPSTREAM_FAILED", "UPSTREAM_FAILED"]);

    sandbox.primary.jobs.fail_task(None);
    sandbox.primary.jobs.set_task_duration(Duration::from_secs(60));
    let long = call(&sandbox, "POST", "/api/2.1/jobs/run-now", json!({"job_id": REPLICATION_JOB_ID})).await;
    let run_id = long["run_id"].as_i64().unwrap();
    assert_eq!(call(&sandbox, "POST", "/api/2.1/jobs/runs/cancel", json!({"run_id": run_id})).await, json!({}));
    let (run, _) = until_terminated(&sandbox, run_id).await;
    assert_eq!(run["state"]["result_state"], "CANCELED");
}

#[tokio::test]
async fn active_runs_are_listed_page_by_page_until_cancelled() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (&job, _) = sandbox.primary.job_definitions.all().iter().next().unwrap();
    let runs: Vec<i64> =
        (0..30).map(|_| sandbox.primary.jobs.start(job, vec!["main".into()], Duration::from_secs(3600))).collect();
    // A job defined in the workspace runs too (its own tasks).
    let by_hand = call(&sandbox, "POST", "/api/2.2/jobs/run-now", json!({"job_id": job})).await;
    assert!(by_hand["run_id"].as_i64().is_some(), "{by_hand}");
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = match &token {
            None => "/api/2.2/jobs/runs/list?active_only=true&limit=25".to_string(),
            Some(t) => format!("/api/2.2/jobs/runs/list?active_only=true&limit=25&page_token={t}"),
        };
        let body = call(&sandbox, "GET", &page, Value::Null).await;
        listed.extend(body["runs"].as_array().unwrap().iter().map(|r| r["run_id"].as_i64().unwrap()));
        match body["next_page_token"].as_str() {
            Some(next) if body["has_more"] == true => token = Some(next.to_string()),
            _ => break,
        }
    }
    listed.sort();
    assert!(runs.iter().all(|r| listed.contains(r)), "every active run listed once: {listed:?}");
    assert_eq!(listed.len(), listed.iter().collect::<std::collections::BTreeSet<_>>().len());
    let too_many = call(&sandbox, "GET", "/api/2.2/jobs/runs/list?limit=26", Value::Null).await;
    assert_eq!(too_many["error_code"], "INVALID_PARAMETER_VALUE");
    let both = call(&sandbox, "GET", "/api/2.2/jobs/runs/list?active_only=true&completed_only=true", Value::Null).await;
    assert_eq!(both["error_code"], "INVALID_PARAMETER_VALUE");
    for run in &runs {
        call(&sandbox, "POST", "/api/2.2/jobs/runs/cancel", json!({"run_id": run})).await;
    }
    let after = call(&sandbox, "GET", "/api/2.2/jobs/runs/list?active_only=true", Value::Null).await;
    let still: Vec<i64> = after["runs"].as_array().unwrap().iter().map(|r| r["run_id"].as_i64().unwrap()).collect();
    assert!(runs.iter().all(|r| !still.contains(r)), "cancelled runs end: {still:?}");
    let (run, _) = until_terminated(&sandbox, runs[0]).await;
    assert_eq!(run["state"]["result_state"], "CANCELED");
}
