//! A Unity Catalog metastore: securables, owners and direct grants, and the
//! privilege rules that decide what a caller may see and change.
//!
//! Privileges inherit downwards (catalog → schema → table/volume) as in Unity
//! Catalog; owners and metastore admins may do everything on what they own.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

/// The kinds of securable this metastore serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Securable {
    Catalog,
    Schema,
    Table,
    Volume,
    /// A user-defined function (`GRANT EXECUTE ON FUNCTION`, its owner).
    Function,
    ExternalLocation,
    StorageCredential,
}

impl Securable {
    /// The `{securable_type}` of the permissions API path.
    pub fn parse(text: &str) -> Option<Securable> {
        match text.to_ascii_lowercase().as_str() {
            "catalog" => Some(Securable::Catalog),
            "schema" => Some(Securable::Schema),
            "table" => Some(Securable::Table),
            "volume" => Some(Securable::Volume),
            "function" => Some(Securable::Function),
            "external_location" => Some(Securable::ExternalLocation),
            "storage_credential" => Some(Securable::StorageCredential),
            _ => None,
        }
    }

    pub fn api_name(self) -> &'static str {
        match self {
            Securable::Catalog => "CATALOG",
            Securable::Schema => "SCHEMA",
            Securable::Table => "TABLE",
            Securable::Volume => "VOLUME",
            Securable::Function => "FUNCTION",
            Securable::ExternalLocation => "EXTERNAL_LOCATION",
            Securable::StorageCredential => "STORAGE_CREDENTIAL",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Securable::Catalog => "Catalog",
            Securable::Schema => "Schema",
            Securable::Table => "Table",
            Securable::Volume => "Volume",
            Securable::Function => "Function",
            Securable::ExternalLocation => "External location",
            Securable::StorageCredential => "Storage credential",
        }
    }
}

/// What every securable has.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Common {
    pub owner: String,
    pub comment: Option<String>,
    pub properties: BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// principal → privileges granted directly on this object.
    pub grants: BTreeMap<String, BTreeSet<String>>,
    /// Unity Catalog tags (`SET TAGS`): key → value, empty for a key-only
    /// tag. Only `information_schema`'s `*_tags` views show them.
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Catalog {
    pub name: String,
    pub catalog_type: String,
    pub storage_root: Option<String>,
    pub provider_name: Option<String>,
    pub share_name: Option<String>,
    pub common: Common,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    pub catalog: String,
    pub name: String,
    pub storage_root: Option<String>,
    pub common: Common,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    /// MANAGED, EXTERNAL, VIEW, MATERIALIZED_VIEW, STREAMING_TABLE
    pub table_type: String,
    /// DELTA, PARQUET, CSV, … (none for views)
    pub data_source_format: Option<String>,
    pub storage_location: Option<String>,
    pub view_definition: Option<String>,
    pub view_dependencies: Vec<String>,
    /// Full names of the user functions a view calls.
    pub view_functions: Vec<String>,
    /// The columns, where the sandbox models them (non-Delta external
    /// tables); empty otherwise.
    pub columns: Vec<Column>,
    /// A non-Delta table's format options (`OPTIONS (header 'true', …)`),
    /// which `DESCRIBE TABLE EXTENDED … AS JSON` reports as `storage_properties`.
    pub options: BTreeMap<String, String>,
    /// The Delta version of the newest commit, and when it was made (ms).
    pub delta_version: i64,
    pub last_commit_ms: i64,
    /// For a deep clone: the source and the source version it copied.
    pub cloned_from: Option<(String, i64)>,
    /// Its row filter and column masks (none on a view).
    pub protection: Protection,
    /// Its informational primary and foreign keys (`ALTER TABLE … ADD
    /// CONSTRAINT`), in the order they were added; see `sql/constraints.rs`.
    pub constraints: Vec<KeyConstraint>,
    /// What `delta.lastUpdateVersion` / `delta.lastCommitTimestamp` show
    /// when they lag the newest commit: set by a data-only commit (an
    /// append), cleared by one that changes metadata (create, replace,
    /// clone). No Databricks document promises these properties move on
    /// every commit (the open-source Unity Catalog server updates them on
    /// metadata changes only), so the sandbox lets them go stale; the
    /// documented latest commit is `DESCRIBE HISTORY` (see FIDELITY.md).
    pub properties_commit: Option<(i64, i64)>,
    /// The pipeline publishing a materialized view or streaming table that
    /// a Lakeflow pipeline defines (TableInfo `pipeline_id`); `None` for
    /// the rest, Databricks SQL's own datasets included (FIDELITY.md).
    pub pipeline_id: Option<String>,
    /// Column comments and tags by column name (`COMMENT ON COLUMN`, `ALTER
    /// … ALTER COLUMN c SET TAGS`), for the columns that have either; a
    /// column need not be modelled in `columns` to carry them (the sandbox
    /// models a Delta table's columns no further).
    pub column_metadata: BTreeMap<String, ColumnMetadata>,
    pub common: Common,
}

