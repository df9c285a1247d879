//! Every direct grant and every volume of a metastore in six statements.
//!
//! Reading grants one `GET /permissions/{type}/{name}` per object is most of
//! a read's calls (10,000 tables: 10,000 calls per side). Unity Catalog
//! publishes the same grants as `information_schema` views:
//! `CATALOG_PRIVILEGES`, `SCHEMA_PRIVILEGES`, `TABLE_PRIVILEGES` (tables and
//! views) and `VOLUME_PRIVILEGES`, each row `GRANTEE, <object>,
//! PRIVILEGE_TYPE, INHERITED_FROM` where `INHERITED_FROM` is null for a
//! grant made on the object itself. The `system` catalog's
//! `information_schema` covers every catalog of the metastore, so one
//! statement per view reads the whole metastore; rows are limited to the
//! objects the caller may interact with, the same objects the REST lists
//! return. (Databricks SQL reference, "Information schema",
//! learn.microsoft.com/azure/databricks/sql/language-manual/sql-ref-information-schema
//! and the `*_privileges` pages.)
//!
//! `EXTERNAL_LOCATION_PRIVILEGES` (same columns, `EXTERNAL_LOCATION_NAME`
//! for the object) replaces the grants GET per external location of the
//! storage checks.
//!
//! Volumes likewise: one `GET /volumes?catalog_name=&schema_name=` per
//! schema was the other half of a read's calls (10,000 tables in 240
//! schemas: 240 calls per side), and `INFORMATION_SCHEMA.VOLUMES` has every
//! field the snapshot keeps of a volume (`VOLUME_CATALOG, VOLUME_SCHEMA,
//! VOLUME_NAME, VOLUME_TYPE, VOLUME_OWNER, COMMENT, STORAGE_LOCATION`; rows
//! "limited to the volumes the user is privileged to interact with"; the
//! `volumes` page of the same reference).
//!
//! Functions too, when the read does not need what they depend on: one
//! `GET /functions?catalog_name=&schema_name=` per schema becomes two
//! statements. `INFORMATION_SCHEMA.ROUTINES` gives per function
//! `ROUTINE_CATALOG, ROUTINE_SCHEMA, ROUTINE_NAME, SPECIFIC_NAME,
//! ROUTINE_TYPE` ('FUNCTION' or 'PROCEDURE'), `FULL_DATA_TYPE` (the result
//! type, e.g. 'DECIMAL(10, 4)'), `ROUTINE_BODY` ('SQL' or 'EXTERNAL'),
//! `ROUTINE_DEFINITION`, `EXTERNAL_LANGUAGE` and `COMMENT`;
//! `INFORMATION_SCHEMA.PARAMETERS` one row per parameter, `SPECIFIC_CATALOG,
//! SPECIFIC_SCHEMA, SPECIFIC_NAME, ORDINAL_POSITION` (1-based),
//! `PARAMETER_NAME` (null if unnamed) and `FULL_DATA_TYPE`; both "limited to
//! the routines the user is privileged to interact with" (the `routines` and
//! `parameters` pages of the same reference). That is everything the
//! `CREATE FUNCTION` drbot emits needs (parameters, return type, body,
//! language). Neither view names what a function reads or calls (the list's
//! `routine_dependencies`), which only planning needs: a read that wants
//! dependencies (`ReadOptions::view_dependencies`) lists functions per
//! schema as before. Nor is an owner read (the view's columns used here have
//! none; function owners are neither compared nor replicated yet), so a
//! bulk-read function's owner is empty.
//!
//! What the views lack still comes from the REST lists and GETs in
//! `read.rs`: table and schema properties (the Delta commit properties among
//! them) and storage roots are in no view (`TABLES` and `SCHEMATA` have
//! neither), so tables and schemas are still listed per schema and per
//! catalog; a view's dependencies and Delta Sharing likewise. Documented caveat: a caller who
//! holds only MANAGE on an object sees just its own grants there, so the bulk
//! path is for an identity that owns the objects or is a metastore admin
//! (drbot's service principal is one).

use std::collections::HashMap;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::snapshot::Grants;
use crate::databricks::unity_catalog as uc;
use crate::databricks::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// Direct grants by securable, keyed by full name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BulkGrants {
    pub catalogs: HashMap<String, Grants>,
    pub schemas: HashMap<String, Grants>,
    pub tables: HashMap<String, Grants>,
    pub volumes: HashMap<String, Grants>,
    pub external_locations: HashMap<String, Grants>,
    /// User-defined functions' (`routine_privileges`).
    pub functions: HashMap<String, Grants>,
}

