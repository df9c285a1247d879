//! The official Python databricks-sdk, unchanged, against the sandbox's
//! Databricks workspace (tests/compat/test_databricks_sdk.py): if the real
//! client library is happy with our wire format, drbot's client has a good
//! chance against the real service.

use std::path::PathBuf;
use std::process::Command;

use sandbox::databricks::metastore::{Metastore, Principal, Securable};
use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

/// What a principal can list, walking as the Python test walks.
fn visible(metastore: &Metastore, who: &Principal) -> serde_json::Value {
    let catalogs: Vec<&String> =
        metastore.catalogs.keys().filter(|c| metastore.visible(who, Securable::Catalog, c)).collect();
    let mut schemas = Vec::new();
    let mut tables = Vec::new();
    for catalog in catalogs.iter().filter(|c| metastore.catalogs[**c].catalog_type != "SYSTEM_CATALOG") {
        if metastore.require_use(who, catalog, None).is_err() {
            continue;
        }
        for schema in metastore.schemas.values().filter(|s| &s.catalog == *catalog) {
            if !metastore.visible(who, Securable::Schema, &schema.full_name()) {
                continue;
            }
            schemas.push(schema.full_name());
            if metastore.require_use(who, catalog, Some(&schema.name)).is_err() {
                continue;
            }
            tables.extend(
                metastore
                    .tables
                    .values()
                    .filter(|t| t.catalog == **catalog && t.schema == schema.name)
                    .filter(|t| metastore.visible(who, Securable::Table, &t.full_name()))
                    .map(|t| t.full_name()),
            );
        }
    }
    schemas.sort();
    tables.sort();
    json!({"catalogs": catalogs, "schemas": schemas, "tables": tables})
}

#[tokio::test]
async fn the_official_databricks_sdk_works_against_the_sandbox() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".tools/compat-venv/bin/python");
    assert!(python.exists(), "the Python SDKs are missing: run .ci/setup.d/20-python-compat.sh");

    let sandbox = Sandbox::start(SandboxConfig { tables: 300, ..SandboxConfig::default() }).await.unwrap();
    // Small pages so every list spans several, some of them empty for a reader.
    sandbox.primary.set_page_size(7);
    let alice = sandbox.teams.user("alice").unwrap();
    let bob = sandbox.teams.user("bob").unwrap();
    let admin_token = sandbox.entra.user_token(&alice, "compat-tests", DATABRICKS_AUDIENCE, "user_impersonation");
    let reader_token = sandbox.entra.user_token(&bob, "compat-tests", DATABRICKS_AUDIENCE, "user_impersonation");

    let expected = {
        let metastore = sandbox.primary.metastore.read();
        let principal = |user: &sandbox::directory::User| {
            let caller =
                sandbox::caller::Caller::from_claims(&json!({"oid": user.oid, "upn": user.upn, "groups": user.groups}))
                    .unwrap();
            sandbox.primary.principal(&caller)
        };
        let view = metastore.tables.values().find(|t| t.table_type == "VIEW").expect("the seed has views").full_name();
        let model_schema = metastore
            .schemas
            .values()
            .find(|s| metastore.catalogs.get(&s.catalog).is_some_and(|c| c.catalog_type == "MANAGED_CATALOG"))
            .expect("the seed has schemas")
            .full_name();
        let table = metastore.tables.values().find(|t| t.table_type == "MANAGED").expect("and tables").full_name();
        json!({
            "admin": visible(&metastore, &principal(&alice)),
            "reader": visible(&metastore, &principal(&bob)),
            "view": view,
            "table": table,
            "model": format!("{model_schema}.churn"),
            "managed_volume": metastore
                .volumes
                .values()
                .find(|v| v.volume_type == "MANAGED")
                .expect("the seed has a managed volume")
                .full_name(),
            "metastore": metastore.global_id,
            "secondary_metastore": sandbox.secondary.global_id,
            "jobs": sandbox.primary.job_definitions.all().len(),
        })
    };
    // Groups of the account the Python tests grant to (Unity Catalog grants
    // only to principals it knows).
    for i in 0..5 {
        sandbox.primary.account.add_principal(&format!("compat-pager-{i}"));
    }
    // A registered model with two versions (as an MLflow client made them) and an alias.
    assert!(sandbox::databricks::models::seed(
        &mut sandbox.primary.metastore.write(),
        expected["model"].as_str().unwrap(),
        "predicts churn",
        2,
        &[("champion", 2)],
        sandbox::databricks::seed::ADMIN_GROUP,
        1_800_000_000_000,
    ));
    assert!(!expected["reader"]["tables"].as_array().unwrap().is_empty(), "the reader sees something");
    assert!(
        expected["reader"]["tables"].as_array().unwrap().len() < expected["admin"]["tables"].as_array().unwrap().len(),
        "and less than the admin"
    );

    let host = sandbox.primary_url();
    let secondary_host = sandbox.secondary_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/compat/test_databricks_sdk.py"])
            .current_dir(root)
            .env("DATABRICKS_HOST", host)
            .env("SECONDARY_HOST", secondary_host)
            .env("ADMIN_TOKEN", admin_token)
            .env("READER_TOKEN", reader_token)
            .env("EXPECTED", expected.to_string())
            // The primary's own warehouse: DATABRICKS_HOST is the primary.
            .env("WAREHOUSE_ID", sandbox::databricks::statements::PRIMARY_WAREHOUSE_ID)
            .env("JOB_ID", sandbox::databricks::jobs::REPLICATION_JOB_ID.to_string())
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "databricks-sdk against the sandbox failed:\n{report}");
    assert!(report.contains("37 passed"), "{report}");
}

/// The SDK's `AccountClient.disaster_recovery` (managed DR's failover groups)
/// against the sandbox's account API, and its `WorkspaceClient` reading the
/// group's events from `system.replication.states`
/// (tests/compat/test_databricks_sdk_account.py).
#[tokio::test]
async fn the_official_account_client_reads_and_fails_over_a_failover_group() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".tools/compat-venv/bin/python");
    assert!(python.exists(), "the Python SDKs are missing: run .ci/setup.d/20-python-compat.sh");

    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = sandbox.teams.user("alice").unwrap();
    sandbox.accounts.add_account_admin(&alice.upn);
    let point = chrono::Utc::now() - chrono::Duration::minutes(5);
    sandbox.accounts.failover_groups.add("sales-dr", &["westeurope", "northeurope"], "westeurope", &[1, 2], point);
    sandbox.accounts.failover_groups.set_catalogs("sales-dr", &["main"]);
    sandbox.accounts.failover_groups.add_stable_url("sales-web", 1, Some("sales-dr"));
    sandbox.accounts.failover_groups.add_stable_url("scratch", 2, None);
    let admin_token = sandbox.entra.user_token(&alice, "compat-tests", DATABRICKS_AUDIENCE, "user_impersonation");
    let host = sandbox.accounts_url();
    let workspace = sandbox.primary_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/compat/test_databricks_sdk_account.py"])
            .current_dir(root)
            .env("ACCOUNTS_HOST", host)
            .env("ACCOUNT_ID", sandbox::databricks::account_api::SANDBOX_ACCOUNT_ID)
            .env("ADMIN_TOKEN", admin_token)
            .env("GROUP", "sales-dr")
            .env("WORKSPACE_HOST", workspace)
            .env("WAREHOUSE_ID", sandbox::databricks::statements::PRIMARY_WAREHOUSE_ID)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "databricks-sdk's AccountClient against the sandbox failed:\n{report}");
    assert!(report.contains("4 passed"), "{report}");
}
