//! Replication from chat, end to end through the sandbox's Teams and
//! connector: the plan card, Run, progress updated in place and paced, the
//! result card in its place; a double click starts one run; a person without the
//! replicate role is refused and the attempt is audited.

mod support;

use std::time::Duration;

use sandbox::connector::{Recorded, Verb};
use serde_json::{json, Value};
use support::chat::{card_text, showing, wait_for, Chat};
use support::World;
fn has_verb(recorded: &Recorded, verb: &str) -> bool {
    card_text(recorded).contains(&format!("\"verb\":\"{verb}\""))
}

/// The Run button's data on a plan card.
fn run_data(card: &Value) -> Value {
    card["actions"]
        .as_array()
        .and_then(|actions| actions.iter().find(|a| a["verb"] == "replicate.run"))
        .map(|a| a["data"].clone())
        .expect("a Run button")
}

/// A plan card for `chat`: types `replicate`, waits for the card that
/// replaces the "planning" card, which offers Run.
async fn plan(world: &World, chat: &Chat<'_>) -> (String, Value) {
    let (id, plan) = plan_for(world, chat, "replicate").await;
    assert!(has_verb(&plan, "replicate.run"), "{}", card_text(&plan));
    (id, plan.adaptive_card().cloned().expect("a card"))
}

/// A dry run's plan card: the dry-run banner and no Run button.
async fn dry_run_plan(world: &World, chat: &Chat<'_>) -> (String, Value) {
    let (id, plan) = plan_for(world, chat, "replicate --dry-run").await;
    assert!(!has_verb(&plan, "replicate.run"), "a dry run offers no Run: {}", card_text(&plan));
    assert!(card_text(&plan).contains("Dry run: this is what replication would do"), "{}", card_text(&plan));
    (id, plan.adaptive_card().cloned().expect("a card"))
}

async fn plan_for(world: &World, chat: &Chat<'_>, command: &str) -> (String, Recorded) {
    let planning = chat.say(command).await;
    assert!(card_text(&planning).contains("Planning"), "{}", card_text(&planning));
    let id = planning.activity_id.clone();
    let plan = wait_for(world, "the plan card", |r| r.verb == Verb::Update && r.activity_id == id).await;
    (id, plan)
}

/// The plan id a plan card's Cancel button carries (a dry run has no Run).
fn plan_id_data(card: &Value) -> Value {
    card["actions"]
        .as_array()
        .and_then(|actions| actions.iter().find(|a| a["verb"] == "replicate.cancel"))
        .map(|a| json!({"plan_id": a["data"]["plan_id"]}))
        .expect("a Cancel button")
}

fn fast_cards(config: &mut drbot::config::Config) {
    config.operations.card_update_interval_ms = 300;
}

#[tokio::test]
async fn plan_then_run_updates_in_place_and_posts_one_result() {
    let world = World::start_with(fast_cards).await;
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;
    let (card_id, plan_card) = plan(&world, &chat).await;
    let text = plan_card.to_string();
    assert!(text.contains("Deep clone table") && !text.contains("Dry run"), "{text}");

    let data = run_data(&plan_card);
    let clicked = chat.click(&card_id, "replicate.run", data.clone()).await;
    assert_eq!(clicked.status, 200);
    assert_eq!(clicked.body["type"], "application/vnd.microsoft.card.adaptive", "{}", clicked.body);
    // Clicking again (a double click, or Teams replaying the invoke) starts nothing new.
    let again = chat.click(&card_id, "replicate.run", data).await;
    assert!(again.body.to_string().contains("Already running"), "{}", again.body);

    // The result replaces the progress card: one card from plan to result.
    let result = wait_for(&world, "the result card", |r| {
        r.verb == Verb::Update
            && r.activity_id == card_id
            && has_verb(r, "command")
            && card_text(r).contains("Run details")
    })
    .await;
    let result_text = card_text(&result);
    assert!(result_text.contains("succeeded"), "{result_text}");

    // Marked delivered once the card is written.
    let deadline = std::time::Instant::now() + support::PATIENCE;
    let operations = loop {
        let operations = world.bot.app.store.recent_operations(chat.conversation.id(), 10).await.unwrap();
        if operations.iter().all(|op| op.final_posted) || std::time::Instant::now() > deadline {
            break operations;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(operations.len(), 1, "one run for two clicks");
    assert!(operations[0].final_posted);
    assert_eq!(showing(&world.sandbox.connector.recorded(), "Run details"), 1, "exactly one result card");

    // The progress card was updated in place, no more often than configured.
    let updates: Vec<Recorded> = world
        .sandbox
        .connector
        .recorded()
        .into_iter()
        .filter(|r| r.verb == Verb::Update && r.activity_id == card_id && card_text(r).contains("run_id"))
        .collect();
    assert!(!updates.is_empty(), "progress shown on the card");
    for pair in updates.windows(2) {
        assert!(pair[1].at.duration_since(pair[0].at) >= Duration::from_millis(250), "updates too close");
    }
    let history = world.bot.app.store.run_with_results(&operations[0].id, 10).await.unwrap().unwrap();
    assert_eq!(history.0.counts.as_ref().unwrap()["outcome"], "succeeded");
    let audit = world.bot.app.store.recent_audit(20).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "run a replication" && e.result.starts_with("started")));
}

