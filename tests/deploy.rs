//! `deploy spoke` against the sandbox's ARM and Databricks: What-If counts,
//! both regions deployed resource by resource, a failing resource named with
//! its error, cancel, resume after a restart without a second PUT, the
//! Databricks bootstrap, and RBAC refusals as typed errors.

use std::time::Duration;

use drbot::azure::{ArmClient, ArmError, PollOptions, ProvisioningState, RetryPolicy};
use drbot::deploy::bootstrap::BootstrapSettings;
use drbot::deploy::{
    self, DeployConfig, DeployEvent, DeployOutcome, DeployState, Plan, RegionConfig, RegionPhase, Role, RunOptions,
    SpokeName, StaticTokens, StepOutcome, Target, Templates,
};
use drbot::identity::{AccessToken, ARM_SCOPE, DATABRICKS_SCOPE};
use sandbox::arm::ARM_AUDIENCE;
use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_SUBSCRIPTION_ID};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const PATIENCE: Duration = Duration::from_secs(30);
const NSG: &str = "Microsoft.Network/networkSecurityGroups";
const VNET: &str = "Microsoft.Network/virtualNetworks";
const WORKSPACE: &str = "Microsoft.Databricks/workspaces";

/// Three resources listed against their dependency order (the workspace
/// first), so only a runner that follows ARM's progress reports them in order.
fn spoke_template() -> Value {
    let name = |prefix: &str| format!("[concat('{prefix}-', parameters('spokeName'), '-', parameters('drRole'))]");
    json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "location": {"type": "string"}, "spokeName": {"type": "string"}, "drRole": {"type": "string"},
            "workspaceUrl": {"type": "string"}, "workspaceId": {"type": "int"}, "addressSpace": {"type": "string", "defaultValue": "10.1.0.0/16"},
        },
        "resources": [
            {"type": WORKSPACE, "apiVersion": "2024-05-01", "name": name("dbw"),
             "dependsOn": [format!("[resourceId('{VNET}', concat('vnet-', parameters('spokeName'), '-', parameters('drRole')))]")],
             "properties": {"publicNetworkAccess": "Disabled"}},
            {"type": VNET, "apiVersion": "2024-05-01", "name": name("vnet"),
             "dependsOn": [format!("[resourceId('{NSG}', concat('nsg-', parameters('spokeName'), '-', parameters('drRole')))]")],
             "properties": {"addressSpace": {"addressPrefixes": ["[parameters('addressSpace')]"]}}},
            {"type": NSG, "apiVersion": "2024-05-01", "name": name("nsg"), "properties": {}},
        ],
        "outputs": {
            "workspaceUrl": {"type": "string", "value": "[parameters('workspaceUrl')]"},
            "workspaceId": {"type": "int", "value": "[parameters('workspaceId')]"},
            "accessConnectorId": {"type": "string", "value": format!("[concat('/subscriptions/{SANDBOX_SUBSCRIPTION_ID}/resourceGroups/rg-', parameters('spokeName'), '/providers/Microsoft.Databricks/accessConnectors/ac-', parameters('drRole'))]")},
            "ucStorageAccountName": {"type": "string", "value": "[concat('stuc', parameters('spokeName'), parameters('drRole'))]"},
            "externalStorageAccountName": {"type": "string", "value": "[concat('stext', parameters('spokeName'), parameters('drRole'))]"},
        },
    })
}

struct Fixture {
    sandbox: Sandbox,
    client: ArmClient,
    config: DeployConfig,
}

impl Fixture {
    async fn start(resource_duration: Duration) -> Fixture {
        let sandbox = Sandbox::start(SandboxConfig { tables: 10, ..Default::default() }).await.expect("sandbox");
        sandbox.arm.set_resource_duration(resource_duration);
        let client = ArmClient::new(reqwest::Client::new(), &sandbox.arm_url()).with_retry(RetryPolicy {
            max_attempts: 10,
            budget: Duration::from_secs(10),
            default_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
        });
        let config = DeployConfig {
            arm_url: sandbox.arm_url(),
            subscription_id: SANDBOX_SUBSCRIPTION_ID.into(),
            primary: RegionConfig {
                metastore_id: Some(sandbox.primary.metastore.read().metastore_id.clone()),
                ..RegionConfig::new("westeurope")
            },
            secondary: RegionConfig {
                metastore_id: Some(sandbox.secondary.metastore.read().metastore_id.clone()),
                ..RegionConfig::new("northeurope")
            },
            ..Default::default()
        };
        Fixture { sandbox, client, config }
    }

