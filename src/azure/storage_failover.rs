//! A customer-initiated storage account failover (Storage Accounts -
//! Failover, `POST …/storageAccounts/{name}/failover[?failoverType=Planned]`):
//! the geo-redundant external storage of a pair moves to the paired region
//! under the same account name. A long-running operation, followed through
//! its `Location` until ARM answers 200.
//!
//! Idempotent by its own check: an account whose primary region is already
//! the target is not asked again, and one already failing over (a request a
//! crashed run made) is followed to its end instead of asked twice.

use reqwest::Method;
use serde::Deserialize;

use super::lro::{poll_until, Poll, PollOptions};
use super::{ArmClient, ArmError};
use crate::identity::AccessToken;

/// The storage provider's api-version drbot speaks.
pub const STORAGE_API_VERSION: &str = "2023-05-01";

/// What drbot reads of a storage account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageAccount {
    pub primary_location: String,
    pub secondary_location: Option<String>,
    pub sku: String,
    pub failover_in_progress: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireProperties {
    primary_location: String,
    #[serde(default)]
    secondary_location: Option<String>,
    #[serde(default)]
    failover_in_progress: Option<bool>,
}

#[derive(Deserialize)]
struct WireSku {
    name: String,
}

#[derive(Deserialize)]
struct WireAccount {
    sku: WireSku,
    properties: WireProperties,
}

fn url(client: &ArmClient, path: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{}{path}{separator}api-version={STORAGE_API_VERSION}", client.base_url())
}

/// The account `id` (`/subscriptions/…/storageAccounts/NAME`).
pub async fn storage_account(client: &ArmClient, token: &AccessToken, id: &str) -> Result<StorageAccount, ArmError> {
    let answer = client.request(Method::GET, &url(client, id), token, None).await?;
    let wire: WireAccount = answer.json("a storage account")?;
    Ok(StorageAccount {
        primary_location: wire.properties.primary_location,
        secondary_location: wire.properties.secondary_location,
        sku: wire.sku.name,
        failover_in_progress: wire.properties.failover_in_progress.unwrap_or(false),
    })
}

/// Fails the account over so that its primary region is `target_region`,
/// following the operation to its end; `Ok(false)` when it was there already.
pub async fn fail_over(
    client: &ArmClient,
    token: &AccessToken,
    id: &str,
    target_region: &str,
    planned: bool,
    poll: &PollOptions,
) -> Result<bool, ArmError> {
    let account = storage_account(client, token, id).await?;
    if account.primary_location.eq_ignore_ascii_case(target_region) && !account.failover_in_progress {
        return Ok(false);
    }
    if !account.failover_in_progress {
        let path = if planned { format!("{id}/failover?failoverType=Planned") } else { format!("{id}/failover") };
        let started = client.request(Method::POST, &url(client, &path), token, None).await?;
        if started.status == 202 {
            let location = started
                .header("location")
                .ok_or_else(|| ArmError::BadResponse("a failover accepted without a Location to follow".into()))?;
            client.check_same_origin(&location)?;
            poll_until(poll, started.retry_after(), || async {
                let polled = client.request(Method::GET, &location, token, None).await?;
                Ok(if polled.status == 202 { Poll::Pending(polled.retry_after()) } else { Poll::Done(()) })
            })
            .await?;
        }
    }
    // Resumed while one ran, or done: the account says when it is over.
    poll_until(poll, None, || async {
        let now = storage_account(client, token, id).await?;
        Ok(if now.failover_in_progress { Poll::Pending(None) } else { Poll::Done(now) })
    })
    .await
    .and_then(|now| {
        if now.primary_location.eq_ignore_ascii_case(target_region) {
            Ok(true)
        } else {
            Err(ArmError::BadResponse(format!(
                "the failover ended with the account's primary in {}, not {target_region}",
                now.primary_location
            )))
        }
    })
}
