//! SQL Statement Execution 2.0, with our own deadline.
//!
//! A warehouse's default statement timeout is two days, so a stuck clone
//! would hold a replication forever: every statement here runs against a
//! deadline the caller gives, and is cancelled on the warehouse (not merely
//! abandoned) when the deadline passes or the caller's cancellation token
//! fires. A failed statement is an answer (HTTP 200, `state=FAILED`), typed
//! as [`StatementOutcome::Failed`], not a transport error.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{segment, DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

const STATEMENTS: &str = "/api/2.0/sql/statements";

/// Result chunks followed at most (a guard against a link that loops).
const MAX_CHUNKS: usize = 10_000;

/// What to do when `wait_timeout` passes before the statement ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnWaitTimeout {
    /// Answer with the statement still running; we poll.
    Continue,
    /// The warehouse cancels it.
    Cancel,
}

/// A statement to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementRequest {
    pub statement: String,
    pub warehouse_id: String,
    pub catalog: Option<String>,
    pub schema: Option<String>,
    /// How long the submission itself waits: zero, or 5 to 50 s (clamped,
    /// and shortened to fit the deadline).
    pub wait_timeout: Duration,
    pub on_wait_timeout: OnWaitTimeout,
}

impl StatementRequest {
    pub fn new(warehouse_id: &str, statement: &str) -> StatementRequest {
        StatementRequest {
            statement: statement.to_string(),
            warehouse_id: warehouse_id.to_string(),
            catalog: None,
            schema: None,
            wait_timeout: Duration::from_secs(10),
            on_wait_timeout: OnWaitTimeout::Continue,
        }
    }
}

/// Why a statement ended cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelReason {
    /// Our deadline passed while it ran; we cancelled it.
    Deadline,
    /// Our deadline passed while it was still PENDING: the warehouse never
    /// started it (a stopped warehouse takes minutes to start, or it is
    /// saturated); we cancelled it.
    NotStarted,
    /// The caller's cancellation token fired; we cancelled it.
    Caller,
    /// The warehouse reports it cancelled (`on_wait_timeout: CANCEL`, someone else).
    Server,
}

/// How a statement ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatementOutcome {
    /// Rows as strings (`None` for SQL NULL), with the column names.
    Succeeded {
        columns: Vec<String>,
        rows: Vec<Vec<Option<String>>>,
    },
    /// `error_code` is the service's code; `message` starts with the SQL
    /// error class in brackets (`[TABLE_OR_VIEW_NOT_FOUND] …`).
    Failed {
        error_code: String,
        message: String,
    },
    Canceled {
        reason: CancelReason,
    },
    /// `CLOSED`: "execution successful, and statement closed; result no
    /// longer available for fetch" (Statement Execution API). The work is
    /// done; only its rows are gone.
    Closed,
}

impl StatementOutcome {
    /// A failure the warehouse itself calls passing (its executor lost, a
    /// moment's unavailability, maintenance, overload, a concurrent commit
    /// that won): running the statement again may succeed. The codes are the
    /// API's service error codes (sandbox/FIDELITY.md).
    pub fn is_transient_failure(&self) -> bool {
        matches!(self, StatementOutcome::Failed { error_code, .. }
            if matches!(error_code.as_str(),
                "INTERNAL_ERROR"
                    | "TEMPORARILY_UNAVAILABLE"
                    | "WORKSPACE_TEMPORARILY_UNAVAILABLE"
                    | "SERVICE_UNDER_MAINTENANCE"
                    | "RESOURCE_EXHAUSTED"
                    | "ABORTED"))
    }
}

/// A statement's id and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementRun {
    pub statement_id: String,
    pub outcome: StatementOutcome,
}

/// The states of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
    Closed,
}

