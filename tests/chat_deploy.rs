//! Deployments from chat, end to end through the sandbox's Teams, connector
//! and ARM: `deploy spoke NAME` → What-If plan card → Approve → progress in
//! place → one result card; refusal and audit for a person without the
//! deploy role; a failing resource named with its error; cancel; a second
//! approver; and a bot restarted mid-deployment that resumes it.

mod support;

use std::time::{Duration, Instant};

use sandbox::connector::Verb;
use serde_json::{json, Value};
use support::chat::{button, card_text, showing, visible, wait_for, Chat};
use support::World;

use support::deploy::{real_infra_world, VNET};

/// The sandbox and drbot, with the spoke template in a templates directory.
async fn start(
    resource_duration: Duration,
    adjust: impl FnOnce(&mut drbot::config::Config),
) -> (World, tempfile::TempDir) {
    let templates = tempfile::tempdir().expect("temp dir");
    let dir = templates.path().to_path_buf();
    let world = World::start_with(|config| {
        config.deploy.templates_dir = dir;
        config.deploy.poll_interval_ms = 30;
        config.operations.card_update_interval_ms = 100;
        adjust(config);
    })
    .await;
    support::deploy::write_spoke_templates(&world.sandbox, templates.path());
    world.sandbox.arm.set_resource_duration(resource_duration);
    (world, templates)
}
/// How many result cards titled `title` the chat shows (each replaces its
/// deployment's progress card).
fn results(world: &World, title: &str) -> usize {
    showing(&world.sandbox.connector.recorded(), title)
}

/// Types `command`; waits for the plan card that replaces "Planning…".
async fn plan(world: &World, chat: &Chat<'_>, command: &str) -> (String, Value) {
    let planning = chat.say(command).await;
    assert!(card_text(&planning).contains("Planning the deployment"), "{}", card_text(&planning));
    let id = planning.activity_id.clone();
    let plan = wait_for(world, "the plan card", |r| r.verb == Verb::Update && r.activity_id == id).await;
    (id, plan.adaptive_card().cloned().expect("a card"))
}

/// The one deployment of this conversation, once it has ended.
async fn ended(world: &World, conversation: &str) -> drbot::store::operations::Operation {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ops = world.bot.app.store.recent_operations(conversation, 10).await.unwrap();
        if let Some(op) = ops.iter().find(|op| op.state.is_terminal() && op.final_posted) {
            assert_eq!(ops.len(), 1, "one deployment");
            return op.clone();
        }
        assert!(Instant::now() < deadline, "the deployment never ended: {ops:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn deploy_spoke_plans_with_what_if_then_approve_runs_it_with_progress_and_one_result() {
    let (world, _templates) = start(Duration::from_millis(150), |_| {}).await;
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;
    let (card_id, plan_card) = plan(&world, &chat, "deploy spoke sales").await;
    let text = plan_card.to_string();
    assert!(text.contains("Deploy spoke sales"), "{text}");
    assert!(text.contains("rg-drbot-sales-westeurope") && text.contains("rg-drbot-sales-northeurope"), "{text}");
    // Three creates per region, no deletes.
    let creates: Vec<&Value> = plan_card["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "ColumnSet")
        .map(|b| &b["columns"][0]["items"][0]["text"])
        .collect();
    assert_eq!(creates, [&json!("3"), &json!("3")], "{text}");
    assert!(!text.contains("DELETE"), "{text}");
    assert!(plan_card.to_string().contains("deploy.cancel"));

    let data = button(&plan_card, "deploy.approve");
    let clicked = chat.click(&card_id, "deploy.approve", data.clone()).await;
    assert_eq!(clicked.status, 200);
    assert!(clicked.body.to_string().contains("Deploying spoke sales"), "{}", clicked.body);
    let again = chat.click(&card_id, "deploy.approve", data).await;
    assert!(again.body.to_string().contains("Already deploying"), "{}", again.body);

    let op = ended(&world, chat.conversation.id()).await;
    assert_eq!(op.state.as_str(), "succeeded", "{:?}", op.result);
    let result = wait_for(&world, "the result card", |r| {
        r.activity_id == card_id && card_text(r).contains("Deployed spoke sales")
    })
    .await;
    let result_text = card_text(&result);
    assert!(result_text.contains(&world.sandbox.primary_url()), "{result_text}");
    assert!(result_text.contains(&world.sandbox.secondary_url()), "{result_text}");
    assert_eq!(results(&world, "Deployed spoke sales"), 1, "exactly one result card");

    // Progress went to the clicked card, in place.
    let updates: Vec<String> = world
        .sandbox
        .connector
        .recorded()
        .iter()
        .filter(|r| r.verb == Verb::Update && r.activity_id == card_id && card_text(r).contains("resources done"))
        .map(card_text)
        .collect();
    assert!(updates.iter().any(|u| u.contains("In progress")), "a resource in progress was shown: {updates:?}");
    let shown = visible(&world.sandbox.connector.recorded());
    let last = shown.iter().find(|r| r.activity_id == card_id).map(card_text).unwrap_or_default();
    assert!(last.contains("Deployed spoke sales"), "the result replaced the progress: {last}");
    assert!(!last.contains("deploy.cancel"), "the finished card has no Cancel");
    // The Databricks side was set up, as alice.
    assert!(world.sandbox.primary.metastore.read().catalogs.contains_key("sales"));
    assert_eq!(world.sandbox.arm.deployment_puts().len(), 2);

    let audit = world.bot.app.store.recent_audit(20).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "plan a deployment" && e.result == "allowed"));
    assert!(audit.iter().any(|e| e.action == "run a deployment" && e.result.starts_with("started")));
    let payload: Value = op.payload.clone();
    assert_eq!(payload["checkpoint"]["bootstrapped"], true, "the last checkpoint is kept");
}

