//! The pair registry and each conversation's default pair, on SQLite and
//! on PostgreSQL: adding, seeding from the configuration, removing (refused
//! while an operation of the pair is in flight), the active side by
//! compare-and-set, and runs listed per pair.

use drbot::pairs::{Pair, PairWorkspace, Side};
use drbot::store::operations::{NewOperation, OperationState};
use drbot::store::pairs::{Origin, Removal};
use drbot::store::runs::Run;
#[macro_use]
mod support;

use support::fresh::Fresh;

fn pair(name: &str) -> Pair {
    let mut pair = Pair::new(
        name,
        PairWorkspace::at(&format!("https://adb-{name}-1.example")),
        PairWorkspace::at(&format!("https://adb-{name}-2.example")),
    );
    pair.warehouse_id = Some("abc123".into());
    pair
}

fn operation_of(pair: &str, key: &str) -> NewOperation {
    NewOperation {
        idempotency_key: key.into(),
        kind: drbot::store::operations::Kind::Replication,
        conversation_id: "conv".into(),
        card_activity_id: None,
        started_by_oid: None,
        started_by_upn: None,
        pair: Some(pair.into()),
        payload: serde_json::json!({}),
    }
}

on_both_backends!(pairs_are_added_once_and_listed_by_name, |fresh: Fresh| async move {
    let store = fresh.open().await;
    assert!(store.pairs().await.unwrap().is_empty());
    assert!(store.add_pair(&pair("finance"), Origin::Added, 1).await.unwrap());
    assert!(store.add_pair(&pair("hr-eu"), Origin::Deployed, 2).await.unwrap());
    let mut changed = pair("finance");
    changed.warehouse_id = Some("other".into());
    assert!(!store.add_pair(&changed, Origin::Added, 3).await.unwrap(), "a second add of a name changes nothing");
    let listed = store.pairs().await.unwrap();
    assert_eq!(listed.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["finance", "hr-eu"]);
    assert_eq!(listed[0], pair("finance"));
    assert_eq!(store.pair("hr-eu").await.unwrap().unwrap().sharing.recipient, "hr_eu_secondary");
    assert!(store.pair("nope").await.unwrap().is_none());
    store.close().await;
    fresh
});

on_both_backends!(seeding_rewrites_the_settings_but_keeps_the_active_side, |fresh: Fresh| async move {
    let store = fresh.open().await;
    store.seed_pair(&pair("default"), 1).await.unwrap();
    assert!(store.set_active_side("default", Side::Primary, Side::Secondary, 2).await.unwrap());
    assert!(!store.set_active_side("default", Side::Primary, Side::Secondary, 3).await.unwrap(), "compare-and-set");
    let mut edited = pair("default");
    edited.warehouse_id = Some("new1".into());
    store.seed_pair(&edited, 4).await.unwrap();
    let stored = store.pair("default").await.unwrap().unwrap();
    assert_eq!(stored.warehouse_id.as_deref(), Some("new1"));
    assert_eq!(stored.active, Side::Secondary, "a restart does not undo a failover");
    store.close().await;
    fresh
});

on_both_backends!(a_pair_with_an_operation_in_flight_is_not_removed, |fresh: Fresh| async move {
    let store = fresh.open().await;
    for name in ["busy", "idle"] {
        store.add_pair(&pair(name), Origin::Added, 1).await.unwrap();
    }
    let (op, _) = store.create_operation(&operation_of("busy", "k1"), "instance", 10, 60_000).await.unwrap();
    assert_eq!(op.pair.as_deref(), Some("busy"));
    store.set_conversation_pair("conv", "idle", Some("oid"), 5).await.unwrap();
    assert_eq!(store.remove_pair("busy").await.unwrap(), Removal::InFlight);
    assert_eq!(store.remove_pair("idle").await.unwrap(), Removal::Removed);
    assert_eq!(store.conversation_pair("conv").await.unwrap(), None, "a removed pair is no chat's default");
    assert_eq!(store.remove_pair("idle").await.unwrap(), Removal::NotFound);
    assert!(store
        .finish_operation(&op.id, "instance", OperationState::Succeeded, &serde_json::json!({}), 20)
        .await
        .unwrap());
    assert_eq!(store.remove_pair("busy").await.unwrap(), Removal::Removed);
    store.close().await;
    fresh
});

