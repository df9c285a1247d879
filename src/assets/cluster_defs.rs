//! All-purpose clusters' definitions: the source's clusters (made by people
//! or the API, not the ephemeral ones jobs and pipelines make), by name,
//! defined alike in the target and left TERMINATED there.
//!
//! A cluster is matched by name; a name two clusters share (Databricks
//! allows it) is reported rather than guessed. A missing cluster is created
//! and then terminated (a new cluster starts at once); a different one is
//! edited with the whole spec and keeps its state. A cluster policy is
//! referred to by name across workspaces: the plan compares policy names,
//! and the apply finds the target's policy of that name when it runs, so a
//! policy the same run creates is found. Only the fields the source sets are
//! compared (Databricks fills defaults on read; a field only the target has
//! is left). Instance pools are referred to by name the same way: a
//! cluster on a pool (workers, driver or both) is created on the target's
//! pool of the same name, found when applied (pools are their own kind,
//! [`super::pools`], applied in an earlier stage, so a pool the same run
//! creates is found); the node types are the pool's, so they are neither
//! sent nor compared. A policy or pool the target still lacks when the
//! cluster is applied blocks it, named. Direct grants (attach, restart,
//! manage) follow ([`super::grants`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use futures::future::BoxFuture;

use super::grants::{read_grants, Grants};
use super::kind::{ApplyError, AssetContext, AssetKind, Stage};
use super::mapping::AssetMapping;
use super::plan::{Change, PlanItem};
use super::sides::{Endpoints, Side};
use crate::databricks::clusters::ClusterInfo;
use crate::databricks::instance_pools::InstancePool;
use crate::databricks::permissions::ObjectGrant;
use crate::databricks::policies::ClusterPolicy;
use crate::databricks::DatabricksError;

pub const KIND: &str = "cluster";
/// The Permissions API's name for clusters.
const CLUSTERS: &str = "clusters";

/// Clusters people define (the others are made and dropped by jobs,
/// pipelines and model serving).
fn is_definition(cluster: &ClusterInfo) -> bool {
    matches!(cluster.cluster_source.as_str(), "UI" | "API" | "")
}

/// A spec with its policy named rather than numbered, and the policy's name.
fn by_policy_name(
    spec: &Map<String, Value>,
    policies: &[ClusterPolicy],
) -> Result<(Map<String, Value>, Option<String>), String> {
    let mut spec = spec.clone();
    let Some(policy_id) = spec.remove("policy_id") else { return Ok((spec, None)) };
    let id = policy_id.as_str().unwrap_or_default();
    match policies.iter().find(|p| p.policy_id == id) {
        Some(policy) => Ok((spec, Some(policy.settings.name.clone()))),
        None => Err(format!("its cluster policy {id} is not readable")),
    }
}

/// Each spec field naming an instance pool, and the node type field that
/// pool decides.
const POOL_FIELDS: [(&str, &str); 2] =
    [("instance_pool_id", "node_type_id"), ("driver_instance_pool_id", "driver_node_type_id")];

/// Pool field → the pool's name.
pub type PoolNames = BTreeMap<String, String>;

/// A spec with its pools named rather than numbered (the node types the
/// pools decide left out), and the pools' names.
fn by_pool_name(spec: &mut Map<String, Value>, pools: &[InstancePool]) -> Result<PoolNames, String> {
    let mut named = PoolNames::new();
    for (pool_field, node_field) in POOL_FIELDS {
        let Some(id) = spec.remove(pool_field) else { continue };
        spec.remove(node_field);
        let id = id.as_str().unwrap_or_default();
        match pools.iter().find(|p| p.instance_pool_id == id) {
            Some(pool) => named.insert(pool_field.to_string(), pool.name().to_string()),
            None => return Err(format!("its instance pool {id} is not readable")),
        };
    }
    Ok(named)
}

/// A spec without policy and pool ids, the policy's name and the pools'.
type NamedSpec = (Map<String, Value>, Option<String>, PoolNames);

/// A spec with its policy and pools named, and their names.
fn by_names(
    spec: &Map<String, Value>,
    policies: &[ClusterPolicy],
    pools: &[InstancePool],
) -> Result<NamedSpec, String> {
    let (mut spec, policy) = by_policy_name(spec, policies)?;
    let pools = by_pool_name(&mut spec, pools)?;
    Ok((spec, policy, pools))
}

/// What applying a cluster item does (its payload). `spec` has no
/// `policy_id` nor pool ids: `policy` and `pools` name them, found in the
/// target when applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterAction {
    /// Create, grant, then terminate.
    Create {
        spec: Map<String, Value>,
        policy: Option<String>,
        #[serde(default)]
        pools: PoolNames,
        grants: Vec<ObjectGrant>,
    },
    /// Edit with the whole spec when `edit`, and grant what is missing.
    Edit {
        cluster_id: String,
        spec: Map<String, Value>,
        policy: Option<String>,
        #[serde(default)]
        pools: PoolNames,
        edit: bool,
        grants: Vec<ObjectGrant>,
    },
}

