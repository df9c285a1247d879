//! The sandbox warehouse: asynchronous statement states, the statements drbot
//! issues and their effect on the metastore, errors, cancel and failures.

use std::time::{Duration, Instant};

use sandbox::databricks::metastore::Function;
use sandbox::databricks::statements::{
    StatementTiming, PRIMARY_WAREHOUSE_ID, SANDBOX_WAREHOUSE_ID, TRANSIENT_FAILURES,
};
use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    /// The warehouse of the workspace at `base` (ids are per workspace).
    warehouse: &'static str,
}

impl Client {
    fn new(sandbox: &Sandbox, base: String, user: &str) -> Client {
        let user = sandbox.teams.user(user).unwrap();
        let token = sandbox.entra.user_token(&user, "tests", DATABRICKS_AUDIENCE, "user_impersonation");
        let warehouse = if base == sandbox.primary_url() { PRIMARY_WAREHOUSE_ID } else { SANDBOX_WAREHOUSE_ID };
        Client { http: reqwest::Client::new(), base, token, warehouse }
    }

    async fn submit(&self, statement: &str, wait: &str) -> Value {
        let body = json!({"statement": statement, "warehouse_id": self.warehouse, "wait_timeout": wait});
        self.post("/api/2.0/sql/statements", body).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response =
            self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(&body).send().await.unwrap();
        response.json().await.unwrap()
    }

    async fn get(&self, id: &str) -> Value {
        let url = format!("{}/api/2.0/sql/statements/{id}", self.base);
        self.http.get(url).bearer_auth(&self.token).send().await.unwrap().json().await.unwrap()
    }

    /// Polls until the statement is terminal (with a deadline).
    async fn until_done(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let status = self.get(id).await;
            if matches!(status["status"]["state"].as_str(), Some("SUCCEEDED" | "FAILED" | "CANCELED")) {
                return status;
            }
            assert!(Instant::now() < deadline, "statement {id} never finished: {status}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn state(status: &Value) -> &str {
    status["status"]["state"].as_str().unwrap_or_default()
}

/// The SQL error class at the start of a failed statement's message, and the service error code.
fn error(status: &Value) -> (&str, &str) {
    let message = status["status"]["error"]["message"].as_str().unwrap_or_default();
    let class = message.strip_prefix('[').and_then(|m| m.split(']').next()).unwrap_or_default();
    (class, status["status"]["error"]["error_code"].as_str().unwrap_or_default())
}

#[tokio::test]
async fn current_metastore_and_asynchronous_states() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let secondary = Client::new(&sandbox, sandbox.secondary_url(), "alice");
    let done = secondary.submit("SELECT current_metastore()", "10s").await;
    assert_eq!(state(&done), "SUCCEEDED", "{done}");
    let global_id = sandbox.secondary.metastore.read().global_id.clone();
    assert_eq!(done["result"]["data_array"], json!([[global_id]]));
    assert_eq!(done["manifest"]["schema"]["columns"][0]["name"], "current_metastore()");

    sandbox.secondary.statements.set_timing(StatementTiming { queue_ms: 50, ..Default::default() });
    let pending = secondary.submit("SELECT current_metastore()", "0s").await;
    assert_eq!(state(&pending), "PENDING");
    let id = pending["statement_id"].as_str().unwrap();
    assert_eq!(state(&secondary.until_done(id).await), "SUCCEEDED");
}

#[tokio::test]
async fn deep_clones_record_the_source_version_and_copy_incrementally() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (source, location, version) = {
        let primary = sandbox.primary.metastore.read();
        let table = primary
            .tables
            .values()
            .find(|t| t.table_type == "EXTERNAL" && t.data_source_format.as_deref() == Some("DELTA"))
            .unwrap();
        (table.clone(), table.storage_location.clone().unwrap(), table.delta_version)
    };
    let target = format!("`{}`.`{}`.`cloned_{}`", source.catalog, source.schema, source.name);
    let secondary = Client::new(&sandbox, sandbox.secondary_url(), "alice");
    if !sandbox.secondary.metastore.read().schemas.contains_key(&format!("{}.{}", source.catalog, source.schema)) {
        let created = secondary
            .submit(&format!("CREATE SCHEMA IF NOT EXISTS `{}`.`{}`", source.catalog, source.schema), "10s")
            .await;
        assert_eq!(state(&created), "SUCCEEDED", "{created}");
    }
    let clone = format!("CREATE OR REPLACE TABLE {target} DEEP CLONE delta.`{location}` LOCATION 'abfss://external@stextsecondary.dfs.core.windows.net/x'");
    let first = secondary.submit(&clone, "10s").await;
    assert_eq!(state(&first), "SUCCEEDED", "{first}");
    assert_eq!(first["result"]["data_array"][0], json!([version.to_string(), version.to_string()]));
    let second = secondary.submit(&clone, "10s").await;
    assert_eq!(second["result"]["data_array"][0][1], "0", "nothing changed, nothing copied");
    let full = format!("{}.{}.cloned_{}", source.catalog, source.schema, source.name);
    let cloned = sandbox.secondary.metastore.read().tables[&full].clone();
    assert_eq!(cloned.cloned_from.as_ref().unwrap().1, version);
    let history = secondary.submit(&format!("DESCRIBE HISTORY {target}"), "10s").await;
    assert_eq!(state(&history), "SUCCEEDED");
    assert!(history["result"]["row_count"].as_u64().unwrap() >= 2);
}

