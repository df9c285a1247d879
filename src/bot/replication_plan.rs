//! What a replication plan is once stored: the plan a person read, and how
//! its actions are headed on the plan and progress cards. Its own file
//! because the command that makes the plan (`src/bot/replicate.rs`) and the
//! operation that runs it (`src/bot/replication_run.rs`) both read it.

use serde::{Deserialize, Serialize};

use crate::assets::coverage::Coverage;
use crate::assets::AssetPlan;
use crate::replication::plan::{ActionKind, Plan};

/// What a stored replication plan holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredReplicationPlan {
    pub plan: Plan,
    pub catalog: Option<String>,
    pub requested_by: String,
    /// The pair it was read from (plans made before pairs are `default`'s).
    #[serde(default)]
    pub pair: Option<String>,
    /// Made by `replicate --dry-run`: shown, never run.
    #[serde(default)]
    pub dry_run: bool,
    /// Data, workspace assets or both (plans made before assets are data).
    #[serde(default)]
    pub coverage: Coverage,
    /// The workspace assets' plan, when the coverage has them.
    #[serde(default)]
    pub assets: AssetPlan,
}

/// The plan card's heading for a kind of action.
pub(crate) fn kind_label(kind: &ActionKind) -> &'static str {
    match kind {
        ActionKind::CreateCatalog { .. } => "Create catalog",
        ActionKind::UpdateCatalog { .. } | ActionKind::UpdateSchema { .. } => "Update comment and properties",
        ActionKind::CreateSchema { .. } => "Create schema",
        ActionKind::CreateRecipient { .. }
        | ActionKind::CreateShare
        | ActionKind::AddSchemasToShare { .. }
        | ActionKind::GrantShareSelect { .. }
        | ActionKind::TransferShare { .. }
        | ActionKind::MountSharedCatalog { .. } => "Set up Delta Sharing",
        ActionKind::CloneTable { .. } => "Deep clone table",
        ActionKind::RegisterExternalTable { .. } => "Register external table",
        ActionKind::CreateView { .. } => "Create view",
        ActionKind::CreateDataset { .. } => "Create materialized view or streaming table",
        ActionKind::CreateExternalVolume { .. } | ActionKind::CreateManagedVolume { .. } => "Create volume",
        ActionKind::CopyVolumeFiles(_) => "Copy volume files",
        ActionKind::CreateFunction { .. } => "Create function",
        ActionKind::SetRowFilter { .. } | ActionKind::SetColumnMask { .. } => "Set row filters and column masks",
        ActionKind::AddConstraint { .. } | ActionKind::DropConstraint { .. } => "Set primary and foreign keys",
        ActionKind::Grant { .. } | ActionKind::Revoke { .. } => "Update grants",
        ActionKind::SetOwner { .. } => "Set owner",
        ActionKind::Model(_) => "Registered models",
        ActionKind::Metadata(_) => "Set comments, tags and properties",
        ActionKind::Drop => "Drop (prune)",
        ActionKind::Blocked(_) => "Cannot replicate",
    }
}
