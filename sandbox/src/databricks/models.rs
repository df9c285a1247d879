//! Registered models (MLflow models in Unity Catalog) over HTTP, as the
//! REST reference's Registered Models and Model Versions pages describe
//! them: list (by schema, or the whole metastore; paged, filtered by what
//! the caller may see), get (`include_aliases`), create, update (comment,
//! owner), versions list/get/update (comment), aliases set/get/delete.
//!
//! As the reference says, nothing here creates a model version ("Creating
//! new model versions requires use of the MLflow Python client"): versions
//! exist where a test puts them (`seed`), as an MLflow client would have.
//! Bodies with fields the reference does not name are refused. FIDELITY.md
//! cites each rule.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::metastore::{Common, Metastore, Principal, Securable, UcError};
use super::unity_catalog::{listed, page, query, with_caller};
use super::Workspace;

/// A registered model and its versions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RegisteredModel {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    pub storage_location: Option<String>,
    pub versions: BTreeMap<i64, ModelVersion>,
    /// Alias → version number.
    pub aliases: BTreeMap<String, i64>,
    pub common: Common,
}

/// One model version, as an MLflow client registered it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelVersion {
    pub source: String,
    pub run_id: Option<String>,
    pub comment: Option<String>,
    /// `READY` once its files are all written.
    pub status: String,
    pub storage_location: String,
    pub created_at: i64,
    /// Its tags, set through MLflow's registry (`model_registry.rs`); the
    /// Unity Catalog API neither shows nor sets them.
    pub tags: BTreeMap<String, String>,
}

impl RegisteredModel {
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.name)
    }

    fn aliases_json(&self) -> Vec<Value> {
        self.aliases.iter().map(|(alias, version)| json!({"alias_name": alias, "version_num": version})).collect()
    }

    /// RegisteredModelInfo; aliases only when asked for.
    pub fn to_json(&self, metastore: &Metastore, with_aliases: bool) -> Value {
        let mut value = json!({
            "name": self.name,
            "catalog_name": self.catalog,
            "schema_name": self.schema,
            "full_name": self.full_name(),
            "metastore_id": metastore.metastore_id,
            "owner": self.common.owner,
            "created_at": self.common.created_at,
            "updated_at": self.common.updated_at,
        });
        if let Some(comment) = &self.common.comment {
            value["comment"] = json!(comment);
        }
        if let Some(location) = &self.storage_location {
            value["storage_location"] = json!(location);
        }
        if with_aliases {
            value["aliases"] = json!(self.aliases_json());
        }
        value
    }

    /// ModelVersionInfo of version `number`.
    fn version_json(&self, metastore: &Metastore, number: i64, version: &ModelVersion) -> Value {
        let aliases: Vec<Value> = self
            .aliases
            .iter()
            .filter(|(_, v)| **v == number)
            .map(|(alias, v)| json!({"alias_name": alias, "version_num": v}))
            .collect();
        let mut value = json!({
            "model_name": self.name,
            "catalog_name": self.catalog,
            "schema_name": self.schema,
            "version": number,
            "source": version.source,
            "status": version.status,
            "storage_location": version.storage_location,
            "metastore_id": metastore.metastore_id,
            "created_at": version.created_at,
            "aliases": aliases,
        });
        if let Some(run_id) = &version.run_id {
            value["run_id"] = json!(run_id);
        }
        if let Some(comment) = &version.comment {
            value["comment"] = json!(comment);
        }
        value
    }
}

