//! The typed Databricks client and the snapshot reader against the sandbox's
//! workspaces: pagination across empty pages, retries under injected
//! throttling and 5xx, statement deadlines and failures, idempotent job
//! runs, Delta Sharing, and a read of the seeded primary checked against the
//! sandbox's own model. Every call runs with a user's token from the
//! on-behalf-of flow, as in production.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use drbot::config::Config;
use drbot::databricks::jobs::{RunPhase, RunResult};
use drbot::databricks::sharing::{ShareAction, ShareUpdate, SharedObject};
use drbot::databricks::statements::{CancelReason, OnWaitTimeout, StatementOutcome, StatementRequest};
use drbot::databricks::unity_catalog::{CreateCatalog, CreateSchema, PermissionChange, Securable, Update};
use drbot::databricks::{DatabricksError, RetryPolicy, WorkspaceClient};
use drbot::identity::{AccessToken, OnBehalfOf, UserAssertion, DATABRICKS_SCOPE};
use drbot::replication::read::{read_snapshot, ReadFilter, ReadOptions};
use drbot::replication::snapshot::{CatalogKind, SkippedPart};
use sandbox::databricks::jobs::REPLICATION_JOB_ID;
use sandbox::databricks::metastore::Securable as SandboxSecurable;
use sandbox::databricks::statements::{StatementTiming, PRIMARY_WAREHOUSE_ID, SANDBOX_WAREHOUSE_ID};
use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::faults::FaultConfig;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_BOT_APP_ID};
use tokio_util::sync::CancellationToken;

/// How long a test waits for something that should happen soon.
const PATIENCE: Duration = Duration::from_secs(15);

/// A Databricks token for `user`, by Teams SSO then on-behalf-of.
async fn token_for(sandbox: &Sandbox, user: &str) -> AccessToken {
    let config = Config::from_toml(&sandbox.bot_config_toml("127.0.0.1:0", false), &BTreeMap::new()).unwrap();
    let obo = OnBehalfOf::new(&config, reqwest::Client::new());
    let user = sandbox.teams.user(user).unwrap();
    let assertion = UserAssertion::from_token(&sandbox.entra.teams_sso_token(&user, SANDBOX_BOT_APP_ID)).unwrap();
    obo.token(&assertion, DATABRICKS_SCOPE, false).await.unwrap()
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        budget: Duration::from_secs(20),
        max_attempts: 50,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    }
}

fn primary(sandbox: &Sandbox) -> WorkspaceClient {
    WorkspaceClient::new(reqwest::Client::new(), &sandbox.primary_url()).with_retry(quick_retries())
}

fn secondary(sandbox: &Sandbox) -> WorkspaceClient {
    WorkspaceClient::new(reqwest::Client::new(), &sandbox.secondary_url()).with_retry(quick_retries())
}

#[tokio::test]
async fn lists_are_read_across_empty_pages_to_the_real_end() {
    let sandbox = Sandbox::start(SandboxConfig { tables: 400, ..Default::default() }).await.unwrap();
    let bob = token_for(&sandbox, "bob").await;
    let client = primary(&sandbox).with_page_size(2);
    let who = sandbox.primary.principal(&sandbox.entra.verify(bob.secret(), DATABRICKS_AUDIENCE).unwrap());

    // bob (dr-readers) sees about half of main's tables: pages of two, cut
    // before filtering, are often empty.
    let (schema, all, visible): (String, usize, BTreeSet<String>) = {
        let metastore = sandbox.primary.metastore.read();
        let schema = metastore
            .schemas
            .values()
            .filter(|s| s.catalog == "main")
            .map(|s| s.name.clone())
            .find(|s| metastore.holds(&who, SandboxSecurable::Schema, &format!("main.{s}"), "USE_SCHEMA"))
            .expect("bob may use a schema of main");
        let prefix = format!("main.{schema}.");
        let tables: Vec<&String> = metastore.tables.keys().filter(|k| k.starts_with(&prefix)).collect();
        let visible = tables
            .iter()
            .filter(|k| metastore.visible(&who, SandboxSecurable::Table, k))
            .map(|k| k.to_string())
            .collect();
        (schema, tables.len(), visible)
    };
    assert!(visible.len() < all, "some tables are hidden from bob ({} of {all})", visible.len());

    let before = sandbox.primary.calls().iter().filter(|c| c.path == "tables.list").count();
    let listed = client.list_tables(&bob, "main", &schema).await.unwrap();
    let pages = sandbox.primary.calls().iter().filter(|c| c.path == "tables.list").count() - before;
    let listed: BTreeSet<String> = listed.iter().map(|t| t.full_name()).collect();
    assert_eq!(listed, visible);
    assert_eq!(pages, all.div_ceil(2), "every page was read, the empty ones included");
}

