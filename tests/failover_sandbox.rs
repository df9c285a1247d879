//! The failover runbooks run by drbot's runner over the live services
//! (`src/bot/failover_services.rs`) against the sandbox: real Jobs,
//! Warehouses, SQL, ARM and store calls, the replication's own sync. Each
//! test starts from a pair replicated once, with the primary's jobs copied
//! to the secondary paused (as the asset sync leaves them), a warehouse
//! running on the primary, a run active there and a geo-redundant storage
//! account.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use drbot::bot::failover_services::{versions_key, LiveServices};
use drbot::failover::aliases::{DnsAlias, RecordKind};
use drbot::failover::freeze::FreezeOptions;
use drbot::failover::jobs::SOURCE_JOB_TAG;
use drbot::failover::loss::Loss;
use drbot::failover::mode::Mode;
use drbot::failover::progress::Progress;
use drbot::failover::run::{run, Ended, Halt, Journal, RunOptions, Services};
use drbot::failover::runbook::{plan, Runbook, RunbookSettings, StepKind};
use drbot::failover::warehouses::{WarehouseControl, WarehouseState};
use drbot::pairs::Side;
use sandbox::databricks::seed::ADMIN_GROUP;
use sandbox::databricks::Workspace;
use sandbox::faults::FaultConfig;
use serde_json::{json, Value};
use support::runbook::primary_reads_secondary_storage;
use support::World;

const PAIR: &str = "default";
const TRIGGERS: [&str; 3] = ["schedule", "trigger", "continuous"];
const BI: &str = "BI dashboards";
/// The private DNS zone the clients' alias of the pair lives in, and the alias.
const ZONE: &str = "corp.contoso.internal";
const ALIAS: &str = "databricks";
const PRIMARY_ADDRESS: &str = "10.1.0.4";
/// The job validation runs once on the promoted side (its copy has its name).
const VALIDATION_JOB: &str = "ops-pipeline-0008";
/// A group the freeze takes MODIFY from (the DR group, `ADMIN_GROUP`, keeps it).
const READERS: &str = "dr-readers";
const SECONDARY_ADDRESS: &str = "10.2.0.4";

/// Checkpoints kept in memory.
#[derive(Default)]
struct Memory {
    saved: Option<Progress>,
}

impl Journal for Memory {
    async fn save(&mut self, progress: &Progress) -> Result<(), Halt> {
        self.saved = Some(progress.clone());
        Ok(())
    }

    async fn cancel_requested(&mut self) -> bool {
        false
    }
}

/// Each job's origin (its own id, or the primary job it copies) → the
/// triggers that fire.
fn unpaused(workspace: &Workspace) -> BTreeMap<i64, BTreeSet<String>> {
    workspace
        .job_definitions
        .all()
        .into_iter()
        .filter_map(|(id, settings)| {
            let origin = settings["tags"][SOURCE_JOB_TAG].as_str().map_or(id, |s| s.parse().unwrap());
            let firing: BTreeSet<String> = TRIGGERS
                .iter()
                .filter(|t| settings[**t].is_object() && settings[**t]["pause_status"] != "PAUSED")
                .map(|t| t.to_string())
                .collect();
            (!firing.is_empty()).then_some((origin, firing))
        })
        .collect()
}

/// A commit to `table` at `commit_ms` (an external table's files too); its version.
fn write(workspace: &Workspace, table: &str, commit_ms: i64) -> i64 {
    let mut metastore = workspace.metastore.write();
    let table = metastore.tables.get_mut(table).unwrap();
    table.append(commit_ms);
    if let Some(path) = &table.storage_location {
        let files = (table.delta_version, commit_ms);
        workspace.account.storage.tables.write().insert(path.trim_end_matches('/').to_string(), files);
    }
    table.delta_version
}

