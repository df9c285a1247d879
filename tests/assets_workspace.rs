//! Workspace assets (issue #21, part 2) against the sandbox's two seeded
//! workspaces, every registered kind together on the one asset framework:
//! notebooks, files and folders, a git folder, cluster policies, clusters,
//! warehouse definitions and secret scopes (and jobs, none seeded here). A
//! sync converges (the second plan changes nothing), a dry run lists exactly
//! the differences, throttling and server errors leave every object synced
//! or reported, and no secret value reaches a result, a plan, a log line or
//! a request drbot made.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use drbot::assets::mapping::{AssetMapping, MappingKind};
use drbot::assets::plan::{AssetPlan, Change, ItemOutcome, ItemResult};
use drbot::assets::text::describe;
use drbot::assets::{kinds, run, AssetContext, AssetKind, AssetOptions};
use drbot::config::Config;
use drbot::databricks::{RetryPolicy, WorkspaceClient};
use drbot::identity::{AccessToken, OnBehalfOf, UserAssertion, DATABRICKS_SCOPE};
use drbot::replication::workspaces::FixedToken;
use sandbox::databricks::secrets::{Backend, PRIMARY_VAULT};
use sandbox::databricks::workspace_tree::Kind;
use sandbox::faults::FaultConfig;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_BOT_APP_ID};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SECONDARY_VAULT: &str =
    "/subscriptions/00000000-0000-0000-0000-00000000dr02/resourceGroups/dr-secondary/providers/Microsoft.KeyVault/vaults/kv-dr-secondary";

/// A Databricks token for `user`, by Teams SSO then on-behalf-of.
async fn token_for(sandbox: &Sandbox, user: &str) -> AccessToken {
    let config = Config::from_toml(&sandbox.bot_config_toml("127.0.0.1:0", false), &BTreeMap::new()).unwrap();
    let obo = OnBehalfOf::new(&config, reqwest::Client::new());
    let user = sandbox.teams.user(user).unwrap();
    let assertion = UserAssertion::from_token(&sandbox.entra.teams_sso_token(&user, SANDBOX_BOT_APP_ID)).unwrap();
    obo.token(&assertion, DATABRICKS_SCOPE, false).await.unwrap()
}

fn retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        budget: Duration::from_secs(20),
        max_attempts,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
    }
}

async fn seeded(notebooks: usize) -> Sandbox {
    Sandbox::start(SandboxConfig { assets: true, notebooks, jobs: 0, ..SandboxConfig::default() }).await.unwrap()
}

/// The pair's mapping: the primary's Key Vault to the secondary region's.
fn mapping() -> AssetMapping {
    let mut mapping = AssetMapping::default();
    mapping.insert(MappingKind::KeyVault, PRIMARY_VAULT, SECONDARY_VAULT);
    mapping
}

struct Clients {
    primary: WorkspaceClient,
    secondary: WorkspaceClient,
    token: FixedToken,
}

impl Clients {
    async fn new(sandbox: &Sandbox, max_attempts: u32) -> Clients {
        Clients {
            primary: WorkspaceClient::new(reqwest::Client::new(), &sandbox.primary_url())
                .with_retry(retries(max_attempts)),
            secondary: WorkspaceClient::new(reqwest::Client::new(), &sandbox.secondary_url())
                .with_retry(retries(max_attempts)),
            token: FixedToken(token_for(sandbox, "alice").await),
        }
    }

    fn context(&self) -> AssetContext<'_> {
        AssetContext {
            pair: "default".into(),
            primary: self.primary.clone(),
            secondary: self.secondary.clone(),
            tokens: &self.token,
            mapping: mapping(),
            options: AssetOptions::default(),
            store: None,
            principals: Default::default(),
        }
    }

    /// A dry run: every kind reads both workspaces.
    async fn plan(&self) -> AssetPlan {
        run::plan(&kinds::registered(), &self.context()).await
    }

    async fn apply(&self, plan: &AssetPlan) -> Vec<ItemResult> {
        let kinds: Vec<&dyn AssetKind> = kinds::registered();
        let (tx, _rx) = mpsc::unbounded_channel();
        run::run(plan, &kinds, &self.context(), &BTreeSet::new(), &CancellationToken::new(), &tx).await
    }
}