/// What the statements read: the grants, the volumes and, when asked, the
/// functions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BulkRead {
    pub grants: BulkGrants,
    /// Every volume the caller may interact with, in every catalog.
    pub volumes: Vec<uc::Volume>,
    /// Every function the caller may interact with, in every catalog,
    /// without dependencies; `None` when not asked for.
    pub functions: Option<Vec<uc::Function>>,
}

/// The volume columns, in the order `volume_row` reads them.
const VOLUME_COLUMNS: [&str; 7] =
    ["volume_catalog", "volume_schema", "volume_name", "volume_type", "volume_owner", "comment", "storage_location"];

/// `SELECT volume_catalog, … FROM system.information_schema.volumes`.
pub fn volumes_query() -> String {
    format!("SELECT {} FROM `system`.`information_schema`.`volumes`", VOLUME_COLUMNS.join(", "))
}

/// A `volumes` row as the REST list would give it; `None` for a row whose
/// names are missing (wire garbage, dropped rather than a panic).
fn volume_row(row: Vec<Option<String>>) -> Option<uc::Volume> {
    let [catalog, schema, name, volume_type, owner, comment, location] = <[Option<String>; 7]>::try_from(row).ok()?;
    Some(uc::Volume {
        catalog_name: catalog?,
        schema_name: schema?,
        name: name?,
        volume_type,
        owner,
        comment,
        storage_location: location,
    })
}

/// The grants (`read_grants`), the volumes and, when `functions`, the
/// functions: six or eight statements, each sent once one of the caller's
/// `permits` (its requests in flight) is free.
pub async fn read(
    client: &WorkspaceClient,
    token: &AccessToken,
    warehouse_id: &str,
    deadline: Instant,
    permits: &Semaphore,
    functions: bool,
) -> Result<BulkRead, DatabricksError> {
    let rows = |sql: String| async move {
        let _permit = permits.acquire().await.ok();
        client.query(token, warehouse_id, &sql, deadline).await.map(|(_, rows)| rows)
    };
    let volumes =
        async { Ok::<_, DatabricksError>(rows(volumes_query()).await?.into_iter().filter_map(volume_row).collect()) };
    let functions = async {
        if !functions {
            return Ok(None);
        }
        let (routines, parameters) = tokio::try_join!(rows(routines_query()), rows(parameters_query()))?;
        Ok::<_, DatabricksError>(Some(fold_functions(routines, parameters)))
    };
    let (grants, volumes, functions) =
        tokio::try_join!(read_grants(client, token, warehouse_id, deadline, permits), volumes, functions)?;
    Ok(BulkRead { grants, volumes, functions })
}

/// The `routines` columns, in the order `fold_functions` reads them.
const ROUTINE_COLUMNS: [&str; 9] = [
    "routine_catalog",
    "routine_schema",
    "routine_name",
    "specific_name",
    "routine_type",
    "full_data_type",
    "routine_body",
    "routine_definition",
    "external_language",
];

/// `SELECT routine_catalog, … , comment FROM system.information_schema.routines`.
pub fn routines_query() -> String {
    format!("SELECT {}, comment FROM `system`.`information_schema`.`routines`", ROUTINE_COLUMNS.join(", "))
}

/// `SELECT specific_catalog, … FROM system.information_schema.parameters`.
pub fn parameters_query() -> String {
    "SELECT specific_catalog, specific_schema, specific_name, ordinal_position, parameter_name, full_data_type \
     FROM `system`.`information_schema`.`parameters`"
        .to_string()
}

