//! Jobs 2.2 definitions (runs are `jobs.rs`): `list` paged with `limit` and
//! `page_token`, `get` (its arrays paged 100 at a time), `create`, `reset`,
//! `update`, `delete`, and the job's permissions
//! (`/api/2.0/permissions/jobs/{id}`). Settings are checked as the REST
//! reference describes them: an unknown field, a schedule without its cron
//! or time zone, a pause status other than `PAUSED`/`UNPAUSED`, more than 25
//! tags, a duplicate `task_key` or a task naming a job cluster that is not
//! there are refused with `INVALID_PARAMETER_VALUE` (sandbox/FIDELITY.md).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

use super::{databricks_error, Workspace};

/// The most jobs one list page holds, and its default (REST reference, Jobs › List).
const MAX_LIMIT: usize = 100;
const DEFAULT_LIMIT: usize = 20;
/// The most array items (tasks, job clusters…) one page of a job holds.
const ARRAY_PAGE: usize = 100;
const PAGED_ARRAYS: &[&str] = &["tasks", "job_clusters", "environments", "parameters"];
const MAX_TAGS: usize = 25;

/// The top-level fields of JobSettings (REST reference, Jobs › Create).
const SETTINGS_FIELDS: &[&str] = &[
    "name",
    "description",
    "email_notifications",
    "webhook_notifications",
    "notification_settings",
    "timeout_seconds",
    "health",
    "schedule",
    "trigger",
    "continuous",
    "max_concurrent_runs",
    "tasks",
    "job_clusters",
    "git_source",
    "tags",
    "format",
    "queue",
    "parameters",
    "run_as",
    "edit_mode",
    "deployment",
    "environments",
    "budget_policy_id",
    "performance_target",
    "usage_policy_id",
];
const SCHEDULE_FIELDS: &[&str] = &["quartz_cron_expression", "timezone_id", "pause_status"];
const TRIGGER_FIELDS: &[&str] = &["pause_status", "file_arrival", "periodic", "table_update", "table", "model"];
const CONTINUOUS_FIELDS: &[&str] = &["pause_status", "task_retry_mode"];

/// Who created the seeded jobs.
pub const SEED_JOB_OWNER: &str = "alice@contoso.example";
/// The cluster policy one seeded job's cluster uses (only the primary has it).
pub const SEED_POLICY_ID: &str = "E0631F5C0D0004B6";

/// One job as stored.
#[derive(Clone, Debug)]
struct Job {
    job_id: i64,
    creator: String,
    created_time: i64,
    settings: Value,
    /// principal → permission level, the creator's `IS_OWNER` included.
    acl: BTreeMap<String, (String, String)>,
}

/// The workspace's job definitions.
pub struct JobDefinitions {
    jobs: Mutex<BTreeMap<i64, Job>>,
    next_id: Mutex<i64>,
}

impl Default for JobDefinitions {
    fn default() -> Self {
        JobDefinitions { jobs: Mutex::new(BTreeMap::new()), next_id: Mutex::new(5_000_000) }
    }
}

impl JobDefinitions {
    /// Every job's settings, by id (for tests).
    pub fn all(&self) -> BTreeMap<i64, Value> {
        self.jobs.lock().iter().map(|(id, job)| (*id, job.settings.clone())).collect()
    }

    /// Adds a job as its creator would (for seeding and tests); its id.
    pub fn insert(&self, creator: &str, settings: Value) -> Result<i64, String> {
        validate(&settings, true)?;
        let mut next = self.next_id.lock();
        *next += 1;
        let job_id = *next;
        let mut acl = BTreeMap::new();
        acl.insert(creator.to_string(), ("user_name".to_string(), "IS_OWNER".to_string()));
        let job =
            Job { job_id, creator: creator.into(), created_time: chrono::Utc::now().timestamp_millis(), settings, acl };
        self.jobs.lock().insert(job_id, job);
        Ok(job_id)
    }

