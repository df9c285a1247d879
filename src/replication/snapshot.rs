//! What one metastore holds, as the planner and readiness see it.
//!
//! A snapshot is plain data read once from a workspace (see `read.rs`); the
//! planner and the readiness report are pure functions of two snapshots and
//! the configuration, so both are unit- and property-testable without any
//! I/O. Names are Unity Catalog full names (`catalog`, `catalog.schema`,
//! `catalog.schema.object`) as the REST API spells them; maps are ordered so
//! that plans and reports come out the same every time.

use std::collections::{BTreeMap, BTreeSet};

/// principal → privileges granted *directly* on one object (never effective
/// grants: inherited privileges are replicated where they are granted).
pub type Grants = BTreeMap<String, BTreeSet<String>>;

/// Unity Catalog tags: key → value (an empty value for a key-only tag).
pub type Tags = BTreeMap<String, String>;

/// One metastore, as far as replication cares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// `azure:<region>:<uuid>`, the Delta Sharing id of this metastore (from
    /// `SELECT current_metastore()`); empty when it could not be read.
    pub global_metastore_id: String,
    pub catalogs: BTreeMap<String, CatalogInfo>,
    pub schemas: BTreeMap<String, SchemaInfo>,
    /// Tables and views.
    pub tables: BTreeMap<String, TableInfo>,
    pub volumes: BTreeMap<String, VolumeInfo>,
    /// User-defined functions (SQL and Python UDFs), by full name.
    pub functions: BTreeMap<String, FunctionInfo>,
    /// Registered models, by full name (a planning read adds their grants
    /// and version tags).
    pub models: BTreeMap<String, super::model_info::ModelInfo>,
    /// Delta Sharing objects on this metastore (the primary's recipient and
    /// shares, the secondary's providers).
    pub sharing: SharingState,
    /// What the reader could not read (permission denied, vanished while
    /// reading), sorted. An object whose grants are listed here has *unknown*
    /// grants, not none: a diff must not revoke on the strength of it.
    pub skipped: Vec<Skipped>,
    /// How the grants were read; the same snapshot either way.
    pub read_path: ReadPath,
    /// Who read it: SCIM `Me`'s `userName`, the name Unity Catalog gives
    /// that principal as an owner. Only a view's owner may alter it, so the
    /// planner hands a view to this identity before altering it; that is
    /// right because a plan runs as the identity that read its secondary
    /// (see `Planner::take_over`). Empty when unknown.
    pub read_as: String,
    /// The groups `read_as` is a direct member of (SCIM `Me`'s `groups`):
    /// a share owned by one of them is the reader's to change.
    pub read_as_groups: BTreeSet<String>,
    /// The metastore's external locations and who read them, for the
    /// storage checks of `storage.rs`; `None` when they were not read (then
    /// nothing is judged by them).
    pub storage: Option<StorageAccess>,
    /// Managed volumes' files by volume full name, when a replication cycle
    /// listed them (`volume_survey.rs`); on the secondary with what drbot
    /// copied there. Empty for reads that do not copy files (`status`).
    pub volume_files: BTreeMap<String, super::volume_files::FilesRead>,
    /// Principals this metastore was asked about and does not know
    /// (`principal_survey.rs`): a grant or owner change naming one is
    /// planned blocked. Any principal not listed is taken as known (Unity
    /// Catalog has the last word when the statement runs).
    pub unknown_principals: BTreeSet<String>,
}

/// What decides whether a statement with a path may run on this metastore:
/// its external locations, and the principal that read them (the one that
/// will run the statements).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageAccess {
    pub locations: Vec<LocationInfo>,
    /// The reader as Unity Catalog names principals (user name, or a service
    /// principal's application id) and its groups; `None` when unknown (then
    /// privileges are not judged, only coverage and overlap).
    pub reader: Option<Principal>,
}

