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
//! is left). Instance pools are not copied yet: a cluster on one is reported.
//! Direct grants (attach, restart, manage) follow ([`super::grants`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::grants::{read_grants, Grants};
use super::outcome::{finished, run_all, Action, Endpoints, ObjectResult, Outcome, Plan};
use crate::databricks::clusters::ClusterInfo;
use crate::databricks::permissions::ObjectGrant;
use crate::databricks::policies::ClusterPolicy;
use crate::databricks::DatabricksError;

const KIND: &str = "cluster";
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

/// One step of the clusters' plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterAction {
    /// Create, then terminate. `spec` has no `policy_id`: `policy` names it.
    Create { name: String, spec: Map<String, Value>, policy: Option<String>, grants: Vec<ObjectGrant> },
    Edit {
        name: String,
        cluster_id: String,
        spec: Map<String, Value>,
        policy: Option<String>,
        changed: Vec<String>,
        grants: Vec<ObjectGrant>,
    },
}

impl Action for ClusterAction {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn name(&self) -> String {
        match self {
            ClusterAction::Create { name, .. } | ClusterAction::Edit { name, .. } => name.clone(),
        }
    }

    fn describe(&self) -> String {
        match self {
            ClusterAction::Create { policy, .. } => format!(
                "create{}, left terminated",
                policy.as_ref().map(|p| format!(" under policy {p}")).unwrap_or_default()
            ),
            ClusterAction::Edit { changed, .. } => format!("edit ({})", changed.join(", ")),
        }
    }

    fn changes(&self) -> Option<Vec<String>> {
        match self {
            ClusterAction::Create { .. } => None,
            ClusterAction::Edit { changed, .. } => Some(changed.clone()),
        }
    }
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
    source_policies: &[ClusterPolicy],
    target: &[ClusterInfo],
    target_policies: &[ClusterPolicy],
    grants: &Grants,
) -> Plan<ClusterAction> {
    let target = by_name(target);
    let mut plan = Plan::default();
    let blocked = |name: &str, why: String| ObjectResult::new(KIND, name, Outcome::Blocked(why));
    for (name, wanted) in by_name(source) {
        let wanted = match wanted {
            Ok(wanted) => wanted,
            Err(count) => {
                plan.settled.push(blocked(&name, format!("{count} clusters share this name in the source")));
                continue;
            }
        };
        if wanted.spec.contains_key("instance_pool_id") || wanted.spec.contains_key("driver_instance_pool_id") {
            plan.settled.push(blocked(&name, "it runs on an instance pool; pools are not copied yet".into()));
            continue;
        }
        let (spec, policy) = match by_policy_name(&wanted.spec, source_policies) {
            Ok(named) => named,
            Err(why) => {
                plan.settled.push(blocked(&name, why));
                continue;
            }
        };
        match target.get(&name) {
            None => {
                let grants = grants.missing(&wanted.cluster_id, None);
                plan.actions.push(ClusterAction::Create { name, spec, policy, grants })
            }
            Some(Err(count)) => {
                plan.settled.push(blocked(&name, format!("{count} clusters share this name in the target")))
            }
            Some(Ok(have)) => {
                let (have_spec, have_policy) = by_policy_name(&have.spec, target_policies).unwrap_or_default();
                let mut changed: Vec<String> =
                    spec.iter().filter(|(k, v)| have_spec.get(*k) != Some(*v)).map(|(k, _)| k.clone()).collect();
                if have_policy != policy {
                    changed.push("policy_id".into());
                }
                let grants = grants.missing(&wanted.cluster_id, Some(&have.cluster_id));
                if !grants.is_empty() {
                    changed.push("permissions".into());
                }
                if changed.is_empty() {
                    plan.settled.push(ObjectResult::new(KIND, &name, Outcome::Unchanged));
                } else {
                    let cluster_id = have.cluster_id.clone();
                    plan.actions.push(ClusterAction::Edit { name, cluster_id, spec, policy, changed, grants });
                }
            }
        }
    }
    plan
}

/// The spec to send: the policy's name resolved to the target's id now.
async fn resolved(
    endpoints: Endpoints<'_>,
    spec: &Map<String, Value>,
    policy: &Option<String>,
) -> Result<Map<String, Value>, DatabricksError> {
    let mut spec = spec.clone();
    if let Some(name) = policy {
        let target = endpoints.target;
        let policies = target.client.cluster_policies(target.token).await?;
        let Some(found) = policies.iter().find(|p| &p.settings.name == name) else {
            return Err(DatabricksError::NotFound(format!("cluster policy {name} is not in the target yet")));
        };
        spec.insert("policy_id".into(), Value::String(found.policy_id.clone()));
    }
    Ok(spec)
}

/// Runs one action of the plan (idempotent: running it twice leaves the
/// target as running it once).
pub async fn run_cluster_action(endpoints: Endpoints<'_>, action: ClusterAction) -> ObjectResult {
    let target = endpoints.target;
    let name = action.name();
    let answer = match &action {
        ClusterAction::Create { spec, policy, grants, .. } => {
            async {
                let spec = resolved(endpoints, spec, policy).await?;
                let id = target.client.create_cluster(target.token, &spec).await?;
                if !grants.is_empty() {
                    target.client.add_object_grants(target.token, CLUSTERS, &id, grants).await?;
                }
                target.client.terminate_cluster(target.token, &id).await?;
                Ok(format!("created with {} grant(s), terminated", grants.len()))
            }
            .await
        }
        ClusterAction::Edit { cluster_id, spec, policy, changed, grants, .. } => {
            async {
                if changed.iter().any(|c| c != "permissions") {
                    let spec = resolved(endpoints, spec, policy).await?;
                    target.client.edit_cluster(target.token, cluster_id, &spec).await?;
                }
                if !grants.is_empty() {
                    target.client.add_object_grants(target.token, CLUSTERS, cluster_id, grants).await?;
                }
                Ok(format!("edited ({})", changed.join(", ")))
            }
            .await
        }
    };
    finished(KIND, name, answer)
}

pub async fn apply_clusters(endpoints: Endpoints<'_>, plan: Plan<ClusterAction>) -> Vec<ObjectResult> {
    run_all(plan, |action| run_cluster_action(endpoints, action)).await
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
        ];
        let (source_policies, target_policies) = (vec![policy("P1", "Jobs")], vec![policy("Q1", "Jobs")]);
        let plan = plan_clusters(&source, &source_policies, &target, &target_policies, &Grants::default());
        assert_eq!(
            plan.lines(),
            vec![
                "cluster A: create under policy Jobs, left terminated".to_string(),
                "cluster B: edit (autotermination_minutes)".to_string(),
                "cluster Pool: blocked, it runs on an instance pool; pools are not copied yet".to_string(),
                "cluster Twice: blocked, 2 clusters share this name in the source".to_string(),
            ]
        );
        assert!(plan.settled.contains(&ObjectResult::new(KIND, "Same", Outcome::Unchanged)));
        let ClusterAction::Create { spec, .. } = &plan.actions[0] else { panic!("a create") };
        assert!(!spec.contains_key("policy_id"), "the policy is resolved by name when applied");
        // Under another policy in the target: edited.
        let other = vec![policy("Q1", "Other")];
        let plan = plan_clusters(&source[6..], &source_policies, &target, &other, &Grants::default());
        assert_eq!(plan.lines(), vec!["cluster Same: edit (policy_id)".to_string()]);
    }
}