    /// `count` realistic jobs (same seed, same jobs): nightly and hourly
    /// schedules (about one in five paused), manual ones, a file-arrival
    /// trigger, a continuous job, job clusters under a cluster policy and a
    /// SQL task on a warehouse (ids only the primary knows), a git source;
    /// every third job runnable by `data-engineers`, every seventh viewable by bob.
    pub fn seed(&self, seed: u64, count: usize, creator: &str, policy_id: &str, warehouse_id: &str) {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x10b5);
        let teams = ["finance", "sales", "marketing", "ops", "ml"];
        for i in 0..count {
            let team = teams[i % teams.len()];
            let mut settings = json!({
                "name": format!("{team}-pipeline-{i:04}"),
                "tags": {"team": team},
                "max_concurrent_runs": 1,
                "format": "MULTI_TASK",
                "tasks": [{
                    "task_key": "ingest",
                    "notebook_task": {"notebook_path": format!("/Shared/{team}/ingest_{i:04}"), "source": "WORKSPACE"},
                    "job_cluster_key": "main"
                }],
                "job_clusters": [{"job_cluster_key": "main", "new_cluster": {
                    "spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2", "num_workers": 2
                }}],
            });
            let paused = if rng.gen_bool(0.2) { "PAUSED" } else { "UNPAUSED" };
            match i {
                0 => {
                    settings["trigger"] = json!({"pause_status": "UNPAUSED", "file_arrival": {"url": "abfss://landing@primarylake.dfs.core.windows.net/orders/"}})
                }
                1 => settings["continuous"] = json!({"pause_status": "UNPAUSED"}),
                2 => {
                    settings["job_clusters"][0]["new_cluster"]["policy_id"] = json!(policy_id);
                    settings["schedule"] = json!({"quartz_cron_expression": "0 30 1 * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"});
                }
                3 => {
                    settings["tasks"] = json!([{"task_key": "report", "sql_task": {"warehouse_id": warehouse_id, "query": {"query_id": "q-1"}}}]);
                    settings.as_object_mut().map(|s| s.remove("job_clusters"));
                }
                4 => {
                    settings["git_source"] = json!({"git_url": "https://github.com/contoso/etl", "git_provider": "gitHub", "git_branch": "main"});
                    settings["tasks"][0]["notebook_task"] = json!({"notebook_path": "jobs/ingest", "source": "GIT"});
                }
                _ if i % 4 == 3 => {}
                _ if i % 2 == 0 => {
                    settings["schedule"] = json!({"quartz_cron_expression": format!("0 {} 2 * * ?", i % 60), "timezone_id": "Europe/Amsterdam", "pause_status": paused})
                }
                _ => {
                    settings["schedule"] =
                        json!({"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC", "pause_status": paused})
                }
            }
            let Ok(job_id) = self.insert(creator, settings) else { continue };
            if i % 3 == 0 {
                self.grant(job_id, "group_name", "data-engineers", "CAN_MANAGE_RUN");
            }
            if i % 7 == 0 {
                self.grant(job_id, "user_name", "bob@contoso.example", "CAN_VIEW");
            }
        }
    }

    /// Gives `principal` (a `user_name`, `group_name` or
    /// `service_principal_name`) `level` on a job, as its owner would.
    pub fn grant(&self, job_id: i64, principal_type: &str, principal: &str, level: &str) {
        if let Some(job) = self.jobs.lock().get_mut(&job_id) {
            job.acl.insert(principal.to_string(), (principal_type.to_string(), level.to_string()));
        }
    }
}

pub fn router() -> Router<Arc<Workspace>> {
    let mut router = Router::new();
    for version in ["2.1", "2.2"] {
        router = router
            .route(&format!("/api/{version}/jobs/list"), get(list))
            .route(&format!("/api/{version}/jobs/get"), get(get_job))
            .route(&format!("/api/{version}/jobs/create"), post(create))
            .route(&format!("/api/{version}/jobs/reset"), post(reset))
            .route(&format!("/api/{version}/jobs/update"), post(update))
            .route(&format!("/api/{version}/jobs/delete"), post(delete));
    }
    router.route(
        "/api/2.0/permissions/jobs/{job_id}",
        get(get_permissions).put(set_permissions).patch(update_permissions),
    )
}

