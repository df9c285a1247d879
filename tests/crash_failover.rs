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

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drbot::assets::job_settings::PauseState;
use drbot::pairs::Side;
use drbot::store::operations::Operation;
use drbot::store::Store;
use sandbox::connector::Verb;
use sandbox::databricks::{Workspace, DATABRICKS_AUDIENCE};
use sandbox::directory::DR_OPERATORS_GROUP;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;
use support::chat::{card_text, showing};
use support::postgres::TestDatabase;
use support::process::{eventually, wait_for_activity, write_config, BotProcess, Person, RUN_PATIENCE};

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

/// The seeded BI warehouse, on each side.
const BI: &str = "BI dashboards";
const PRIMARY_BI_ID: &str = "b1a0c0ffee000001";

/// A small sandbox (replication takes a second or two) with warehouses on
/// both sides, the primary's BI warehouse running, and a geo-redundant
/// storage account that fails over with the pair.
async fn small_sandbox() -> Sandbox {
    let config = SandboxConfig { tables: 6, jobs: 30, ..SandboxConfig::default() };
    let sandbox = Sandbox::start(config).await.expect("sandbox starts");
    sandbox.primary.warehouses.seed(true);
    sandbox.secondary.warehouses.seed(false);
    sandbox.arm.add_storage_account("rg-dr", "stext", "westeurope", "northeurope", "Standard_RAGRS");
    sandbox.arm.set_storage_failover_duration(Duration::from_millis(200));
    // The BI team's warehouse runs on the primary, started as an admin would.
    let alice = sandbox.teams.user("alice").expect("alice");
    let token = sandbox.entra.user_token(&alice, sandbox::SANDBOX_BOT_APP_ID, DATABRICKS_AUDIENCE, "all-apis");
    let started = reqwest::Client::new()
        .post(format!("{}/api/2.0/sql/warehouses/{PRIMARY_BI_ID}/start", sandbox.primary_url()))
        .bearer_auth(token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("the start is answered");
    assert!(started.status().is_success(), "{}", started.text().await.unwrap_or_default());
    sandbox
}

fn storage_account_id() -> String {
    format!(
        "/subscriptions/{}/resourceGroups/rg-dr/providers/Microsoft.Storage/storageAccounts/stext",
        sandbox::SANDBOX_SUBSCRIPTION_ID
    )
}

/// The crash tests' configuration (short lease, fast ticks) with Carol
/// given the failover role beside the operators (two approvers, the
/// default), freezes that wait two seconds for active runs, and the storage
/// account of the default pair.
fn runbook_config(sandbox: &Sandbox, dir: &Path, store: &str) -> PathBuf {
    let path = write_config(sandbox, dir, store);
    let text = std::fs::read_to_string(&path).expect("config read");
    let carol = sandbox.teams.user("carol").expect("carol").oid;
    let role = format!("failover = [\"{DR_OPERATORS_GROUP}\"]");
    assert!(text.contains(&role), "the sandbox's config names the operators for failover");
    let mut text = text.replace(&role, &format!("failover = [\"{DR_OPERATORS_GROUP}\", \"{carol}\"]"));
    text.push_str(&format!(
        "\n[failover]\nrun_wait_secs = 2\n\n[failover.storage_accounts]\ndefault = {:?}\n",
        storage_account_id()
    ));
    std::fs::write(&path, text).expect("config written");
    path
}

/// Alice and Carol (both with the failover role) in one group chat, signed in.
async fn bridge(sandbox: &Sandbox) -> (Person<'_>, Person<'_>) {
    let room = sandbox.teams.group_chat("dr-bridge");
    for who in ["alice", "carol"] {
        Person::personal(sandbox, who).sign_in().await;
    }
    let (alice, carol) = (Person::in_group(sandbox, &room, "alice"), Person::in_group(sandbox, &room, "carol"));
    sandbox.connector.set_members(room.id(), &[alice.user.clone(), carol.user.clone()]);
    (alice, carol)
}

fn button(card: &Value, verb: &str) -> Value {
    card["actions"]
        .as_array()
        .and_then(|actions| actions.iter().find(|a| a["verb"] == verb))
        .map(|a| a["data"].clone())
        .unwrap_or_else(|| panic!("a {verb} button on {card}"))
}

/// Types `command`; the card that replaces its "Planning" placeholder.
async fn card_for(person: &Person<'_>, command: &str) -> (String, Value) {
    let first = person.say(command).await;
    let id = first.activity_id.clone();
    if !card_text(&first).contains("Planning") {
        return (id, first.adaptive_card().cloned().expect("a card"));
    }
    let card =
        wait_for_activity(person.sandbox, "the card after planning", |r| r.verb == Verb::Update && r.activity_id == id)
            .await;
    (id, card.adaptive_card().cloned().expect("a card"))
}

/// Replicates data and assets, so the secondary holds paused copies of the jobs.
async fn replicate_everything(person: &Person<'_>) {
    let card_id = person.plan_and_run_with("replicate --assets").await;
    wait_for_activity(person.sandbox, "the replication's result", |r| {
        r.activity_id == card_id && card_text(r).contains("Run details")
    })
    .await;
}

/// Source job id → whether every trigger is paused (copies by their source tag).
fn paused_by_source(workspace: &Workspace, copies: bool) -> Vec<(i64, bool)> {
    let mut out: Vec<(i64, bool)> = workspace
        .job_definitions
        .all()
        .iter()
        .map(|(id, settings)| {
            let source = if copies {
                settings["tags"]["drbot_source_job_id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(-1)
            } else {
                *id
            };
            (source, PauseState::of(settings).all_paused())
        })
        .collect();
    out.sort();
    out
}

fn calls(workspace: &Workspace, path: &str) -> usize {
    workspace.calls().iter().filter(|c| c.path == path).count()
}

fn warehouse_state(workspace: &Workspace, name: &str) -> Option<String> {
    workspace.warehouses.by_name(name).and_then(|w| w.own_state)
}

/// What the workspaces looked like when the runbook was approved, and what
/// had been asked of them by then.
struct Before {
    primary: Vec<(i64, bool)>,
    secondary: Vec<(i64, bool)>,
    primary_updates: usize,
    secondary_updates: usize,
    primary_resets: usize,
    secondary_resets: usize,
    secondary_starts: usize,
    secondary_stops: usize,
    storage_failovers: usize,
}

impl Before {
    fn read(sandbox: &Sandbox) -> Before {
        let (p, s) = (&sandbox.primary, &sandbox.secondary);
        Before {
            primary: paused_by_source(p, false),
            secondary: paused_by_source(s, true),
            primary_updates: calls(p, "jobs.update"),
            secondary_updates: calls(s, "jobs.update"),
            primary_resets: calls(p, "jobs.reset"),
            secondary_resets: calls(s, "jobs.reset"),
            secondary_starts: calls(s, "sql.warehouses.start"),
            secondary_stops: calls(s, "sql.warehouses.stop"),
            storage_failovers: sandbox.arm.storage_failover_requests().len(),
        }
    }

    /// The primary's jobs whose triggers ran, that have a copy on the secondary.
    fn unpaused_with_copies(&self) -> Vec<i64> {
        let copied: BTreeSet<i64> = self.secondary.iter().map(|(source, _)| *source).collect();
        self.primary.iter().filter(|(id, paused)| !paused && copied.contains(id)).map(|(id, _)| *id).collect()
    }
}

/// Samples the pair's active side until stopped: the sides it was seen on, in order.
struct ActiveWatch {
    seen: Arc<Mutex<Vec<Side>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl ActiveWatch {
    fn start(store: Store) -> ActiveWatch {
        let (seen, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (into, stopped) = (seen.clone(), stop.clone());
        let task = tokio::spawn(async move {
            while !stopped.load(Ordering::SeqCst) {
                if let Ok(Some(pair)) = store.pair("default").await {
                    let mut seen = into.lock().unwrap();
                    if seen.last() != Some(&pair.active) {
                        seen.push(pair.active);
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        ActiveWatch { seen, stop, task }
    }

    async fn finish(self) -> Vec<Side> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        let seen = self.seen.lock().unwrap().clone();
        seen
    }
}

/// The conversation's runbook operations.
async fn runbooks(store: &Store, conversation: &str) -> Vec<Operation> {
    let ops = store.recent_operations(conversation, 20).await.expect("operations");
    ops.into_iter().filter(|op| op.kind.as_str() == "failover").collect()
}

/// Waits for the runbook to end with its card delivered.
async fn runbook_ended(store: &Store, conversation: &str) -> Operation {
    eventually("the runbook to end and post its card", RUN_PATIENCE, || async {
        runbooks(store, conversation).await.into_iter().find(|op| op.state.is_terminal() && op.final_posted)
    })
    .await
}

/// The step kinds the checkpoint records as over, in order.
fn steps_recorded(op: &Operation) -> Vec<String> {
    let steps = op.payload["progress"]["steps"].as_array().cloned().unwrap_or_default();
    steps.iter().filter_map(|s| s["kind"].as_str().map(str::to_string)).collect()
}

/// Asks for `command` in `requester`'s chat and approves it by each of
/// `approvers`; the runbook card's id.
async fn approve(requester: &Person<'_>, command: &str, approvers: &[&Person<'_>]) -> String {
    let (card_id, runbook) = card_for(requester, command).await;
    let approve = button(&runbook, "failover.approve");
    let Some((last, first)) = approvers.split_last() else { return card_id };
    for person in first {
        person.click(&card_id, "failover.approve", approve.clone()).await;
    }
    // The last approval starts the runbook, which may reach its fault point
    // (and abort the process) before the answer to the click is written:
    // a connection closed here is that abort, which `aborted_at` checks.
    let invoke = last.sandbox.teams.card_action(&last.user, &last.conversation, &card_id, "failover.approve", approve);
    if let Ok(answer) = last.sandbox.teams.send(&invoke).await {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    card_id
}

/// Waits for the child to abort at its fault point.
async fn aborted_at(bot: &mut BotProcess, point: &str) {
    let status = bot.wait_exit().await;
    assert!(!status.success(), "{point}: aborted, not stopped: {}", bot.log_text());
    let log = bot.log_text();
    assert!(log.contains("DRBOT_FAULT: aborting here") && log.contains(point), "{point}: {log}");
}

/// A planned failover's effects after a resumed run: the runbook succeeded
/// once with every step recorded once, one result card, the active side
/// moved once, and every pause, unpause, warehouse start and storage
/// failover asked for exactly once.
async fn assert_failed_over_once(sandbox: &Sandbox, store: &Store, conversation: &str, before: &Before, point: &str) {
    let op = runbook_ended(store, conversation).await;
    assert_eq!(op.state.as_str(), "succeeded", "{point}: {:?}", op.result);
    assert!(op.takeovers >= 1, "{point}: resumed by another instance: {op:?}");
    assert_eq!(runbooks(store, conversation).await.len(), 1, "{point}: one runbook");
    let steps = steps_recorded(&op);
    assert_eq!(
        steps,
        ["preflight", "freeze", "final_sync", "storage", "promote", "validate"],
        "{point}: each step once, in order"
    );
    wait_for_activity(sandbox, "the result card", |r| card_text(r).contains("Completed: the secondary is active"))
        .await;
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
    let mut first = BotProcess::start_faulty(&config, dir.path().join("first.log"), Some(point));
    first.wait_ready().await;
    sandbox.teams.set_bot_endpoint(&first.endpoint());
    let (alice, carol) = bridge(&sandbox).await;
    replicate_everything(&alice).await;
    let store = Store::open(&format!("sqlite://{}", data_dir.join("drbot.db").display())).await.expect("store");
    let watch = ActiveWatch::start(store.clone());
    let before = Before::read(&sandbox);

    approve(&alice, "failover --override", &[&alice, &carol]).await;
    aborted_at(&mut first, point).await;
    let at_crash = runbooks(&store, alice.conversation.id()).await;
    assert_eq!(at_crash.len(), 1, "{point}");
    assert!(!at_crash[0].state.is_terminal(), "{point}: died mid-runbook: {:?}", at_crash[0]);
    assert_eq!(showing(&sandbox.connector.recorded(), "Completed: the secondary is active"), 0, "{point}");

    let mut second = BotProcess::start(&config, dir.path().join("second.log"));
    second.wait_ready().await;
    sandbox.teams.set_bot_endpoint(&second.endpoint());
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

/// A drill aborted at `point` and resumed: the secondary returns to
/// passive, each warehouse started and stopped once, and both sides end as
/// they were; the pair never left the primary.
async fn drill_aborted_at(point: &str) {
    let sandbox = small_sandbox().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let config = runbook_config(&sandbox, dir.path(), &format!("data_dir = {:?}", data_dir.display().to_string()));
    let mut first = BotProcess::start_faulty(&config, dir.path().join("first.log"), Some(point));
    first.wait_ready().await;
    sandbox.teams.set_bot_endpoint(&first.endpoint());
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
    let started = point == "runbook.after_promote";
    let at_crash = warehouse_state(&sandbox.secondary, BI);
    assert_eq!(at_crash.as_deref() == Some("RUNNING"), started, "{point}: {at_crash:?}");

    let mut second = BotProcess::start(&config, dir.path().join("second.log"));
    second.wait_ready().await;
    sandbox.teams.set_bot_endpoint(&second.endpoint());
    let op = runbook_ended(&store, alice.conversation.id()).await;
    assert_eq!(op.state.as_str(), "succeeded", "{point}: {:?}", op.result);
    assert!(op.takeovers >= 1, "{point}: {op:?}");
    assert_eq!(steps_recorded(&op), ["preflight", "final_sync", "promote", "validate", "return_to_passive"], "{point}");
    wait_for_activity(&sandbox, "the drill's result", |r| {
        card_text(r).contains("the drill left both sides as they were")
    })
    .await;
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
    assert_eq!(watch.finish().await, [Side::Primary], "{point}: the pair never left the primary");
    second.kill();
    store.close().await;
}

/// The drill killed after its promotion (warehouses started on the
/// secondary, nothing unpaused), and at the checkpoint inside the promotion
/// (the warehouses it is about to start recorded, none started yet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_killed_mid_way_resumes_and_leaves_both_sides_as_they_were() {
    for point in ["runbook.after_promote", "runbook.recorded"] {
        drill_aborted_at(point).await;
    }
}