/// The source's and the target's policies and pools, read to name them.
pub struct Named<'a> {
    pub source_policies: &'a [ClusterPolicy],
    pub source_pools: &'a [InstancePool],
    pub target_policies: &'a [ClusterPolicy],
    pub target_pools: &'a [InstancePool],
}

/// Definitions by name; a name with several clusters maps to `Err(count)`.
fn by_name(clusters: &[ClusterInfo]) -> BTreeMap<String, Result<&ClusterInfo, usize>> {
    let mut named: BTreeMap<String, Result<&ClusterInfo, usize>> = BTreeMap::new();
    for cluster in clusters.iter().filter(|c| is_definition(c)) {
        named
            .entry(cluster.name().to_string())
            .and_modify(|e| *e = Err(e.as_ref().map_or_else(|n| n + 1, |_| 2)))
            .or_insert(Ok(cluster));
    }
    named
}

/// The direct grants of every source definition and of its namesake in the target.
pub async fn read_cluster_grants(
    endpoints: Endpoints<'_>,
    source: &[ClusterInfo],
    target: &[ClusterInfo],
) -> Result<Grants, DatabricksError> {
    let names: Vec<&str> = source.iter().filter(|c| is_definition(c)).map(ClusterInfo::name).collect();
    let source_ids = source.iter().filter(|c| is_definition(c)).map(|c| c.cluster_id.clone()).collect();
    let target_ids =
        target.iter().filter(|c| is_definition(c) && names.contains(&c.name())).map(|c| c.cluster_id.clone()).collect();
    read_grants(endpoints, CLUSTERS, source_ids, target_ids).await
}

pub fn plan_clusters(
    source: &[ClusterInfo],
    target: &[ClusterInfo],
    named: &Named<'_>,
    grants: &Grants,
    mapping: &AssetMapping,
) -> Vec<PlanItem> {
    let target = by_name(target);
    let mut items = Vec::new();
    let blocked = |name: &str, reason: String| PlanItem::named(KIND, name, Change::Blocked { reason });
    for (name, wanted) in by_name(source) {
        let wanted = match wanted {
            Ok(wanted) => wanted,
            Err(count) => {
                items.push(blocked(&name, format!("{count} clusters share this name in the source")));
                continue;
            }
        };
        let (spec, policy, pools) = match by_names(&wanted.spec, named.source_policies, named.source_pools) {
            Ok(named) => named,
            Err(why) => {
                items.push(blocked(&name, why));
                continue;
            }
        };
        let item =
            match target.get(&name) {
                None => {
                    let grants = grants.missing(&wanted.cluster_id, None, mapping);
                    let (workers, driver) = (pools.get("instance_pool_id"), pools.get("driver_instance_pool_id"));
                    let on_pools = match (workers, driver) {
                        (Some(w), Some(d)) if w != d => format!("on pool {w} (driver on {d}), "),
                        (Some(pool), _) | (None, Some(pool)) => format!("on pool {pool}, "),
                        (None, None) => String::new(),
                    };
                    let detail = format!(
                        "{}{on_pools}left terminated",
                        policy.as_ref().map(|p| format!("under policy {p}, ")).unwrap_or_default(),
                    );
                    PlanItem::named(KIND, &name, Change::Create)
                        .with_detail(detail)
                        .with_payload(ClusterAction::Create { spec, policy, pools, grants })
                }
                Some(Err(count)) => blocked(&name, format!("{count} clusters share this name in the target")),
                Some(Ok(have)) => {
                    let (have_spec, have_policy, have_pools) =
                        by_names(&have.spec, named.target_policies, named.target_pools).unwrap_or_default();
                    let mut changed: Vec<String> =
                        spec.iter().filter(|(k, v)| have_spec.get(*k) != Some(*v)).map(|(k, _)| k.clone()).collect();
                    if have_policy != policy {
                        changed.push("policy_id".into());
                    }
                    for (field, _) in POOL_FIELDS {
                        if have_pools.get(field) != pools.get(field) {
                            changed.push(field.to_string());
                        }
                    }
                    let edit = !changed.is_empty();
                    let grants = grants.missing(&wanted.cluster_id, Some(&have.cluster_id), mapping);
                    if !grants.is_empty() {
                        changed.push("permissions".into());
                    }
                    match changed.is_empty() {
                        true => PlanItem::named(KIND, &name, Change::Unchanged),
                        false => {
                            let cluster_id = have.cluster_id.clone();
                            PlanItem::named(KIND, &name, Change::Update { fields: changed })
                                .with_payload(ClusterAction::Edit { cluster_id, spec, policy, pools, edit, grants })
                        }
                    }
                }
            };
        items.push(item.holding_back(grants.held_back(&wanted.cluster_id, mapping)));
    }
    items
}