fn invalid(message: &str) -> Response {
    databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
}

fn no_job(job_id: i64) -> Response {
    invalid(&format!("Job {job_id} does not exist."))
}

fn only_fields(object: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(format!("Invalid JSON given in the body of the request - unknown field `{key}` in {what}")),
        None => Ok(()),
    }
}

fn check_pause(trigger: &Map<String, Value>, what: &str) -> Result<(), String> {
    match trigger.get("pause_status") {
        None => Ok(()),
        Some(Value::String(s)) if s == "PAUSED" || s == "UNPAUSED" => Ok(()),
        Some(other) => Err(format!("{what}.pause_status: {other} is not one of PAUSED, UNPAUSED")),
    }
}

/// Checks settings as `jobs/create` (`whole`) or an update's `new_settings` does.
fn validate(settings: &Value, whole: bool) -> Result<(), String> {
    let Some(object) = settings.as_object() else { return Err("settings must be an object".into()) };
    only_fields(object, SETTINGS_FIELDS, "JobSettings")?;
    if let Some(schedule) = object.get("schedule") {
        let schedule = schedule.as_object().ok_or("schedule must be an object")?;
        only_fields(schedule, SCHEDULE_FIELDS, "CronSchedule")?;
        for required in ["quartz_cron_expression", "timezone_id"] {
            if !schedule.get(required).is_some_and(Value::is_string) {
                return Err(format!("Missing required field: schedule.{required}"));
            }
        }
        check_pause(schedule, "schedule")?;
    }
    if let Some(trigger) = object.get("trigger") {
        let trigger = trigger.as_object().ok_or("trigger must be an object")?;
        only_fields(trigger, TRIGGER_FIELDS, "TriggerSettings")?;
        if trigger.keys().filter(|k| *k != "pause_status").count() != 1 {
            return Err("trigger must set exactly one of file_arrival, periodic, table_update, table, model".into());
        }
        check_pause(trigger, "trigger")?;
    }
    if let Some(continuous) = object.get("continuous") {
        let continuous = continuous.as_object().ok_or("continuous must be an object")?;
        only_fields(continuous, CONTINUOUS_FIELDS, "Continuous")?;
        check_pause(continuous, "continuous")?;
    }
    if let Some(tags) = object.get("tags") {
        let tags = tags.as_object().ok_or("tags must be an object")?;
        if tags.len() > MAX_TAGS {
            return Err(format!("A job can have at most {MAX_TAGS} tags."));
        }
        if tags.values().any(|v| !v.is_string()) {
            return Err("tags values must be strings".into());
        }
    }
    if let Some(run_as) = object.get("run_as") {
        let run_as = run_as.as_object().ok_or("run_as must be an object")?;
        only_fields(run_as, &["user_name", "service_principal_name"], "JobRunAs")?;
        if run_as.len() != 1 {
            return Err("run_as must set exactly one of user_name, service_principal_name".into());
        }
    }
    let keys = |array: &str, key: &str| -> Result<BTreeSet<String>, String> {
        let mut seen = BTreeSet::new();
        for item in object.get(array).and_then(Value::as_array).into_iter().flatten() {
            let Some(name) = item[key].as_str() else { return Err(format!("Missing required field: {array}.{key}")) };
            if !seen.insert(name.to_string()) {
                return Err(format!("{array}: duplicate {key} {name}"));
            }
        }
        Ok(seen)
    };
    let tasks = keys("tasks", "task_key")?;
    let clusters = keys("job_clusters", "job_cluster_key")?;
    if whole {
        for task in object.get("tasks").and_then(Value::as_array).into_iter().flatten() {
            if let Some(cluster) = task["job_cluster_key"].as_str() {
                if !clusters.contains(cluster) {
                    return Err(format!(
                        "Task {} refers to job cluster {cluster}, which is not defined.",
                        task["task_key"]
                    ));
                }
            }
            for dependency in task["depends_on"].as_array().into_iter().flatten() {
                if !dependency["task_key"].as_str().is_some_and(|k| tasks.contains(k)) {
                    return Err(format!("Task {} depends on a task that is not defined.", task["task_key"]));
                }
            }
        }
    }
    Ok(())
}

