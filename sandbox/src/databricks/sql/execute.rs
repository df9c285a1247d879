//! Running a parsed statement against a metastore, with Unity Catalog's
//! privilege checks and Databricks' error classes.

use std::collections::HashMap;

use parking_lot::RwLock;
use serde_json::{json, Value};

use super::super::metastore::{
    Column, Common, Function, Metastore, Policy, Principal, Securable, Table, UcError, Volume,
};
use super::parse::{CloneSource, Statement};
use super::storage;

/// Delta tables by storage path: what a `delta.`path`` clone reads. Shared by
/// the workspaces of the account (storage is reachable from both regions).
#[derive(Default)]
pub struct Storage {
    pub tables: RwLock<HashMap<String, (i64, i64)>>,
    /// Non-Delta data files by path: the schema a reader of them would find
    /// (a CSV file's header line names its columns; Parquet carries its
    /// schema). A path absent here is empty.
    pub files: RwLock<HashMap<String, Vec<Column>>>,
    /// Delta tables by storage path: the table whose rows are there (its
    /// full name), for what a clone by path copies (`data.rs`).
    pub origins: RwLock<HashMap<String, String>>,
}

impl Storage {
    /// Registers every Delta table of a metastore at its location: (version,
    /// last commit ms); and the files of every non-Delta external table with
    /// modelled columns, at its location and at its geo-replica (the seed's
    /// location mapping: the storage account replicates them).
    pub fn register(&self, metastore: &Metastore) {
        let mut tables = self.tables.write();
        let mut files = self.files.write();
        for table in metastore.tables.values() {
            match (&table.storage_location, table.data_source_format.as_deref()) {
                (Some(location), Some("DELTA")) => {
                    self.origins
                        .write()
                        .insert(location.trim_end_matches('/').to_string(), super::data::origin_of(table));
                    tables.insert(
                        location.trim_end_matches('/').to_string(),
                        (table.delta_version, table.last_commit_ms),
                    );
                }
                (Some(location), Some(_)) if !table.columns.is_empty() => {
                    for path in [location.clone(), super::super::seed::map_location(location)] {
                        files.insert(path.trim_end_matches('/').to_string(), table.columns.clone());
                    }
                }
                _ => {}
            }
        }
    }
}

impl Storage {
    /// What `LIST` finds right under `url`: a table's data file when `url`
    /// is a table's location, its folders when it lies above some; `None`
    /// when nothing is stored there (the path does not exist).
    pub fn listing(&self, url: &str, now_ms: i64) -> Option<Vec<Vec<Value>>> {
        let url = url.trim_end_matches('/');
        let tables = self.tables.read();
        let files = self.files.read();
        let paths = tables.keys().chain(files.keys());
        let mut names: std::collections::BTreeSet<(String, bool)> = Default::default();
        for path in paths {
            if path == url {
                let data = if tables.contains_key(path) { "part-00000.snappy.parquet" } else { "part-00000" };
                names.insert((data.to_string(), false));
                if tables.contains_key(path) {
                    names.insert(("_delta_log".to_string(), true));
                }
            } else if let Some(rest) = path.strip_prefix(url).and_then(|r| r.strip_prefix('/')) {
                names.insert((rest.split('/').next().unwrap_or(rest).to_string(), true));
            }
        }
        if names.is_empty() {
            return None;
        }
        Some(
            names
                .into_iter()
                .map(|(name, folder)| {
                    let size = if folder { 0 } else { 1_048_576 };
                    vec![json!(format!("{url}/{name}")), json!(name), json!(size), json!(now_ms)]
                })
                .collect(),
        )
    }

    /// Storage replication delivering (`columns`) or not yet delivering
    /// (`None`) a non-Delta table's files at `path`.
    pub fn set_files(&self, path: &str, columns: Option<Vec<Column>>) {
        let path = path.trim_end_matches('/').to_string();
        match columns {
            Some(columns) => self.files.write().insert(path, columns),
            None => self.files.write().remove(&path),
        };
    }
}

/// A statement's failure: Databricks' error class and message.
#[derive(Debug, PartialEq, Eq)]
pub struct StatementError {
    pub error_code: String,
    pub message: String,
}

pub(super) fn failed(code: &str, message: String) -> StatementError {
    StatementError::new(code, message)
}

impl StatementError {
    /// A failure of SQL error class `code`, written as Databricks writes it:
    /// the class in brackets before the message.
    pub fn new(code: &str, message: String) -> StatementError {
        StatementError { error_code: code.into(), message: format!("[{code}] {message}") }
    }
}

impl From<UcError> for StatementError {
    fn from(error: UcError) -> Self {
        match error {
            UcError::Missing("CATALOG", m) => failed("CATALOG_NOT_FOUND", m),
            UcError::Missing("SCHEMA", m) => failed("SCHEMA_NOT_FOUND", m),
            UcError::NotFound(m) | UcError::Missing(_, m) => failed("TABLE_OR_VIEW_NOT_FOUND", m),
            UcError::PermissionDenied(m) => failed("INSUFFICIENT_PERMISSIONS", m),
            UcError::AlreadyExists(m) | UcError::Exists(_, m) => failed("TABLE_OR_VIEW_ALREADY_EXISTS", m),
            UcError::Invalid(m) => failed("INVALID_PARAMETER_VALUE", m),
        }
    }
}