/// Puts a model with `versions` (1, 2, …, each READY, its files under the
/// schema's model storage) and `aliases` in place, as an MLflow client
/// would have registered them; owned by `owner`. False when the schema is
/// missing or the name taken.
pub fn seed(
    metastore: &mut Metastore,
    full_name: &str,
    comment: &str,
    versions: usize,
    aliases: &[(&str, i64)],
    owner: &str,
    now_ms: i64,
) -> bool {
    let parts: Vec<&str> = full_name.split('.').collect();
    let [catalog, schema, name] = parts[..] else { return false };
    if !metastore.schemas.contains_key(&format!("{catalog}.{schema}")) || metastore.models.contains_key(full_name) {
        return false;
    }
    let root = metastore.catalogs.get(catalog).and_then(|c| c.storage_root.clone()).unwrap_or_default();
    let location = format!("{}/__models/{schema}/{name}", root.trim_end_matches('/'));
    let versions = (1..=versions as i64)
        .map(|n| {
            let version = ModelVersion {
                source: format!("dbfs:/databricks/mlflow-tracking/1/run-{n}/artifacts/model"),
                run_id: Some(format!("run-{n}")),
                comment: Some(format!("trained on day {n}")),
                status: "READY".into(),
                storage_location: format!("{location}/versions/{n}"),
                created_at: now_ms - (10 - n) * 86_400_000,
                tags: BTreeMap::new(),
            };
            (n, version)
        })
        .collect();
    let model = RegisteredModel {
        catalog: catalog.into(),
        schema: schema.into(),
        name: name.into(),
        storage_location: Some(location),
        versions,
        aliases: aliases.iter().map(|(a, v)| (a.to_string(), *v)).collect(),
        common: Common {
            owner: owner.into(),
            comment: Some(comment.into()),
            created_at: now_ms,
            updated_at: now_ms,
            ..Default::default()
        },
    };
    metastore.models.insert(full_name.into(), model);
    true
}

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.1/unity-catalog/models", get(list_models).post(create_model))
        .route("/api/2.1/unity-catalog/models/{full_name}", get(get_model).patch(update_model))
        .route("/api/2.1/unity-catalog/models/{full_name}/versions", get(list_versions))
        .route("/api/2.1/unity-catalog/models/{full_name}/versions/{version}", get(get_version).patch(update_version))
        .route(
            "/api/2.1/unity-catalog/models/{full_name}/aliases/{alias}",
            get(get_by_alias).put(set_alias).delete(delete_alias),
        )
}

/// "A regular user needs to be the owner or have the EXECUTE privilege on
/// the registered model" (here or on its schema or catalog); admins see all.
fn may_execute(metastore: &Metastore, who: &Principal, model: &RegisteredModel) -> bool {
    let names: Vec<&str> = std::iter::once(who.name.as_str()).chain(who.groups.iter().map(String::as_str)).collect();
    let grants = |common: &Common| {
        names.contains(&common.owner.as_str())
            || names
                .iter()
                .any(|n| common.grants.get(*n).is_some_and(|h| h.contains("EXECUTE") || h.contains("ALL_PRIVILEGES")))
    };
    metastore.is_admin(who)
        || grants(&model.common)
        || metastore.schemas.get(&format!("{}.{}", model.catalog, model.schema)).is_some_and(|s| grants(&s.common))
        || metastore.catalogs.get(&model.catalog).is_some_and(|c| grants(&c.common))
}

/// Only the model's owner (or an owner above it, or an admin) changes its
/// metadata, aliases and owner (Registered Models reference).
pub(super) fn may_manage(metastore: &Metastore, who: &Principal, model: &RegisteredModel) -> bool {
    let names: Vec<&str> = std::iter::once(who.name.as_str()).chain(who.groups.iter().map(String::as_str)).collect();
    metastore.is_admin(who)
        || names.contains(&model.common.owner.as_str())
        || metastore.owns(who, Securable::Schema, &format!("{}.{}", model.catalog, model.schema))
}

fn missing(full_name: &str) -> UcError {
    UcError::Missing("REGISTERED_MODEL", format!("Registered model '{full_name}' does not exist."))
}

/// The model, once the caller may use its catalog and schema and see it.
pub(super) fn readable<'m>(
    metastore: &'m Metastore,
    who: &Principal,
    full_name: &str,
) -> Result<&'m RegisteredModel, UcError> {
    let parts: Vec<&str> = full_name.split('.').collect();
    let [catalog, schema, _] = parts[..] else {
        return Err(UcError::Invalid("A model's full name is catalog.schema.model.".into()));
    };
    metastore.require_use(who, catalog, Some(schema))?;
    let model = metastore.models.get(full_name).ok_or_else(|| missing(full_name))?;
    if !may_execute(metastore, who, model) {
        return Err(UcError::PermissionDenied(format!(
            "User does not have EXECUTE on Registered model '{full_name}'."
        )));
    }
    Ok(model)
}

