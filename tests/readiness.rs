//! Readiness against the sandbox's seeded world: the counts are what
//! `replication::diff` says and what the seed made (one catalog never
//! replicated, missing schemas, tables and volumes, stale clones hours
//! behind, grant drift, the `dr_scratch` schema only the secondary has); a
//! workspace that is down or refuses the token is reported, not fatal; and
//! `drbot status --json` prints the same report.

use std::collections::BTreeMap;
use std::time::Duration;

use drbot::config::Config;
use drbot::databricks::{RetryPolicy, WorkspaceClient};
use drbot::identity::{AccessToken, OnBehalfOf, UserAssertion, DATABRICKS_SCOPE};
use drbot::readiness::drift::summarise;
use drbot::readiness::{check, check_with, AssessOptions, Progress, Reachability, Readiness, Side, Status, Target};
use drbot::replication::read::{read_snapshot, ReadOptions};
use drbot::replication::{diff, ReplicationConfig};
use sandbox::databricks::metastore::{Function, Metastore};
use sandbox::databricks::seed::LOCATION_MAPPING;
use sandbox::databricks::statements::{PRIMARY_WAREHOUSE_ID, SANDBOX_WAREHOUSE_ID};
use sandbox::{Sandbox, SandboxConfig, SANDBOX_BOT_APP_ID};

const HOUR: i64 = 3_600_000;

/// A Databricks token for `user`, by Teams SSO then on-behalf-of.
async fn token_for(sandbox: &Sandbox, user: &str) -> AccessToken {
    let config = Config::from_toml(&sandbox.bot_config_toml("127.0.0.1:0", false), &BTreeMap::new()).unwrap();
    let obo = OnBehalfOf::new(&config, reqwest::Client::new());
    let user = sandbox.teams.user(user).unwrap();
    let assertion = UserAssertion::from_token(&sandbox.entra.teams_sso_token(&user, SANDBOX_BOT_APP_ID)).unwrap();
    obo.token(&assertion, DATABRICKS_SCOPE, false).await.unwrap()
}

fn client(host: &str) -> WorkspaceClient {
    let retry = RetryPolicy {
        budget: Duration::from_secs(20),
        max_attempts: 20,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    };
    WorkspaceClient::new(reqwest::Client::new(), host).with_retry(retry)
}

fn replication_config() -> ReplicationConfig {
    ReplicationConfig::new(drbot::replication::mapping::LocationMapping::new(LOCATION_MAPPING.iter().copied()))
}

/// What the seed made, counted from the sandbox's own model (not over REST).
#[derive(Debug, Default)]
struct Seeded {
    /// catalog, schema, table, view, volume.
    missing: [usize; 5],
    /// Lag of each stale clone.
    stale: BTreeMap<String, i64>,
    never_replicated: usize,
    extra_schemas: Vec<String>,
    grant_objects: usize,
}

fn seeded(primary: &Metastore, secondary: &Metastore) -> Seeded {
    let mut seeded = Seeded::default();
    let managed = |catalog: &str| primary.catalogs.get(catalog).is_some_and(|c| c.catalog_type == "MANAGED_CATALOG");
    let grants_differ =
        |a: &sandbox::databricks::metastore::Common, b: &sandbox::databricks::metastore::Common| a.grants != b.grants;
    for (name, catalog) in primary.catalogs.iter().filter(|(n, _)| managed(n)) {
        match secondary.catalogs.get(name) {
            None => seeded.missing[0] += 1,
            Some(other) => seeded.grant_objects += usize::from(grants_differ(&catalog.common, &other.common)),
        }
    }
    for (name, schema) in primary.schemas.iter().filter(|(_, s)| managed(&s.catalog)) {
        match secondary.schemas.get(name) {
            None => seeded.missing[1] += 1,
            Some(other) => seeded.grant_objects += usize::from(grants_differ(&schema.common, &other.common)),
        }
    }
    for (name, table) in primary.tables.iter().filter(|(_, t)| managed(&t.catalog)) {
        let is_view = table.table_type == "VIEW";
        let is_delta = table.data_source_format.as_deref() == Some("DELTA") && !is_view;
        match secondary.tables.get(name) {
            None => {
                seeded.missing[if is_view { 3 } else { 2 }] += 1;
                seeded.never_replicated += usize::from(is_delta);
            }
            Some(other) => {
                if is_delta && other.last_commit_ms < table.last_commit_ms {
                    seeded.stale.insert(name.clone(), table.last_commit_ms - other.last_commit_ms);
                }
                seeded.grant_objects += usize::from(grants_differ(&table.common, &other.common));
            }
        }
    }
    for (name, volume) in primary.volumes.iter().filter(|(_, v)| managed(&v.catalog)) {
        match secondary.volumes.get(name) {
            None => seeded.missing[4] += 1,
            Some(other) => seeded.grant_objects += usize::from(grants_differ(&volume.common, &other.common)),
        }
    }
    seeded.extra_schemas = secondary.schemas.keys().filter(|k| !primary.schemas.contains_key(*k)).cloned().collect();
    seeded
}

