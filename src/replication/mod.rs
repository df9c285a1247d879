//! Unity Catalog replication from the primary workspace to the secondary: snapshot, plan, execute.
//!
//! `snapshot` is the shared picture of one metastore; planning is a pure
//! function of two snapshots and the configuration; execution and reading
//! are the I/O at the edges.

pub mod config;
pub mod diff;
#[cfg(test)]
mod fixtures;
pub mod mapping;
pub mod model;
pub mod object;
pub mod plan;
pub mod planner;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod seeded;
pub mod snapshot;
pub mod sql;
