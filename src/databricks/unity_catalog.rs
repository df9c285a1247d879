//! Unity Catalog 2.1: catalogs, schemas, tables, volumes, external
//! locations, table summaries, and direct grants.
//!
//! Lists are always read to their end (see `paging`): a page cut before
//! the server filters what the caller may see can be empty and still go on.
//! Grants are the *direct* ones (`/permissions`), never the effective ones:
//! inherited privileges are replicated where they are granted, and comparing
//! effective grants was one of the faults of the job drbot replaces.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};

use super::paging::{self, Page};
use super::{segment, DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

const UC: &str = "/api/2.1/unity-catalog";

/// The securable types of the permissions API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Securable {
    Catalog,
    Schema,
    Table,
    Volume,
    Function,
    ExternalLocation,
    StorageCredential,
    Share,
    Metastore,
}

impl Securable {
    /// `{securable_type}` in `/permissions/{securable_type}/{full_name}`.
    pub fn api_name(self) -> &'static str {
        match self {
            Securable::Catalog => "catalog",
            Securable::Schema => "schema",
            Securable::Table => "table",
            Securable::Volume => "volume",
            Securable::Function => "function",
            Securable::ExternalLocation => "external_location",
            Securable::StorageCredential => "storage_credential",
            Securable::Share => "share",
            Securable::Metastore => "metastore",
        }
    }

    /// The collection that PATCH and DELETE address, where there is one.
    fn collection(self) -> Option<&'static str> {
        match self {
            Securable::Catalog => Some("catalogs"),
            Securable::Schema => Some("schemas"),
            Securable::Table => Some("tables"),
            Securable::Volume => Some("volumes"),
            Securable::Function => Some("functions"),
            Securable::ExternalLocation => Some("external-locations"),
            Securable::StorageCredential => Some("storage-credentials"),
            Securable::Share => Some("shares"),
            Securable::Metastore => None,
        }
    }
}

/// Property values are strings on the wire; anything else is kept as its JSON text.
pub(crate) fn string_map<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, Value>> = Option::deserialize(deserializer)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect())
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Catalog {
    pub name: String,
    #[serde(default)]
    pub catalog_type: Option<String>,
    #[serde(default)]
    pub storage_root: Option<String>,
    #[serde(default)]
    pub provider_name: Option<String>,
    #[serde(default)]
    pub share_name: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default, deserialize_with = "string_map")]
    pub properties: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Schema {
    pub name: String,
    pub catalog_name: String,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub storage_root: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default, deserialize_with = "string_map")]
    pub properties: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub catalog_name: String,
    pub schema_name: String,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub table_type: Option<String>,
    #[serde(default)]
    pub data_source_format: Option<String>,
    #[serde(default)]
    pub storage_location: Option<String>,
    #[serde(default)]
    pub view_definition: Option<String>,
    /// Only a GET of the table carries these; a list does not.
    #[serde(default)]
    pub view_dependencies: Option<ViewDependencies>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default, deserialize_with = "string_map")]
    pub properties: BTreeMap<String, String>,
    #[serde(default)]
    pub updated_at: Option<i64>,
    /// Unity Catalog's row filter: the function and the columns it is given.
    #[serde(default)]
    pub row_filter: Option<RowFilter>,
    /// The table's columns; drbot reads their masks and comments (and a
    /// non-Delta table's definition).
    #[serde(default)]
    pub columns: Vec<ColumnInfo>,
    /// The pipeline that publishes the table (a materialized view or
    /// streaming table a Lakeflow pipeline defines): TableInfo's
    /// `pipeline_id` in the tables API reference.
    #[serde(default)]
    pub pipeline_id: Option<String>,
    /// Its informational primary and foreign keys (TableInfo's
    /// `table_constraints`).
    #[serde(default)]
    pub table_constraints: Vec<TableConstraint>,
}

