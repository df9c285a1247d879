//! The actions that set metadata clones do not carry (`metadata.rs`): what
//! each one says in a dry run, the statement it sends, and what it does on
//! the snapshot model.
//!
//! Every statement is idempotent (Databricks SQL reference):
//! - `COMMENT ON {TABLE | VOLUME} name IS {'text' | NULL}` and `COMMENT ON
//!   COLUMN relation.column IS …` (a relation is a table or a view);
//! - `ALTER {CATALOG | SCHEMA | TABLE | VIEW | VOLUME} name SET TAGS ('k' =
//!   'v', …)` / `UNSET TAGS ('k', …)`, and for a column `ALTER {TABLE |
//!   VIEW} name ALTER COLUMN c SET TAGS (…)` / `UNSET TAGS (…)`: setting a
//!   tag again to the same value succeeds and changes nothing, unsetting an
//!   unassigned key is a no-op;
//! - `ALTER TABLE t SET TBLPROPERTIES ('k' = 'v', …)` / `UNSET TBLPROPERTIES
//!   IF EXISTS ('k', …)`.
//!
//! A tag governed by a tag policy may be assigned only by who holds ASSIGN
//! on it ("Manage permissions on governed tags"; object ownership does not
//! bypass it): Databricks refuses the statement, and the executor reports
//! that object's action failed with Databricks' words.

use std::collections::{BTreeMap, BTreeSet};

use super::model::common_mut;
use super::object::{ObjectKind, ObjectRef};
use super::snapshot::{ColumnMetadata, Common, Snapshot, Tags};
use super::sql::{quote_identifier, quote_literal, quote_name, securable, SqlError};

/// One change of metadata on one object (the action's object).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum MetadataChange {
    /// The comment of a table, view or volume (`None` removes it).
    Comment { comment: Option<String> },
    /// The comment of a column of a table or view.
    ColumnComment { column: String, comment: Option<String> },
    /// Tags added or changed on the object, or on one of its columns.
    SetTags { column: Option<String>, tags: Tags },
    /// Tags removed from the object, or from one of its columns.
    UnsetTags { column: Option<String>, keys: BTreeSet<String> },
    /// Table properties a person set, added or changed.
    SetProperties { properties: BTreeMap<String, String> },
    /// Table properties removed.
    UnsetProperties { keys: BTreeSet<String> },
}

fn listed<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    items.into_iter().cloned().collect::<Vec<_>>().join(", ")
}

/// One line for a dry run or a progress card.
pub fn describe(object: &ObjectRef, change: &MetadataChange) -> String {
    let on = |column: &Option<String>| match column {
        Some(column) => format!("column {column} of {object}"),
        None => object.to_string(),
    };
    match change {
        MetadataChange::Comment { comment: Some(_) } => format!("set the comment of {object}"),
        MetadataChange::Comment { comment: None } => format!("remove the comment of {object}"),
        MetadataChange::ColumnComment { column, comment: Some(_) } => {
            format!("set the comment of column {column} of {object}")
        }
        MetadataChange::ColumnComment { column, comment: None } => {
            format!("remove the comment of column {column} of {object}")
        }
        MetadataChange::SetTags { column, tags } => format!("tag {} with {}", on(column), listed(tags.keys())),
        MetadataChange::UnsetTags { column, keys } => format!("remove tags {} from {}", listed(keys), on(column)),
        MetadataChange::SetProperties { properties } => {
            format!("set table properties {} of {object}", listed(properties.keys()))
        }
        MetadataChange::UnsetProperties { keys } => format!("remove table properties {} of {object}", listed(keys)),
    }
}

/// `'k' = 'v', …`
fn pairs(map: &BTreeMap<String, String>) -> Result<String, SqlError> {
    let rendered: Result<Vec<String>, SqlError> =
        map.iter().map(|(k, v)| Ok(format!("{} = {}", quote_literal(k)?, quote_literal(v)?))).collect();
    Ok(rendered?.join(", "))
}

/// `'k', …`
fn keys(keys: &BTreeSet<String>) -> Result<String, SqlError> {
    let rendered: Result<Vec<String>, SqlError> = keys.iter().map(|k| quote_literal(k)).collect();
    Ok(rendered?.join(", "))
}

fn comment_literal(comment: &Option<String>) -> Result<String, SqlError> {
    match comment {
        Some(text) => text_literal(text),
        None => Ok("NULL".into()),
    }
}

/// A comment as a string literal: like `quote_literal`, but the line breaks
/// and tabs a comment may hold go in as the escapes Databricks SQL string
/// literals read (`\n`, `\r`, `\t`); any other control character is refused.
pub fn text_literal(text: &str) -> Result<String, SqlError> {
    let escaped = text.replace('\\', "\\\\").replace('\n', "\\n").replace('\r', "\\r").replace('\t', "\\t");
    let quoted = escaped.replace('\'', "\\'");
    if quoted.chars().any(char::is_control) {
        return quote_literal(text);
    }
    Ok(format!("'{quoted}'"))
}

