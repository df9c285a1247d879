//! The statements `verify` sends and how their answers are read: pure.
//!
//! Every table name is quoted part by part with the replication's quoting
//! helper; nothing a person typed reaches SQL unquoted. The functions are
//! Databricks SQL's own (sources in `sandbox/FIDELITY.md`, "Verification"):
//! `COUNT(*)`; `xxhash64(expr1 [, ...])` ("Returns a 64-bit hash value of the
//! arguments", a BIGINT) over `*` (the star clause names every column of the
//! table, in order); `bit_xor(expr)` ("the bitwise XOR of all input values
//! in the group"), which makes the row hash independent of row order and
//! file layout; `DESCRIBE DETAIL` (`format`, `sizeInBytes`); and the
//! catalog's `information_schema.columns` (`full_data_type` per column).

use crate::replication::sql::{quote_name, SqlError};

/// Splits `catalog.schema.table` into its parts; `None` unless three.
pub fn parts(full_name: &str) -> Option<[&str; 3]> {
    let mut split = full_name.split('.');
    let parts = [split.next()?, split.next()?, split.next()?];
    split.next().is_none().then_some(parts)
}

fn quoted(full_name: &str) -> Result<String, SqlError> {
    match parts(full_name) {
        Some(parts) => quote_name(&parts),
        None => Err(SqlError::EmptyIdentifier),
    }
}

/// `SELECT COUNT(*) AS row_count FROM t`.
pub fn count(full_name: &str) -> Result<String, SqlError> {
    Ok(format!("SELECT COUNT(*) AS row_count FROM {}", quoted(full_name)?))
}

/// `SELECT COUNT(*) AS row_count, bit_xor(xxhash64(*)) AS row_hash FROM t`:
/// the rows and an order-independent digest of their content in one scan.
pub fn row_hash(full_name: &str) -> Result<String, SqlError> {
    Ok(format!("SELECT COUNT(*) AS row_count, bit_xor(xxhash64(*)) AS row_hash FROM {}", quoted(full_name)?))
}

/// `DESCRIBE DETAIL t`: the table's format and size.
pub fn detail(full_name: &str) -> Result<String, SqlError> {
    Ok(format!("DESCRIBE DETAIL {}", quoted(full_name)?))
}

/// Every column of every table of `catalog` the caller may see, one statement.
pub fn columns(catalog: &str) -> Result<String, SqlError> {
    Ok(format!(
        "SELECT table_schema, table_name, column_name, full_data_type, ordinal_position FROM {}",
        quote_name(&[catalog, "information_schema", "columns"])?
    ))
}

/// A column as `information_schema.columns` lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Column {
    pub name: String,
    pub data_type: String,
    pub position: i64,
}

/// The answer of [`columns`] by `schema.table`, each table's columns in order.
pub fn read_columns(
    names: &[String],
    rows: &[Vec<Option<String>>],
) -> Option<std::collections::BTreeMap<String, Vec<Column>>> {
    let at = |name: &str| names.iter().position(|c| c.eq_ignore_ascii_case(name));
    let (schema, table, column, data_type, position) =
        (at("table_schema")?, at("table_name")?, at("column_name")?, at("full_data_type")?, at("ordinal_position")?);
    let mut tables: std::collections::BTreeMap<String, Vec<Column>> = Default::default();
    for row in rows {
        let text = |i: usize| row.get(i).cloned().flatten();
        let (Some(s), Some(t), Some(c)) = (text(schema), text(table), text(column)) else { continue };
        tables.entry(format!("{s}.{t}")).or_default().push(Column {
            name: c,
            data_type: text(data_type).unwrap_or_default(),
            position: text(position).and_then(|p| p.trim().parse().ok()).unwrap_or(i64::MAX),
        });
    }
    for columns in tables.values_mut() {
        columns.sort_by_key(|c| c.position);
    }
    Some(tables)
}

