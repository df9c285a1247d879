//! Metastore assignment and the metastore summary: the workspace's own
//! metastore may be (re)assigned by an admin with a default catalog, another
//! metastore or an unknown workspace is refused, and only admins assign.

use sandbox::databricks::assignment::{default_catalog, workspace_id};
use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

async fn call(
    sandbox: &Sandbox,
    base: &str,
    user: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let user = sandbox.teams.user(user).unwrap();
    let token = sandbox.entra.user_token(&user, "tests", DATABRICKS_AUDIENCE, "user_impersonation");
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new().request(method, format!("{base}{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn assignment_and_summary() {
    let sandbox = Sandbox::start(SandboxConfig { tables: 5, ..Default::default() }).await.unwrap();
    let (primary, secondary) = (sandbox.primary_url(), sandbox.secondary_url());
    let id = workspace_id(&sandbox.secondary);
    assert_ne!(id, workspace_id(&sandbox.primary));
    assert_eq!(id.to_string().len(), 16);
    let metastore_id = sandbox.secondary.metastore.read().metastore_id.clone();

    let (status, summary) =
        call(&sandbox, &secondary, "bob", "GET", "/api/2.1/unity-catalog/metastore_summary", None).await;
    assert_eq!(status, 200);
    assert_eq!(summary["global_metastore_id"], sandbox.secondary.global_id);
    assert_eq!(summary["metastore_id"], metastore_id);

    let path = format!("/api/2.1/unity-catalog/workspaces/{id}/metastore");
    let body = json!({"metastore_id": metastore_id, "default_catalog_name": "sales"});
    let (status, refused) = call(&sandbox, &secondary, "bob", "PUT", &path, Some(body.clone())).await;
    assert_eq!((status, refused["error_code"].as_str()), (403, Some("PERMISSION_DENIED")));
    // An admin may assign any workspace of the account, from either workspace.
    let (status, _) = call(&sandbox, &primary, "alice", "PUT", &path, Some(body)).await;
    assert_eq!(status, 200);
    assert_eq!(default_catalog(&sandbox.secondary).as_deref(), Some("sales"));
    assert_eq!(default_catalog(&sandbox.primary), None);
    let (_, current) =
        call(&sandbox, &secondary, "alice", "GET", "/api/2.1/unity-catalog/current-metastore-assignment", None).await;
    assert_eq!((current["workspace_id"].as_u64(), current["default_catalog_name"].as_str()), (Some(id), Some("sales")));

    let other = json!({"metastore_id": sandbox.primary.metastore.read().metastore_id.clone()});
    let (status, refused) = call(&sandbox, &secondary, "alice", "PUT", &path, Some(other)).await;
    assert_eq!((status, refused["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")));
    let (status, _) = call(
        &sandbox,
        &secondary,
        "alice",
        "PUT",
        "/api/2.1/unity-catalog/workspaces/123/metastore",
        Some(json!({"metastore_id": metastore_id})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &sandbox,
        &secondary,
        "alice",
        "PUT",
        "/api/2.1/unity-catalog/workspaces/x/metastore",
        Some(json!({"metastore_id": "m"})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = call(&sandbox, &secondary, "alice", "PUT", &path, Some(json!({"metastore": "typo"}))).await;
    assert_eq!(status, 400);
}

/// A workspace of a region without a metastore: Unity Catalog answers
/// `METASTORE_DOES_NOT_EXIST` until an account admin creates the region's
/// metastore (one per region) and assigns it through the account API;
/// anyone else is refused `PERMISSION_DENIED`.
#[tokio::test]
async fn a_region_without_a_metastore_until_an_account_admin_creates_and_assigns_it() {
    use sandbox::databricks::account_api::SANDBOX_ACCOUNT_ID;
    let sandbox = Sandbox::start(SandboxConfig { tables: 5, ..Default::default() }).await.unwrap();
    let (secondary, accounts) = (sandbox.secondary_url(), sandbox.accounts_url());
    sandbox.secondary.remove_metastore();
    let (status, missing) = call(&sandbox, &secondary, "alice", "GET", "/api/2.1/unity-catalog/catalogs", None).await;
    assert_eq!((status, missing["error_code"].as_str()), (404, Some("METASTORE_DOES_NOT_EXIST")));
    let (status, _) =
        call(&sandbox, &secondary, "alice", "GET", "/api/2.1/unity-catalog/current-metastore-assignment", None).await;
    assert_eq!(status, 404);

    let base = format!("/api/2.0/accounts/{SANDBOX_ACCOUNT_ID}");
    let create = json!({"metastore_info": {"name": "drbot-northeurope", "region": "northeurope"}});
    let (status, refused) =
        call(&sandbox, &accounts, "alice", "POST", &format!("{base}/metastores"), Some(create.clone())).await;
    assert_eq!((status, refused["error_code"].as_str()), (403, Some("PERMISSION_DENIED")));

    let alice = sandbox.teams.user("alice").unwrap();
    sandbox.accounts.add_account_admin(&alice.upn);
    let (_, listed) = call(&sandbox, &accounts, "alice", "GET", &format!("{base}/metastores"), None).await;
    let regions: Vec<&str> =
        listed["metastores"].as_array().unwrap().iter().filter_map(|m| m["region"].as_str()).collect();
    assert!(!regions.contains(&"northeurope"), "{listed}");
    let (status, created) =
        call(&sandbox, &accounts, "alice", "POST", &format!("{base}/metastores"), Some(create.clone())).await;
    assert_eq!(status, 200, "{created}");
    let metastore_id = created["metastore_info"]["metastore_id"].as_str().unwrap().to_string();
    let (status, again) = call(&sandbox, &accounts, "alice", "POST", &format!("{base}/metastores"), Some(create)).await;
    assert_eq!((status, again["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "one per region");
    // Created, not yet assigned.
    let (status, _) = call(&sandbox, &secondary, "alice", "GET", "/api/2.1/unity-catalog/catalogs", None).await;
    assert_eq!(status, 404);

    let id = workspace_id(&sandbox.secondary);
    let assign = json!({"metastore_assignment": {"metastore_id": metastore_id, "default_catalog_name": "main"}});
    let path = format!("{base}/workspaces/{id}/metastores/{metastore_id}");
    let (status, answer) = call(&sandbox, &accounts, "alice", "POST", &path, Some(assign)).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = call(&sandbox, &secondary, "alice", "GET", "/api/2.1/unity-catalog/catalogs", None).await;
    assert_eq!(status, 200);
}
