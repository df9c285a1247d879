//! Workspace assets: what runs on a workspace besides the data (jobs,
//! notebooks, files, folders, git folders, cluster policies, clusters,
//! instance pools, SQL warehouse definitions, queries, alerts, AI/BI
//! dashboards, secret scopes), read from both workspaces of a
//! pair, diffed into a plan of idempotent actions, and applied with a result
//! for every object: done, unchanged, blocked with why, or failed. Nothing is
//! skipped silently.
//!
//! Every kind is an [`kind::AssetKind`] registered in [`kinds`]: it reads
//! both workspaces into plan items ([`plan::AssetPlan`]) and applies one
//! item; [`run`] and [`apply`] do the rest (stages, so what others refer to
//! is made first; resuming; one result per item) for `replicate --assets`,
//! the plan card, `status` and the run history.

pub mod apply;
pub mod cluster_defs;
pub mod coverage;
pub mod dashboards;
pub mod git_folders;
pub mod grants;
pub mod history;
pub mod job_settings;
pub mod jobs;
pub mod kind;
pub mod kinds;
pub mod mapping;
pub mod plan;
pub mod policies;
pub mod pools;
pub mod principals;
pub mod run;
pub mod secret_scopes;
pub mod sides;
pub mod sql_objects;
pub mod text;
pub mod warehouse_defs;
pub mod warehouse_refs;
pub mod workspace_tree;

pub use apply::{apply, AssetEvent};
pub use kind::{ApplyError, AssetContext, AssetKind, AssetOptions, AssetTokens, Stage};
pub use mapping::AssetMapping;
pub use plan::{AssetPlan, Change, ItemOutcome, ItemResult, PlanItem};
