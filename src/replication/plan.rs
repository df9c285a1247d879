//! A replication plan: an ordered graph of idempotent actions.
//!
//! The plan is data, shown before it runs (`--dry-run`, the approval card)
//! and executed afterwards: every action says which object it concerns, what
//! it does (`ActionKind`, rendered by `sql.rs`) and which actions must have
//! succeeded first (`depends_on`). `actions` is already in a valid order
//! (every dependency comes before its dependant), so a serial executor just
//! walks it and a concurrent one may start anything whose dependencies are
//! done. An action that cannot run (an unmapped location, a view cycle…) is
//! in the plan as `ActionKind::Blocked` with its reason, so it is reported
//! with the rest; the executor skips it and, transitively, its dependants.
//!
//! Idempotence, which lets an interrupted run simply be planned and run
//! again: the SQL is `CREATE OR REPLACE TABLE … DEEP CLONE` / `IF NOT
//! EXISTS` / `ALTER VIEW … AS` / `GRANT` / `REVOKE` / `ALTER … OWNER TO`, all
//! safe to repeat; a REST create (catalog, schema, recipient, share, mount)
//! or a share `ADD` that finds its object already there answers an
//! `…_ALREADY_EXISTS` code, which the executor must count as done; a drop
//! that finds nothing answers `…_DOES_NOT_EXIST` / `NOT_FOUND`, likewise.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::object::ObjectRef;
use super::snapshot::{ColumnDef, DeltaState, Policy};

/// Stable across re-plans of the same state (derived from what the action
/// does and to which object), so a resumed run recognises its actions.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActionId(pub String);

impl fmt::Display for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which workspace an action runs against.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Primary,
    Secondary,
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Action {
    pub id: ActionId,
    pub object: ObjectRef,
    pub kind: ActionKind,
    pub depends_on: Vec<ActionId>,
}

/// Why a clone runs: the dry run tells a first copy from a refresh.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloneReason {
    Missing,
    /// The primary committed since the last clone: an incremental copy.
    Stale,
    /// The secondary's table is defined differently and is replaced.
    Different,
}

/// Where a deep clone reads from.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum CloneSource {
    /// A table of the mounted share catalog on the secondary (managed tables).
    Shared(Vec<String>),
    /// The primary's storage path of an external Delta table.
    DeltaPath(String),
}

