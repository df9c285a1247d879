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

#[cfg(test)]
mod tests {
    use super::super::information_schema;
    use super::super::parse::parse;
    use super::*;
    use crate::databricks::seed::{generate, Seed, ADMIN_GROUP};

    fn world() -> (Metastore, String, String) {
        let (primary, _) = generate(&Seed { seed: 7, tables: 40, now_ms: 1_800_000_000_000 });
        let table = primary
            .tables
            .values()
            .find(|t| t.table_type == "MANAGED" && t.common.owner == ADMIN_GROUP && t.common.tags.is_empty())
            .map(|t| t.full_name())
            .unwrap();
        let view = primary.tables.values().find(|t| t.table_type == "VIEW").map(|t| t.full_name()).unwrap();
        (primary, table, view)
    }

    fn admin() -> Principal {
        Principal { name: "alice@contoso.example".into(), groups: vec![ADMIN_GROUP.into(), "account users".into()] }
    }

    fn nobody() -> Principal {
        Principal { name: "eve@contoso.example".into(), groups: vec!["account users".into()] }
    }

    fn run(m: &mut Metastore, who: &Principal, sql: &str) -> Result<Outcome, StatementError> {
        let statement = parse(sql).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        execute(m, who, &statement, None, None).expect("a metadata statement")
    }

    fn quoted(full_name: &str) -> String {
        full_name.split('.').map(|p| format!("`{p}`")).collect::<Vec<_>>().join(".")
    }

    #[test]
    fn comments_tags_and_properties_are_set_idempotently_and_shown_by_the_tag_views() {
        let (mut m, table, view) = world();
        let (t, v) = (quoted(&table), quoted(&view));
        let catalog = table.split('.').next().unwrap().to_string();
        for sql in [
            format!("COMMENT ON TABLE {t} IS 'orders'"),
            format!("COMMENT ON COLUMN {t}.`email` IS 'contact'"),
            format!("COMMENT ON TABLE {v} IS 'a view'"),
            format!("ALTER TABLE {t} SET TAGS ('tier' = 'gold', 'pii' = '')"),
            format!("ALTER TABLE {t} SET TAGS ('tier' = 'gold')"),
            format!("ALTER TABLE {t} ALTER COLUMN `email` SET TAGS ('pii' = 'email')"),
            format!("ALTER VIEW {v} ALTER COLUMN `x` SET TAGS ('pii' = 'x')"),
            format!("ALTER CATALOG `{catalog}` SET TAGS ('env' = 'prod')"),
            format!("ALTER TABLE {t} SET TBLPROPERTIES ('quality' = 'gold', 'team' = 'x')"),
            format!("ALTER TABLE {t} UNSET TBLPROPERTIES IF EXISTS ('team', 'never')"),
            format!("ALTER TABLE {t} UNSET TAGS ('pii', 'never')"),
        ] {
            run(&mut m, &admin(), &sql).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        }
        let orders = &m.tables[&table];
        assert_eq!(orders.common.comment.as_deref(), Some("orders"));
        assert_eq!(orders.common.tags, [("tier".to_string(), "gold".to_string())].into());
        assert_eq!(orders.common.properties.get("quality").map(String::as_str), Some("gold"));
        assert!(!orders.common.properties.contains_key("team"));
        let email = &orders.column_metadata["email"];
        assert_eq!((email.comment.as_deref(), email.tags["pii"].as_str()), (Some("contact"), "email"));
        assert_eq!(m.tables[&view].common.comment.as_deref(), Some("a view"));

        let ask = |m: &Metastore, who: &Principal, view: &str, columns: &[&str]| {
            let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
            information_schema::query(m, who, "system", view, &columns, false).unwrap().rows
        };
        let rows = ask(&m, &admin(), "column_tags", &["table_name", "column_name", "tag_name", "tag_value"]);
        let name = table.rsplit('.').next().unwrap();
        assert!(rows.contains(&vec![
            serde_json::json!(name),
            serde_json::json!("email"),
            serde_json::json!("pii"),
            serde_json::json!("email")
        ]));
        let catalogs = ask(&m, &admin(), "catalog_tags", &["catalog_name", "tag_name", "tag_value"]);
        assert!(catalogs.contains(&vec![
            serde_json::json!(catalog),
            serde_json::json!("env"),
            serde_json::json!("prod")
        ]));
        assert!(ask(&m, &nobody(), "catalog_tags", &["catalog_name", "tag_name"]).is_empty(), "visible objects only");
        // The documented columns only; no INHERITED_FROM on a tag view.
        let unknown = information_schema::query(&m, &admin(), "system", "table_tags", &["owner".into()], false);
        assert!(unknown.is_err());
        let filtered = information_schema::query(&m, &admin(), "system", "table_tags", &["tag_name".into()], true);
        assert!(filtered.is_err());

        // Removing: IS NULL, UNSET.
        run(&mut m, &admin(), &format!("COMMENT ON COLUMN {t}.`email` IS NULL")).unwrap();
        run(&mut m, &admin(), &format!("ALTER TABLE {t} ALTER COLUMN `email` UNSET TAGS ('pii')")).unwrap();
        assert!(!m.tables[&table].column_metadata.contains_key("email"));
    }

