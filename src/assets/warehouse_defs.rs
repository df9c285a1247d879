//! SQL warehouse definitions: the source's warehouses, by name, defined
//! alike in the target and left STOPPED there.
//!
//! Only definitions travel (size, scaling, auto stop, type, serverless). A
//! warehouse is matched by name; a missing one is created and then stopped
//! (a new warehouse starts at once, and a passive secondary should not pay
//! for it); a different one is edited with the whole definition and keeps
//! its power state (a running one is in use: drbot's own engine warehouse,
//! or people after a failover). Warehouses the caller names in `skip` (a
//! pair's engine warehouse on each side) are left alone.
//!
//! Permissions granted directly on a source warehouse are set on its copy
//! ([`super::grants`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use futures::future::BoxFuture;

use super::grants::{read_grants, Grants};
use super::kind::{ApplyError, AssetContext, AssetKind, Stage};
use super::mapping::AssetMapping;
use super::plan::{Change, PlanItem};
use super::sides::{Endpoints, Side};
use crate::databricks::permissions::ObjectGrant;
use crate::databricks::warehouses::{DefinedWarehouse, WarehouseDefinition};
use crate::databricks::DatabricksError;

pub const KIND: &str = "warehouse";
/// The Permissions API's name for warehouses.
const WAREHOUSES: &str = "warehouses";

/// What applying a warehouse item does (its payload).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WarehouseAction {
    /// Create, grant, then stop.
    Create { definition: WarehouseDefinition, grants: Vec<ObjectGrant> },
    /// Edit the definition when `edit`, and grant what is missing.
    Edit { id: String, definition: WarehouseDefinition, edit: bool, grants: Vec<ObjectGrant> },
}

