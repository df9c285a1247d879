//! Workspace assets (issue #21, part 2) against the sandbox's two seeded
//! workspaces: notebooks, files and folders, a git folder, cluster policies,
//! clusters, warehouse definitions and secret scopes. A sync converges (the second
//! plan is empty), a dry run lists exactly the differences, throttling and
//! server errors leave every object synced or reported, and no secret value
//! reaches a result, a plan, a log line or a request drbot made.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use drbot::assets::outcome::{Action, Endpoints, ObjectResult, Outcome, Side};
use drbot::assets::secret_scopes::VaultMap;
use drbot::assets::workspace_kinds::{apply, plan, Options};
use drbot::config::Config;
use drbot::databricks::{RetryPolicy, WorkspaceClient};
use drbot::identity::{AccessToken, OnBehalfOf, UserAssertion, DATABRICKS_SCOPE};
use sandbox::databricks::secrets::{Backend, PRIMARY_VAULT};
use sandbox::databricks::workspace_tree::Kind;
use sandbox::faults::FaultConfig;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_BOT_APP_ID};

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
    Sandbox::start(SandboxConfig { assets: true, notebooks, ..SandboxConfig::default() }).await.unwrap()
}

fn options() -> Options {
    Options {
        vaults: VaultMap::new([(
            PRIMARY_VAULT.to_string(),
            SECONDARY_VAULT.to_string(),
            "https://kv-dr-secondary.vault.azure.net/".to_string(),
        )]),
        ..Options::default()
    }
}

struct Clients {
    primary: WorkspaceClient,
    secondary: WorkspaceClient,
    token: AccessToken,
}

impl Clients {
    async fn new(sandbox: &Sandbox, max_attempts: u32) -> Clients {
        Clients {
            primary: WorkspaceClient::new(reqwest::Client::new(), &sandbox.primary_url())
                .with_retry(retries(max_attempts)),
            secondary: WorkspaceClient::new(reqwest::Client::new(), &sandbox.secondary_url())
                .with_retry(retries(max_attempts)),
            token: token_for(sandbox, "alice").await,
        }
    }

    fn endpoints(&self) -> Endpoints<'_> {
        Endpoints {
            source: Side { client: &self.primary, token: &self.token },
            target: Side { client: &self.secondary, token: &self.token },
        }
    }
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