/// The model, once the caller may also change it (`may_manage`).
fn manageable<'m>(metastore: &'m Metastore, who: &Principal, full_name: &str) -> Result<&'m RegisteredModel, UcError> {
    let model = readable(metastore, who, full_name)?;
    if !may_manage(metastore, who, model) {
        return Err(UcError::PermissionDenied(format!("User is not an owner of Registered model '{full_name}'.")));
    }
    Ok(model)
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, UcError> {
    serde_json::from_slice(body).map_err(|e| UcError::Invalid(format!("Invalid request body: {e}")))
}

async fn list_models(State(ws): State<Arc<Workspace>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    with_caller(&ws, &headers, "models.list", |who| {
        let query = query(raw);
        let catalog = query.get("catalog_name").filter(|c| !c.is_empty());
        let schema = query.get("schema_name").filter(|s| !s.is_empty());
        let metastore = ws.metastore.read();
        let prefix = match (catalog, schema) {
            (Some(catalog), Some(schema)) => {
                metastore.require_use(who, catalog, Some(schema))?;
                format!("{catalog}.{schema}.")
            }
            (None, None) => String::new(),
            // "If specified, schema_name must be specified" (and the reverse).
            _ => return Err(UcError::Invalid("catalog_name and schema_name go together.".into())),
        };
        let all: Vec<&RegisteredModel> = metastore
            .models
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, m)| m)
            .collect();
        let visible = |m: &&RegisteredModel| {
            metastore.require_use(who, &m.catalog, Some(&m.schema)).is_ok() && may_execute(&metastore, who, m)
        };
        let (items, next) = page(all, visible, &query, ws.page_size())?;
        Ok(listed("registered_models", items.iter().map(|m| m.to_json(&metastore, false)).collect(), next))
    })
}

async fn get_model(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(full_name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    with_caller(&ws, &headers, "models.get", |who| {
        let query = query(raw);
        let metastore = ws.metastore.read();
        let model = readable(&metastore, who, &full_name)?;
        let aliases = query.get("include_aliases").is_some_and(|v| v == "true");
        Ok(Json(model.to_json(&metastore, aliases)).into_response())
    })
}

/// CreateRegisteredModelRequest: what the reference names; output-only
/// fields a client may echo are accepted and ignored, anything else refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CreateModel {
    catalog_name: String,
    schema_name: String,
    name: String,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    storage_location: Option<String>,
    #[serde(default)]
    aliases: Option<Value>,
    #[serde(default)]
    browse_only: Option<Value>,
    #[serde(default)]
    created_at: Option<Value>,
    #[serde(default)]
    created_by: Option<Value>,
    #[serde(default)]
    full_name: Option<Value>,
    #[serde(default)]
    metastore_id: Option<Value>,
    #[serde(default)]
    owner: Option<Value>,
    #[serde(default)]
    updated_at: Option<Value>,
    #[serde(default)]
    updated_by: Option<Value>,
}

async fn create_model(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    with_caller(&ws, &headers, "models.create", |who| {
        let request: CreateModel = parse(&body)?;
        if request.name.is_empty() || request.name.contains(['.', ' ', '/']) {
            return Err(UcError::Invalid(format!("Invalid name '{}'.", request.name)));
        }
        let mut metastore = ws.metastore.write();
        metastore.require_use(who, &request.catalog_name, Some(&request.schema_name))?;
        let schema = format!("{}.{}", request.catalog_name, request.schema_name);
        // "The caller must have the CREATE MODEL or CREATE FUNCTION privilege on the parent schema."
        let may_create = metastore.holds(who, Securable::Schema, &schema, "CREATE_MODEL")
            || metastore.holds(who, Securable::Schema, &schema, "CREATE_FUNCTION");
        if !may_create {
            return Err(UcError::PermissionDenied(format!("User does not have CREATE MODEL on Schema '{schema}'.")));
        }
        let full_name = format!("{schema}.{}", request.name);
        if metastore.models.contains_key(&full_name) {
            return Err(UcError::Exists("REGISTERED_MODEL", format!("Registered model '{full_name}' already exists.")));
        }
        let now = chrono::Utc::now().timestamp_millis();
        let root =
            metastore.catalogs.get(&request.catalog_name).and_then(|c| c.storage_root.clone()).unwrap_or_default();
        let model = RegisteredModel {
            catalog: request.catalog_name,
            schema: request.schema_name.clone(),
            storage_location: Some(request.storage_location.unwrap_or_else(|| {
                format!("{}/__models/{}/{}", root.trim_end_matches('/'), request.schema_name, request.name)
            })),
            name: request.name,
            versions: BTreeMap::new(),
            aliases: BTreeMap::new(),
            common: Common {
                owner: who.name.clone(),
                comment: request.comment.filter(|c| !c.is_empty()),
                created_at: now,
                updated_at: now,
                ..Default::default()
            },
        };
        let answer = model.to_json(&metastore, true);
        metastore.models.insert(full_name, model);
        Ok(Json(answer).into_response())
    })
}

