//! The store's durable operations, run history and subscriptions, on SQLite
//! and on PostgreSQL; the races use two stores (two instances' pools) on one
//! database.

use std::collections::{BTreeSet, HashMap};

use drbot::commands::Schedule;
use drbot::store::operations::{Lease, NewOperation, OperationState};
use drbot::store::runs::{ObjectResult, ResultCounts, ResultStatus, Run};
use drbot::store::subscriptions::NewSubscription;
use drbot::store::Store;
use serde_json::json;
#[macro_use]
mod support;

use support::fresh::Fresh;

const HOUR: i64 = 3_600_000;

fn new_operation(key: &str, conversation: &str) -> NewOperation {
    NewOperation {
        idempotency_key: key.into(),
        kind: drbot::store::operations::Kind::Replication,
        conversation_id: conversation.into(),
        card_activity_id: Some("card-1".into()),
        started_by_oid: Some("oid-alice".into()),
        started_by_upn: Some("alice@contoso.example".into()),
        pair: None,
        payload: json!({"plan": ["main.sales.orders"], "done": 0, "note": "l'été; DROP TABLE operations; --"}),
    }
}

on_both_backends!(creating_twice_with_one_key_gives_one_operation, |fresh: Fresh| async move {
    let (first, second) = (fresh.open().await, fresh.open().await);
    let new = new_operation("invoke-1", "conv-a");
    let (created, is_new) = first.create_operation(&new, "instance-1", 1_000, 30_000).await.unwrap();
    assert!(is_new);
    assert_eq!(created.state, OperationState::Pending);
    assert_eq!(created.owner, "instance-1");
    assert_eq!(created.lease_until_ms, 31_000);
    assert_eq!(created.payload, new.payload, "JSON stored as data and read back");
    assert!(!created.cancel_requested && !created.final_posted);
    let (again, is_new) = second.create_operation(&new, "instance-2", 2_000, 30_000).await.unwrap();
    assert!(!is_new);
    assert_eq!(again, created, "the same operation, untouched by the replay");

    // A double click racing across two instances: one operation, one creator.
    let racing = new_operation("invoke-2", "conv-a");
    let attempts = (0..20).map(|i| {
        let store = if i % 2 == 0 { first.clone() } else { second.clone() };
        let racing = racing.clone();
        async move { store.create_operation(&racing, &format!("instance-{}", i % 2), 5_000, 30_000).await.unwrap() }
    });
    let results = futures::future::join_all(attempts).await;
    assert_eq!(results.iter().filter(|(_, is_new)| *is_new).count(), 1);
    assert_eq!(results.iter().map(|(op, _)| op.id.clone()).collect::<BTreeSet<_>>().len(), 1);
    assert_ne!(results[0].0.id, created.id);

    assert_eq!(first.operation(&created.id).await.unwrap().as_ref(), Some(&created));
    assert_eq!(first.operation("no-such-operation").await.unwrap(), None);
    first.close().await;
    second.close().await;
    fresh
});