#[tokio::test]
async fn errors_as_databricks_reports_them() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = Client::new(&sandbox, sandbox.primary_url(), "alice");
    let syntax = alice.submit("DROP TABLE main.x", "10s").await;
    assert_eq!((state(&syntax), error(&syntax)), ("FAILED", ("PARSE_SYNTAX_ERROR", "BAD_REQUEST")));
    let missing =
        alice.submit("CREATE OR REPLACE VIEW `main`.`raw_00`.`v` AS SELECT * FROM `main`.`raw_00`.`nope`", "10s").await;
    assert_eq!(error(&missing), ("TABLE_OR_VIEW_NOT_FOUND", "NOT_FOUND"), "{missing}");
    let no_schema =
        alice.submit("CREATE TABLE `main`.`nope`.`t` USING parquet LOCATION 'abfss://geo@x/y'", "10s").await;
    assert_eq!(error(&no_schema), ("SCHEMA_NOT_FOUND", "NOT_FOUND"), "{no_schema}");
    let carol = Client::new(&sandbox, sandbox.primary_url(), "carol");
    let denied = carol.submit("CREATE SCHEMA `main`.`carols`", "10s").await;
    assert_eq!(error(&denied), ("INSUFFICIENT_PERMISSIONS", "BAD_REQUEST"), "{denied}");
    let wrong_warehouse = alice
        .post("/api/2.0/sql/statements", json!({"statement": "SELECT current_metastore()", "warehouse_id": "nope"}))
        .await;
    assert_eq!(wrong_warehouse["error_code"], "RESOURCE_DOES_NOT_EXIST");
    let bad_wait = alice.submit("SELECT current_metastore()", "3s").await;
    assert_eq!(bad_wait["error_code"], "INVALID_PARAMETER_VALUE");
    let not_yours = Client::new(&sandbox, sandbox.primary_url(), "bob");
    let id = alice.submit("SELECT current_metastore()", "10s").await["statement_id"].as_str().unwrap().to_string();
    assert_eq!(not_yours.get(&id).await["error_code"], "NOT_FOUND");
}

#[tokio::test]
async fn grants_owners_views_and_volumes_take_effect() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = Client::new(&sandbox, sandbox.primary_url(), "alice");
    let (catalog, schema, table) = {
        let m = sandbox.primary.metastore.read();
        let t = m.tables.values().find(|t| t.table_type == "MANAGED").unwrap();
        (t.catalog.clone(), t.schema.clone(), t.name.clone())
    };
    let full = format!("`{catalog}`.`{schema}`.`{table}`");
    for sql in [
        format!("GRANT SELECT ON TABLE {full} TO `auditors`"),
        format!("ALTER TABLE {full} OWNER TO `bob@contoso.example`"),
        format!("CREATE OR REPLACE VIEW `{catalog}`.`{schema}`.`audit_view` AS SELECT * FROM {full}"),
        format!("CREATE EXTERNAL VOLUME IF NOT EXISTS `{catalog}`.`{schema}`.`drops` LOCATION 'abfss://geo@stgeo.dfs.core.windows.net/drops'"),
    ] {
        let done = alice.submit(&sql, "10s").await;
        assert_eq!(state(&done), "SUCCEEDED", "{sql}: {done}");
    }
    {
        let m = sandbox.primary.metastore.read();
        let t = &m.tables[&format!("{catalog}.{schema}.{table}")];
        assert!(t.common.grants["auditors"].contains("SELECT"));
        assert_eq!(t.common.owner, "bob@contoso.example");
        let view = &m.tables[&format!("{catalog}.{schema}.audit_view")];
        assert_eq!(view.view_dependencies, vec![format!("{catalog}.{schema}.{table}")]);
        assert!(m.volumes.contains_key(&format!("{catalog}.{schema}.drops")));
    }
    let revoked = alice.submit(&format!("REVOKE SELECT ON TABLE {full} FROM `auditors`"), "10s").await;
    assert_eq!(state(&revoked), "SUCCEEDED");
    assert!(!sandbox.primary.metastore.read().tables[&format!("{catalog}.{schema}.{table}")]
        .common
        .grants
        .contains_key("auditors"));
}

/// Databricks' CREATE VIEW reference: "Replacing an existing view does not
/// preserve privileges granted on the original view. Use ALTER VIEW to
/// preserve privileges." (FIDELITY.md, rows "CREATE OR REPLACE VIEW" and
/// "ALTER VIEW … AS").
#[tokio::test]
async fn replacing_a_view_drops_its_grants_and_altering_it_keeps_them() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = Client::new(&sandbox, sandbox.primary_url(), "alice");
    let (catalog, schema, table) = {
        let m = sandbox.primary.metastore.read();
        let t = m.tables.values().find(|t| t.table_type == "MANAGED").unwrap();
        (t.catalog.clone(), t.schema.clone(), t.name.clone())
    };
    let full = format!("`{catalog}`.`{schema}`.`{table}`");
    let view = format!("`{catalog}`.`{schema}`.`kept_view`");
    let key = format!("{catalog}.{schema}.kept_view");
    let run = |sql: String| {
        let alice = &alice;
        async move {
            let done = alice.submit(&sql, "10s").await;
            assert_eq!(state(&done), "SUCCEEDED", "{sql}: {done}");
        }
    };
    run(format!("CREATE VIEW IF NOT EXISTS {view} AS SELECT * FROM {full}")).await;
    run(format!("GRANT SELECT ON VIEW {view} TO `auditors`")).await;
    // IF NOT EXISTS leaves an existing view alone.
    run(format!("CREATE VIEW IF NOT EXISTS {view} AS SELECT id FROM {full}")).await;
    assert_eq!(
        sandbox.primary.metastore.read().tables[&key].view_definition.as_deref(),
        Some(&*format!("SELECT * FROM {full}"))
    );
    run(format!("ALTER VIEW {view} AS SELECT id FROM {full}")).await;
    {
        let m = sandbox.primary.metastore.read();
        assert_eq!(m.tables[&key].view_definition.as_deref(), Some(&*format!("SELECT id FROM {full}")));
        assert!(m.tables[&key].common.grants["auditors"].contains("SELECT"), "ALTER VIEW keeps grants");
    }
    run(format!("CREATE OR REPLACE VIEW {view} AS SELECT * FROM {full}")).await;
    assert!(sandbox.primary.metastore.read().tables[&key].common.grants.is_empty(), "a replace drops grants");
    // A plain CREATE of an existing view, both clauses at once, and ALTER of a table are refused.
    let again = alice
        .until_done(
            alice.submit(&format!("CREATE VIEW {view} AS SELECT * FROM {full}"), "0s").await["statement_id"]
                .as_str()
                .unwrap(),
        )
        .await;
    assert_eq!(error(&again).0, "TABLE_OR_VIEW_ALREADY_EXISTS");
    let both =
        alice.submit(&format!("CREATE OR REPLACE VIEW IF NOT EXISTS {view} AS SELECT * FROM {full}"), "10s").await;
    assert_eq!(error(&both).0, "PARSE_SYNTAX_ERROR");
    let table_alter = alice.submit(&format!("ALTER VIEW {full} AS SELECT * FROM {view}"), "10s").await;
    assert_eq!(error(&table_alter).0, "EXPECT_VIEW_NOT_TABLE");
}

