//! Crashes with real processes: `drbot serve` children killed with SIGKILL
//! in the middle of a replication started from chat, aborted (`DRBOT_FAULT`)
//! at each point of the final card's delivery, and two instances on one
//! PostgreSQL database sharing scheduled posts and operations.
//!
//! The sandbox runs in this process; the bots are the real binary, so what is
//! tested is what survives a process dying: the store, the lease, the
//! checkpoints and the statements already on the warehouse. Every wait has a
//! deadline and every child is killed when its guard drops, failed test or not.

mod support;

use std::time::{Duration, Instant};

use drbot::commands::Schedule;
use drbot::store::conversations::ConversationReference;
use drbot::store::operations::Operation;
use drbot::store::runs::ResultStatus;
use drbot::store::subscriptions::NewSubscription;
use drbot::store::Store;
use sandbox::connector::Verb;
use sandbox::databricks::statements::{StatementRecord, StatementTiming};
use sandbox::{Sandbox, SandboxConfig, SANDBOX_TENANT_ID};
use serde_json::Value;
use support::chat::card_text;
use support::postgres::TestDatabase;
use support::process::{eventually, unix_ms, wait_for_activity, write_config, BotProcess, Person, RUN_PATIENCE};
use support::PATIENCE;

/// The sandbox, with clones slow enough and the warehouse narrow enough that
/// a replication takes seconds: long enough to kill a bot in the middle.
async fn slow_sandbox() -> Sandbox {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox starts");
    let statements = &sandbox.secondary.statements;
    statements.set_timing(StatementTiming { clone_ms: (300, 600), ..StatementTiming::default() });
    statements.set_concurrency(Some(4));
    sandbox
}

/// Result cards the chat shows now (each replaces its run's progress card).
fn result_cards(sandbox: &Sandbox) -> usize {
    support::chat::showing(&sandbox.connector.recorded(), "Run details")
}

/// Starts a replication from `person`'s chat, waits until the bot has
/// recorded a few clones and shown progress on the card, then SIGKILLs
/// `victim`. Returns the operation and the warehouse's statements as they
/// were at the kill.
async fn run_then_kill(
    sandbox: &Sandbox,
    person: &Person<'_>,
    store: &Store,
    victim: &mut BotProcess,
) -> (Operation, Vec<StatementRecord>) {
    let card_id = person.plan_and_run().await;
    let op = eventually("the operation", PATIENCE, || async {
        store.recent_operations(person.conversation.id(), 5).await.ok().and_then(|ops| ops.into_iter().next())
    })
    .await;
    eventually("clones recorded as done", RUN_PATIENCE, || async {
        let results = store.run_results(&op.id, false, 0, 1000).await.ok()?;
        let clones = results.iter().filter(|r| r.status == ResultStatus::Succeeded && r.action.contains("clone"));
        (clones.count() >= 3).then_some(())
    })
    .await;
    wait_for_activity(sandbox, "progress on the card", |r| {
        r.verb == Verb::Update && r.activity_id == card_id && card_text(r).contains("run_id")
    })
    .await;
    victim.kill();
    let at_kill = sandbox.secondary.statements.history();
    let op = store.operation(&op.id).await.unwrap().expect("the operation");
    assert!(!op.final_posted, "killed before the end");
    assert_eq!(result_cards(sandbox), 0, "no result card before the kill");
    (op, at_kill)
}

/// After a takeover: the run finished and succeeded, one result card, no
/// clone that had succeeded before the kill ran again, and no statement
/// checkpointed as in flight was submitted twice.
async fn assert_finished_once(sandbox: &Sandbox, store: &Store, killed: &Operation, at_kill: &[StatementRecord]) {
    let (op_id, in_flight_at_kill) = (&killed.id, &killed.payload["in_flight"]);
    wait_for_activity(sandbox, "the result card", |r| card_text(r).contains("Run details")).await;
    let op = eventually("the operation to be posted", RUN_PATIENCE, || async {
        store.operation(op_id).await.ok().flatten().filter(|op| op.final_posted)
    })
    .await;
    assert!(op.takeovers >= 1, "another instance took it over: {op:?}");
    let run = store.run(op_id).await.unwrap().expect("the run's history");
    let counts = run.counts.expect("the run's counts");
    assert_eq!(counts["outcome"], "succeeded", "{counts}");
    assert!(run.finished_ms.is_some());
    // The final card replaces the operation's own card, so however often it
    // is delivered, the chat shows one.
    assert!(op.final_posted);
    assert_eq!(result_cards(sandbox), 1, "exactly one result card");

    let done_at_kill: Vec<&StatementRecord> =
        at_kill.iter().filter(|s| s.statement.contains("DEEP CLONE") && s.state == "SUCCEEDED").collect();
    assert!(!done_at_kill.is_empty(), "clones had finished before the kill");
    let history = sandbox.secondary.statements.history();
    for clone in done_at_kill {
        let runs = history.iter().filter(|s| s.statement == clone.statement).count();
        assert_eq!(runs, 1, "ran again after the kill: {}", clone.statement);
    }
    // The statements the dead instance had checkpointed as in flight were
    // followed by id to their end, not submitted again.
    let in_flight = in_flight_at_kill.as_object().expect("the checkpoint's statements in flight");
    assert!(!in_flight.is_empty(), "statements were in flight at the kill");
    for statement_id in in_flight.values().filter_map(Value::as_str) {
        let record =
            at_kill.iter().find(|s| s.id == statement_id).expect("a checkpointed statement is on the warehouse");
        let runs = history.iter().filter(|s| s.statement == record.statement).count();
        assert_eq!(runs, 1, "submitted again although checkpointed: {}", record.statement);
    }
}

