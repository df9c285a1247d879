//! What one asset kind brings: reading both workspaces into plan items, and
//! applying one item. The framework ([`super::apply`]) does the rest: the
//! order, resuming, cancelling and one result per item.

use std::collections::BTreeSet;
use std::future::Future;

use futures::future::BoxFuture;

use super::mapping::AssetMapping;
use super::plan::{ItemResult, PlanItem};
use super::principals::Principals;
use super::sides::{Endpoints, Side};
use crate::databricks::{DatabricksError, WorkspaceClient};
use crate::identity::{AccessToken, IdentityError};
use crate::replication::workspaces::TokenSource;
use crate::store::Store;

/// Tokens for whoever the run acts for, as an object (kinds are stored as
/// trait objects, so the token source is one too).
pub trait AssetTokens: Send + Sync {
    /// A Databricks token; `fresh` when the last one was refused.
    fn token(&self, fresh: bool) -> BoxFuture<'_, Result<AccessToken, IdentityError>>;
}

impl<T: TokenSource> AssetTokens for T {
    fn token(&self, fresh: bool) -> BoxFuture<'_, Result<AccessToken, IdentityError>> {
        Box::pin(TokenSource::token(self, fresh))
    }
}

/// What of the workspaces a run covers, beside the mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetOptions {
    /// Folders of the workspace tree whose contents are copied (recursively).
    pub roots: Vec<String>,
    /// Warehouse ids left alone on either side: the pair's own engine
    /// warehouses, which each workspace keeps for itself.
    pub engine_warehouses: BTreeSet<String>,
}

impl Default for AssetOptions {
    fn default() -> Self {
        AssetOptions { roots: vec!["/".into()], engine_warehouses: BTreeSet::new() }
    }
}

impl AssetOptions {
    /// The whole tree, and the pair's engine warehouses (either may be unset).
    pub fn for_pair(primary_warehouse: Option<&str>, secondary_warehouse: Option<&str>) -> AssetOptions {
        let engine_warehouses = [primary_warehouse, secondary_warehouse].into_iter().flatten().map(String::from);
        AssetOptions { engine_warehouses: engine_warehouses.collect(), ..AssetOptions::default() }
    }
}

/// What every kind reads and writes with, for one pair.
pub struct AssetContext<'a> {
    /// The pair's name (what the store records per pair).
    pub pair: String,
    pub primary: WorkspaceClient,
    pub secondary: WorkspaceClient,
    pub tokens: &'a dyn AssetTokens,
    /// How the primary's references map to the secondary's.
    pub mapping: AssetMapping,
    pub options: AssetOptions,
    /// Where a kind records what failover needs (a job's pause state);
    /// `None` in a dry run without a store (the CLI's `--dry-run`).
    pub store: Option<Store>,
    /// The secondary's principals, looked up once per run.
    pub principals: Principals,
}

impl AssetContext<'_> {
    /// A token, the error worded for an item's result.
    pub async fn token(&self, fresh: bool) -> Result<AccessToken, String> {
        self.tokens.token(fresh).await.map_err(|e| format!("no token: {e}"))
    }

    /// Primary to secondary, both with `token`.
    pub fn endpoints<'a>(&'a self, token: &'a AccessToken) -> Endpoints<'a> {
        Endpoints { source: Side { client: &self.primary, token }, target: Side { client: &self.secondary, token } }
    }

    /// Runs `act` with a token, and once more with a fresh one when the
    /// workspace refused the first (it expired mid-run).
    pub async fn with_token<T, F, Fut>(&self, act: F) -> Result<T, ApplyError>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, DatabricksError>>,
    {
        let token = self.token(false).await.map_err(ApplyError::Failed)?;
        match act(token).await {
            Err(DatabricksError::Unauthenticated(_)) => {
                let token = self.token(true).await.map_err(ApplyError::Failed)?;
                act(token).await.map_err(ApplyError::from)
            }
            other => other.map_err(ApplyError::from),
        }
    }
}