/// Only a view's owner may change its definition: "AS query (change view
/// definition)" requires ownership of the view (ALTER VIEW reference), and
/// "to replace an existing view you must be its owner" (CREATE VIEW
/// reference). A metastore admin is refused until it takes the view over
/// (`ALTER VIEW … OWNER TO` itself), and may then hand it back.
#[tokio::test]
async fn only_a_views_owner_may_alter_or_replace_it() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = Client::new(&sandbox, sandbox.primary_url(), "alice");
    let (catalog, schema, table) = {
        let m = sandbox.primary.metastore.read();
        let t = m.tables.values().find(|t| t.table_type == "MANAGED").unwrap();
        (t.catalog.clone(), t.schema.clone(), t.name.clone())
    };
    let full = format!("`{catalog}`.`{schema}`.`{table}`");
    let view = format!("`{catalog}`.`{schema}`.`owned_view`");
    let key = format!("{catalog}.{schema}.owned_view");
    let run = |sql: String| {
        let alice = &alice;
        async move {
            let done = alice.submit(&sql, "10s").await;
            assert_eq!(state(&done), "SUCCEEDED", "{sql}: {done}");
        }
    };
    // alice is in dr-operators, the metastore admins.
    run(format!("CREATE VIEW IF NOT EXISTS {view} AS SELECT * FROM {full}")).await;
    let alice_name = sandbox.primary.metastore.read().tables[&key].common.owner.clone();
    run(format!("GRANT SELECT ON VIEW {view} TO `auditors`")).await;
    run(format!("ALTER VIEW {view} OWNER TO `bob@contoso.example`")).await;

    let altered = alice.submit(&format!("ALTER VIEW {view} AS SELECT id FROM {full}"), "10s").await;
    assert_eq!(error(&altered).0, "PERMISSION_DENIED", "an admin is not the owner");
    let replaced = alice.submit(&format!("CREATE OR REPLACE VIEW {view} AS SELECT id FROM {full}"), "10s").await;
    assert_eq!(error(&replaced).0, "PERMISSION_DENIED", "nor may it replace the view");
    assert_eq!(
        sandbox.primary.metastore.read().tables[&key].view_definition.as_deref(),
        Some(&*format!("SELECT * FROM {full}"))
    );

    // Take it over, change it, hand it back: definition new, owner and grants as before.
    run(format!("ALTER VIEW {view} OWNER TO `{alice_name}`")).await;
    run(format!("ALTER VIEW {view} AS SELECT id FROM {full}")).await;
    run(format!("ALTER VIEW {view} OWNER TO `bob@contoso.example`")).await;
    let m = sandbox.primary.metastore.read();
    assert_eq!(m.tables[&key].view_definition.as_deref(), Some(&*format!("SELECT id FROM {full}")));
    assert_eq!(m.tables[&key].common.owner, "bob@contoso.example");
    assert!(m.tables[&key].common.grants["auditors"].contains("SELECT"));
}

#[tokio::test]
async fn a_cancelled_statement_changes_nothing_and_failures_can_be_injected() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = Client::new(&sandbox, sandbox.primary_url(), "alice");
    sandbox.primary.statements.set_timing(StatementTiming { run_ms: (5_000, 5_000), ..Default::default() });
    let started = alice.submit("CREATE SCHEMA `main`.`never`", "0s").await;
    let id = started["statement_id"].as_str().unwrap();
    assert_eq!(alice.post(&format!("/api/2.0/sql/statements/{id}/cancel"), json!({})).await, json!({}));
    assert_eq!(state(&alice.until_done(id).await), "CANCELED");
    assert!(!sandbox.primary.metastore.read().schemas.contains_key("main.never"));

    // Every transient failure the API documents comes up, each with its
    // service code (FIDELITY.md, "statement errors").
    sandbox.primary.statements.set_timing(StatementTiming { failure_ratio: 1.0, ..Default::default() });
    let mut codes = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let failed = alice.submit("SELECT current_metastore()", "10s").await;
        assert_eq!(state(&failed), "FAILED");
        let (_, code) = error(&failed);
        codes.insert(code.to_string());
    }
    let documented: std::collections::BTreeSet<String> =
        TRANSIENT_FAILURES.iter().map(|(c, _)| c.to_string()).collect();
    assert_eq!(codes, documented);

    // CLOSED: the statement ran (its effect is there) and its result is gone.
    sandbox.primary.statements.set_timing(StatementTiming { closed_ratio: 1.0, ..Default::default() });
    let closed = alice.submit("CREATE SCHEMA `main`.`closed_but_done`", "10s").await;
    assert_eq!(state(&closed), "CLOSED");
    assert!(closed.get("result").is_none());
    assert!(sandbox.primary.metastore.read().schemas.contains_key("main.closed_but_done"));
}

