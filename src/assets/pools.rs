//! Instance pools as an asset kind: the primary's pools, by name, defined
//! alike in the secondary (definitions only: a pool keeps no instances warm
//! there unless its `min_idle_instances` says so, as in the primary).
//!
//! A pool is matched by name (unique in a workspace; ids differ). Only the
//! fields the primary sets are compared (Databricks fills defaults on read).
//! A missing pool is created; a different one is edited when only editable
//! fields differ (name, node type, tags, idle termination, capacity, idle
//! instances), and reported otherwise: the Instance Pools API fixes a pool's
//! Azure attributes, disks and preloaded runtimes when it is made, and drbot
//! does not delete. Direct grants (attach, manage) follow, principals mapped
//! ([`super::grants`]). Pools come before the clusters on them
//! ([`Stage::Containers`]): a cluster names its pool by name across
//! workspaces ([`super::cluster_defs`]).

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::grants::{read_grants, Grants};
use super::kind::{ApplyError, AssetContext, AssetKind, Stage};
use super::mapping::AssetMapping;
use super::plan::{Change, PlanItem};
use super::sides::Side;
use crate::databricks::instance_pools::{InstancePool, EDITABLE};
use crate::databricks::permissions::ObjectGrant;
use crate::databricks::DatabricksError;

pub const KIND: &str = "instance pool";
/// The Permissions API's name for instance pools.
pub const POOLS: &str = "instance-pools";

/// What applying a pool item does (its payload).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolAction {
    Create {
        spec: Map<String, Value>,
        grants: Vec<ObjectGrant>,
    },
    /// Edit the editable fields when `edit`, and grant what is missing.
    Edit {
        instance_pool_id: String,
        spec: Map<String, Value>,
        edit: bool,
        grants: Vec<ObjectGrant>,
    },
}

/// One item per primary pool (pure).
pub fn plan_pools(
    source: &[InstancePool],
    target: &[InstancePool],
    grants: &Grants,
    mapping: &AssetMapping,
) -> Vec<PlanItem> {
    let target: BTreeMap<&str, &InstancePool> = target.iter().map(|p| (p.name(), p)).collect();
    let mut items = Vec::new();
    for wanted in source {
        let name = wanted.name();
        let item = match target.get(name) {
            None => PlanItem::named(KIND, name, Change::Create)
                .with_detail(format!(
                    "{}, at most {} instances",
                    wanted.spec.get("node_type_id").and_then(Value::as_str).unwrap_or("?"),
                    wanted.spec.get("max_capacity").map_or("unlimited".to_string(), Value::to_string)
                ))
                .with_payload(PoolAction::Create {
                    spec: wanted.spec.clone(),
                    grants: grants.missing(&wanted.instance_pool_id, None, mapping),
                }),
            Some(have) => {
                let mut changed: Vec<String> =
                    wanted.spec.iter().filter(|(k, v)| have.spec.get(*k) != Some(*v)).map(|(k, _)| k.clone()).collect();
                let fixed: Vec<&String> = changed.iter().filter(|f| !EDITABLE.contains(&f.as_str())).collect();
                if !fixed.is_empty() {
                    let fixed: Vec<&str> = fixed.iter().map(|f| f.as_str()).collect();
                    let reason = format!(
                        "the secondary's pool differs in {}, which cannot be edited: delete it there to have it re-created",
                        fixed.join(", ")
                    );
                    items.push(PlanItem::named(KIND, name, Change::Blocked { reason }));
                    continue;
                }
                let edit = !changed.is_empty();
                let missing = grants.missing(&wanted.instance_pool_id, Some(&have.instance_pool_id), mapping);
                if !missing.is_empty() {
                    changed.push("permissions".into());
                }
                match changed.is_empty() {
                    true => PlanItem::named(KIND, name, Change::Unchanged),
                    false => {
                        PlanItem::named(KIND, name, Change::Update { fields: changed }).with_payload(PoolAction::Edit {
                            instance_pool_id: have.instance_pool_id.clone(),
                            spec: wanted.spec.clone(),
                            edit,
                            grants: missing,
                        })
                    }
                }
            }
        };
        items.push(item.holding_back(grants.held_back(&wanted.instance_pool_id, mapping)));
    }
    items
}