/// The plan as a person reads it: every difference, then every blocked object.
fn lines(plan: &AssetPlan) -> Vec<String> {
    let blocked = plan.items.iter().filter(|i| matches!(i.change, Change::Blocked { .. }));
    plan.differences().chain(blocked).map(describe).collect()
}

fn line(result: &ItemResult) -> String {
    format!("{} {}: {}", result.kind, result.name, result.outcome.reason().unwrap_or(result.outcome.label()))
}

/// The primary's notebooks and files the secondary lacks or holds older.
fn expected_copies(sandbox: &Sandbox) -> BTreeSet<String> {
    sandbox
        .primary
        .tree
        .paths()
        .into_iter()
        .filter(|path| {
            let source = sandbox.primary.tree.get(path).unwrap();
            matches!(source.kind, Kind::Notebook { .. } | Kind::File)
                && sandbox.secondary.tree.get(path).is_none_or(|copy| copy.modified_at < source.modified_at)
        })
        .collect()
}

fn not_failed(results: &[ItemResult]) {
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !matches!(r.outcome, ItemOutcome::Done | ItemOutcome::Unchanged | ItemOutcome::Blocked(_)))
        .map(line)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[tokio::test]
async fn a_seeded_sync_converges_and_the_dry_run_lists_exactly_the_differences() {
    let sandbox = seeded(40).await;
    let clients = Clients::new(&sandbox, 5).await;

    let dry_run = clients.plan().await;
    let copies: BTreeSet<String> = dry_run
        .differences()
        .filter(|i| matches!(i.kind.as_str(), "notebook" | "file"))
        .filter(|i| match &i.change {
            Change::Update { fields } => fields.iter().any(|f| f != "permissions"),
            _ => true,
        })
        .map(|i| i.name.clone())
        .collect();
    assert_eq!(copies, expected_copies(&sandbox), "the dry run copies exactly what differs");
    assert!(
        copies.contains("/Shared/sales/config/settings.yaml") && copies.contains("/Shared/sales/reports/report_0000")
    );
    let planned = lines(&dry_run);
    for expected in [
        "create folder /Shared/ops/archive/2025",
        "create git folder /Repos/dr-operators/pipelines: clone https://github.com/contoso/pipelines.git (gitHub), branch release",
        "update cluster policy Jobs compute: definition, permissions",
        "create cluster policy Small interactive",
        "create cluster policy Personal compute (analysts)",
        "update cluster ETL interactive: autotermination_minutes, spark_conf, permissions",
        "update instance pool Warm D4 nodes: max_capacity, permissions",
        "create instance pool Spot E8 nodes: Standard_E8ds_v5, at most 40 instances",
        "create cluster Shared analytics: under policy Jobs compute, left terminated",
        "create cluster Pooled ETL: on pool Warm D4 nodes, left terminated",
        "create cluster Spot batch: on pool Spot E8 nodes (driver on Warm D4 nodes), left terminated",
        "update warehouse BI dashboards: cluster_size, max_num_clusters, permissions",
        "create warehouse Ad hoc analysts: Small, PRO, serverless, left stopped",
        "create secret scope kv-prod: on Key Vault kv-dr-secondary; set ACLs data-engineers READ, dr-operators MANAGE",
    ] {
        assert!(planned.iter().any(|l| l == expected), "{expected} is not in the plan:\n{}", planned.join("\n"));
    }
    // Databricks SQL objects: by folder and name, on the secondary's warehouses of the same name.
    for expected in [
        "create query /Shared/sales/queries/Daily revenue (primary ",
        "create query /Shared/sales/queries/Open orders (primary ",
        "update query /Shared/sales/queries/Late shipments (primary ",
        "create alert /Shared/sales/queries/Revenue drop (primary ",
        "create dashboard /Shared/sales/Sales overview.lvdash.json (primary ",
    ] {
        assert!(
            planned.iter().any(|l| l.starts_with(expected)),
            "{expected} is not in the plan:\n{}",
            planned.join("\n")
        );
    }
    for expected in [
        "): on warehouse BI dashboards",
        "): on warehouse Ad hoc analysts",
        "): query_text, owner_user_name",
        "): on warehouse BI dashboards, published",
    ] {
        assert!(
            planned.iter().any(|l| l.ends_with(expected)),
            "{expected} is not in the plan:\n{}",
            planned.join("\n")
        );
    }
    // The plan is in the order it is applied: folders and policies before
    // the notebooks and clusters in or under them.
    let position = |kind: &str, first: bool| {
        let mut found = dry_run.items.iter().enumerate().filter(|(_, i)| i.kind == kind).map(|(n, _)| n);
        if first { found.next() } else { found.next_back() }.unwrap()
    };
    assert!(position("folder", false) < position("notebook", true));
    assert!(position("cluster policy", false) < position("cluster", true));
    assert!(position("instance pool", false) < position("cluster", true));
    assert!(position("warehouse", false) < position("query", true), "warehouses before the queries on them");
    assert!(position("query", false) < position("alert", true), "queries before the alerts on them");
    assert!(position("warehouse", false) < position("dashboard", true));
    // A dry run changes nothing.
    assert!(sandbox.secondary.policies.all().iter().all(|p| p.name != "Small interactive"));

    let results = clients.apply(&dry_run).await;
    not_failed(&results);
    assert_eq!(results.len(), dry_run.items.len(), "one result per object");
    // Every copied object holds the primary's content now.
    for path in &copies {
        let (source, copy) = (sandbox.primary.tree.get(path).unwrap(), sandbox.secondary.tree.get(path).unwrap());
        assert_eq!((&copy.kind, &copy.content), (&source.kind, &source.content), "{path}");
    }
    assert!(sandbox.secondary.tree.get("/Shared/ops/archive/2025").is_some());
    let git = sandbox.secondary.tree.get("/Repos/dr-operators/pipelines").unwrap();
    assert!(
        matches!(&git.kind, Kind::Repo { url, branch, .. } if url == "https://github.com/contoso/pipelines.git" && branch == "release"),
        "{git:?}"
    );
    // Warehouses: created ones are left stopped; an edited one keeps its state.
    for name in ["BI dashboards", "Ad hoc analysts"] {
        let warehouse = sandbox.secondary.warehouses.by_name(name).unwrap();
        assert_eq!(warehouse.own_state.as_deref(), Some("STOPPED"), "{name}");
    }
    let bi = sandbox.secondary.warehouses.by_name("BI dashboards").unwrap();
    assert_eq!(bi.cluster_size, "Medium");
    assert_eq!(bi.acl.get("data-engineers").map(String::as_str), Some("CAN_MANAGE"), "its direct grants follow");
    // Clusters: created ones are left terminated, under the secondary's policy of the same name.
    let shared = sandbox.secondary.clusters.by_name("Shared analytics");
    let jobs_policy = sandbox.secondary.policies.all().into_iter().find(|p| p.name == "Jobs compute").unwrap();
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].state, "TERMINATED");
    assert_eq!(shared[0].spec["policy_id"], serde_json::json!(jobs_policy.policy_id));
    assert!(sandbox.secondary.clusters.by_name("job-1001-run-7").is_empty(), "a job's cluster is not a definition");
    // Clusters on pools are on the secondary's pools of the same name (one made by the same run).
    let pool_id = |name: &str| serde_json::json!(sandbox.secondary.instance_pools.by_name(name)[0].instance_pool_id);
    let pooled = &sandbox.secondary.clusters.by_name("Pooled ETL")[0];
    assert_eq!(
        (pooled.spec["instance_pool_id"].clone(), pooled.state.as_str()),
        (pool_id("Warm D4 nodes"), "TERMINATED")
    );
    let spot = &sandbox.secondary.clusters.by_name("Spot batch")[0];
    assert_eq!(spot.spec["instance_pool_id"], pool_id("Spot E8 nodes"));
    assert_eq!(spot.spec["driver_instance_pool_id"], pool_id("Warm D4 nodes"));
    // Direct grants follow policies and clusters.
    let acls = &sandbox.secondary.object_acls;
    assert_eq!(
        acls.of("cluster-policies", &jobs_policy.policy_id).get("data-engineers").map(String::as_str),
        Some("CAN_USE")
    );
    let etl = &sandbox.secondary.clusters.by_name("ETL interactive")[0];
    assert_eq!(acls.of("clusters", &etl.cluster_id).get("data-engineers").map(String::as_str), Some("CAN_RESTART"));
    // A folder's and a notebook's direct permissions follow, on the secondary's own objects.
    for (object_type, path, who, level) in [
        ("directories", "/Shared/sales", "data-engineers", "CAN_EDIT"),
        ("notebooks", "/Shared/sales/reports/report_0000", "analysts", "CAN_RUN"),
    ] {
        let copy = sandbox.secondary.tree.get(path).unwrap();
        assert_eq!(
            acls.of(object_type, &copy.object_id.to_string()).get(who).map(String::as_str),
            Some(level),
            "{path}"
        );
    }
    // Pools: the edited one has the primary's capacity and grants, the new one its spec.
    let warm = &sandbox.secondary.instance_pools.by_name("Warm D4 nodes")[0];
    assert_eq!(warm.spec["max_capacity"], serde_json::json!(20));
    assert_eq!(
        acls.of("instance-pools", &warm.instance_pool_id).get("data-engineers").map(String::as_str),
        Some("CAN_ATTACH_TO")
    );
    let spot = &sandbox.secondary.instance_pools.by_name("Spot E8 nodes")[0];
    assert_eq!(spot.spec["azure_attributes"]["availability"], "SPOT_WITH_FALLBACK_AZURE");
    // Queries: in the same folder, on the secondary's warehouse of the same
    // name (one made by this run), owned as in the primary, grants following.
    let queries = &sandbox.secondary.queries;
    let warehouse_id = |name: &str| serde_json::json!(sandbox.secondary.warehouses.by_name(name).unwrap().id);
    let revenue = queries.find("/Shared/sales/queries", "Daily revenue").expect("the query is copied");
    let source = sandbox.primary.queries.find("/Shared/sales/queries", "Daily revenue").unwrap();
    for field in ["query_text", "parameters", "tags", "catalog", "schema", "run_as_mode"] {
        assert_eq!(revenue.get(field), source.get(field), "{field}");
    }
    assert_eq!(revenue["warehouse_id"], warehouse_id("BI dashboards"));
    let revenue_id = revenue["id"].as_str().unwrap();
    assert_eq!(acls.of("queries", revenue_id).get("analysts").map(String::as_str), Some("CAN_RUN"));
    let open = queries.find("/Shared/sales/queries", "Open orders").unwrap();
    assert_eq!(open["warehouse_id"], warehouse_id("Ad hoc analysts"), "on the warehouse the same run made");
    let late = queries.find("/Shared/sales/queries", "Late shipments").unwrap();
    assert_eq!(
        (late["owner_user_name"].as_str(), late["query_text"].as_str()),
        (Some("bob@contoso.example"), Some("SELECT order_id FROM orders WHERE shipped_at > promised_at"))
    );
    // The alert runs the secondary's copy of its query.
    let alert = sandbox.secondary.alerts.find("/Shared/sales/queries", "Revenue drop").expect("the alert is copied");
    assert_eq!(alert["query_id"].as_str(), Some(revenue_id));
    assert_eq!(
        alert["condition"],
        sandbox.primary.alerts.find("/Shared/sales/queries", "Revenue drop").unwrap()["condition"]
    );
    // The dashboard: the same draft on the secondary's warehouse, published, grants following.
    let overview = sandbox.secondary.dashboards.at("/Shared/sales/Sales overview.lvdash.json").expect("copied");
    let primary_overview = sandbox.primary.dashboards.at("/Shared/sales/Sales overview.lvdash.json").unwrap();
    assert_eq!(overview.serialized_dashboard, primary_overview.serialized_dashboard);
    assert_eq!(serde_json::json!(overview.warehouse_id), warehouse_id("BI dashboards"));
    assert!(overview.published.is_some_and(|p| !p.embed_credentials));
    assert_eq!(acls.of("dashboards", &overview.dashboard_id).get("analysts").map(String::as_str), Some("CAN_RUN"));
    assert!(sandbox.secondary.tree.get("/Shared/sales/Sales overview.lvdash.json").is_some(), "listed in the tree");
    let kv = sandbox.secondary.secrets.scope("kv-prod").unwrap();
    assert!(matches!(&kv.backend, Backend::AzureKeyVault { resource_id, .. } if resource_id == SECONDARY_VAULT));
    assert_eq!(
        sandbox.secondary.secrets.scope("etl").unwrap().acls.get("data-engineers").map(String::as_str),
        Some("READ")
    );

    // The second run plans nothing; only the secrets to provide stay reported.
    let again = clients.plan().await;
    assert!(again.is_converged(), "{:#?}", lines(&again));
    assert_eq!(
        lines(&again),
        vec![
            "secret etl/api-token: its value cannot be read through the API: provide it in the secondary \
             (databricks secrets put-secret etl api-token)"
                .to_string(),
            "secret etl/jdbc-password: its value cannot be read through the API: provide it in the \
             secondary (databricks secrets put-secret etl jdbc-password)"
                .to_string(),
        ]
    );
    // Someone provides them: nothing is left to report.
    for key in ["api-token", "jdbc-password"] {
        sandbox.secondary.secrets.put("etl", key, "provided-by-a-person", chrono::Utc::now().timestamp_millis());
    }
    assert!(lines(&clients.plan().await).is_empty());

    // An edit in the primary after the copy is planned again, and only it.
    let edited = "/Shared/finance/reports/report_0001";
    sandbox.primary.tree.write(
        edited,
        Kind::Notebook { language: "SQL".into() },
        "-- Databricks notebook source\nSELECT 'edited'\n",
        chrono::Utc::now().timestamp_millis() + 1_000,
    );
    let incremental = clients.plan().await;
    assert_eq!(lines(&incremental), vec![format!("update notebook {edited}: content; changed since the last copy")]);
}

