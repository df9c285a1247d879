//! The browser end-to-end suite (tests/e2e/run.mjs) as one cargo test, so
//! `cargo test` and `.ci/test` count it: drbot in the Microsoft 365 Agents
//! Playground, driven by chromium as a person would. Missing tools fail the
//! test with what to run; nothing is skipped quietly.
//!
//! The Playground sends no per-person refresh, so each person's own view of
//! a group chat's card (`refresh.userIds`) is proven here another way: the
//! sandbox's Teams plays the group chat, and the cards drbot answers each
//! person's refresh with are drawn by the real Adaptive Cards renderer in
//! chromium (tests/e2e/views.mjs).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use sandbox::connector::Verb;
use serde_json::{json, Value};
use support::chat::{card_text, wait_for, Chat};
use support::World;

/// The suite's own bounds (each wait, the whole run) live in run.mjs; this is
/// only what the test needs to find and start it.
#[test]
fn drbot_works_in_the_agents_playground() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let suite = root.join("tests/e2e");
    let node = which("node").expect("node is missing: run tests/e2e/setup.sh (or .ci/setup.d/50-e2e.sh)");
    assert!(
        suite.join("node_modules/playwright-core").is_dir()
            && suite.join("node_modules/@microsoft/m365agentsplayground").is_dir(),
        "the e2e packages are missing: run tests/e2e/setup.sh (npm ci in tests/e2e)"
    );
    let chromium = std::env::var_os("DRBOT_E2E_CHROMIUM").map(PathBuf::from).unwrap_or("/usr/bin/chromium".into());
    assert!(chromium.exists(), "{} is missing: run tests/e2e/setup.sh (apt-get install chromium)", chromium.display());

    // Cargo built drbot for this test; the sandbox binary is another package's,
    // so it is built here, into the same profile directory.
    let drbot = PathBuf::from(env!("CARGO_BIN_EXE_drbot"));
    let bin_dir = drbot.parent().expect("drbot's directory");
    build_sandbox(&root, bin_dir);

    let output = Command::new(node)
        .arg(suite.join("run.mjs"))
        .current_dir(&root)
        .env("DRBOT_E2E_NO_BUILD", "1")
        .env("DRBOT_E2E_BIN_DIR", bin_dir)
        // docs/screenshots changes only when someone runs run.mjs on purpose,
        // not with every `cargo test` (each screenshot shows the time).
        .env("DRBOT_E2E_SCREENSHOTS", Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-screenshots"))
        .output()
        .expect("node starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the e2e suite failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("ok   01 welcome"), "the welcome step did not run:\n{stdout}\n{stderr}");
    assert!(stdout.contains("ok   10 history-chart"), "the chart step did not run:\n{stdout}\n{stderr}");
    assert!(stdout.contains("ok   14 drill"), "the drill step did not run:\n{stdout}\n{stderr}");
    // Two people, each in a Playground of their own, approve a failover and a failback.
    assert!(stdout.contains("ok   17 failover"), "the two-approver failover did not run:\n{stdout}\n{stderr}");
    assert!(stdout.contains("ok   18 failback"), "the failback did not run:\n{stdout}\n{stderr}");
    assert!(stdout.contains("steps passed"), "the suite did not report its steps:\n{stdout}\n{stderr}");
    println!("{stdout}");
}

/// Where screenshots go: `DRBOT_E2E_SCREENSHOTS` (docs/screenshots to refresh
/// the README's), else the test's own directory so `cargo test` leaves the tree clean.
fn screenshots() -> PathBuf {
    std::env::var_os("DRBOT_E2E_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-screenshots"))
}

/// The titles of a card's buttons, as a person sees them.
fn button_titles(card: &Value) -> Vec<String> {
    card["actions"].as_array().into_iter().flatten().filter_map(|a| a["title"].as_str().map(str::to_string)).collect()
}

/// The card drbot answers `chat`'s person with when their client refreshes
/// card `card_id` (the card's `refresh.action`).
async fn view_of(chat: &Chat<'_>, card_id: &str, refresh: &Value) -> Value {
    let verb = refresh["verb"].as_str().expect("a refresh verb");
    let answer = chat.click(card_id, verb, refresh["data"].clone()).await;
    assert_eq!(answer.body["type"], "application/vnd.microsoft.card.adaptive", "{}", answer.body);
    answer.body["value"].clone()
}