#[tokio::test]
async fn throttling_and_transient_errors_are_retried_to_success() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let client = primary(&sandbox);
    let expected: BTreeSet<String> = sandbox.primary.metastore.read().catalogs.keys().cloned().collect();

    sandbox.primary.faults.set(FaultConfig {
        throttle_ratio: 0.3,
        error_5xx_ratio: 0.3,
        retry_after_secs: 0,
        ..Default::default()
    });
    // The faults are real: without retries some calls fail.
    let once = primary(&sandbox).with_retry(RetryPolicy::none());
    let mut failures = 0;
    for _ in 0..20 {
        if let Err(error) = once.list_catalogs(&alice).await {
            assert!(error.is_transient(), "{error:?}");
            failures += 1;
        }
    }
    assert!(failures > 0, "no fault was injected");
    for _ in 0..10 {
        let catalogs: BTreeSet<String> =
            client.list_catalogs(&alice).await.expect("retried to success").into_iter().map(|c| c.name).collect();
        assert_eq!(catalogs, expected);
    }
}

#[tokio::test]
async fn a_persistent_fault_ends_in_an_error_within_the_budget() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let budget = Duration::from_secs(2);
    let client = primary(&sandbox).with_retry(RetryPolicy {
        budget,
        max_attempts: 1_000,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(400),
    });
    sandbox.primary.faults.set(FaultConfig { error_5xx_ratio: 1.0, retry_after_secs: 1, ..Default::default() });
    let started = std::time::Instant::now();
    let error = client.list_catalogs(&alice).await.expect_err("the workspace never recovers");
    let elapsed = started.elapsed();
    assert!(error.is_transient(), "{error:?}");
    assert!(matches!(error, DatabricksError::Unavailable { .. }), "{error:?}");
    // No wait starts that would end past the budget; the last exchange is quick.
    assert!(elapsed < budget + Duration::from_secs(1), "took {elapsed:?}");

    // Not retried at all: a permanent error.
    sandbox.primary.faults.set(FaultConfig::default());
    let missing = client.get_table(&alice, "main.nope.nothing").await.unwrap_err();
    assert!(matches!(missing, DatabricksError::NotFound(_)), "{missing:?}");
}

