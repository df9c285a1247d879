//! Jobs replicated as workspace assets against the sandbox's seeded primary
//! (hundreds of jobs: schedules, some paused, a file-arrival trigger, a
//! continuous job, a policy and a warehouse only the primary knows), over
//! REST with alice's token: the run converges (a second plan is empty),
//! every copy is paused and tagged with its source, the pair records each
//! primary job's pause state, a dry run lists exactly the differences,
//! faults leave every job replicated or reported, and an interrupted run
//! resumes without a duplicate.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use drbot::assets::job_settings::{PauseState, SOURCE_TAG};
use drbot::assets::jobs::Jobs;
use drbot::assets::mapping::MappingKind;
use drbot::assets::plan::{AssetPlan, Change, ItemOutcome, ItemResult};
use drbot::assets::run::{plan, run};
use drbot::assets::{AssetContext, AssetEvent, AssetKind, AssetOptions};
use drbot::config::Config;
use drbot::databricks::{RetryPolicy, WorkspaceClient};
use drbot::identity::{AccessToken, IdentityError, OnBehalfOf, UserAssertion, DATABRICKS_SCOPE};
use drbot::replication::workspaces::TokenSource;
use drbot::store::Store;
use sandbox::databricks::job_definitions::SEED_POLICY_ID;
use sandbox::databricks::statements::{PRIMARY_WAREHOUSE_ID, SANDBOX_WAREHOUSE_ID};
use sandbox::faults::FaultConfig;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_BOT_APP_ID};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const PAIR: &str = "default";

/// alice's Databricks tokens, by Teams SSO then on-behalf-of.
struct Alice {
    obo: OnBehalfOf,
    assertion: UserAssertion,
}

impl TokenSource for Alice {
    async fn token(&self, fresh: bool) -> Result<AccessToken, IdentityError> {
        self.obo.token(&self.assertion, DATABRICKS_SCOPE, fresh).await
    }
}

struct World {
    sandbox: Sandbox,
    alice: Arc<Alice>,
    store: Store,
    _dir: tempfile::TempDir,
}

fn retries(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        budget: Duration::from_secs(10),
        max_attempts: attempts,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
    }
}

async fn world(jobs: usize) -> World {
    let sandbox = Sandbox::start(SandboxConfig { tables: 4, jobs, ..SandboxConfig::default() }).await.unwrap();
    let config = Config::from_toml(&sandbox.bot_config_toml("127.0.0.1:0", false), &BTreeMap::new()).unwrap();
    let obo = OnBehalfOf::new(&config, reqwest::Client::new());
    let user = sandbox.teams.user("alice").unwrap();
    let assertion = UserAssertion::from_token(&sandbox.entra.teams_sso_token(&user, SANDBOX_BOT_APP_ID)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("drbot.db").display())).await.unwrap();
    // Each workspace has its own warehouse; the policy is the primary's only.
    store.set_asset_mapping(PAIR, MappingKind::Warehouse, PRIMARY_WAREHOUSE_ID, SANDBOX_WAREHOUSE_ID).await.unwrap();
    World { sandbox, alice: Arc::new(Alice { obo, assertion }), store, _dir: dir }
}

impl World {
    async fn context(&self, attempts: u32) -> AssetContext<'_> {
        let client = |url: &str| WorkspaceClient::new(reqwest::Client::new(), url).with_retry(retries(attempts));
        AssetContext {
            pair: PAIR.into(),
            primary: client(&self.sandbox.primary_url()),
            secondary: client(&self.sandbox.secondary_url()),
            tokens: &*self.alice,
            mapping: self.store.asset_mapping(PAIR).await.unwrap(),
            options: AssetOptions::default(),
            store: Some(self.store.clone()),
            principals: Default::default(),
        }
    }

    async fn plan(&self) -> AssetPlan {
        plan(&[&Jobs as &dyn AssetKind], &self.context(50).await).await
    }

    async fn run(&self, plan: &AssetPlan, attempts: u32, done: &BTreeSet<String>) -> Vec<ItemResult> {
        let (tx, _rx) = mpsc::unbounded_channel();
        let ctx = self.context(attempts).await;
        run(plan, &[&Jobs as &dyn AssetKind], &ctx, done, &CancellationToken::new(), &tx).await
    }

    /// The secondary's copies by the primary job id they carry.
    fn copies(&self) -> BTreeMap<i64, Vec<Value>> {
        let mut copies: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
        for settings in self.sandbox.secondary.job_definitions.all().into_values() {
            let source = settings["tags"][SOURCE_TAG].as_str().and_then(|s| s.parse().ok()).unwrap();
            copies.entry(source).or_default().push(settings);
        }
        copies
    }
}

