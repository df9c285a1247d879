//! Comments, tags and table properties: `COMMENT ON`, `SET TAGS` /
//! `UNSET TAGS` (object or column) and `SET TBLPROPERTIES` / `UNSET
//! TBLPROPERTIES`, as Databricks runs them (SQL reference pages of each
//! statement; FIDELITY.md):
//!
//! - `COMMENT ON CATALOG | SCHEMA | VOLUME`: the owner or MANAGE; `COMMENT
//!   ON TABLE` (a table or a view) and `COMMENT ON COLUMN`: the owner or
//!   MODIFY; `IS NULL` removes the comment. A column of a table whose
//!   columns are modelled must exist (`UNRESOLVED_COLUMN`).
//! - `SET TAGS` / `UNSET TAGS`: the owner or APPLY TAG on the object, and
//!   USE CATALOG / USE SCHEMA on its parents; setting a tag again to the same
//!   value changes nothing, unsetting an unassigned key is a no-op. A
//!   governed tag needs ASSIGN on it whoever owns the object ("View
//!   ownership does not bypass governed-tag authorization").
//! - `SET TBLPROPERTIES` / `UNSET TBLPROPERTIES`: tables only
//!   (`EXPECT_TABLE_NOT_VIEW`), the owner or MANAGE; `UNSET` of a key the
//!   table does not have fails unless `IF EXISTS`
//!   (`UNSET_NONEXISTENT_PROPERTIES`); the reserved keys (`external`,
//!   `location`, `owner`, `provider`) are refused.

use std::collections::BTreeMap;

use super::super::metastore::{Metastore, Principal, Securable};
use super::execute::{failed, qualify, require, Outcome, StatementError};
use super::parse::Statement;

const RESERVED_PROPERTIES: &[&str] = &["external", "location", "owner", "provider"];

/// Runs one of the statements above; `None` when `statement` is another kind.
pub fn execute(
    metastore: &mut Metastore,
    who: &Principal,
    statement: &Statement,
    catalog: Option<&str>,
    schema: Option<&str>,
) -> Option<Result<Outcome, StatementError>> {
    let result = match statement {
        Statement::Comment { securable, name, column, comment } => {
            set_comment(metastore, who, *securable, name, column.as_deref(), comment.clone(), catalog, schema)
        }
        Statement::SetTags { securable, name, column, tags } => {
            tag(metastore, who, *securable, name, column.as_deref(), Tagging::Set(tags), catalog, schema)
        }
        Statement::UnsetTags { securable, name, column, keys } => {
            tag(metastore, who, *securable, name, column.as_deref(), Tagging::Unset(keys), catalog, schema)
        }
        Statement::SetTableProperties { name, properties } => {
            table_properties(metastore, who, name, Properties::Set(properties), catalog, schema)
        }
        Statement::UnsetTableProperties { name, keys, if_exists } => {
            table_properties(metastore, who, name, Properties::Unset(keys, *if_exists), catalog, schema)
        }
        _ => return None,
    };
    Some(result.map(|()| Outcome::default()))
}

fn parts(kind: Securable) -> usize {
    match kind {
        Securable::Schema => 2,
        Securable::Table | Securable::Volume => 3,
        _ => 1,
    }
}

/// The object's full name once it exists and the caller may use its parents.
fn resolve(
    metastore: &Metastore,
    who: &Principal,
    kind: Securable,
    name: &[String],
    catalog: Option<&str>,
    schema: Option<&str>,
) -> Result<String, StatementError> {
    let full = qualify(name, catalog, schema, parts(kind))?;
    match kind {
        Securable::Catalog => {}
        Securable::Schema => metastore.require_use(who, &full[0], None)?,
        _ => metastore.require_use(who, &full[0], Some(&full[1]))?,
    }
    let full_name = full.join(".");
    metastore.common(kind, &full_name)?;
    Ok(full_name)
}

