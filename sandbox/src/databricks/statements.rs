//! SQL Statement Execution 2.0: statements run asynchronously on the
//! warehouse (PENDING → RUNNING → SUCCEEDED | FAILED | CANCELED) with
//! configurable durations; `wait_timeout` and `on_wait_timeout` behave as
//! documented; a statement's effect lands when it succeeds, so a cancelled
//! clone changes nothing.
//!
//! The warehouse itself is STOPPED, STARTING or RUNNING: a statement sent to
//! a stopped warehouse starts it, and waits in PENDING for as long as the
//! start takes (`StatementTiming::start_ms`). A statement that ended is
//! forgotten once [`STATEMENT_RETENTION`] has passed on the warehouse's
//! clock (`Statements::pass_time` moves that clock on): its id then answers
//! 404, as Databricks documents.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::sql::execute::{execute, Outcome};
use super::sql::parse::{parse, Statement};
use super::{databricks_error, Workspace};

/// The secondary sandbox workspace's seeded warehouse.
pub const SANDBOX_WAREHOUSE_ID: &str = "5a9d3b1c2e4f6071";

/// The primary sandbox workspace's seeded warehouse. Warehouse ids are per
/// workspace (`/api/2.0/sql/warehouses/{id}` of one workspace), so the two
/// differ: a statement sent to one workspace with the other's id is refused,
/// as Databricks refuses it.
pub const PRIMARY_WAREHOUSE_ID: &str = "8e2f4a6c0b1d3957";

/// The seeded warehouse of the sandbox workspace named `workspace`.
pub fn seeded_warehouse_id(workspace: &str) -> &'static str {
    match workspace {
        "primary" => PRIMARY_WAREHOUSE_ID,
        _ => SANDBOX_WAREHOUSE_ID,
    }
}

/// How long an ended statement can still be fetched: "at least 12 hours"
/// (Statement Execution API, FIDELITY.md); the sandbox keeps it exactly that
/// long on its clock, then answers 404.
pub const STATEMENT_RETENTION: Duration = Duration::from_secs(12 * 3600);

/// How long statements take, and how often they fail on their own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatementTiming {
    /// Time in PENDING before running.
    pub queue_ms: u64,
    /// Running time of ordinary statements, drawn from `[min, max]`.
    pub run_ms: (u64, u64),
    /// Running time of clones.
    pub clone_ms: (u64, u64),
    /// Share of statements that fail with a transient error, drawn from
    /// [`TRANSIENT_FAILURES`] (the service error codes of the Statement
    /// Execution API that say "try again", FIDELITY.md).
    pub failure_ratio: f64,
    /// Share of successful statements that a GET reports `CLOSED`
    /// ("execution successful, and statement closed; result no longer
    /// available for fetch") instead of `SUCCEEDED`.
    pub closed_ratio: f64,
    /// How long a stopped warehouse takes to start (STARTING), from the
    /// statement that woke it. Serverless warehouses start in seconds,
    /// classic and pro ones in minutes (FIDELITY.md); the default is a
    /// serverless one.
    pub start_ms: u64,
    /// Durations are divided by this (a faster clock for benchmarks).
    pub speed: f64,
}

impl Default for StatementTiming {
    fn default() -> Self {
        StatementTiming {
            queue_ms: 0,
            run_ms: (1, 5),
            clone_ms: (10, 40),
            failure_ratio: 0.0,
            closed_ratio: 0.0,
            start_ms: 5_000,
            speed: 1.0,
        }
    }
}

/// The transient failures a statement can end with: (service error code,
/// message). `ABORTED` is a concurrent commit that won the race.
pub const TRANSIENT_FAILURES: &[(&str, &str)] = &[
    ("INTERNAL_ERROR", "[INTERNAL_ERROR] The warehouse lost its executor. Retry the statement."),
    ("WORKSPACE_TEMPORARILY_UNAVAILABLE", "The workspace is temporarily unavailable."),
    ("SERVICE_UNDER_MAINTENANCE", "The service is under maintenance."),
    ("RESOURCE_EXHAUSTED", "The warehouse is overloaded."),
    ("ABORTED", "[DELTA_CONCURRENT_APPEND] A concurrent transaction committed first. Retry."),
];

/// What a statement's drawn fate is, decided when it is submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Runs,
    /// Fails with this entry of [`TRANSIENT_FAILURES`].
    Fails(usize),
    /// Runs, and is then reported `CLOSED`.
    Closes,
}