#[tokio::test]
async fn a_principal_the_secondary_lacks_and_nobody_mapped_blocks_with_why_and_the_rest_is_copied() {
    let sandbox = seeded(4).await;
    // Analysts are granted a notebook, a query and a dashboard in the
    // primary; the secondary workspace was never given the group.
    sandbox.secondary.forget_principal("analysts");
    let clients = Clients::new(&sandbox, 5).await;
    let plan = clients.plan().await;
    let why = "principal analysts has no mapping and no account in the secondary: copied without it";
    let held: Vec<String> = plan
        .items
        .iter()
        .filter(|i| i.held_back.as_deref() == Some(why))
        .map(|i| format!("{} {}", i.kind, i.name))
        .collect();
    assert_eq!(
        held,
        vec![
            "notebook /Shared/sales/reports/report_0000".to_string(),
            "query /Shared/sales/queries/Daily revenue".to_string(),
            "dashboard /Shared/sales/Sales overview.lvdash.json".to_string(),
        ]
    );
    assert!(describe(plan.items.iter().find(|i| i.kind == "query" && i.name.ends_with("Daily revenue")).unwrap())
        .ends_with(&format!("({why})")));
    let results = clients.apply(&plan).await;
    not_failed(&results);
    let outcome =
        |kind: &str, name: &str| results.iter().find(|r| r.kind == kind && r.name == name).unwrap().outcome.clone();
    // Blocked with why, not failed; and the rest of each object is copied.
    assert_eq!(outcome("notebook", "/Shared/sales/reports/report_0000"), ItemOutcome::Blocked(why.into()));
    assert_eq!(outcome("query", "/Shared/sales/queries/Daily revenue"), ItemOutcome::Blocked(why.into()));
    assert!(sandbox.secondary.tree.get("/Shared/sales/reports/report_0000").is_some());
    let revenue =
        sandbox.secondary.queries.find("/Shared/sales/queries", "Daily revenue").expect("copied all the same");
    assert!(sandbox.secondary.object_acls.of("queries", revenue["id"].as_str().unwrap()).is_empty());
    assert!(sandbox
        .secondary
        .dashboards
        .at("/Shared/sales/Sales overview.lvdash.json")
        .is_some_and(|d| d.published.is_some()));
    // Nothing more to do: what stays is reported, with why.
    let again = clients.plan().await;
    assert!(again.is_converged(), "{:#?}", lines(&again));
    assert!(lines(&again).contains(&format!(
        "query /Shared/sales/queries/Daily revenue (primary {}): {why}",
        plan.items.iter().find(|i| i.kind == "query" && i.name.ends_with("Daily revenue")).unwrap().key
    )));
    // Mapped to a group the secondary has, the grants follow.
    let mut mapped = mapping();
    mapped.insert(MappingKind::Principal, "analysts", "data-engineers");
    let ctx = AssetContext { mapping: mapped, ..clients.context() };
    let remapped = run::plan(&kinds::registered(), &ctx).await;
    assert!(remapped.items.iter().all(|i| i.held_back.is_none()), "{:#?}", lines(&remapped));
    assert!(remapped.differences().any(|i| i.kind == "query" && i.name.ends_with("Daily revenue")));
}

