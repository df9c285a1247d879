//! Whether a pair can work at all: both workspaces answer and the warehouse
//! exists. Asked before a pair is added (in chat and on the command line),
//! so a typo in a URL or a warehouse id is refused with what is wrong
//! instead of failing later, in the middle of a replication.

use std::time::Duration;

use crate::databricks::{RetryPolicy, WorkspaceClient};
use crate::identity::AccessToken;
use crate::pairs::Pair;

/// How long each question may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// What stops `pair` from working, one sentence each; empty when nothing does.
/// One attempt each, with a short limit: a person is waiting for the answer,
/// and a workspace that does not answer now is the answer.
pub async fn problems(pair: &Pair, http: &reqwest::Client, token: &AccessToken) -> Vec<String> {
    let client = |url: &str| {
        WorkspaceClient::new(http.clone(), url).with_retry(RetryPolicy::none()).with_request_timeout(PROBE_TIMEOUT)
    };
    let (primary, secondary) = (client(&pair.primary.url), client(&pair.secondary.url));
    // Asking for a warehouse's state starts nothing (`GET /api/2.0/sql/warehouses/{id}`).
    let warehouse = async {
        match &pair.warehouse_id {
            Some(id) => secondary.warehouse_state(token, id).await.err().map(|e| format!("warehouse {id}: {e}")),
            None => Some("no warehouse given (warehouse=ID: the secondary's SQL warehouse)".into()),
        }
    };
    // Optional, but a given one must be the primary's: an id names a warehouse in one workspace.
    let primary_warehouse = async {
        let id = pair.primary_warehouse_id.as_ref()?;
        primary.warehouse_state(token, id).await.err().map(|e| format!("primary_warehouse {id}: {e}"))
    };
    let (primary_answer, secondary_answer, warehouse, primary_warehouse) = tokio::join!(
        primary.metastore_summary(token),
        secondary.metastore_summary(token),
        warehouse,
        primary_warehouse
    );
    let mut problems = Vec::new();
    if let Err(error) = primary_answer {
        problems.push(format!("the primary {} does not answer: {error}", pair.primary.host()));
    }
    if let Err(error) = secondary_answer {
        problems.push(format!("the secondary {} does not answer: {error}", pair.secondary.host()));
    }
    problems.extend(warehouse);
    problems.extend(primary_warehouse);
    problems
}
