//! Unity Catalog registered models (MLflow models in Unity Catalog): the
//! REST reference's Registered Models and Model Versions endpoints under
//! `/api/2.1/unity-catalog/models`.
//!
//! What this API can do and cannot: it lists, reads, creates, updates and
//! deletes registered models, reads, updates (comment) and deletes model
//! versions, and sets and deletes aliases. It creates no model version:
//! "Creating new model versions requires use of the MLflow Python client"
//! (Registered Models reference), which uploads the artifacts itself. So a
//! version's files cannot be copied through it (see `src/replication/models.rs`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{segment, DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

const MODELS: &str = "/api/2.1/unity-catalog/models";

/// The MLflow client's Unity Catalog registry (`databricks_uc_registry_service.proto`
/// in mlflow/mlflow): where a model version's tags are read and written.
const UC_REGISTRY: &str = "/api/2.0/mlflow/unity-catalog";

/// RegisteredModelInfo, as far as replication reads it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct RegisteredModel {
    pub name: String,
    pub catalog_name: String,
    pub schema_name: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub storage_location: Option<String>,
    /// Only a GET with `include_aliases=true` carries them.
    #[serde(default)]
    pub aliases: Vec<ModelAlias>,
}

impl RegisteredModel {
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog_name, self.schema_name, self.name)
    }
}

/// RegisteredModelAlias: a name pointing at one version.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct ModelAlias {
    pub alias_name: String,
    pub version_num: i64,
}

/// ModelVersionInfo, as far as replication reads it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ModelVersion {
    pub version: i64,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    /// `PENDING_REGISTRATION`, `FAILED_REGISTRATION`, `READY`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub storage_location: Option<String>,
}

/// `GetModelVersionResponse` of the MLflow registry, as far as its tags.
#[derive(Deserialize)]
struct RegistryVersion {
    model_version: RegistryVersionBody,
}

#[derive(Deserialize)]
struct RegistryVersionBody {
    #[serde(default)]
    tags: Vec<VersionTag>,
}

/// `ModelVersionTag`: a key and a value (which may be empty).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct VersionTag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

impl WorkspaceClient {
    /// A model version's tags: `GET …/model-versions/get?name=&version=`
    /// (the version number as a string, as the registry's messages carry it).
    pub async fn model_version_tags(
        &self,
        token: &AccessToken,
        full_name: &str,
        version: i64,
    ) -> Result<Vec<VersionTag>, DatabricksError> {
        let query = [("name", full_name.to_string()), ("version", version.to_string())];
        let answer: RegistryVersion = self.get(&format!("{UC_REGISTRY}/model-versions/get"), &query, token).await?;
        Ok(answer.model_version.tags)
    }

    /// `POST …/model-versions/tags`: sets (or replaces) one tag of a version.
    pub async fn set_model_version_tag(
        &self,
        token: &AccessToken,
        full_name: &str,
        version: i64,
        key: &str,
        value: &str,
    ) -> Result<(), DatabricksError> {
        let body = json!({ "name": full_name, "version": version.to_string(), "key": key, "value": value });
        let _: serde_json::Value = self.post(&format!("{UC_REGISTRY}/model-versions/tags"), body, token).await?;
        Ok(())
    }

    /// `DELETE …/model-versions/tags?name=&version=&key=`.
    pub async fn delete_model_version_tag(
        &self,
        token: &AccessToken,
        full_name: &str,
        version: i64,
        key: &str,
    ) -> Result<(), DatabricksError> {
        let query = [("name", full_name.to_string()), ("version", version.to_string()), ("key", key.to_string())];
        self.delete(&format!("{UC_REGISTRY}/model-versions/tags"), &query, token).await
    }

    /// The registered models of one schema, every page.
    pub async fn list_models(
        &self,
        token: &AccessToken,
        catalog: &str,
        schema: &str,
    ) -> Result<Vec<RegisteredModel>, DatabricksError> {
        let query = [("catalog_name", catalog.to_string()), ("schema_name", schema.to_string())];
        self.list_all(MODELS, &query, "registered_models", token).await
    }