fn query(raw: Option<String>) -> HashMap<String, String> {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default()
}

fn body_of(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(invalid("Invalid JSON given in the body of the request - expected a JSON object")),
    }
}

/// A job with only the first page of each paged array; true when some array had more.
fn first_page(settings: &Value) -> (Value, bool) {
    let mut settings = settings.clone();
    let mut more = false;
    for array in PAGED_ARRAYS {
        if let Some(Value::Array(items)) = settings.get_mut(*array) {
            if items.len() > ARRAY_PAGE {
                items.truncate(ARRAY_PAGE);
                more = true;
            }
        }
    }
    (settings, more)
}

/// The opaque token of the page after job `last` (of a list filtered by `name`).
fn page_token(after: i64) -> String {
    hex(&format!("after:{after}"))
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(token: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> =
        (0..token.len()).step_by(2).map(|i| token.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
    String::from_utf8(bytes?).ok()
}

async fn list(State(ws): State<Arc<Workspace>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    if let Err(refusal) = ws.caller(&headers, "jobs.list") {
        return refusal;
    }
    let query = query(raw);
    if query.contains_key("offset") && query.contains_key("page_token") {
        return invalid("offset and page_token cannot be used together.");
    }
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => return invalid(&format!("limit must be between 1 and {MAX_LIMIT}.")),
    };
    let expand = match query.get("expand_tasks").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return invalid(&format!("expand_tasks: {other} is not a boolean")),
    };
    let after = match query.get("page_token") {
        None => i64::MIN,
        Some(token) => match unhex(token).and_then(|t| t.strip_prefix("after:").and_then(|id| id.parse().ok())) {
            Some(after) => after,
            None => return invalid("Invalid page_token."),
        },
    };
    let name = query.get("name").map(|n| n.to_lowercase());
    let jobs = ws.job_definitions.jobs.lock();
    let matching: Vec<&Job> = jobs
        .range(after.saturating_add(1)..)
        .map(|(_, job)| job)
        .filter(|job| {
            name.as_ref().is_none_or(|n| job.settings["name"].as_str().is_some_and(|s| s.to_lowercase() == *n))
        })
        .take(limit + 1)
        .collect();
    let has_more = matching.len() > limit;
    let page: Vec<Value> = matching
        .iter()
        .take(limit)
        .map(|job| {
            let mut settings = job.settings.clone();
            let mut more = false;
            if expand {
                (settings, more) = first_page(&job.settings);
            } else if let Some(object) = settings.as_object_mut() {
                for array in ["tasks", "job_clusters"] {
                    object.remove(array);
                }
            }
            let mut entry = json!({
                "job_id": job.job_id,
                "creator_user_name": job.creator,
                "created_time": job.created_time,
                "settings": settings,
            });
            if expand {
                entry["has_more"] = json!(more);
            }
            entry
        })
        .collect();
    let mut body = json!({"has_more": has_more});
    if let (true, Some(last)) = (has_more, page.last()) {
        body["next_page_token"] = json!(page_token(last["job_id"].as_i64().unwrap_or_default()));
    }
    if !page.is_empty() {
        body["jobs"] = json!(page);
    }
    Json(body).into_response()
}

async fn get_job(State(ws): State<Arc<Workspace>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    if let Err(refusal) = ws.caller(&headers, "jobs.get") {
        return refusal;
    }
    let query = query(raw);
    let Some(job_id) = query.get("job_id").and_then(|id| id.parse::<i64>().ok()) else {
        return invalid("Missing required field: job_id");
    };
    let page = match query.get("page_token") {
        None => 0,
        Some(token) => match unhex(token).and_then(|t| t.strip_prefix("page:").and_then(|p| p.parse::<usize>().ok())) {
            Some(page) => page,
            None => return invalid("Invalid page_token."),
        },
    };
    let jobs = ws.job_definitions.jobs.lock();
    let Some(job) = jobs.get(&job_id) else { return no_job(job_id) };
    let mut settings = job.settings.clone();
    let mut more = false;
    for array in PAGED_ARRAYS {
        if let Some(Value::Array(items)) = settings.get_mut(*array) {
            let start = (page * ARRAY_PAGE).min(items.len());
            let end = (start + ARRAY_PAGE).min(items.len());
            more |= end < items.len();
            *items = items[start..end].to_vec();
        }
    }
    let mut body = json!({
        "job_id": job.job_id,
        "creator_user_name": job.creator,
        "run_as_user_name": job.settings["run_as"]["user_name"].as_str().or(job.settings["run_as"]["service_principal_name"].as_str()).unwrap_or(&job.creator),
        "created_time": job.created_time,
        "settings": settings,
    });
    if more {
        body["next_page_token"] = json!(hex(&format!("page:{}", page + 1)));
    }
    Json(body).into_response()
}

