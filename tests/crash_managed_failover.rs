//! A managed-DR failover that survives its process dying: a real `drbot
//! serve` aborts (`DRBOT_FAULT`) inside the managed failover step (after
//! recording what the primary runs, and right after managed DR accepted the
//! failover request, before anything was checkpointed since) and after it;
//! a new process on the same SQLite data dir finishes the runbook, or, on
//! PostgreSQL, the other instance running beside it takes it over.
//!
//! What must not happen twice counts in the sandbox: managed DR's accepted
//! failover requests (one, whatever the point), each pause and unpause (one
//! `jobs/update`), each warehouse start. The pair's active side is sampled
//! throughout and moves once. Every wait has a deadline; every child is
//! killed when its guard drops.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use drbot::pairs::Side;
use drbot::store::Store;
use sandbox::connector::Verb;
use sandbox::databricks::account_api::SANDBOX_ACCOUNT_ID;
use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::directory::DR_OPERATORS_GROUP;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;
use support::chat::{card_text, showing};
use support::postgres::TestDatabase;
use support::process::{eventually, wait_for_activity, write_config, BotProcess, RUN_PATIENCE};
use support::runbook::{bridge, calls, paused_by_source, runbooks, steps_recorded, ActiveWatch};

const GROUP: &str = "sales-dr";
const BI: &str = "BI dashboards";
const PRIMARY_BI_ID: &str = "b1a0c0ffee000001";

/// Inside the managed failover step (after its record of the primary;
/// after managed DR accepted the request) and after the step.
const POINTS: [&str; 3] = ["runbook.recorded", "runbook.managed_failover_requested", "runbook.after_managed_failover"];

/// A small sandbox with warehouses on both sides (the primary's BI one
/// running) and the failover group `sales-dr`, whose failovers take long
/// enough to still be under way when the process dies.
async fn small_sandbox() -> Sandbox {
    let config = SandboxConfig { tables: 6, jobs: 30, ..SandboxConfig::default() };
    let sandbox = Sandbox::start(config).await.expect("sandbox starts");
    sandbox.primary.warehouses.seed(true);
    sandbox.secondary.warehouses.seed(false);
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
    let point = chrono::Utc::now() - chrono::Duration::minutes(5);
    sandbox.accounts.failover_groups.add(GROUP, &["westeurope", "northeurope"], "westeurope", &[1, 2], point);
    sandbox.accounts.failover_groups.set_failover_duration(Duration::from_secs(6));
    for who in ["alice", "carol"] {
        sandbox.accounts.add_account_admin(&sandbox.teams.user(who).expect("a user").upn);
    }
    sandbox
}

/// The crash tests' configuration with the sandbox's pair as a `[[pairs]]`
/// entry naming the failover group (each process seeds it so), Carol given
/// the failover role beside the operators, the account configured.
fn managed_config(sandbox: &Sandbox, dir: &Path, store: &str) -> PathBuf {
    let path = write_config(sandbox, dir, store);
    let mut text = std::fs::read_to_string(&path).expect("config read");
    for key in ["primary_host", "secondary_host"] {
        let line = text.lines().find(|l| l.starts_with(key)).expect("the legacy pair's host").to_string();
        text = text.replace(&format!("{line}\n"), "");
    }
    let carol = sandbox.teams.user("carol").expect("carol").oid;
    let role = format!("failover = [\"{DR_OPERATORS_GROUP}\"]");
    text = text.replace(&role, &format!("failover = [\"{DR_OPERATORS_GROUP}\", \"{carol}\"]"));
    let accounts = "databricks_accounts_url = ";
    text = text.replace(accounts, &format!("databricks_account_id = \"{SANDBOX_ACCOUNT_ID}\"\n{accounts}"));
    let mapping = sandbox::databricks::seed::LOCATION_MAPPING
        .iter()
        .map(|(from, to)| format!("[\"{from}\", \"{to}\"]"))
        .collect::<Vec<_>>()
        .join(", ");
    text.push_str(&format!(
        "\n[failover]\nrun_wait_secs = 2\nforced_timeout_secs = 5\n\n[[pairs]]\nname = \"default\"\n\
         primary = {{ url = \"{}\", region = \"westeurope\" }}\n\
         secondary = {{ url = \"{}\", region = \"northeurope\" }}\n\
         warehouse_id = \"{}\"\nprimary_warehouse_id = \"{}\"\nlocation_mapping = [{mapping}]\n\
         failover_group = \"{GROUP}\"\n",
        sandbox.primary_url(),
        sandbox.secondary_url(),
        sandbox::databricks::statements::SANDBOX_WAREHOUSE_ID,
        sandbox::databricks::statements::PRIMARY_WAREHOUSE_ID,
    ));
    std::fs::write(&path, text).expect("config written");
    path
}