on_both_backends!(only_the_lease_holder_moves_an_operation_forward, |fresh: Fresh| async move {
    let store = fresh.open().await;
    let (op, _) = store.create_operation(&new_operation("k", "conv"), "me", 0, 10_000).await.unwrap();
    let progress = json!({"done": 1});

    assert_eq!(
        store.update_operation_progress(&op.id, "me", &progress, 1_000).await.unwrap(),
        Lease::Held { cancel_requested: false }
    );
    let saved = store.operation(&op.id).await.unwrap().unwrap();
    assert_eq!((saved.state, saved.payload.clone(), saved.updated_ms), (OperationState::Running, progress, 1_000));
    assert_eq!(
        store.update_operation_progress(&op.id, "someone-else", &json!({"done": 99}), 1_000).await.unwrap(),
        Lease::Lost
    );
    assert_eq!(store.renew_operation_lease(&op.id, "someone-else", 1_000, 10_000).await.unwrap(), Lease::Lost);
    assert!(!store
        .finish_operation(&op.id, "someone-else", OperationState::Succeeded, &json!({}), 1_000)
        .await
        .unwrap());

    // Renewing moves the lease; a lapsed lease can neither be renewed nor used.
    assert_eq!(
        store.renew_operation_lease(&op.id, "me", 9_000, 10_000).await.unwrap(),
        Lease::Held { cancel_requested: false }
    );
    assert_eq!(store.operation(&op.id).await.unwrap().unwrap().lease_until_ms, 19_000);
    assert_eq!(store.renew_operation_lease(&op.id, "me", 19_000, 10_000).await.unwrap(), Lease::Lost);
    assert_eq!(store.update_operation_progress(&op.id, "me", &json!({}), 19_001).await.unwrap(), Lease::Lost);
    assert_eq!(store.operation(&op.id).await.unwrap().unwrap().payload, json!({"done": 1}), "unchanged");

    // Cancel is a flag the runner sees on its next renewal.
    let (other, _) = store.create_operation(&new_operation("k2", "conv"), "me", 20_000, 10_000).await.unwrap();
    assert!(store.request_operation_cancel(&other.id, 21_000).await.unwrap());
    assert_eq!(
        store.renew_operation_lease(&other.id, "me", 22_000, 10_000).await.unwrap(),
        Lease::Held { cancel_requested: true }
    );
    assert!(store.operation(&other.id).await.unwrap().unwrap().cancel_requested);

    // A lapsed lease nobody took over may still finish; then it is over for everyone.
    assert!(store
        .finish_operation(&op.id, "me", OperationState::Failed, &json!({"error": "boom"}), 25_000)
        .await
        .unwrap());
    let finished = store.operation(&op.id).await.unwrap().unwrap();
    assert_eq!((finished.state, finished.result), (OperationState::Failed, Some(json!({"error": "boom"}))));
    assert!(!store.finish_operation(&op.id, "me", OperationState::Succeeded, &json!({}), 26_000).await.unwrap());
    assert!(!store.request_operation_cancel(&op.id, 26_000).await.unwrap(), "nothing to cancel");
    assert!(store.finish_operation(&op.id, "me", OperationState::Running, &json!({}), 26_000).await.is_err());
    store.close().await;
    fresh
});

