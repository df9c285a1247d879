//! Cluster policies: the source's policies, by name, in the target.
//!
//! A policy is matched by name (unique in a workspace; ids differ between
//! workspaces). Definitions are JSON documents compared as JSON, so key
//! order and spacing are not differences. A missing policy is created, a
//! different one edited with the source's whole settings (edit replaces
//! them all). Direct grants (CAN_USE) follow ([`super::grants`]).
//! [`policy_ids`] maps source ids to target ids for the kinds that refer to
//! a policy (jobs, clusters).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::grants::{read_grants, Grants};
use super::outcome::{finished, run_all, Action, Endpoints, ObjectResult, Outcome, Plan};
use crate::databricks::permissions::ObjectGrant;
use crate::databricks::policies::{ClusterPolicy, PolicySettings};
use crate::databricks::DatabricksError;

const KIND: &str = "cluster policy";
/// The Permissions API's name for cluster policies.
const POLICIES: &str = "cluster-policies";

/// One step of the policies' plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyAction {
    Create { settings: PolicySettings, grants: Vec<ObjectGrant> },
    Edit { policy_id: String, settings: PolicySettings, changed: Vec<String>, grants: Vec<ObjectGrant> },
}

impl Action for PolicyAction {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn name(&self) -> String {
        match self {
            PolicyAction::Create { settings, .. } | PolicyAction::Edit { settings, .. } => settings.name.clone(),
        }
    }

    fn describe(&self) -> String {
        match self {
            PolicyAction::Create { .. } => "create".into(),
            PolicyAction::Edit { changed, .. } => format!("edit ({})", changed.join(", ")),
        }
    }

    fn changes(&self) -> Option<Vec<String>> {
        match self {
            PolicyAction::Create { .. } => None,
            PolicyAction::Edit { changed, .. } => Some(changed.clone()),
        }
    }
}

/// A JSON document as a value to compare (text that does not parse as itself).
fn document(text: &Option<String>) -> Option<Value> {
    text.as_ref().map(|t| serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.clone())))
}

/// The settings that differ, by field name.
fn differences(wanted: &PolicySettings, have: &PolicySettings) -> Vec<String> {
    let mut changed = Vec::new();
    // A family policy's definition is the family's, as the workspace renders it.
    if wanted.policy_family_id.is_none() && document(&wanted.definition) != document(&have.definition) {
        changed.push("definition".into());
    }
    if wanted.description != have.description {
        changed.push("description".into());
    }
    if wanted.max_clusters_per_user != have.max_clusters_per_user {
        changed.push("max_clusters_per_user".into());
    }
    if wanted.policy_family_id != have.policy_family_id {
        changed.push("policy_family_id".into());
    }
    if document(&wanted.policy_family_definition_overrides) != document(&have.policy_family_definition_overrides) {
        changed.push("policy_family_definition_overrides".into());
    }
    changed
}

/// What to send: a family policy's settings carry no definition.
fn to_send(settings: &PolicySettings) -> PolicySettings {
    let mut settings = settings.clone();
    if settings.policy_family_id.is_some() {
        settings.definition = None;
    }
    settings
}

/// The direct grants of every source policy and of its namesake in the target.
pub async fn read_policy_grants(
    endpoints: Endpoints<'_>,
    source: &[ClusterPolicy],
    target: &[ClusterPolicy],
) -> Result<Grants, DatabricksError> {
    let names: Vec<&str> = source.iter().map(|p| p.settings.name.as_str()).collect();
    let source_ids = source.iter().map(|p| p.policy_id.clone()).collect();
    let target_ids =
        target.iter().filter(|p| names.contains(&p.settings.name.as_str())).map(|p| p.policy_id.clone()).collect();
    read_grants(endpoints, POLICIES, source_ids, target_ids).await
}

pub fn plan_policies(source: &[ClusterPolicy], target: &[ClusterPolicy], grants: &Grants) -> Plan<PolicyAction> {
    let target: BTreeMap<&str, &ClusterPolicy> = target.iter().map(|p| (p.settings.name.as_str(), p)).collect();
    let mut plan = Plan::default();
    for wanted in source {
        let name = wanted.settings.name.as_str();
        match target.get(name) {
            None => plan.actions.push(PolicyAction::Create {
                settings: to_send(&wanted.settings),
                grants: grants.missing(&wanted.policy_id, None),
            }),
            Some(have) => {
                let mut changed = differences(&wanted.settings, &have.settings);
                let missing = grants.missing(&wanted.policy_id, Some(&have.policy_id));
                if !missing.is_empty() {
                    changed.push("permissions".into());
                }
                if changed.is_empty() {
                    plan.settled.push(ObjectResult::new(KIND, name, Outcome::Unchanged));
                } else {
                    plan.actions.push(PolicyAction::Edit {
                        policy_id: have.policy_id.clone(),
                        settings: to_send(&wanted.settings),
                        changed,
                        grants: missing,
                    });
                }
            }
        }
    }
    plan
}

