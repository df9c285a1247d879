//! Materialized views and streaming tables ("datasets", as pipelines call
//! them): what the plan does with each.
//!
//! Both are Unity Catalog tables whose data a pipeline computes from a
//! query, so the secondary needs the *definition*, not a copy of the data:
//!
//! - One defined in Databricks SQL (`CREATE MATERIALIZED VIEW … AS`,
//!   `CREATE STREAMING TABLE … AS`) is made again on the secondary from the
//!   definition the tables API gives (`view_definition`, "when table_type is
//!   VIEW, MATERIALIZED_VIEW, or STREAMING_TABLE"): `CREATE … IF NOT EXISTS`
//!   when missing, `CREATE OR REPLACE MATERIALIZED VIEW` / `CREATE OR
//!   REFRESH STREAMING TABLE` when the definition changed (the CREATE
//!   MATERIALIZED VIEW and CREATE STREAMING TABLE references). The secondary
//!   computes its own rows, so its Delta versions never match the primary's
//!   and are not compared (`diff::staleness` leaves these kinds out).
//! - One a pipeline publishes (the tables API's `pipeline_id`) is defined by
//!   that pipeline's source. Creating it by SQL on the secondary would give
//!   the table to another (standalone) pipeline, and the real one could not
//!   publish to it after a failover; so it is reported blocked, naming the
//!   pipeline to deploy in the secondary.
//!
//! Why not a deep clone: the CREATE TABLE CLONE reference says streaming
//! tables and materialized views "are not supported as source or target
//! tables for CLONE"; the error class DELTA_DEEP_CLONE_MV_ST_ERROR names a
//! narrower path (WITH HISTORY, default publishing mode, no schedule, no
//! LOCATION, no time travel) whose result is a plain managed table, not a
//! dataset its pipeline could take over. Re-creating from the definition is
//! the documented path (sandbox/FIDELITY.md).

pub use super::dataset::Dataset;
use super::plan::{ActionKind, BlockReason};
use super::snapshot::{Common, Snapshot, TableInfo};

/// What the plan does for `table`, a dataset of kind `dataset` that the
/// secondary lacks (`existing` false) or defines differently.
pub fn action(table: &TableInfo, dataset: Dataset, existing: bool) -> ActionKind {
    if let Some(pipeline_id) = table.pipeline_id.as_ref().filter(|p| !p.is_empty()) {
        return ActionKind::Blocked(BlockReason::PipelineOwned {
            what: dataset.as_str().into(),
            pipeline_id: pipeline_id.clone(),
        });
    }
    match table.view_definition.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => ActionKind::Blocked(BlockReason::Unsupported {
            what: format!(
                "a {} whose definition the tables API does not give (create it on the secondary by hand)",
                dataset.as_str()
            ),
        }),
        Some(definition) => ActionKind::CreateDataset {
            dataset,
            definition: definition.to_string(),
            dependencies: table.view_dependencies.clone(),
            existing,
        },
    }
}

