//! `information_schema` over the sandbox's metastore: the privilege views
//! drbot reads in bulk instead of one permissions GET per object, and the
//! `VOLUMES` view it reads instead of one volume list per schema, and the
//! `ROUTINES` and `PARAMETERS` views it reads instead of one function list
//! per schema.
//!
//! Databricks: `INFORMATION_SCHEMA.CATALOG_PRIVILEGES`, `SCHEMA_PRIVILEGES`,
//! `TABLE_PRIVILEGES`, `VOLUME_PRIVILEGES` and `ROUTINE_PRIVILEGES` (its
//! object columns `SPECIFIC_*` then `ROUTINE_*`) list the principals holding a
//! privilege with `GRANTOR, GRANTEE, <object columns>, PRIVILEGE_TYPE,
//! IS_GRANTABLE ('NO'), INHERITED_FROM` (null for a grant made on the object
//! itself); the rows are limited to the objects the caller may interact
//! with; a catalog's `information_schema` covers that catalog, the `system`
//! catalog's covers every catalog (sandbox/FIDELITY.md cites the pages).
//! The sandbox has no grantor history: it reports the object's owner.

use serde_json::{json, Value};

use super::super::metastore::{Common, Metastore, Principal, Securable};
use super::execute::{Outcome, StatementError};

/// The views answered, their securable and their columns in order; the
/// object columns are the ones between `grantee` and `privilege_type`.
const VIEWS: &[(&str, Securable, &[&str])] = &[
    (
        "catalog_privileges",
        Securable::Catalog,
        &["grantor", "grantee", "catalog_name", "privilege_type", "is_grantable", "inherited_from"],
    ),
    (
        "schema_privileges",
        Securable::Schema,
        &["grantor", "grantee", "catalog_name", "schema_name", "privilege_type", "is_grantable", "inherited_from"],
    ),
    (
        "table_privileges",
        Securable::Table,
        &[
            "grantor",
            "grantee",
            "table_catalog",
            "table_schema",
            "table_name",
            "privilege_type",
            "is_grantable",
            "inherited_from",
        ],
    ),
    (
        "volume_privileges",
        Securable::Volume,
        &[
            "grantor",
            "grantee",
            "volume_catalog",
            "volume_schema",
            "volume_name",
            "privilege_type",
            "is_grantable",
            "inherited_from",
        ],
    ),
    (
        "routine_privileges",
        Securable::Function,
        &[
            "grantor",
            "grantee",
            "specific_catalog",
            "specific_schema",
            "specific_name",
            "routine_catalog",
            "routine_schema",
            "routine_name",
            "privilege_type",
            "is_grantable",
            "inherited_from",
        ],
    ),
    (
        "external_location_privileges",
        Securable::ExternalLocation,
        &["grantor", "grantee", "external_location_name", "privilege_type", "is_grantable", "inherited_from"],
    ),
];

fn error(code: &str, message: String) -> StatementError {
    StatementError { error_code: code.into(), message: format!("[{code}] {message}") }
}

/// The `VOLUMES` columns the sandbox models, in the documented order
/// (`CREATED`, `CREATED_BY`, `LAST_ALTERED`, `LAST_ALTERED_BY` are
/// documented too but not modelled: asking for them is refused).
const VOLUME_COLUMNS: &[&str] =
    &["volume_catalog", "volume_schema", "volume_name", "volume_type", "volume_owner", "comment", "storage_location"];

/// The `ROUTINES` columns the sandbox models (all documented; the others it
/// does not model, such as `IS_DETERMINISTIC`, `SQL_DATA_ACCESS`,
/// `SECURITY_TYPE`, `CREATED`, are refused). The sandbox
/// holds SQL functions only, so `ROUTINE_BODY` is `'SQL'` and
/// `EXTERNAL_LANGUAGE` null.
const ROUTINE_COLUMNS: &[&str] = &[
    "specific_catalog",
    "specific_schema",
    "specific_name",
    "routine_catalog",
    "routine_schema",
    "routine_name",
    "routine_type",
    "data_type",
    "full_data_type",
    "routine_body",
    "routine_definition",
    "external_language",
    "comment",
];

