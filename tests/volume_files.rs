//! Managed volumes' files against the sandbox's Files API, end to end over
//! REST: the seeded managed volume's files arrive equal, a second run
//! copies nothing, a changed file is copied again, a run killed half way
//! resumes with only what is missing, faults leave every file copied or
//! named with its reason, and a primary the caller may not read is
//! blocked with why. The plan is the part of a full plan that concerns the
//! volume (its catalog, schema and the volume), so each test is about files.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drbot::cli::replicate::render_plan;
use drbot::config::Secret;
use drbot::databricks::statements::Polling;
use drbot::databricks::{RetryPolicy, WorkspaceClient};
use drbot::identity::AccessToken;
use drbot::replication::execute::Limits;
use drbot::replication::mapping::LocationMapping;
use drbot::replication::plan::{ActionId, ActionKind, Plan};
use drbot::replication::read::{read_snapshot, ReadOptions};
use drbot::replication::run::{record, run_plan, ActionStatus, FixedToken, RunOptions, RunReport, Workspaces};
use drbot::replication::volume_files::VolumeCopy;
use drbot::replication::{plan, volume_survey, ReplicationConfig};
use drbot::store::Store;
use sandbox::databricks::seed::{ADMIN_GROUP, LOCATION_MAPPING};
use sandbox::databricks::statements::{StatementTiming, SANDBOX_WAREHOUSE_ID};
use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::faults::FaultConfig;
use sandbox::{Sandbox, SandboxConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long a test waits for something that should happen soon.
const PATIENCE: Duration = Duration::from_secs(20);

/// The seed's managed volume has these files (sandbox `files.rs`).
const SEEDED_FILES: usize = 5;

struct World {
    sandbox: Sandbox,
    tokens: FixedToken,
    token: AccessToken,
    store: Store,
    _dir: tempfile::TempDir,
    /// `main.<schema>.documents`.
    volume: String,
    config: ReplicationConfig,
}

fn retries(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        budget: Duration::from_secs(10),
        max_attempts: attempts,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
    }
}

fn workspaces(sandbox: &Sandbox, attempts: u32) -> Workspaces {
    let client = |url: &str| WorkspaceClient::new(reqwest::Client::new(), url).with_retry(retries(attempts));
    Workspaces {
        primary: client(&sandbox.primary_url()),
        secondary: client(&sandbox.secondary_url()),
        warehouse_id: SANDBOX_WAREHOUSE_ID.into(),
    }
}

fn options(api: usize) -> RunOptions {
    RunOptions {
        limits: Limits { warehouse: 4, api },
        statement_timeout: Duration::from_secs(10),
        action_budget: Duration::from_secs(10),
        polling: Polling { first: Duration::from_millis(5), max: Duration::from_millis(20) },
        backoff: retries(100),
        file_timeout: Duration::from_secs(10),
        ..RunOptions::default()
    }
}

async fn world() -> World {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    for ws in [&sandbox.primary, &sandbox.secondary] {
        ws.statements.set_timing(StatementTiming { speed: 4.0, ..StatementTiming::default() });
        // Small pages, so listings span several.
        ws.set_page_size(2);
    }
    let alice = sandbox.teams.user("alice").unwrap();
    let token = AccessToken::from_secret(Secret::new(sandbox.entra.user_token(
        &alice,
        "volume-tests",
        DATABRICKS_AUDIENCE,
        "user_impersonation",
    )));
    let volume = {
        let metastore = sandbox.primary.metastore.read();
        metastore
            .volumes
            .values()
            .find(|v| v.volume_type == "MANAGED")
            .expect("the seed has a managed volume")
            .full_name()
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("drbot.db").display())).await.unwrap();
    let run = drbot::store::runs::Run {
        id: "run".into(),
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
    let mut config = ReplicationConfig::new(LocationMapping::new(LOCATION_MAPPING.iter().copied()));
    config.prune = true;
    World { sandbox, tokens: FixedToken(token.clone()), token, store, _dir: dir, volume, config }
}

impl World {
    fn root(&self) -> String {
        format!("/Volumes/{}", self.volume.replace('.', "/"))
    }

