//! `ALTER TABLE … ADD CONSTRAINT` and `… DROP CONSTRAINT` for informational
//! primary and foreign keys, checked as Databricks checks them (FIDELITY.md,
//! "Informational keys"): against the catalog when added, never against the
//! rows.
//!
//! - The caller owns the table, and for a foreign key the parent table too
//!   (the table constraints API: "be the owner of the table", "be the owner
//!   of the referenced parent table").
//! - A name is unique within the schema (the CONSTRAINT clause: "The name
//!   must be unique within the schema").
//! - A table has at most one primary key, on distinct columns.
//! - A foreign key references a table that has a primary key, naming all of
//!   its columns (the CONSTRAINT clause's `parent_column`); without the
//!   column list it means that key. A foreign key has as many columns as
//!   the key it references.
//! - A primary key that a foreign key references is dropped only with
//!   `CASCADE`, which drops those foreign keys too (`RESTRICT`, the default,
//!   refuses).

use super::super::metastore::{KeyConstraint, Metastore, Principal, Securable};
use super::execute::{failed, qualify, Outcome, StatementError};

/// The target table's full name, once it is known to be a table the caller owns.
fn owned_table(
    metastore: &Metastore,
    who: &Principal,
    name: &[String],
    catalog: Option<&str>,
    schema: Option<&str>,
) -> Result<String, StatementError> {
    let full_name = qualify(name, catalog, schema, 3)?.join(".");
    let table = metastore.tables.get(&full_name).ok_or_else(|| {
        failed(
            "TABLE_OR_VIEW_NOT_FOUND",
            format!("The table or view `{}` cannot be found.", full_name.replace('.', "`.`")),
        )
    })?;
    if table.table_type == "VIEW" {
        return Err(failed("EXPECT_TABLE_NOT_VIEW", format!("'{full_name}' is a view, not a table.")));
    }
    if !metastore.owns(who, Securable::Table, &full_name) {
        return Err(failed(
            "INSUFFICIENT_PERMISSIONS",
            format!("Only the owner of table '{full_name}' may add or drop its constraints."),
        ));
    }
    Ok(full_name)
}

/// The schema (`catalog.schema`) of a table's full name.
fn schema_of(full_name: &str) -> &str {
    full_name.rsplit_once('.').map_or(full_name, |(schema, _)| schema)
}

