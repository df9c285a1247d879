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

use super::grants::{read_grants, Grants};
use super::outcome::{finished, run_all, Action, Endpoints, ObjectResult, Outcome, Plan};
use crate::databricks::permissions::ObjectGrant;
use crate::databricks::warehouses::{DefinedWarehouse, WarehouseDefinition};
use crate::databricks::DatabricksError;

const KIND: &str = "warehouse";
/// The Permissions API's name for warehouses.
const WAREHOUSES: &str = "warehouses";

/// One step of the warehouses' plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WarehouseAction {
    /// Create, grant, then stop.
    Create { definition: WarehouseDefinition, grants: Vec<ObjectGrant> },
    /// Edit (when a definition field changed) and grant what is missing;
    /// `changed` names `permissions` when grants are missing.
    Edit { id: String, definition: WarehouseDefinition, changed: Vec<String>, grants: Vec<ObjectGrant> },
}

impl Action for WarehouseAction {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn name(&self) -> String {
        match self {
            WarehouseAction::Create { definition, .. } | WarehouseAction::Edit { definition, .. } => {
                definition.name.clone()
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            WarehouseAction::Create { definition, .. } => format!(
                "create ({}, {}{}), left stopped",
                definition.cluster_size,
                definition.warehouse_type,
                if definition.enable_serverless_compute { ", serverless" } else { "" }
            ),
            WarehouseAction::Edit { changed, .. } => format!("edit ({})", changed.join(", ")),
        }
    }

    fn changes(&self) -> Option<Vec<String>> {
        match self {
            WarehouseAction::Create { .. } => None,
            WarehouseAction::Edit { changed, .. } => Some(changed.clone()),
        }
    }
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

/// The plan that defines every source warehouse (but those in `skip`, by
/// id on either side) alike in the target, with its direct grants.
pub fn plan_warehouses(
    source: &[DefinedWarehouse],
    target: &[DefinedWarehouse],
    skip: &BTreeSet<String>,
    grants: &Grants,
) -> Plan<WarehouseAction> {
    let target: BTreeMap<&str, &DefinedWarehouse> = target.iter().map(|w| (w.definition.name.as_str(), w)).collect();
    let mut plan = Plan::default();
    for wanted in source.iter().filter(|w| !skip.contains(&w.id)) {
        let name = wanted.definition.name.as_str();
        match target.get(name) {
            None => plan.actions.push(WarehouseAction::Create {
                definition: wanted.definition.clone(),
                grants: grants.missing(&wanted.id, None),
            }),
            Some(have) if skip.contains(&have.id) => plan.settled.push(ObjectResult::new(
                KIND,
                name,
                Outcome::Blocked("the target's warehouse of this name is the pair's engine warehouse".into()),
            )),
            Some(have) => {
                let mut changed = differences(&wanted.definition, &have.definition);
                let missing = grants.missing(&wanted.id, Some(&have.id));
                if !missing.is_empty() {
                    changed.push("permissions".into());
                }
                if changed.is_empty() {
                    plan.settled.push(ObjectResult::new(KIND, name, Outcome::Unchanged));
                } else {
                    plan.actions.push(WarehouseAction::Edit {
                        id: have.id.clone(),
                        definition: wanted.definition.clone(),
                        changed,
                        grants: missing,
                    });
                }
            }
        }
    }
    plan
}

/// Runs one action of the plan (idempotent: running it twice leaves the
/// target as running it once).
pub async fn run_warehouse_action(endpoints: Endpoints<'_>, action: WarehouseAction) -> ObjectResult {
    let target = endpoints.target;
    let name = action.name();
    let answer = match &action {
        WarehouseAction::Create { definition, grants } => {
            async {
                let id = target.client.create_warehouse_as(target.token, definition).await?;
                if !grants.is_empty() {
                    target.client.add_object_grants(target.token, WAREHOUSES, &id, grants).await?;
                }
                target.client.stop_warehouse(target.token, &id).await?;
                Ok(format!("created with {} grant(s), stopped", grants.len()))
            }
            .await
        }
        WarehouseAction::Edit { id, definition, changed, grants } => {
            async {
                if changed.iter().any(|c| c != "permissions") {
                    target.client.edit_warehouse(target.token, id, definition).await?;
                }
                if !grants.is_empty() {
                    target.client.add_object_grants(target.token, WAREHOUSES, id, grants).await?;
                }
                Ok(format!("edited ({})", changed.join(", ")))
            }
            .await
        }
    };
    finished(KIND, name, answer)
}

pub async fn apply_warehouses(endpoints: Endpoints<'_>, plan: Plan<WarehouseAction>) -> Vec<ObjectResult> {
    run_all(plan, |action| run_warehouse_action(endpoints, action)).await
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
        };
        let plan = plan_warehouses(&source, &target, &skip, &grants);
        assert_eq!(
            plan.lines(),
            vec![
                "warehouse BI: edit (cluster_size)".to_string(),
                "warehouse Ad hoc: create (Small, PRO, serverless), left stopped".to_string(),
                "warehouse drbot-x: blocked, the target's warehouse of this name is the pair's engine warehouse"
                    .to_string(),
            ]
        );
        assert!(
            plan.settled.contains(&ObjectResult::new(KIND, "Same", Outcome::Unchanged)),
            "grants only the target has are kept"
        );
        assert!(matches!(&plan.actions[1], WarehouseAction::Create { grants, .. } if grants.len() == 1));
        // A grant missing in the target is set, without editing the definition.
        let fewer =
            Grants { source: [("s3".to_string(), vec![grant("analysts", "CAN_USE")])].into(), ..Grants::default() };
        let plan = plan_warehouses(&source[2..3], &target, &skip, &fewer);
        assert_eq!(plan.lines(), vec!["warehouse Same: edit (permissions)".to_string()]);
        let same = Grants { target: grants.source.clone(), ..grants };
        assert!(plan_warehouses(&source, &source, &skip, &same).actions.is_empty());
    }
}
