//! Failover, failback and drills from chat, end to end through the
//! sandbox's Teams, connector and both workspaces: the runbook card (steps,
//! loss per table, RPO, what blocks it), each person's view of it, two
//! approvers, the run on the operation engine with its card kept current,
//! one result card, and what it did to the workspaces (jobs, warehouses,
//! the pair's active side).

mod support;

use std::time::{Duration, Instant};

use drbot::assets::job_settings::PauseState;
use drbot::pairs::Side;
use sandbox::connector::Verb;
use serde_json::{json, Value};
use support::chat::{button, card_text, showing, wait_for, Chat};
use support::runbook::primary_reads_secondary_storage;
use support::World;

/// The sandbox and drbot; Alice and Carol hold the failover role (by object
/// id), Bob does not. Cards are rewritten often and freezes wait briefly.
async fn start() -> World {
    let directory = sandbox::directory::Directory::default();
    World::start_with(|config| {
        config.operations.card_update_interval_ms = 100;
        config.failover.run_wait_secs = 2;
        for who in ["alice", "carol"] {
            config.access.failover.push(directory.user(who).unwrap().oid.clone());
        }
    })
    .await
}

/// Alice, Bob and Carol in one group chat, all signed in.
async fn group(world: &World) -> [Chat<'_>; 3] {
    let conversation = world.sandbox.teams.group_chat("dr-bridge");
    let mut people = Vec::new();
    for who in ["alice", "bob", "carol"] {
        let personal = Chat::personal(world, who);
        personal.sign_in().await;
        people.push(Chat { world, user: personal.user, conversation: conversation.clone() });
    }
    let members: Vec<_> = people.iter().map(|p| p.user.clone()).collect();
    world.sandbox.connector.set_members(conversation.id(), &members);
    let [alice, bob, carol] = <[Chat<'_>; 3]>::try_from(people).ok().expect("three people");
    [alice, bob, carol]
}

fn verbs(card: &Value) -> Vec<String> {
    card["actions"]
        .as_array()
        .map(|a| a.iter().filter_map(|a| a["verb"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Types `command`; the card that replaces its placeholder.
async fn card_for(world: &World, chat: &Chat<'_>, command: &str) -> (String, Value) {
    card_after(world, chat.say(command).await).await
}

/// The card `first` (a command's first answer) is, or the one replacing it
/// when it is a placeholder; and its activity id.
async fn card_after(world: &World, first: sandbox::connector::Recorded) -> (String, Value) {
    let id = first.activity_id.clone();
    if !card_text(&first).contains("Planning") && !card_text(&first).contains("Checking readiness") {
        return (id, first.adaptive_card().cloned().expect("a card"));
    }
    let card = wait_for(world, "the card after planning", |r| r.verb == Verb::Update && r.activity_id == id).await;
    (id, card.adaptive_card().cloned().expect("a card"))
}

/// Replicates data and assets so the secondary is a faithful copy.
async fn replicate_everything(world: &World, chat: &Chat<'_>) {
    let (id, plan) = card_for(world, chat, "replicate --assets").await;
    chat.click(&id, "replicate.run", button(&plan, "replicate.run")).await;
    wait_for(world, "the replication's result", |r| r.activity_id == id && card_text(r).contains("Run details")).await;
}

/// Waits until the default pair's alert `condition` is raised (or cleared).
async fn raised(world: &World, condition: &str, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let alerts = world.bot.app.store.raised_alerts(Some("default")).await.unwrap();
        if alerts.iter().any(|a| a.condition == condition) == up {
            return;
        }
        assert!(Instant::now() < deadline, "{condition} never {}: {alerts:?}", if up { "raised" } else { "cleared" });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The pair's drills once `count` are recorded, newest first.
async fn drills_recorded(world: &World, count: usize) -> Vec<drbot::store::drills::Drill> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let drills = world.bot.app.store.drills(Some("default"), 10).await.unwrap();
        if drills.len() >= count {
            return drills;
        }
        assert!(Instant::now() < deadline, "{count} drills never recorded: {drills:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The runbook operation of this conversation, once ended and its card delivered.
async fn runbook_ended(world: &World, conversation: &str) -> drbot::store::operations::Operation {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let ops = world.bot.app.store.recent_operations(conversation, 20).await.unwrap();
        let runbooks: Vec<_> = ops.iter().filter(|op| op.kind.as_str() == "failover").collect();
        if let Some(op) = runbooks.iter().find(|op| op.state.is_terminal() && op.final_posted) {
            return (*op).clone();
        }
        assert!(Instant::now() < deadline, "the runbook never ended: {runbooks:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn active_side(world: &World) -> Side {
    world.bot.app.store.pair("default").await.unwrap().expect("the default pair").active
}

/// Source job id → whether every trigger is paused, for a workspace's jobs.
fn paused_by_source(jobs: &std::collections::BTreeMap<i64, Value>, copies: bool) -> Vec<(i64, bool)> {
    let mut out: Vec<(i64, bool)> = jobs
        .iter()
        .map(|(id, settings)| {
            let source = if copies {
                settings["tags"]["drbot_source_job_id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(-1)
            } else {
                *id
            };
            (source, PauseState::of(settings).all_paused())
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_planned_failover_needs_two_approvers_moves_the_pair_with_zero_loss_and_a_failback_restores_it() {
    let world = start().await;
    let [alice, bob, carol] = group(&world).await;
    replicate_everything(&world, &alice).await;
    let primary_before = paused_by_source(&world.sandbox.primary.job_definitions.all(), false);
    let unpaused_before: Vec<i64> = primary_before.iter().filter(|(_, paused)| !paused).map(|(id, _)| *id).collect();
    assert!(!unpaused_before.is_empty(), "the seeded primary runs some jobs on triggers");

    // A dry run: the runbook, no buttons, nothing stored to approve.
    let (_, dry) = card_for(&world, &alice, "failover --dry-run").await;
    let dry_text = dry.to_string();
    assert!(dry_text.contains("Planned failover of pair default"), "{dry_text}");
    for step in ["Preflight", "Freeze writers", "Final sync", "Promote", "Validate"] {
        assert!(dry_text.contains(step), "{step}: {dry_text}");
    }
    assert!(dry_text.contains("Dry run: nothing changes"), "{dry_text}");
    assert!(verbs(&dry).is_empty(), "{dry_text}");

    // Bob holds no failover role: refused at the gate.
    let refused = bob.say("failover").await;
    assert!(card_text(&refused).contains("failover"), "{}", card_text(&refused));
    assert!(!card_text(&refused).contains("failover.approve"), "{}", card_text(&refused));

    // The seeded primary has tables replication cannot copy: a zero-loss
    // move is blocked on them, and going on anyway is an explicit choice.
    let (_, blocked) = card_for(&world, &alice, "failover").await;
    assert!(blocked.to_string().contains("never replicated: main."), "{blocked}");
    assert!(!blocked.to_string().contains("Approving overrides"), "{blocked}");
    let (card_id, runbook) = card_for(&world, &alice, "failover --override").await;
    let approve = button(&runbook, "failover.approve");
    assert!(runbook.to_string().contains("2 people with the failover role must approve"), "{runbook}");
    assert!(runbook.to_string().contains("Approving overrides the preflight's blockers"), "{runbook}");
    let refresh = &runbook["refresh"];
    assert_eq!(refresh["action"]["verb"], "failover.view", "{runbook}");
    let view = refresh["action"]["data"].clone();
    let bobs = bob.click(&card_id, "failover.view", view.clone()).await.body;
    assert!(verbs(&bobs["value"]).is_empty(), "{bobs}");
    assert!(bobs.to_string().contains("Only people with the failover role"), "{bobs}");
    assert_eq!(
        verbs(&carol.click(&card_id, "failover.view", view.clone()).await.body["value"]),
        ["failover.approve", "failover.cancel"]
    );

    // The runbook awaits its approvers: an alert condition is raised for the pair.
    raised(&world, "approval", true).await;

    // Alice approves once; a second click of hers counts once; nothing runs.
    let first = alice.click(&card_id, "failover.approve", approve.clone()).await.body;
    assert!(first.to_string().contains("Awaiting 1 more person"), "{first}");
    let again = alice.click(&card_id, "failover.approve", approve.clone()).await.body;
    assert!(again.to_string().contains("Awaiting 1 more person"), "{again}");
    let alices = alice.click(&card_id, "failover.view", view.clone()).await.body;
    assert!(verbs(&alices["value"]).is_empty() && alices.to_string().contains("You approved it"), "{alices}");
    assert!(world
        .bot
        .app
        .store
        .recent_operations(alice.conversation.id(), 20)
        .await
        .unwrap()
        .iter()
        .all(|op| op.kind.as_str() != "failover"));

    // Carol's approval makes two: the runbook runs.
    let started = carol.click(&card_id, "failover.approve", approve.clone()).await.body;
    assert!(started.to_string().contains("Planned failover of pair default"), "{started}");
    let op = runbook_ended(&world, alice.conversation.id()).await;
    assert_eq!(op.state.as_str(), "succeeded", "{:?}", op.result);
    assert_eq!(active_side(&world).await, Side::Secondary);
    raised(&world, "approval", false).await;
    let result = wait_for(&world, "the result card", |r| {
        r.activity_id == card_id && card_text(r).contains("Completed: the secondary is active")
    })
    .await;
    let result_text = card_text(&result);
    assert!(result_text.contains("proven at their frozen version"), "{result_text}");
    assert_eq!(showing(&world.sandbox.connector.recorded(), "Completed: the secondary is active"), 1);
    // A click on the spent card starts nothing more.
    let late = carol.click(&card_id, "failover.approve", approve).await.body;
    assert!(late.to_string().contains("The runbook is out of date"), "{late}");
    let runbooks = world.bot.app.store.recent_operations(alice.conversation.id(), 20).await.unwrap();
    assert_eq!(runbooks.iter().filter(|op| op.kind.as_str() == "failover").count(), 1, "one run");

    // Every primary trigger paused; exactly the jobs that ran on triggers run on the secondary.
    let primary_after = paused_by_source(&world.sandbox.primary.job_definitions.all(), false);
    assert!(primary_after.iter().all(|(_, paused)| *paused), "the primary is frozen");
    let secondary_after = paused_by_source(&world.sandbox.secondary.job_definitions.all(), true);
    let unpaused_after: Vec<i64> =
        secondary_after.iter().filter(|(_, paused)| !paused).map(|(source, _)| *source).collect();
    let copied: std::collections::BTreeSet<i64> = secondary_after.iter().map(|(source, _)| *source).collect();
    let expected: Vec<i64> = unpaused_before.iter().copied().filter(|id| copied.contains(id)).collect();
    assert_eq!(unpaused_after, expected, "the secondary runs exactly what ran on the primary");

    // The primary is stale now: the dashboard says so first, and nothing
    // replicates from it (a stale copy would overwrite what now serves).
    let (_, status) = card_for(&world, &alice, "status").await;
    assert!(status.to_string().contains("Failed over") && status.to_string().contains("primary is stale"), "{status}");
    let (_, refused) = card_for(&world, &alice, "replicate").await;
    assert!(refused.to_string().contains("has failed over"), "{refused}");

    // A failback clones the external tables back by path: until the
    // primary's metastore may read the secondary's prefix, the runbook says so.
    let (_, unready) = card_for(&world, &alice, "failback").await;
    assert!(unready.to_string().contains("storage on the primary side"), "{unready}");
    primary_reads_secondary_storage(&world.sandbox);
    // A second failover does not apply; failback does, and brings it home.
    let (_, not_again) = card_for(&world, &alice, "failover").await;
    assert!(not_again.to_string().contains("does not apply"), "{not_again}");
    let (back_id, back) = card_for(&world, &alice, "failback --override").await;
    let approve_back = button(&back, "failover.approve");
    alice.click(&back_id, "failover.approve", approve_back.clone()).await;
    carol.click(&back_id, "failover.approve", approve_back).await;
    wait_for(&world, "the failback's result", |r| {
        r.activity_id == back_id && card_text(r).contains("Completed: the primary is active")
    })
    .await;
    assert_eq!(active_side(&world).await, Side::Primary);
    let primary_home = paused_by_source(&world.sandbox.primary.job_definitions.all(), false);
    let changed: Vec<_> = primary_home.iter().filter(|job| !primary_before.contains(job)).collect();
    assert!(changed.is_empty(), "the primary's jobs are as they were before the failover: {changed:?}");
    let secondary_home = paused_by_source(&world.sandbox.secondary.job_definitions.all(), true);
    assert!(secondary_home.iter().all(|(_, paused)| *paused), "the secondary is passive again");
}

#[tokio::test]
async fn a_drill_needs_one_approval_leaves_both_sides_as_they_were_and_is_listed() {
    let world = start().await;
    let [alice, _bob, _carol] = group(&world).await;
    replicate_everything(&world, &alice).await;
    let primary_before = paused_by_source(&world.sandbox.primary.job_definitions.all(), false);
    let secondary_before = paused_by_source(&world.sandbox.secondary.job_definitions.all(), true);

    let (card_id, runbook) = card_for(&world, &alice, "drill --override").await;
    assert!(runbook.to_string().contains("One person with the failover role approves it"), "{runbook}");
    alice.click(&card_id, "failover.approve", button(&runbook, "failover.approve")).await;
    let op = runbook_ended(&world, alice.conversation.id()).await;
    assert_eq!(op.state.as_str(), "succeeded", "{:?}", op.result);
    wait_for(&world, "the drill's result", |r| {
        r.activity_id == card_id && card_text(r).contains("the drill left both sides as they were")
    })
    .await;
    assert_eq!(active_side(&world).await, Side::Primary);
    assert_eq!(paused_by_source(&world.sandbox.primary.job_definitions.all(), false), primary_before);
    assert_eq!(paused_by_source(&world.sandbox.secondary.job_definitions.all(), true), secondary_before);

    let (_, drills) = card_for(&world, &alice, "drills default").await;
    let text = drills.to_string();
    assert!(text.contains("Drills of pair default") && text.contains("succeeded"), "{text}");
    assert!(text.contains(&op.id), "{text}");
    assert_eq!(json!(world.bot.app.store.drills(Some("default"), 5).await.unwrap().len()), json!(1));
}

#[tokio::test]
async fn a_scheduled_drill_runs_as_the_bot_approved_by_who_set_it_and_a_failed_one_is_posted_where_it_was_set() {
    let clock = drbot::clock::ManualClock::new();
    let directory = sandbox::directory::Directory::default();
    let world = World::start_with_clock(
        |config| {
            config.operations.scheduler_tick_ms = 50;
            config.failover.run_wait_secs = 2;
            config.access.failover.push(directory.user("alice").unwrap().oid.clone());
        },
        clock.clone(),
    )
    .await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let bob = Chat::personal(&world, "bob");
    bob.sign_in().await;
    let refused = card_text(&bob.say("subscribe drill default weekly").await);
    assert!(refused.contains("failover"), "Bob holds no failover role: {refused}");
    assert!(world.bot.app.store.drill_schedules().await.unwrap().is_empty());

    let set = card_text(&alice.say("subscribe drill default weekly").await);
    assert!(set.contains("Drills of pair default: Every 168 h") && set.contains("approved by you"), "{set}");
    assert!(world.bot.app.store.drills(Some("default"), 5).await.unwrap().is_empty(), "nothing before its time");

    // A week on: the drill runs as drbot, approved by Alice; it goes well,
    // so it is listed and nothing is posted.
    clock.advance(Duration::from_secs(7 * 24 * 3600 + 60));
    let first = drills_recorded(&world, 1).await;
    assert_eq!(first[0].outcome, "succeeded", "{first:?}");
    let ops = world.bot.app.store.recent_operations(alice.conversation.id(), 20).await.unwrap();
    let drill = ops.iter().find(|op| op.kind.as_str() == "failover").expect("the drill's operation");
    let approvals = world.bot.app.store.runbook_approvals(&drill.idempotency_key).await.unwrap();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].approver_oid, alice.user.oid, "approved by who set the schedule");
    assert_eq!(showing(&world.sandbox.connector.recorded(), "Drill of pair default"), 0, "a good drill is not posted");

    // The next week the secondary's region is down: the drill stops at its
    // preflight, and says so where the schedule was set.
    world.sandbox.secondary.set_unreachable(true);
    clock.advance(Duration::from_secs(7 * 24 * 3600 + 60));
    let posted = wait_for(&world, "the failed drill's card", |r| {
        r.conversation_id == alice.conversation.id() && card_text(r).contains("Stopped at Preflight")
    })
    .await;
    assert!(card_text(&posted).contains("Drill of pair default"), "{}", card_text(&posted));
    let both = drills_recorded(&world, 2).await;
    assert_eq!(both.iter().filter(|d| d.outcome == "failed").count(), 1, "{both:?}");
    world.sandbox.secondary.set_unreachable(false);

    let stopped = card_text(&alice.say("subscribe drill default off").await);
    assert!(stopped.contains("No more scheduled drills"), "{stopped}");
    assert!(world.bot.app.store.drill_schedules().await.unwrap().is_empty());
}

/// Asking again while a runbook awaits its approvers shows that runbook
/// rather than a second one whose approvals would not add up with the
/// first's: Carol, who asks after Alice approved, is shown it with Approve
/// (as a channel member whose card scrolled away would need); Alice is shown
/// it without. Another mode or override is another runbook. Discard (only
/// by someone with the failover role) ends it: its Approve no longer counts
/// anywhere, and asking again plans a new one.
#[tokio::test]
async fn asking_again_shows_the_runbook_awaiting_approval_and_discard_ends_it() {
    let world = start().await;
    let [alice, bob, carol] = group(&world).await;
    let (card_id, runbook) = card_for(&world, &alice, "failover --override").await;
    let approve = button(&runbook, "failover.approve");
    let first = alice.click(&card_id, "failover.approve", approve.clone()).await.body;
    assert!(first.to_string().contains("Awaiting 1 more person"), "{first}");

    let (carols_id, carols) = card_for(&world, &carol, "failover --override").await;
    assert_ne!(carols_id, card_id, "a card of its own, in reply to Carol");
    assert_eq!(button(&carols, "failover.approve"), approve, "the same runbook: {carols}");
    assert_eq!(verbs(&carols), ["failover.approve", "failover.cancel"]);
    let text = carols.to_string();
    assert!(text.contains(&format!("Approved by {}. Awaiting 1 more person", alice.user.upn)), "{text}");
    assert!(!text.contains("You approved it"), "{text}");
    let (_, alices) = card_for(&world, &alice, "failover --override").await;
    assert!(verbs(&alices).is_empty(), "no buttons for who approved: {alices}");
    assert!(alices.to_string().contains("You approved it"), "{alices}");
    let (_, other) = card_for(&world, &alice, "failover").await;
    assert_ne!(button(&other, "failover.approve"), approve, "without --override it is another runbook");

    // Bob holds no failover role: he cannot discard it.
    let refused = bob.click(&carols_id, "failover.cancel", approve.clone()).await.body;
    let refused_text = refused.to_string();
    assert!(refused_text.contains("discard a runbook") && !refused_text.contains("Runbook discarded"), "{refused}");
    let discarded = carol.click(&carols_id, "failover.cancel", approve.clone()).await.body;
    assert!(discarded.to_string().contains("Runbook discarded"), "{discarded}");
    let late = carol.click(&card_id, "failover.approve", approve.clone()).await.body;
    assert!(late.to_string().contains("can no longer be approved"), "{late}");
    let (_, fresh) = card_for(&world, &carol, "failover --override").await;
    assert_ne!(button(&fresh, "failover.approve"), approve, "a new runbook: {fresh}");
    assert!(fresh.to_string().contains("2 people with the failover role must approve"), "{fresh}");
    let ops = world.bot.app.store.recent_operations(alice.conversation.id(), 20).await.unwrap();
    assert!(ops.iter().all(|op| op.kind.as_str() != "failover"), "nothing ran: {ops:?}");
}

/// In local anonymous mode (the Agents Playground: nobody signs in, no
/// token) each user is still a person of their own, named as the activity
/// names them: two of them approving a failover are two approvals, one of
/// them approving twice is one, and the run records both.
#[tokio::test]
async fn two_playground_users_in_local_mode_are_two_approvers() {
    let world = World::start_with(|config| {
        config.server.local_anonymous = true;
        config.access.local_roles = vec!["failover".into()];
        config.operations.card_update_interval_ms = 100;
        config.failover.run_wait_secs = 2;
    })
    .await;
    let room = world.sandbox.teams.group_chat("playground");
    let (alice, carol) = (Chat::in_group(&world, &room, "alice"), Chat::in_group(&world, &room, "carol"));
    world.sandbox.connector.set_members(room.id(), &[alice.user.clone(), carol.user.clone()]);

    let (card_id, runbook) = card_after(&world, alice.say_unsigned("failover --override").await).await;
    let approve = button(&runbook, "failover.approve");
    for _ in 0..2 {
        let answer = alice.click_unsigned(&card_id, "failover.approve", approve.clone()).await.body;
        let text = answer.to_string();
        assert!(text.contains(&format!("Approved by {}. Awaiting 1 more person", alice.user.name)), "{text}");
    }
    let (pending_id, pending) = card_after(&world, carol.say_unsigned("failover --override").await).await;
    assert_eq!(button(&pending, "failover.approve"), approve, "{pending}");
    carol.click_unsigned(&pending_id, "failover.approve", approve).await;
    let op = runbook_ended(&world, room.id()).await;
    assert_eq!(op.state.as_str(), "succeeded", "{:?}", op.result);
    assert_eq!(active_side(&world).await, Side::Secondary);
    let approvals = world.bot.app.store.runbook_approvals(&op.idempotency_key["runbook:".len()..]).await.unwrap();
    let keys: Vec<&str> = approvals.iter().map(|a| a.approver_oid.as_str()).collect();
    assert_eq!(
        keys,
        [format!("local-playground-user:{}", alice.user.oid), format!("local-playground-user:{}", carol.user.oid)]
    );
    let done = wait_for(&world, "the result card", |r| {
        r.activity_id == pending_id && card_text(r).contains("Completed: the secondary is active")
    })
    .await;
    let names = format!("Approved by {} and {}", alice.user.name, carol.user.name);
    assert!(card_text(&done).contains(&names), "{}", card_text(&done));
}
