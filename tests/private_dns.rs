//! drbot's private DNS alias against the sandbox's ARM: pointed once, a
//! second call (a resumed runbook) writes nothing, pointing it back writes
//! once more, and a zone that does not exist is an error that says so.

use drbot::azure::private_dns::{point, record_set};
use drbot::azure::ArmClient;
use drbot::identity::AccessToken;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_SUBSCRIPTION_ID};

const ZONE: &str = "corp.contoso.internal";

fn zone_id(zone: &str) -> String {
    format!("/subscriptions/{SANDBOX_SUBSCRIPTION_ID}/resourceGroups/rg-hub/providers/Microsoft.Network/privateDnsZones/{zone}")
}

async fn client(sandbox: &Sandbox) -> (ArmClient, AccessToken) {
    let user = sandbox.teams.user("alice").unwrap();
    let token =
        AccessToken::new(sandbox.entra.user_token(&user, "drbot", sandbox::arm::ARM_AUDIENCE, "user_impersonation"));
    (ArmClient::new(reqwest::Client::new(), &sandbox.arm_url()), token)
}

#[tokio::test]
async fn an_alias_is_pointed_once_and_a_second_call_writes_nothing() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sandbox.arm.add_private_dns_zone("rg-hub", ZONE);
    let (client, token) = client(&sandbox).await;
    let zone = zone_id(ZONE);
    assert_eq!(record_set(&client, &token, &zone, "CNAME", "databricks").await.unwrap(), None);

    assert!(point(&client, &token, &zone, "CNAME", "databricks", "adb-2.example", 60).await.unwrap());
    assert!(!point(&client, &token, &zone, "CNAME", "databricks", "adb-2.example", 60).await.unwrap(), "resumed");
    let held = record_set(&client, &token, &zone, "CNAME", "databricks").await.unwrap().unwrap();
    assert_eq!((held.values, held.ttl), (vec!["adb-2.example".to_string()], Some(60)));
    assert!(point(&client, &token, &zone, "CNAME", "databricks", "adb-1.example", 60).await.unwrap(), "back");
    assert!(point(&client, &token, &zone, "A", "sql", "10.1.0.4", 30).await.unwrap());
    assert_eq!(sandbox.arm.dns_record("rg-hub", ZONE, "A", "sql"), Some((vec!["10.1.0.4".into()], 30)));
    assert_eq!(sandbox.arm.dns_writes().len(), 3, "one write per change");
}

#[tokio::test]
async fn a_missing_zone_is_an_error_that_names_it() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (client, token) = client(&sandbox).await;
    let error = point(&client, &token, &zone_id("nowhere.internal"), "A", "sql", "10.1.0.4", 30).await.unwrap_err();
    assert_eq!(error.code(), Some("ParentResourceNotFound"), "{error}");
    assert!(error.to_string().contains("nowhere.internal"), "{error}");
    let unknown = point(&client, &token, &zone_id(ZONE), "MX", "mail", "x", 30).await.unwrap_err();
    assert!(unknown.to_string().contains("not one drbot writes"), "{unknown}");
    assert!(sandbox.arm.dns_writes().is_empty());
}
