//! Databricks SQL queries and alerts as an asset kind: each primary query
//! and alert has one copy in the secondary, in the same folder (paths
//! mapped as the pair says) under the same name, which is how it is found
//! (Databricks refuses a second object of one name in a folder; ids are the
//! workspace's own).
//!
//! A copy carries the object's definition: a query's text, parameters,
//! catalog and schema, tags, run-as mode; an alert's condition, messages
//! and re-trigger time. A query's warehouse is the secondary's of the same
//! name ([`super::warehouse_refs`]); an alert's query is the copy of its
//! primary query, found by folder and name when the alert is applied (queries
//! are applied in an earlier stage, so one the same run creates is found).
//! The owner is the primary's, mapped; direct permissions follow
//! ([`super::grants`]). Only the fields the primary sets are compared, and
//! an update sends only the fields that differ (the APIs' `update_mask`).
//! Objects only the secondary has are left alone.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::grants::{read_grants, Grants};
use super::kind::{ApplyError, AssetContext, AssetKind, Stage};
use super::mapping::AssetMapping;
use super::plan::{Change, PlanItem};
use super::principals::held_back;
use super::sides::{Side, READS};
use super::warehouse_refs::{resolve, WarehouseNames, WarehouseRef};
use crate::databricks::permissions::ObjectGrant;
use crate::databricks::scim::PrincipalKind;
use crate::databricks::sql_objects::{text, SqlObject, SqlObjects};
use crate::databricks::DatabricksError;

/// The item kinds.
pub const QUERY: &str = "query";
pub const ALERT: &str = "alert";

/// What a copy carries of each (the folder, warehouse, query and owner apart).
const QUERY_FIELDS: &[&str] = &[
    "display_name",
    "query_text",
    "description",
    "catalog",
    "schema",
    "parameters",
    "tags",
    "run_as_mode",
    "apply_auto_limit",
];
const ALERT_FIELDS: &[&str] =
    &["display_name", "condition", "custom_subject", "custom_body", "notify_on_ok", "seconds_to_retrigger"];

/// The plan's name for a difference in direct permissions.
const PERMISSIONS: &str = "permissions";

/// Where an object is, which is how its copy is found: folder and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Place {
    pub parent_path: String,
    pub display_name: String,
}

impl Place {
    fn of(object: &SqlObject) -> Place {
        Place {
            parent_path: text(object, "parent_path").trim_end_matches('/').to_string(),
            display_name: text(object, "display_name").to_string(),
        }
    }

    fn path(&self) -> String {
        format!("{}/{}", self.parent_path, self.display_name)
    }
}

/// The secondary's query an alert runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryRef {
    Id(String),
    /// The copy this run makes, found by its place when applied.
    Placed(Place),
}

/// One side's queries and alerts, each read whole (with its folder).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SqlRead {
    pub queries: Vec<SqlObject>,
    pub alerts: Vec<SqlObject>,
}

/// What applying a query or alert item does (its payload).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SqlAction {
    /// The copy to update; `None`: create one in `parent_path`.
    pub id: Option<String>,
    pub parent_path: String,
    /// The definition fields to set (every one the primary sets, for a create).
    pub definition: SqlObject,
    /// The fields that differ (an update's mask).
    pub fields: Vec<String>,
    #[serde(default)]
    pub warehouse: Option<WarehouseRef>,
    #[serde(default)]
    pub query: Option<QueryRef>,
    /// The owner the copy must have.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub grants: Vec<ObjectGrant>,
}

/// What planning reads besides the objects.
pub struct SqlContext<'a> {
    pub warehouses: &'a WarehouseNames,
    pub query_grants: &'a Grants,
    pub alert_grants: &'a Grants,
    /// Owners (as the secondary names them) the secondary does not have:
    /// their objects keep whoever creates the copy as owner.
    pub absent_owners: &'a BTreeSet<String>,
    pub mapping: &'a AssetMapping,
}