#[derive(Clone, Debug)]
struct Status {
    state: &'static str,
    error: Option<(String, String)>,
    outcome: Option<Arc<Outcome>>,
}

/// The warehouse's power, as `GET /api/2.0/sql/warehouses/{id}` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Power {
    Stopped,
    /// Starting; running from this instant on.
    Starting(Instant),
    Running,
}

impl Status {
    fn terminal(&self) -> bool {
        matches!(self.state, "SUCCEEDED" | "FAILED" | "CANCELED" | "CLOSED")
    }
}

struct Entry {
    owner: String,
    statement: String,
    /// The running time drawn for it (queueing for the warehouse apart).
    run: Duration,
    status: watch::Sender<Status>,
    cancel: CancellationToken,
    /// When it ended, on the warehouse's clock (`Statements::now`).
    ended: Mutex<Option<Duration>>,
}

/// A statement the warehouse accepted, as `Statements::history` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementRecord {
    pub id: String,
    pub statement: String,
    pub owner: String,
    /// Its state now (`PENDING` … `CANCELED`).
    pub state: &'static str,
    /// The running time drawn for it, speed factor applied; what a benchmark's
    /// lower bound needs (the real warehouse would report it in its history).
    pub run: Duration,
}

/// The warehouse's statements.
pub struct Statements {
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    /// Ids in the order submitted.
    order: Mutex<Vec<String>>,
    timing: Mutex<StatementTiming>,
    rng: Mutex<rand::rngs::StdRng>,
    /// Statements running at once at most; the rest wait in PENDING, as on a
    /// warehouse whose clusters are all busy. `None`: no limit.
    slots: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
    /// The warehouse's state as `GET /api/2.0/sql/warehouses/{id}` reports
    /// it: `RUNNING`; `STOPPED` after [`Statements::stop_warehouse`];
    /// `STARTING` for `start_ms` after a statement (or
    /// [`Statements::start_warehouse`]) woke it. A statement submitted to a
    /// stopped warehouse starts it, as Databricks does (which is why a read
    /// that must not start it asks first).
    power: Mutex<Power>,
    /// The warehouse's clock: real time since it was made, plus whatever
    /// [`Statements::pass_time`] added.
    born: Instant,
    passed: Mutex<Duration>,
}

impl Default for Statements {
    fn default() -> Self {
        Statements {
            entries: Mutex::new(HashMap::new()),
            order: Mutex::new(Vec::new()),
            slots: Mutex::new(None),
            power: Mutex::new(Power::Running),
            born: Instant::now(),
            passed: Mutex::new(Duration::ZERO),
            timing: Mutex::new(StatementTiming::default()),
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(0x5e1ec7)),
        }
    }
}

impl Statements {
    pub fn set_timing(&self, timing: StatementTiming) {
        *self.timing.lock() = timing;
    }

    /// At most `limit` statements run at once (`None`: no limit, the
    /// default); statements submitted beyond it stay PENDING until a slot
    /// frees, in submission order. Applies to statements submitted afterwards.
    pub fn set_concurrency(&self, limit: Option<usize>) {
        *self.slots.lock() = limit.map(|n| Arc::new(tokio::sync::Semaphore::new(n.max(1))));
    }

    /// Stops the warehouse (auto-stop after idling, or an admin).
    pub fn stop_warehouse(&self) {
        *self.power.lock() = Power::Stopped;
    }

    /// Starts a stopped warehouse (an admin, or someone else's query): it is
    /// STARTING for `start_ms`, then RUNNING. Returns when it will run.
    pub fn start_warehouse(&self) -> Instant {
        let timing = self.timing.lock().clone();
        let speed = if timing.speed > 0.0 { timing.speed } else { 1.0 };
        let mut power = self.power.lock();
        match *power {
            Power::Stopped => {
                let ready = Instant::now() + Duration::from_secs_f64(timing.start_ms as f64 / 1000.0 / speed);
                *power = Power::Starting(ready);
                ready
            }
            Power::Starting(ready) => ready,
            Power::Running => Instant::now(),
        }
    }

