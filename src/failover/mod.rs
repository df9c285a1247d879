//! Failover, failback and drills: carrying a pair from one side to the other.
//!
//! A runbook is a pure plan of steps over a pair ([`runbook`]), shown as a
//! card before anything changes, with the data loss it implies per table
//! ([`loss`]). Each step is idempotent and carries its own check, so a run
//! resumed from a checkpoint skips what is done ([`progress`]). The steps
//! that touch jobs work through a small trait ([`jobs`]) so they are planned
//! and tested without a workspace; the same for warehouses ([`warehouses`]).
//!
//! A pair whose replication Databricks' managed DR runs fails over through
//! its failover group ([`group`]), in a runbook of its own ([`managed`]) on
//! the same runner and checkpoints.
//!
//! The pair's active side is changed by one compare-and-set in the store
//! (`src/store/pairs.rs`): a pair is never active on both sides.
//! Nothing here names Teams.

pub mod aliases;
pub mod freeze;
pub mod group;
pub mod jobs;
pub mod loss;
pub mod managed;
pub mod mode;
pub mod progress;
pub mod run;
pub mod runbook;
pub mod text;
pub mod warehouses;
