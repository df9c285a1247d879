//! Drift: how the secondary differs from the primary, object by object.
//!
//! This is what readiness shows and what `replicate --dry-run` lists, and the
//! planner turns each entry into actions, so it must be exactly the drift:
//! nothing the replication would not change, nothing it would miss.
//!
//! Scope: managed catalogs only (system, internal, Delta Sharing and foreign
//! catalogs belong to the platform or another metastore), narrowed by the
//! configuration's catalog and schema filters. The secondary's mounted share
//! catalogs are drbot's plumbing, never "extra". Storage locations are
//! compared after mapping the primary's location to the secondary's; a
//! managed table's location is the metastore's business and is not compared.
//! Grants are *direct* grants, the primary's under the names the pair maps
//! them to on the secondary (`principals.rs`); an object that is missing or
//! extra carries its grants and owner implicitly and gets no separate
//! grant/owner entries.

use std::collections::BTreeSet;

use super::config::ReplicationConfig;
use super::metadata::{self, MetadataField};
use super::model_info::ModelInfo;
use super::object::{ObjectKind, ObjectRef};
use super::snapshot::{
    CatalogKind, Common, FunctionInfo, Grants, SkippedPart, Snapshot, TableInfo, TableKind, VolumeInfo,
};
use super::volume_files::{FileCopy, FilesRead, VolumeFiles};

/// The kinds readiness groups drift by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DriftKind {
    Catalog,
    Schema,
    Table,
    View,
    Volume,
    Function,
    /// Registered models (versions, aliases, comment).
    Model,
    Grants,
    Owner,
    /// Comments, tags and table properties (`metadata.rs`).
    Metadata,
}

/// One difference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    pub object: ObjectRef,
    pub change: Change,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// In the primary, not in the secondary.
    Missing,
    /// Only in the secondary (the top-most such object: an extra schema's
    /// tables are not listed again).
    Extra,
    /// In both, but defined differently.
    Different(Vec<Field>),
    /// A Delta table whose primary committed after the secondary's clone did.
    Stale {
        primary_commit_ms: i64,
        secondary_commit_ms: Option<i64>,
    },
    /// Direct grants to one principal differ.
    Grants {
        principal: String,
        missing: BTreeSet<String>,
        extra: BTreeSet<String>,
    },
    Owner {
        primary: String,
        secondary: String,
    },
    /// Metadata a clone does not carry differs (comments, tags, the table
    /// properties a person set; `metadata.rs`).
    Metadata(Vec<MetadataField>),
}

/// What differs on an object present on both sides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// Table type or catalog type (`MANAGED` vs `EXTERNAL`, table vs view…).
    Kind {
        primary: String,
        secondary: String,
    },
    Comment,
    Properties,
    /// The secondary's location against the mapped primary location.
    StorageLocation {
        expected: Option<String>,
        actual: Option<String>,
    },
    Format {
        primary: Option<String>,
        secondary: Option<String>,
    },
    ViewDefinition,
    /// A function's language, parameters, return type or body.
    FunctionDefinition,
    /// A non-Delta external table's columns, partitioning or format options.
    Columns,
    VolumeType {
        primary: String,
        secondary: String,
    },
    /// A managed volume's files (`volume_files.rs`): how many the secondary
    /// lacks, holds from another version of the primary's (or not copied by
    /// drbot), or holds alone, and the first few of their paths.
    Files {
        missing: usize,
        changed: usize,
        extra: usize,
        examples: Vec<String>,
    },
    /// A registered model's versions: those only the primary has (a person
    /// copies them with MLflow) and those only the secondary has.
    ModelVersions {
        missing: Vec<i64>,
        extra: Vec<i64>,
    },
    /// A registered model's aliases point elsewhere (or are missing, or extra).
    Aliases,
    /// The comment or tags of a version both sides have.
    VersionMetadata,
}

impl Drift {
    pub fn kind(&self) -> DriftKind {
        match (&self.change, self.object.kind) {
            (Change::Grants { .. }, _) => DriftKind::Grants,
            (Change::Owner { .. }, _) => DriftKind::Owner,
            (Change::Metadata(_), _) => DriftKind::Metadata,
            (_, ObjectKind::Catalog | ObjectKind::SharedCatalog) => DriftKind::Catalog,
            (_, ObjectKind::Schema) => DriftKind::Schema,
            (_, ObjectKind::View) => DriftKind::View,
            (_, ObjectKind::Volume) => DriftKind::Volume,
            (_, ObjectKind::Function) => DriftKind::Function,
            (_, ObjectKind::Model) => DriftKind::Model,
            (_, ObjectKind::Table | ObjectKind::Share | ObjectKind::Recipient) => DriftKind::Table,
        }
    }
}