/// `routines` and `parameters` rows → functions as the list gives them
/// (no dependencies, no owner). Procedures are left out (the functions
/// list has none); a row with a missing name, or a parameter whose position
/// is not a number, is wire garbage and dropped (a function losing a
/// parameter to garbage is dropped whole rather than read wrong).
fn fold_functions(routines: Vec<Vec<Option<String>>>, parameters: Vec<Vec<Option<String>>>) -> Vec<uc::Function> {
    type Key = (String, String, String);
    let mut params: HashMap<Key, Vec<uc::FunctionParameter>> = HashMap::new();
    let mut garbled: std::collections::HashSet<Key> = Default::default();
    for row in parameters {
        let Ok([catalog, schema, specific, position, name, type_text]) = <[Option<String>; 6]>::try_from(row) else {
            continue;
        };
        let (Some(catalog), Some(schema), Some(specific)) = (catalog, schema, specific) else { continue };
        let key = (catalog, schema, specific);
        match (position.and_then(|p| p.trim().parse::<i64>().ok()), type_text) {
            (Some(position), Some(type_text)) => params.entry(key).or_default().push(uc::FunctionParameter {
                name: name.unwrap_or_default(),
                type_text,
                position: Some(position),
            }),
            _ => {
                garbled.insert(key);
            }
        }
    }
    let mut out = Vec::new();
    for row in routines {
        let Ok([catalog, schema, name, specific, kind, returns, body, definition, language, comment]) =
            <[Option<String>; 10]>::try_from(row)
        else {
            continue;
        };
        let (Some(catalog), Some(schema), Some(name)) = (catalog, schema, name) else { continue };
        if kind.as_deref().is_some_and(|k| !k.eq_ignore_ascii_case("FUNCTION")) {
            continue;
        }
        let key = (catalog.clone(), schema.clone(), specific.unwrap_or_else(|| name.clone()));
        if garbled.contains(&key) {
            continue;
        }
        let parameters = params.remove(&key).unwrap_or_default();
        out.push(uc::Function {
            input_params: (!parameters.is_empty()).then_some(uc::FunctionParameters { parameters }),
            full_name: Some(format!("{catalog}.{schema}.{name}")),
            name,
            catalog_name: catalog,
            schema_name: schema,
            routine_body: body,
            external_language: language,
            routine_definition: definition,
            full_data_type: returns,
            comment,
            ..Default::default()
        });
    }
    out
}

/// The privilege queries: the view and the name columns after `grantee`.
const VIEWS: [(&str, &[&str]); 6] = [
    ("catalog_privileges", &["catalog_name"]),
    ("schema_privileges", &["catalog_name", "schema_name"]),
    ("table_privileges", &["table_catalog", "table_schema", "table_name"]),
    ("volume_privileges", &["volume_catalog", "volume_schema", "volume_name"]),
    ("external_location_privileges", &["external_location_name"]),
    ("routine_privileges", &["routine_catalog", "routine_schema", "routine_name"]),
];

/// `SELECT grantee, <name columns>, privilege_type FROM system.information_schema.<view> WHERE inherited_from IS NULL`.
pub fn privileges_query(view: &str, name_columns: &[&str]) -> String {
    format!(
        "SELECT grantee, {}, privilege_type FROM `system`.`information_schema`.`{view}` WHERE inherited_from IS NULL",
        name_columns.join(", ")
    )
}

/// `USE CATALOG` (as SQL spells privileges) → `USE_CATALOG` (as the
/// permissions API and the snapshot do).
fn privilege(text: &str) -> String {
    text.trim().to_ascii_uppercase().replace(' ', "_")
}