/// `ALTER TABLE name ADD CONSTRAINT constraint PRIMARY KEY (columns)` or
/// `… FOREIGN KEY (columns) REFERENCES parent [(parent_columns)]`.
#[allow(clippy::too_many_arguments)]
pub fn add(
    metastore: &mut Metastore,
    who: &Principal,
    name: &[String],
    constraint: &str,
    columns: &[String],
    references: Option<&(Vec<String>, Vec<String>)>,
    rely: bool,
    defaults: (Option<&str>, Option<&str>),
) -> Result<Outcome, StatementError> {
    let (catalog, schema) = defaults;
    let full_name = owned_table(metastore, who, name, catalog, schema)?;
    let schema_name = schema_of(&full_name).to_string();
    let taken = metastore
        .tables
        .values()
        .filter(|t| format!("{}.{}", t.catalog, t.schema) == schema_name)
        .any(|t| t.constraints.iter().any(|c| c.name.eq_ignore_ascii_case(constraint)));
    if taken {
        return Err(failed(
            "CONSTRAINT_ALREADY_EXISTS",
            format!("Constraint '{constraint}' already exists in schema '{schema_name}'."),
        ));
    }
    let distinct: std::collections::BTreeSet<String> = columns.iter().map(|c| c.to_ascii_lowercase()).collect();
    if columns.is_empty() || distinct.len() != columns.len() {
        return Err(failed(
            "INVALID_CONSTRAINT_COLUMNS",
            format!("Constraint '{constraint}' names no column twice, and at least one."),
        ));
    }
    let table = &metastore.tables[&full_name];
    if !table.columns.is_empty() {
        if let Some(unknown) = columns.iter().find(|c| !table.columns.iter().any(|k| k.name.eq_ignore_ascii_case(c))) {
            return Err(failed(
                "UNRESOLVED_COLUMN.WITH_SUGGESTION",
                format!("A column with name `{unknown}` cannot be resolved in table '{full_name}'."),
            ));
        }
    }
    let references = match references {
        None => {
            if table.constraints.iter().any(|c| c.references.is_none()) {
                return Err(failed(
                    "MULTIPLE_PRIMARY_KEYS",
                    format!("Table '{full_name}' already has a primary key; a table has at most one."),
                ));
            }
            None
        }
        Some((parent, parent_columns)) => {
            let parent_name = qualify(parent, catalog, schema, 3)?.join(".");
            let parent_table = metastore.tables.get(&parent_name).ok_or_else(|| {
                failed(
                    "TABLE_OR_VIEW_NOT_FOUND",
                    format!("The table or view `{}` cannot be found.", parent_name.replace('.', "`.`")),
                )
            })?;
            if !metastore.owns(who, Securable::Table, &parent_name) {
                return Err(failed(
                    "INSUFFICIENT_PERMISSIONS",
                    format!("Only the owner of table '{parent_name}' may have a foreign key reference it."),
                ));
            }
            let key = parent_table.constraints.iter().find(|c| c.references.is_none()).ok_or_else(|| {
                failed(
                    "UC_REFERENTIAL_CONSTRAINT_DOES_NOT_EXIST",
                    format!("Table `{}` does not have a primary key constraint.", parent_name.replace('.', "`.`")),
                )
            })?;
            let parent_columns = if parent_columns.is_empty() { key.columns.clone() } else { parent_columns.clone() };
            let same = |a: &[String], b: &[String]| {
                let set =
                    |v: &[String]| v.iter().map(|c| c.to_ascii_lowercase()).collect::<std::collections::BTreeSet<_>>();
                a.len() == b.len() && set(a) == set(b)
            };
            if !same(&parent_columns, &key.columns) {
                return Err(failed(
                    "UC_REFERENTIAL_CONSTRAINT_DOES_NOT_EXIST",
                    format!(
                        "The primary key of `{}` is ({}), not ({}).",
                        parent_name.replace('.', "`.`"),
                        key.columns.join(", "),
                        parent_columns.join(", ")
                    ),
                ));
            }
            if parent_columns.len() != columns.len() {
                return Err(failed(
                    "INVALID_CONSTRAINT_COLUMNS",
                    format!(
                        "Foreign key '{constraint}' has {} column(s) and references a key of {}.",
                        columns.len(),
                        parent_columns.len()
                    ),
                ));
            }
            Some((parent_name, parent_columns))
        }
    };
    let key = KeyConstraint { name: constraint.to_string(), columns: columns.to_vec(), references, rely };
    if let Some(table) = metastore.tables.get_mut(&full_name) {
        table.constraints.push(key);
    }
    Ok(Outcome::default())
}

/// `ALTER TABLE name DROP CONSTRAINT [IF EXISTS] constraint [RESTRICT | CASCADE]`.
pub fn drop(
    metastore: &mut Metastore,
    who: &Principal,
    name: &[String],
    constraint: &str,
    if_exists: bool,
    cascade: bool,
    defaults: (Option<&str>, Option<&str>),
) -> Result<Outcome, StatementError> {
    let (catalog, schema) = defaults;
    let full_name = owned_table(metastore, who, name, catalog, schema)?;
    let Some(key) = metastore.tables[&full_name].constraints.iter().find(|c| c.name.eq_ignore_ascii_case(constraint))
    else {
        return if if_exists {
            Ok(Outcome::default())
        } else {
            Err(failed(
                "CONSTRAINT_DOES_NOT_EXIST",
                format!("Cannot drop nonexistent constraint '{constraint}' from table '{full_name}'."),
            ))
        };
    };
    let primary = key.references.is_none();
    let name = key.name.clone();
    let referencing: Vec<(String, String)> = if primary {
        metastore
            .tables
            .iter()
            .flat_map(|(table, t)| {
                t.constraints
                    .iter()
                    .filter(|c| c.references.as_ref().is_some_and(|(parent, _)| *parent == full_name))
                    .map(move |c| (table.clone(), c.name.clone()))
            })
            .collect()
    } else {
        Vec::new()
    };
    if !referencing.is_empty() && !cascade {
        let names: Vec<String> = referencing.iter().map(|(t, c)| format!("{c} on {t}")).collect();
        return Err(failed(
            "CONSTRAINT_DEPENDENCY",
            format!(
                "Cannot drop primary key '{name}' of '{full_name}': foreign keys reference it ({}). Drop them first or use CASCADE.",
                names.join(", ")
            ),
        ));
    }
    for (table, key) in referencing {
        if let Some(t) = metastore.tables.get_mut(&table) {
            t.constraints.retain(|c| c.name != key);
        }
    }
    if let Some(table) = metastore.tables.get_mut(&full_name) {
        table.constraints.retain(|c| c.name != name);
    }
    Ok(Outcome::default())
}