/// The single row of an aggregate: `row_count` and, when asked, `row_hash`
/// (a SQL NULL hash is an empty table's: `bit_xor` of no rows).
pub fn read_aggregate(names: &[String], rows: &[Vec<Option<String>>]) -> Option<(i64, Option<String>)> {
    let row = rows.first()?;
    let at = |name: &str| names.iter().position(|c| c.eq_ignore_ascii_case(name));
    let count = row.get(at("row_count")?)?.as_deref()?.trim().parse().ok()?;
    let hash = at("row_hash").map(|i| row.get(i).cloned().flatten().unwrap_or_else(|| "NULL".into()));
    Some((count, hash))
}

/// `DESCRIBE DETAIL`'s `format` and `sizeInBytes`.
pub fn read_detail(names: &[String], rows: &[Vec<Option<String>>]) -> Option<(String, u64)> {
    let row = rows.first()?;
    let at = |name: &str| names.iter().position(|c| c.eq_ignore_ascii_case(name));
    let format = row.get(at("format")?)?.clone().unwrap_or_default();
    let size = row.get(at("sizeInBytes")?)?.as_deref()?.trim().parse().ok()?;
    Some((format, size))
}

/// The SQL error class a failed statement's message starts with
/// (`[INSUFFICIENT_PERMISSIONS] …` → `INSUFFICIENT_PERMISSIONS`).
pub fn error_class(message: &str) -> Option<&str> {
    let rest = message.trim_start().strip_prefix('[')?;
    let (class, _) = rest.split_once(']')?;
    (!class.is_empty() && class.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .then_some(class)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn every_name_is_quoted_part_by_part() {
        assert_eq!(count("main.sales.or`ders").unwrap(), "SELECT COUNT(*) AS row_count FROM `main`.`sales`.`or``ders`");
        assert_eq!(
            row_hash("main.sales.orders").unwrap(),
            "SELECT COUNT(*) AS row_count, bit_xor(xxhash64(*)) AS row_hash FROM `main`.`sales`.`orders`"
        );
        assert_eq!(detail("main.sales.orders").unwrap(), "DESCRIBE DETAIL `main`.`sales`.`orders`");
        assert_eq!(
            columns("main").unwrap(),
            "SELECT table_schema, table_name, column_name, full_data_type, ordinal_position FROM `main`.`information_schema`.`columns`"
        );
        assert!(count("main.orders").is_err());
        assert!(count("a.b.c.d").is_err());
        assert!(count("main.sales.bad\nname").is_err());
    }

    #[test]
    fn answers_are_read_by_column_name() {
        let names = strings(&["table_schema", "table_name", "column_name", "full_data_type", "ordinal_position"]);
        let row = |s: &str, t: &str, c: &str, ty: &str, p: &str| {
            vec![
                Some(s.to_string()),
                Some(t.to_string()),
                Some(c.to_string()),
                Some(ty.to_string()),
                Some(p.to_string()),
            ]
        };
        let tables = read_columns(
            &names,
            &[row("sales", "orders", "b", "string", "1"), row("sales", "orders", "a", "bigint", "0")],
        )
        .unwrap();
        let names_in_order: Vec<&str> = tables["sales.orders"].iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names_in_order, ["a", "b"]);

        let aggregate = strings(&["row_count", "row_hash"]);
        assert_eq!(
            read_aggregate(&aggregate, &[vec![Some("12".into()), Some("-42".into())]]),
            Some((12, Some("-42".into())))
        );
        assert_eq!(read_aggregate(&aggregate, &[vec![Some("0".into()), None]]), Some((0, Some("NULL".into()))));
        assert_eq!(read_aggregate(&strings(&["row_count"]), &[vec![Some("3".into())]]), Some((3, None)));
        assert_eq!(read_aggregate(&aggregate, &[]), None);

        let detail = strings(&["format", "name", "sizeInBytes"]);
        assert_eq!(
            read_detail(&detail, &[vec![Some("delta".into()), Some("x".into()), Some("2048".into())]]),
            Some(("delta".into(), 2048))
        );
    }

    #[test]
    fn the_error_class_is_the_bracketed_prefix() {
        assert_eq!(
            error_class("[INSUFFICIENT_PERMISSIONS] User does not have SELECT"),
            Some("INSUFFICIENT_PERMISSIONS")
        );
        assert_eq!(error_class("no class here"), None);
        assert_eq!(error_class("[not a class] x"), None);
    }
}