/// Applies one pool action. An edit is idempotent; a create whose answer
/// was lost leaves a pool the next plan finds by name (names are unique, so
/// a retried create is refused rather than doubled).
async fn run(target: Side<'_>, action: &PoolAction) -> Result<(), DatabricksError> {
    let (id, grants) = match action {
        PoolAction::Create { spec, grants } => (target.client.create_instance_pool(target.token, spec).await?, grants),
        PoolAction::Edit { instance_pool_id, spec, edit, grants } => {
            if *edit {
                target.client.edit_instance_pool(target.token, instance_pool_id, spec).await?;
            }
            (instance_pool_id.clone(), grants)
        }
    };
    if !grants.is_empty() {
        target.client.add_object_grants(target.token, POOLS, &id, grants).await?;
    }
    Ok(())
}

/// Instance pools, by name.
pub struct InstancePools;

impl AssetKind for InstancePools {
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
                    futures::try_join!(ctx.primary.instance_pools(&token), ctx.secondary.instance_pools(&token))?;
                let names: Vec<&str> = source.iter().map(InstancePool::name).collect();
                let source_ids = source.iter().map(|p| p.instance_pool_id.clone()).collect();
                let target_ids =
                    target.iter().filter(|p| names.contains(&p.name())).map(|p| p.instance_pool_id.clone()).collect();
                let grants = read_grants(endpoints, POOLS, source_ids, target_ids)
                    .await?
                    .vet(&ctx.principals, endpoints.target, &ctx.mapping)
                    .await?;
                Ok::<_, DatabricksError>(plan_pools(&source, &target, &grants, &ctx.mapping))
            };
            read.await.map_err(|e| e.to_string())
        })
    }

    fn apply<'a>(&'a self, ctx: &'a AssetContext<'a>, item: &'a PlanItem) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(async move {
            let action: PoolAction = item.payload_as().map_err(ApplyError::Failed)?;
            let action = &action;
            ctx.with_token(|token| async move { run(ctx.endpoints(&token).target, action).await }).await
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pool(id: &str, spec: Value) -> InstancePool {
        let Value::Object(spec) = spec else { panic!("an object") };
        InstancePool { instance_pool_id: id.into(), spec }
    }

    #[test]
    fn pools_are_created_edited_or_reported_by_name() {
        let source = vec![
            pool("s1", json!({"instance_pool_name": "Warm", "node_type_id": "D4", "max_capacity": 20})),
            pool("s2", json!({"instance_pool_name": "New", "node_type_id": "E8", "max_capacity": 40})),
            pool(
                "s3",
                json!({"instance_pool_name": "Spot", "node_type_id": "E8",
                               "azure_attributes": {"availability": "SPOT_AZURE"}}),
            ),
            pool("s4", json!({"instance_pool_name": "Same", "node_type_id": "D4"})),
        ];
        let target = vec![
            pool("t1", json!({"instance_pool_name": "Warm", "node_type_id": "D4", "max_capacity": 8})),
            pool(
                "t3",
                json!({"instance_pool_name": "Spot", "node_type_id": "E8",
                               "azure_attributes": {"availability": "ON_DEMAND_AZURE"}}),
            ),
            pool(
                "t4",
                json!({"instance_pool_name": "Same", "node_type_id": "D4",
                               "idle_instance_autotermination_minutes": 60}),
            ),
        ];
        let none = AssetMapping::default();
        let items = plan_pools(&source, &target, &Grants::default(), &none);
        let described: Vec<String> = items.iter().map(crate::assets::text::describe).collect();
        assert_eq!(
            described,
            vec![
                "update instance pool Warm: max_capacity".to_string(),
                "create instance pool New: E8, at most 40 instances".to_string(),
                "instance pool Spot: the secondary's pool differs in azure_attributes, which cannot be edited: \
                 delete it there to have it re-created"
                    .to_string(),
                "instance pool Same is up to date".to_string(),
            ]
        );
        assert!(
            matches!(items[0].payload_as().unwrap(), PoolAction::Edit { instance_pool_id, edit: true, .. } if instance_pool_id == "t1")
        );
        assert!(plan_pools(&source, &source, &Grants::default(), &none).iter().all(|i| !i.is_action()));
    }
}
