//! Storage blockers: the paths replication must read or write on the
//! secondary's metastore that it cannot use there (no external location, a
//! privilege the replicating identity lacks, a read-only location, an
//! overlap), each with the fix. Pure: the same checks the planner blocks
//! actions by (`replication::storage`), applied to every path in scope, so
//! `status` shows a missing location as a blocker before a replication
//! runs into it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::replication::diff::{is_external_volume, is_replicated_schema};
use crate::replication::snapshot::{Snapshot, TableKind};
use crate::replication::storage::{check, Need, StorageProblem};
use crate::replication::ReplicationConfig;

/// One problem, and how many paths it stands in the way of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StorageBlocker {
    /// What is wrong and how to fix it.
    pub problem: String,
    /// Paths it blocks, and the first of them.
    pub paths: usize,
    pub example: String,
}

/// Every storage blocker of replicating `primary` to `secondary`, worst
/// (most paths) first. Nothing when the secondary's locations were not read.
pub fn blockers(primary: &Snapshot, secondary: &Snapshot, config: &ReplicationConfig) -> Vec<StorageBlocker> {
    if secondary.storage.is_none() {
        return Vec::new();
    }
    let mut found: BTreeMap<String, (StorageProblem, usize)> = BTreeMap::new();
    let mut note = |result: Result<(), StorageProblem>| {
        if let Err(problem) = result {
            found.entry(problem.key()).or_insert((problem, 0)).1 += 1;
        }
    };
    for table in primary.tables.values() {
        if table.kind != TableKind::External
            || !is_replicated_schema(primary, secondary, config, &table.catalog, &table.schema)
        {
            continue;
        }
        let Some(path) = &table.storage_location else { continue };
        let Some(target) = config.mapping.to_secondary(path) else { continue };
        let name = table.full_name();
        if table.is_delta() {
            note(check(secondary, path, Need::ReadFiles, None));
        }
        note(check(secondary, &target, Need::CreateExternalTable, Some(&name)));
    }
    for volume in primary.volumes.values() {
        if !is_external_volume(volume)
            || !is_replicated_schema(primary, secondary, config, &volume.catalog, &volume.schema)
        {
            continue;
        }
        let Some(target) = volume.storage_location.as_deref().and_then(|p| config.mapping.to_secondary(p)) else {
            continue;
        };
        note(check(secondary, &target, Need::CreateExternalVolume, Some(&volume.full_name())));
    }
    let mut out: Vec<StorageBlocker> = found
        .into_values()
        .map(|(problem, paths)| StorageBlocker { problem: problem.to_string(), paths, example: problem.path().into() })
        .collect();
    out.sort_by(|a, b| b.paths.cmp(&a.paths).then_with(|| a.problem.cmp(&b.problem)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::fixtures::*;
    use crate::replication::snapshot::{CatalogKind, LocationInfo, Principal, StorageAccess};

    #[test]
    fn every_mapped_path_is_checked_and_problems_are_grouped_by_fix() {
        let primary = empty(PRIMARY_ID)
            .with_catalog(catalog("main", CatalogKind::Managed))
            .with_schema(schema("main", "raw"))
            .with_table(external_delta("main.raw.events", 1))
            .with_table(external("main.raw.a", "CSV"))
            .with_table(external("main.raw.b", "PARQUET"))
            .with_table(managed("main.raw.orders", 1))
            .with_volume(external_volume("main.raw.landing"));
        let mut secondary = empty(SECONDARY_ID).with_catalog(catalog("main", CatalogKind::Managed));
        assert!(blockers(&primary, &secondary, &config()).is_empty(), "locations unread: nothing judged");
        secondary.storage =
            Some(StorageAccess { locations: vec![], reader: Some(Principal { name: "svc".into(), groups: vec![] }) });
        let found = blockers(&primary, &secondary, &config());
        // The source of the Delta clone, and one per target container.
        assert_eq!(found.iter().map(|b| b.paths).sum::<usize>(), 5, "{found:?}");
        assert!(found.iter().all(|b| b.problem.starts_with("no external location on the secondary covers")));

        let covering: Vec<LocationInfo> = [EXT_PRIMARY, EXT_SECONDARY]
            .iter()
            .enumerate()
            .map(|(i, url)| LocationInfo {
                name: format!("l{i}"),
                url: url.to_string(),
                owner: "svc".into(),
                grants_read: true,
                ..Default::default()
            })
            .collect();
        secondary.storage.as_mut().unwrap().locations = covering;
        assert_eq!(blockers(&primary, &secondary, &config()), vec![], "owned by the replicating identity");
        secondary.storage.as_mut().unwrap().locations[1].owner = "storage-team".into();
        let found = blockers(&primary, &secondary, &config());
        assert_eq!(found.len(), 2, "one per missing privilege: {found:?}");
        assert!(found[0].problem.contains("GRANT CREATE EXTERNAL TABLE ON EXTERNAL LOCATION `l1` TO `svc`"));
        assert_eq!(found[0].paths, 3);
    }
}