/// What a successful statement returns: column names and rows.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Value>>,
}

/// Completes a name of `parts` parts with the statement's default catalog
/// and schema: `t` → `catalog.schema.t`, `s.t` → `catalog.s.t`.
pub(super) fn qualify(
    name: &[String],
    catalog: Option<&str>,
    schema: Option<&str>,
    parts: usize,
) -> Result<Vec<String>, StatementError> {
    let invalid = || failed("INVALID_IDENTIFIER", format!("'{}' is not a valid name here.", name.join(".")));
    let missing = parts.checked_sub(name.len()).ok_or_else(invalid)?;
    let defaults = [catalog, schema];
    let mut full = Vec::with_capacity(parts);
    for default in defaults.iter().take(missing) {
        full.push(
            default
                .ok_or_else(|| {
                    failed("TABLE_OR_VIEW_NOT_FOUND", format!("No default catalog or schema for '{}'.", name.join(".")))
                })?
                .to_string(),
        );
    }
    full.extend(name.iter().cloned());
    Ok(full)
}

pub(crate) fn securable_name(
    kind: Securable,
    name: &[String],
    catalog: Option<&str>,
    schema: Option<&str>,
) -> Result<String, StatementError> {
    let parts = match kind {
        Securable::Catalog | Securable::ExternalLocation | Securable::StorageCredential => 1,
        Securable::Schema => 2,
        Securable::Table | Securable::Volume | Securable::Function => 3,
    };
    Ok(qualify(name, catalog, schema, parts)?.join("."))
}

/// Looks up (version, last commit, where its rows come from) of
/// `schema.table` in (provider, share): a table of a catalog mounted from a share.
pub type SharedTables<'a> = &'a dyn Fn(&str, &str, &str, &str) -> Option<(i64, i64, String)>;

