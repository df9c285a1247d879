//! What a reader of a Delta table's rows sees (`sql/data.rs`): a deep clone
//! holds exactly its source's rows at the cloned version, a commit on
//! either side moves them apart, and the statements `verify` sends are
//! answered exactly (anything else is refused).

use std::time::{Duration, Instant};

use sandbox::databricks::statements::{PRIMARY_WAREHOUSE_ID, SANDBOX_WAREHOUSE_ID};
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

    /// Runs `statement` to its end (with a deadline).
    async fn run(&self, statement: &str) -> Value {
        let body = json!({"statement": statement, "warehouse_id": self.warehouse, "wait_timeout": "10s"});
        let url = format!("{}/api/2.0/sql/statements", self.base);
        let mut status: Value =
            self.http.post(url).bearer_auth(&self.token).json(&body).send().await.unwrap().json().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while matches!(status["status"]["state"].as_str(), Some("PENDING" | "RUNNING")) {
            assert!(Instant::now() < deadline, "never finished: {status}");
            tokio::time::sleep(Duration::from_millis(20)).await;
            let id = status["statement_id"].as_str().unwrap();
            let url = format!("{}/api/2.0/sql/statements/{id}", self.base);
            status = self.http.get(url).bearer_auth(&self.token).send().await.unwrap().json().await.unwrap();
        }
        status
    }

    /// `(rows, hash)` of `table`.
    async fn rows(&self, table: &str) -> (String, Value) {
        let answer =
            self.run(&format!("SELECT COUNT(*) AS row_count, bit_xor(xxhash64(*)) AS row_hash FROM {table}")).await;
        assert_eq!(answer["status"]["state"], "SUCCEEDED", "{answer}");
        let row = &answer["result"]["data_array"][0];
        (row[0].as_str().unwrap().to_string(), row[1].clone())
    }
}

fn class(status: &Value) -> &str {
    let message = status["status"]["error"]["message"].as_str().unwrap_or_default();
    message.strip_prefix('[').and_then(|m| m.split(']').next()).unwrap_or_default()
}

#[tokio::test]
async fn a_deep_clone_holds_its_sources_rows_until_either_side_commits() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (source, schema) = {
        let primary = sandbox.primary.metastore.read();
        let table = primary
            .tables
            .values()
            .find(|t| t.data_source_format.as_deref() == Some("DELTA") && t.table_type == "MANAGED")
            .unwrap();
        (table.full_name(), format!("{}.{}", table.catalog, table.schema))
    };
    let copy = format!("{schema}.verify_copy");
    let alice = Client::new(&sandbox, sandbox.primary_url(), "alice");
    let cloned = alice.run(&format!("CREATE OR REPLACE TABLE {copy} DEEP CLONE {source}")).await;
    assert_eq!(cloned["status"]["state"], "SUCCEEDED", "{cloned}");

    let (rows, hash) = alice.rows(&source).await;
    assert!(rows.parse::<i64>().unwrap() > 0);
    assert!(hash.is_string(), "a digest of the rows: {hash}");
    assert_eq!(alice.rows(&copy).await, (rows.clone(), hash.clone()), "the clone holds the source's rows");
    let count = alice.run(&format!("SELECT COUNT(*) AS row_count FROM {copy}")).await;
    assert_eq!(count["manifest"]["schema"]["columns"][0]["name"], "row_count");
    assert_eq!(count["result"]["data_array"], json!([[rows]]));

    // The source commits: it moves on, the clone keeps what it copied.
    let now = chrono::Utc::now().timestamp_millis();
    sandbox.primary.metastore.write().tables.get_mut(&source).unwrap().append(now);
    let moved = alice.rows(&source).await;
    assert_ne!(moved, (rows.clone(), hash.clone()));
    assert_eq!(alice.rows(&copy).await, (rows, hash));
    // Cloned again: equal again.
    alice.run(&format!("CREATE OR REPLACE TABLE {copy} DEEP CLONE {source}")).await;
    assert_eq!(alice.rows(&copy).await, moved);

    // The clone is written to: its rows and its newest commit say so.
    sandbox.primary.metastore.write().tables.get_mut(&copy).unwrap().append(now);
    assert_ne!(alice.rows(&copy).await, moved);
    let history = alice.run(&format!("DESCRIBE HISTORY {copy} LIMIT 1")).await;
    assert_eq!(history["result"]["data_array"][0][2], "WRITE", "{history}");

    // DESCRIBE DETAIL and information_schema.columns.
    let detail = alice.run(&format!("DESCRIBE DETAIL {source}")).await;
    let columns: Vec<&str> = detail["manifest"]["schema"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let size = columns.iter().position(|c| *c == "sizeInBytes").unwrap();
    assert!(detail["result"]["data_array"][0][size].as_str().unwrap().parse::<u64>().unwrap() > 0);
    let catalog = source.split('.').next().unwrap();
    let listed = alice
        .run(&format!(
            "SELECT table_schema, table_name, column_name, full_data_type, ordinal_position FROM {catalog}.information_schema.columns"
        ))
        .await;
    let (schema, table) = (source.split('.').nth(1).unwrap(), source.split('.').nth(2).unwrap());
    let of_table: Vec<&Value> =
        listed["result"]["data_array"].as_array().unwrap().iter().filter(|r| r[0] == schema && r[1] == table).collect();
    assert_eq!(of_table.len(), 3, "{listed}");
    assert_eq!(of_table[0][4], "1", "positions from 1");
}

#[tokio::test]
async fn anything_but_the_statements_verify_sends_is_refused() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (delta, view, csv) = {
        let primary = sandbox.primary.metastore.read();
        let find = |f: &dyn Fn(&sandbox::databricks::metastore::Table) -> bool| {
            primary.tables.values().find(|t| f(t)).map(|t| t.full_name()).unwrap()
        };
        (
            find(&|t| t.data_source_format.as_deref() == Some("DELTA")),
            find(&|t| t.table_type == "VIEW"),
            find(&|t| t.data_source_format.as_deref().is_some_and(|f| f != "DELTA")),
        )
    };
    let alice = Client::new(&sandbox, sandbox.primary_url(), "alice");
    for sql in [
        format!("SELECT * FROM {delta}"),
        format!("SELECT COUNT(*) FROM {delta}"),
        format!("SELECT COUNT(*) AS row_count, xxhash64(*) AS row_hash FROM {delta}"),
        format!("SELECT COUNT(*) AS row_count FROM {delta} WHERE id > 1"),
    ] {
        assert_eq!(class(&alice.run(&sql).await), "PARSE_SYNTAX_ERROR", "{sql}");
    }
    for table in [view, csv] {
        let answer = alice.run(&format!("SELECT COUNT(*) AS row_count FROM {table}")).await;
        assert_eq!(class(&answer), "UNSUPPORTED_FEATURE", "the sandbox models Delta rows only: {answer}");
    }
    // carol has no privilege at all: refused, as Unity Catalog refuses.
    let carol = Client::new(&sandbox, sandbox.primary_url(), "carol");
    let refused = carol.run(&format!("SELECT COUNT(*) AS row_count FROM {delta}")).await;
    assert!(matches!(class(&refused), "INSUFFICIENT_PERMISSIONS" | "PERMISSION_DENIED"), "{refused}");
}