/// The report's counts against the seed's.
fn assert_matches_the_seed(readiness: &Readiness, seeded: &Seeded) {
    let drift = readiness.drift.as_ref().expect("drift computed");
    let o = &drift.objects;
    let missing = [o.catalog.missing, o.schema.missing, o.table.missing, o.view.missing, o.volume.missing];
    assert_eq!(missing, seeded.missing, "missing per kind");
    assert_eq!(seeded.missing[0], 1, "the seed leaves one catalog unreplicated");
    assert!(seeded.missing[1] + seeded.missing[2] + seeded.missing[4] > seeded.missing[0], "{seeded:?}");
    assert_eq!(o.table.stale, seeded.stale.len());
    assert!(!seeded.stale.is_empty(), "the seed leaves stale clones");
    assert_eq!(o.total().different, 0);
    assert_eq!(seeded.extra_schemas.len(), 1);
    assert!(seeded.extra_schemas[0].ends_with(".dr_scratch"));
    assert_eq!(o.schema.extra, 1, "dr_scratch; its table is implied, not counted again");
    assert_eq!(o.table.extra + o.catalog.extra + o.volume.extra + o.view.extra, 0);
    assert_eq!(drift.grants.objects, seeded.grant_objects);
    assert!(seeded.grant_objects > 0, "the seed drifts some grants");
    assert_eq!(drift.owners.objects, 0);

    let rpo = readiness.rpo.as_ref().expect("rpo computed");
    assert_eq!(rpo.behind, seeded.stale.len());
    assert_eq!(rpo.never_replicated, seeded.never_replicated);
    assert_eq!(rpo.unknown, 0);
    let (worst_table, worst_ms) = seeded.stale.iter().max_by_key(|(n, ms)| (**ms, std::cmp::Reverse(*n))).unwrap();
    let worst = rpo.worst.as_ref().expect("a worst table");
    assert_eq!((worst.table.as_str(), worst.ms), (worst_table.as_str(), *worst_ms));
    for lag in seeded.stale.values() {
        assert!(lag % HOUR == 0 && (1..20).contains(&(lag / HOUR)), "whole hours behind: {lag}");
    }
    assert_eq!(readiness.verdict.status, Status::NotReady);
    assert!(readiness.verdict.reasons[0].starts_with("missing on the secondary: 1 catalog"), "{:?}", readiness.verdict);
    assert_eq!(readiness.offenders.len(), 10);
    assert_eq!(readiness.offenders[0].kind, "catalog");
}

