//! The asset kinds this build replicates, in the order they are planned
//! and applied (what others refer to first: policies and notebooks before
//! the jobs that name them). A new kind is one line here.

use super::jobs::Jobs;
use super::kind::AssetKind;

/// Every kind, in order.
pub fn registered() -> Vec<&'static dyn AssetKind> {
    vec![&Jobs]
}
