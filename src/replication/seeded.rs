//! The planner on the sandbox's seeded world: the primary and the imperfect
//! secondary the integration tests and the demo start from. The snapshots
//! are taken straight from the sandbox's metastores here (the real reader
//! goes over REST), so this checks the planner's assumptions about that
//! world: what it plans, that every statement parses on the sandbox's
//! warehouse, and that the model converges.

use sandbox::databricks::metastore::{self, Metastore};
use sandbox::databricks::seed::{generate, Seed, ADMIN_GROUP, LOCATION_MAPPING};

use super::config::ReplicationConfig;
use super::constraints::{Constraint, Key};
use super::diff::{diff, Change};
use super::mapping::LocationMapping;
use super::model::{apply, apply_to_primary};
use super::plan::{ActionKind, CloneReason, CloneSource};
use super::planner::plan;
use super::snapshot::{
    CatalogInfo, CatalogKind, ColumnDef, ColumnMetadata, Common, DeltaState, FunctionInfo, LocationInfo, Policy,
    Principal, Protection, SchemaInfo, Snapshot, StorageAccess, TableInfo, TableKind, VolumeInfo,
};
use super::sql::{render, Request};

fn policy(p: &metastore::Policy) -> Policy {
    Policy { function_name: p.function_name.clone(), columns: p.columns.clone() }
}

fn common(c: &metastore::Common) -> Common {
    Common {
        owner: c.owner.clone(),
        comment: c.comment.clone(),
        properties: c.properties.clone(),
        grants: c.grants.clone(),
        tags: c.tags.clone(),
    }
}

fn function(f: &metastore::Function) -> FunctionInfo {
    FunctionInfo {
        catalog: f.catalog.clone(),
        schema: f.schema.clone(),
        name: f.name.clone(),
        language: "SQL".into(),
        parameters: f.parameters.clone(),
        returns: f.returns.clone(),
        body: f.body.clone(),
        dependencies: f.table_dependencies.iter().chain(&f.function_dependencies).cloned().collect(),
        common: common(&f.common),
    }
}

fn snapshot(m: &Metastore) -> Snapshot {
    Snapshot {
        functions: m.functions.iter().map(|(k, f)| (k.clone(), function(f))).collect(),
        global_metastore_id: m.global_id.clone(),
        catalogs: m
            .catalogs
            .iter()
            .map(|(k, c)| {
                let info = CatalogInfo {
                    name: c.name.clone(),
                    kind: CatalogKind::from_api(&c.catalog_type),
                    storage_root: c.storage_root.clone(),
                    provider_name: c.provider_name.clone(),
                    share_name: c.share_name.clone(),
                    common: common(&c.common),
                };
                (k.clone(), info)
            })
            .collect(),
        schemas: m
            .schemas
            .iter()
            .map(|(k, s)| {
                let info = SchemaInfo {
                    catalog: s.catalog.clone(),
                    name: s.name.clone(),
                    storage_root: s.storage_root.clone(),
                    common: common(&s.common),
                };
                (k.clone(), info)
            })
            .collect(),
        tables: m
            .tables
            .iter()
            .map(|(k, t)| {
                let is_delta = t.data_source_format.as_deref() == Some("DELTA");
                let delta =
                    is_delta.then_some(DeltaState { version: t.delta_version, last_commit_ms: t.last_commit_ms });
                let info = TableInfo {
                    catalog: t.catalog.clone(),
                    schema: t.schema.clone(),
                    name: t.name.clone(),
                    kind: TableKind::from_api(&t.table_type),
                    format: t.data_source_format.clone(),
                    storage_location: t.storage_location.clone(),
                    view_definition: t.view_definition.clone(),
                    view_dependencies: t.view_dependencies.clone(),
                    delta,
                    // As the reader sees them: a non-Delta external table's
                    // columns and format options; none for the others.
                    columns: if t.table_type == "EXTERNAL" && !is_delta {
                        t.columns
                            .iter()
                            .map(|c| ColumnDef {
                                name: c.name.clone(),
                                type_text: c.type_text.to_ascii_lowercase(),
                                partition_index: c.partition_index,
                            })
                            .collect()
                    } else {
                        Vec::new()
                    },
                    format_options: (t.table_type == "EXTERNAL" && !is_delta).then(|| t.options.clone()),
                    pipeline_id: t.pipeline_id.clone(),
                    protection: Protection {
                        row_filter: t.protection.row_filter.as_ref().map(policy),
                        column_masks: t.protection.column_masks.iter().map(|(c, m)| (c.clone(), policy(m))).collect(),
                    },
                    column_metadata: t
                        .column_metadata
                        .iter()
                        .map(|(c, m)| (c.clone(), ColumnMetadata { comment: m.comment.clone(), tags: m.tags.clone() }))
                        .collect(),
                    constraints: {
                        let mut keys: Vec<Constraint> = t
                            .constraints
                            .iter()
                            .map(|c| Constraint {
                                name: c.name.clone(),
                                columns: c.columns.clone(),
                                key: match &c.references {
                                    None => Key::Primary,
                                    Some((parent, columns)) => {
                                        Key::Foreign { parent_table: parent.clone(), parent_columns: columns.clone() }
                                    }
                                },
                                rely: c.rely,
                            })
                            .collect();
                        keys.sort();
                        keys
                    },
                    common: common(&t.common),
                };
                (k.clone(), info)
            })
            .collect(),
        volumes: m
            .volumes
            .iter()
            .map(|(k, v)| {
                let info = VolumeInfo {
                    catalog: v.catalog.clone(),
                    schema: v.schema.clone(),
                    name: v.name.clone(),
                    volume_type: v.volume_type.clone(),
                    storage_location: v.storage_location.clone(),
                    common: common(&v.common),
                };
                (k.clone(), info)
            })
            .collect(),
        // The seed has no registered models (tests add them).
        models: Default::default(),
        sharing: Default::default(),
        skipped: Vec::new(),
        read_path: Default::default(),
        // Read as a member of the group that owns the seed's locations.
        storage: Some(StorageAccess {
            locations: m
                .external_locations
                .values()
                .map(|l| LocationInfo {
                    name: l.name.clone(),
                    url: l.url.clone(),
                    read_only: l.read_only,
                    owner: l.common.owner.clone(),
                    grants: l.common.grants.clone(),
                    grants_read: true,
                })
                .collect(),
            reader: Some(Principal { name: "alice@contoso.example".into(), groups: vec![ADMIN_GROUP.into()] }),
        }),
        read_as: String::new(),
        read_as_groups: Default::default(),
        volume_files: Default::default(),
        unknown_principals: Default::default(),
    }
}