/// Runs `statement` for `who`.
#[allow(clippy::too_many_arguments)]
pub fn execute(
    metastore: &mut Metastore,
    storage: &Storage,
    shared: SharedTables<'_>,
    who: &Principal,
    statement: &Statement,
    catalog: Option<&str>,
    schema: Option<&str>,
    now_ms: i64,
) -> Result<Outcome, StatementError> {
    if let Some(result) = super::metadata::execute(metastore, who, statement, catalog, schema) {
        return result;
    }
    match statement {
        Statement::CurrentMetastore => {
            Ok(Outcome { columns: vec!["current_metastore()"], rows: vec![vec![json!(metastore.global_id)]] })
        }
        Statement::CreateSchema { name, if_not_exists } => {
            let full = qualify(name, catalog, schema, 2)?;
            metastore.require_use(who, &full[0], None)?;
            let full_name = full.join(".");
            if metastore.schemas.contains_key(&full_name) {
                return if *if_not_exists {
                    Ok(Outcome::default())
                } else {
                    Err(failed("SCHEMA_ALREADY_EXISTS", format!("Schema '{full_name}' already exists.")))
                };
            }
            require(metastore, who, Securable::Catalog, &full[0], "CREATE_SCHEMA")?;
            let schema = super::super::metastore::Schema {
                catalog: full[0].clone(),
                name: full[1].clone(),
                storage_root: None,
                common: owned_by(who, now_ms),
            };
            metastore.schemas.insert(full_name, schema);
            Ok(Outcome::default())
        }
        Statement::CloneTable { name, or_replace, if_not_exists, deep, source, location } => {
            let full = qualify(name, catalog, schema, 3)?;
            metastore.require_use(who, &full[0], Some(&full[1]))?;
            let full_name = full.join(".");
            let existing = metastore.tables.get(&full_name).cloned();
            if existing.is_some() && !or_replace {
                return if *if_not_exists {
                    Ok(Outcome::default())
                } else {
                    Err(failed("TABLE_OR_VIEW_ALREADY_EXISTS", format!("Table '{full_name}' already exists.")))
                };
            }
            require(metastore, who, Securable::Schema, &format!("{}.{}", full[0], full[1]), "CREATE_TABLE")?;
            if let CloneSource::Path(path) = source {
                storage::require(metastore, who, path, "READ_FILES")?;
            }
            if let Some(location) = location {
                storage::require(metastore, who, location, "CREATE_EXTERNAL_TABLE")?;
                storage::require_no_overlap(metastore, location, Some(&full_name))?;
            }
            let (source_name, source_version, source_commit) = match source {
                CloneSource::Table(source)
                    if is_shared_catalog(metastore, &qualify(source, catalog, schema, 3)?[0]) =>
                {
                    let parts = qualify(source, catalog, schema, 3)?;
                    metastore.require_use(who, &parts[0], None)?;
                    let mounted = &metastore.catalogs[&parts[0]];
                    let (provider, share) = (
                        mounted.provider_name.clone().unwrap_or_default(),
                        mounted.share_name.clone().unwrap_or_default(),
                    );
                    let (version, commit, _) = shared(&provider, &share, &parts[1], &parts[2]).ok_or_else(|| {
                        failed(
                            "TABLE_OR_VIEW_NOT_FOUND",
                            format!("The table or view `{}` cannot be found.", parts.join("`.`")),
                        )
                    })?;
                    (parts.join("."), version, commit)
                }
                CloneSource::Table(source) => {
                    let source_full = qualify(source, catalog, schema, 3)?.join(".");
                    let table = metastore.tables.get(&source_full).ok_or_else(|| {
                        failed(
                            "TABLE_OR_VIEW_NOT_FOUND",
                            format!("The table or view `{}` cannot be found.", source_full.replace('.', "`.`")),
                        )
                    })?;
                    if matches!(table.table_type.as_str(), "MATERIALIZED_VIEW" | "STREAMING_TABLE") {
                        // "Streaming tables and materialized views are not
                        // supported as source or target tables for CLONE";
                        // the narrower path needs WITH HISTORY, which the
                        // sandbox does not model.
                        return Err(failed(
                            "DELTA_DEEP_CLONE_MV_ST_ERROR",
                            "[DELTA_DEEP_CLONE_MV_ST_ERROR.REQUIRES_WITH_HISTORY] Deep clone of a streaming table or \
                             materialized view failed: WITH HISTORY is required."
                                .into(),
                        ));
                    }
                    if table.data_source_format.as_deref() != Some("DELTA") {
                        return Err(failed(
                            "DELTA_CLONE_UNSUPPORTED_SOURCE",
                            format!("Clone source '{source_full}' is not a Delta table."),
                        ));
                    }
                    require(metastore, who, Securable::Table, &source_full, "SELECT")?;
                    (source_full, table.delta_version, table.last_commit_ms)
                }
                CloneSource::Path(path) => {
                    let (version, commit) =
                        storage.tables.read().get(path.trim_end_matches('/')).copied().ok_or_else(|| {
                            failed("DELTA_TABLE_NOT_FOUND", format!("`{path}` is not a Delta table."))
                        })?;
                    (format!("delta.`{path}`"), version, commit)
                }
            };
            let copied_versions = match existing.as_ref().and_then(|t| t.cloned_from.clone()) {
                Some((previous_source, previous_version)) if previous_source == source_name => {
                    (source_version - previous_version).max(0)
                }
                _ => source_version,
            };
            let table = Table {
                catalog: full[0].clone(),
                schema: full[1].clone(),
                name: full[2].clone(),
                table_type: if location.is_some() { "EXTERNAL".into() } else { "MANAGED".into() },
                data_source_format: Some("DELTA".into()),
                storage_location: location.clone(),
                view_definition: None,
                view_dependencies: Vec::new(),
                view_functions: Vec::new(),
                columns: Vec::new(),
                options: Default::default(),
                delta_version: existing.as_ref().map_or(0, |t| t.delta_version + 1),
                last_commit_ms: now_ms,
                cloned_from: Some((source_name, source_version)),
                // A clone carries no row filter or mask; a replaced table loses its own.
                protection: Default::default(),
                // Unity Catalog keeps a replaced table's keys with it, like
                // its other metadata; a new clone has none (FIDELITY.md).
                constraints: existing.as_ref().map(|t| t.constraints.clone()).unwrap_or_default(),
                properties_commit: None,
                pipeline_id: None,
                // A replaced table keeps its Unity Catalog metadata (owner,
                // grants, comment, tags, column comments and tags); a new
                // clone has none of it (the clone reference: no table
                // description, no tags; FIDELITY.md).
                column_metadata: existing.as_ref().map(|t| t.column_metadata.clone()).unwrap_or_default(),
                common: existing.map(|t| t.common).unwrap_or_else(|| owned_by(who, now_ms)),
            };
            if let Some(location) = location {
                storage
                    .tables
                    .write()
                    .insert(location.trim_end_matches('/').to_string(), (table.delta_version, now_ms));
            }
            let _ = (deep, source_commit);
            metastore.tables.insert(full_name, table);
            Ok(Outcome {
                columns: vec!["source_table_version", "num_copied_versions"],
                rows: vec![vec![json!(source_version), json!(copied_versions)]],
            })
        }
        Statement::CreateTableUsing { name, if_not_exists, format, location, columns, options, partitioned_by } => {
            let Some(full) = new_object(metastore, who, name, catalog, schema, *if_not_exists, "CREATE_TABLE")? else {
                return Ok(Outcome::default());
            };
            storage::require(metastore, who, location, "CREATE_EXTERNAL_TABLE")?;
            storage::require_no_overlap(metastore, location, None)?;
            let columns = table_columns(storage, format, location, columns, options, partitioned_by)?;
            let table = Table {
                catalog: full[0].clone(),
                schema: full[1].clone(),
                name: full[2].clone(),
                table_type: "EXTERNAL".into(),
                data_source_format: Some(format.clone()),
                storage_location: Some(location.clone()),
                view_definition: None,
                view_dependencies: Vec::new(),
                view_functions: Vec::new(),
                columns,
                options: options.clone(),
                delta_version: 0,
                last_commit_ms: now_ms,
                cloned_from: None,
                protection: Default::default(),
                constraints: Vec::new(),
                properties_commit: None,
                pipeline_id: None,
                column_metadata: Default::default(),
                common: owned_by(who, now_ms),
            };
            metastore.tables.insert(full.join("."), table);
            Ok(Outcome::default())
        }
        Statement::CreateView { name, or_replace, if_not_exists, query, dependencies, functions } => {
            let full = qualify(name, catalog, schema, 3)?;
            metastore.require_use(who, &full[0], Some(&full[1]))?;
            let full_name = full.join(".");
            let existing = metastore.tables.get(&full_name);
            match existing {
                Some(_) if *if_not_exists => return Ok(Outcome::default()),
                Some(_) if !or_replace => {
                    return Err(failed("TABLE_OR_VIEW_ALREADY_EXISTS", format!("View '{full_name}' already exists.")))
                }
                Some(table) if table.table_type != "VIEW" => {
                    return Err(failed("EXPECT_VIEW_NOT_TABLE", format!("'{full_name}' is a table, not a view.")))
                }
                Some(_) => require_view_owner(metastore, who, &full_name)?,
                None => {}
            }
            let resolved = resolve_dependencies(metastore, dependencies, catalog, schema)?;
            let calls = resolve_functions(metastore, functions, catalog, schema)?;
            require(metastore, who, Securable::Schema, &format!("{}.{}", full[0], full[1]), "CREATE_TABLE")?;
            // "Replacing an existing view does not preserve privileges granted
            // on the original view. Use ALTER VIEW to preserve privileges."
            // The replacement is a new view: the caller's, with no grants,
            // comment or properties.
            metastore.tables.insert(
                full_name,
                Table {
                    catalog: full[0].clone(),
                    schema: full[1].clone(),
                    name: full[2].clone(),
                    table_type: "VIEW".into(),
                    data_source_format: None,
                    storage_location: None,
                    view_definition: Some(query.clone()),
                    view_dependencies: resolved,
                    view_functions: calls,
                    columns: Vec::new(),
                    options: Default::default(),
                    delta_version: 0,
                    last_commit_ms: now_ms,
                    cloned_from: None,
                    protection: Default::default(),
                    constraints: Vec::new(),
                    properties_commit: None,
                    pipeline_id: None,
                    column_metadata: Default::default(),
                    common: owned_by(who, now_ms),
                },
            );
            Ok(Outcome::default())
        }
        Statement::CreateDataset { table_type, name, or_replace, if_not_exists, query, dependencies, functions } => {
            let full = qualify(name, catalog, schema, 3)?;
            metastore.require_use(who, &full[0], Some(&full[1]))?;
            let full_name = full.join(".");
            let existing = metastore.tables.get(&full_name).cloned();
            let word = if table_type == "MATERIALIZED_VIEW" { "materialized view" } else { "streaming table" };
            match &existing {
                Some(_) if *if_not_exists => return Ok(Outcome::default()),
                Some(_) if !or_replace => {
                    return Err(failed("TABLE_OR_VIEW_ALREADY_EXISTS", format!("'{full_name}' already exists.")))
                }
                Some(table) if table.table_type != *table_type => {
                    return Err(failed(
                        "TABLE_OR_VIEW_ALREADY_EXISTS",
                        format!("'{full_name}' is a {} and cannot be replaced by a {word}.", table.table_type),
                    ))
                }
                // A pipeline's dataset is changed by its pipeline only.
                Some(table) if table.pipeline_id.is_some() => {
                    return Err(failed(
                        "PERMISSION_DENIED",
                        format!(
                            "'{full_name}' is managed by pipeline {}.",
                            table.pipeline_id.clone().unwrap_or_default()
                        ),
                    ))
                }
                Some(_) => require_view_owner(metastore, who, &full_name)?,
                None => {}
            }
            let resolved = resolve_dependencies(metastore, dependencies, catalog, schema)?;
            let calls = resolve_functions(metastore, functions, catalog, schema)?;
            // CREATE MATERIALIZED VIEW needs CREATE MATERIALIZED VIEW on the
            // schema, CREATE STREAMING TABLE needs CREATE TABLE (their references).
            let privilege = if table_type == "MATERIALIZED_VIEW" { "CREATE_MATERIALIZED_VIEW" } else { "CREATE_TABLE" };
            require(metastore, who, Securable::Schema, &format!("{}.{}", full[0], full[1]), privilege)?;
            metastore.tables.insert(
                full_name,
                Table {
                    catalog: full[0].clone(),
                    schema: full[1].clone(),
                    name: full[2].clone(),
                    table_type: table_type.clone(),
                    // "A streaming table is a Delta table"; a materialized
                    // view is stored as one too. Its rows are computed here,
                    // by the refresh the statement runs.
                    data_source_format: Some("DELTA".into()),
                    storage_location: None,
                    view_definition: Some(query.clone()),
                    view_dependencies: resolved,
                    view_functions: calls,
                    columns: Vec::new(),
                    options: Default::default(),
                    delta_version: existing.as_ref().map_or(0, |t| t.delta_version + 1),
                    last_commit_ms: now_ms,
                    cloned_from: None,
                    protection: Default::default(),
                    constraints: Vec::new(),
                    properties_commit: None,
                    pipeline_id: None,
                    column_metadata: existing.as_ref().map(|t| t.column_metadata.clone()).unwrap_or_default(),
                    // Redefined in place: owner and grants stay.
                    common: existing.map(|t| t.common).unwrap_or_else(|| owned_by(who, now_ms)),
                },
            );
            Ok(Outcome::default())
        }
        Statement::AlterViewAs { name, query, dependencies, functions } => {
            let full = qualify(name, catalog, schema, 3)?;
            metastore.require_use(who, &full[0], Some(&full[1]))?;
            let full_name = full.join(".");
            match metastore.tables.get(&full_name) {
                None => {
                    return Err(failed(
                        "TABLE_OR_VIEW_NOT_FOUND",
                        format!("The table or view `{}` cannot be found.", full.join("`.`")),
                    ))
                }
                Some(table) if table.table_type != "VIEW" => {
                    return Err(failed("EXPECT_VIEW_NOT_TABLE", format!("'{full_name}' is a table, not a view.")))
                }
                Some(_) => {}
            }
            require_view_owner(metastore, who, &full_name)?;
            let resolved = resolve_dependencies(metastore, dependencies, catalog, schema)?;
            let calls = resolve_functions(metastore, functions, catalog, schema)?;
            // A new definition; owner, grants, comment and properties stay.
            let view = metastore.tables.get_mut(&full_name).expect("checked above");
            view.view_definition = Some(query.clone());
            view.view_dependencies = resolved;
            view.view_functions = calls;
            view.common.updated_at = now_ms;
            Ok(Outcome::default())
        }
        Statement::CreateFunction {
            name,
            or_replace,
            if_not_exists,
            parameters,
            returns,
            body,
            tables,
            functions,
            comment,
        } => {
            let full = qualify(name, catalog, schema, 3)?;
            metastore.require_use(who, &full[0], Some(&full[1]))?;
            let full_name = full.join(".");
            let existing = metastore.functions.get(&full_name).map(|f| f.common.clone());
            match &existing {
                Some(_) if *if_not_exists => return Ok(Outcome::default()),
                Some(_) if !or_replace => {
                    return Err(failed(
                        "ROUTINE_ALREADY_EXISTS",
                        format!("Cannot create the routine `{}` because it already exists.", full.join("`.`")),
                    ))
                }
                // Replacing a function needs its ownership (CREATE FUNCTION
                // reference: "you must be the owner … to replace it").
                Some(common) if !(who.name == common.owner || who.groups.contains(&common.owner)) => {
                    return Err(failed("PERMISSION_DENIED", format!("User is not the owner of Routine '{full_name}'.")))
                }
                _ => {}
            }
            require(metastore, who, Securable::Schema, &format!("{}.{}", full[0], full[1]), "CREATE_FUNCTION")?;
            let table_dependencies = resolve_dependencies(metastore, tables, catalog, schema)?;
            let function_dependencies = resolve_functions(metastore, functions, catalog, schema)?;
            if function_dependencies.contains(&full_name) {
                return Err(failed(
                    "UNRESOLVED_ROUTINE",
                    format!("Cannot resolve routine `{}`: a function may not call itself.", full.join("`.`")),
                ));
            }
            let function = Function {
                catalog: full[0].clone(),
                schema: full[1].clone(),
                name: full[2].clone(),
                parameters: parameters.clone(),
                returns: returns.clone(),
                body: body.clone(),
                table_dependencies,
                function_dependencies,
                // A replaced function keeps its owner and grants; its
                // comment is the statement's.
                common: Common { comment: comment.clone(), ..existing.unwrap_or_else(|| owned_by(who, now_ms)) },
            };
            metastore.functions.insert(full_name, function);
            Ok(Outcome::default())
        }
        Statement::CreateExternalVolume { name, if_not_exists, location } => {
            let Some(full) = new_object(metastore, who, name, catalog, schema, *if_not_exists, "CREATE_VOLUME")? else {
                return Ok(Outcome::default());
            };
            storage::require(metastore, who, location, "CREATE_EXTERNAL_VOLUME")?;
            storage::require_no_overlap(metastore, location, None)?;
            let volume = Volume {
                catalog: full[0].clone(),
                schema: full[1].clone(),
                name: full[2].clone(),
                volume_type: "EXTERNAL".into(),
                storage_location: Some(location.clone()),
                common: owned_by(who, now_ms),
            };
            metastore.volumes.insert(full.join("."), volume);
            Ok(Outcome::default())
        }
        Statement::Grant { privileges, securable, name, principal }
        | Statement::Revoke { privileges, securable, name, principal } => {
            let full_name = securable_name(*securable, name, catalog, schema)?;
            metastore.require_manage(who, *securable, &full_name)?;
            let grants = &mut metastore.common_mut(*securable, &full_name)?.grants;
            let held = grants.entry(principal.clone()).or_default();
            if matches!(statement, Statement::Grant { .. }) {
                held.extend(privileges.iter().cloned());
            } else {
                for privilege in privileges {
                    held.remove(privilege);
                }
            }
            if held.is_empty() {
                grants.remove(principal);
            }
            Ok(Outcome::default())
        }
        Statement::AlterOwner { securable, name, owner } => {
            let full_name = securable_name(*securable, name, catalog, schema)?;
            metastore.require_manage(who, *securable, &full_name)?;
            metastore.common_mut(*securable, &full_name)?.owner = owner.clone();
            Ok(Outcome::default())
        }
        Statement::SetRowFilter { name, filter } => {
            let full_name = protected_table(metastore, who, name, catalog, schema)?;
            let filter = match filter {
                Some((function, columns)) => Some(policy(metastore, function, columns, catalog, schema)?),
                None => None,
            };
            if let Some(table) = metastore.tables.get_mut(&full_name) {
                table.protection.row_filter = filter;
            }
            Ok(Outcome::default())
        }
        Statement::AddConstraint { name, constraint, columns, references, rely } => super::constraints::add(
            metastore,
            who,
            name,
            constraint,
            columns,
            references.as_ref(),
            *rely,
            (catalog, schema),
        ),
        Statement::DropConstraint { name, constraint, if_exists, cascade } => {
            super::constraints::drop(metastore, who, name, constraint, *if_exists, *cascade, (catalog, schema))
        }
        Statement::SetColumnMask { name, column, mask } => {
            let full_name = protected_table(metastore, who, name, catalog, schema)?;
            let mask = match mask {
                Some((function, columns)) => Some(policy(metastore, function, columns, catalog, schema)?),
                None => None,
            };
            if let Some(table) = metastore.tables.get_mut(&full_name) {
                match mask {
                    Some(mask) => table.protection.column_masks.insert(column.clone(), mask),
                    None => table.protection.column_masks.remove(column),
                };
            }
            Ok(Outcome::default())
        }
        Statement::Comment { .. }
        | Statement::SetTags { .. }
        | Statement::UnsetTags { .. }
        | Statement::SetTableProperties { .. }
        | Statement::UnsetTableProperties { .. } => {
            // Answered by `sql::metadata` above; never reached.
            Err(failed("INTERNAL_ERROR", "metadata statements are run by sql::metadata".into()))
        }
        Statement::CountRows { name, hash } => {
            let full_name = qualify(name, catalog, schema, 3)?.join(".");
            super::data::count(metastore, storage, shared, who, &full_name, *hash)
        }
        Statement::DescribeDetail { name } => {
            let full_name = qualify(name, catalog, schema, 3)?.join(".");
            super::data::detail(metastore, storage, shared, who, &full_name)
        }
        Statement::InformationSchema { catalog, view, columns, direct_only } => {
            super::information_schema::query(metastore, who, catalog, view, columns, *direct_only)
        }
        // The account's table, not the metastore's: `statements.rs` answers it.
        Statement::ReplicationStates(_) => {
            Err(failed("INTERNAL_ERROR", "system.replication.states is answered by the statements API".into()))
        }
        Statement::DescribeTableJson { name } => {
            // DESCRIBE TABLE reference, "JSON formatted output": one row, the
            // table's metadata as a JSON document; here the fields drbot
            // reads (columns, partition_columns, storage_properties) and
            // the names around them.
            let full_name = qualify(name, catalog, schema, 3)?.join(".");
            let table = metastore.tables.get(&full_name).ok_or_else(|| {
                failed(
                    "TABLE_OR_VIEW_NOT_FOUND",
                    format!("The table or view `{}` cannot be found.", full_name.replace('.', "`.`")),
                )
            })?;
            if !metastore.visible(who, Securable::Table, &full_name) {
                return Err(failed("PERMISSION_DENIED", format!("User cannot describe '{full_name}'.")));
            }
            let mut partitions: Vec<&Column> = table.columns.iter().filter(|c| c.partition_index.is_some()).collect();
            partitions.sort_by_key(|c| c.partition_index);
            let document = json!({
                "table_name": table.name,
                "catalog_name": table.catalog,
                "schema_name": table.schema,
                "namespace": [table.schema],
                "type": table.table_type,
                "provider": table.data_source_format.as_deref().map(str::to_ascii_lowercase),
                "columns": table.columns.iter().map(|c| json!({
                    "name": c.name,
                    "type": {"name": c.type_text.to_ascii_lowercase()},
                    "nullable": true,
                })).collect::<Vec<_>>(),
                "partition_columns": partitions.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                "location": table.storage_location,
                "storage_properties": table.options,
            });
            Ok(Outcome { columns: vec!["json_metadata"], rows: vec![vec![json!(document.to_string())]] })
        }
        Statement::List { url, limit } => {
            // LIST (SQL reference): the URL must lie in an external location
            // the caller may READ FILES on; the limit is 1 to 1001.
            if limit.is_some_and(|n| !(1..=1001).contains(&n)) {
                return Err(failed("INVALID_LIMIT_LIKE_EXPRESSION", "The limit must be between 1 and 1001.".into()));
            }
            storage::require(metastore, who, url, "READ_FILES")?;
            let rows = storage
                .listing(url, now_ms)
                .ok_or_else(|| failed("PATH_NOT_FOUND", format!("Path does not exist: {url}.")))?;
            let rows = rows.into_iter().take(limit.unwrap_or(1001)).collect();
            Ok(Outcome { columns: vec!["path", "name", "size", "modification_time"], rows })
        }
        Statement::DescribeHistory { name, limit } => {
            let full_name = qualify(name, catalog, schema, 3)?.join(".");
            let table = metastore.tables.get(&full_name).ok_or_else(|| {
                failed(
                    "TABLE_OR_VIEW_NOT_FOUND",
                    format!("The table or view `{}` cannot be found.", full_name.replace('.', "`.`")),
                )
            })?;
            if table.data_source_format.as_deref() != Some("DELTA") {
                return Err(failed("DELTA_MISSING_DELTA_TABLE", format!("'{full_name}' is not a Delta table.")));
            }
            require(metastore, who, Securable::Table, &full_name, "SELECT")?;
            let rows = (0..=table.delta_version)
                .rev()
                .take(limit.unwrap_or(20))
                .map(|version| {
                    // A clone's own commits after it was cloned (an append)
                    // are writes; `properties_commit` holds the version it had.
                    let written_since = table.properties_commit.is_some_and(|(cloned_at, _)| version > cloned_at);
                    let operation = match (&table.cloned_from, version) {
                        (Some(_), _) if written_since => "WRITE",
                        (Some(_), _) => "CLONE",
                        (None, 0) => "CREATE TABLE",
                        _ => "WRITE",
                    };
                    let at = table.last_commit_ms - (table.delta_version - version) * 3_600_000;
                    // A clone's commit names its source and the source version it
                    // copied (Delta's CLONE operation parameters); a map column,
                    // which JSON_ARRAY renders as JSON text.
                    let parameters = match &table.cloned_from {
                        Some((source, source_version)) => {
                            json!({"source": source, "sourceVersion": source_version.to_string()})
                        }
                        None => json!({}),
                    };
                    vec![
                        json!(version.to_string()),
                        json!(chrono::DateTime::from_timestamp_millis(at).map(|t| t.to_rfc3339()).unwrap_or_default()),
                        json!(operation),
                        json!(parameters.to_string()),
                    ]
                })
                .collect();
            Ok(Outcome { columns: vec!["version", "timestamp", "operation", "operationParameters"], rows })
        }
    }
}