/// One of a table's constraints: exactly one field is set. A
/// `named_table_constraint` (another kind, by name only) carries nothing
/// drbot can add again, so only the two keys are read.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct TableConstraint {
    #[serde(default)]
    pub primary_key_constraint: Option<KeyConstraint>,
    #[serde(default)]
    pub foreign_key_constraint: Option<KeyConstraint>,
}

/// A primary key (`child_columns`) or a foreign key (`child_columns`
/// referencing `parent_table`'s `parent_columns`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct KeyConstraint {
    pub name: String,
    #[serde(default)]
    pub child_columns: Vec<String>,
    #[serde(default)]
    pub parent_table: Option<String>,
    #[serde(default)]
    pub parent_columns: Vec<String>,
    #[serde(default)]
    pub rely: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct RowFilter {
    pub function_name: String,
    #[serde(default)]
    pub input_column_names: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(default)]
    pub type_text: Option<String>,
    #[serde(default)]
    pub partition_index: Option<usize>,
    #[serde(default)]
    pub mask: Option<ColumnMask>,
    /// What a person wrote on the column (`COMMENT ON COLUMN`).
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ColumnMask {
    pub function_name: String,
    #[serde(default)]
    pub using_column_names: Vec<String>,
}

impl Table {
    pub fn full_name(&self) -> String {
        self.full_name.clone().unwrap_or_else(|| format!("{}.{}.{}", self.catalog_name, self.schema_name, self.name))
    }

    /// Full names of the tables and views this view reads (functions aside).
    pub fn table_dependencies(&self) -> Vec<String> {
        self.view_dependencies
            .iter()
            .flat_map(|d| &d.dependencies)
            .filter_map(|d| d.table.as_ref().map(|t| t.table_full_name.clone()))
            .collect()
    }

    /// Full names of the user functions this view calls.
    pub fn function_dependencies(&self) -> Vec<String> {
        self.view_dependencies
            .iter()
            .flat_map(|d| &d.dependencies)
            .filter_map(|d| d.function.as_ref().map(|f| f.function_full_name.clone()))
            .collect()
    }
}