    pub fn warehouse_state(&self) -> &'static str {
        let mut power = self.power.lock();
        match *power {
            Power::Stopped => "STOPPED",
            Power::Starting(ready) if Instant::now() < ready => "STARTING",
            Power::Starting(_) | Power::Running => {
                *power = Power::Running;
                "RUNNING"
            }
        }
    }

    /// Moves the warehouse's clock on by `by`, as if that much time had
    /// passed: statements that ended longer than [`STATEMENT_RETENTION`] ago
    /// are forgotten (their ids answer 404).
    pub fn pass_time(&self, by: Duration) {
        *self.passed.lock() += by;
    }

    fn now(&self) -> Duration {
        self.born.elapsed() + *self.passed.lock()
    }

    /// Every statement accepted so far, in submission order, with its state now.
    pub fn history(&self) -> Vec<StatementRecord> {
        let entries = self.entries.lock();
        self.order
            .lock()
            .iter()
            .filter_map(|id| {
                let entry = entries.get(id)?;
                Some(StatementRecord {
                    id: id.clone(),
                    statement: entry.statement.clone(),
                    owner: entry.owner.clone(),
                    state: entry.status.borrow().state,
                    run: entry.run,
                })
            })
            .collect()
    }

    fn duration(&self, statement: Option<&Statement>) -> (Duration, Duration, Fate) {
        let timing = self.timing.lock().clone();
        let mut rng = self.rng.lock();
        let (lo, hi) =
            if matches!(statement, Some(Statement::CloneTable { .. })) { timing.clone_ms } else { timing.run_ms };
        let speed = if timing.speed > 0.0 { timing.speed } else { 1.0 };
        let scale = |ms: u64| Duration::from_secs_f64(ms as f64 / 1000.0 / speed);
        let fate = if timing.failure_ratio > 0.0 && rng.gen_bool(timing.failure_ratio.min(1.0)) {
            Fate::Fails(rng.gen_range(0..TRANSIENT_FAILURES.len()))
        } else if timing.closed_ratio > 0.0 && rng.gen_bool(timing.closed_ratio.min(1.0)) {
            Fate::Closes
        } else {
            Fate::Runs
        };
        (scale(timing.queue_ms), scale(rng.gen_range(lo..=hi.max(lo))), fate)
    }
}

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.0/sql/statements", post(submit))
        .route("/api/2.0/sql/statements/", post(submit))
        .route("/api/2.0/sql/statements/{id}", get(status))
        .route("/api/2.0/sql/statements/{id}/cancel", post(cancel))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Submit {
    statement: String,
    warehouse_id: String,
    #[serde(default)]
    catalog: Option<String>,
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    wait_timeout: Option<String>,
    #[serde(default)]
    on_wait_timeout: Option<String>,
    #[serde(default)]
    disposition: Option<String>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
    #[serde(default)]
    byte_limit: Option<i64>,
    #[serde(default)]
    row_limit: Option<i64>,
}

/// `"0s"` or `"5s"`..`"50s"`.
fn wait_timeout(text: Option<&str>) -> Result<Duration, Response> {
    let text = text.unwrap_or("10s");
    let seconds = text.strip_suffix('s').and_then(|n| n.parse::<u64>().ok());
    match seconds {
        Some(0) => Ok(Duration::ZERO),
        Some(s) if (5..=50).contains(&s) => Ok(Duration::from_secs(s)),
        _ => Err(databricks_error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "wait_timeout must be 0s or between 5s and 50s.",
        )),
    }
}

