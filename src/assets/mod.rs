//! Workspace assets: what runs on a workspace (notebooks, files, folders,
//! git folders, cluster policies, clusters, SQL warehouse definitions,
//! secret scopes),
//! read from both workspaces of a pair, diffed into a plan of idempotent
//! actions, and applied with a result for every object.
//!
//! Each kind keeps the same shape: a typed model read from both sides, a
//! pure `plan` (unit-tested), and an `apply` that reports each object done,
//! unchanged, blocked (with why) or failed. [`workspace_kinds`] runs them
//! all; [`outcome`] holds what they share.

pub mod cluster_defs;
pub mod grants;
pub mod outcome;
pub mod policies;
pub mod secret_scopes;
pub mod warehouse_defs;
pub mod workspace_kinds;
pub mod workspace_tree;
