//! What a runbook carries from its card to its run: the runbook as people
//! read and approved it, and the operation's state (the runbook, whose
//! identity it acts with, where its card is, and the checkpoint).

use serde::{Deserialize, Serialize};

use super::actor::ActingAs;
use crate::failover::progress::Progress;
use crate::failover::run::RunOptions;
use crate::failover::runbook::Runbook;

/// A runbook as its card showed it, stored until enough people approve it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredRunbook {
    pub runbook: Runbook,
    /// Display name of who asked for it.
    pub requested_by: String,
    /// Who the run acts as: the person who asked for it (they hold the
    /// failover role, and Databricks and Azure judge what they may change),
    /// whoever's approval completes the count.
    pub acting_as: ActingAs,
    pub planned_ms: i64,
    /// Asked for with `--override`: approving it goes on despite the
    /// preflight's blockers and a final sync that did not prove every table.
    pub override_checks: bool,
}

/// What the operation row carries for a runbook's run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RunbookJob {
    /// The stored runbook it runs (its approvals are kept under this id).
    pub plan_id: String,
    pub runbook: Runbook,
    pub options: RunOptions,
    pub acting_as: ActingAs,
    pub service_url: String,
    /// Who approved it, by name, in order.
    pub approved_by: Vec<String>,
    /// The checkpoint: which steps are over and what they recorded.
    pub progress: Progress,
    /// Started by the pair's drill schedule, as the bot: only a drill that
    /// did not succeed is posted (where the schedule was set).
    #[serde(default)]
    pub scheduled: bool,
}
