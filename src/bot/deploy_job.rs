//! What a deployment from chat keeps in the store: the plan as the What-If
//! showed it and as it was approved, and the operation's job (what a
//! restarted instance needs to follow the deployment on). Its own file
//! because the command (`src/bot/deploy.rs`), the operation (`src/bot/deploy_run.rs`) and
//! the cards (`src/bot/deploy_cards.rs`) all read them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::actor::{ActingAs, Actor};
use crate::deploy::{DeployState, Role, Target, WhatIfSummary};

/// Someone who approved a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Approver {
    pub oid: Option<String>,
    pub upn: String,
    pub name: String,
}

impl Approver {
    pub(crate) fn of(actor: &Actor) -> Approver {
        Approver {
            oid: actor.oid().map(str::to_string),
            upn: actor.upn().to_string(),
            name: actor.display_name().to_string(),
        }
    }

    /// The same person: by object id when both have one, else by UPN.
    pub(crate) fn same_person(&self, other: &Approver) -> bool {
        match (&self.oid, &other.oid) {
            (Some(a), Some(b)) => a == b,
            _ => self.upn.eq_ignore_ascii_case(&other.upn),
        }
    }
}

/// What a stored deployment plan holds: the What-If shown, and who approved.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredDeployPlan {
    pub target: Target,
    pub what_if: WhatIfSummary,
    pub requested_by: String,
    pub planned_ms: i64,
    #[serde(default)]
    pub approvals: Vec<Approver>,
}

/// What the operation row carries for a deployment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct DeploymentJob {
    pub plan_id: String,
    pub target: Target,
    pub acting_as: ActingAs,
    pub service_url: String,
    /// Display name of who started it (the last approver).
    pub started_by: String,
    #[serde(default)]
    pub approved_by: Vec<String>,
    pub started_ms: i64,
    /// The approving turn's id, on every failure card.
    pub correlation_id: String,
    /// Resources per region the What-If expects.
    #[serde(default)]
    pub expected: BTreeMap<Role, usize>,
    /// The latest checkpoint: resumed from after a restart.
    #[serde(default)]
    pub checkpoint: Option<DeployState>,
}
