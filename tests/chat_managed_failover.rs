//! `failover` and `failback` of a pair whose replication Databricks' managed
//! DR runs, from chat, end to end through the sandbox's Teams, account API
//! and both workspaces: the runbook card in managed DR's terms (forced
//! only, one loss window from the group's replication point), two
//! approvers, the group failed over with the etag the approvers saw and
//! followed to its end, then drbot's own steps. A stale etag is refused and
//! re-read; a failover that ends FAILOVER_FAILED changes nothing of drbot's.

mod support;

use std::time::{Duration, Instant};

use drbot::pairs::Side;
use sandbox::connector::Verb;
use sandbox::databricks::account_api::SANDBOX_ACCOUNT_ID;
use serde_json::Value;
use support::chat::{button, card_text, showing, wait_for, Chat};
use support::runbook::paused_by_source;
use support::World;

const GROUP: &str = "sales-dr";

/// The sandbox and drbot; Alice and Carol hold the failover role and are
/// account admins. The default pair names the failover group `sales-dr`,
/// served from westeurope, replicated up to ten minutes ago.
async fn start() -> World {
    let directory = sandbox::directory::Directory::default();
    let world = World::start_with(|config| {
        config.operations.card_update_interval_ms = 100;
        config.failover.run_wait_secs = 2;
        config.failover.forced_timeout_secs = 5;
        config.deploy.databricks_account_id = Some(SANDBOX_ACCOUNT_ID.into());
        for who in ["alice", "carol"] {
            config.access.failover.push(directory.user(who).unwrap().oid.clone());
        }
    })
    .await;
    let store = &world.bot.app.store;
    let mut pair = store.pair("default").await.unwrap().expect("the sandbox's pair");
    pair.failover_group = Some(GROUP.into());
    store.seed_pair(&pair, 0).await.unwrap();
    let point = chrono::Utc::now() - chrono::Duration::minutes(10);
    world.sandbox.accounts.failover_groups.add(GROUP, &["westeurope", "northeurope"], "westeurope", &[1, 2], point);
    for who in ["alice", "carol"] {
        world.sandbox.accounts.add_account_admin(&world.sandbox.teams.user(who).unwrap().upn);
    }
    world
}

