//! A managed-DR pair's failover group over the account API: read for
//! `status` and for planning a runbook, read and failed over by the runbook
//! (`crate::failover::group` decides; this is the edge where it meets the
//! wire). The account is `[deploy] databricks_account_id`; every call acts
//! as whoever the work acts for (the person, or drbot itself).

use super::actor::DatabricksTokens;
use super::error::{NotConfigured, TurnError};
use super::{now_ms, Bot};
use crate::databricks::account::AccountClient;
use crate::databricks::failover_groups::{FailoverGroup, FailoverStart};
use crate::databricks::DatabricksError;
use crate::failover::group::{GroupAnswer, GroupRead, StableUrl};
use crate::failover::jobs::ControlError;
use crate::failover::mode::Mode;
use crate::failover::runbook::{Runbook, RunbookSettings};
use crate::failover::{jobs::PriorStates, managed};
use crate::identity::AccessToken;
use crate::pairs::Pair;

/// Where a crash test kills the process: managed DR has accepted the
/// failover request, and the run has not checkpointed anything since.
pub(crate) const REQUESTED_FAULT: &str = "runbook.managed_failover_requested";

/// One pair's failover group, as a runbook's services reach it.
pub(crate) struct ManagedGroup {
    client: AccountClient,
    id: String,
    /// The pair's workspace ids (those it knows): whose workspace set's
    /// stable URLs are the pair's.
    workspaces: Vec<String>,
}

/// The workspace ids a pair knows, primary first.
fn pair_workspaces(pair: &Pair) -> Vec<String> {
    [&pair.primary.workspace_id, &pair.secondary.workspace_id].into_iter().flatten().cloned().collect()
}

const NO_ACCOUNT: &str =
    "the pair names a managed-DR failover group, but no Databricks account is configured: set databricks_account_id \
     in [deploy]";

impl Bot {
    fn account_client(&self) -> Option<AccountClient> {
        let deploy = &self.services.config.deploy;
        let account_id = deploy.databricks_account_id.as_deref()?;
        Some(AccountClient::new(self.services.http.clone(), &deploy.databricks_accounts_url, account_id))
    }

    /// The failover group of `pair` for its runbook's services; `None` for
    /// a pair drbot replicates itself.
    pub(super) fn managed_group(&self, pair: &Pair) -> Result<Option<ManagedGroup>, NotConfigured> {
        let Some(id) = &pair.failover_group else { return Ok(None) };
        let client = self.account_client().ok_or(NotConfigured(NO_ACCOUNT))?;
        Ok(Some(ManagedGroup { client, id: id.clone(), workspaces: pair_workspaces(pair) }))
    }

    /// The group as it is now, for `status`; why not, worded, when it
    /// cannot be read.
    pub(super) async fn failover_group(
        &self,
        tokens: &DatabricksTokens,
        group_id: &str,
    ) -> Result<FailoverGroup, String> {
        let unread = |e: &dyn std::fmt::Display| format!("Managed DR's failover group {group_id} is unread: {e}.");
        let Some(client) = self.account_client() else {
            return Err(unread(&"set databricks_account_id in [deploy]"));
        };
        let token = tokens.get(false).await.map_err(|e| unread(&e))?;
        client.failover_group(&token, group_id).await.map_err(|e| unread(&e))
    }

