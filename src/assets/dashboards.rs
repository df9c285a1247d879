//! AI/BI (Lakeview) dashboards as an asset kind: each primary dashboard
//! has one copy at the same path in the secondary (folder mapped as the pair
//! says; a path holds one object, so the path finds the copy).
//!
//! The copy has the primary's draft (its serialized contents and name) on
//! the secondary's warehouse of the same name ([`super::warehouse_refs`]),
//! and is published when the primary's is (with the same choice of embedded
//! credentials): the copied draft is what the secondary publishes, as the
//! API publishes a draft, not another workspace's revision. A draft that
//! changed is published again. Direct permissions follow
//! ([`super::grants`]). Dashboards only the secondary has are left alone, and
//! a copy the primary no longer publishes stays published.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::grants::{read_grants, Grants};
use super::kind::{ApplyError, AssetContext, AssetKind, Stage};
use super::mapping::AssetMapping;
use super::plan::{Change, PlanItem};
use super::sides::{Side, READS};
use super::warehouse_refs::{resolve, WarehouseNames, WarehouseRef};
use crate::databricks::lakeview::{DashboardDraft, PublishedDashboard};
use crate::databricks::permissions::ObjectGrant;
use crate::databricks::DatabricksError;

pub const KIND: &str = "dashboard";
/// The Permissions API's name for AI/BI dashboards.
const DASHBOARDS: &str = "dashboards";

/// A dashboard as read: its draft and what is published of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadDashboard {
    pub draft: DashboardDraft,
    pub published: Option<PublishedDashboard>,
}

/// What applying a dashboard item does (its payload).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardAction {
    /// The copy to update; `None`: create it at the draft's path.
    pub id: Option<String>,
    /// The draft to write, its warehouse unset: `warehouse` names it.
    pub draft: DashboardDraft,
    /// Whether to write the draft (a create always does).
    pub write: bool,
    pub warehouse: Option<WarehouseRef>,
    /// Publish it afterwards, with or without embedded credentials.
    pub publish: Option<bool>,
    pub grants: Vec<ObjectGrant>,
}