/// The table a row filter or mask is set on: it exists, is not a view, and
/// the caller owns or manages it.
fn protected_table(
    metastore: &Metastore,
    who: &Principal,
    name: &[String],
    catalog: Option<&str>,
    schema: Option<&str>,
) -> Result<String, StatementError> {
    let full_name = qualify(name, catalog, schema, 3)?.join(".");
    let table = metastore.tables.get(&full_name).ok_or_else(|| {
        failed(
            "TABLE_OR_VIEW_NOT_FOUND",
            format!("The table or view `{}` cannot be found.", full_name.replace('.', "`.`")),
        )
    })?;
    if table.table_type == "VIEW" {
        return Err(failed("EXPECT_TABLE_NOT_VIEW", format!("'{full_name}' is a view, not a table.")));
    }
    metastore.require_manage(who, Securable::Table, &full_name)?;
    Ok(full_name)
}

/// A filter's or mask's function, which must exist in the metastore.
fn policy(
    metastore: &Metastore,
    function: &[String],
    columns: &[String],
    catalog: Option<&str>,
    schema: Option<&str>,
) -> Result<Policy, StatementError> {
    let function_name = qualify(function, catalog, schema, 3)?.join(".");
    if !metastore.functions.contains_key(&function_name) {
        return Err(failed(
            "ROUTINE_NOT_FOUND",
            format!("The routine `{}` cannot be found.", function_name.replace('.', "`.`")),
        ));
    }
    Ok(Policy { function_name, columns: columns.to_vec() })
}

