//! Materialized views and streaming tables that a Lakeflow pipeline
//! publishes: the pipeline's source defines them, so the warehouse cannot
//! make one (`CREATE MATERIALIZED VIEW` makes Databricks SQL's own, with no
//! `pipeline_id`), and tests put one in place the way a pipeline update
//! would. Databricks SQL's own datasets are made by statements
//! (`sql/execute.rs`). FIDELITY.md cites the documentation.

use super::metastore::{Common, Metastore, Table};

/// Publishes `full_name` (`c.s.t`) as pipeline `pipeline_id` would: a
/// `MATERIALIZED_VIEW` or `STREAMING_TABLE` (`table_type`) with its query,
/// reading `reads` (full names, which must exist), owned by the pipeline's
/// run-as identity `owner`. Returns false, changing nothing, when a name is
/// not three parts, a read is missing, or the name is taken.
#[allow(clippy::too_many_arguments)]
pub fn publish(
    metastore: &mut Metastore,
    full_name: &str,
    table_type: &str,
    query: &str,
    reads: &[&str],
    pipeline_id: &str,
    owner: &str,
    now_ms: i64,
) -> bool {
    let parts: Vec<&str> = full_name.split('.').collect();
    let valid = parts.len() == 3
        && matches!(table_type, "MATERIALIZED_VIEW" | "STREAMING_TABLE")
        && reads.iter().all(|r| metastore.tables.contains_key(*r))
        && !metastore.tables.contains_key(full_name)
        && metastore.schemas.contains_key(&format!("{}.{}", parts[0], parts[1]));
    if !valid {
        return false;
    }
    let table = Table {
        catalog: parts[0].into(),
        schema: parts[1].into(),
        name: parts[2].into(),
        table_type: table_type.into(),
        data_source_format: Some("DELTA".into()),
        storage_location: None,
        view_definition: Some(query.into()),
        view_dependencies: reads.iter().map(|r| r.to_string()).collect(),
        view_functions: Vec::new(),
        columns: Vec::new(),
        options: Default::default(),
        delta_version: 1,
        last_commit_ms: now_ms,
        cloned_from: None,
        protection: Default::default(),
        constraints: Vec::new(),
        column_metadata: Default::default(),
        properties_commit: None,
        pipeline_id: Some(pipeline_id.into()),
        common: Common { owner: owner.into(), created_at: now_ms, updated_at: now_ms, ..Default::default() },
    };
    metastore.tables.insert(full_name.into(), table);
    true
}

#[cfg(test)]
mod tests {
    use super::super::sql::parse::{parse, Statement};
    use super::*;

    fn strings(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|p| p.to_string()).collect()
    }

    /// The forms of the CREATE MATERIALIZED VIEW and CREATE STREAMING TABLE
    /// references drbot sends, and the ones the grammar has not.
    #[test]
    fn databricks_sql_datasets_parse_as_their_references_write_them() {
        let Statement::CreateDataset { table_type, name, or_replace, if_not_exists, dependencies, .. } =
            parse("CREATE MATERIALIZED VIEW IF NOT EXISTS `c`.`s`.`m` AS SELECT * FROM `c`.`s`.`t`").unwrap()
        else {
            panic!("not a dataset")
        };
        assert_eq!(
            (table_type.as_str(), name, or_replace, if_not_exists, dependencies),
            ("MATERIALIZED_VIEW", strings(&["c", "s", "m"]), false, true, vec![strings(&["c", "s", "t"])])
        );
        for (sql, kind) in [
            ("CREATE OR REPLACE MATERIALIZED VIEW c.s.m AS SELECT * FROM c.s.t", "MATERIALIZED_VIEW"),
            ("CREATE OR REFRESH MATERIALIZED VIEW c.s.m AS SELECT * FROM c.s.t", "MATERIALIZED_VIEW"),
            ("CREATE OR REFRESH STREAMING TABLE c.s.f AS SELECT * FROM STREAM c.s.t", "STREAMING_TABLE"),
            ("CREATE STREAMING TABLE c.s.f AS SELECT * FROM STREAM(c.s.t)", "STREAMING_TABLE"),
        ] {
            let Ok(Statement::CreateDataset { table_type, dependencies, .. }) = parse(sql) else { panic!("{sql}") };
            assert_eq!((table_type.as_str(), dependencies), (kind, vec![strings(&["c", "s", "t"])]), "{sql}");
        }
        for bad in [
            "CREATE OR REPLACE STREAMING TABLE c.s.f AS SELECT * FROM STREAM c.s.t",
            "CREATE OR REFRESH MATERIALIZED VIEW IF NOT EXISTS c.s.m AS SELECT * FROM c.s.t",
            "CREATE OR REFRESH VIEW c.s.v AS SELECT * FROM c.s.t",
            "CREATE MATERIALIZED VIEW c.s.m",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_pipeline_publishes_only_where_it_can() {
        let mut metastore = Metastore::default();
        metastore.schemas.insert(
            "c.s".into(),
            super::super::metastore::Schema {
                catalog: "c".into(),
                name: "s".into(),
                storage_root: None,
                common: Default::default(),
            },
        );
        assert!(!publish(&mut metastore, "c.s.m", "MATERIALIZED_VIEW", "SELECT 1", &["c.s.t"], "p", "o", 0));
        assert!(!publish(&mut metastore, "c.s.m", "VIEW", "SELECT 1", &[], "p", "o", 0));
        assert!(publish(&mut metastore, "c.s.m", "MATERIALIZED_VIEW", "SELECT 1", &[], "p", "o", 0));
        let json = metastore.tables["c.s.m"].to_json(&metastore, false);
        assert_eq!((json["table_type"].as_str(), json["pipeline_id"].as_str()), (Some("MATERIALIZED_VIEW"), Some("p")));
    }
}
