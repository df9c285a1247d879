//! Scheduled replication from chat, through the sandbox's Teams: `replicate
//! PAIR every 15m` keeps a pair replicated as the bot's own identity when
//! the scheduler's clock (moved by hand) reaches each firing; `runs` shows
//! the cycle as scheduled, the dashboard the next run and the worst-case
//! RPO bound; a manual run and a scheduled one of the same pair never
//! overlap, in either order.

mod support;

use std::time::{Duration, Instant};

use drbot::clock::ManualClock;
use drbot::store::operations::{Kind, NewOperation, OperationState};
use drbot::store::runs::Run;
use sandbox::connector::{Recorded, Verb};
use serde_json::{json, Value};
use support::chat::{card_text, wait_for, Chat};
use support::World;

fn fast(config: &mut drbot::config::Config) {
    config.operations.scheduler_tick_ms = 50;
    config.operations.card_update_interval_ms = 300;
}

/// Polls `check` until it gives something (deadline 60 s: a cycle reads and
/// copies the whole seeded metastore).
async fn eventually<T, F: Fn() -> Fut, Fut: std::future::Future<Output = Option<T>>>(what: &str, check: F) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Types `command` and waits for the card that replaces its "checking" card.
async fn later(world: &World, chat: &Chat<'_>, command: &str) -> Recorded {
    let now = chat.say(command).await;
    let id = now.activity_id.clone();
    wait_for(world, command, |r| r.verb == Verb::Update && r.activity_id == id).await
}

/// The pair's runs, newest first.
async fn runs(world: &World, pair: &str) -> Vec<Run> {
    world.bot.app.store.recent_runs_of_pair(pair, None, 20).await.unwrap()
}

#[tokio::test]
async fn a_pair_replicates_on_its_schedule_as_the_bot_and_the_dashboard_shows_the_bound() {
    let clock = ManualClock::new();
    let world = World::start_with_clock(fast, clock.clone()).await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let store = world.bot.app.store.clone();

    let set = card_text(&alice.say("replicate default every 15m").await);
    assert!(set.contains("Pair default replicates every 15 min") && set.contains("15 min plus one cycle"), "{set}");
    let schedule = store.replication_schedule("default").await.unwrap().expect("stored");
    let audit = store.recent_audit(20).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "schedule a replication" && e.result == "set"), "{audit:?}");
    assert!(runs(&world, "default").await.is_empty(), "nothing before its time");

    // The first firing: a cycle as drbot, planned and run to its end.
    clock.advance(Duration::from_secs(16 * 60));
    let cycle = eventually("the first scheduled cycle ends", || async {
        runs(&world, "default").await.into_iter().find(|run| run.finished_ms.is_some())
    })
    .await;
    assert!(cycle.scheduled && cycle.started_by_upn.is_none(), "{cycle:?}");
    let counts = cycle.counts.clone().unwrap();
    assert_eq!(counts["outcome"], "succeeded", "{counts}");
    assert!(counts["succeeded"].as_u64().unwrap() > 0, "it copied what drifted: {counts}");
    let results = store.run_results(&cycle.id, false, 0, 1000).await.unwrap();
    assert_eq!(results.len() as u64, counts["succeeded"].as_u64().unwrap(), "every object reported");
    let op = store.operation(&cycle.id).await.unwrap().unwrap();
    assert_eq!(
        (op.kind, op.pair.as_deref(), op.conversation_id.as_str()),
        (Kind::Replication, Some("default"), alice.conversation.id())
    );
    // Nobody waits on a cycle that went well: no card for it, delivered all the same.
    let delivered = eventually("the cycle counted as delivered", || async {
        store.operation(&cycle.id).await.unwrap().filter(|op| op.final_posted)
    })
    .await;
    assert_eq!(delivered.state, OperationState::Succeeded);
    assert!(!world.sandbox.connector.recorded().iter().any(|r| card_text(r).contains(&cycle.id)), "no result card");
    let next = store.replication_schedule("default").await.unwrap().unwrap().next_fire_ms;
    assert_eq!(next, schedule.next_fire_ms + 15 * 60_000, "claimed once, the next on its grid");

    // `runs` shows it as scheduled; the dashboard shows the next run and the bound.
    let listed = card_text(&alice.say("runs default").await);
    assert!(listed.contains("drbot (scheduled)"), "{listed}");
    let dashboard = card_text(&later(&world, &alice, "status default").await);
    assert!(dashboard.contains("Scheduled replication") && dashboard.contains("Every 15 min"), "{dashboard}");
    assert!(dashboard.contains("next run at") && dashboard.contains("worst-case RPO"), "{dashboard}");
    assert!(dashboard.contains("15 min + last cycle"), "the bound is the interval plus the last cycle: {dashboard}");
    // The card of every pair says it too, on the scheduled pair's row only.
    let mut other = store.pair("default").await.unwrap().unwrap();
    other.name = "other".into();
    other.sharing = drbot::pairs::SharingNames::of_pair("other");
    assert!(store.add_pair(&other, drbot::store::pairs::Origin::Added, 1).await.unwrap());
    let overview = later(&world, &alice, "status").await;
    let rows = overview.adaptive_card().unwrap()["body"].as_array().unwrap().clone();
    let row = |name: &str| {
        rows.iter().find(|row| row.to_string().contains(&format!("status {name}"))).map(Value::to_string).unwrap()
    };
    assert!(row("default").contains("· next at") && row("default").contains("(bound "), "{}", row("default"));
    assert!(!row("other").contains("next at"), "{}", row("other"));

    // Stopped: no schedule, and the dashboard says how to set one.
    let stopped = card_text(&alice.say("replicate default every off").await);
    assert!(stopped.contains("no longer replicated on a schedule"), "{stopped}");
    assert!(store.replication_schedule("default").await.unwrap().is_none());
    let dashboard = card_text(&later(&world, &alice, "status default").await);
    assert!(dashboard.contains("replicate default every 15m keeps RPO bounded"), "{dashboard}");
}