/// The provider a share is mounted from on the secondary.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum ProviderRef {
    Known(String),
    /// Not in the secondary's snapshot (the recipient may be created by this
    /// very plan): the executor looks up the provider sharing from this
    /// global metastore id just before mounting.
    LookUp {
        global_metastore_id: String,
    },
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum ActionKind {
    /// A managed catalog (secondary, REST); comment, properties, storage root mapped.
    CreateCatalog {
        storage_root: Option<String>,
        comment: Option<String>,
        properties: BTreeMap<String, String>,
    },
    /// Comment and properties of an existing catalog, set to the primary's.
    UpdateCatalog {
        comment: Option<String>,
        properties: BTreeMap<String, String>,
    },
    CreateSchema {
        storage_root: Option<String>,
        comment: Option<String>,
        properties: BTreeMap<String, String>,
    },
    UpdateSchema {
        comment: Option<String>,
        properties: BTreeMap<String, String>,
    },
    /// The Delta Sharing recipient for the secondary's metastore (primary).
    CreateRecipient {
        global_metastore_id: String,
    },
    /// A share per replicated catalog (primary).
    CreateShare,
    /// Adds schemas (full names as parts) to the share; at most 100 a call.
    AddSchemasToShare {
        schemas: Vec<Vec<String>>,
    },
    /// SELECT on the share for the recipient (primary).
    GrantShareSelect {
        recipient: String,
    },
    /// Hands the share to the owner of the DR shares (primary), so whoever
    /// is a member of it (the operators, the bot's service principal) may
    /// extend it later: only a share's owner adds objects to it.
    TransferShare {
        owner: String,
    },
    /// Mounts the share as a catalog on the secondary.
    MountSharedCatalog {
        share: String,
        provider: ProviderRef,
    },
    /// `CREATE OR REPLACE TABLE … DEEP CLONE …` (Delta tables only): re-running
    /// copies only what changed. `source_delta` is the primary's state the
    /// clone will hold at least.
    CloneTable {
        source: CloneSource,
        location: Option<String>,
        source_delta: Option<DeltaState>,
        reason: CloneReason,
    },
    /// A non-Delta external table registered on its geo-replicated location
    /// with the primary's definition (`CREATE TABLE IF NOT EXISTS t (cols)
    /// USING fmt OPTIONS (…) PARTITIONED BY (…) LOCATION …`); never cloned.
    /// Naming the columns matters: without them Databricks infers the schema
    /// from the files, which fails while storage replication has not copied
    /// any yet and reads a CSV file set as `_c0…` strings without its header
    /// and delimiter options.
    RegisterExternalTable {
        format: String,
        location: String,
        #[serde(default)]
        columns: Vec<ColumnDef>,
        #[serde(default)]
        options: BTreeMap<String, String>,
    },
    /// A view the secondary lacks: `CREATE VIEW IF NOT EXISTS`. One it has
    /// (`existing`) gets its new definition with `ALTER VIEW … AS`, which
    /// keeps its owner and grants; `CREATE OR REPLACE VIEW` would drop the
    /// grants (Databricks' CREATE VIEW reference, sandbox/FIDELITY.md).
    CreateView {
        definition: String,
        dependencies: Vec<String>,
        existing: bool,
    },
    CreateExternalVolume {
        location: String,
    },
    /// A materialized view or streaming table defined in Databricks SQL,
    /// made again on the secondary from its definition (`datasets.rs`):
    /// `CREATE … IF NOT EXISTS` when missing, `CREATE OR REPLACE
    /// MATERIALIZED VIEW` / `CREATE OR REFRESH STREAMING TABLE` when its
    /// definition changed (`existing`). The secondary computes its own data.
    CreateDataset {
        dataset: super::dataset::Dataset,
        definition: String,
        dependencies: Vec<String>,
        existing: bool,
    },
    /// A managed volume (REST, `volume_type` MANAGED): Unity Catalog places
    /// it in the schema's managed storage; its files follow by `CopyVolumeFiles`.
    CreateManagedVolume {
        comment: Option<String>,
    },
    /// A managed volume's files, copied with the Files API (see
    /// `volume_files.rs`): folders, new and changed files, deletions with prune.
    CopyVolumeFiles(super::volume_files::VolumeCopy),
    /// A SQL user-defined function: `CREATE FUNCTION` when the secondary
    /// lacks it, `CREATE OR REPLACE FUNCTION` when its definition differs
    /// (`existing`). Created after what it reads and before the views, row
    /// filters and column masks that use it.
    CreateFunction {
        parameters: Vec<(String, String)>,
        returns: String,
        body: String,
        dependencies: Vec<String>,
        existing: bool,
        /// Its comment, which only `CREATE [OR REPLACE] FUNCTION … COMMENT`
        /// sets (there is no `COMMENT ON FUNCTION`).
        #[serde(default)]
        comment: Option<String>,
    },
    /// `ALTER TABLE … SET ROW FILTER f ON (…)`, or `DROP ROW FILTER` (`None`):
    /// the primary's row filter set again on the secondary's copy (a clone
    /// carries none). The table's grants wait for it.
    SetRowFilter {
        filter: Option<Policy>,
    },
    /// `ALTER TABLE … ALTER COLUMN c SET MASK f [USING COLUMNS (…)]`, or
    /// `DROP MASK` (`None`).
    SetColumnMask {
        column: String,
        mask: Option<Policy>,
    },
    /// `ALTER TABLE … ADD CONSTRAINT n PRIMARY KEY (…)` or `… FOREIGN KEY
    /// (…) REFERENCES parent (…)`: one of the primary's informational keys,
    /// which a clone does not carry (`constraints.rs`). A foreign key runs
    /// after the primary key it references.
    AddConstraint {
        constraint: super::constraints::Constraint,
    },
    /// `ALTER TABLE … DROP CONSTRAINT IF EXISTS n`: a key only the
    /// secondary has, or one defined differently there (added again after).
    /// A primary key is dropped after the foreign keys referencing it.
    DropConstraint {
        name: String,
    },
    Grant {
        principal: String,
        privileges: BTreeSet<String>,
    },
    Revoke {
        principal: String,
        privileges: BTreeSet<String>,
    },
    SetOwner {
        owner: String,
    },
    /// A change to a registered model (`models.rs`), by REST.
    Model(super::model_info::ModelChange),
    /// A comment, tags or table properties the clone or create did not
    /// carry, or that differ (`metadata.rs`, `metadata_action.rs`).
    Metadata(super::metadata_change::MetadataChange),
    /// Only with `prune`: the object exists only on the secondary.
    Drop,
    /// Cannot run; reported with its reason.
    Blocked(BlockReason),
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum BlockReason {
    /// No mapping rule covers the primary's location.
    Unmapped { location: String },
    /// These views (full names) depend on each other in a cycle.
    ViewCycle { cycle: Vec<String> },
    /// A view reads an object that neither exists on the secondary nor is
    /// created by this plan.
    MissingDependency { dependency: String },
    /// A kind of object drbot does not replicate.
    Unsupported { what: String },
    /// The secondary's global metastore id (or the primary's) is unknown, so
    /// Delta Sharing cannot be set up.
    UnknownMetastoreId { side: Side },
    /// The recipient exists but receives for another metastore.
    RecipientForOtherMetastore { recipient: String, global_metastore_id: String },
    /// The name is taken on the secondary by an object of another kind.
    NameTaken { existing: String },
    /// The secondary's object differs in something that cannot be altered in
    /// place (a storage root, a non-Delta table's location…).
    Immutable { what: String },
    /// A path the statement reads or writes cannot be used on the
    /// secondary's metastore (no external location, no privilege, overlap).
    Storage(super::storage::StorageProblem),
    /// A grant on a table the primary protects (row filter, column masks)
    /// whose secondary copy is not protected alike: it would expose what the
    /// primary hides.
    Unprotected { protection: String },
    /// The share belongs to someone else: only its owner (or a member of the
    /// owning group) may add objects to it; a metastore admin who does not
    /// own it may only transfer it (REST reference, Shares › Update).
    NotShareOwner { share: String, owner: String },
    /// A non-Delta external table whose definition (columns, format
    /// options) the read could not learn: registering it blind would let
    /// Databricks infer it from the files.
    UnknownDefinition { what: String },
    /// The share's owner cannot read a table it shares, and a recipient
    /// reads a shared table only while the owner keeps SELECT on it.
    ShareOwnerCannotRead { share: String, owner: String, table: String },
    /// A materialized view or streaming table that a pipeline publishes:
    /// the pipeline's source defines it, so that pipeline must be deployed
    /// and run in the secondary (`datasets.rs`).
    PipelineOwned { what: String, pipeline_id: String },
    /// A model version the secondary lacks: the Unity Catalog API creates
    /// no model version, so its files cannot be copied by drbot (`models.rs`).
    ModelVersionFiles { model: String, version: i64, source: String },
    /// A volume's files could not be listed on that side (no READ VOLUME…).
    FilesUnreadable { side: Side, reason: String },
    /// A foreign key whose parent table has no such primary key on the
    /// secondary, and this plan adds none (Databricks refuses it).
    MissingKey { parent: String },
    /// A grant to, or an owner change to, a principal the secondary's
    /// metastore does not know (`principals.rs`); `mapped_from` is the
    /// primary's principal when the pair maps it to this one.
    UnknownPrincipal { principal: String, mapped_from: Option<String> },
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockReason::Unmapped { location } => write!(f, "no location mapping rule covers {location}"),
            BlockReason::ViewCycle { cycle } => {
                write!(f, "views depend on each other in a cycle: {}", cycle.join(" → "))
            }
            BlockReason::MissingDependency { dependency } => {
                write!(f, "reads {dependency}, which the secondary does not have and this plan does not create")
            }
            BlockReason::Unsupported { what } => write!(f, "{what} is not replicated"),
            BlockReason::UnknownMetastoreId { side } => {
                write!(f, "the {side:?} metastore's global id is unknown, so Delta Sharing cannot be set up")
            }
            BlockReason::RecipientForOtherMetastore { recipient, global_metastore_id } => {
                write!(f, "recipient {recipient} already exists for another metastore ({global_metastore_id})")
            }
            BlockReason::NameTaken { existing } => write!(f, "the name is taken on the secondary by {existing}"),
            BlockReason::Immutable { what } => {
                write!(f, "the secondary's {what} differs and cannot be changed in place: drop it there and re-run")
            }
            BlockReason::Storage(problem) => write!(f, "{problem}"),
            BlockReason::Unprotected { protection } => write!(
                f,
                "the primary protects it ({protection}) and that protection cannot be set on the secondary's copy \
                 (see its blocked row filter or mask): granting now would expose what the primary hides"
            ),
            BlockReason::UnknownDefinition { what } => write!(
                f,
                "its {what} could not be read from the primary, and registering it without them would make \
                 Databricks infer them from the files (failing while storage replication is behind, and losing \
                 a CSV file's header and delimiter): re-run with the primary's SQL warehouse running"
            ),
            BlockReason::NotShareOwner { share, owner } => write!(
                f,
                "share {share} belongs to {owner}, and only its owner (or a member of the owning group) may add \
                 schemas to it: run as {owner}, or have a metastore admin transfer the share to the DR group \
                 (ALTER SHARE {share} OWNER TO the group)"
            ),
            BlockReason::PipelineOwned { what, pipeline_id } => write!(
                f,
                "this {what} is published by pipeline {pipeline_id}, whose source code defines it: deploy that \
                 pipeline in the secondary workspace (same source, target catalog and schema) and run it; drbot \
                 does not create it by SQL, since the pipeline could not then publish to a table it does not own"
            ),
            BlockReason::ModelVersionFiles { model, version, source } => write!(
                f,
                "version {version} of registered model {model} (files at {source}) cannot be copied: the Unity \
                 Catalog API creates no model version (\"Creating new model versions requires use of the MLflow \
                 Python client\"). Copy it on the secondary with MLflow, as the model's owner: \
                 MlflowClient(registry_uri=\"databricks-uc\").copy_model_version(\"models:/<the DR share's catalog \
                 of {model}>/{version}\", \"{model}\"), in version order so the numbers match; the next run then \
                 sets its comment and aliases"
            ),
            BlockReason::FilesUnreadable { side, reason } => write!(
                f,
                "its files cannot be listed on the {}: {reason} (copying them needs USE CATALOG, USE SCHEMA and \
                 READ VOLUME there, and WRITE VOLUME on the secondary)",
                match side {
                    Side::Primary => "primary",
                    Side::Secondary => "secondary",
                }
            ),
            BlockReason::MissingKey { parent } => write!(
                f,
                "it references the primary key of {parent}, which the secondary does not have and this plan does not \
                 add (the parent table is not replicated, or its key cannot be added): add that key on the \
                 secondary first"
            ),
            BlockReason::UnknownPrincipal { principal, mapped_from: None } => write!(
                f,
                "principal {principal} is not known to the secondary's metastore (its workspace lists no user, \
                 service principal or group of that name) and the pair maps no other name to it: add {principal} \
                 to the secondary's account and workspace, or map it to the secondary's name (drbot pair map PAIR \
                 principal {principal} SECONDARY_NAME); the object itself is replicated without it"
            ),
            BlockReason::UnknownPrincipal { principal, mapped_from: Some(source) } => write!(
                f,
                "principal {source} is mapped to {principal}, which the secondary's metastore does not know (its \
                 workspace lists no user, service principal or group of that name): add {principal} to the \
                 secondary's account and workspace, or correct the mapping (drbot pair map PAIR principal {source} \
                 SECONDARY_NAME); the object itself is replicated without it"
            ),
            BlockReason::ShareOwnerCannotRead { share, owner, table } => write!(
                f,
                "{owner}, the owner of share {share}, cannot read {table}, so the secondary cannot read it through \
                 the share: GRANT SELECT ON TABLE {table} TO {owner} (or on its schema or catalog)"
            ),
        }
    }
}