/// Alice and Carol in one group chat, signed in.
async fn bridge(world: &World) -> [Chat<'_>; 2] {
    let room = world.sandbox.teams.group_chat("dr-bridge");
    let mut people = Vec::new();
    for who in ["alice", "carol"] {
        let personal = Chat::personal(world, who);
        personal.sign_in().await;
        people.push(Chat { world, user: personal.user, conversation: room.clone() });
    }
    let members: Vec<_> = people.iter().map(|p| p.user.clone()).collect();
    world.sandbox.connector.set_members(room.id(), &members);
    <[Chat<'_>; 2]>::try_from(people).ok().expect("two people")
}

/// Types `command`; the card that replaces its placeholder.
async fn card_for(world: &World, chat: &Chat<'_>, command: &str) -> (String, Value) {
    let first = chat.say(command).await;
    let id = first.activity_id.clone();
    if !card_text(&first).contains("Planning") {
        return (id, first.adaptive_card().cloned().expect("a card"));
    }
    let card = wait_for(world, "the card after planning", |r| r.verb == Verb::Update && r.activity_id == id).await;
    (id, card.adaptive_card().cloned().expect("a card"))
}

/// Asks for `command` and has both approve it; the runbook card's id.
async fn approved(world: &World, alice: &Chat<'_>, carol: &Chat<'_>, command: &str) -> (String, Value) {
    let (card_id, runbook) = card_for(world, alice, command).await;
    let approve = button(&runbook, "failover.approve");
    let first = alice.click(&card_id, "failover.approve", approve.clone()).await.body;
    assert!(first.to_string().contains("Awaiting 1 more person"), "{first}");
    carol.click(&card_id, "failover.approve", approve).await;
    (card_id, runbook)
}

/// The runbook operation of this conversation, once ended and its card delivered.
async fn runbook_ended(world: &World, conversation: &str, count: usize) -> drbot::store::operations::Operation {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let ops = world.bot.app.store.recent_operations(conversation, 20).await.unwrap();
        let runbooks: Vec<_> = ops.iter().filter(|op| op.kind.as_str() == "failover").collect();
        let ended: Vec<_> = runbooks.iter().filter(|op| op.state.is_terminal() && op.final_posted).collect();
        if ended.len() >= count {
            return (*ended[0]).clone();
        }
        assert!(Instant::now() < deadline, "the runbook never ended: {runbooks:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn active_side(world: &World) -> Side {
    world.bot.app.store.pair("default").await.unwrap().expect("the default pair").active
}

fn group(world: &World) -> Value {
    world.sandbox.accounts.failover_groups.get(GROUP).expect("the group")
}

/// Each job's source id and whether it is paused, on one side.
type Paused = Vec<(i64, bool)>;

/// The primary's jobs and the secondary's copies, paused or not.
fn jobs_now(world: &World) -> (Paused, Paused) {
    (paused_by_source(&world.sandbox.primary, false), paused_by_source(&world.sandbox.secondary, true))
}

/// The secondary holds paused copies of the primary's jobs (drbot's asset
/// sync, beside managed DR's data).
async fn copy_jobs(world: &World, chat: &Chat<'_>) {
    let (id, plan) = card_for(world, chat, "replicate --assets").await;
    chat.click(&id, "replicate.run", button(&plan, "replicate.run")).await;
    wait_for(world, "the replication's result", |r| r.activity_id == id && card_text(r).contains("Run details")).await;
}

#[tokio::test]
async fn a_managed_failover_fails_the_group_over_then_unpauses_exactly_the_jobs_that_ran_and_a_failback_brings_it_home()
{
    let world = start().await;
    let [alice, carol] = bridge(&world).await;
    copy_jobs(&world, &alice).await;
    let (primary_before, _) = jobs_now(&world);
    let unpaused_before: Vec<i64> = primary_before.iter().filter(|(_, paused)| !paused).map(|(id, _)| *id).collect();
    assert!(!unpaused_before.is_empty(), "the seeded primary runs some jobs on triggers");

    // The card speaks managed DR's terms: forced only, one window for the group.
    let (_, dry) = card_for(&world, &alice, "failover --dry-run").await;
    let text = dry.to_string();
    assert!(text.contains("Managed DR failover of pair default"), "{text}");
    assert!(text.contains("Managed DR failover") && text.contains("FORCED"), "{text}");
    assert!(text.contains("every table of failover group sales-dr"), "{text}");
    assert!(text.contains("managed DR fails over FORCED only"), "{text}");
    assert!(!text.contains("Final sync"), "managed DR replicates, drbot does not: {text}");

    let (card_id, _) = approved(&world, &alice, &carol, "failover").await;
    let op = runbook_ended(&world, alice.conversation.id(), 1).await;
    assert_eq!(op.state.as_str(), "succeeded", "{:?}", op.result);
    let result = wait_for(&world, "the result card", |r| {
        r.activity_id == card_id && card_text(r).contains("Completed: the secondary is active")
    })
    .await;
    assert!(card_text(&result).contains("Managed DR failover of pair default"), "{}", card_text(&result));
    assert_eq!(showing(&world.sandbox.connector.recorded(), "Completed: the secondary is active"), 1);
    let rto_ms = op.result.as_ref().and_then(|r| r["ended"]["rto_ms"].as_i64()).expect("an RTO");
    assert!(rto_ms > 0, "{:?}", op.result);
    let steps: Vec<&str> =
        op.payload["progress"]["steps"].as_array().unwrap().iter().filter_map(|s| s["kind"].as_str()).collect();
    assert_eq!(steps, ["preflight", "managed_failover", "freeze", "promote", "validate"]);

    // Managed DR serves from the other region; drbot asked once.
    assert_eq!(group(&world)["state"], "ACTIVE");
    assert_eq!(group(&world)["effective_primary_region"], "northeurope");
    assert_eq!(world.sandbox.accounts.failover_groups.failover_requests(GROUP), 1);
    assert_eq!(active_side(&world).await, Side::Secondary);
    // Exactly the jobs that ran on the primary run on the secondary; the primary writes no more.
    let (primary_after, secondary_after) = jobs_now(&world);
    assert!(primary_after.iter().all(|(_, paused)| *paused), "the old primary is frozen");
    let copied: std::collections::BTreeSet<i64> = secondary_after.iter().map(|(source, _)| *source).collect();
    let expected: Vec<i64> = unpaused_before.iter().copied().filter(|id| copied.contains(id)).collect();
    let unpaused_after: Vec<i64> =
        secondary_after.iter().filter(|(_, paused)| !paused).map(|(source, _)| *source).collect();
    assert_eq!(unpaused_after, expected, "the secondary runs exactly what ran on the primary");
    // The RTO is in the pair's history.
    let history = world.bot.app.store.readings("default", 0, 100).await.unwrap();
    assert!(history.iter().any(|r| r.run_id.as_deref() == Some(op.id.as_str()) && r.duration_ms == Some(rto_ms)));

    // A failback is a failover back to the original region, with the same steps.
    let (back_id, back) = approved(&world, &alice, &carol, "failback").await;
    assert!(back.to_string().contains("Managed DR failback of pair default"), "{back}");
    wait_for(&world, "the failback's result", |r| {
        r.activity_id == back_id && card_text(r).contains("Completed: the primary is active")
    })
    .await;
    assert_eq!(group(&world)["effective_primary_region"], "westeurope");
    assert_eq!(world.sandbox.accounts.failover_groups.failover_requests(GROUP), 2);
    assert_eq!(active_side(&world).await, Side::Primary);
    let (primary_home, secondary_home) = jobs_now(&world);
    assert_eq!(primary_home, primary_before, "the primary's jobs are as they were before the failover");
    assert!(secondary_home.iter().all(|(_, paused)| *paused), "the secondary is passive again");
}

#[tokio::test]
async fn the_group_s_stable_url_is_checked_after_the_failover_and_named_for_clients() {
    let world = start().await;
    let [alice, carol] = bridge(&world).await;
    // The pair knows its workspaces' ids (the group's 1 and 2): the stable
    // URL must route to the secondary's once the group has failed over.
    let store = &world.bot.app.store;
    let mut pair = store.pair("default").await.unwrap().unwrap();
    pair.primary.workspace_id = Some("1".into());
    pair.secondary.workspace_id = Some("2".into());
    store.seed_pair(&pair, 0).await.unwrap();
    let url = world.sandbox.accounts.failover_groups.add_stable_url("sales-web", 1, Some(GROUP));
    // Linked to no group: it follows nothing, and the runbook does not name it.
    let loose = world.sandbox.accounts.failover_groups.add_stable_url("scratch", 1, None);
    // Another workspace set of the same group (workspaces 3 and 4) and its
    // stable URL, which routes to that set's workspace: not the pair's, so
    // neither named nor checked against the pair's secondary.
    world.sandbox.accounts.failover_groups.add_workspace_set(GROUP, &[3, 4]);
    let other_set = world.sandbox.accounts.failover_groups.add_stable_url("hr-web", 3, Some(GROUP));

    let (_, dry) = card_for(&world, &alice, "failover --dry-run").await;
    let text = dry.to_string();
    assert!(text.contains("Repoint clients"), "{text}");
    assert!(text.contains(&format!("checks that managed DR's stable URL {url} still follows group {GROUP}")), "{text}");
    assert!(!text.contains(&loose) && !text.contains(&other_set), "{text}");

    let (card_id, _) = approved(&world, &alice, &carol, "failover").await;
    let op = runbook_ended(&world, alice.conversation.id(), 1).await;
    assert_eq!(op.state.as_str(), "succeeded", "{:?}", op.result);
    let steps: Vec<&str> =
        op.payload["progress"]["steps"].as_array().unwrap().iter().filter_map(|s| s["kind"].as_str()).collect();
    assert_eq!(steps, ["preflight", "managed_failover", "freeze", "promote", "repoint", "validate"]);
    let result = wait_for(&world, "the result card", |r| {
        r.activity_id == card_id && card_text(r).contains("Completed: the secondary is active")
    })
    .await;
    let text = card_text(&result);
    let routed =
        format!("{url} (managed DR's stable URL of group {GROUP}) now routes to workspace 2, the secondary side");
    assert!(text.contains(&routed), "{text}");
    assert!(text.contains(&format!("Clients that use managed DR's stable URL {url} follow with the group")), "{text}");
    assert!(!text.contains(&loose) && !text.contains(&other_set), "{text}");
}

/// Read when the runbook was planned, gone by the repoint step (after the
/// group failed over and the side was promoted): the runbook does not stop
/// before its validation, and the card says the URL could not be checked.
#[tokio::test]
async fn a_stable_url_unreadable_after_the_failover_is_a_finding_not_a_stop() {
    let world = start().await;
    let [alice, carol] = bridge(&world).await;
    world.sandbox.accounts.failover_groups.add_stable_url("sales-web", 1, Some(GROUP));
    let (card_id, runbook) = card_for(&world, &alice, "failover").await;
    world.sandbox.accounts.failover_groups.remove_stable_url("sales-web");
    let approve = button(&runbook, "failover.approve");
    alice.click(&card_id, "failover.approve", approve.clone()).await;
    carol.click(&card_id, "failover.approve", approve).await;
    let op = runbook_ended(&world, alice.conversation.id(), 1).await;
    assert_eq!(op.state.as_str(), "succeeded", "{:?}", op.result);
    let steps: Vec<&str> =
        op.payload["progress"]["steps"].as_array().unwrap().iter().filter_map(|s| s["kind"].as_str()).collect();
    assert_eq!(steps.last(), Some(&"validate"), "validated after all: {steps:?}");
    let result = wait_for(&world, "the result card", |r| {
        r.activity_id == card_id && card_text(r).contains("Completed: the secondary is active")
    })
    .await;
    let text = card_text(&result);
    assert!(text.contains(&format!("the stable URLs of failover group {GROUP} could not be read")), "{text}");
}

#[tokio::test]
async fn a_stable_url_that_cannot_be_read_blocks_the_runbook_until_overridden() {
    let world = start().await;
    let [alice, _carol] = bridge(&world).await;
    world.sandbox.accounts.failover_groups.add_stable_url("sales-web", 1, Some(GROUP));
    world.sandbox.accounts.failover_groups.remove_stable_url("sales-web");
    let (_, dry) = card_for(&world, &alice, "failover --dry-run").await;
    let text = dry.to_string();
    assert!(text.contains(&format!("the stable URLs of failover group {GROUP} are unread")), "{text}");
    assert!(text.contains("does not exist"), "the account's answer is on the card: {text}");
}

#[tokio::test]
async fn a_failover_that_ends_failover_failed_posts_a_clear_card_and_leaves_every_job_as_it_was() {
    let world = start().await;
    let [alice, carol] = bridge(&world).await;
    copy_jobs(&world, &alice).await;
    let before = jobs_now(&world);
    world.sandbox.accounts.failover_groups.set_failover_duration(Duration::from_millis(300));
    world.sandbox.accounts.failover_groups.fail_next_failover("the secondary metastore is unreachable");

    let (card_id, _) = approved(&world, &alice, &carol, "failover").await;
    let op = runbook_ended(&world, alice.conversation.id(), 1).await;
    assert_eq!(op.state.as_str(), "failed", "{:?}", op.result);
    let result = wait_for(&world, "the result card", |r| {
        r.activity_id == card_id && card_text(r).contains("Stopped at Managed DR failover")
    })
    .await;
    let text = card_text(&result);
    assert!(text.contains("FAILOVER_FAILED") && text.contains("still serves from westeurope"), "{text}");
    assert!(text.contains("every job and warehouse is as it was"), "{text}");
    assert_eq!(group(&world)["state"], "FAILOVER_FAILED");
    assert_eq!(jobs_now(&world), before, "no job paused or unpaused on either side");
    assert_eq!(active_side(&world).await, Side::Primary);
    // The failover alert is raised for the pair.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !world.bot.app.store.raised_alerts(Some("default")).await.unwrap().iter().any(|a| a.condition == "failover") {
        assert!(Instant::now() < deadline, "no failover alert");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_failover_with_a_stale_etag_is_refused_and_the_group_re_read() {
    let world = start().await;
    let [alice, carol] = bridge(&world).await;
    let (card_id, runbook) = card_for(&world, &alice, "failover").await;
    assert!(runbook.to_string().contains("etag 1"), "{runbook}");
    // Managed DR replicates on after the card was read: the group has a new etag.
    let later = chrono::Utc::now();
    world.sandbox.accounts.failover_groups.set_replication_point(GROUP, later);

    let approve = button(&runbook, "failover.approve");
    alice.click(&card_id, "failover.approve", approve.clone()).await;
    carol.click(&card_id, "failover.approve", approve).await;
    let op = runbook_ended(&world, alice.conversation.id(), 1).await;
    assert_eq!(op.state.as_str(), "failed", "{:?}", op.result);
    let result = wait_for(&world, "the result card", |r| {
        r.activity_id == card_id && card_text(r).contains("Stopped at Managed DR failover")
    })
    .await;
    let text = card_text(&result);
    assert!(text.contains("changed since the runbook was approved"), "{text}");
    assert!(text.contains("replication point"), "the change, as re-read: {text}");
    assert!(text.contains("ask again"), "{text}");
    assert_eq!(world.sandbox.accounts.failover_groups.failover_requests(GROUP), 0, "nothing was failed over");
    assert_eq!(group(&world)["effective_primary_region"], "westeurope");
    assert_eq!(active_side(&world).await, Side::Primary);
}