    /// Every registered model of the metastore the caller may see, every
    /// page (a list naming neither catalog nor schema, Registered Models ›
    /// List): one call for a whole read where a list per schema would be many.
    pub async fn list_metastore_models(&self, token: &AccessToken) -> Result<Vec<RegisteredModel>, DatabricksError> {
        self.list_all(MODELS, &[], "registered_models", token).await
    }

    /// One registered model with its aliases.
    pub async fn get_model(&self, token: &AccessToken, full_name: &str) -> Result<RegisteredModel, DatabricksError> {
        let path = format!("{MODELS}/{}", segment(full_name));
        self.get(&path, &[("include_aliases", "true".to_string())], token).await
    }

    /// Every version of a registered model.
    pub async fn list_model_versions(
        &self,
        token: &AccessToken,
        full_name: &str,
    ) -> Result<Vec<ModelVersion>, DatabricksError> {
        self.list_all(&format!("{MODELS}/{}/versions", segment(full_name)), &[], "model_versions", token).await
    }

    /// `POST /models`: a registered model without versions.
    pub async fn create_model(
        &self,
        token: &AccessToken,
        catalog: &str,
        schema: &str,
        name: &str,
        comment: Option<&str>,
    ) -> Result<RegisteredModel, DatabricksError> {
        let mut body = json!({ "catalog_name": catalog, "schema_name": schema, "name": name });
        if let Some(comment) = comment {
            body["comment"] = json!(comment);
        }
        self.post(MODELS, body, token).await
    }

    /// `PATCH /models/{full_name}`: comment and owner (each when given); the
    /// answer must show them, or the update is a protocol error.
    pub async fn update_model(
        &self,
        token: &AccessToken,
        full_name: &str,
        comment: Option<&str>,
        owner: Option<&str>,
    ) -> Result<RegisteredModel, DatabricksError> {
        let mut body = json!({});
        if let Some(comment) = comment {
            body["comment"] = json!(comment);
        }
        if let Some(owner) = owner {
            body["owner"] = json!(owner);
        }
        let answer: RegisteredModel = self.patch(&format!("{MODELS}/{}", segment(full_name)), body, token).await?;
        let comment_shown = comment.is_none_or(|c| answer.comment.as_deref().unwrap_or_default() == c);
        let owner_shown = owner.is_none_or(|o| answer.owner.as_deref() == Some(o));
        if !(comment_shown && owner_shown) {
            return Err(DatabricksError::Protocol(format!(
                "the update of model {full_name} was accepted but its answer does not show it"
            )));
        }
        Ok(answer)
    }

    /// `PATCH /models/{full_name}/versions/{version}`: the version's comment.
    pub async fn update_model_version(
        &self,
        token: &AccessToken,
        full_name: &str,
        version: i64,
        comment: &str,
    ) -> Result<ModelVersion, DatabricksError> {
        let path = format!("{MODELS}/{}/versions/{version}", segment(full_name));
        self.patch(&path, json!({ "comment": comment }), token).await
    }

    /// `PUT /models/{full_name}/aliases/{alias}`: points the alias at `version`.
    pub async fn set_model_alias(
        &self,
        token: &AccessToken,
        full_name: &str,
        alias: &str,
        version: i64,
    ) -> Result<ModelAlias, DatabricksError> {
        let path = format!("{MODELS}/{}/aliases/{}", segment(full_name), segment(alias));
        self.put(&path, json!({ "version_num": version }), token).await
    }

    /// `DELETE /models/{full_name}/aliases/{alias}`.
    pub async fn delete_model_alias(
        &self,
        token: &AccessToken,
        full_name: &str,
        alias: &str,
    ) -> Result<(), DatabricksError> {
        self.delete(&format!("{MODELS}/{}/aliases/{}", segment(full_name), segment(alias)), &[], token).await
    }
}