/// Every difference between the two metastores under `config`, in a stable
/// order (catalogs, then schemas, tables and volumes, each by name).
pub fn diff(primary: &Snapshot, secondary: &Snapshot, config: &ReplicationConfig) -> Vec<Drift> {
    let mut out = Vec::new();
    let scope = Scope { primary, secondary, config };
    let tags = metadata::tags_known(primary, secondary);

    for catalog in primary.catalogs.values().filter(|c| c.kind == CatalogKind::Managed) {
        if !config.includes_catalog(&catalog.name) {
            continue;
        }
        let object = ObjectRef::new(ObjectKind::Catalog, [&catalog.name]);
        match secondary.catalogs.get(&catalog.name) {
            None => out.push(Drift { object, change: Change::Missing }),
            Some(other) if other.kind != CatalogKind::Managed => out.push(Drift {
                object,
                change: Change::Different(vec![Field::Kind {
                    primary: catalog_kind_name(&catalog.kind),
                    secondary: catalog_kind_name(&other.kind),
                }]),
            }),
            Some(other) => {
                let mut fields = Vec::new();
                location_field(config, &catalog.storage_root, &other.storage_root, &mut fields);
                common_fields(&catalog.common, &other.common, &mut fields);
                push_different(&mut out, &object, fields);
                metadata_drift(&object, (&catalog.common, None), (&other.common, None), tags, false, &mut out);
                owner_and_grants(&object, &config.principals.common(&catalog.common), &other.common, &mut out);
            }
        }
    }
    // With a schema pattern catalogs are only containers: a catalog only the
    // secondary has is not in scope (pruning it would drop schemas outside
    // the pattern).
    for catalog in secondary.catalogs.values().filter(|_| config.schema_pattern.is_none()) {
        let replicated_there = primary.catalogs.get(&catalog.name).is_some_and(|c| c.kind == CatalogKind::Managed);
        if catalog.kind == CatalogKind::Managed && config.includes_catalog(&catalog.name) && !replicated_there {
            out.push(Drift { object: ObjectRef::new(ObjectKind::Catalog, [&catalog.name]), change: Change::Extra });
        }
    }

    for schema in primary.schemas.values().filter(|s| scope.primary_schema(&s.catalog, &s.name)) {
        let object = ObjectRef::new(ObjectKind::Schema, [&schema.catalog, &schema.name]);
        match secondary.schemas.get(&schema.full_name()) {
            None => out.push(Drift { object, change: Change::Missing }),
            Some(other) => {
                let mut fields = Vec::new();
                location_field(config, &schema.storage_root, &other.storage_root, &mut fields);
                common_fields(&schema.common, &other.common, &mut fields);
                push_different(&mut out, &object, fields);
                metadata_drift(&object, (&schema.common, None), (&other.common, None), tags, false, &mut out);
                owner_and_grants(&object, &config.principals.common(&schema.common), &other.common, &mut out);
            }
        }
    }
    for schema in secondary.schemas.values() {
        if scope.secondary_schema(&schema.catalog, &schema.name) && !primary.schemas.contains_key(&schema.full_name()) {
            out.push(Drift {
                object: ObjectRef::new(ObjectKind::Schema, [&schema.catalog, &schema.name]),
                change: Change::Extra,
            });
        }
    }

    for table in primary.tables.values().filter(|t| scope.primary_schema(&t.catalog, &t.schema)) {
        let object = table_ref(table);
        match secondary.tables.get(&table.full_name()) {
            None => out.push(Drift { object, change: Change::Missing }),
            Some(other) => {
                let fields = table_fields(config, table, other);
                if fields.is_empty() {
                    if let Some(change) = staleness(table, other) {
                        out.push(Drift { object: object.clone(), change });
                    }
                }
                push_different(&mut out, &object, fields);
                let (a, b) =
                    ((&table.common, Some(&table.column_metadata)), (&other.common, Some(&other.column_metadata)));
                let keys_differ = table.constraints != other.constraints;
                metadata_drift(&object, a, b, tags, keys_differ, &mut out);
                owner_and_grants(&object, &config.principals.common(&table.common), &other.common, &mut out);
            }
        }
    }
    for table in secondary.tables.values() {
        if scope.secondary_child(&table.catalog, &table.schema) && !primary.tables.contains_key(&table.full_name()) {
            out.push(Drift { object: table_ref(table), change: Change::Extra });
        }
    }

    for volume in primary.volumes.values().filter(|v| scope.primary_schema(&v.catalog, &v.schema)) {
        let object = volume_ref(volume);
        match secondary.volumes.get(&volume.full_name()) {
            None => out.push(Drift { object, change: Change::Missing }),
            Some(other) => {
                let mut fields = Vec::new();
                if !volume.volume_type.eq_ignore_ascii_case(&other.volume_type) {
                    fields.push(Field::VolumeType {
                        primary: volume.volume_type.clone(),
                        secondary: other.volume_type.clone(),
                    });
                } else if is_external_volume(volume) {
                    location_field(config, &volume.storage_location, &other.storage_location, &mut fields);
                }
                // A managed volume's files, where both sides were listed.
                if fields.is_empty() && !is_external_volume(volume) {
                    let listed = |s: &Snapshot| match s.volume_files.get(&volume.full_name()) {
                        Some(FilesRead::Listed(files)) => Some(files.clone()),
                        _ => None,
                    };
                    if let (Some(from), Some(to)) = (listed(primary), listed(secondary)) {
                        fields.extend(files_field(&from, Some(&to)));
                    }
                }
                push_different(&mut out, &object, fields);
                metadata_drift(&object, (&volume.common, None), (&other.common, None), tags, false, &mut out);
                owner_and_grants(&object, &config.principals.common(&volume.common), &other.common, &mut out);
            }
        }
    }
    for volume in secondary.volumes.values() {
        if scope.secondary_child(&volume.catalog, &volume.schema) && !primary.volumes.contains_key(&volume.full_name())
        {
            out.push(Drift { object: volume_ref(volume), change: Change::Extra });
        }
    }
    functions(&scope, &mut out);
    models(&scope, &mut out);
    out
}

