//! Runbooks that survive their process dying: a real `drbot serve` aborts
//! (`DRBOT_FAULT`) at each step boundary of a planned failover and at the
//! checkpoint inside a step, and a new process on the same SQLite data dir,
//! or the other instance on the same PostgreSQL database, finishes it.
//!
//! What a resumed runbook must not do is count in the sandbox: every pause
//! and unpause is one `jobs/update`, every warehouse start or stop one
//! call, every storage failover one ARM request, so a step whose effect
//! happened twice shows as a count too high. The pair's active side is one
//! column; a watcher samples it throughout and sees it move once, from the
//! primary to the secondary, never back. Every wait has a deadline and every
//! child is killed when its guard drops.

mod support;

use drbot::pairs::Side;
use drbot::store::Store;
use sandbox::Sandbox;
use support::chat::{card_text, showing};
use support::postgres::TestDatabase;
use support::process::BotProcess;
use support::runbook::*;

/// Where a planned failover can die: after each of its steps' checkpoints,
/// and after the checkpoint inside the freeze (the jobs' prior states,
/// recorded before the first pause).
const PLANNED_POINTS: [&str; 7] = [
    "runbook.after_preflight",
    "runbook.recorded",
    "runbook.after_freeze",
    "runbook.after_final_sync",
    "runbook.after_storage",
    "runbook.after_promote",
    "runbook.after_validate",
];

/// A planned failover's effects after a resumed run: the runbook succeeded
/// once with every step recorded once, one result card, the active side
/// moved once, and every pause, unpause, warehouse start and storage
/// failover asked for exactly once.
async fn assert_failed_over_once(sandbox: &Sandbox, store: &Store, conversation: &str, before: &Before, point: &str) {
    let op = runbook_ended(store, conversation, "planned").await;
    assert_eq!(op.state.as_str(), "succeeded", "{point}: {:?}", op.result);
    assert!(op.takeovers >= 1, "{point}: resumed by another instance: {op:?}");
    assert_eq!(runbooks(store, conversation, "planned").await.len(), 1, "{point}: one runbook");
    let steps = steps_recorded(&op);
    assert_eq!(
        steps,
        ["preflight", "freeze", "final_sync", "storage", "promote", "validate"],
        "{point}: each step once, in order"
    );
    wait_long(sandbox, "the result card", |r| card_text(r).contains("Completed: the secondary is active")).await;
    let recorded = sandbox.connector.recorded();
    assert_eq!(showing(&recorded, "Completed: the secondary is active"), 1, "{point}: one result card");
    let pair = store.pair("default").await.unwrap().expect("the pair");
    assert_eq!(pair.active, Side::Secondary, "{point}");

    let (p, s) = (&sandbox.primary, &sandbox.secondary);
    // The freeze: every trigger that ran is paused, each by one update.
    let primary_unpaused = before.primary.iter().filter(|(_, paused)| !paused).count();
    assert!(primary_unpaused > 0, "the seed runs some jobs on triggers");
    assert!(paused_by_source(p, false).iter().all(|(_, paused)| *paused), "{point}: the primary is frozen");
    assert_eq!(calls(p, "jobs.update") - before.primary_updates, primary_unpaused, "{point}: each pause once");
    // The promotion: exactly the jobs that ran are unpaused, each by one update.
    let expected = before.unpaused_with_copies();
    assert!(!expected.is_empty(), "some running jobs have copies");
    let unpaused: Vec<i64> =
        paused_by_source(s, true).iter().filter(|(_, paused)| !paused).map(|(source, _)| *source).collect();
    assert_eq!(unpaused, expected, "{point}: the secondary runs what ran on the primary");
    assert_eq!(calls(s, "jobs.update") - before.secondary_updates, expected.len(), "{point}: each unpause once");
    assert_eq!(calls(p, "jobs.reset"), before.primary_resets, "{point}");
    assert_eq!(calls(s, "jobs.reset"), before.secondary_resets, "{point}");
    // The BI warehouse ran on the primary: started once on the secondary.
    assert_eq!(warehouse_state(s, BI).as_deref(), Some("RUNNING"), "{point}");
    assert_eq!(calls(s, "sql.warehouses.start") - before.secondary_starts, 1, "{point}: one warehouse start");
    assert_eq!(calls(s, "sql.warehouses.stop"), before.secondary_stops, "{point}: nothing stopped");
    assert_eq!(
        sandbox.arm.storage_failover_requests().len() - before.storage_failovers,
        1,
        "{point}: the storage account failed over once"
    );
}

