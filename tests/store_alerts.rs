//! Alert conditions and readiness history in the store, on SQLite and on
//! PostgreSQL, with two instances (two connection pools) on one database: a
//! condition raised by both at once alerts once, cleared by both at once
//! recovers once; the chats that follow a pair are its subscribers; the
//! readings of a pair come back oldest first, within the window asked for.

use drbot::commands::Schedule;
use drbot::store::readiness_history::{Reading, ReadingSource};
use drbot::store::subscriptions::NewSubscription;
#[macro_use]
mod support;

use support::fresh::Fresh;

/// 2026-01-15T07:00:00Z
const MORNING: i64 = 1_768_460_400_000;
const DAY: i64 = 86_400_000;

fn subscription(conversation: &str, pair: Option<&str>) -> NewSubscription {
    NewSubscription {
        conversation_id: conversation.into(),
        tenant_id: Some("tenant".into()),
        schedule: Schedule::Every { minutes: 60 },
        pair: pair.map(str::to_string),
        created_by_oid: None,
        created_by_upn: None,
    }
}

on_both_backends!(a_condition_alerts_once_until_it_clears_then_recovers_once, |fresh: Fresh| async move {
    let (first, second) = (fresh.open().await, fresh.open().await);
    let (one, two) = tokio::join!(
        first.raise_alert("sales", "replication", "run r1 failed", MORNING),
        second.raise_alert("sales", "replication", "run r1 failed", MORNING),
    );
    assert_eq!([one.unwrap(), two.unwrap()].iter().filter(|raised| **raised).count(), 1, "one instance alerts");
    assert!(!first.raise_alert("sales", "replication", "run r2 failed", MORNING + 1).await.unwrap(), "still raised");
    assert!(first.raise_alert("sales", "rpo", "90 min", MORNING).await.unwrap(), "another condition is its own");
    assert!(first.raise_alert("hr", "replication", "x", MORNING).await.unwrap(), "another pair is its own");
    let raised = first.raised_alerts(Some("sales")).await.unwrap();
    assert_eq!(raised.iter().map(|r| r.condition.as_str()).collect::<Vec<_>>(), ["replication", "rpo"]);
    assert_eq!(raised[0].summary, "run r1 failed", "the first alert's words are kept");

    let (one, two) =
        tokio::join!(first.clear_alert("sales", "replication"), second.clear_alert("sales", "replication"));
    let cleared: Vec<_> = [one.unwrap(), two.unwrap()].into_iter().flatten().collect();
    assert_eq!(cleared.len(), 1, "one instance says recovered");
    assert_eq!((cleared[0].raised_ms, cleared[0].summary.as_str()), (MORNING, "run r1 failed"));
    assert_eq!(first.clear_alert("sales", "replication").await.unwrap(), None, "clear stays quiet");
    assert!(first.raise_alert("sales", "replication", "run r3 failed", MORNING + 2).await.unwrap(), "fires again");
    first.close().await;
    second.close().await;
    fresh
});

on_both_backends!(a_pairs_alerts_go_to_the_chats_that_follow_it, |fresh: Fresh| async move {
    let store = fresh.open().await;
    store.subscribe(&subscription("names-sales", Some("sales")), MORNING).await.unwrap();
    store.subscribe(&subscription("names-hr", Some("hr")), MORNING).await.unwrap();
    store.subscribe(&subscription("uses-sales", None), MORNING).await.unwrap();
    store.set_conversation_pair("uses-sales", "sales", None, MORNING).await.unwrap();
    store.subscribe(&subscription("uses-hr", None), MORNING).await.unwrap();
    store.set_conversation_pair("uses-hr", "hr", None, MORNING).await.unwrap();
    store.subscribe(&subscription("every-pair", None), MORNING).await.unwrap();
    // Two subscriptions of one chat: one alert there.
    let mut daily = subscription("names-sales", Some("sales"));
    daily.schedule = Schedule::Daily { hour: 8, minute: 0, timezone: "UTC".into() };
    store.subscribe(&daily, MORNING).await.unwrap();
    let followers = store.alert_conversations("sales").await.unwrap();
    assert_eq!(
        followers,
        [
            ("every-pair".to_string(), Some("tenant".to_string())),
            ("names-sales".to_string(), Some("tenant".to_string())),
            ("uses-sales".to_string(), Some("tenant".to_string())),
        ]
    );
    assert!(store.alert_conversations("nobody").await.unwrap().iter().all(|(c, _)| c == "every-pair"));
    store.close().await;
    fresh
});

on_both_backends!(readings_are_kept_per_pair_oldest_first, |fresh: Fresh| async move {
    let store = fresh.open().await;
    let reading = |pair: &str, at_ms: i64, source: ReadingSource, rpo: Option<i64>| Reading {
        pair: pair.into(),
        at_ms,
        source,
        worst_rpo_ms: rpo,
        drift: rpo.map(|ms| ms / 60_000),
        run_id: (source == ReadingSource::Run).then(|| format!("run-{at_ms}")),
        outcome: (source == ReadingSource::Run).then(|| "succeeded".into()),
        duration_ms: (source == ReadingSource::Run).then_some(42_000),
    };
    for day in 0..10 {
        store
            .record_reading(&reading("sales", MORNING + day * DAY, ReadingSource::Check, Some(day * 60_000)))
            .await
            .unwrap();
    }
    let run = reading("sales", MORNING + 9 * DAY, ReadingSource::Run, None);
    store.record_reading(&run).await.unwrap();
    store.record_reading(&run).await.unwrap();
    store.record_reading(&reading("hr", MORNING, ReadingSource::Check, Some(1))).await.unwrap();

    let week = store.readings("sales", MORNING + 3 * DAY, 100).await.unwrap();
    assert_eq!(week.len(), 8, "seven checks and one run (written twice, kept once)");
    assert!(week.windows(2).all(|w| w[0].at_ms <= w[1].at_ms), "oldest first");
    assert_eq!(week[0].worst_rpo_ms, Some(3 * 60_000));
    assert!(week.iter().any(|r| r == &run), "{week:?}");
    let newest = store.readings("sales", 0, 2).await.unwrap();
    assert_eq!(newest.len(), 2, "the newest when there are more");
    assert!(newest.iter().all(|r| r.at_ms == MORNING + 9 * DAY));
    store.close().await;
    fresh
});
