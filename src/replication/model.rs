//! What each action does, on the snapshot model: the semantics the executor
//! must have, written down as code so the planner can be checked against it
//! (the property tests run a plan through `apply` and re-plan the result).
//!
//! The model follows Databricks (and the sandbox): a new object belongs to
//! whoever created it (the snapshot's `read_as`, the identity that runs the
//! plan, or [`CREATOR`] when unknown) and has no grants until the plan's grant
//! and owner actions run; `CREATE OR REPLACE TABLE … DEEP CLONE` keeps the
//! table's owner and grants; views are never replaced (`CREATE OR REPLACE
//! VIEW` drops the view's grants): a changed view is altered (`ALTER VIEW …
//! AS`, owner and grants kept; only the view's owner, the snapshot's
//! `read_as`, may do it) and `ALTER VIEW` of a missing view fails; a deep
//! clone holds the source's commits up to the clone; `IF NOT EXISTS` leaves an
//! existing object alone. A blocked action does nothing,
//! and neither does anything depending on it, transitively.

use super::constraints::Key;
use super::object::{ObjectKind, ObjectRef};
use super::plan::{Action, ActionKind, CloneSource, Plan, ProviderRef, Side};
use super::snapshot::{
    CatalogInfo, CatalogKind, Common, FunctionInfo, SchemaInfo, Snapshot, TableInfo, TableKind, VolumeInfo,
};

/// The owner of objects the executor creates, until `SetOwner` runs, when
/// the snapshot does not say who runs the plan (`read_as` empty).
pub const CREATOR: &str = "<drbot executor>";

/// The secondary after running `plan` against it.
pub fn apply(plan: &Plan, secondary: &Snapshot) -> Snapshot {
    run(plan, secondary, Side::Secondary)
}

/// The primary after running `plan`: only the Delta Sharing bootstrap
/// (recipient, shares, share permissions) touches it.
pub fn apply_to_primary(plan: &Plan, primary: &Snapshot) -> Snapshot {
    run(plan, primary, Side::Primary)
}

fn run(plan: &Plan, snapshot: &Snapshot, side: Side) -> Snapshot {
    let mut out = snapshot.clone();
    let skipped = plan.unrunnable();
    for action in plan.actions.iter().filter(|a| a.side() == side && !skipped.contains(&a.id)) {
        effect(action, &mut out);
    }
    out
}

fn fresh(creator: &str, comment: Option<String>, properties: std::collections::BTreeMap<String, String>) -> Common {
    Common { owner: creator.into(), comment, properties, grants: Default::default(), tags: Default::default() }
}