#[test]
fn the_seeded_world_plans_cleanly_and_converges() {
    let (primary, secondary) = generate(&Seed { seed: 7, tables: 60, now_ms: 1_790_000_000_000 });
    let (primary, secondary) = (snapshot(&primary), snapshot(&secondary));
    let config = ReplicationConfig::new(LocationMapping::new(LOCATION_MAPPING.iter().copied()));
    let plan = plan(&primary, &secondary, &config);

    assert_eq!(plan.blocked().count(), 0, "{:?}", plan.blocked().map(|a| a.describe()).collect::<Vec<_>>());
    for action in &plan.actions {
        match render(action) {
            Ok(Request::Sql(sql)) => {
                let parsed = sandbox::databricks::sql::parse::parse(&sql);
                assert!(parsed.is_ok(), "{sql}: {parsed:?}");
            }
            Ok(_) => {}
            Err(e) => panic!("{}: {e}", action.id),
        }
    }
    let count = |f: &dyn Fn(&ActionKind) -> bool| plan.actions.iter().filter(|a| f(&a.kind)).count();
    // The seed leaves one catalog unreplicated, stale clones, missing objects and grant drift.
    assert_eq!(count(&|k| matches!(k, ActionKind::CreateCatalog { .. })), 1);
    assert!(count(&|k| matches!(k, ActionKind::CloneTable { reason: CloneReason::Stale, .. })) > 0);
    assert!(count(&|k| matches!(k, ActionKind::CloneTable { source: CloneSource::Shared(_), .. })) > 0);
    assert!(count(&|k| matches!(k, ActionKind::CreateView { .. })) > 0);
    assert!(count(&|k| matches!(k, ActionKind::Grant { .. } | ActionKind::Revoke { .. })) > 0);
    assert!(count(&|k| matches!(k, ActionKind::MountSharedCatalog { .. })) >= 2);
    // The system catalog is never touched; the scratch schema is reported.
    assert!(plan.actions.iter().all(|a| a.object.path[0] != "system"));
    assert!(plan.extras.iter().any(|o| o.full_name().ends_with(".dr_scratch")), "{:?}", plan.extras);

    let after = apply(&plan, &secondary);
    let primary_after = apply_to_primary(&plan, &primary);
    let again = super::planner::plan(&primary_after, &after, &config);
    assert!(again.is_empty(), "{:?}", again.actions.iter().map(|a| a.describe()).collect::<Vec<_>>());
    assert!(diff(&primary_after, &after, &config).iter().all(|d| d.change == Change::Extra));
}
