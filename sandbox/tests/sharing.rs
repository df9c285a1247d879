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

/// Who may change a share (REST reference, Shares › Update): "The caller must
/// be the owner of the share or a metastore admin. When the caller is a
/// metastore admin, only the owner field can be updated." "For each table
/// that is added through this method, the share owner must also have SELECT
/// privilege on the table. This privilege must be maintained indefinitely for
/// recipients to be able to access the table." "Table removals through update
/// do not require additional privileges."
#[tokio::test]
async fn only_a_shares_owner_changes_it_and_its_owner_must_keep_select() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (primary, secondary) = (sandbox.primary_url(), sandbox.secondary_url());
    let secondary_id = sandbox.secondary.metastore.read().global_id.clone();
    // A schema only carol owns; alice's group reads it by a grant on it.
    let (schema, table) = {
        let mut m = sandbox.primary.metastore.write();
        let table = m
            .tables
            .values()
            .find(|t| t.catalog == "main" && t.data_source_format.as_deref() == Some("DELTA"))
            .unwrap()
            .clone();
        let schema = format!("main.{}", table.schema);
        let carol = |common: &mut sandbox::databricks::metastore::Common| {
            common.owner = "carol@contoso.example".into();
            common.grants.clear();
        };
        carol(&mut m.catalogs.get_mut("main").unwrap().common);
        carol(&mut m.schemas.get_mut(&schema).unwrap().common);
        for t in m.tables.values_mut().filter(|t| t.catalog == "main" && t.schema == table.schema) {
            carol(&mut t.common);
        }
        m.schemas.get_mut(&schema).unwrap().common.grants.insert("dr-operators".into(), ["SELECT".to_string()].into());
        (schema, table)
    };
    let share = "/api/2.1/unity-catalog/shares/dr_main";
    let update = |action: &str, name: &str, kind: &str| json!({"updates": [{"action": action, "data_object": {"name": name, "data_object_type": kind}}]});
    let patch = |user: &'static str, body: Value| {
        let (sandbox, primary) = (&sandbox, &primary);
        async move { call(sandbox, primary, user, "PATCH", share, body).await }
    };
    call(&sandbox, &primary, "alice", "POST", "/api/2.1/unity-catalog/recipients",
        json!({"name": "dr-secondary", "authentication_type": "DATABRICKS", "data_recipient_global_metastore_id": secondary_id})).await;
    let (status, created) =
        call(&sandbox, &primary, "alice", "POST", "/api/2.1/unity-catalog/shares", json!({"name": "dr_main"})).await;
    assert_eq!((status, created["owner"].as_str()), (200, Some("alice@contoso.example")));
    let (status, answer) = patch("alice", update("ADD", &schema, "SCHEMA")).await;
    assert_eq!(status, 200, "the owner adds what it may read: {answer}");

    // A metastore admin who does not own the share may only transfer it.
    let (status, answer) = patch("alice", json!({"owner": "dr-readers"})).await;
    assert_eq!((status, answer["owner"].as_str()), (200, Some("dr-readers")));
    let (status, refused) = patch("alice", update("REMOVE", &schema, "SCHEMA")).await;
    assert_eq!((status, refused["error_code"].as_str()), (403, Some("PERMISSION_DENIED")), "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("only change its owner"), "{refused}");
    // Nor may anyone else who is neither owner nor admin.
    let (status, refused) = patch("carol", json!({"owner": "carol@contoso.example"})).await;
    assert_eq!((status, refused["error_code"].as_str()), (403, Some("PERMISSION_DENIED")), "{refused}");
    // A member of the owning group is an owner: it removes freely, but adds
    // only what the owning group may read.
    let (status, answer) = patch("bob", update("REMOVE", &schema, "SCHEMA")).await;
    assert_eq!(status, 200, "{answer}");
    let (status, refused) = patch("bob", update("ADD", &table.full_name(), "TABLE")).await;
    assert_eq!((status, refused["error_code"].as_str()), (403, Some("PERMISSION_DENIED")), "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("does not have SELECT"), "{refused}");

    // Back to alice's group, which reads the schema: shared, mounted, cloned.
    assert_eq!(patch("alice", json!({"owner": "dr-operators"})).await.0, 200);
    assert_eq!(patch("alice", update("ADD", &schema, "SCHEMA")).await.0, 200);
    call(
        &sandbox,
        &primary,
        "alice",
        "PATCH",
        &format!("{share}/permissions"),
        json!({"changes": [{"principal": "dr-secondary", "add": ["SELECT"]}]}),
    )
    .await;
    let (_, providers) =
        call(&sandbox, &secondary, "alice", "GET", "/api/2.1/unity-catalog/providers", Value::Null).await;
    let provider = providers["providers"][0]["name"].as_str().unwrap().to_string();
    let (status, _) = call(
        &sandbox,
        &secondary,
        "alice",
        "POST",
        "/api/2.1/unity-catalog/catalogs",
        json!({"name": "shared_main", "provider_name": provider, "share_name": "dr_main"}),
    )
    .await;
    assert_eq!(status, 200);
    let listed = |sandbox: &Sandbox| sandbox.secondary.shared_tables("shared_main").len();
    assert!(listed(&sandbox) > 0);
    call(&sandbox, &secondary, "alice", "POST", "/api/2.0/sql/statements",
        json!({"statement": format!("CREATE SCHEMA IF NOT EXISTS `main`.`{}`", table.schema), "warehouse_id": SANDBOX_WAREHOUSE_ID, "wait_timeout": "10s"})).await;
    let clone = json!({
        "statement": format!("CREATE OR REPLACE TABLE `main`.`{0}`.`{1}` DEEP CLONE `shared_main`.`{0}`.`{1}`", table.schema, table.name),
        "warehouse_id": SANDBOX_WAREHOUSE_ID, "wait_timeout": "10s"});
    let (_, done) = call(&sandbox, &secondary, "alice", "POST", "/api/2.0/sql/statements", clone.clone()).await;
    assert_eq!(done["status"]["state"], "SUCCEEDED", "{done}");

    // The owner loses SELECT: the recipient can no longer read the tables.
    sandbox.primary.metastore.write().schemas.get_mut(&schema).unwrap().common.grants.clear();
    assert_eq!(listed(&sandbox), 0, "the mounted catalog shows none of them");
    let (_, failed) = call(&sandbox, &secondary, "alice", "POST", "/api/2.0/sql/statements", clone).await;
    assert_eq!(failed["status"]["state"], "FAILED", "{failed}");
    assert!(failed["status"]["error"]["message"].as_str().unwrap().contains("TABLE_OR_VIEW_NOT_FOUND"), "{failed}");
}
