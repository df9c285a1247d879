//! Scheduled replication in the store, on SQLite and on PostgreSQL, with two
//! instances (two connection pools) on one database: a pair's schedule is
//! set, replaced and stopped; each firing is claimed by exactly one
//! instance; a pair has one replication in flight at most, whoever starts
//! it; a firing that found its pair busy is a run that says so; a
//! subscription names its pair.

use std::collections::BTreeSet;

use drbot::assets::coverage::Coverage;
use drbot::commands::Schedule;
use drbot::store::operations::{Kind, NewOperation, OperationState};
use drbot::store::subscriptions::NewSubscription;
use drbot::store::StoreError;
#[macro_use]
mod support;

use support::fresh::Fresh;

/// 2026-01-15T07:00:00Z
const MORNING: i64 = 1_768_460_400_000;
const MINUTE: i64 = 60_000;

fn every(minutes: u32) -> Schedule {
    Schedule::Every { minutes }
}

fn replication(pair: &str, key: &str) -> NewOperation {
    NewOperation {
        idempotency_key: key.into(),
        kind: Kind::Replication,
        conversation_id: "conv".into(),
        card_activity_id: None,
        started_by_oid: Some("oid-alice".into()),
        started_by_upn: Some("alice@example.com".into()),
        pair: Some(pair.into()),
        payload: serde_json::json!({}),
    }
}

on_both_backends!(a_pairs_schedule_is_set_replaced_and_stopped, |fresh: Fresh| async move {
    let store = fresh.open().await;
    assert_eq!(store.replication_schedule("finance").await.unwrap(), None);
    let set = store
        .set_replication_schedule(
            "finance",
            &every(15),
            Coverage::Data,
            "conv",
            (Some("oid"), Some("alice@x")),
            MORNING,
        )
        .await
        .unwrap();
    assert_eq!(set.next_fire_ms, MORNING + 15 * MINUTE);
    assert_eq!(store.replication_schedule("finance").await.unwrap(), Some(set.clone()), "round trip");
    // Setting it again replaces it: one schedule per pair.
    let daily = Schedule::Daily { hour: 8, minute: 0, timezone: "UTC".into() };
    let replaced = store
        .set_replication_schedule("finance", &daily, Coverage::Both, "other", (None, Some("bob@x")), MORNING)
        .await
        .unwrap();
    assert_eq!((replaced.schedule.clone(), replaced.next_fire_ms), (daily, MORNING + 60 * MINUTE));
    assert_eq!((replaced.conversation_id.as_str(), replaced.coverage), ("other", Coverage::Both));
    assert_eq!(set.coverage, Coverage::Data);
    store.set_replication_schedule("hr", &every(90), Coverage::Data, "conv", (None, None), MORNING).await.unwrap();
    let listed = store.replication_schedules().await.unwrap();
    assert_eq!(listed.iter().map(|s| s.pair.as_str()).collect::<Vec<_>>(), ["finance", "hr"], "soonest first");
    assert!(store
        .set_replication_schedule("x", &every(0), Coverage::Data, "conv", (None, None), MORNING)
        .await
        .is_err());
    assert!(store.remove_replication_schedule("finance").await.unwrap());
    assert!(!store.remove_replication_schedule("finance").await.unwrap(), "already stopped");
    assert_eq!(store.replication_schedules().await.unwrap().len(), 1);
    store.close().await;
    fresh
});

on_both_backends!(each_firing_is_claimed_by_one_of_two_instances, |fresh: Fresh| async move {
    let (first, second) = (fresh.open().await, fresh.open().await);
    for pair in ["a", "b", "c", "d", "e"] {
        let coverage = if pair == "e" { Coverage::Assets } else { Coverage::Data };
        first.set_replication_schedule(pair, &every(15), coverage, "conv", (None, None), MORNING).await.unwrap();
    }
    assert!(first.claim_due_replications(MORNING + 14 * MINUTE, 100).await.unwrap().is_empty(), "not yet due");
    // Three rounds; in each both instances claim at once.
    let mut claimed: Vec<(String, i64)> = Vec::new();
    for round in 1..=3 {
        let now = MORNING + round * 15 * MINUTE + 30_000;
        let (one, two) = tokio::join!(first.claim_due_replications(now, 100), second.claim_due_replications(now, 100));
        let (one, two) = (one.unwrap(), two.unwrap());
        for due in one.iter().chain(&two) {
            assert_eq!(due.fire_ms, MORNING + round * 15 * MINUTE, "claimed for its own firing");
            assert_eq!(due.next_fire_ms, due.fire_ms + 15 * MINUTE);
            let coverage = if due.pair == "e" { Coverage::Assets } else { Coverage::Data };
            assert_eq!(due.coverage, coverage, "each firing carries its schedule's coverage");
            claimed.push((due.pair.clone(), due.fire_ms));
        }
        assert_eq!(one.len() + two.len(), 5, "round {round}: every pair once");
    }
    let distinct: BTreeSet<_> = claimed.iter().cloned().collect();
    assert_eq!(distinct.len(), claimed.len(), "no firing claimed twice");
    // A day without any instance: the missed firings collapse into one.
    let late = MORNING + 24 * 60 * MINUTE + 7 * MINUTE;
    let due = first.claim_due_replications(late, 100).await.unwrap();
    assert_eq!(due.len(), 5);
    assert!(due.iter().all(|d| d.next_fire_ms == MORNING + 24 * 60 * MINUTE + 15 * MINUTE), "back on its grid");
    assert!(second.claim_due_replications(late, 100).await.unwrap().is_empty());
    first.close().await;
    second.close().await;
    fresh
});

