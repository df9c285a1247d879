//! What failover keeps in the store, on SQLite and on PostgreSQL: drills
//! recorded once and listed per pair, newest first; runbook approvals one per
//! person; and the active side moved by compare-and-set, so two instances
//! racing to promote a pair leave it active on exactly one side.

use drbot::pairs::{Pair, PairWorkspace, Side};
use drbot::store::drills::Drill;
use drbot::store::pairs::Origin;
#[macro_use]
mod support;

use support::fresh::Fresh;

fn drill(id: &str, pair: &str, started_ms: i64) -> Drill {
    Drill {
        id: id.into(),
        pair: pair.into(),
        started_ms,
        finished_ms: started_ms + 60_000,
        outcome: "succeeded".into(),
        rto_ms: Some(42_000),
        findings: vec!["warehouse etl missing on the secondary".into()],
    }
}

on_both_backends!(drills_are_recorded_once_and_listed_newest_first, |fresh: Fresh| async move {
    let store = fresh.open().await;
    assert!(store.record_drill(&drill("op-1", "fin", 1_000)).await.unwrap());
    assert!(store.record_drill(&drill("op-2", "fin", 5_000)).await.unwrap());
    assert!(store.record_drill(&drill("op-3", "hr", 3_000)).await.unwrap());
    let mut again = drill("op-1", "fin", 1_000);
    again.outcome = "failed".into();
    assert!(!store.record_drill(&again).await.unwrap(), "a result posted twice records one drill");
    let fin = store.drills(Some("fin"), 10).await.unwrap();
    assert_eq!(fin.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["op-2", "op-1"]);
    assert_eq!(fin[1], drill("op-1", "fin", 1_000));
    let all = store.drills(None, 2).await.unwrap();
    assert_eq!(all.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["op-2", "op-3"]);
    store.close().await;
    fresh
});

on_both_backends!(an_approval_counts_once_per_person, |fresh: Fresh| async move {
    let store = fresh.open().await;
    let first = store.approve_runbook("rb-1", "oid-a", Some("a@x"), 10).await.unwrap();
    assert_eq!(first.len(), 1);
    let twice = store.approve_runbook("rb-1", "oid-a", Some("a@x"), 11).await.unwrap();
    assert_eq!(twice.len(), 1, "a double click is one approval");
    assert_eq!(twice[0].approved_ms, 10);
    let both = store.approve_runbook("rb-1", "oid-b", None, 12).await.unwrap();
    assert_eq!(both.iter().map(|a| a.approver_oid.as_str()).collect::<Vec<_>>(), ["oid-a", "oid-b"]);
    assert!(store.runbook_approvals("rb-2").await.unwrap().is_empty(), "approvals are per runbook");
    store.close().await;
    fresh
});

on_both_backends!(two_instances_racing_to_promote_leave_one_side_active, |fresh: Fresh| async move {
    let (one, two) = (fresh.open().await, fresh.open().await);
    let pair = Pair::new("fin", PairWorkspace::at("https://adb-1.example"), PairWorkspace::at("https://adb-2.example"));
    one.add_pair(&pair, Origin::Added, 1).await.unwrap();
    for round in 0..20 {
        let (from, to) =
            if round % 2 == 0 { (Side::Primary, Side::Secondary) } else { (Side::Secondary, Side::Primary) };
        let (a, b) =
            tokio::join!(one.set_active_side("fin", from, to, round), two.set_active_side("fin", from, to, round));
        assert!(a.unwrap() ^ b.unwrap(), "round {round}: exactly one instance moves it");
        assert_eq!(two.pair("fin").await.unwrap().unwrap().active, to);
    }
    one.close().await;
    two.close().await;
    fresh
});
