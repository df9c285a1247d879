//! Every workspace asset kind of this part, read, planned and applied
//! together: notebooks, files and folders, git folders, cluster policies,
//! clusters, SQL warehouse definitions, secret scopes.
//!
//! Kinds are independent of each other except that folders come before the
//! git folders made inside them, and policies before the clusters under them; the plan is read in full before anything
//! runs, so a dry run is [`plan`] alone and lists exactly what [`apply`]
//! would do.

use std::collections::BTreeSet;

use super::cluster_defs::{apply_clusters, plan_clusters, read_cluster_grants, ClusterAction};
use super::outcome::{Endpoints, ObjectResult, Plan};
use super::policies::{apply_policies, plan_policies, read_policy_grants, PolicyAction};
use super::secret_scopes::{apply_scopes, plan_scopes, read_scopes, ScopeAction, VaultMap};
use super::warehouse_defs::{apply_warehouses, plan_warehouses, read_warehouse_grants, WarehouseAction};
use super::workspace_tree::{
    apply_git_folders, apply_tree, git_specs, plan_git_folders, plan_tree, read_tree, GitAction, TreeAction,
};
use crate::databricks::DatabricksError;

/// What to sync, and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Folders of the tree to copy (their contents, recursively).
    pub roots: Vec<String>,
    /// Warehouse ids left alone on either side (each side's engine warehouse).
    pub skip_warehouses: BTreeSet<String>,
    /// Where Key Vault-backed scopes point in the target.
    pub vaults: VaultMap,
}

impl Default for Options {
    fn default() -> Self {
        Options { roots: vec!["/".into()], skip_warehouses: BTreeSet::new(), vaults: VaultMap::default() }
    }
}

/// The plan of every kind.
#[derive(Clone, Debug, Default)]
pub struct WorkspacePlan {
    pub tree: Plan<TreeAction>,
    pub git_folders: Plan<GitAction>,
    pub policies: Plan<PolicyAction>,
    pub clusters: Plan<ClusterAction>,
    pub warehouses: Plan<WarehouseAction>,
    pub secret_scopes: Plan<ScopeAction>,
}

impl WorkspacePlan {
    /// How many actions would run (0: the target is in sync).
    pub fn action_count(&self) -> usize {
        self.tree.actions.len()
            + self.git_folders.actions.len()
            + self.policies.actions.len()
            + self.clusters.actions.len()
            + self.warehouses.actions.len()
            + self.secret_scopes.actions.len()
    }

    /// The plan a person reads: every action, then every blocked object.
    pub fn lines(&self) -> Vec<String> {
        [
            self.tree.lines(),
            self.git_folders.lines(),
            self.policies.lines(),
            self.clusters.lines(),
            self.warehouses.lines(),
            self.secret_scopes.lines(),
        ]
        .concat()
    }
}

/// Reads both workspaces and plans every kind. Reads fail whole: a plan
/// from half a read would propose what is already there.
pub async fn plan(endpoints: Endpoints<'_>, options: &Options) -> Result<WorkspacePlan, DatabricksError> {
    let (source, target) = (endpoints.source, endpoints.target);
    let (source_tree, target_tree) =
        futures::try_join!(read_tree(source, &options.roots), read_tree(target, &options.roots))?;
    let (source_git, target_git) =
        futures::try_join!(source.client.git_folders(source.token), target.client.git_folders(target.token))?;
    let (source_policies, target_policies) =
        futures::try_join!(source.client.cluster_policies(source.token), target.client.cluster_policies(target.token))?;
    let (source_clusters, target_clusters) =
        futures::try_join!(source.client.clusters(source.token), target.client.clusters(target.token))?;
    let (source_warehouses, target_warehouses) = futures::try_join!(
        source.client.warehouse_definitions(source.token),
        target.client.warehouse_definitions(target.token)
    )?;
    let (warehouse_grants, policy_grants, cluster_grants) = futures::try_join!(
        read_warehouse_grants(endpoints, &source_warehouses, &target_warehouses, &options.skip_warehouses),
        read_policy_grants(endpoints, &source_policies, &target_policies),
        read_cluster_grants(endpoints, &source_clusters, &target_clusters),
    )?;
    let source_scopes = read_scopes(source, None).await?;
    let target_scopes = read_scopes(target, Some(&source_scopes)).await?;
    Ok(WorkspacePlan {
        tree: plan_tree(&source_tree, &target_tree),
        git_folders: plan_git_folders(&git_specs(&source_git), &git_specs(&target_git)),
        clusters: plan_clusters(
            &source_clusters,
            &source_policies,
            &target_clusters,
            &target_policies,
            &cluster_grants,
        ),
        policies: plan_policies(&source_policies, &target_policies, &policy_grants),
        warehouses: plan_warehouses(
            &source_warehouses,
            &target_warehouses,
            &options.skip_warehouses,
            &warehouse_grants,
        ),
        secret_scopes: plan_scopes(&source_scopes, &target_scopes, &options.vaults),
    })
}

/// Runs the plan: the tree first (git folders live in its folders), then
/// the other kinds side by side. One result per object.
pub async fn apply(endpoints: Endpoints<'_>, plan: WorkspacePlan) -> Vec<ObjectResult> {
    let mut results = apply_tree(endpoints, plan.tree).await;
    let policies_then_clusters = async {
        let mut results = apply_policies(endpoints, plan.policies).await;
        results.extend(apply_clusters(endpoints, plan.clusters).await);
        results
    };
    let (git, policies, warehouses, scopes) = futures::join!(
        apply_git_folders(endpoints, plan.git_folders),
        policies_then_clusters,
        apply_warehouses(endpoints, plan.warehouses),
        apply_scopes(endpoints, plan.secret_scopes),
    );
    results.extend(git);
    results.extend(policies);
    results.extend(warehouses);
    results.extend(scopes);
    results
}
