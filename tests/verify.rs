//! `verify` against the sandbox's seeded world: after `drbot replicate
//! --apply`, every table in scope is equal or blocked with its reason (none
//! left out); a commit on the primary afterwards shows as a difference in
//! rows and version; `--deep` compares row hashes (equal for clones, not for
//! a clone written since) and blocks tables over the size limit; in chat the
//! card shows the tables that differ, and a person without SELECT gets
//! blocked results naming it, not a failure.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use drbot::config::Config;
use drbot::identity::{AccessToken, OnBehalfOf, UserAssertion, DATABRICKS_SCOPE};
use sandbox::databricks::metastore::Metastore;
use sandbox::databricks::statements::StatementTiming;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_BOT_APP_ID};
use serde_json::Value;
use support::chat::{card_text, wait_for, Chat};
use support::World;

/// A Databricks token for `user`, by Teams SSO then on-behalf-of.
async fn token_for(sandbox: &Sandbox, user: &str) -> AccessToken {
    let config = Config::from_toml(&sandbox.bot_config_toml("127.0.0.1:0", false), &BTreeMap::new()).unwrap();
    let obo = OnBehalfOf::new(&config, reqwest::Client::new());
    let user = sandbox.teams.user(user).unwrap();
    let assertion = UserAssertion::from_token(&sandbox.entra.teams_sso_token(&user, SANDBOX_BOT_APP_ID)).unwrap();
    obo.token(&assertion, DATABRICKS_SCOPE, false).await.unwrap()
}

/// The bot's configuration for the sandbox, with its store in `dir`.
fn config_file(sandbox: &Sandbox, dir: &Path) -> PathBuf {
    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let path = dir.join("drbot.toml");
    let text = format!(
        "{}\n[store]\ndata_dir = {:?}\n",
        sandbox.bot_config_toml("127.0.0.1:0", false),
        data_dir.display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `drbot ARGS --config CONFIG --token-from-env` as the token's owner:
/// whether it exited 0, and its stdout.
async fn drbot(args: &[&str], config: &Path, token: &AccessToken, env: &[(&str, &str)]) -> (bool, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_drbot"));
    command.args(["--log-format", "text"]).args(args).arg("--token-from-env").arg("--config").arg(config);
    command.env("DRBOT_DATABRICKS_TOKEN", token.secret());
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains(token.secret()), "no token in the output");
    if !output.status.success() && output.stdout.is_empty() {
        panic!("drbot {args:?} failed: {stderr}");
    }
    (output.status.success(), String::from_utf8_lossy(&output.stdout).to_string())
}

async fn verify_json(args: &[&str], config: &Path, token: &AccessToken, env: &[(&str, &str)]) -> (bool, Value) {
    let mut all = vec!["verify", "--json"];
    all.extend_from_slice(args);
    let (ok, stdout) = drbot(&all, config, token, env).await;
    (ok, serde_json::from_str(&stdout).expect("stdout is the JSON report alone"))
}

/// Each table's entry of a report, by name.
fn by_table(report: &Value) -> BTreeMap<String, Value> {
    report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| (t["table"].as_str().unwrap().to_string(), t.clone()))
        .collect()
}

/// Every table and view of the primary's managed catalogs: what verify must answer for.
fn primary_tables(primary: &Metastore) -> BTreeSet<String> {
    primary
        .tables
        .values()
        .filter(|t| primary.catalogs.get(&t.catalog).is_some_and(|c| c.catalog_type == "MANAGED_CATALOG"))
        .map(|t| t.full_name())
        .collect()
}