/// The three-part name of a new table or volume, once the caller may create
/// it in its schema (`privilege`); `None` when it exists and IF NOT EXISTS
/// says to leave it.
fn new_object(
    metastore: &Metastore,
    who: &Principal,
    name: &[String],
    catalog: Option<&str>,
    schema: Option<&str>,
    if_not_exists: bool,
    privilege: &str,
) -> Result<Option<Vec<String>>, StatementError> {
    let full = qualify(name, catalog, schema, 3)?;
    metastore.require_use(who, &full[0], Some(&full[1]))?;
    let full_name = full.join(".");
    let (exists, class) = if privilege == "CREATE_VOLUME" {
        (metastore.volumes.contains_key(&full_name), "VOLUME_ALREADY_EXISTS")
    } else {
        (metastore.tables.contains_key(&full_name), "TABLE_OR_VIEW_ALREADY_EXISTS")
    };
    if exists {
        return if if_not_exists { Ok(None) } else { Err(failed(class, format!("'{full_name}' already exists."))) };
    }
    require(metastore, who, Securable::Schema, &format!("{}.{}", full[0], full[1]), privilege)?;
    Ok(Some(full))
}

/// The full names of what a view reads, each of which must exist.
fn resolve_dependencies(
    metastore: &Metastore,
    dependencies: &[Vec<String>],
    catalog: Option<&str>,
    schema: Option<&str>,
) -> Result<Vec<String>, StatementError> {
    let mut resolved = Vec::new();
    for dependency in dependencies {
        let dependency = qualify(dependency, catalog, schema, 3)?.join(".");
        if !metastore.tables.contains_key(&dependency) {
            return Err(failed(
                "TABLE_OR_VIEW_NOT_FOUND",
                format!("The table or view `{}` cannot be found.", dependency.replace('.', "`.`")),
            ));
        }
        resolved.push(dependency);
    }
    Ok(resolved)
}

