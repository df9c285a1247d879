//! The storage provider's account failover: a long-running operation
//! followed through its `Location`, the regions moving (an unplanned
//! failover leaves a locally redundant account in the old secondary region,
//! a planned one swaps them), and the refusals: not geo-redundant, already
//! failing over, someone without write access.

use std::time::{Duration, Instant};

use reqwest::Method;
use sandbox::arm::ARM_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_SUBSCRIPTION_ID};
use serde_json::Value;

const VERSION: &str = "2023-05-01";

async fn call(sandbox: &Sandbox, user: &str, method: Method, path_or_url: &str) -> reqwest::Response {
    let user = sandbox.teams.user(user).unwrap();
    let token = sandbox.entra.user_token(&user, "drbot", ARM_AUDIENCE, "user_impersonation");
    let url = if path_or_url.starts_with("http") {
        path_or_url.to_string()
    } else {
        let separator = if path_or_url.contains('?') { '&' } else { '?' };
        format!("{}{path_or_url}{separator}api-version={VERSION}", sandbox.arm_url())
    };
    reqwest::Client::new().request(method, url).bearer_auth(token).send().await.unwrap()
}

fn account(name: &str) -> String {
    format!("/subscriptions/{SANDBOX_SUBSCRIPTION_ID}/resourceGroups/rg-dr/providers/Microsoft.Storage/storageAccounts/{name}")
}

/// Polls the operation's `Location` until it answers 200; how many 202s came first.
async fn follow(sandbox: &Sandbox, location: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut waits = 0;
    loop {
        let polled = call(sandbox, "alice", Method::GET, location).await;
        match polled.status().as_u16() {
            200 => return waits,
            202 => {
                let after: u64 = polled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                assert!(after >= 1);
                waits += 1;
                assert!(Instant::now() < deadline, "the failover never ended");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("poll answered {other}"),
        }
    }
}

#[tokio::test]
async fn an_unplanned_failover_moves_the_account_to_the_paired_region_as_lrs() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sandbox.arm.add_storage_account("rg-dr", "stext", "westeurope", "northeurope", "Standard_RAGRS");
    sandbox.arm.set_storage_failover_duration(Duration::from_millis(300));
    let accepted = call(&sandbox, "alice", Method::POST, &format!("{}/failover", account("stext"))).await;
    assert_eq!(accepted.status(), 202);
    let location = accepted.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("/providers/Microsoft.Storage/locations/westeurope/asyncoperations/"), "{location}");
    let during: Value = call(&sandbox, "alice", Method::GET, &account("stext")).await.json().await.unwrap();
    assert_eq!(during["properties"]["failoverInProgress"], true);
    let again = call(&sandbox, "alice", Method::POST, &format!("{}/failover", account("stext"))).await;
    assert_eq!(again.status(), 409, "one failover at a time");
    follow(&sandbox, &location).await;
    let after: Value = call(&sandbox, "alice", Method::GET, &account("stext")).await.json().await.unwrap();
    assert_eq!(after["properties"]["primaryLocation"], "northeurope");
    assert_eq!(after["location"], "northeurope");
    assert!(after["properties"].get("secondaryLocation").is_none());
    assert!(after["properties"].get("failoverInProgress").is_none());
    assert_eq!(after["sku"]["name"], "Standard_LRS");
    let lrs = call(&sandbox, "alice", Method::POST, &format!("{}/failover", account("stext"))).await;
    assert_eq!(lrs.status(), 400, "an LRS account cannot fail over");
    assert_eq!(sandbox.arm.storage_failover_requests().len(), 1);
}

#[tokio::test]
async fn a_planned_failover_swaps_the_regions_and_stays_geo_redundant() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sandbox.arm.add_storage_account("rg-dr", "stext", "westeurope", "northeurope", "Standard_GRS");
    sandbox.arm.set_storage_failover_duration(Duration::from_millis(200));
    let path = format!("{}/failover?failoverType=Planned", account("stext"));
    let accepted = call(&sandbox, "alice", Method::POST, &path).await;
    assert_eq!(accepted.status(), 202);
    follow(&sandbox, accepted.headers()["location"].to_str().unwrap()).await;
    let after: Value = call(&sandbox, "alice", Method::GET, &account("stext")).await.json().await.unwrap();
    assert_eq!(after["properties"]["primaryLocation"], "northeurope");
    assert_eq!(after["properties"]["secondaryLocation"], "westeurope");
    assert_eq!(after["sku"]["name"], "Standard_GRS");
}

#[tokio::test]
async fn what_the_provider_refuses() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sandbox.arm.add_storage_account("rg-dr", "stlocal", "westeurope", "northeurope", "Standard_LRS");
    sandbox.arm.add_storage_account("rg-dr", "stext", "westeurope", "northeurope", "Standard_GRS");
    let lrs = call(&sandbox, "alice", Method::POST, &format!("{}/failover", account("stlocal"))).await;
    assert_eq!(lrs.status(), 400);
    let bad_type =
        call(&sandbox, "alice", Method::POST, &format!("{}/failover?failoverType=Soon", account("stext"))).await;
    assert_eq!(bad_type.status(), 400);
    let missing = call(&sandbox, "alice", Method::POST, &format!("{}/failover", account("nope"))).await;
    assert_eq!(missing.status(), 404);
    let denied = call(&sandbox, "carol", Method::POST, &format!("{}/failover", account("stext"))).await;
    assert_eq!(denied.status(), 403);
    assert!(sandbox.arm.storage_failover_requests().is_empty());
}
