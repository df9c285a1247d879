//! A deployment started from chat, as a durable operation.
//!
//! The operation row carries the latest [`DeployState`] checkpoint: a bot
//! that takes the operation over after a restart hands it back to
//! [`engine::run`], which follows the deployments ARM is still running
//! (deterministic names) instead of sending them again. A graceful shutdown
//! does not wait for a deployment that may take an hour: the runner lets go
//! and the lease runs out, so the next instance carries on. The engine
//! (`crate::ops`) does the lifecycle; this file is what is particular to a
//! deployment.

use std::collections::BTreeMap;
use std::sync::Weak;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::actor::ActingAs;
use super::deploy::DeployTokens;
use super::deploy_cards;
use super::{now_ms, Bot};
use crate::azure::ProvisioningState;
use crate::deploy::bootstrap::BootstrapSettings;
use crate::deploy::{
    self as engine, DeployEvent, DeployOutcome, DeployState, RegionPhase, ResourceProgress, Role, RunOptions,
    SpokeName, Target,
};
use crate::ops::{Ending, OperationKind, Running};
use crate::store::operations::{Operation, OperationState};
use crate::store::pairs::Origin;

/// The operation kind of a deployment.
pub(crate) const DEPLOYMENT: &str = "deployment";

/// The longest a region's deployment is followed.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

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
    pub canceling: bool,
}

impl DeployProgress {
    pub fn region(&self, role: Role) -> RegionProgress {
        self.regions.get(&role).cloned().unwrap_or_default()
    }

    fn on_event(&mut self, event: &DeployEvent) {
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
            DeployEvent::Bootstrap(step) => self.bootstrap.push(step.to_string()),
            DeployEvent::Checkpoint(_) => {}
        }
    }

    /// Every failed resource in both regions, for the result.
    fn failures(&self) -> Vec<Value> {
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

/// Deployment as an operation kind. It runs in Azure: this instance only
/// follows it, so letting go (a lost lease, a shutdown) never cancels it,
/// and the next owner follows the deployments ARM still runs.
pub(crate) struct Deployment(pub Weak<Bot>);

impl OperationKind for Deployment {
    type State = DeploymentJob;
    const NAME: &'static str = DEPLOYMENT;
    const DETACHED: bool = true;

    async fn run(&self, op: &Operation, job: DeploymentJob, running: &Running) -> Result<Ending, String> {
        self.0.upgrade().ok_or("the bot is shutting down")?.run_deployment(op, job, running).await
    }

    async fn result_card(&self, op: &Operation, job: DeploymentJob) -> Value {
        deploy_cards::result(op, &job)
    }
}

impl Bot {
    async fn run_deployment(
        &self,
        op: &Operation,
        mut job: DeploymentJob,
        running: &Running,
    ) -> Result<Ending, String> {
        let settings = &self.services.config.deploy;
        let tokens: DeployTokens = self.tokens_acting_as(&job.acting_as).await?.into();
        let client = self.arm_client();
        let plan = engine::prepare(&client, &tokens, settings, job.target.clone()).await.map_err(|e| e.to_string())?;
        let poll = self.deploy_poll_interval();
        let options = RunOptions {
            progress_interval: poll,
            poll_interval: poll,
            timeout: DEPLOY_TIMEOUT,
            bootstrap: matches!(job.target, Target::Spoke(_)).then(|| {
                BootstrapSettings::from_config(settings, reqwest::Client::new())
                    .with_replicator(self.services.config.bot.app_id.clone())
            }),
        };
        if job.checkpoint.is_some() {
            tracing::info!(operation = %op.id, "resuming a deployment from its checkpoint");
        }

        let (events, mut received) = mpsc::channel(256);
        let mut progress = DeployProgress::default();
        let saved = job.checkpoint.clone();
        let outcome = match saved.clone().filter(DeployState::is_finished) {
            // It ended before the last owner could record it: record it, do
            // not deploy again.
            Some(state) => Ok(outcome_of(state)),
            None => {
                let runner = engine::run(&client, &tokens, &plan, saved, &options, events, running.cancel().clone());
                tokio::pin!(runner);
                loop {
                    tokio::select! {
                        outcome = &mut runner => break outcome,
                        Some(event) = received.recv() => {
                            Self::on_deploy_event(&mut job, &mut progress, &event, running).await;
                            running.show(deploy_cards::progress(&op.id, &job, &progress, true));
                        }
                        // ARM goes on; whoever takes the operation over follows it.
                        _ = running.let_go() => return Ok(Ending::LetGo),
                    }
                }
            }
        };
        while let Ok(event) = received.try_recv() {
            Self::on_deploy_event(&mut job, &mut progress, &event, running).await;
        }

        let mut result = json!({ "target": job.target.label(), "failures": progress.failures() });
        let state = match outcome {
            Ok(outcome) => {
                job.checkpoint = Some(outcome.final_state.clone());
                let urls: serde_json::Map<String, Value> =
                    outcome.workspace_urls.iter().map(|(role, url)| (role.to_string(), json!(url))).collect();
                result["workspace_urls"] = Value::Object(urls);
                let state = match outcome.state {
                    ProvisioningState::Succeeded => OperationState::Succeeded,
                    ProvisioningState::Canceled => OperationState::Canceled,
                    _ => OperationState::Failed,
                };
                if state == OperationState::Failed && progress.failures().is_empty() {
                    // No resource failed on its own: the region's error says why.
                    let errors: Vec<String> = outcome
                        .final_state
                        .regions
                        .iter()
                        .filter_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.role)))
                        .collect();
                    result["error"] = json!(errors.join("; "));
                }
                state
            }
            Err(error) => {
                result["error"] = json!(error.to_string());
                OperationState::Failed
            }
        };
        if let (OperationState::Succeeded, Target::Spoke(spoke), Some(finished)) =
            (state, &job.target, job.checkpoint.as_ref())
        {
            result["pair"] = self.register_spoke_pair(op, spoke, finished).await;
        }
        result["outcome"] = json!(state.as_str());
        running.checkpoint(&job).await;
        Ok(Ending::Finished { state, result })
    }

    /// A spoke whose deployment and bootstrap succeeded is a DR pair from
    /// now on (a pair of that name already registered is left as it is).
    /// What the result records: the pair's name, or why it is not one.
    async fn register_spoke_pair(&self, op: &Operation, spoke: &SpokeName, finished: &DeployState) -> Value {
        let settings = BootstrapSettings::from_config(&self.services.config.deploy, self.services.http.clone());
        let pair = match engine::bootstrap::spoke_pair(spoke, &finished.regions, &settings) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(operation = %op.id, %error, "deployed spoke not registered as a pair");
                return json!({"error": error.to_string()});
            }
        };
        match self.services.store.add_pair(&pair, Origin::Deployed, now_ms()).await {
            Ok(added) => json!({"name": pair.name, "added": added}),
            Err(error) => {
                tracing::error!(operation = %op.id, %error, "deployed spoke's pair not stored");
                json!({"error": "the pair could not be stored"})
            }
        }
    }

    async fn on_deploy_event(
        job: &mut DeploymentJob,
        progress: &mut DeployProgress,
        event: &DeployEvent,
        running: &Running,
    ) {
        progress.on_event(event);
        if let DeployEvent::Checkpoint(state) = event {
            job.checkpoint = Some(state.clone());
            running.checkpoint(&*job).await;
        }
    }
}

