//! A forced failover that survives its process dying: the primary's region
//! is down, two people approve a forced failover in chat, and the
//! `drbot serve` running it aborts (`DRBOT_FAULT`) at each step boundary; a
//! new process on the same SQLite data dir, or the other instance on the
//! same PostgreSQL database, finishes it.
//!
//! The freeze and the final sync fail against the dead primary, best effort
//! and cut short; a resumed run does not try them again. What the forced
//! failover does do is asked once: the storage account's (unplanned)
//! failover, the clients' DNS alias and the unpause, on the secondary, of exactly the jobs the
//! asset sync recorded as running on the primary. One result card, with
//! the data loss; the pair's active side moves once and is never on both.

mod support;

use std::path::Path;

use drbot::pairs::Side;
use drbot::store::Store;
use sandbox::Sandbox;
use support::chat::{card_text, showing};
use support::postgres::TestDatabase;
use support::process::BotProcess;
use support::runbook::*;

/// Where a forced failover can die: after each of its steps' checkpoints.
/// (Its freeze records nothing before pausing: the primary cannot be read.)
const FORCED_POINTS: [&str; 7] = [
    "runbook.after_preflight",
    "runbook.after_freeze",
    "runbook.after_final_sync",
    "runbook.after_storage",
    "runbook.after_promote",
    "runbook.after_repoint",
    "runbook.after_validate",
];

const FAILED_OVER: &str = "Completed: the secondary is active";

/// The best-effort steps give up on the dead primary after two seconds;
/// the pair has a clients' alias.
fn failover_settings() -> String {
    format!("forced_timeout_secs = 2\n{}", alias_config())
}