/// The spec to send: the policy's and pools' names resolved to the
/// target's ids now; `Err` names what the target lacks.
async fn resolved(
    target: Side<'_>,
    spec: &Map<String, Value>,
    policy: &Option<String>,
    pools: &PoolNames,
) -> Result<Result<Map<String, Value>, String>, DatabricksError> {
    let mut spec = spec.clone();
    if let Some(name) = policy {
        let policies = target.client.cluster_policies(target.token).await?;
        let Some(found) = policies.iter().find(|p| &p.settings.name == name) else {
            return Ok(Err(format!("its cluster policy {name} is not in the secondary")));
        };
        spec.insert("policy_id".into(), Value::String(found.policy_id.clone()));
    }
    if !pools.is_empty() {
        let available = target.client.instance_pools(target.token).await?;
        for (field, name) in pools {
            let Some(found) = available.iter().find(|p| p.name() == name) else {
                return Ok(Err(format!("its instance pool {name} is not in the secondary")));
            };
            spec.insert(field.clone(), Value::String(found.instance_pool_id.clone()));
        }
    }
    Ok(Ok(spec))
}

/// Applies one cluster action; `Ok(Err(why))` when the target lacks a
/// policy or pool it names. An edit is idempotent; the Clusters API takes
/// no idempotency token for a create, so a create whose answer was lost
/// leaves a cluster the next plan finds by name (and reports, should a
/// retry have made a second).
async fn run(target: Side<'_>, action: &ClusterAction) -> Result<Result<(), String>, DatabricksError> {
    match action {
        ClusterAction::Create { spec, policy, pools, grants } => {
            let spec = match resolved(target, spec, policy, pools).await? {
                Ok(spec) => spec,
                Err(why) => return Ok(Err(why)),
            };
            let id = target.client.create_cluster(target.token, &spec).await?;
            if !grants.is_empty() {
                target.client.add_object_grants(target.token, CLUSTERS, &id, grants).await?;
            }
            target.client.terminate_cluster(target.token, &id).await.map(Ok)
        }
        ClusterAction::Edit { cluster_id, spec, policy, pools, edit, grants } => {
            if *edit {
                let spec = match resolved(target, spec, policy, pools).await? {
                    Ok(spec) => spec,
                    Err(why) => return Ok(Err(why)),
                };
                target.client.edit_cluster(target.token, cluster_id, &spec).await?;
            }
            if !grants.is_empty() {
                target.client.add_object_grants(target.token, CLUSTERS, cluster_id, grants).await?;
            }
            Ok(Ok(()))
        }
    }
}

/// All-purpose clusters' definitions, by name.
pub struct Clusters;