/// The outcome a finished checkpoint records.
fn outcome_of(state: DeployState) -> DeployOutcome {
    let phases: Vec<RegionPhase> = state.regions.iter().map(|r| r.phase).collect();
    let provisioning = if phases.iter().all(|p| *p == RegionPhase::Succeeded) {
        ProvisioningState::Succeeded
    } else if phases.contains(&RegionPhase::Failed) {
        ProvisioningState::Failed
    } else {
        ProvisioningState::Canceled
    };
    let workspace_urls =
        state.regions.iter().filter_map(|r| Some((r.role, engine::bootstrap::workspace_url(&r.outputs)?))).collect();
    DeployOutcome { state: provisioning, final_state: state, workspace_urls, bootstrap: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::ProvisioningState;
    use crate::deploy::{plan, SpokeName, Templates};

    #[test]
    fn a_finished_checkpoint_is_recorded_not_deployed_again() {
        let config = crate::deploy::DeployConfig { subscription_id: "s".into(), ..Default::default() };
        let target = Target::Spoke(SpokeName::parse("a").unwrap());
        let plan = plan(&config, target, Templates::inline(json!({"resources": []}))).unwrap();
        let mut state = DeployState::new(&plan);
        for region in &mut state.regions {
            region.phase = RegionPhase::Succeeded;
            region.outputs.insert("workspaceUrl".into(), json!(format!("adb-{}.net", region.role)));
        }
        state.bootstrapped = true;
        let outcome = outcome_of(state.clone());
        assert_eq!(outcome.state, ProvisioningState::Succeeded);
        assert_eq!(outcome.workspace_urls[&Role::Secondary], "https://adb-secondary.net");
        state.regions[0].phase = RegionPhase::Failed;
        assert_eq!(outcome_of(state.clone()).state, ProvisioningState::Failed);
        state.regions[0].phase = RegionPhase::Canceled;
        assert_eq!(outcome_of(state).state, ProvisioningState::Canceled);
    }

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