/// What a person wrote on one column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnMetadata {
    pub comment: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// One column: its name, type as SQL text, and place among the partition
/// columns (`partition_index`, as the tables API numbers them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_text: String,
    pub partition_index: Option<usize>,
}

/// A row filter or a column mask: the SQL function Unity Catalog calls and
/// the columns it passes it (a filter's `ON (…)`, a mask's `USING COLUMNS (…)`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub function_name: String,
    pub columns: Vec<String>,
}

/// What hides a table's rows and columns from who may not see them: Unity
/// Catalog's row filter (at most one) and column masks (one per column).
/// Set with `ALTER TABLE … SET ROW FILTER` / `ALTER COLUMN … SET MASK`; a
/// deep clone carries none (the clone documentation lists what it copies,
/// and these are not among it), nor does a table read through Delta Sharing
/// (FIDELITY.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Protection {
    pub row_filter: Option<Policy>,
    /// By column name.
    pub column_masks: BTreeMap<String, Policy>,
}

/// An informational key: Databricks records it and checks it against the
/// catalog when it is added, never against the rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyConstraint {
    pub name: String,
    pub columns: Vec<String>,
    /// For a foreign key: the parent table's full name and its key columns.
    pub references: Option<(String, Vec<String>)>,
    pub rely: bool,
}

impl KeyConstraint {
    /// As the tables API's TableConstraint: `primary_key_constraint` or
    /// `foreign_key_constraint`.
    pub fn to_json(&self) -> Value {
        match &self.references {
            None => json!({"primary_key_constraint": {
                "name": self.name, "child_columns": self.columns, "rely": self.rely,
            }}),
            Some((parent, parent_columns)) => json!({"foreign_key_constraint": {
                "name": self.name, "child_columns": self.columns, "parent_table": parent,
                "parent_columns": parent_columns, "rely": self.rely,
            }}),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Volume {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    pub volume_type: String,
    pub storage_location: Option<String>,
    pub common: Common,
}

/// A SQL user-defined function (`CREATE FUNCTION … RETURNS t RETURN expr`).
/// The sandbox models SQL functions only: a Python UDF's body is Python,
/// which it does not understand (it refuses `LANGUAGE PYTHON`).
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    /// `(name, type text)` in order.
    pub parameters: Vec<(String, String)>,
    /// The return type as written.
    pub returns: String,
    /// The expression after `RETURN`, as the functions API's `routine_definition`.
    pub body: String,
    /// Full names of the tables (and views) its body reads and the functions it calls.
    pub table_dependencies: Vec<String>,
    pub function_dependencies: Vec<String>,
    pub common: Common,
}

impl Function {
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.name)
    }

    /// A SQL function named `full_name` (three parts), owned by `owner`.
    pub fn sql(full_name: &str, parameters: &[(&str, &str)], returns: &str, body: &str, owner: &str) -> Function {
        let mut parts = full_name.splitn(3, '.').map(str::to_string);
        Function {
            catalog: parts.next().unwrap_or_default(),
            schema: parts.next().unwrap_or_default(),
            name: parts.next().unwrap_or_default(),
            parameters: parameters.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect(),
            returns: returns.into(),
            body: body.into(),
            table_dependencies: Vec::new(),
            function_dependencies: Vec::new(),
            common: Common { owner: owner.into(), ..Default::default() },
        }
    }