/// Alice plans a replication in a group chat of two; the plan card asks each
/// member's client for their own view. Her view has Run and Cancel, Bob's
/// none and says who may act; both are drawn in chromium as Teams would draw them.
#[tokio::test]
async fn each_persons_view_of_a_group_chats_plan_card_draws_in_chromium() {
    let node = which("node").expect("node is missing: run tests/e2e/setup.sh (or .ci/setup.d/50-e2e.sh)");
    let world = World::start().await;
    let room = world.sandbox.teams.group_chat("dr-on-call");
    let (alice, bob) = (Chat::in_group(&world, &room, "alice"), Chat::in_group(&world, &room, "bob"));
    world.sandbox.connector.set_members(room.id(), &[alice.user.clone(), bob.user.clone()]);
    alice.sign_in().await;
    let planning = alice.say("replicate").await;
    let id = planning.activity_id.clone();
    let plan = wait_for(&world, "the plan card", |r| r.verb == Verb::Update && r.activity_id == id).await;
    let card = plan.adaptive_card().expect("a card").clone();
    assert_eq!(card["refresh"]["userIds"], json!([alice.user.teams_id, bob.user.teams_id]), "{}", card_text(&plan));
    let refresh = &card["refresh"]["action"];
    let (alices, bobs) = (view_of(&alice, &id, refresh).await, view_of(&bob, &id, refresh).await);
    assert_eq!(button_titles(&alices), ["Run", "Cancel"], "{alices}");
    assert!(button_titles(&bobs).is_empty(), "{bobs}");

    let views = json!([
        {"who": format!("{} (asked for the plan)", alice.user.name), "card": alices, "buttons": ["Run", "Cancel"]},
        {"who": format!("{} (another member)", bob.user.name), "card": bobs, "buttons": [],
         "text": format!("Only {} can run or cancel this plan", alice.user.name)},
    ]);
    draw(&node, "11-plan-views.png", views).await;
}

/// A deployment plan in a group chat: who holds the deploy role sees
/// Approve and Cancel, who does not (Bob, not even signed in: judged by the
/// object id Teams signs into the request) sees the plan and why he cannot.
#[tokio::test]
async fn an_approver_and_a_non_approver_see_their_own_deployment_plan_in_chromium() {
    let node = which("node").expect("node is missing: run tests/e2e/setup.sh (or .ci/setup.d/50-e2e.sh)");
    let templates = tempfile::tempdir().unwrap();
    let dir = templates.path().to_path_buf();
    let world = World::start_with(|config| config.deploy.templates_dir = dir).await;
    support::deploy::write_spoke_templates(&world.sandbox, templates.path());
    let room = world.sandbox.teams.group_chat("dr-platform");
    let (alice, bob) = (Chat::in_group(&world, &room, "alice"), Chat::in_group(&world, &room, "bob"));
    world.sandbox.connector.set_members(room.id(), &[alice.user.clone(), bob.user.clone()]);
    alice.sign_in().await;
    let planning = alice.say("deploy spoke pair").await;
    assert!(card_text(&planning).contains("Planning the deployment"), "{}", card_text(&planning));
    let id = planning.activity_id.clone();
    let plan = wait_for(&world, "the deployment plan", |r| r.verb == Verb::Update && r.activity_id == id).await;
    let card = plan.adaptive_card().expect("a card").clone();
    let refresh = &card["refresh"]["action"];
    assert_eq!(refresh["verb"], "deploy.view", "{card}");
    let (alices, bobs) = (view_of(&alice, &id, refresh).await, view_of(&bob, &id, refresh).await);
    assert_eq!(button_titles(&alices), ["Approve", "Cancel"], "{alices}");
    assert!(button_titles(&bobs).is_empty(), "{bobs}");
    let views = json!([
        {"who": format!("{} (holds the deploy role)", alice.user.name), "card": alices, "buttons": ["Approve", "Cancel"]},
        {"who": format!("{} (does not)", bob.user.name), "card": bobs, "buttons": [],
         "text": "Only people with the deploy role can approve"},
    ]);
    draw(&node, "12-deploy-plan-views.png", views).await;
}