/// One external location.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocationInfo {
    pub name: String,
    pub url: String,
    pub read_only: bool,
    pub owner: String,
    /// Direct grants; empty but unknown when they could not be read (see
    /// `grants_read`).
    pub grants: Grants,
    pub grants_read: bool,
}

/// A principal and the groups it belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub groups: Vec<String>,
}

/// How a reader read the grants, so `status` can say which path it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadPath {
    /// Four `information_schema` statements on this warehouse.
    Warehouse(String),
    /// One permissions GET per object, and why not the warehouse.
    Rest(String),
}

impl Default for ReadPath {
    fn default() -> Self {
        ReadPath::Rest("no SQL warehouse configured".into())
    }
}

impl std::fmt::Display for ReadPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadPath::Warehouse(id) => write!(f, "information_schema on warehouse {id}"),
            ReadPath::Rest(why) => write!(f, "REST, one call per object ({why})"),
        }
    }
}

impl Snapshot {
    /// The owner, comment, properties, tags and grants of `object`, to change
    /// in place (the model of what actions do); `None` for a kind without
    /// them here, or an object not in the snapshot.
    pub(crate) fn common_mut(&mut self, object: &super::object::ObjectRef) -> Option<&mut Common> {
        use super::object::ObjectKind;
        let name = object.full_name();
        match object.kind {
            ObjectKind::Catalog | ObjectKind::SharedCatalog => self.catalogs.get_mut(&name).map(|c| &mut c.common),
            ObjectKind::Schema => self.schemas.get_mut(&name).map(|c| &mut c.common),
            ObjectKind::Table | ObjectKind::View => self.tables.get_mut(&name).map(|c| &mut c.common),
            ObjectKind::Volume => self.volumes.get_mut(&name).map(|c| &mut c.common),
            ObjectKind::Function => self.functions.get_mut(&name).map(|c| &mut c.common),
            ObjectKind::Share | ObjectKind::Recipient | ObjectKind::Model => None,
        }
    }
    /// Whether `part` of the object named `full_name` could not be read.
    pub fn is_skipped(&self, full_name: &str, part: SkippedPart) -> bool {
        self.skipped.iter().any(|s| s.full_name == full_name && s.part == part)
    }
}

/// One thing a read left out, and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skipped {
    /// `catalog`, `schema`, `table`, `volume`, `metastore`, `share`, …
    pub securable: String,
    /// The object's full name (empty for the metastore itself).
    pub full_name: String,
    pub part: SkippedPart,
    /// The workspace's words (never a token).
    pub reason: String,
}

/// Which part of an object a read left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SkippedPart {
    /// The object itself (it is not in the snapshot).
    Object,
    /// What it holds: a catalog's schemas, a schema's tables or volumes.
    Contents,
    /// Its direct grants (the `grants` map is empty but unknown).
    Grants,
    /// A view's dependencies (from the table GET).
    ViewDependencies,
    /// Delta Sharing objects (recipients, shares, providers).
    Sharing,
    /// The global metastore id.
    MetastoreId,
    /// External locations (and so the storage checks).
    Storage,
    /// A non-Delta external table's format options (`DESCRIBE … AS JSON`).
    FormatOptions,
    /// The metastore's registered models (a read that does not plan lists
    /// them in one call, which the caller may not be allowed).
    Models,
    /// Every tag of the metastore (catalog to column): they are read from
    /// `information_schema`'s `*_tags` views only, so a read without a
    /// running SQL warehouse does not know them (`metadata.rs`).
    Tags,
}

/// Catalog kinds, as `catalog_type` names them. Only managed catalogs are
/// replicated; the rest belong to the platform or to another metastore.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CatalogKind {
    Managed,
    DeltaSharing,
    Foreign,
    System,
    Internal,
    Other(String),
}

