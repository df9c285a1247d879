//! A failback that survives its process dying: a pair failed over from
//! chat by one `drbot serve`, then a failback aborted (`DRBOT_FAULT`) at each
//! of its step boundaries and at the checkpoint inside its freeze, finished
//! by a new process on the same SQLite data dir, or by the other instance
//! on the same PostgreSQL database.
//!
//! A resumed failback must repeat no effect: the secondary's pauses, the
//! primary's unpauses (back to exactly the states before the failover), the
//! storage account's failover back, the clients' DNS alias, the warehouses
//! stopped and started, and MODIFY revoked and granted back are each asked
//! once; one result card; the pair's active side moves once, from the
//! secondary back to the primary, and is never on both.

mod support;

use std::path::Path;

use drbot::pairs::Side;
use drbot::store::Store;
use sandbox::Sandbox;
use support::chat::{card_text, showing};
use support::postgres::TestDatabase;
use support::process::Person;
use support::runbook::*;

/// Where a failback can die: after each of its steps' checkpoints, and
/// after the checkpoint inside its freeze (the secondary's jobs' states,
/// recorded before the first pause).
const FAILBACK_POINTS: [&str; 9] = [
    "runbook.after_preflight",
    "runbook.after_catch_up",
    "runbook.recorded",
    "runbook.after_freeze",
    "runbook.after_final_sync",
    "runbook.after_storage",
    "runbook.after_promote",
    "runbook.after_repoint",
    "runbook.after_validate",
];

const FAILED_OVER: &str = "Completed: the secondary is active";

/// The pair's clients' alias, and a freeze that stops warehouses and revokes MODIFY.
fn failover_settings() -> String {
    format!("{}{}", alias_config(), freeze_config())
}
const FAILED_BACK: &str = "Completed: the primary is active";

/// Replicates everything and fails the pair over (planned, approved by
/// Alice and Carol) through `bot`, which must carry no fault: the state
/// each failback here starts from. The primary's jobs as they were before.
async fn fail_over_first(sandbox: &Sandbox, alice: &Person<'_>, carol: &Person<'_>, store: &Store) -> Vec<(i64, bool)> {
    grant_modify(&sandbox.primary, WRITERS);
    grant_modify(&sandbox.primary, "dr-operators");
    replicate_everything(alice).await;
    let original = paused_by_source(&sandbox.primary, false);
    approve(alice, "failover --override", &[alice, carol]).await;
    let op = runbook_ended(store, alice.conversation.id(), "planned").await;
    assert_eq!(op.state.as_str(), "succeeded", "{:?}", op.result);
    wait_long(sandbox, "the failover's result", |r| card_text(r).contains(FAILED_OVER)).await;
    assert_eq!(store.pair("default").await.unwrap().unwrap().active, Side::Secondary);
    assert_eq!(alias_target(sandbox).as_deref(), Some(SECONDARY_HOST), "the failover repointed the alias");
    assert_eq!(warehouse_state(&sandbox.primary, BI).as_deref(), Some("STOPPED"), "the failover's freeze stopped it");
    assert!(!may_modify(&sandbox.primary, WRITERS) && may_modify(&sandbox.secondary, WRITERS));
    // A failback clones the external tables back by path.
    primary_reads_secondary_storage(sandbox);
    original
}

/// A failback's effects after a resumed run.
async fn assert_failed_back_once(
    sandbox: &Sandbox,
    store: &Store,
    conversation: &str,
    original: &[(i64, bool)],
    before: &Before,
    point: &str,
) {
    let op = runbook_ended(store, conversation, "failback").await;
    assert_eq!(op.state.as_str(), "succeeded", "{point}: {:?}", op.result);
    assert!(op.takeovers >= 1, "{point}: resumed by another instance: {op:?}");
    assert_eq!(runbooks(store, conversation, "failback").await.len(), 1, "{point}: one failback");
    assert_eq!(
        steps_recorded(&op),
        ["preflight", "catch_up", "freeze", "final_sync", "storage", "promote", "repoint", "validate"],
        "{point}: each step once, in order"
    );
    let result = wait_long(sandbox, "the failback's result", |r| card_text(r).contains(FAILED_BACK)).await;
    let follow = format!("Clients that connect through {ALIAS}.{ZONE} follow by themselves within 30 s");
    assert!(card_text(&result).contains(&follow), "{point}: what clients must change: {}", card_text(&result));
    let recorded = sandbox.connector.recorded();
    assert_eq!(showing(&recorded, FAILED_BACK), 1, "{point}: one result card");
    assert_eq!(showing(&recorded, FAILED_OVER), 1, "{point}: the failover's card not posted again");
    assert_eq!(store.pair("default").await.unwrap().unwrap().active, Side::Primary, "{point}");

    let (p, s) = (&sandbox.primary, &sandbox.secondary);
    // The freeze of the secondary: every copy that ran is paused, each by one update.
    let secondary = paused_by_source(s, true);
    assert!(!firing(&before.secondary).is_empty(), "the failover left copies running");
    assert!(firing(&secondary).is_empty(), "{point}: the secondary is passive again");
    assert_eq!(calls(s, "jobs.update") - before.secondary_updates, changed(&before.secondary, &secondary), "{point}");
    // The promotion of the primary: exactly the states before the failover, each change one update.
    let primary = paused_by_source(p, false);
    assert_eq!(primary, original, "{point}: the primary's jobs as they were before the failover");
    let unpaused = changed(&before.primary, &primary);
    assert!(unpaused > 0, "the failover had paused the primary's running jobs");
    assert_eq!(calls(p, "jobs.update") - before.primary_updates, unpaused, "{point}: each unpause once");
    assert_eq!(calls(p, "jobs.reset"), before.primary_resets, "{point}");
    assert_eq!(calls(s, "jobs.reset"), before.secondary_resets, "{point}");
    // The BI warehouse: stopped on the secondary by the freeze, started
    // again on the primary by the promotion, once each.
    assert_eq!(warehouse_state(p, BI).as_deref(), Some("RUNNING"), "{point}");
    assert_eq!(warehouse_state(s, BI).as_deref(), Some("STOPPED"), "{point}");
    assert_eq!(calls(p, "sql.warehouses.start") - before.primary_starts, 1, "{point}: started once");
    assert_eq!(calls(s, "sql.warehouses.stop") - before.secondary_stops, 1, "{point}: stopped once");
    assert_eq!(calls(p, "sql.warehouses.stop"), before.primary_stops, "{point}");
    // MODIFY taken on the secondary and given back on the primary, one change each.
    assert!(may_modify(p, WRITERS) && !may_modify(s, WRITERS), "{point}: writing rights back home");
    assert!(may_modify(p, "dr-operators") && may_modify(s, "dr-operators"), "{point}: the DR group keeps them");
    assert_eq!(calls(s, "permissions.update") - before.secondary_grants, 1, "{point}: revoked once");
    assert_eq!(calls(p, "permissions.update") - before.primary_grants, 1, "{point}: granted once");
    // The storage account back in its home region, asked once.
    assert_eq!(
        sandbox.arm.storage_failover_requests().len() - before.storage_failovers,
        1,
        "{point}: failed back once"
    );
    assert_eq!(sandbox.arm.storage_account_location("rg-dr", "stext").as_deref(), Some("westeurope"), "{point}");
    // The clients' alias back on the primary, written once.
    assert_eq!(alias_target(sandbox).as_deref(), Some(PRIMARY_HOST), "{point}");
    assert_eq!(sandbox.arm.dns_writes().len() - before.dns_writes, 1, "{point}: repointed once");
}