async fn submit(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match ws.caller(&headers, "sql.statements.submit") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let request: Submit = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return databricks_error(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                &format!("Invalid request: {e}"),
            )
        }
    };
    if !ws.warehouses.exists(&request.warehouse_id) {
        return databricks_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            &format!("Warehouse {} does not exist.", request.warehouse_id),
        );
    }
    {
        let principal = ws.principal(&caller);
        let admin = ws.metastore.read().is_admin(&principal);
        if !ws.warehouses.may_use(&request.warehouse_id, &principal, admin) {
            return databricks_error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                &format!("You do not have CAN_USE on warehouse {}.", request.warehouse_id),
            );
        }
    }
    if request.parameters.as_ref().is_some_and(|p| p.as_array().is_some_and(|a| !a.is_empty())) {
        return databricks_error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "The sandbox warehouse takes no statement parameters.",
        );
    }
    let _ = (&request.disposition, &request.format, request.byte_limit, request.row_limit);
    let wait = match wait_timeout(request.wait_timeout.as_deref()) {
        Ok(wait) => wait,
        Err(refusal) => return refusal,
    };
    let cancel_on_timeout = match request.on_wait_timeout.as_deref() {
        None | Some("CONTINUE") => false,
        Some("CANCEL") => true,
        Some(_) => {
            return databricks_error(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                "on_wait_timeout must be CONTINUE or CANCEL.",
            )
        }
    };

    // A stopped warehouse starts for the statement, which waits in PENDING
    // until it runs.
    let warehouse_ready = ws.statements.start_warehouse();
    let id = format!("01ef{}", uuid::Uuid::new_v4().simple());
    let (status, _) = watch::channel(Status { state: "PENDING", error: None, outcome: None });
    let principal = ws.principal(&caller);
    let parsed = parse(&request.statement);
    let (queue, run, fate) = ws.statements.duration(parsed.as_ref().ok());
    let entry = Arc::new(Entry {
        owner: caller.upn.clone(),
        statement: request.statement.clone(),
        run,
        status,
        cancel: CancellationToken::new(),
        ended: Mutex::new(None),
    });
    ws.statements.entries.lock().insert(id.clone(), entry.clone());
    ws.statements.order.lock().push(id.clone());
    let slots = ws.statements.slots.lock().clone();
    let workspace = ws.clone();
    let running = entry.clone();
    tokio::spawn(async move {
        let set = |status: Status| {
            if status.terminal() {
                *running.ended.lock() = Some(workspace.statements.now());
            }
            running.status.send_replace(status)
        };
        tokio::select! {
            _ = running.cancel.cancelled() => { set(Status { state: "CANCELED", error: None, outcome: None }); return; }
            _ = tokio::time::sleep_until(warehouse_ready) => {}
        }
        tokio::select! {
            _ = running.cancel.cancelled() => { set(Status { state: "CANCELED", error: None, outcome: None }); return; }
            _ = tokio::time::sleep(queue) => {}
        }
        // Held until the statement ends: the warehouse's slot.
        let _slot = match &slots {
            None => None,
            Some(slots) => tokio::select! {
                _ = running.cancel.cancelled() => { set(Status { state: "CANCELED", error: None, outcome: None }); return; }
                permit = slots.clone().acquire_owned() => permit.ok(),
            },
        };
        set(Status { state: "RUNNING", error: None, outcome: None });
        tokio::select! {
            _ = running.cancel.cancelled() => { set(Status { state: "CANCELED", error: None, outcome: None }); return; }
            _ = tokio::time::sleep(run) => {}
        }
        let context = (request.catalog.as_deref(), request.schema.as_deref());
        let unknown =
            parsed.as_ref().ok().and_then(|statement| principal_unknown(&workspace, &principal, statement, context));
        let finished = match parsed {
            Err(error) => {
                Status { state: "FAILED", error: Some(("PARSE_SYNTAX_ERROR".into(), error.0)), outcome: None }
            }
            Ok(_) if matches!(fate, Fate::Fails(_)) => {
                let Fate::Fails(which) = fate else { unreachable!() };
                let (code, message) = TRANSIENT_FAILURES[which];
                Status { state: "FAILED", error: Some((code.into(), message.into())), outcome: None }
            }
            Ok(_) if unknown.is_some() => Status {
                state: "FAILED",
                error: Some(("PRINCIPAL_DOES_NOT_EXIST".into(), unknown.unwrap_or_default())),
                outcome: None,
            },
            Ok(Statement::ReplicationStates(query)) => {
                let events = workspace.account.failover_groups.events();
                let admin = workspace.metastore.read().is_admin(&principal);
                let account_id = super::account_api::SANDBOX_ACCOUNT_ID;
                match super::replication_states::answer(&events, account_id, admin, &query) {
                    Ok(outcome) => Status { state: "SUCCEEDED", error: None, outcome: Some(Arc::new(outcome)) },
                    Err(error) => {
                        Status { state: "FAILED", error: Some((error.error_code, error.message)), outcome: None }
                    }
                }
            }
            Ok(statement) => {
                let now_ms = chrono::Utc::now().timestamp_millis();
                let shared = |provider: &str, share: &str, schema: &str, table: &str| {
                    workspace.shared_table_version(provider, share, schema, table)
                };
                let mut metastore = workspace.metastore.write();
                match execute(
                    &mut metastore,
                    &workspace.account.storage,
                    &shared,
                    &principal,
                    &statement,
                    request.catalog.as_deref(),
                    request.schema.as_deref(),
                    now_ms,
                ) {
                    Ok(_) if fate == Fate::Closes => Status { state: "CLOSED", error: None, outcome: None },
                    Ok(outcome) => Status { state: "SUCCEEDED", error: None, outcome: Some(Arc::new(outcome)) },
                    Err(error) => {
                        Status { state: "FAILED", error: Some((error.error_code, error.message)), outcome: None }
                    }
                }
            }
        };
        set(finished);
    });

    let mut watcher = entry.status.subscribe();
    if !wait.is_zero()
        && tokio::time::timeout(wait, watcher.wait_for(Status::terminal)).await.is_err()
        && cancel_on_timeout
    {
        entry.cancel.cancel();
        let _ = watcher.wait_for(Status::terminal).await;
    }
    let current = entry.status.borrow().clone();
    Json(render(&id, &current)).into_response()
}