    /// Reads both sides and lists the volumes' files (patient clients: a
    /// test's faults are for the run), then plans; only the actions on the
    /// volume, its schema and its catalog are kept.
    async fn plan(&self) -> Plan {
        let read = ReadOptions {
            warehouse_id: Some(SANDBOX_WAREHOUSE_ID.into()),
            statement_timeout: Duration::from_secs(10),
            ..ReadOptions::default()
        };
        let patient = workspaces(&self.sandbox, 100);
        let (primary, secondary) = tokio::join!(
            read_snapshot(&patient.primary, &self.token, &read),
            read_snapshot(&patient.secondary, &self.token, &read)
        );
        let (mut primary, mut secondary) = (primary.unwrap(), secondary.unwrap());
        volume_survey::survey(
            &self.store,
            "default",
            &patient.primary,
            &patient.secondary,
            &self.token,
            4,
            &mut primary,
            &mut secondary,
        )
        .await
        .unwrap();
        let full = plan(&primary, &secondary, &self.config);
        let parts: Vec<&str> = self.volume.split('.').collect();
        let ours = BTreeSet::from([parts[0].to_string(), format!("{}.{}", parts[0], parts[1]), self.volume.clone()]);
        Plan {
            actions: full.actions.into_iter().filter(|a| ours.contains(&a.object.full_name())).collect(),
            extras: Vec::new(),
            not_compared: Vec::new(),
        }
    }

    /// Runs `plan`, recording every event in the store as the bot does.
    async fn run(&self, plan: &Plan, workspaces: &Workspaces, options: RunOptions) -> RunReport {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let report = run_plan(plan, workspaces, &self.tokens, options, CancellationToken::new(), tx).await;
        while let Ok(event) = rx.try_recv() {
            record(&self.store, "default", "run", plan, &event).await.unwrap();
        }
        report
    }

    fn files_action(&self, plan: &Plan) -> Option<VolumeCopy> {
        plan.actions.iter().find_map(|a| match &a.kind {
            ActionKind::CopyVolumeFiles(copy) => Some(copy.clone()),
            _ => None,
        })
    }

    fn files_id(&self) -> ActionId {
        ActionId(format!("files:volume:{}", self.volume))
    }

    fn assert_equal_on_both_sides(&self) {
        let root = self.root();
        let primary = self.sandbox.primary.files.files_under(&root);
        let secondary = self.sandbox.secondary.files.files_under(&root);
        assert_eq!(primary.len(), SEEDED_FILES);
        assert_eq!(primary, secondary, "every file arrived with the same bytes");
        let folders = self.sandbox.secondary.files.directories_under(&root);
        assert!(folders.contains(&format!("{root}/archive")), "the empty folder too: {folders:?}");
    }