async fn create(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match ws.caller(&headers, "jobs.create") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let mut settings = match body_of(&body) {
        Ok(settings) => settings,
        Err(refusal) => return refusal,
    };
    // Create-only: the job's first permissions, not a setting.
    let acl = settings.remove("access_control_list");
    let settings = Value::Object(settings);
    if let Err(problem) = validate(&settings, true) {
        return invalid(&problem);
    }
    let job_id = match ws.job_definitions.insert(&caller.upn, settings) {
        Ok(job_id) => job_id,
        Err(problem) => return invalid(&problem),
    };
    if let Some(acl) = acl {
        if let Err(refusal) = apply_acl(&ws, job_id, &acl, false) {
            return refusal;
        }
    }
    Json(json!({ "job_id": job_id })).into_response()
}

/// Whether `caller` may change `job`: its owner, a CAN_MANAGE holder
/// (directly or through a group) or a workspace admin (the sandbox: a
/// metastore admin).
fn may_manage(ws: &Workspace, caller: &crate::caller::Caller, job: &Job) -> bool {
    let principal = ws.principal(caller);
    if ws.metastore.read().is_admin(&principal) {
        return true;
    }
    job.acl.iter().any(|(who, (_, level))| {
        (level == "IS_OWNER" || level == "CAN_MANAGE") && (*who == principal.name || principal.groups.contains(who))
    })
}

fn not_allowed(job_id: i64) -> Response {
    databricks_error(
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
        &format!("You do not have permission to manage job {job_id}."),
    )
}

fn job_id_of(body: &Map<String, Value>) -> Result<i64, Response> {
    body.get("job_id").and_then(Value::as_i64).ok_or_else(|| invalid("Missing required field: job_id"))
}

async fn reset(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match ws.caller(&headers, "jobs.reset") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let body = match body_of(&body) {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    if let Err(problem) = only_fields(&body, &["job_id", "new_settings"], "ResetJob") {
        return invalid(&problem);
    }
    let job_id = match job_id_of(&body) {
        Ok(job_id) => job_id,
        Err(refusal) => return refusal,
    };
    let Some(settings) = body.get("new_settings").cloned() else {
        return invalid("Missing required field: new_settings");
    };
    if let Err(problem) = validate(&settings, true) {
        return invalid(&problem);
    }
    let mut jobs = ws.job_definitions.jobs.lock();
    let Some(job) = jobs.get_mut(&job_id) else { return no_job(job_id) };
    if !may_manage(&ws, &caller, job) {
        return not_allowed(job_id);
    }
    job.settings = settings;
    Json(json!({})).into_response()
}

/// The key of an item of a keyed array, for `update`'s merge.
fn key_field(array: &str) -> Option<&'static str> {
    match array {
        "tasks" => Some("task_key"),
        "job_clusters" => Some("job_cluster_key"),
        "environments" => Some("environment_key"),
        _ => None,
    }
}

