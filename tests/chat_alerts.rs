//! Alerts through the sandbox's Teams and Graph: a pair whose scheduled
//! replication fails posts one alert card into the chat that follows it and
//! sends one activity-feed notification (Graph records it; a throttled first
//! call is retried, not sent twice), however many cycles fail in a row; the
//! cycle that succeeds again posts "recovered" once. Each run leaves a
//! reading in the pair's history.

mod support;

use std::time::{Duration, Instant};

use drbot::clock::ManualClock;
use drbot::store::readiness_history::ReadingSource;
use sandbox::connector::{Recorded, Verb};
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

fn alert_cards(world: &World, conversation: &str, text: &str) -> Vec<Recorded> {
    world
        .sandbox
        .connector
        .recorded()
        .into_iter()
        .filter(|r| r.verb == Verb::Send && r.conversation_id == conversation && card_text(r).contains(text))
        .collect()
}

#[tokio::test]
async fn a_failing_scheduled_replication_alerts_once_and_recovers_once() {
    let clock = ManualClock::new();
    let world = World::start_with_clock(fast, clock.clone()).await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let store = world.bot.app.store.clone();
    let chat = alice.conversation.id().to_string();
    let feed = world.sandbox.graph.activity_feed.clone();

    // Alice's chat follows the pair; she wants its alerts in her feed too.
    assert!(card_text(&alice.say("subscribe default every 6h").await).contains("readiness dashboard"));
    assert!(card_text(&alice.say("replicate default every 15m").await).contains("replicates every 15 min"));
    let healthy = store.pair("default").await.unwrap().unwrap();
    let mut broken = healthy.clone();
    broken.alert_users = vec![alice.user.upn.clone()];
    // The pair's warehouse goes away: every cycle fails.
    broken.warehouse_id = Some("0000000000000000".into());
    store.seed_pair(&broken, 1).await.unwrap();
    // Graph throttles the first notification.
    feed.fail_next(&[429]);

    let finished = |count: usize| {
        let store = store.clone();
        async move {
            let runs = store.recent_runs_of_pair("default", None, 20).await.unwrap();
            let ended: Vec<_> = runs.into_iter().filter(|r| r.finished_ms.is_some()).collect();
            (ended.len() >= count).then_some(ended)
        }
    };
    clock.advance(Duration::from_secs(16 * 60));
    let first = eventually("the first cycle fails", || finished(1)).await.remove(0);
    assert_eq!(first.counts.as_ref().unwrap()["outcome"], "failed");
    let alert = wait_for(&world, "the alert card", |r| {
        r.conversation_id == chat && card_text(r).contains("Pair default: replication needs attention")
    })
    .await;
    assert!(card_text(&alert).contains(&first.id), "it names the run: {}", card_text(&alert));
    let sent = eventually("the activity-feed notification", || async {
        let sent = feed.sent();
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent.len(), 1);
    assert_eq!(feed.calls(), 2, "the throttled call was retried once");
    assert_eq!(sent[0].user_oid, alice.user.oid);
    assert_eq!(sent[0].sender_app_id, sandbox::SANDBOX_BOT_APP_ID, "as the bot itself");
    assert_eq!(sent[0].body["activityType"], "drAlert");
    let link = sent[0].body["topic"]["webUrl"].as_str().unwrap();
    assert!(link.starts_with("https://teams.microsoft.com/l/message/") && link.ends_with(&alert.activity_id), "{link}");

    // The next cycle fails too: no second alert.
    clock.advance(Duration::from_secs(15 * 60));
    eventually("the second cycle fails", || finished(2)).await;

    // The warehouse is back: the next cycle succeeds and says so once.
    let mut fixed = healthy.clone();
    fixed.alert_users = broken.alert_users.clone();
    store.seed_pair(&fixed, 2).await.unwrap();
    clock.advance(Duration::from_secs(15 * 60));
    let recovered = wait_for(&world, "the recovered card", |r| {
        r.conversation_id == chat && card_text(r).contains("Pair default: replication recovered")
    })
    .await;
    assert!(card_text(&recovered).contains(&first.id), "it says what cleared: {}", card_text(&recovered));
    eventually("the recovery in the feed", || async { (feed.sent().len() == 2).then_some(()) }).await;
    assert_eq!(alert_cards(&world, &chat, "replication needs attention").len(), 1, "one alert for three cycles");
    assert_eq!(alert_cards(&world, &chat, "replication recovered").len(), 1);
    assert_eq!(feed.sent()[1].body["templateParameters"][1]["value"], "recovered");

    // Every run left a reading in the pair's history.
    let readings = store.readings("default", 0, 100).await.unwrap();
    let runs: Vec<_> = readings.iter().filter(|r| r.source == ReadingSource::Run).collect();
    assert!(runs.len() >= 3, "{readings:?}");
    assert_eq!(runs[0].outcome.as_deref(), Some("failed"));
    assert_eq!(runs.last().unwrap().outcome.as_deref(), Some("succeeded"));
    assert!(runs.iter().all(|r| r.run_id.is_some() && r.duration_ms.is_some()));

    // `history default` lists them, newest first, with how long each took.
    let history = alice.say("history default").await;
    let card = history.adaptive_card().unwrap().clone();
    assert_eq!(card["body"][0]["text"], "History of pair default");
    let text = card.to_string();
    assert!(text.contains(&first.id) && text.contains("Failed") && text.contains("Succeeded"), "{text}");
    assert!(text.contains("took "), "{text}");
    let newest = text.find("Succeeded").unwrap();
    assert!(newest < text.find("Failed").unwrap(), "newest first: {text}");

    // And so does `drbot history` from a terminal, on the same store.
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("drbot.toml");
    let config = format!(
        "{}\n[store]\ndata_dir = {:?}\n",
        world.sandbox.bot_config_toml("127.0.0.1:0", false),
        world.data_dir.path().display().to_string()
    );
    std::fs::write(&config_path, config).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_drbot"))
        .args(["--log-format", "text", "history", "--json", "--pair", "default", "--config"])
        .arg(&config_path)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), runs.len(), "{lines:?}");
    assert_eq!(lines.last().unwrap()["id"], first.id.as_str(), "oldest last");
    assert_eq!(lines.last().unwrap()["outcome"], "failed");
    assert!(lines.iter().all(|l| l["kind"] == "replication" && l["duration_ms"].is_i64()));
}