/// Registered models (planned from the snapshots by `models.rs`; here for
/// readiness and `verify`): missing, extra, or with other versions,
/// aliases, comment or version metadata (tags where both reads learned
/// them); their owners, and their grants where both reads learned them.
fn models(scope: &Scope<'_>, out: &mut Vec<Drift>) {
    let (primary, secondary) = (scope.primary, scope.secondary);
    for model in primary.models.values().filter(|m| scope.primary_schema(&m.catalog, &m.schema)) {
        let object = ObjectRef::new(ObjectKind::Model, [&model.catalog, &model.schema, &model.name]);
        let Some(other) = secondary.models.get(&model.full_name()) else {
            out.push(Drift { object, change: Change::Missing });
            continue;
        };
        push_different(out, &object, model_fields(model, other));
        let owner = scope.config.principals.to_secondary(&model.owner);
        if !model.owner.is_empty() && !other.owner.is_empty() && owner != other.owner {
            out.push(Drift {
                object: object.clone(),
                change: Change::Owner { primary: owner, secondary: other.owner.clone() },
            });
        }
        let name = model.full_name();
        let unread = |s: &Snapshot, m: &ModelInfo| m.grants_unread || s.is_skipped(&name, SkippedPart::Grants);
        if !unread(primary, model) && !unread(secondary, other) {
            grant_drift(&object, &scope.config.principals.grants(&model.grants), &other.grants, out);
        }
    }
    for model in secondary.models.values() {
        if scope.secondary_child(&model.catalog, &model.schema) && !primary.models.contains_key(&model.full_name()) {
            let object = ObjectRef::new(ObjectKind::Model, [&model.catalog, &model.schema, &model.name]);
            out.push(Drift { object, change: Change::Extra });
        }
    }
}

/// How two sides' model differ in what verify and readiness compare.
pub(crate) fn model_fields(primary: &ModelInfo, secondary: &ModelInfo) -> Vec<Field> {
    let mut fields = Vec::new();
    let missing: Vec<i64> = primary.versions.keys().filter(|v| !secondary.versions.contains_key(v)).copied().collect();
    let extra: Vec<i64> = secondary.versions.keys().filter(|v| !primary.versions.contains_key(v)).copied().collect();
    if !missing.is_empty() || !extra.is_empty() {
        fields.push(Field::ModelVersions { missing, extra });
    }
    if primary.aliases != secondary.aliases {
        fields.push(Field::Aliases);
    }
    let comment = |c: &Option<String>| c.clone().filter(|c| !c.is_empty());
    if comment(&primary.comment) != comment(&secondary.comment) {
        fields.push(Field::Comment);
    }
    let metadata_differs = primary.versions.iter().any(|(number, version)| {
        secondary.versions.get(number).is_some_and(|other| {
            comment(&version.comment) != comment(&other.comment)
                || matches!((&version.tags, &other.tags), (Some(a), Some(b)) if a != b)
        })
    });
    if metadata_differs {
        fields.push(Field::VersionMetadata);
    }
    fields
}

/// How a managed volume's files differ (`volume_files.rs`: the manifest
/// decides whether a held file is the primary's current one), when both
/// sides were listed; `None` when equal or not comparable.
pub(crate) fn files_field(primary: &VolumeFiles, secondary: Option<&VolumeFiles>) -> Option<Field> {
    let plan = super::volume_files::plan_files(primary, secondary, false);
    let missing: Vec<&FileCopy> = plan.copy.iter().chain(&plan.too_large).filter(|f| f.new).collect();
    let changed: Vec<&FileCopy> = plan.copy.iter().chain(&plan.too_large).filter(|f| !f.new).collect();
    let extra: Vec<&String> =
        secondary.map(|s| s.files.keys().filter(|p| !primary.files.contains_key(*p)).collect()).unwrap_or_default();
    if missing.is_empty() && changed.is_empty() && extra.is_empty() && plan.directories.is_empty() {
        return None;
    }
    let examples = missing
        .iter()
        .chain(&changed)
        .map(|f| f.path.clone())
        .chain(extra.iter().map(|p| (*p).clone()))
        .chain(plan.directories.iter().map(|d| format!("{d}/")))
        .take(FILE_EXAMPLES)
        .collect();
    Some(Field::Files { missing: missing.len(), changed: changed.len(), extra: extra.len(), examples })
}

