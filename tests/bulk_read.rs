//! The bulk read (grants, volumes and, without dependencies, functions from
//! `information_schema` on the warehouse) and the REST read (one permissions
//! GET per object, one volume and one function list per schema) give the
//! same snapshot of the seeded sandbox, on both
//! sides, for an admin and for a reader who sees only part of it; a warehouse
//! that cannot answer falls back to REST; a stopped warehouse is left stopped
//! and the read says which path it took.

use std::collections::BTreeMap;
use std::time::Duration;

use drbot::config::Config;
use drbot::databricks::{DatabricksError, RetryPolicy, WorkspaceClient};
use drbot::identity::{AccessToken, OnBehalfOf, UserAssertion, DATABRICKS_SCOPE};
use drbot::replication::read::{read_snapshot, ReadOptions, SharedPermits};
use drbot::replication::snapshot::{ReadPath, SkippedPart, Snapshot, TableKind};
use sandbox::databricks::statements::{StatementTiming, PRIMARY_WAREHOUSE_ID};
use sandbox::databricks::Workspace;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_BOT_APP_ID};
use tokio::time::Instant;

/// The snapshot without its tags, known or not: only a read through the
/// warehouse knows them (`information_schema`'s `*_tags` views); a REST read
/// records them as not read. Everything else is the same either way.
fn without_tags(mut snapshot: Snapshot) -> Snapshot {
    snapshot.skipped.retain(|s| s.part != SkippedPart::Tags);
    for catalog in snapshot.catalogs.values_mut() {
        catalog.common.tags.clear();
    }
    for schema in snapshot.schemas.values_mut() {
        schema.common.tags.clear();
    }
    for table in snapshot.tables.values_mut() {
        table.common.tags.clear();
        for column in table.column_metadata.values_mut() {
            column.tags.clear();
        }
        table.column_metadata.retain(|_, c| !c.is_empty());
    }
    for volume in snapshot.volumes.values_mut() {
        volume.common.tags.clear();
    }
    snapshot
}

async fn token_for(sandbox: &Sandbox, user: &str) -> AccessToken {
    let config = Config::from_toml(&sandbox.bot_config_toml("127.0.0.1:0", false), &BTreeMap::new()).unwrap();
    let obo = OnBehalfOf::new(&config, reqwest::Client::new());
    let user = sandbox.teams.user(user).unwrap();
    let assertion = UserAssertion::from_token(&sandbox.entra.teams_sso_token(&user, SANDBOX_BOT_APP_ID)).unwrap();
    obo.token(&assertion, DATABRICKS_SCOPE, false).await.unwrap()
}

fn client(url: &str) -> WorkspaceClient {
    let retry = RetryPolicy {
        budget: Duration::from_secs(20),
        max_attempts: 50,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    };
    WorkspaceClient::new(reqwest::Client::new(), url).with_retry(retry).with_page_size(7)
}

fn warehouse_of(workspace: &Workspace) -> &'static str {
    sandbox::databricks::statements::seeded_warehouse_id(&workspace.name)
}

/// How the primary is read (on its own warehouse).
fn options(bulk: bool) -> ReadOptions {
    ReadOptions { warehouse_id: Some(PRIMARY_WAREHOUSE_ID.into()), concurrency: 8, bulk, ..Default::default() }
}

/// As `status` reads: no view or function dependencies.
fn status_options(bulk: bool) -> ReadOptions {
    ReadOptions { view_dependencies: false, ..options(bulk) }
}

/// Reads one side both ways, on that workspace's own warehouse; returns
/// (REST, bulk) and what the bulk read cost.
async fn both_ways(
    workspace: &Workspace,
    client: &WorkspaceClient,
    token: &AccessToken,
    options: fn(bool) -> ReadOptions,
) -> (Snapshot, Snapshot, sandbox::databricks::Counts) {
    let options = |bulk: bool| ReadOptions { warehouse_id: Some(warehouse_of(workspace).into()), ..options(bulk) };
    let rest = read_snapshot(client, token, &options(false)).await.unwrap();
    let before = workspace.counts();
    let bulk = read_snapshot(client, token, &options(true)).await.unwrap();
    (rest, bulk, workspace.counts() - before)
}

