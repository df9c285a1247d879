//! Job definitions in the sandbox workspace: `update` merges tasks by key
//! and replaces other top-level fields whole, lists refuse a limit above
//! 100, and only a job's owner, a CAN_MANAGE holder or an admin changes it.

use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

async fn call(sandbox: &Sandbox, who: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    let user = sandbox.teams.user(who).unwrap();
    let token = sandbox.entra.user_token(&user, "tests", DATABRICKS_AUDIENCE, "user_impersonation");
    let http = reqwest::Client::new();
    let url = format!("{}{path}", sandbox.primary_url());
    let request = match method {
        "GET" => http.get(url),
        "PATCH" => http.patch(url).json(&body),
        _ => http.post(url).json(&body),
    };
    let response = request.bearer_auth(token).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn update_merges_tasks_by_key_and_replaces_other_fields_whole() {
    let sandbox = Sandbox::start(SandboxConfig { tables: 4, jobs: 0, ..SandboxConfig::default() }).await.unwrap();
    let settings = json!({
        "name": "j",
        "schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"},
        "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/a"}}, {"task_key": "b", "notebook_task": {"notebook_path": "/b"}}]
    });
    let (status, created) = call(&sandbox, "alice", "POST", "/api/2.2/jobs/create", settings).await;
    assert_eq!(status, 200, "{created}");
    let job_id = created["job_id"].as_i64().unwrap();
    // A schedule sent without its cron replaces the whole schedule, and is refused.
    let (status, refused) = call(
        &sandbox,
        "alice",
        "POST",
        "/api/2.2/jobs/update",
        json!({"job_id": job_id, "new_settings": {"schedule": {"pause_status": "PAUSED"}}}),
    )
    .await;
    assert_eq!((status, refused["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "{refused}");
    let (status, _) = call(&sandbox, "alice", "POST", "/api/2.2/jobs/update", json!({
        "job_id": job_id,
        "new_settings": {"tasks": [{"task_key": "b", "notebook_task": {"notebook_path": "/b2"}}, {"task_key": "c", "notebook_task": {"notebook_path": "/c"}}]},
        "fields_to_remove": ["tasks/a"]
    })).await;
    assert_eq!(status, 200);
    let (_, job) = call(&sandbox, "alice", "GET", &format!("/api/2.2/jobs/get?job_id={job_id}"), Value::Null).await;
    let tasks: Vec<(&str, &str)> = job["settings"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["task_key"].as_str().unwrap(), t["notebook_task"]["notebook_path"].as_str().unwrap()))
        .collect();
    assert_eq!(tasks, vec![("b", "/b2"), ("c", "/c")]);
    assert_eq!(job["settings"]["schedule"]["pause_status"], "UNPAUSED", "untouched fields stay");

    let (status, _) = call(&sandbox, "alice", "GET", "/api/2.2/jobs/list?limit=101", Value::Null).await;
    assert_eq!(status, 400);
    let (status, _) = call(
        &sandbox,
        "alice",
        "POST",
        "/api/2.2/jobs/create",
        json!({"name": "t", "tags": (0..26).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
    )
    .await;
    assert_eq!(status, 400, "26 tags");
}

#[tokio::test]
async fn only_the_owner_a_manager_or_an_admin_changes_a_job() {
    let sandbox = Sandbox::start(SandboxConfig { tables: 4, jobs: 0, ..SandboxConfig::default() }).await.unwrap();
    let (_, created) = call(&sandbox, "bob", "POST", "/api/2.2/jobs/create", json!({"name": "bobs"})).await;
    let job_id = created["job_id"].as_i64().unwrap();
    let (_, other) = call(&sandbox, "alice", "POST", "/api/2.2/jobs/create", json!({"name": "alices"})).await;
    let other = other["job_id"].as_i64().unwrap();
    // bob is no admin: alice's job is not his to change.
    let reset = json!({"job_id": other, "new_settings": {"name": "mine"}});
    let (status, body) = call(&sandbox, "bob", "POST", "/api/2.2/jobs/reset", reset).await;
    assert_eq!((status, body["error_code"].as_str()), (403, Some("PERMISSION_DENIED")));
    let (status, _) = call(&sandbox, "bob", "POST", "/api/2.2/jobs/delete", json!({"job_id": other})).await;
    assert_eq!(status, 403);
    // His own he changes; alice (an admin) changes any.
    let (status, _) =
        call(&sandbox, "bob", "POST", "/api/2.2/jobs/reset", json!({"job_id": job_id, "new_settings": {"name": "b2"}}))
            .await;
    assert_eq!(status, 200);
    let grant =
        json!({"access_control_list": [{"user_name": "bob@contoso.example", "permission_level": "CAN_MANAGE"}]});
    let (status, acl) = call(&sandbox, "alice", "PATCH", &format!("/api/2.0/permissions/jobs/{other}"), grant).await;
    assert_eq!(status, 200, "{acl}");
    let (status, _) = call(
        &sandbox,
        "bob",
        "POST",
        "/api/2.2/jobs/reset",
        json!({"job_id": other, "new_settings": {"name": "now mine to edit"}}),
    )
    .await;
    assert_eq!(status, 200, "CAN_MANAGE edits");
}
