//! Running a plan: both regions' deployments at once, each followed through
//! its deployment operations so every resource reports its state, then the
//! Databricks bootstrap when both succeeded.
//!
//! Restarts: the caller stores each [`DeployEvent::Checkpoint`]. Given the
//! last one, [`run`] asks ARM for the same (deterministic) deployments
//! first: one still running is followed, not PUT again (ARM would refuse
//! with `DeploymentActive`, and a second PUT restarts the clock); one that
//! succeeded meanwhile is skipped. Without a checkpoint a deployment that is
//! already running is followed too, and a finished one is deployed again
//! (the template may have changed since).
//!
//! Cancel: the token stops nothing by itself; it makes the runner ask ARM to
//! cancel both deployments and then follow them to `Canceled`, so the
//! outcome reports what Azure actually did.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::bootstrap::{self, BootstrapReport, BootstrapSettings};
use super::events::{DeployEvent, DeployState, RegionPhase, ResourceProgress};
use super::plan::{Plan, Role, Target};
use super::{DeployError, Tokens};
use crate::azure::{ArmClient, ArmError, DeploymentOperation, DeploymentRef, PollOptions, ProvisioningState, Started};
use crate::identity::{AccessToken, ARM_SCOPE};

/// How long one token is used to follow a deployment before asking for a fresh one.
const TOKEN_REFRESH: Duration = Duration::from_secs(600);

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeployOutcome {
    /// Succeeded only when both regions (and the bootstrap) did; Canceled
    /// when cancelled; Failed otherwise.
    pub state: ProvisioningState,
    pub final_state: DeployState,
    /// `https://…` of each region's workspace (spokes only).
    pub workspace_urls: BTreeMap<Role, String>,
    pub bootstrap: Option<BootstrapReport>,
}

#[derive(Clone, Debug)]
pub struct RunOptions {
    /// How often deployment operations are listed for progress.
    pub progress_interval: Duration,
    /// The poll interval when ARM sends no `Retry-After`.
    pub poll_interval: Duration,
    /// The longest a region's deployment is followed.
    pub timeout: Duration,
    /// The Databricks bootstrap after a spoke deployed; `None` skips it.
    pub bootstrap: Option<BootstrapSettings>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            progress_interval: Duration::from_secs(5),
            poll_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(3 * 3600),
            bootstrap: None,
        }
    }
}

/// Events out, and the checkpoint both region tasks update.
struct Reporter {
    events: mpsc::Sender<DeployEvent>,
    state: Mutex<DeployState>,
}

impl Reporter {
    async fn send(&self, event: DeployEvent) {
        // A caller that stopped listening does not stop the deployment.
        let _ = self.events.send(event).await;
    }

    async fn checkpoint(&self, change: impl FnOnce(&mut DeployState)) {
        let snapshot = {
            let mut state = self.state.lock();
            change(&mut state);
            state.clone()
        };
        self.send(DeployEvent::Checkpoint(snapshot)).await;
    }
}

/// Deploys `plan` in both regions (resuming from `saved` if given), then
/// bootstraps Databricks for a spoke. Failed and cancelled deployments are
/// outcomes, not errors; errors are what stopped drbot from following (no
/// permission, ARM unreachable, an invalid template).
pub async fn run(
    client: &ArmClient,
    tokens: &impl Tokens,
    plan: &Plan,
    saved: Option<DeployState>,
    options: &RunOptions,
    events: mpsc::Sender<DeployEvent>,
    cancel: CancellationToken,
) -> Result<DeployOutcome, DeployError> {
    let resumed = saved.as_ref().is_some_and(|s| s.target == plan.target && !s.is_finished());
    let state = match saved {
        Some(saved) if resumed => saved,
        _ => DeployState::new(plan),
    };
    let reporter = Arc::new(Reporter { events, state: Mutex::new(state) });
    let (primary, secondary) = tokio::join!(
        region(client, tokens, plan, Role::Primary, resumed, options, &reporter, &cancel),
        region(client, tokens, plan, Role::Secondary, resumed, options, &reporter, &cancel),
    );
    primary?;
    secondary?;

    let snapshot = reporter.state.lock().clone();
    let state = snapshot.provisioning_state();
    let mut workspace_urls = BTreeMap::new();
    for region in &snapshot.regions {
        if let Some(url) = bootstrap::workspace_url(&region.outputs) {
            workspace_urls.insert(region.role, url);
        }
    }
    let mut outcome = DeployOutcome { state, final_state: snapshot, workspace_urls, bootstrap: None };
    if outcome.state != ProvisioningState::Succeeded || cancel.is_cancelled() {
        return Ok(outcome);
    }
    if let (Target::Spoke(spoke), Some(settings)) = (&plan.target, &options.bootstrap) {
        if !outcome.final_state.bootstrapped {
            let report =
                bootstrap::bootstrap(tokens, spoke, &outcome.final_state.regions, settings, &reporter.events).await?;
            let warehouse_id = report.warehouse_id.clone();
            reporter
                .checkpoint(|s| {
                    s.bootstrapped = true;
                    s.warehouse_id = warehouse_id;
                })
                .await;
            outcome.bootstrap = Some(report);
            outcome.final_state = reporter.state.lock().clone();
        }
    }
    Ok(outcome)
}