/// A column of `table`: when its columns are modelled, one of them.
fn check_column(metastore: &Metastore, table: &str, column: &str) -> Result<(), StatementError> {
    let Some(table) = metastore.tables.get(table) else { return Ok(()) };
    if !table.columns.is_empty() && !table.columns.iter().any(|c| c.name.eq_ignore_ascii_case(column)) {
        return Err(failed(
            "UNRESOLVED_COLUMN.WITH_SUGGESTION",
            format!("A column with name `{column}` cannot be resolved."),
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn set_comment(
    metastore: &mut Metastore,
    who: &Principal,
    kind: Securable,
    name: &[String],
    column: Option<&str>,
    comment: Option<String>,
    catalog: Option<&str>,
    schema: Option<&str>,
) -> Result<(), StatementError> {
    let full_name = resolve(metastore, who, kind, name, catalog, schema)?;
    if kind == Securable::Table {
        require(metastore, who, kind, &full_name, "MODIFY")?;
    } else {
        metastore.require_manage(who, kind, &full_name)?;
    }
    match column {
        Some(column) => {
            check_column(metastore, &full_name, column)?;
            let Some(table) = metastore.tables.get_mut(&full_name) else { return Ok(()) };
            let entry = table.column_metadata.entry(column.to_string()).or_default();
            entry.comment = comment;
            if entry.comment.is_none() && entry.tags.is_empty() {
                table.column_metadata.remove(column);
            }
        }
        None => metastore.common_mut(kind, &full_name)?.comment = comment,
    }
    Ok(())
}

enum Tagging<'a> {
    Set(&'a BTreeMap<String, String>),
    Unset(&'a [String]),
}

#[allow(clippy::too_many_arguments)]
fn tag(
    metastore: &mut Metastore,
    who: &Principal,
    kind: Securable,
    name: &[String],
    column: Option<&str>,
    tagging: Tagging<'_>,
    catalog: Option<&str>,
    schema: Option<&str>,
) -> Result<(), StatementError> {
    let full_name = resolve(metastore, who, kind, name, catalog, schema)?;
    require(metastore, who, kind, &full_name, "APPLY_TAG")?;
    let keys: Vec<&String> = match &tagging {
        Tagging::Set(tags) => tags.keys().collect(),
        Tagging::Unset(keys) => keys.iter().collect(),
    };
    for key in keys {
        if let Some(assigners) = metastore.governed_tags.get(key) {
            if !who.names().any(|n| assigners.contains(n)) {
                return Err(failed(
                    "PERMISSION_DENIED",
                    format!("User does not have ASSIGN on the governed tag '{key}', which {full_name} would carry."),
                ));
            }
        }
    }
    let tags = match column {
        Some(column) => {
            check_column(metastore, &full_name, column)?;
            let Some(table) = metastore.tables.get_mut(&full_name) else { return Ok(()) };
            &mut table.column_metadata.entry(column.to_string()).or_default().tags
        }
        None => &mut metastore.common_mut(kind, &full_name)?.tags,
    };
    match tagging {
        Tagging::Set(set) => tags.extend(set.iter().map(|(k, v)| (k.clone(), v.clone()))),
        Tagging::Unset(keys) => tags.retain(|k, _| !keys.contains(k)),
    }
    if let (Some(column), Some(table)) = (column, metastore.tables.get_mut(&full_name)) {
        if table.column_metadata.get(column).is_some_and(|m| m.comment.is_none() && m.tags.is_empty()) {
            table.column_metadata.remove(column);
        }
    }
    Ok(())
}

enum Properties<'a> {
    Set(&'a BTreeMap<String, String>),
    Unset(&'a [String], bool),
}

fn table_properties(
    metastore: &mut Metastore,
    who: &Principal,
    name: &[String],
    change: Properties<'_>,
    catalog: Option<&str>,
    schema: Option<&str>,
) -> Result<(), StatementError> {
    let full_name = resolve(metastore, who, Securable::Table, name, catalog, schema)?;
    if metastore.tables.get(&full_name).is_some_and(|t| t.table_type == "VIEW") {
        return Err(failed("EXPECT_TABLE_NOT_VIEW", format!("'{full_name}' is a view, not a table.")));
    }
    metastore.require_manage(who, Securable::Table, &full_name)?;
    let properties = &mut metastore.common_mut(Securable::Table, &full_name)?.properties;
    match change {
        Properties::Set(set) => {
            if let Some(key) = set.keys().find(|k| RESERVED_PROPERTIES.iter().any(|r| k.eq_ignore_ascii_case(r))) {
                return Err(failed(
                    "UNSUPPORTED_FEATURE.SET_TABLE_PROPERTY",
                    format!("The table property '{key}' is reserved and cannot be set."),
                ));
            }
            properties.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Properties::Unset(keys, if_exists) => {
            if let Some(key) = keys.iter().find(|k| !properties.contains_key(*k)).filter(|_| !if_exists) {
                return Err(failed(
                    "UNSET_NONEXISTENT_PROPERTIES",
                    format!("Attempted to unset non-existent properties [{key}] in table {full_name}."),
                ));
            }
            properties.retain(|k, _| !keys.contains(k));
        }
    }
    Ok(())
}
