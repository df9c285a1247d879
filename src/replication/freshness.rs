//! Which source commit each side holds, for the planner and for RPO: pure.
//!
//! The primary's tables take their latest commit from the cycle's history
//! readings (`history.rs`), not from the table properties. A secondary table
//! takes the source commit its last successful clone recorded (the store's
//! `table_versions`): that, not the clone's own commit, is what it holds of
//! the source. The planner's staleness rule (the source's commit is newer
//! than what the secondary holds) then re-clones exactly the tables whose
//! source moved past the recorded version, and RPO is the distance between
//! the two. A table without a reading or a record keeps what the read found.

use std::collections::BTreeMap;

use super::snapshot::{DeltaState, Snapshot};

/// Applies `readings` (source table → latest commit) to `primary` and
/// `recorded` (table → replicated source commit) to `secondary`.
pub fn apply(
    primary: &mut Snapshot,
    secondary: &mut Snapshot,
    readings: &BTreeMap<String, DeltaState>,
    recorded: &BTreeMap<String, DeltaState>,
) {
    for (name, reading) in readings {
        if let Some(table) = primary.tables.get_mut(name).filter(|t| t.is_delta()) {
            table.delta = Some(*reading);
        }
    }
    for (name, held) in recorded {
        let Some(table) = secondary.tables.get_mut(name).filter(|t| t.is_delta()) else { continue };
        // The record may carry a lower bound of the commit time (a clone
        // that copied more than planned): at the source's own version the
        // source's time is exact.
        let source = primary.tables.get(name).and_then(|t| t.delta);
        table.delta = Some(match source {
            Some(source) if held.version >= source.version => source,
            _ => *held,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::fixtures::*;
    use crate::replication::model::{apply as run, apply_to_primary};
    use crate::replication::planner::plan;
    use crate::replication::snapshot::CatalogKind;
    use crate::replication::ActionKind;

    fn clones(primary: &Snapshot, secondary: &Snapshot) -> Vec<String> {
        plan(primary, secondary, &config())
            .actions
            .iter()
            .filter(|a| matches!(a.kind, ActionKind::CloneTable { .. }))
            .map(|a| a.object.full_name())
            .collect()
    }

    /// Replicated once: both sides as a read finds them afterwards.
    fn replicated() -> (Snapshot, Snapshot) {
        let primary = empty(PRIMARY_ID)
            .with_catalog(catalog("main", CatalogKind::Managed))
            .with_schema(schema("main", "sales"))
            .with_table(managed("main.sales.orders", 2_000))
            .with_table(managed("main.sales.events", 2_000));
        let first = plan(&primary, &empty(SECONDARY_ID), &config());
        let secondary = run(&first, &empty(SECONDARY_ID));
        (apply_to_primary(&first, &primary), secondary)
    }

    #[test]
    fn an_append_past_the_recorded_version_is_recloned_and_an_unchanged_table_is_not() {
        let (mut primary, mut secondary) = replicated();
        // The append changed no metadata: by the properties nothing moved.
        assert!(clones(&primary, &secondary).is_empty());
        let recorded: BTreeMap<String, DeltaState> = ["main.sales.orders", "main.sales.events"]
            .iter()
            .map(|t| (t.to_string(), DeltaState { version: 3, last_commit_ms: 2_000 }))
            .collect();
        let readings = BTreeMap::from([
            ("main.sales.orders".to_string(), DeltaState { version: 4, last_commit_ms: 9_000 }),
            ("main.sales.events".to_string(), DeltaState { version: 3, last_commit_ms: 2_000 }),
        ]);
        apply(&mut primary, &mut secondary, &readings, &recorded);
        assert_eq!(clones(&primary, &secondary), vec!["main.sales.orders".to_string()]);
        // What the secondary holds is the recorded source commit: RPO 7 s.
        let held = secondary.tables["main.sales.orders"].delta.unwrap();
        assert_eq!(primary.tables["main.sales.orders"].delta.unwrap().last_commit_ms - held.last_commit_ms, 7_000);
    }

    #[test]
    fn a_record_at_the_source_version_takes_the_source_commit_time() {
        let (mut primary, mut secondary) = replicated();
        let reading = DeltaState { version: 5, last_commit_ms: 9_000 };
        // The clone copied version 5 though the plan had seen 3 (time 2,000).
        let recorded =
            BTreeMap::from([("main.sales.orders".to_string(), DeltaState { version: 5, last_commit_ms: 2_000 })]);
        apply(&mut primary, &mut secondary, &BTreeMap::from([("main.sales.orders".to_string(), reading)]), &recorded);
        assert_eq!(secondary.tables["main.sales.orders"].delta, Some(reading));
        assert!(clones(&primary, &secondary).is_empty());
    }
}