#[tokio::test]
async fn bulk_and_rest_reads_give_equal_snapshots_of_the_seeded_sandbox() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    // The seed grants nothing on volumes; one grant makes the view count.
    // It has external volumes only: a managed one with a comment too.
    {
        let mut metastore = sandbox.primary.metastore.write();
        for volume in metastore.volumes.values_mut().take(1) {
            volume.common.grants.entry("dr-readers".into()).or_default().insert("READ_VOLUME".into());
        }
        let mut managed = metastore.volumes.values().next().unwrap().clone();
        managed.name = "scratch".into();
        managed.volume_type = "MANAGED".into();
        managed.storage_location = None;
        managed.common.comment = Some("team scratch space".into());
        metastore.volumes.insert(format!("{}.{}.scratch", managed.catalog, managed.schema), managed);
        for location in metastore.external_locations.values_mut().take(1) {
            location.common.grants.entry("data-engineers".into()).or_default().insert("READ_FILES".into());
        }
    }
    // Functions (the seed has none): with parameters, a DECIMAL, a comment,
    // a dependency; one in another catalog that only alice may execute.
    {
        use sandbox::databricks::metastore::Function;
        let mut metastore = sandbox.primary.metastore.write();
        let schema = metastore.schemas.keys().next().unwrap().clone();
        let other =
            metastore.schemas.keys().find(|k| !k.starts_with(&schema[..schema.find('.').unwrap()])).unwrap().clone();
        let table = metastore.tables.keys().next().unwrap().clone();
        let mut scaled = Function::sql(
            &format!("{schema}.scaled"),
            &[("amount", "DECIMAL(10,2)"), ("factor", "INT")],
            "DECIMAL(12,2)",
            "amount * factor",
            "data-eng",
        );
        scaled.common.comment = Some("currency-safe scaling".into());
        scaled.common.grants.entry("account users".into()).or_default().insert("EXECUTE".into());
        let mut latest = Function::sql(&format!("{schema}.latest"), &[], "BIGINT", "SELECT max(id) FROM t", "data-eng");
        latest.table_dependencies.push(table);
        latest.common.grants.entry("account users".into()).or_default().insert("EXECUTE".into());
        let hidden = Function::sql(&format!("{other}.hidden"), &[("x", "STRING")], "STRING", "upper(x)", "alice-only");
        for function in [scaled, latest, hidden] {
            metastore.functions.insert(function.full_name(), function);
        }
    }
    // Protection and sharing, which both paths read from REST alike: in
    // the compared snapshots all the same.
    {
        use sandbox::databricks::metastore::Policy;
        let mut metastore = sandbox.primary.metastore.write();
        let table = metastore.tables.values_mut().find(|t| t.data_source_format.as_deref() == Some("DELTA")).unwrap();
        let policy = |f: &str| Policy { function_name: format!("main.raw_00.{f}"), columns: vec!["region".into()] };
        table.protection.row_filter = Some(policy("region_filter"));
        table.protection.column_masks.insert("email".into(), policy("mask_email"));
        let schema = metastore.schemas.keys().next().unwrap().clone();
        let mut sharing = sandbox.primary.sharing.lock();
        sharing.recipients.insert(
            "drbot_secondary".into(),
            sandbox::databricks::sharing::Recipient {
                name: "drbot_secondary".into(),
                data_recipient_global_metastore_id: sandbox.secondary.global_id.clone(),
                owner: "dr-operators".into(),
                created_at: 0,
            },
        );
        sharing.shares.insert(
            "drbot_main".into(),
            sandbox::databricks::sharing::Share {
                name: "drbot_main".into(),
                owner: "dr-operators".into(),
                objects: [(schema, "SCHEMA".to_string())].into(),
                permissions: [("drbot_secondary".to_string(), ["SELECT".to_string()].into())].into(),
            },
        );
    }
    for user in ["alice", "bob"] {
        let token = token_for(&sandbox, user).await;
        for (workspace, url) in
            [(&sandbox.primary, sandbox.primary_url()), (&sandbox.secondary, sandbox.secondary_url())]
        {
            let (rest, mut bulk, cost) = both_ways(workspace, &client(&url), &token, options).await;
            assert!(matches!(rest.read_path, ReadPath::Rest(_)), "{:?}", rest.read_path);
            assert_eq!(bulk.read_path, ReadPath::Warehouse(warehouse_of(workspace).into()));
            bulk.read_path = rest.read_path.clone();
            assert!(rest.is_skipped("", SkippedPart::Tags), "REST reads no tags and says so");
            assert!(!bulk.is_skipped("", SkippedPart::Tags), "{:?}", bulk.skipped);
            let non_delta = rest.tables.values().filter(|t| t.kind == TableKind::External && !t.is_delta()).count();
            let (bulk, rest) = (without_tags(bulk), without_tags(rest));
            assert_eq!(bulk, rest, "{user} on {}", workspace.name);
            // Six privilege views, five tag views, the volumes and the
            // metastore id, and (a planning read) one DESCRIBE … AS JSON per
            // non-Delta external table for its format options; no grants GET
            // per object or external location, no volume list.
            assert_eq!(cost.statements, 13 + non_delta, "{user} on {}: {cost:?}", workspace.name);
            let calls: Vec<_> = workspace.calls().into_iter().rev().take(cost.rest_calls).collect();
            assert!(!calls.iter().any(|c| c.path == "permissions.get"), "{user} on {}", workspace.name);
            assert!(!calls.iter().any(|c| c.path == "volumes.list"), "{user} on {}", workspace.name);

            // As `status` reads (no dependencies): the functions come from
            // `routines` and `parameters` too, two statements more and no
            // list per schema of any kind but the tables.
            let (rest, mut bulk, cost) = both_ways(workspace, &client(&url), &token, status_options).await;
            assert_eq!(bulk.read_path, ReadPath::Warehouse(warehouse_of(workspace).into()));
            bulk.read_path = rest.read_path.clone();
            let (bulk, rest) = (without_tags(bulk), without_tags(rest));
            assert_eq!(bulk, rest, "{user} on {} (status)", workspace.name);
            assert_eq!(cost.statements, 15, "{user} on {}: {cost:?}", workspace.name);
            let calls: Vec<_> = workspace.calls().into_iter().rev().take(cost.rest_calls).collect();
            for list in ["permissions.get", "volumes.list", "functions.list"] {
                assert!(!calls.iter().any(|c| c.path == list), "{list}: {user} on {}", workspace.name);
            }
            if workspace.name == sandbox.primary.name {
                let seen = |name: &str| bulk.functions.keys().any(|k| k.ends_with(name));
                assert!(seen(".scaled") && seen(".latest"), "{user}: {:?}", bulk.functions.keys());
                assert_eq!(seen(".hidden"), user == "alice", "{user} sees only what it may execute");
            }
        }
    }

    // The primary as an admin reads it: every kind of object, with grants.
    let alice = token_for(&sandbox, "alice").await;
    let snapshot = read_snapshot(&client(&sandbox.primary_url()), &alice, &options(true)).await.unwrap();
    for kind in [TableKind::Managed, TableKind::External, TableKind::View] {
        assert!(
            snapshot.tables.values().any(|t| t.kind == kind && !t.common.grants.is_empty()),
            "a {kind:?} with grants"
        );
    }
    assert!(snapshot.tables.values().any(|t| t.kind == TableKind::External && !t.is_delta()), "non-Delta too");
    assert!(snapshot.volumes.values().any(|v| !v.common.grants.is_empty()));
    assert!(snapshot.volumes.values().any(|v| v.volume_type == "EXTERNAL" && v.storage_location.is_some()));
    assert!(snapshot
        .volumes
        .values()
        .any(|v| v.volume_type == "MANAGED" && v.common.comment.as_deref() == Some("team scratch space")));
    assert!(snapshot.volumes.values().all(|v| !v.common.owner.is_empty()), "owners come with the volumes");
    assert!(snapshot
        .tables
        .values()
        .any(|t| t.protection.row_filter.is_some() && !t.protection.column_masks.is_empty()));
    assert!(snapshot
        .sharing
        .shares
        .get("drbot_main")
        .is_some_and(|s| s.recipients_with_select.contains("drbot_secondary")));
    assert!(snapshot.sharing.recipients.contains_key("drbot_secondary"));
    let storage = snapshot.storage.as_ref().expect("the storage checks' reading");
    assert!(!storage.locations.is_empty() && storage.locations.iter().all(|l| l.grants_read));
    assert!(storage.locations.iter().any(|l| !l.grants.is_empty()), "external location grants");
    assert!(snapshot.schemas.values().any(|s| !s.common.grants.is_empty()));
    assert!(snapshot.catalogs.values().any(|c| !c.common.grants.is_empty()));
    assert!(snapshot.skipped.is_empty(), "{:?}", snapshot.skipped);
    // The seeded tags and comments, catalog to column: tags from the tag
    // views, column comments from the tables list.
    assert!(snapshot.catalogs.values().any(|c| c.common.tags.get("environment").is_some_and(|v| v == "production")));
    let tagged = snapshot.tables.values().find(|t| t.common.tags.contains_key("data_owner")).expect("a tagged table");
    assert_eq!(tagged.common.properties.get("quality").map(String::as_str), Some("gold"));
    assert!(tagged.common.comment.is_some());
    let email = &tagged.column_metadata["customer_email"];
    assert_eq!(
        (email.comment.as_deref(), email.tags.get("pii").map(String::as_str)),
        (Some("who to write to"), Some("email"))
    );

    // Its functions as the status read has them: what `CREATE FUNCTION`
    // needs, in order, from the two views.
    let status = read_snapshot(&client(&sandbox.primary_url()), &alice, &status_options(true)).await.unwrap();
    let scaled = status.functions.values().find(|f| f.name == "scaled").expect("a bulk-read function");
    assert_eq!(
        scaled.parameters,
        [("amount".to_string(), "DECIMAL(10,2)".to_string()), ("factor".to_string(), "INT".to_string())]
    );
    assert_eq!(
        (scaled.returns.as_str(), scaled.body.as_str(), scaled.language.as_str()),
        ("DECIMAL(12,2)", "amount * factor", "SQL")
    );
    assert_eq!(scaled.common.comment.as_deref(), Some("currency-safe scaling"));
    // The planning read (dependencies wanted) lists them per schema.
    let latest = snapshot.functions.values().find(|f| f.name == "latest").expect("a listed function");
    assert_eq!(latest.dependencies.len(), 1, "{latest:?}");
    assert!(status.functions.values().all(|f| f.dependencies.is_empty()));
}