fn button(card: &Value, verb: &str) -> Value {
    card["actions"]
        .as_array()
        .and_then(|actions| actions.iter().find(|a| a["verb"] == verb))
        .map(|a| a["data"].clone())
        .unwrap_or_else(|| panic!("a {verb} button on {card}"))
}

/// The managed failover aborted at `point` and finished by another process:
/// a new one on the same SQLite data dir, or (`on_postgres`) the other
/// instance on the same PostgreSQL database, running from the start.
async fn managed_failover_aborted_at(point: &str, on_postgres: bool) {
    let sandbox = small_sandbox().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = if on_postgres { Some(TestDatabase::create().await) } else { None };
    let (store_setting, store_url) = match &database {
        Some(database) => (format!("url = {:?}", database.url), database.url.clone()),
        None => {
            let data_dir = dir.path().join("data");
            let url = format!("sqlite://{}", data_dir.join("drbot.db").display());
            (format!("data_dir = {:?}", data_dir.display().to_string()), url)
        }
    };
    let config = managed_config(&sandbox, dir.path(), &store_setting);
    let mut first = BotProcess::start_faulty(&config, dir.path().join("first.log"), Some(point));
    let mut other = on_postgres.then(|| BotProcess::start(&config, dir.path().join("other.log")));
    first.wait_ready().await;
    if let Some(other) = other.as_mut() {
        other.wait_ready().await;
    }
    sandbox.teams.set_bot_endpoint(&first.endpoint());
    let (alice, carol) = bridge(&sandbox).await;
    // The secondary holds paused copies of the primary's jobs.
    let card_id = alice.plan_and_run_with("replicate --assets").await;
    wait_for_activity(&sandbox, "the replication's result", |r| {
        r.activity_id == card_id && card_text(r).contains("Run details")
    })
    .await;
    let store = Store::open(&store_url).await.expect("store");
    let watch = ActiveWatch::start(store.clone());
    let (p, s) = (&sandbox.primary, &sandbox.secondary);
    let primary_before = paused_by_source(p, false);
    let copied: BTreeSet<i64> = paused_by_source(s, true).iter().map(|(source, _)| *source).collect();
    let expected: Vec<i64> =
        primary_before.iter().filter(|(id, paused)| !paused && copied.contains(id)).map(|(id, _)| *id).collect();
    assert!(!expected.is_empty(), "{point}: some running jobs have copies");
    let (primary_updates, secondary_updates) = (calls(p, "jobs.update"), calls(s, "jobs.update"));
    let secondary_starts = calls(s, "sql.warehouses.start");

    // Asked for and approved by two; the last approval starts it, and the
    // process may abort before answering the click.
    let planning = alice.say("failover").await;
    let id = planning.activity_id.clone();
    let runbook =
        wait_for_activity(&sandbox, "the runbook card", |r| r.verb == Verb::Update && r.activity_id == id).await;
    let runbook = runbook.adaptive_card().cloned().expect("a card");
    assert!(runbook.to_string().contains("Managed DR failover of pair default"), "{runbook}");
    let approve = button(&runbook, "failover.approve");
    alice.click(&id, "failover.approve", approve.clone()).await;
    let invoke = sandbox.teams.card_action(&carol.user, &carol.conversation, &id, "failover.approve", approve);
    let _ = sandbox.teams.send(&invoke).await;

    let status = first.wait_exit().await;
    assert!(!status.success(), "{point}: aborted, not stopped: {}", first.log_text());
    let log = first.log_text();
    assert!(log.contains("DRBOT_FAULT: aborting here") && log.contains(point), "{point}: {log}");
    let asked_before = sandbox.accounts.failover_groups.failover_requests(GROUP);
    let expected_asked = usize::from(point != "runbook.recorded");
    assert_eq!(asked_before, expected_asked, "{point}: asked for before the abort");

    let mut second = match other {
        Some(other) => other,
        None => {
            let mut second = BotProcess::start(&config, dir.path().join("second.log"));
            second.wait_ready().await;
            second
        }
    };
    sandbox.teams.set_bot_endpoint(&second.endpoint());
    let op = eventually("the runbook to end and post its card", RUN_PATIENCE, || async {
        runbooks(&store, alice.conversation.id(), "forced")
            .await
            .into_iter()
            .find(|op| op.state.is_terminal() && op.final_posted)
    })
    .await;
    assert_eq!(op.state.as_str(), "succeeded", "{point}: {:?}", op.result);
    assert!(op.takeovers >= 1, "{point}: resumed by the new process: {op:?}");
    assert_eq!(
        steps_recorded(&op),
        ["preflight", "managed_failover", "freeze", "promote", "validate"],
        "{point}: each once"
    );
    wait_for_activity(&sandbox, "the result card", |r| card_text(r).contains("Completed: the secondary is active"))
        .await;
    assert_eq!(showing(&sandbox.connector.recorded(), "Completed: the secondary is active"), 1, "{point}");

    // Managed DR was asked once, and serves from the other region.
    assert_eq!(sandbox.accounts.failover_groups.failover_requests(GROUP), 1, "{point}: one failover request");
    let group = sandbox.accounts.failover_groups.get(GROUP).expect("the group");
    assert_eq!(
        (group["state"].as_str(), group["effective_primary_region"].as_str()),
        (Some("ACTIVE"), Some("northeurope"))
    );
    // Each pause, unpause and warehouse start once.
    let unpaused: Vec<i64> =
        paused_by_source(s, true).iter().filter(|(_, paused)| !paused).map(|(source, _)| *source).collect();
    assert_eq!(unpaused, expected, "{point}: exactly the jobs that ran");
    assert!(paused_by_source(p, false).iter().all(|(_, paused)| *paused), "{point}: the old primary frozen");
    let ran = primary_before.iter().filter(|(_, paused)| !paused).count();
    assert_eq!(calls(p, "jobs.update") - primary_updates, ran, "{point}: each pause once");
    assert_eq!(calls(s, "jobs.update") - secondary_updates, expected.len(), "{point}: each unpause once");
    assert_eq!(s.warehouses.by_name(BI).and_then(|w| w.own_state).as_deref(), Some("RUNNING"), "{point}");
    assert_eq!(calls(s, "sql.warehouses.start") - secondary_starts, 1, "{point}: one warehouse start");
    assert_eq!(watch.finish().await, [Side::Primary, Side::Secondary], "{point}: moved once, never back");
    if on_postgres {
        assert!(second.log_text().contains("taking over"), "{point}: {}", second.log_text());
    }
    second.kill();
    store.close().await;
    if let Some(database) = database {
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_failover_killed_mid_way_resumes_following_the_group_without_a_second_request() {
    for point in POINTS {
        managed_failover_aborted_at(point, false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_the_other_instance_finishes_a_managed_failover_whose_instance_died() {
    for point in POINTS {
        managed_failover_aborted_at(point, true).await;
    }
}

/// The command line plans runbooks from the store alone: a managed pair's
/// failover needs its group read with a person's identity, so it points to
/// chat instead of printing a runbook that is not the one that would run.
#[tokio::test]
async fn the_cli_sends_a_managed_pair_s_failover_to_chat() {
    let sandbox = small_sandbox().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let config = managed_config(&sandbox, dir.path(), &format!("data_dir = {:?}", data_dir.display().to_string()));
    let args = drbot::cli::failover::FailoverArgs {
        config: Some(config.clone()),
        pair: "default".into(),
        planned: false,
        forced: false,
        dry_run: true,
    };
    let refused = drbot::cli::failover::failover(args).await.expect_err("refused");
    let words = refused.to_string();
    assert!(
        words.contains("managed DR's failover group sales-dr") && words.contains("failover default --dry-run"),
        "{words}"
    );
    // A drill stays drbot's own: printed.
    let drill = drbot::cli::failover::RunbookArgs { config: Some(config), pair: "default".into(), dry_run: true };
    drbot::cli::failover::drill(drill).await.expect("the drill's runbook");
}
