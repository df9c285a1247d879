//! The Microsoft Graph stand-in, driven through the steps `drbot setup` will
//! automate for Teams SSO.

use sandbox::graph::GRAPH_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_BOT_APP_ID};
use serde_json::{json, Value};

async fn graph(sandbox: &Sandbox, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let alice = sandbox.teams.user("alice").unwrap();
    let token = sandbox.entra.user_token(&alice, "drbot-setup", GRAPH_AUDIENCE, "Application.ReadWrite.All");
    let mut request =
        reqwest::Client::new().request(method, format!("{}/v1.0{path}", sandbox.graph_url())).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_sso_app_registration_steps() {
    use reqwest::Method;
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (status, found) =
        graph(&sandbox, Method::GET, &format!("/applications?$filter=appId eq '{SANDBOX_BOT_APP_ID}'"), None).await;
    assert_eq!(status, 200);
    assert!(found["@odata.context"].as_str().unwrap().ends_with("$metadata#applications"));
    let id = found["value"][0]["id"].as_str().unwrap().to_string();

    let patch = json!({
        "identifierUris": [format!("api://botid-{SANDBOX_BOT_APP_ID}")],
        "api": {
            "oauth2PermissionScopes": [{"id": "7c1a5ef0-0000-4000-8000-00000000a5a5", "value": "access_as_user", "type": "User", "isEnabled": true,
                "adminConsentDisplayName": "Use drbot as you", "userConsentDisplayName": "Use drbot as you"}],
            "preAuthorizedApplications": [
                {"appId": "1fec8e78-bce4-4aaf-ab1b-5451cc387264", "delegatedPermissionIds": ["7c1a5ef0-0000-4000-8000-00000000a5a5"]},
                {"appId": "5e3ce6c0-2b1f-4285-8d4b-75ee78787346", "delegatedPermissionIds": ["7c1a5ef0-0000-4000-8000-00000000a5a5"]},
            ],
        },
        "web": {"redirectUris": ["https://token.botframework.com/.auth/web/redirect"]},
    });
    assert_eq!(graph(&sandbox, Method::PATCH, &format!("/applications/{id}"), Some(patch)).await.0, 204);
    let (_, app) = graph(&sandbox, Method::GET, &format!("/applications/{id}"), None).await;
    assert_eq!(app["identifierUris"][0], format!("api://botid-{SANDBOX_BOT_APP_ID}"));
    assert_eq!(app["api"]["preAuthorizedApplications"].as_array().unwrap().len(), 2);

    let (status, password) = graph(
        &sandbox,
        Method::POST,
        &format!("/applications/{id}/addPassword"),
        Some(json!({"passwordCredential": {"displayName": "drbot"}})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(password["secretText"].as_str().unwrap().starts_with("sbx~"));
    let (_, app) = graph(&sandbox, Method::GET, &format!("/applications/{id}"), None).await;
    assert!(
        app["passwordCredentials"][0].get("secretText").is_none(),
        "a secret is shown once, never stored in the app"
    );

    let (status, principal) =
        graph(&sandbox, Method::POST, "/servicePrincipals", Some(json!({"appId": SANDBOX_BOT_APP_ID}))).await;
    assert_eq!((status, principal["appId"].as_str()), (201, Some(SANDBOX_BOT_APP_ID)));
    let (status, again) =
        graph(&sandbox, Method::POST, "/servicePrincipals", Some(json!({"appId": SANDBOX_BOT_APP_ID}))).await;
    assert_eq!((status, again["error"]["code"].as_str()), (409, Some("Request_MultipleObjectsWithSameKeyValue")));
    let (_, listed) =
        graph(&sandbox, Method::GET, &format!("/servicePrincipals?$filter=appId eq '{SANDBOX_BOT_APP_ID}'"), None)
            .await;
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);
    assert_eq!(sandbox.graph.write_count(), 3);
}

#[tokio::test]
async fn what_graph_refuses() {
    use reqwest::Method;
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let id = sandbox.graph.application_by_app_id(SANDBOX_BOT_APP_ID).unwrap()["id"].as_str().unwrap().to_string();
    let (status, body) =
        graph(&sandbox, Method::PATCH, &format!("/applications/{id}"), Some(json!({"colour": "blue"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("Request_BadRequest")));
    let (status, body) = graph(
        &sandbox,
        Method::PATCH,
        &format!("/applications/{id}"),
        Some(json!({"identifierUris": ["api://someone-else"]})),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("HostNameNotOnVerifiedDomain")));
    let (status, _) = graph(&sandbox, Method::GET, "/applications?$filter=displayName eq 'x'", None).await;
    assert_eq!(status, 400);
    let (status, _) = graph(&sandbox, Method::GET, "/applications/nope", None).await;
    assert_eq!(status, 404);
    let unauthenticated = reqwest::get(format!("{}/v1.0/applications", sandbox.graph_url())).await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    assert_eq!(sandbox.graph.write_count(), 0, "nothing refused was written");
}

#[tokio::test]
async fn scopes_in_use_are_protected() {
    use reqwest::Method;
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let id = sandbox.graph.application_by_app_id(SANDBOX_BOT_APP_ID).unwrap()["id"].as_str().unwrap().to_string();
    let path = format!("/applications/{id}");
    let scope = json!({"id": "7c1a5ef0-0000-4000-8000-00000000a5a5", "value": "access_as_user", "type": "User", "isEnabled": true});
    let teams = |ids: Value| json!([{"appId": "1fec8e78-bce4-4aaf-ab1b-5451cc387264", "delegatedPermissionIds": ids}]);

    let (status, body) = graph(&sandbox, Method::PATCH, &path, Some(json!({"api": {
        "oauth2PermissionScopes": [], "preAuthorizedApplications": teams(json!(["7c1a5ef0-0000-4000-8000-00000000a5a5"]))}}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("InvalidPreAuthorizedAppPermission")));

    let (status, _) = graph(&sandbox, Method::PATCH, &path, Some(json!({"api": {
        "oauth2PermissionScopes": [scope.clone()], "preAuthorizedApplications": teams(json!(["7c1a5ef0-0000-4000-8000-00000000a5a5"]))}}))).await;
    assert_eq!(status, 204, "a scope and the client using it in one PATCH");

    let (status, body) = graph(
        &sandbox,
        Method::PATCH,
        &path,
        Some(json!({"api": {
        "oauth2PermissionScopes": [], "preAuthorizedApplications": []}})),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("CannotDeleteOrUpdateEnabledEntitlement")));

    let mut disabled = scope.clone();
    disabled["isEnabled"] = json!(false);
    let (status, _) = graph(
        &sandbox,
        Method::PATCH,
        &path,
        Some(json!({"api": {
        "oauth2PermissionScopes": [disabled], "preAuthorizedApplications": []}})),
    )
    .await;
    assert_eq!(status, 204, "disabled first");
    let (status, _) = graph(
        &sandbox,
        Method::PATCH,
        &path,
        Some(json!({"api": {
        "oauth2PermissionScopes": [], "preAuthorizedApplications": []}})),
    )
    .await;
    assert_eq!(status, 204, "then removed");
    assert_eq!(sandbox.graph.write_count(), 3, "refusals write nothing");
}