#[tokio::test]
async fn a_person_without_the_deploy_role_is_refused_and_audited_and_bad_buttons_do_not_panic() {
    let (world, _templates) = start(Duration::from_millis(10), |_| {}).await;
    let bob = Chat::personal(&world, "bob");
    bob.sign_in().await;
    let refused = card_text(&bob.say("deploy spoke sales").await);
    assert!(refused.contains("deploy") && refused.contains("Bob"), "{refused}");
    let clicked = bob.click("1", "deploy.approve", json!({"plan_id": "0000-1111"})).await;
    assert!(clicked.body.to_string().contains("deploy"), "{}", clicked.body);
    let audit = world.bot.app.store.recent_audit(20).await.unwrap();
    let bobs: Vec<_> = audit.iter().filter(|e| e.actor_upn.as_deref() == Some("bob@contoso.example")).collect();
    assert!(bobs.iter().any(|e| e.action == "deploy" && e.result == "refused"), "{bobs:?}");
    assert!(bobs.iter().any(|e| e.action == "approve a deployment" && e.result == "refused"), "{bobs:?}");
    assert!(world.sandbox.arm.deployment_puts().is_empty());

    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    for data in [json!({}), json!({"plan_id": 5}), json!({"plan_id": "x".repeat(500)}), json!(null)] {
        let answer = alice.click("1", "deploy.approve", data.clone()).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body["statusCode"], 400, "{data}: {}", answer.body);
    }
    let expired = alice.click("1", "deploy.approve", json!({"plan_id": "0000-1111"})).await;
    assert!(expired.body.to_string().contains("can no longer be deployed"), "{}", expired.body);
    let discarded = alice.click("1", "deploy.cancel", json!({"plan_id": "0000-1111"})).await;
    assert!(discarded.body.to_string().contains("Plan discarded"), "{}", discarded.body);
    let nothing = alice.click("1", "deploy.cancel", json!({"operation_id": "no-such-op"})).await;
    assert!(nothing.body.to_string().contains("Nothing to cancel"), "{}", nothing.body);
    let usage = card_text(&alice.say("deploy spoke Not_A_Name").await);
    assert!(usage.contains("Correlation id"), "{usage}");
}

