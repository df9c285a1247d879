//! What a deployment's progress card shows, built from the run's events:
//! each region's resources as last reported, the bootstrap's steps, and
//! whether a cancel was asked. Pure: the operation (`src/bot/deploy_run.rs`) feeds
//! it events, the cards (`src/bot/deploy_cards.rs`) read it.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::azure::ProvisioningState;
use crate::deploy::{DeployEvent, ResourceProgress, Role};

/// One region's resources as last reported.
#[derive(Clone, Debug, Default)]
pub(crate) struct RegionProgress {
    resources: BTreeMap<String, ResourceProgress>,
    pub phase: Option<String>,
}

impl RegionProgress {
    pub fn seen(&self) -> usize {
        self.resources.len()
    }

    pub fn done(&self) -> usize {
        self.resources.values().filter(|r| r.state.is_terminal()).count()
    }

    /// The first resource still in progress, as `type name`.
    pub fn current(&self) -> Option<String> {
        self.resources
            .values()
            .find(|r| !r.state.is_terminal())
            .map(|r| format!("{} {}", r.resource_type, r.resource_name))
    }

    /// `(type name, error)` of each failed resource.
    pub fn failures(&self) -> Vec<(String, String)> {
        self.resources
            .values()
            .filter(|r| r.state == ProvisioningState::Failed)
            .map(|r| {
                (format!("{} {}", r.resource_type, r.resource_name), r.error.clone().unwrap_or_else(|| "failed".into()))
            })
            .collect()
    }
}

/// What the progress card shows, built from the run's events.
#[derive(Clone, Debug, Default)]
pub(crate) struct DeployProgress {
    regions: BTreeMap<Role, RegionProgress>,
    /// Bootstrap steps done, in order.
    pub bootstrap: Vec<String>,
    /// Bootstrap steps a person must still do (who, and what).
    pub needs: Vec<String>,
    pub canceling: bool,
}

impl DeployProgress {
    pub fn region(&self, role: Role) -> RegionProgress {
        self.regions.get(&role).cloned().unwrap_or_default()
    }

    pub(crate) fn on_event(&mut self, event: &DeployEvent) {
        match event {
            DeployEvent::Resource(resource) => {
                let key = format!("{}/{}", resource.resource_type, resource.resource_name);
                self.regions.entry(resource.role).or_default().resources.insert(key, resource.clone());
            }
            DeployEvent::Submitted { role, .. } | DeployEvent::Following { role, .. } => {
                self.regions.entry(*role).or_default().phase = Some("running".into());
            }
            DeployEvent::Skipped { role, .. } => {
                self.regions.entry(*role).or_default().phase = Some("already deployed".into());
            }
            DeployEvent::RegionFinished { role, state, .. } => {
                self.regions.entry(*role).or_default().phase = Some(state.as_str().to_lowercase());
            }
            DeployEvent::CancelRequested { .. } => self.canceling = true,
            DeployEvent::Bootstrap(step) => {
                if step.outcome == crate::deploy::StepOutcome::NeedsAction {
                    self.needs.push(step.to_string());
                }
                self.bootstrap.push(step.to_string());
            }
            DeployEvent::Checkpoint(_) => {}
        }
    }

    /// Every failed resource in both regions, for the result.
    pub(crate) fn failures(&self) -> Vec<Value> {
        Role::BOTH
            .iter()
            .flat_map(|role| {
                self.region(*role).failures().into_iter().map(
                    move |(resource, error)| json!({"region": role.as_str(), "resource": resource, "error": error}),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_resources_per_region_and_names_failures() {
        let mut progress = DeployProgress::default();
        let resource = |name: &str, state: ProvisioningState, error: Option<&str>| {
            DeployEvent::Resource(ResourceProgress {
                role: Role::Primary,
                resource_type: "T".into(),
                resource_name: name.into(),
                state,
                duration: None,
                error: error.map(str::to_string),
            })
        };
        progress.on_event(&resource("a", ProvisioningState::Running, None));
        progress.on_event(&resource("b", ProvisioningState::Succeeded, None));
        assert_eq!((progress.region(Role::Primary).done(), progress.region(Role::Primary).seen()), (1, 2));
        assert_eq!(progress.region(Role::Primary).current().as_deref(), Some("T a"));
        progress.on_event(&resource("a", ProvisioningState::Failed, Some("quota")));
        assert_eq!(progress.region(Role::Primary).failures(), vec![("T a".to_string(), "quota".to_string())]);
        assert_eq!(progress.failures()[0]["region"], "primary");
        assert_eq!(progress.region(Role::Secondary).seen(), 0);
    }
}