    fn plan(&self, spoke: &str) -> Plan {
        self.plan_with(spoke, spoke_template())
    }

    fn plan_with(&self, spoke: &str, template: Value) -> Plan {
        let mut templates = Templates::inline(template);
        for (role, workspace, url) in [
            (Role::Primary, &self.sandbox.primary, self.sandbox.primary_url()),
            (Role::Secondary, &self.sandbox.secondary, self.sandbox.secondary_url()),
        ] {
            let id = sandbox::databricks::assignment::workspace_id(workspace);
            templates
                .parameters
                .insert(role, Map::from_iter([("workspaceUrl".into(), json!(url)), ("workspaceId".into(), json!(id))]));
        }
        deploy::plan(&self.config, Target::Spoke(SpokeName::parse(spoke).unwrap()), templates).expect("a plan")
    }

    fn tokens(&self, user: &str) -> StaticTokens {
        let user = self.sandbox.teams.user(user).expect("a sandbox user");
        let entra = &self.sandbox.entra;
        StaticTokens::new()
            .with(ARM_SCOPE, AccessToken::new(entra.user_token(&user, "drbot", ARM_AUDIENCE, "user_impersonation")))
            .with(
                DATABRICKS_SCOPE,
                AccessToken::new(entra.user_token(&user, "drbot", DATABRICKS_AUDIENCE, "user_impersonation")),
            )
    }

    fn arm_token(&self, user: &str) -> AccessToken {
        let user = self.sandbox.teams.user(user).expect("a sandbox user");
        AccessToken::new(self.sandbox.entra.user_token(&user, "drbot", ARM_AUDIENCE, "user_impersonation"))
    }

    fn options(&self, bootstrap: bool) -> RunOptions {
        RunOptions {
            progress_interval: Duration::from_millis(10),
            poll_interval: Duration::from_millis(50),
            timeout: PATIENCE,
            bootstrap: bootstrap.then(|| BootstrapSettings {
                dr_group: Some(sandbox::databricks::seed::ADMIN_GROUP.into()),
                ..BootstrapSettings::from_config(&self.config, reqwest::Client::new())
                    .with_replicator(sandbox::SANDBOX_BOT_APP_ID)
            }),
        }
    }

    /// Runs to the end, returning the outcome and every event.
    async fn run(
        &self,
        user: &str,
        plan: &Plan,
        saved: Option<DeployState>,
        bootstrap: bool,
    ) -> (Result<DeployOutcome, deploy::DeployError>, Vec<DeployEvent>) {
        let (sender, mut receiver) = mpsc::channel(4096);
        let outcome = tokio::time::timeout(
            PATIENCE,
            deploy::run(
                &self.client,
                &self.tokens(user),
                plan,
                saved,
                &self.options(bootstrap),
                sender,
                CancellationToken::new(),
            ),
        )
        .await
        .expect("the run ends in time");
        let mut events = Vec::new();
        while let Ok(event) = receiver.try_recv() {
            events.push(event);
        }
        (outcome, events)
    }
}

fn resources(events: &[DeployEvent], role: Role) -> Vec<(String, ProvisioningState)> {
    events
        .iter()
        .filter_map(|e| match e {
            DeployEvent::Resource(p) if p.role == role => Some((p.resource_type.clone(), p.state.clone())),
            _ => None,
        })
        .collect()
}

fn last_checkpoint(events: &[DeployEvent]) -> Option<DeployState> {
    events.iter().rev().find_map(|e| match e {
        DeployEvent::Checkpoint(state) => Some(state.clone()),
        _ => None,
    })
}

/// Receives events until `done` says so, with a deadline.
async fn until(
    receiver: &mut mpsc::Receiver<DeployEvent>,
    seen: &mut Vec<DeployEvent>,
    done: impl Fn(&[DeployEvent]) -> bool,
) {
    let deadline = Instant::now() + PATIENCE;
    while !done(seen) {
        let event = tokio::time::timeout_at(deadline, receiver.recv()).await.expect("the awaited events in time");
        seen.push(event.expect("the runner is still sending"));
    }
}

