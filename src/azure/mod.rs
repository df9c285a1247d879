//! Azure Resource Manager over REST: the client and its errors ([`arm`]),
//! long-running-operation polling ([`lro`]), template deployments with
//! What-If and their operations ([`deployments`]), a storage account's
//! failover ([`storage_failover`]) and private DNS record sets ([`private_dns`]).
//!
//! Nothing here knows about Teams or Databricks: the deploy domain
//! (`crate::deploy`) decides what to deploy, this module only speaks ARM.

pub mod arm;
pub mod deployments;
pub mod locations;
pub mod lro;
pub mod private_dns;
pub mod storage_failover;

pub use arm::{ArmClient, ArmError, ArmErrorBody, RetryPolicy};
pub use deployments::{
    ChangeType, Deployment, DeploymentOperation, DeploymentRef, ProvisioningState, Started, WhatIfChange, WhatIfResult,
};
pub use lro::PollOptions;