/// A warehouse that answers no statement in time: the read falls back to
/// REST for the grants and the volumes, says so, and is the same snapshot.
#[tokio::test]
async fn a_warehouse_that_cannot_answer_falls_back_to_rest() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let primary = client(&sandbox.primary_url());
    let rest = read_snapshot(&primary, &alice, &options(false)).await.unwrap();

    sandbox.primary.statements.set_timing(StatementTiming { failure_ratio: 1.0, ..Default::default() });
    let short = ReadOptions { statement_timeout: Duration::from_millis(300), ..options(true) };
    let before = sandbox.primary.counts_by_endpoint();
    let mut fallen = read_snapshot(&primary, &alice, &short).await.unwrap();
    let ReadPath::Rest(why) = &fallen.read_path else { panic!("{:?}", fallen.read_path) };
    assert!(why.contains("information_schema failed"), "{why}");
    let after = sandbox.primary.counts_by_endpoint();
    let asked = |endpoint: &str| after.get(endpoint).unwrap_or(&0) - before.get(endpoint).unwrap_or(&0);
    assert_eq!(asked("volumes.list"), rest.schemas.len(), "one volume list per schema, after the statements failed");
    assert!(asked("permissions.get") >= rest.volumes.len() + rest.tables.len(), "grants one by one");

    // The metastore id and the format options of non-Delta tables are
    // statements too: they failed the same way.
    assert!(fallen.is_skipped("", SkippedPart::MetastoreId));
    fallen.read_path = rest.read_path.clone();
    fallen.global_metastore_id = rest.global_metastore_id.clone();
    fallen.skipped.retain(|s| !matches!(s.part, SkippedPart::MetastoreId | SkippedPart::FormatOptions));
    let mut rest = rest;
    for table in rest.tables.values_mut() {
        table.format_options = None;
    }
    // Tags are statements too: not read, and said so, either way.
    assert!(fallen.is_skipped("", SkippedPart::Tags) && rest.is_skipped("", SkippedPart::Tags));
    assert_eq!(without_tags(fallen), without_tags(rest));

    // A status read (functions from the views when it can) falls back to
    // the function lists, one per schema, as well.
    sandbox.primary.statements.set_timing(StatementTiming::default());
    let rest = read_snapshot(&primary, &alice, &status_options(false)).await.unwrap();
    sandbox.primary.statements.set_timing(StatementTiming { failure_ratio: 1.0, ..Default::default() });
    let before = sandbox.primary.counts_by_endpoint();
    let short = ReadOptions { statement_timeout: Duration::from_millis(300), ..status_options(true) };
    let mut fallen = read_snapshot(&primary, &alice, &short).await.unwrap();
    let after = sandbox.primary.counts_by_endpoint();
    let asked = |endpoint: &str| after.get(endpoint).unwrap_or(&0) - before.get(endpoint).unwrap_or(&0);
    assert!(matches!(&fallen.read_path, ReadPath::Rest(why) if why.contains("information_schema failed")));
    assert_eq!(
        asked("functions.list"),
        rest.schemas.len(),
        "one function list per schema, after the statements failed"
    );
    fallen.read_path = rest.read_path.clone();
    fallen.skipped.retain(|s| s.part != SkippedPart::MetastoreId);
    let mut rest = rest;
    fallen.global_metastore_id = rest.global_metastore_id.clone();
    rest.skipped.retain(|s| s.part != SkippedPart::MetastoreId);
    assert_eq!(without_tags(fallen), without_tags(rest));
}