on_both_backends!(racing_instances_take_each_orphan_exactly_once, |fresh: Fresh| async move {
    let (first, second) = (fresh.open().await, fresh.open().await);
    let mut orphans = BTreeSet::new();
    for i in 0..30 {
        let (op, _) = first.create_operation(&new_operation(&format!("k{i}"), "conv"), "dead", 0, 1_000).await.unwrap();
        orphans.insert(op.id);
    }
    // Ended operations are nobody's orphans.
    let (ended, _) = first.create_operation(&new_operation("ended", "conv"), "dead", 0, 1_000).await.unwrap();
    assert!(first.finish_operation(&ended.id, "dead", OperationState::Succeeded, &json!({}), 10).await.unwrap());
    // A live lease is not taken.
    let (alive, _) = first.create_operation(&new_operation("alive", "conv"), "alive", 0, 60_000).await.unwrap();

    assert!(first.claim_orphans("instance-1", 999, 30_000, 100).await.unwrap().is_empty(), "not expired yet");
    let (one, two) = tokio::join!(
        first.claim_orphans("instance-1", 1_000, 30_000, 100),
        second.claim_orphans("instance-2", 1_000, 30_000, 100)
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    let one_ids: BTreeSet<String> = one.iter().map(|op| op.id.clone()).collect();
    let two_ids: BTreeSet<String> = two.iter().map(|op| op.id.clone()).collect();
    assert_eq!(one.len() + two.len(), orphans.len(), "{} + {}", one.len(), two.len());
    assert!(one_ids.is_disjoint(&two_ids));
    assert_eq!(one_ids.union(&two_ids).cloned().collect::<BTreeSet<_>>(), orphans);
    assert!(one.iter().all(|op| op.owner == "instance-1" && op.lease_until_ms == 31_000 && op.takeovers == 1));
    assert!(two.iter().all(|op| op.owner == "instance-2"));
    assert_eq!(first.operation(&alive.id).await.unwrap().unwrap().owner, "alive");

    // The old holder has lost them; the new one holds them.
    let taken = one.first().or(two.first()).unwrap();
    assert_eq!(first.update_operation_progress(&taken.id, "dead", &json!({}), 1_001).await.unwrap(), Lease::Lost);
    assert!(matches!(
        first.update_operation_progress(&taken.id, &taken.owner, &json!({"resumed": true}), 1_001).await.unwrap(),
        Lease::Held { .. }
    ));
    assert!(first.claim_orphans("instance-3", 2_000, 30_000, 100).await.unwrap().is_empty(), "all held again");
    first.close().await;
    second.close().await;
    fresh
});

// The supervisor runs what it claims: it used to claim every orphan and run
// only the first batch, leaving the rest leased to an instance that never ran them.
on_both_backends!(a_claim_takes_no_more_than_its_limit_and_leaves_the_rest, |fresh: Fresh| async move {
    let store = fresh.open().await;
    for i in 0..5 {
        store.create_operation(&new_operation(&format!("k{i}"), "conv"), "dead", 0, 1_000).await.unwrap();
    }
    let first = store.claim_orphans("instance-1", 1_000, 30_000, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = store.claim_orphans("instance-2", 1_000, 30_000, 100).await.unwrap();
    assert_eq!(rest.len(), 3, "the others are still orphans, free for the next look");
    store.close().await;
    fresh
});

on_both_backends!(exactly_one_instance_posts_the_final_card, |fresh: Fresh| async move {
    let (first, second) = (fresh.open().await, fresh.open().await);
    let (op, _) = first.create_operation(&new_operation("k", "conv"), "me", 0, 10_000).await.unwrap();
    assert!(!first.mark_final_posted(&op.id, 1).await.unwrap(), "not finished yet");
    assert!(first.operations_awaiting_final_post(10).await.unwrap().is_empty());
    assert!(first.finish_operation(&op.id, "me", OperationState::Succeeded, &json!({"copied": 3}), 5).await.unwrap());
    assert_eq!(first.operations_awaiting_final_post(10).await.unwrap().len(), 1);

    let attempts = (0..20).map(|i| {
        let store = if i % 2 == 0 { first.clone() } else { second.clone() };
        let id = op.id.clone();
        async move { store.mark_final_posted(&id, 6).await.unwrap() }
    });
    let winners = futures::future::join_all(attempts).await.into_iter().filter(|won| *won).count();
    assert_eq!(winners, 1);
    assert!(first.operation(&op.id).await.unwrap().unwrap().final_posted);
    assert!(first.operations_awaiting_final_post(10).await.unwrap().is_empty());
    assert!(!first.mark_final_posted("unknown", 7).await.unwrap());
    first.close().await;
    second.close().await;
    fresh
});

on_both_backends!(the_final_card_is_kept_once_and_delivered_by_one_claimer_at_a_time, |fresh: Fresh| async move {
    let (first, second) = (fresh.open().await, fresh.open().await);
    let (op, _) = first.create_operation(&new_operation("k", "conv"), "me", 0, 10_000).await.unwrap();
    assert_eq!(first.keep_final_card(&op.id, &json!({"card": "early"})).await.unwrap(), None, "still running");
    assert!(!first.claim_final_post(&op.id, 1, 1_000).await.unwrap(), "nothing to deliver yet");
    assert!(first.finish_operation(&op.id, "me", OperationState::Failed, &json!({}), 5).await.unwrap());

    // The first card kept is the card every delivery shows.
    let kept = first.keep_final_card(&op.id, &json!({"card": 1})).await.unwrap();
    assert_eq!(kept, Some(json!({"card": 1})));
    assert_eq!(second.keep_final_card(&op.id, &json!({"card": 2})).await.unwrap(), Some(json!({"card": 1})));
    assert_eq!(second.final_card(&op.id).await.unwrap(), Some(json!({"card": 1})));
    assert_eq!(second.final_card("unknown").await.unwrap(), None);

    // One claimer at a time, from either instance.
    let attempts = (0..20).map(|i| {
        let store = if i % 2 == 0 { first.clone() } else { second.clone() };
        let id = op.id.clone();
        async move { store.claim_final_post(&id, 10, 1_000).await.unwrap() }
    });
    let winners = futures::future::join_all(attempts).await.into_iter().filter(|won| *won).count();
    assert_eq!(winners, 1);
    assert!(!second.claim_final_post(&op.id, 1_009, 1_000).await.unwrap(), "the claim still runs");
    // The claimer died: its claim runs out and the card is delivered again.
    assert!(second.claim_final_post(&op.id, 1_010, 1_000).await.unwrap());
    assert!(first.mark_final_posted(&op.id, 1_100).await.unwrap());
    assert!(!first.claim_final_post(&op.id, 5_000, 1_000).await.unwrap(), "delivered: nothing more to claim");
    assert!(first.operations_awaiting_final_post(10).await.unwrap().is_empty());
    first.close().await;
    second.close().await;
    fresh
});

on_both_backends!(a_conversations_operations_newest_first_with_their_card, |fresh: Fresh| async move {
    let store = fresh.open().await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let mut new = new_operation(&format!("k{i}"), if i == 2 { "other" } else { "conv" });
        new.card_activity_id = None;
        ids.push(store.create_operation(&new, "me", i * 100, 1_000).await.unwrap().0.id);
    }
    let recent = store.recent_operations("conv", 2).await.unwrap();
    assert_eq!(recent.iter().map(|op| op.id.as_str()).collect::<Vec<_>>(), [ids[3].as_str(), ids[1].as_str()]);
    assert_eq!(store.recent_operations("conv", 10).await.unwrap().len(), 3);
    assert!(store.set_operation_card(&ids[0], "activity-9", 500).await.unwrap());
    assert_eq!(store.operation(&ids[0]).await.unwrap().unwrap().card_activity_id.as_deref(), Some("activity-9"));
    assert!(!store.set_operation_card("unknown", "activity-9", 500).await.unwrap());
    store.close().await;
    fresh
});

fn result(run: &str, object: &str, status: ResultStatus) -> ObjectResult {
    ObjectResult {
        run_id: run.into(),
        object_name: object.into(),
        action: "deep clone".into(),
        status,
        duration_ms: 1_200,
        copied: (status == ResultStatus::Succeeded).then_some(42),
        error: (status == ResultStatus::Failed).then(|| "PERMISSION_DENIED".to_string()),
        reason: (status == ResultStatus::Skipped).then(|| "unchanged since last run".to_string()),
    }
}

fn run(id: &str, started_ms: i64) -> Run {
    Run {
        id: id.into(),
        started_by_oid: Some("oid".into()),
        started_by_upn: Some("alice@contoso.example".into()),
        catalog_filter: Some("main".into()),
        dry_run: started_ms % 2 == 0,
        started_ms,
        finished_ms: None,
        counts: None,
        scheduled: false,
    }
}

on_both_backends!(run_history_keeps_one_result_per_object, |fresh: Fresh| async move {
    let store = fresh.open().await;
    assert!(store.start_run(&run("run-1", 1_000)).await.unwrap());
    assert!(!store.start_run(&run("run-1", 9_999)).await.unwrap(), "a resumed run keeps its start");
    assert!(store.start_run(&run("run-2", 2_001)).await.unwrap());
    assert!(store.start_run(&run("run-3", 3_000)).await.unwrap());

    store.record_result(&result("run-1", "main.sales.b", ResultStatus::Failed), 10).await.unwrap();
    store.record_result(&result("run-1", "main.sales.a", ResultStatus::Succeeded), 11).await.unwrap();
    store.record_result(&result("run-1", "main.sales.c", ResultStatus::Skipped), 12).await.unwrap();
    store.record_result(&result("run-1", "main.sales.d", ResultStatus::Failed), 13).await.unwrap();
    store.record_result(&result("run-1", "main.sales.e", ResultStatus::Blocked), 14).await.unwrap();
    // Resumed: b is recorded again and now succeeds; it replaces, never duplicates.
    store.record_result(&result("run-1", "main.sales.b", ResultStatus::Succeeded), 20).await.unwrap();
    store.record_result(&result("run-2", "main.sales.a", ResultStatus::Succeeded), 21).await.unwrap();

    assert_eq!(
        store.run_result_counts("run-1").await.unwrap(),
        ResultCounts { succeeded: 2, failed: 1, blocked: 1, skipped: 1 }
    );
    let (saved, results) = store.run_with_results("run-1", 10).await.unwrap().unwrap();
    assert_eq!(saved.started_ms, 1_000);
    assert!(saved.dry_run);
    assert_eq!(
        results.iter().map(|r| (r.object_name.as_str(), r.status)).collect::<Vec<_>>(),
        [
            ("main.sales.d", ResultStatus::Failed),
            ("main.sales.e", ResultStatus::Blocked),
            ("main.sales.a", ResultStatus::Succeeded),
            ("main.sales.b", ResultStatus::Succeeded),
            ("main.sales.c", ResultStatus::Skipped),
        ],
        "failures first, then what is blocked, then by name"
    );
    assert_eq!(results[0], result("run-1", "main.sales.d", ResultStatus::Failed));
    assert_eq!(results[2].copied, Some(42));
    assert_eq!(results[4].reason.as_deref(), Some("unchanged since last run"));
    let page: Vec<String> =
        store.run_results("run-1", false, 1, 2).await.unwrap().into_iter().map(|r| r.object_name).collect();
    assert_eq!(page, ["main.sales.b", "main.sales.c"]);

    let counts = json!({"succeeded": 2, "failed": 1, "skipped": 1});
    assert!(store.finish_run("run-1", 5_000, &counts).await.unwrap());
    let finished = store.run("run-1").await.unwrap().unwrap();
    assert_eq!((finished.finished_ms, finished.counts), (Some(5_000), Some(counts)));
    assert!(!store.finish_run("no-such-run", 5_000, &json!({})).await.unwrap());

    let recent: Vec<String> = store.recent_runs(2).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(recent, ["run-3", "run-2"]);
    assert!(store.run_with_results("no-such-run", 10).await.unwrap().is_none());
    assert!(
        store.record_result(&result("no-such-run", "x.y.z", ResultStatus::Failed), 1).await.is_err(),
        "results belong to a run"
    );
    store.close().await;
    fresh
});

fn subscription(conversation: &str, schedule: Schedule) -> NewSubscription {
    NewSubscription {
        conversation_id: conversation.into(),
        tenant_id: Some("tenant-1".into()),
        schedule,
        pair: None,
        created_by_oid: Some("oid-alice".into()),
        created_by_upn: Some("alice@contoso.example".into()),
    }
}

fn daily(hour: u8, minute: u8, timezone: &str) -> Schedule {
    Schedule::Daily { hour, minute, timezone: timezone.into() }
}

/// 2026-01-15T07:00:00Z
const MORNING: i64 = 1_768_460_400_000;

on_both_backends!(subscriptions_are_created_replaced_listed_and_removed, |fresh: Fresh| async move {
    let store = fresh.open().await;
    let eight = store.subscribe(&subscription("conv", daily(8, 0, "UTC")), MORNING).await.unwrap();
    assert_eq!(eight.next_fire_ms, MORNING + HOUR);
    assert_eq!(eight.schedule, daily(8, 0, "UTC"));
    let every = store.subscribe(&subscription("conv", Schedule::Every { minutes: 360 }), MORNING).await.unwrap();
    assert_eq!(every.next_fire_ms, MORNING + 6 * HOUR);
    store.subscribe(&subscription("elsewhere", daily(8, 0, "UTC")), MORNING).await.unwrap();

    // The same schedule again replaces (same id, new author), never doubles.
    let mut again = subscription("conv", daily(8, 0, "UTC"));
    again.created_by_upn = Some("bob@contoso.example".into());
    let replaced = store.subscribe(&again, MORNING + 2 * HOUR).await.unwrap();
    assert_eq!(replaced.id, eight.id);
    assert_eq!(replaced.created_by_upn.as_deref(), Some("bob@contoso.example"));
    assert_eq!(replaced.next_fire_ms, MORNING + 25 * HOUR, "recomputed from the new time");

    let listed = store.subscriptions("conv").await.unwrap();
    assert_eq!(listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [every.id.as_str(), eight.id.as_str()]);
    assert!(!store.unsubscribe("elsewhere", &every.id).await.unwrap(), "only a conversation's own");
    assert!(store.unsubscribe("conv", &every.id).await.unwrap());
    assert_eq!(store.subscriptions("conv").await.unwrap().len(), 1);
    assert_eq!(store.remove_subscriptions_for_conversation("conv").await.unwrap(), 1);
    assert!(store.subscriptions("conv").await.unwrap().is_empty());
    assert_eq!(store.subscriptions("elsewhere").await.unwrap().len(), 1);

    let invalid = subscription("conv", Schedule::Every { minutes: 0 });
    assert!(store.subscribe(&invalid, MORNING).await.is_err());
    let invalid = subscription("conv", daily(8, 0, "Atlantis/Capital"));
    assert!(store.subscribe(&invalid, MORNING).await.is_err());
    store.close().await;
    fresh
});

on_both_backends!(a_due_subscription_is_claimed_once_at_its_time, |fresh: Fresh| async move {
    let store = fresh.open().await;
    let eight = store.subscribe(&subscription("conv", daily(8, 0, "UTC")), MORNING).await.unwrap();
    assert!(store.claim_due(MORNING + HOUR - 1, 10).await.unwrap().is_empty(), "not before its time");
    let due = store.claim_due(MORNING + HOUR, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].subscription_id, eight.id);
    assert_eq!(due[0].conversation_id, "conv");
    assert_eq!(due[0].tenant_id.as_deref(), Some("tenant-1"));
    assert_eq!((due[0].fire_ms, due[0].next_fire_ms), (MORNING + HOUR, MORNING + 25 * HOUR));
    assert!(store.claim_due(MORNING + HOUR, 10).await.unwrap().is_empty(), "claimed once");

    // Three days without any instance: one post, then back on schedule.
    let late = MORNING + 24 * HOUR * 4;
    let due = store.claim_due(late, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].fire_ms, MORNING + 25 * HOUR);
    assert_eq!(due[0].next_fire_ms, late + HOUR);
    assert!(store.claim_due(late, 10).await.unwrap().is_empty());
    store.close().await;
    fresh
});