/// Why applying an item did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// A person has to act first (the workspace refused the caller).
    Blocked(String),
    /// The call failed (after the client's retries).
    Failed(String),
}

impl From<DatabricksError> for ApplyError {
    fn from(error: DatabricksError) -> Self {
        match error {
            DatabricksError::PermissionDenied(_) => ApplyError::Blocked(error.to_string()),
            other => ApplyError::Failed(other.to_string()),
        }
    }
}

/// When an item is applied: a stage starts once every item of the stages
/// it comes [`after`](Stage::after) is applied, so what others refer to
/// exists before them; stages that do not depend on each other run side by
/// side (a workspace's notebooks and its jobs), each within its endpoints'
/// rate limits. The order is also the plan's reading order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// What others live in or run under: folders, cluster policies,
    /// instance pools, secret scopes.
    Containers,
    /// Compute, under policies and on pools: clusters, SQL warehouses.
    Compute,
    /// What lives in folders: notebooks, files, git folders.
    Contents,
    /// Databricks SQL queries and AI/BI dashboards: they live in folders and
    /// name warehouses.
    Queries,
    /// SQL alerts: each runs a query.
    Alerts,
    /// Jobs: they name cluster policies, pools, clusters and warehouses.
    Jobs,
}

impl Stage {
    pub const ALL: [Stage; 6] =
        [Stage::Containers, Stage::Compute, Stage::Contents, Stage::Queries, Stage::Alerts, Stage::Jobs];

    /// The stages applied before this one starts. Jobs do not wait for
    /// notebooks: a job names a notebook by path, which Databricks resolves
    /// when the job runs (the copies are paused), not when it is created.
    pub fn after(self) -> &'static [Stage] {
        match self {
            Stage::Containers => &[],
            Stage::Compute | Stage::Contents => &[Stage::Containers],
            Stage::Queries | Stage::Jobs => &[Stage::Containers, Stage::Compute],
            Stage::Alerts => &[Stage::Queries],
        }
    }
}

/// How many items of one kind are applied at once, by default: enough to
/// keep an endpoint at its rate limit with 50 ms or more per call (the
/// client paces each endpoint below its limit, so more in flight only
/// wait their turn).
pub const CONCURRENCY: usize = 16;

/// One kind of workspace asset.
pub trait AssetKind: Send + Sync {
    /// The kind's name (`job`), as an item standing for the whole kind
    /// (one it could not read) carries it.
    fn name(&self) -> &'static str;

    /// Whether items of `item_kind` are this kind's (a kind may plan several
    /// sorts of object: the workspace tree plans folders, notebooks, files).
    fn owns(&self, item_kind: &str) -> bool {
        item_kind == self.name()
    }

    /// When `item` is applied.
    fn stage(&self, item: &PlanItem) -> Stage;

    /// How many of its items are applied at once (their requests are paced
    /// per endpoint, [`crate::databricks::pacing`]).
    fn concurrency(&self) -> usize {
        CONCURRENCY
    }

    /// Reads both workspaces and returns one item per object of the
    /// primary (and any the secondary has that must go), unchanged and
    /// blocked ones included.
    fn plan<'a>(&'a self, ctx: &'a AssetContext<'a>) -> BoxFuture<'a, Result<Vec<PlanItem>, String>>;

    /// Applies one item of this kind (a create or an update). Idempotent:
    /// applying it twice leaves the secondary as applying it once.
    fn apply<'a>(&'a self, ctx: &'a AssetContext<'a>, item: &'a PlanItem) -> BoxFuture<'a, Result<(), ApplyError>>;

    /// After a (non-dry) run: what the kind records for failover from what
    /// it read (every item, whatever its outcome). None by default.
    fn record<'a>(
        &'a self,
        _ctx: &'a AssetContext<'a>,
        _items: &'a [PlanItem],
        _results: &'a [ItemResult],
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}