#[tokio::test]
async fn statements_end_typed_and_are_cancelled_at_the_deadline() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let client = primary(&sandbox);
    let deadline = || tokio::time::Instant::now() + PATIENCE;
    let never = CancellationToken::new();

    // Success with rows: the metastore id.
    let id = client.current_metastore(&alice, PRIMARY_WAREHOUSE_ID, deadline()).await.unwrap();
    assert_eq!(id, sandbox.primary.global_id);

    // A failed statement is an outcome, typed, not a transport error.
    let request = StatementRequest::new(PRIMARY_WAREHOUSE_ID, "DROP EVERYTHING");
    let run = client.execute_statement(&alice, &request, deadline(), &never).await.unwrap();
    match run.outcome {
        StatementOutcome::Failed { error_code, message } => {
            assert_eq!(error_code, "BAD_REQUEST");
            assert!(message.starts_with("[PARSE_SYNTAX_ERROR]"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let mut missing = StatementRequest::new(PRIMARY_WAREHOUSE_ID, "CREATE SCHEMA IF NOT EXISTS `nope`.`x`");
    missing.wait_timeout = Duration::ZERO;
    let run = client.execute_statement(&alice, &missing, deadline(), &never).await.unwrap();
    assert!(matches!(run.outcome, StatementOutcome::Failed { .. }), "{:?}", run.outcome);

    // A slow statement past our deadline is cancelled on the warehouse.
    sandbox.primary.statements.set_timing(StatementTiming { run_ms: (60_000, 60_000), ..Default::default() });
    let mut slow = StatementRequest::new(PRIMARY_WAREHOUSE_ID, "CREATE SCHEMA IF NOT EXISTS `main`.`slow`");
    slow.wait_timeout = Duration::ZERO;
    let started = std::time::Instant::now();
    let short = tokio::time::Instant::now() + Duration::from_millis(300);
    let run = client.execute_statement(&alice, &slow, short, &never).await.unwrap();
    assert_eq!(run.outcome, StatementOutcome::Canceled { reason: CancelReason::Deadline });
    assert!(started.elapsed() < Duration::from_secs(5));
    let after = client.get_statement(&alice, &run.statement_id).await.unwrap();
    assert_eq!(after.status.state, "CANCELED", "cancelled on the warehouse, not just abandoned");
    assert!(
        !sandbox.primary.metastore.read().schemas.contains_key("main.slow"),
        "a cancelled statement changes nothing"
    );

    // The caller's token cancels too.
    let cancelled = CancellationToken::new();
    cancelled.cancel();
    let run = client.execute_statement(&alice, &slow, deadline(), &cancelled).await.unwrap();
    assert_eq!(run.outcome, StatementOutcome::Canceled { reason: CancelReason::Caller });

    // on_wait_timeout CANCEL: the warehouse cancels it itself.
    let mut cancel_on_wait = slow.clone();
    cancel_on_wait.wait_timeout = Duration::from_secs(5);
    cancel_on_wait.on_wait_timeout = OnWaitTimeout::Cancel;
    let run = client.execute_statement(&alice, &cancel_on_wait, deadline(), &never).await.unwrap();
    assert_eq!(run.outcome, StatementOutcome::Canceled { reason: CancelReason::Server });
}

#[tokio::test]
async fn run_now_is_idempotent_and_runs_are_followed_and_cancelled() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let client = primary(&sandbox);
    sandbox.primary.jobs.set_task_duration(Duration::from_secs(30));
    let parameters = BTreeMap::from([("catalog".to_string(), "main".to_string())]);

    let first = client.run_now(&alice, REPLICATION_JOB_ID, "replicate-main-0001", &parameters).await.unwrap();
    let again = client.run_now(&alice, REPLICATION_JOB_ID, "replicate-main-0001", &parameters).await.unwrap();
    assert_eq!(first.run_id, again.run_id, "one run per idempotency token");
    let other = client.run_now(&alice, REPLICATION_JOB_ID, "replicate-main-0002", &BTreeMap::new()).await.unwrap();
    assert_ne!(first.run_id, other.run_id);
    let too_long = client.run_now(&alice, REPLICATION_JOB_ID, &"x".repeat(65), &parameters).await.unwrap_err();
    assert!(matches!(too_long, DatabricksError::InvalidParameter(_)));

    let run = client.get_run(&alice, first.run_id).await.unwrap();
    assert_eq!(run.tasks.len(), 6);
    assert_eq!(run.tasks[0].task_key, "schemas");
    assert!(!run.state.is_terminal());
    assert!(run.run_page_url.is_some_and(|u| u.contains(&first.run_id.to_string())));

    client.cancel_run(&alice, first.run_id).await.unwrap();
    let run = client.get_run(&alice, first.run_id).await.unwrap();
    assert_eq!(run.state.phase, RunPhase::Terminated(RunResult::Canceled));
    assert_eq!(run.tasks[0].state.phase, RunPhase::Terminated(RunResult::Canceled));
    assert!(
        run.tasks[1..].iter().all(|t| t.state.phase == RunPhase::Terminated(RunResult::Skipped)),
        "{:?}",
        run.tasks
    );
}

#[tokio::test]
async fn read_snapshot_of_the_primary_matches_the_sandbox_model() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let client = primary(&sandbox).with_page_size(3);
    let options = ReadOptions { warehouse_id: Some(PRIMARY_WAREHOUSE_ID.into()), concurrency: 8, ..Default::default() };
    let snapshot = read_snapshot(&client, &alice, &options).await.unwrap();

    let model = sandbox.primary.metastore.read().clone();
    assert_eq!(snapshot.global_metastore_id, sandbox.primary.global_id);
    assert!(snapshot.skipped.is_empty(), "alice is a metastore admin: {:?}", snapshot.skipped);
    assert_eq!(snapshot.catalogs.keys().collect::<Vec<_>>(), model.catalogs.keys().collect::<Vec<_>>());
    assert_eq!(snapshot.catalogs["system"].kind, CatalogKind::System);
    let managed: BTreeSet<String> =
        model.catalogs.values().filter(|c| c.catalog_type == "MANAGED_CATALOG").map(|c| c.name.clone()).collect();
    let in_managed = |name: &&String| managed.contains(name.split('.').next().unwrap());
    assert_eq!(
        snapshot.schemas.keys().collect::<Vec<_>>(),
        model.schemas.keys().filter(|k| in_managed(k)).collect::<Vec<_>>()
    );
    assert_eq!(
        snapshot.tables.keys().collect::<Vec<_>>(),
        model.tables.keys().filter(|k| in_managed(k)).collect::<Vec<_>>()
    );
    assert_eq!(
        snapshot.volumes.keys().collect::<Vec<_>>(),
        model.volumes.keys().filter(|k| in_managed(k)).collect::<Vec<_>>()
    );
    assert!(!snapshot.tables.is_empty() && !snapshot.volumes.is_empty());

    // Direct grants and owners, everywhere.
    for (name, catalog) in &model.catalogs {
        assert_eq!(snapshot.catalogs[name].common.grants, catalog.common.grants, "catalog {name}");
        assert_eq!(snapshot.catalogs[name].common.owner, catalog.common.owner);
    }
    for (name, schema) in &model.schemas {
        assert_eq!(snapshot.schemas[name].common.grants, schema.common.grants, "schema {name}");
    }
    for (name, table) in &model.tables {
        let read = &snapshot.tables[name];
        assert_eq!(read.common.grants, table.common.grants, "table {name}");
        assert_eq!(read.common.owner, table.common.owner);
        assert_eq!(read.storage_location, table.storage_location);
        if read.is_delta() {
            let delta = read.delta.expect("a Delta table's commit");
            assert_eq!((delta.version, delta.last_commit_ms), (table.delta_version, table.last_commit_ms), "{name}");
        } else {
            assert_eq!(read.delta, None);
        }
        assert_eq!(read.view_dependencies, table.view_dependencies, "view dependencies of {name}");
        assert!(!read.common.properties.contains_key("delta.lastUpdateVersion"));
    }
    assert!(snapshot.tables.values().any(|t| !t.view_dependencies.is_empty()), "views were fetched");
    assert!(snapshot.tables.values().any(|t| !t.common.grants.is_empty()));
    for (name, volume) in &model.volumes {
        assert_eq!(snapshot.volumes[name].common.grants, volume.common.grants, "volume {name}");
        assert_eq!(snapshot.volumes[name].storage_location, volume.storage_location);
    }

    // Only one catalog (and a schema pattern) when asked.
    let filter = ReadFilter { catalog: Some("main".into()), schema_pattern: None };
    let main = read_snapshot(&client, &alice, &ReadOptions { filter, ..Default::default() }).await.unwrap();
    assert_eq!(main.catalogs.keys().collect::<Vec<_>>(), vec!["main"]);
    assert!(main.schemas.values().all(|s| s.catalog == "main") && !main.schemas.is_empty());
    assert!(main.tables.values().all(|t| t.catalog == "main") && !main.tables.is_empty());
    assert_eq!(main.global_metastore_id, sandbox.primary.global_id, "no warehouse: the metastore summary names it");
    let first_schema = main.schemas.values().next().unwrap().name.clone();
    let filter = ReadFilter { catalog: Some("main".into()), schema_pattern: Some(first_schema.clone()) };
    let one = read_snapshot(&client, &alice, &ReadOptions { filter, ..Default::default() }).await.unwrap();
    assert_eq!(one.schemas.len(), 1);
    assert!(one.tables.values().all(|t| t.schema == first_schema));

    // A catalog the secondary lacks reads as empty, not as an error.
    let nothing =
        read_snapshot(&client, &alice, &ReadOptions { filter: ReadFilter::catalog("nope"), ..Default::default() })
            .await
            .unwrap();
    assert!(nothing.catalogs.is_empty() && nothing.tables.is_empty());
}

#[tokio::test]
async fn what_a_reader_may_not_see_is_recorded_not_fatal() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let bob = token_for(&sandbox, "bob").await;
    let snapshot = read_snapshot(&primary(&sandbox), &bob, &ReadOptions::default()).await.unwrap();
    assert!(snapshot.catalogs.contains_key("main"), "bob may use main");
    assert!(snapshot.tables.len() < sandbox.primary.metastore.read().tables.len());
    assert!(snapshot.is_skipped("", SkippedPart::Sharing), "sharing is for admins: {:?}", snapshot.skipped);
    // What bob may not read is named with the refusal; tags, which need a
    // warehouse this read was given none of, are said to be unread, with why.
    let (tags, refused): (Vec<_>, Vec<_>) = snapshot.skipped.iter().partition(|s| s.part == SkippedPart::Tags);
    assert!(refused.iter().all(|s| s.reason.contains("permission denied") || s.reason.contains("not found")));
    assert!(tags.len() == 1 && !tags[0].reason.is_empty(), "{tags:?}");
    assert!(!snapshot.skipped.iter().any(|s| s.reason.contains("eyJ")), "no token in a reason");
}