#[tokio::test]
async fn on_wait_timeout_cancel_gives_up_after_the_wait() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = Client::new(&sandbox, sandbox.primary_url(), "alice");
    sandbox.primary.statements.set_timing(StatementTiming { run_ms: (60_000, 60_000), ..Default::default() });
    let body = json!({"statement": "CREATE SCHEMA `main`.`too_slow`", "warehouse_id": alice.warehouse,
        "wait_timeout": "5s", "on_wait_timeout": "CANCEL"});
    let answer = alice.post("/api/2.0/sql/statements", body).await;
    assert_eq!(state(&answer), "CANCELED", "{answer}");
    assert!(!sandbox.primary.metastore.read().schemas.contains_key("main.too_slow"));
    let body = json!({"statement": "CREATE SCHEMA `main`.`later`", "warehouse_id": alice.warehouse,
        "wait_timeout": "5s", "on_wait_timeout": "CONTINUE"});
    let answer = alice.post("/api/2.0/sql/statements", body).await;
    assert_eq!(state(&answer), "RUNNING", "CONTINUE hands back a statement still running: {answer}");
}

#[tokio::test]
async fn a_warehouse_with_a_concurrency_limit_queues_the_rest_and_keeps_a_history() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let secondary = Client::new(&sandbox, sandbox.secondary_url(), "alice");
    let warehouse = &sandbox.secondary.statements;
    warehouse.set_timing(StatementTiming { run_ms: (300, 300), ..Default::default() });
    warehouse.set_concurrency(Some(2));
    let mut ids = Vec::new();
    for _ in 0..3 {
        let submitted = secondary.submit("SELECT current_metastore()", "0s").await;
        ids.push(submitted["statement_id"].as_str().unwrap().to_string());
    }
    // Two run, the third waits for a slot.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let states: Vec<String> = {
            let mut states = Vec::new();
            for id in &ids {
                states.push(state(&secondary.get(id).await).to_string());
            }
            states
        };
        if states[..2].iter().all(|s| s == "RUNNING") {
            assert_eq!(states[2], "PENDING", "{states:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the first two never ran: {states:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for id in &ids {
        assert_eq!(state(&secondary.until_done(id).await), "SUCCEEDED");
    }
    let history = warehouse.history();
    assert_eq!(history.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), ids, "in submission order");
    assert!(history.iter().all(|s| s.statement == "SELECT current_metastore()" && s.state == "SUCCEEDED"));
    assert!(history.iter().all(|s| s.run == Duration::from_millis(300) && s.owner.starts_with("alice")));
}

/// Storage permissions on the metastore that runs the statement (FIDELITY.md,
/// "Storage permissions"): READ FILES on a location covering a path read by
/// `delta.\`path\``, CREATE EXTERNAL TABLE / CREATE EXTERNAL VOLUME on the
/// location covering a new table's or volume's path (its owner, or granted;
/// a metastore admin is not enough), never on a read-only location, and no
/// overlap with another table's or volume's path.
#[tokio::test]
async fn paths_need_a_covering_external_location_the_privilege_on_it_and_no_overlap() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let source = {
        let primary = sandbox.primary.metastore.read();
        primary
            .tables
            .values()
            .find(|t| t.table_type == "EXTERNAL" && t.data_source_format.as_deref() == Some("DELTA"))
            .unwrap()
            .clone()
    };
    let (catalog, schema) = (source.catalog.clone(), source.schema.clone());
    let path = source.storage_location.clone().unwrap();
    let alice = Client::new(&sandbox, sandbox.secondary_url(), "alice");
    let created = alice.submit(&format!("CREATE SCHEMA IF NOT EXISTS `{catalog}`.`{schema}`"), "10s").await;
    assert_eq!(state(&created), "SUCCEEDED", "{created}");
    let target = "abfss://external@stextsecondary.dfs.core.windows.net/storage_test/t1";
    let clone = |name: &str, location: &str| {
        format!(
            "CREATE OR REPLACE TABLE `{catalog}`.`{schema}`.`{name}` DEEP CLONE delta.`{path}` LOCATION '{location}'"
        )
    };

    // The seeded secondary has what a bootstrapped one has: the clone runs.
    let done = alice.submit(&clone("t1", target), "10s").await;
    assert_eq!(state(&done), "SUCCEEDED", "{done}");

    // Without a location covering the source path on *this* metastore, no READ FILES.
    let reader = sandbox.secondary.metastore.write().external_locations.remove("external_delta_primary").unwrap();
    let refused = alice.submit(&clone("t2", &format!("{target}_2")), "10s").await;
    assert_eq!(error(&refused).0, "PERMISSION_DENIED", "{refused}");
    assert!(refused["status"]["error"]["message"].as_str().unwrap().contains("No external location"));
    sandbox.secondary.metastore.write().external_locations.insert(reader.name.clone(), reader);
    assert!(!sandbox.secondary.metastore.read().tables.contains_key(&format!("{catalog}.{schema}.t2")));

    // A target outside every location, or inside another table's path.
    let nowhere = alice.submit(&clone("t2", "abfss://other@stnowhere.dfs.core.windows.net/t2"), "10s").await;
    assert_eq!(error(&nowhere).0, "PERMISSION_DENIED", "{nowhere}");
    let inside = alice.submit(&clone("t2", &format!("{target}/nested")), "10s").await;
    assert_eq!(error(&inside).0, "INVALID_PARAMETER_VALUE", "{inside}");
    let again = alice.submit(&clone("t1", target), "10s").await;
    assert_eq!(state(&again), "SUCCEEDED", "replacing a table on its own path is no overlap: {again}");

    // A read-only location serves reads, never a new table or volume.
    let on_read_only = alice
        .submit(
            &format!("CREATE TABLE IF NOT EXISTS `{catalog}`.`{schema}`.`raw` USING PARQUET LOCATION 'abfss://external@stextprimary.dfs.core.windows.net/elsewhere'"),
            "10s",
        )
        .await;
    assert_eq!(error(&on_read_only).0, "PERMISSION_DENIED", "{on_read_only}");

    // A metastore admin who does not own the location needs the privilege granted.
    sandbox.secondary.metastore.write().external_locations.get_mut("geo_replicated").unwrap().common.owner =
        "storage-team".into();
    let volume = format!(
        "CREATE EXTERNAL VOLUME IF NOT EXISTS `{catalog}`.`{schema}`.`drops` LOCATION 'abfss://geo@stgeo.dfs.core.windows.net/storage_test/drops'"
    );
    let denied = alice.submit(&volume, "10s").await;
    assert_eq!(error(&denied).0, "PERMISSION_DENIED", "{denied}");
    assert!(denied["status"]["error"]["message"].as_str().unwrap().contains("CREATE EXTERNAL VOLUME"));
    let granted = alice
        .submit("GRANT CREATE EXTERNAL VOLUME ON EXTERNAL LOCATION `geo_replicated` TO `dr-operators`", "10s")
        .await;
    assert_eq!(state(&granted), "SUCCEEDED", "{granted}");
    let made = alice.submit(&volume, "10s").await;
    assert_eq!(state(&made), "SUCCEEDED", "{made}");
    assert!(sandbox.secondary.metastore.read().volumes.contains_key(&format!("{catalog}.{schema}.drops")));
}