fn outcomes(results: &[ItemResult]) -> BTreeMap<&'static str, usize> {
    drbot::assets::apply::tally(results)
}

#[tokio::test]
async fn seeded_jobs_converge_paused_tagged_and_with_pause_states_recorded() {
    let world = world(300).await;
    let primary = world.sandbox.primary.job_definitions.all();
    assert_eq!(primary.len(), 300);

    let first = world.plan().await;
    assert_eq!(first.items.len(), 300, "one item per primary job");
    let blocked: Vec<_> = first.items.iter().filter(|i| matches!(i.change, Change::Blocked { .. })).collect();
    assert_eq!(blocked.len(), 1, "the job on a policy only the primary has");
    assert!(matches!(&blocked[0].change, Change::Blocked { reason } if reason.contains(SEED_POLICY_ID)));
    assert_eq!(first.differences().count(), 299);

    let results = world.run(&first, 50, &BTreeSet::new()).await;
    assert_eq!(results.len(), 300, "every job has a result");
    assert_eq!(outcomes(&results), BTreeMap::from([("blocked", 1), ("done", 299)]));

    // Every copy: one per job, the source's name, every trigger paused.
    let copies = world.copies();
    assert_eq!(copies.len(), 299);
    for (source, copy) in &copies {
        assert_eq!(copy.len(), 1, "one copy of {source}");
        assert_eq!(copy[0]["name"], primary[source]["name"]);
        assert!(PauseState::of(&copy[0]).all_paused(), "{source}: {}", copy[0]);
    }
    let continuous = primary.values().filter(|s| s.get("continuous").is_some()).count();
    let file_arrival = primary.values().filter(|s| s["trigger"]["file_arrival"].is_object()).count();
    assert_eq!((continuous, file_arrival), (1, 1));
    assert!(copies.values().any(|c| c[0]["continuous"]["pause_status"] == "PAUSED"));
    assert!(copies.values().any(|c| c[0]["trigger"]["pause_status"] == "PAUSED"));

    // The copies carry the primary's permissions (the owner, a group that runs them, a viewer).
    let token = world.alice.token(false).await.unwrap();
    let ctx = world.context(50).await;
    for (source, copy) in copies.iter().take(8) {
        let copy_id = world.sandbox.secondary.job_definitions.find_tagged(SOURCE_TAG, &source.to_string()).unwrap();
        let wanted = ctx.primary.job_permissions(&token, *source).await.unwrap();
        assert_eq!(ctx.secondary.job_permissions(&token, copy_id).await.unwrap(), wanted, "{}", copy[0]["name"]);
        assert!(wanted.iter().any(|p| p.level == "IS_OWNER"));
    }
    assert!(ctx
        .secondary
        .job_permissions(
            &token,
            world.sandbox.secondary.job_definitions.find_tagged(SOURCE_TAG, &first.items[0].key).unwrap()
        )
        .await
        .unwrap()
        .iter()
        .any(|p| p.principal == "data-engineers"));

    // The pair records each primary job's pause state, the blocked one included.
    let recorded = world.store.job_pause_states(PAIR).await.unwrap();
    assert_eq!(recorded.len(), 300);
    for state in &recorded {
        assert_eq!(state.pause, PauseState::of(&primary[&state.source_job_id]), "job {}", state.source_job_id);
    }
    let unpaused = recorded.iter().filter(|s| s.pause.schedule.as_deref() == Some("UNPAUSED")).count();
    let paused = recorded.iter().filter(|s| s.pause.schedule.as_deref() == Some("PAUSED")).count();
    assert!(unpaused > 100 && paused > 20, "a realistic mix: {unpaused} unpaused, {paused} paused schedules");

    // Converged: a second plan changes nothing.
    let second = world.plan().await;
    assert!(second.is_converged(), "{:?}", second.differences().collect::<Vec<_>>());

    // A dry run lists exactly the differences: a changed schedule, a deleted copy.
    let (&changed, settings) =
        primary.iter().find(|(id, s)| s["schedule"].is_object() && copies.contains_key(id)).unwrap();
    let mut settings = settings.clone();
    settings["schedule"]["quartz_cron_expression"] = json!("0 15 4 * * ?");
    world.sandbox.primary.job_definitions.replace(changed, settings).unwrap();
    let (&gone, _) = copies.iter().find(|(source, _)| **source != changed).unwrap();
    let copy_id = world.sandbox.secondary.job_definitions.find_tagged(SOURCE_TAG, &gone.to_string()).unwrap();
    world.sandbox.secondary.job_definitions.remove(copy_id);
    let dry = world.plan().await;
    let listed: Vec<(String, Change)> = dry.differences().map(|i| (i.key.clone(), i.change.clone())).collect();
    let mut expected = vec![
        (changed.to_string(), Change::Update { fields: vec!["schedule".into()] }),
        (gone.to_string(), Change::Create),
    ];
    expected.sort_by_key(|(key, _)| key.parse::<i64>().unwrap());
    assert_eq!(listed, expected);
    world.run(&dry, 50, &BTreeSet::new()).await;
    assert!(world.plan().await.is_converged());
    let copy = &world.copies()[&changed][0];
    assert_eq!(copy["schedule"]["quartz_cron_expression"], "0 15 4 * * ?");
    assert_eq!(copy["schedule"]["pause_status"], "PAUSED");
}

