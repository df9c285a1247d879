//! DR readiness: drift, RPO and health, computed from the replication snapshots.
//!
//! `drift` and `rpo` tally what `replication::diff` finds (so `status` and
//! `replicate --dry-run` agree); `report` puts them together with the
//! workspaces' reachability and the last run into a [`Readiness`] and a
//! verdict (pure); `text` renders it for a terminal; `check` is the I/O
//! (both workspaces read at once); `cli` is `drbot status`; `storage` finds
//! the paths replication cannot use on the secondary (blockers with their fix).

pub mod blockers;
pub mod check;
pub mod cli;
pub mod drift;
pub mod history;
pub mod inventory;
pub mod probe;
pub mod report;
pub mod rpo;
pub mod storage;
pub mod text;
pub mod trend;
pub mod unreplicable;

pub use blockers::{Blocker, WarehouseCheck};
pub use check::{check, check_with, Progress, Target};
pub use report::{
    assess, assess_observed, AssessOptions, LastRun, Observed, Offender, Problem, Reachability, Readiness, Side,
    Status, Verdict,
};