/// Why a GRANT or an owner change the caller may make cannot run: it names
/// a principal the metastore does not know (`identities.rs`). One the
/// caller may not make is left to fail as it does (PERMISSION_DENIED first).
/// Asked before the metastore is locked for the statement: the answer reads
/// every metastore of the account.
fn principal_unknown(
    workspace: &Workspace,
    who: &super::metastore::Principal,
    statement: &Statement,
    (catalog, schema): (Option<&str>, Option<&str>),
) -> Option<String> {
    let (securable, name, named) = match statement {
        Statement::Grant { securable, name, principal, .. } => (securable, name, principal),
        Statement::AlterOwner { securable, name, owner } => (securable, name, owner),
        _ => return None,
    };
    let full_name = super::sql::execute::securable_name(*securable, name, catalog, schema).ok()?;
    workspace.metastore.read().require_manage(who, *securable, &full_name).ok()?;
    workspace.require_principals([named.as_str()]).err()
}

/// A statement's error as the API reports it: a service error code, with the
/// SQL error class in brackets at the start of the message (`[PARSE_SYNTAX_ERROR] …`).
fn service_code(error_class: &str) -> &'static str {
    if let Some((code, _)) = TRANSIENT_FAILURES.iter().find(|(code, _)| *code == error_class) {
        return code;
    }
    match error_class {
        class if class.ends_with("NOT_FOUND") => "NOT_FOUND",
        class if class.ends_with("ALREADY_EXISTS") => "ALREADY_EXISTS",
        _ => "BAD_REQUEST",
    }
}

fn render(id: &str, status: &Status) -> Value {
    let mut body = json!({"statement_id": id, "status": {"state": status.state}});
    if let Some((class, message)) = &status.error {
        let message = if message.starts_with('[') { message.clone() } else { format!("[{class}] {message}") };
        body["status"]["error"] = json!({"error_code": service_code(class), "message": message});
    }
    if let Some(outcome) = &status.outcome {
        let columns: Vec<Value> = outcome
            .columns
            .iter()
            .enumerate()
            .map(|(position, name)| json!({"name": name, "type_text": "STRING", "type_name": "STRING", "position": position}))
            .collect();
        let rows: Vec<Value> = outcome
            .rows
            .iter()
            .map(|row| {
                // JSON_ARRAY: every value a string, SQL NULL a JSON null.
                json!(row
                    .iter()
                    .map(|v| match v {
                        Value::Null => Value::Null,
                        Value::String(s) => Value::String(s.clone()),
                        other => Value::String(other.to_string()),
                    })
                    .collect::<Vec<_>>())
            })
            .collect();
        body["manifest"] = json!({
            "format": "JSON_ARRAY",
            "schema": {"column_count": columns.len(), "columns": columns},
            "total_chunk_count": 1,
            "chunks": [{"chunk_index": 0, "row_offset": 0, "row_count": rows.len()}],
            "total_row_count": rows.len(),
            "truncated": false,
        });
        body["result"] = json!({"chunk_index": 0, "row_offset": 0, "row_count": rows.len(), "data_array": rows});
    }
    body
}

fn entry_for(ws: &Workspace, headers: &HeaderMap, id: &str, path: &str) -> Result<Arc<Entry>, Response> {
    let caller = ws.caller(headers, path)?;
    let entry = ws.statements.entries.lock().get(id).cloned();
    let now = ws.statements.now();
    let kept = |e: &Arc<Entry>| e.ended.lock().is_none_or(|ended| now.saturating_sub(ended) < STATEMENT_RETENTION);
    entry.filter(|e| e.owner == caller.upn && kept(e)).ok_or_else(|| {
        databricks_error(StatusCode::NOT_FOUND, "NOT_FOUND", &format!("The statement {id} was not found."))
    })
}

async fn status(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match entry_for(&ws, &headers, &id, "sql.statements.get") {
        Ok(entry) => Json(render(&id, &entry.status.borrow().clone())).into_response(),
        Err(refusal) => refusal,
    }
}

async fn cancel(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match entry_for(&ws, &headers, &id, "sql.statements.cancel") {
        Ok(entry) => {
            entry.cancel.cancel();
            Json(json!({})).into_response()
        }
        Err(refusal) => refusal,
    }
}