on_both_backends!(racing_instances_claim_each_firing_exactly_once, |fresh: Fresh| async move {
    let (first, second) = (fresh.open().await, fresh.open().await);
    for i in 0..100 {
        let schedule = if i % 2 == 0 { Schedule::Every { minutes: 60 } } else { daily(7, 30, "Europe/Amsterdam") };
        first.subscribe(&subscription(&format!("conv-{i}"), schedule), MORNING - 2 * HOUR + i).await.unwrap();
    }
    let now = MORNING + 3 * HOUR;
    let drain = |store: Store| async move {
        let mut claimed = Vec::new();
        loop {
            let batch = store.claim_due(now, 7).await.unwrap();
            if batch.is_empty() {
                return claimed;
            }
            claimed.extend(batch.into_iter().map(|due| (due.subscription_id, due.fire_ms)));
        }
    };
    let (one, two) = tokio::join!(drain(first.clone()), drain(second.clone()));
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (id, _) in one.iter().chain(two.iter()) {
        *seen.entry(id.clone()).or_default() += 1;
    }
    assert_eq!(one.len() + two.len(), 100, "{} + {}", one.len(), two.len());
    assert_eq!(seen.len(), 100);
    assert!(seen.values().all(|n| *n == 1));
    assert!(first.claim_due(now, 1_000).await.unwrap().is_empty());
    first.close().await;
    second.close().await;
    fresh
});