impl BlockReason {
    /// What kind of obstacle it is, in a few words, for grouping the
    /// objects that cannot be replicated (the `Display` text names the object
    /// and the fix).
    pub fn category(&self) -> &'static str {
        match self {
            BlockReason::Unmapped { .. } => "no location mapping",
            BlockReason::ViewCycle { .. } => "views in a cycle",
            BlockReason::MissingDependency { .. } => "reads an object the secondary lacks",
            BlockReason::Unsupported { .. } => "not supported",
            BlockReason::UnknownMetastoreId { .. } => "metastore id unknown",
            BlockReason::RecipientForOtherMetastore { .. } => "recipient for another metastore",
            BlockReason::NameTaken { .. } => "name taken on the secondary",
            BlockReason::Immutable { .. } => "differs and cannot be changed in place",
            BlockReason::Storage(_) => "storage access",
            BlockReason::Unprotected { .. } => "protection cannot be set",
            BlockReason::UnknownDefinition { .. } => "definition unknown",
            BlockReason::NotShareOwner { .. } => "share owned by someone else",
            BlockReason::ShareOwnerCannotRead { .. } => "share owner cannot read",
            BlockReason::PipelineOwned { .. } => "defined by a pipeline to deploy",
            BlockReason::ModelVersionFiles { .. } => "model version files to copy with MLflow",
            BlockReason::FilesUnreadable { .. } => "volume files cannot be listed",
            BlockReason::MissingKey { .. } => "references a key the secondary lacks",
            BlockReason::UnknownPrincipal { .. } => "principal unknown on the secondary",
        }
    }
}