/// The columns of a table registered on files (`CREATE TABLE … USING fmt`).
/// Given, they are the table's (the files need not exist yet); omitted,
/// Databricks infers them from the files at the location ("If you do not
/// define columns the table schema you must specify … a LOCATION with
/// data", CREATE TABLE [USING] reference): an empty path is
/// `UNABLE_TO_INFER_SCHEMA`, and a CSV file set read without `header` has
/// its header line taken as data and columns `_c0`, `_c1`, … of type
/// STRING (Spark's CSV data source). Partition columns must be columns.
fn table_columns(
    storage: &Storage,
    format: &str,
    location: &str,
    columns: &[(String, String)],
    options: &std::collections::BTreeMap<String, String>,
    partitioned_by: &[String],
) -> Result<Vec<Column>, StatementError> {
    let mut out: Vec<Column> = if columns.is_empty() {
        let found = storage.files.read().get(location.trim_end_matches('/')).cloned();
        let Some(found) = found else {
            return Err(failed(
                "UNABLE_TO_INFER_SCHEMA",
                format!("Unable to infer schema for {format}. It must be specified manually."),
            ));
        };
        let header = options.get("header").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        match format {
            "CSV" if header => found
                .iter()
                .map(|c| Column { type_text: "STRING".into(), partition_index: None, ..c.clone() })
                .collect(),
            "CSV" => (0..found.len())
                .map(|i| Column { name: format!("_c{i}"), type_text: "STRING".into(), partition_index: None })
                .collect(),
            _ => found.iter().map(|c| Column { partition_index: None, ..c.clone() }).collect(),
        }
    } else {
        columns
            .iter()
            .map(|(name, type_text)| Column { name: name.clone(), type_text: type_text.clone(), partition_index: None })
            .collect()
    };
    for (index, partition) in partitioned_by.iter().enumerate() {
        let Some(column) = out.iter_mut().find(|c| c.name.eq_ignore_ascii_case(partition)) else {
            return Err(failed(
                "COLUMN_NOT_DEFINED_IN_TABLE",
                format!("partition column `{partition}` is not defined in table."),
            ));
        };
        column.partition_index = Some(index);
    }
    Ok(out)
}