#[tokio::test]
async fn the_seeded_world_counts_as_diff_and_the_seed_say() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let (primary, secondary) = (client(&sandbox.primary_url()), client(&sandbox.secondary_url()));
    let config = replication_config();
    let read = ReadOptions::default();
    let events = parking_lot::Mutex::new(Vec::new());
    let readiness = check_with(
        Target { client: &primary, token: &alice },
        Target { client: &secondary, token: &alice },
        &[read.clone(), read.clone()],
        &config,
        1_800_000_000_000,
        &AssessOptions::default(),
        &|p| events.lock().push(p),
    )
    .await;

    let seeded = {
        let (p, s) = (sandbox.primary.metastore.read(), sandbox.secondary.metastore.read());
        seeded(&p, &s)
    };
    assert_matches_the_seed(&readiness, &seeded);

    // Exactly the diff `replicate --dry-run` works from.
    let (p, s) = tokio::join!(read_snapshot(&primary, &alice, &read), read_snapshot(&secondary, &alice, &read));
    let drift = diff(&p.unwrap(), &s.unwrap(), &config);
    assert_eq!(readiness.drift.as_ref(), Some(&summarise(&drift)));

    for (side, reachability) in [(Side::Primary, &readiness.primary), (Side::Secondary, &readiness.secondary)] {
        assert!(matches!(reachability, Reachability::Reachable { latency_ms: Some(_), .. }), "{side:?}");
    }
    let events = events.into_inner();
    for side in [Side::Primary, Side::Secondary] {
        assert!(events.iter().any(|e| matches!(e, Progress::Reading { side: s, .. } if *s == side)), "{events:?}");
        assert!(
            events.iter().any(|e| matches!(e, Progress::Read { side: s, objects, .. } if *s == side && *objects > 0)),
            "{events:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_secondary_is_reported_not_fatal() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    // A port nobody listens on any more.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let primary = client(&sandbox.primary_url());
    let secondary = client(&format!("http://{closed}"));
    let started = std::time::Instant::now();
    let readiness = check(&primary, &secondary, &alice, &alice, &Default::default(), &replication_config(), 0).await;
    assert!(started.elapsed() < Duration::from_secs(15), "reported within the probe's budget");
    assert!(readiness.primary.is_reachable());
    assert!(
        matches!(&readiness.secondary, Reachability::Unreachable { error } if error.contains("unreachable")),
        "{:?}",
        readiness.secondary
    );
    assert_eq!(readiness.verdict.status, Status::NotReady);
    assert!(readiness.verdict.reasons[0].starts_with("the secondary workspace is unreachable"));
    assert!(readiness.drift.is_none() && readiness.rpo.is_none());
    assert!(readiness.not_computed.is_some());
}

#[tokio::test]
async fn a_refused_token_makes_the_workspace_unreachable() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    sandbox.primary.reject_next_tokens(1);
    let (primary, secondary) = (client(&sandbox.primary_url()), client(&sandbox.secondary_url()));
    let readiness = check(&primary, &secondary, &alice, &alice, &Default::default(), &replication_config(), 0).await;
    assert!(
        matches!(&readiness.primary, Reachability::Unreachable { error } if error.contains("not authenticated")),
        "{:?}",
        readiness.primary
    );
    assert!(readiness.secondary.is_reachable());
    assert_eq!(readiness.verdict.status, Status::NotReady);
    let text = serde_json::to_string(&readiness).unwrap();
    assert!(!text.contains(alice.secret()), "no token in the report");
}

