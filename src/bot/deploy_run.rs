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

use std::sync::Weak;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::actor::DeployTokens;
use super::deploy_cards;
use super::deploy_job::DeploymentJob;
use super::deploy_progress::DeployProgress;
use super::error::RunError;
use super::{now_ms, Bot};
use crate::azure::ProvisioningState;
use crate::deploy::bootstrap::BootstrapSettings;
use crate::deploy::{self as engine, DeployEvent, DeployOutcome, DeployState, RunOptions, SpokeName, Target};
use crate::ops::{Ending, OperationKind, Running};
use crate::pairs::Pair;
use crate::store::operations::{Kind, Operation, Outcome};
use crate::store::pairs::Origin;

/// The longest a region's deployment is followed.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// Deployment as an operation kind. It runs in Azure: this instance only
/// follows it, so letting go (a lost lease, a shutdown) never cancels it,
/// and the next owner follows the deployments ARM still runs.
pub(crate) struct Deployment(pub Weak<Bot>);

impl OperationKind for Deployment {
    type State = DeploymentJob;
    type Error = RunError;
    const KIND: Kind = Kind::Deployment;
    const DETACHED: bool = true;

    async fn run(&self, op: &Operation, job: DeploymentJob, running: &Running) -> Result<Ending, RunError> {
        self.0.upgrade().ok_or(RunError::ShuttingDown)?.run_deployment(op, job, running).await
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
    ) -> Result<Ending, RunError> {
        let settings = &self.services.config.deploy;
        let tokens: DeployTokens = self.tokens_acting_as(&job.acting_as).await?.into();
        let client = self.arm_client();
        let plan = engine::prepare(&client, &tokens, settings, job.target.clone()).await?;
        let poll = self.deploy_poll_interval();
        let options = RunOptions {
            progress_interval: poll,
            poll_interval: poll,
            timeout: DEPLOY_TIMEOUT,
            bootstrap: matches!(job.target, Target::Spoke(_))
                .then(|| BootstrapSettings::for_bot(&self.services.config, crate::http_client::client())),
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
        // What the bootstrap left to a person: on the result card, and kept
        // in the result for `status PAIR` to name as blockers later.
        if !progress.needs.is_empty() {
            result["needs"] = json!(progress.needs);
        }
        let outcome = match outcome {
            Ok(outcome) => {
                job.checkpoint = Some(outcome.final_state.clone());
                let urls: serde_json::Map<String, Value> =
                    outcome.workspace_urls.iter().map(|(role, url)| (role.to_string(), json!(url))).collect();
                result["workspace_urls"] = Value::Object(urls);
                let ended = match outcome.state {
                    ProvisioningState::Succeeded => Outcome::Succeeded,
                    ProvisioningState::Canceled => Outcome::Canceled,
                    _ => Outcome::Failed,
                };
                if ended == Outcome::Failed && progress.failures().is_empty() {
                    // No resource failed on its own: the region's error says why.
                    let errors: Vec<String> = outcome
                        .final_state
                        .regions
                        .iter()
                        .filter_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.role)))
                        .collect();
                    result["error"] = json!(errors.join("; "));
                }
                ended
            }
            Err(error) => {
                result["error"] = json!(error.to_string());
                Outcome::Failed
            }
        };
        if let (Outcome::Succeeded, Target::Spoke(spoke), Some(finished)) =
            (outcome, &job.target, job.checkpoint.as_ref())
        {
            result["pair"] = self.register_spoke_pair(op, spoke, finished).await;
        }
        result["outcome"] = json!(outcome.as_str());
        running.checkpoint(&job).await;
        Ok(Ending::Finished { outcome, result })
    }

    /// A spoke whose deployment and bootstrap succeeded is a DR pair from
    /// now on (a pair of that name already registered is left as it is).
    /// What the result records: the pair's name, or why it is not one.
    async fn register_spoke_pair(&self, op: &Operation, spoke: &SpokeName, finished: &DeployState) -> Value {
        let settings = BootstrapSettings::from_config(&self.services.config.deploy, self.services.http.clone());
        let pair = match engine::bootstrap::spoke_pair(spoke, &finished.regions, &settings) {
            Ok(pair) => Pair { warehouse_id: finished.warehouse_id.clone(), ..pair },
            Err(error) => {
                tracing::warn!(operation = %op.id, %error, "deployed spoke not registered as a pair");
                return json!({"error": error.to_string()});
            }
        };
        let store = &self.services.store;
        match store.add_pair(&pair, Origin::Deployed, now_ms()).await {
            Ok(true) => json!({"name": pair.name, "added": true}),
            // Deployed again: a warehouse the first bootstrap could not make is the pair's now.
            Ok(false) => {
                let set = match &pair.warehouse_id {
                    Some(id) => store.set_missing_warehouse(&pair.name, id, now_ms()).await.unwrap_or_else(|error| {
                        tracing::error!(operation = %op.id, %error, "the deployed warehouse not stored on the pair");
                        false
                    }),
                    None => false,
                };
                json!({"name": pair.name, "added": false, "warehouse_set": set})
            }
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
    let provisioning = state.provisioning_state();
    let workspace_urls =
        state.regions.iter().filter_map(|r| Some((r.role, engine::bootstrap::workspace_url(&r.outputs)?))).collect();
    DeployOutcome { state: provisioning, final_state: state, workspace_urls, bootstrap: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::{plan, RegionPhase, Role, SpokeName, Templates};

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
}