#[tokio::test]
async fn a_stopped_warehouse_is_not_started_by_a_read() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let primary = client(&sandbox.primary_url());
    let running = read_snapshot(&primary, &alice, &options(true)).await.unwrap();

    sandbox.primary.statements.stop_warehouse();
    let before = sandbox.primary.counts();
    let mut stopped = read_snapshot(&primary, &alice, &options(true)).await.unwrap();
    assert_eq!(sandbox.primary.statements.warehouse_state(), "STOPPED", "the read left it stopped");
    assert_eq!((sandbox.primary.counts() - before).statements, 0, "no statement was sent");
    let ReadPath::Rest(why) = &stopped.read_path else { panic!("{:?}", stopped.read_path) };
    assert!(why.contains("STOPPED"), "{why}");
    assert!(stopped.is_skipped("", SkippedPart::MetastoreId), "no metastore id without the warehouse");

    // The same objects and grants as the bulk read of the running warehouse
    // (format options of non-Delta tables aside: they need the warehouse).
    let mut running = running;
    for table in running.tables.values_mut() {
        table.format_options = None;
    }
    stopped.read_path = running.read_path.clone();
    stopped.global_metastore_id = running.global_metastore_id.clone();
    stopped.skipped.retain(|s| s.part != SkippedPart::MetastoreId);
    // Tags need the warehouse: the stopped read says they were not read.
    let unread = stopped.skipped.iter().find(|s| s.part == SkippedPart::Tags).expect("tags recorded as not read");
    assert!(unread.reason.contains("STOPPED"), "{unread:?}");
    assert_eq!(without_tags(stopped), without_tags(running));
}