#[tokio::test]
async fn delta_sharing_from_the_primary_to_a_catalog_on_the_secondary() {
    let sandbox = Sandbox::start(SandboxConfig { tables: 300, ..Default::default() }).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let (primary, secondary) = (primary(&sandbox), secondary(&sandbox));
    let secondary_id = secondary
        .current_metastore(&alice, SANDBOX_WAREHOUSE_ID, tokio::time::Instant::now() + PATIENCE)
        .await
        .unwrap();

    let recipient = primary.create_recipient(&alice, "dr-secondary", &secondary_id, None).await.unwrap();
    assert_eq!(recipient.data_recipient_global_metastore_id.as_deref(), Some(secondary_id.as_str()));
    let again = primary.create_recipient(&alice, "dr-secondary", &secondary_id, None).await.unwrap_err();
    assert!(matches!(again, DatabricksError::AlreadyExists(_)), "{again:?}");
    assert_eq!(primary.list_recipients(&alice).await.unwrap().len(), 1);

    primary.create_share(&alice, "dr-main").await.unwrap();
    // More than 100 tables: the sandbox refuses a PATCH of more, so they go in chunks.
    // Only tables alice, the share's owner, may read: a share owner must hold SELECT.
    let owner = sandbox.primary.principal_named("alice@contoso.example");
    let (tables, schemas): (Vec<String>, Vec<String>) = {
        let metastore = sandbox.primary.metastore.read();
        let tables = metastore
            .tables
            .values()
            .filter(|t| t.data_source_format.as_deref() == Some("DELTA"))
            .filter(|t| metastore.reads(&owner, sandbox::databricks::metastore::Securable::Table, &t.full_name()))
            .map(|t| t.full_name())
            .collect();
        (tables, metastore.schemas.keys().filter(|k| k.starts_with("main.")).cloned().collect())
    };
    assert!(tables.len() > 100, "{} Delta tables", tables.len());
    let add = |name: &String, kind: &str| ShareUpdate {
        action: ShareAction::Add,
        data_object: SharedObject { name: name.clone(), data_object_type: kind.into(), status: None },
    };
    let updates: Vec<ShareUpdate> = tables.iter().map(|t| add(t, "TABLE")).collect();
    let share = primary.update_share(&alice, "dr-main", &updates).await.unwrap();
    assert_eq!(share.objects.len(), tables.len());
    let removals: Vec<ShareUpdate> =
        updates.iter().map(|u| ShareUpdate { action: ShareAction::Remove, ..u.clone() }).collect();
    assert!(primary.update_share(&alice, "dr-main", &removals).await.unwrap().objects.is_empty());
    let schema_updates: Vec<ShareUpdate> = schemas.iter().map(|s| add(s, "SCHEMA")).collect();
    primary.update_share(&alice, "dr-main", &schema_updates).await.unwrap();

    let select = PermissionChange { principal: "dr-secondary".into(), add: vec!["SELECT".into()], remove: vec![] };
    primary.update_share_permissions(&alice, "dr-main", &[select]).await.unwrap();
    let granted = primary.share_permissions(&alice, "dr-main").await.unwrap();
    assert_eq!(granted[0].principal, "dr-secondary");

    // The secondary sees the provider by itself, and mounts the share.
    let providers = secondary.list_providers(&alice, Some(&sandbox.primary.global_id)).await.unwrap();
    assert_eq!(providers.len(), 1);
    assert!(secondary.list_providers(&alice, Some("azure:nowhere:0")).await.unwrap().is_empty());
    let mount = CreateCatalog {
        name: "main_shared".into(),
        provider_name: Some(providers[0].name.clone()),
        share_name: Some("dr-main".into()),
        ..Default::default()
    };
    let catalog = secondary.create_catalog(&alice, &mount).await.unwrap();
    assert_eq!(catalog.catalog_type.as_deref(), Some("DELTASHARING_CATALOG"));

    // The snapshots show both ends of it.
    let options = ReadOptions::default();
    let (read_primary, read_secondary) =
        tokio::join!(read_snapshot(&primary, &alice, &options), read_snapshot(&secondary, &alice, &options));
    let (read_primary, read_secondary) = (read_primary.unwrap(), read_secondary.unwrap());
    assert_eq!(read_primary.sharing.recipients["dr-secondary"], secondary_id);
    let shared = &read_primary.sharing.shares["dr-main"];
    assert_eq!(shared.schemas, schemas.iter().cloned().collect::<BTreeSet<_>>());
    assert!(shared.recipients_with_select.contains("dr-secondary"));
    assert_eq!(read_secondary.sharing.providers[&providers[0].name], sandbox.primary.global_id);
    let mounted = &read_secondary.catalogs["main_shared"];
    assert_eq!(mounted.kind, CatalogKind::DeltaSharing);
    assert_eq!(mounted.share_name.as_deref(), Some("dr-main"));
    assert!(
        read_secondary.tables.keys().all(|k| !k.starts_with("main_shared.")),
        "a shared catalog's contents are not read"
    );
}