/// The target's objects by place; a place two objects share maps to `None`.
fn by_place(objects: &[SqlObject]) -> BTreeMap<Place, Option<&SqlObject>> {
    let mut placed: BTreeMap<Place, Option<&SqlObject>> = BTreeMap::new();
    for object in objects {
        placed.entry(Place::of(object)).and_modify(|found| *found = None).or_insert(Some(object));
    }
    placed
}

/// The copy's place for a primary object.
fn mapped(object: &SqlObject, mapping: &AssetMapping) -> Place {
    let place = Place::of(object);
    Place { parent_path: mapping.path(&place.parent_path), ..place }
}

/// The definition fields the primary sets.
fn definition(object: &SqlObject, fields: &[&str]) -> SqlObject {
    fields.iter().filter_map(|f| object.get(*f).filter(|v| !v.is_null()).map(|v| (f.to_string(), v.clone()))).collect()
}

/// One item: a create, or an update of what differs, or unchanged.
#[allow(clippy::too_many_arguments)]
fn item(
    kind: &str,
    object: &SqlObject,
    place: &Place,
    have: Option<&SqlObject>,
    wanted: SqlObject,
    warehouse: Option<(WarehouseRef, &str)>,
    query: Option<QueryRef>,
    grants: &Grants,
    ctx: &SqlContext<'_>,
) -> PlanItem {
    let mapping = ctx.mapping;
    let id = text(object, "id");
    let name = Place::of(object).path();
    let owner = Some(text(object, "owner_user_name")).filter(|o| !o.is_empty()).map(|o| mapping.principal(o));
    let mut absent = grants.absent_of(id, mapping);
    if let Some(owner) = owner.as_ref().filter(|o| ctx.absent_owners.contains(*o)) {
        absent.insert(owner.clone());
    }
    let owner = owner.filter(|o| !ctx.absent_owners.contains(o));
    let held_back = held_back(&absent.iter().map(String::as_str).collect());
    let named = |change| {
        PlanItem { key: id.to_string(), ..PlanItem::named(kind, &name, change) }.holding_back(held_back.clone())
    };
    let (warehouse, warehouse_name) = warehouse.map_or((None, None), |(w, n)| (Some(w), Some(n)));
    let Some(have) = have else {
        let action = SqlAction {
            id: None,
            parent_path: place.parent_path.clone(),
            fields: wanted.keys().cloned().collect(),
            definition: wanted,
            warehouse,
            query,
            owner,
            grants: grants.missing(id, None, mapping),
        };
        let detail = warehouse_name.map(|n| format!("on warehouse {n}")).unwrap_or_default();
        return named(Change::Create).with_payload(action).with_detail(detail);
    };
    let mut fields: Vec<String> =
        wanted.iter().filter(|(f, v)| have.get(*f) != Some(*v)).map(|(f, _)| f.clone()).collect();
    if warehouse.as_ref().is_some_and(|w| w.id() != Some(text(have, "warehouse_id"))) {
        fields.push("warehouse_id".into());
    }
    let query_differs = match &query {
        Some(QueryRef::Id(query)) => query != text(have, "query_id"),
        Some(QueryRef::Placed(_)) => true,
        None => false,
    };
    if query_differs {
        fields.push("query_id".into());
    }
    if owner.as_deref().is_some_and(|o| !o.eq_ignore_ascii_case(text(have, "owner_user_name"))) {
        fields.push("owner_user_name".into());
    }
    let missing = grants.missing(id, Some(text(have, "id")), mapping);
    if !missing.is_empty() {
        fields.push(PERMISSIONS.into());
    }
    if fields.is_empty() {
        return named(Change::Unchanged);
    }
    let action = SqlAction {
        id: Some(text(have, "id").to_string()),
        parent_path: place.parent_path.clone(),
        definition: wanted,
        fields: fields.clone(),
        warehouse,
        query,
        owner,
        grants: missing,
    };
    named(Change::Update { fields }).with_payload(action)
}

