//! The Databricks account both workspaces belong to: what crosses between
//! them. Storage is reachable from both regions (a `delta.`path`` clone reads
//! the primary's files), and Databricks-to-Databricks sharing makes a
//! recipient on one metastore appear as a provider on the other.

use std::collections::BTreeSet;
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
    /// Identities the account is known to have: every one that has called a
    /// workspace of the account (a user's name, a service principal's
    /// application id: Entra issued its token), one added by a test, and
    /// one a grant or owner change named once (`identities.rs`).
    identities: RwLock<BTreeSet<String>>,
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

    /// Records an identity that called a workspace of the account.
    pub(super) fn saw_identity(&self, name: &str) {
        if !self.identities.read().contains(name) {
            self.identities.write().insert(name.to_string());
        }
    }

    /// Adds an identity to the account (a group or user an account admin
    /// created), known to every metastore of it that did not forget it.
    pub fn add_principal(&self, name: &str) {
        self.saw_identity(name);
    }

    /// Whether an identity of that name is the account's (user names ignore case).
    pub fn knows_identity(&self, name: &str) -> bool {
        self.identities
            .read()
            .iter()
            .any(|known| known == name || known.eq_ignore_ascii_case(name) && name.contains('@'))
    }

    /// Every identity that has called.
    pub fn identities(&self) -> Vec<String> {
        self.identities.read().iter().cloned().collect()
    }

    /// The workspace whose metastore has this global id.
    pub fn by_global_id(&self, global_id: &str) -> Option<Arc<Workspace>> {
        self.workspaces().into_iter().find(|w| w.global_id == global_id)
    }
}