/// Asks ARM to cancel both regions' deployments (from anywhere: the runner
/// need not be in this process). Deployments that already ended are left be.
pub async fn cancel(client: &ArmClient, tokens: &impl Tokens, plan: &Plan) -> Result<(), DeployError> {
    let token = tokens.token(ARM_SCOPE).await?;
    for region in &plan.regions {
        cancel_one(client, &token, &region.deployment)
            .await
            .map_err(|source| DeployError::Region { role: region.role, source })?;
    }
    Ok(())
}

async fn cancel_one(client: &ArmClient, token: &AccessToken, deployment: &DeploymentRef) -> Result<(), ArmError> {
    match client.cancel_deployment(token, deployment).await {
        // 409 DeploymentCannotBeCancelled: it ended first; 404: never started.
        Err(ArmError::Api { status: 409, .. }) | Err(ArmError::NotFound(_)) => Ok(()),
        other => other,
    }
}

#[allow(clippy::too_many_arguments)]
async fn region(
    client: &ArmClient,
    tokens: &impl Tokens,
    plan: &Plan,
    role: Role,
    resumed: bool,
    options: &RunOptions,
    reporter: &Reporter,
    cancel: &CancellationToken,
) -> Result<(), DeployError> {
    let in_region = |source| DeployError::Region { role, source };
    let deployment = plan.region(role).deployment.clone();
    let saved = reporter.state.lock().region(role).cloned();
    let name = deployment.name.clone();
    if resumed && saved.as_ref().is_some_and(|s| s.phase == RegionPhase::Succeeded) {
        reporter.send(DeployEvent::Skipped { role, deployment: name }).await;
        return Ok(());
    }
    if cancel.is_cancelled() {
        finish(reporter, role, RegionPhase::Canceled, Map::new(), None).await;
        return Ok(());
    }
    let token = tokens.token(ARM_SCOPE).await?;
    let existing = client.find_deployment(&token, &deployment).await.map_err(in_region)?;
    let was_submitted = saved.as_ref().is_some_and(|s| s.phase == RegionPhase::Submitted);
    let started: Option<Started> = match existing {
        Some(found) if !found.state().is_terminal() => {
            reporter.send(DeployEvent::Following { role, deployment: name.clone() }).await;
            None
        }
        Some(found) if resumed && was_submitted && *found.state() == ProvisioningState::Succeeded => {
            // It finished while nobody was watching.
            reporter.send(DeployEvent::Skipped { role, deployment: name.clone() }).await;
            finish(reporter, role, RegionPhase::Succeeded, found.output_values(), None).await;
            return Ok(());
        }
        _ => {
            let started = client.create_or_update(&token, &deployment, &plan.body(role)).await.map_err(in_region)?;
            reporter.send(DeployEvent::Submitted { role, deployment: name.clone() }).await;
            Some(started)
        }
    };
    reporter
        .checkpoint(|s| {
            if let Some(region) = s.region_mut(role) {
                region.phase = RegionPhase::Submitted;
            }
        })
        .await;

    // The LRO is followed without the cancel token: a cancel is passed on to
    // ARM below, and the deployment followed until ARM says it ended. Tokens
    // last about an hour and a deployment may take longer, so the wait goes
    // in slices with a fresh token each (the token sources cache them).
    let deadline = tokio::time::Instant::now() + options.timeout;
    let mut seen: HashMap<String, ProvisioningState> = HashMap::new();
    let ended = {
        let wait = async {
            let mut token = token.clone();
            loop {
                let poll = PollOptions {
                    default_interval: options.poll_interval,
                    max_interval: options.poll_interval.saturating_mul(6),
                    deadline: (tokio::time::Instant::now() + TOKEN_REFRESH).min(deadline),
                    cancel: CancellationToken::new(),
                };
                match client.wait_for_deployment(&token, &deployment, started.as_ref(), &poll).await {
                    Err(ArmError::DeadlineExceeded) if tokio::time::Instant::now() < deadline => {
                        token = tokens.token(ARM_SCOPE).await?;
                    }
                    other => return other.map_err(in_region),
                }
            }
        };
        let follow = follow_operations(client, tokens, &deployment, role, options, reporter, &mut seen);
        let pass_on_cancel = async {
            cancel.cancelled().await;
            reporter.send(DeployEvent::CancelRequested { role }).await;
            let token = tokens.token(ARM_SCOPE).await?;
            cancel_one(client, &token, &deployment).await.map_err(in_region)?;
            std::future::pending::<Result<(), DeployError>>().await
        };
        tokio::select! {
            ended = wait => ended,
            never = follow => match never {},
            refused = pass_on_cancel => Err(refused.err().unwrap_or(DeployError::Region { role, source: ArmError::Canceled })),
        }
    }?;
    // One last look, so the final states of every resource are reported.
    if let Err(error) = report_operations(client, tokens, &deployment, role, reporter, &mut seen).await {
        tracing::warn!(%role, error = %error, "the last deployment operations could not be listed");
    }
    let phase = match ended.state() {
        ProvisioningState::Succeeded => RegionPhase::Succeeded,
        ProvisioningState::Canceled => RegionPhase::Canceled,
        _ => RegionPhase::Failed,
    };
    let error = ended.properties.error.as_ref().map(|e| e.innermost_message());
    finish(reporter, role, phase, ended.output_values(), error).await;
    Ok(())
}