on_both_backends!(a_damaged_schedule_is_dropped_not_fired_forever, |fresh: Fresh| async move {
    let store = fresh.open().await;
    let good = store.subscribe(&subscription("conv", Schedule::Every { minutes: 60 }), MORNING).await.unwrap();
    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(fresh.url()).await.unwrap();
    sqlx::query(
        "INSERT INTO subscriptions (id, conversation_id, tenant_id, schedule, created_by_oid, created_by_upn,
                                    created_ms, next_fire_ms)
         VALUES ('broken', 'conv-2', NULL, '{\"daily\":{\"hour\":99}}', NULL, NULL, 0, 0)",
    )
    .execute(&raw)
    .await
    .unwrap();
    raw.close().await;
    let due = store.claim_due(MORNING + HOUR, 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.subscription_id.as_str()).collect::<Vec<_>>(), [good.id.as_str()]);
    assert!(store.subscriptions("conv-2").await.unwrap().is_empty(), "the damaged row is gone");
    store.close().await;
    fresh
});

on_both_backends!(plans_are_kept_until_they_expire, |fresh: Fresh| async move {
    use drbot::store::plans::StoredPlan;
    let store = fresh.open().await;
    let plan = StoredPlan {
        id: "plan-1".into(),
        kind: drbot::store::plans::PlanKind::Replication,
        conversation_id: "conv-a".into(),
        created_by_oid: Some("oid-alice".into()),
        created_ms: 1_000,
        expires_ms: 1_000 + HOUR,
        payload: json!({"actions": [{"sql": "CREATE SCHEMA `a'b`"}]}),
    };
    store.save_plan(&plan).await.unwrap();
    assert_eq!(store.plan("plan-1", 2_000).await.unwrap(), Some(plan.clone()));
    assert!(store.save_plan(&plan).await.is_err(), "a plan id is used once");
    assert_eq!(store.plan("plan-1", 1_000 + HOUR).await.unwrap(), None, "expired");
    assert_eq!(store.plan("other", 2_000).await.unwrap(), None);
    assert_eq!(store.purge_expired_plans(1_000 + HOUR).await.unwrap(), 1);
    store.close().await;
    fresh
});