    /// `mode`'s runbook of a managed pair: its failover group read as
    /// `tokens`, planned in managed DR's terms (`src/failover/managed.rs`).
    pub(super) async fn managed_runbook_now(
        &self,
        tokens: &DatabricksTokens,
        pair: &Pair,
        group_id: &str,
        mode: Mode,
    ) -> Result<Runbook, TurnError> {
        let group = self.failover_group(tokens, group_id).await.map_err(TurnError::ManagedDr)?;
        let settings = RunbookSettings::of_pair(&self.services.config.failover, &pair.name);
        let recorded = self.services.store.job_pause_states(&pair.name).await?;
        let recorded = (!recorded.is_empty()).then(|| PriorStates::from_recorded(&recorded));
        // The stable URLs are what clients may connect through: unread, the
        // runbook cannot say whether they follow, which blocks it until
        // someone overrides (the failover itself does not need them).
        let stable_urls = match self.account_client() {
            Some(client) => match tokens.get(false).await {
                Ok(token) => {
                    linked_stable_urls(&client, &token, &group, &pair_workspaces(pair)).await.map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            },
            None => Err(NO_ACCOUNT.to_string()),
        };
        let read = group_read(group_id, &group);
        let (urls, unread) = match stable_urls {
            Ok(urls) => (urls, None),
            Err(e) => (Vec::new(), Some(format!("the stable URLs of failover group {group_id} are unread ({e})"))),
        };
        let mut runbook = managed::plan(pair, mode, &settings, read, urls, now_ms())?.with_recorded_jobs(recorded);
        runbook.blocked.extend(unread);
        Ok(runbook)
    }
}

/// The fields a runbook decides on.
fn group_read(id: &str, group: &FailoverGroup) -> GroupRead {
    GroupRead {
        id: id.to_string(),
        state: group.state.clone(),
        primary_region: group.effective_primary_region.clone(),
        regions: group.regions.clone(),
        replication_point_ms: group.replication_point.map(|point| point.timestamp_millis()),
        etag: group.etag.clone(),
    }
}

/// The stable URLs the group links to the pair's workspaces, each read for
/// its address.
async fn linked_stable_urls(
    client: &AccountClient,
    token: &AccessToken,
    group: &FailoverGroup,
    workspaces: &[String],
) -> Result<Vec<StableUrl>, DatabricksError> {
    let mut out = Vec::new();
    for name in group.stable_url_names(workspaces) {
        let read = client.stable_url(token, &name).await?;
        out.push(StableUrl { name: read.name, url: read.url, routes_to: read.effective_workspace_id });
    }
    Ok(out)
}

fn control_error(error: DatabricksError) -> ControlError {
    ControlError { transient: error.is_transient(), message: error.to_string() }
}

fn not_managed() -> ControlError {
    ControlError { message: "this pair has no managed-DR failover group".into(), transient: false }
}

/// One account call with the identity's token, asked for afresh once if
/// the account refused it (it expired during a long run).
async fn with_token<T, F, Fut>(tokens: &DatabricksTokens, call: F) -> Result<T, ControlError>
where
    F: Fn(AccessToken) -> Fut,
    Fut: std::future::Future<Output = Result<T, DatabricksError>>,
{
    let identity = |e: crate::identity::IdentityError| ControlError { message: e.to_string(), transient: true };
    match call(tokens.get(false).await.map_err(identity)?).await {
        Err(DatabricksError::Unauthenticated(_)) => call(tokens.get(true).await.map_err(identity)?).await,
        answered => answered,
    }
    .map_err(control_error)
}

/// The runbook services' read of the group.
pub(super) async fn read_group(
    group: Option<&ManagedGroup>,
    tokens: &DatabricksTokens,
) -> Result<GroupRead, ControlError> {
    let group = group.ok_or_else(not_managed)?;
    let read = with_token(tokens, |token| async move { group.client.failover_group(&token, &group.id).await }).await?;
    Ok(group_read(&group.id, &read))
}

/// The runbook services' read of the stable URLs linked to the group now.
pub(super) async fn read_stable_urls(
    group: Option<&ManagedGroup>,
    tokens: &DatabricksTokens,
) -> Result<Vec<StableUrl>, ControlError> {
    let group = group.ok_or_else(not_managed)?;
    with_token(tokens, |token| async move {
        let read = group.client.failover_group(&token, &group.id).await?;
        linked_stable_urls(&group.client, &token, &read, &group.workspaces).await
    })
    .await
}

/// The runbook services' failover request.
pub(super) async fn fail_group_over(
    group: Option<&ManagedGroup>,
    tokens: &DatabricksTokens,
    target: &str,
    etag: &str,
) -> Result<GroupAnswer, ControlError> {
    let group = group.ok_or_else(not_managed)?;
    let answer =
        with_token(tokens, |token| async move { group.client.fail_over_group(&token, &group.id, target, etag).await })
            .await?;
    Ok(match answer {
        FailoverStart::Started(now) => {
            crate::ops::fault::point(REQUESTED_FAULT);
            GroupAnswer::Started(group_read(&group.id, &now))
        }
        FailoverStart::Stale(now) => GroupAnswer::Stale(group_read(&group.id, &now)),
    })
}