on_both_backends!(a_pair_has_one_replication_in_flight_across_instances, |fresh: Fresh| async move {
    let (first, second) = (fresh.open().await, fresh.open().await);
    // Both instances start a replication of `finance` at once (a click and a
    // scheduled firing, say): exactly one is created.
    let (click, firing) = (replication("finance", "replicate:plan-1"), replication("finance", "schedule:finance:900"));
    let (one, two) = tokio::join!(
        first.create_operation(&click, "instance-1", 10, 60_000),
        second.create_operation(&firing, "instance-2", 10, 60_000)
    );
    let (created, refused) = match (one, two) {
        (Ok((op, true)), Err(refused)) | (Err(refused), Ok((op, true))) => (op, refused),
        other => panic!("one created and one refused, not {other:?}"),
    };
    match refused {
        StoreError::PairBusy { pair, operation } => {
            assert_eq!((pair, operation), ("finance".into(), created.id.clone()))
        }
        other => panic!("a busy pair, not {other}"),
    }
    assert_eq!(first.active_on_pair("finance").await.unwrap().map(|op| op.id), Some(created.id.clone()));
    // Another pair is not held up; nor is a deployment of the same pair.
    assert!(second.create_operation(&replication("hr", "replicate:plan-2"), "instance-2", 10, 60_000).await.is_ok());
    let deployment = NewOperation { kind: Kind::Deployment, ..replication("finance", "deploy:plan-3") };
    assert!(second.create_operation(&deployment, "instance-2", 10, 60_000).await.is_ok());
    // The same key again is the same operation (a double click), not a refusal.
    let (again, fresh_one) = second
        .create_operation(&replication("finance", &created.idempotency_key), "instance-2", 11, 60_000)
        .await
        .unwrap();
    assert_eq!((again.id, fresh_one), (created.id.clone(), false));
    // Once it ends, the pair replicates again.
    let ended = serde_json::json!({"outcome": "failed", "error": "boom"});
    let owner = created.owner.clone();
    assert!(first.finish_operation(&created.id, &owner, OperationState::Failed, &ended, 20).await.unwrap());
    assert_eq!(first.active_on_pair("finance").await.unwrap(), None);
    let (next, made) = second
        .create_operation(&replication("finance", "schedule:finance:1800"), "instance-2", 30, 60_000)
        .await
        .unwrap();
    assert!(made && next.id != created.id);
    first.close().await;
    second.close().await;
    fresh
});

on_both_backends!(a_firing_that_found_its_pair_busy_is_a_skipped_run, |fresh: Fresh| async move {
    let store = fresh.open().await;
    let (busy, _) = store.create_operation(&replication("finance", "replicate:plan-1"), "i", 10, 60_000).await.unwrap();
    let mut firing = replication("finance", "schedule:finance:900");
    (firing.started_by_oid, firing.started_by_upn) = (None, None);
    let skipped = store.record_skipped_firing(&firing, "i", &busy.id, 900).await.unwrap();
    let op = store.operation(&skipped).await.unwrap().expect("recorded as an operation");
    assert_eq!(op.state, OperationState::Canceled);
    assert!(op.final_posted, "nothing to deliver: no card for a skip");
    assert_eq!(store.active_on_pair("finance").await.unwrap().map(|op| op.id), Some(busy.id.clone()));
    let runs = store.recent_runs_of_pair("finance", Some("conv"), 10).await.unwrap();
    assert_eq!(runs.len(), 1, "the skip is in the pair's history, in the conversation's too");
    let run = &runs[0];
    assert!(run.scheduled && run.started_by_upn.is_none());
    assert_eq!((run.started_ms, run.finished_ms), (900, Some(900)));
    let counts = run.counts.clone().unwrap();
    assert_eq!(counts["outcome"], "skipped");
    assert_eq!(counts["busy"], busy.id.as_str());
    // The firing's key is taken: recording it again records nothing more.
    store.record_skipped_firing(&firing, "i", &busy.id, 901).await.unwrap();
    assert_eq!(store.recent_runs_of_pair("finance", None, 10).await.unwrap().len(), 1);
    store.close().await;
    fresh
});

on_both_backends!(subscriptions_name_their_pair, |fresh: Fresh| async move {
    let store = fresh.open().await;
    let new = |pair: Option<&str>| NewSubscription {
        conversation_id: "conv".into(),
        tenant_id: Some("t".into()),
        schedule: every(60),
        pair: pair.map(str::to_string),
        created_by_oid: None,
        created_by_upn: None,
    };
    // The same schedule for two pairs and for the chat's own: three posts.
    for pair in [Some("finance"), Some("hr"), None] {
        store.subscribe(&new(pair), MORNING).await.unwrap();
    }
    store.subscribe(&new(Some("hr")), MORNING).await.unwrap();
    let subscriptions = store.subscriptions("conv").await.unwrap();
    let pairs: BTreeSet<_> = subscriptions.iter().map(|s| s.pair.clone()).collect();
    assert_eq!(pairs, [None, Some("finance".to_string()), Some("hr".to_string())].into_iter().collect());
    assert_eq!(subscriptions.len(), 3, "subscribing again replaces");
    let due = store.claim_due(MORNING + 60 * MINUTE, 10).await.unwrap();
    let due_pairs: BTreeSet<_> = due.iter().map(|d| d.pair.clone()).collect();
    assert_eq!(due_pairs, pairs);
    store.close().await;
    fresh
});
