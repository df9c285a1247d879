//! The Databricks account both workspaces belong to: what crosses between
//! them. Storage is reachable from both regions (a `delta.`path`` clone reads
//! the primary's files), and Databricks-to-Databricks sharing makes a
//! recipient on one metastore appear as a provider on the other.

use std::sync::{Arc, Weak};

use parking_lot::RwLock;

use super::sql::execute::Storage;
use super::Workspace;

#[derive(Default)]
pub struct Account {
    pub storage: Storage,
    /// Managed DR's failover groups: served by the account API, and their
    /// events read through either workspace's `system.replication.states`.
    pub failover_groups: Arc<super::account_failover_groups::FailoverGroups>,
    workspaces: RwLock<Vec<Weak<Workspace>>>,
}

impl Account {
    pub fn new() -> Arc<Account> {
        Arc::new(Account::default())
    }

    pub(super) fn register(&self, workspace: &Arc<Workspace>) {
        self.workspaces.write().push(Arc::downgrade(workspace));
    }

    /// Every workspace of the account still running.
    pub fn workspaces(&self) -> Vec<Arc<Workspace>> {
        self.workspaces.read().iter().filter_map(Weak::upgrade).collect()
    }

    /// The workspace whose metastore has this global id.
    pub fn by_global_id(&self, global_id: &str) -> Option<Arc<Workspace>> {
        self.workspaces().into_iter().find(|w| w.global_id == global_id)
    }
}