/// The statement for `change` on `object` (whose path is already checked).
pub fn render(object: &ObjectRef, change: &MetadataChange) -> Result<String, SqlError> {
    let name = quote_name(&object.path)?;
    let kind = object.kind;
    let relation = matches!(kind, ObjectKind::Table | ObjectKind::View);
    let need_relation = || {
        if relation {
            Ok(())
        } else {
            Err(SqlError::Unsupported(format!("a column or table property of a {}", kind.as_str())))
        }
    };
    let target = |column: &Option<String>| -> Result<String, SqlError> {
        match column {
            Some(column) => {
                need_relation()?;
                Ok(format!("ALTER {} {name} ALTER COLUMN {}", securable(kind)?, quote_identifier(column)?))
            }
            None => Ok(format!("ALTER {} {name}", securable(kind)?)),
        }
    };
    match change {
        MetadataChange::Comment { comment } => {
            let keyword = match kind {
                ObjectKind::Table | ObjectKind::View => "TABLE",
                ObjectKind::Volume => "VOLUME",
                other => return Err(SqlError::Unsupported(format!("a comment statement on a {}", other.as_str()))),
            };
            Ok(format!("COMMENT ON {keyword} {name} IS {}", comment_literal(comment)?))
        }
        MetadataChange::ColumnComment { column, comment } => {
            need_relation()?;
            Ok(format!("COMMENT ON COLUMN {name}.{} IS {}", quote_identifier(column)?, comment_literal(comment)?))
        }
        MetadataChange::SetTags { column, tags } if !tags.is_empty() => {
            Ok(format!("{} SET TAGS ({})", target(column)?, pairs(tags)?))
        }
        MetadataChange::UnsetTags { column, keys: removed } if !removed.is_empty() => {
            Ok(format!("{} UNSET TAGS ({})", target(column)?, keys(removed)?))
        }
        MetadataChange::SetProperties { properties } if kind == ObjectKind::Table && !properties.is_empty() => {
            Ok(format!("ALTER TABLE {name} SET TBLPROPERTIES ({})", pairs(properties)?))
        }
        MetadataChange::UnsetProperties { keys: removed } if kind == ObjectKind::Table && !removed.is_empty() => {
            Ok(format!("ALTER TABLE {name} UNSET TBLPROPERTIES IF EXISTS ({})", keys(removed)?))
        }
        _ => Err(SqlError::Unsupported(format!("an empty or misplaced metadata change on {object}"))),
    }
}

/// What `change` does on the model: only on an object that exists, and
/// columns only on tables and views.
pub fn apply(s: &mut Snapshot, object: &ObjectRef, change: &MetadataChange) {
    if let Some(column) = column_of(change) {
        let relation = matches!(object.kind, ObjectKind::Table | ObjectKind::View);
        let Some(table) = s.tables.get_mut(&object.full_name()).filter(|_| relation) else { return };
        let columns = &mut table.column_metadata;
        let entry = columns.entry(column.to_string()).or_default();
        change_column(entry, change);
        if entry.is_empty() {
            columns.remove(column);
        }
        return;
    }
    let Some(common) = common_mut(s, object) else { return };
    change_common(common, change);
}

fn column_of(change: &MetadataChange) -> Option<&str> {
    match change {
        MetadataChange::ColumnComment { column, .. } => Some(column),
        MetadataChange::SetTags { column, .. } | MetadataChange::UnsetTags { column, .. } => column.as_deref(),
        _ => None,
    }
}

fn change_column(entry: &mut ColumnMetadata, change: &MetadataChange) {
    match change {
        MetadataChange::ColumnComment { comment, .. } => entry.comment = comment.clone(),
        MetadataChange::SetTags { tags, .. } => entry.tags.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone()))),
        MetadataChange::UnsetTags { keys, .. } => entry.tags.retain(|k, _| !keys.contains(k)),
        _ => {}
    }
}

