//! drbot's storage account failover against the sandbox's ARM: followed to
//! its end, the account in the paired region, and a second call (a resumed
//! runbook) asks nothing again.

use std::time::Duration;

use drbot::azure::storage_failover::{fail_over, storage_account};
use drbot::azure::{ArmClient, PollOptions};
use drbot::identity::AccessToken;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_SUBSCRIPTION_ID};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_failover_is_followed_to_the_paired_region_and_never_asked_twice() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sandbox.arm.add_storage_account("rg-dr", "stext", "westeurope", "northeurope", "Standard_RAGRS");
    sandbox.arm.set_storage_failover_duration(Duration::from_millis(300));
    let user = sandbox.teams.user("alice").unwrap();
    let token =
        AccessToken::new(sandbox.entra.user_token(&user, "drbot", sandbox::arm::ARM_AUDIENCE, "user_impersonation"));
    let client = ArmClient::new(reqwest::Client::new(), &sandbox.arm_url());
    let id = format!("/subscriptions/{SANDBOX_SUBSCRIPTION_ID}/resourceGroups/rg-dr/providers/Microsoft.Storage/storageAccounts/stext");
    let poll = PollOptions::new(Duration::from_millis(50), Duration::from_secs(15), CancellationToken::new());
    assert!(fail_over(&client, &token, &id, "northeurope", false, &poll).await.unwrap());
    let account = storage_account(&client, &token, &id).await.unwrap();
    assert_eq!(account.primary_location, "northeurope");
    assert_eq!(account.sku, "Standard_LRS");
    assert!(!fail_over(&client, &token, &id, "northeurope", false, &poll).await.unwrap(), "already there");
    assert_eq!(sandbox.arm.storage_failover_requests().len(), 1);
}

#[tokio::test]
async fn a_run_resumed_while_the_failover_runs_follows_it_instead_of_asking_again() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sandbox.arm.add_storage_account("rg-dr", "stext", "westeurope", "northeurope", "Standard_GRS");
    sandbox.arm.set_storage_failover_duration(Duration::from_millis(400));
    let user = sandbox.teams.user("alice").unwrap();
    let raw = sandbox.entra.user_token(&user, "drbot", sandbox::arm::ARM_AUDIENCE, "user_impersonation");
    let id = format!("/subscriptions/{SANDBOX_SUBSCRIPTION_ID}/resourceGroups/rg-dr/providers/Microsoft.Storage/storageAccounts/stext");
    // The request a crashed run made before it could checkpoint.
    let started = reqwest::Client::new()
        .post(format!("{}{id}/failover?api-version=2023-05-01&failoverType=Planned", sandbox.arm_url()))
        .bearer_auth(&raw)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let client = ArmClient::new(reqwest::Client::new(), &sandbox.arm_url());
    let poll = PollOptions::new(Duration::from_millis(50), Duration::from_secs(15), CancellationToken::new());
    assert!(fail_over(&client, &token_of(raw), &id, "northeurope", true, &poll).await.unwrap());
    assert_eq!(sandbox.arm.storage_failover_requests().len(), 1, "followed, not asked again");
}

fn token_of(raw: String) -> AccessToken {
    AccessToken::new(raw)
}