/// Every warehouse's state by name.
async fn warehouse_states(services: &LiveServices, side: Side) -> BTreeMap<String, WarehouseState> {
    services.warehouses(side).warehouses().await.unwrap().into_iter().map(|w| (w.name, w.state)).collect()
}

struct Setup {
    world: World,
    storage_id: String,
    /// The primary's jobs' firing triggers before anything ran.
    original_jobs: BTreeMap<i64, BTreeSet<String>>,
    /// A managed Delta table every runbook counts.
    smoke: String,
}

impl Setup {
    async fn new() -> Setup {
        let world = World::start().await;
        let sandbox = &world.sandbox;
        // The asset sync's copies: every trigger paused, tagged with the origin.
        for (id, mut settings) in sandbox.primary.job_definitions.all() {
            for trigger in TRIGGERS {
                if let Some(object) = settings.get_mut(trigger).and_then(Value::as_object_mut) {
                    object.insert("pause_status".into(), json!("PAUSED"));
                }
            }
            if !settings["tags"].is_object() {
                settings["tags"] = json!({});
            }
            settings["tags"][SOURCE_JOB_TAG] = Value::String(id.to_string());
            sandbox.secondary.job_definitions.insert("alice@contoso.example", settings).unwrap();
        }
        let original_jobs = unpaused(&sandbox.primary);
        assert!(!original_jobs.is_empty() && original_jobs.len() < sandbox.primary.job_definitions.all().len());
        sandbox.primary.warehouses.seed(true);
        sandbox.secondary.warehouses.seed(false);
        sandbox.arm.add_storage_account("rg-dr", "stext", "westeurope", "northeurope", "Standard_RAGRS");
        sandbox.arm.set_storage_failover_duration(Duration::from_millis(200));
        sandbox.arm.add_private_dns_zone("rg-hub", ZONE);
        // The readers' group may write the main catalog, as the DR group may.
        for group in [READERS, ADMIN_GROUP] {
            let mut metastore = sandbox.primary.metastore.write();
            let main = metastore.catalogs.get_mut("main").expect("the main catalog");
            main.common.grants.entry(group.into()).or_default().insert("MODIFY".into());
        }
        let storage_id = format!(
            "/subscriptions/{}/resourceGroups/rg-dr/providers/Microsoft.Storage/storageAccounts/stext",
            sandbox::SANDBOX_SUBSCRIPTION_ID
        );
        let smoke = {
            let metastore = sandbox.primary.metastore.read();
            let table = metastore
                .tables
                .values()
                .find(|t| t.table_type == "MANAGED" && t.data_source_format.as_deref() == Some("DELTA"))
                .expect("a managed Delta table");
            format!("{}.{}.{}", table.catalog, table.schema, table.name)
        };
        let setup = Setup { world, storage_id, original_jobs, smoke };
        let sandbox = &setup.world.sandbox;
        // The BI warehouse runs on the primary; from now on a start or stop takes a moment.
        let services = setup.services().await;
        let bi = services.warehouses(Side::Primary).warehouses().await.unwrap();
        let bi = bi.iter().find(|w| w.name == BI).unwrap();
        services.warehouses(Side::Primary).start(&bi.id).await.unwrap();
        for workspace in [&sandbox.primary, &sandbox.secondary] {
            workspace.warehouses.set_power_delay(Duration::from_millis(300));
        }
        // Every Delta table written since the secondary's copies were made
        // (the seed has some left by an older tool): the first replication
        // clones and records them all.
        let soon = chrono::Utc::now().timestamp_millis() + 60_000;
        let delta: Vec<String> = {
            let metastore = sandbox.primary.metastore.read();
            let tables = metastore.tables.iter();
            tables.filter(|(_, t)| t.data_source_format.as_deref() == Some("DELTA")).map(|(n, _)| n.clone()).collect()
        };
        for table in delta {
            write(&sandbox.primary, &table, soon);
        }
        // Replicated once, as a `replicate` would have.
        let first = services.sync(Side::Primary, Side::Secondary).await.expect("the first replication");
        assert!(!first.frozen.is_empty() && first.frozen == first.held, "{first:?}");
        setup
    }