fn differences(wanted: &WarehouseDefinition, have: &WarehouseDefinition) -> Vec<String> {
    let fields: [(&'static str, bool); 6] = [
        ("cluster_size", wanted.cluster_size != have.cluster_size),
        ("min_num_clusters", wanted.min_num_clusters != have.min_num_clusters),
        ("max_num_clusters", wanted.max_num_clusters != have.max_num_clusters),
        ("auto_stop_mins", wanted.auto_stop_mins != have.auto_stop_mins),
        ("warehouse_type", wanted.warehouse_type != have.warehouse_type),
        ("enable_serverless_compute", wanted.enable_serverless_compute != have.enable_serverless_compute),
    ];
    fields.iter().filter(|(_, differs)| *differs).map(|(name, _)| name.to_string()).collect()
}

/// The direct grants of every source warehouse (but those in `skip`) and
/// of their namesakes in the target.
pub async fn read_warehouse_grants(
    endpoints: Endpoints<'_>,
    source: &[DefinedWarehouse],
    target: &[DefinedWarehouse],
    skip: &BTreeSet<String>,
) -> Result<Grants, DatabricksError> {
    let wanted: BTreeSet<&str> =
        source.iter().filter(|w| !skip.contains(&w.id)).map(|w| w.definition.name.as_str()).collect();
    let source_ids = source.iter().filter(|w| !skip.contains(&w.id)).map(|w| w.id.clone()).collect();
    let target_ids = target
        .iter()
        .filter(|w| !skip.contains(&w.id) && wanted.contains(w.definition.name.as_str()))
        .map(|w| w.id.clone())
        .collect();
    read_grants(endpoints, WAREHOUSES, source_ids, target_ids).await
}

/// One item per source warehouse (but those in `skip`, by id on either
/// side), defining it alike in the target with its direct grants.
pub fn plan_warehouses(
    source: &[DefinedWarehouse],
    target: &[DefinedWarehouse],
    skip: &BTreeSet<String>,
    grants: &Grants,
    mapping: &AssetMapping,
) -> Vec<PlanItem> {
    let target: BTreeMap<&str, &DefinedWarehouse> = target.iter().map(|w| (w.definition.name.as_str(), w)).collect();
    let mut items = Vec::new();
    for wanted in source.iter().filter(|w| !skip.contains(&w.id)) {
        let name = wanted.definition.name.as_str();
        let item = match target.get(name) {
            None => {
                let definition = &wanted.definition;
                let detail = format!(
                    "{}, {}{}, left stopped",
                    definition.cluster_size,
                    definition.warehouse_type,
                    if definition.enable_serverless_compute { ", serverless" } else { "" }
                );
                PlanItem::named(KIND, name, Change::Create).with_detail(detail).with_payload(WarehouseAction::Create {
                    definition: definition.clone(),
                    grants: grants.missing(&wanted.id, None, mapping),
                })
            }
            Some(have) if skip.contains(&have.id) => PlanItem::named(
                KIND,
                name,
                Change::Blocked { reason: "the target's warehouse of this name is the pair's engine warehouse".into() },
            ),
            Some(have) => {
                let mut changed = differences(&wanted.definition, &have.definition);
                let edit = !changed.is_empty();
                let missing = grants.missing(&wanted.id, Some(&have.id), mapping);
                if !missing.is_empty() {
                    changed.push("permissions".into());
                }
                match changed.is_empty() {
                    true => PlanItem::named(KIND, name, Change::Unchanged),
                    false => PlanItem::named(KIND, name, Change::Update { fields: changed }).with_payload(
                        WarehouseAction::Edit {
                            id: have.id.clone(),
                            definition: wanted.definition.clone(),
                            edit,
                            grants: missing,
                        },
                    ),
                }
            }
        };
        items.push(item.holding_back(grants.held_back(&wanted.id, mapping)));
    }
    items
}

/// Applies one warehouse action. An edit is idempotent; a create whose
/// answer was lost leaves a warehouse the next plan finds by name.
async fn run(target: Side<'_>, action: &WarehouseAction) -> Result<(), DatabricksError> {
    match action {
        WarehouseAction::Create { definition, grants } => {
            let id = target.client.create_warehouse_as(target.token, definition).await?;
            if !grants.is_empty() {
                target.client.add_object_grants(target.token, WAREHOUSES, &id, grants).await?;
            }
            target.client.stop_warehouse(target.token, &id).await
        }
        WarehouseAction::Edit { id, definition, edit, grants } => {
            if *edit {
                target.client.edit_warehouse(target.token, id, definition).await?;
            }
            if !grants.is_empty() {
                target.client.add_object_grants(target.token, WAREHOUSES, id, grants).await?;
            }
            Ok(())
        }
    }
}

/// SQL warehouse definitions, by name (the pair's engine warehouses apart).
pub struct Warehouses;

impl AssetKind for Warehouses {
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
            let skip = &ctx.options.engine_warehouses;
            let read = async {
                let (source, target) = futures::try_join!(
                    ctx.primary.warehouse_definitions(&token),
                    ctx.secondary.warehouse_definitions(&token)
                )?;
                let grants = read_warehouse_grants(endpoints, &source, &target, skip)
                    .await?
                    .vet(&ctx.principals, endpoints.target, &ctx.mapping)
                    .await?;
                Ok::<_, DatabricksError>(plan_warehouses(&source, &target, skip, &grants, &ctx.mapping))
            };
            read.await.map_err(|e| e.to_string())
        })
    }

    fn apply<'a>(&'a self, ctx: &'a AssetContext<'a>, item: &'a PlanItem) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(async move {
            let action: WarehouseAction = item.payload_as().map_err(ApplyError::Failed)?;
            let action = &action;
            ctx.with_token(|token| async move { run(ctx.endpoints(&token).target, action).await }).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warehouse(id: &str, name: &str, size: &str) -> DefinedWarehouse {
        DefinedWarehouse {
            id: id.into(),
            state: "STOPPED".into(),
            definition: WarehouseDefinition {
                name: name.into(),
                cluster_size: size.into(),
                min_num_clusters: 1,
                max_num_clusters: 2,
                auto_stop_mins: 20,
                warehouse_type: "PRO".into(),
                enable_serverless_compute: true,
            },
        }
    }

    #[test]
    fn warehouses_are_created_or_edited_by_name_and_the_engine_is_left_alone() {
        let source = vec![
            warehouse("s1", "BI", "Medium"),
            warehouse("s2", "Ad hoc", "Small"),
            warehouse("s3", "Same", "Small"),
            warehouse("engine-p", "drbot", "Small"),
            warehouse("s5", "drbot-x", "Small"),
        ];
        let target = vec![
            warehouse("t1", "BI", "Small"),
            warehouse("t3", "Same", "Small"),
            warehouse("engine-s", "drbot-x", "Large"),
        ];
        let skip: BTreeSet<String> = ["engine-p".to_string(), "engine-s".to_string()].into();
        let grant = |who: &str, level: &str| ObjectGrant {
            principal_field: "group_name".into(),
            principal: who.into(),
            level: level.into(),
        };
        let grants = Grants {
            source: [
                ("s2".to_string(), vec![grant("analysts", "CAN_USE")]),
                ("s3".to_string(), vec![grant("analysts", "CAN_USE")]),
            ]
            .into(),
            target: [("t3".to_string(), vec![grant("analysts", "CAN_USE"), grant("admins", "CAN_MANAGE")])].into(),
            ..Grants::default()
        };
        let none = AssetMapping::default();
        let items = plan_warehouses(&source, &target, &skip, &grants, &none);
        let lines: Vec<String> =
            items.iter().filter(|i| i.change != Change::Unchanged).map(crate::assets::text::describe).collect();
        assert_eq!(
            lines,
            vec![
                "update warehouse BI: cluster_size".to_string(),
                "create warehouse Ad hoc: Small, PRO, serverless, left stopped".to_string(),
                "warehouse drbot-x: the target's warehouse of this name is the pair's engine warehouse".to_string(),
            ]
        );
        assert!(matches!(items[3].change, Change::Blocked { .. }));
        assert!(
            items.contains(&PlanItem::named(KIND, "Same", Change::Unchanged)),
            "grants only the target has are kept"
        );
        assert!(matches!(items[1].payload_as().unwrap(), WarehouseAction::Create { grants, .. } if grants.len() == 1));
        // A grant missing in the target is set, without editing the definition.
        let fewer =
            Grants { source: [("s3".to_string(), vec![grant("analysts", "CAN_USE")])].into(), ..Grants::default() };
        let items = plan_warehouses(&source[2..3], &target, &skip, &fewer, &none);
        assert_eq!(items[0].change, Change::Update { fields: vec!["permissions".into()] });
        assert!(matches!(items[0].payload_as().unwrap(), WarehouseAction::Edit { edit: false, .. }));
        let same = Grants { target: grants.source.clone(), ..grants };
        assert!(plan_warehouses(&source, &source, &skip, &same, &none).iter().all(|i| !i.is_action()));
    }
}