fn effect(action: &Action, s: &mut Snapshot) {
    let object = &action.object;
    let path = &object.path;
    if path.len() != object.kind.name_parts() {
        // Not an action the planner makes; it would not render either.
        return;
    }
    let name = object.full_name();
    let creator = if s.read_as.is_empty() { CREATOR.to_string() } else { s.read_as.clone() };
    match &action.kind {
        ActionKind::CreateCatalog { storage_root, comment, properties } => {
            s.catalogs.entry(name.clone()).or_insert_with(|| CatalogInfo {
                name,
                kind: CatalogKind::Managed,
                storage_root: storage_root.clone(),
                provider_name: None,
                share_name: None,
                common: fresh(&creator, comment.clone(), properties.clone()),
            });
        }
        ActionKind::CreateSchema { storage_root, comment, properties } => {
            s.schemas.entry(name).or_insert_with(|| SchemaInfo {
                catalog: path[0].clone(),
                name: path[1].clone(),
                storage_root: storage_root.clone(),
                common: fresh(&creator, comment.clone(), properties.clone()),
            });
        }
        ActionKind::UpdateCatalog { comment, properties } | ActionKind::UpdateSchema { comment, properties } => {
            if let Some(common) = s.common_mut(object) {
                common.comment = comment.clone();
                common.properties = properties.clone();
            }
        }
        ActionKind::CreateRecipient { global_metastore_id } => {
            s.sharing.recipients.entry(name).or_insert_with(|| global_metastore_id.clone());
        }
        ActionKind::CreateShare => {
            s.sharing.shares.entry(name).or_default();
        }
        ActionKind::AddSchemasToShare { schemas } => {
            let share = s.sharing.shares.entry(name).or_default();
            share.schemas.extend(schemas.iter().map(|parts| parts.join(".")));
        }
        ActionKind::TransferShare { owner } => {
            s.sharing.shares.entry(name).or_default().owner = owner.clone();
        }
        ActionKind::GrantShareSelect { recipient } => {
            s.sharing.shares.entry(name).or_default().recipients_with_select.insert(recipient.clone());
        }
        ActionKind::MountSharedCatalog { share, provider } => {
            let provider_name = match provider {
                ProviderRef::Known(provider) => Some(provider.clone()),
                ProviderRef::LookUp { .. } => None,
            };
            s.catalogs.entry(name.clone()).or_insert_with(|| CatalogInfo {
                name,
                kind: CatalogKind::DeltaSharing,
                storage_root: None,
                provider_name,
                share_name: Some(share.clone()),
                common: fresh(&creator, None, Default::default()),
            });
        }
        ActionKind::CloneTable { source, location, source_delta, .. } => {
            let kind = match source {
                CloneSource::Shared(_) => TableKind::Managed,
                CloneSource::DeltaPath(_) => TableKind::External,
            };
            // A replaced table keeps its Unity Catalog metadata (owner,
            // grants, comment, tags); a new clone has none of it.
            // Its keys too: Unity Catalog keeps them with the table (FIDELITY.md).
            let (common, column_metadata, constraints) = s
                .tables
                .get(&name)
                .map(|t| (t.common.clone(), t.column_metadata.clone(), t.constraints.clone()))
                .unwrap_or_else(|| (fresh(&creator, None, Default::default()), Default::default(), Vec::new()));
            s.tables.insert(
                name,
                TableInfo {
                    catalog: path[0].clone(),
                    schema: path[1].clone(),
                    name: path[2].clone(),
                    kind,
                    format: Some("DELTA".into()),
                    storage_location: location.clone(),
                    view_definition: None,
                    view_dependencies: Vec::new(),
                    delta: *source_delta,
                    // A clone carries no row filter or mask.
                    protection: Default::default(),
                    columns: Vec::new(),
                    format_options: None,
                    pipeline_id: None,
                    column_metadata,
                    constraints,
                    common,
                },
            );
        }
        ActionKind::RegisterExternalTable { format, location, columns, options } => {
            s.tables.entry(name).or_insert_with(|| TableInfo {
                catalog: path[0].clone(),
                schema: path[1].clone(),
                name: path[2].clone(),
                kind: TableKind::External,
                format: Some(format.clone()),
                storage_location: Some(location.clone()),
                view_definition: None,
                view_dependencies: Vec::new(),
                delta: None,
                protection: Default::default(),
                columns: columns.clone(),
                format_options: Some(options.clone()),
                pipeline_id: None,
                column_metadata: Default::default(),
                constraints: Vec::new(),
                common: fresh(&creator, None, Default::default()),
            });
        }
        ActionKind::CreateView { definition, dependencies, existing } => {
            // `ALTER VIEW … AS` changes an existing view's definition and
            // keeps everything else; `CREATE VIEW IF NOT EXISTS` leaves an
            // existing object alone and makes a fresh view otherwise.
            let (common, column_metadata) = match (s.tables.get(&name), existing) {
                // Only the view's owner may alter it (ALTER VIEW reference);
                // anyone else is refused, so the planner takes it over first.
                (Some(view), true) if !s.read_as.is_empty() && view.common.owner != s.read_as => return,
                (Some(view), true) if view.kind == TableKind::View => {
                    (view.common.clone(), view.column_metadata.clone())
                }
                (Some(_), _) => return,
                (None, true) => return,
                (None, false) => (fresh(&creator, None, Default::default()), Default::default()),
            };
            s.tables.insert(
                name,
                TableInfo {
                    catalog: path[0].clone(),
                    schema: path[1].clone(),
                    name: path[2].clone(),
                    kind: TableKind::View,
                    format: None,
                    storage_location: None,
                    view_definition: Some(definition.clone()),
                    view_dependencies: dependencies.clone(),
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
        ActionKind::CreateExternalVolume { location } => {
            s.volumes.entry(name).or_insert_with(|| VolumeInfo {
                catalog: path[0].clone(),
                schema: path[1].clone(),
                name: path[2].clone(),
                volume_type: "EXTERNAL".into(),
                storage_location: Some(location.clone()),
                common: fresh(&creator, None, Default::default()),
            });
        }
        ActionKind::CreateDataset { dataset, definition, dependencies, existing } => {
            super::datasets::effect(s, path, &creator, *dataset, definition, dependencies, *existing)
        }
        ActionKind::CreateManagedVolume { comment } => {
            s.volumes.entry(name).or_insert_with(|| VolumeInfo {
                catalog: path[0].clone(),
                schema: path[1].clone(),
                name: path[2].clone(),
                volume_type: "MANAGED".into(),
                storage_location: None,
                common: fresh(&creator, comment.clone(), Default::default()),
            });
        }
        ActionKind::CopyVolumeFiles(copy) => copy_files(s, &name, copy),
        ActionKind::CreateFunction { parameters, returns, body, dependencies, existing, comment } => {
            // `CREATE OR REPLACE FUNCTION` gives an existing function its new
            // definition and comment (owner and grants kept); `CREATE
            // FUNCTION IF NOT EXISTS` leaves one alone.
            let common = match (s.functions.get(&name), existing) {
                (Some(function), true) => Common { comment: comment.clone(), ..function.common.clone() },
                (Some(_), false) => return,
                (None, _) => fresh(&creator, comment.clone(), Default::default()),
            };
            s.functions.insert(
                name,
                FunctionInfo {
                    catalog: path[0].clone(),
                    schema: path[1].clone(),
                    name: path[2].clone(),
                    language: "SQL".into(),
                    parameters: parameters.clone(),
                    returns: returns.clone(),
                    body: body.clone(),
                    dependencies: dependencies.clone(),
                    common,
                },
            );
        }
        ActionKind::SetRowFilter { filter } => {
            // Only on a table (a view is EXPECT_TABLE_NOT_VIEW) whose
            // function exists on this metastore (ROUTINE_NOT_FOUND).
            let known = filter.as_ref().is_none_or(|f| s.functions.contains_key(&f.function_name));
            if let Some(table) = s.tables.get_mut(&name).filter(|t| t.kind != TableKind::View && known) {
                table.protection.row_filter = filter.clone();
            }
        }
        ActionKind::SetColumnMask { column, mask } => {
            let known = mask.as_ref().is_none_or(|m| s.functions.contains_key(&m.function_name));
            if let Some(table) = s.tables.get_mut(&name).filter(|t| t.kind != TableKind::View && known) {
                match mask {
                    Some(mask) => table.protection.column_masks.insert(column.clone(), mask.clone()),
                    None => table.protection.column_masks.remove(column),
                };
            }
        }
        ActionKind::AddConstraint { constraint } => {
            // As Databricks checks it: a name free in the schema, one
            // primary key per table, a foreign key naming its parent's
            // primary key (sandbox/FIDELITY.md, "Informational keys").
            let schema = format!("{}.{}", path[0], path[1]);
            let taken = s.tables.values().any(|t| {
                format!("{}.{}", t.catalog, t.schema) == schema
                    && t.constraints.iter().any(|c| c.name == constraint.name)
            });
            let parent_ok = match &constraint.key {
                Key::Primary => s.tables.get(&name).is_some_and(|t| !t.constraints.iter().any(|c| c.is_primary())),
                Key::Foreign { parent_table, parent_columns } => s
                    .tables
                    .get(parent_table)
                    .is_some_and(|p| p.constraints.iter().any(|c| c.is_primary() && &c.columns == parent_columns)),
            };
            if let Some(table) = s.tables.get_mut(&name).filter(|t| t.kind != TableKind::View && !taken && parent_ok) {
                table.constraints.push(constraint.clone());
                table.constraints.sort();
            }
        }
        ActionKind::DropConstraint { name: key } => {
            // RESTRICT: a primary key that a foreign key references stays.
            let referenced =
                s.tables.get(&name).is_some_and(|t| t.constraints.iter().any(|c| &c.name == key && c.is_primary()))
                    && s.tables.values().any(|t| t.constraints.iter().any(|c| c.parent() == Some(name.as_str())));
            if let Some(table) = s.tables.get_mut(&name).filter(|_| !referenced) {
                table.constraints.retain(|c| &c.name != key);
            }
        }
        ActionKind::Grant { principal, privileges } if object.kind == ObjectKind::Model => {
            super::models::grant_effect(s, &name, principal, privileges, true)
        }
        ActionKind::Revoke { principal, privileges } if object.kind == ObjectKind::Model => {
            super::models::grant_effect(s, &name, principal, privileges, false)
        }
        ActionKind::Grant { principal, privileges } => {
            if let Some(common) = s.common_mut(object) {
                common.grants.entry(principal.clone()).or_default().extend(privileges.iter().cloned());
            }
        }
        ActionKind::Revoke { principal, privileges } => {
            if let Some(common) = s.common_mut(object) {
                if let Some(held) = common.grants.get_mut(principal) {
                    held.retain(|p| !privileges.contains(p));
                    if held.is_empty() {
                        common.grants.remove(principal);
                    }
                }
            }
        }
        ActionKind::SetOwner { owner } => {
            if let Some(common) = s.common_mut(object) {
                common.owner = owner.clone();
            }
        }
        ActionKind::Model(change) => super::models::effect(s, path, &creator, change),
        ActionKind::Metadata(change) => super::metadata_change::apply(s, object, change),
        ActionKind::Drop => drop_object(s, object),
        ActionKind::Blocked(_) => {}
    }
}

/// The Files API's effect: folders made, each file uploaded (its time on
/// the secondary is the copy's, later than the source's) and recorded in
/// the manifest with the source's state, prune's deletions gone.
fn copy_files(s: &mut Snapshot, volume: &str, copy: &super::volume_files::VolumeCopy) {
    use super::volume_files::{FileState, FilesRead, VolumeFiles};
    let entry = s.volume_files.entry(volume.to_string()).or_insert_with(|| FilesRead::Listed(VolumeFiles::default()));
    let FilesRead::Listed(files) = entry else { return };
    files.directories.extend(copy.directories.iter().cloned());
    for file in &copy.copy {
        let uploaded = FileState { size: file.source.size, modified_ms: file.source.modified_ms + 1 };
        files.files.insert(file.path.clone(), uploaded);
        files.copied.insert(file.path.clone(), file.source);
    }
    for path in &copy.delete {
        files.files.remove(path);
        files.copied.remove(path);
    }
}

/// Drops an object and everything inside it (catalogs and schemas are
/// dropped with `force`).
fn drop_object(s: &mut Snapshot, object: &ObjectRef) {
    let path = &object.path;
    let inside = |catalog: &str, schema: Option<&str>, name: Option<&str>| {
        let parts = [Some(catalog), schema, name];
        path.iter().zip(parts).all(|(p, q)| q == Some(p.as_str()))
    };
    s.catalogs.retain(|_, c| !inside(&c.name, None, None));
    s.schemas.retain(|_, c| !inside(&c.catalog, Some(&c.name), None));
    // Tables, volumes and functions are separate namespaces: dropping one
    // leaf leaves a same-named leaf of another kind alone.
    let container = path.len() < 3;
    let drops = |kinds: &[ObjectKind]| container || kinds.contains(&object.kind);
    if drops(&[ObjectKind::Table, ObjectKind::View]) {
        s.tables.retain(|_, t| !inside(&t.catalog, Some(&t.schema), Some(&t.name)));
    }
    if drops(&[ObjectKind::Volume]) {
        s.volumes.retain(|_, v| !inside(&v.catalog, Some(&v.schema), Some(&v.name)));
    }
    if drops(&[ObjectKind::Function]) {
        s.functions.retain(|_, f| !inside(&f.catalog, Some(&f.schema), Some(&f.name)));
    }
}