#[tokio::test]
async fn a_failing_resource_is_named_with_its_error_on_the_result_card() {
    let (world, _templates) = start(Duration::from_millis(30), |_| {}).await;
    world.sandbox.arm.fail_resource_type(Some(VNET));
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;
    let (card_id, plan_card) = plan(&world, &chat, "deploy spoke broken").await;
    chat.click(&card_id, "deploy.approve", button(&plan_card, "deploy.approve")).await;
    let op = ended(&world, chat.conversation.id()).await;
    assert_eq!(op.state.as_str(), "failed");
    let result = wait_for(&world, "the failure card", |r| {
        r.activity_id == card_id && card_text(r).contains("Deployment of spoke broken failed")
    })
    .await;
    let text = card_text(&result);
    assert!(text.contains("vnet-broken-primary") && text.contains("vnet-broken-secondary"), "{text}");
    assert!(text.contains(VNET) && text.contains("failed:"), "{text}");
    assert!(text.contains("Correlation id"), "{text}");
    assert_eq!(results(&world, "Deployment of spoke broken"), 1);
}

#[tokio::test]
async fn cancel_on_the_progress_card_cancels_both_regions() {
    let (world, _templates) = start(Duration::from_secs(60), |_| {}).await;
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;
    let (card_id, plan_card) = plan(&world, &chat, "deploy spoke slow").await;
    let progress = chat.click(&card_id, "deploy.approve", button(&plan_card, "deploy.approve")).await;
    let cancel = button(&progress.body["value"], "deploy.cancel");
    wait_for(&world, "a resource in progress", |r| r.activity_id == card_id && card_text(r).contains("In progress"))
        .await;
    // Someone without the deploy role cannot cancel it by id.
    let op_id = world.bot.app.store.recent_operations(chat.conversation.id(), 1).await.unwrap()[0].id.clone();
    let bob = Chat::personal(&world, "bob");
    bob.sign_in().await;
    let refused = card_text(&bob.say(&format!("cancel {op_id}")).await);
    assert!(refused.contains("cancel a deployment") && refused.contains("Bob"), "{refused}");
    assert!(!world.bot.app.store.operation(&op_id).await.unwrap().unwrap().cancel_requested);
    let stopping = chat.click(&card_id, "deploy.cancel", cancel).await;
    assert!(stopping.body.to_string().contains("Stopping"), "{}", stopping.body);
    let op = ended(&world, chat.conversation.id()).await;
    assert_eq!(op.state.as_str(), "canceled", "{:?}", op.result);
    wait_for(&world, "the cancelled card", |r| {
        r.activity_id == card_id && card_text(r).contains("Deployment of spoke slow cancelled")
    })
    .await;
    let typed = card_text(&chat.say(&format!("cancel {}", op.id)).await);
    assert!(typed.contains("Nothing to cancel"), "{typed}");
    let audit = world.bot.app.store.recent_audit(20).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "cancel a deployment" && e.result == "requested"));
}