/// Re-plans from chat: nothing is left to clone or create on the secondary.
async fn assert_no_drift(person: &Person<'_>) {
    let (_, card) = person.plan().await;
    let text = card.to_string();
    assert!(text.contains("Nothing to do: the secondary already matches the primary"), "{text}");
    for kind in
        ["Deep clone table", "Create catalog", "Create schema", "Create view", "Create volume", "Copy volume files"]
    {
        assert!(!text.contains(kind), "{kind} still planned after the run: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replication_survives_sigkill_and_a_restart_on_the_same_data_dir() {
    let sandbox = slow_sandbox().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let config = write_config(&sandbox, dir.path(), &format!("data_dir = {:?}", data_dir.display().to_string()));
    let mut first = BotProcess::start(&config, dir.path().join("first.log"));
    first.wait_ready().await;
    sandbox.teams.set_bot_endpoint(&first.endpoint());

    let alice = Person::personal(&sandbox, "alice");
    alice.sign_in().await;
    // The test reads the bot's SQLite store beside it (WAL: readers do not block the writer).
    let store = Store::open(&format!("sqlite://{}", data_dir.join("drbot.db").display())).await.expect("store");
    let (op, at_kill) = run_then_kill(&sandbox, &alice, &store, &mut first).await;

    // A new process on the same configuration and data: a new instance id,
    // so it takes the operation over once the dead one's lease runs out.
    let mut second = BotProcess::start(&config, dir.path().join("second.log"));
    second.wait_ready().await;
    sandbox.teams.set_bot_endpoint(&second.endpoint());
    assert_finished_once(&sandbox, &store, &op, &at_kill).await;
    let log = second.log_text();
    assert!(log.contains("taking over a replication"), "{log}");
    assert!(log.contains("resuming a replication"), "{log}");
    assert_no_drift(&alice).await;
    // The managed volume's files arrived whole, whatever the kill interrupted.
    let root = {
        let metastore = sandbox.primary.metastore.read();
        let volume = metastore.volumes.values().find(|v| v.volume_type == "MANAGED").expect("a managed volume");
        format!("/Volumes/{}/{}/{}", volume.catalog, volume.schema, volume.name)
    };
    let files = sandbox.primary.files.files_under(&root);
    assert!(!files.is_empty());
    assert_eq!(sandbox.secondary.files.files_under(&root), files);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asset_replication_survives_sigkill_without_copying_a_job_twice() {
    let sandbox = Sandbox::start(SandboxConfig { tables: 4, ..SandboxConfig::default() }).await.expect("sandbox");
    // Slow job calls, so the kill lands in the middle of the jobs.
    sandbox.secondary.faults.set(sandbox::faults::FaultConfig { latency_ms: Some((20, 40)), ..Default::default() });
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let config = write_config(&sandbox, dir.path(), &format!("data_dir = {:?}", data_dir.display().to_string()));
    let mut first = BotProcess::start(&config, dir.path().join("first.log"));
    first.wait_ready().await;
    sandbox.teams.set_bot_endpoint(&first.endpoint());
    let alice = Person::personal(&sandbox, "alice");
    alice.sign_in().await;
    let store = Store::open(&format!("sqlite://{}", data_dir.join("drbot.db").display())).await.expect("store");

    let card_id = alice.plan_and_run_with("replicate --assets-only").await;
    let op = eventually("the operation", PATIENCE, || async {
        store.recent_operations(alice.conversation.id(), 5).await.ok().and_then(|ops| ops.into_iter().next())
    })
    .await;
    eventually("jobs copied", RUN_PATIENCE, || async {
        let results = store.run_results(&op.id, false, 0, 1000).await.ok()?;
        (results.iter().filter(|r| r.status == ResultStatus::Succeeded).count() >= 20).then_some(())
    })
    .await;
    first.kill();
    let copied_at_kill = sandbox.secondary.job_definitions.all().len();
    assert!(copied_at_kill < 299, "killed part-way: {copied_at_kill} copies");
    assert_eq!(result_cards(&sandbox), 0);

    let mut second = BotProcess::start(&config, dir.path().join("second.log"));
    second.wait_ready().await;
    sandbox.teams.set_bot_endpoint(&second.endpoint());
    wait_for_activity(&sandbox, "the result card", |r| {
        r.activity_id == card_id && card_text(r).contains("Run details")
    })
    .await;
    let op = eventually("the operation to be posted", RUN_PATIENCE, || async {
        store.operation(&op.id).await.ok().flatten().filter(|op| op.final_posted)
    })
    .await;
    assert!(op.takeovers >= 1, "{op:?}");
    assert_eq!(result_cards(&sandbox), 1, "exactly one result card");
    // Every job copied once (the blocked one not at all), every copy paused.
    let mut sources = std::collections::BTreeMap::<String, usize>::new();
    for copy in sandbox.secondary.job_definitions.all().values() {
        assert!(drbot::assets::job_settings::PauseState::of(copy).all_paused(), "{copy}");
        *sources.entry(copy["tags"]["drbot_source_job_id"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(sources.len(), 299);
    assert!(sources.values().all(|n| *n == 1), "a job copied twice");
    assert_eq!(store.job_pause_states("default").await.unwrap().len(), 300);
}

/// Two instances on one fresh PostgreSQL database.
struct Pair {
    a: BotProcess,
    b: BotProcess,
    _dir: tempfile::TempDir,
}

async fn two_instances(sandbox: &Sandbox, database: &TestDatabase) -> Pair {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(sandbox, dir.path(), &format!("url = {:?}", database.url));
    let mut a = BotProcess::start(&config, dir.path().join("a.log"));
    let mut b = BotProcess::start(&config, dir.path().join("b.log"));
    a.wait_ready().await;
    b.wait_ready().await;
    Pair { a, b, _dir: dir }
}

fn reference(sandbox: &Sandbox, conversation_id: &str) -> ConversationReference {
    ConversationReference {
        conversation_id: conversation_id.to_string(),
        service_url: sandbox.teams.service_url(),
        channel_id: "msteams".into(),
        bot_id: format!("28:{}", sandbox::SANDBOX_BOT_APP_ID),
        tenant_id: Some(SANDBOX_TENANT_ID.into()),
        conversation_type: Some("groupChat".into()),
        teams_channel_id: None,
        team_id: None,
        installed_by_oid: None,
    }
}

/// Subscribes `conversation_id` every hour, with its first firing `in_ms` from now.
async fn subscribe_soon(store: &Store, sandbox: &Sandbox, conversation_id: &str, in_ms: i64) -> i64 {
    let now = unix_ms();
    store.save_conversation(&reference(sandbox, conversation_id), now).await.expect("reference saved");
    let new = NewSubscription {
        conversation_id: conversation_id.to_string(),
        tenant_id: Some(SANDBOX_TENANT_ID.into()),
        schedule: Schedule::Every { minutes: 60 },
        pair: None,
        created_by_oid: None,
        created_by_upn: Some("alice@contoso.example".into()),
    };
    // Subscribed "an hour ago, minus a bit": the first firing is `in_ms` away.
    let subscribed = store.subscribe(&new, now - 3_600_000 + in_ms).await.expect("subscribed");
    subscribed.next_fire_ms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_post_each_scheduled_post_once_and_drop_a_removed_chat() {
    let database = TestDatabase::create().await;
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox starts");
    let pair = two_instances(&sandbox, &database).await;
    let store = Store::open(&database.url).await.expect("store");

    // Wall-clock firing times, translated to the `Instant`s the connector records.
    let (base_instant, base_ms) = (Instant::now(), unix_ms());
    let chats: Vec<String> = (0..100).map(|i| format!("19:scheduled-{i:03}@thread.v2")).collect();
    let mut fire_at = Vec::new();
    for (i, chat) in chats.iter().enumerate() {
        // Spread over a second, starting two seconds out.
        fire_at.push(subscribe_soon(&store, &sandbox, chat, 2000 + (i as i64 % 10) * 100).await);
    }
    let removed = "19:removed@thread.v2";
    sandbox.connector.remove_bot_from(removed);
    subscribe_soon(&store, &sandbox, removed, 2000).await;

    let sends_to = |chat: &str| {
        sandbox.connector.recorded().iter().filter(|r| r.verb == Verb::Send && r.conversation_id == chat).count()
    };
    eventually("every chat's post", Duration::from_secs(30), || async {
        chats.iter().all(|chat| sends_to(chat) > 0).then_some(())
    })
    .await;
    // Every firing is claimed (each moved on to the next hour) and a claim is
    // what a post follows, at most once: no further post can come for them.
    for chat in &chats {
        let next = store.subscriptions(chat).await.unwrap();
        assert!(next[0].next_fire_ms > unix_ms() + 30 * 60_000, "{chat} claimed: {next:?}");
    }
    for (chat, fire_ms) in chats.iter().zip(&fire_at) {
        assert_eq!(sends_to(chat), 1, "{chat} posted exactly once");
        let post = sandbox.connector.recorded().into_iter().find(|r| &r.conversation_id == chat).unwrap();
        let due = base_instant + Duration::from_millis((fire_ms - base_ms) as u64);
        // 50 ms of slack for the two clocks' readings.
        assert!(post.at + Duration::from_millis(50) >= due, "{chat} posted at its time, not before");
        // The dashboard, read as the bot itself.
        assert!(card_text(&post).contains("DR readiness"), "{}", card_text(&post));
    }

    // The chat that removed the bot: its subscription is gone, and a log line says so.
    eventually("the removed chat's subscription dropped", PATIENCE, || async {
        store.subscriptions(removed).await.ok().filter(Vec::is_empty).map(|_| ())
    })
    .await;
    let said = eventually("the log line", PATIENCE, || async {
        let logs = format!("{}{}", pair.a.log_text(), pair.b.log_text());
        logs.lines().find(|l| l.contains("its scheduled posts are removed")).map(str::to_string)
    })
    .await;
    assert!(!said.contains(removed), "ids of subscriptions only, not the conversation: {said}");
    assert_eq!(sends_to(removed), 0);
    drop(pair);
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_instance_takes_over_the_replication_of_a_killed_one() {
    let database = TestDatabase::create().await;
    let sandbox = slow_sandbox().await;
    let mut pair = two_instances(&sandbox, &database).await;
    let store = Store::open(&database.url).await.expect("store");
    sandbox.teams.set_bot_endpoint(&pair.a.endpoint());

    let alice = Person::personal(&sandbox, "alice");
    alice.sign_in().await;
    let (op, at_kill) = run_then_kill(&sandbox, &alice, &store, &mut pair.a).await;
    sandbox.teams.set_bot_endpoint(&pair.b.endpoint());
    assert_finished_once(&sandbox, &store, &op, &at_kill).await;
    let log = pair.b.log_text();
    assert!(log.contains("taking over a replication"), "{log}");
    assert_no_drift(&alice).await;
    drop(pair);
    database.drop_database().await;
}

/// A deployment started from chat, the bot SIGKILLed while ARM runs it, a new
/// process on the same data dir: it follows the deployments ARM still runs
/// (no second PUT), bootstraps, and posts exactly one result card.
#[tokio::test]
async fn a_deployment_survives_sigkill_and_a_restart_on_the_same_data_dir() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    sandbox.arm.set_resource_duration(Duration::from_millis(1500));
    let dir = tempfile::tempdir().expect("temp dir");
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    support::deploy::write_spoke_templates(&sandbox, &templates);
    let data_dir = dir.path().join("data");
    let config = write_config(&sandbox, dir.path(), &format!("data_dir = {:?}", data_dir.display().to_string()));
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[deploy]\n",
        &format!("[deploy]\ntemplates_dir = {:?}\npoll_interval_ms = 30\n", templates.display().to_string()),
    );
    std::fs::write(&config, text).unwrap();
    let mut first = BotProcess::start(&config, dir.path().join("first.log"));
    first.wait_ready().await;
    sandbox.teams.set_bot_endpoint(&first.endpoint());

    let alice = Person::personal(&sandbox, "alice");
    alice.sign_in().await;
    let planning = alice.say("deploy spoke crash").await;
    let card_id = planning.activity_id.clone();
    let plan =
        wait_for_activity(&sandbox, "the deployment plan", |r| r.verb == Verb::Update && r.activity_id == card_id)
            .await;
    let card = plan.adaptive_card().cloned().expect("a plan card");
    let approve = card["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["verb"] == "deploy.approve"))
        .map(|a| a["data"].clone())
        .expect("an Approve button");
    let invoke = sandbox.teams.card_action(&alice.user, &alice.conversation, &card_id, "deploy.approve", approve);
    assert_eq!(sandbox.teams.send(&invoke).await.expect("approve answered").status, 200);

    let store = Store::open(&format!("sqlite://{}", data_dir.join("drbot.db").display())).await.expect("store");
    let conversation = alice.conversation.id().to_string();
    let running = eventually("both regions submitted", PATIENCE, || async {
        let ops = store.recent_operations(&conversation, 10).await.ok()?;
        let op = ops.into_iter().next()?;
        let regions = op.payload["checkpoint"]["regions"].as_array()?.clone();
        regions.iter().all(|r| r["phase"] == "submitted").then_some(op)
    })
    .await;
    assert!(!running.state.is_terminal(), "still running at the kill");
    first.kill();

    let mut second = BotProcess::start(&config, dir.path().join("second.log"));
    second.wait_ready().await;
    sandbox.teams.set_bot_endpoint(&second.endpoint());
    let op = eventually("the deployment to end and post", RUN_PATIENCE, || async {
        store.operation(&running.id).await.ok().flatten().filter(|op| op.state.is_terminal() && op.final_posted)
    })
    .await;
    assert_eq!(op.state.as_str(), "succeeded", "{:?}", op.result);
    assert!(op.takeovers >= 1, "taken over: {op:?}");
    assert_eq!(sandbox.arm.deployment_puts().len(), 2, "followed after the restart, not deployed again");
    wait_for_activity(&sandbox, "the result card", |r| card_text(r).contains("Deployed spoke crash")).await;
    let results = support::chat::showing(&sandbox.connector.recorded(), "Deployed spoke crash");
    assert_eq!(results, 1, "exactly one result card");
}

/// The final card after a crash at each point of its delivery: the process
/// aborts (`DRBOT_FAULT`) before the claim, after the claim, or after the
/// card is written but before it is marked delivered; a new process on the
/// same data dir delivers it. The chat shows exactly one result card every
/// time, and it is marked delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_result_card_is_shown_once_whatever_point_the_process_dies_at() {
    for point in ["final.before_claim", "final.after_claim", "final.after_send"] {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let config = write_config(&sandbox, dir.path(), &format!("data_dir = {:?}", data_dir.display().to_string()));
        let mut first = BotProcess::start_faulty(&config, dir.path().join("first.log"), Some(point));
        first.wait_ready().await;
        sandbox.teams.set_bot_endpoint(&first.endpoint());
        let alice = Person::personal(&sandbox, "alice");
        alice.sign_in().await;
        let card_id = alice.plan_and_run().await;
        let status = first.wait_exit().await;
        assert!(!status.success(), "{point}: aborted, not stopped: {}", first.log_text());
        assert!(first.log_text().contains("DRBOT_FAULT: aborting here"), "{point}: {}", first.log_text());
        let store = Store::open(&format!("sqlite://{}", data_dir.join("drbot.db").display())).await.expect("store");
        let op = store.recent_operations(alice.conversation.id(), 5).await.unwrap().remove(0);
        assert!(op.state.is_terminal() && !op.final_posted, "{point}: ended, not marked delivered: {op:?}");
        let shown_at_crash = result_cards(&sandbox);
        assert_eq!(shown_at_crash, usize::from(point == "final.after_send"), "{point}: shown before the restart");

        let mut second = BotProcess::start(&config, dir.path().join("second.log"));
        second.wait_ready().await;
        sandbox.teams.set_bot_endpoint(&second.endpoint());
        let op = eventually("the final card marked delivered", RUN_PATIENCE, || async {
            store.operation(&op.id).await.ok().flatten().filter(|op| op.final_posted)
        })
        .await;
        assert_eq!(op.state.as_str(), "succeeded", "{point}: {:?}", op.result);
        assert_eq!(result_cards(&sandbox), 1, "{point}: exactly one result card");
        let sends = sandbox
            .connector
            .recorded()
            .iter()
            .filter(|r| r.verb == Verb::Send && card_text(r).contains("run_id"))
            .count();
        assert_eq!(sends, 0, "{point}: the result replaced the run's card, nothing new was posted");
        let shown = support::chat::visible(&sandbox.connector.recorded());
        let card = shown.iter().find(|r| r.activity_id == card_id).expect("the run's card");
        assert!(card_text(card).contains("Run details"), "{point}: the run's own card shows the result");
        second.kill();
        store.close().await;
    }
}