// Two worker threads: the sandbox counts a request when it gets to it, and
// on one thread shared with the client it may get to a request late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_beyond_the_documented_rate_limits_paces_itself_instead_of_being_throttled() {
    let sandbox = seeded(150).await;
    let clients = Clients::new(&sandbox, 5).await;
    let plan = clients.plan().await;
    let imports = plan.differences().filter(|i| matches!(i.kind.as_str(), "notebook" | "file")).count();
    assert!(imports > 60, "more imports than two seconds of Databricks' 30 a second: {imports}");
    let started = std::time::Instant::now();
    let results = clients.apply(&plan).await;
    let elapsed = started.elapsed();
    not_failed(&results);
    // Not one request was refused: drbot kept below every endpoint's limit…
    assert_eq!(sandbox.primary.rate_limits.refused(), BTreeMap::new());
    assert_eq!(sandbox.secondary.rate_limits.refused(), BTreeMap::new());
    // …by waiting its turn: 30 imports a second at most.
    let windows = (imports as u64 - 1) / 30;
    assert!(elapsed >= Duration::from_secs(windows), "{imports} imports in {elapsed:?}");
    assert!(clients.plan().await.is_converged());
}

#[tokio::test]
async fn a_cluster_whose_pool_is_missing_in_the_secondary_is_blocked_naming_it_and_the_rest_is_applied() {
    let sandbox = seeded(4).await;
    let clients = Clients::new(&sandbox, 5).await;
    let plan = clients.plan().await;
    // Someone deletes the secondary's warm pool between the plan and the run.
    for pool in sandbox.secondary.instance_pools.by_name("Warm D4 nodes") {
        sandbox.secondary.instance_pools.remove(&pool.instance_pool_id);
    }
    let results = clients.apply(&plan).await;
    let outcome = |name: &str| results.iter().find(|r| r.kind == "cluster" && r.name == name).unwrap().outcome.clone();
    let missing = ItemOutcome::Blocked("its instance pool Warm D4 nodes is not in the secondary".into());
    assert_eq!(outcome("Pooled ETL"), missing);
    assert_eq!(outcome("Spot batch"), missing, "a driver's pool counts too");
    assert_eq!(outcome("Shared analytics"), ItemOutcome::Done);
    assert!(sandbox.secondary.clusters.by_name("Pooled ETL").is_empty());
}