#[tokio::test]
async fn the_dashboard_charts_the_last_seven_days_with_a_text_fallback() {
    let world = World::start().await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let store = world.bot.app.store.clone();
    // Readings of the last days, as scheduled checks recorded them.
    let now = chrono::Utc::now().timestamp_millis();
    for (days_ago, rpo_min, drift) in [(5, 95, 21), (3, 40, 9), (1, 14, 2)] {
        let reading = drbot::store::readiness_history::Reading {
            pair: "default".into(),
            at_ms: now - days_ago * 86_400_000,
            source: ReadingSource::Check,
            worst_rpo_ms: Some(rpo_min * 60_000),
            drift: Some(drift),
            run_id: None,
            outcome: None,
            duration_ms: None,
        };
        store.record_reading(&reading).await.unwrap();
    }
    let checking = alice.say("status default").await;
    let id = checking.activity_id.clone();
    let dashboard = wait_for(&world, "the dashboard", |r| r.verb == Verb::Update && r.activity_id == id).await;
    let card = dashboard.adaptive_card().unwrap().clone();
    let body = card["body"].as_array().unwrap();
    let line = body.iter().find(|e| e["type"] == "Chart.Line").expect("a line chart");
    let points = line["data"][0]["values"].as_array().unwrap();
    assert!(points.len() >= 3, "the recorded days and today: {points:?}");
    assert_eq!(points[0]["y"], 95, "the worst RPO of the oldest day, in minutes");
    assert!(line["fallback"]["text"].as_str().unwrap().starts_with("Worst RPO by day (min): "), "{line}");
    let bars = body.iter().find(|e| e["type"] == "Chart.VerticalBar").expect("a bar chart");
    assert_eq!(bars["data"][0]["y"], 21);
    assert!(bars["fallback"]["text"].as_str().unwrap().contains("Drift by day (objects)"), "{bars}");
    // A person's look is not recorded: only the bot's own checks are.
    assert_eq!(store.readings("default", 0, 100).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_drills_result_hook_alerts_and_is_in_the_history_with_its_rpo_and_rto() {
    let world = World::start().await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let chat = alice.conversation.id().to_string();
    assert!(card_text(&alice.say("subscribe default every 6h").await).contains("readiness dashboard"));
    let drill = |succeeded: bool, id: &str| drbot::bot::FailoverEnded {
        pair: "default".into(),
        kind: drbot::alerts::Condition::Drill,
        operation_id: id.into(),
        succeeded,
        data_loss_ms: Some(120_000),
        rto_ms: 9 * 60_000,
        summary: format!("Drill {id} of pair default failed at step 3 (promote the secondary)"),
    };
    world.bot.app.bot.failover_ended(&drill(false, "drill-1")).await;
    let alert = wait_for(&world, "the drill's alert", |r| {
        r.conversation_id == chat && card_text(r).contains("Pair default: drill needs attention")
    })
    .await;
    assert!(card_text(&alert).contains("failed at step 3"), "{}", card_text(&alert));
    world.bot.app.bot.failover_ended(&drill(true, "drill-2")).await;
    wait_for(&world, "the drill's recovery", |r| {
        r.conversation_id == chat && card_text(r).contains("Pair default: drill recovered")
    })
    .await;
    assert_eq!(alert_cards(&world, &chat, "drill needs attention").len(), 1);

    let history = card_text(&alice.say("history default").await);
    assert!(history.contains("**Drill**") && history.contains("data loss 2 min 0 s"), "{history}");
    assert!(
        history.contains("RTO 9 min 0 s") && history.contains("drill-1") && history.contains("drill-2"),
        "{history}"
    );
}

#[tokio::test]
async fn a_scheduled_check_records_the_pairs_readiness_and_alerts_on_its_rpo_threshold() {
    let clock = ManualClock::new();
    let world = World::start_with_clock(fast, clock.clone()).await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let store = world.bot.app.store.clone();
    let chat = alice.conversation.id().to_string();
    assert!(card_text(&alice.say("subscribe default every 6h").await).contains("readiness dashboard"));
    // Any lag at all is over a threshold of zero minutes.
    let mut pair = store.pair("default").await.unwrap().unwrap();
    pair.rpo_alert_minutes = Some(0);
    store.seed_pair(&pair, 1).await.unwrap();

    clock.advance(Duration::from_secs(6 * 3600 + 60));
    let check = eventually("the scheduled check's reading", || async {
        let readings = store.readings("default", 0, 10).await.unwrap();
        readings.into_iter().find(|r| r.source == ReadingSource::Check)
    })
    .await;
    assert!(check.drift.is_some(), "{check:?}");
    let worst = check.worst_rpo_ms.expect("the seeded pair has a measured lag");
    assert!(worst > 0, "{check:?}");
    let alert = wait_for(&world, "the RPO alert", |r| {
        r.conversation_id == chat && card_text(r).contains("Pair default: RPO needs attention")
    })
    .await;
    assert!(card_text(&alert).contains("over its threshold of 0 min"), "{}", card_text(&alert));
}

#[tokio::test]
async fn a_pairs_alerts_reach_every_member_of_its_teams_channels_and_chats() {
    let world = World::start().await;
    let store = world.bot.app.store.clone();
    let feed = world.sandbox.graph.activity_feed.clone();
    let who = |login: &str| world.sandbox.teams.user(login).expect(login);
    let (alice, bob, carol) = (who("alice"), who("bob"), who("carol"));
    const TEAM: &str = "7155e3c8-175e-4311-97ef-572edc3aa3db";
    const CHANNEL: &str = "19:0ea5de04de4743bcb4cd20cb99235d99@thread.tacv2";
    const CHAT: &str = "19:d65713bc498c4a428c71ef9353e6ce20@thread.v2";
    const LONELY_CHAT: &str = "19:0000000000000000000000000000aaaa@thread.v2";
    // The DR team (everyone), its private on-call channel (Alice and Bob),
    // a chat of Bob and Carol; and a chat drbot was never added to.
    feed.add_team(TEAM, &[&alice, &bob, &carol], true);
    feed.add_channel(TEAM, CHANNEL, Some(&[&alice, &bob]));
    feed.add_chat(CHAT, &[&bob, &carol], true);
    feed.add_chat(LONELY_CHAT, &[&alice], false);
    let mut pair = store.pair("default").await.unwrap().unwrap();
    pair.alert_teams = vec![TEAM.into(), format!("{TEAM}/{CHANNEL}")];
    pair.alert_chats = vec![CHAT.into(), LONELY_CHAT.into()];
    store.seed_pair(&pair, 1).await.unwrap();

    let failed = drbot::alerts::condition::operation_result(
        "default",
        drbot::alerts::Condition::Drill,
        "drill-9",
        false,
        "Drill drill-9 failed at step 2",
    );
    let delivered = world.bot.app.bot.alerter().handle(&[failed], 1_000).await.unwrap();
    // Nobody subscribed: four feeds, one of which Graph refuses (drbot is not in that chat).
    assert_eq!((delivered.posted, delivered.notified, delivered.failed), (0, 3, 1), "{delivered:?}");
    let sent = feed.sent();
    let reached = |scope: &str| {
        let mut users: Vec<String> = sent.iter().filter(|s| s.scope == scope).map(|s| s.user_oid.clone()).collect();
        users.sort();
        users
    };
    let mut whole_team = vec![alice.oid.clone(), bob.oid.clone(), carol.oid.clone()];
    whole_team.sort();
    let team_scope = format!("team:{TEAM}");
    // The team twice: everyone once, and the channel's two once more.
    let mut team_and_channel = [whole_team.clone(), vec![alice.oid.clone(), bob.oid.clone()]].concat();
    team_and_channel.sort();
    assert_eq!(reached(&team_scope), team_and_channel);
    let mut chat = vec![bob.oid.clone(), carol.oid.clone()];
    chat.sort();
    assert_eq!(reached(&format!("chat:{CHAT}")), chat);
    assert!(reached(&format!("chat:{LONELY_CHAT}")).is_empty());
    let kinds: Vec<&str> = sent.iter().filter_map(|s| s.body["recipient"]["@odata.type"].as_str()).collect();
    assert!(kinds.contains(&"microsoft.graph.teamMembersNotificationRecipient"), "{kinds:?}");
    assert!(kinds.contains(&"microsoft.graph.channelMembersNotificationRecipient"), "{kinds:?}");
    assert!(kinds.contains(&"microsoft.graph.chatMembersNotificationRecipient"), "{kinds:?}");
    assert!(sent.iter().all(|s| s.body["activityType"] == "drAlert" && s.sender_app_id == sandbox::SANDBOX_BOT_APP_ID));
    // The alert reached someone, so it stays raised: the same failure again is quiet.
    let again = drbot::alerts::condition::operation_result(
        "default",
        drbot::alerts::Condition::Drill,
        "drill-10",
        false,
        "again",
    );
    assert_eq!(world.bot.app.bot.alerter().handle(&[again], 2_000).await.unwrap(), Default::default());
}

#[tokio::test]
async fn a_pair_no_chat_follows_is_checked_periodically_and_its_rpo_alerts_the_feed() {
    let clock = ManualClock::new();
    let world = World::start_with_clock(
        |config| {
            fast(config);
            config.operations.rpo_check_secs = 600;
        },
        clock.clone(),
    )
    .await;
    let store = world.bot.app.store.clone();
    let feed = world.sandbox.graph.activity_feed.clone();
    let alice = world.alice();
    // Nobody subscribes to the pair; its threshold (zero: any lag is over)
    // and its on-call engineer are all it has.
    let mut pair = store.pair("default").await.unwrap().unwrap();
    pair.rpo_alert_minutes = Some(0);
    pair.alert_users = vec![alice.upn.clone()];
    store.seed_pair(&pair, 1).await.unwrap();

    let checks = || {
        let store = store.clone();
        async move {
            let readings = store.readings("default", 0, 10).await.unwrap();
            let checks: Vec<_> = readings.into_iter().filter(|r| r.source == ReadingSource::Check).collect();
            Some(checks)
        }
    };
    // The first tick checks it.
    let first = eventually("the first periodic check", || async { checks().await.filter(|c| !c.is_empty()) }).await;
    assert!(first[0].worst_rpo_ms.is_some_and(|ms| ms > 0), "{first:?}");
    let sent = eventually("the RPO alert in the feed", || async {
        let sent = feed.sent();
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent[0].user_oid, alice.oid);
    assert!(sent[0].body["topic"]["value"].as_str().unwrap().contains("Pair default: RPO needs attention"));
    assert!(sent[0].body["previewText"]["content"].as_str().unwrap().contains("over its threshold of 0 min"));

    // The interval passes (once per interval is `tests/scheduler.rs`'s to
    // prove): checked again; the condition still holds, so no second alert.
    clock.advance(Duration::from_secs(10 * 60));
    eventually("the second periodic check", || async { checks().await.filter(|c| c.len() == 2) }).await;
    assert_eq!(feed.sent().len(), 1, "one alert while the condition lasts");
}