#[tokio::test]
async fn drbot_status_json_prints_the_report() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let dir = tempfile::tempdir().unwrap();
    // A finished run in the bot's store, and a dry run after it that does not count.
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let store = drbot::store::Store::open(&format!("sqlite://{}", data_dir.join("drbot.db").display())).await.unwrap();
    let run = |id: &str, dry_run: bool, started_ms: i64| drbot::store::runs::Run {
        id: id.into(),
        started_by_oid: None,
        started_by_upn: None,
        catalog_filter: None,
        dry_run,
        started_ms,
        finished_ms: None,
        counts: None,
        scheduled: false,
    };
    store.start_run(&run("run-1", false, 1_000)).await.unwrap();
    store.finish_run("run-1", 2_000, &serde_json::json!({"succeeded": 3})).await.unwrap();
    store.start_run(&run("run-2", true, 3_000)).await.unwrap();
    store.close().await;

    let config_path = dir.path().join("drbot.toml");
    let config = format!(
        "{}\n[store]\ndata_dir = {:?}\n",
        sandbox.bot_config_toml("127.0.0.1:0", false),
        data_dir.display().to_string()
    );
    std::fs::write(&config_path, config).unwrap();

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_drbot"))
        .args(["--log-format", "text", "status", "--json", "--token-from-env", "--warehouse-id", SANDBOX_WAREHOUSE_ID])
        .arg("--config")
        .arg(&config_path)
        .env("DRBOT_DATABRICKS_TOKEN", alice.secret())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("primary: reachable"), "progress on stderr: {stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON alone");

    let seeded = {
        let (p, s) = (sandbox.primary.metastore.read(), sandbox.secondary.metastore.read());
        seeded(&p, &s)
    };
    let readiness: Readiness = {
        let mut readiness = check(
            &client(&sandbox.primary_url()),
            &client(&sandbox.secondary_url()),
            &alice,
            &alice,
            // Through each side's warehouse as the CLI reads: tags come only from it.
            &[
                ReadOptions { warehouse_id: Some(PRIMARY_WAREHOUSE_ID.into()), ..ReadOptions::default() },
                ReadOptions { warehouse_id: Some(SANDBOX_WAREHOUSE_ID.into()), ..ReadOptions::default() },
            ],
            &replication_config(),
            0,
        )
        .await;
        readiness.assessed_ms = json["assessed_ms"].as_i64().unwrap();
        readiness
    };
    assert_matches_the_seed(&readiness, &seeded);
    assert_eq!(json["drift"], serde_json::to_value(&readiness.drift).unwrap());
    assert_eq!(json["rpo"]["never_replicated"], seeded.never_replicated);
    assert_eq!(json["rpo"]["behind"], seeded.stale.len());
    assert_eq!(json["verdict"]["status"], "not_ready");
    assert_eq!(json["primary"]["state"], "reachable");
    for (side, workspace) in [("primary", &sandbox.primary), ("secondary", &sandbox.secondary)] {
        let id = workspace.metastore.read().global_id.clone();
        assert_eq!(json[side]["metastore_id"], id, "read through the warehouse");
    }
    assert_eq!(json["offenders"].as_array().map(Vec::len), Some(10));
    assert_eq!(json["last_run"]["id"], "run-1");
    assert_eq!(json["last_run"]["finished_ms"], 2_000);
    let missing = |kind: &str| json["drift"]["objects"][kind]["missing"].as_u64().unwrap() as usize;
    assert_eq!(
        [missing("catalog"), missing("schema"), missing("table"), missing("view"), missing("volume")],
        seeded.missing
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains(alice.secret()));

    // The table for people, one catalog only.
    let catalog = json["offenders"][0]["object"].as_str().unwrap().to_string();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_drbot"))
        .args(["--log-format", "text", "status", "--token-from-env", "--catalog", &catalog, "--config"])
        .arg(&config_path)
        .env("DRBOT_DATABRICKS_TOKEN", alice.secret())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("DR readiness: NOT READY"), "{stdout}");
    assert!(stdout.contains("missing on the secondary: 1 catalog"), "{stdout}");
    assert!(stdout.contains("Worst offenders"), "{stdout}");
    assert!(stdout.contains("run-1  finished"), "{stdout}");
}

#[tokio::test]
async fn drbot_status_without_workspaces_says_which_setting_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("drbot.toml");
    let config = r#"
[bot]
MicrosoftAppId = "app"
MicrosoftAppPassword = "secret"
MicrosoftAppType = "SingleTenant"
MicrosoftAppTenantId = "tenant"
"#;
    std::fs::write(&config_path, config).unwrap();
    // In its own directory, so no other test's default store (and its pairs) is found.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_drbot"))
        .current_dir(dir.path())
        .args(["--log-format", "text", "status", "--json", "--token-from-env", "--config"])
        .arg(&config_path)
        .env("DRBOT_DATABRICKS_TOKEN", "not-a-real-token")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "no report on stdout");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("databricks.primary_host"), "{stderr}");
    assert!(!stderr.contains("not-a-real-token"));
}

