//! Workspace assets: what runs on a workspace besides the data (jobs,
//! notebooks, files, folders, git folders, cluster policies, clusters, SQL
//! warehouse definitions, secret scopes), read from both workspaces of a
//! pair, diffed into a plan of idempotent actions, and applied with a result
//! for every object: done, unchanged, blocked with why, or failed. Nothing is
//! skipped silently.
//!
//! Two shapes live here, built side by side and not yet one:
//! - the item framework ([`kind::AssetKind`], [`plan::AssetPlan`], [`apply`],
//!   [`run`]): kinds registered in [`kinds`] plan items that the operation
//!   engine runs for `replicate --assets` (the plan card, the run history,
//!   resume); [`jobs`] is its kind;
//! - the workspace kinds ([`workspace_kinds`], [`outcome`]): notebooks, files,
//!   git folders, policies, clusters, warehouses and secret scopes, each a
//!   typed model with a pure plan and an apply.

pub mod apply;
pub mod cluster_defs;
pub mod coverage;
pub mod grants;
pub mod history;
pub mod job_settings;
pub mod jobs;
pub mod kind;
pub mod kinds;
pub mod mapping;
pub mod outcome;
pub mod plan;
pub mod policies;
pub mod run;
pub mod secret_scopes;
pub mod text;
pub mod warehouse_defs;
pub mod workspace_kinds;
pub mod workspace_tree;

pub use apply::{apply, AssetEvent};
pub use kind::{AssetContext, AssetKind, AssetTokens};
pub use mapping::AssetMapping;
pub use plan::{AssetPlan, Change, ItemOutcome, ItemResult, PlanItem};