    async fn services(&self) -> LiveServices {
        let bot = &self.world.bot.app.bot;
        bot.failover_services_as_bot(PAIR).await.unwrap().with_arm_poll(Duration::from_millis(50))
    }

    async fn runbook(&self, mode: Mode, storage: bool) -> Runbook {
        let store = &self.world.bot.app.store;
        let pair = store.pair(PAIR).await.unwrap().unwrap();
        let settings = RunbookSettings {
            run_wait_ms: 500,
            forced_timeout_ms: 3_000,
            storage_account_id: storage.then(|| self.storage_id.clone()),
            smoke_tables: vec![self.smoke.clone()],
            aliases: vec![self.alias()],
            validate_job: Some(VALIDATION_JOB.into()),
            validate_job_timeout_ms: 60_000,
            freeze: FreezeOptions { stop_warehouses: true, revoke_modify_except: Some(ADMIN_GROUP.into()) },
        };
        let versions = store.table_versions(PAIR).await.unwrap();
        plan(&pair, mode, &settings, &versions, &[], chrono::Utc::now().timestamp_millis()).unwrap()
    }

    async fn run(&self, runbook: &Runbook) -> (Ended, Progress) {
        let services = self.services().await;
        let mut progress = Progress::new(services.now_ms());
        let ended =
            run(&services, &mut Memory::default(), runbook, RunOptions::default(), &mut progress).await.unwrap();
        (ended, progress)
    }

    /// The alias clients reach the pair's SQL endpoint by: an A record to
    /// each side's private endpoint.
    fn alias(&self) -> DnsAlias {
        DnsAlias {
            zone: format!(
                "/subscriptions/{}/resourceGroups/rg-hub/providers/Microsoft.Network/privateDnsZones/{ZONE}",
                sandbox::SANDBOX_SUBSCRIPTION_ID
            ),
            name: ALIAS.into(),
            kind: RecordKind::A,
            primary: PRIMARY_ADDRESS.into(),
            secondary: SECONDARY_ADDRESS.into(),
            ttl: 30,
        }
    }

    /// Where the alias points now (`None`: never written).
    fn alias_address(&self) -> Option<String> {
        let record = self.world.sandbox.arm.dns_record("rg-hub", ZONE, "A", ALIAS);
        record.map(|(addresses, ttl)| {
            assert_eq!((addresses.len(), ttl), (1, 30), "{addresses:?}");
            addresses[0].clone()
        })
    }

    async fn active(&self) -> Side {
        self.world.bot.app.store.pair(PAIR).await.unwrap().unwrap().active
    }

    fn storage_region(&self) -> String {
        self.world.sandbox.arm.storage_account_location("rg-dr", "stext").unwrap()
    }
}

/// How many runs the job named `name` has had in `workspace`.
fn runs_of(workspace: &Workspace, name: &str) -> usize {
    let jobs = workspace.job_definitions.all();
    let (id, _) = jobs.iter().find(|(_, settings)| settings["name"] == name).expect("the validation job");
    workspace.jobs.runs_of(*id).len()
}

/// Whether `group` holds MODIFY on the main catalog of `workspace`.
fn may_modify(workspace: &Workspace, group: &str) -> bool {
    let metastore = workspace.metastore.read();
    metastore.catalogs["main"].common.grants.get(group).is_some_and(|held| held.contains("MODIFY"))
}