/// `drbot status --device-code`: the operator signs in on a device code
/// (the URL and code on stderr) and the report is read with their
/// Databricks token, not the bot's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drbot_status_runs_as_an_operator_signed_in_on_a_device_code() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let sandbox = Sandbox::start(SandboxConfig { tables: 4, ..Default::default() }).await.unwrap();
    sandbox.entra.set_device_code_timing(Duration::from_secs(1), Duration::from_secs(900));
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("drbot.toml");
    std::fs::write(&config_path, sandbox.bot_config_toml("127.0.0.1:0", false)).unwrap();
    // In its own directory: the configuration names no store, so its SQLite file goes there, not
    // into the directory every other test shares.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_drbot"))
        .current_dir(dir.path())
        .args(["--log-format", "text", "status", "--json", "--device-code", "--config"])
        .arg(&config_path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Duration::from_secs(60);
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let user_code = tokio::time::timeout(deadline, async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if let Some(rest) = line.split("enter the code ").nth(1) {
                return rest.split_whitespace().next().map(str::to_string);
            }
        }
        None
    })
    .await
    .expect("the prompt in time")
    .expect("a device code prompt on stderr");
    let alice = sandbox.teams.user("alice").unwrap();
    assert!(sandbox.entra.approve_device_code(&user_code, &alice));
    let output = tokio::time::timeout(deadline, child.wait_with_output()).await.expect("status ends").unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON alone");
    assert_eq!(json["primary"]["state"], "reachable", "{json}");
    assert_eq!(json["secondary"]["state"], "reachable", "{json}");
    let calls = sandbox.primary.calls();
    assert!(!calls.is_empty() && calls.iter().all(|c| c.caller_oid == alice.oid), "read as alice, not the bot");
}

/// #27 item 2: a secondary whose metastore cannot use a path replication
/// needs (no external location over the primary's external Delta storage,
/// which the clones read by path; a location whose owner is someone else and
/// grants nothing) shows each as a blocker naming the fix, and the plan
/// blocks those actions with the same reason instead of failing them.
#[tokio::test]
async fn a_missing_or_insufficient_external_location_is_a_blocker_naming_the_fix() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let (primary, secondary) = (client(&sandbox.primary_url()), client(&sandbox.secondary_url()));
    let config = replication_config();
    let read = ReadOptions::default();
    let assess = || async {
        check_with(
            Target { client: &primary, token: &alice },
            Target { client: &secondary, token: &alice },
            &[read.clone(), read.clone()],
            &config,
            1_800_000_000_000,
            &AssessOptions::default(),
            &|_| {},
        )
        .await
    };
    let bootstrapped = assess().await;
    assert_eq!(bootstrapped.storage_blockers, vec![], "the seed's secondary is bootstrapped");

    {
        let mut metastore = sandbox.secondary.metastore.write();
        metastore.external_locations.remove("external_delta_primary");
        metastore.external_locations.get_mut("geo_replicated").unwrap().common.owner = "storage-team".into();
    }
    let readiness = assess().await;
    let problems: Vec<&str> = readiness.storage_blockers.iter().map(|b| b.problem.as_str()).collect();
    assert!(
        problems.iter().any(|p| p.starts_with(
            "no external location on the secondary covers abfss://external@stextprimary.dfs.core.windows.net/"
        )),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p
            .contains("GRANT CREATE EXTERNAL VOLUME ON EXTERNAL LOCATION `geo_replicated` TO `alice@contoso.example`")),
        "{problems:?}"
    );
    assert_eq!(readiness.verdict.status, Status::NotReady);
    assert!(
        readiness.verdict.reasons.iter().any(|r| r.starts_with("replication is blocked on")),
        "{:?}",
        readiness.verdict
    );

    // The plan reports the same paths as blocked, with the fix; nothing of it fails.
    let (p, s) = tokio::join!(read_snapshot(&primary, &alice, &read), read_snapshot(&secondary, &alice, &read));
    let plan = drbot::replication::plan(&p.unwrap(), &s.unwrap(), &config);
    let storage_blocked: Vec<String> = plan
        .blocked()
        .filter(|a| {
            matches!(
                &a.kind,
                drbot::replication::ActionKind::Blocked(drbot::replication::plan::BlockReason::Storage(_))
            )
        })
        .map(|a| a.describe())
        .collect();
    assert!(
        storage_blocked.iter().any(|d| d.contains("no external location on the secondary covers")),
        "{storage_blocked:?}"
    );
    assert!(storage_blocked.iter().any(|d| d.contains("`geo_replicated`")), "{storage_blocked:?}");
}