#[tokio::test]
async fn a_schedule_set_with_assets_carries_the_workspace_assets_in_each_cycle() {
    let clock = ManualClock::new();
    let world = World::start_with_clock(fast, clock.clone()).await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let store = world.bot.app.store.clone();

    let set = card_text(&alice.say("replicate default every 15m --assets-only").await);
    assert!(set.contains("Pair default replicates its workspace assets every 15 min"), "{set}");
    let schedule = store.replication_schedule("default").await.unwrap().expect("stored");
    assert_eq!(schedule.coverage, drbot::assets::coverage::Coverage::Assets);
    assert!(world.sandbox.secondary.job_definitions.all().is_empty(), "nothing before its time");

    // The firing: a cycle as drbot that plans and copies the jobs, paused.
    clock.advance(Duration::from_secs(16 * 60));
    let cycle = eventually("the scheduled cycle ends", || async {
        runs(&world, "default").await.into_iter().find(|run| run.finished_ms.is_some())
    })
    .await;
    assert!(cycle.scheduled && cycle.started_by_upn.is_none(), "{cycle:?}");
    let copies = world.sandbox.secondary.job_definitions.all();
    assert_eq!(copies.len(), 299, "every job but the one on an unmapped policy");
    assert!(copies.values().all(|copy| drbot::assets::job_settings::PauseState::of(copy).all_paused()));
    assert_eq!(store.job_pause_states("default").await.unwrap().len(), 300, "pause states recorded");
    let results = store.run_results(&cycle.id, false, 0, 1000).await.unwrap();
    assert!(results.iter().any(|r| r.object_name.starts_with("job:")), "each job in the run history");
    assert!(results.iter().all(|r| !r.object_name.contains('.')), "no Unity Catalog object: assets only");
}

