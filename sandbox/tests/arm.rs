//! The ARM stand-in: deployments that provision the template's resources in
//! dependsOn order, What-If against what the group holds, failures, cancel,
//! paging and the errors ARM gives.

use std::time::{Duration, Instant};

use sandbox::arm::ARM_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_SUBSCRIPTION_ID};
use serde_json::{json, Value};

const VERSION: &str = "2025-04-01";

fn template(address_space: &str) -> Value {
    json!({"properties": {"mode": "Incremental", "parameters": {"workspaceName": {"value": "dbw-spoke-a"}}, "template": {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {"workspaceName": {"type": "string"}},
    "variables": {"vnetName": "vnet-spoke-a"},
    "resources": [
        {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2024-05-01", "name": "nsg-spoke-a", "properties": {}},
        {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2024-05-01", "name": "[variables('vnetName')]",
         "dependsOn": ["[resourceId('Microsoft.Network/networkSecurityGroups', 'nsg-spoke-a')]"],
         "properties": {"addressSpace": {"addressPrefixes": [address_space]}}},
        {"type": "Microsoft.Databricks/workspaces", "apiVersion": "2024-05-01", "name": "[parameters('workspaceName')]",
         "dependsOn": ["[resourceId('Microsoft.Network/virtualNetworks', variables('vnetName'))]"],
         "properties": {"publicNetworkAccess": "Disabled"}},
    ]}}})
}

async fn arm(
    sandbox: &Sandbox,
    user: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let user = sandbox.teams.user(user).unwrap();
    let token = sandbox.entra.user_token(&user, "drbot", ARM_AUDIENCE, "user_impersonation");
    let separator = if path.contains('?') { '&' } else { '?' };
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{}{path}{separator}api-version={VERSION}", sandbox.arm_url())
    };
    let mut request = reqwest::Client::new().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

fn deployment(name: &str) -> String {
    format!("/subscriptions/{SANDBOX_SUBSCRIPTION_ID}/resourcegroups/rg-dr/providers/Microsoft.Resources/deployments/{name}")
}

/// Polls the deployment until it ends; returns its body and the order in which operations appeared.
async fn until_done(sandbox: &Sandbox, name: &str) -> (Value, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut appeared: Vec<String> = Vec::new();
    loop {
        // The state first: operations read after a final state include every one.
        let body: Value =
            arm(sandbox, "alice", reqwest::Method::GET, &deployment(name), None).await.json().await.unwrap();
        let operations: Value = arm(
            sandbox,
            "alice",
            reqwest::Method::GET,
            &format!("/subscriptions/{SANDBOX_SUBSCRIPTION_ID}/resourcegroups/rg-dr/deployments/{name}/operations"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
        for operation in operations["value"].as_array().unwrap() {
            let resource = operation["properties"]["targetResource"]["resourceType"].as_str().unwrap().to_string();
            if !appeared.contains(&resource) {
                appeared.push(resource);
            }
        }
        if matches!(body["properties"]["provisioningState"].as_str(), Some("Succeeded" | "Failed" | "Canceled")) {
            return (body, appeared);
        }
        assert!(Instant::now() < deadline, "deployment {name} never ended: {body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_deployment_provisions_in_dependency_order_and_what_if_sees_the_result() {
    use reqwest::Method;
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sandbox.arm.set_resource_duration(Duration::from_millis(80));
    let what_if = arm(
        &sandbox,
        "alice",
        Method::POST,
        &format!("{}/whatIf", deployment("spoke-a")),
        Some(template("10.1.0.0/16")),
    )
    .await;
    assert_eq!(what_if.status(), 202);
    let location = what_if.headers()["location"].to_str().unwrap().to_string();
    let before: Value = arm(&sandbox, "alice", Method::GET, &location, None).await.json().await.unwrap();
    let kinds: Vec<&str> =
        before["properties"]["changes"].as_array().unwrap().iter().map(|c| c["changeType"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Create", "Create", "Create"]);

    let created = arm(&sandbox, "alice", Method::PUT, &deployment("spoke-a"), Some(template("10.1.0.0/16"))).await;
    assert_eq!(created.status(), 201);
    assert!(created.headers().contains_key("azure-asyncoperation") && created.headers().contains_key("retry-after"));
    let (done, appeared) = until_done(&sandbox, "spoke-a").await;
    assert_eq!(done["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        appeared,
        [
            "Microsoft.Network/networkSecurityGroups",
            "Microsoft.Network/virtualNetworks",
            "Microsoft.Databricks/workspaces"
        ]
    );
    assert!(sandbox.arm.resource_ids().iter().any(|id| id.ends_with("/Microsoft.Databricks/workspaces/dbw-spoke-a")));

    let location = arm(
        &sandbox,
        "alice",
        Method::POST,
        &format!("{}/whatIf", deployment("spoke-a-2")),
        Some(template("10.1.0.0/16")),
    )
    .await
    .headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let same: Value = arm(&sandbox, "alice", Method::GET, &location, None).await.json().await.unwrap();
    assert!(same["properties"]["changes"].as_array().unwrap().iter().all(|c| c["changeType"] == "NoChange"), "{same}");
    let location = arm(
        &sandbox,
        "alice",
        Method::POST,
        &format!("{}/whatIf", deployment("spoke-a-3")),
        Some(template("10.9.0.0/16")),
    )
    .await
    .headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let changed: Value = arm(&sandbox, "alice", Method::GET, &location, None).await.json().await.unwrap();
    let modify = changed["properties"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["changeType"] == "Modify")
        .expect("a Modify");
    assert_eq!(modify["delta"][0]["path"], "properties.addressSpace");
}

#[tokio::test]
async fn a_failing_resource_type_fails_the_deployment_and_stops_its_dependents() {
    use reqwest::Method;
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sandbox.arm.set_resource_duration(Duration::from_millis(30));
    sandbox.arm.fail_resource_type(Some("Microsoft.Network/virtualNetworks"));
    arm(&sandbox, "alice", Method::PUT, &deployment("broken"), Some(template("10.1.0.0/16"))).await;
    let (done, appeared) = until_done(&sandbox, "broken").await;
    assert_eq!(done["properties"]["provisioningState"], "Failed");
    assert_eq!(done["properties"]["error"]["code"], "DeploymentFailed");
    assert!(done["properties"]["error"]["details"][0]["target"].as_str().unwrap().contains("virtualNetworks"));
    assert!(!appeared.contains(&"Microsoft.Databricks/workspaces".to_string()), "dependents are not attempted");
}

#[tokio::test]
async fn cancel_stops_a_running_deployment() {
    use reqwest::Method;
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sandbox.arm.set_resource_duration(Duration::from_secs(30));
    arm(&sandbox, "alice", Method::PUT, &deployment("slow"), Some(template("10.1.0.0/16"))).await;
    assert_eq!(
        arm(&sandbox, "alice", Method::POST, &format!("{}/cancel", deployment("slow")), None).await.status(),
        204
    );
    let (done, _) = until_done(&sandbox, "slow").await;
    assert_eq!(done["properties"]["provisioningState"], "Canceled");
    assert_eq!(
        arm(&sandbox, "alice", Method::POST, &format!("{}/cancel", deployment("slow")), None).await.status(),
        409
    );
}

#[tokio::test]
async fn what_arm_refuses_and_how_it_pages() {
    use reqwest::Method;
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let url = format!("{}{}?api-version=1999-01-01", sandbox.arm_url(), deployment("x"));
    let alice = sandbox.teams.user("alice").unwrap();
    let token = sandbox.entra.user_token(&alice, "drbot", ARM_AUDIENCE, "user_impersonation");
    let bad_version: Value =
        reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    assert_eq!(bad_version["error"]["code"], "InvalidApiVersionParameter");
    let denied = arm(&sandbox, "carol", Method::PUT, &deployment("x"), Some(template("10.1.0.0/16"))).await;
    assert_eq!(denied.status(), 403);
    assert_eq!(denied.json::<Value>().await.unwrap()["error"]["code"], "AuthorizationFailed");
    let mut dangling = template("10.1.0.0/16");
    dangling["properties"]["template"]["resources"][2]["dependsOn"] =
        json!(["[resourceId('Microsoft.Network/virtualNetworks', 'nowhere')]"]);
    let refused = arm(&sandbox, "alice", Method::PUT, &deployment("x"), Some(dangling)).await;
    assert_eq!(
        (
            refused.status().as_u16(),
            refused.json::<Value>().await.unwrap()["error"]["code"].as_str().map(str::to_string)
        ),
        (400, Some("InvalidTemplate".into()))
    );
    let mut cycle = template("10.1.0.0/16");
    cycle["properties"]["template"]["resources"][0]["dependsOn"] =
        json!(["[resourceId('Microsoft.Databricks/workspaces', parameters('workspaceName'))]"]);
    let refused: Value = arm(&sandbox, "alice", Method::PUT, &deployment("x"), Some(cycle)).await.json().await.unwrap();
    assert!(refused["error"]["message"].as_str().unwrap().contains("circular"), "{refused}");
    let unauthenticated =
        reqwest::get(format!("{}{}?api-version={VERSION}", sandbox.arm_url(), deployment("x"))).await.unwrap();
    assert_eq!(unauthenticated.status(), 401);

    // Seven independent resources: the operations list pages by nextLink.
    sandbox.arm.set_resource_duration(Duration::from_millis(1));
    let resources: Vec<Value> = (0..7).map(|i| json!({"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2024-05-01", "name": format!("nsg-{i}")})).collect();
    let body = json!({"properties": {"mode": "Incremental", "template": {"resources": resources}}});
    arm(&sandbox, "alice", Method::PUT, &deployment("many"), Some(body)).await;
    until_done(&sandbox, "many").await;
    let first: Value = arm(
        &sandbox,
        "alice",
        Method::GET,
        &format!("/subscriptions/{SANDBOX_SUBSCRIPTION_ID}/resourcegroups/rg-dr/deployments/many/operations"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(first["value"].as_array().unwrap().len(), 5);
    let next = first["nextLink"].as_str().expect("a nextLink").to_string();
    let second: Value = arm(&sandbox, "alice", Method::GET, &next, None).await.json().await.unwrap();
    assert_eq!(second["value"].as_array().unwrap().len(), 2);
    assert!(second.get("nextLink").is_none());
}

#[tokio::test]
async fn validate_checks_without_deploying_and_faults_take_effect() {
    use reqwest::Method;
    use sandbox::faults::FaultConfig;
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let valid = arm(
        &sandbox,
        "alice",
        Method::POST,
        &format!("{}/validate", deployment("check")),
        Some(template("10.1.0.0/16")),
    )
    .await;
    assert_eq!(valid.status(), 200);
    let body: Value = valid.json().await.unwrap();
    assert_eq!(body["properties"]["validatedResources"].as_array().unwrap().len(), 3);
    assert!(sandbox.arm.resource_ids().is_empty(), "validate deploys nothing");
    let mut broken = template("10.1.0.0/16");
    broken["properties"]["template"]["resources"][0]["apiVersion"] = Value::Null;
    let invalid =
        arm(&sandbox, "alice", Method::POST, &format!("{}/validate", deployment("check")), Some(broken)).await;
    assert_eq!(invalid.status(), 400);

    sandbox.arm.faults.set(FaultConfig { throttle_ratio: 1.0, retry_after_secs: 4, ..Default::default() });
    let throttled = arm(&sandbox, "alice", Method::GET, &deployment("check"), None).await;
    assert_eq!((throttled.status().as_u16(), throttled.headers()["retry-after"].to_str().unwrap()), (429, "4"));
    assert_eq!(throttled.json::<Value>().await.unwrap()["error"]["code"], "TooManyRequests");
    sandbox.arm.faults.set(FaultConfig { error_5xx_ratio: 1.0, ..Default::default() });
    let failed = arm(&sandbox, "alice", Method::GET, &deployment("check"), None).await;
    assert!(failed.status().is_server_error());
    sandbox.arm.faults.set(FaultConfig::default());
    assert_eq!(
        arm(&sandbox, "alice", Method::GET, &deployment("check"), None).await.status(),
        404,
        "no deployment named check"
    );
}