#[tokio::test]
async fn with_a_tenth_of_calls_failing_every_job_ends_replicated_or_reported_and_another_run_converges() {
    let world = world(120).await;
    let first = world.plan().await;
    for workspace in [&world.sandbox.primary, &world.sandbox.secondary] {
        workspace.faults.set(FaultConfig { error_5xx_ratio: 0.05, throttle_ratio: 0.05, ..FaultConfig::default() });
    }
    // Impatient clients: some applies give up, and say so.
    let results = world.run(&first, 1, &BTreeSet::new()).await;
    assert_eq!(results.len(), first.items.len(), "one result per job");
    let tally = outcomes(&results);
    assert!(tally.get("failed").copied().unwrap_or(0) > 0, "{tally:?}");
    for result in &results {
        match &result.outcome {
            ItemOutcome::Done | ItemOutcome::Blocked(_) => {}
            ItemOutcome::Failed(reason) => {
                assert!(
                    reason.contains("throttled") || reason.contains("unavailable") || reason.contains("INTERNAL"),
                    "{reason}"
                )
            }
            other => panic!("{}: {other:?}", result.id),
        }
    }
    // Another run, faults still on, with the retries production has: converged, no duplicate.
    let again = plan(&[&Jobs as &dyn AssetKind], &world.context(50).await).await;
    let results = world.run(&again, 50, &BTreeSet::new()).await;
    assert!(results
        .iter()
        .all(|r| matches!(r.outcome, ItemOutcome::Done | ItemOutcome::Unchanged | ItemOutcome::Blocked(_))));
    for workspace in [&world.sandbox.primary, &world.sandbox.secondary] {
        workspace.faults.set(FaultConfig::default());
    }
    assert!(world.plan().await.is_converged());
    assert!(world.copies().values().all(|c| c.len() == 1), "no job copied twice");
}

#[tokio::test]
async fn an_interrupted_run_resumes_without_duplicates() {
    let world = world(60).await;
    let plan_ = world.plan().await;
    // The first attempt stops after a dozen jobs (a killed instance).
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let ctx = world.context(50).await;
    let stopper = async {
        let mut finished = 0;
        while let Some(event) = rx.recv().await {
            finished += matches!(event, AssetEvent::Finished(_)) as usize;
            if finished == 12 {
                cancel.cancel();
            }
        }
    };
    let (results, _) = tokio::join!(
        async {
            let results = run(&plan_, &[&Jobs as &dyn AssetKind], &ctx, &BTreeSet::new(), &cancel, &tx).await;
            drop(tx);
            results
        },
        stopper
    );
    let done: BTreeSet<String> =
        results.iter().filter(|r| r.outcome == ItemOutcome::Done).map(|r| r.id.clone()).collect();
    assert!(done.len() >= 12 && results.iter().any(|r| r.outcome == ItemOutcome::Canceled), "stopped part-way");
    // One create applied but its answer lost: the copy exists, the run does not know.
    let lost = plan_.items.iter().find(|i| !done.contains(&i.id()) && i.change == Change::Create).unwrap();
    world.sandbox.secondary.job_definitions.insert("alice@contoso.example", lost.payload["settings"].clone()).unwrap();

    // The resumed attempt runs the same plan, skipping what was done.
    let resumed = world.run(&plan_, 50, &done).await;
    assert!(resumed.iter().all(|r| matches!(r.outcome, ItemOutcome::Done | ItemOutcome::Blocked(_))));
    assert!(world.copies().values().all(|c| c.len() == 1), "the lost create was found, not repeated");
    assert!(world.plan().await.is_converged());
}