async fn update(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match ws.caller(&headers, "jobs.update") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let body = match body_of(&body) {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    if let Err(problem) = only_fields(&body, &["job_id", "new_settings", "fields_to_remove"], "UpdateJob") {
        return invalid(&problem);
    }
    let job_id = match job_id_of(&body) {
        Ok(job_id) => job_id,
        Err(refusal) => return refusal,
    };
    let new_settings = body.get("new_settings").cloned().unwrap_or_else(|| json!({}));
    if let Err(problem) = validate(&new_settings, false) {
        return invalid(&problem);
    }
    let mut jobs = ws.job_definitions.jobs.lock();
    let Some(job) = jobs.get_mut(&job_id) else { return no_job(job_id) };
    if !may_manage(&ws, &caller, job) {
        return not_allowed(job_id);
    }
    let mut settings = job.settings.as_object().cloned().unwrap_or_default();
    // Top-level fields are replaced whole; keyed arrays are merged by key.
    for (field, value) in new_settings.as_object().cloned().unwrap_or_default() {
        match (key_field(&field), settings.get_mut(&field), &value) {
            (Some(key), Some(Value::Array(existing)), Value::Array(new)) => {
                for item in new {
                    match existing.iter_mut().find(|e| e[key] == item[key]) {
                        Some(slot) => *slot = item.clone(),
                        None => existing.push(item.clone()),
                    }
                }
            }
            _ => {
                settings.insert(field, value);
            }
        }
    }
    for field in body.get("fields_to_remove").and_then(Value::as_array).into_iter().flatten() {
        let Some(field) = field.as_str() else { return invalid("fields_to_remove must be strings") };
        match field.split_once('/') {
            Some((array, item)) if key_field(array).is_some() => {
                let key = key_field(array).unwrap_or_default();
                if let Some(Value::Array(items)) = settings.get_mut(array) {
                    items.retain(|i| i[key].as_str() != Some(item));
                }
            }
            Some(_) => return invalid(&format!("fields_to_remove: {field} cannot be removed")),
            None if SETTINGS_FIELDS.contains(&field) => {
                settings.remove(field);
            }
            None => return invalid(&format!("fields_to_remove: unknown field {field}")),
        }
    }
    let settings = Value::Object(settings);
    if let Err(problem) = validate(&settings, true) {
        return invalid(&problem);
    }
    job.settings = settings;
    Json(json!({})).into_response()
}

async fn delete(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match ws.caller(&headers, "jobs.delete") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let body = match body_of(&body) {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let job_id = match job_id_of(&body) {
        Ok(job_id) => job_id,
        Err(refusal) => return refusal,
    };
    let mut jobs = ws.job_definitions.jobs.lock();
    let Some(job) = jobs.get(&job_id) else { return no_job(job_id) };
    if !may_manage(&ws, &caller, job) {
        return not_allowed(job_id);
    }
    jobs.remove(&job_id);
    Json(json!({})).into_response()
}

const JOB_LEVELS: &[&str] = &["CAN_VIEW", "CAN_MANAGE_RUN", "IS_OWNER", "CAN_MANAGE"];
const PRINCIPAL_FIELDS: &[&str] = &["user_name", "group_name", "service_principal_name"];

fn render_acl(job: &Job) -> Value {
    let list: Vec<Value> = job
        .acl
        .iter()
        .map(|(principal, (field, level))| {
            json!({field.as_str(): principal, "all_permissions": [{"permission_level": level, "inherited": false}]})
        })
        .collect();
    json!({"object_id": format!("/jobs/{}", job.job_id), "object_type": "job", "access_control_list": list})
}

/// Sets (`replace`) or adds to a job's ACL; one owner at all times.
fn apply_acl(ws: &Workspace, job_id: i64, acl: &Value, replace: bool) -> Result<Value, Response> {
    let Some(entries) = acl.as_array() else { return Err(invalid("access_control_list must be an array")) };
    let mut parsed = Vec::new();
    for entry in entries {
        let Some(object) = entry.as_object() else { return Err(invalid("an access control entry must be an object")) };
        let mut allowed = PRINCIPAL_FIELDS.to_vec();
        allowed.push("permission_level");
        only_fields(object, &allowed, "AccessControlRequest").map_err(|p| invalid(&p))?;
        let principals: Vec<(&str, &str)> =
            PRINCIPAL_FIELDS.iter().filter_map(|f| object.get(*f).and_then(Value::as_str).map(|p| (*f, p))).collect();
        let [(field, principal)] = principals.as_slice() else {
            return Err(invalid("an access control entry names exactly one principal"));
        };
        let level = object.get("permission_level").and_then(Value::as_str).unwrap_or_default();
        if !JOB_LEVELS.contains(&level) {
            return Err(invalid(&format!("Permission level {level} is not valid for jobs.")));
        }
        if level == "IS_OWNER" && *field == "group_name" {
            return Err(invalid("A group cannot own a job."));
        }
        if let Some(refusal) = super::identities::unknown_principal(ws, field, principal) {
            return Err(refusal);
        }
        parsed.push((principal.to_string(), field.to_string(), level.to_string()));
    }
    let mut jobs = ws.job_definitions.jobs.lock();
    let Some(job) = jobs.get_mut(&job_id) else { return Err(no_job(job_id)) };
    let owner = job.acl.iter().find(|(_, (_, level))| level == "IS_OWNER").map(|(p, v)| (p.clone(), v.clone()));
    if replace {
        job.acl.clear();
    }
    let new_owner = parsed.iter().any(|(_, _, level)| level == "IS_OWNER");
    if parsed.iter().filter(|(_, _, level)| level == "IS_OWNER").count() > 1 {
        return Err(invalid("A job can have only one owner."));
    }
    if new_owner {
        job.acl.retain(|_, (_, level)| level != "IS_OWNER");
    } else if let Some((principal, entry)) = owner {
        job.acl.insert(principal, entry);
    }
    for (principal, field, level) in parsed {
        job.acl.insert(principal, (field, level));
    }
    Ok(render_acl(job))
}

async fn get_permissions(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(job_id): Path<String>) -> Response {
    if let Err(refusal) = ws.caller(&headers, "permissions.jobs.get") {
        return refusal;
    }
    let Ok(job_id) = job_id.parse::<i64>() else { return invalid("job id must be a number") };
    match ws.job_definitions.jobs.lock().get(&job_id) {
        Some(job) => Json(render_acl(job)).into_response(),
        None => {
            databricks_error(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", &format!("Job {job_id} does not exist."))
        }
    }
}

async fn change_permissions(
    ws: Arc<Workspace>,
    headers: HeaderMap,
    job_id: String,
    body: Bytes,
    replace: bool,
) -> Response {
    if let Err(refusal) = ws.caller(&headers, if replace { "permissions.jobs.set" } else { "permissions.jobs.update" })
    {
        return refusal;
    }
    let Ok(job_id) = job_id.parse::<i64>() else { return invalid("job id must be a number") };
    let body = match body_of(&body) {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    if let Err(problem) = only_fields(&body, &["access_control_list"], "JobPermissionsRequest") {
        return invalid(&problem);
    }
    let acl = body.get("access_control_list").cloned().unwrap_or_else(|| json!([]));
    match apply_acl(&ws, job_id, &acl, replace) {
        Ok(rendered) => Json(rendered).into_response(),
        Err(refusal) => refusal,
    }
}

async fn set_permissions(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
    body: Bytes,
) -> Response {
    change_permissions(ws, headers, job_id, body, true).await
}

async fn update_permissions(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
    body: Bytes,
) -> Response {
    change_permissions(ws, headers, job_id, body, false).await
}

impl JobDefinitions {
    /// Replaces a job's settings as someone editing it in the UI would (tests).
    pub fn replace(&self, job_id: i64, settings: Value) -> Result<(), String> {
        validate(&settings, true)?;
        let mut jobs = self.jobs.lock();
        let job = jobs.get_mut(&job_id).ok_or_else(|| format!("Job {job_id} does not exist."))?;
        job.settings = settings;
        Ok(())
    }

    /// Deletes a job as someone in the UI would (tests).
    pub fn remove(&self, job_id: i64) -> bool {
        self.jobs.lock().remove(&job_id).is_some()
    }

    /// The first job carrying tag `key` = `value`.
    pub fn find_tagged(&self, key: &str, value: &str) -> Option<i64> {
        self.jobs.lock().values().find(|job| job.settings["tags"][key].as_str() == Some(value)).map(|job| job.job_id)
    }
}
