//! Databricks-to-Databricks Delta Sharing between the sandbox's workspaces:
//! a recipient on the primary makes a provider appear on the secondary; a
//! catalog mounted from the share shows the shared schema's tables live, and
//! a deep clone can read from it.

use sandbox::databricks::metastore::Table;
use sandbox::databricks::statements::SANDBOX_WAREHOUSE_ID;
use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

async fn call(sandbox: &Sandbox, base: &str, user: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    let user = sandbox.teams.user(user).unwrap();
    let token = sandbox.entra.user_token(&user, "tests", DATABRICKS_AUDIENCE, "user_impersonation");
    let http = reqwest::Client::new();
    let url = format!("{base}{path}");
    let request = match method {
        "GET" => http.get(url),
        "PATCH" => http.patch(url).json(&body),
        _ => http.post(url).json(&body),
    };
    let response = request.bearer_auth(token).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_share_of_the_primary_is_mounted_and_cloned_on_the_secondary() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (primary, secondary) = (sandbox.primary_url(), sandbox.secondary_url());
    let secondary_id = sandbox.secondary.metastore.read().global_id.clone();
    let primary_id = sandbox.primary.metastore.read().global_id.clone();
    let schema = sandbox.primary.metastore.read().schemas.values().find(|s| s.catalog == "main").unwrap().name.clone();

    let (status, _) = call(&sandbox, &primary, "alice", "POST", "/api/2.1/unity-catalog/recipients",
        json!({"name": "dr-secondary", "authentication_type": "DATABRICKS", "data_recipient_global_metastore_id": secondary_id})).await;
    assert_eq!(status, 200);
    assert_eq!(
        call(&sandbox, &primary, "alice", "POST", "/api/2.1/unity-catalog/shares", json!({"name": "main_share"}))
            .await
            .0,
        200
    );
    let (status, share) = call(&sandbox, &primary, "alice", "PATCH", "/api/2.1/unity-catalog/shares/main_share",
        json!({"updates": [{"action": "ADD", "data_object": {"name": format!("main.{schema}"), "data_object_type": "SCHEMA"}}]})).await;
    assert_eq!(status, 200, "{share}");
    let (status, _) = call(
        &sandbox,
        &primary,
        "alice",
        "PATCH",
        "/api/2.1/unity-catalog/shares/main_share/permissions",
        json!({"changes": [{"principal": "dr-secondary", "add": ["SELECT"]}]}),
    )
    .await;
    assert_eq!(status, 200);

    let (_, providers) = call(
        &sandbox,
        &secondary,
        "alice",
        "GET",
        &format!("/api/2.1/unity-catalog/providers?data_provider_global_metastore_id={primary_id}"),
        Value::Null,
    )
    .await;
    let provider = providers["providers"][0]["name"].as_str().expect("the provider appeared by itself").to_string();
    let (_, shares) = call(
        &sandbox,
        &secondary,
        "alice",
        "GET",
        &format!("/api/2.1/unity-catalog/providers/{provider}/shares"),
        Value::Null,
    )
    .await;
    assert_eq!(shares["shares"][0]["name"], "main_share");

    let (status, catalog) = call(
        &sandbox,
        &secondary,
        "alice",
        "POST",
        "/api/2.1/unity-catalog/catalogs",
        json!({"name": "shared_main", "provider_name": provider, "share_name": "main_share"}),
    )
    .await;
    assert_eq!((status, catalog["catalog_type"].as_str()), (200, Some("DELTASHARING_CATALOG")), "{catalog}");
    let (_, tables) = call(
        &sandbox,
        &secondary,
        "alice",
        "GET",
        &format!("/api/2.1/unity-catalog/tables?catalog_name=shared_main&schema_name={schema}"),
        Value::Null,
    )
    .await;
    let expected = sandbox
        .primary
        .metastore
        .read()
        .tables
        .values()
        .filter(|t| t.catalog == "main" && t.schema == schema && t.data_source_format.as_deref() == Some("DELTA"))
        .count();
    assert_eq!(tables["tables"].as_array().unwrap().len(), expected);

    // A table created later in the shared schema shows up too.
    let later = {
        let mut metastore = sandbox.primary.metastore.write();
        let template = metastore
            .tables
            .values()
            .find(|t| t.catalog == "main" && t.schema == schema && t.table_type == "MANAGED")
            .unwrap()
            .clone();
        let table = Table { name: "created_later".into(), ..template };
        metastore.tables.insert(table.full_name(), table.clone());
        table
    };
    let (_, tables) = call(
        &sandbox,
        &secondary,
        "alice",
        "GET",
        &format!("/api/2.1/unity-catalog/tables?catalog_name=shared_main&schema_name={schema}"),
        Value::Null,
    )
    .await;
    assert_eq!(tables["tables"].as_array().unwrap().len(), expected + 1);

    // And the secondary deep-clones from the mounted catalog.
    if !sandbox.secondary.metastore.read().schemas.contains_key(&format!("main.{schema}")) {
        call(&sandbox, &secondary, "alice", "POST", "/api/2.0/sql/statements",
            json!({"statement": format!("CREATE SCHEMA IF NOT EXISTS `main`.`{schema}`"), "warehouse_id": SANDBOX_WAREHOUSE_ID, "wait_timeout": "10s"})).await;
    }
    let (_, clone) = call(&sandbox, &secondary, "alice", "POST", "/api/2.0/sql/statements", json!({
        "statement": format!("CREATE OR REPLACE TABLE `main`.`{schema}`.`created_later` DEEP CLONE `shared_main`.`{schema}`.`created_later`"),
        "warehouse_id": SANDBOX_WAREHOUSE_ID, "wait_timeout": "10s"})).await;
    assert_eq!(clone["status"]["state"], "SUCCEEDED", "{clone}");
    let cloned = sandbox.secondary.metastore.read().tables[&format!("main.{schema}.created_later")].clone();
    assert_eq!(cloned.cloned_from.unwrap().1, later.delta_version);
}

#[tokio::test]
async fn share_rules_hold() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let primary = sandbox.primary_url();
    call(&sandbox, &primary, "alice", "POST", "/api/2.1/unity-catalog/shares", json!({"name": "big"})).await;
    let updates: Vec<Value> = (0..101)
        .map(|i| json!({"action": "ADD", "data_object": {"name": format!("main.s{i}"), "data_object_type": "SCHEMA"}}))
        .collect();
    let (status, body) =
        call(&sandbox, &primary, "alice", "PATCH", "/api/2.1/unity-catalog/shares/big", json!({"updates": updates}))
            .await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")));
    let (status, _) =
        call(&sandbox, &primary, "bob", "POST", "/api/2.1/unity-catalog/shares", json!({"name": "bobs"})).await;
    assert_eq!(status, 403);
    let (status, body) = call(
        &sandbox,
        &sandbox.secondary_url(),
        "alice",
        "POST",
        "/api/2.1/unity-catalog/catalogs",
        json!({"name": "nothing", "provider_name": "nobody", "share_name": "none"}),
    )
    .await;
    assert_eq!((status, body["error_code"].as_str()), (404, Some("SHARE_DOES_NOT_EXIST")));
}