    fn uploads(&self) -> usize {
        self.sandbox.secondary.counts_by_endpoint().get("files.upload").copied().unwrap_or(0)
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

#[tokio::test]
async fn files_arrive_equal_a_second_run_copies_nothing_and_a_changed_file_is_copied_again() {
    let world = world().await;
    let plan = world.plan().await;
    let copy = world.files_action(&plan).expect("the volume's files are planned");
    assert_eq!(copy.copy.len(), SEEDED_FILES);
    assert!(copy.copy.iter().all(|f| f.new));
    assert!(
        copy.directories.contains(&"archive".to_string()) && copy.directories.contains(&"exports/2026".to_string())
    );
    let dry_run = render_plan(&plan);
    assert!(dry_run.contains(&format!("create managed volume {}", world.volume)), "{dry_run}");
    assert!(
        dry_run.contains(&format!("copy {SEEDED_FILES} file(s), ")),
        "the dry run counts files and bytes: {dry_run}"
    );

    let report = world.run(&plan, &workspaces(&world.sandbox, 5), options(4)).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    let detail = report.results[&world.files_id()].detail.clone().unwrap_or_default();
    assert!(detail.starts_with(&format!("{SEEDED_FILES} file(s) copied")), "{detail}");
    world.assert_equal_on_both_sides();
    // The per-volume result is in the run history, as `run ID` shows it.
    let rows = world.store.run_results("run", false, 0, i64::MAX).await.unwrap();
    let row = rows.iter().find(|r| r.object_name == world.files_id().0).expect("the volume's result is kept");
    assert!(row.action.contains(&format!(": {SEEDED_FILES} file(s) copied")), "{}", row.action);

    // Nothing changed: nothing to copy (and the volume exists now).
    let again = world.plan().await;
    assert!(world.files_action(&again).is_none(), "{}", render_plan(&again));
    assert!(again.actions.iter().all(|a| a.object.full_name() != world.volume), "{}", render_plan(&again));

    // A file rewritten with the same size but new bytes: its time moved, so it is copied again.
    let changed = format!("{}/exports/2026/02/orders.csv", world.root());
    let mut bytes = world.sandbox.primary.files.get(&changed).unwrap().to_vec();
    bytes.reverse();
    world.sandbox.primary.files.put(&changed, &bytes);
    let third = world.plan().await;
    let copy = world.files_action(&third).expect("the changed file is planned");
    let paths: Vec<&str> = copy.copy.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["exports/2026/02/orders.csv"]);
    assert!(!copy.copy[0].new);
    assert_eq!(copy.unchanged as usize, SEEDED_FILES - 1);
    let uploads = world.uploads();
    let report = world.run(&third, &workspaces(&world.sandbox, 5), options(4)).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    assert_eq!(world.uploads() - uploads, 1, "only the changed file is uploaded");
    world.assert_equal_on_both_sides();
}

#[tokio::test]
async fn a_run_killed_mid_copy_resumes_with_only_what_is_missing() {
    let world = world().await;
    let plan = world.plan().await;
    // One file at a time, each slow, so the kill lands between files.
    world.sandbox.primary.faults.set(FaultConfig { latency_ms: Some((30, 30)), ..FaultConfig::default() });
    let killed = {
        let (plan, tokens, store) = (plan.clone(), FixedToken(world.token.clone()), world.store.clone());
        let workspaces = workspaces(&world.sandbox, 5);
        tokio::spawn(async move {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let run = run_plan(&plan, &workspaces, &tokens, options(1), CancellationToken::new(), tx);
            let keep = async {
                while let Some(event) = rx.recv().await {
                    record(&store, "default", "run", &plan, &event).await.unwrap();
                }
            };
            tokio::join!(run, keep);
        })
    };
    let deadline = Instant::now() + PATIENCE;
    let copied_before_the_kill = loop {
        let copied = world.store.copied_files("default").await.unwrap();
        let n = copied.get(&world.volume).map_or(0, |files| files.len());
        if n >= 2 {
            break n;
        }
        assert!(Instant::now() < deadline, "no file was copied in time");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // The kill: the run stops where it is, with no chance to clean up.
    killed.abort();
    let _ = killed.await;
    world.sandbox.primary.faults.set(FaultConfig::default());
    let manifest = world.store.copied_files("default").await.unwrap()[&world.volume].len();
    assert!(manifest >= copied_before_the_kill && manifest < SEEDED_FILES, "killed half way: {manifest}");

    // The resumed attempt of the same plan does not copy again what the manifest has.
    let uploads = world.uploads();
    let mut resumed = options(4);
    resumed.copied_files = Arc::new(volume_survey::manifest(&world.store.copied_files("default").await.unwrap()));
    resumed.resumed = true;
    let report = world.run(&plan, &workspaces(&world.sandbox, 5), resumed).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    assert_eq!(world.uploads() - uploads, SEEDED_FILES - manifest, "only the missing files are uploaded");
    let detail = report.results[&world.files_id()].detail.clone().unwrap_or_default();
    assert!(detail.contains(&format!("{manifest} copied before the restart")), "{detail}");
    world.assert_equal_on_both_sides();
    assert!(world.files_action(&world.plan().await).is_none());
}

#[tokio::test]
async fn a_file_gone_from_the_secondary_is_copied_again_whatever_the_manifest_says() {
    let world = world().await;
    let plan = world.plan().await;
    let copy = world.files_action(&plan).unwrap();
    let first = world.run(&plan, &workspaces(&world.sandbox, 5), options(4)).await;
    assert!(first.is_success(), "{:#?}", failures(&first));
    // The manifest names every file now; two of them disappear from the
    // secondary: the manifest never stands for a file the secondary lacks.
    let gone: Vec<&str> = copy.copy.iter().take(2).map(|f| f.path.as_str()).collect();
    let workspaces = workspaces(&world.sandbox, 5);
    for path in &gone {
        workspaces.secondary.delete_file(&world.token, &format!("{}/{path}", world.root())).await.unwrap();
    }
    let again = world.files_action(&world.plan().await).expect("the deleted files are planned");
    let paths: Vec<&str> = again.copy.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, gone);
    assert!(again.copy.iter().all(|f| f.new));
}

#[tokio::test]
async fn with_faults_every_file_ends_copied_or_named_with_its_reason() {
    let world = world().await;
    let plan = world.plan().await;
    let copy = world.files_action(&plan).unwrap();
    let faults =
        FaultConfig { error_5xx_ratio: 0.35, throttle_ratio: 0.1, retry_after_secs: 0, ..FaultConfig::default() };
    world.sandbox.primary.faults.set(faults.clone());
    world.sandbox.secondary.faults.set(faults);
    // Two attempts a call and a short action budget: some files fail for good.
    let report = world.run(&plan, &workspaces(&world.sandbox, 2), options(4)).await;
    world.sandbox.primary.faults.set(FaultConfig::default());
    world.sandbox.secondary.faults.set(FaultConfig::default());

    let result = &report.results[&world.files_id()];
    let root = world.root();
    let (primary, secondary) =
        (world.sandbox.primary.files.files_under(&root), world.sandbox.secondary.files.files_under(&root));
    let mut unaccounted = Vec::new();
    for file in &copy.copy {
        let path = format!("{root}/{}", file.path);
        let arrived = secondary.get(&path) == primary.get(&path);
        let named = result.error.as_deref().is_some_and(|e| e.contains(&format!("{}: ", file.path)));
        let volume_not_there = result.status == ActionStatus::Skipped;
        if !(arrived || named || volume_not_there) {
            unaccounted.push(file.path.clone());
        }
    }
    assert!(unaccounted.is_empty(), "files neither copied nor reported: {unaccounted:?} in {result:?}");
    assert_eq!(result.status == ActionStatus::Succeeded, result.error.is_none());

    // Without faults the next cycle finishes the job.
    let next = world.plan().await;
    let report = world.run(&next, &workspaces(&world.sandbox, 5), options(4)).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    world.assert_equal_on_both_sides();
}

#[tokio::test]
async fn a_primary_volume_the_caller_cannot_read_is_blocked_with_the_reason() {
    let world = world().await;
    {
        // Someone else owns the volume, its schema and catalog, and alice's
        // groups hold only USE CATALOG and USE SCHEMA: being a metastore
        // admin gives no access to the files.
        let mut metastore = world.sandbox.primary.metastore.write();
        let parts: Vec<String> = world.volume.split('.').map(str::to_string).collect();
        let schema = format!("{}.{}", parts[0], parts[1]);
        let strip = |common: &mut sandbox::databricks::metastore::Common, using: &str| {
            common.owner = "someone@contoso.example".into();
            for held in common.grants.values_mut() {
                held.retain(|p| !matches!(p.as_str(), "READ_VOLUME" | "WRITE_VOLUME" | "ALL_PRIVILEGES"));
            }
            common.grants.entry(ADMIN_GROUP.into()).or_default().insert(using.into());
        };
        strip(&mut metastore.catalogs.get_mut(&parts[0]).unwrap().common, "USE_CATALOG");
        strip(&mut metastore.schemas.get_mut(&schema).unwrap().common, "USE_SCHEMA");
        strip(&mut metastore.volumes.get_mut(&world.volume).unwrap().common, "USE_SCHEMA");
    }
    let plan = world.plan().await;
    let blocked: Vec<String> =
        plan.blocked().filter(|a| a.object.full_name() == world.volume).map(|a| a.describe()).collect();
    assert_eq!(blocked.len(), 1, "{}", render_plan(&plan));
    assert!(blocked[0].contains("cannot be listed on the primary"), "{blocked:?}");
    assert!(blocked[0].contains("User does not have READ VOLUME on Volume"), "the workspace's reason: {blocked:?}");
    assert!(world.files_action(&plan).is_none());
}

#[tokio::test]
async fn listing_and_copying_keep_to_their_concurrency_bounds() {
    let world = world().await;
    let patient = workspaces(&world.sandbox, 5);
    // Slow answers, so that unbounded callers would pile up.
    let slow = FaultConfig { latency_ms: Some((20, 20)), ..FaultConfig::default() };
    world.sandbox.primary.faults.set(slow.clone());
    world.sandbox.primary.reset_peak_in_flight();
    let entries = patient.primary.list_tree(&world.token, &world.root(), 2).await.unwrap();
    assert_eq!(entries.iter().filter(|e| !e.is_directory).count(), SEEDED_FILES);
    assert!(world.sandbox.primary.peak_in_flight() <= 2, "{}", world.sandbox.primary.peak_in_flight());

    world.sandbox.primary.faults.set(FaultConfig::default());
    let plan = world.plan().await;
    world.sandbox.primary.faults.set(slow);
    world.sandbox.primary.reset_peak_in_flight();
    let report = world.run(&plan, &patient, options(2)).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    let peak = world.sandbox.primary.peak_in_flight();
    assert!((1..=2).contains(&peak), "at most two downloads at once: {peak}");
    world.assert_equal_on_both_sides();
}

#[tokio::test]
async fn odd_file_names_travel_intact() {
    let world = world().await;
    let odd = ["sp ace/r#1 ü.csv", "q?uery&x=1.txt", "per%cent/semi;colon'quote`.bin", "plus+sign/.hidden"];
    for name in odd {
        world.sandbox.primary.files.put(&format!("{}/{name}", world.root()), name.as_bytes());
    }
    let plan = world.plan().await;
    assert_eq!(world.files_action(&plan).unwrap().copy.len(), SEEDED_FILES + odd.len());
    let report = world.run(&plan, &workspaces(&world.sandbox, 5), options(4)).await;
    assert!(report.is_success(), "{:#?}", failures(&report));
    let root = world.root();
    assert_eq!(world.sandbox.secondary.files.files_under(&root), world.sandbox.primary.files.files_under(&root));
    assert!(world.files_action(&world.plan().await).is_none());
}