/// A stopped warehouse is started by a statement and is STARTING for its
/// start-up time, the statement PENDING meanwhile; an ended statement is
/// forgotten (404) once the retention has passed on the warehouse's clock.
#[tokio::test]
async fn a_stopped_warehouse_starts_for_a_statement_and_ended_statements_are_forgotten() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = Client::new(&sandbox, sandbox.primary_url(), "alice");
    let warehouse = || async {
        let url = format!("{}/api/2.0/sql/warehouses/{}", alice.base, alice.warehouse);
        let answer: Value = alice.http.get(url).bearer_auth(&alice.token).send().await.unwrap().json().await.unwrap();
        answer["state"].as_str().unwrap_or_default().to_string()
    };
    sandbox.primary.statements.set_timing(StatementTiming { start_ms: 400, ..Default::default() });
    sandbox.primary.statements.stop_warehouse();
    assert_eq!(warehouse().await, "STOPPED");
    let submitted = alice.submit("SELECT current_metastore()", "0s").await;
    assert_eq!(state(&submitted), "PENDING");
    assert_eq!(warehouse().await, "STARTING", "the statement woke it");
    let id = submitted["statement_id"].as_str().unwrap().to_string();
    assert_eq!(state(&alice.get(&id).await), "PENDING", "nothing runs before the warehouse does");
    assert_eq!(state(&alice.until_done(&id).await), "SUCCEEDED");
    assert_eq!(warehouse().await, "RUNNING");

    // Kept for the retention, then forgotten.
    sandbox.primary.statements.pass_time(Duration::from_secs(11 * 3600));
    assert_eq!(state(&alice.get(&id).await), "SUCCEEDED");
    sandbox.primary.statements.pass_time(Duration::from_secs(2 * 3600));
    let gone = alice.get(&id).await;
    assert_eq!(gone["error_code"], "NOT_FOUND", "{gone}");
    // A statement still running is not forgotten, and a new one is fetched as usual.
    let fresh = alice.submit("SELECT current_metastore()", "10s").await;
    let fresh_id = fresh["statement_id"].as_str().unwrap();
    assert_eq!(state(&alice.get(fresh_id).await), "SUCCEEDED");
}

/// A clone's commit in `DESCRIBE HISTORY` names the source version it copied.
#[tokio::test]
async fn a_clone_s_history_names_its_source_version() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (target, version) = {
        let secondary = sandbox.secondary.metastore.read();
        let table = secondary.tables.values().find(|t| t.cloned_from.is_some()).expect("the seed has clones");
        (table.full_name(), table.cloned_from.as_ref().unwrap().1)
    };
    let alice = Client::new(&sandbox, sandbox.secondary_url(), "alice");
    let quoted = target.split('.').map(|p| format!("`{p}`")).collect::<Vec<_>>().join(".");
    let history = alice.submit(&format!("DESCRIBE HISTORY {quoted} LIMIT 1"), "10s").await;
    assert_eq!(state(&history), "SUCCEEDED", "{history}");
    let columns: Vec<&str> = history["manifest"]["schema"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["version", "timestamp", "operation", "operationParameters"]);
    let row = &history["result"]["data_array"][0];
    assert_eq!(row[2], "CLONE");
    let parameters: Value = serde_json::from_str(row[3].as_str().unwrap()).unwrap();
    assert_eq!(parameters["sourceVersion"], version.to_string());
}