#[tokio::test]
async fn a_person_without_the_replicate_role_is_refused_and_audited() {
    let world = World::start().await;
    let bob = Chat::personal(&world, "bob");
    bob.sign_in().await;
    let refused = card_text(&bob.say("replicate").await);
    assert!(refused.contains("replicate") && refused.contains("Bob"), "{refused}");

    // A dry run is a read: Unity Catalog decides what bob sees. A forged Run is refused.
    let (card_id, plan_card) = dry_run_plan(&world, &bob).await;
    let clicked = bob.click(&card_id, "replicate.run", plan_id_data(&plan_card)).await;
    assert!(clicked.body.to_string().contains("replicate"), "{}", clicked.body);
    assert!(world.bot.app.store.recent_operations(bob.conversation.id(), 10).await.unwrap().is_empty());

    let audit = world.bot.app.store.recent_audit(20).await.unwrap();
    let bobs: Vec<_> = audit.iter().filter(|e| e.actor_upn.as_deref() == Some("bob@contoso.example")).collect();
    assert!(bobs.iter().any(|e| e.action == "replicate" && e.result == "refused"), "{bobs:?}");
    assert!(bobs.iter().any(|e| e.action == "run a replication" && e.result == "refused"), "{bobs:?}");
    assert!(bobs.iter().any(|e| e.action == "plan a replication" && e.result == "allowed"), "{bobs:?}");
}

#[tokio::test]
async fn run_on_a_plan_someone_else_read_is_refused_with_a_card_that_says_why() {
    // Issue 16, finding 6: a card button is bound to the person who clicks it.
    // Carol is made a second operator here: both may run replications, but
    // neither may run a plan the other read.
    let carol_oid = "a11ce000-0000-4000-8000-000000000003";
    let world = World::start_with(|config| {
        fast_cards(config);
        config.access.replicate.push(carol_oid.into());
    })
    .await;
    let room = world.sandbox.teams.group_chat("dr-room");
    let in_room = |login: &str| Chat {
        world: &world,
        user: world.sandbox.teams.user(login).unwrap(),
        conversation: room.clone(),
    };
    let (carol, alice) = (in_room("carol"), in_room("alice"));
    carol.sign_in().await;
    alice.sign_in().await;

    // Alice plans with her own access; Carol clicks her Run.
    let (card_id, plan_card) = plan(&world, &alice).await;
    let clicked = carol.click(&card_id, "replicate.run", run_data(&plan_card)).await;

    assert_eq!(clicked.status, 200);
    assert!(clicked.body.to_string().contains("This plan was read by someone else"), "{}", clicked.body);
    assert!(world.bot.app.store.recent_operations(room.id(), 10).await.unwrap().is_empty(), "nothing ran");
    let audit = world.bot.app.store.recent_audit(20).await.unwrap();
    assert!(
        audit.iter().any(|e| e.actor_upn.as_deref() == Some("carol@contoso.example")
            && e.action == "run a replication"
            && e.result.starts_with("refused")),
        "{audit:?}"
    );
}

