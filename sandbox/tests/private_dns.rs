//! Private DNS record sets: a PUT creates (201) or replaces (200) a set
//! and answers it with a new etag; `If-Match` and `If-None-Match: *` guard
//! against changes made meanwhile; a set needs its zone; a CNAME owns its
//! name; what is not modelled or not valid is refused.

use reqwest::Method;
use sandbox::arm::ARM_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_SUBSCRIPTION_ID};
use serde_json::{json, Value};

const VERSION: &str = "2024-06-01";
const ZONE: &str = "corp.contoso.internal";

fn set(kind: &str, name: &str) -> String {
    format!(
        "/subscriptions/{SANDBOX_SUBSCRIPTION_ID}/resourceGroups/rg-hub/providers/Microsoft.Network/privateDnsZones/{ZONE}/{kind}/{name}"
    )
}

async fn call(
    sandbox: &Sandbox,
    user: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let user = sandbox.teams.user(user).unwrap();
    let token = sandbox.entra.user_token(&user, "drbot", ARM_AUDIENCE, "user_impersonation");
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}?api-version={VERSION}", sandbox.arm_url()))
        .bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

fn cname(target: &str) -> Value {
    json!({"properties": {"ttl": 300, "cnameRecord": {"cname": target}}})
}

#[tokio::test]
async fn a_record_set_is_created_replaced_and_read_with_a_new_etag_each_time() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sandbox.arm.add_private_dns_zone("rg-hub", ZONE);
    let path = set("CNAME", "Databricks");
    let (status, missing) = call(&sandbox, "alice", Method::GET, &path, None, &[]).await;
    assert_eq!((status, missing["error"]["code"].as_str()), (404, Some("NotFound")), "{missing}");

    let (status, created) = call(&sandbox, "alice", Method::PUT, &path, Some(cname("adb-1.example")), &[]).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "databricks");
    assert_eq!(created["type"], "Microsoft.Network/privateDnsZones/CNAME");
    assert_eq!(created["properties"]["fqdn"], format!("databricks.{ZONE}."));
    assert_eq!(created["properties"]["cnameRecord"]["cname"], "adb-1.example");
    assert_eq!(created["properties"]["ttl"], 300);
    let first_etag = created["etag"].as_str().unwrap().to_string();

    let (status, replaced) = call(&sandbox, "alice", Method::PUT, &path, Some(cname("adb-2.example")), &[]).await;
    assert_eq!(status, 200, "{replaced}");
    assert_ne!(replaced["etag"], first_etag.as_str());
    let (_, read) = call(&sandbox, "alice", Method::GET, &set("cname", "DATABRICKS"), None, &[]).await;
    assert_eq!(read["properties"]["cnameRecord"]["cname"], "adb-2.example", "names are case-insensitive");
    assert_eq!(
        sandbox.arm.dns_record("rg-hub", ZONE, "CNAME", "databricks"),
        Some((vec!["adb-2.example".into()], 300))
    );

    let a = set("A", "sql");
    let body = json!({"properties": {"ttl": 60, "aRecords": [{"ipv4Address": "10.1.2.4"}]}});
    let (status, created) = call(&sandbox, "alice", Method::PUT, &a, Some(body), &[]).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["properties"]["aRecords"], json!([{"ipv4Address": "10.1.2.4"}]));
    assert_eq!(sandbox.arm.dns_writes().len(), 3);
}

#[tokio::test]
async fn etags_guard_against_a_change_made_meanwhile() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sandbox.arm.add_private_dns_zone("rg-hub", ZONE);
    let path = set("CNAME", "databricks");
    let (_, created) = call(&sandbox, "alice", Method::PUT, &path, Some(cname("adb-1.example")), &[]).await;
    let etag = created["etag"].as_str().unwrap().to_string();
    let only_new = [("if-none-match", "*")];
    let (status, refused) = call(&sandbox, "alice", Method::PUT, &path, Some(cname("x.example")), &only_new).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (412, Some("PreconditionFailed")), "{refused}");
    let stale = [("if-match", "\"not-the-etag\"")];
    let (status, _) = call(&sandbox, "alice", Method::PUT, &path, Some(cname("x.example")), &stale).await;
    assert_eq!(status, 412);
    let current = [("if-match", etag.as_str())];
    let (status, _) = call(&sandbox, "alice", Method::PUT, &path, Some(cname("adb-2.example")), &current).await;
    assert_eq!(status, 200);
    assert_eq!(sandbox.arm.dns_writes().len(), 2, "the refused writes changed nothing");
}

#[tokio::test]
async fn what_the_provider_refuses() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let path = set("CNAME", "databricks");
    let (status, no_zone) = call(&sandbox, "alice", Method::PUT, &path, Some(cname("adb-1.example")), &[]).await;
    assert_eq!((status, no_zone["error"]["code"].as_str()), (404, Some("ParentResourceNotFound")), "{no_zone}");
    sandbox.arm.add_private_dns_zone("rg-hub", ZONE);

    // Bob is no operator: Azure RBAC refuses his write.
    let (status, denied) = call(&sandbox, "bob", Method::PUT, &path, Some(cname("adb-1.example")), &[]).await;
    assert_eq!((status, denied["error"]["code"].as_str()), (403, Some("AuthorizationFailed")), "{denied}");

    let a = json!({"properties": {"aRecords": [{"ipv4Address": "10.0.0.300"}]}});
    let (status, _) = call(&sandbox, "alice", Method::PUT, &set("A", "x"), Some(a), &[]).await;
    assert_eq!(status, 400, "not an IPv4 address");
    let mixed = json!({"properties": {"aRecords": [], "cnameRecord": {"cname": "y"}}});
    let (status, _) = call(&sandbox, "alice", Method::PUT, &set("A", "x"), Some(mixed), &[]).await;
    assert_eq!(status, 400, "an A set with a CNAME");
    let (status, _) = call(&sandbox, "alice", Method::PUT, &set("MX", "x"), Some(cname("y")), &[]).await;
    assert_eq!(status, 400, "not modelled");

    // A CNAME owns its name.
    call(&sandbox, "alice", Method::PUT, &path, Some(cname("adb-1.example")), &[]).await;
    let beside = json!({"properties": {"aRecords": [{"ipv4Address": "10.0.0.4"}]}});
    let (status, clash) = call(&sandbox, "alice", Method::PUT, &set("A", "databricks"), Some(beside), &[]).await;
    assert_eq!((status, clash["error"]["code"].as_str()), (409, Some("Conflict")), "{clash}");
    assert_eq!(sandbox.arm.dns_writes().len(), 1);
}