/// A table protected on the primary (a row filter and a column mask, set
/// with SQL) and replicated by a deep clone, which carries neither: the read
/// brings the protection from the tables API, and `status` reports the
/// secondary's copy as a security finding.
#[tokio::test]
async fn a_protected_table_whose_clone_lacks_its_protection_is_a_security_finding() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let table = {
        let (primary, secondary) = (sandbox.primary.metastore.read(), sandbox.secondary.metastore.read());
        let name = primary
            .tables
            .keys()
            .find(|name| secondary.tables.get(*name).is_some_and(|t| t.cloned_from.is_some()))
            .expect("the seed has replicated tables")
            .clone();
        name
    };
    let by_region =
        Function::sql("main.security.by_region", &[("region", "STRING")], "BOOLEAN", "region = 'EU'", "alice");
    sandbox.primary.metastore.write().functions.insert(by_region.full_name(), by_region);
    let quoted = table.split('.').map(|p| format!("`{p}`")).collect::<Vec<_>>().join(".");
    let primary = client(&sandbox.primary_url());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for sql in [
        format!("ALTER TABLE {quoted} SET ROW FILTER main.security.by_region ON (region)"),
        format!("ALTER TABLE {quoted} ALTER COLUMN email SET MASK main.security.by_region"),
    ] {
        primary.query(&alice, PRIMARY_WAREHOUSE_ID, &sql, deadline).await.unwrap();
    }
    let read = read_snapshot(&primary, &alice, &ReadOptions::default()).await.unwrap();
    let protection = &read.tables[&table].protection;
    assert_eq!(protection.row_filter.as_ref().map(|f| f.function_name.as_str()), Some("main.security.by_region"));
    assert_eq!(protection.row_filter.as_ref().unwrap().columns, ["region"]);
    assert!(protection.column_masks.contains_key("email"));

    let secondary = client(&sandbox.secondary_url());
    let readiness = check(&primary, &secondary, &alice, &alice, &Default::default(), &replication_config(), 0).await;
    let finding = readiness.security.iter().find(|f| f.table == table).expect("the unprotected copy is a finding");
    assert_eq!(finding.secondary, "none");
    assert!(finding.primary.contains("row filter main.security.by_region"), "{}", finding.primary);
    assert_eq!(readiness.verdict.status, Status::NotReady);
    assert!(readiness.verdict.reasons.iter().any(|r| r.starts_with("security:")), "{:?}", readiness.verdict);
}

/// `status` compares registered models too (their versions and aliases,
/// from one metastore-wide list a side): a model whose copy lacks a version
/// and points its alias elsewhere is model drift, and a faithful copy none.
#[tokio::test]
async fn status_drift_counts_registered_models_by_versions_and_aliases() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let schema = {
        let (p, s) = (sandbox.primary.metastore.read(), sandbox.secondary.metastore.read());
        p.schemas
            .keys()
            .find(|k| s.schemas.contains_key(*k) && k.starts_with("main."))
            .expect("a shared schema")
            .clone()
    };
    let model = format!("{schema}.churn");
    let admin = sandbox::databricks::seed::ADMIN_GROUP;
    for (workspace, versions, alias) in [(&sandbox.primary, 2, 2), (&sandbox.secondary, 1, 1)] {
        let mut metastore = workspace.metastore.write();
        let seeded = sandbox::databricks::models::seed(
            &mut metastore,
            &model,
            "churn",
            versions,
            &[("champion", alias)],
            admin,
            1,
        );
        assert!(seeded);
    }
    let (primary, secondary) = (client(&sandbox.primary_url()), client(&sandbox.secondary_url()));
    let read = |warehouse: &str| ReadOptions { warehouse_id: Some(warehouse.into()), ..ReadOptions::default() };
    let reads = [read(PRIMARY_WAREHOUSE_ID), read(SANDBOX_WAREHOUSE_ID)];
    let readiness = check(&primary, &secondary, &alice, &alice, &reads, &replication_config(), 0).await;
    let drift = readiness.drift.as_ref().expect("drift computed");
    assert_eq!(drift.objects.model.different, 1, "{:?}", drift.objects);

    // The copy made faithful: no model drift.
    {
        let versions = sandbox.primary.metastore.read().models[&model].versions.clone();
        let mut metastore = sandbox.secondary.metastore.write();
        let copy = metastore.models.get_mut(&model).unwrap();
        copy.versions = versions;
        copy.aliases.insert("champion".into(), 2);
    }
    let readiness = check(&primary, &secondary, &alice, &alice, &reads, &replication_config(), 0).await;
    assert_eq!(readiness.drift.expect("drift computed").objects.model, Default::default());
}