#[tokio::test]
async fn with_a_tenth_of_calls_failing_every_object_ends_synced_or_reported_and_a_rerun_converges() {
    let sandbox = seeded(60).await;
    let objects_in_primary = sandbox.primary.tree.paths().len() - 1; // all but the root
    let faults = FaultConfig { throttle_ratio: 0.05, error_5xx_ratio: 0.05, retry_after_secs: 0, ..Default::default() };
    // Reads are patient (a plan needs a whole read); actions get one try
    // each, so some fail and must be reported.
    let patient = Clients::new(&sandbox, 30).await;
    let hasty = Clients::new(&sandbox, 1).await;
    sandbox.primary.faults.set(faults.clone());
    sandbox.secondary.faults.set(faults);

    let first = patient.plan().await;
    assert!(first.items.iter().all(|i| i.key != run::UNREAD), "a patient read reads every kind");
    let planned = first.differences().count();
    let results = hasty.apply(&first).await;
    // One result per object: every tree object, git folder, policy,
    // warehouse, scope and key; none twice, none missing.
    assert_eq!(results.len(), first.items.len());
    let mut seen = BTreeSet::new();
    for result in &results {
        assert!(seen.insert(result.id.clone()), "{} reported twice", line(result));
    }
    let clusters = results.iter().filter(|r| r.kind == "cluster").count();
    assert_eq!(clusters, 4, "every cluster definition of the primary has a result");
    let tree_results = results
        .iter()
        .filter(|r| {
            matches!(r.kind.as_str(), "folder" | "notebook" | "file" | "workspace object" | "git folder" | "dashboard")
        })
        .count();
    assert_eq!(tree_results, objects_in_primary, "every object of the primary's tree has a result");
    // Done, failed, or blocked because what it needs failed to be made (a
    // warehouse, a pool, an alert's query), named.
    let actions: BTreeSet<String> = first.differences().map(|i| i.id()).collect();
    let acted: Vec<&ItemResult> = results.iter().filter(|r| actions.contains(&r.id)).collect();
    assert_eq!(acted.len(), planned);
    for result in &acted {
        if let ItemOutcome::Blocked(why) = &result.outcome {
            assert!(why.contains("is not in the secondary"), "{}", line(result));
        }
        assert!(!matches!(result.outcome, ItemOutcome::Unchanged | ItemOutcome::Canceled), "{}", line(result));
    }
    let failed = results.iter().filter(|r| matches!(r.outcome, ItemOutcome::Failed(_))).count();
    let done = results.iter().filter(|r| r.outcome == ItemOutcome::Done).count();
    assert!(done > failed && failed > 0, "{done} done, {failed} failed: with 10 % faults and no retry, some fail");
    eprintln!("{done} done, {failed} failed and reported under 10 % faults");

    // Another run (faults still on) finishes what failed; then nothing is left.
    let second = patient.plan().await;
    let unfinished = acted.iter().filter(|r| r.outcome != ItemOutcome::Done).count();
    assert!(second.differences().count() <= unfinished, "only what failed or was blocked is planned again");
    let results = patient.apply(&second).await;
    not_failed(&results);
    sandbox.primary.faults.set(FaultConfig::default());
    sandbox.secondary.faults.set(FaultConfig::default());
    let third = patient.plan().await;
    assert!(third.is_converged(), "{:#?}", lines(&third));
}