/// Row filters and column masks: set and dropped with `ALTER TABLE`, their
/// function must exist, the tables API reports them, and a deep clone (new
/// or replacing) carries none.
#[tokio::test]
async fn row_filters_and_masks_are_reported_and_a_clone_carries_none() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (source, location) = {
        let primary = sandbox.primary.metastore.read();
        let table = primary
            .tables
            .values()
            .find(|t| t.table_type == "EXTERNAL" && t.data_source_format.as_deref() == Some("DELTA"))
            .unwrap();
        (table.full_name(), table.storage_location.clone().unwrap())
    };
    let quote = |name: &str| name.split('.').map(|p| format!("`{p}`")).collect::<Vec<_>>().join(".");
    let alice = Client::new(&sandbox, sandbox.primary_url(), "alice");
    let filter = format!("ALTER TABLE {} SET ROW FILTER `main`.`security`.`by_region` ON (region)", quote(&source));
    let missing = alice.submit(&filter, "10s").await;
    assert_eq!(error(&missing).0, "ROUTINE_NOT_FOUND", "{missing}");

    for ws in [&sandbox.primary, &sandbox.secondary] {
        let mut metastore = ws.metastore.write();
        for (name, returns) in [("main.security.by_region", "BOOLEAN"), ("main.security.hide_email", "STRING")] {
            let function = Function::sql(name, &[("x", "STRING")], returns, "x", "alice@contoso.example");
            metastore.functions.insert(name.into(), function);
        }
    }
    assert_eq!(state(&alice.submit(&filter, "10s").await), "SUCCEEDED");
    let mask = format!(
        "ALTER TABLE {} ALTER COLUMN email SET MASK main.security.hide_email USING COLUMNS (region, tier)",
        quote(&source)
    );
    assert_eq!(state(&alice.submit(&mask, "10s").await), "SUCCEEDED");
    let url = format!("{}/api/2.1/unity-catalog/tables/{source}", alice.base);
    let table: Value = alice.http.get(&url).bearer_auth(&alice.token).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        table["row_filter"],
        json!({"function_name": "main.security.by_region", "input_column_names": ["region"]})
    );
    assert_eq!(table["columns"][0]["name"], "email");
    assert_eq!(
        table["columns"][0]["mask"],
        json!({"function_name": "main.security.hide_email", "using_column_names": ["region", "tier"]})
    );

    // A deep clone on the secondary has neither; protected there and cloned again, it loses them.
    let secondary = Client::new(&sandbox, sandbox.secondary_url(), "alice");
    let parts: Vec<&str> = source.split('.').collect();
    let _ = secondary.submit(&format!("CREATE SCHEMA IF NOT EXISTS `{}`.`{}`", parts[0], parts[1]), "10s").await;
    let target = format!("{}.{}.protected_copy", parts[0], parts[1]);
    let clone = format!(
        "CREATE OR REPLACE TABLE {} DEEP CLONE delta.`{location}` LOCATION 'abfss://external@stextsecondary.dfs.core.windows.net/p'",
        quote(&target)
    );
    assert_eq!(state(&secondary.submit(&clone, "10s").await), "SUCCEEDED");
    let unprotected = || sandbox.secondary.metastore.read().tables[&target].protection.clone();
    assert_eq!(unprotected(), Default::default());
    let filter_there = format!("ALTER TABLE {} SET ROW FILTER main.security.by_region ON (region)", quote(&target));
    assert_eq!(state(&secondary.submit(&filter_there, "10s").await), "SUCCEEDED");
    assert!(unprotected().row_filter.is_some());
    assert_eq!(state(&secondary.submit(&clone, "10s").await), "SUCCEEDED");
    assert_eq!(unprotected(), Default::default(), "the replacing clone dropped it");

    // Dropped on the primary.
    let drop_mask = format!("ALTER TABLE {} ALTER COLUMN email DROP MASK", quote(&source));
    let drop_filter = format!("ALTER TABLE {} DROP ROW FILTER", quote(&source));
    assert_eq!(state(&alice.submit(&drop_mask, "10s").await), "SUCCEEDED");
    assert_eq!(state(&alice.submit(&drop_filter, "10s").await), "SUCCEEDED");
    assert_eq!(sandbox.primary.metastore.read().tables[&source].protection, Default::default());
}

/// SQL functions: `CREATE FUNCTION` makes one (owned by its creator) that
/// the functions API lists with its parameters, return type, body and what
/// it uses; a call to an unknown function is `UNRESOLVED_ROUTINE`; a second
/// `CREATE` is `ROUTINE_ALREADY_EXISTS`, `CREATE OR REPLACE` redefines it;
/// a Python body is refused (not modelled); a view records the functions it
/// calls among its dependencies.
#[tokio::test]
async fn sql_functions_are_created_listed_and_resolved() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (table, schema) = {
        let primary = sandbox.primary.metastore.read();
        let t = primary
            .tables
            .values()
            .find(|t| t.table_type == "MANAGED" && t.common.owner == sandbox::databricks::seed::ADMIN_GROUP)
            .unwrap();
        (t.full_name(), format!("{}.{}", t.catalog, t.schema))
    };
    let quote = |name: &str| name.split('.').map(|p| format!("`{p}`")).collect::<Vec<_>>().join(".");
    let (t, s) = (quote(&table), quote(&schema));
    let alice = Client::new(&sandbox, sandbox.primary_url(), "alice");
    let calls_unknown =
        format!("CREATE FUNCTION {s}.`outer` (r STRING) RETURNS BOOLEAN RETURN {s}.`inner`(r) AND r <> 'x'");
    assert_eq!(error(&alice.submit(&calls_unknown, "10s").await).0, "UNRESOLVED_ROUTINE");
    let inner = format!("CREATE FUNCTION {s}.`inner` (r STRING, n DECIMAL(10,2)) RETURNS BOOLEAN RETURN r = 'EU'");
    assert_eq!(state(&alice.submit(&inner, "10s").await), "SUCCEEDED");
    assert_eq!(error(&alice.submit(&inner, "10s").await).0, "ROUTINE_ALREADY_EXISTS");
    let replace = inner.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION").replace("'EU'", "'US'");
    assert_eq!(state(&alice.submit(&replace, "10s").await), "SUCCEEDED");
    assert_eq!(state(&alice.submit(&calls_unknown, "10s").await), "SUCCEEDED");
    let python = format!("CREATE FUNCTION {s}.`py` (r STRING) RETURNS STRING LANGUAGE PYTHON AS $$ return r $$");
    assert_eq!(error(&alice.submit(&python, "10s").await).0, "PARSE_SYNTAX_ERROR");

    let url = format!("{}/api/2.1/unity-catalog/functions", alice.base);
    let parts: Vec<&str> = schema.split('.').collect();
    let listed: Value = alice
        .http
        .get(&url)
        .query(&[("catalog_name", parts[0]), ("schema_name", parts[1])])
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let functions = listed["functions"].as_array().unwrap();
    let inner = functions.iter().find(|f| f["name"] == "inner").expect("listed");
    assert_eq!(inner["routine_body"], "SQL");
    assert_eq!(inner["routine_definition"], "r = 'US'");
    assert_eq!(inner["full_data_type"], "BOOLEAN");
    assert_eq!(inner["input_params"]["parameters"][1]["type_text"], "DECIMAL(10,2)");
    let outer = functions.iter().find(|f| f["name"] == "outer").expect("listed");
    assert_eq!(
        outer["routine_dependencies"]["dependencies"][0]["function"]["function_full_name"],
        format!("{schema}.inner")
    );

    let view = format!("CREATE VIEW {s}.`uses_inner` AS SELECT {s}.`inner`(region, 1) AS eu FROM {t}");
    assert_eq!(state(&alice.submit(&view, "10s").await), "SUCCEEDED");
    let url = format!("{}/api/2.1/unity-catalog/tables/{schema}.uses_inner", alice.base);
    let got: Value = alice.http.get(&url).bearer_auth(&alice.token).send().await.unwrap().json().await.unwrap();
    let dependencies = got["view_dependencies"]["dependencies"].as_array().unwrap();
    assert!(dependencies.iter().any(|d| d["table"]["table_full_name"] == table.as_str()), "{got}");
    assert!(dependencies.iter().any(|d| d["function"]["function_full_name"] == format!("{schema}.inner")), "{got}");
}