impl CatalogKind {
    pub fn from_api(catalog_type: &str) -> CatalogKind {
        match catalog_type {
            "MANAGED_CATALOG" => CatalogKind::Managed,
            "DELTASHARING_CATALOG" => CatalogKind::DeltaSharing,
            "FOREIGN_CATALOG" => CatalogKind::Foreign,
            "SYSTEM_CATALOG" => CatalogKind::System,
            "INTERNAL_CATALOG" => CatalogKind::Internal,
            other => CatalogKind::Other(other.to_string()),
        }
    }
}

/// What every securable carries and replication copies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Common {
    pub owner: String,
    pub comment: Option<String>,
    pub properties: BTreeMap<String, String>,
    pub grants: Grants,
    /// Its Unity Catalog tags; unknown (and empty) when the snapshot
    /// skipped `SkippedPart::Tags`.
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogInfo {
    pub name: String,
    pub kind: CatalogKind,
    pub storage_root: Option<String>,
    /// For a catalog mounted from a share.
    pub provider_name: Option<String>,
    pub share_name: Option<String>,
    pub common: Common,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaInfo {
    pub catalog: String,
    pub name: String,
    pub storage_root: Option<String>,
    pub common: Common,
}

/// Table kinds, as `table_type` names them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TableKind {
    Managed,
    External,
    View,
    MaterializedView,
    StreamingTable,
    Other(String),
}

impl TableKind {
    pub fn from_api(table_type: &str) -> TableKind {
        match table_type {
            "MANAGED" => TableKind::Managed,
            "EXTERNAL" => TableKind::External,
            "VIEW" => TableKind::View,
            "MATERIALIZED_VIEW" => TableKind::MaterializedView,
            "STREAMING_TABLE" => TableKind::StreamingTable,
            other => TableKind::Other(other.to_string()),
        }
    }
}

/// A Delta table's newest commit, from the Unity Catalog properties
/// `delta.lastUpdateVersion` and `delta.lastCommitTimestamp` (epoch ms).
/// On a deep clone these describe the clone's own last commit: the clone
/// holds every primary commit made before it.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeltaState {
    pub version: i64,
    pub last_commit_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableInfo {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    pub kind: TableKind,
    /// `DELTA`, `PARQUET`, `CSV`, … (`None` for views).
    pub format: Option<String>,
    pub storage_location: Option<String>,
    pub view_definition: Option<String>,
    /// Full names of the tables and views a view reads (from a table GET).
    pub view_dependencies: Vec<String>,
    pub delta: Option<DeltaState>,
    /// Its row filter and column masks (none on a view).
    pub protection: Protection,
    /// A non-Delta external table's columns (from the tables API), which
    /// its registration on the secondary must name: without them Databricks
    /// infers the schema from the files. Empty for other tables.
    pub columns: Vec<ColumnDef>,
    /// A non-Delta external table's format options (`storage_properties` of
    /// `DESCRIBE TABLE EXTENDED … AS JSON`); `None` when not read (no
    /// running warehouse, or not a non-Delta external table).
    pub format_options: Option<BTreeMap<String, String>>,
    /// For a materialized view or streaming table: the pipeline that
    /// publishes it (the tables API's `pipeline_id`); see `datasets.rs`.
    pub pipeline_id: Option<String>,
    /// Column comments and tags, by column name (only columns that have
    /// either): a deep clone carries no tags (`metadata.rs`).
    pub column_metadata: BTreeMap<String, ColumnMetadata>,
    /// Its informational primary and foreign keys, sorted by name
    /// (`constraints.rs`); none on a view.
    pub constraints: Vec<super::constraints::Constraint>,
    pub common: Common,
}

/// What a person wrote on one column: its comment and its tags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnMetadata {
    pub comment: Option<String>,
    pub tags: Tags,
}

impl ColumnMetadata {
    pub fn is_empty(&self) -> bool {
        self.comment.as_deref().is_none_or(str::is_empty) && self.tags.is_empty()
    }
}

/// One column: name, SQL type text, place among the partition columns.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    pub type_text: String,
    pub partition_index: Option<usize>,
}