/// UpdateRegisteredModelRequest: comment and owner (a rename, `new_name`,
/// is not modelled and refused); output-only fields ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct UpdateModel {
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    new_name: Option<String>,
    #[serde(default)]
    full_name: Option<Value>,
    #[serde(default)]
    aliases: Option<Value>,
    #[serde(default)]
    browse_only: Option<Value>,
    #[serde(default)]
    catalog_name: Option<Value>,
    #[serde(default)]
    schema_name: Option<Value>,
    #[serde(default)]
    name: Option<Value>,
    #[serde(default)]
    created_at: Option<Value>,
    #[serde(default)]
    created_by: Option<Value>,
    #[serde(default)]
    metastore_id: Option<Value>,
    #[serde(default)]
    storage_location: Option<Value>,
    #[serde(default)]
    updated_at: Option<Value>,
    #[serde(default)]
    updated_by: Option<Value>,
}

async fn update_model(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(full_name): Path<String>,
    body: Bytes,
) -> Response {
    with_caller(&ws, &headers, "models.update", |who| {
        let request: UpdateModel = parse(&body)?;
        if request.new_name.is_some() {
            return Err(UcError::Invalid(
                "Renaming a registered model (new_name) is not modelled by the sandbox.".into(),
            ));
        }
        manageable(&ws.metastore.read(), who, &full_name)?;
        ws.require_principals(request.owner.as_deref()).map_err(|message| UcError::Missing("PRINCIPAL", message))?;
        let mut metastore = ws.metastore.write();
        manageable(&metastore, who, &full_name)?;
        let now = chrono::Utc::now().timestamp_millis();
        let model = metastore.models.get_mut(&full_name).ok_or_else(|| missing(&full_name))?;
        if let Some(comment) = request.comment {
            model.common.comment = Some(comment).filter(|c| !c.is_empty());
        }
        if let Some(owner) = request.owner {
            model.common.owner = owner;
        }
        model.common.updated_at = now;
        let model = model.clone();
        Ok(Json(model.to_json(&metastore, true)).into_response())
    })
}