fn what_if_options() -> PollOptions {
    PollOptions::new(Duration::from_millis(20), PATIENCE, CancellationToken::new())
}

#[tokio::test]
async fn what_if_counts_both_regions_before_and_after_a_deployment() {
    let fixture = Fixture::start(Duration::from_millis(20)).await;
    // A third of ARM's answers throttled: the client retries within its budget.
    fixture.sandbox.arm.faults.set(sandbox::faults::FaultConfig { throttle_ratio: 0.3, ..Default::default() });
    let plan = fixture.plan("demo");
    let tokens = fixture.tokens("alice");
    let before = deploy::what_if(&fixture.client, &tokens, &plan, &what_if_options()).await.expect("What-If");
    assert_eq!(before.regions.len(), 2);
    for (region, role) in before.regions.iter().zip(Role::BOTH) {
        assert_eq!(region.role, Some(role));
        assert_eq!((region.creates, region.modifies, region.deletes, region.no_change), (3, 0, 0, 0), "{before}");
    }
    assert_eq!(before.regions[1].resource_group, "rg-drbot-demo-northeurope");
    assert!(!before.has_deletes());
    fixture.sandbox.arm.faults.set(Default::default());

    let (outcome, _) = fixture.run("alice", &plan, None, false).await;
    assert_eq!(outcome.expect("deployed").state, ProvisioningState::Succeeded);

    let after = deploy::what_if(&fixture.client, &tokens, &plan, &what_if_options()).await.expect("What-If");
    assert!(after.regions.iter().all(|r| (r.creates, r.no_change) == (0, 3)), "{after}");
    let mut wider = plan.clone();
    // The sandbox compares properties as written: change the literal.
    wider.template["resources"][1]["properties"]["addressSpace"]["addressPrefixes"] = json!(["10.9.0.0/16"]);
    let changed = deploy::what_if(&fixture.client, &tokens, &wider, &what_if_options()).await.expect("What-If");
    assert_eq!(changed.regions[0].modifies, 1);
    assert!(changed.regions[0].modified[0].0.ends_with("/virtualNetworks/vnet-demo-primary"), "{changed}");
    assert!(changed.to_string().contains("1 to modify"));
}

