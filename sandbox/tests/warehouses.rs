//! SQL warehouses: listed, created by an admin with the documented rules
//! (unique name, serverless needs PRO, auto stop 0 or ≥ 10 minutes, no
//! serverless in a region without it), usable for statements, and gone
//! (404) once deleted; a start or stop passes through STARTING or STOPPING.

use std::time::{Duration, Instant};

use sandbox::databricks::statements::{PRIMARY_WAREHOUSE_ID, SANDBOX_WAREHOUSE_ID};
use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

async fn call(sandbox: &Sandbox, user: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let user = sandbox.teams.user(user).unwrap();
    let token = sandbox.entra.user_token(&user, "tests", DATABRICKS_AUDIENCE, "user_impersonation");
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request =
        reqwest::Client::new().request(method, format!("{}{path}", sandbox.secondary_url())).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn warehouses_are_created_by_the_rules_and_used_until_deleted() {
    let sandbox = Sandbox::start(SandboxConfig { tables: 3, ..Default::default() }).await.unwrap();
    let (status, listed) = call(&sandbox, "bob", "GET", "/api/2.0/sql/warehouses", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["warehouses"][0]["id"], SANDBOX_WAREHOUSE_ID);

    let good = json!({"name": "drbot-x", "cluster_size": "Small", "max_num_clusters": 1, "auto_stop_mins": 10,
        "warehouse_type": "PRO", "enable_serverless_compute": true});
    let (status, refused) = call(&sandbox, "bob", "POST", "/api/2.0/sql/warehouses", Some(good.clone())).await;
    assert_eq!((status, refused["error_code"].as_str()), (403, Some("PERMISSION_DENIED")));
    for (field, value) in
        [("warehouse_type", json!("CLASSIC")), ("auto_stop_mins", json!(5)), ("cluster_size", json!("Huge"))]
    {
        let mut bad = good.clone();
        bad[field] = value;
        let (status, refused) = call(&sandbox, "alice", "POST", "/api/2.0/sql/warehouses", Some(bad)).await;
        assert_eq!((status, refused["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "{field}");
    }
    sandbox.secondary.warehouses.set_serverless_offered(false);
    let (status, refused) = call(&sandbox, "alice", "POST", "/api/2.0/sql/warehouses", Some(good.clone())).await;
    assert!(status == 400 && refused["message"].as_str().unwrap().contains("Serverless"), "{refused}");
    sandbox.secondary.warehouses.set_serverless_offered(true);

    let (status, created) = call(&sandbox, "alice", "POST", "/api/2.0/sql/warehouses", Some(good.clone())).await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (status, again) = call(&sandbox, "alice", "POST", "/api/2.0/sql/warehouses", Some(good)).await;
    assert_eq!((status, again["error_code"].as_str()), (400, Some("RESOURCE_ALREADY_EXISTS")));
    // Pages of two: the third warehouse is on the second page.
    let third = json!({"name": "drbot-y", "cluster_size": "Small", "auto_stop_mins": 0, "warehouse_type": "PRO"});
    let (status, _) = call(&sandbox, "alice", "POST", "/api/2.0/sql/warehouses", Some(third)).await;
    assert_eq!(status, 200);
    let (_, first) = call(&sandbox, "bob", "GET", "/api/2.0/sql/warehouses", None).await;
    assert_eq!(first["warehouses"].as_array().map(Vec::len), Some(2));
    let token = first["next_page_token"].as_str().expect("a next page").to_string();
    let (_, second) = call(&sandbox, "bob", "GET", &format!("/api/2.0/sql/warehouses?page_token={token}"), None).await;
    assert_eq!(second["warehouses"][0]["name"], "drbot-y");
    assert!(second.get("next_page_token").is_none(), "{second}");
    let (_, got) = call(&sandbox, "bob", "GET", &format!("/api/2.0/sql/warehouses/{id}"), None).await;
    assert_eq!((got["name"].as_str(), got["enable_serverless_compute"].as_bool()), (Some("drbot-x"), Some(true)));

    let statement = json!({"statement": "SELECT current_metastore()", "warehouse_id": id, "wait_timeout": "30s"});
    // Its creator owns it; bob needs CAN_USE, which only a manager grants.
    let (status, refused) = call(&sandbox, "bob", "POST", "/api/2.0/sql/statements", Some(statement.clone())).await;
    assert_eq!((status, refused["error_code"].as_str()), (403, Some("PERMISSION_DENIED")));
    let grant = json!({"access_control_list": [{"group_name": "dr-readers", "permission_level": "CAN_USE"}]});
    let path = format!("/api/2.0/permissions/warehouses/{id}");
    let (status, _) = call(&sandbox, "bob", "PATCH", &path, Some(grant.clone())).await;
    assert_eq!(status, 403);
    let (status, acl) = call(&sandbox, "alice", "PATCH", &path, Some(grant)).await;
    assert_eq!(status, 200, "{acl}");
    assert!(acl["access_control_list"].to_string().contains("dr-readers"), "{acl}");
    let (status, ran) = call(&sandbox, "bob", "POST", "/api/2.0/sql/statements", Some(statement.clone())).await;
    assert_eq!((status, ran["status"]["state"].as_str()), (200, Some("SUCCEEDED")), "{ran}");
    let (status, ran) = call(&sandbox, "alice", "POST", "/api/2.0/sql/statements", Some(statement.clone())).await;
    assert_eq!((status, ran["status"]["state"].as_str()), (200, Some("SUCCEEDED")), "{ran}");
    let (status, _) = call(&sandbox, "alice", "DELETE", &format!("/api/2.0/sql/warehouses/{id}"), None).await;
    assert_eq!(status, 200);
    let (status, gone) = call(&sandbox, "alice", "POST", "/api/2.0/sql/statements", Some(statement)).await;
    assert_eq!((status, gone["error_code"].as_str()), (404, Some("RESOURCE_DOES_NOT_EXIST")));
}

/// Warehouse ids are per workspace: the primary's is unknown to the
/// secondary and the other way round, so a statement naming the wrong
/// side's warehouse is refused, as Databricks refuses it.
#[tokio::test]
async fn each_workspace_has_its_own_warehouse_ids() {
    let sandbox = Sandbox::start(SandboxConfig { tables: 3, ..Default::default() }).await.unwrap();
    assert_ne!(PRIMARY_WAREHOUSE_ID, SANDBOX_WAREHOUSE_ID);
    assert!(sandbox.primary.warehouses.exists(PRIMARY_WAREHOUSE_ID));
    assert!(!sandbox.primary.warehouses.exists(SANDBOX_WAREHOUSE_ID));
    let statement = |warehouse: &str| json!({"statement": "SELECT current_metastore()", "warehouse_id": warehouse, "wait_timeout": "10s"});
    let (status, answer) =
        call(&sandbox, "alice", "POST", "/api/2.0/sql/statements", Some(statement(PRIMARY_WAREHOUSE_ID))).await;
    assert_eq!((status, answer["error_code"].as_str()), (404, Some("RESOURCE_DOES_NOT_EXIST")), "{answer}");
    let (status, answer) =
        call(&sandbox, "alice", "POST", "/api/2.0/sql/statements", Some(statement(SANDBOX_WAREHOUSE_ID))).await;
    assert_eq!((status, answer["status"]["state"].as_str()), (200, Some("SUCCEEDED")), "{answer}");
}

#[tokio::test]
async fn a_start_or_stop_passes_through_starting_or_stopping_for_the_delay_set() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sandbox.secondary.warehouses.seed(false);
    sandbox.secondary.warehouses.set_power_delay(Duration::from_secs(2));
    let id = sandbox.secondary.warehouses.by_name("BI dashboards").unwrap().id;
    let state = |body: Value| body["state"].as_str().unwrap_or_default().to_string();
    let path = format!("/api/2.0/sql/warehouses/{id}");
    assert_eq!(state(call(&sandbox, "alice", "GET", &path, None).await.1), "STOPPED");
    for (verb, going, there) in [("start", "STARTING", "RUNNING"), ("stop", "STOPPING", "STOPPED")] {
        let (status, _) = call(&sandbox, "alice", "POST", &format!("{path}/{verb}"), Some(json!({}))).await;
        assert_eq!(status, 200);
        assert_eq!(state(call(&sandbox, "alice", "GET", &path, None).await.1), going);
        // Asked again on its way: nothing changes (idempotent).
        call(&sandbox, "alice", "POST", &format!("{path}/{verb}"), Some(json!({}))).await;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let now = state(call(&sandbox, "alice", "GET", &path, None).await.1);
            if now == there {
                break;
            }
            assert_eq!(now, going);
            assert!(Instant::now() < deadline, "never {there}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
