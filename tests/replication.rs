//! Replication against the sandbox's seeded (drifted) workspaces, end to
//! end over REST: the dry run's plan is exactly the drift, applying it
//! converges, a second run only refreshes what the primary committed since,
//! faults leave every action with a result and another run converges,
//! cancel and resume behave, and job mode follows the seeded job.
//! Statements run on the sandbox's warehouse, sped up so the tests take
//! seconds. Every call runs with alice's token (on-behalf-of), as in
//! production.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use drbot::config::Config;
use drbot::databricks::jobs::RunResult;
use drbot::databricks::statements::Polling;
use drbot::databricks::{RetryPolicy, WorkspaceClient};
use drbot::identity::{AccessToken, IdentityError, OnBehalfOf, UserAssertion, DATABRICKS_SCOPE};
use drbot::replication::diff::{diff, Change};
use drbot::replication::execute::Limits;
use drbot::replication::job::{follow_run, run_job, JobEvent, JobPolling};
use drbot::replication::mapping::LocationMapping;
use drbot::replication::object::ObjectKind;
use drbot::replication::plan::{ActionKind, CloneReason, Plan};
use drbot::replication::read::{read_snapshot, ReadOptions};
use drbot::replication::run::{
    record, run_plan, ActionStatus, RunEvent, RunOptions, RunReport, TokenSource, Workspaces,
};
use drbot::replication::snapshot::Snapshot;
use drbot::replication::{plan, ReplicationConfig};
use drbot::store::Store;
use sandbox::databricks::jobs::REPLICATION_JOB_ID;
use sandbox::databricks::seed::LOCATION_MAPPING;
use sandbox::databricks::statements::{StatementTiming, PRIMARY_WAREHOUSE_ID, SANDBOX_WAREHOUSE_ID};
use sandbox::faults::FaultConfig;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_BOT_APP_ID};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long a test waits for something that should happen soon.
const PATIENCE: Duration = Duration::from_secs(20);

/// alice's Databricks tokens, by Teams SSO then on-behalf-of; `fresh` skips the cache.
struct Alice {
    obo: OnBehalfOf,
    assertion: UserAssertion,
    fetched: std::sync::atomic::AtomicUsize,
}

impl Alice {
    async fn new(sandbox: &Sandbox) -> Arc<Alice> {
        let config = Config::from_toml(&sandbox.bot_config_toml("127.0.0.1:0", false), &BTreeMap::new()).unwrap();
        let obo = OnBehalfOf::new(&config, reqwest::Client::new());
        let user = sandbox.teams.user("alice").unwrap();
        let assertion = UserAssertion::from_token(&sandbox.entra.teams_sso_token(&user, SANDBOX_BOT_APP_ID)).unwrap();
        Arc::new(Alice { obo, assertion, fetched: Default::default() })
    }
}

impl TokenSource for Alice {
    async fn token(&self, fresh: bool) -> Result<AccessToken, IdentityError> {
        self.fetched.fetch_add(usize::from(fresh), std::sync::atomic::Ordering::SeqCst);
        self.obo.token(&self.assertion, DATABRICKS_SCOPE, fresh).await
    }
}

struct World {
    sandbox: Sandbox,
    alice: Arc<Alice>,
    workspaces: Workspaces,
    config: ReplicationConfig,
}

fn retries(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        budget: Duration::from_secs(10),
        max_attempts: attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(40),
    }
}

async fn world() -> World {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    // Clones of 10–40 ms, other statements 1–5 ms, at double speed.
    for ws in [&sandbox.primary, &sandbox.secondary] {
        ws.statements.set_timing(StatementTiming { speed: 2.0, ..StatementTiming::default() });
    }
    let alice = Alice::new(&sandbox).await;
    let client = |url: &str| WorkspaceClient::new(reqwest::Client::new(), url).with_retry(retries(20));
    let workspaces = Workspaces {
        primary: client(&sandbox.primary_url()),
        secondary: client(&sandbox.secondary_url()),
        warehouse_id: SANDBOX_WAREHOUSE_ID.into(),
    };
    let mut config = ReplicationConfig::new(LocationMapping::new(LOCATION_MAPPING.iter().copied()));
    config.prune = true;
    World { sandbox, alice, workspaces, config }
}

fn options() -> RunOptions {
    RunOptions {
        limits: Limits { warehouse: 8, api: 4 },
        statement_timeout: Duration::from_secs(10),
        action_budget: Duration::from_secs(10),
        polling: Polling { first: Duration::from_millis(5), max: Duration::from_millis(20) },
        backoff: retries(100),
        ..RunOptions::default()
    }
}

impl World {
    /// Reads both sides (with patient clients, so that a test's faults do not fail the read).
    async fn read(&self) -> (Snapshot, Snapshot) {
        let token = self.alice.token(false).await.unwrap();
        let client = |url: &str| WorkspaceClient::new(reqwest::Client::new(), url).with_retry(retries(100));
        let (primary, secondary) = (client(&self.sandbox.primary_url()), client(&self.sandbox.secondary_url()));
        let options = |warehouse: &str| ReadOptions {
            warehouse_id: Some(warehouse.into()),
            statement_timeout: Duration::from_secs(10),
            ..ReadOptions::default()
        };
        let (primary_options, secondary_options) = (options(PRIMARY_WAREHOUSE_ID), options(SANDBOX_WAREHOUSE_ID));
        let (primary, secondary) = tokio::join!(
            read_snapshot(&primary, &token, &primary_options),
            read_snapshot(&secondary, &token, &secondary_options)
        );
        (primary.unwrap(), secondary.unwrap())
    }

    async fn plan(&self) -> Plan {
        let (primary, secondary) = self.read().await;
        plan(&primary, &secondary, &self.config)
    }

    async fn drift(&self) -> Vec<drbot::replication::Drift> {
        let (primary, secondary) = self.read().await;
        diff(&primary, &secondary, &self.config)
    }

    async fn run(&self, plan: &Plan, options: RunOptions) -> (RunReport, Vec<RunEvent>) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let report = run_plan(plan, &self.workspaces, &*self.alice, options, CancellationToken::new(), tx).await;
        let mut events = Vec::new();
        while let Ok(event) = rx.try_recv() {
            events.push(event);
        }
        (report, events)
    }
}

fn failures(report: &RunReport) -> Vec<String> {
    report
        .results
        .iter()
        .filter(|(_, r)| r.status != ActionStatus::Succeeded)
        .map(|(id, r)| format!("{id}: {:?} {:?}", r.status, r.error))
        .collect()
}

/// A managed table of the seed that the admin group owns, in a schema it
/// owns (`with_grants`: one that has grants too), and that schema: the
/// (table, schema) full names.
fn admin_owned_managed_table(world: &World, with_grants: bool) -> (String, String) {
    let primary = world.sandbox.primary.metastore.read();
    let found = primary
        .tables
        .values()
        .find(|t| {
            let schema = primary.schemas.get(&format!("{}.{}", t.catalog, t.schema));
            t.table_type == "MANAGED"
                && t.common.owner == sandbox::databricks::seed::ADMIN_GROUP
                && (!with_grants || !t.common.grants.is_empty())
                && schema.is_some_and(|s| s.common.owner == sandbox::databricks::seed::ADMIN_GROUP)
        })
        .expect("the seed has an admin-owned managed table");
    (found.full_name(), format!("{}.{}", found.catalog, found.schema))
}

/// Set-up that is not drift: the sharing the clones read through.
fn is_bootstrap(kind: ObjectKind) -> bool {
    matches!(kind, ObjectKind::Share | ObjectKind::Recipient | ObjectKind::SharedCatalog)
}