/// A user-defined function (FunctionInfo of the functions API).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    pub catalog_name: String,
    pub schema_name: String,
    #[serde(default)]
    pub full_name: Option<String>,
    /// `SQL` or `EXTERNAL` (then `external_language` says which).
    #[serde(default)]
    pub routine_body: Option<String>,
    #[serde(default)]
    pub external_language: Option<String>,
    #[serde(default)]
    pub routine_definition: Option<String>,
    #[serde(default)]
    pub input_params: Option<FunctionParameters>,
    /// The return type as SQL text (`data_type` is only its name).
    #[serde(default)]
    pub full_data_type: Option<String>,
    #[serde(default)]
    pub routine_dependencies: Option<ViewDependencies>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct FunctionParameters {
    #[serde(default)]
    pub parameters: Vec<FunctionParameter>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct FunctionParameter {
    pub name: String,
    pub type_text: String,
    #[serde(default)]
    pub position: Option<i64>,
}

impl Function {
    pub fn full_name(&self) -> String {
        self.full_name.clone().unwrap_or_else(|| format!("{}.{}.{}", self.catalog_name, self.schema_name, self.name))
    }

    /// The tables, views and functions it uses, by full name.
    pub fn dependencies(&self) -> Vec<String> {
        self.routine_dependencies
            .iter()
            .flat_map(|d| &d.dependencies)
            .filter_map(|d| {
                d.table
                    .as_ref()
                    .map(|t| t.table_full_name.clone())
                    .or_else(|| d.function.as_ref().map(|f| f.function_full_name.clone()))
            })
            .collect()
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ViewDependencies {
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Dependency {
    #[serde(default)]
    pub table: Option<TableDependency>,
    #[serde(default)]
    pub function: Option<FunctionDependency>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct FunctionDependency {
    pub function_full_name: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct TableDependency {
    pub table_full_name: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub catalog_name: String,
    pub schema_name: String,
    #[serde(default)]
    pub volume_type: Option<String>,
    #[serde(default)]
    pub storage_location: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ExternalLocation {
    pub name: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub credential_name: Option<String>,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// `POST /external-locations`.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct CreateExternalLocation {
    pub name: String,
    pub url: String,
    pub credential_name: String,
    /// Reads only: a location replication reads by path and never writes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A storage credential (only what drbot reads of it).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct StorageCredential {
    pub name: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// `POST /storage-credentials` for an Azure Databricks access connector
/// (the managed identity the workspace's storage trusts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateStorageCredential {
    pub name: String,
    /// The resource id of the `Microsoft.Databricks/accessConnectors`.
    pub access_connector_id: String,
    pub comment: Option<String>,
}

impl CreateStorageCredential {
    fn to_json(&self) -> Value {
        let mut body = json!({
            "name": self.name,
            "azure_managed_identity": {"access_connector_id": self.access_connector_id},
        });
        if let Some(comment) = &self.comment {
            body["comment"] = json!(comment);
        }
        body
    }
}

/// `GET /metastore_summary`: the metastore of the workspace called.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct MetastoreSummary {
    #[serde(default)]
    pub metastore_id: String,
    /// `azure:<region>:<uuid>`: the id a Delta Sharing recipient names.
    #[serde(default)]
    pub global_metastore_id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// One row of `table-summaries`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct TableSummary {
    pub full_name: String,
    #[serde(default)]
    pub table_type: Option<String>,
}

/// Direct grants of one principal on one securable.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct PrivilegeAssignment {
    pub principal: String,
    #[serde(default)]
    pub privileges: Vec<String>,
}

/// One change of a permissions PATCH.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct PermissionChange {
    pub principal: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

/// `POST /catalogs`. With `provider_name` and `share_name` it mounts a share.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct CreateCatalog {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_root: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_name: Option<String>,
}

/// `POST /schemas`.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct CreateSchema {
    pub name: String,
    pub catalog_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_root: Option<String>,
}

/// A PATCH of a securable: only what is set is sent.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Update {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
}

/// Assignments as principal → privileges (empty sets dropped).
pub fn grants_map(assignments: &[PrivilegeAssignment]) -> BTreeMap<String, BTreeSet<String>> {
    let mut grants: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for assignment in assignments {
        if !assignment.privileges.is_empty() {
            grants.entry(assignment.principal.clone()).or_default().extend(assignment.privileges.iter().cloned());
        }
    }
    grants
}

/// What a PATCH of a securable answers: the object after the update.
#[derive(Deserialize)]
struct Updated {
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default, deserialize_with = "string_map")]
    properties: BTreeMap<String, String>,
}