/// Two people in a group chat, one with the role: the plan card asks each
/// member's client for their own view (Universal Actions' `refresh`); its
/// author gets Run and Cancel, the other the plan and who may act. A forged
/// click by the one without the role is refused on the server.
#[tokio::test]
async fn each_member_of_a_group_chat_sees_their_own_view_of_a_plan() {
    let world = World::start_with(fast_cards).await;
    let room = world.sandbox.teams.group_chat("dr-views");
    let in_room = |login: &str| Chat {
        world: &world,
        user: world.sandbox.teams.user(login).unwrap(),
        conversation: room.clone(),
    };
    let (alice, bob) = (in_room("alice"), in_room("bob"));
    world.sandbox.connector.set_members(room.id(), &[bob.user.clone(), alice.user.clone()]);
    alice.sign_in().await;

    let (card_id, plan_card) = plan(&world, &alice).await;
    let refresh = &plan_card["refresh"];
    assert_eq!(refresh["action"]["verb"], "replicate.view", "{plan_card}");
    assert_eq!(refresh["userIds"], json!([alice.user.teams_id, bob.user.teams_id]), "the requester first");
    let view_data = refresh["action"]["data"].clone();
    // Every button also works where Action.Execute does not (its Submit fallback).
    let run = plan_card["actions"].as_array().unwrap().iter().find(|a| a["verb"] == "replicate.run").unwrap();
    assert_eq!(run["fallback"]["type"], "Action.Submit");
    assert_eq!(run["fallback"]["data"]["verb"], "replicate.run");

    // Bob's client asks for his view: no buttons, and who may act.
    let bobs = bob.click(&card_id, "replicate.view", view_data.clone()).await;
    assert_eq!(bobs.status, 200);
    let bobs_card = &bobs.body["value"];
    assert_eq!(bobs.body["type"], "application/vnd.microsoft.card.adaptive", "{}", bobs.body);
    assert!(bobs_card["actions"].as_array().is_none_or(|a| a.is_empty()), "{bobs_card}");
    assert!(bobs_card.to_string().contains("Only Alice Admin can run or cancel this plan"), "{bobs_card}");
    // Alice's view: Run and Cancel.
    let alices = alice.click(&card_id, "replicate.view", view_data).await;
    let verbs: Vec<&str> = alices.body["value"]["actions"]
        .as_array()
        .map(|a| a.iter().filter_map(|a| a["verb"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(verbs, ["replicate.run", "replicate.cancel"], "{}", alices.body);

    // Bob forges the click: refused by the server, nothing runs.
    bob.sign_in().await;
    let forged = bob.click(&card_id, "replicate.run", run_data(&plan_card)).await;
    assert!(forged.body.to_string().contains("replicate"), "{}", forged.body);
    assert!(world.bot.app.store.recent_operations(room.id(), 10).await.unwrap().is_empty(), "nothing ran");
    let audit = world.bot.app.store.recent_audit(20).await.unwrap();
    assert!(
        audit.iter().any(|e| e.actor_upn.as_deref() == Some("bob@contoso.example")
            && e.action == "run a replication"
            && e.result.starts_with("refused")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_button_without_a_plan_or_of_an_unknown_kind_gets_a_clear_error() {
    let world = World::start().await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let bad = alice.click("1", "replicate.run", json!({"plan_id": "no such plan"})).await;
    assert_eq!(bad.status, 200);
    assert_eq!(bad.body["statusCode"], 400, "{}", bad.body);
    let expired = alice.click("1", "replicate.run", json!({"plan_id": "0000-1111"})).await;
    assert!(expired.body.to_string().contains("can no longer run"), "{}", expired.body);
    let unknown = alice.click("1", "format.disk", json!({})).await;
    assert_eq!(unknown.body["statusCode"], 400, "{}", unknown.body);
}

/// Types `status` and waits for the dashboard that replaces "Checking readiness".
async fn dashboard(world: &World, chat: &Chat<'_>) -> String {
    let checking = chat.say("status").await;
    assert!(card_text(&checking).contains("Checking readiness"), "{}", card_text(&checking));
    let id = checking.activity_id.clone();
    let card = wait_for(world, "the dashboard", |r| r.verb == Verb::Update && r.activity_id == id).await;
    card_text(&card)
}

#[tokio::test]
async fn status_shows_the_seeded_drift_and_is_ready_after_a_replication() {
    let world = World::start_with(fast_cards).await;
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;
    let before = dashboard(&world, &chat).await;
    // The seed left the secondary without its newest catalog, with stale clones and drifted grants.
    assert!(before.contains("Not ready"), "{before}");
    assert!(before.contains("sales") && before.contains("Tables") && before.contains("Grants"), "{before}");
    assert!(before.contains("never"), "no replication has run yet: {before}");

    // The data and the workspace assets: a secondary without the primary's
    // jobs is not ready to fail over to.
    let (card_id, planned) = plan_for(&world, &chat, "replicate --assets").await;
    let plan_card = planned.adaptive_card().cloned().expect("a card");
    let clicked = chat.click(&card_id, "replicate.run", run_data(&plan_card)).await;
    assert_eq!(clicked.status, 200);
    wait_for(&world, "the result card", |r| r.activity_id == card_id && card_text(r).contains("Run details")).await;

    let after = dashboard(&world, &chat).await;
    assert!(after.contains("\"Ready\""), "{after}");
    assert!(after.contains("succeeded"), "the last run is shown: {after}");
}

/// `replicate --dry-run` shows the dry-run banner and no Run; a Run click
/// forged with its plan id starts nothing (it used to offer Run and run it).
#[tokio::test]
async fn a_dry_run_plan_cannot_be_run() {
    let world = World::start().await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let (card_id, plan_card) = dry_run_plan(&world, &alice).await;
    let clicked = alice.click(&card_id, "replicate.run", plan_id_data(&plan_card)).await;
    assert!(clicked.body.to_string().contains("dry run"), "{}", clicked.body);
    assert!(world.bot.app.store.recent_operations(alice.conversation.id(), 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn replicate_assets_only_copies_every_job_paused_records_pause_states_and_then_plans_nothing() {
    let world = World::start_with(fast_cards).await;
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;
    // `status` counts the jobs the secondary lacks.
    let before = dashboard(&world, &chat).await;
    assert!(before.contains("\"Jobs\"") && before.contains("299"), "{before}");
    assert!(before.contains("replicate --assets copies them"), "a reason the pair is not ready: {before}");
    let (card_id, planned) = plan_for(&world, &chat, "replicate --assets-only").await;
    let text = card_text(&planned);
    assert!(text.contains("Create job") && !text.contains("Deep clone table"), "{text}");
    // The job on a policy nobody mapped is on the card, with why; the pair's warehouses map.
    assert!(text.contains("cluster policy") && !text.contains("SQL warehouse"), "{text}");
    let plan_card = planned.adaptive_card().cloned().expect("a card");
    chat.click(&card_id, "replicate.run", run_data(&plan_card)).await;
    let result = wait_for(&world, "the result card", |r| {
        r.verb == Verb::Update && r.activity_id == card_id && card_text(r).contains("Run details")
    })
    .await;
    let result_text = card_text(&result);
    // The job on the unmapped policy is blocked, not failed: the run succeeded, and the card says what to settle.
    assert!(result_text.contains("Replication succeeded, with objects blocked"), "{result_text}");
    assert!(result_text.contains("Blocked: settle these, then replicate again"), "{result_text}");
    assert!(result_text.contains("cluster policy"), "the reason is on the card: {result_text}");
    // The run's details list it too, apart from failures.
    let ops = world.bot.app.store.recent_operations(chat.conversation.id(), 10).await.unwrap();
    let details = card_text(&chat.say(&format!("run {}", ops[0].id)).await);
    assert!(details.contains("0 failed · 1 blocked"), "{details}");
    assert!(details.contains("Succeeded, with objects blocked"), "worded as the result card words it: {details}");
    assert!(details.contains("Blocked: settle these") && details.contains("cluster policy"), "{details}");
    // Left blocked, it is not copied however often replication runs: an alert condition of its own
    // (the workspace assets': this run covered no data).
    // (The alerter runs beside the turn: wait for it.)
    let store = world.bot.app.store.clone();
    let raised = support::process::eventually("the blocked condition raised", support::PATIENCE, || async {
        let raised = store.raised_alerts(Some("default")).await.unwrap();
        raised.iter().any(|r| r.condition == "assets_blocked").then_some(raised)
    })
    .await;
    let blocked = raised.iter().find(|r| r.condition == "assets_blocked").unwrap();
    assert!(
        blocked.summary.contains("1 workspace asset(s) blocked") && blocked.summary.contains(&ops[0].id),
        "{blocked:?}"
    );
    let conditions: Vec<&str> = raised.iter().map(|r| r.condition.as_str()).collect();
    assert_eq!(conditions, ["assets_blocked"], "the run succeeded, and covered no data");

    let copies = world.sandbox.secondary.job_definitions.all();
    assert_eq!(copies.len(), 299, "every job but the blocked one");
    for copy in copies.values() {
        assert!(drbot::assets::job_settings::PauseState::of(copy).all_paused(), "{copy}");
        assert!(copy["tags"]["drbot_source_job_id"].is_string(), "{copy}");
    }
    let recorded = world.bot.app.store.job_pause_states("default").await.unwrap();
    assert_eq!(recorded.len(), 300, "every primary job's pause state, blocked ones too");

    let after = dashboard(&world, &chat).await;
    assert!(!after.contains("\"Jobs\""), "no job drift left: {after}");
    // Converged: the next plan has nothing to create or update.
    let (_, again) = plan_for(&world, &chat, "replicate --assets-only --dry-run").await;
    let again = card_text(&again);
    assert!(!again.contains("Create job") && !again.contains("Update job"), "{again}");
}
