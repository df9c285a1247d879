//! The statements that set metadata clones do not carry (`metadata.rs`);
//! the change itself, its dry-run line and its effect on the snapshot model
//! are `metadata_change.rs`'s.
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

use super::metadata_change::MetadataChange;
use super::object::{ObjectKind, ObjectRef};
use super::sql_quote::{quote_identifier, quote_literal, quote_name, securable, SqlError};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::snapshot::Tags;

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