/// What that statement does to a snapshot (`model.rs`): `IF NOT EXISTS`
/// leaves any existing object alone; a redefinition of a dataset of the
/// same kind keeps its owner and grants; a redefinition of anything else
/// fails (`EXPECT_…`), so it does nothing.
pub(crate) fn effect(
    s: &mut Snapshot,
    path: &[String],
    creator: &str,
    dataset: Dataset,
    definition: &str,
    dependencies: &[String],
    existing: bool,
) {
    let name = path.join(".");
    // Redefined in place, it keeps its owner, grants, comment, tags and column metadata.
    let (common, column_metadata) = match (s.tables.get(&name), existing) {
        (Some(_), false) => return,
        (Some(old), true) if old.kind == dataset.kind() => (old.common.clone(), old.column_metadata.clone()),
        (Some(_), true) => return,
        (None, _) => (Common { owner: creator.into(), ..Default::default() }, Default::default()),
    };
    s.tables.insert(
        name,
        TableInfo {
            catalog: path[0].clone(),
            schema: path[1].clone(),
            name: path[2].clone(),
            kind: dataset.kind(),
            format: Some("DELTA".into()),
            storage_location: None,
            view_definition: Some(definition.to_string()),
            view_dependencies: dependencies.to_vec(),
            delta: None,
            protection: Default::default(),
            columns: Vec::new(),
            format_options: None,
            pipeline_id: None,
            column_metadata,
            constraints: Vec::new(),
            common,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::fixtures::*;
    use crate::replication::model::{apply, apply_to_primary};
    use crate::replication::object::ObjectKind;
    use crate::replication::planner::plan;
    use crate::replication::snapshot::CatalogKind;
    use crate::replication::snapshot::TableKind;
    use crate::replication::sql::dataset_statement as statement;

    fn dataset(full: &str, kind: TableKind, reads: &[&str], pipeline_id: Option<&str>) -> TableInfo {
        let mut table = view(full, reads);
        table.kind = kind;
        table.format = Some("DELTA".into());
        table.pipeline_id = pipeline_id.map(str::to_string);
        if table.kind == TableKind::StreamingTable {
            table.view_definition = Some(format!("SELECT * FROM STREAM `{}`", reads[0].replace('.', "`.`")));
        }
        table.common.owner = "alice".into();
        table.common.grants = [("bob".to_string(), ["SELECT".to_string()].into())].into();
        table
    }

    fn primary() -> Snapshot {
        empty(PRIMARY_ID)
            .with_catalog(catalog("main", CatalogKind::Managed))
            .with_schema(schema("main", "sales"))
            .with_table(managed("main.sales.orders", 2_000))
            .with_table(dataset("main.sales.daily", TableKind::MaterializedView, &["main.sales.orders"], None))
            .with_table(dataset("main.sales.feed", TableKind::StreamingTable, &["main.sales.orders"], None))
            .with_table(dataset("main.sales.gold", TableKind::MaterializedView, &["main.sales.orders"], Some("p-42")))
            // A view reading the materialized view waits for it.
            .with_table(view("main.sales.report", &["main.sales.daily"]))
    }

    fn at(plan: &crate::replication::Plan, id: &str) -> usize {
        plan.actions.iter().position(|a| a.id.0 == id).unwrap_or_else(|| panic!("no {id} in {plan:#?}"))
    }

    /// SQL-defined datasets are created after what they read and before
    /// the views reading them, then get their grants and owner; a
    /// pipeline's dataset is blocked naming the pipeline; applied, the
    /// secondary holds both SQL datasets and a re-plan has nothing left
    /// but the blocked one (and what waits on it).
    #[test]
    fn sql_datasets_are_recreated_in_order_and_pipeline_datasets_blocked() {
        let primary = primary();
        let first = plan(&primary, &empty(SECONDARY_ID), &config());
        let daily = at(&first, "dataset:table:main.sales.daily");
        let feed = at(&first, "dataset:table:main.sales.feed");
        assert!(at(&first, "clone:table:main.sales.orders") < daily);
        assert!(daily < at(&first, "view:view:main.sales.report"));
        assert!(first.actions[at(&first, "view:view:main.sales.report")].depends_on.contains(&first.actions[daily].id));
        assert!(matches!(
            &first.actions[daily].kind,
            ActionKind::CreateDataset { dataset: Dataset::MaterializedView, existing: false, .. }
        ));
        assert!(matches!(
            &first.actions[feed].kind,
            ActionKind::CreateDataset { dataset: Dataset::StreamingTable, existing: false, .. }
        ));
        let grant = at(&first, "grant:table:main.sales.daily:bob");
        assert!(daily < grant && grant < at(&first, "owner:table:main.sales.daily"));
        let gold = &first.actions[at(&first, "dataset:table:main.sales.gold")];
        assert!(
            matches!(&gold.kind, ActionKind::Blocked(BlockReason::PipelineOwned { pipeline_id, .. }) if pipeline_id == "p-42"),
            "{gold:?}"
        );
        assert!(gold.describe().contains("pipeline p-42") && gold.describe().contains("deploy"), "{}", gold.describe());

        let primary = apply_to_primary(&first, &primary);
        let after = apply(&first, &empty(SECONDARY_ID));
        for name in ["main.sales.daily", "main.sales.feed"] {
            let (want, got) = (&primary.tables[name], &after.tables[name]);
            assert_eq!(
                (&got.kind, &got.view_definition, &got.common),
                (&want.kind, &want.view_definition, &want.common)
            );
        }
        assert!(!after.tables.contains_key("main.sales.gold"));
        let again = plan(&primary, &after, &config());
        let left: Vec<String> = again.actions.iter().map(|a| a.describe()).collect();
        assert!(
            again.actions.iter().all(|a| a.object.full_name() == "main.sales.gold"
                || matches!(a.kind, ActionKind::SetOwner { .. }) && a.object.kind != ObjectKind::Table),
            "{left:?}"
        );
        assert_eq!(again.blocked().count(), 1, "{left:?}");
    }

    /// A changed definition is applied in place (owner and grants kept);
    /// a table where the primary has a dataset is blocked, not replaced.
    #[test]
    fn changed_definitions_are_replaced_in_place_and_kind_conflicts_blocked() {
        let primary = primary();
        let first = plan(&primary, &empty(SECONDARY_ID), &config());
        let primary = apply_to_primary(&first, &primary);
        let mut secondary = apply(&first, &empty(SECONDARY_ID));
        secondary.tables.get_mut("main.sales.daily").unwrap().view_definition = Some("SELECT 1 FROM x".into());
        secondary.tables.insert("main.sales.feed".into(), managed("main.sales.feed", 1));
        let second = plan(&primary, &secondary, &config());
        let daily = &second.actions[at(&second, "dataset:table:main.sales.daily")];
        assert!(matches!(&daily.kind, ActionKind::CreateDataset { existing: true, .. }), "{daily:?}");
        assert!(daily.describe().starts_with("update the definition of materialized view"), "{}", daily.describe());
        let feed = &second.actions[at(&second, "dataset:table:main.sales.feed")];
        assert!(matches!(&feed.kind, ActionKind::Blocked(BlockReason::Immutable { .. })), "{feed:?}");
        let after = apply(&second, &secondary);
        assert_eq!(
            after.tables["main.sales.daily"].view_definition,
            primary.tables["main.sales.daily"].view_definition
        );
        assert_eq!(after.tables["main.sales.daily"].common, secondary.tables["main.sales.daily"].common);
    }

    #[test]
    fn statements_name_the_kind_and_refuse_a_second_statement() {
        let path: Vec<String> = ["c", "s`x", "m"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            statement(&path, Dataset::MaterializedView, " SELECT * FROM t ", false).unwrap(),
            "CREATE MATERIALIZED VIEW IF NOT EXISTS `c`.`s``x`.`m` AS SELECT * FROM t"
        );
        assert_eq!(
            statement(&path, Dataset::StreamingTable, "SELECT * FROM STREAM t", true).unwrap(),
            "CREATE OR REFRESH STREAMING TABLE `c`.`s``x`.`m` AS SELECT * FROM STREAM t"
        );
        assert!(statement(&path, Dataset::MaterializedView, "SELECT 1; DROP TABLE t", false).is_err());
        let mut unreadable = primary().tables["main.sales.daily"].clone();
        unreadable.view_definition = None;
        let kind = action(&unreadable, Dataset::MaterializedView, false);
        assert!(matches!(&kind, ActionKind::Blocked(BlockReason::Unsupported { what }) if what.contains("definition")));
    }
}