/// How many paths a files difference names.
const FILE_EXAMPLES: usize = 5;

/// Functions: missing, extra, or defined or commented differently; and,
/// like tables, their owners and direct grants (EXECUTE…). An owner is
/// compared only when the read knew it (a `status` read does not).
fn functions(scope: &Scope<'_>, out: &mut Vec<Drift>) {
    let (primary, secondary) = (scope.primary, scope.secondary);
    for function in primary.functions.values().filter(|f| scope.primary_schema(&f.catalog, &f.schema)) {
        let object = function_ref(function);
        let Some(other) = secondary.functions.get(&function.full_name()) else {
            out.push(Drift { object, change: Change::Missing });
            continue;
        };
        // Its comment comes only with its definition (`CREATE OR REPLACE
        // FUNCTION … COMMENT`), so it is redefined for it.
        let comment = |f: &FunctionInfo| f.common.comment.clone().filter(|c| !c.is_empty());
        if !function.same_definition(other) {
            out.push(Drift { object: object.clone(), change: Change::Different(vec![Field::FunctionDefinition]) })
        } else if comment(function) != comment(other) {
            out.push(Drift { object: object.clone(), change: Change::Different(vec![Field::Comment]) })
        }
        let mapped = scope.config.principals.common(&function.common);
        if function.common.owner.is_empty() || other.common.owner.is_empty() {
            grant_drift(&object, &mapped.grants, &other.common.grants, out);
        } else {
            owner_and_grants(&object, &mapped, &other.common, out);
        }
    }
    for function in secondary.functions.values() {
        if scope.secondary_child(&function.catalog, &function.schema)
            && !primary.functions.contains_key(&function.full_name())
        {
            out.push(Drift { object: function_ref(function), change: Change::Extra });
        }
    }
}

pub(crate) fn function_ref(function: &FunctionInfo) -> ObjectRef {
    ObjectRef::new(ObjectKind::Function, [&function.catalog, &function.schema, &function.name])
}

/// Whether the primary's `catalog.schema` is replicated under `config`.
pub fn is_replicated_schema(
    primary: &Snapshot,
    secondary: &Snapshot,
    config: &ReplicationConfig,
    catalog: &str,
    schema: &str,
) -> bool {
    Scope { primary, secondary, config }.primary_schema(catalog, schema)
}

/// Which schemas take part, given both snapshots.
struct Scope<'a> {
    primary: &'a Snapshot,
    secondary: &'a Snapshot,
    config: &'a ReplicationConfig,
}

impl Scope<'_> {
    /// A primary schema that is replicated: its catalog is managed, included,
    /// and not blocked by a same-named non-managed catalog on the secondary
    /// (that conflict is reported on the catalog alone).
    fn primary_schema(&self, catalog: &str, schema: &str) -> bool {
        self.primary.catalogs.get(catalog).is_some_and(|c| c.kind == CatalogKind::Managed)
            && self.secondary.catalogs.get(catalog).is_none_or(|c| c.kind == CatalogKind::Managed)
            && self.config.includes_schema(catalog, schema)
    }

    /// A secondary schema whose catalog the primary also replicates (so the
    /// schema itself is the top-most extra if the primary lacks it).
    fn secondary_schema(&self, catalog: &str, schema: &str) -> bool {
        self.primary_schema(catalog, schema)
            && self.secondary.catalogs.get(catalog).is_some_and(|c| c.kind == CatalogKind::Managed)
    }

    /// An object in a secondary schema that the primary has too.
    fn secondary_child(&self, catalog: &str, schema: &str) -> bool {
        self.secondary_schema(catalog, schema) && self.primary.schemas.contains_key(&format!("{catalog}.{schema}"))
    }
}

pub(crate) fn table_ref(table: &TableInfo) -> ObjectRef {
    let kind = if table.kind == TableKind::View { ObjectKind::View } else { ObjectKind::Table };
    ObjectRef::new(kind, [&table.catalog, &table.schema, &table.name])
}

pub(crate) fn volume_ref(volume: &VolumeInfo) -> ObjectRef {
    ObjectRef::new(ObjectKind::Volume, [&volume.catalog, &volume.schema, &volume.name])
}

pub(crate) fn is_external_volume(volume: &VolumeInfo) -> bool {
    volume.volume_type.eq_ignore_ascii_case("EXTERNAL")
}

fn catalog_kind_name(kind: &CatalogKind) -> String {
    match kind {
        CatalogKind::Managed => "MANAGED_CATALOG".into(),
        CatalogKind::DeltaSharing => "DELTASHARING_CATALOG".into(),
        CatalogKind::Foreign => "FOREIGN_CATALOG".into(),
        CatalogKind::System => "SYSTEM_CATALOG".into(),
        CatalogKind::Internal => "INTERNAL_CATALOG".into(),
        CatalogKind::Other(other) => other.clone(),
    }
}