#[tokio::test]
async fn catalogs_and_schemas_are_created_patched_granted_and_deleted() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let client = secondary(&sandbox);

    let create = CreateCatalog { name: "dr_test".into(), comment: Some("made by a test".into()), ..Default::default() };
    client.create_catalog(&alice, &create).await.unwrap();
    assert!(matches!(client.create_catalog(&alice, &create).await, Err(DatabricksError::AlreadyExists(_))));
    let schema = CreateSchema { name: "raw".into(), catalog_name: "dr_test".into(), ..Default::default() };
    assert_eq!(client.create_schema(&alice, &schema).await.unwrap().catalog_name, "dr_test");

    let update = Update {
        owner: Some("data-engineers".into()),
        properties: Some(BTreeMap::from([("team".into(), "dr".into())])),
        ..Default::default()
    };
    client.update_securable(&alice, Securable::Schema, "dr_test.raw", &update).await.unwrap();
    let read = client.get_schema(&alice, "dr_test.raw").await.unwrap();
    assert_eq!(read.owner.as_deref(), Some("data-engineers"));
    assert_eq!(read.properties["team"], "dr");

    let grant = PermissionChange {
        principal: "dr-readers".into(),
        add: vec!["USE_SCHEMA".into(), "SELECT".into()],
        remove: vec![],
    };
    client.update_permissions(&alice, Securable::Schema, "dr_test.raw", &[grant]).await.unwrap();
    let revoke = PermissionChange { principal: "dr-readers".into(), add: vec![], remove: vec!["SELECT".into()] };
    let after = client.update_permissions(&alice, Securable::Schema, "dr_test.raw", &[revoke]).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].privileges, vec!["USE_SCHEMA".to_string()]);
    assert_eq!(client.get_permissions(&alice, Securable::Schema, "dr_test.raw").await.unwrap(), after);

    let not_empty = client.delete_securable(&alice, Securable::Catalog, "dr_test", false).await.unwrap_err();
    assert!(matches!(not_empty, DatabricksError::InvalidParameter(_)), "{not_empty:?}");
    client.delete_securable(&alice, Securable::Catalog, "dr_test", true).await.unwrap();
    assert!(matches!(client.get_catalog(&alice, "dr_test").await, Err(DatabricksError::NotFound(_))));

    // Summaries and external locations list too.
    let primary = primary(&sandbox).with_page_size(4);
    let summaries = primary.table_summaries(&alice, "main", Some("*"), None).await.unwrap();
    let expected = sandbox.primary.metastore.read().tables.keys().filter(|k| k.starts_with("main.")).count();
    assert_eq!(summaries.len(), expected);
    assert!(!primary.list_external_locations(&alice).await.unwrap().is_empty());
}

