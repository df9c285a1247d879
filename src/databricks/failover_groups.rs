//! Databricks managed disaster recovery's failover groups, read and failed
//! over through the account API (`/api/disaster-recovery/v1/accounts/{id}`),
//! for a pair whose replication Databricks runs rather than drbot.
//!
//! - `GET /failover-groups/{id}`: the group's `state`, its
//!   `effective_primary_region`, its `replication_point` (the latest time
//!   replicated, which gives the RPO) and its `etag`;
//! - `POST /failover-groups/{id}/failover` `{target_primary_region,
//!   failover_type: "FORCED", etag}`: `FORCED` is the only type the API has.
//!   The etag makes the request conditional: a group that changed since it
//!   was read answers 409, and drbot re-reads it and reports what changed
//!   rather than failing over a group it no longer knows;
//! - `GET /stable-urls/{id}`: a stable URL (`name`, `url`,
//!   `failover_group_name`, `effective_workspace_id`: the workspace it
//!   routes to now), the region-independent address that follows
//!   the group's primary. The group names the ones linked to it in
//!   `workspace_sets[].stable_url_names` (`accounts/{account_id}/stable-urls/{id}`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::account::AccountClient;
use super::{segment, DatabricksError};
use crate::identity::AccessToken;

/// A failover group (the fields drbot reads).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct FailoverGroup {
    /// `accounts/{account_id}/failover-groups/{id}`.
    pub name: String,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub effective_primary_region: String,
    /// ACTIVE, FAILING_OVER, FAILOVER_FAILED, INITIAL_REPLICATION, …
    pub state: String,
    /// The latest point in time replicated; none before the first replication.
    #[serde(default)]
    pub replication_point: Option<DateTime<Utc>>,
    #[serde(default)]
    pub has_replication_point_blocking_errors: bool,
    #[serde(default)]
    pub etag: String,
    /// The Unity Catalog assets it replicates (absent: none).
    #[serde(default)]
    pub unity_catalog_assets: Option<UcAssets>,
    #[serde(default)]
    pub workspace_sets: Vec<WorkspaceSet>,
}

/// One of a group's workspace sets (the field drbot reads).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct WorkspaceSet {
    /// The set's workspaces, one a region (int64 ids: as strings, or as
    /// numbers from a client that sends them so).
    #[serde(default, deserialize_with = "ids")]
    pub workspace_ids: Vec<String>,
    /// The stable URLs linked to the set: `accounts/{account_id}/stable-urls/{id}`.
    #[serde(default)]
    pub stable_url_names: Vec<String>,
}

/// Workspace ids, each a string or a number.
fn ids<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    let ids = Vec::<Id>::deserialize(deserializer)?;
    Ok(ids
        .into_iter()
        .map(|id| match id {
            Id::Text(text) => text,
            Id::Number(number) => number.to_string(),
        })
        .collect())
}

/// A stable URL: an address of the workspace that follows the group's
/// primary by itself. Its lifecycle is the account's, not the group's.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct StableUrl {
    /// `accounts/{account_id}/stable-urls/{id}`.
    pub name: String,
    /// `https://<host>/?w=<stable workspace id>`, or a per-connection host name for
    /// a Private Link workspace. Immutable.
    #[serde(default)]
    pub url: String,
    /// The group it is linked to; empty when none (it then follows nothing).
    #[serde(default)]
    pub failover_group_name: String,
    /// The workspace it routes to now: the group's primary while linked
    /// (across a failover), kept when unlinked.
    #[serde(default)]
    pub effective_workspace_id: String,
}

/// `unity_catalog_assets`: the catalogs a group replicates.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct UcAssets {
    #[serde(default)]
    pub catalogs: Vec<UcCatalog>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct UcCatalog {
    pub name: String,
}

impl FailoverGroup {
    /// The names of the catalogs it replicates.
    pub fn catalogs(&self) -> Vec<String> {
        self.unity_catalog_assets.iter().flat_map(|a| a.catalogs.iter().map(|c| c.name.clone())).collect()
    }