    /// As the functions API answers (FunctionInfo): SQL routine body,
    /// `input_params`, `data_type`/`full_data_type`, `routine_definition`,
    /// and `routine_dependencies` naming the tables and functions it uses.
    pub fn to_json(&self, metastore: &Metastore) -> Value {
        let parameters: Vec<Value> = self
            .parameters
            .iter()
            .enumerate()
            .map(|(position, (name, type_text))| {
                json!({
                    "name": name,
                    "type_text": type_text,
                    "type_name": type_name(type_text),
                    "type_json": "",
                    "position": position,
                    "parameter_mode": "IN",
                    "parameter_type": "PARAM",
                })
            })
            .collect();
        let dependencies: Vec<Value> = self
            .table_dependencies
            .iter()
            .map(|t| json!({"table": {"table_full_name": t}}))
            .chain(self.function_dependencies.iter().map(|f| json!({"function": {"function_full_name": f}})))
            .collect();
        let mut value = json!({
            "name": self.name,
            "catalog_name": self.catalog,
            "schema_name": self.schema,
            "full_name": self.full_name(),
            "specific_name": self.name,
            "metastore_id": metastore.metastore_id,
            "input_params": {"parameters": parameters},
            "data_type": type_name(&self.returns),
            "full_data_type": self.returns,
            "routine_body": "SQL",
            "routine_definition": self.body,
            "parameter_style": "S",
            "is_deterministic": true,
            "sql_data_access": if self.table_dependencies.is_empty() { "CONTAINS_SQL" } else { "READS_SQL_DATA" },
            "is_null_call": false,
            "security_type": "DEFINER",
        });
        if !dependencies.is_empty() {
            value["routine_dependencies"] = json!({"dependencies": dependencies});
        }
        common_json(&self.common, &mut value);
        value
    }
}

/// `ColumnTypeName` of a type text: its leading keyword (`DECIMAL(10,2)` → `DECIMAL`).
pub(crate) fn type_name(type_text: &str) -> String {
    let head: String = type_text.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    match head.to_ascii_uppercase().as_str() {
        "BIGINT" => "LONG".into(),
        "INTEGER" => "INT".into(),
        other => other.to_string(),
    }
}

impl Schema {
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.catalog, self.name)
    }
}

impl Table {
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.name)
    }
}

impl Volume {
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.name)
    }
}

/// Who is asking, as Unity Catalog sees principals.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The user name (UPN) or the service principal's application id.
    pub name: String,
    /// Group names the caller belongs to (plus `account users`).
    pub groups: Vec<String>,
}

impl Principal {
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.groups.iter().map(String::as_str))
    }
}

/// A refusal in Databricks' words.
///
/// A missing or duplicate object names its kind: Unity Catalog answers with
/// a specific code (`CATALOG_DOES_NOT_EXIST`, `SCHEMA_ALREADY_EXISTS`, …;
/// the codes are those of Databricks' SDK error-code list, FIDELITY.md),
/// not the generic `NOT_FOUND` / `RESOURCE_ALREADY_EXISTS`, so a client
/// that only knows the generic ones is caught here.
#[derive(Debug, PartialEq, Eq)]
pub enum UcError {
    /// Something other than a named object is missing (a workspace, a path).
    NotFound(String),
    /// `{object}_DOES_NOT_EXIST`, where `object` is e.g. `CATALOG`.
    Missing(&'static str, String),
    PermissionDenied(String),
    /// `{object}_ALREADY_EXISTS`.
    Exists(&'static str, String),
    /// A duplicate with no object-specific code (an object already in a share).
    AlreadyExists(String),
    Invalid(String),
}

/// One metastore.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metastore {
    /// `azure:<region>:<uuid>`
    pub global_id: String,
    pub metastore_id: String,
    pub region: String,
    /// Members of this group are metastore admins.
    pub admin_group: String,
    pub catalogs: BTreeMap<String, Catalog>,
    pub schemas: BTreeMap<String, Schema>,
    pub tables: BTreeMap<String, Table>,
    pub volumes: BTreeMap<String, Volume>,
    pub external_locations: BTreeMap<String, ExternalLocation>,
    pub storage_credentials: BTreeMap<String, StorageCredential>,
    /// User-defined functions by full name: what row filters, masks and
    /// views may call.
    pub functions: BTreeMap<String, Function>,
    /// Registered models by full name (`models.rs`).
    pub models: BTreeMap<String, super::models::RegisteredModel>,
    /// Governed tags (tag policies) of the account this metastore sees: tag
    /// key → the principals (users or groups) holding ASSIGN on it. Only
    /// they may set or unset such a tag on an object, whoever owns it
    /// ("Manage permissions on governed tags", FIDELITY.md).
    pub governed_tags: BTreeMap<String, BTreeSet<String>>,
}

/// A storage URL prefix Unity Catalog may use, through a credential.
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalLocation {
    pub name: String,
    pub url: String,
    pub credential_name: String,
    pub read_only: bool,
    pub common: Common,
}

/// An Azure managed identity (an access connector) Unity Catalog reaches storage with.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageCredential {
    pub name: String,
    pub access_connector_id: String,
    pub common: Common,
}

