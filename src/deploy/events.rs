//! What a deployment run reports and checkpoints: each region's state, the
//! progress events the chat layer (cards) and the CLI (lines) show, and the
//! bootstrap's steps. Its own file because both the runner ([`super::run`])
//! and the bootstrap ([`super::bootstrap`]) produce them, and neither should
//! depend on the other for their shape.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::plan::{Plan, Role, Target};
use crate::azure::{DeploymentRef, ProvisioningState};

/// Where one region's deployment stands, as checkpointed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionPhase {
    /// Not yet sent to ARM.
    Pending,
    /// ARM accepted it; it may be running.
    Submitted,
    Succeeded,
    Failed,
    Canceled,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegionState {
    pub role: Role,
    pub deployment: DeploymentRef,
    pub phase: RegionPhase,
    /// The template's outputs (values by name) once it succeeded.
    #[serde(default)]
    pub outputs: Map<String, Value>,
    #[serde(default)]
    pub error: Option<String>,
}

/// The durable checkpoint of a deployment run: store it, hand it back to
/// [`run`](super::run()) after a restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeployState {
    pub target: Target,
    pub regions: Vec<RegionState>,
    #[serde(default)]
    pub bootstrapped: bool,
    /// The engine's SQL warehouse the bootstrap found or made in the
    /// secondary: the pair registered from this run records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse_id: Option<String>,
}

impl DeployState {
    pub fn new(plan: &Plan) -> DeployState {
        DeployState {
            target: plan.target.clone(),
            regions: plan
                .regions
                .iter()
                .map(|r| RegionState {
                    role: r.role,
                    deployment: r.deployment.clone(),
                    phase: RegionPhase::Pending,
                    outputs: Map::new(),
                    error: None,
                })
                .collect(),
            bootstrapped: false,
            warehouse_id: None,
        }
    }

    pub fn region(&self, role: Role) -> Option<&RegionState> {
        self.regions.iter().find(|r| r.role == role)
    }

    /// Whether this run ended for good: every region ended and, for a spoke
    /// that succeeded, the bootstrap ran. A finished checkpoint is history,
    /// not something to resume: running again deploys again.
    pub fn is_finished(&self) -> bool {
        let ended = self.regions.iter().all(|r| !matches!(r.phase, RegionPhase::Pending | RegionPhase::Submitted));
        let succeeded = self.regions.iter().all(|r| r.phase == RegionPhase::Succeeded);
        ended && (!succeeded || self.bootstrapped || !matches!(self.target, Target::Spoke(_)))
    }

    /// How the run stands as a whole: succeeded when every region did,
    /// failed when one failed, cancelled otherwise.
    pub fn provisioning_state(&self) -> ProvisioningState {
        if self.regions.iter().all(|r| r.phase == RegionPhase::Succeeded) {
            ProvisioningState::Succeeded
        } else if self.regions.iter().any(|r| r.phase == RegionPhase::Failed) {
            ProvisioningState::Failed
        } else {
            ProvisioningState::Canceled
        }
    }

    pub(super) fn region_mut(&mut self, role: Role) -> Option<&mut RegionState> {
        self.regions.iter_mut().find(|r| r.role == role)
    }
}

/// One resource's progress, from its deployment operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceProgress {
    pub role: Role,
    pub resource_type: String,
    pub resource_name: String,
    pub state: ProvisioningState,
    pub duration: Option<Duration>,
    /// The failing resource's own error message.
    pub error: Option<String>,
}

/// What the chat layer (cards) and the CLI (lines) show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DeployEvent {
    /// The deployment was sent to ARM.
    Submitted {
        role: Role,
        deployment: String,
    },
    /// A deployment of this name was already running: followed, not sent again.
    Following {
        role: Role,
        deployment: String,
    },
    /// Already succeeded (a resumed run): nothing to do in this region.
    Skipped {
        role: Role,
        deployment: String,
    },
    Resource(ResourceProgress),
    /// The region's deployment ended.
    RegionFinished {
        role: Role,
        state: ProvisioningState,
        error: Option<String>,
    },
    /// Cancel was asked of ARM for this region.
    CancelRequested {
        role: Role,
    },
    Bootstrap(BootstrapStep),
    /// A durable checkpoint: store it to resume after a restart.
    Checkpoint(DeployState),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Created,
    AlreadyExisted,
    /// Not needed here (no metastore configured for the region).
    Skipped,
    /// Not done: the step's detail says what is missing and who must do it.
    NeedsAction,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapStep {
    pub role: Role,
    /// What was done, e.g. `external location sales_delta`.
    pub step: String,
    pub outcome: StepOutcome,
    /// What a person must still do (an approval, an account admin's step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl BootstrapStep {
    pub(super) fn new(role: Role, step: String, outcome: StepOutcome) -> BootstrapStep {
        BootstrapStep { role, step, outcome, detail: None }
    }
}

impl fmt::Display for BootstrapStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match self.outcome {
            StepOutcome::Created => "done",
            StepOutcome::AlreadyExisted => "already there",
            StepOutcome::Skipped => "skipped",
            StepOutcome::NeedsAction => "not done",
        };
        write!(f, "{}: {} {outcome}", self.role, self.step)?;
        match &self.detail {
            Some(detail) => write!(f, " ({detail})"),
            None => Ok(()),
        }
    }
}