/// Requests in flight through [`counting_proxy`]: now, and the most seen.
#[derive(Default)]
struct InFlight {
    now: std::sync::atomic::AtomicUsize,
    max: std::sync::atomic::AtomicUsize,
}

/// A loopback proxy in front of `target` that counts requests in flight.
async fn counting_proxy(target: String) -> (sandbox::http::Listener, std::sync::Arc<InFlight>) {
    use axum::response::IntoResponse;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    let gauge = Arc::new(InFlight::default());
    let state = (target, gauge.clone(), reqwest::Client::new());
    let forward = |axum::extract::State((target, gauge, http)): axum::extract::State<(
        String,
        Arc<InFlight>,
        reqwest::Client,
    )>,
                   request: axum::extract::Request| async move {
        let now = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
        gauge.max.fetch_max(now, Ordering::SeqCst);
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        let path = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
        let mut outbound = http.request(parts.method, format!("{target}{path}")).body(body);
        for name in ["authorization", "content-type"] {
            if let Some(value) = parts.headers.get(name) {
                outbound = outbound.header(name, value);
            }
        }
        let answer = outbound.send().await.expect("the sandbox answers");
        let status = answer.status();
        let bytes = answer.bytes().await.unwrap_or_default();
        gauge.now.fetch_sub(1, Ordering::SeqCst);
        (status, [("content-type", "application/json")], bytes).into_response()
    };
    let router = axum::Router::new().fallback(forward).with_state(state);
    (sandbox::http::Listener::serve(0, router).await.unwrap(), gauge)
}