/// Planned failover on SQLite, aborted at `point`, finished by a new process.
async fn planned_failover_aborted_at(point: &str) {
    let sandbox = small_sandbox().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let config = runbook_config(&sandbox, dir.path(), &format!("data_dir = {:?}", data_dir.display().to_string()));
    let mut first = serving(&sandbox, &config, dir.path().join("first.log"), Some(point)).await;
    let (alice, carol) = bridge(&sandbox).await;
    replicate_everything(&alice).await;
    let store = Store::open(&format!("sqlite://{}", data_dir.join("drbot.db").display())).await.expect("store");
    let watch = ActiveWatch::start(store.clone());
    let before = Before::read(&sandbox);

    approve(&alice, "failover --override", &[&alice, &carol]).await;
    aborted_at(&mut first, point).await;
    let at_crash = runbooks(&store, alice.conversation.id(), "planned").await;
    assert_eq!(at_crash.len(), 1, "{point}");
    assert!(!at_crash[0].state.is_terminal(), "{point}: died mid-runbook: {:?}", at_crash[0]);
    assert_eq!(showing(&sandbox.connector.recorded(), "Completed: the secondary is active"), 0, "{point}");

    let mut second = serving(&sandbox, &config, dir.path().join("second.log"), None).await;
    assert_failed_over_once(&sandbox, &store, alice.conversation.id(), &before, point).await;
    assert_eq!(watch.finish().await, [Side::Primary, Side::Secondary], "{point}: moved once, never back");
    second.kill();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_failover_resumes_after_dying_at_every_step_boundary_on_sqlite() {
    for point in PLANNED_POINTS {
        planned_failover_aborted_at(point).await;
    }
}

/// Two instances on one PostgreSQL database; `a` aborts at `point`, `b`
/// takes the runbook over once `a`'s lease runs out.
async fn planned_failover_taken_over_at(point: &str) {
    let database = TestDatabase::create().await;
    let sandbox = small_sandbox().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = runbook_config(&sandbox, dir.path(), &format!("url = {:?}", database.url));
    let mut a = BotProcess::start_faulty(&config, dir.path().join("a.log"), Some(point));
    let mut b = BotProcess::start(&config, dir.path().join("b.log"));
    a.wait_ready().await;
    b.wait_ready().await;
    sandbox.teams.set_bot_endpoint(&a.endpoint());
    let (alice, carol) = bridge(&sandbox).await;
    replicate_everything(&alice).await;
    let store = Store::open(&database.url).await.expect("store");
    let watch = ActiveWatch::start(store.clone());
    let before = Before::read(&sandbox);

    approve(&alice, "failover --override", &[&alice, &carol]).await;
    aborted_at(&mut a, point).await;
    sandbox.teams.set_bot_endpoint(&b.endpoint());
    assert_failed_over_once(&sandbox, &store, alice.conversation.id(), &before, point).await;
    assert_eq!(watch.finish().await, [Side::Primary, Side::Secondary], "{point}: moved once, never back");
    let log = b.log_text();
    assert!(log.contains("taking over"), "{point}: {log}");
    drop((a, b));
    store.close().await;
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_the_other_instance_finishes_a_failover_whose_instance_died() {
    for point in ["runbook.recorded", "runbook.after_final_sync", "runbook.after_promote"] {
        planned_failover_taken_over_at(point).await;
    }
}

/// The job a drill runs once on the secondary to validate it (its copy there has its name).
const VALIDATION_JOB: &str = "ops-pipeline-0008";

/// The id of the job named `name` in `workspace`.
fn job_named(workspace: &sandbox::databricks::Workspace, name: &str) -> i64 {
    let jobs = workspace.job_definitions.all();
    let found = jobs.iter().find(|(_, settings)| settings["name"] == name);
    *found.unwrap_or_else(|| panic!("a job named {name}")).0
}

/// A drill aborted at `point` and resumed: the secondary returns to
/// passive, each warehouse started and stopped once, the validation job run
/// once on the secondary, and both sides end as they were; the pair never
/// left the primary.
async fn drill_aborted_at(point: &str) {
    let sandbox = small_sandbox().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let store_setting = format!("data_dir = {:?}", data_dir.display().to_string());
    let validation = format!("\n[failover.validate_jobs]\ndefault = {VALIDATION_JOB:?}\n");
    let config = runbook_config_with(&sandbox, dir.path(), &store_setting, &validation);
    let mut first = serving(&sandbox, &config, dir.path().join("first.log"), Some(point)).await;
    let (alice, _carol) = bridge(&sandbox).await;
    replicate_everything(&alice).await;
    let store = Store::open(&format!("sqlite://{}", data_dir.join("drbot.db").display())).await.expect("store");
    let watch = ActiveWatch::start(store.clone());
    let before = Before::read(&sandbox);
    let secondary_bi = warehouse_state(&sandbox.secondary, BI);

    approve(&alice, "drill --override", &[&alice]).await;
    aborted_at(&mut first, point).await;
    // After the promotion the warehouse runs; at the checkpoint inside it
    // the drill had recorded what it would start, and started nothing yet.
    let started = point != "runbook.recorded";
    let at_crash = warehouse_state(&sandbox.secondary, BI);
    assert_eq!(at_crash.as_deref() == Some("RUNNING"), started, "{point}: {at_crash:?}");

    let mut second = serving(&sandbox, &config, dir.path().join("second.log"), None).await;
    let op = runbook_ended(&store, alice.conversation.id(), "drill").await;
    assert_eq!(op.state.as_str(), "succeeded", "{point}: {:?}", op.result);
    assert!(op.takeovers >= 1, "{point}: {op:?}");
    assert_eq!(steps_recorded(&op), ["preflight", "final_sync", "promote", "validate", "return_to_passive"], "{point}");
    let result =
        wait_long(&sandbox, "the drill's result", |r| card_text(r).contains("the drill left both sides as they were"))
            .await;
    let ran = format!("job {VALIDATION_JOB} ran once on the secondary side: succeeded");
    assert!(card_text(&result).contains(&ran), "{point}: {}", card_text(&result));
    assert_eq!(showing(&sandbox.connector.recorded(), "the drill left both sides as they were"), 1);
    assert_eq!(store.drills(Some("default"), 5).await.unwrap().len(), 1, "{point}: one drill recorded");

    let (p, s) = (&sandbox.primary, &sandbox.secondary);
    assert_eq!(paused_by_source(p, false), before.primary, "{point}: the primary's jobs as they were");
    assert_eq!(paused_by_source(s, true), before.secondary, "{point}: the copies as they were");
    assert_eq!(calls(p, "jobs.update"), before.primary_updates, "{point}: no job touched");
    assert_eq!(calls(s, "jobs.update"), before.secondary_updates, "{point}: no copy touched");
    assert_eq!(warehouse_state(s, BI), secondary_bi, "{point}: the secondary's warehouse as it was");
    assert_eq!(calls(s, "sql.warehouses.start") - before.secondary_starts, 1, "{point}: started once");
    assert_eq!(calls(s, "sql.warehouses.stop") - before.secondary_stops, 1, "{point}: stopped once");
    assert_eq!(sandbox.arm.storage_failover_requests().len(), before.storage_failovers, "{point}: storage untouched");
    // The validation job ran once, on the secondary only.
    assert_eq!(s.jobs.runs_of(job_named(s, VALIDATION_JOB)).len(), 1, "{point}: validated by one run");
    assert!(p.jobs.runs_of(job_named(p, VALIDATION_JOB)).is_empty(), "{point}: nothing ran on the primary");
    assert_eq!(watch.finish().await, [Side::Primary], "{point}: the pair never left the primary");
    second.kill();
    store.close().await;
}

/// The drill killed after its promotion (warehouses started on the
/// secondary, nothing unpaused), at the checkpoint inside the promotion
/// (the warehouses it is about to start recorded, none started yet), once
/// its validation job's run is recorded, and after its validation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_killed_mid_way_resumes_and_leaves_both_sides_as_they_were() {
    for point in ["runbook.after_promote", "runbook.recorded", "runbook.job_started", "runbook.after_validate"] {
        drill_aborted_at(point).await;
    }
}