#[tokio::test]
async fn a_manual_run_and_a_scheduled_one_of_a_pair_never_overlap() {
    let clock = ManualClock::new();
    let world = World::start_with_clock(fast, clock.clone()).await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let store = world.bot.app.store.clone();

    // A scheduled cycle of `default` in flight on another instance (its lease is live).
    let now = chrono::Utc::now().timestamp_millis();
    let in_flight = NewOperation {
        idempotency_key: "schedule:default:elsewhere".into(),
        kind: Kind::Replication,
        conversation_id: "another-chat".into(),
        card_activity_id: None,
        started_by_oid: None,
        started_by_upn: None,
        pair: Some("default".into()),
        payload: json!({"scheduled": true}),
    };
    let (running, _) = store.create_operation(&in_flight, "another-instance", now, 3_600_000).await.unwrap();

    // A person's Run is refused, naming the cycle in flight.
    let planning = alice.say("replicate default").await;
    let card_id = planning.activity_id.clone();
    let plan = wait_for(&world, "the plan card", |r| r.verb == Verb::Update && r.activity_id == card_id).await;
    let run_data: Value = plan.adaptive_card().unwrap()["actions"]
        .as_array()
        .and_then(|actions| actions.iter().find(|a| a["verb"] == "replicate.run"))
        .map(|a| a["data"].clone())
        .expect("a Run button");
    let refused = alice.click(&card_id, "replicate.run", run_data.clone()).await.body.to_string();
    assert!(refused.contains("Pair default is replicating already"), "{refused}");
    assert!(refused.contains(&running.id) && refused.contains("started by the pair's schedule"), "{refused}");
    assert_eq!(store.active_on_pair("default").await.unwrap().map(|op| op.id), Some(running.id.clone()));
    let audit = store.recent_audit(20).await.unwrap();
    assert!(audit.iter().any(|e| e.result.starts_with("refused: pair default is replicating")), "{audit:?}");

    // A firing while it runs is skipped, and recorded: `runs` says so.
    assert!(card_text(&alice.say("replicate default every 15m").await).contains("replicates every 15 min"));
    clock.advance(Duration::from_secs(16 * 60));
    let skipped = eventually("the firing recorded as skipped", || async {
        runs(&world, "default")
            .await
            .into_iter()
            .find(|run| run.counts.as_ref().is_some_and(|c| c["outcome"] == "skipped"))
    })
    .await;
    assert!(skipped.scheduled);
    assert_eq!(skipped.counts.unwrap()["busy"], running.id.as_str());
    let listed = card_text(&alice.say("runs default").await);
    assert!(listed.contains(&format!("Skipped: {} was in flight", running.id)), "{listed}");
    assert!(store.active_on_pair("default").await.unwrap().is_some_and(|op| op.id == running.id), "still one");
    eventually("the skip in the audit log", || async {
        let audit = store.recent_audit(30).await.unwrap();
        audit.iter().any(|e| e.action == "scheduled replication" && e.result.starts_with("skipped")).then_some(())
    })
    .await;

    // Once the cycle ends, the person's Run starts, and the next firing is skipped for it.
    let ended = json!({"outcome": "succeeded"});
    assert!(store
        .finish_operation(&running.id, "another-instance", OperationState::Succeeded, &ended, now)
        .await
        .unwrap());
    let started = alice.click(&card_id, "replicate.run", run_data).await.body.to_string();
    assert!(!started.contains("replicating already"), "{started}");
    let manual = eventually("the person's run", || async { store.active_on_pair("default").await.unwrap() }).await;
    assert_eq!(manual.started_by_upn.as_deref(), Some(alice.user.upn.as_str()));
    clock.advance(Duration::from_secs(15 * 60));
    let busy_with_manual = eventually("the next firing skipped for the person's run", || async {
        runs(&world, "default").await.into_iter().find(|run| {
            run.counts.as_ref().is_some_and(|c| c["outcome"] == "skipped" && c["busy"] == manual.id.as_str())
        })
    })
    .await;
    assert!(busy_with_manual.scheduled);
}

#[tokio::test]
async fn a_failed_scheduled_cycle_is_posted_and_in_runs_and_the_next_firing_comes() {
    let clock = ManualClock::new();
    let world = World::start_with_clock(fast, clock.clone()).await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let store = world.bot.app.store.clone();
    assert!(card_text(&alice.say("replicate default every 15m").await).contains("replicates every 15 min"));
    // Then the pair's warehouse goes away: every statement of a cycle fails.
    let mut pair = store.pair("default").await.unwrap().unwrap();
    pair.warehouse_id = Some("0000000000000000".into());
    store.seed_pair(&pair, 1).await.unwrap();

    let finished = |count: usize| {
        let world = &world;
        async move {
            let ended: Vec<Run> =
                runs(world, "default").await.into_iter().filter(|r| r.finished_ms.is_some()).collect();
            (ended.len() >= count).then_some(ended)
        }
    };
    clock.advance(Duration::from_secs(16 * 60));
    let first = eventually("the first cycle ends", || finished(1)).await.remove(0);
    assert!(first.scheduled);
    assert_eq!(first.counts.as_ref().unwrap()["outcome"], "failed", "{:?}", first.counts);
    // Posted where the schedule was set, as a new message: nobody had a card to update.
    let posted = wait_for(&world, "the failed cycle's card", |r| {
        r.verb == Verb::Send && r.conversation_id == alice.conversation.id() && card_text(r).contains(&first.id)
    })
    .await;
    assert!(card_text(&posted).contains("scheduled, pair default"), "{}", card_text(&posted));
    let listed = card_text(&alice.say("runs default").await);
    assert!(listed.contains("drbot (scheduled)") && !listed.contains("Succeeded"), "{listed}");

    // The next firing comes all the same.
    clock.advance(Duration::from_secs(15 * 60));
    let both = eventually("the second cycle ends", || finished(2)).await;
    assert!(both.iter().all(|run| run.scheduled) && both[0].id != both[1].id);
}

