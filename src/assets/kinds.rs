//! The asset kinds this build replicates. The order they are applied in is
//! each item's [`super::kind::Stage`] (what others refer to first); within a
//! stage, the order here. A new kind is one line here.

use super::cluster_defs::Clusters;
use super::dashboards::Dashboards;
use super::git_folders::GitFolders;
use super::jobs::Jobs;
use super::kind::AssetKind;
use super::policies::Policies;
use super::pools::InstancePools;
use super::secret_scopes::SecretScopes;
use super::sql_objects::SqlQueries;
use super::warehouse_defs::Warehouses;
use super::workspace_tree::WorkspaceTree;

/// Every kind.
pub fn registered() -> Vec<&'static dyn AssetKind> {
    vec![
        &WorkspaceTree,
        &GitFolders,
        &Policies,
        &InstancePools,
        &Clusters,
        &Warehouses,
        &SecretScopes,
        &SqlQueries,
        &Dashboards,
        &Jobs,
    ]
}