async fn finish(
    reporter: &Reporter,
    role: Role,
    phase: RegionPhase,
    outputs: Map<String, Value>,
    error: Option<String>,
) {
    let state = match phase {
        RegionPhase::Succeeded => ProvisioningState::Succeeded,
        RegionPhase::Canceled => ProvisioningState::Canceled,
        _ => ProvisioningState::Failed,
    };
    reporter.send(DeployEvent::RegionFinished { role, state, error: error.clone() }).await;
    reporter
        .checkpoint(|s| {
            if let Some(region) = s.region_mut(role) {
                region.phase = phase;
                region.outputs = outputs;
                region.error = error;
            }
        })
        .await;
}

/// Lists the operations every `progress_interval` forever (the caller drops
/// it when the deployment ends). Listing failures only cost progress lines.
async fn follow_operations(
    client: &ArmClient,
    tokens: &impl Tokens,
    deployment: &DeploymentRef,
    role: Role,
    options: &RunOptions,
    reporter: &Reporter,
    seen: &mut HashMap<String, ProvisioningState>,
) -> std::convert::Infallible {
    loop {
        if let Err(error) = report_operations(client, tokens, deployment, role, reporter, seen).await {
            tracing::warn!(%role, error = %error, "deployment operations could not be listed");
        }
        tokio::time::sleep(options.progress_interval).await;
    }
}

/// Reports each resource whose state changed since the last look: finished
/// ones first, by time, then the ones running, so a resource's end comes
/// before its dependents' start.
async fn report_operations(
    client: &ArmClient,
    tokens: &impl Tokens,
    deployment: &DeploymentRef,
    role: Role,
    reporter: &Reporter,
    seen: &mut HashMap<String, ProvisioningState>,
) -> Result<(), DeployError> {
    let token = tokens.token(ARM_SCOPE).await?;
    let mut operations = client.list_operations(&token, deployment).await?;
    operations.retain(|o| o.properties.target_resource.is_some());
    operations.sort_by_key(|o| (!o.properties.provisioning_state.is_terminal(), o.properties.timestamp.clone()));
    for operation in operations {
        let key = operation_key(&operation);
        let state = operation.properties.provisioning_state.clone();
        if seen.get(&key) == Some(&state) {
            continue;
        }
        seen.insert(key, state.clone());
        reporter.send(DeployEvent::Resource(progress(role, &operation))).await;
    }
    Ok(())
}

fn operation_key(operation: &DeploymentOperation) -> String {
    let target = operation.properties.target_resource.as_ref();
    target.and_then(|t| t.id.clone()).unwrap_or_else(|| operation.operation_id.clone())
}