impl AssetKind for Clusters {
    fn name(&self) -> &'static str {
        KIND
    }

    fn stage(&self, _item: &PlanItem) -> Stage {
        Stage::Compute
    }

    fn plan<'a>(&'a self, ctx: &'a AssetContext<'a>) -> BoxFuture<'a, Result<Vec<PlanItem>, String>> {
        Box::pin(async move {
            let token = ctx.token(false).await?;
            let endpoints = ctx.endpoints(&token);
            let read = async {
                let (source, target, source_policies, target_policies, source_pools, target_pools) = futures::try_join!(
                    ctx.primary.clusters(&token),
                    ctx.secondary.clusters(&token),
                    ctx.primary.cluster_policies(&token),
                    ctx.secondary.cluster_policies(&token),
                    ctx.primary.instance_pools(&token),
                    ctx.secondary.instance_pools(&token)
                )?;
                let grants = read_cluster_grants(endpoints, &source, &target)
                    .await?
                    .vet(&ctx.principals, endpoints.target, &ctx.mapping)
                    .await?;
                let named = Named {
                    source_policies: &source_policies,
                    source_pools: &source_pools,
                    target_policies: &target_policies,
                    target_pools: &target_pools,
                };
                Ok::<_, DatabricksError>(plan_clusters(&source, &target, &named, &grants, &ctx.mapping))
            };
            read.await.map_err(|e| e.to_string())
        })
    }

    fn apply<'a>(&'a self, ctx: &'a AssetContext<'a>, item: &'a PlanItem) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(async move {
            let action: ClusterAction = item.payload_as().map_err(ApplyError::Failed)?;
            let action = &action;
            ctx.with_token(|token| async move { run(ctx.endpoints(&token).target, action).await })
                .await?
                .map_err(ApplyError::Blocked)
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::databricks::policies::PolicySettings;

    fn cluster(id: &str, source: &str, spec: Value) -> ClusterInfo {
        let Value::Object(spec) = spec else { panic!("an object") };
        ClusterInfo { cluster_id: id.into(), cluster_source: source.into(), state: "TERMINATED".into(), spec }
    }

    fn policy(id: &str, name: &str) -> ClusterPolicy {
        ClusterPolicy { policy_id: id.into(), settings: PolicySettings { name: name.into(), ..Default::default() } }
    }

    fn pool(id: &str, name: &str) -> InstancePool {
        let Value::Object(spec) = json!({"instance_pool_name": name, "node_type_id": "D4"}) else { unreachable!() };
        InstancePool { instance_pool_id: id.into(), spec }
    }

    #[test]
    fn clusters_are_matched_by_name_with_policies_by_name() {
        let source = vec![
            cluster("s1", "UI", json!({"cluster_name": "A", "num_workers": 2, "policy_id": "P1"})),
            cluster("s2", "API", json!({"cluster_name": "B", "num_workers": 2, "autotermination_minutes": 30})),
            cluster("s3", "JOB", json!({"cluster_name": "job-run", "num_workers": 1})),
            cluster("s4", "UI", json!({"cluster_name": "Twice", "num_workers": 1})),
            cluster("s5", "UI", json!({"cluster_name": "Twice", "num_workers": 1})),
            cluster("s6", "UI", json!({"cluster_name": "Pool", "num_workers": 1, "instance_pool_id": "x"})),
            cluster("s7", "UI", json!({"cluster_name": "Same", "num_workers": 1, "policy_id": "P1"})),
            cluster("s8", "UI", json!({"cluster_name": "Gone pool", "num_workers": 1, "instance_pool_id": "gone"})),
            cluster(
                "s9",
                "UI",
                json!({"cluster_name": "Pooled", "num_workers": 1, "instance_pool_id": "x", "node_type_id": "D4",
                       "driver_instance_pool_id": "x", "driver_node_type_id": "D4"}),
            ),
        ];
        let target = vec![
            cluster(
                "t2",
                "UI",
                json!({"cluster_name": "B", "num_workers": 2, "autotermination_minutes": 120, "enable_elastic_disk": true}),
            ),
            cluster(
                "t7",
                "UI",
                json!({"cluster_name": "Same", "num_workers": 1, "policy_id": "Q1", "enable_elastic_disk": true}),
            ),
            cluster(
                "t9",
                "UI",
                json!({"cluster_name": "Pooled", "num_workers": 1, "instance_pool_id": "y", "node_type_id": "D4",
                       "driver_instance_pool_id": "z", "driver_node_type_id": "D4"}),
            ),
        ];
        let (source_policies, target_policies) = (vec![policy("P1", "Jobs")], vec![policy("Q1", "Jobs")]);
        let (source_pools, target_pools) = (vec![pool("x", "Warm")], vec![pool("y", "Warm"), pool("z", "Other")]);
        let named = Named {
            source_policies: &source_policies,
            source_pools: &source_pools,
            target_policies: &target_policies,
            target_pools: &target_pools,
        };
        let none = AssetMapping::default();
        let items = plan_clusters(&source, &target, &named, &Grants::default(), &none);
        let lines: Vec<String> =
            items.iter().filter(|i| i.change != Change::Unchanged).map(crate::assets::text::describe).collect();
        assert_eq!(
            lines,
            vec![
                "create cluster A: under policy Jobs, left terminated".to_string(),
                "update cluster B: autotermination_minutes".to_string(),
                "cluster Gone pool: its instance pool gone is not readable".to_string(),
                "create cluster Pool: on pool Warm, left terminated".to_string(),
                "update cluster Pooled: driver_instance_pool_id".to_string(),
                "cluster Twice: 2 clusters share this name in the source".to_string(),
            ]
        );
        assert!(matches!(items[2].change, Change::Blocked { .. }));
        // A pooled cluster names its pools; the node types are the pools' own.
        let ClusterAction::Create { spec, pools, .. } = items[3].payload_as().unwrap() else { panic!("a create") };
        assert_eq!(pools, PoolNames::from([("instance_pool_id".to_string(), "Warm".to_string())]));
        assert!(!spec.contains_key("instance_pool_id") && !spec.contains_key("node_type_id"));
        assert!(items.contains(&PlanItem::named(KIND, "Same", Change::Unchanged)));
        let ClusterAction::Create { spec, .. } = items[0].payload_as().unwrap() else { panic!("a create") };
        assert!(!spec.contains_key("policy_id"), "the policy is resolved by name when applied");
        // Under another policy in the target: edited.
        let other = vec![policy("Q1", "Other")];
        let named = Named { target_policies: &other, ..named };
        let items = plan_clusters(&source[6..7], &target, &named, &Grants::default(), &none);
        assert_eq!(items[0].change, Change::Update { fields: vec!["policy_id".into()] });
    }
}