#[tokio::test]
async fn a_spoke_deploys_in_both_regions_resource_by_resource_then_bootstraps_databricks() {
    let fixture = Fixture::start(Duration::from_millis(150)).await;
    let plan = fixture.plan("demo");
    let (outcome, events) = fixture.run("alice", &plan, None, true).await;
    let outcome = outcome.expect("deployed");
    assert_eq!(outcome.state, ProvisioningState::Succeeded);
    for role in Role::BOTH {
        let seen = resources(&events, role);
        let finished: Vec<&str> =
            seen.iter().filter(|(_, s)| *s == ProvisioningState::Succeeded).map(|(t, _)| t.as_str()).collect();
        assert_eq!(finished, [NSG, VNET, WORKSPACE], "{role}: dependsOn order: {seen:?}");
        let running = seen.iter().filter(|(_, s)| *s == ProvisioningState::Running).count();
        assert!(running >= 1, "{role}: resources were seen while running: {seen:?}");
        assert!(events.iter().any(|e| matches!(e, DeployEvent::Submitted { role: r, .. } if *r == role)));
        assert!(events.iter().any(|e| matches!(e,
            DeployEvent::RegionFinished { role: r, state: ProvisioningState::Succeeded, .. } if *r == role)));
    }
    let durations: Vec<Duration> = events
        .iter()
        .filter_map(|e| match e {
            DeployEvent::Resource(p) if p.state == ProvisioningState::Succeeded => p.duration,
            _ => None,
        })
        .collect();
    assert_eq!(durations.len(), 6, "every finished resource says how long it took");
    assert_eq!(outcome.workspace_urls[&Role::Primary], fixture.sandbox.primary_url());
    assert_eq!(outcome.workspace_urls[&Role::Secondary], fixture.sandbox.secondary_url());

    // The bootstrap, as the workspaces now hold it.
    let report = outcome.bootstrap.expect("bootstrapped");
    assert!(report.steps.iter().all(|s| s.outcome == StepOutcome::Created), "{:?}", report.steps);
    // Per region: assignment, credential, four locations, catalog, and ALL
    // PRIVILEGES on it to the bot and the DR group; on the primary what the
    // DR shares' owner needs; on the secondary the primary's Delta container
    // (read-only) and four grants; the recipient; the engine's warehouse and
    // CAN_USE on it for the bot and the DR group.
    assert_eq!(report.steps.len(), 2 * 9 + 1 + 5 + 1 + 1 + 2);
    let warehouse = fixture.sandbox.secondary.warehouses.by_name("drbot-demo").expect("the engine's warehouse");
    for who in [sandbox::SANDBOX_BOT_APP_ID, sandbox::databricks::seed::ADMIN_GROUP] {
        assert_eq!(warehouse.acl.get(who).map(String::as_str), Some("CAN_USE"), "{who}: {:?}", warehouse.acl);
    }
    assert_eq!(report.warehouse_id, fixture.sandbox.secondary.warehouses.by_name("drbot-demo").map(|w| w.id));
    for (workspace, role) in [(&fixture.sandbox.primary, "primary"), (&fixture.sandbox.secondary, "secondary")] {
        let metastore = workspace.metastore.read();
        let credential = &metastore.storage_credentials["demo_connector"];
        assert!(credential.access_connector_id.ends_with(&format!("/accessConnectors/ac-{role}")));
        assert_eq!(
            metastore.external_locations["demo_delta"].url,
            format!("abfss://external-delta@stucdemo{role}.dfs.core.windows.net/demo")
        );
        assert_eq!(
            metastore.external_locations["demo_files"].url,
            format!("abfss://external@stextdemo{role}.dfs.core.windows.net/demo")
        );
        assert_eq!(
            metastore.external_locations["demo_volumes"].url,
            format!("abfss://volumes@stextdemo{role}.dfs.core.windows.net/demo")
        );
        assert_eq!(
            metastore.catalogs["demo"].storage_root.as_deref(),
            Some(metastore.external_locations["demo_catalog"].url.as_str())
        );
        drop(metastore);
        assert_eq!(sandbox::databricks::assignment::default_catalog(workspace).as_deref(), Some("demo"));
        assert!(workspace.calls().iter().all(|c| c.caller_upn == "alice@contoso.example"), "as the person who asked");
    }
    {
        // What the secondary's replication statements need, for the identity that replicates.
        let metastore = fixture.sandbox.secondary.metastore.read();
        let source = &metastore.external_locations["demo_primary_delta"];
        assert_eq!(source.url, "abfss://external-delta@stucdemoprimary.dfs.core.windows.net/demo");
        assert!(source.read_only);
        for (location, privilege) in [
            ("demo_primary_delta", "READ_FILES"),
            ("demo_delta", "CREATE_EXTERNAL_TABLE"),
            ("demo_files", "CREATE_EXTERNAL_TABLE"),
            ("demo_files", "READ_FILES"),
            ("demo_volumes", "CREATE_EXTERNAL_VOLUME"),
        ] {
            let held = &metastore.external_locations[location].common.grants[sandbox::SANDBOX_BOT_APP_ID];
            assert!(held.contains(privilege), "{location}: {held:?}");
        }
        assert!(!fixture.sandbox.primary.metastore.read().external_locations.contains_key("demo_primary_delta"));
    }
    let recipient = fixture.sandbox.primary.sharing.lock().recipients["demo_secondary"].clone();
    assert_eq!(recipient.data_recipient_global_metastore_id, fixture.sandbox.secondary.global_id);
    let checkpoint = last_checkpoint(&events).expect("checkpoints");
    assert!(checkpoint.bootstrapped);
    assert!(checkpoint.regions.iter().all(|r| r.phase == RegionPhase::Succeeded && !r.outputs.is_empty()));

    // Bootstrapping again finds everything in place, through throttling.
    for workspace in [&fixture.sandbox.primary, &fixture.sandbox.secondary] {
        workspace.faults.set(sandbox::faults::FaultConfig { throttle_ratio: 0.3, ..Default::default() });
    }
    let mut again = checkpoint.clone();
    again.bootstrapped = false;
    let (outcome, events) = fixture.run("alice", &plan, Some(again), true).await;
    let report = outcome.expect("resumed").bootstrap.expect("bootstrapped again");
    assert!(report
        .steps
        .iter()
        .filter(|s| s.step != "metastore assignment")
        .all(|s| s.outcome == StepOutcome::AlreadyExisted));
    assert_eq!(events.iter().filter(|e| matches!(e, DeployEvent::Skipped { .. })).count(), 2);
    assert_eq!(fixture.sandbox.arm.deployment_puts().len(), 2, "a finished run is not deployed again on resume");
}

