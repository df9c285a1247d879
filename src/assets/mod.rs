//! Workspace assets (jobs today; notebooks, files, policies, warehouses and
//! secret scopes plug in as further kinds): what a failed-over workspace must
//! already have besides the data.
//!
//! Every kind works the same way, as Unity Catalog objects do in
//! `replication/`: it reads both workspaces of a pair ([`kind::AssetKind::plan`]),
//! diffs them into a [`plan::AssetPlan`] of idempotent items (pure, so the
//! diff is unit-tested without a workspace), and applies the plan item by
//! item ([`apply`]), each with its own result: done, unchanged, blocked with
//! a reason, failed with the error. Nothing is skipped silently: an object a
//! kind cannot copy (an unmapped principal, a policy with no counterpart) is a
//! blocked item with its reason.
//!
//! The framework knows no kind by name; [`jobs`] is the first kind.

pub mod apply;
pub mod coverage;
pub mod history;
pub mod job_settings;
pub mod jobs;
pub mod kind;
pub mod kinds;
pub mod mapping;
pub mod plan;
pub mod run;
pub mod text;

pub use apply::{apply, AssetEvent};
pub use kind::{AssetContext, AssetKind, AssetTokens};
pub use mapping::AssetMapping;
pub use plan::{AssetPlan, Change, ItemOutcome, ItemResult, PlanItem};