#[tokio::test]
async fn a_second_approver_is_needed_when_configured() {
    let (world, _templates) = start(Duration::from_millis(10), |config| {
        config.access.deploy_needs_second_approver = true;
        // Roles name object ids, never UPNs (issue 16).
        config.access.deploy.push(sandbox::directory::Directory::default().user("carol").unwrap().oid.clone());
    })
    .await;
    let group = world.sandbox.teams.group_chat("dr-team");
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let carol = Chat::personal(&world, "carol");
    carol.sign_in().await;
    let bob = Chat { world: &world, user: world.sandbox.teams.user("bob").unwrap(), conversation: group.clone() };
    let alice = Chat { world: &world, user: alice.user, conversation: group.clone() };
    let carol = Chat { world: &world, user: carol.user, conversation: group };
    world
        .sandbox
        .connector
        .set_members(alice.conversation.id(), &[carol.user.clone(), bob.user.clone(), alice.user.clone()]);
    let (card_id, plan_card) = plan(&world, &alice, "deploy spoke pair").await;
    let data = button(&plan_card, "deploy.approve");
    // Each member's client asks for their own view of the plan.
    let refresh = &plan_card["refresh"];
    assert_eq!(refresh["action"]["verb"], "deploy.view", "{plan_card}");
    assert_eq!(refresh["userIds"], json!([alice.user.teams_id, carol.user.teams_id, bob.user.teams_id]));
    let view_data = refresh["action"]["data"].clone();
    let verbs = |view: &Value| -> Vec<String> {
        view["value"]["actions"]
            .as_array()
            .map(|a| a.iter().filter_map(|a| a["verb"].as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    // Bob holds no deploy role (and has not signed in): the plan, no buttons, and why.
    let bobs = bob.click(&card_id, "deploy.view", view_data.clone()).await.body;
    assert!(verbs(&bobs).is_empty(), "{bobs}");
    assert!(bobs.to_string().contains("Only people with the deploy role can approve"), "{bobs}");
    assert_eq!(
        verbs(&carol.click(&card_id, "deploy.view", view_data.clone()).await.body),
        ["deploy.approve", "deploy.cancel"]
    );

    let first = carol.click(&card_id, "deploy.approve", data.clone()).await;
    assert!(first.body.to_string().contains("Awaiting a second person"), "{}", first.body);
    // Carol approved: no second Approve for her; Alice still has hers.
    let carols = carol.click(&card_id, "deploy.view", view_data.clone()).await.body;
    assert!(verbs(&carols).is_empty() && carols.to_string().contains("You approved it"), "{carols}");
    assert_eq!(verbs(&alice.click(&card_id, "deploy.view", view_data).await.body), ["deploy.approve", "deploy.cancel"]);
    let same = carol.click(&card_id, "deploy.approve", data.clone()).await;
    assert!(same.body.to_string().contains("Awaiting a second person"), "{}", same.body);
    assert!(world.bot.app.store.recent_operations(alice.conversation.id(), 10).await.unwrap().is_empty());

    let second = alice.click(&card_id, "deploy.approve", data).await;
    assert!(second.body.to_string().contains("Deploying spoke pair"), "{}", second.body);
    let op = ended(&world, alice.conversation.id()).await;
    assert_eq!(op.state.as_str(), "succeeded", "{:?}", op.result);
    assert_eq!(op.payload["approved_by"], json!(["Carol Guest", "Alice Admin"]));
}

#[tokio::test]
async fn a_restarted_bot_resumes_the_deployment_and_posts_one_result() {
    let (mut world, _templates) = start(Duration::from_millis(800), |config| config.operations.lease_secs = 1).await;
    let conversation = {
        let chat = Chat::personal(&world, "alice");
        chat.sign_in().await;
        let (card_id, plan_card) = plan(&world, &chat, "deploy spoke resume").await;
        chat.click(&card_id, "deploy.approve", button(&plan_card, "deploy.approve")).await;
        chat.conversation.id().to_string()
    };
    // Wait until both regions are submitted and checkpointed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let first_owner = loop {
        let ops = world.bot.app.store.recent_operations(&conversation, 10).await.unwrap();
        let submitted = ops.first().is_some_and(|op| {
            op.payload["checkpoint"]["regions"].as_array().is_some_and(|r| r.iter().all(|r| r["phase"] == "submitted"))
        });
        if submitted {
            assert!(!ops[0].state.is_terminal(), "still running at the restart");
            break ops[0].owner.clone();
        }
        assert!(Instant::now() < deadline, "never checkpointed: {ops:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    world.restart_bot().await;

    let op = ended(&world, &conversation).await;
    assert_eq!(op.state.as_str(), "succeeded", "{:?}", op.result);
    assert_ne!(op.owner, first_owner, "the new bot finished it");
    assert!(op.takeovers >= 1);
    assert_eq!(world.sandbox.arm.deployment_puts().len(), 2, "followed, not deployed again");
    wait_for(&world, "the result card", |r| r.verb == Verb::Update && card_text(r).contains("Deployed spoke resume"))
        .await;
    assert_eq!(results(&world, "Deployed spoke resume"), 1, "exactly one result card");
}

/// `deploy hub` then `deploy spoke sales` from chat with the repository's own
/// infra/ (hub.json, spoke.json, parameters/): the spoke's hub-derived
/// parameters come from the hub deployments, its workspaces (pointed at the
/// sandbox's two by their runtime properties) are bootstrapped, and the
/// result card has both workspace URLs.
#[tokio::test]
async fn the_real_infra_templates_deploy_hub_transit_and_spoke_from_chat_through_the_bootstrap() {
    let world = real_infra_world("sales", |_| {}).await;
    let arm = &world.sandbox.arm;
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;

    // Before the hub exists, a spoke is refused with what to do.
    let planning = chat.say("deploy spoke sales").await;
    let refused = wait_for(&world, "the refused plan", |r| {
        r.verb == Verb::Update && r.activity_id == planning.activity_id && card_text(r).contains("deploy hub first")
    })
    .await;
    assert!(card_text(&refused).contains("drbot-hub-primary"), "{}", card_text(&refused));
    assert!(arm.deployment_puts().is_empty());

    for (command, title) in [
        ("deploy hub", "Deployed the hub"),
        ("deploy transit", "Deployed the transit spoke"),
        ("deploy spoke sales", "Deployed spoke sales"),
    ] {
        let (card_id, plan_card) = plan(&world, &chat, command).await;
        assert!(!plan_card.to_string().contains("DELETE"), "{plan_card}");
        let clicked = chat.click(&card_id, "deploy.approve", button(&plan_card, "deploy.approve")).await;
        assert_eq!(clicked.status, 200);
        let result = wait_for(&world, title, |r| {
            r.activity_id == card_id && (card_text(r).contains(title) || card_text(r).contains(" failed"))
        })
        .await;
        let text = card_text(&result);
        assert!(text.contains(title), "{text}");
        if command == "deploy spoke sales" {
            assert!(text.contains(&world.sandbox.primary_url()), "{text}");
            assert!(text.contains(&world.sandbox.secondary_url()), "{text}");
        }
    }
    let puts = arm.deployment_puts();
    for put in [
        "rg-drbot-hub-westeurope/drbot-hub-primary",
        "rg-drbot-hub-northeurope/drbot-hub-secondary",
        "rg-drbot-transit-westeurope/drbot-transit-primary",
        "rg-drbot-transit-northeurope/drbot-transit-secondary",
        "rg-drbot-sales-westeurope/drbot-spoke-sales-primary",
        "rg-drbot-sales-northeurope/drbot-spoke-sales-secondary",
    ] {
        assert!(puts.iter().any(|p| p == put), "{put} in {puts:?}");
    }

    // The spoke's parameters as drbot planned them: the hub's outputs, not
    // the example values of infra/parameters/.
    let user = world.sandbox.teams.user("alice").unwrap();
    let token = world.sandbox.entra.user_token(&user, "drbot", sandbox::arm::ARM_AUDIENCE, "user_impersonation");
    let tokens =
        drbot::deploy::StaticTokens::new().with(drbot::identity::ARM_SCOPE, drbot::identity::AccessToken::new(token));
    let client = drbot::azure::ArmClient::new(reqwest::Client::new(), &world.config.deploy.arm_url);
    let spoke = drbot::deploy::Target::parse("spoke", Some("sales")).unwrap();
    let planned = drbot::deploy::prepare(&client, &tokens, &world.config.deploy, spoke).await.unwrap();
    let primary = &planned.region(drbot::deploy::Role::Primary).parameters;
    let secondary = &planned.region(drbot::deploy::Role::Secondary).parameters;
    assert_eq!(primary["firewallPrivateIp"], "10.0.0.4");
    assert_eq!(secondary["firewallPrivateIp"], "10.128.0.4");
    assert_eq!(primary["hubVnetName"], "hub-weu-vnet");
    assert_eq!(secondary["keyVaultName"], "kv-drbot-hub-neu");
    assert_eq!(primary["hubResourceGroup"], "rg-drbot-hub-westeurope");
    for versions in [primary, secondary] {
        let version = versions["managedDisksKeyVersion"].as_str().unwrap();
        assert!(version.len() == 32 && version != "fedcba9876543210fedcba9876543210", "{version}");
        // The managed-services key is named without a version: rotation needs no redeploy.
        assert!(!versions.contains_key("managedServicesKeyVersion"));
    }
    assert_ne!(primary["managedDisksKeyVersion"], secondary["managedDisksKeyVersion"]);
    // The secondary reaches the primary's storage, and keeps its external data on the pair's
    // one geo-redundant account (the primary's).
    assert_eq!(secondary["peerSpokeResourceGroup"], "rg-drbot-sales-westeurope");
    assert_eq!(secondary["peerUcStorageAccountName"], primary["ucStorageAccountName"]);
    assert_eq!(secondary["externalStorageAccountName"], primary["externalStorageAccountName"]);

    // The transit spoke's parameters come from the hub the same way: it peers with the hub
    // and its web-auth workspace uses the hub's keys.
    let transit = drbot::deploy::Target::parse("transit", None).unwrap();
    let planned = drbot::deploy::prepare(&client, &tokens, &world.config.deploy, transit).await.unwrap();
    let primary = &planned.region(drbot::deploy::Role::Primary).parameters;
    let secondary = &planned.region(drbot::deploy::Role::Secondary).parameters;
    assert_eq!(primary["firewallPrivateIp"], "10.0.0.4");
    assert_eq!(secondary["hubVnetName"], "hub-neu-vnet");
    assert_eq!(secondary["hubResourceGroup"], "rg-drbot-hub-northeurope");
    assert_eq!(planned.region(drbot::deploy::Role::Primary).deployment.resource_group, "rg-drbot-transit-westeurope");
    assert_ne!(primary["managedDisksKeyVersion"], "fedcba9876543210fedcba9876543210");

    // A secondary region that is not the primary's Azure pair is refused before anything runs.
    let mut unpaired = world.config.deploy.clone();
    unpaired.secondary.location = "eastus".into();
    let refused = drbot::deploy::prepare(&client, &tokens, &unpaired, drbot::deploy::Target::Hub).await.unwrap_err();
    assert!(refused.to_string().contains("not the Azure paired region of the primary westeurope"), "{refused}");

    // The Databricks side of both regions, and the recipient on the primary.
    for workspace in [&world.sandbox.primary, &world.sandbox.secondary] {
        let metastore = workspace.metastore.read();
        assert!(metastore.catalogs.contains_key("sales"));
    }
}

/// Approve clicked by someone not signed in: a sign-in prompt that asks for
/// the click again, and nothing queued to run after the sign-in (it used to
/// queue `replicate --dry-run`).
#[tokio::test]
async fn approve_before_signing_in_asks_to_sign_in_and_queues_nothing() {
    let (world, _templates) = start(Duration::from_millis(10), |_| {}).await;
    let carol = Chat::personal(&world, "carol");
    let answer = carol.click("1", "deploy.approve", json!({"plan_id": "0000-1111"})).await;
    assert_eq!(answer.body["type"], "application/vnd.microsoft.activity.loginRequest", "{}", answer.body);
    let text = answer.body.to_string();
    assert!(!text.contains("replicate"), "{text}");
    assert!(text.contains("click the button again"), "{text}");
    let queued = world
        .bot
        .app
        .store
        .take_pending_command(carol.conversation.id(), &carol.user.teams_id, i64::MAX / 2, i64::MAX)
        .await
        .unwrap();
    assert_eq!(queued, None, "nothing runs by itself after the sign-in");
}