/// Two serialized dashboards alike: the same JSON (spacing and key order
/// apart), or the same text when either is not JSON.
fn same_contents(a: &str, b: &str) -> bool {
    match (serde_json::from_str::<Value>(a), serde_json::from_str::<Value>(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// One item per primary dashboard (pure).
pub fn plan_dashboards(
    source: &[ReadDashboard],
    target: &[ReadDashboard],
    warehouses: &WarehouseNames,
    grants: &Grants,
    mapping: &AssetMapping,
) -> Vec<PlanItem> {
    let target: BTreeMap<String, &ReadDashboard> = target.iter().map(|d| (d.draft.path(), d)).collect();
    let mut items = Vec::new();
    for read in source {
        let source_draft = &read.draft;
        let held_back = grants.held_back(&source_draft.dashboard_id, mapping);
        let named = |change| {
            PlanItem { key: source_draft.dashboard_id.clone(), ..PlanItem::named(KIND, &source_draft.path(), change) }
                .holding_back(held_back.clone())
        };
        let warehouse = match source_draft.warehouse_id.as_deref() {
            None | Some("") => None,
            Some(id) => match warehouses.target_of(id, mapping) {
                Ok(warehouse) => Some((warehouse, warehouses.name_of(id).unwrap_or(id).to_string())),
                Err(reason) => {
                    items.push(named(Change::Blocked { reason }));
                    continue;
                }
            },
        };
        let draft = DashboardDraft {
            dashboard_id: String::new(),
            display_name: source_draft.display_name.clone(),
            parent_path: mapping.path(source_draft.parent_path.trim_end_matches('/')),
            warehouse_id: None,
            serialized_dashboard: source_draft.serialized_dashboard.clone(),
        };
        let publish = read.published.as_ref().map(|p| p.embed_credentials);
        let (warehouse, warehouse_name) = warehouse.map_or((None, None), |(w, n)| (Some(w), Some(n)));
        let Some(have) = target.get(&draft.path()) else {
            let detail =
                [warehouse_name.map(|n| format!("on warehouse {n}")), publish.map(|_| "published".to_string())]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ");
            let grants = grants.missing(&source_draft.dashboard_id, None, mapping);
            let action = DashboardAction { id: None, draft, write: true, warehouse, publish, grants };
            items.push(named(Change::Create).with_payload(action).with_detail(detail));
            continue;
        };
        let mut fields = Vec::new();
        if !same_contents(&draft.serialized_dashboard, &have.draft.serialized_dashboard) {
            fields.push("serialized_dashboard".to_string());
        }
        if warehouse.as_ref().is_some_and(|w| w.id() != have.draft.warehouse_id.as_deref()) {
            fields.push("warehouse_id".to_string());
        }
        let write = !fields.is_empty();
        let published_differs = match (publish, &have.published) {
            (Some(embed), Some(theirs)) => write || theirs.embed_credentials != embed,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if published_differs {
            fields.push("published".to_string());
        }
        let missing = grants.missing(&source_draft.dashboard_id, Some(&have.draft.dashboard_id), mapping);
        if !missing.is_empty() {
            fields.push("permissions".to_string());
        }
        if fields.is_empty() {
            items.push(named(Change::Unchanged));
            continue;
        }
        let action = DashboardAction {
            id: Some(have.draft.dashboard_id.clone()),
            draft,
            write,
            warehouse,
            publish: publish.filter(|_| published_differs),
            grants: missing,
        };
        items.push(named(Change::Update { fields }).with_payload(action));
    }
    items
}

/// A side's dashboards read whole; with `names`, only those of these names.
async fn read_side(side: Side<'_>, names: Option<&BTreeSet<String>>) -> Result<Vec<ReadDashboard>, DatabricksError> {
    let listed = side.client.dashboards(side.token).await?;
    let wanted = listed.into_iter().filter(|d| names.is_none_or(|names| names.contains(&d.display_name)));
    let read: Vec<Result<ReadDashboard, DatabricksError>> = futures::stream::iter(wanted)
        .map(|listed| async move {
            let (draft, published) = futures::try_join!(
                side.client.dashboard(side.token, &listed.dashboard_id),
                side.client.published_dashboard(side.token, &listed.dashboard_id)
            )?;
            Ok(ReadDashboard { draft: DashboardDraft { dashboard_id: listed.dashboard_id, ..draft }, published })
        })
        .buffered(READS)
        .collect()
        .await;
    read.into_iter().collect()
}

/// The target's dashboard at `path`, if any.
async fn find(target: Side<'_>, draft: &DashboardDraft) -> Result<Option<String>, DatabricksError> {
    let names = BTreeSet::from([draft.display_name.clone()]);
    let found = read_side(target, Some(&names)).await?;
    Ok(found.into_iter().find(|d| d.draft.path() == draft.path()).map(|d| d.draft.dashboard_id))
}

/// Applies one action; `Ok(Err(why))` when the target lacks its warehouse.
/// A create whose answer was lost is found at its path and updated.
async fn run(target: Side<'_>, action: &DashboardAction) -> Result<Result<(), String>, DatabricksError> {
    let mut draft = action.draft.clone();
    if let Some(warehouse) = &action.warehouse {
        match resolve(target, warehouse).await? {
            Ok(id) => draft.warehouse_id = Some(id),
            Err(why) => return Ok(Err(why)),
        }
    }
    let id = match &action.id {
        Some(id) => {
            if action.write {
                target.client.update_dashboard(target.token, id, &draft).await?;
            }
            id.clone()
        }
        None => match target.client.create_dashboard(target.token, &draft).await {
            Ok(id) => id,
            Err(DatabricksError::AlreadyExists(message)) => match find(target, &draft).await? {
                Some(id) => {
                    target.client.update_dashboard(target.token, &id, &draft).await?;
                    id
                }
                None => return Err(DatabricksError::AlreadyExists(message)),
            },
            Err(other) => return Err(other),
        },
    };
    if let Some(embed) = action.publish {
        target.client.publish_dashboard(target.token, &id, embed).await?;
    }
    if !action.grants.is_empty() {
        target.client.add_object_grants(target.token, DASHBOARDS, &id, &action.grants).await?;
    }
    Ok(Ok(()))
}

/// AI/BI dashboards, by path.
pub struct Dashboards;

impl AssetKind for Dashboards {
    fn name(&self) -> &'static str {
        KIND
    }

    fn stage(&self, _item: &PlanItem) -> Stage {
        Stage::Queries
    }

    fn plan<'a>(&'a self, ctx: &'a AssetContext<'a>) -> BoxFuture<'a, Result<Vec<PlanItem>, String>> {
        Box::pin(async move {
            let token = ctx.token(false).await?;
            let endpoints = ctx.endpoints(&token);
            let read = async {
                let (source, source_warehouses, target_warehouses) = futures::try_join!(
                    read_side(endpoints.source, None),
                    ctx.primary.warehouse_definitions(&token),
                    ctx.secondary.warehouse_definitions(&token),
                )?;
                let names: BTreeSet<String> = source.iter().map(|d| d.draft.display_name.clone()).collect();
                let target = read_side(endpoints.target, Some(&names)).await?;
                let ids = |read: &[ReadDashboard]| read.iter().map(|d| d.draft.dashboard_id.clone()).collect();
                let grants = read_grants(endpoints, DASHBOARDS, ids(&source), ids(&target))
                    .await?
                    .vet(&ctx.principals, endpoints.target, &ctx.mapping)
                    .await?;
                let warehouses =
                    WarehouseNames::new(&source_warehouses, &target_warehouses, &ctx.options.engine_warehouses);
                Ok::<_, DatabricksError>(plan_dashboards(&source, &target, &warehouses, &grants, &ctx.mapping))
            };
            read.await.map_err(|e| e.to_string())
        })
    }

    fn apply<'a>(&'a self, ctx: &'a AssetContext<'a>, item: &'a PlanItem) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(async move {
            let action: DashboardAction = item.payload_as().map_err(ApplyError::Failed)?;
            let action = &action;
            ctx.with_token(|token| async move { run(ctx.endpoints(&token).target, action).await })
                .await?
                .map_err(ApplyError::Blocked)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::databricks::warehouses::{DefinedWarehouse, WarehouseDefinition};

    fn read(id: &str, name: &str, warehouse: &str, contents: &str, published: Option<bool>) -> ReadDashboard {
        ReadDashboard {
            draft: DashboardDraft {
                dashboard_id: id.into(),
                display_name: name.into(),
                parent_path: "/Shared/sales".into(),
                warehouse_id: Some(warehouse.into()),
                serialized_dashboard: contents.into(),
            },
            published: published.map(|embed_credentials| PublishedDashboard { embed_credentials, warehouse_id: None }),
        }
    }

    fn warehouse(id: &str, name: &str) -> DefinedWarehouse {
        DefinedWarehouse {
            id: id.into(),
            state: "STOPPED".into(),
            definition: WarehouseDefinition { name: name.into(), ..Default::default() },
        }
    }

    #[test]
    fn dashboards_are_created_published_and_updated_by_path() {
        let warehouses = WarehouseNames::new(&[warehouse("p-bi", "BI")], &[warehouse("s-bi", "BI")], &BTreeSet::new());
        let source = vec![
            read("d1", "Overview", "p-bi", r#"{"pages": [1]}"#, Some(false)),
            read("d2", "Same", "p-bi", r#"{"a": 1, "b": 2}"#, Some(true)),
            read("d3", "Edited", "p-bi", r#"{"v": 2}"#, Some(false)),
            read("d4", "Draft only", "p-bi", "{}", None),
            read("d5", "Elsewhere", "p-gone", "{}", None),
        ];
        let target = vec![
            read("t2", "Same", "s-bi", r#"{"b": 2, "a": 1}"#, Some(true)),
            read("t3", "Edited", "s-bi", r#"{"v": 1}"#, Some(false)),
            read("t4", "Draft only", "s-bi", "{}", Some(false)),
        ];
        let none = AssetMapping::default();
        let items = plan_dashboards(&source, &target, &warehouses, &Grants::default(), &none);
        let lines: Vec<String> = items.iter().map(crate::assets::text::describe).collect();
        assert_eq!(
            lines,
            vec![
                "create dashboard /Shared/sales/Overview.lvdash.json (primary d1): on warehouse BI, published"
                    .to_string(),
                "dashboard /Shared/sales/Same.lvdash.json is up to date".to_string(),
                "update dashboard /Shared/sales/Edited.lvdash.json (primary d3): serialized_dashboard, published"
                    .to_string(),
                "dashboard /Shared/sales/Draft only.lvdash.json is up to date".to_string(),
                "dashboard /Shared/sales/Elsewhere.lvdash.json (primary d5): its SQL warehouse p-gone is not in the \
                 primary"
                    .to_string(),
            ]
        );
        let create: DashboardAction = items[0].payload_as().unwrap();
        assert_eq!((create.warehouse, create.publish), (Some(WarehouseRef::Id("s-bi".into())), Some(false)));
        let edited: DashboardAction = items[2].payload_as().unwrap();
        assert_eq!((edited.id.as_deref(), edited.write, edited.publish), (Some("t3"), true, Some(false)));
    }
}