/// The `PARAMETERS` columns the sandbox models (`ORDINAL_POSITION`
/// 1-based as documented; `PARAMETER_DEFAULT`, `COMMENT` and the numeric
/// precision columns are refused).
const PARAMETER_COLUMNS: &[&str] = &[
    "specific_catalog",
    "specific_schema",
    "specific_name",
    "ordinal_position",
    "parameter_mode",
    "is_result",
    "as_locator",
    "parameter_name",
    "data_type",
    "full_data_type",
];

/// The tag views (`CATALOG_TAGS`, `SCHEMA_TAGS`, `TABLE_TAGS` for tables
/// and views, `COLUMN_TAGS`, `VOLUME_TAGS`): their securable and documented
/// columns, all non-null (a key-only tag has an empty value).
const TAG_VIEWS: &[(&str, Securable, &[&str])] = &[
    ("catalog_tags", Securable::Catalog, &["catalog_name", "tag_name", "tag_value"]),
    ("schema_tags", Securable::Schema, &["catalog_name", "schema_name", "tag_name", "tag_value"]),
    ("table_tags", Securable::Table, &["catalog_name", "schema_name", "table_name", "tag_name", "tag_value"]),
    (
        "column_tags",
        Securable::Table,
        &["catalog_name", "schema_name", "table_name", "column_name", "tag_name", "tag_value"],
    ),
    ("volume_tags", Securable::Volume, &["catalog_name", "schema_name", "volume_name", "tag_name", "tag_value"]),
];