/// One item per primary query and alert (pure).
pub fn plan_sql(source: &SqlRead, target: &SqlRead, ctx: &SqlContext<'_>) -> Vec<PlanItem> {
    let mapping = ctx.mapping;
    let target_queries = by_place(&target.queries);
    let target_alerts = by_place(&target.alerts);
    let blocked = |kind: &str, object: &SqlObject, reason: String| PlanItem {
        key: text(object, "id").to_string(),
        ..PlanItem::named(kind, &Place::of(object).path(), Change::Blocked { reason })
    };
    let mut items = Vec::new();
    // The secondary's query for each primary query id, or why there is none.
    let mut copies: BTreeMap<&str, Result<QueryRef, String>> = BTreeMap::new();
    for query in &source.queries {
        let place = mapped(query, mapping);
        let warehouse = match text(query, "warehouse_id") {
            "" => Ok(None),
            id => ctx.warehouses.target_of(id, mapping).map(|w| Some((w, id))),
        };
        let (have, warehouse) = match (target_queries.get(&place), warehouse) {
            (Some(None), _) => {
                let why =
                    format!("the secondary has several queries named {} in {}", place.display_name, place.parent_path);
                copies.insert(text(query, "id"), Err(why.clone()));
                items.push(blocked(QUERY, query, why));
                continue;
            }
            (_, Err(why)) => {
                copies.insert(text(query, "id"), Err(why.clone()));
                items.push(blocked(QUERY, query, why));
                continue;
            }
            (have, Ok(warehouse)) => (have.copied().flatten(), warehouse),
        };
        let copy = match have {
            Some(have) => QueryRef::Id(text(have, "id").to_string()),
            None => QueryRef::Placed(place.clone()),
        };
        copies.insert(text(query, "id"), Ok(copy));
        let warehouse = warehouse.map(|(w, id)| (w, ctx.warehouses.name_of(id).unwrap_or(id)));
        let wanted = definition(query, QUERY_FIELDS);
        items.push(item(QUERY, query, &place, have, wanted, warehouse, None, ctx.query_grants, ctx));
    }
    for alert in &source.alerts {
        let place = mapped(alert, mapping);
        let have = match target_alerts.get(&place) {
            Some(None) => {
                let why =
                    format!("the secondary has several alerts named {} in {}", place.display_name, place.parent_path);
                items.push(blocked(ALERT, alert, why));
                continue;
            }
            have => have.copied().flatten(),
        };
        let query = match copies.get(text(alert, "query_id")) {
            Some(Ok(query)) => query.clone(),
            Some(Err(why)) => {
                items.push(blocked(ALERT, alert, format!("its query cannot be copied: {why}")));
                continue;
            }
            None => {
                let why = format!("its query {} is not readable in the primary", text(alert, "query_id"));
                items.push(blocked(ALERT, alert, why));
                continue;
            }
        };
        let wanted = definition(alert, ALERT_FIELDS);
        items.push(item(ALERT, alert, &place, have, wanted, None, Some(query), ctx.alert_grants, ctx));
    }
    items
}

/// Every object of one API a side has, read whole; with `names`, only
/// those whose name is among them (the secondary's others are not drbot's).
async fn read_objects(
    side: Side<'_>,
    api: SqlObjects,
    names: Option<&BTreeSet<String>>,
) -> Result<Vec<SqlObject>, DatabricksError> {
    let listed = side.client.sql_objects(side.token, api).await?;
    let wanted = listed.into_iter().filter(|o| names.is_none_or(|names| names.contains(text(o, "display_name"))));
    let read: Vec<Result<SqlObject, DatabricksError>> = futures::stream::iter(wanted)
        .map(|o| async move { side.client.sql_object(side.token, api, text(&o, "id")).await })
        .buffered(READS)
        .collect()
        .await;
    read.into_iter().collect()
}

fn names(objects: &[SqlObject]) -> BTreeSet<String> {
    objects.iter().map(|o| text(o, "display_name").to_string()).collect()
}

fn ids(objects: &[SqlObject]) -> Vec<String> {
    objects.iter().map(|o| text(o, "id").to_string()).collect()
}

/// The target's object of one API at `place`, if any.
async fn find(target: Side<'_>, api: SqlObjects, place: &Place) -> Result<Option<String>, DatabricksError> {
    let names = BTreeSet::from([place.display_name.clone()]);
    let found = read_objects(target, api, Some(&names)).await?;
    Ok(found.iter().find(|o| Place::of(o) == *place).map(|o| text(o, "id").to_string()))
}