#[tokio::test]
async fn a_failing_resource_is_named_with_its_error_and_its_dependents_never_start() {
    let fixture = Fixture::start(Duration::from_millis(30)).await;
    fixture.sandbox.arm.fail_resource_type(Some(VNET));
    let plan = fixture.plan("broken");
    let (outcome, events) = fixture.run("alice", &plan, None, true).await;
    let outcome = outcome.expect("a failed deployment is an outcome");
    assert_eq!(outcome.state, ProvisioningState::Failed);
    assert!(outcome.bootstrap.is_none(), "no bootstrap after a failure");
    for role in Role::BOTH {
        let failure = events
            .iter()
            .find_map(|e| match e {
                DeployEvent::Resource(p) if p.role == role && p.state == ProvisioningState::Failed => Some(p.clone()),
                _ => None,
            })
            .expect("a failure event");
        assert_eq!(failure.resource_type, VNET);
        assert_eq!(failure.resource_name, format!("vnet-broken-{role}"));
        assert!(failure.error.as_deref().unwrap_or_default().contains("failed"), "{failure:?}");
        assert!(!resources(&events, role).iter().any(|(t, _)| t == WORKSPACE), "dependents are not attempted");
        assert_eq!(outcome.final_state.region(role).unwrap().phase, RegionPhase::Failed);
        assert!(outcome
            .final_state
            .region(role)
            .unwrap()
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("virtualNetworks"));
    }
}

#[tokio::test]
async fn cancel_stops_both_regions() {
    let fixture = Fixture::start(Duration::from_secs(60)).await;
    let plan = fixture.plan("slow");
    let (sender, mut receiver) = mpsc::channel(4096);
    let cancel = CancellationToken::new();
    let running = {
        let (client, tokens, plan, options, cancel) =
            (fixture.client.clone(), fixture.tokens("alice"), plan.clone(), fixture.options(false), cancel.clone());
        tokio::spawn(async move { deploy::run(&client, &tokens, &plan, None, &options, sender, cancel).await })
    };
    let mut seen = Vec::new();
    until(&mut receiver, &mut seen, |events| {
        Role::BOTH
            .iter()
            .all(|role| resources(events, *role).iter().any(|(t, s)| t == NSG && *s == ProvisioningState::Running))
    })
    .await;
    cancel.cancel();
    let outcome = tokio::time::timeout(PATIENCE, running).await.expect("ends in time").unwrap().expect("an outcome");
    assert_eq!(outcome.state, ProvisioningState::Canceled);
    while let Ok(event) = receiver.try_recv() {
        seen.push(event);
    }
    for role in Role::BOTH {
        assert!(seen.iter().any(|e| matches!(e, DeployEvent::CancelRequested { role: r } if *r == role)));
        assert_eq!(outcome.final_state.region(role).unwrap().phase, RegionPhase::Canceled);
        let deployment =
            fixture.client.get_deployment(&fixture.arm_token("alice"), &plan.region(role).deployment).await.unwrap();
        assert_eq!(*deployment.state(), ProvisioningState::Canceled, "ARM cancelled it");
    }
}