    /// The names of the stable URLs linked to the sets that hold any of
    /// `workspaces` (a pair's two workspace ids), in order, once each: a
    /// group may hold several sets, and another set's URLs route to that
    /// set's workspaces. Every set's when `workspaces` is empty (the pair
    /// knows no ids).
    pub fn stable_url_names(&self, workspaces: &[String]) -> Vec<String> {
        let ours =
            |set: &&WorkspaceSet| workspaces.is_empty() || set.workspace_ids.iter().any(|id| workspaces.contains(id));
        let mut names: Vec<String> = Vec::new();
        for name in self.workspace_sets.iter().filter(ours).flat_map(|set| &set.stable_url_names) {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// Whether a failover is still under way.
    pub fn failing_over(&self) -> bool {
        self.state == "FAILING_OVER"
    }

    /// How much data a failover now would lose: the time since the
    /// replication point (none when nothing was ever replicated).
    pub fn rpo(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        self.replication_point.map(|point| (now - point).max(chrono::Duration::zero()))
    }
}

/// What a failover request came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailoverStart {
    /// Accepted: the group as it answered (normally `FAILING_OVER`).
    Started(FailoverGroup),
    /// The group changed since it was read (the etag was stale): nothing
    /// was started; this is the group as it is now.
    Stale(FailoverGroup),
}

impl AccountClient {
    fn failover_group_path(&self, id: &str, rest: &str) -> String {
        format!(
            "/api/disaster-recovery/v1/accounts/{}/failover-groups/{}{rest}",
            segment(&self.account_id),
            segment(id)
        )
    }

    /// The failover group as it is now.
    pub async fn failover_group(&self, token: &AccessToken, id: &str) -> Result<FailoverGroup, DatabricksError> {
        self.inner.get(&self.failover_group_path(id, ""), &[], token).await
    }

    /// Asks for a forced failover to `target_region`, conditional on the
    /// group still having the `etag` it was read with.
    pub async fn fail_over_group(
        &self,
        token: &AccessToken,
        id: &str,
        target_region: &str,
        etag: &str,
    ) -> Result<FailoverStart, DatabricksError> {
        let body = json!({"target_primary_region": target_region, "failover_type": "FORCED", "etag": etag});
        match self.inner.post(&self.failover_group_path(id, "/failover"), body, token).await {
            Ok(group) => Ok(FailoverStart::Started(group)),
            // A 409 on this call can only be the etag: the group moved on.
            Err(DatabricksError::AlreadyExists(_)) => Ok(FailoverStart::Stale(self.failover_group(token, id).await?)),
            Err(e) => Err(e),
        }
    }

    /// A stable URL by its full name, which must be of this account: a name
    /// the group gives is not pasted into a path unchecked.
    pub async fn stable_url(&self, token: &AccessToken, name: &str) -> Result<StableUrl, DatabricksError> {
        let prefix = format!("accounts/{}/stable-urls/", self.account_id);
        let id = name
            .strip_prefix(&prefix)
            .filter(|id| !id.is_empty() && !id.contains('/'))
            .ok_or_else(|| DatabricksError::Protocol(format!("{name} is not a stable URL of this account")))?;
        let path =
            format!("/api/disaster-recovery/v1/accounts/{}/stable-urls/{}", segment(&self.account_id), segment(id));
        self.inner.get(&path, &[], token).await
    }

    /// Reads the group every `poll` until its failover ends (ACTIVE or
    /// FAILOVER_FAILED, or any state but FAILING_OVER) or `deadline` has
    /// passed; answers the last read either way.
    pub async fn follow_failover(
        &self,
        token: &AccessToken,
        id: &str,
        poll: Duration,
        deadline: Duration,
    ) -> Result<FailoverGroup, DatabricksError> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let group = self.failover_group(token, id).await?;
            if !group.failing_over() || tokio::time::Instant::now() >= until {
                return Ok(group);
            }
            tokio::time::sleep(poll).await;
        }
    }
}