/// One tag view: a row per tag of each object the caller may interact
/// with, in `catalog` (every catalog from `system`).
#[allow(clippy::too_many_arguments)]
fn tags(
    metastore: &Metastore,
    who: &Principal,
    catalog: &str,
    kind: Securable,
    view: &str,
    all_columns: &[&'static str],
    columns: &[String],
    direct_only: bool,
) -> Result<Outcome, StatementError> {
    if direct_only {
        // The tag views have no INHERITED_FROM column.
        return Err(error(
            "UNRESOLVED_COLUMN.WITH_SUGGESTION",
            format!("A column with name `inherited_from` cannot be resolved. Did you mean one of {all_columns:?}?"),
        ));
    }
    let picked = pick(columns, all_columns)?;
    let every_catalog = catalog == "system";
    let mut tagged: Vec<(Vec<String>, &std::collections::BTreeMap<String, String>)> = Vec::new();
    let mut add = |full_name: &str, extra: Option<&str>, tags| {
        let in_catalog = full_name.split('.').next().is_some_and(|c| c.eq_ignore_ascii_case(catalog));
        if (every_catalog || in_catalog) && metastore.visible(who, kind, full_name) {
            let mut parts: Vec<String> = full_name.split('.').map(str::to_string).collect();
            parts.extend(extra.map(str::to_string));
            tagged.push((parts, tags));
        }
    };
    match view {
        "catalog_tags" => metastore.catalogs.iter().for_each(|(n, c)| add(n, None, &c.common.tags)),
        "schema_tags" => metastore.schemas.iter().for_each(|(n, s)| add(n, None, &s.common.tags)),
        "table_tags" => metastore.tables.iter().for_each(|(n, t)| add(n, None, &t.common.tags)),
        "column_tags" => metastore.tables.iter().for_each(|(n, t)| {
            t.column_metadata.iter().for_each(|(column, m)| add(n, Some(column), &m.tags));
        }),
        _ => metastore.volumes.iter().for_each(|(n, v)| add(n, None, &v.common.tags)),
    }
    let mut rows = Vec::new();
    for (parts, tags) in tagged {
        for (key, value) in tags {
            let mut row: Vec<Value> = parts.iter().map(|p| json!(p)).collect();
            row.push(json!(key));
            row.push(json!(value));
            rows.push(picked.iter().map(|&i| row[i].clone()).collect());
        }
    }
    let names: Vec<&'static str> = picked.iter().map(|&i| all_columns[i]).collect();
    Ok(Outcome { columns: names, rows })
}

/// The positions of `columns` in `all_columns`, or Databricks' refusal.
pub(super) fn pick(columns: &[String], all_columns: &[&str]) -> Result<Vec<usize>, StatementError> {
    columns
        .iter()
        .map(|column| {
            all_columns.iter().position(|c| c == column).ok_or_else(|| {
                error(
                    "UNRESOLVED_COLUMN.WITH_SUGGESTION",
                    format!("A column with name `{column}` cannot be resolved. Did you mean one of {all_columns:?}?"),
                )
            })
        })
        .collect()
}

/// Runs `SELECT columns FROM catalog.information_schema.view [WHERE inherited_from IS NULL]`.
pub fn query(
    metastore: &Metastore,
    who: &Principal,
    catalog: &str,
    view: &str,
    columns: &[String],
    direct_only: bool,
) -> Result<Outcome, StatementError> {
    let every_catalog = catalog == "system";
    if !every_catalog && !metastore.catalogs.keys().any(|c| c.eq_ignore_ascii_case(catalog)) {
        return Err(error("TABLE_OR_VIEW_NOT_FOUND", format!("The catalog `{catalog}` cannot be found.")));
    }
    if view == "columns" {
        return super::data::columns_view(metastore, who, catalog, columns, direct_only);
    }
    if view == "volumes" {
        return volumes(metastore, who, catalog, columns, direct_only);
    }
    if view == "routines" || view == "parameters" {
        return routines(metastore, who, catalog, view, columns, direct_only);
    }
    if let Some(&(_, kind, all_columns)) = TAG_VIEWS.iter().find(|(name, ..)| *name == view) {
        return tags(metastore, who, catalog, kind, view, all_columns, columns, direct_only);
    }
    let Some(&(_, kind, all_columns)) = VIEWS.iter().find(|(name, ..)| *name == view) else {
        return Err(error(
            "TABLE_OR_VIEW_NOT_FOUND",
            format!("The table or view `{catalog}`.`information_schema`.`{view}` cannot be found."),
        ));
    };
    let picked = pick(columns, all_columns)?;
    if kind == Securable::ExternalLocation && !every_catalog {
        // Metastore-level objects: the documentation does not say what a
        // catalog's own information_schema shows of them, so only `system`'s
        // is answered.
        return Err(error(
            "TABLE_OR_VIEW_NOT_FOUND",
            format!("The sandbox answers `{view}` from `system`.`information_schema` only, not from `{catalog}`."),
        ));
    }
    let objects: Vec<(String, &Common)> = match kind {
        Securable::Catalog => metastore.catalogs.iter().map(|(n, c)| (n.clone(), &c.common)).collect(),
        Securable::Schema => metastore.schemas.iter().map(|(n, s)| (n.clone(), &s.common)).collect(),
        Securable::Table => metastore.tables.iter().map(|(n, t)| (n.clone(), &t.common)).collect(),
        Securable::ExternalLocation => {
            metastore.external_locations.iter().map(|(n, l)| (n.clone(), &l.common)).collect()
        }
        Securable::Function => metastore.functions.iter().map(|(n, f)| (n.clone(), &f.common)).collect(),
        _ => metastore.volumes.iter().map(|(n, v)| (n.clone(), &v.common)).collect(),
    };
    let mut rows = Vec::new();
    for (full_name, common) in objects {
        let in_catalog = full_name.split('.').next().is_some_and(|c| c.eq_ignore_ascii_case(catalog));
        if !(every_catalog || in_catalog) || !metastore.visible(who, kind, &full_name) {
            continue;
        }
        for (holder_kind, holder) in Metastore::chain(kind, &full_name) {
            let direct = holder == full_name;
            if direct_only && !direct {
                continue;
            }
            let Ok(held) = metastore.common(holder_kind, &holder) else { continue };
            for (grantee, privileges) in &held.grants {
                for privilege in privileges {
                    let mut row: Vec<Value> = vec![json!(common.owner), json!(grantee)];
                    if kind == Securable::ExternalLocation {
                        row.push(json!(full_name));
                    } else if kind == Securable::Function {
                        // `specific_*` then `routine_*`: the sandbox's
                        // specific name is the function's name.
                        row.extend(full_name.split('.').chain(full_name.split('.')).map(|part| json!(part)));
                    } else {
                        row.extend(full_name.split('.').map(|part| json!(part)));
                    }
                    row.push(json!(privilege.replace('_', " ")));
                    row.push(json!("NO"));
                    row.push(if direct { Value::Null } else { json!(holder) });
                    rows.push(picked.iter().map(|&i| row[i].clone()).collect());
                }
            }
        }
    }
    let columns = picked.iter().map(|&i| all_columns[i]).collect();
    Ok(Outcome { columns, rows })
}

/// `SELECT columns FROM catalog.information_schema.volumes`: one row per
/// volume the caller may interact with (`Metastore::visible`, as the REST
/// list filters), in the catalog or, from `system`, in every catalog.
fn volumes(
    metastore: &Metastore,
    who: &Principal,
    catalog: &str,
    columns: &[String],
    direct_only: bool,
) -> Result<Outcome, StatementError> {
    if direct_only {
        // `VOLUMES` has no `INHERITED_FROM`.
        return Err(error(
            "UNRESOLVED_COLUMN.WITH_SUGGESTION",
            format!("A column with name `inherited_from` cannot be resolved. Did you mean one of {VOLUME_COLUMNS:?}?"),
        ));
    }
    let picked = pick(columns, VOLUME_COLUMNS)?;
    let every_catalog = catalog == "system";
    let rows = metastore
        .volumes
        .values()
        .filter(|v| every_catalog || v.catalog.eq_ignore_ascii_case(catalog))
        .filter(|v| metastore.visible(who, Securable::Volume, &v.full_name()))
        .map(|v| {
            let row = [
                json!(v.catalog),
                json!(v.schema),
                json!(v.name),
                json!(v.volume_type),
                json!(v.common.owner),
                json!(v.common.comment),
                json!(v.storage_location),
            ];
            picked.iter().map(|&i| row[i].clone()).collect()
        })
        .collect();
    Ok(Outcome { columns: picked.iter().map(|&i| VOLUME_COLUMNS[i]).collect(), rows })
}

/// `SELECT columns FROM catalog.information_schema.routines` (one row per
/// function) or `.parameters` (one row per parameter), over the functions
/// the caller may see as the functions list shows them: owner, metastore
/// admin or EXECUTE, with USE CATALOG and USE SCHEMA (the views' rows are
/// "limited to the routines the user is privileged to interact with").
/// Answered from the model as it is when the statement runs.
fn routines(
    metastore: &Metastore,
    who: &Principal,
    catalog: &str,
    view: &str,
    columns: &[String],
    direct_only: bool,
) -> Result<Outcome, StatementError> {
    let all_columns = if view == "routines" { ROUTINE_COLUMNS } else { PARAMETER_COLUMNS };
    if direct_only {
        // Neither view has `INHERITED_FROM`.
        return Err(error(
            "UNRESOLVED_COLUMN.WITH_SUGGESTION",
            format!("A column with name `inherited_from` cannot be resolved. Did you mean one of {all_columns:?}?"),
        ));
    }
    let picked = pick(columns, all_columns)?;
    let every_catalog = catalog == "system";
    let mut rows = Vec::new();
    let visible =
        metastore.functions.values().filter(|f| every_catalog || f.catalog.eq_ignore_ascii_case(catalog)).filter(|f| {
            metastore.require_use(who, &f.catalog, Some(&f.schema)).is_ok()
                && crate::databricks::unity_catalog::may_execute(metastore, who, f)
        });
    for function in visible {
        let names = [json!(function.catalog), json!(function.schema), json!(function.name)];
        if view == "routines" {
            let mut row: Vec<Value> = names.iter().chain(&names).cloned().collect();
            row.extend([
                json!("FUNCTION"),
                json!(super::super::metastore::type_name(&function.returns)),
                json!(function.returns),
                json!("SQL"),
                json!(function.body),
                Value::Null,
                json!(function.common.comment),
            ]);
            rows.push(picked.iter().map(|&i| row[i].clone()).collect());
        } else {
            for (position, (name, type_text)) in function.parameters.iter().enumerate() {
                let mut row: Vec<Value> = names.to_vec();
                row.extend([
                    json!(position + 1),
                    json!("IN"),
                    json!("NO"),
                    json!("NO"),
                    json!(name),
                    json!(super::super::metastore::type_name(type_text)),
                    json!(type_text),
                ]);
                rows.push(picked.iter().map(|&i| row[i].clone()).collect());
            }
        }
    }
    Ok(Outcome { columns: picked.iter().map(|&i| all_columns[i]).collect(), rows })
}

#[cfg(test)]
mod tests {
    use super::super::super::metastore::Function;
    use super::super::super::seed::{generate, Seed, ADMIN_GROUP};
    use super::*;

    fn ask(metastore: &Metastore, who: &Principal, view: &str, columns: &[&str]) -> Result<Outcome, StatementError> {
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        query(metastore, who, "system", view, &columns, false)
    }

    #[test]
    fn routines_and_parameters_show_the_functions_the_caller_may_execute() {
        let (mut metastore, _) = generate(&Seed { seed: 7, tables: 40, now_ms: 0 });
        let schema = metastore.schemas.keys().next().unwrap().clone();
        let function = Function::sql(
            &format!("{schema}.scaled"),
            &[("amount", "DECIMAL(10,2)"), ("n", "INT")],
            "DECIMAL(12,2)",
            "amount * n",
            "owner-group",
        );
        metastore.functions.insert(function.full_name(), function);
        let admin = Principal { name: "admin@x".into(), groups: vec![ADMIN_GROUP.into()] };
        let stranger = Principal { name: "nobody@x".into(), groups: vec!["account users".into()] };

        let routines = ask(
            &metastore,
            &admin,
            "routines",
            &["routine_name", "full_data_type", "routine_body", "external_language"],
        )
        .unwrap();
        assert_eq!(routines.rows, vec![vec![json!("scaled"), json!("DECIMAL(12,2)"), json!("SQL"), Value::Null]]);
        let parameters = ask(
            &metastore,
            &admin,
            "parameters",
            &["specific_name", "ordinal_position", "parameter_name", "full_data_type"],
        )
        .unwrap();
        assert_eq!(parameters.columns, ["specific_name", "ordinal_position", "parameter_name", "full_data_type"]);
        assert_eq!(parameters.rows.len(), 2);
        assert_eq!(parameters.rows[0][1], json!(1), "1-based positions");
        assert_eq!(parameters.rows[1][2], json!("n"));

        assert!(
            ask(&metastore, &stranger, "routines", &["routine_name"]).unwrap().rows.is_empty(),
            "no EXECUTE, no row"
        );
        for (view, column) in
            [("routines", "security_type"), ("routines", "routine_owner"), ("parameters", "parameter_default")]
        {
            let refused = ask(&metastore, &admin, view, &[column]).unwrap_err();
            assert!(refused.message.contains("UNRESOLVED_COLUMN"), "{view}.{column}: {}", refused.message);
        }
        let columns = vec!["routine_name".to_string()];
        assert!(query(&metastore, &admin, "system", "routines", &columns, true).is_err(), "no inherited_from");
    }
}
