//! A non-Delta external table's format options (`OPTIONS (header 'true',
//! delimiter ';')`), which its registration on the secondary must repeat.
//!
//! The tables API does not carry them; `DESCRIBE TABLE EXTENDED … AS JSON`
//! does, as `storage_properties` (Databricks' DESCRIBE TABLE reference,
//! "JSON formatted output", Databricks SQL and Runtime 16.2+). One statement
//! per such table, on a warehouse already running (a read never starts
//! one), and only when a plan is being made: `status` does without.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use super::snapshot::{Skipped, SkippedPart, Snapshot, TableKind};
use super::sql::{quote_name, SqlError};
use crate::databricks::WorkspaceClient;
use crate::identity::AccessToken;

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

/// Reads the format options of every non-Delta external table of
/// `snapshot`, `concurrency` at a time; what cannot be read stays `None`
/// and is recorded as skipped (the planner then reports the table blocked).
pub async fn read_format_options(
    client: &WorkspaceClient,
    token: &AccessToken,
    warehouse_id: &str,
    snapshot: &mut Snapshot,
    concurrency: usize,
    deadline: Instant,
) {
    let tables: Vec<(String, Vec<String>)> = snapshot
        .tables
        .values()
        .filter(|t| t.kind == TableKind::External && !t.is_delta())
        .map(|t| (t.full_name(), vec![t.catalog.clone(), t.schema.clone(), t.name.clone()]))
        .collect();
    let mut answers = stream::iter(tables)
        .map(|(name, parts)| async move {
            let result = match statement(&parts) {
                Ok(sql) => match client.query(token, warehouse_id, &sql, deadline).await {
                    Ok((_, rows)) => rows
                        .first()
                        .and_then(|row| row.first().cloned().flatten())
                        .ok_or_else(|| "DESCRIBE … AS JSON returned no document".to_string())
                        .and_then(|document| storage_properties(&document)),
                    Err(error) => Err(error.to_string()),
                },
                Err(error) => Err(error.to_string()),
            };
            (name, result)
        })
        .buffer_unordered(concurrency.max(1));
    while let Some((name, result)) = answers.next().await {
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