impl Updated {
    /// Whether the answer holds what was asked for; else what it shows instead.
    fn shows(&self, update: &Update) -> Result<(), String> {
        if let Some(owner) = &update.owner {
            if self.owner.as_ref() != Some(owner) {
                return Err(format!("owner {:?}, not {owner:?}", self.owner.as_deref().unwrap_or("")));
            }
        }
        if let Some(comment) = &update.comment {
            if self.comment.as_deref().unwrap_or("") != comment {
                return Err(format!("comment {:?}", self.comment.as_deref().unwrap_or("")));
            }
        }
        if let Some(properties) = &update.properties {
            if let Some((key, _)) = properties.iter().find(|(k, v)| self.properties.get(*k) != Some(*v)) {
                return Err(format!("property {key} not set"));
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct Assignments {
    #[serde(default)]
    privilege_assignments: Vec<PrivilegeAssignment>,
}

fn to_body<T: Serialize>(request: &T) -> Result<Value, DatabricksError> {
    serde_json::to_value(request).map_err(|e| DatabricksError::Protocol(format!("request does not serialize: {e}")))
}

impl WorkspaceClient {
    pub async fn list_catalogs(&self, token: &AccessToken) -> Result<Vec<Catalog>, DatabricksError> {
        self.list_all(&format!("{UC}/catalogs"), &[], "catalogs", token).await
    }

    pub async fn get_catalog(&self, token: &AccessToken, name: &str) -> Result<Catalog, DatabricksError> {
        self.get(&format!("{UC}/catalogs/{}", segment(name)), &[], token).await
    }

    pub async fn list_schemas(&self, token: &AccessToken, catalog: &str) -> Result<Vec<Schema>, DatabricksError> {
        self.list_all(&format!("{UC}/schemas"), &[("catalog_name", catalog.to_string())], "schemas", token).await
    }

    pub async fn get_schema(&self, token: &AccessToken, full_name: &str) -> Result<Schema, DatabricksError> {
        self.get(&format!("{UC}/schemas/{}", segment(full_name)), &[], token).await
    }

    pub async fn list_tables(
        &self,
        token: &AccessToken,
        catalog: &str,
        schema: &str,
    ) -> Result<Vec<Table>, DatabricksError> {
        let query = [("catalog_name", catalog.to_string()), ("schema_name", schema.to_string())];
        self.list_all(&format!("{UC}/tables"), &query, "tables", token).await
    }

    /// A schema's user-defined functions (those the caller owns or may EXECUTE).
    pub async fn list_functions(
        &self,
        token: &AccessToken,
        catalog: &str,
        schema: &str,
    ) -> Result<Vec<Function>, DatabricksError> {
        let query = [("catalog_name", catalog.to_string()), ("schema_name", schema.to_string())];
        self.list_all(&format!("{UC}/functions"), &query, "functions", token).await
    }

    /// A table with what only a GET has (`view_dependencies`).
    pub async fn get_table(&self, token: &AccessToken, full_name: &str) -> Result<Table, DatabricksError> {
        self.get(&format!("{UC}/tables/{}", segment(full_name)), &[], token).await
    }

    /// Full names and types of a catalog's tables, cheaply (patterns as SQL LIKE).
    pub async fn table_summaries(
        &self,
        token: &AccessToken,
        catalog: &str,
        schema_name_pattern: Option<&str>,
        table_name_pattern: Option<&str>,
    ) -> Result<Vec<TableSummary>, DatabricksError> {
        let mut query = vec![("catalog_name", catalog.to_string())];
        if let Some(pattern) = schema_name_pattern {
            query.push(("schema_name_pattern", pattern.to_string()));
        }
        if let Some(pattern) = table_name_pattern {
            query.push(("table_name_pattern", pattern.to_string()));
        }
        self.list_all(&format!("{UC}/table-summaries"), &query, "tables", token).await
    }

    pub async fn list_volumes(
        &self,
        token: &AccessToken,
        catalog: &str,
        schema: &str,
    ) -> Result<Vec<Volume>, DatabricksError> {
        let query = [("catalog_name", catalog.to_string()), ("schema_name", schema.to_string())];
        self.list_all(&format!("{UC}/volumes"), &query, "volumes", token).await
    }

    pub async fn list_external_locations(&self, token: &AccessToken) -> Result<Vec<ExternalLocation>, DatabricksError> {
        self.list_all(&format!("{UC}/external-locations"), &[], "external_locations", token).await
    }

    pub async fn create_catalog(
        &self,
        token: &AccessToken,
        request: &CreateCatalog,
    ) -> Result<Catalog, DatabricksError> {
        self.post(&format!("{UC}/catalogs"), to_body(request)?, token).await
    }

    pub async fn create_storage_credential(
        &self,
        token: &AccessToken,
        request: &CreateStorageCredential,
    ) -> Result<StorageCredential, DatabricksError> {
        self.post(&format!("{UC}/storage-credentials"), request.to_json(), token).await
    }

    pub async fn create_external_location(
        &self,
        token: &AccessToken,
        request: &CreateExternalLocation,
    ) -> Result<ExternalLocation, DatabricksError> {
        self.post(&format!("{UC}/external-locations"), to_body(request)?, token).await
    }

    /// `PUT /workspaces/{workspace_id}/metastore`: assigns the metastore to
    /// the workspace (a workspace has exactly one; assigning again replaces
    /// it, so the call is idempotent), with the catalog queries use by default.
    pub async fn assign_metastore(
        &self,
        token: &AccessToken,
        workspace_id: u64,
        metastore_id: &str,
        default_catalog_name: &str,
    ) -> Result<(), DatabricksError> {
        let body = json!({"metastore_id": metastore_id, "default_catalog_name": default_catalog_name});
        self.put::<Value>(&format!("{UC}/workspaces/{workspace_id}/metastore"), body, token).await.map(|_| ())
    }

    /// `GET /current-metastore-assignment`: the workspace's metastore id;
    /// `NotFound` (`METASTORE_DOES_NOT_EXIST`) when it has none.
    pub async fn current_metastore_id(&self, token: &AccessToken) -> Result<String, DatabricksError> {
        #[derive(serde::Deserialize)]
        struct Assignment {
            metastore_id: String,
        }
        let assignment: Assignment = self.get(&format!("{UC}/current-metastore-assignment"), &[], token).await?;
        Ok(assignment.metastore_id)
    }

    pub async fn metastore_summary(&self, token: &AccessToken) -> Result<MetastoreSummary, DatabricksError> {
        self.get(&format!("{UC}/metastore_summary"), &[], token).await
    }

    pub async fn create_schema(&self, token: &AccessToken, request: &CreateSchema) -> Result<Schema, DatabricksError> {
        self.post(&format!("{UC}/schemas"), to_body(request)?, token).await
    }

    /// `POST /volumes` of a managed volume (`volume_type` MANAGED, no
    /// location: Unity Catalog places it under the schema's managed storage).
    pub async fn create_managed_volume(
        &self,
        token: &AccessToken,
        catalog: &str,
        schema: &str,
        name: &str,
        comment: Option<&str>,
    ) -> Result<Volume, DatabricksError> {
        let mut body = serde_json::json!({
            "catalog_name": catalog, "schema_name": schema, "name": name, "volume_type": "MANAGED",
        });
        if let Some(comment) = comment {
            body["comment"] = comment.into();
        }
        self.post(&format!("{UC}/volumes"), body, token).await
    }

    /// PATCH owner, comment or properties of a securable (properties replace).
    pub async fn update_securable(
        &self,
        token: &AccessToken,
        kind: Securable,
        full_name: &str,
        update: &Update,
    ) -> Result<(), DatabricksError> {
        let collection = kind
            .collection()
            .ok_or_else(|| DatabricksError::InvalidParameter(format!("{} cannot be updated here", kind.api_name())))?;
        let answer: Updated =
            self.patch(&format!("{UC}/{collection}/{}", segment(full_name)), to_body(update)?, token).await?;
        answer.shows(update).map_err(|what| {
            DatabricksError::Protocol(format!("the update of {full_name} was accepted but its answer shows {what}"))
        })
    }

    /// DELETE a securable; `force` also deletes what a catalog or schema holds.
    pub async fn delete_securable(
        &self,
        token: &AccessToken,
        kind: Securable,
        full_name: &str,
        force: bool,
    ) -> Result<(), DatabricksError> {
        let collection = kind
            .collection()
            .ok_or_else(|| DatabricksError::InvalidParameter(format!("{} cannot be deleted here", kind.api_name())))?;
        let query = if force { vec![("force", "true".to_string())] } else { Vec::new() };
        self.delete(&format!("{UC}/{collection}/{}", segment(full_name)), &query, token).await
    }

    /// The grants made directly on a securable (not inherited ones), every
    /// page: the API pages with `max_results=0` (the server's page length;
    /// Databricks deprecates the unpaginated call and refuses 1..=149) and a
    /// page may be empty and still go on.
    pub async fn get_permissions(
        &self,
        token: &AccessToken,
        kind: Securable,
        full_name: &str,
    ) -> Result<Vec<PrivilegeAssignment>, DatabricksError> {
        let path = format!("{UC}/permissions/{}/{}", kind.api_name(), segment(full_name));
        let path = path.as_str();
        paging::collect_pages(|page_token| async move {
            let mut query = vec![("max_results", "0".to_string())];
            if let Some(page_token) = page_token {
                query.push(("page_token", page_token));
            }
            let body: Value = self.get(path, &query, token).await?;
            Page::from_json(body, "privilege_assignments")
        })
        .await
    }

    /// Grants and revokes in one PATCH; returns the direct grants after it,
    /// once the answer shows every change made (an answer that does not is a
    /// protocol error, not a success).
    pub async fn update_permissions(
        &self,
        token: &AccessToken,
        kind: Securable,
        full_name: &str,
        changes: &[PermissionChange],
    ) -> Result<Vec<PrivilegeAssignment>, DatabricksError> {
        let path = format!("{UC}/permissions/{}/{}", kind.api_name(), segment(full_name));
        let answer: Assignments = self.patch(&path, json!({ "changes": changes }), token).await?;
        let after = grants_map(&answer.privilege_assignments);
        for change in changes {
            let held = after.get(&change.principal);
            let holds = |p: &String| held.is_some_and(|h| h.contains(&p.replace(' ', "_")));
            if let Some(missing) = change.add.iter().find(|p| !holds(p)) {
                return Err(DatabricksError::Protocol(format!(
                    "the grant of {missing} on {full_name} was accepted but its answer does not show it"
                )));
            }
            if let Some(kept) = change.remove.iter().find(|p| holds(p)) {
                return Err(DatabricksError::Protocol(format!(
                    "the revoke of {kept} on {full_name} was accepted but its answer still shows it"
                )));
            }
        }
        Ok(answer.privilege_assignments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_get_parses_with_its_view_dependencies_and_properties() {
        let table: Table = serde_json::from_value(json!({
            "name": "v", "catalog_name": "c", "schema_name": "s", "table_type": "VIEW",
            "view_definition": "SELECT 1",
            "view_dependencies": {"dependencies": [
                {"table": {"table_full_name": "c.s.t"}},
                {"function": {"function_full_name": "c.s.f"}}
            ]},
            "properties": {"delta.lastUpdateVersion": "4", "n": 5},
            "some_new_field": true
        }))
        .unwrap();
        assert_eq!(table.full_name(), "c.s.v");
        assert_eq!(table.table_dependencies(), vec!["c.s.t".to_string()]);
        assert_eq!(table.properties["delta.lastUpdateVersion"], "4");
        assert_eq!(table.properties["n"], "5");
    }

    #[test]
    fn requests_send_only_what_is_set() {
        let mount = CreateCatalog {
            name: "shared".into(),
            provider_name: Some("p".into()),
            share_name: Some("s".into()),
            ..Default::default()
        };
        assert_eq!(to_body(&mount).unwrap(), json!({"name": "shared", "provider_name": "p", "share_name": "s"}));
        let owner = Update { owner: Some("dr-operators".into()), ..Default::default() };
        assert_eq!(to_body(&owner).unwrap(), json!({"owner": "dr-operators"}));
        let change = PermissionChange { principal: "a".into(), add: vec!["SELECT".into()], remove: vec![] };
        assert_eq!(serde_json::to_value(change).unwrap(), json!({"principal": "a", "add": ["SELECT"]}));
    }

    #[test]
    fn grants_merge_by_principal() {
        let grants = grants_map(&[
            PrivilegeAssignment { principal: "a".into(), privileges: vec!["SELECT".into()] },
            PrivilegeAssignment { principal: "b".into(), privileges: vec![] },
            PrivilegeAssignment { principal: "a".into(), privileges: vec!["MODIFY".into()] },
        ]);
        assert_eq!(grants.len(), 1);
        assert_eq!(grants["a"].len(), 2);
    }
}