/// A forced failover's effects after a resumed run.
async fn assert_forced_over_once(sandbox: &Sandbox, store: &Store, conversation: &str, before: &Before, point: &str) {
    let op = runbook_ended(store, conversation, "forced").await;
    assert_eq!(op.state.as_str(), "succeeded", "{point}: {:?}", op.result);
    assert!(op.takeovers >= 1, "{point}: resumed by another instance: {op:?}");
    assert_eq!(runbooks(store, conversation, "forced").await.len(), 1, "{point}: one runbook");
    let outcomes = outcomes_recorded(&op);
    let expected = [
        ("preflight", "done"),
        ("freeze", "failed"),
        ("final_sync", "failed"),
        ("storage", "done"),
        ("promote", "done"),
        ("repoint", "done"),
        ("validate", "done"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(k, o)| (k.to_string(), o.to_string())).collect();
    assert_eq!(outcomes, expected, "{point}: each step once, the primary's two best effort");
    let result = wait_long(sandbox, "the result card", |r| card_text(r).contains(FAILED_OVER)).await;
    assert!(card_text(&result).contains("unreachable"), "{point}: the card says why: {}", card_text(&result));
    let follow = format!("Clients that connect through {ALIAS}.{ZONE} follow by themselves within 30 s");
    assert!(card_text(&result).contains(&follow), "{point}: what clients must change: {}", card_text(&result));
    assert_eq!(showing(&sandbox.connector.recorded(), FAILED_OVER), 1, "{point}: one result card");
    assert_eq!(store.pair("default").await.unwrap().unwrap().active, Side::Secondary, "{point}");

    let (p, s) = (&sandbox.primary, &sandbox.secondary);
    // Nothing reached the dead primary.
    assert_eq!(paused_by_source(p, false), before.primary, "{point}: the primary untouched");
    assert_eq!(calls(p, "jobs.update"), before.primary_updates, "{point}");
    // The secondary runs what the asset sync recorded as running, each unpaused once.
    let expected = before.unpaused_with_copies();
    assert!(!expected.is_empty(), "some running jobs have copies");
    assert_eq!(firing(&paused_by_source(s, true)), expected, "{point}: the recorded pause states");
    assert_eq!(calls(s, "jobs.update") - before.secondary_updates, expected.len(), "{point}: each unpause once");
    assert_eq!(calls(s, "jobs.reset"), before.secondary_resets, "{point}");
    // Which warehouses ran on the primary is unknown: none started.
    assert_eq!(calls(s, "sql.warehouses.start"), before.secondary_starts, "{point}");
    // The storage account's unplanned failover, asked once: the secondary region, locally redundant.
    assert_eq!(sandbox.arm.storage_failover_requests().len() - before.storage_failovers, 1, "{point}: once");
    assert_eq!(sandbox.arm.storage_account_location("rg-dr", "stext").as_deref(), Some("northeurope"), "{point}");
    // The clients' alias on the secondary, written once.
    assert_eq!(alias_target(sandbox).as_deref(), Some(SECONDARY_HOST), "{point}");
    assert_eq!(sandbox.arm.dns_writes().len() - before.dns_writes, 1, "{point}: repointed once");
}

/// Forced failover on SQLite, aborted at `point`, finished by a new process.
async fn forced_failover_aborted_at(point: &str) {
    let sandbox = small_sandbox().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let store_setting = format!("data_dir = {:?}", data_dir.display().to_string());
    let config = runbook_config_with(&sandbox, dir.path(), &store_setting, &failover_settings());
    let mut first = serving(&sandbox, &config, dir.path().join("first.log"), Some(point)).await;
    let (alice, carol) = bridge(&sandbox).await;
    replicate_everything(&alice).await;
    let store = Store::open(&format!("sqlite://{}", data_dir.join("drbot.db").display())).await.expect("store");
    let watch = ActiveWatch::start(store.clone());
    let before = Before::read(&sandbox);

    sandbox.primary.set_unreachable(true);
    approve(&alice, "failover --forced --override", &[&alice, &carol]).await;
    aborted_at(&mut first, point).await;
    let at_crash = runbooks(&store, alice.conversation.id(), "forced").await;
    assert_eq!(at_crash.len(), 1, "{point}");
    assert!(!at_crash[0].state.is_terminal(), "{point}: died mid-runbook: {:?}", at_crash[0]);

    let mut second = serving(&sandbox, &config, dir.path().join("second.log"), None).await;
    assert_forced_over_once(&sandbox, &store, alice.conversation.id(), &before, point).await;
    assert_eq!(watch.finish().await, [Side::Primary, Side::Secondary], "{point}: moved once, never back");
    second.kill();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_failover_resumes_after_dying_at_every_step_boundary_on_sqlite() {
    for point in FORCED_POINTS {
        forced_failover_aborted_at(point).await;
    }
}

/// Two instances on one PostgreSQL database; `a` aborts at `point`, `b`
/// takes the forced failover over once `a`'s lease runs out.
async fn forced_failover_taken_over_at(point: &str, dir: &Path) {
    let database = TestDatabase::create().await;
    let sandbox = small_sandbox().await;
    let config = runbook_config_with(&sandbox, dir, &format!("url = {:?}", database.url), &failover_settings());
    let mut a = BotProcess::start_faulty(&config, dir.join("a.log"), Some(point));
    let mut b = BotProcess::start(&config, dir.join("b.log"));
    a.wait_ready().await;
    b.wait_ready().await;
    sandbox.teams.set_bot_endpoint(&a.endpoint());
    let (alice, carol) = bridge(&sandbox).await;
    replicate_everything(&alice).await;
    let store = Store::open(&database.url).await.expect("store");
    let watch = ActiveWatch::start(store.clone());
    let before = Before::read(&sandbox);

    sandbox.primary.set_unreachable(true);
    approve(&alice, "failover --forced --override", &[&alice, &carol]).await;
    aborted_at(&mut a, point).await;
    sandbox.teams.set_bot_endpoint(&b.endpoint());
    assert_forced_over_once(&sandbox, &store, alice.conversation.id(), &before, point).await;
    assert_eq!(watch.finish().await, [Side::Primary, Side::Secondary], "{point}: moved once, never back");
    assert!(b.log_text().contains("taking over"), "{point}: {}", b.log_text());
    drop((a, b));
    store.close().await;
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_the_other_instance_finishes_a_forced_failover_whose_instance_died() {
    for point in ["runbook.after_freeze", "runbook.after_storage", "runbook.after_promote"] {
        let dir = tempfile::tempdir().expect("temp dir");
        forced_failover_taken_over_at(point, dir.path()).await;
    }
}