impl ExternalLocation {
    pub fn to_json(&self, metastore: &Metastore) -> Value {
        let mut value = json!({
            "name": self.name,
            "url": self.url,
            "credential_name": self.credential_name,
            "read_only": self.read_only,
            "metastore_id": metastore.metastore_id,
        });
        common_json(&self.common, &mut value);
        value
    }
}

impl StorageCredential {
    pub fn to_json(&self, metastore: &Metastore) -> Value {
        let mut value = json!({
            "name": self.name,
            "azure_managed_identity": {"access_connector_id": self.access_connector_id},
            "metastore_id": metastore.metastore_id,
        });
        common_json(&self.common, &mut value);
        value
    }
}

impl Metastore {
    pub fn new(region: &str, admin_group: &str) -> Metastore {
        let id = uuid::Uuid::new_v4().to_string();
        Metastore {
            global_id: format!("azure:{region}:{id}"),
            metastore_id: id,
            region: region.to_string(),
            admin_group: admin_group.to_string(),
            ..Default::default()
        }
    }

    pub fn is_admin(&self, who: &Principal) -> bool {
        who.groups.contains(&self.admin_group)
    }

    /// The common part of a securable by type and full name.
    pub fn common(&self, kind: Securable, full_name: &str) -> Result<&Common, UcError> {
        let missing = || UcError::Missing(kind.api_name(), format!("{} '{full_name}' does not exist.", kind.word()));
        match kind {
            Securable::Catalog => self.catalogs.get(full_name).map(|c| &c.common).ok_or_else(missing),
            Securable::Schema => self.schemas.get(full_name).map(|s| &s.common).ok_or_else(missing),
            Securable::Table => self.tables.get(full_name).map(|t| &t.common).ok_or_else(missing),
            Securable::Volume => self.volumes.get(full_name).map(|v| &v.common).ok_or_else(missing),
            // A registered model is a function to grants ("use GRANT ON
            // FUNCTION" for models, Unity Catalog privileges reference).
            Securable::Function => self
                .functions
                .get(full_name)
                .map(|f| &f.common)
                .or_else(|| self.models.get(full_name).map(|m| &m.common))
                .ok_or_else(missing),
            Securable::ExternalLocation => {
                self.external_locations.get(full_name).map(|l| &l.common).ok_or_else(missing)
            }
            Securable::StorageCredential => {
                self.storage_credentials.get(full_name).map(|c| &c.common).ok_or_else(missing)
            }
        }
    }

    pub fn common_mut(&mut self, kind: Securable, full_name: &str) -> Result<&mut Common, UcError> {
        let missing = || UcError::Missing(kind.api_name(), format!("{} '{full_name}' does not exist.", kind.word()));
        match kind {
            Securable::Catalog => self.catalogs.get_mut(full_name).map(|c| &mut c.common).ok_or_else(missing),
            Securable::Schema => self.schemas.get_mut(full_name).map(|s| &mut s.common).ok_or_else(missing),
            Securable::Table => self.tables.get_mut(full_name).map(|t| &mut t.common).ok_or_else(missing),
            Securable::Volume => self.volumes.get_mut(full_name).map(|v| &mut v.common).ok_or_else(missing),
            Securable::Function => match self.functions.get_mut(full_name) {
                Some(function) => Ok(&mut function.common),
                None => self.models.get_mut(full_name).map(|m| &mut m.common).ok_or_else(missing),
            },
            Securable::ExternalLocation => {
                self.external_locations.get_mut(full_name).map(|l| &mut l.common).ok_or_else(missing)
            }
            Securable::StorageCredential => {
                self.storage_credentials.get_mut(full_name).map(|c| &mut c.common).ok_or_else(missing)
            }
        }
    }