/// A warehouse someone else started is STARTING: the read waits for it
/// within its statement budget and then reads the metastore id and the
/// grants from it; one that is still starting when the budget is spent is
/// reported as such, with no metastore id, and the read does not fail.
#[tokio::test]
async fn a_starting_warehouse_is_waited_for_within_the_budget_or_reported() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let primary = client(&sandbox.primary_url());
    let statements = &sandbox.primary.statements;

    statements.set_timing(StatementTiming { start_ms: 600, ..Default::default() });
    statements.stop_warehouse();
    statements.start_warehouse();
    assert_eq!(statements.warehouse_state(), "STARTING");
    let read = read_snapshot(&primary, &alice, &options(true)).await.unwrap();
    assert_eq!(read.read_path, ReadPath::Warehouse(PRIMARY_WAREHOUSE_ID.into()));
    assert_eq!(read.global_metastore_id, sandbox.primary.global_id);
    assert!(read.skipped.is_empty(), "{:?}", read.skipped);

    statements.set_timing(StatementTiming { start_ms: 600_000, ..Default::default() });
    statements.stop_warehouse();
    statements.start_warehouse();
    let short = ReadOptions { statement_timeout: Duration::from_millis(500), ..options(true) };
    let before = sandbox.primary.counts();
    let read = read_snapshot(&primary, &alice, &short).await.unwrap();
    assert_eq!((sandbox.primary.counts() - before).statements, 0, "nothing queued on a starting warehouse");
    let ReadPath::Rest(why) = &read.read_path else { panic!("{:?}", read.read_path) };
    assert!(why.contains("STARTING"), "{why}");
    assert!(read.global_metastore_id.is_empty());
    let skip = read.skipped.iter().find(|s| s.part == SkippedPart::MetastoreId).expect("the missing id is reported");
    assert!(skip.reason.contains("starting"), "{}", skip.reason);
}