/// `CREATE TABLE … USING fmt LOCATION` without columns infers the schema
/// from the files: an empty path is `UNABLE_TO_INFER_SCHEMA`, a CSV file set
/// read without `header` gets `_c0…` string columns; with columns, options
/// and partitioning it succeeds whatever the path holds, and `DESCRIBE
/// TABLE EXTENDED … AS JSON` reports them.
#[tokio::test]
async fn non_delta_tables_infer_their_schema_from_files_unless_given_one() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (schema, csv_location) = {
        let primary = sandbox.primary.metastore.read();
        let csv = primary.tables.values().find(|t| t.data_source_format.as_deref() == Some("CSV")).unwrap();
        (format!("`{}`.`{}`", csv.catalog, csv.schema), csv.storage_location.clone().unwrap())
    };
    let alice = Client::new(&sandbox, sandbox.primary_url(), "alice");
    let empty = "abfss://geo@stgeo.dfs.core.windows.net/nothing/here/yet";
    let blind = format!("CREATE TABLE {schema}.`blind` USING csv LOCATION '{empty}'");
    assert_eq!(error(&alice.submit(&blind, "10s").await).0, "UNABLE_TO_INFER_SCHEMA");

    // The seeded CSV files have a header line and `;`: read blind, the header is lost.
    // (The seeded table is dropped first: a second table may not overlap its path.)
    sandbox.primary.metastore.write().tables.retain(|_, t| t.storage_location.as_deref() != Some(&csv_location));
    let inferred = format!("CREATE TABLE {schema}.`inferred` USING csv LOCATION '{csv_location}'");
    assert_eq!(state(&alice.submit(&inferred, "10s").await), "SUCCEEDED");
    let columns = |name: &str| {
        let primary = sandbox.primary.metastore.read();
        let table = primary.tables.values().find(|t| t.name == name).unwrap();
        table.columns.iter().map(|c| (c.name.clone(), c.type_text.clone(), c.partition_index)).collect::<Vec<_>>()
    };
    assert_eq!(
        columns("inferred"),
        vec![
            ("_c0".into(), "STRING".into(), None),
            ("_c1".into(), "STRING".into(), None),
            ("_c2".into(), "STRING".into(), None)
        ]
    );

    let defined = format!(
        "CREATE TABLE {schema}.`defined` (`id` BIGINT, `region` STRING) USING csv \
         OPTIONS ('header' = 'true', 'delimiter' = ';') PARTITIONED BY (`region`) LOCATION '{empty}'"
    );
    assert_eq!(state(&alice.submit(&defined, "10s").await), "SUCCEEDED");
    assert_eq!(
        columns("defined"),
        vec![("id".into(), "BIGINT".into(), None), ("region".into(), "STRING".into(), Some(0))]
    );
    let wrong = format!(
        "CREATE TABLE {schema}.`wrong` (`id` BIGINT) USING csv PARTITIONED BY (`region`) LOCATION '{empty}-other'"
    );
    assert_eq!(error(&alice.submit(&wrong, "10s").await).0, "COLUMN_NOT_DEFINED_IN_TABLE");

    let described = alice.submit(&format!("DESCRIBE TABLE EXTENDED {schema}.`defined` AS JSON"), "10s").await;
    assert_eq!(state(&described), "SUCCEEDED", "{described}");
    let document: Value = serde_json::from_str(described["result"]["data_array"][0][0].as_str().unwrap()).unwrap();
    assert_eq!(document["storage_properties"], json!({"delimiter": ";", "header": "true"}));
    assert_eq!(document["partition_columns"], json!(["region"]));
    assert_eq!(document["columns"][0]["type"]["name"], "bigint");
}

/// `LIST url [LIMIT n]` lists what lies right under a storage path, for a
/// caller with READ FILES on the external location covering it; a path
/// nothing is stored at does not exist (`PATH_NOT_FOUND`), and storage
/// replication delivering files makes it listable.
#[tokio::test]
async fn list_shows_what_storage_holds_to_who_may_read_files_there() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let csv_location = {
        let primary = sandbox.primary.metastore.read();
        let csv = primary.tables.values().find(|t| t.data_source_format.as_deref() == Some("CSV")).unwrap();
        csv.storage_location.clone().unwrap()
    };
    let alice = Client::new(&sandbox, sandbox.primary_url(), "alice");
    let listed = alice.submit(&format!("LIST '{csv_location}' LIMIT 1"), "10s").await;
    assert_eq!(state(&listed), "SUCCEEDED", "{listed}");
    let rows = listed["result"]["data_array"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0][0].as_str().unwrap().starts_with(csv_location.trim_end_matches('/')), "{listed}");

    let empty = "abfss://geo@stgeo.dfs.core.windows.net/nothing/here/yet";
    assert_eq!(error(&alice.submit(&format!("LIST '{empty}'"), "10s").await).0, "PATH_NOT_FOUND");
    let column =
        sandbox::databricks::metastore::Column { name: "id".into(), type_text: "BIGINT".into(), partition_index: None };
    sandbox.primary.account.storage.set_files(empty, Some(vec![column]));
    assert_eq!(state(&alice.submit(&format!("LIST '{empty}' LIMIT 5"), "10s").await), "SUCCEEDED");
    assert_eq!(
        error(&alice.submit(&format!("LIST '{empty}' LIMIT 0"), "10s").await).0,
        "INVALID_LIMIT_LIKE_EXPRESSION"
    );

    let nowhere = "abfss://other@elsewhere.dfs.core.windows.net/x";
    assert_eq!(error(&alice.submit(&format!("LIST '{nowhere}'"), "10s").await).0, "PERMISSION_DENIED");
    let bob = Client::new(&sandbox, sandbox.primary_url(), "bob");
    assert_eq!(error(&bob.submit(&format!("LIST '{csv_location}'"), "10s").await).0, "PERMISSION_DENIED");
}