    #[test]
    fn refusals_as_databricks_words_them() {
        let (mut m, table, view) = world();
        let (t, v) = (quoted(&table), quoted(&view));
        let code = |r: Result<Outcome, StatementError>| r.map(|_| ()).unwrap_err().error_code;
        // Not the owner, no APPLY TAG / MODIFY / MANAGE (nor USE CATALOG).
        let denied = |c: String| matches!(c.as_str(), "PERMISSION_DENIED" | "INSUFFICIENT_PERMISSIONS");
        assert!(denied(code(run(&mut m, &nobody(), &format!("ALTER TABLE {t} SET TAGS ('a' = 'b')")))));
        assert!(denied(code(run(&mut m, &nobody(), &format!("COMMENT ON TABLE {t} IS 'x'")))));
        // A governed tag: ownership does not bypass ASSIGN.
        m.governed_tags.insert("pii".into(), ["stewards".into()].into());
        let governed = run(&mut m, &admin(), &format!("ALTER TABLE {t} SET TAGS ('pii' = 'email')"));
        assert!(governed.as_ref().is_err_and(|e| e.message.contains("ASSIGN")), "{governed:?}");
        let steward = Principal { name: "sam".into(), groups: vec!["stewards".into(), ADMIN_GROUP.into()] };
        run(&mut m, &steward, &format!("ALTER TABLE {t} SET TAGS ('pii' = 'email')")).unwrap();
        // Table properties: not on a view, not the reserved keys, UNSET of a
        // missing key only with IF EXISTS.
        let on_view = run(&mut m, &admin(), &format!("ALTER TABLE {v} SET TBLPROPERTIES ('a' = 'b')"));
        assert_eq!(code(on_view), "EXPECT_TABLE_NOT_VIEW");
        let reserved = run(&mut m, &admin(), &format!("ALTER TABLE {t} SET TBLPROPERTIES ('owner' = 'me')"));
        assert_eq!(code(reserved), "UNSUPPORTED_FEATURE.SET_TABLE_PROPERTY");
        let missing = run(&mut m, &admin(), &format!("ALTER TABLE {t} UNSET TBLPROPERTIES ('never')"));
        assert_eq!(code(missing), "UNSET_NONEXISTENT_PROPERTIES");
        // A modelled table's columns are checked.
        let external = m.tables.values().find(|t| !t.columns.is_empty()).map(|t| quoted(&t.full_name())).unwrap();
        let column = run(&mut m, &admin(), &format!("COMMENT ON COLUMN {external}.`nope` IS 'x'"));
        assert_eq!(code(column), "UNRESOLVED_COLUMN.WITH_SUGGESTION");
        // Unknown objects.
        let gone = run(&mut m, &admin(), "COMMENT ON VOLUME `main`.`raw_00`.`nope` IS 'x'");
        assert!(gone.is_err());
    }

    #[test]
    fn unknown_forms_do_not_parse() {
        for sql in [
            "ALTER TABLE t SET TAGS ('a' = 'b', 'c')",
            "ALTER TABLE t SET TAGS ()",
            "ALTER TABLE t SET TAGS (a = 'b')",
            "ALTER TABLE t UNSET TAGS 'a'",
            "ALTER VIEW v ALTER `c` SET TAGS ('a' = 'b')",
            "ALTER CATALOG c SET TBLPROPERTIES ('a' = 'b')",
            "COMMENT ON FUNCTION c.s.f IS 'x'",
            "COMMENT ON COLUMN c IS 'x'",
            "COMMENT ON COLUMN a.b.c.d.e IS 'x'",
            "COMMENT ON TABLE t IS x",
            "COMMENT ON SHARE s IS 'x'",
        ] {
            assert!(parse(sql).is_err(), "{sql} parsed");
        }
    }
}
