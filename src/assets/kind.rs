//! What one asset kind brings: reading both workspaces into plan items, and
//! applying one item. The framework ([`super::apply`]) does the rest: the
//! order, resuming, cancelling and one result per item.

use futures::future::BoxFuture;

use super::mapping::AssetMapping;
use super::plan::{ItemResult, PlanItem};
use crate::databricks::WorkspaceClient;
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

/// What every kind reads and writes with, for one pair.
pub struct AssetContext<'a> {
    /// The pair's name (what the store records per pair).
    pub pair: String,
    pub primary: WorkspaceClient,
    pub secondary: WorkspaceClient,
    pub tokens: &'a dyn AssetTokens,
    /// How the primary's references map to the secondary's.
    pub mapping: AssetMapping,
    /// Where a kind records what failover needs (a job's pause state);
    /// `None` in a dry run without a store (the CLI's `--dry-run`).
    pub store: Option<Store>,
}

impl AssetContext<'_> {
    /// A token, the error worded for an item's result.
    pub async fn token(&self, fresh: bool) -> Result<AccessToken, String> {
        self.tokens.token(fresh).await.map_err(|e| format!("no token: {e}"))
    }
}

/// One kind of workspace asset.
pub trait AssetKind: Send + Sync {
    /// The kind's name, as plan items and results carry it (`job`).
    fn name(&self) -> &'static str;

    /// Reads both workspaces and returns one item per object of the
    /// primary (and any the secondary has that must go), unchanged and
    /// blocked ones included.
    fn plan<'a>(&'a self, ctx: &'a AssetContext<'a>) -> BoxFuture<'a, Result<Vec<PlanItem>, String>>;

    /// Applies one item of this kind (a create or an update). Idempotent:
    /// applying it twice leaves the secondary as applying it once.
    fn apply<'a>(&'a self, ctx: &'a AssetContext<'a>, item: &'a PlanItem) -> BoxFuture<'a, Result<(), String>>;

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
