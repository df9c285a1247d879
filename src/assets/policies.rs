//! Cluster policies: the source's policies, by name, in the target.
//!
//! A policy is matched by name (unique in a workspace; ids differ between
//! workspaces). Definitions are JSON documents compared as JSON, so key
//! order and spacing are not differences. A missing policy is created, a
//! different one edited with the source's whole settings (edit replaces
//! them all). Direct grants (CAN_USE) follow ([`super::grants`]). Policies
//! are applied before the clusters under them ([`Stage::Containers`]).
//! [`policy_ids`] maps source ids to target ids for the kinds that refer to
//! a policy (jobs, clusters).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use futures::future::BoxFuture;

use super::grants::{read_grants, Grants};
use super::kind::{ApplyError, AssetContext, AssetKind, Stage};
use super::mapping::AssetMapping;
use super::plan::{Change, PlanItem};
use super::sides::{Endpoints, Side};
use crate::databricks::permissions::ObjectGrant;
use crate::databricks::policies::{ClusterPolicy, PolicySettings};
use crate::databricks::DatabricksError;

pub const KIND: &str = "cluster policy";
/// The Permissions API's name for cluster policies.
const POLICIES: &str = "cluster-policies";

/// What applying a policy item does (its payload).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyAction {
    Create {
        settings: PolicySettings,
        grants: Vec<ObjectGrant>,
    },
    /// `edit` names what to edit: the settings, and whether grants are missing.
    Edit {
        policy_id: String,
        settings: PolicySettings,
        edit: bool,
        grants: Vec<ObjectGrant>,
    },
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

pub fn plan_policies(
    source: &[ClusterPolicy],
    target: &[ClusterPolicy],
    grants: &Grants,
    mapping: &AssetMapping,
) -> Vec<PlanItem> {
    let target: BTreeMap<&str, &ClusterPolicy> = target.iter().map(|p| (p.settings.name.as_str(), p)).collect();
    let mut items = Vec::new();
    for wanted in source {
        let name = wanted.settings.name.as_str();
        let item = match target.get(name) {
            None => PlanItem::named(KIND, name, Change::Create).with_payload(PolicyAction::Create {
                settings: to_send(&wanted.settings),
                grants: grants.missing(&wanted.policy_id, None, mapping),
            }),
            Some(have) => {
                let mut changed = differences(&wanted.settings, &have.settings);
                let edit = !changed.is_empty();
                let missing = grants.missing(&wanted.policy_id, Some(&have.policy_id), mapping);
                if !missing.is_empty() {
                    changed.push("permissions".into());
                }
                match changed.is_empty() {
                    true => PlanItem::named(KIND, name, Change::Unchanged),
                    false => PlanItem::named(KIND, name, Change::Update { fields: changed }).with_payload(
                        PolicyAction::Edit {
                            policy_id: have.policy_id.clone(),
                            settings: to_send(&wanted.settings),
                            edit,
                            grants: missing,
                        },
                    ),
                }
            }
        };
        items.push(item.holding_back(grants.held_back(&wanted.policy_id, mapping)));
    }
    items
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

/// Applies one policy action (idempotent: applying it twice leaves the
/// target as applying it once).
async fn run(target: Side<'_>, action: &PolicyAction) -> Result<(), DatabricksError> {
    let (id, grants) = match action {
        PolicyAction::Create { settings, grants } => {
            (target.client.create_cluster_policy(target.token, settings).await?, grants)
        }
        PolicyAction::Edit { policy_id, settings, edit, grants } => {
            if *edit {
                target.client.edit_cluster_policy(target.token, policy_id, settings).await?;
            }
            (policy_id.clone(), grants)
        }
    };
    if !grants.is_empty() {
        target.client.add_object_grants(target.token, POLICIES, &id, grants).await?;
    }
    Ok(())
}

/// Cluster policies, by name.
pub struct Policies;

impl AssetKind for Policies {
    fn name(&self) -> &'static str {
        KIND
    }

    fn stage(&self, _item: &PlanItem) -> Stage {
        Stage::Containers
    }

    fn plan<'a>(&'a self, ctx: &'a AssetContext<'a>) -> BoxFuture<'a, Result<Vec<PlanItem>, String>> {
        Box::pin(async move {
            let token = ctx.token(false).await?;
            let endpoints = ctx.endpoints(&token);
            let read = async {
                let (source, target) =
                    futures::try_join!(ctx.primary.cluster_policies(&token), ctx.secondary.cluster_policies(&token))?;
                let grants = read_policy_grants(endpoints, &source, &target)
                    .await?
                    .vet(&ctx.principals, endpoints.target, &ctx.mapping)
                    .await?;
                Ok::<_, DatabricksError>(plan_policies(&source, &target, &grants, &ctx.mapping))
            };
            read.await.map_err(|e| e.to_string())
        })
    }

    fn apply<'a>(&'a self, ctx: &'a AssetContext<'a>, item: &'a PlanItem) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(async move {
            let action: PolicyAction = item.payload_as().map_err(ApplyError::Failed)?;
            let action = &action;
            ctx.with_token(|token| async move { run(ctx.endpoints(&token).target, action).await }).await
        })
    }
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

    fn lines(items: &[PlanItem]) -> Vec<String> {
        items.iter().filter(|i| i.is_action()).map(super::super::text::describe).collect()
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
        let none = AssetMapping::default();
        let items = plan_policies(&source, &target, &Grants::default(), &none);
        assert_eq!(items[0], PlanItem::named(KIND, "Jobs", Change::Unchanged));
        assert_eq!(
            lines(&items),
            vec!["update cluster policy Small: definition".to_string(), "create cluster policy New".to_string()]
        );
        assert!(
            matches!(items[1].payload_as().unwrap(), PolicyAction::Edit { policy_id, edit: true, .. } if policy_id == "t2")
        );
        assert_eq!(policy_ids(&source, &target), [("s1".into(), "t1".into()), ("s2".into(), "t2".into())].into());
        assert!(plan_policies(&source, &source, &Grants::default(), &none).iter().all(|i| !i.is_action()));
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
        let none = AssetMapping::default();
        let source = vec![family(r#"{"x":1}"#, r#"{"y":2}"#)];
        let same = plan_policies(&source, &[family(r#"{"x":9}"#, r#"{"y":2}"#)], &Grants::default(), &none);
        assert_eq!(same[0].change, Change::Unchanged);
        let items = plan_policies(&source, &[family(r#"{"x":1}"#, r#"{"y":3}"#)], &Grants::default(), &none);
        let PolicyAction::Edit { settings, .. } = items[0].payload_as().unwrap() else { panic!("an edit") };
        assert_eq!(settings.definition, None, "a family policy is sent without a definition");
    }
}