pub(crate) fn table_kind_name(kind: &TableKind) -> String {
    match kind {
        TableKind::Managed => "MANAGED".into(),
        TableKind::External => "EXTERNAL".into(),
        TableKind::View => "VIEW".into(),
        TableKind::MaterializedView => "MATERIALIZED_VIEW".into(),
        TableKind::StreamingTable => "STREAMING_TABLE".into(),
        TableKind::Other(other) => other.clone(),
    }
}

type Held<'a> = (&'a Common, Option<&'a std::collections::BTreeMap<String, super::snapshot::ColumnMetadata>>);

/// The metadata of an object both sides hold that differs (`metadata.rs`),
/// its keys among it when `keys_differ` (`constraints.rs`).
fn metadata_drift(
    object: &ObjectRef,
    primary: Held<'_>,
    secondary: Held<'_>,
    tags: bool,
    keys_differ: bool,
    out: &mut Vec<Drift>,
) {
    let mut fields = metadata::fields(
        object.kind,
        metadata::Side { common: primary.0, columns: primary.1 },
        metadata::Side { common: secondary.0, columns: secondary.1 },
        tags,
    );
    if keys_differ {
        fields.push(MetadataField::Constraints);
    }
    if !fields.is_empty() {
        out.push(Drift { object: object.clone(), change: Change::Metadata(fields) });
    }
}

fn push_different(out: &mut Vec<Drift>, object: &ObjectRef, fields: Vec<Field>) {
    if !fields.is_empty() {
        out.push(Drift { object: object.clone(), change: Change::Different(fields) });
    }
}

/// Compares a location after mapping the primary's. An unmapped primary
/// location cannot be judged and is not drift here (creating the object is
/// what the planner reports as blocked).
fn location_field(
    config: &ReplicationConfig,
    primary: &Option<String>,
    secondary: &Option<String>,
    fields: &mut Vec<Field>,
) {
    let expected = match primary {
        None => None,
        Some(location) => match config.mapping.to_secondary(location) {
            Some(mapped) => Some(mapped),
            None => return,
        },
    };
    if !same_location(expected.as_deref(), secondary.as_deref()) {
        fields.push(Field::StorageLocation { expected, actual: secondary.clone() });
    }
}

/// Locations are equal up to a trailing slash, which Unity Catalog may or may
/// not echo back.
fn same_location(a: Option<&str>, b: Option<&str>) -> bool {
    a.map(|l| l.trim_end_matches('/')) == b.map(|l| l.trim_end_matches('/'))
}

fn common_fields(primary: &Common, secondary: &Common, fields: &mut Vec<Field>) {
    // An empty comment is no comment: Unity Catalog can only clear one by setting "".
    let comment = |c: &Common| c.comment.clone().filter(|c| !c.is_empty());
    if comment(primary) != comment(secondary) {
        fields.push(Field::Comment);
    }
    if primary.properties != secondary.properties {
        fields.push(Field::Properties);
    }
}

/// Table definition differences; a difference means the table is recreated
/// (or cannot be, which the planner reports), so staleness is moot then.
pub(crate) fn table_fields(config: &ReplicationConfig, primary: &TableInfo, secondary: &TableInfo) -> Vec<Field> {
    let mut fields = Vec::new();
    if primary.kind != secondary.kind {
        fields
            .push(Field::Kind { primary: table_kind_name(&primary.kind), secondary: table_kind_name(&secondary.kind) });
        return fields;
    }
    match primary.kind {
        // Views, and the materialized views and streaming tables re-created
        // from their definitions (`datasets.rs`).
        TableKind::View | TableKind::MaterializedView | TableKind::StreamingTable
            if primary.view_definition.as_deref().map(str::trim)
                != secondary.view_definition.as_deref().map(str::trim) =>
        {
            fields.push(Field::ViewDefinition);
        }
        TableKind::External => {
            let (a, b) = (primary.format.as_deref(), secondary.format.as_deref());
            let same_format = match (a, b) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                (a, b) => a == b,
            };
            if !same_format {
                fields.push(Field::Format { primary: primary.format.clone(), secondary: secondary.format.clone() });
            }
            location_field(config, &primary.storage_location, &secondary.storage_location, &mut fields);
            // A non-Delta table's columns (and partitioning) come from its
            // registration, not from a clone: compared when both are known,
            // and format options when both were read.
            let known = !primary.columns.is_empty() && !secondary.columns.is_empty();
            let same_columns = primary.columns.len() == secondary.columns.len()
                && primary.columns.iter().zip(&secondary.columns).all(|(a, b)| a.same(b));
            let options_differ =
                matches!((&primary.format_options, &secondary.format_options), (Some(a), Some(b)) if a != b);
            if !primary.is_delta() && (known && !same_columns || options_differ) {
                fields.push(Field::Columns);
            }
        }
        _ => {}
    }
    fields
}