    /// The securable and its parents, innermost first: `c.s.t` → table, schema, catalog.
    pub(crate) fn chain(kind: Securable, full_name: &str) -> Vec<(Securable, String)> {
        let parts: Vec<&str> = full_name.split('.').collect();
        let mut chain = vec![(kind, full_name.to_string())];
        if matches!(kind, Securable::Table | Securable::Volume | Securable::Function) && parts.len() == 3 {
            chain.push((Securable::Schema, format!("{}.{}", parts[0], parts[1])));
        }
        if matches!(kind, Securable::Schema | Securable::Table | Securable::Volume | Securable::Function)
            && !parts.is_empty()
        {
            chain.push((Securable::Catalog, parts[0].to_string()));
        }
        chain
    }

    /// Privileges the principal holds on the object, directly or inherited.
    pub fn effective(&self, who: &Principal, kind: Securable, full_name: &str) -> BTreeSet<String> {
        let mut privileges = BTreeSet::new();
        for (kind, name) in Self::chain(kind, full_name) {
            if let Ok(common) = self.common(kind, &name) {
                for principal in who.names() {
                    if let Some(granted) = common.grants.get(principal) {
                        privileges.extend(granted.iter().cloned());
                    }
                }
            }
        }
        privileges
    }

    /// Owner of the object or of a parent, or a metastore admin.
    pub fn owns(&self, who: &Principal, kind: Securable, full_name: &str) -> bool {
        self.is_admin(who)
            || Self::chain(kind, full_name).iter().any(|(kind, name)| {
                self.common(*kind, name).is_ok_and(|c| who.names().any(|principal| principal == c.owner))
            })
    }

    /// Whether the principal may exercise `privilege` on the object: owner or
    /// admin, or granted it (or ALL_PRIVILEGES) here or on a parent.
    pub fn holds(&self, who: &Principal, kind: Securable, full_name: &str, privilege: &str) -> bool {
        self.owns(who, kind, full_name) || {
            let effective = self.effective(who, kind, full_name);
            effective.contains(privilege) || effective.contains("ALL_PRIVILEGES")
        }
    }

    /// Whether the principal may read the object's data: SELECT (or
    /// ALL_PRIVILEGES) here or on a parent, or owning it or a parent. Being a
    /// metastore admin is not enough: admins "don't have direct access to
    /// read and write to tables registered in the metastore" (Unity Catalog
    /// best practices).
    pub fn reads(&self, who: &Principal, kind: Securable, full_name: &str) -> bool {
        let owned = Self::chain(kind, full_name)
            .iter()
            .any(|(kind, name)| self.common(*kind, name).is_ok_and(|c| who.names().any(|p| p == c.owner)));
        owned || {
            let effective = self.effective(who, kind, full_name);
            effective.contains("SELECT") || effective.contains("ALL_PRIVILEGES")
        }
    }

    /// USE CATALOG on the catalog (and USE SCHEMA on the schema) of a name, or PERMISSION_DENIED.
    pub fn require_use(&self, who: &Principal, catalog: &str, schema: Option<&str>) -> Result<(), UcError> {
        if !self.catalogs.contains_key(catalog) {
            return Err(UcError::Missing("CATALOG", format!("Catalog '{catalog}' does not exist.")));
        }
        if !self.holds(who, Securable::Catalog, catalog, "USE_CATALOG") {
            return Err(UcError::PermissionDenied(format!("User does not have USE CATALOG on Catalog '{catalog}'.")));
        }
        if let Some(schema) = schema {
            let full = format!("{catalog}.{schema}");
            if !self.schemas.contains_key(&full) {
                return Err(UcError::Missing("SCHEMA", format!("Schema '{full}' does not exist.")));
            }
            if !self.holds(who, Securable::Schema, &full, "USE_SCHEMA") {
                return Err(UcError::PermissionDenied(format!("User does not have USE SCHEMA on Schema '{full}'.")));
            }
        }
        Ok(())
    }

    /// Whether the object shows up in a list for the principal: owned, or some
    /// privilege on it beyond merely using its parents (USE CATALOG alone does
    /// not reveal a catalog's tables).
    pub fn visible(&self, who: &Principal, kind: Securable, full_name: &str) -> bool {
        let only_uses_parents: &[&str] = match kind {
            Securable::Catalog | Securable::ExternalLocation | Securable::StorageCredential => &[],
            Securable::Schema => &["USE_CATALOG"],
            Securable::Table | Securable::Volume | Securable::Function => &["USE_CATALOG", "USE_SCHEMA"],
        };
        self.owns(who, kind, full_name)
            || self.effective(who, kind, full_name).iter().any(|p| !only_uses_parents.contains(&p.as_str()))
    }