/// Source policy id → target policy id, for policies of the same name.
pub fn policy_ids(source: &[ClusterPolicy], target: &[ClusterPolicy]) -> BTreeMap<String, String> {
    let by_name: BTreeMap<&str, &str> =
        target.iter().map(|p| (p.settings.name.as_str(), p.policy_id.as_str())).collect();
    source
        .iter()
        .filter_map(|p| by_name.get(p.settings.name.as_str()).map(|id| (p.policy_id.clone(), id.to_string())))
        .collect()
}

/// Runs one action of the plan (idempotent: running it twice leaves the
/// target as running it once).
pub async fn run_policy_action(endpoints: Endpoints<'_>, action: PolicyAction) -> ObjectResult {
    let target = endpoints.target;
    let name = action.name();
    let answer = match &action {
        PolicyAction::Create { settings, grants } => {
            async {
                let id = target.client.create_cluster_policy(target.token, settings).await?;
                if !grants.is_empty() {
                    target.client.add_object_grants(target.token, POLICIES, &id, grants).await?;
                }
                Ok(format!("created with {} grant(s)", grants.len()))
            }
            .await
        }
        PolicyAction::Edit { policy_id, settings, changed, grants } => {
            async {
                if changed.iter().any(|c| c != "permissions") {
                    target.client.edit_cluster_policy(target.token, policy_id, settings).await?;
                }
                if !grants.is_empty() {
                    target.client.add_object_grants(target.token, POLICIES, policy_id, grants).await?;
                }
                Ok(format!("edited ({})", changed.join(", ")))
            }
            .await
        }
    };
    finished(KIND, name, answer)
}

pub async fn apply_policies(endpoints: Endpoints<'_>, plan: Plan<PolicyAction>) -> Vec<ObjectResult> {
    run_all(plan, |action| run_policy_action(endpoints, action)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(id: &str, name: &str, definition: &str) -> ClusterPolicy {
        ClusterPolicy {
            policy_id: id.into(),
            settings: PolicySettings { name: name.into(), definition: Some(definition.into()), ..Default::default() },
        }
    }

    #[test]
    fn policies_are_matched_by_name_and_compared_as_json() {
        let source = vec![
            policy("s1", "Jobs", r#"{"a": {"type": "fixed", "value": 1}, "b": {"type": "unlimited"}}"#),
            policy("s2", "Small", r#"{"num_workers": {"type": "range", "maxValue": 4}}"#),
            policy("s3", "New", "{}"),
        ];
        let target = vec![
            policy("t1", "Jobs", r#"{"b":{"type":"unlimited"},"a":{"value":1,"type":"fixed"}}"#),
            policy("t2", "Small", r#"{"num_workers": {"type": "range", "maxValue": 2}}"#),
        ];
        let plan = plan_policies(&source, &target, &Grants::default());
        assert_eq!(plan.settled, vec![ObjectResult::new(KIND, "Jobs", Outcome::Unchanged)]);
        assert_eq!(
            plan.lines(),
            vec!["cluster policy Small: edit (definition)".to_string(), "cluster policy New: create".to_string()]
        );
        assert!(matches!(&plan.actions[0], PolicyAction::Edit { policy_id, .. } if policy_id == "t2"));
        assert_eq!(policy_ids(&source, &target), [("s1".into(), "t1".into()), ("s2".into(), "t2".into())].into());
        assert!(plan_policies(&source, &source, &Grants::default()).actions.is_empty());
    }

    #[test]
    fn a_family_policy_is_compared_by_its_overrides_not_the_rendered_definition() {
        let family = |definition: &str, overrides: &str| ClusterPolicy {
            policy_id: "p".into(),
            settings: PolicySettings {
                name: "Personal".into(),
                definition: Some(definition.into()),
                policy_family_id: Some("personal-vm".into()),
                policy_family_definition_overrides: Some(overrides.into()),
                ..Default::default()
            },
        };
        let source = vec![family(r#"{"x":1}"#, r#"{"y":2}"#)];
        assert!(plan_policies(&source, &[family(r#"{"x":9}"#, r#"{"y":2}"#)], &Grants::default()).actions.is_empty());
        let plan = plan_policies(&source, &[family(r#"{"x":1}"#, r#"{"y":3}"#)], &Grants::default());
        let PolicyAction::Edit { settings, .. } = &plan.actions[0] else { panic!("an edit") };
        assert_eq!(settings.definition, None, "a family policy is sent without a definition");
    }
}