#[tokio::test]
async fn a_read_keeps_to_its_concurrency_bound() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let (proxy, in_flight) = counting_proxy(sandbox.primary_url()).await;
    // Every request takes a while, so concurrent ones overlap.
    sandbox.primary.faults.set(FaultConfig { latency_ms: Some((15, 15)), ..Default::default() });
    let client = WorkspaceClient::new(reqwest::Client::new(), &proxy.base_url());
    let options = ReadOptions { concurrency: 4, ..Default::default() };
    let snapshot = read_snapshot(&client, &alice, &options).await.unwrap();
    assert_eq!(snapshot.tables.len(), sandbox.primary.metastore.read().tables.len());
    let max = in_flight.max.load(std::sync::atomic::Ordering::SeqCst);
    assert!((2..=4).contains(&max), "at most 4 requests in flight, and more than one: {max}");

    // The gauge sees more when more are allowed.
    in_flight.max.store(0, std::sync::atomic::Ordering::SeqCst);
    let options = ReadOptions { concurrency: 16, ..Default::default() };
    read_snapshot(&client, &alice, &options).await.unwrap();
    let max = in_flight.max.load(std::sync::atomic::Ordering::SeqCst);
    assert!((5..=16).contains(&max), "up to 16 in flight: {max}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_workspace_is_retried_then_reported() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    // A port nobody listens on any more.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let policy = RetryPolicy { max_attempts: 3, ..quick_retries() };
    let client = WorkspaceClient::new(reqwest::Client::new(), &format!("http://{closed}")).with_retry(policy);
    let error = client.me(&alice).await.unwrap_err();
    assert!(matches!(error, DatabricksError::Unreachable(_)), "{error:?}");
    assert!(error.is_transient());
    assert!(!error.to_string().contains(alice.secret()), "no token in the error");
}

#[tokio::test]
async fn a_refused_token_fails_the_read_rather_than_leaving_holes() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let client = primary(&sandbox);
    // The token worked a moment ago; now the workspace refuses it (revoked early).
    assert!(!client.list_catalogs(&alice).await.unwrap().is_empty());
    sandbox.primary.reject_next_tokens(1_000);
    let error = read_snapshot(&client, &alice, &ReadOptions::default()).await.unwrap_err();
    assert!(matches!(error.databricks_error(), DatabricksError::Unauthenticated(_)), "{error}");
}

/// A statement reported `CLOSED` succeeded ("execution successful, and
/// statement closed; result no longer available"): it is an outcome of its
/// own, not a cancel, and `current_metastore()` asks again for its row.
#[tokio::test]
async fn a_closed_statement_is_done_not_cancelled() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let client = primary(&sandbox);
    let deadline = || tokio::time::Instant::now() + PATIENCE;
    sandbox.primary.statements.set_timing(StatementTiming { closed_ratio: 1.0, ..Default::default() });
    let request = StatementRequest::new(PRIMARY_WAREHOUSE_ID, "CREATE SCHEMA IF NOT EXISTS `main`.`closed`");
    let run = client.execute_statement(&alice, &request, deadline(), &CancellationToken::new()).await.unwrap();
    assert_eq!(run.outcome, StatementOutcome::Closed);
    assert!(sandbox.primary.metastore.read().schemas.contains_key("main.closed"));
    sandbox.primary.statements.set_timing(StatementTiming { closed_ratio: 0.5, ..Default::default() });
    let id = client.current_metastore(&alice, PRIMARY_WAREHOUSE_ID, deadline()).await.unwrap();
    assert_eq!(id, sandbox.primary.global_id);
}