fn not_failed(results: &[ObjectResult]) {
    let failed: Vec<String> =
        results.iter().filter(|r| matches!(r.outcome, Outcome::Failed(_))).map(ObjectResult::line).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[tokio::test]
async fn a_seeded_sync_converges_and_the_dry_run_lists_exactly_the_differences() {
    let sandbox = seeded(40).await;
    let clients = Clients::new(&sandbox, 5).await;
    let endpoints = clients.endpoints();

    let dry_run = plan(endpoints, &options()).await.unwrap();
    let copies: BTreeSet<String> =
        dry_run.tree.actions.iter().filter(|a| a.kind() != "folder").map(Action::name).collect();
    assert_eq!(copies, expected_copies(&sandbox), "the dry run copies exactly what differs");
    assert!(
        copies.contains("/Shared/sales/config/settings.yaml") && copies.contains("/Shared/sales/reports/report_0000")
    );
    let lines = dry_run.lines();
    for expected in [
        "folder /Shared/ops/archive/2025: create",
        "git folder /Repos/dr-operators/pipelines: clone https://github.com/contoso/pipelines.git (gitHub), branch release",
        "cluster policy Jobs compute: edit (definition, permissions)",
        "cluster policy Small interactive: create",
        "cluster policy Personal compute (analysts): create",
        "cluster ETL interactive: edit (autotermination_minutes, spark_conf, permissions)",
        "cluster Shared analytics: create under policy Jobs compute, left terminated",
        "warehouse BI dashboards: edit (cluster_size, max_num_clusters, permissions)",
        "warehouse Ad hoc analysts: create (Small, PRO, serverless), left stopped",
        "secret scope kv-prod: create on Key Vault kv-dr-secondary; set ACLs data-engineers READ, dr-operators MANAGE",
    ] {
        assert!(lines.iter().any(|l| l == expected), "{expected} is not in the plan:\n{}", lines.join("\n"));
    }
    // A dry run changes nothing.
    assert!(sandbox.secondary.policies.all().iter().all(|p| p.name != "Small interactive"));

    let results = apply(endpoints, dry_run).await;
    not_failed(&results);
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
    // Direct grants follow policies and clusters.
    let acls = &sandbox.secondary.object_acls;
    assert_eq!(
        acls.of("cluster-policies", &jobs_policy.policy_id).get("data-engineers").map(String::as_str),
        Some("CAN_USE")
    );
    let etl = &sandbox.secondary.clusters.by_name("ETL interactive")[0];
    assert_eq!(acls.of("clusters", &etl.cluster_id).get("data-engineers").map(String::as_str), Some("CAN_RESTART"));
    let kv = sandbox.secondary.secrets.scope("kv-prod").unwrap();
    assert!(matches!(&kv.backend, Backend::AzureKeyVault { resource_id, .. } if resource_id == SECONDARY_VAULT));
    assert_eq!(
        sandbox.secondary.secrets.scope("etl").unwrap().acls.get("data-engineers").map(String::as_str),
        Some("READ")
    );

    // The second run plans nothing; only the secrets to provide stay reported.
    let again = plan(endpoints, &options()).await.unwrap();
    assert_eq!(again.action_count(), 0, "{:#?}", again.lines());
    assert_eq!(
        again.lines(),
        vec![
            "secret etl/api-token: blocked, its value cannot be read through the API: provide it in the secondary \
             (databricks secrets put-secret etl api-token)"
                .to_string(),
            "secret etl/jdbc-password: blocked, its value cannot be read through the API: provide it in the \
             secondary (databricks secrets put-secret etl jdbc-password)"
                .to_string(),
        ]
    );
    // Someone provides them: nothing is left to report.
    for key in ["api-token", "jdbc-password"] {
        sandbox.secondary.secrets.put("etl", key, "provided-by-a-person", chrono::Utc::now().timestamp_millis());
    }
    assert!(plan(endpoints, &options()).await.unwrap().lines().is_empty());

    // An edit in the primary after the copy is planned again, and only it.
    let edited = "/Shared/finance/reports/report_0001";
    sandbox.primary.tree.write(
        edited,
        Kind::Notebook { language: "SQL".into() },
        "-- Databricks notebook source\nSELECT 'edited'\n",
        chrono::Utc::now().timestamp_millis() + 1_000,
    );
    let incremental = plan(endpoints, &options()).await.unwrap();
    assert_eq!(incremental.lines(), vec![format!("notebook {edited}: copy (changed since the last copy)")]);
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

    let first = plan(patient.endpoints(), &options()).await.unwrap();
    let planned = first.action_count();
    let results = apply(hasty.endpoints(), first).await;
    // One result per object: every tree object, git folder, policy,
    // warehouse, scope and key; none twice, none missing.
    let mut seen = BTreeSet::new();
    for result in &results {
        assert!(seen.insert((result.kind, result.name.clone())), "{} reported twice", result.line());
    }
    let clusters = results.iter().filter(|r| r.kind == "cluster").count();
    assert_eq!(clusters, 2, "every cluster definition of the primary has a result");
    let tree_results =
        results.iter().filter(|r| matches!(r.kind, "folder" | "notebook" | "file" | "git folder")).count();
    assert_eq!(tree_results, objects_in_primary, "every object of the primary's tree has a result");
    let acted = results.iter().filter(|r| matches!(r.outcome, Outcome::Done(_) | Outcome::Failed(_))).count();
    assert_eq!(acted, planned, "every action ended done or failed");
    let failed = results.iter().filter(|r| matches!(r.outcome, Outcome::Failed(_))).count();
    let done = results.iter().filter(|r| matches!(r.outcome, Outcome::Done(_))).count();
    assert!(done > failed && failed > 0, "{done} done, {failed} failed: with 10 % faults and no retry, some fail");
    eprintln!("{done} done, {failed} failed and reported under 10 % faults");

    // Another run (faults still on) finishes what failed; then nothing is left.
    let second = plan(patient.endpoints(), &options()).await.unwrap();
    assert!(second.action_count() <= failed, "only what failed is planned again");
    let results = apply(patient.endpoints(), second).await;
    not_failed(&results);
    sandbox.primary.faults.set(FaultConfig::default());
    sandbox.secondary.faults.set(FaultConfig::default());
    let third = plan(patient.endpoints(), &options()).await.unwrap();
    assert_eq!(third.action_count(), 0, "{:#?}", third.lines());
}

#[tokio::test]
async fn the_keys_to_provide_are_listed_and_no_secret_value_reaches_a_result_a_log_or_a_request() {
    let captured = support::logs::capture();
    let sandbox = seeded(6).await;
    let values = sandbox.primary.secrets.values();
    assert_eq!(values.len(), 2, "the seed has two secret values");
    let clients = Clients::new(&sandbox, 5).await;
    tracing::info!("asset sync starts");
    let planned = plan(clients.endpoints(), &options()).await.unwrap();
    let to_provide: Vec<String> = planned
        .secret_scopes
        .settled
        .iter()
        .filter(|r| r.kind == "secret" && matches!(r.outcome, Outcome::Blocked(_)))
        .map(|r| r.name.clone())
        .collect();
    assert_eq!(to_provide, vec!["etl/api-token".to_string(), "etl/jdbc-password".to_string()]);
    let lines = planned.lines();
    let results = apply(clients.endpoints(), planned).await;
    not_failed(&results);
    for result in &results {
        tracing::info!(result = %result.line(), "asset result");
    }
    // What a card or the run history would show.
    let shown = [lines, results.iter().map(ObjectResult::line).collect()].concat().join("\n");
    support::logs::Captured::of_text(&shown).assert_no_secrets(&values);
    captured.assert_no_secrets(&values);
    // drbot never asked for a value, so none crossed the wire in a URL either.
    support::logs::Captured::of_text(&sandbox.requests.targets().join("\n")).assert_no_secrets(&values);
    let paths: Vec<String> = sandbox.secondary.calls().into_iter().map(|c| c.path).collect();
    assert!(!paths.iter().any(|p| p == "secrets.put"), "drbot writes no secret value");
}