/// Applies one action of `api`; `Ok(Err(why))` when the target lacks what
/// it names (a warehouse, an alert's query). A create whose answer was lost
/// is found by its place (Databricks refuses a second object of one name in
/// a folder) and updated instead.
async fn run(
    target: Side<'_>,
    api: SqlObjects,
    object_type: &str,
    action: &SqlAction,
) -> Result<Result<(), String>, DatabricksError> {
    let mut definition = action.definition.clone();
    if let Some(warehouse) = &action.warehouse {
        match resolve(target, warehouse).await? {
            Ok(id) => definition.insert("warehouse_id".into(), json!(id)),
            Err(why) => return Ok(Err(why)),
        };
    }
    if let Some(query) = &action.query {
        let id = match query {
            QueryRef::Id(id) => Some(id.clone()),
            QueryRef::Placed(place) => find(target, SqlObjects::Queries, place).await?,
        };
        match id {
            Some(id) => definition.insert("query_id".into(), json!(id)),
            None => return Ok(Err("its query is not in the secondary".into())),
        };
    }
    let place =
        Place { parent_path: action.parent_path.clone(), display_name: text(&definition, "display_name").to_string() };
    let (id, owner) = match &action.id {
        None => {
            let mut new = definition.clone();
            new.insert("parent_path".into(), json!(action.parent_path));
            match target.client.create_sql_object(target.token, api, &new).await {
                Ok(created) => (text(&created, "id").to_string(), text(&created, "owner_user_name").to_string()),
                Err(DatabricksError::AlreadyExists(message)) => match find(target, api, &place).await? {
                    Some(id) => {
                        let fields: Vec<String> = definition.keys().cloned().collect();
                        target.client.update_sql_object(target.token, api, &id, &fields, &definition).await?;
                        (id, String::new())
                    }
                    None => return Err(DatabricksError::AlreadyExists(message)),
                },
                Err(other) => return Err(other),
            }
        }
        Some(id) => {
            let fields: Vec<String> =
                action.fields.iter().filter(|f| *f != PERMISSIONS && *f != "owner_user_name").cloned().collect();
            if !fields.is_empty() {
                target.client.update_sql_object(target.token, api, id, &fields, &definition).await?;
            }
            let owner_differs = action.fields.iter().any(|f| f == "owner_user_name");
            (id.clone(), if owner_differs { String::new() } else { action.owner.clone().unwrap_or_default() })
        }
    };
    if let Some(wanted) = action.owner.as_ref().filter(|o| !o.eq_ignore_ascii_case(&owner)) {
        let owner = SqlObject::from_iter([("owner_user_name".to_string(), json!(wanted))]);
        target.client.update_sql_object(target.token, api, &id, &["owner_user_name".into()], &owner).await?;
    }
    if !action.grants.is_empty() {
        target.client.add_object_grants(target.token, object_type, &id, &action.grants).await?;
    }
    Ok(Ok(()))
}

/// Queries and alerts.
pub struct SqlQueries;