#[tokio::test]
async fn a_restarted_runner_follows_the_running_deployments_without_a_second_put() {
    let fixture = Fixture::start(Duration::from_millis(400)).await;
    let plan = fixture.plan("resume");
    let (sender, mut receiver) = mpsc::channel(4096);
    let first = {
        let (client, tokens, plan, options) =
            (fixture.client.clone(), fixture.tokens("alice"), plan.clone(), fixture.options(false));
        tokio::spawn(async move {
            deploy::run(&client, &tokens, &plan, None, &options, sender, CancellationToken::new()).await
        })
    };
    let mut seen = Vec::new();
    until(&mut receiver, &mut seen, |events| {
        last_checkpoint(events).is_some_and(|s| s.regions.iter().all(|r| r.phase == RegionPhase::Submitted))
    })
    .await;
    // The bot goes away mid-deployment.
    first.abort();
    let _ = first.await;
    let saved = last_checkpoint(&seen).unwrap();
    let stored = serde_json::to_string(&saved).unwrap();
    let saved: DeployState = serde_json::from_str(&stored).unwrap();
    assert_eq!(fixture.sandbox.arm.deployment_puts().len(), 2);

    let (outcome, events) = fixture.run("alice", &plan, Some(saved), false).await;
    let outcome = outcome.expect("resumed");
    assert_eq!(outcome.state, ProvisioningState::Succeeded);
    let mut puts = fixture.sandbox.arm.deployment_puts();
    puts.sort();
    assert_eq!(
        puts,
        [
            "rg-drbot-resume-northeurope/drbot-spoke-resume-secondary",
            "rg-drbot-resume-westeurope/drbot-spoke-resume-primary",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>(),
        "no second PUT"
    );
    for role in Role::BOTH {
        assert!(events.iter().any(|e| matches!(e, DeployEvent::Following { role: r, .. } if *r == role)), "{events:?}");
        assert!(!events.iter().any(|e| matches!(e, DeployEvent::Submitted { .. })));
        let finished: Vec<String> = resources(&events, role)
            .into_iter()
            .filter(|(_, s)| *s == ProvisioningState::Succeeded)
            .map(|(t, _)| t)
            .collect();
        assert_eq!(finished.last().map(String::as_str), Some(WORKSPACE), "followed to the end: {finished:?}");
    }
}

#[tokio::test]
async fn a_caller_outside_dr_operators_gets_authorization_failed() {
    let fixture = Fixture::start(Duration::from_millis(10)).await;
    let plan = fixture.plan("denied");
    let (outcome, _) = fixture.run("bob", &plan, None, false).await;
    let error = outcome.expect_err("bob may not deploy");
    assert!(
        matches!(error.arm(), Some(ArmError::AuthorizationFailed(body)) if body.message.contains("bob@contoso.example")),
        "{error:?}"
    );
    let what_if = deploy::what_if(&fixture.client, &fixture.tokens("bob"), &plan, &what_if_options()).await;
    assert!(matches!(what_if.unwrap_err().arm(), Some(ArmError::AuthorizationFailed(_))));
    assert!(fixture.sandbox.arm.deployment_puts().is_empty());
    let cancel = deploy::cancel(&fixture.client, &fixture.tokens("bob"), &plan).await;
    assert!(matches!(cancel.unwrap_err().arm(), Some(ArmError::AuthorizationFailed(_))));

    // The same through the on-behalf-of flow a Teams command uses.
    let config = drbot::config::Config::from_toml(
        &fixture.sandbox.bot_config_toml("127.0.0.1:0", false),
        &std::collections::BTreeMap::new(),
    )
    .unwrap();
    let obo = std::sync::Arc::new(drbot::identity::OnBehalfOf::new(&config, reqwest::Client::new()));
    let as_user = |name: &str| {
        let user = fixture.sandbox.teams.user(name).unwrap();
        let sso = fixture.sandbox.entra.teams_sso_token(&user, sandbox::SANDBOX_BOT_APP_ID);
        deploy::UserTokens { obo: obo.clone(), user: drbot::identity::UserAssertion::from_token(&sso).unwrap() }
    };
    let denied = deploy::what_if(&fixture.client, &as_user("bob"), &plan, &what_if_options()).await;
    assert!(matches!(denied.unwrap_err().arm(), Some(ArmError::AuthorizationFailed(_))));
    let allowed = deploy::what_if(&fixture.client, &as_user("alice"), &plan, &what_if_options()).await;
    assert_eq!(allowed.expect("alice is a DR operator").regions[0].creates, 3);
}

#[tokio::test]
async fn throttling_past_the_retry_budget_is_arm_s_error_and_transient_failures_are_retried() {
    let fixture = Fixture::start(Duration::from_millis(10)).await;
    let plan = fixture.plan("busy");
    let token = fixture.arm_token("alice");
    fixture.sandbox.arm.faults.set(sandbox::faults::FaultConfig {
        throttle_ratio: 1.0,
        retry_after_secs: 30,
        ..Default::default()
    });
    let started = Instant::now();
    let throttled = fixture.client.get_deployment(&token, &plan.region(Role::Primary).deployment).await;
    match throttled {
        Err(ArmError::Api { status: 429, error }) => assert_eq!(error.code, "TooManyRequests"),
        other => panic!("expected ARM's 429, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "Retry-After is capped and the budget bounds the wait");

    // A fifth of the answers fail with a 5xx: every call still gets through.
    fixture.sandbox.arm.faults.set(sandbox::faults::FaultConfig { error_5xx_ratio: 0.2, ..Default::default() });
    let (outcome, _) = fixture.run("alice", &plan, None, false).await;
    assert_eq!(outcome.expect("deployed despite 5xx").state, ProvisioningState::Succeeded);
}

/// The spoke template with the private endpoint rules serverless compute
/// needs, as infra/spoke.json outputs them (its own accounts, `dfs` and `blob`).
fn spoke_template_with_ncc_rules() -> Value {
    let mut template = spoke_template();
    let account = |name: &str| {
        format!("/subscriptions/{SANDBOX_SUBSCRIPTION_ID}/resourceGroups/rg-ncc/providers/Microsoft.Storage/storageAccounts/{name}")
    };
    let rules = json!([
        {"resourceId": account("stucncc"), "groupId": "dfs"},
        {"resourceId": account("stucncc"), "groupId": "blob"},
        {"resourceId": account("stextncc"), "groupId": "dfs"},
    ]);
    template["outputs"]["nccPrivateEndpointRules"] = json!({"type": "array", "value": rules});
    template
}

fn steps_named<'a>(report: &'a deploy::BootstrapReport, role: Role, prefix: &str) -> Vec<&'a deploy::BootstrapStep> {
    report.steps.iter().filter(|s| s.role == role && s.step.starts_with(prefix)).collect()
}

#[tokio::test]
async fn the_serverless_ncc_is_created_by_an_account_admin_and_described_for_anyone_else() {
    let mut fixture = Fixture::start(Duration::from_millis(20)).await;
    let plan = fixture.plan_with("ncc", spoke_template_with_ncc_rules());
    let workspace_ids = [
        (Role::Primary, sandbox::databricks::assignment::workspace_id(&fixture.sandbox.primary), "drbot-westeurope"),
        (
            Role::Secondary,
            sandbox::databricks::assignment::workspace_id(&fixture.sandbox.secondary),
            "drbot-northeurope",
        ),
    ];

    // Without the account's id, the result says what to configure (or do by hand).
    let (outcome, events) = fixture.run("alice", &plan, None, true).await;
    let outcome = outcome.expect("deployed");
    assert_eq!(outcome.state, ProvisioningState::Succeeded);
    let report = outcome.bootstrap.expect("bootstrapped");
    for (role, workspace_id, _) in workspace_ids {
        let ncc = steps_named(&report, role, "serverless network connectivity configuration");
        assert_eq!(ncc[0].outcome, StepOutcome::NeedsAction);
        let said = ncc[0].to_string();
        assert!(said.contains("no databricks_account_id in [deploy]"), "{said}");
        assert!(said.contains(&format!("bind it to workspace {workspace_id}")), "{said}");
    }
    let checkpoint = last_checkpoint(&events).expect("checkpoints");
    let mut again = checkpoint.clone();
    again.bootstrapped = false;

    // Alice may deploy but is no account admin: the bootstrap goes on and
    // its result says what an account admin must still do.
    fixture.config.databricks_account_id = Some(sandbox::databricks::account_api::SANDBOX_ACCOUNT_ID.into());
    fixture.config.databricks_accounts_url = fixture.sandbox.accounts_url();
    let (outcome, _) = fixture.run("alice", &plan, Some(again.clone()), true).await;
    let report = outcome.expect("bootstrapped").bootstrap.expect("a report");
    for (role, workspace_id, name) in workspace_ids {
        let ncc = steps_named(&report, role, "serverless network connectivity configuration");
        assert_eq!(ncc.len(), 1, "{:?}", report.steps);
        assert_eq!(ncc[0].outcome, StepOutcome::NeedsAction);
        let said = ncc[0].to_string();
        for needed in [
            "not a Databricks account admin",
            "an account admin must create the network connectivity configuration",
            name,
            "dfs on stucncc, blob on stucncc, dfs on stextncc",
            &format!("bind it to workspace {workspace_id}"),
            "approve each rule's pending connection",
        ] {
            assert!(said.contains(needed), "{needed:?} in {said}");
        }
    }
    assert!(fixture.sandbox.accounts.network_connectivity_configs().is_empty());

    // As an account admin, the same bootstrap creates, adds and binds...
    fixture.sandbox.accounts.add_account_admin("alice@contoso.example");
    let (outcome, _) = fixture.run("alice", &plan, Some(again.clone()), true).await;
    let report = outcome.expect("bootstrapped as an admin").bootstrap.expect("a report");
    let nccs = fixture.sandbox.accounts.network_connectivity_configs();
    assert_eq!(nccs.len(), 2, "one per region: {nccs:?}");
    for (role, workspace_id, name) in workspace_ids {
        assert_eq!(steps_named(&report, role, "serverless network")[0].outcome, StepOutcome::Created);
        let rules = steps_named(&report, role, "private endpoint rule");
        assert_eq!(rules.len(), 3);
        for rule in &rules {
            assert_eq!(rule.outcome, StepOutcome::Created);
            assert!(rule
                .detail
                .as_deref()
                .is_some_and(|d| d.starts_with("connection PENDING: an owner of storage account")));
        }
        let ncc = nccs.iter().find(|n| n["name"] == name).expect("the region's NCC");
        let id = ncc["network_connectivity_config_id"].as_str().unwrap();
        assert_eq!(fixture.sandbox.accounts.binding(workspace_id).as_deref(), Some(id));
        let held = fixture.sandbox.accounts.private_endpoint_rules(id);
        let groups: Vec<(&str, &str)> = held
            .iter()
            .map(|r| (r["resource_id"].as_str().unwrap().rsplit('/').next().unwrap(), r["group_id"].as_str().unwrap()))
            .collect();
        assert_eq!(groups, [("stucncc", "dfs"), ("stucncc", "blob"), ("stextncc", "dfs")]);
    }

    // ...and once more finds them all (the lists page two at a time).
    let (outcome, _) = fixture.run("alice", &plan, Some(again), true).await;
    let report = outcome.expect("bootstrapped again").bootstrap.expect("a report");
    for (role, _, _) in workspace_ids {
        assert_eq!(steps_named(&report, role, "serverless network")[0].outcome, StepOutcome::AlreadyExisted);
        assert!(steps_named(&report, role, "private endpoint rule")
            .iter()
            .all(|s| s.outcome == StepOutcome::AlreadyExisted));
    }
    assert_eq!(fixture.sandbox.accounts.network_connectivity_configs().len(), 2);
    for (_, workspace_id, _) in workspace_ids {
        assert!(fixture.sandbox.accounts.binding(workspace_id).is_some());
    }
}

/// The engine's warehouse: serverless where the region offers it, a classic
/// PRO one where it does not (said on the step), and found again by name
/// by a second bootstrap, like every other step.
#[tokio::test]
async fn the_engines_warehouse_is_classic_where_the_region_has_no_serverless_and_found_again() {
    let fixture = Fixture::start(Duration::from_millis(5)).await;
    fixture.sandbox.secondary.warehouses.set_serverless_offered(false);
    let plan = fixture.plan("demo");
    let step = |outcome: &DeployOutcome| {
        let report = outcome.bootstrap.clone().expect("bootstrapped");
        let step = report.steps.iter().find(|s| s.step == "SQL warehouse drbot-demo").cloned().expect("the step");
        (step, report.warehouse_id)
    };

    let first = fixture.run("alice", &plan, None, true).await.0.expect("deployed");
    let (made, id) = step(&first);
    assert_eq!(made.outcome, StepOutcome::Created);
    assert!(made.detail.as_deref().is_some_and(|d| d.contains("classic (PRO)")), "{made:?}");
    let warehouse = fixture.sandbox.secondary.warehouses.by_name("drbot-demo").expect("made");
    assert!(!warehouse.serverless && warehouse.warehouse_type == "PRO", "{warehouse:?}");
    assert_eq!(id.as_deref(), Some(warehouse.id.as_str()));

    let again = fixture.run("alice", &plan, None, true).await.0.expect("deployed again");
    let (found, id) = step(&again);
    assert_eq!(found.outcome, StepOutcome::AlreadyExisted);
    assert_eq!(id.as_deref(), Some(warehouse.id.as_str()));
    let report = again.bootstrap.expect("bootstrapped");
    let grants: Vec<_> = report.steps.iter().filter(|s| s.step.contains(" on catalog demo to ")).collect();
    assert_eq!(grants.len(), 5, "{grants:?}");
    assert!(grants.iter().all(|s| s.outcome == StepOutcome::AlreadyExisted), "{grants:?}");
}