#[tokio::test]
async fn the_keys_to_provide_are_listed_and_no_secret_value_reaches_a_result_a_log_or_a_request() {
    let captured = support::logs::capture();
    let sandbox = seeded(6).await;
    let values = sandbox.primary.secrets.values();
    assert_eq!(values.len(), 2, "the seed has two secret values");
    let clients = Clients::new(&sandbox, 5).await;
    tracing::info!("asset sync starts");
    let planned = clients.plan().await;
    let to_provide: Vec<String> = planned
        .items
        .iter()
        .filter(|i| i.kind == "secret" && matches!(i.change, Change::Blocked { .. }))
        .map(|i| i.name.clone())
        .collect();
    assert_eq!(to_provide, vec!["etl/api-token".to_string(), "etl/jdbc-password".to_string()]);
    let described: Vec<String> = planned.items.iter().map(describe).collect();
    let stored = serde_json::to_string(&planned).unwrap();
    let results = clients.apply(&planned).await;
    not_failed(&results);
    for result in &results {
        tracing::info!(result = %line(result), "asset result");
    }
    // What a card, the stored plan or the run history would show.
    let shown = [described, vec![stored], results.iter().map(line).collect()].concat().join("\n");
    support::logs::Captured::of_text(&shown).assert_no_secrets(&values);
    captured.assert_no_secrets(&values);
    // drbot never asked for a value, so none crossed the wire in a URL either.
    support::logs::Captured::of_text(&sandbox.requests.targets().join("\n")).assert_no_secrets(&values);
    let paths: Vec<String> = sandbox.secondary.calls().into_iter().map(|c| c.path).collect();
    assert!(!paths.iter().any(|p| p == "secrets.put"), "drbot writes no secret value");
}