impl StatementState {
    fn parse(text: &str) -> Option<StatementState> {
        Some(match text {
            "PENDING" => StatementState::Pending,
            "RUNNING" => StatementState::Running,
            "SUCCEEDED" => StatementState::Succeeded,
            "FAILED" => StatementState::Failed,
            "CANCELED" => StatementState::Canceled,
            "CLOSED" => StatementState::Closed,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, StatementState::Pending | StatementState::Running)
    }
}

/// One answer of submit or GET.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StatementResponse {
    pub statement_id: String,
    #[serde(default)]
    pub status: StatusBody,
    #[serde(default)]
    pub manifest: Option<Manifest>,
    #[serde(default)]
    pub result: Option<ResultChunk>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct StatusBody {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub error: Option<ErrorBody>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub schema: Option<ManifestSchema>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ManifestSchema {
    #[serde(default)]
    pub columns: Vec<Column>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Column {
    pub name: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ResultChunk {
    #[serde(default)]
    pub data_array: Vec<Vec<Option<String>>>,
    #[serde(default)]
    pub next_chunk_internal_link: Option<String>,
}

impl StatementResponse {
    pub fn state(&self) -> Result<StatementState, DatabricksError> {
        StatementState::parse(&self.status.state)
            .ok_or_else(|| DatabricksError::Protocol(format!("unknown statement state '{}'", self.status.state)))
    }
}

/// `wait_timeout` as the API accepts it: "0s" or "5s".."50s", within `remaining`.
fn wait_timeout(wanted: Duration, remaining: Duration) -> String {
    let seconds = wanted.min(remaining).as_secs().min(50);
    if seconds < 5 {
        "0s".into()
    } else {
        format!("{seconds}s")
    }
}

/// How often a running statement is looked at: `first`, doubling up to
/// `max`. Most DDL ends in well under a second, so polling starts quick; a
/// long clone is then looked at every `max`, which bounds both the load on
/// the workspace and how late its end is noticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Polling {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Polling {
    fn default() -> Self {
        Polling { first: Duration::from_millis(50), max: Duration::from_secs(5) }
    }
}

#[cfg(test)]
fn next_poll(current: Duration) -> Duration {
    let polling = Polling::default();
    (current * 2).min(polling.max)
}

impl WorkspaceClient {
    /// `POST /statements`: submits, waiting at most `wait_timeout`.
    ///
    /// Like every call it is retried on throttling and transient 5xx; a 5xx
    /// after the warehouse accepted the statement would run it twice, which
    /// is why replication only issues statements that may run again
    /// (`CREATE OR REPLACE`, `IF NOT EXISTS`, `GRANT`, deep clones).
    pub async fn submit_statement(
        &self,
        token: &AccessToken,
        request: &StatementRequest,
        remaining: Duration,
    ) -> Result<StatementResponse, DatabricksError> {
        let mut body = json!({
            "statement": request.statement,
            "warehouse_id": request.warehouse_id,
            "wait_timeout": wait_timeout(request.wait_timeout, remaining),
            "on_wait_timeout": match request.on_wait_timeout {
                OnWaitTimeout::Continue => "CONTINUE",
                OnWaitTimeout::Cancel => "CANCEL",
            },
            "disposition": "INLINE",
            "format": "JSON_ARRAY",
        });
        if let Some(catalog) = &request.catalog {
            body["catalog"] = json!(catalog);
        }
        if let Some(schema) = &request.schema {
            body["schema"] = json!(schema);
        }
        self.post(STATEMENTS, body, token).await
    }

    pub async fn get_statement(&self, token: &AccessToken, id: &str) -> Result<StatementResponse, DatabricksError> {
        self.get(&format!("{STATEMENTS}/{}", segment(id)), &[], token).await
    }

    pub async fn cancel_statement(&self, token: &AccessToken, id: &str) -> Result<(), DatabricksError> {
        self.post::<Value>(&format!("{STATEMENTS}/{}/cancel", segment(id)), json!({}), token).await.map(|_| ())
    }

    /// Runs a statement to its end: submits, polls until a terminal state,
    /// and cancels it on the warehouse when `deadline` passes or `cancel`
    /// fires. Transport errors (after retries) are `Err`; how the statement
    /// ended, failure included, is the `Ok` outcome.
    pub async fn execute_statement(
        &self,
        token: &AccessToken,
        request: &StatementRequest,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Result<StatementRun, DatabricksError> {
        self.execute_statement_with(token, request, deadline, cancel, Polling::default(), |_| {}).await
    }

    /// [`execute_statement`](Self::execute_statement) that hands the
    /// statement's id to `on_submitted` as soon as the warehouse accepted it,
    /// before any wait: a caller that records it can find the statement
    /// again after a restart ([`follow_statement`](Self::follow_statement)).
    /// `polling` says how often to look.
    pub async fn execute_statement_with(
        &self,
        token: &AccessToken,
        request: &StatementRequest,
        deadline: Instant,
        cancel: &CancellationToken,
        polling: Polling,
        on_submitted: impl FnOnce(&str),
    ) -> Result<StatementRun, DatabricksError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        // The submission is not raced against `cancel`: dropped mid-flight it
        // could leave a statement running that we hold no id for. It waits at
        // most `wait_timeout`, which fits the deadline.
        let submitted = self.submit_statement(token, request, remaining).await?;
        on_submitted(&submitted.statement_id);
        self.follow(token, submitted, deadline, cancel, polling).await
    }

    /// Follows a statement submitted earlier (by id) to its end, under the
    /// same deadline and cancellation rules as a new one.
    pub async fn follow_statement(
        &self,
        token: &AccessToken,
        id: &str,
        deadline: Instant,
        cancel: &CancellationToken,
        polling: Polling,
    ) -> Result<StatementRun, DatabricksError> {
        let current = self.get_statement(token, id).await?;
        self.follow(token, current, deadline, cancel, polling).await
    }

    async fn follow(
        &self,
        token: &AccessToken,
        mut current: StatementResponse,
        deadline: Instant,
        cancel: &CancellationToken,
        polling: Polling,
    ) -> Result<StatementRun, DatabricksError> {
        let id = current.statement_id.clone();
        let mut poll = polling.first;
        loop {
            if current.state()?.is_terminal() {
                return self.finish(token, current).await;
            }
            let reason = tokio::select! {
                _ = tokio::time::sleep(poll) => None,
                _ = tokio::time::sleep_until(deadline) => Some(CancelReason::Deadline),
                _ = cancel.cancelled() => Some(CancelReason::Caller),
            };
            if let Some(reason) = reason {
                let reason = match (reason, current.state()?) {
                    (CancelReason::Deadline, StatementState::Pending) => CancelReason::NotStarted,
                    (reason, _) => reason,
                };
                return self.cancel_and_settle(token, &id, reason).await;
            }
            poll = (poll * 2).min(polling.max.max(polling.first));
            current = self.get_statement(token, &id).await?;
        }
    }

    /// Cancels, then looks once more: a statement that ended meanwhile keeps
    /// its real outcome; one still going is reported cancelled.
    async fn cancel_and_settle(
        &self,
        token: &AccessToken,
        id: &str,
        reason: CancelReason,
    ) -> Result<StatementRun, DatabricksError> {
        tracing::info!(statement_id = id, ?reason, "cancelling a statement");
        self.cancel_statement(token, id).await?;
        let after = self.get_statement(token, id).await?;
        match after.state()? {
            StatementState::Succeeded | StatementState::Failed | StatementState::Closed => {
                self.finish(token, after).await
            }
            _ => Ok(StatementRun { statement_id: id.to_string(), outcome: StatementOutcome::Canceled { reason } }),
        }
    }

    async fn finish(&self, token: &AccessToken, response: StatementResponse) -> Result<StatementRun, DatabricksError> {
        let outcome = match response.state()? {
            StatementState::Succeeded => {
                let columns = response
                    .manifest
                    .as_ref()
                    .and_then(|m| m.schema.as_ref())
                    .map(|s| s.columns.iter().map(|c| c.name.clone()).collect())
                    .unwrap_or_default();
                let mut rows = Vec::new();
                let mut chunk = response.result.clone();
                for _ in 0..MAX_CHUNKS {
                    let Some(current) = chunk.take() else { break };
                    rows.extend(current.data_array);
                    if let Some(link) = current.next_chunk_internal_link {
                        chunk = Some(self.get(&link, &[], token).await?);
                    }
                }
                StatementOutcome::Succeeded { columns, rows }
            }
            StatementState::Failed => {
                let error = response.status.error.clone().unwrap_or_default();
                StatementOutcome::Failed {
                    error_code: error.error_code.unwrap_or_default(),
                    message: error.message.unwrap_or_default(),
                }
            }
            StatementState::Closed => StatementOutcome::Closed,
            _ => StatementOutcome::Canceled { reason: CancelReason::Server },
        };
        Ok(StatementRun { statement_id: response.statement_id, outcome })
    }

    /// `GET /api/2.0/sql/warehouses/{id}`: the warehouse's `state`
    /// (`STARTING`, `RUNNING`, `STOPPING`, `STOPPED`, `DELETING`, `DELETED`).
    /// Asking starts nothing; submitting a statement to a stopped warehouse
    /// starts it.
    pub async fn warehouse_state(&self, token: &AccessToken, warehouse_id: &str) -> Result<String, DatabricksError> {
        #[derive(Deserialize)]
        struct Warehouse {
            #[serde(default)]
            state: String,
        }
        let warehouse: Warehouse =
            self.get(&format!("/api/2.0/sql/warehouses/{}", segment(warehouse_id)), &[], token).await?;
        Ok(warehouse.state)
    }

    /// Runs a read-only statement until it answers with its rows: a
    /// transient failure (the warehouse's own trouble) and a `CLOSED` result
    /// (it ran, its rows are gone) are asked again after the client's
    /// backoff, for as long as `deadline` allows and the client's attempts
    /// last. Only statements that may run twice come here (reads).
    async fn run_for_rows(
        &self,
        token: &AccessToken,
        request: &StatementRequest,
        deadline: Instant,
    ) -> Result<StatementRun, DatabricksError> {
        let policy = self.retry_policy().clone();
        let mut retry = 0u32;
        loop {
            let run = self.execute_statement(token, request, deadline, &CancellationToken::new()).await?;
            let again = matches!(run.outcome, StatementOutcome::Closed) || run.outcome.is_transient_failure();
            let wait = policy.backoff(retry);
            if !again || retry + 1 >= policy.max_attempts.max(1) || Instant::now() + wait >= deadline {
                return Ok(run);
            }
            tracing::debug!(statement_id = %run.statement_id, retry, "asking a read again after a passing failure");
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    /// Runs a query to its end and returns its columns and rows; a failed
    /// or cancelled statement is an error here (a read has no use for half
    /// an answer). Transient failures and closed results are asked again
    /// within the deadline first.
    pub async fn query(
        &self,
        token: &AccessToken,
        warehouse_id: &str,
        sql: &str,
        deadline: Instant,
    ) -> Result<(Vec<String>, Vec<Vec<Option<String>>>), DatabricksError> {
        let request = StatementRequest::new(warehouse_id, sql);
        let run = self.run_for_rows(token, &request, deadline).await?;
        match run.outcome {
            StatementOutcome::Succeeded { columns, rows } => Ok((columns, rows)),
            outcome @ StatementOutcome::Failed { .. } => {
                let transient = outcome.is_transient_failure();
                let StatementOutcome::Failed { error_code, message } = outcome else { unreachable!() };
                // Still passing trouble when the time ran out: say so as a
                // transient error, so a caller may try later.
                if transient {
                    Err(DatabricksError::Unavailable { status: 200, code: error_code, message, retry_after: None })
                } else {
                    Err(DatabricksError::Api { status: 200, code: error_code, message })
                }
            }
            StatementOutcome::Canceled { reason: CancelReason::NotStarted } => {
                Err(not_started(warehouse_id, "the query"))
            }
            StatementOutcome::Canceled { .. } => Err(DatabricksError::Unavailable {
                status: 200,
                code: "CANCELED".into(),
                message: "the query did not finish in time".into(),
                retry_after: None,
            }),
            // The statement ran but its rows were gone every time it was asked.
            StatementOutcome::Closed => Err(DatabricksError::Unavailable {
                status: 200,
                code: "CLOSED".into(),
                message: "the query's result was closed before it was read".into(),
                retry_after: None,
            }),
        }
    }

    /// `SELECT current_metastore()`: this workspace's global metastore id
    /// (`azure:<region>:<uuid>`), the id Delta Sharing recipients name.
    pub async fn current_metastore(
        &self,
        token: &AccessToken,
        warehouse_id: &str,
        deadline: Instant,
    ) -> Result<String, DatabricksError> {
        let request = StatementRequest::new(warehouse_id, "SELECT current_metastore()");
        let run = self.run_for_rows(token, &request, deadline).await?;
        match run.outcome {
            StatementOutcome::Succeeded { rows, .. } => rows
                .into_iter()
                .next()
                .and_then(|row| row.into_iter().next().flatten())
                .filter(|id| !id.is_empty())
                .ok_or_else(|| DatabricksError::Protocol("current_metastore() returned no row".into())),
            StatementOutcome::Failed { error_code, message } => {
                Err(DatabricksError::Api { status: 200, code: error_code, message })
            }
            StatementOutcome::Closed => {
                Err(DatabricksError::Protocol("SELECT current_metastore() kept closing before its row was read".into()))
            }
            StatementOutcome::Canceled { reason: CancelReason::NotStarted } => {
                Err(not_started(warehouse_id, "SELECT current_metastore()"))
            }
            StatementOutcome::Canceled { .. } => Err(DatabricksError::Unavailable {
                status: 200,
                code: "CANCELED".into(),
                message: "SELECT current_metastore() did not finish in time".into(),
                retry_after: None,
            }),
        }
    }
}

/// A statement the warehouse never started before its deadline.
fn not_started(warehouse_id: &str, what: &str) -> DatabricksError {
    DatabricksError::Unavailable {
        status: 200,
        code: "WAREHOUSE_NOT_STARTED".into(),
        message: format!(
            "SQL warehouse {warehouse_id} did not start {what} in time: it is stopped and starting \
             (that takes minutes) or busy"
        ),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_timeout_is_one_the_api_accepts() {
        assert_eq!(wait_timeout(Duration::from_secs(10), Duration::from_secs(600)), "10s");
        assert_eq!(wait_timeout(Duration::from_secs(120), Duration::from_secs(600)), "50s");
        assert_eq!(wait_timeout(Duration::from_secs(3), Duration::from_secs(600)), "0s");
        assert_eq!(wait_timeout(Duration::from_secs(30), Duration::from_secs(7)), "7s", "never past the deadline");
        assert_eq!(wait_timeout(Duration::from_secs(30), Duration::from_secs(2)), "0s");
    }

    #[test]
    fn a_failed_statement_parses_with_its_error() {
        let response: StatementResponse = serde_json::from_value(json!({
            "statement_id": "01",
            "status": {"state": "FAILED", "error": {"error_code": "NOT_FOUND", "message": "[TABLE_OR_VIEW_NOT_FOUND] x"}}
        }))
        .unwrap();
        assert_eq!(response.state().unwrap(), StatementState::Failed);
        assert!(StatementState::Failed.is_terminal() && !StatementState::Running.is_terminal());
        let unknown: StatementResponse =
            serde_json::from_value(json!({"statement_id": "02", "status": {"state": "EXPLODED"}})).unwrap();
        assert!(unknown.state().is_err());
    }

    #[test]
    fn only_the_warehouse_s_own_trouble_is_a_transient_failure() {
        let failed = |code: &str| StatementOutcome::Failed { error_code: code.into(), message: String::new() };
        assert!(failed("INTERNAL_ERROR").is_transient_failure());
        for code in ["WORKSPACE_TEMPORARILY_UNAVAILABLE", "SERVICE_UNDER_MAINTENANCE", "RESOURCE_EXHAUSTED", "ABORTED"]
        {
            assert!(failed(code).is_transient_failure(), "{code}");
        }
        assert!(!StatementOutcome::Closed.is_transient_failure());
        assert!(!failed("BAD_REQUEST").is_transient_failure());
        assert!(!StatementOutcome::Canceled { reason: CancelReason::Deadline }.is_transient_failure());
    }

    #[test]
    fn polling_slows_down_to_a_ceiling() {
        let mut poll = Duration::from_millis(50);
        for _ in 0..20 {
            poll = next_poll(poll);
        }
        assert_eq!(poll, Duration::from_secs(5));
    }
}