fn change_common(common: &mut Common, change: &MetadataChange) {
    match change {
        MetadataChange::Comment { comment } => common.comment = comment.clone(),
        MetadataChange::SetTags { tags, .. } => common.tags.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone()))),
        MetadataChange::UnsetTags { keys, .. } => common.tags.retain(|k, _| !keys.contains(k)),
        MetadataChange::SetProperties { properties } => {
            common.properties.extend(properties.iter().map(|(k, v)| (k.clone(), v.clone())))
        }
        MetadataChange::UnsetProperties { keys } => common.properties.retain(|k, _| !keys.contains(k)),
        MetadataChange::ColumnComment { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(kind: ObjectKind, path: &[&str]) -> ObjectRef {
        ObjectRef::new(kind, path.iter().copied())
    }

    #[test]
    fn every_change_renders_quoted_and_refuses_what_the_object_cannot_have() {
        let t = table(ObjectKind::Table, &["c", "s", "o'`x"]);
        let tags: Tags = [("pii".to_string(), "it's".to_string())].into();
        let cases = [
            (
                MetadataChange::Comment { comment: Some("a 'b'".into()) },
                "COMMENT ON TABLE `c`.`s`.`o'``x` IS 'a \\'b\\''",
            ),
            (MetadataChange::Comment { comment: None }, "COMMENT ON TABLE `c`.`s`.`o'``x` IS NULL"),
            (
                MetadataChange::ColumnComment { column: "e`m".into(), comment: Some("x".into()) },
                "COMMENT ON COLUMN `c`.`s`.`o'``x`.`e``m` IS 'x'",
            ),
            (
                MetadataChange::SetTags { column: None, tags: tags.clone() },
                "ALTER TABLE `c`.`s`.`o'``x` SET TAGS ('pii' = 'it\\'s')",
            ),
            (
                MetadataChange::SetTags { column: Some("email".into()), tags: tags.clone() },
                "ALTER TABLE `c`.`s`.`o'``x` ALTER COLUMN `email` SET TAGS ('pii' = 'it\\'s')",
            ),
            (
                MetadataChange::UnsetTags { column: None, keys: ["a".to_string(), "b".to_string()].into() },
                "ALTER TABLE `c`.`s`.`o'``x` UNSET TAGS ('a', 'b')",
            ),
            (
                MetadataChange::SetProperties { properties: [("team".to_string(), "x".to_string())].into() },
                "ALTER TABLE `c`.`s`.`o'``x` SET TBLPROPERTIES ('team' = 'x')",
            ),
            (
                MetadataChange::UnsetProperties { keys: ["team".to_string()].into() },
                "ALTER TABLE `c`.`s`.`o'``x` UNSET TBLPROPERTIES IF EXISTS ('team')",
            ),
        ];
        for (change, sql) in cases {
            assert_eq!(render(&t, &change).unwrap(), sql);
            let parsed = sandbox::databricks::sql::parse::parse(sql);
            assert!(parsed.is_ok(), "{sql}: {parsed:?}");
        }
        let catalog = table(ObjectKind::Catalog, &["main"]);
        let set = MetadataChange::SetTags { column: None, tags: tags.clone() };
        assert_eq!(render(&catalog, &set).unwrap(), "ALTER CATALOG `main` SET TAGS ('pii' = 'it\\'s')");
        let view = table(ObjectKind::View, &["c", "s", "v"]);
        let column = MetadataChange::SetTags { column: Some("a".into()), tags: tags.clone() };
        assert_eq!(
            render(&view, &column).unwrap(),
            "ALTER VIEW `c`.`s`.`v` ALTER COLUMN `a` SET TAGS ('pii' = 'it\\'s')"
        );
        let volume = table(ObjectKind::Volume, &["c", "s", "v"]);
        let comment = MetadataChange::Comment { comment: Some("files".into()) };
        assert_eq!(render(&volume, &comment).unwrap(), "COMMENT ON VOLUME `c`.`s`.`v` IS 'files'");
        // No column of a volume, no comment statement on a catalog (its
        // comment goes by REST), no table property of a view, nothing empty.
        assert!(render(&volume, &column).is_err());
        assert!(render(&catalog, &comment).is_err());
        let properties = MetadataChange::SetProperties { properties: [("a".to_string(), "b".to_string())].into() };
        assert!(render(&view, &properties).is_err());
        assert!(render(&t, &MetadataChange::SetTags { column: None, tags: Tags::new() }).is_err());
        // Line breaks and tabs go in escaped (and the warehouse reads them
        // back); other control characters are refused.
        let newline = MetadataChange::Comment { comment: Some("a\nb\tc\\".into()) };
        let sql = render(&t, &newline).unwrap();
        assert_eq!(sql, "COMMENT ON TABLE `c`.`s`.`o'``x` IS 'a\\nb\\tc\\\\'");
        assert!(matches!(
            sandbox::databricks::sql::parse::parse(&sql),
            Ok(sandbox::databricks::sql::parse::Statement::Comment { comment: Some(c), .. }) if c == "a\nb\tc\\"
        ));
        let bell = MetadataChange::Comment { comment: Some("a\u{7}".into()) };
        assert!(render(&t, &bell).is_err(), "control characters are refused");
    }
}