/// A read asks again after the warehouse's passing trouble (INTERNAL_ERROR,
/// WORKSPACE_TEMPORARILY_UNAVAILABLE, SERVICE_UNDER_MAINTENANCE,
/// RESOURCE_EXHAUSTED, ABORTED) and after a closed result, within its
/// deadline: every history read answers although half the statements fail.
#[tokio::test]
async fn reads_ask_again_after_transient_failures_and_closed_results() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let client = primary(&sandbox);
    let table = {
        let metastore = sandbox.primary.metastore.read();
        let table = metastore.tables.values().find(|t| t.data_source_format.as_deref() == Some("DELTA")).unwrap();
        table.full_name().split('.').map(|p| format!("`{p}`")).collect::<Vec<_>>().join(".")
    };
    let timing = StatementTiming { failure_ratio: 0.5, closed_ratio: 0.2, ..Default::default() };
    sandbox.primary.statements.set_timing(timing);
    for _ in 0..12 {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let (columns, rows) = client
            .query(&alice, PRIMARY_WAREHOUSE_ID, &format!("DESCRIBE HISTORY {table} LIMIT 1"), deadline)
            .await
            .unwrap();
        assert_eq!(columns[0], "version");
        assert_eq!(rows.len(), 1);
    }
    let failed = sandbox.primary.statements.history().iter().filter(|s| s.state == "FAILED").count();
    assert!(failed > 0, "some statements failed and were asked again");
}

/// Grants are read page by page (`max_results=0`, then `page_token`), and
/// an object with more principals than a page still reads whole; a PATCH's
/// answer is checked against the change.
#[tokio::test]
async fn grants_are_read_across_pages_and_a_patch_answer_is_checked() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let client = primary(&sandbox);
    let table = sandbox.primary.metastore.read().tables.values().next().unwrap().full_name();
    // Groups of the account (Unity Catalog grants only to principals it knows).
    for i in 0..5 {
        sandbox.primary.account.add_principal(&format!("pager-{i}"));
    }
    let changes: Vec<PermissionChange> = (0..5)
        .map(|i| PermissionChange { principal: format!("pager-{i}"), add: vec!["SELECT".into()], remove: vec![] })
        .collect();
    client.update_permissions(&alice, Securable::Table, &table, &changes).await.unwrap();
    let expected = sandbox.primary.metastore.read().tables[&table].common.grants.len();
    let read = client.get_permissions(&alice, Securable::Table, &table).await.unwrap();
    assert_eq!(read.len(), expected);
    assert!(expected > 2, "more principals than the sandbox's page of two");
    let update = Update { comment: Some("checked".into()), ..Default::default() };
    client.update_securable(&alice, Securable::Table, &table, &update).await.unwrap();
}

/// A warehouse that has not started a statement by the deadline (stopped
/// and starting, which takes minutes, or saturated) is told apart from a
/// statement that ran too long, and `current_metastore()` says so.
#[tokio::test]
async fn a_statement_the_warehouse_never_started_is_reported_as_such() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = token_for(&sandbox, "alice").await;
    let client = primary(&sandbox);
    sandbox.primary.statements.set_timing(StatementTiming { queue_ms: 120_000, ..Default::default() });
    let mut request = StatementRequest::new(PRIMARY_WAREHOUSE_ID, "CREATE SCHEMA IF NOT EXISTS `main`.`queued`");
    request.wait_timeout = Duration::ZERO;
    let short = tokio::time::Instant::now() + Duration::from_millis(300);
    let run = client.execute_statement(&alice, &request, short, &CancellationToken::new()).await.unwrap();
    assert_eq!(run.outcome, StatementOutcome::Canceled { reason: CancelReason::NotStarted });
    let short = tokio::time::Instant::now() + Duration::from_millis(300);
    let error = client.current_metastore(&alice, PRIMARY_WAREHOUSE_ID, short).await.unwrap_err();
    assert!(
        matches!(&error, DatabricksError::Unavailable { code, message, .. }
            if code == "WAREHOUSE_NOT_STARTED" && message.contains("starting")),
        "{error:?}"
    );
}
