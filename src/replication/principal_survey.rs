//! Before planning: which of the principals a plan would name on the
//! secondary its metastore does not know (`principals.rs`).
//!
//! Only principals the secondary's snapshot does not already name are asked
//! about (an owner or a grantee there exists: Unity Catalog accepted it),
//! one SCIM lookup each on the secondary workspace (`src/databricks/scim.rs`),
//! a few at a time. A lookup that fails (a refusal, a fault) leaves its
//! principal unjudged: planned as usual, and Databricks' own answer decides
//! when the statement runs. Principal names are personal data: only counts
//! are logged.

use futures::stream::{self, StreamExt};

use super::config::ReplicationConfig;
use super::principals::to_look_up;
use super::snapshot::Snapshot;
use crate::databricks::WorkspaceClient;
use crate::identity::AccessToken;

/// What the survey found, for a log line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Surveyed {
    pub asked: usize,
    pub unknown: usize,
    pub unanswered: usize,
}

/// Records in `secondary.unknown_principals` every principal the plan
/// would name there and the secondary's workspace does not have.
pub async fn survey(
    client: &WorkspaceClient,
    token: &AccessToken,
    primary: &Snapshot,
    secondary: &mut Snapshot,
    config: &ReplicationConfig,
    concurrency: usize,
) -> Surveyed {
    let names = to_look_up(primary, secondary, config);
    let mut surveyed = Surveyed { asked: names.len(), ..Surveyed::default() };
    let mut answers = stream::iter(names)
        .map(|name| async move {
            let found = client.has_principal(token, &name).await;
            (name, found)
        })
        .buffer_unordered(concurrency.max(1));
    while let Some((name, found)) = answers.next().await {
        match found {
            Ok(true) => {}
            Ok(false) => {
                surveyed.unknown += 1;
                secondary.unknown_principals.insert(name);
            }
            Err(error) => {
                surveyed.unanswered += 1;
                tracing::warn!(error = %error, "a principal could not be looked up on the secondary; it is planned as known");
            }
        }
    }
    if surveyed.asked > 0 {
        tracing::info!(
            asked = surveyed.asked,
            unknown = surveyed.unknown,
            unanswered = surveyed.unanswered,
            "principals looked up on the secondary"
        );
    }
    surveyed
}
