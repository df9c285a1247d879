//! Unity Catalog replication from the primary workspace to the secondary: snapshot, plan, execute.
//!
//! `snapshot` is the shared picture of one metastore; planning is a pure
//! function of two snapshots and the configuration; execution and reading
//! are the I/O at the edges.
//!
//! The pure part: `config` (what and under which names), `diff` (the drift
//! readiness shows), `planner::plan` (drift → `plan::Plan`, an ordered
//! graph of idempotent actions), `sql` (an action → SQL or a typed REST
//! call) and `model` (what each action does, for the tests). The I/O:
//! `read` (a workspace → a snapshot) and `execute` (a graph run with
//! bounded concurrency).

pub mod apply;
pub mod bulk;
pub mod config;
pub mod constraints;
pub mod dataset;
pub mod datasets;
pub mod describe;
pub mod diff;
pub mod execute;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod freshness;
pub mod history;
pub mod job;
pub mod mapping;
pub mod metadata;
pub mod metadata_action;
pub mod metadata_change;
pub mod model;
pub mod model_info;
pub mod models;
pub mod models_read;
pub mod object;
pub mod plan;
pub mod planner;
pub mod principal_map;
pub mod principal_survey;
pub mod principals;
#[cfg(test)]
mod properties;
pub mod read;
pub mod run;
#[cfg(test)]
mod seeded;
pub mod slots;
pub mod snapshot;
pub mod sql;
pub mod sql_quote;
pub mod storage;
pub mod storage_arrival;
pub mod tags;
pub mod volume_copy;
pub mod volume_files;
pub mod volume_survey;
pub mod workspaces;

pub use config::ReplicationConfig;
pub use diff::{diff, Change, Drift, DriftKind};
pub use plan::{Action, ActionId, ActionKind, Plan};
pub use planner::plan;