/// A Delta table is stale when the primary's newest commit is newer than the
/// secondary clone's own last commit (the clone holds every primary commit
/// made before it). Without the primary's commit time there is nothing to
/// compare; a clone without one is taken as stale.
fn staleness(primary: &TableInfo, secondary: &TableInfo) -> Option<Change> {
    if !primary.is_delta() || !matches!(primary.kind, TableKind::Managed | TableKind::External) {
        return None;
    }
    let primary_commit_ms = primary.delta?.last_commit_ms;
    let secondary_commit_ms = secondary.delta.map(|d| d.last_commit_ms);
    match secondary_commit_ms {
        Some(ms) if ms >= primary_commit_ms => None,
        _ => Some(Change::Stale { primary_commit_ms, secondary_commit_ms }),
    }
}

fn owner_and_grants(object: &ObjectRef, primary: &Common, secondary: &Common, out: &mut Vec<Drift>) {
    if primary.owner != secondary.owner {
        out.push(Drift {
            object: object.clone(),
            change: Change::Owner { primary: primary.owner.clone(), secondary: secondary.owner.clone() },
        });
    }
    grant_drift(object, &primary.grants, &secondary.grants, out);
}

fn grant_drift(object: &ObjectRef, primary: &Grants, secondary: &Grants, out: &mut Vec<Drift>) {
    let empty = BTreeSet::new();
    let principals: BTreeSet<&String> = primary.keys().chain(secondary.keys()).collect();
    for principal in principals {
        let want = primary.get(principal).unwrap_or(&empty);
        let have = secondary.get(principal).unwrap_or(&empty);
        let missing: BTreeSet<String> = want.difference(have).cloned().collect();
        let extra: BTreeSet<String> = have.difference(want).cloned().collect();
        if !missing.is_empty() || !extra.is_empty() {
            out.push(Drift {
                object: object.clone(),
                change: Change::Grants { principal: principal.clone(), missing, extra },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::fixtures::*;

    fn world() -> (Snapshot, Snapshot) {
        let primary = empty(PRIMARY_ID)
            .with_catalog(catalog("main", CatalogKind::Managed))
            .with_catalog(catalog("system", CatalogKind::System))
            .with_catalog(catalog("lake", CatalogKind::Foreign))
            .with_catalog(catalog("partner", CatalogKind::DeltaSharing))
            .with_catalog(catalog("__internal", CatalogKind::Internal))
            .with_schema(schema("main", "sales"))
            .with_schema(schema("main", "information_schema"))
            .with_schema(schema("system", "access"))
            .with_table(managed("main.sales.orders", 2_000))
            .with_table(external_delta("main.sales.events", 2_000))
            .with_table(external("main.sales.raw", "PARQUET"))
            .with_table(view("main.sales.v", &["main.sales.orders"]))
            .with_table(managed("system.access.audit", 1))
            .with_volume(external_volume("main.sales.landing"));
        let secondary = Snapshot {
            catalogs: [
                ("main".to_string(), replica_of_catalog(&primary.catalogs["main"])),
                ("drbot_shared_main".to_string(), catalog("drbot_shared_main", CatalogKind::DeltaSharing)),
                ("system".to_string(), catalog("system", CatalogKind::System)),
            ]
            .into(),
            ..empty(SECONDARY_ID)
        }
        .with_schema(schema("main", "sales"))
        .with_table(replica_of(&primary.tables["main.sales.orders"]))
        .with_table(replica_of(&primary.tables["main.sales.events"]))
        .with_table(replica_of(&primary.tables["main.sales.raw"]))
        .with_table(replica_of(&primary.tables["main.sales.v"]))
        .with_volume(replica_of_volume(&primary.volumes["main.sales.landing"]));
        (primary, secondary)
    }

    /// A table whose keys differ is metadata drift (readiness counts it),
    /// and so are a function's grants and owner; equal keys are none.
    #[test]
    fn keys_and_function_grants_are_drift() {
        let (mut primary, mut secondary) = world();
        primary.tables.get_mut("main.sales.orders").unwrap().constraints = vec![pk("pk_orders", &["id"])];
        let keys = |drift: &[Drift]| {
            drift.iter().any(|d| {
                d.object.full_name() == "main.sales.orders"
                    && matches!(&d.change, Change::Metadata(f) if f.contains(&MetadataField::Constraints))
            })
        };
        assert!(keys(&diff(&primary, &secondary, &config())));
        secondary.tables.get_mut("main.sales.orders").unwrap().constraints = vec![pk("pk_orders", &["id"])];
        assert!(!keys(&diff(&primary, &secondary, &config())));

        let mut f = function("main.sales.f", &[]);
        f.common.owner = "alice".into();
        f.common.grants = [("analysts".to_string(), ["EXECUTE".to_string()].into())].into();
        primary = primary.with_function(f.clone());
        f.common.owner = "bob".into();
        f.common.grants.clear();
        secondary = secondary.with_function(f.clone());
        let drift = diff(&primary, &secondary, &config());
        let on_f: Vec<&Change> =
            drift.iter().filter(|d| d.object.full_name() == "main.sales.f").map(|d| &d.change).collect();
        assert!(on_f.iter().any(|c| matches!(c, Change::Owner { primary, .. } if primary == "alice")), "{on_f:?}");
        assert!(on_f.iter().any(|c| matches!(c, Change::Grants { principal, .. } if principal == "analysts")));
        // A read that did not learn owners (`status`) compares grants only.
        secondary.functions.get_mut("main.sales.f").unwrap().common.owner.clear();
        let drift = diff(&primary, &secondary, &config());
        assert!(!drift
            .iter()
            .any(|d| d.object.full_name() == "main.sales.f" && matches!(d.change, Change::Owner { .. })));
    }

    /// Models differ by versions, aliases, comment and version metadata
    /// (their grants only where both reads learned them); a managed
    /// volume's files by the copy manifest, where both sides were listed.
    #[test]
    fn models_and_managed_volume_files_are_drift() {
        use crate::replication::model_info::{ModelInfo, VersionInfo};
        use crate::replication::volume_files::{FileState, FilesRead, VolumeFiles};
        let (mut primary, mut secondary) = world();
        let model = ModelInfo {
            catalog: "main".into(),
            schema: "sales".into(),
            name: "churn".into(),
            owner: "alice".into(),
            versions: [(1, VersionInfo::default()), (2, VersionInfo::default())].into(),
            aliases: [("champion".to_string(), 2)].into(),
            grants: [("analysts".to_string(), ["EXECUTE".to_string()].into())].into(),
            ..ModelInfo::default()
        };
        primary.models.insert(model.full_name(), model.clone());
        let mut copy = model.clone();
        copy.versions.remove(&2);
        copy.aliases.clear();
        copy.grants.clear();
        copy.grants_unread = true;
        secondary.models.insert(copy.full_name(), copy);
        let mut volume = external_volume("main.sales.files");
        volume.volume_type = "MANAGED".into();
        volume.storage_location = None;
        primary = primary.with_volume(volume.clone());
        secondary = secondary.with_volume(volume.clone());
        let file = FileState { size: 3, modified_ms: 7 };
        let files = VolumeFiles { files: [("x.csv".to_string(), file)].into(), ..VolumeFiles::default() };
        primary.volume_files.insert(volume.full_name(), FilesRead::Listed(files.clone()));
        let drift = diff(&primary, &secondary, &config());
        let on =
            |name: &str| drift.iter().filter(|d| d.object.full_name() == name).map(|d| &d.change).collect::<Vec<_>>();
        assert_eq!(
            on("main.sales.churn"),
            vec![&Change::Different(vec![Field::ModelVersions { missing: vec![2], extra: vec![] }, Field::Aliases])],
            "grants the secondary's read did not learn are not compared"
        );
        assert_eq!(
            drift.iter().find(|d| d.object.full_name() == "main.sales.churn").map(Drift::kind),
            Some(DriftKind::Model)
        );
        assert!(on("main.sales.files").is_empty(), "the secondary's files were not listed: not compared");
        let held = VolumeFiles {
            files: [("x.csv".to_string(), FileState { size: 3, modified_ms: 99 })].into(),
            ..VolumeFiles::default()
        };
        secondary.volume_files.insert(volume.full_name(), FilesRead::Listed(held.clone()));
        let drift = diff(&primary, &secondary, &config());
        let files_drift = drift.iter().find(|d| d.object.full_name() == "main.sales.files").map(|d| d.change.clone());
        assert_eq!(
            files_drift,
            Some(Change::Different(vec![Field::Files {
                missing: 0,
                changed: 1,
                extra: 0,
                examples: vec!["x.csv".into()]
            }])),
            "not copied by drbot (no manifest): not known to be the primary's"
        );
        let copied = VolumeFiles { copied: files.files.clone(), ..held };
        secondary.volume_files.insert(volume.full_name(), FilesRead::Listed(copied));
        assert!(diff(&primary, &secondary, &config()).iter().all(|d| d.object.full_name() != "main.sales.files"));
        // The planner plans the files from the listings, never blocks on this drift.
        let plan = crate::replication::planner::plan(&primary, &secondary, &config());
        assert!(plan.actions.iter().all(|a| a.object.full_name() != "main.sales.files" || a.is_runnable()));
    }

    #[test]
    fn a_faithful_replica_has_no_drift_and_excluded_catalogs_never_count() {
        let (primary, secondary) = world();
        assert_eq!(diff(&primary, &secondary, &config()), vec![]);
    }

    #[test]
    fn missing_extra_and_only_managed_catalogs() {
        let (primary, mut secondary) = world();
        secondary.tables.remove("main.sales.v");
        secondary.volumes.remove("main.sales.landing");
        secondary.catalogs.remove("main");
        secondary = secondary
            .with_catalog(catalog("scratch", CatalogKind::Managed))
            .with_schema(schema("scratch", "tmp"))
            .with_catalog(catalog("other_share", CatalogKind::DeltaSharing));
        let drift = diff(&primary, &secondary, &config());
        let summary: Vec<(String, &Change)> = drift.iter().map(|d| (d.object.to_string(), &d.change)).collect();
        assert_eq!(
            summary,
            vec![
                ("catalog main".to_string(), &Change::Missing),
                ("catalog scratch".to_string(), &Change::Extra),
                // A schema of an extra catalog is implied, not listed again.
                ("view main.sales.v".to_string(), &Change::Missing),
                ("volume main.sales.landing".to_string(), &Change::Missing),
            ]
        );
        assert_eq!(drift[2].kind(), DriftKind::View);
    }

    #[test]
    fn stale_clones_by_commit_time() {
        let (primary, mut secondary) = world();
        secondary.tables.get_mut("main.sales.orders").unwrap().delta.as_mut().unwrap().last_commit_ms = 1_999;
        secondary.tables.get_mut("main.sales.events").unwrap().delta = None;
        // A clone committed after the primary's last commit is current.
        secondary.tables.get_mut("main.sales.raw").unwrap().delta =
            Some(crate::replication::snapshot::DeltaState { version: 1, last_commit_ms: 9_000 });
        let drift = diff(&primary, &secondary, &config());
        assert_eq!(
            drift,
            vec![
                Drift {
                    object: ObjectRef::new(ObjectKind::Table, ["main", "sales", "events"]),
                    change: Change::Stale { primary_commit_ms: 2_000, secondary_commit_ms: None }
                },
                Drift {
                    object: ObjectRef::new(ObjectKind::Table, ["main", "sales", "orders"]),
                    change: Change::Stale { primary_commit_ms: 2_000, secondary_commit_ms: Some(1_999) }
                },
            ]
        );
    }

    #[test]
    fn definitions_locations_owners_and_grants() {
        let (mut primary, mut secondary) = world();
        primary.schemas.get_mut("main.sales").unwrap().common.comment = Some("orders".into());
        primary.tables.get_mut("main.sales.orders").unwrap().common.grants =
            [("bob".to_string(), ["SELECT".to_string(), "MODIFY".to_string()].into())].into();
        secondary.tables.get_mut("main.sales.orders").unwrap().common.grants =
            [("bob".to_string(), ["SELECT".to_string()].into()), ("eve".to_string(), ["SELECT".to_string()].into())]
                .into();
        secondary.tables.get_mut("main.sales.v").unwrap().common.owner = "carol".into();
        secondary.tables.get_mut("main.sales.raw").unwrap().storage_location = Some(format!("{EXT_PRIMARY}x"));
        secondary.catalogs.get_mut("main").unwrap().storage_root = Some(format!("{UC_PRIMARY}main/"));
        let drift = diff(&primary, &secondary, &config());
        let changes: Vec<(String, DriftKind, &Change)> =
            drift.iter().map(|d| (d.object.full_name(), d.kind(), &d.change)).collect();
        assert_eq!(
            changes,
            vec![
                (
                    "main".into(),
                    DriftKind::Catalog,
                    &Change::Different(vec![Field::StorageLocation {
                        expected: Some(format!("{UC_SECONDARY}main")),
                        actual: Some(format!("{UC_PRIMARY}main/"))
                    }])
                ),
                ("main.sales".into(), DriftKind::Schema, &Change::Different(vec![Field::Comment])),
                (
                    "main.sales.orders".into(),
                    DriftKind::Grants,
                    &Change::Grants {
                        principal: "bob".into(),
                        missing: ["MODIFY".to_string()].into(),
                        extra: BTreeSet::new()
                    }
                ),
                (
                    "main.sales.orders".into(),
                    DriftKind::Grants,
                    &Change::Grants {
                        principal: "eve".into(),
                        missing: BTreeSet::new(),
                        extra: ["SELECT".to_string()].into()
                    }
                ),
                (
                    "main.sales.raw".into(),
                    DriftKind::Table,
                    &Change::Different(vec![Field::StorageLocation {
                        expected: Some(format!("{EXT_SECONDARY}main/sales/raw")),
                        actual: Some(format!("{EXT_PRIMARY}x"))
                    }])
                ),
                (
                    "main.sales.v".into(),
                    DriftKind::Owner,
                    &Change::Owner { primary: "dr-operators".into(), secondary: "carol".into() }
                ),
            ]
        );
    }

    #[test]
    fn filters_narrow_both_sides() {
        let (primary, mut secondary) = world();
        secondary.schemas.clear();
        secondary = secondary.with_catalog(catalog("scratch", CatalogKind::Managed));
        let mut config = config();
        config.catalogs = Some(["main".to_string()].into());
        config.schema_pattern = Some("nothing*".into());
        assert_eq!(diff(&primary, &secondary, &config), vec![]);
        config.schema_pattern = Some("sal*".into());
        let drift = diff(&primary, &secondary, &config);
        assert_eq!(drift.len(), 1);
        assert_eq!(drift[0].object.to_string(), "schema main.sales");
        assert_eq!(drift[0].change, Change::Missing);
    }

    #[test]
    fn a_same_named_foreign_catalog_on_the_secondary_is_a_kind_conflict() {
        let (primary, mut secondary) = world();
        secondary.catalogs.insert("main".into(), catalog("main", CatalogKind::Foreign));
        let drift = diff(&primary, &secondary, &config());
        assert_eq!(drift.len(), 1);
        assert!(matches!(&drift[0].change, Change::Different(f) if matches!(f[0], Field::Kind { .. })));
    }
}