async fn list_versions(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(full_name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    with_caller(&ws, &headers, "models.versions.list", |who| {
        let query = query(raw);
        let metastore = ws.metastore.read();
        let model = readable(&metastore, who, &full_name)?;
        let all: Vec<(&i64, &ModelVersion)> = model.versions.iter().collect();
        let (items, next) = page(all, |_| true, &query, ws.page_size())?;
        let items = items.into_iter().map(|(n, v)| model.version_json(&metastore, *n, v)).collect();
        Ok(listed("model_versions", items, next))
    })
}

pub(super) fn version_of(model: &RegisteredModel, version: &str) -> Result<i64, UcError> {
    let number: i64 = version.parse().map_err(|_| UcError::Invalid(format!("Invalid version '{version}'.")))?;
    if !model.versions.contains_key(&number) {
        return Err(UcError::Missing(
            "MODEL_VERSION",
            format!("Model version {number} of '{}' does not exist.", model.full_name()),
        ));
    }
    Ok(number)
}

async fn get_version(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path((full_name, version)): Path<(String, String)>,
) -> Response {
    with_caller(&ws, &headers, "models.versions.get", |who| {
        let metastore = ws.metastore.read();
        let model = readable(&metastore, who, &full_name)?;
        let number = version_of(model, &version)?;
        Ok(Json(model.version_json(&metastore, number, &model.versions[&number])).into_response())
    })
}

/// UpdateModelVersionRequest: the comment is what may change; the
/// version's identity and output-only fields a client echoes are ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct UpdateVersion {
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    full_name: Option<Value>,
    #[serde(default)]
    version: Option<Value>,
    #[serde(default)]
    aliases: Option<Value>,
    #[serde(default)]
    catalog_name: Option<Value>,
    #[serde(default)]
    schema_name: Option<Value>,
    #[serde(default)]
    model_name: Option<Value>,
    #[serde(default)]
    created_at: Option<Value>,
    #[serde(default)]
    created_by: Option<Value>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    metastore_id: Option<Value>,
    #[serde(default)]
    model_version_dependencies: Option<Value>,
    #[serde(default)]
    run_id: Option<Value>,
    #[serde(default)]
    run_workspace_id: Option<Value>,
    #[serde(default)]
    source: Option<Value>,
    #[serde(default)]
    status: Option<Value>,
    #[serde(default)]
    storage_location: Option<Value>,
    #[serde(default)]
    updated_at: Option<Value>,
    #[serde(default)]
    updated_by: Option<Value>,
}

async fn update_version(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path((full_name, version)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    with_caller(&ws, &headers, "models.versions.update", |who| {
        let request: UpdateVersion = parse(&body)?;
        let mut metastore = ws.metastore.write();
        let model = manageable(&metastore, who, &full_name)?;
        let number = version_of(model, &version)?;
        let model = metastore.models.get_mut(&full_name).ok_or_else(|| missing(&full_name))?;
        if let Some(comment) = request.comment {
            if let Some(v) = model.versions.get_mut(&number) {
                v.comment = Some(comment).filter(|c| !c.is_empty());
            }
        }
        let model = model.clone();
        Ok(Json(model.version_json(&metastore, number, &model.versions[&number])).into_response())
    })
}

async fn get_by_alias(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path((full_name, alias)): Path<(String, String)>,
) -> Response {
    with_caller(&ws, &headers, "models.aliases.get", |who| {
        let metastore = ws.metastore.read();
        let model = readable(&metastore, who, &full_name)?;
        let number = *model.aliases.get(&alias).ok_or_else(|| {
            UcError::Missing("MODEL_VERSION", format!("Alias '{alias}' of '{full_name}' does not exist."))
        })?;
        Ok(Json(model.version_json(&metastore, number, &model.versions[&number])).into_response())
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SetAlias {
    version_num: i64,
    #[serde(default)]
    full_name: Option<Value>,
    #[serde(default)]
    alias: Option<Value>,
}

async fn set_alias(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path((full_name, alias)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    with_caller(&ws, &headers, "models.aliases.set", |who| {
        let request: SetAlias = parse(&body)?;
        if alias.is_empty() || alias.contains(['.', ' ', '/']) {
            return Err(UcError::Invalid(format!("Invalid alias '{alias}'.")));
        }
        let mut metastore = ws.metastore.write();
        let model = manageable(&metastore, who, &full_name)?;
        let number = version_of(model, &request.version_num.to_string())?;
        let model = metastore.models.get_mut(&full_name).ok_or_else(|| missing(&full_name))?;
        model.aliases.insert(alias.clone(), number);
        Ok(Json(json!({"alias_name": alias, "version_num": number})).into_response())
    })
}

async fn delete_alias(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path((full_name, alias)): Path<(String, String)>,
) -> Response {
    with_caller(&ws, &headers, "models.aliases.delete", |who| {
        let mut metastore = ws.metastore.write();
        manageable(&metastore, who, &full_name)?;
        let model = metastore.models.get_mut(&full_name).ok_or_else(|| missing(&full_name))?;
        model.aliases.remove(&alias);
        Ok(Json(json!({})).into_response())
    })
}