/// Runs the privilege queries at once on `warehouse_id`, each once one of
/// `permits` is free.
pub async fn read_grants(
    client: &WorkspaceClient,
    token: &AccessToken,
    warehouse_id: &str,
    deadline: Instant,
    permits: &Semaphore,
) -> Result<BulkGrants, DatabricksError> {
    let run = |(view, names): (&'static str, &'static [&'static str])| async move {
        // The semaphore is never closed; were it, the query runs unlimited.
        let _permit = permits.acquire().await.ok();
        let (_, rows) = client.query(token, warehouse_id, &privileges_query(view, names), deadline).await?;
        Ok::<_, DatabricksError>(fold(rows, names.len()))
    };
    let (catalogs, schemas, tables, volumes, external_locations, functions) =
        tokio::try_join!(run(VIEWS[0]), run(VIEWS[1]), run(VIEWS[2]), run(VIEWS[3]), run(VIEWS[4]), run(VIEWS[5]))?;
    Ok(BulkGrants { catalogs, schemas, tables, volumes, external_locations, functions })
}

/// Rows `grantee, name parts…, privilege_type` → full name → grants. A row
/// with a missing value is wire garbage and is dropped, never a panic.
fn fold(rows: Vec<Vec<Option<String>>>, name_parts: usize) -> HashMap<String, Grants> {
    let mut out: HashMap<String, Grants> = HashMap::new();
    for row in rows {
        if row.len() != name_parts + 2 {
            continue;
        }
        let Some(values) = row.into_iter().collect::<Option<Vec<String>>>() else { continue };
        let full_name = values[1..=name_parts].join(".");
        out.entry(full_name)
            .or_default()
            .entry(values[0].clone())
            .or_default()
            .insert(privilege(&values[name_parts + 1]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_fold_into_direct_grants_with_api_spelling() {
        let row = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
        let grants = fold(
            vec![
                row(&["analysts", "main", "sales", "orders", "SELECT"]),
                row(&["analysts", "main", "sales", "orders", "use schema"]),
                row(&["ops", "main", "sales", "orders", "ALL PRIVILEGES"]),
                vec![Some("x".into()), None, Some("s".into()), Some("t".into()), Some("SELECT".into())],
                row(&["short"]),
            ],
            3,
        );
        assert_eq!(grants.len(), 1);
        let orders = &grants["main.sales.orders"];
        assert_eq!(orders["analysts"], ["SELECT", "USE_SCHEMA"].iter().map(|s| s.to_string()).collect());
        assert!(orders["ops"].contains("ALL_PRIVILEGES"));
    }

    #[test]
    fn volume_rows_become_listed_volumes_and_garbage_is_dropped() {
        let row = |v: &[Option<&str>]| v.iter().map(|s| s.map(str::to_string)).collect::<Vec<_>>();
        let volume = volume_row(row(&[
            Some("main"),
            Some("raw_00"),
            Some("landing"),
            Some("EXTERNAL"),
            Some("data-eng"),
            None,
            Some("abfss://files@p.dfs.core.windows.net/main/raw_00/landing"),
        ]))
        .unwrap();
        assert_eq!(
            (volume.catalog_name.as_str(), volume.schema_name.as_str(), volume.name.as_str()),
            ("main", "raw_00", "landing")
        );
        assert_eq!(volume.owner.as_deref(), Some("data-eng"));
        assert_eq!(volume.comment, None);
        assert!(volume_row(row(&[None, Some("s"), Some("v"), None, None, None, None])).is_none());
        assert!(volume_row(row(&[Some("c"), Some("s")])).is_none(), "a short row");
        assert_eq!(
            volumes_query(),
            "SELECT volume_catalog, volume_schema, volume_name, volume_type, volume_owner, comment, storage_location FROM `system`.`information_schema`.`volumes`"
        );
    }

    #[test]
    fn routine_and_parameter_rows_become_listed_functions_and_garbage_is_dropped() {
        let row = |v: &[Option<&str>]| v.iter().map(|s| s.map(str::to_string)).collect::<Vec<_>>();
        let routine = |name: &str, kind: &str| {
            row(&[
                Some("main"),
                Some("sales"),
                Some(name),
                Some(name),
                Some(kind),
                Some("DECIMAL(12,2)"),
                Some("SQL"),
                Some("amount * factor"),
                None,
                Some("scales"),
            ])
        };
        let parameter = |function: &str, position: &str, name: &str, type_text: &str| {
            row(&[Some("main"), Some("sales"), Some(function), Some(position), Some(name), Some(type_text)])
        };
        let functions = fold_functions(
            vec![routine("scaled", "FUNCTION"), routine("load", "PROCEDURE"), routine("broken", "FUNCTION")],
            vec![
                parameter("scaled", "2", "factor", "INT"),
                parameter("scaled", "1", "amount", "DECIMAL(10,2)"),
                parameter("broken", "first", "x", "INT"),
                row(&[Some("main")]),
            ],
        );
        assert_eq!(functions.len(), 1, "the procedure and the garbled function are left out: {functions:?}");
        let scaled = &functions[0];
        assert_eq!(scaled.full_name(), "main.sales.scaled");
        assert_eq!(
            (scaled.routine_body.as_deref(), scaled.full_data_type.as_deref()),
            (Some("SQL"), Some("DECIMAL(12,2)"))
        );
        assert_eq!(scaled.comment.as_deref(), Some("scales"));
        let mut parameters = scaled.input_params.clone().unwrap().parameters;
        parameters.sort_by_key(|p| p.position);
        let names: Vec<_> = parameters.iter().map(|p| (p.name.as_str(), p.type_text.as_str())).collect();
        assert_eq!(names, [("amount", "DECIMAL(10,2)"), ("factor", "INT")]);
        assert!(scaled.dependencies().is_empty() && scaled.owner.is_none());
        assert_eq!(
            routines_query(),
            "SELECT routine_catalog, routine_schema, routine_name, specific_name, routine_type, full_data_type, routine_body, routine_definition, external_language, comment FROM `system`.`information_schema`.`routines`"
        );
        assert!(parameters_query().ends_with("FROM `system`.`information_schema`.`parameters`"));
    }

    #[test]
    fn the_queries_read_direct_grants_only() {
        assert_eq!(
            privileges_query("schema_privileges", &["catalog_name", "schema_name"]),
            "SELECT grantee, catalog_name, schema_name, privilege_type FROM `system`.`information_schema`.`schema_privileges` WHERE inherited_from IS NULL"
        );
    }
}