/// The seeded sandbox, its warehouses running four times as fast.
async fn quick_sandbox() -> Sandbox {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    for ws in [&sandbox.primary, &sandbox.secondary] {
        ws.statements.set_timing(StatementTiming { speed: 4.0, start_ms: 0, ..StatementTiming::default() });
    }
    sandbox
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_replication_every_table_is_equal_or_blocked_and_later_commits_show() {
    let sandbox = quick_sandbox().await;
    let alice = token_for(&sandbox, "alice").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&sandbox, dir.path());

    let (replicated, _) = drbot(&["replicate", "--apply"], &config, &alice, &[]).await;
    assert!(replicated, "the seeded world replicates");

    // Every table in scope is answered for, equal or blocked with why.
    let (ok, report) = verify_json(&[], &config, &alice, &[]).await;
    assert!(ok, "nothing differs or failed: {report:#}");
    let tables = by_table(&report);
    assert_eq!(report["tally"]["total"].as_u64(), Some(tables.len() as u64));
    let expected = primary_tables(&sandbox.primary.metastore.read());
    let missing: Vec<&String> = expected.iter().filter(|t| !tables.contains_key(*t)).collect();
    assert!(missing.is_empty(), "silently skipped: {missing:?}");
    let mut equal = Vec::new();
    let mut recorded_equal = 0;
    let mut others_equal = Vec::new();
    for (name, table) in &tables {
        match table["result"].as_str() {
            // Registered models and managed volumes (no rows): their versions or files.
            Some("equal") if table["kind"] != "managed" && table["kind"] != "external" => {
                let (p, s) = (&table["primary"], &table["secondary"]);
                assert!(p["files"] == s["files"] && p["versions"] == s["versions"], "{name}: {table}");
                others_equal.push((table["kind"].as_str().unwrap_or_default().to_string(), name.clone()));
            }
            Some("equal") => {
                let (p, s) = (&table["primary"], &table["secondary"]);
                assert_eq!(p["rows"], s["rows"], "{name}");
                assert!(p["rows"].as_i64().unwrap() > 0, "{name}");
                assert_eq!(s["operation"], "CLONE", "{name}");
                assert_eq!(s["source_version"], p["version"], "{name}: the clone holds the newest version");
                // Recorded when this replication cloned it (the seed's up-to-date clones were not).
                let recorded = &table["recorded_source_version"];
                assert!(recorded.is_null() || recorded == &p["version"], "{name}: as recorded");
                recorded_equal += usize::from(!recorded.is_null());
                equal.push(name.clone());
            }
            Some("blocked") => assert!(!table["reason"].as_str().unwrap_or_default().is_empty(), "{name}"),
            other => panic!("{name}: {other:?} {table}"),
        }
    }
    assert!(equal.len() >= 10, "most Delta tables are equal: {equal:?}");
    // The seed's managed volume: its files (names, sizes, copied from the
    // primary's current versions) are the primary's.
    let managed: Vec<&(String, String)> = others_equal.iter().filter(|(kind, _)| kind == "managed_volume").collect();
    assert_eq!(managed.len(), 1, "{others_equal:?}");
    let volume = managed[0].1.clone();
    assert!(tables[&volume]["primary"]["files"].as_u64().unwrap() > 0, "{}", tables[&volume]);
    assert!(reasons_of(&tables).iter().any(|r| r.contains("storage replication")), "external volumes say why");
    assert!(recorded_equal > 0, "the tables this replication cloned hold the recorded version");
    let reasons: Vec<&str> = tables.values().filter_map(|t| t["reason"].as_str()).collect();
    assert!(reasons.iter().any(|r| r.starts_with("a view")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("not a Delta table")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("only on the secondary")), "{reasons:?}");

    // The primary commits again to one table: rows and version differ.
    let moved = equal[0].clone();
    sandbox.primary.metastore.write().tables.get_mut(&moved).unwrap().append(now_ms() + 60_000);
    let catalog = moved.split('.').next().unwrap().to_string();
    let (ok, report) = verify_json(&["default", &catalog], &config, &alice, &[]).await;
    assert!(!ok, "a difference fails the command");
    let tables = by_table(&report);
    assert!(tables.keys().all(|t| t.starts_with(&format!("{catalog}."))), "one catalog");
    let differences = tables[&moved]["differences"].to_string();
    assert_eq!(tables[&moved]["result"], "different");
    assert!(differences.contains("rows: primary"), "{differences}");
    assert!(differences.contains("the secondary holds source version"), "{differences}");

    // Deep: the clones' row hashes equal the primary's; the moved table's do not.
    let (_, report) = verify_json(&["--deep"], &config, &alice, &[]).await;
    let tables = by_table(&report);
    let still = equal.iter().find(|t| **t != moved).unwrap().clone();
    assert_eq!(tables[&still]["result"], "equal");
    let hash = &tables[&still]["primary"]["row_hash"];
    assert!(hash.is_string(), "{}", tables[&still]);
    assert_eq!(hash, &tables[&still]["secondary"]["row_hash"]);
    assert!(tables[&moved]["differences"].to_string().contains("row hash"), "{}", tables[&moved]);

    // A clone written on the secondary after it was cloned differs too.
    sandbox.secondary.metastore.write().tables.get_mut(&still).unwrap().append(now_ms());
    let (_, report) = verify_json(&["--deep"], &config, &alice, &[]).await;
    let differences = by_table(&report)[&still]["differences"].to_string();
    assert!(differences.contains("row hash"), "{differences}");
    assert!(differences.contains("written on the secondary after its clone"), "{differences}");

    // Over the size limit, the deep comparison is blocked with the size, not skipped.
    let (_, report) =
        verify_json(&["--deep"], &config, &alice, &[("DRBOT__REPLICATION__VERIFY_DEEP_MAX_BYTES", "1")]).await;
    let tables = by_table(&report);
    let third = equal.iter().find(|t| **t != moved && **t != still).unwrap();
    assert_eq!(tables[third]["result"], "blocked");
    assert!(tables[third]["reason"].as_str().unwrap().starts_with("too large for --deep"), "{}", tables[third]);

    // The table for people, and the exit code a pipeline reads.
    let (ok, text) = drbot(&["verify"], &config, &alice, &[]).await;
    assert!(!ok);
    assert!(text.contains(&format!("different  {moved}")), "{text}");
    assert!(text.contains("tables, models and volumes: "), "{text}");

    // A file the primary changes, and one only the secondary has: the
    // volume differs, naming them.
    let root = format!("/Volumes/{}", volume.replace('.', "/"));
    let primary_file = sandbox.primary.files.files_under(&root).into_keys().next().expect("the volume has files");
    sandbox.primary.files.put(&primary_file, b"changed on the primary");
    sandbox.secondary.files.put(&format!("{root}/stray.txt"), b"only here");
    let (_, report) = verify_json(&[], &config, &alice, &[]).await;
    let result = &by_table(&report)[&volume];
    assert_eq!(result["result"], "different", "{result}");
    let differences = result["differences"].to_string();
    assert!(differences.contains("1 file(s) not the primary's current version"), "{differences}");
    assert!(differences.contains("1 file(s) only on the secondary"), "{differences}");
    assert!(differences.contains("stray.txt"), "{differences}");
}

