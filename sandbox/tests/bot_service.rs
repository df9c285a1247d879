//! The Azure Bot resource and its OAuth connection settings through the ARM
//! stand-in, as `drbot setup` and the portal use them.

use reqwest::Method;
use sandbox::arm::ARM_AUDIENCE;
use sandbox::bot_service::AAD_V2_PROVIDER_ID;
use sandbox::{
    Sandbox, SandboxConfig, SANDBOX_BOT_APP_ID, SANDBOX_BOT_NAME, SANDBOX_BOT_RESOURCE_GROUP, SANDBOX_SUBSCRIPTION_ID,
};
use serde_json::{json, Value};

const VERSION: &str = "2022-09-15";

async fn arm(sandbox: &Sandbox, user: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let user = sandbox.teams.user(user).unwrap();
    let token = sandbox.entra.user_token(&user, "drbot-setup", ARM_AUDIENCE, "user_impersonation");
    let separator = if path.contains('?') { '&' } else { '?' };
    let url = format!("{}{path}{separator}api-version={VERSION}", sandbox.arm_url());
    let mut request = reqwest::Client::new().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

fn bot(name: &str) -> String {
    format!("/subscriptions/{SANDBOX_SUBSCRIPTION_ID}/resourceGroups/{SANDBOX_BOT_RESOURCE_GROUP}/providers/Microsoft.BotService/botServices/{name}")
}

fn connection_body(secret: &str) -> Value {
    json!({"location": "global", "properties": {
        "clientId": SANDBOX_BOT_APP_ID, "clientSecret": secret, "scopes": "openid profile",
        "serviceProviderId": AAD_V2_PROVIDER_ID, "serviceProviderDisplayName": "Azure Active Directory v2",
        "parameters": [{"key": "tenantID", "value": "t"}, {"key": "tokenExchangeUrl", "value": format!("api://botid-{SANDBOX_BOT_APP_ID}")}]}})
}

#[tokio::test]
async fn a_connection_is_created_read_without_its_secret_and_updated() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let path = format!("{}/connections/drbot-sso", bot(SANDBOX_BOT_NAME));

    let (status, body) = arm(&sandbox, "alice", Method::GET, &path, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("ResourceNotFound")));

    let (status, created) = arm(&sandbox, "alice", Method::PUT, &path, Some(connection_body("s3cret"))).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["type"], "Microsoft.BotService/botServices/connections");
    assert_eq!(created["properties"]["clientSecret"], Value::Null, "never echoed");

    let (status, read) = arm(&sandbox, "alice", Method::GET, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(read["properties"]["clientId"], SANDBOX_BOT_APP_ID);
    assert_eq!(read["properties"]["clientSecret"], Value::Null);
    assert_eq!(read["properties"]["parameters"][1]["key"], "tokenExchangeUrl");

    let (status, secret) = arm(&sandbox, "alice", Method::POST, &format!("{path}/listWithSecrets"), None).await;
    assert_eq!((status, secret["properties"]["clientSecret"].as_str()), (200, Some("s3cret")));

    let (status, _) = arm(&sandbox, "alice", Method::PUT, &path, Some(connection_body("n3w"))).await;
    assert_eq!(status, 200, "an update");
    assert_eq!(
        sandbox.arm.bot_connection(SANDBOX_BOT_RESOURCE_GROUP, SANDBOX_BOT_NAME, "drbot-sso").unwrap()["properties"]
            ["clientSecret"],
        "n3w"
    );
    assert_eq!(sandbox.arm.resource_writes().len(), 2);
}

#[tokio::test]
async fn connections_need_their_bot_rights_and_a_known_api_version() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (status, body) =
        arm(&sandbox, "alice", Method::PUT, &format!("{}/connections/sso", bot("nobot")), Some(connection_body("s")))
            .await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("ResourceNotFound")));

    let path = format!("{}/connections/sso", bot(SANDBOX_BOT_NAME));
    let (status, body) = arm(&sandbox, "bob", Method::PUT, &path, Some(connection_body("s"))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("AuthorizationFailed")));

    let mut no_tenant = connection_body("s");
    no_tenant["properties"]["parameters"] = json!([]);
    let (status, body) = arm(&sandbox, "alice", Method::PUT, &path, Some(no_tenant)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("InvalidRequestContent")));

    let alice = sandbox.teams.user("alice").unwrap();
    let token = sandbox.entra.user_token(&alice, "drbot-setup", ARM_AUDIENCE, "user_impersonation");
    let url = format!("{}{}?api-version=2025-04-01", sandbox.arm_url(), bot(SANDBOX_BOT_NAME));
    let response = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400, "Microsoft.Resources' version is not BotService's");
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "InvalidApiVersionParameter");

    let (status, body) = arm(&sandbox, "alice", Method::GET, &bot(SANDBOX_BOT_NAME), None).await;
    assert_eq!((status, body["properties"]["msaAppId"].as_str()), (200, Some(SANDBOX_BOT_APP_ID)));

    let (status, body) = arm(
        &sandbox,
        "alice",
        Method::PUT,
        &bot("drbot-two"),
        Some(json!({"location": "global", "properties": {"msaAppId": "a"}})),
    )
    .await;
    assert_eq!((status, body["name"].as_str()), (201, Some("drbot-two")));
    assert!(sandbox.arm.resource_writes().iter().all(|w| w.starts_with("PUT ")));
    assert_eq!(sandbox.arm.resource_writes().len(), 1, "only the accepted write counts");
}
