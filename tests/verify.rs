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

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_replication_every_table_is_equal_or_blocked_and_later_commits_show() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    for ws in [&sandbox.primary, &sandbox.secondary] {
        ws.statements.set_timing(StatementTiming { speed: 4.0, start_ms: 0, ..StatementTiming::default() });
    }
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
    for (name, table) in &tables {
        match table["result"].as_str() {
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
    assert!(text.contains("tables: "), "{text}");
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