/// A planned failover in a group chat of three: Carol holds the failover
/// role and has not approved (Approve and Discard), Alice holds it and has
/// approved (no buttons, "You approved it"), Bob does not hold it (no
/// buttons, and why). Carol's approval makes two: the failover runs on the
/// sandbox and its one result card is drawn beside the three views.
#[tokio::test]
async fn each_persons_view_of_a_failover_runbook_and_its_result_draw_in_chromium() {
    let node = which("node").expect("node is missing: run tests/e2e/setup.sh (or .ci/setup.d/50-e2e.sh)");
    let directory = sandbox::directory::Directory::default();
    let world = World::start_with(|config| {
        config.operations.card_update_interval_ms = 100;
        config.failover.run_wait_secs = 2;
        for who in ["alice", "carol"] {
            config.access.failover.push(directory.user(who).unwrap().oid.clone());
        }
    })
    .await;
    let room = world.sandbox.teams.group_chat("dr-bridge");
    let people: Vec<Chat<'_>> =
        ["alice", "bob", "carol"].iter().map(|who| Chat::in_group(&world, &room, who)).collect();
    let members: Vec<_> = people.iter().map(|p| p.user.clone()).collect();
    world.sandbox.connector.set_members(room.id(), &members);
    for person in &people {
        person.sign_in().await;
    }
    let (alice, bob, carol) = (&people[0], &people[1], &people[2]);

    // A faithful secondary first, as before any failover.
    let (id, plan) = card_after_planning(&world, alice, "replicate --assets").await;
    alice.click(&id, "replicate.run", action_data(&plan, "replicate.run")).await;
    wait_for(&world, "the replication's result", |r| r.activity_id == id && card_text(r).contains("Run details")).await;

    let (card_id, runbook) = card_after_planning(&world, alice, "failover --override").await;
    let refresh = &runbook["refresh"]["action"];
    assert_eq!(refresh["verb"], "failover.view", "{runbook}");
    let approve = action_data(&runbook, "failover.approve");
    let first = alice.click(&card_id, "failover.approve", approve.clone()).await.body;
    assert!(first.to_string().contains("Awaiting 1 more person"), "{first}");
    let (carols, alices, bobs) = (
        view_of(carol, &card_id, refresh).await,
        view_of(alice, &card_id, refresh).await,
        view_of(bob, &card_id, refresh).await,
    );
    assert_eq!(button_titles(&carols), ["Approve failover", "Discard"], "{carols}");
    assert!(button_titles(&alices).is_empty(), "{alices}");
    assert!(button_titles(&bobs).is_empty(), "{bobs}");

    // Carol's approval makes two: the failover runs to its one result card.
    carol.click(&card_id, "failover.approve", approve).await;
    let done = wait_for(&world, "the failover's result card", |r| {
        r.activity_id == card_id && card_text(r).contains("Completed: the secondary is active")
    })
    .await;
    let result = done.adaptive_card().expect("a card").clone();
    assert_eq!(button_titles(&result), ["Readiness"], "{result}");

    let views = json!([
        {"who": format!("{} (failover role, has not approved)", carol.user.name), "card": carols,
         "buttons": ["Approve failover", "Discard"], "text": "Approved by"},
        {"who": format!("{} (failover role, approved)", alice.user.name), "card": alices, "buttons": [],
         "text": "You approved it"},
        {"who": format!("{} (no failover role)", bob.user.name), "card": bobs, "buttons": [],
         "text": "Only people with the failover role can approve"},
        {"who": "Everyone, once it ran", "card": result, "buttons": ["Readiness"],
         "text": "Completed: the secondary is active"},
    ]);
    draw(&node, "13-failover-views.png", views).await;
}

/// Types `command`; the card that replaced its "Planning…" placeholder (or
/// the first answer, when there was none), and its activity id.
async fn card_after_planning(world: &World, chat: &Chat<'_>, command: &str) -> (String, Value) {
    let first = chat.say(command).await;
    let id = first.activity_id.clone();
    if !card_text(&first).contains("Planning") {
        return (id, first.adaptive_card().cloned().expect("a card"));
    }
    let card = wait_for(world, "the card after planning", |r| r.verb == Verb::Update && r.activity_id == id).await;
    (id, card.adaptive_card().cloned().expect("a card"))
}

/// The data of `card`'s button with `verb`.
fn action_data(card: &Value, verb: &str) -> Value {
    card["actions"]
        .as_array()
        .and_then(|actions| actions.iter().find(|a| a["verb"] == verb))
        .map(|a| a["data"].clone())
        .unwrap_or_else(|| panic!("a {verb} button on {card}"))
}

/// Draws `views` side by side in chromium (tests/e2e/views.mjs), checks each
/// shows its buttons and text, and saves the picture as `name`.
async fn draw(node: &Path, name: &str, views: Value) {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("views.json");
    let screenshot = screenshots().join(name);
    let count = views.as_array().map_or(0, Vec::len);
    let spec = json!({"screenshot": screenshot, "views": views});
    std::fs::write(&spec_path, serde_json::to_vec(&spec).unwrap()).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let output = tokio::process::Command::new(node)
        .arg(root.join("tests/e2e/views.mjs"))
        .arg(&spec_path)
        .current_dir(&root)
        .output()
        .await
        .expect("node starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "drawing the views failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains(&format!("ok   views ({count})")), "{stdout}\n{stderr}");
    assert!(screenshot.exists(), "no screenshot at {}", screenshot.display());
}

/// `cargo build` of drbot-sandbox into `bin_dir`'s profile (debug or release).
fn build_sandbox(root: &Path, bin_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or("cargo".into());
    let mut build = Command::new(cargo);
    build.current_dir(root).args(["build", "--quiet", "-p", "drbot-sandbox", "--bin", "drbot-sandbox"]);
    if bin_dir.ends_with("release") {
        build.arg("--release");
    }
    // Cargo gives this test its package's CARGO_PKG_*, CARGO_MANIFEST_DIR, ...;
    // build scripts that watch those (ring's does) would rebuild every time.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_tests = ["CARGO_PKG_", "CARGO_BIN_EXE_", "CARGO_MANIFEST_"].iter().any(|p| name.starts_with(p))
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_TARGET_TMPDIR",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_RUSTC_CURRENT_DIR",
            ]
            .contains(&name.as_ref());
        if set_for_tests {
            build.env_remove(name.as_ref());
        }
    }
    let status = build.status().expect("cargo starts");
    assert!(status.success(), "cargo build -p drbot-sandbox failed");
    assert!(bin_dir.join("drbot-sandbox").exists(), "drbot-sandbox is not in {}", bin_dir.display());
}

/// The first `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|path| path.is_file())
}