impl AssetKind for SqlQueries {
    fn name(&self) -> &'static str {
        QUERY
    }

    fn owns(&self, item_kind: &str) -> bool {
        matches!(item_kind, QUERY | ALERT)
    }

    /// Few at once: an alert made with its query finds it by listing the
    /// queries, and the Queries and Alerts APIs warn that 10 or more
    /// concurrent lists may be throttled or banned.
    fn concurrency(&self) -> usize {
        4
    }

    fn stage(&self, item: &PlanItem) -> Stage {
        match item.kind == ALERT {
            true => Stage::Alerts,
            false => Stage::Queries,
        }
    }

    fn plan<'a>(&'a self, ctx: &'a AssetContext<'a>) -> BoxFuture<'a, Result<Vec<PlanItem>, String>> {
        Box::pin(async move {
            let token = ctx.token(false).await?;
            let endpoints = ctx.endpoints(&token);
            let read = async {
                let (source_queries, source_alerts, source_warehouses, target_warehouses) = futures::try_join!(
                    read_objects(endpoints.source, SqlObjects::Queries, None),
                    read_objects(endpoints.source, SqlObjects::Alerts, None),
                    ctx.primary.warehouse_definitions(&token),
                    ctx.secondary.warehouse_definitions(&token),
                )?;
                let (query_names, alert_names) = (names(&source_queries), names(&source_alerts));
                let (target_queries, target_alerts) = futures::try_join!(
                    read_objects(endpoints.target, SqlObjects::Queries, Some(&query_names)),
                    read_objects(endpoints.target, SqlObjects::Alerts, Some(&alert_names)),
                )?;
                let (query_grants, alert_grants) = futures::try_join!(
                    read_grants(endpoints, "queries", ids(&source_queries), ids(&target_queries)),
                    read_grants(endpoints, "alerts", ids(&source_alerts), ids(&target_alerts)),
                )?;
                let (principals, target, mapping) = (&ctx.principals, endpoints.target, &ctx.mapping);
                let query_grants = query_grants.vet(principals, target, mapping).await?;
                let alert_grants = alert_grants.vet(principals, target, mapping).await?;
                let owners = source_queries.iter().chain(&source_alerts).map(|o| text(o, "owner_user_name"));
                let owners = owners.filter(|o| !o.is_empty()).map(|o| (Some(PrincipalKind::User), o.to_string()));
                let absent_owners = principals.absent(target, mapping, owners).await?;
                let warehouses =
                    WarehouseNames::new(&source_warehouses, &target_warehouses, &ctx.options.engine_warehouses);
                let source = SqlRead { queries: source_queries, alerts: source_alerts };
                let target = SqlRead { queries: target_queries, alerts: target_alerts };
                let sql = SqlContext {
                    warehouses: &warehouses,
                    query_grants: &query_grants,
                    alert_grants: &alert_grants,
                    absent_owners: &absent_owners,
                    mapping: &ctx.mapping,
                };
                Ok::<_, DatabricksError>(plan_sql(&source, &target, &sql))
            };
            read.await.map_err(|e| e.to_string())
        })
    }

    fn apply<'a>(&'a self, ctx: &'a AssetContext<'a>, item: &'a PlanItem) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(async move {
            let action: SqlAction = item.payload_as().map_err(ApplyError::Failed)?;
            let (api, object_type) = match item.kind == ALERT {
                true => (SqlObjects::Alerts, "alerts"),
                false => (SqlObjects::Queries, "queries"),
            };
            let action = &action;
            ctx.with_token(|token| async move { run(ctx.endpoints(&token).target, api, object_type, action).await })
                .await?
                .map_err(ApplyError::Blocked)
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::assets::mapping::MappingKind;
    use crate::databricks::warehouses::{DefinedWarehouse, WarehouseDefinition};

    fn object(value: Value) -> SqlObject {
        let Value::Object(object) = value else { panic!("an object") };
        object
    }

    fn warehouse(id: &str, name: &str) -> DefinedWarehouse {
        DefinedWarehouse {
            id: id.into(),
            state: "STOPPED".into(),
            definition: WarehouseDefinition { name: name.into(), ..Default::default() },
        }
    }

    fn query(id: &str, name: &str, warehouse: &str, text: &str) -> SqlObject {
        object(json!({"id": id, "display_name": name, "parent_path": "/Shared/q", "warehouse_id": warehouse,
                      "query_text": text, "owner_user_name": "a@contoso.com", "lifecycle_state": "ACTIVE"}))
    }

    fn alert(id: &str, name: &str, query: &str) -> SqlObject {
        object(json!({"id": id, "display_name": name, "parent_path": "/Shared/q", "query_id": query,
                      "condition": {"op": "IS_NULL", "operand": {"column": {"name": "x"}}},
                      "owner_user_name": "a@contoso.com", "state": "OK"}))
    }

    fn plan(source: &SqlRead, target: &SqlRead, mapping: &AssetMapping) -> Vec<PlanItem> {
        let warehouses = WarehouseNames::new(
            &[warehouse("p-bi", "BI"), warehouse("p-adhoc", "Ad hoc")],
            &[warehouse("s-bi", "BI")],
            &BTreeSet::new(),
        );
        let none = Grants::default();
        let absent_owners = BTreeSet::new();
        let ctx = SqlContext {
            warehouses: &warehouses,
            query_grants: &none,
            alert_grants: &none,
            absent_owners: &absent_owners,
            mapping,
        };
        plan_sql(source, target, &ctx)
    }

    #[test]
    fn queries_and_alerts_are_created_updated_or_kept_by_folder_and_name() {
        let source = SqlRead {
            queries: vec![
                query("q1", "Revenue", "p-bi", "SELECT 1"),
                query("q2", "Open", "p-adhoc", "SELECT 2"),
                query("q3", "Late", "p-bi", "SELECT 3"),
                query("q4", "Gone", "p-deleted", "SELECT 4"),
            ],
            alerts: vec![alert("a1", "Drop", "q1"), alert("a2", "Open alert", "q2"), alert("a3", "Orphan", "q4")],
        };
        let mut late = query("t3", "Late", "s-bi", "SELECT old");
        late.insert("owner_user_name".into(), json!("b@contoso.com"));
        let target = SqlRead {
            queries: vec![query("t1", "Revenue", "s-bi", "SELECT 1"), late],
            alerts: vec![alert("t-a1", "Drop", "t1")],
        };
        let items = plan(&source, &target, &AssetMapping::default());
        let lines: Vec<String> = items.iter().map(crate::assets::text::describe).collect();
        assert_eq!(
            lines,
            vec![
                "query /Shared/q/Revenue is up to date".to_string(),
                "create query /Shared/q/Open (primary q2): on warehouse Ad hoc".to_string(),
                "update query /Shared/q/Late (primary q3): query_text, owner_user_name".to_string(),
                "query /Shared/q/Gone (primary q4): its SQL warehouse p-deleted is not in the primary".to_string(),
                "alert /Shared/q/Drop is up to date".to_string(),
                "create alert /Shared/q/Open alert (primary a2)".to_string(),
                "alert /Shared/q/Orphan (primary a3): its query cannot be copied: its SQL warehouse p-deleted is \
                 not in the primary"
                    .to_string(),
            ]
        );
        // The new query names the warehouse this run makes; the new alert the copy this run makes.
        let open: SqlAction = items[1].payload_as().unwrap();
        assert_eq!(open.warehouse, Some(WarehouseRef::Named("Ad hoc".into())));
        assert_eq!(open.parent_path, "/Shared/q");
        let open_alert: SqlAction = items[5].payload_as().unwrap();
        assert_eq!(
            open_alert.query,
            Some(QueryRef::Placed(Place { parent_path: "/Shared/q".into(), display_name: "Open".into() }))
        );
        let late: SqlAction = items[2].payload_as().unwrap();
        assert_eq!((late.id.as_deref(), late.owner.as_deref()), (Some("t3"), Some("a@contoso.com")));
    }

    #[test]
    fn folders_and_owners_map_as_the_pair_says() {
        let mut mapping = AssetMapping::default();
        mapping.insert(MappingKind::PathPrefix, "/Shared/q", "/Shared/dr/q");
        mapping.insert(MappingKind::Principal, "a@contoso.com", "a@fabrikam.com");
        let source = SqlRead { queries: vec![query("q1", "Revenue", "p-bi", "SELECT 1")], alerts: vec![] };
        let items = plan(&source, &SqlRead::default(), &mapping);
        let action: SqlAction = items[0].payload_as().unwrap();
        assert_eq!((action.parent_path.as_str(), action.owner.as_deref()), ("/Shared/dr/q", Some("a@fabrikam.com")));
        // A copy already there under the mapped folder and owner is up to date.
        let mut copy = query("t1", "Revenue", "s-bi", "SELECT 1");
        copy.insert("parent_path".into(), json!("/Shared/dr/q"));
        copy.insert("owner_user_name".into(), json!("a@fabrikam.com"));
        let target = SqlRead { queries: vec![copy], alerts: vec![] };
        assert_eq!(plan(&source, &target, &mapping)[0].change, Change::Unchanged);
    }
}