impl ColumnDef {
    /// Same name and type (type text compared without regard to case).
    pub fn same(&self, other: &ColumnDef) -> bool {
        self.name == other.name
            && self.type_text.eq_ignore_ascii_case(&other.type_text)
            && self.partition_index == other.partition_index
    }
}

/// A row filter or a column mask: the SQL function Unity Catalog calls and
/// the columns it passes it.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Policy {
    pub function_name: String,
    pub columns: Vec<String>,
}

/// What hides a table's rows and columns from who may not see them. A deep
/// clone carries none, so a replicated table is protected like its primary
/// only once these are set again on the secondary (sandbox/FIDELITY.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Protection {
    pub row_filter: Option<Policy>,
    /// By column name.
    pub column_masks: BTreeMap<String, Policy>,
}

impl Protection {
    pub fn is_none(&self) -> bool {
        self.row_filter.is_none() && self.column_masks.is_empty()
    }

    /// For people: `row filter f, masks on a (g), b (h)` or `none`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(filter) = &self.row_filter {
            parts.push(format!("row filter {}", filter.function_name));
        }
        if !self.column_masks.is_empty() {
            let masks: Vec<String> =
                self.column_masks.iter().map(|(column, mask)| format!("{column} ({})", mask.function_name)).collect();
            parts.push(format!("masks on {}", masks.join(", ")));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A user-defined function, as the functions API describes it: what a
/// `CREATE FUNCTION` needs to make it again (parameters and return type as
/// SQL type text, the body), and what it reads, so it is created after the
/// tables and functions it uses and before the views, row filters and masks
/// that use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    /// `SQL` (`routine_body`), or the external language (`PYTHON`, …).
    pub language: String,
    /// `(name, type text)` in order.
    pub parameters: Vec<(String, String)>,
    /// The return type as SQL type text (`full_data_type`).
    pub returns: String,
    /// `routine_definition`: the expression after `RETURN` for SQL.
    pub body: String,
    /// Full names of the tables, views and functions it uses.
    pub dependencies: Vec<String>,
    pub common: Common,
}

impl FunctionInfo {
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.name)
    }

    pub fn is_sql(&self) -> bool {
        self.language.eq_ignore_ascii_case("SQL")
    }

    /// Whether `other` defines the same function (owner, grants and
    /// comment aside).
    pub fn same_definition(&self, other: &FunctionInfo) -> bool {
        self.language.eq_ignore_ascii_case(&other.language)
            && self.parameters.len() == other.parameters.len()
            && self.parameters.iter().zip(&other.parameters).all(|((a, t), (b, u))| a == b && t.eq_ignore_ascii_case(u))
            && self.returns.eq_ignore_ascii_case(&other.returns)
            && self.body.trim() == other.body.trim()
    }
}

impl TableInfo {
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.name)
    }

    pub fn is_delta(&self) -> bool {
        self.format.as_deref().is_some_and(|f| f.eq_ignore_ascii_case("DELTA"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeInfo {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    /// `MANAGED` or `EXTERNAL`.
    pub volume_type: String,
    pub storage_location: Option<String>,
    pub common: Common,
}

impl VolumeInfo {
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.name)
    }
}

impl SchemaInfo {
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.catalog, self.name)
    }
}

/// Delta Sharing, as one metastore sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharingState {
    /// Recipient name → the global metastore id it receives for.
    pub recipients: BTreeMap<String, String>,
    /// Share name → its shared objects (`catalog.schema` for schemas) and the
    /// recipients holding SELECT on it.
    pub shares: BTreeMap<String, ShareInfo>,
    /// Provider name → the global metastore id it shares from.
    pub providers: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShareInfo {
    pub schemas: BTreeSet<String>,
    pub recipients_with_select: BTreeSet<String>,
    /// Who owns the share (a user, service principal or group); empty when
    /// unknown. Only the owner adds objects, and it must keep SELECT on them.
    pub owner: String,
}