#[tokio::test]
async fn the_warehouse_answers_only_the_information_schema_it_models() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let primary = client(&sandbox.primary_url());
    let deadline = Instant::now() + Duration::from_secs(30);
    let ask = |sql: &'static str| primary.query(&alice, PRIMARY_WAREHOUSE_ID, sql, deadline);

    let (columns, rows) = ask(
        "SELECT grantee, catalog_name, privilege_type, inherited_from FROM system.information_schema.schema_privileges",
    )
    .await
    .unwrap();
    assert_eq!(columns, ["grantee", "catalog_name", "privilege_type", "inherited_from"]);
    assert!(rows.iter().any(|r| r[3].is_none()), "direct grants have no ancestor");
    assert!(rows.iter().any(|r| r[3].is_some()), "inherited ones name it");
    assert!(
        rows.iter().all(|r| !r[2].as_deref().unwrap_or_default().contains('_')),
        "SQL spells privileges with spaces"
    );

    // One catalog's information_schema covers that catalog only.
    let (_, main) = ask("SELECT catalog_name FROM main.information_schema.schema_privileges").await.unwrap();
    assert!(!main.is_empty() && main.iter().all(|r| r[0].as_deref() == Some("main")));

    // Volumes: every catalog's from `system`, one catalog's from its own.
    let (columns, volumes) =
        ask("SELECT volume_catalog, volume_name, volume_type, storage_location FROM system.information_schema.volumes")
            .await
            .unwrap();
    assert_eq!(columns, ["volume_catalog", "volume_name", "volume_type", "storage_location"]);
    assert_eq!(volumes.len(), sandbox.primary.metastore.read().volumes.len(), "alice administers them all");
    let (_, main) = ask("SELECT volume_catalog FROM main.information_schema.volumes").await.unwrap();
    assert!(!main.is_empty() && main.len() < volumes.len() && main.iter().all(|r| r[0].as_deref() == Some("main")));

    for (sql, class) in [
        ("SELECT * FROM system.information_schema.tables", "PARSE_SYNTAX_ERROR"),
        ("SELECT volume_name FROM system.information_schema.volumes WHERE inherited_from IS NULL", "UNRESOLVED_COLUMN"),
        ("SELECT created_by FROM system.information_schema.volumes", "UNRESOLVED_COLUMN"),
        ("SELECT grantee FROM main.information_schema.external_location_privileges", "TABLE_OR_VIEW_NOT_FOUND"),
        ("SELECT grantee FROM system.information_schema.routines", "UNRESOLVED_COLUMN"),
        (
            "SELECT routine_name FROM system.information_schema.routines WHERE inherited_from IS NULL",
            "UNRESOLVED_COLUMN",
        ),
        ("SELECT parameter_default FROM system.information_schema.parameters", "UNRESOLVED_COLUMN"),
        ("SELECT grantee FROM system.information_schema.connection_privileges", "TABLE_OR_VIEW_NOT_FOUND"),
        (
            "SELECT grantee, routine_name FROM main.information_schema.routine_privileges WHERE owner = 'x'",
            "PARSE_SYNTAX_ERROR",
        ),
        ("SELECT owner FROM system.information_schema.table_privileges", "UNRESOLVED_COLUMN"),
        ("SELECT grantee FROM system.information_schema.table_privileges WHERE grantee = 'x'", "PARSE_SYNTAX_ERROR"),
    ] {
        match ask(sql).await {
            Err(DatabricksError::Api { message, .. }) => assert!(message.contains(class), "{sql}: {message}"),
            other => panic!("{sql}: {other:?}"),
        }
    }
}