/// Failback on SQLite, aborted at `point`, finished by a new process.
async fn failback_aborted_at(point: &str) {
    let sandbox = small_sandbox().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let store_setting = format!("data_dir = {:?}", data_dir.display().to_string());
    let config = runbook_config_with(&sandbox, dir.path(), &store_setting, &failover_settings());
    let store_url = format!("sqlite://{}", data_dir.join("drbot.db").display());
    let log = |name: &str| dir.path().join(format!("{name}.log"));

    let mut setup = serving(&sandbox, &config, log("setup"), None).await;
    let (alice, carol) = bridge(&sandbox).await;
    let store = Store::open(&store_url).await.expect("store");
    let original = fail_over_first(&sandbox, &alice, &carol, &store).await;
    setup.kill();

    let mut first = serving(&sandbox, &config, log("first"), Some(point)).await;
    let watch = ActiveWatch::start(store.clone());
    let before = Before::read(&sandbox);
    approve(&alice, "failback --override", &[&alice, &carol]).await;
    aborted_at(&mut first, point).await;
    let at_crash = runbooks(&store, alice.conversation.id(), "failback").await;
    assert_eq!(at_crash.len(), 1, "{point}");
    assert!(!at_crash[0].state.is_terminal(), "{point}: died mid-runbook: {:?}", at_crash[0]);
    assert_eq!(showing(&sandbox.connector.recorded(), FAILED_BACK), 0, "{point}");

    let mut second = serving(&sandbox, &config, log("second"), None).await;
    assert_failed_back_once(&sandbox, &store, alice.conversation.id(), &original, &before, point).await;
    assert_eq!(watch.finish().await, [Side::Secondary, Side::Primary], "{point}: moved once, never back");
    second.kill();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failback_resumes_after_dying_at_every_step_boundary_on_sqlite() {
    for point in FAILBACK_POINTS {
        failback_aborted_at(point).await;
    }
}

/// Two instances on one PostgreSQL database: `b` fails the pair over, `a`
/// (started afterwards) runs the failback and aborts at `point`, and `b`
/// takes it over once `a`'s lease runs out.
async fn failback_taken_over_at(point: &str, dir: &Path) {
    let database = TestDatabase::create().await;
    let sandbox = small_sandbox().await;
    let config = runbook_config_with(&sandbox, dir, &format!("url = {:?}", database.url), &failover_settings());
    let b = serving(&sandbox, &config, dir.join("b.log"), None).await;
    let (alice, carol) = bridge(&sandbox).await;
    let store = Store::open(&database.url).await.expect("store");
    let original = fail_over_first(&sandbox, &alice, &carol, &store).await;

    let mut a = serving(&sandbox, &config, dir.join("a.log"), Some(point)).await;
    let watch = ActiveWatch::start(store.clone());
    let before = Before::read(&sandbox);
    approve(&alice, "failback --override", &[&alice, &carol]).await;
    aborted_at(&mut a, point).await;
    sandbox.teams.set_bot_endpoint(&b.endpoint());
    assert_failed_back_once(&sandbox, &store, alice.conversation.id(), &original, &before, point).await;
    assert_eq!(watch.finish().await, [Side::Secondary, Side::Primary], "{point}: moved once, never back");
    assert!(b.log_text().contains("taking over"), "{point}: {}", b.log_text());
    drop((a, b));
    store.close().await;
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_the_other_instance_finishes_a_failback_whose_instance_died() {
    for point in ["runbook.after_catch_up", "runbook.recorded", "runbook.after_promote"] {
        let dir = tempfile::tempdir().expect("temp dir");
        failback_taken_over_at(point, dir.path()).await;
    }
}