#[tokio::test]
async fn the_command_line_keeps_a_pairs_mapping_table() {
    let sandbox = Sandbox::start(SandboxConfig { tables: 4, jobs: 0, ..SandboxConfig::default() }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut text = sandbox.bot_config_toml("127.0.0.1:0", false);
    text.push_str(&format!("\n[store]\ndata_dir = {:?}\n", data_dir.display().to_string()));
    let config = dir.path().join("drbot.toml");
    std::fs::write(&config, text).unwrap();
    let drbot = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_drbot"));
        command.arg("pair").arg("--config").arg(&config).args(args);
        let output = command.output().unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (ok, said) = drbot(&["map", PAIR, "cluster_policy", "P1", "S1"]);
    assert!(ok, "{said}");
    let (ok, said) = drbot(&["map", PAIR, "principal", "a@contoso.com", "a@fabrikam.com"]);
    assert!(ok, "{said}");
    let (ok, said) = drbot(&["map", PAIR, "colour", "x", "y"]);
    assert!(!ok && said.contains("cluster_policy"), "an unknown kind is refused, naming the kinds: {said}");
    let (ok, listed) = drbot(&["map", PAIR]);
    assert!(
        ok && listed.contains("principal\ta@contoso.com\ta@fabrikam.com") && listed.contains("cluster_policy\tP1\tS1"),
        "{listed}"
    );
    let (ok, said) = drbot(&["map", PAIR, "principal", "a@contoso.com", "--remove"]);
    assert!(ok, "{said}");
    let store = Store::open(&format!("sqlite://{}", data_dir.join("drbot.db").display())).await.unwrap();
    let mapping = store.asset_mapping(PAIR).await.unwrap();
    assert_eq!(mapping.id(MappingKind::ClusterPolicy, "P1"), Ok("S1".into()));
    assert_eq!(mapping.principal("a@contoso.com"), "a@contoso.com");
    assert!(store.recent_audit(10).await.unwrap().iter().any(|e| e.action == "map an asset reference"));
}

/// A new copy's permissions are read when it is made; one for a principal
/// the secondary lacks (nobody mapped it) is left out, and the job ends
/// blocked naming it, its copy made and paused all the same.
#[tokio::test]
async fn a_permission_for_a_principal_the_secondary_lacks_is_left_out_and_named() {
    let world = world(15).await;
    world.sandbox.secondary.forget_principal("bob@contoso.example");
    let first = world.plan().await;
    let results = world.run(&first, 50, &BTreeSet::new()).await;
    let why = "principal bob@contoso.example has no mapping and no account in the secondary: copied without it";
    // Every seventh job grants bob CAN_VIEW: jobs 0, 7 and 14 of the seed.
    let held: Vec<&ItemResult> = results.iter().filter(|r| r.outcome == ItemOutcome::Blocked(why.into())).collect();
    assert_eq!(held.len(), 3, "{results:#?}");
    let copies = world.copies();
    for result in &held {
        let source: i64 = result.id.trim_start_matches("job:").parse().unwrap();
        assert_eq!(copies[&source].len(), 1, "job {source} is copied without bob");
    }
    assert!(world.sandbox.secondary.job_definitions.all().len() >= 14);
    // Nothing is left to do but what needs a person.
    let again = world.plan().await;
    assert!(again.is_converged(), "{:#?}", again.differences().collect::<Vec<_>>());
    let blocked_again = again.items.iter().filter(|i| i.change == Change::Blocked { reason: why.into() }).count();
    assert_eq!(blocked_again, 3);
}