fn progress(role: Role, operation: &DeploymentOperation) -> ResourceProgress {
    let target = operation.properties.target_resource.clone().unwrap_or_default();
    let state = operation.properties.provisioning_state.clone();
    ResourceProgress {
        role,
        resource_type: target.resource_type.unwrap_or_default(),
        resource_name: target.resource_name.unwrap_or_default(),
        duration: if state.is_terminal() { operation.duration() } else { None },
        error: if state == ProvisioningState::Failed { operation.error_message() } else { None },
        state,
    }
}

impl std::fmt::Display for DeployEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeployEvent::Submitted { role, deployment } => write!(f, "{role}: deployment {deployment} submitted"),
            DeployEvent::Following { role, deployment } => {
                write!(f, "{role}: deployment {deployment} already running, following it")
            }
            DeployEvent::Skipped { role, deployment } => write!(f, "{role}: deployment {deployment} already succeeded"),
            DeployEvent::Resource(p) => {
                write!(f, "{}: {} {} {}", p.role, p.resource_type, p.resource_name, p.state)?;
                if let Some(duration) = p.duration {
                    write!(f, " in {:.1}s", duration.as_secs_f64())?;
                }
                if let Some(error) = &p.error {
                    write!(f, ": {error}")?;
                }
                Ok(())
            }
            DeployEvent::RegionFinished { role, state, error } => {
                write!(f, "{role}: {state}")?;
                if let Some(error) = error {
                    write!(f, ": {error}")?;
                }
                Ok(())
            }
            DeployEvent::CancelRequested { role } => write!(f, "{role}: cancel requested"),
            DeployEvent::Bootstrap(step) => write!(f, "{step}"),
            DeployEvent::Checkpoint(_) => write!(f, "checkpoint"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::deploy::plan::{plan, SpokeName, Templates};
    use crate::deploy::DeployConfig;

    #[test]
    fn checkpoints_round_trip_as_json() {
        let config = DeployConfig { subscription_id: "s".into(), ..Default::default() };
        let target = Target::Spoke(SpokeName::parse("a").unwrap());
        let plan = plan(&config, target, Templates::inline(json!({"resources": []}))).unwrap();
        let mut state = DeployState::new(&plan);
        state.regions[1].phase = RegionPhase::Submitted;
        state.regions[0].outputs.insert("workspaceUrl".into(), json!("adb-1.azuredatabricks.net"));
        let stored = serde_json::to_string(&state).unwrap();
        let back: DeployState = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.region(Role::Secondary).unwrap().phase, RegionPhase::Submitted);
        assert!(!state.is_finished());
        for region in &mut state.regions {
            region.phase = RegionPhase::Succeeded;
        }
        assert!(!state.is_finished(), "the bootstrap is still to come");
        state.bootstrapped = true;
        assert!(state.is_finished());
        state.regions[0].phase = RegionPhase::Failed;
        state.bootstrapped = false;
        assert!(state.is_finished(), "a failed run is over: running again deploys again");
        let event = serde_json::to_value(DeployEvent::Checkpoint(back.clone())).unwrap();
        assert_eq!(event["event"], "checkpoint");
        assert_eq!(serde_json::from_value::<DeployEvent>(event).unwrap(), DeployEvent::Checkpoint(back));
        let tampered = stored.replace("\"a\"", "\"A B\"");
        assert!(serde_json::from_str::<DeployState>(&tampered).is_err(), "names are validated on the way in");
    }

    #[test]
    fn operations_become_progress_with_the_error_of_a_failure() {
        let operation: DeploymentOperation = serde_json::from_value(json!({"operationId": "1", "properties": {
            "provisioningState": "Failed", "duration": "PT3S",
            "statusMessage": {"error": {"code": "X", "message": "quota exceeded"}},
            "targetResource": {"id": "/r", "resourceType": "Microsoft.Network/virtualNetworks", "resourceName": "vnet"}}}))
        .unwrap();
        let line = progress(Role::Secondary, &operation);
        assert_eq!(line.error.as_deref(), Some("quota exceeded"));
        assert_eq!(line.duration, Some(Duration::from_secs(3)));
        assert_eq!(
            DeployEvent::Resource(line).to_string(),
            "secondary: Microsoft.Network/virtualNetworks vnet Failed in 3.0s: quota exceeded"
        );
    }
}