/// Given the pair's copy manifest, `status` lists the managed volumes'
/// files on both sides: copies of the primary's current files are no
/// drift; a file the primary changed since is.
#[tokio::test]
async fn status_drift_counts_a_managed_volume_whose_files_differ() {
    use drbot::replication::snapshot::Snapshot;
    use drbot::replication::volume_files::FilesRead;
    use drbot::replication::volume_survey::{survey_with, Lister, Manifest};
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let volume = {
        let primary = sandbox.primary.metastore.read();
        primary.volumes.values().find(|v| v.volume_type == "MANAGED").expect("the seed's managed volume").clone()
    };
    let name = volume.full_name();
    let root = format!("/Volumes/{}", name.replace('.', "/"));
    // The secondary holds the volume and a copy of every file.
    {
        let mut secondary = sandbox.secondary.metastore.write();
        let schema = format!("{}.{}", volume.catalog, volume.schema);
        assert!(secondary.schemas.contains_key(&schema), "the secondary has the volume's schema");
        secondary.volumes.insert(name.clone(), volume.clone());
    }
    for (path, bytes) in sandbox.primary.files.files_under(&root) {
        sandbox.secondary.files.put(&path, &bytes);
    }
    // The seed's empty folder too.
    sandbox.secondary.files.mkdir(&format!("{root}/archive"));
    let (primary, secondary) = (client(&sandbox.primary_url()), client(&sandbox.secondary_url()));
    // The manifest of those copies: the primary's files as listed now.
    let manifest: Manifest = {
        let (mut from, mut to) = (Snapshot::default(), Snapshot::default());
        from.catalogs = sandbox_catalog(&volume.catalog);
        from.volumes.insert(name.clone(), drbot_volume(&volume));
        let lister = Lister { client: &primary, token: &alice };
        survey_with(&Manifest::new(), lister, Lister { client: &secondary, token: &alice }, 4, &mut from, &mut to)
            .await;
        let Some(FilesRead::Listed(files)) = from.volume_files.remove(&name) else { panic!("listed") };
        [(name.clone(), files.files)].into()
    };
    let read = |warehouse: &str| ReadOptions { warehouse_id: Some(warehouse.into()), ..ReadOptions::default() };
    let reads = [read(PRIMARY_WAREHOUSE_ID), read(SANDBOX_WAREHOUSE_ID)];
    let options = AssessOptions { volume_files: Some(manifest), ..AssessOptions::default() };
    let config = replication_config();
    let status = || {
        check_with(
            Target { client: &primary, token: &alice },
            Target { client: &secondary, token: &alice },
            &reads,
            &config,
            0,
            &options,
            &|_| {},
        )
    };
    let volume_drift = |readiness: &Readiness| readiness.drift.as_ref().expect("drift computed").objects.volume;
    assert_eq!(volume_drift(&status().await).different, 0, "copies of the current files");
    let changed = sandbox.primary.files.files_under(&root).into_keys().next().unwrap();
    sandbox.primary.files.put(&changed, b"a newer version, longer than before");
    assert_eq!(volume_drift(&status().await).different, 1, "a file changed since its copy");
    // Without the manifest, files are not compared.
    let readiness = check(&primary, &secondary, &alice, &alice, &reads, &replication_config(), 0).await;
    assert_eq!(volume_drift(&readiness).different, 0);
}

fn sandbox_catalog(name: &str) -> BTreeMap<String, drbot::replication::snapshot::CatalogInfo> {
    use drbot::replication::snapshot::{CatalogInfo, CatalogKind};
    let info = CatalogInfo {
        name: name.into(),
        kind: CatalogKind::Managed,
        storage_root: None,
        provider_name: None,
        share_name: None,
        common: Default::default(),
    };
    [(name.to_string(), info)].into()
}

fn drbot_volume(volume: &sandbox::databricks::metastore::Volume) -> drbot::replication::snapshot::VolumeInfo {
    drbot::replication::snapshot::VolumeInfo {
        catalog: volume.catalog.clone(),
        schema: volume.schema.clone(),
        name: volume.name.clone(),
        volume_type: volume.volume_type.clone(),
        storage_location: None,
        common: Default::default(),
    }
}
