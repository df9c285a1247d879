//! A non-Delta external table's format options (`OPTIONS (header 'true',
//! delimiter ';')`), which its registration on the secondary must repeat.
//!
//! The tables API does not carry them; `DESCRIBE TABLE EXTENDED … AS JSON`
//! does, as `storage_properties` (Databricks' DESCRIBE TABLE reference,
//! "JSON formatted output", Databricks SQL and Runtime 16.2+). One statement
//! per such table, on a warehouse already running (a read never starts
//! one), and only when a plan is being made: `status` does without.

use std::collections::BTreeMap;

use super::snapshot::{Skipped, SkippedPart, Snapshot, TableKind};
use super::sql::{quote_name, SqlError};

/// `DESCRIBE TABLE EXTENDED `c`.`s`.`t` AS JSON`.
pub fn statement(table: &[String]) -> Result<String, SqlError> {
    Ok(format!("DESCRIBE TABLE EXTENDED {} AS JSON", quote_name(table)?))
}

/// The `storage_properties` of one `DESCRIBE … AS JSON` document (none: empty).
pub fn storage_properties(document: &str) -> Result<BTreeMap<String, String>, String> {
    let value: serde_json::Value =
        serde_json::from_str(document).map_err(|e| format!("DESCRIBE … AS JSON is not JSON: {e}"))?;
    let Some(properties) = value.get("storage_properties") else { return Ok(BTreeMap::new()) };
    let object = properties.as_object().ok_or("storage_properties is not an object")?;
    object
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k.clone(), s.clone())),
            other => Ok((k.clone(), other.to_string())),
        })
        .collect()
}

/// The non-Delta external tables of `snapshot` whose options are read:
/// (full name, name parts).
pub fn tables(snapshot: &Snapshot) -> Vec<(String, Vec<String>)> {
    snapshot
        .tables
        .values()
        .filter(|t| t.kind == TableKind::External && !t.is_delta())
        .map(|t| (t.full_name(), vec![t.catalog.clone(), t.schema.clone(), t.name.clone()]))
        .collect()
}

/// The options from a statement's rows (one row, one JSON document).
pub fn from_rows(rows: &[Vec<Option<String>>]) -> Result<BTreeMap<String, String>, String> {
    let document = rows
        .first()
        .and_then(|row| row.first().cloned().flatten())
        .ok_or_else(|| "DESCRIBE … AS JSON returned no document".to_string())?;
    storage_properties(&document)
}

/// Puts one table's answer in the snapshot: its options, or a skip record
/// (then the planner reports the table blocked with the reason).
pub fn fold(snapshot: &mut Snapshot, name: String, result: Result<BTreeMap<String, String>, String>) {
    match result {
        Ok(options) => {
            if let Some(table) = snapshot.tables.get_mut(&name) {
                table.format_options = Some(options);
            }
        }
        Err(reason) => snapshot.skipped.push(Skipped {
            securable: "table".into(),
            full_name: name,
            part: SkippedPart::FormatOptions,
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_properties_come_from_the_json_document() {
        let document = r#"{"table_name":"t","columns":[],"storage_properties":{"header":"true","delimiter":";"}}"#;
        let options = storage_properties(document).unwrap();
        assert_eq!(options.get("header").map(String::as_str), Some("true"));
        assert_eq!(options.get("delimiter").map(String::as_str), Some(";"));
        assert!(storage_properties(r#"{"table_name":"t"}"#).unwrap().is_empty());
        assert!(storage_properties("not json").is_err());
        assert_eq!(
            statement(&["c".into(), "s`x".into(), "t".into()]).unwrap(),
            "DESCRIBE TABLE EXTENDED `c`.`s``x`.`t` AS JSON"
        );
    }
}