impl Action {
    pub fn side(&self) -> Side {
        match self.kind {
            ActionKind::CreateRecipient { .. }
            | ActionKind::CreateShare
            | ActionKind::AddSchemasToShare { .. }
            | ActionKind::GrantShareSelect { .. }
            | ActionKind::TransferShare { .. } => Side::Primary,
            _ => Side::Secondary,
        }
    }

    pub fn is_runnable(&self) -> bool {
        !matches!(self.kind, ActionKind::Blocked(_))
    }

    /// One line for a dry run or a progress card.
    pub fn describe(&self) -> String {
        let object = &self.object;
        match &self.kind {
            ActionKind::CreateCatalog { .. } | ActionKind::CreateSchema { .. } => format!("create {object}"),
            ActionKind::UpdateCatalog { .. } | ActionKind::UpdateSchema { .. } => {
                format!("set comment and properties of {object}")
            }
            ActionKind::CreateRecipient { global_metastore_id } => {
                format!("create {object} for {global_metastore_id} on the primary")
            }
            ActionKind::CreateShare => format!("create {object} on the primary"),
            ActionKind::AddSchemasToShare { schemas } => format!("add {} schema(s) to {object}", schemas.len()),
            ActionKind::GrantShareSelect { recipient } => format!("grant SELECT on {object} to {recipient}"),
            ActionKind::TransferShare { owner } => format!("hand {object} to {owner}"),
            ActionKind::MountSharedCatalog { share, .. } => format!("mount share {share} as {object}"),
            ActionKind::CloneTable { reason, .. } => match reason {
                CloneReason::Missing => format!("deep clone {object}"),
                CloneReason::Stale => format!("refresh {object} (incremental deep clone)"),
                CloneReason::Different => format!("replace {object} by a deep clone"),
            },
            ActionKind::RegisterExternalTable { format, .. } => format!("register {object} ({format})"),
            ActionKind::CreateView { existing: true, .. } => format!("update the definition of {object}"),
            ActionKind::CreateView { .. } => format!("create {object}"),
            ActionKind::CreateExternalVolume { .. } => format!("create external {object}"),
            ActionKind::CreateDataset { dataset, existing: true, .. } => {
                format!("update the definition of {} {}", dataset.as_str(), object.full_name())
            }
            ActionKind::CreateDataset { dataset, .. } => format!("create {} {}", dataset.as_str(), object.full_name()),
            ActionKind::CreateManagedVolume { .. } => format!("create managed {object}"),
            ActionKind::CopyVolumeFiles(copy) => copy.describe(&object.to_string()),
            ActionKind::CreateFunction { existing: true, .. } => format!("update the definition of {object}"),
            ActionKind::CreateFunction { .. } => format!("create {object}"),
            ActionKind::SetRowFilter { filter: Some(filter) } => {
                format!("set the row filter of {object} to {} on ({})", filter.function_name, filter.columns.join(", "))
            }
            ActionKind::SetRowFilter { filter: None } => format!("drop the row filter of {object}"),
            ActionKind::SetColumnMask { column, mask: Some(mask) } => {
                format!("mask column {column} of {object} with {}", mask.function_name)
            }
            ActionKind::SetColumnMask { column, mask: None } => format!("drop the mask of column {column} of {object}"),
            ActionKind::AddConstraint { constraint } => format!("add {} to {object}", constraint.describe()),
            ActionKind::DropConstraint { name } => format!("drop constraint {name} of {object}"),
            ActionKind::Grant { principal, privileges } => {
                format!(
                    "grant {} on {object} to {principal}",
                    privileges.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            }
            ActionKind::Revoke { principal, privileges } => format!(
                "revoke {} on {object} from {principal}",
                privileges.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            ActionKind::SetOwner { owner } => format!("set owner of {object} to {owner}"),
            ActionKind::Model(change) => change.describe(&object.full_name()),
            ActionKind::Metadata(change) => super::metadata_change::describe(object, change),
            ActionKind::Drop => format!("drop {object} (prune)"),
            ActionKind::Blocked(reason) => format!("cannot replicate {object}: {reason}"),
        }
    }
}

/// The plan: actions in a valid execution order, and the objects only the
/// secondary has (reported; dropped only with `prune`, then as actions).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub extras: Vec<ObjectRef>,
    /// What the plan could not compare, and why (tags a read without a
    /// running warehouse did not learn): said in the dry run, never silent.
    #[serde(default)]
    pub not_compared: Vec<String>,
}

impl Plan {
    /// Nothing to do (extras left alone do not count).
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    pub fn runnable(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter().filter(|a| a.is_runnable())
    }

    pub fn blocked(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter().filter(|a| !a.is_runnable())
    }

    pub fn get(&self, id: &ActionId) -> Option<&Action> {
        self.actions.iter().find(|a| &a.id == id)
    }

    /// Ids of the actions that cannot run: the blocked ones and, transitively,
    /// everything depending on them.
    pub fn unrunnable(&self) -> BTreeSet<ActionId> {
        let mut out = BTreeSet::new();
        for action in &self.actions {
            if !action.is_runnable() || action.depends_on.iter().any(|d| out.contains(d)) {
                out.insert(action.id.clone());
            }
        }
        out
    }
}