on_both_backends!(a_conversation_keeps_one_default_pair, |fresh: Fresh| async move {
    let store = fresh.open().await;
    assert_eq!(store.conversation_pair("conv").await.unwrap(), None);
    store.set_conversation_pair("conv", "finance", None, 1).await.unwrap();
    store.set_conversation_pair("conv", "hr", Some("oid"), 2).await.unwrap();
    store.set_conversation_pair("other", "finance", None, 3).await.unwrap();
    assert_eq!(store.conversation_pair("conv").await.unwrap().as_deref(), Some("hr"));
    assert_eq!(store.conversation_pair("other").await.unwrap().as_deref(), Some("finance"));
    store.close().await;
    fresh
});

on_both_backends!(runs_are_listed_per_pair, |fresh: Fresh| async move {
    let store = fresh.open().await;
    for (i, (name, conversation)) in [("a", "c1"), ("b", "c1"), ("a", "c2")].into_iter().enumerate() {
        let mut new = operation_of(name, &format!("k{i}"));
        new.conversation_id = conversation.into();
        let (op, _) = store.create_operation(&new, "instance", 10, 60_000).await.unwrap();
        let run = Run {
            id: op.id.clone(),
            started_by_oid: None,
            started_by_upn: None,
            catalog_filter: None,
            dry_run: false,
            started_ms: 100 + i as i64,
            finished_ms: None,
            counts: None,
            scheduled: false,
        };
        store.start_run(&run).await.unwrap();
        // One replication of a pair at a time: this one ends before the next starts.
        let ended = serde_json::json!({"outcome": "succeeded"});
        assert!(store.finish_operation(&op.id, "instance", OperationState::Succeeded, &ended, 20).await.unwrap());
    }
    assert_eq!(store.recent_runs_of_pair("a", None, 10).await.unwrap().len(), 2);
    assert_eq!(store.recent_runs_of_pair("a", Some("c1"), 10).await.unwrap().len(), 1);
    assert_eq!(store.recent_runs_of_pair("b", Some("c2"), 10).await.unwrap().len(), 0);
    assert_eq!(store.recent_runs_of_pair("a", None, 1).await.unwrap()[0].started_ms, 102, "newest first");
    store.close().await;
    fresh
});

on_both_backends!(a_pair_without_a_warehouse_gets_one_and_one_with_a_warehouse_keeps_it, |fresh: Fresh| async move {
    let store = fresh.open().await;
    let mut bare = pair("bare");
    bare.warehouse_id = None;
    store.add_pair(&bare, Origin::Deployed, 1).await.unwrap();
    store.add_pair(&pair("kept"), Origin::Deployed, 1).await.unwrap();
    assert!(store.set_missing_warehouse("bare", "w1", 2).await.unwrap());
    assert_eq!(store.pair("bare").await.unwrap().unwrap().warehouse_id.as_deref(), Some("w1"));
    assert!(!store.set_missing_warehouse("bare", "w2", 3).await.unwrap(), "it has one now");
    assert!(!store.set_missing_warehouse("kept", "w2", 3).await.unwrap());
    assert_eq!(store.pair("kept").await.unwrap().unwrap().warehouse_id.as_deref(), Some("abc123"));
    assert!(!store.set_missing_warehouse("nope", "w2", 3).await.unwrap());
    store.close().await;
    fresh
});

on_both_backends!(a_deployed_pair_gets_its_primary_warehouse_set_keeping_the_rest, |fresh: Fresh| async move {
    let store = fresh.open().await;
    let deployed = pair("spoke");
    assert_eq!(deployed.primary_warehouse_id, None, "a deployed spoke registers none");
    store.add_pair(&deployed, Origin::Deployed, 1).await.unwrap();
    assert!(store.set_primary_warehouse("spoke", "p1", 2).await.unwrap());
    let stored = store.pair("spoke").await.unwrap().unwrap();
    assert_eq!(stored.primary_warehouse_id.as_deref(), Some("p1"));
    assert_eq!(stored.warehouse_id, deployed.warehouse_id, "the rest stays");
    assert!(store.set_primary_warehouse("spoke", "p2", 3).await.unwrap(), "it may be changed again");
    assert_eq!(store.pair("spoke").await.unwrap().unwrap().primary_warehouse_id.as_deref(), Some("p2"));
    assert!(!store.set_primary_warehouse("nope", "p2", 3).await.unwrap());
    store.close().await;
    fresh
});