/// The full names of the user functions a body calls, each of which must
/// exist (`UNRESOLVED_ROUTINE`, Databricks' error class for an unknown function).
fn resolve_functions(
    metastore: &Metastore,
    functions: &[Vec<String>],
    catalog: Option<&str>,
    schema: Option<&str>,
) -> Result<Vec<String>, StatementError> {
    let mut resolved = Vec::new();
    for function in functions {
        let function = qualify(function, catalog, schema, 3)?.join(".");
        if !metastore.functions.contains_key(&function) {
            return Err(failed(
                "UNRESOLVED_ROUTINE",
                format!("Cannot resolve routine `{}` on search path.", function.replace('.', "`.`")),
            ));
        }
        if !resolved.contains(&function) {
            resolved.push(function);
        }
    }
    Ok(resolved)
}

fn is_shared_catalog(metastore: &Metastore, catalog: &str) -> bool {
    metastore.catalogs.get(catalog).is_some_and(|c| c.catalog_type == "DELTASHARING_CATALOG")
}

pub(super) fn require(
    metastore: &Metastore,
    who: &Principal,
    kind: Securable,
    full_name: &str,
    privilege: &str,
) -> Result<(), StatementError> {
    if metastore.holds(who, kind, full_name, privilege) {
        Ok(())
    } else {
        Err(failed(
            "PERMISSION_DENIED",
            format!("User does not have {} on {:?} '{full_name}'.", privilege.replace('_', " "), kind),
        ))
    }
}

/// "To replace an existing view you must be its owner" (CREATE VIEW
/// reference) and "AS query (change view definition)" requires ownership
/// of the view (ALTER VIEW reference): the view's own owner (a user, or a
/// group the caller is in), not a parent's owner, MANAGE or a metastore
/// admin, who may only take the view over first (`ALTER VIEW … OWNER TO`).
fn require_view_owner(metastore: &Metastore, who: &Principal, full_name: &str) -> Result<(), StatementError> {
    let owner = &metastore.common(Securable::Table, full_name)?.owner;
    if &who.name == owner || who.groups.contains(owner) {
        Ok(())
    } else {
        Err(failed("PERMISSION_DENIED", format!("User is not the owner of View '{full_name}'.")))
    }
}

fn owned_by(who: &Principal, now_ms: i64) -> Common {
    Common { owner: who.name.clone(), created_at: now_ms, updated_at: now_ms, ..Default::default() }
}
