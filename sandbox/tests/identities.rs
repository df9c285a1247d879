//! Principals: the workspace's SCIM lookups, and Unity Catalog refusing a
//! grant or owner change naming a principal its metastore does not know
//! (`PRINCIPAL_DOES_NOT_EXIST`), on either workspace independently; a
//! registered model granted as a function; a model version's tags through
//! MLflow's Unity Catalog registry.

use std::time::{Duration, Instant};

use sandbox::databricks::statements::{PRIMARY_WAREHOUSE_ID, SANDBOX_WAREHOUSE_ID};
use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

/// Alice's calls to one workspace.
struct Alice {
    http: reqwest::Client,
    base: String,
    token: String,
    warehouse: &'static str,
}

impl Alice {
    fn on(sandbox: &Sandbox, primary: bool) -> Alice {
        let user = sandbox.teams.user("alice").unwrap();
        let token = sandbox.entra.user_token(&user, "tests", DATABRICKS_AUDIENCE, "user_impersonation");
        let (base, warehouse) = match primary {
            true => (sandbox.primary_url(), PRIMARY_WAREHOUSE_ID),
            false => (sandbox.secondary_url(), SANDBOX_WAREHOUSE_ID),
        };
        Alice { http: reqwest::Client::new(), base, token, warehouse }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// How many `resource` SCIM lists under `filter`.
    async fn scim(&self, resource: &str, filter: &str) -> (u16, Value) {
        let query = serde_urlencoded::to_string([("filter", filter)]).unwrap();
        self.get(&format!("/api/2.0/preview/scim/v2/{resource}?{query}")).await
    }

    /// Runs a statement to its end: its state and error class.
    async fn sql(&self, statement: &str) -> (String, String) {
        let body = json!({"statement": statement, "warehouse_id": self.warehouse, "wait_timeout": "10s"});
        let (_, mut status) = self.call(reqwest::Method::POST, "/api/2.0/sql/statements", Some(body)).await;
        let deadline = Instant::now() + Duration::from_secs(15);
        while !matches!(status["status"]["state"].as_str(), Some("SUCCEEDED" | "FAILED" | "CANCELED")) {
            assert!(Instant::now() < deadline, "{statement} never finished: {status}");
            tokio::time::sleep(Duration::from_millis(20)).await;
            let id = status["statement_id"].as_str().unwrap().to_string();
            status = self.get(&format!("/api/2.0/sql/statements/{id}")).await.1;
        }
        let message = status["status"]["error"]["message"].as_str().unwrap_or_default();
        let class = message.strip_prefix('[').and_then(|m| m.split(']').next()).unwrap_or_default();
        (status["status"]["state"].as_str().unwrap_or_default().to_string(), class.to_string())
    }
}

fn total(answer: &Value) -> u64 {
    answer["totalResults"].as_u64().unwrap_or(u64::MAX)
}

#[tokio::test]
async fn scim_finds_known_principals_by_their_unity_catalog_name_and_refuses_other_filters() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = Alice::on(&sandbox, false);
    let (status, users) = alice.scim("Users", r#"userName eq "ALICE@contoso.example""#).await;
    assert_eq!((status, total(&users)), (200, 1), "{users}");
    assert_eq!(users["Resources"][0]["userName"], "alice@contoso.example");
    assert_eq!(total(&alice.scim("Groups", r#"displayName eq "dr-readers""#).await.1), 1);
    assert_eq!(total(&alice.scim("Groups", r#"displayName eq "nobody-here""#).await.1), 0);
    assert_eq!(total(&alice.scim("Users", r#"userName eq "dr-readers""#).await.1), 0, "a group is no user");
    let (status, refused) = alice.scim("Users", r#"userName co "alice""#).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");

    // One the secondary's metastore does not know: the primary lists it.
    sandbox.primary.account.add_principal("temp@contoso.example");
    sandbox.secondary.forget_principal("temp@contoso.example");
    let filter = r#"userName eq "temp@contoso.example""#;
    assert_eq!(total(&Alice::on(&sandbox, true).scim("Users", filter).await.1), 1);
    assert_eq!(total(&alice.scim("Users", filter).await.1), 0);
}

#[tokio::test]
async fn a_grant_or_owner_change_naming_an_unknown_principal_is_refused_by_code() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let table = sandbox.primary.metastore.read().tables.values().next().unwrap().full_name();
    let quoted = table.split('.').map(|p| format!("`{p}`")).collect::<Vec<_>>().join(".");
    let primary = Alice::on(&sandbox, true);
    let refused = ("FAILED".to_string(), "PRINCIPAL_DOES_NOT_EXIST".to_string());
    assert_eq!(primary.sql(&format!("GRANT SELECT ON TABLE {quoted} TO `ghosts`")).await, refused);
    assert_eq!(primary.sql(&format!("ALTER TABLE {quoted} OWNER TO `ghost@contoso.example`")).await, refused);
    let path = format!("/api/2.1/unity-catalog/permissions/table/{table}");
    let grant = |who: &str| json!({"changes": [{"principal": who, "add": ["SELECT"]}]});
    let (status, body) = primary.call(reqwest::Method::PATCH, &path, Some(grant("ghosts"))).await;
    assert_eq!((status, body["error_code"].as_str()), (404, Some("PRINCIPAL_DOES_NOT_EXIST")), "{body}");
    assert!(!sandbox.primary.metastore.read().tables[&table].common.grants.contains_key("ghosts"));

    // Once the account has the group, both work; revoking leaves it known.
    sandbox.primary.account.add_principal("ghosts");
    assert_eq!(primary.sql(&format!("GRANT SELECT ON TABLE {quoted} TO `ghosts`")).await.0, "SUCCEEDED");
    assert_eq!(primary.sql(&format!("REVOKE SELECT ON TABLE {quoted} FROM `ghosts`")).await.0, "SUCCEEDED");
    let (status, _) = primary.call(reqwest::Method::PATCH, &path, Some(grant("ghosts"))).await;
    assert_eq!(status, 200);

    // A metastore that forgot it refuses it; the other still takes it.
    sandbox.primary.forget_principal("ghosts");
    assert_eq!(primary.sql(&format!("GRANT MODIFY ON TABLE {quoted} TO `ghosts`")).await, refused);
    let catalog = table.split('.').next().unwrap();
    let secondary = Alice::on(&sandbox, false);
    if sandbox.secondary.metastore.read().catalogs.contains_key(catalog) {
        assert_eq!(
            secondary.sql(&format!("GRANT USE CATALOG ON CATALOG `{catalog}` TO `ghosts`")).await.0,
            "SUCCEEDED"
        );
    }
}

#[tokio::test]
async fn a_model_is_granted_as_a_function_and_its_versions_tagged_through_mlflow() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let schema = sandbox.primary.metastore.read().schemas.values().find(|s| s.catalog == "main").unwrap().full_name();
    let model = format!("{schema}.churn");
    {
        let mut metastore = sandbox.primary.metastore.write();
        let admin = sandbox::databricks::seed::ADMIN_GROUP;
        assert!(sandbox::databricks::models::seed(&mut metastore, &model, "churn", 2, &[], admin, 1_000));
    }
    let alice = Alice::on(&sandbox, true);
    let quoted = model.split('.').map(|p| format!("`{p}`")).collect::<Vec<_>>().join(".");
    assert_eq!(alice.sql(&format!("GRANT EXECUTE ON FUNCTION {quoted} TO `analysts`")).await.0, "SUCCEEDED");
    let (status, grants) = alice.get(&format!("/api/2.1/unity-catalog/permissions/function/{model}")).await;
    assert_eq!(status, 200, "{grants}");
    assert_eq!(grants["privilege_assignments"], json!([{"principal": "analysts", "privileges": ["EXECUTE"]}]));

    let tags = "/api/2.0/mlflow/unity-catalog/model-versions/tags";
    let set = json!({"name": model, "version": "1", "key": "validated", "value": "yes"});
    assert_eq!(alice.call(reqwest::Method::POST, tags, Some(set)).await, (200, json!({})));
    let stray = json!({"name": model, "version": "1", "key": "k", "value": "v", "colour": "red"});
    assert_eq!(alice.call(reqwest::Method::POST, tags, Some(stray)).await.0, 400, "unknown fields are refused");
    let get = format!("/api/2.0/mlflow/unity-catalog/model-versions/get?name={model}&version=1");
    let (status, version) = alice.get(&get).await;
    assert_eq!(status, 200, "{version}");
    assert_eq!(version["model_version"]["version"], "1", "a string, as MLflow's messages carry it");
    assert_eq!(version["model_version"]["tags"], json!([{"key": "validated", "value": "yes"}]));
    let delete = format!("{tags}?name={model}&version=1&key=validated");
    assert_eq!(alice.call(reqwest::Method::DELETE, &delete, None).await.0, 200);
    assert_eq!(alice.call(reqwest::Method::DELETE, &delete, None).await.0, 404, "already gone");
    assert_eq!(alice.get(&get).await.1["model_version"]["tags"], json!([]));
    let (status, _) =
        alice.get(&format!("/api/2.0/mlflow/unity-catalog/model-versions/get?name={model}&version=9")).await;
    assert_eq!(status, 404);
    // Bob may neither read nor tag it.
    let bob_token = {
        let user = sandbox.teams.user("bob").unwrap();
        sandbox.entra.user_token(&user, "tests", DATABRICKS_AUDIENCE, "user_impersonation")
    };
    let bob = Alice { token: bob_token, ..Alice::on(&sandbox, true) };
    let set = json!({"name": model, "version": "1", "key": "k", "value": "v"});
    assert_eq!(bob.call(reqwest::Method::POST, tags, Some(set)).await.0, 403);
}