    /// Only owners and admins change grants and owners.
    pub fn require_manage(&self, who: &Principal, kind: Securable, full_name: &str) -> Result<(), UcError> {
        self.common(kind, full_name)?;
        if self.owns(who, kind, full_name) || self.effective(who, kind, full_name).contains("MANAGE") {
            Ok(())
        } else {
            Err(UcError::PermissionDenied(format!("User does not have MANAGE on {} '{full_name}'.", kind.word())))
        }
    }

    /// Whether the principal may use the storage of external location `name`
    /// for `privilege` (`READ_FILES`, `CREATE_EXTERNAL_TABLE`,
    /// `CREATE_EXTERNAL_VOLUME`): its owner, or granted the privilege (or
    /// ALL_PRIVILEGES) on it. Being a metastore admin is not enough: an
    /// admin manages grants and may grant itself the privilege, but holds no
    /// data access by default (FIDELITY.md, storage permissions).
    pub fn holds_on_location(&self, who: &Principal, name: &str, privilege: &str) -> bool {
        let Some(location) = self.external_locations.get(name) else { return false };
        who.names().any(|principal| principal == location.common.owner)
            || who.names().any(|principal| {
                location
                    .common
                    .grants
                    .get(principal)
                    .is_some_and(|held| held.contains(privilege) || held.contains("ALL_PRIVILEGES"))
            })
    }

    /// `privilege_assignments` in the API's shape, principals sorted.
    pub fn assignments(grants: &BTreeMap<String, BTreeSet<String>>) -> Value {
        json!(grants
            .iter()
            .filter(|(_, privileges)| !privileges.is_empty())
            .map(|(principal, privileges)| json!({"principal": principal, "privileges": privileges}))
            .collect::<Vec<_>>())
    }
}

fn common_json(common: &Common, value: &mut Value) {
    value["owner"] = json!(common.owner);
    if let Some(comment) = &common.comment {
        value["comment"] = json!(comment);
    }
    if !common.properties.is_empty() {
        value["properties"] = json!(common.properties);
    }
    value["created_at"] = json!(common.created_at);
    value["updated_at"] = json!(common.updated_at);
}

impl Catalog {
    pub fn to_json(&self, metastore: &Metastore) -> Value {
        let mut value = json!({
            "name": self.name,
            "full_name": self.name,
            "catalog_type": self.catalog_type,
            "metastore_id": metastore.metastore_id,
            "securable_type": "CATALOG",
            "isolation_mode": "OPEN",
        });
        if let Some(root) = &self.storage_root {
            value["storage_root"] = json!(root);
        }
        if let Some(provider) = &self.provider_name {
            value["provider_name"] = json!(provider);
            value["share_name"] = json!(self.share_name);
        }
        common_json(&self.common, &mut value);
        value
    }
}

impl Schema {
    pub fn to_json(&self, metastore: &Metastore) -> Value {
        let mut value = json!({
            "name": self.name,
            "catalog_name": self.catalog,
            "full_name": self.full_name(),
            "metastore_id": metastore.metastore_id,
        });
        if let Some(root) = &self.storage_root {
            value["storage_root"] = json!(root);
        }
        common_json(&self.common, &mut value);
        value
    }
}