#[tokio::test]
async fn the_dry_run_is_the_drift_applying_converges_and_a_second_run_only_refreshes() {
    let world = world().await;
    let (primary, secondary) = world.read().await;
    let drift = diff(&primary, &secondary, &world.config);
    let plan = plan(&primary, &secondary, &world.config);
    assert!(!drift.is_empty() && plan.blocked().count() == 0);

    // Every drift item has its action, and no action is without drift.
    let drifted: BTreeSet<_> = drift.iter().map(|d| d.object.clone()).collect();
    let acted: BTreeSet<_> =
        plan.actions.iter().filter(|a| !is_bootstrap(a.object.kind)).map(|a| a.object.clone()).collect();
    assert_eq!(drifted, acted);
    for item in &drift {
        let kinds: Vec<&ActionKind> =
            plan.actions.iter().filter(|a| a.object == item.object).map(|a| &a.kind).collect();
        let covered = match &item.change {
            Change::Missing => kinds.iter().any(|k| {
                matches!(
                    k,
                    ActionKind::CreateCatalog { .. }
                        | ActionKind::CreateSchema { .. }
                        | ActionKind::CloneTable { .. }
                        | ActionKind::RegisterExternalTable { .. }
                        | ActionKind::CreateView { .. }
                        | ActionKind::CreateExternalVolume { .. }
                        | ActionKind::CreateManagedVolume { .. }
                )
            }),
            Change::Extra => kinds.iter().any(|k| matches!(k, ActionKind::Drop)),
            Change::Stale { .. } => {
                kinds.iter().any(|k| matches!(k, ActionKind::CloneTable { reason: CloneReason::Stale, .. }))
            }
            Change::Grants { .. } => {
                kinds.iter().any(|k| matches!(k, ActionKind::Grant { .. } | ActionKind::Revoke { .. }))
            }
            Change::Owner { .. } => kinds.iter().any(|k| matches!(k, ActionKind::SetOwner { .. })),
            Change::Metadata(_) => kinds.iter().any(|k| matches!(k, ActionKind::Metadata(_))),
            Change::Different(_) => !kinds.is_empty(),
        };
        assert!(covered, "{item:?} has no fitting action: {kinds:?}");
    }

    // Apply, keeping each result in the store as the bot does.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("drbot.db").display())).await.unwrap();
    let run = drbot::store::runs::Run {
        id: "run-1".into(),
        started_by_oid: None,
        started_by_upn: Some("alice@contoso.example".into()),
        catalog_filter: None,
        dry_run: false,
        started_ms: 0,
        finished_ms: None,
        counts: None,
        scheduled: false,
    };
    store.start_run(&run).await.unwrap();
    let (report, events) = world.run(&plan, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    assert_eq!(report.results.len(), plan.actions.len());
    for event in &events {
        record(&store, "default", "run-1", &plan, event).await.unwrap();
    }
    let counts = store.run_result_counts("run-1").await.unwrap();
    assert_eq!(counts.succeeded as usize, plan.actions.len());
    let clones = plan.actions.iter().filter(|a| matches!(a.kind, ActionKind::CloneTable { .. }));
    for clone in clones {
        let result = &report.results[&clone.id];
        assert!(result.copied_version.is_some() && result.detail.as_deref().unwrap_or("").starts_with("version"));
    }
    let submitted = events.iter().filter(|e| matches!(e, RunEvent::StatementSubmitted { .. })).count();
    assert!(submitted > 0);

    assert_eq!(world.drift().await, Vec::new(), "converged to zero drift");
    assert!(world.plan().await.is_empty(), "a second plan has nothing to do");

    // The primary keeps committing: the next run refreshes those tables and nothing else.
    let writer = world.sandbox.primary.keep_committing(Duration::from_millis(20), 3, 11);
    tokio::time::timeout(PATIENCE, async {
        while world.drift().await.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the primary commits");
    writer.stop().await;
    let again = world.plan().await;
    assert!(!again.is_empty());
    assert!(
        again.actions.iter().all(|a| matches!(a.kind, ActionKind::CloneTable { reason: CloneReason::Stale, .. })),
        "{:?}",
        again.actions.iter().map(|a| a.describe()).collect::<Vec<_>>()
    );
    let (report, _) = world.run(&again, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    assert_eq!(world.drift().await, Vec::new());
}

/// Databricks: "Replacing an existing view does not preserve privileges
/// granted on the original view. Use ALTER VIEW to preserve privileges."
/// A view whose definition changed on the primary is updated on the
/// secondary in place, and keeps the grants it has there.
#[tokio::test]
async fn a_changed_view_is_updated_with_its_grants_intact() {
    let world = world().await;
    let (report, _) = world.run(&world.plan().await, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    assert!(world.plan().await.is_empty());

    // A view with grants on both sides gets a new definition on the primary.
    let (name, definition) = {
        let primary = world.sandbox.primary.metastore.read();
        let secondary = world.sandbox.secondary.metastore.read();
        let view = primary
            .tables
            .values()
            .filter(|t| t.table_type == "VIEW" && !t.common.grants.is_empty())
            .find(|t| secondary.tables.get(&t.full_name()).is_some_and(|s| !s.common.grants.is_empty()))
            .expect("a replicated view with grants");
        let altered = format!("ALTER VIEW x AS {} WHERE 1 = 1", view.view_definition.clone().unwrap());
        let sandbox::databricks::sql::parse::Statement::AlterViewAs { query, .. } =
            sandbox::databricks::sql::parse::parse(&altered).unwrap()
        else {
            panic!("{altered}")
        };
        (view.full_name(), query)
    };
    world.sandbox.primary.metastore.write().tables.get_mut(&name).unwrap().view_definition = Some(definition.clone());
    let grants = world.sandbox.primary.metastore.read().tables[&name].common.grants.clone();

    let plan = world.plan().await;
    let kinds: Vec<(&str, &ActionKind)> = plan.actions.iter().map(|a| (a.id.0.as_str(), &a.kind)).collect();
    // Only the view's definition changes; a view alice does not own is
    // taken over first and handed back after (only its owner may alter it).
    let owner = world.sandbox.secondary.metastore.read().tables[&name].common.owner.clone();
    assert!(
        match kinds.as_slice() {
            [(_, ActionKind::CreateView { existing: true, .. })] => true,
            [(_, ActionKind::SetOwner { owner: taker }), (_, ActionKind::CreateView { existing: true, .. }), (_, ActionKind::SetOwner { owner: back })] =>
            {
                taker == "alice@contoso.example" && *back == owner
            }
            _ => false,
        },
        "only the view's definition changes: {kinds:?}"
    );
    let (report, _) = world.run(&plan, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    {
        let secondary = world.sandbox.secondary.metastore.read();
        let view = &secondary.tables[&name];
        assert_eq!(view.view_definition.as_deref(), Some(definition.as_str()));
        assert_eq!(view.common.grants, grants, "the view's grants survive the update");
    }
    assert_eq!(world.drift().await, Vec::new(), "converged: grants and owner included");
}

/// Only a view's owner may change its definition (Databricks' ALTER VIEW
/// reference, sandbox/FIDELITY.md). drbot runs as alice, a metastore admin,
/// and a view on the secondary belongs to bob: drbot takes it over, alters
/// it and hands it back, so bob keeps the view and its grants.
#[tokio::test]
async fn a_changed_view_owned_by_someone_else_is_updated_with_its_owner_and_grants_intact() {
    let world = world().await;
    let (report, _) = world.run(&world.plan().await, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));

    let bob = "bob@contoso.example";
    let (name, definition) = {
        let mut primary = world.sandbox.primary.metastore.write();
        let mut secondary = world.sandbox.secondary.metastore.write();
        let view = primary
            .tables
            .values_mut()
            .filter(|t| t.table_type == "VIEW" && !t.common.grants.is_empty())
            .find(|t| secondary.tables.contains_key(&t.full_name()))
            .expect("a replicated view with grants");
        let altered = format!("ALTER VIEW x AS {} WHERE 1 = 1", view.view_definition.clone().unwrap());
        let sandbox::databricks::sql::parse::Statement::AlterViewAs { query, .. } =
            sandbox::databricks::sql::parse::parse(&altered).unwrap()
        else {
            panic!("{altered}")
        };
        view.view_definition = Some(query.clone());
        view.common.owner = bob.into();
        secondary.tables.get_mut(&view.full_name()).unwrap().common.owner = bob.into();
        (view.full_name(), query)
    };
    let grants = world.sandbox.primary.metastore.read().tables[&name].common.grants.clone();

    let (report, _) = world.run(&world.plan().await, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    {
        let secondary = world.sandbox.secondary.metastore.read();
        let view = &secondary.tables[&name];
        assert_eq!(view.view_definition.as_deref(), Some(definition.as_str()));
        assert_eq!(view.common.owner, bob, "the view is handed back to its owner");
        assert_eq!(view.common.grants, grants, "the view's grants survive the update");
    }
    assert_eq!(world.drift().await, Vec::new(), "converged: grants and owner included");
    assert!(world.plan().await.is_empty(), "and nothing left to do");
}

/// Only a share's owner may add to it (Databricks' Shares › Update,
/// sandbox/FIDELITY.md). A share drbot made is handed to carol; a new schema
/// on the primary then needs adding: drbot does not send an ADD the
/// workspace refuses but blocks it with the fix, and the clone waits.
#[tokio::test]
async fn a_share_someone_else_owns_is_not_changed_and_the_plan_names_the_fix() {
    let world = world().await;
    let (report, _) = world.run(&world.plan().await, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));

    let carol = "carol@contoso.example";
    let (share, table) = {
        let mut primary = world.sandbox.primary.metastore.write();
        let template = primary
            .tables
            .values()
            .find(|t| t.table_type == "MANAGED" && t.data_source_format.as_deref() == Some("DELTA"))
            .unwrap()
            .clone();
        let mut schema = primary.schemas[&format!("{}.{}", template.catalog, template.schema)].clone();
        schema.name = "dr_new".into();
        primary.schemas.insert(format!("{}.dr_new", schema.catalog), schema);
        let table = sandbox::databricks::metastore::Table { schema: "dr_new".into(), ..template };
        primary.tables.insert(table.full_name(), table.clone());
        (world.config.share_name(&table.catalog), table.full_name())
    };
    world.sandbox.primary.sharing.lock().shares.get_mut(&share).unwrap().owner = carol.into();

    let plan = world.plan().await;
    let add = plan.actions.iter().find(|a| a.id.0.starts_with("share-schemas")).expect("the schema is to be shared");
    let ActionKind::Blocked(reason) = &add.kind else { panic!("an ADD to carol's share: {:?}", add.kind) };
    assert!(reason.to_string().contains(&format!("belongs to {carol}")), "{reason}");
    let (report, _) = world.run(&plan, options()).await;
    let error = report.results[&add.id].error.clone().unwrap_or_default();
    assert!(error.contains("ALTER SHARE"), "the run reports the fix: {error}");
    let clone = plan.actions.iter().find(|a| a.object.full_name() == table).expect("the new table's clone");
    assert_ne!(report.results[&clone.id].status, ActionStatus::Succeeded);
    let shared = world.sandbox.primary.sharing.lock().shares[&share].objects.clone();
    assert!(!shared.keys().any(|name| name.ends_with(".dr_new")), "nothing was added: {shared:?}");
}

#[tokio::test]
async fn with_faults_every_action_ends_with_a_result_and_another_run_converges() {
    let mut world = world().await;
    // No client-level retries and no time for a second attempt, so that
    // some actions do fail (each call fails one time in ten, each statement one in twenty).
    let client = |url: &str| WorkspaceClient::new(reqwest::Client::new(), url).with_retry(RetryPolicy::none());
    world.workspaces.primary = client(&world.sandbox.primary_url());
    world.workspaces.secondary = client(&world.sandbox.secondary_url());
    let plan = world.plan().await;
    let faults =
        FaultConfig { error_5xx_ratio: 0.05, throttle_ratio: 0.05, retry_after_secs: 0, ..FaultConfig::default() };
    for ws in [&world.sandbox.primary, &world.sandbox.secondary] {
        ws.faults.set(faults.clone());
        // Transient statement failures of every documented kind, and results
        // reported CLOSED (succeeded, rows gone) instead of SUCCEEDED.
        ws.statements.set_timing(StatementTiming {
            speed: 2.0,
            failure_ratio: 0.05,
            closed_ratio: 0.1,
            ..StatementTiming::default()
        });
    }
    // The refused token is replaced once, and the action goes on.
    world.sandbox.secondary.reject_next_tokens(1);
    let options = RunOptions { action_budget: Duration::from_millis(1), ..options() };
    let (report, events) = tokio::time::timeout(PATIENCE, world.run(&plan, options)).await.expect("no hang");

    assert_eq!(report.results.len(), plan.actions.len(), "every action has a result");
    for (id, result) in &report.results {
        match result.status {
            ActionStatus::Succeeded => {}
            ActionStatus::Failed | ActionStatus::Blocked | ActionStatus::Skipped => {
                assert!(result.error.as_deref().is_some_and(|e| !e.is_empty()), "{id} says why")
            }
            ActionStatus::Canceled => panic!("{id} canceled without a cancel"),
        }
    }
    let finished = events.iter().filter(|e| matches!(e, RunEvent::Finished { .. })).count();
    assert_eq!(finished, plan.actions.len(), "one Finished event per action");
    assert!(world.alice.fetched.load(std::sync::atomic::Ordering::SeqCst) >= 1, "a fresh token after the 401");
    assert!(report.count(ActionStatus::Failed) > 0, "the faults made some actions fail");
    assert!(report.count(ActionStatus::Succeeded) > 0);

    // The faults stay; a further run with retries and the usual budget converges.
    let client = |url: &str| WorkspaceClient::new(reqwest::Client::new(), url).with_retry(retries(20));
    world.workspaces.primary = client(&world.sandbox.primary_url());
    world.workspaces.secondary = client(&world.sandbox.secondary_url());
    let again = world.plan().await;
    assert!(again.actions.len() < plan.actions.len());
    let (report, _) = world.run(&again, self::options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    for ws in [&world.sandbox.primary, &world.sandbox.secondary] {
        ws.faults.set(FaultConfig::default());
    }
    assert_eq!(world.drift().await, Vec::new());
}

#[tokio::test]
async fn cancel_stops_promptly_and_reports_the_rest_canceled() {
    let world = world().await;
    // Clones that would take 5 s each, two at a time.
    world
        .sandbox
        .secondary
        .statements
        .set_timing(StatementTiming { clone_ms: (5000, 5000), ..StatementTiming::default() });
    let plan = world.plan().await;
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let options = RunOptions { limits: Limits { warehouse: 2, api: 4 }, ..options() };
    let run = run_plan(&plan, &world.workspaces, &*world.alice, options, cancel.clone(), tx);
    let watch = async {
        // Cancel once the first clone is on the warehouse.
        while let Some(event) = rx.recv().await {
            if let RunEvent::StatementSubmitted { action, .. } = &event {
                if action.0.starts_with("clone:") {
                    cancel.cancel();
                    return;
                }
            }
        }
    };
    let started = tokio::time::Instant::now();
    let (report, ()) = tokio::join!(run, watch);
    assert!(started.elapsed() < Duration::from_secs(4), "stopped promptly: {:?}", started.elapsed());
    assert!(report.canceled);
    assert_eq!(report.results.len(), plan.actions.len());
    assert!(report.count(ActionStatus::Canceled) > 0);
    assert_eq!(report.count(ActionStatus::Failed), 0, "{:#?}", failures(&report));
    // The clone running on the warehouse was cancelled there, not abandoned.
    let history = world.sandbox.secondary.statements.history();
    assert!(history.iter().any(|s| s.statement.contains("DEEP CLONE") && s.state == "CANCELED"));
    assert!(history.iter().all(|s| s.state != "RUNNING" && s.state != "PENDING"));
}

#[tokio::test]
async fn a_resumed_run_does_not_redo_what_was_done_and_reconciles_statements_by_id() {
    let world = world().await;
    // Clones of 300 ms, so some are on the warehouse when the bot "dies".
    world
        .sandbox
        .secondary
        .statements
        .set_timing(StatementTiming { clone_ms: (300, 300), ..StatementTiming::default() });
    let plan = Arc::new(world.plan().await);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut task = {
        let (plan, workspaces, alice) = (plan.clone(), world.workspaces.clone(), world.alice.clone());
        tokio::spawn(async move {
            run_plan(&plan, &workspaces, &*alice, options(), CancellationToken::new(), tx).await;
        })
    };
    // Follow the events as the store would; stop the run dead after ten clones finished.
    let mut done = BTreeSet::new();
    let mut in_flight = BTreeMap::new();
    let mut known_ids = BTreeSet::new();
    let mut clones_done = 0;
    // Returns 1 for a finished clone.
    let mut follow = |event: RunEvent| match event {
        RunEvent::StatementSubmitted { action, statement_id } => {
            known_ids.insert(statement_id.clone());
            in_flight.insert(action, statement_id);
            0
        }
        RunEvent::Finished { action, result } => {
            in_flight.remove(&action);
            let clone = usize::from(action.0.starts_with("clone:") && result.status == ActionStatus::Succeeded);
            if result.status == ActionStatus::Succeeded {
                done.insert(action);
            }
            clone
        }
        RunEvent::Started { .. } | RunEvent::FileCopied { .. } => 0,
    };
    let mut stopped = false;
    while !stopped {
        let event = tokio::time::timeout(PATIENCE, rx.recv()).await.unwrap().expect("the run goes on");
        clones_done += follow(event);
        if clones_done >= 10 {
            task.abort();
            let _ = (&mut task).await;
            stopped = true;
        }
    }
    // What the store would have recorded up to the stop.
    while let Ok(event) = rx.try_recv() {
        follow(event);
    }
    assert!(!in_flight.is_empty(), "statements were on the warehouse when the run stopped");
    let before = world.sandbox.secondary.statements.history().len();

    let options = RunOptions { done: done.clone(), in_flight: in_flight.clone(), ..options() };
    let (report, events) = world.run(&plan, options).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    let started: BTreeSet<_> =
        events.iter().filter_map(|e| if let RunEvent::Started { action } = e { Some(action) } else { None }).collect();
    assert!(done.iter().all(|a| !started.contains(a)), "done actions are not run again");

    // A statement whose id the bot had recorded ran once on the warehouse: the
    // in-flight ones were followed, not sent again. (One whose submission was
    // cut off before its id came back may be sent again; it is idempotent.)
    let history = world.sandbox.secondary.statements.history();
    let resubmitted: Vec<_> = history[before..]
        .iter()
        .filter(|s| {
            history[..before].iter().any(|earlier| earlier.statement == s.statement && known_ids.contains(&earlier.id))
        })
        .map(|s| s.statement.clone())
        .collect();
    assert_eq!(resubmitted, Vec::<String>::new());
    assert_eq!(world.drift().await, Vec::new());
}

/// A run resumed long after a kill (the warehouse forgets an ended statement
/// after 12 h; its id then answers 404) finds out from each table's history
/// whether its clone succeeded, and does not copy it again.
#[tokio::test]
async fn a_resumed_clone_whose_statement_was_forgotten_is_reconciled_from_the_table() {
    let world = world().await;
    let plan = world.plan().await;
    // The whole run, as far as the warehouse is concerned; the bot "died"
    // after every clone was submitted and before any result was recorded.
    let (report, events) = world.run(&plan, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    let is_clone = |action: &drbot::replication::plan::ActionId| {
        matches!(plan.get(action).map(|a| &a.kind), Some(ActionKind::CloneTable { .. }))
    };
    let in_flight: BTreeMap<_, _> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::StatementSubmitted { action, statement_id } if is_clone(action) => {
                Some((action.clone(), statement_id.clone()))
            }
            _ => None,
        })
        .collect();
    assert!(!in_flight.is_empty(), "the plan clones");
    let done = report.results.keys().filter(|a| !is_clone(a)).cloned().collect();

    world.sandbox.secondary.statements.pass_time(Duration::from_secs(13 * 3600));
    let before = world.sandbox.secondary.statements.history().len();
    let (report, _) = world.run(&plan, RunOptions { done, in_flight: in_flight.clone(), ..options() }).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    let history = world.sandbox.secondary.statements.history();
    let cloned_again: Vec<_> =
        history[before..].iter().filter(|s| s.statement.contains("DEEP CLONE")).map(|s| s.statement.clone()).collect();
    assert_eq!(cloned_again, Vec::<String>::new(), "no clone that succeeded is copied again");
    for action in in_flight.keys() {
        let result = &report.results[action];
        assert!(result.copied_version.is_some(), "{action}: {result:?}");
        assert!(result.detail.as_deref().unwrap_or_default().contains("forgotten"), "{action}: {result:?}");
    }
    assert_eq!(world.drift().await, Vec::new());
}

/// A resumed run whose dead attempt sent its clones but recorded neither
/// their statements nor their results (a kill between the warehouse
/// accepting a statement and the checkpoint naming it) finds each clone in
/// the table's history instead of copying it again; a fresh run of the same
/// plan would clone.
#[tokio::test]
async fn a_resumed_clone_whose_statement_was_never_recorded_is_reconciled_from_the_table() {
    let world = world().await;
    let plan = world.plan().await;
    let (report, _) = world.run(&plan, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    let is_clone = |action: &drbot::replication::plan::ActionId| {
        matches!(plan.get(action).map(|a| &a.kind), Some(ActionKind::CloneTable { .. }))
    };
    let clones: Vec<_> = report.results.keys().filter(|a| is_clone(a)).cloned().collect();
    assert!(!clones.is_empty(), "the plan clones");
    // The dead attempt recorded everything but the clones, and no statement.
    let done = report.results.keys().filter(|a| !is_clone(a)).cloned().collect();

    let before = world.sandbox.secondary.statements.history().len();
    let (report, _) = world.run(&plan, RunOptions { done, resumed: true, ..options() }).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    let history = world.sandbox.secondary.statements.history();
    let cloned_again: Vec<_> =
        history[before..].iter().filter(|s| s.statement.contains("DEEP CLONE")).map(|s| s.statement.clone()).collect();
    assert_eq!(cloned_again, Vec::<String>::new(), "no clone that succeeded is copied again");
    for action in &clones {
        let result = &report.results[action];
        assert!(result.copied_version.is_some(), "{action}: {result:?}");
        assert!(result.detail.as_deref().unwrap_or_default().contains("not recorded"), "{action}: {result:?}");
    }
    assert_eq!(world.drift().await, Vec::new());
}

#[tokio::test]
async fn job_mode_starts_once_follows_each_task_and_reports_a_failing_one() {
    let world = world().await;
    let jobs = &world.sandbox.secondary.jobs;
    jobs.set_task_duration(Duration::from_millis(30));
    let polling = JobPolling { interval: Duration::from_millis(10), cancel_grace: Duration::from_secs(5) };
    let parameters = BTreeMap::new();
    let follow = |operation: &'static str| {
        let (tx, rx) = mpsc::unbounded_channel();
        let run = run_job(
            &world.workspaces.secondary,
            &*world.alice,
            REPLICATION_JOB_ID,
            operation,
            &parameters,
            polling,
            CancellationToken::new(),
            tx,
        );
        (run, rx)
    };
    let (run, mut rx) = follow("operation-1");
    let report = tokio::time::timeout(PATIENCE, run).await.unwrap().unwrap();
    assert!(report.succeeded() && report.tasks.len() == 6, "{report:?}");
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    let started = events.iter().filter(|e| matches!(e, JobEvent::TaskStarted { .. })).count();
    let finished = events.iter().filter(|e| matches!(e, JobEvent::TaskFinished { .. })).count();
    assert_eq!((started, finished), (6, 6), "{events:?}");

    // The same operation names the same run.
    let (run, _) = follow("operation-1");
    let again = tokio::time::timeout(PATIENCE, run).await.unwrap().unwrap();
    assert_eq!(again.run_id, report.run_id);

    jobs.fail_task(Some("views"));
    let (run, _) = follow("operation-2");
    let failed = tokio::time::timeout(PATIENCE, run).await.unwrap().unwrap();
    assert_ne!(failed.run_id, report.run_id);
    assert!(!failed.succeeded());
    assert!(matches!(failed.tasks["views"].0, RunResult::Failed(_)), "{failed:?}");
    assert_eq!(failed.tasks["grants"].0, RunResult::Skipped);
    assert_eq!(failed.tasks["schemas"].0, RunResult::Success);

    // A bot restarted mid-run resumes by run id.
    let (tx, _rx) = mpsc::unbounded_channel();
    let resumed =
        follow_run(&world.workspaces.secondary, &*world.alice, report.run_id, polling, CancellationToken::new(), tx);
    let resumed = tokio::time::timeout(PATIENCE, resumed).await.unwrap().unwrap();
    assert_eq!((resumed.run_id, resumed.tasks.len()), (report.run_id, 6));

    // Cancelling the token cancels the run in the workspace.
    jobs.fail_task(None);
    jobs.set_task_duration(Duration::from_secs(5));
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let run = run_job(
        &world.workspaces.secondary,
        &*world.alice,
        REPLICATION_JOB_ID,
        "operation-3",
        &parameters,
        polling,
        cancel.clone(),
        tx,
    );
    let canceller = async {
        while let Some(event) = rx.recv().await {
            if matches!(event, JobEvent::TaskStarted { .. }) {
                cancel.cancel();
                return;
            }
        }
    };
    let started = tokio::time::Instant::now();
    let (canceled, ()) = tokio::time::timeout(PATIENCE, async { tokio::join!(run, canceller) }).await.unwrap();
    let canceled = canceled.unwrap();
    assert!(canceled.canceled && canceled.result == RunResult::Canceled, "{canceled:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "the cancel did not wait for the tasks");
}

#[tokio::test]
async fn the_cli_reads_its_configuration_and_prints_the_dry_run_grouped_by_kind() {
    use drbot::cli::replicate::{read_both, render_plan, replication_config, workspaces};
    let world = world().await;
    let config = Config::from_toml(&world.sandbox.bot_config_toml("127.0.0.1:0", false), &BTreeMap::new()).unwrap();
    let workspaces = workspaces(&config).unwrap();
    assert_eq!(workspaces.warehouse_id, SANDBOX_WAREHOUSE_ID);
    let replication = replication_config(&config, Some("main"), None, false);
    assert_eq!(replication.mapping, LocationMapping::new(LOCATION_MAPPING.iter().copied()));
    let token = world.alice.token(false).await.unwrap();
    let filter = drbot::replication::read::ReadFilter { catalog: Some("main".into()), schema_pattern: None };
    let (primary, secondary) =
        read_both(&workspaces, Some(PRIMARY_WAREHOUSE_ID.into()), &token, filter, 8, Duration::from_secs(10))
            .await
            .unwrap();
    let plan = plan(&primary, &secondary, &replication);
    assert!(
        !plan.is_empty()
            && plan.actions.iter().all(|a| a.object.path[0] == "main" || a.object.path[0].starts_with("drbot_"))
    );
    let text = render_plan(&plan);
    assert!(text.contains("Deep clones (") && text.contains("Grants ("), "{text}");
    assert!(text.ends_with(&format!("{} action(s), 0 blocked\n", plan.actions.len())), "{text}");
}

/// An append changes no metadata, so the table properties Unity Catalog
/// lists do not move (the sandbox models them as stale, as the
/// documentation allows): planning from them misses it. A cycle that reads
/// each table's latest commit with `DESCRIBE HISTORY … LIMIT 1` re-clones
/// exactly that table, reports its RPO from the recorded replicated version,
/// and records the new version once the clone succeeds.
#[tokio::test]
async fn an_append_only_table_is_recloned_from_its_history_and_its_rpo_comes_from_the_recorded_version() {
    use drbot::readiness::rpo::{table_rpos, Rpo};
    use drbot::replication::history::{freshen, tables_to_read};

    let world = world().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("drbot.db").display())).await.unwrap();
    let token = world.alice.token(false).await.unwrap();
    let deadline = || tokio::time::Instant::now() + PATIENCE;
    for id in ["run-1", "run-2"] {
        let run = drbot::store::runs::Run {
            id: id.into(),
            started_by_oid: None,
            started_by_upn: None,
            catalog_filter: None,
            dry_run: false,
            started_ms: 0,
            finished_ms: None,
            counts: None,
            scheduled: false,
        };
        store.start_run(&run).await.unwrap();
    }

    // Replicate once, recording as the bot does.
    let first = world.plan().await;
    let (report, events) = world.run(&first, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    for event in &events {
        record(&store, "default", "run-1", &first, event).await.unwrap();
    }
    assert!(world.plan().await.is_empty());

    // One append to a replicated managed Delta table on the primary.
    let (primary, _) = world.read().await;
    let appended = first
        .actions
        .iter()
        .find_map(|a| match &a.kind {
            ActionKind::CloneTable { .. }
                if primary
                    .tables
                    .get(&a.object.full_name())
                    .is_some_and(|t| t.kind == drbot::replication::snapshot::TableKind::Managed) =>
            {
                Some(a.object.full_name())
            }
            _ => None,
        })
        .expect("a cloned managed table");
    let newest = {
        let mut metastore = world.sandbox.primary.metastore.write();
        let table = metastore.tables.get_mut(&appended).unwrap();
        table.append(chrono::Utc::now().timestamp_millis() + 60_000);
        (table.delta_version, table.last_commit_ms)
    };
    assert!(world.plan().await.is_empty(), "the properties did not move: by them nothing changed");

    // The cycle's freshness step: one DESCRIBE HISTORY per source Delta table.
    let (mut primary, mut secondary) = world.read().await;
    let before = world.sandbox.primary.statements.history().len();
    let unread = freshen(
        &store,
        "default",
        &world.workspaces.primary,
        &token,
        PRIMARY_WAREHOUSE_ID,
        8,
        deadline(),
        &mut primary,
        &mut secondary,
    )
    .await
    .unwrap();
    assert!(unread.is_empty(), "{unread:?}");
    let statements: Vec<String> =
        world.sandbox.primary.statements.history()[before..].iter().map(|s| s.statement.clone()).collect();
    assert_eq!(statements.len(), tables_to_read(&primary).len());
    assert!(statements.iter().all(|s| s.starts_with("DESCRIBE HISTORY ") && s.ends_with(" LIMIT 1")), "{statements:?}");

    let again = plan(&primary, &secondary, &world.config);
    assert_eq!(
        again.actions.iter().map(|a| (a.object.full_name(), a.describe())).collect::<Vec<_>>(),
        vec![(appended.clone(), format!("refresh table {appended} (incremental deep clone)"))],
        "only the appended table is cloned; unchanged tables cost no clone"
    );
    let recorded = store.table_versions("default").await.unwrap();
    let held = recorded.iter().find(|r| r.table_name == appended).and_then(|r| r.replicated).unwrap();
    let drift = diff(&primary, &secondary, &world.config);
    let rpo = table_rpos(&primary, &secondary, &world.config, &drift);
    let rpo = rpo.iter().find(|r| r.table == appended).unwrap().rpo;
    assert_eq!(rpo, Rpo::Behind { ms: newest.1 - held.commit_ms });
    assert!(held.version < newest.0);

    // The re-clone records the version it copied.
    let (report, events) = world.run(&again, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    for event in &events {
        record(&store, "default", "run-2", &again, event).await.unwrap();
    }
    let recorded = store.table_versions("default").await.unwrap();
    let row = recorded.iter().find(|r| r.table_name == appended).unwrap();
    assert_eq!(row.replicated.map(|c| c.version), Some(newest.0));
    assert_eq!(row.source.map(|c| (c.version, c.commit_ms)), Some(newest));

    let (mut primary, mut secondary) = world.read().await;
    freshen(
        &store,
        "default",
        &world.workspaces.primary,
        &token,
        PRIMARY_WAREHOUSE_ID,
        8,
        deadline(),
        &mut primary,
        &mut secondary,
    )
    .await
    .unwrap();
    assert!(plan(&primary, &secondary, &world.config).is_empty(), "caught up: nothing to clone");
}

/// A table protected on the primary (a row filter calling a function that
/// calls another, a column mask), and a view calling a function: the plan
/// creates the functions first (in dependency order), then the view, clones
/// the table, sets its filter and mask again (a clone carries none), and
/// only then grants on it. Afterwards every object is equal on both sides
/// and a second plan is empty.
#[tokio::test]
async fn functions_row_filters_and_masks_are_replicated_and_grants_wait_for_them() {
    let world = world().await;
    let (table, schema) = admin_owned_managed_table(&world, true);
    let quote = |name: &str| name.split('.').map(|p| format!("`{p}`")).collect::<Vec<_>>().join(".");
    let (t, s) = (quote(&table), quote(&schema));
    let token = world.alice.token(false).await.unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    for sql in [
        format!("CREATE FUNCTION {s}.`is_eu` (region STRING) RETURNS BOOLEAN RETURN region = 'EU'"),
        format!("CREATE FUNCTION {s}.`eu_only` (region STRING) RETURNS BOOLEAN RETURN {s}.`is_eu`(region)"),
        format!(
            "CREATE FUNCTION {s}.`mask_email` (email STRING) RETURNS STRING \
             RETURN CASE WHEN is_account_group_member('dr-readers') THEN email ELSE '***' END"
        ),
        format!("ALTER TABLE {t} SET ROW FILTER {s}.`eu_only` ON (region)"),
        format!("ALTER TABLE {t} ALTER COLUMN email SET MASK {s}.`mask_email`"),
        format!("CREATE VIEW {s}.`eu_view` AS SELECT {s}.`is_eu`(region) AS eu FROM {t}"),
    ] {
        world.workspaces.primary.query(&token, PRIMARY_WAREHOUSE_ID, &sql, deadline).await.unwrap();
    }

    let plan = world.plan().await;
    assert_eq!(plan.blocked().count(), 0, "{:?}", plan.blocked().map(|a| a.describe()).collect::<Vec<_>>());
    let at = |id: &str| {
        plan.actions.iter().position(|a| a.id.0 == id).unwrap_or_else(|| panic!("no {id}: {:?}", plan.actions))
    };
    let function = |name: &str| at(&format!("function:function:{schema}.{name}"));
    assert!(function("is_eu") < function("eu_only"));
    assert!(function("is_eu") < at(&format!("view:view:{schema}.eu_view")));
    let filter = at(&format!("protect:table:{table}:row-filter"));
    let mask = at(&format!("protect:table:{table}:mask:email"));
    assert!(function("eu_only") < filter && function("mask_email") < mask);
    let grants: Vec<&drbot::replication::Action> = plan
        .actions
        .iter()
        .filter(|a| a.object.full_name() == table && matches!(a.kind, ActionKind::Grant { .. }))
        .collect();
    assert!(!grants.is_empty(), "the table's grants are planned");
    for grant in grants {
        let position = at(&grant.id.0);
        assert!(position > filter && position > mask, "{} runs before the protection", grant.id);
    }

    let (report, _) = world.run(&plan, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    let (primary, secondary) = world.read().await;
    assert_eq!(secondary.tables[&table].protection, primary.tables[&table].protection);
    for name in ["is_eu", "eu_only", "mask_email"] {
        let full = format!("{schema}.{name}");
        assert!(secondary.functions[&full].same_definition(&primary.functions[&full]), "{full}");
    }
    assert!(drbot::readiness::report::protection_findings(&primary, &secondary).is_empty());
    assert_eq!(world.drift().await, Vec::new(), "converged to zero drift");
    assert!(world.plan().await.is_empty(), "a second plan has nothing to do");
}

/// A CSV table on the primary whose files storage replication has not
/// copied yet (its path is empty): registered blind, as before, Databricks
/// cannot infer its schema (`UNABLE_TO_INFER_SCHEMA`). drbot plans it with
/// the primary's columns, partitioning and format options, and while the
/// path is empty reports it as waiting for storage replication (skipped with
/// that reason, not failed, and not registered: a partitioned table
/// registered on an empty path would not see partitions arriving later);
/// once the files are there, the next run registers it and both sides have
/// the same definition.
#[tokio::test]
async fn a_non_delta_table_waits_for_its_files_then_is_registered_with_its_definition() {
    let world = world().await;
    let schema = {
        let primary = world.sandbox.primary.metastore.read();
        let csv = primary.tables.values().find(|t| t.data_source_format.as_deref() == Some("CSV")).unwrap();
        format!("{}.{}", csv.catalog, csv.schema)
    };
    let s = schema.split('.').map(|p| format!("`{p}`")).collect::<Vec<_>>().join(".");
    let location = "abfss://geo@stgeo.dfs.core.windows.net/landing/not_yet_replicated";
    let token = world.alice.token(false).await.unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let create = format!(
        "CREATE TABLE {s}.`late_csv` (`id` BIGINT, `region` STRING) USING csv \
         OPTIONS ('header' = 'true', 'delimiter' = ';') PARTITIONED BY (`region`) LOCATION '{location}'"
    );
    world.workspaces.primary.query(&token, PRIMARY_WAREHOUSE_ID, &create, deadline).await.unwrap();
    let table = format!("{schema}.late_csv");

    // What the registration used to send fails on the secondary.
    let (primary, _) = world.read().await;
    assert!(!primary.tables[&table].columns.is_empty());
    assert_eq!(
        primary.tables[&table].format_options.as_ref().and_then(|o| o.get("delimiter")).map(String::as_str),
        Some(";")
    );
    let blind = format!("CREATE TABLE IF NOT EXISTS {s}.`late_csv` USING `csv` LOCATION '{location}'");
    let refused = world.workspaces.secondary.query(&token, SANDBOX_WAREHOUSE_ID, &blind, deadline).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("UNABLE_TO_INFER_SCHEMA")));

    let plan = world.plan().await;
    let register = plan.actions.iter().find(|a| a.object.full_name() == table).expect("the table is planned");
    assert!(
        matches!(&register.kind, ActionKind::RegisterExternalTable { columns, options, .. }
            if columns.len() == 2 && options.get("header").map(String::as_str) == Some("true")),
        "{register:?}"
    );
    let ActionKind::RegisterExternalTable { location: mapped, columns, .. } = &register.kind else { unreachable!() };
    let (report, _) = world.run(&plan, options()).await;
    let result = &report.results[&register.id];
    assert_eq!(result.status, ActionStatus::Skipped, "{result:?}");
    let reason = result.error.as_deref().unwrap_or_default();
    assert!(reason.contains("waiting for storage replication") && reason.contains(mapped.as_str()), "{reason}");
    assert_eq!(report.count(ActionStatus::Failed), 0, "{:#?}", failures(&report));
    let (_, secondary) = world.read().await;
    assert!(!secondary.tables.contains_key(&table), "not registered on an empty path");

    // Storage replication delivers the files; the next run registers the table.
    let files = columns.iter().map(|c| sandbox::databricks::metastore::Column {
        name: c.name.clone(),
        type_text: c.type_text.clone(),
        partition_index: None,
    });
    world.sandbox.secondary.account.storage.set_files(mapped, Some(files.collect()));
    let plan = world.plan().await;
    let (report, _) = world.run(&plan, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    let (primary, secondary) = world.read().await;
    let (a, b) = (&primary.tables[&table], &secondary.tables[&table]);
    assert!(a.columns.len() == b.columns.len() && a.columns.iter().zip(&b.columns).all(|(x, y)| x.same(y)));
    assert_eq!(a.format_options, b.format_options);
    assert_eq!(world.drift().await, Vec::new(), "converged to zero drift");
    assert!(world.plan().await.is_empty());
}

/// Two pairs (two sandboxes: each its own workspaces and warehouse) replicate
/// at the same time, each holding its own warehouse's slots: with the second
/// pair's warehouse budget spent by someone else, the first pair's run still
/// goes to the end, and the second's submits no statement until its own
/// slots free, then converges too.
#[tokio::test]
async fn two_pairs_replicate_at_once_each_on_its_own_warehouse_budget() {
    use drbot::replication::slots::WarehouseSlots;
    let (first, second) = tokio::join!(world(), world());
    let slots = WarehouseSlots::new(2);
    let first_slots = slots.of(&first.sandbox.secondary_url(), SANDBOX_WAREHOUSE_ID);
    let second_slots = slots.of(&second.sandbox.secondary_url(), SANDBOX_WAREHOUSE_ID);
    assert!(!Arc::ptr_eq(&first_slots, &second_slots), "two warehouses, two budgets");
    let (first_plan, second_plan) = tokio::join!(first.plan(), second.plan());
    let warehouse_actions = |plan: &Plan| {
        plan.actions
            .iter()
            .filter(|a| drbot::replication::run::lane(a) == drbot::replication::execute::Lane::Warehouse)
            .count()
    };
    assert!(warehouse_actions(&first_plan) > 2 && warehouse_actions(&second_plan) > 2);

    // Every slot of the second pair's warehouse is taken.
    let held = second_slots.clone().acquire_many_owned(2).await.unwrap();
    let with = |slots: &Arc<tokio::sync::Semaphore>| RunOptions { warehouse_slots: Some(slots.clone()), ..options() };
    let (first_tx, _first_rx) = mpsc::unbounded_channel();
    let (second_tx, mut second_rx) = mpsc::unbounded_channel();
    let first_run =
        run_plan(&first_plan, &first.workspaces, &*first.alice, with(&first_slots), CancellationToken::new(), first_tx);
    let second_run = run_plan(
        &second_plan,
        &second.workspaces,
        &*second.alice,
        with(&second_slots),
        CancellationToken::new(),
        second_tx,
    );
    tokio::pin!(second_run);
    let first_report = tokio::select! {
        report = first_run => report,
        _ = &mut second_run => panic!("the second pair finished without any slot of its warehouse"),
    };
    assert!(first_report.is_success(), "{:?}", failures(&first_report));
    assert_eq!(first_slots.available_permits(), 2, "every slot the first run held is back");
    let mut submitted = 0;
    while let Ok(event) = second_rx.try_recv() {
        submitted += usize::from(matches!(event, RunEvent::StatementSubmitted { .. }));
    }
    assert_eq!(submitted, 0, "no statement of the second pair ran on a slot it did not hold");

    drop(held);
    let second_report = second_run.await;
    assert!(second_report.is_success(), "{:?}", failures(&second_report));
    assert!(first.drift().await.iter().all(|d| is_bootstrap(d.object.kind)), "the first pair converged");
    assert!(second.drift().await.iter().all(|d| is_bootstrap(d.object.kind)), "the second pair converged");
}

/// Materialized views and streaming tables: the ones Databricks SQL
/// defines are made again on the secondary from their definitions, after
/// what they read and before the views reading them, with their grants;
/// one a pipeline publishes is reported blocked, naming the pipeline to
/// deploy. Applied, each is present or blocked with its reason, and a
/// second plan has nothing left but that one.
#[tokio::test]
async fn materialized_views_and_streaming_tables_are_recreated_and_pipeline_ones_reported() {
    let world = world().await;
    let (table, schema) = admin_owned_managed_table(&world, false);
    let quote = |name: &str| name.split('.').map(|p| format!("`{p}`")).collect::<Vec<_>>().join(".");
    let (t, s) = (quote(&table), quote(&schema));
    let token = world.alice.token(false).await.unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    for sql in [
        format!("CREATE MATERIALIZED VIEW {s}.`daily` AS SELECT * FROM {t}"),
        format!("CREATE STREAMING TABLE {s}.`feed` AS SELECT * FROM STREAM {t}"),
        format!("GRANT SELECT ON TABLE {s}.`daily` TO `dr-readers`"),
        format!("CREATE VIEW {s}.`daily_report` AS SELECT * FROM {s}.`daily`"),
    ] {
        world.workspaces.primary.query(&token, PRIMARY_WAREHOUSE_ID, &sql, deadline).await.unwrap();
    }
    // Never cloned: "not supported as source or target tables for CLONE".
    let clone = format!("CREATE OR REPLACE TABLE {s}.`daily_copy` DEEP CLONE {s}.`daily`");
    let refused = world.workspaces.primary.query(&token, PRIMARY_WAREHOUSE_ID, &clone, deadline).await;
    assert!(format!("{refused:?}").contains("DELTA_DEEP_CLONE_MV_ST_ERROR"), "{refused:?}");
    let gold = format!("{schema}.gold");
    assert!(sandbox::databricks::datasets::publish(
        &mut world.sandbox.primary.metastore.write(),
        &gold,
        "MATERIALIZED_VIEW",
        &format!("SELECT * FROM {t}"),
        &[&table],
        "0f1e2d3c-pipeline",
        sandbox::databricks::seed::ADMIN_GROUP,
        1_800_000_000_000,
    ));

    let plan = world.plan().await;
    let at = |id: &str| {
        plan.actions.iter().position(|a| a.id.0 == id).unwrap_or_else(|| panic!("no {id}: {:?}", plan.actions))
    };
    let daily = at(&format!("dataset:table:{schema}.daily"));
    let feed = at(&format!("dataset:table:{schema}.feed"));
    // After what they read, when this plan copies it.
    if let Some(clone) = plan.actions.iter().position(|a| a.object.full_name() == table && a.id.0.starts_with("clone:"))
    {
        assert!(clone < daily && clone < feed);
        assert!(plan.actions[daily].depends_on.contains(&plan.actions[clone].id));
    }
    assert!(daily < at(&format!("view:view:{schema}.daily_report")));
    assert!(daily < at(&format!("grant:table:{schema}.daily:dr-readers")));
    let blocked: Vec<String> = plan.blocked().map(|a| a.describe()).collect();
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert!(blocked[0].contains(&gold) && blocked[0].contains("pipeline 0f1e2d3c-pipeline"), "{blocked:?}");

    let (report, _) = world.run(&plan, options()).await;
    // Every action has a result: the blocked one failed with its reason,
    // what waits on it skipped, everything else done.
    for action in &plan.actions {
        let result = &report.results[&action.id];
        let about_gold = action.object.full_name() == gold || matches!(action.kind, ActionKind::SetOwner { .. });
        assert!(result.status == ActionStatus::Succeeded || about_gold, "{}: {result:?}", action.id);
    }
    let (primary, secondary) = world.read().await;
    for name in ["daily", "feed"] {
        let full = format!("{schema}.{name}");
        let (want, got) = (&primary.tables[&full], &secondary.tables[&full]);
        assert_eq!((&got.kind, &got.view_definition), (&want.kind, &want.view_definition), "{full}");
        assert_eq!(got.common.grants, want.common.grants, "{full}");
    }
    assert!(!secondary.tables.contains_key(&gold), "a pipeline's table is never made by SQL");
    let again = world.plan().await;
    let left: Vec<String> = again.actions.iter().map(|a| a.describe()).collect();
    assert!(
        again.actions.iter().all(|a| a.object.full_name() == gold || matches!(a.kind, ActionKind::SetOwner { .. })),
        "only the pipeline's table (and the owner changes waiting on it) is left: {left:?}"
    );
    assert_eq!(again.blocked().count(), 1, "{left:?}");
}

/// Registered models: a missing model is created with its comment; each
/// version is reported blocked with the MLflow copy a person can run (the
/// API creates no version), and the alias on it and the owner wait. Once
/// a person copied the versions, the next run sets the alias and hands the
/// model to its owner, and nothing about models is left.
#[tokio::test]
async fn a_registered_model_is_created_its_versions_reported_and_its_aliases_follow_the_copies() {
    let world = world().await;
    let schema = {
        let primary = world.sandbox.primary.metastore.read();
        primary
            .schemas
            .values()
            .find(|s| primary.catalogs.get(&s.catalog).is_some_and(|c| c.catalog_type == "MANAGED_CATALOG"))
            .expect("the seed has schemas")
            .full_name()
    };
    let model = format!("{schema}.churn");
    assert!(sandbox::databricks::models::seed(
        &mut world.sandbox.primary.metastore.write(),
        &model,
        "predicts churn",
        2,
        &[("champion", 2)],
        "bob@contoso.example",
        1_800_000_000_000,
    ));

    let plan = world.plan().await;
    let model_actions: Vec<&drbot::replication::Action> =
        plan.actions.iter().filter(|a| a.object.kind == ObjectKind::Model).collect();
    let blocked: Vec<String> = plan.blocked().map(|a| a.describe()).collect();
    assert_eq!(blocked.len(), 2, "{blocked:?}");
    assert!(blocked.iter().all(|b| b.contains(&model) && b.contains("copy_model_version")), "{blocked:?}");
    assert_eq!(model_actions.len(), 5, "create, two versions, the alias, the owner: {model_actions:?}");

    let (report, _) = world.run(&plan, options()).await;
    for action in &plan.actions {
        let result = &report.results[&action.id];
        let waits = action.object.kind == ObjectKind::Model && !action.id.0.starts_with("model:")
            || matches!(action.kind, ActionKind::SetOwner { .. });
        assert!(result.status == ActionStatus::Succeeded || waits, "{}: {result:?}", action.id);
    }
    let (primary, secondary) = world.read().await;
    let copy = &secondary.models[&model];
    assert_eq!((copy.comment.as_deref(), copy.versions.len()), (Some("predicts churn"), 0));

    // A person copies the versions with MLflow (the sandbox stands in for it).
    let versions = world.sandbox.primary.metastore.read().models[&model].versions.clone();
    world.sandbox.secondary.metastore.write().models.get_mut(&model).unwrap().versions = versions;
    let plan = world.plan().await;
    assert_eq!(plan.blocked().count(), 0, "{:?}", plan.blocked().map(|a| a.describe()).collect::<Vec<_>>());
    let (report, _) = world.run(&plan, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    let (_, secondary) = world.read().await;
    assert_eq!(secondary.models[&model], primary.models[&model]);
    let again = world.plan().await;
    assert!(again.actions.iter().all(|a| a.object.kind != ObjectKind::Model), "{:?}", again.actions);
}

/// The comments, tags and table properties on the seeded primary (catalog
/// to column) are what a clone does not carry: the plan sets them after
/// the clone, and the secondary then holds the same, read back through
/// `information_schema`'s tag views and the tables list. Metadata changed on
/// the secondary by hand is drift, and the next run puts it back.
#[tokio::test]
async fn comments_tags_and_properties_arrive_after_the_clone_and_drift_is_put_back() {
    use drbot::replication::metadata::user_properties;
    use drbot::replication::metadata_change::MetadataChange;
    let world = world().await;
    let (primary, secondary) = world.read().await;
    assert!(!primary.is_skipped("", drbot::replication::snapshot::SkippedPart::Tags), "read through the warehouse");
    let tagged: Vec<String> =
        primary.tables.values().filter(|t| !t.common.tags.is_empty()).map(|t| t.full_name()).collect();
    assert_eq!(tagged.len(), 2, "the seed tags two tables");
    let plan = plan(&primary, &secondary, &world.config);
    for name in &tagged {
        let set_tags = plan
            .actions
            .iter()
            .find(|a| {
                a.object.full_name() == *name && matches!(a.kind, ActionKind::Metadata(MetadataChange::SetTags { .. }))
            })
            .unwrap_or_else(|| panic!("no tags for {name}"));
        // After the clone when there is one (the clone carries no tags).
        if let Some(clone) = plan.actions.iter().find(|a| {
            a.object.full_name() == *name
                && matches!(a.kind, ActionKind::CloneTable { reason: CloneReason::Missing, .. })
        }) {
            assert!(set_tags.depends_on.contains(&clone.id), "{set_tags:?}");
        }
    }
    let (report, _) = world.run(&plan, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));

    let (primary, secondary) = world.read().await;
    let catalog = primary.catalogs.values().find(|c| !c.common.tags.is_empty()).expect("a tagged catalog");
    assert_eq!(secondary.catalogs[&catalog.name].common.tags, catalog.common.tags);
    for name in &tagged {
        let (want, got) = (&primary.tables[name], &secondary.tables[name]);
        assert_eq!(got.common.comment, want.common.comment, "{name}");
        assert_eq!(got.common.tags, want.common.tags, "{name}");
        assert_eq!(user_properties(&got.common.properties), user_properties(&want.common.properties), "{name}");
        assert_eq!(got.column_metadata, want.column_metadata, "{name}");
        assert!(!want.column_metadata["customer_email"].tags.is_empty());
    }
    assert_eq!(diff(&primary, &secondary, &world.config), Vec::new());

    // By hand on the secondary: a tag added, a comment changed, a column
    // tag dropped. Readiness sees drift; the next plan undoes exactly that.
    {
        let mut metastore = world.sandbox.secondary.metastore.write();
        let table = metastore.tables.get_mut(&tagged[0]).unwrap();
        table.common.tags.insert("temporary".into(), "yes".into());
        table.common.comment = Some("edited on the secondary".into());
        table.column_metadata.get_mut("customer_email").unwrap().tags.clear();
    }
    let drift = world.drift().await;
    let metadata: Vec<_> = drift.iter().filter(|d| matches!(d.change, Change::Metadata(_))).collect();
    assert_eq!(metadata.len(), 1, "{drift:?}");
    let summary = drbot::readiness::drift::summarise(&drift);
    assert_eq!((summary.metadata.objects, summary.metadata.fields), (1, 3), "{summary:?}");
    let again = world.plan().await;
    let described: Vec<String> = again.actions.iter().map(|a| a.describe()).collect();
    assert_eq!(again.actions.len(), 3, "{described:?}");
    assert!(again.actions.iter().all(|a| matches!(a.kind, ActionKind::Metadata(_))), "{described:?}");
    let (report, _) = world.run(&again, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    assert_eq!(world.drift().await, Vec::new());
}

/// A governed tag may be assigned only by who holds ASSIGN on it, whoever
/// owns the object: Databricks refuses the statement, and the run reports
/// that object's tag action failed with the reason, the rest done. Once
/// the runner may assign it, the next run converges.
#[tokio::test]
async fn a_governed_tag_the_runner_may_not_assign_fails_that_object_with_the_reason() {
    use drbot::replication::metadata_change::MetadataChange;
    let world = world().await;
    world.sandbox.secondary.metastore.write().governed_tags.insert("data_owner".into(), ["stewards".into()].into());
    let plan = world.plan().await;
    let (report, _) = world.run(&plan, options()).await;
    let failed: Vec<_> = report.results.iter().filter(|(_, r)| r.status == ActionStatus::Failed).collect();
    assert_eq!(failed.len(), 2, "{:#?}", failures(&report));
    let tables: BTreeSet<String> = failed.iter().map(|(id, _)| plan.get(id).unwrap().object.full_name()).collect();
    // Anything else not done waited on those (the table's owner change).
    for (id, result) in report.results.iter().filter(|(_, r)| r.status == ActionStatus::Skipped) {
        assert!(tables.contains(&plan.get(id).unwrap().object.full_name()), "{id}: {result:?}");
    }
    for (id, result) in &failed {
        let action = plan.get(id).unwrap();
        assert!(
            matches!(&action.kind, ActionKind::Metadata(MetadataChange::SetTags { column: None, tags }) if tags.contains_key("data_owner")),
            "{action:?}"
        );
        assert_eq!(result.status, ActionStatus::Failed);
        let error = result.error.as_deref().unwrap_or_default();
        assert!(error.contains("ASSIGN") && error.contains("data_owner"), "{error}");
    }
    let drift = world.drift().await;
    assert!(drift.iter().any(|d| matches!(d.change, Change::Metadata(_))), "{drift:?}");
    assert!(drift.iter().all(|d| tables.contains(&d.object.full_name())), "{drift:?}");

    world
        .sandbox
        .secondary
        .metastore
        .write()
        .governed_tags
        .insert("data_owner".into(), ["stewards".into(), "alice@contoso.example".into()].into());
    let again = world.plan().await;
    let (report, _) = world.run(&again, options()).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    assert_eq!(world.drift().await, Vec::new());
}
