//! What a run works on and as whom: the two workspaces and the source of
//! tokens. Both the runner (`run.rs`) and each action (`apply.rs`) need
//! them; here neither has to import the other for them.

use std::future::Future;

use crate::databricks::WorkspaceClient;
use crate::identity::{AccessToken, IdentityError};

/// The pair of workspaces and the secondary's warehouse.
#[derive(Clone)]
pub struct Workspaces {
    pub primary: WorkspaceClient,
    pub secondary: WorkspaceClient,
    pub warehouse_id: String,
}

/// Tokens for the person (or the bot) the run acts for.
pub trait TokenSource: Send + Sync {
    /// A Databricks token; `fresh` when the last one was refused.
    fn token(&self, fresh: bool) -> impl Future<Output = Result<AccessToken, IdentityError>> + Send;
}

/// One token, as is (the CLI's environment token; tests).
pub struct FixedToken(pub AccessToken);

impl TokenSource for FixedToken {
    fn token(&self, _fresh: bool) -> impl Future<Output = Result<AccessToken, IdentityError>> + Send {
        let token = self.0.clone();
        async move { Ok(token) }
    }
}