/// Informational keys (FIDELITY.md, "Informational keys"): a primary key
/// and a foreign key naming it are added, listed by the tables API as
/// `table_constraints`; refused are a foreign key to a table without a
/// primary key or not naming its key's columns, a second primary key, a
/// name already used in the schema, a non-owner's change, and dropping a
/// referenced primary key without `CASCADE` (which drops the foreign keys).
#[tokio::test]
async fn primary_and_foreign_keys_are_checked_against_the_catalog() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (parent, child) = {
        let primary = sandbox.primary.metastore.read();
        let mut delta = primary.tables.values().filter(|t| t.table_type == "MANAGED");
        let first = delta.next().unwrap();
        let second = delta.find(|t| t.catalog == first.catalog && t.schema == first.schema).unwrap();
        (first.full_name(), second.full_name())
    };
    let quote = |name: &str| name.split('.').map(|p| format!("`{p}`")).collect::<Vec<_>>().join(".");
    let alice = Client::new(&sandbox, sandbox.primary_url(), "alice");
    let run = |sql: String| {
        let alice = &alice;
        async move { alice.submit(&sql, "10s").await }
    };
    let (p, c) = (quote(&parent), quote(&child));
    let fk = format!("ALTER TABLE {c} ADD CONSTRAINT `fk_parent` FOREIGN KEY (`parent_id`) REFERENCES {p}");
    assert_eq!(error(&run(fk.clone()).await).0, "UC_REFERENTIAL_CONSTRAINT_DOES_NOT_EXIST");

    let pk = format!("ALTER TABLE {p} ADD CONSTRAINT `pk_parent` PRIMARY KEY (`id`) RELY");
    assert_eq!(state(&run(pk.clone()).await), "SUCCEEDED");
    assert_eq!(
        error(&run(format!("ALTER TABLE {p} ADD CONSTRAINT `pk2` PRIMARY KEY (`x`)")).await).0,
        "MULTIPLE_PRIMARY_KEYS"
    );
    let same_name = format!("ALTER TABLE {c} ADD CONSTRAINT `pk_parent` PRIMARY KEY (`id`)");
    assert_eq!(error(&run(same_name).await).0, "CONSTRAINT_ALREADY_EXISTS");
    let wrong_columns = format!("ALTER TABLE {c} ADD CONSTRAINT `fk_x` FOREIGN KEY (`a`) REFERENCES {p} (`other`)");
    assert_eq!(error(&run(wrong_columns).await).0, "UC_REFERENTIAL_CONSTRAINT_DOES_NOT_EXIST");
    sandbox.primary.metastore.write().tables.get_mut(&child).unwrap().common.owner = "alice@contoso.example".into();
    let bob = Client::new(&sandbox, sandbox.primary_url(), "bob");
    let refused = bob.submit(&format!("ALTER TABLE {c} ADD CONSTRAINT `pk_child` PRIMARY KEY (`id`)"), "10s").await;
    assert_eq!(error(&refused).0, "INSUFFICIENT_PERMISSIONS", "{refused}");
    let unknown = run("ALTER TABLE t ADD CONSTRAINT c CHECK (x > 0)".into()).await;
    assert_eq!(state(&unknown), "FAILED", "a CHECK constraint is not modelled: {unknown}");

    let fk = format!("{fk} (`id`) NOT ENFORCED");
    assert_eq!(state(&run(fk).await), "SUCCEEDED");
    let url = format!("{}/api/2.1/unity-catalog/tables/{child}", alice.base);
    let table: Value = alice.http.get(&url).bearer_auth(&alice.token).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        table["table_constraints"],
        json!([{"foreign_key_constraint": {"name": "fk_parent", "child_columns": ["parent_id"],
            "parent_table": parent, "parent_columns": ["id"], "rely": false}}])
    );
    let url = format!("{}/api/2.1/unity-catalog/tables/{parent}", alice.base);
    let table: Value = alice.http.get(&url).bearer_auth(&alice.token).send().await.unwrap().json().await.unwrap();
    assert_eq!(table["table_constraints"][0]["primary_key_constraint"]["rely"], json!(true));

    let drop_pk = format!("ALTER TABLE {p} DROP CONSTRAINT `pk_parent`");
    assert_eq!(error(&run(drop_pk.clone()).await).0, "CONSTRAINT_DEPENDENCY");
    assert_eq!(state(&run(format!("{drop_pk} CASCADE")).await), "SUCCEEDED");
    let emptied = {
        let metastore = sandbox.primary.metastore.read();
        metastore.tables[&parent].constraints.is_empty() && metastore.tables[&child].constraints.is_empty()
    };
    assert!(emptied, "CASCADE dropped the key and the foreign key naming it");
    assert_eq!(state(&run(format!("ALTER TABLE {p} DROP CONSTRAINT IF EXISTS `pk_parent`")).await), "SUCCEEDED");
    assert_eq!(
        error(&run(format!("ALTER TABLE {p} DROP CONSTRAINT `pk_parent`")).await).0,
        "CONSTRAINT_DOES_NOT_EXIST"
    );
}