fn reasons_of(tables: &BTreeMap<String, Value>) -> Vec<String> {
    tables.values().filter_map(|t| t["reason"].as_str().map(str::to_string)).collect()
}

/// A replicated Delta table of `main` on both sides whose owners (table,
/// schema, catalog) are not the readers; the readers may see it (MODIFY)
/// but not read it, on both sides.
fn withhold_select(sandbox: &Sandbox) -> String {
    let readers = ["dr-readers", "bob@contoso.example"];
    let chosen = {
        let primary = sandbox.primary.metastore.read();
        let secondary = sandbox.secondary.metastore.read();
        let not_readers = |owner: &str| !readers.contains(&owner);
        primary
            .tables
            .values()
            .filter(|t| t.catalog == "main" && t.data_source_format.as_deref() == Some("DELTA"))
            .filter(|t| secondary.tables.contains_key(&t.full_name()))
            .filter(|t| not_readers(&t.common.owner))
            .filter(|t| {
                [&primary, &secondary].iter().all(|m| {
                    m.schemas.get(&format!("{}.{}", t.catalog, t.schema)).is_some_and(|s| not_readers(&s.common.owner))
                        && m.catalogs.get("main").is_some_and(|c| not_readers(&c.common.owner))
                        && m.tables.get(&t.full_name()).is_some_and(|t| not_readers(&t.common.owner))
                })
            })
            .map(|t| t.full_name())
            .next()
            .expect("a table of main the readers do not own")
    };
    let (schema, _) = chosen.rsplit_once('.').unwrap();
    for workspace in [&sandbox.primary, &sandbox.secondary] {
        let mut metastore = workspace.metastore.write();
        let catalog = &mut metastore.catalogs.get_mut("main").unwrap().common.grants;
        for reader in readers {
            catalog.remove(reader);
        }
        catalog.entry("dr-readers".into()).or_default().insert("USE_CATALOG".into());
        let schema = &mut metastore.schemas.get_mut(schema).unwrap().common.grants;
        for reader in readers {
            schema.remove(reader);
        }
        schema.entry("dr-readers".into()).or_default().insert("USE_SCHEMA".into());
        let table = &mut metastore.tables.get_mut(&chosen).unwrap().common.grants;
        for reader in readers {
            table.remove(reader);
        }
        table.entry("dr-readers".into()).or_default().insert("MODIFY".into());
    }
    chosen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_in_chat_shows_what_differs_and_a_reader_without_select_is_blocked_not_failed() {
    let world = World::start().await;
    for ws in [&world.sandbox.primary, &world.sandbox.secondary] {
        ws.statements.set_timing(StatementTiming { speed: 4.0, start_ms: 0, ..StatementTiming::default() });
    }
    let withheld = withhold_select(&world.sandbox);

    // alice, on the seeded world: its stale clones differ from the primary.
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let first = alice.say("verify").await;
    let text = card_text(&first);
    assert!(text.contains("Verifying default"), "the progress card comes first: {text}");
    let conversation = alice.conversation.id().to_string();
    let done = wait_for(&world, "alice's verify result", |r| {
        r.conversation_id == conversation
            && r.activity_id == first.activity_id
            && card_text(r).contains("Verification of")
    })
    .await;
    let text = card_text(&done);
    assert!(text.contains("differ from the primary"), "{text}");
    assert!(text.contains("the secondary holds source version"), "{text}");
    assert!(text.contains("verify default"), "Verify again: {text}");
    assert!(done.body.to_string().len() <= drbot::cards::views::MAX_CARD_BYTES + 2_048, "fits Teams");

    // bob may see the table but not read it: blocked with why, nothing failed.
    let bob = Chat::personal(&world, "bob");
    bob.sign_in().await;
    let first = bob.say("verify main").await;
    let conversation = bob.conversation.id().to_string();
    let done = wait_for(&world, "bob's verify result", |r| {
        r.conversation_id == conversation
            && r.activity_id == first.activity_id
            && card_text(r).contains("Verification of")
    })
    .await;
    let text = card_text(&done);
    assert!(text.contains(&withheld), "{text}");
    assert!(text.contains("no SELECT on the primary table"), "{text}");
    assert!(!text.contains("could not be compared"), "a refusal is not a failure: {text}");
}

/// The primary holds every kind together (tags and comments on columns from
/// the seed, a function a view uses, a filtered table with a masked column,
/// a materialized view and a streaming table, a pipeline's table, a
/// registered model with versions, a managed volume with files): after
/// `drbot replicate --apply`, `verify` answers for every table (equal, or
/// blocked with why), and every object of the primary is on the secondary or
/// named, with its reason, by what is left to do. A test counts the silent
/// skips: there are none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_together_ends_equal_or_blocked_with_no_silent_skip() {
    use drbot::databricks::WorkspaceClient;
    use drbot::replication::ActionKind;
    use sandbox::databricks::statements::{PRIMARY_WAREHOUSE_ID, SANDBOX_WAREHOUSE_ID};
    let sandbox = quick_sandbox().await;
    let alice = token_for(&sandbox, "alice").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&sandbox, dir.path());

    // Every kind, on an admin-owned managed table of the seed and its schema.
    let (table, schema) = {
        let primary = sandbox.primary.metastore.read();
        let admin = sandbox::databricks::seed::ADMIN_GROUP;
        let found = primary
            .tables
            .values()
            .find(|t| {
                let schema = primary.schemas.get(&format!("{}.{}", t.catalog, t.schema));
                t.table_type == "MANAGED" && t.common.owner == admin && schema.is_some_and(|s| s.common.owner == admin)
            })
            .expect("an admin-owned managed table");
        (found.full_name(), format!("{}.{}", found.catalog, found.schema))
    };
    // Another managed table of that schema, for a foreign key to it.
    let child = {
        let primary = sandbox.primary.metastore.read();
        let found = primary.tables.values().find(|t| {
            t.table_type == "MANAGED" && format!("{}.{}", t.catalog, t.schema) == schema && t.full_name() != table
        });
        found.expect("a second managed table in the schema").full_name()
    };
    let quote = |name: &str| name.split('.').map(|p| format!("`{p}`")).collect::<Vec<_>>().join(".");
    let (t, s) = (quote(&table), quote(&schema));
    let c = quote(&child);
    let primary = WorkspaceClient::new(reqwest::Client::new(), &sandbox.primary_url());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    for sql in [
        format!("CREATE FUNCTION {s}.`is_eu` (region STRING) RETURNS BOOLEAN RETURN region = 'EU'"),
        format!("CREATE FUNCTION {s}.`mask_email` (email STRING) RETURNS STRING RETURN '***'"),
        format!("ALTER TABLE {t} SET ROW FILTER {s}.`is_eu` ON (region)"),
        format!("ALTER TABLE {t} ALTER COLUMN email SET MASK {s}.`mask_email`"),
        format!("GRANT EXECUTE ON FUNCTION {s}.`is_eu` TO `analysts`"),
        format!("ALTER FUNCTION {s}.`mask_email` OWNER TO `data-engineers`"),
        format!("ALTER TABLE {t} ADD CONSTRAINT `pk_dr` PRIMARY KEY (`id`) RELY"),
        format!("ALTER TABLE {c} ADD CONSTRAINT `fk_dr` FOREIGN KEY (`parent_id`) REFERENCES {t} (`id`)"),
        format!("CREATE VIEW {s}.`eu_view` AS SELECT {s}.`is_eu`(region) AS eu FROM {t}"),
        format!("CREATE MATERIALIZED VIEW {s}.`daily` AS SELECT * FROM {t}"),
        format!("CREATE STREAMING TABLE {s}.`feed` AS SELECT * FROM STREAM {t}"),
    ] {
        primary.query(&alice, PRIMARY_WAREHOUSE_ID, &sql, deadline).await.unwrap();
    }
    let gold = format!("{schema}.gold");
    let model = format!("{schema}.churn");
    let ranker = format!("{schema}.ranker");
    const TEMP_AUDITOR: &str = "temp-auditor@contoso.example";
    {
        let mut metastore = sandbox.primary.metastore.write();
        let admin = sandbox::databricks::seed::ADMIN_GROUP;
        let query = format!("SELECT * FROM {t}");
        let at = 1_800_000_000_000;
        assert!(sandbox::databricks::datasets::publish(
            &mut metastore,
            &gold,
            "MATERIALIZED_VIEW",
            &query,
            &[&table],
            "0f1e2d3c-pipeline",
            admin,
            at
        ));
        assert!(sandbox::databricks::models::seed(&mut metastore, &model, "predicts churn", 2, &[], admin, at));
        // A model whose versions a person will copy with MLflow between
        // two runs: its version tags and alias follow on the second.
        assert!(sandbox::databricks::models::seed(&mut metastore, &ranker, "ranks", 2, &[("champion", 2)], admin, at));
        let versions = &mut metastore.models.get_mut(&ranker).unwrap().versions;
        versions.get_mut(&1).unwrap().tags.insert("validated".into(), "yes".into());
        // Two principals only the primary's account has: one the pair maps
        // to the secondary's name, one it does not (blocked, with why).
        let grants = &mut metastore.tables.get_mut(&table).unwrap().common.grants;
        grants.entry("auditors-eu".into()).or_default().insert("SELECT".into());
        grants.entry(TEMP_AUDITOR.into()).or_default().insert("SELECT".into());
    }
    for name in ["auditors-eu", TEMP_AUDITOR] {
        sandbox.secondary.forget_principal(name);
    }
    // The secondary's name for the mapped one, a group of the account.
    sandbox.secondary.account.add_principal("auditors-dr");
    let m = quote(&model);
    primary
        .query(&alice, PRIMARY_WAREHOUSE_ID, &format!("GRANT EXECUTE ON FUNCTION {m} TO `analysts`"), deadline)
        .await
        .unwrap();
    let r = quote(&ranker);
    primary
        .query(&alice, PRIMARY_WAREHOUSE_ID, &format!("GRANT EXECUTE ON FUNCTION {r} TO `dr-readers`"), deadline)
        .await
        .unwrap();
    {
        let drbot_config = Config::load(Some(&config), &BTreeMap::new()).unwrap();
        let store = drbot::store::Store::open(&drbot_config.store.url()).await.unwrap();
        let principal = drbot::assets::mapping::MappingKind::Principal;
        store.set_asset_mapping("default", principal, "auditors-eu", "auditors-dr").await.unwrap();
        store.close().await;
    }
    let volume = {
        let metastore = sandbox.primary.metastore.read();
        let managed = metastore.volumes.values().find(|v| v.volume_type == "MANAGED").expect("a managed volume");
        format!("/Volumes/{}", managed.full_name().replace('.', "/"))
    };
    assert!(!sandbox.primary.files.files_under(&volume).is_empty(), "the seed's volume has files");

    let (_, applied) = drbot(&["replicate", "--apply"], &config, &alice, &[]).await;
    // A person copies the ranker's versions with MLflow (a stale tag on
    // one); the next run sets their tags and alias.
    {
        let primary_versions = sandbox.primary.metastore.read().models[&ranker].versions.clone();
        let mut secondary = sandbox.secondary.metastore.write();
        let copy = secondary.models.get_mut(&ranker).expect("the ranker was created");
        copy.versions = primary_versions;
        let v1 = copy.versions.get_mut(&1).unwrap();
        v1.tags.clear();
        v1.tags.insert("old".into(), "x".into());
    }
    let (_, applied_again) = drbot(&["replicate", "--apply"], &config, &alice, &[]).await;
    let applied = format!("{applied}\n{applied_again}");

    // verify: every table of the primary is answered for, equal or blocked.
    let (_, report) = verify_json(&[], &config, &alice, &[]).await;
    let tables = by_table(&report);
    let expected = primary_tables(&sandbox.primary.metastore.read());
    let unanswered: Vec<&String> = expected.iter().filter(|t| !tables.contains_key(*t)).collect();
    assert!(unanswered.is_empty(), "verify left out: {unanswered:?}");
    for (name, result) in &tables {
        match result["result"].as_str() {
            Some("equal") => {}
            Some("blocked") => assert!(!result["reason"].as_str().unwrap_or_default().is_empty(), "{name}"),
            other => panic!("{name}: {other:?} {result}\n{applied}"),
        }
    }
    assert_eq!(tables[&table]["result"], "equal", "the filtered, masked table: {}", tables[&table]);
    // Registered models are answered for too: one whose versions a person
    // must copy is blocked with that fix; the copied one is equal.
    assert_eq!(tables[&model]["kind"], "model");
    assert_eq!(tables[&model]["result"], "blocked", "{}", tables[&model]);
    assert!(tables[&model]["reason"].as_str().unwrap().contains("copy_model_version"), "{}", tables[&model]);
    assert_eq!(tables[&ranker]["result"], "equal", "{}", tables[&ranker]);
    assert_eq!(tables[&ranker]["secondary"]["versions"], 2);
    assert_eq!(tables[&child]["result"], "equal", "the table with a foreign key: {}", tables[&child]);
    {
        let (p, s) = (sandbox.primary.metastore.read(), sandbox.secondary.metastore.read());
        for name in [&table, &child] {
            assert_eq!(s.tables[name].constraints, p.tables[name].constraints, "{name}");
        }
        assert_eq!(s.tables[&child].constraints[0].references.as_ref().map(|r| r.0.as_str()), Some(table.as_str()));
        // Functions' grants and owners, as tables'.
        for name in ["is_eu", "mask_email"] {
            let name = format!("{schema}.{name}");
            assert_eq!(s.functions[&name].common.grants, p.functions[&name].common.grants, "{name}");
            assert_eq!(s.functions[&name].common.owner, p.functions[&name].common.owner, "{name}");
        }
        assert!(s.functions[&format!("{schema}.is_eu")].common.grants["analysts"].contains("EXECUTE"));
        assert_eq!(s.functions[&format!("{schema}.mask_email")].common.owner, "data-engineers");
    }

    // What is left to do, read as a replication reads.
    let drbot_config = Config::load(Some(&config), &BTreeMap::new()).unwrap();
    let workspaces = drbot::cli::replicate::workspaces(&drbot_config).unwrap();
    assert_eq!(workspaces.warehouse_id, SANDBOX_WAREHOUSE_ID);
    let filter = drbot::replication::read::ReadFilter::default();
    let timeout = std::time::Duration::from_secs(30);
    let read =
        drbot::cli::replicate::read_both(&workspaces, Some(PRIMARY_WAREHOUSE_ID.into()), &alice, filter, 8, timeout);
    let (primary_snapshot, mut secondary_snapshot) = read.await.unwrap();
    let mut replication = drbot::cli::replicate::replication_config(&drbot_config, None, None, false);
    replication.principals = drbot::replication::principals::PrincipalMap::new([("auditors-eu", "auditors-dr")]);
    let surveyed = drbot::replication::principal_survey::survey(
        &workspaces.secondary,
        &alice,
        &primary_snapshot,
        &mut secondary_snapshot,
        &replication,
        4,
    )
    .await;
    assert_eq!((surveyed.unknown, surveyed.unanswered), (1, 0), "{surveyed:?}");
    assert_eq!(secondary_snapshot.unknown_principals, [TEMP_AUDITOR.to_string()].into());
    let left = drbot::replication::planner::plan(&primary_snapshot, &secondary_snapshot, &replication);
    let blocked: Vec<(String, String)> = left
        .actions
        .iter()
        .filter_map(|a| match &a.kind {
            ActionKind::Blocked(reason) => Some((a.object.full_name(), reason.to_string())),
            _ => None,
        })
        .collect();
    assert!(blocked.iter().all(|(_, reason)| !reason.is_empty()), "{blocked:?}");
    // Nothing is left but what is blocked, what waits on it, and refreshes.
    let pending: Vec<String> = left
        .actions
        .iter()
        .filter(|a| !matches!(a.kind, ActionKind::Blocked(_)))
        .filter(|a| a.depends_on.is_empty() && !a.describe().contains("refresh"))
        .map(|a| a.describe())
        .collect();
    assert!(pending.is_empty(), "a second run would still do: {pending:?}\n{applied}");

    // The count: each object of the primary in scope is on the secondary or
    // named by a blocked action; anything else was skipped silently.
    let named =
        |name: &str| blocked.iter().any(|(object, _)| object == name || object.starts_with(&format!("{name}.")));
    let (p, s) = (sandbox.primary.metastore.read(), sandbox.secondary.metastore.read());
    let managed = |catalog: &str| p.catalogs.get(catalog).is_some_and(|c| c.catalog_type == "MANAGED_CATALOG");
    let mut silent = Vec::new();
    let mut check = |kind: &str, name: &String, present: bool| {
        if !present && !named(name) {
            silent.push(format!("{kind} {name}"));
        }
    };
    for (name, catalog) in &p.catalogs {
        if catalog.catalog_type == "MANAGED_CATALOG" {
            check("catalog", name, s.catalogs.contains_key(name));
        }
    }
    for (name, _) in p.schemas.iter().filter(|(_, x)| managed(&x.catalog)) {
        check("schema", name, s.schemas.contains_key(name));
    }
    for (name, _) in p.tables.iter().filter(|(_, x)| managed(&x.catalog)) {
        check("table", name, s.tables.contains_key(name));
    }
    for (name, _) in p.functions.iter().filter(|(n, _)| managed(n.split('.').next().unwrap_or_default())) {
        check("function", name, s.functions.contains_key(name));
    }
    for (name, _) in p.volumes.iter().filter(|(n, _)| managed(n.split('.').next().unwrap_or_default())) {
        check("volume", name, s.volumes.contains_key(name));
    }
    for (name, _) in p.models.iter().filter(|(n, _)| managed(n.split('.').next().unwrap_or_default())) {
        check("model", name, s.models.contains_key(name));
    }
    assert_eq!(silent, Vec::<String>::new(), "silently skipped");
    // The ones a person must act on are named, each with why.
    assert!(named(&gold), "the pipeline's table: {blocked:?}");
    assert!(blocked.iter().any(|(o, r)| o.starts_with(&model) && r.contains("copy_model_version")), "{blocked:?}");
    // The principal the secondary lacks: its grant alone, named with why.
    let unknown: Vec<&(String, String)> = blocked.iter().filter(|(_, r)| r.contains(TEMP_AUDITOR)).collect();
    assert_eq!(unknown.len(), 1, "{blocked:?}");
    assert_eq!(unknown[0].0, table);
    assert!(unknown[0].1.contains("not known to the secondary's metastore"), "{}", unknown[0].1);
    assert!(
        blocked.iter().all(|(o, r)| *o == gold || o.starts_with(&model) || r.contains(TEMP_AUDITOR)),
        "nothing else is blocked: {blocked:?}"
    );
    // The table arrived with its other grants, the mapped one by its
    // secondary name; the unknown principal's grant is the only one missing.
    let held = &s.tables[&table].common.grants;
    assert!(held.get("auditors-dr").is_some_and(|p| p.contains("SELECT")), "{held:?}");
    assert!(!held.contains_key("auditors-eu") && !held.contains_key(TEMP_AUDITOR), "{held:?}");
    for (principal, privileges) in &p.tables[&table].common.grants {
        if !["auditors-eu", TEMP_AUDITOR].contains(&principal.as_str()) {
            assert!(held.get(principal).is_some_and(|h| h.is_superset(privileges)), "{principal}: {held:?}");
        }
    }
    // Registered models: grants (granted as functions), and the ranker's
    // version tags and alias once a person copied its versions.
    assert_eq!(s.models[&model].common.grants, p.models[&model].common.grants);
    assert!(s.models[&model].common.grants["analysts"].contains("EXECUTE"));
    assert_eq!(s.models[&ranker].common.grants, p.models[&ranker].common.grants);
    for (number, version) in &p.models[&ranker].versions {
        assert_eq!(s.models[&ranker].versions[number].tags, version.tags, "version {number}");
    }
    assert_eq!(s.models[&ranker].aliases, p.models[&ranker].aliases);
    // Kinds that are not tables arrived whole.
    for name in [format!("{schema}.is_eu"), format!("{schema}.mask_email")] {
        let (got, want) = (&s.functions[&name], &p.functions[&name]);
        assert_eq!((&got.parameters, &got.returns, &got.body), (&want.parameters, &want.returns, &want.body), "{name}");
    }
    assert_eq!(s.tables[&table].protection, p.tables[&table].protection);
    assert_eq!(s.models[&model].common.comment, p.models[&model].common.comment);
    assert_eq!(
        (
            s.tables[&format!("{schema}.daily")].table_type.as_str(),
            s.tables[&format!("{schema}.feed")].table_type.as_str()
        ),
        (
            p.tables[&format!("{schema}.daily")].table_type.as_str(),
            p.tables[&format!("{schema}.feed")].table_type.as_str()
        )
    );
    drop((p, s));
    assert_eq!(
        sandbox.secondary.files.files_under(&volume),
        sandbox.primary.files.files_under(&volume),
        "the volume's files"
    );
}