#[tokio::test]
async fn subscribe_names_a_pair_and_subscriptions_list_the_schedules_set_here() {
    let world = World::start_with(fast).await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let unknown = card_text(&alice.say("subscribe nope every 6h").await);
    assert!(unknown.contains("no pair named nope"), "{unknown}");
    let subscribed = card_text(&alice.say("subscribe default every 6h").await);
    assert!(subscribed.contains("pair default's readiness dashboard"), "{subscribed}");
    let stored = world.bot.app.store.subscriptions(alice.conversation.id()).await.unwrap();
    assert_eq!(stored.iter().map(|s| s.pair.as_deref()).collect::<Vec<_>>(), [Some("default")]);
    let set = card_text(&alice.say("replicate default daily 02:00").await);
    assert!(set.contains("Pair default replicates daily 02:00 utc"), "{set}");
    let listed = card_text(&alice.say("subscriptions").await);
    assert!(listed.contains("readiness of default") && listed.contains("replication of default"), "{listed}");
    assert!(listed.contains("replicate default every off"), "{listed}");
    // Setting a schedule is a replicator's: bob has no role.
    let bob = Chat::personal(&world, "bob");
    bob.sign_in().await;
    let denied = card_text(&bob.say("replicate default every 15m").await);
    assert!(denied.contains("Not allowed"), "{denied}");
    let schedule = world.bot.app.store.replication_schedule("default").await.unwrap().unwrap();
    assert_eq!(schedule.created_by_upn.as_deref(), Some(alice.user.upn.as_str()), "unchanged by bob");
}

/// A failed-over pair does not replicate from its stale primary: each
/// firing is passed over, the conversation where the schedule was set is
/// told once, `subscriptions` says the schedule waits for the failback (and
/// lists the pair's drills); home again, the cycles run, and a second
/// failover is told again.
#[tokio::test]
async fn a_failed_over_pair_s_schedule_is_passed_over_with_one_note_until_failback() {
    let clock = ManualClock::new();
    let directory = sandbox::directory::Directory::default();
    let alice_oid = directory.user("alice").unwrap().oid.clone();
    let world = World::start_with_clock(
        |config| {
            fast(config);
            config.access.failover.push(alice_oid.clone());
        },
        clock.clone(),
    )
    .await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let store = world.bot.app.store.clone();
    assert!(card_text(&alice.say("replicate default every 15m").await).contains("replicates every 15 min"));
    assert!(card_text(&alice.say("subscribe drill default monthly").await).contains("Drills of pair default"));
    let moved = |from, to| {
        let store = store.clone();
        async move { assert!(store.set_active_side("default", from, to, 0).await.unwrap()) }
    };
    use drbot::pairs::Side::{Primary, Secondary};
    moved(Primary, Secondary).await;

    let paused = "Scheduled replication of pair default paused";
    let notes = || {
        let recorded = world.sandbox.connector.recorded();
        recorded
            .iter()
            .filter(|r| r.conversation_id == alice.conversation.id() && card_text(r).contains(paused))
            .count()
    };
    let next_fire = || {
        let store = store.clone();
        async move { store.replication_schedule("default").await.unwrap().unwrap().next_fire_ms }
    };
    for firing in 0..2 {
        let due = next_fire().await;
        clock.advance(Duration::from_secs(16 * 60));
        eventually("the firing passed over", || async { (next_fire().await > due).then_some(()) }).await;
        let note = wait_for(&world, "the note", |r| card_text(r).contains(paused)).await;
        let text = card_text(&note);
        assert!(text.contains("has failed over") && text.contains("failback default"), "{text}");
        assert_eq!(notes(), 1, "told once, not at firing {firing}");
    }
    assert!(runs(&world, "default").await.is_empty(), "nothing replicated from the stale primary");
    let listed = card_text(&alice.say("subscriptions").await);
    assert!(listed.contains("Paused until failback default"), "{listed}");
    assert!(listed.contains("drill of default") && listed.contains("subscribe drill default off"), "{listed}");

    // Home again: the cycles run.
    moved(Secondary, Primary).await;
    clock.advance(Duration::from_secs(16 * 60));
    eventually("a cycle after the failback", || async { (!runs(&world, "default").await.is_empty()).then_some(()) })
        .await;
    let listed = card_text(&alice.say("subscriptions").await);
    assert!(!listed.contains("Paused until failback"), "{listed}");

    // A later failover is news again.
    eventually("the cycle to end", || async {
        runs(&world, "default").await.iter().all(|r| r.finished_ms.is_some()).then_some(())
    })
    .await;
    moved(Primary, Secondary).await;
    clock.advance(Duration::from_secs(16 * 60));
    eventually("told again", || async { (notes() == 2).then_some(()) }).await;
}