impl Table {
    /// `with_details` adds what a GET returns and a list does not (view dependencies).
    pub fn to_json(&self, metastore: &Metastore, with_details: bool) -> Value {
        let mut value = json!({
            "name": self.name,
            "catalog_name": self.catalog,
            "schema_name": self.schema,
            "full_name": self.full_name(),
            "table_type": self.table_type,
            "metastore_id": metastore.metastore_id,
        });
        if let Some(format) = &self.data_source_format {
            value["data_source_format"] = json!(format);
        }
        if let Some(location) = &self.storage_location {
            value["storage_location"] = json!(location);
        }
        if let Some(definition) = &self.view_definition {
            value["view_definition"] = json!(definition);
        }
        if let Some(pipeline_id) = &self.pipeline_id {
            value["pipeline_id"] = json!(pipeline_id);
        }
        common_json(&self.common, &mut value);
        if self.data_source_format.as_deref() == Some("DELTA") {
            // Unity Catalog reports a Delta table's newest commit among its
            // properties (strings, the timestamp in epoch ms); clients compute
            // staleness and RPO from them.
            if !value["properties"].is_object() {
                value["properties"] = json!({});
            }
            let (version, commit_ms) = self.properties_commit.unwrap_or((self.delta_version, self.last_commit_ms));
            value["properties"]["delta.lastUpdateVersion"] = json!(version.to_string());
            value["properties"]["delta.lastCommitTimestamp"] = json!(commit_ms.to_string());
        }
        // As the tables API reports them: `row_filter` and each masked
        // column's `mask`. A table whose columns are modelled lists them
        // all (ColumnInfo: name, type_text, type_name, position, nullable,
        // partition_index); otherwise `columns` lists the masked ones only.
        if !self.constraints.is_empty() {
            value["table_constraints"] = json!(self.constraints.iter().map(KeyConstraint::to_json).collect::<Vec<_>>());
        }
        if let Some(filter) = &self.protection.row_filter {
            value["row_filter"] = json!({"function_name": filter.function_name, "input_column_names": filter.columns});
        }
        if !self.columns.is_empty() {
            let columns: Vec<Value> = self
                .columns
                .iter()
                .enumerate()
                .map(|(position, column)| {
                    let mut info = json!({
                        "name": column.name,
                        "type_text": column.type_text.to_ascii_lowercase(),
                        "type_name": type_name(&column.type_text),
                        "position": position,
                        "nullable": true,
                    });
                    if let Some(index) = column.partition_index {
                        info["partition_index"] = json!(index);
                    }
                    if let Some(mask) = self.protection.column_masks.get(&column.name) {
                        info["mask"] = json!({"function_name": mask.function_name, "using_column_names": mask.columns});
                    }
                    if let Some(comment) = self.column_metadata.get(&column.name).and_then(|m| m.comment.as_ref()) {
                        info["comment"] = json!(comment);
                    }
                    info
                })
                .collect();
            value["columns"] = json!(columns);
        } else {
            // Columns not modelled: those the sandbox knows something of
            // (a mask, a comment), with what it knows.
            let names: BTreeSet<&String> = self
                .protection
                .column_masks
                .keys()
                .chain(self.column_metadata.iter().filter(|(_, m)| m.comment.is_some()).map(|(c, _)| c))
                .collect();
            let columns: Vec<Value> = names
                .into_iter()
                .map(|column| {
                    let mut info = json!({"name": column});
                    if let Some(mask) = self.protection.column_masks.get(column) {
                        info["mask"] = json!({"function_name": mask.function_name, "using_column_names": mask.columns});
                    }
                    if let Some(comment) = self.column_metadata.get(column).and_then(|m| m.comment.as_ref()) {
                        info["comment"] = json!(comment);
                    }
                    info
                })
                .collect();
            if !columns.is_empty() {
                value["columns"] = json!(columns);
            }
        }
        if with_details && !(self.view_dependencies.is_empty() && self.view_functions.is_empty()) {
            let tables = self.view_dependencies.iter().map(|t| json!({"table": {"table_full_name": t}}));
            let functions = self.view_functions.iter().map(|f| json!({"function": {"function_full_name": f}}));
            value["view_dependencies"] = json!({"dependencies": tables.chain(functions).collect::<Vec<_>>()});
        }
        value
    }
}

impl Table {
    /// A data-only commit (an append): a new version at `now_ms`; the
    /// commit properties keep what the last metadata change left.
    pub fn append(&mut self, now_ms: i64) {
        self.properties_commit.get_or_insert((self.delta_version, self.last_commit_ms));
        self.delta_version += 1;
        self.last_commit_ms = now_ms;
    }
}

impl Volume {
    pub fn to_json(&self, metastore: &Metastore) -> Value {
        let mut value = json!({
            "name": self.name,
            "catalog_name": self.catalog,
            "schema_name": self.schema,
            "full_name": self.full_name(),
            "volume_type": self.volume_type,
            "metastore_id": metastore.metastore_id,
        });
        if let Some(location) = &self.storage_location {
            value["storage_location"] = json!(location);
        }
        common_json(&self.common, &mut value);
        value
    }
}