fn completed(ended: &Ended) -> &[String] {
    match ended {
        Ended::Completed { findings, .. } => findings,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_planned_failover_moves_the_pair_with_zero_loss_proven_by_version() {
    let setup = Setup::new().await;
    let sandbox = &setup.world.sandbox;
    let job = *setup.original_jobs.keys().next().unwrap();
    sandbox.primary.jobs.start(job, vec!["main".into()], Duration::from_secs(3600));
    // Written after the last replication: the final sync must carry it.
    let late = write(&sandbox.primary, &setup.smoke, chrono::Utc::now().timestamp_millis() + 120_000);

    // A token refused on each side (expired on the way): asked for afresh, once.
    sandbox.primary.reject_next_tokens(1);
    sandbox.secondary.reject_next_tokens(1);

    let (ended, progress) = setup.run(&setup.runbook(Mode::Planned, true).await).await;
    let findings = completed(&ended);

    assert_eq!(setup.active().await, Side::Secondary);
    // Zero loss, by version: each table's copy holds what the frozen primary had.
    assert_eq!(progress.frozen_versions[&setup.smoke], late);
    let recorded = setup.world.bot.app.store.table_versions(PAIR).await.unwrap();
    for (table, version) in &progress.frozen_versions {
        let row = recorded.iter().find(|r| &r.table_name == table).unwrap();
        assert_eq!(row.replicated.map(|c| c.version), Some(*version), "{table}");
    }
    assert_eq!(sandbox.secondary.metastore.read().tables[&setup.smoke].cloned_from.as_ref().map(|c| c.1), Some(late));
    // Exactly the jobs that fired before fire now, on the secondary; nothing on the primary.
    assert_eq!(unpaused(&sandbox.secondary), setup.original_jobs);
    assert!(unpaused(&sandbox.primary).is_empty());
    assert!(sandbox.primary.jobs.active().is_empty(), "the active run was cancelled after the wait");
    let services = setup.services().await;
    assert_eq!(warehouse_states(&services, Side::Secondary).await[BI], WarehouseState::Running);
    assert_eq!(setup.storage_region(), "northeurope");
    assert!(findings.iter().any(|f| f.starts_with(&format!("{}: ", setup.smoke))), "{findings:?}");
    // The clients' alias follows the pair.
    assert_eq!(setup.alias_address().as_deref(), Some(SECONDARY_ADDRESS));
    let resolves = format!("{ALIAS}.{ZONE} now resolves to {SECONDARY_ADDRESS} (TTL 30 s)");
    assert!(findings.iter().any(|f| f == &resolves), "{findings:?}");
    // The freeze's options: the primary's BI warehouse stopped (drbot's own
    // kept), MODIFY taken from all but the DR group there and given here.
    let primary_warehouses = warehouse_states(&services, Side::Primary).await;
    assert_eq!(primary_warehouses[BI], WarehouseState::Stopped);
    assert_eq!(primary_warehouses["drbot sandbox warehouse"], WarehouseState::Running);
    assert!(!may_modify(&sandbox.primary, READERS) && may_modify(&sandbox.primary, ADMIN_GROUP));
    assert!(may_modify(&sandbox.secondary, READERS), "the readers write where work runs now");
    // The validation job ran once on the secondary, and said so.
    assert_eq!((runs_of(&sandbox.secondary, VALIDATION_JOB), runs_of(&sandbox.primary, VALIDATION_JOB)), (1, 0));
    let ran = format!("job {VALIDATION_JOB} ran once on the secondary side: succeeded");
    assert!(findings.iter().any(|f| f.starts_with(&ran)), "{findings:?}");
}

#[tokio::test]
async fn a_failback_restores_the_original_state_and_brings_back_what_was_written_meanwhile() {
    let setup = Setup::new().await;
    let sandbox = &setup.world.sandbox;
    // A failback clones the external tables back by path.
    primary_reads_secondary_storage(sandbox);
    let before = setup.services().await;
    let primary_warehouses = warehouse_states(&before, Side::Primary).await;
    completed(&setup.run(&setup.runbook(Mode::Planned, false).await).await.0);
    assert_eq!(setup.active().await, Side::Secondary);
    // Written on the secondary while it serves.
    let written = write(&sandbox.secondary, &setup.smoke, chrono::Utc::now().timestamp_millis() + 120_000);

    let runbook = setup.runbook(Mode::Failback, false).await;
    assert!(runbook.steps.iter().any(|s| s.kind == StepKind::CatchUp));
    let (ended, progress) = setup.run(&runbook).await;
    completed(&ended);

    assert_eq!(setup.active().await, Side::Primary);
    assert_eq!(unpaused(&sandbox.primary), setup.original_jobs, "the original pause states");
    assert!(unpaused(&sandbox.secondary).is_empty(), "the secondary frozen again");
    let services = setup.services().await;
    assert_eq!(warehouse_states(&services, Side::Primary).await, primary_warehouses);
    assert_eq!(warehouse_states(&services, Side::Secondary).await[BI], WarehouseState::Stopped, "passive again");
    assert!(may_modify(&sandbox.primary, READERS) && !may_modify(&sandbox.secondary, READERS), "rights back home");
    // The write came back, proven by the secondary's own version.
    assert_eq!(progress.frozen_versions[&setup.smoke], written);
    let primary_copy = sandbox.primary.metastore.read().tables[&setup.smoke].cloned_from.clone();
    assert_eq!(primary_copy.map(|c| c.1), Some(written));
    let back = setup.world.bot.app.store.table_versions(&versions_key(PAIR, Side::Secondary)).await.unwrap();
    let row = back.iter().find(|r| r.table_name == setup.smoke).unwrap();
    assert_eq!(row.replicated.map(|c| c.version), Some(written), "recorded apart from the primary's versions");
    assert_eq!(setup.alias_address().as_deref(), Some(PRIMARY_ADDRESS), "the alias is back on the primary");
    assert_eq!(sandbox.arm.dns_writes().len(), 2, "written once each way");
    assert_eq!(runs_of(&sandbox.primary, VALIDATION_JOB), 1, "validated on the primary once it serves again");
}

#[tokio::test]
async fn a_forced_failover_with_the_primary_down_completes_and_reports_each_table_s_loss_window() {
    let setup = Setup::new().await;
    let sandbox = &setup.world.sandbox;
    sandbox.primary.set_unreachable(true);

    let runbook = setup.runbook(Mode::Forced, true).await;
    assert!(!runbook.loss.is_empty());
    for table in &runbook.loss {
        assert!(matches!(table.loss, Loss::Window { ms, .. } if ms >= 0), "{table:?}");
    }
    let (ended, progress) = setup.run(&runbook).await;
    let findings = completed(&ended);

    assert_eq!(setup.active().await, Side::Secondary);
    assert!(findings.iter().any(|f| f.starts_with("the primary side is unreachable")), "{findings:?}");
    for step in ["freeze", "final_sync"] {
        assert!(
            findings.iter().any(|f| f.starts_with(&format!("{step}:")) && f.contains("best effort")),
            "{findings:?}"
        );
    }
    assert!(findings.iter().any(|f| f.contains("pause states are unknown")), "{findings:?}");
    assert!(unpaused(&sandbox.secondary).is_empty(), "nothing unpaused without the recorded states");
    assert_eq!(setup.storage_region(), "northeurope", "the unplanned storage failover");
    assert!(progress.frozen_versions.is_empty(), "nothing proven from a primary that is down");
    assert_eq!(setup.alias_address().as_deref(), Some(SECONDARY_ADDRESS), "DNS is Azure's, not the region's");
}

#[tokio::test]
async fn a_drill_leaves_both_sides_as_they_were() {
    let setup = Setup::new().await;
    let sandbox = &setup.world.sandbox;
    let job = *setup.original_jobs.keys().next().unwrap();
    sandbox.primary.jobs.start(job, vec!["main".into()], Duration::from_secs(3600));
    let services = setup.services().await;
    let warehouses_before =
        [warehouse_states(&services, Side::Primary).await, warehouse_states(&services, Side::Secondary).await];
    let jobs_before = [unpaused(&sandbox.primary), unpaused(&sandbox.secondary)];

    let (ended, progress) = setup.run(&setup.runbook(Mode::Drill, true).await).await;
    completed(&ended);
    // The rehearsal started the counterparts of the primary's running
    // warehouses, and stopped them again when it returned to passive.
    assert!(!progress.started_warehouses.is_empty(), "{progress:?}");

    assert_eq!(setup.active().await, Side::Primary);
    assert_eq!([unpaused(&sandbox.primary), unpaused(&sandbox.secondary)], jobs_before);
    let warehouses_after =
        [warehouse_states(&services, Side::Primary).await, warehouse_states(&services, Side::Secondary).await];
    assert_eq!(warehouses_after, warehouses_before);
    assert_eq!(sandbox.primary.jobs.active().len(), 1, "the primary's run untouched");
    assert_eq!(setup.storage_region(), "westeurope", "a drill never fails storage over");
    assert!(sandbox.arm.dns_writes().is_empty(), "nor repoints a client");
    assert_eq!(runs_of(&sandbox.secondary, VALIDATION_JOB), 1, "the rehearsal validated the secondary");
    assert_eq!(runs_of(&sandbox.primary, VALIDATION_JOB), 0);
}

#[tokio::test]
async fn with_a_tenth_of_calls_failing_a_failover_completes_or_stops_at_a_named_step_and_resumes() {
    let setup = Setup::new().await;
    let sandbox = &setup.world.sandbox;
    let flaky = FaultConfig { error_5xx_ratio: 0.05, throttle_ratio: 0.05, ..FaultConfig::default() };
    sandbox.primary.faults.set(flaky.clone());
    sandbox.secondary.faults.set(flaky.clone());
    sandbox.arm.faults.set(flaky);

    let runbook = setup.runbook(Mode::Planned, true).await;
    let services = setup.services().await;
    let mut progress = Progress::new(services.now_ms());
    let mut journal = Memory::default();
    let ended = run(&services, &mut journal, &runbook, RunOptions::default(), &mut progress).await.unwrap();
    if let Ended::Stopped { step, why, .. } = &ended {
        // Stopped: it says where and why, every step before it is recorded
        // done, none after it ran, and the pair has not moved unless the
        // promotion itself got that far.
        assert!(!why.is_empty());
        let at = runbook.steps.iter().position(|s| s.kind == *step).unwrap();
        let recorded: Vec<StepKind> = progress.steps.iter().map(|s| s.kind).collect();
        assert_eq!(recorded, runbook.steps[..at].iter().map(|s| s.kind).collect::<Vec<_>>(), "{ended:?}");
        if at < runbook.steps.iter().position(|s| s.kind == StepKind::Promote).unwrap() {
            assert_eq!(setup.active().await, Side::Primary, "{ended:?}");
            assert!(unpaused(&sandbox.secondary).is_empty(), "{ended:?}");
        }
        // The calls heal; the run resumes from its checkpoint and ends.
        for faults in [&sandbox.primary.faults, &sandbox.secondary.faults, &sandbox.arm.faults] {
            faults.set(FaultConfig::default());
        }
        let resumed = run(&services, &mut journal, &runbook, RunOptions::default(), &mut progress).await.unwrap();
        completed(&resumed);
    } else {
        completed(&ended);
    }
    assert_eq!(setup.active().await, Side::Secondary);
    assert_eq!(unpaused(&sandbox.secondary), setup.original_jobs);
    assert!(unpaused(&sandbox.primary).is_empty());
    assert_eq!(setup.storage_region(), "northeurope");
    assert_eq!(sandbox.arm.storage_failover_requests().len(), 1, "asked once");
    assert_eq!(setup.alias_address().as_deref(), Some(SECONDARY_ADDRESS));
    assert_eq!(sandbox.arm.dns_writes().len(), 1, "written once");
}