/// Reads that share a budget of requests in flight (the all-pairs
/// overview's pairs on one hub) never ask the workspace for more than it,
/// and still read the whole metastore.
#[tokio::test]
async fn reads_that_share_a_budget_stay_within_it() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let primary = client(&sandbox.primary_url());
    let alone = read_snapshot(&primary, &alice, &options(true)).await.unwrap();
    sandbox.primary.faults.set(sandbox::faults::FaultConfig { latency_ms: Some((20, 20)), ..Default::default() });

    let budget = SharedPermits::new(6);
    let shared = ReadOptions { concurrency: 32, shared_permits: Some(budget.clone()), ..options(true) };
    sandbox.primary.reset_peak_in_flight();
    let reads = (0..4).map(|_| read_snapshot(&primary, &alice, &shared));
    for read in futures::future::join_all(reads).await {
        assert_eq!(read.unwrap(), alone);
    }
    let peak = sandbox.primary.peak_in_flight();
    assert!(peak <= 6, "{peak} requests at once against a budget of 6");
    assert!(peak >= 4, "the budget is used, not just one request at a time: {peak}");
}

/// A read that does not plan fetches the models it will keep beside the
/// table lists, so it narrows them by its filter first: a model in a
/// catalog the read does not cover costs no GET, and one in the covered
/// catalog is read with its versions and aliases.
#[tokio::test]
async fn a_filtered_status_read_fetches_only_the_models_it_covers() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let token = token_for(&sandbox, "alice").await;
    let primary = client(&sandbox.primary_url());
    let schema_where = |in_main: bool| {
        let metastore = sandbox.primary.metastore.read();
        let schema = metastore.schemas.values().find(|s| (s.catalog == "main") == in_main).expect("a seeded schema");
        format!("{}.{}", schema.catalog, schema.name)
    };
    let (covered, elsewhere) = (schema_where(true), schema_where(false));
    let options = ReadOptions { filter: drbot::replication::read::ReadFilter::catalog("main"), ..status_options(true) };
    let admin = sandbox::databricks::seed::ADMIN_GROUP;
    let seed = |full_name: &str| {
        let mut metastore = sandbox.primary.metastore.write();
        assert!(sandbox::databricks::models::seed(&mut metastore, full_name, "m", 2, &[("champion", 2)], admin, 1));
    };
    seed(&format!("{covered}.churn"));
    let before = sandbox.primary.counts();
    let first = read_snapshot(&primary, &token, &options).await.unwrap();
    let one_model = sandbox.primary.counts() - before;
    let kept = &first.models[&format!("{covered}.churn")];
    assert_eq!((kept.versions.len(), kept.aliases.get("champion")), (2, Some(&2)));

    // The same read once a model sits outside it: the same calls.
    seed(&format!("{elsewhere}.fraud"));
    let before = sandbox.primary.counts();
    let second = read_snapshot(&primary, &token, &options).await.unwrap();
    assert_eq!((sandbox.primary.counts() - before).rest_calls, one_model.rest_calls);
    assert_eq!(second.models.keys().collect::<Vec<_>>(), vec![&format!("{covered}.churn")]);
}
