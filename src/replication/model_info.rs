//! Registered models as plain data: what a snapshot holds of one and what an
//! action changes on one (with the REST call it is). A leaf the snapshot,
//! the plan, the renderer and `models.rs` share.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// principal → privileges (`snapshot::Grants`, spelled out: the snapshot
/// holds models, so this leaf does not name it).
type Grants = BTreeMap<String, std::collections::BTreeSet<String>>;
/// key → value (`snapshot::Tags`).
type Tags = BTreeMap<String, String>;

/// The MLflow client's Unity Catalog registry endpoints for version tags
/// (`databricks_uc_registry_service.proto`): the `/api/2.1/unity-catalog`
/// API has none.
const VERSION_TAGS: &str = "/api/2.0/mlflow/unity-catalog/model-versions/tags";

/// One registered model, as replication sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelInfo {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    pub owner: String,
    pub comment: Option<String>,
    /// By version number.
    pub versions: BTreeMap<i64, VersionInfo>,
    /// Alias → version number.
    pub aliases: BTreeMap<String, i64>,
    /// Direct grants (EXECUTE, APPLY TAG, MANAGE…): a registered model is
    /// a securable of type FUNCTION (`GRANT … ON FUNCTION`, the permissions
    /// API's `function`).
    pub grants: Grants,
    /// The read did not ask for its grants (`status`, `verify`): `grants`
    /// is empty but unknown, never compared nor planned from.
    pub grants_unread: bool,
}

impl ModelInfo {
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.name)
    }
}

/// One model version: where its files came from, its comment and status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionInfo {
    pub source: Option<String>,
    pub run_id: Option<String>,
    pub comment: Option<String>,
    pub status: Option<String>,
    /// Its tags (MLflow's model version tags), `None` when not read.
    pub tags: Option<Tags>,
}

/// What an action does to a registered model.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum ModelChange {
    /// `POST /models`: the model, without versions.
    Create { comment: Option<String> },
    /// `PATCH /models/{full_name}`: its comment (`Some("")` clears it) and
    /// owner, each when given.
    Update { comment: Option<String>, owner: Option<String> },
    /// `PATCH …/versions/{version}`: a version's comment.
    VersionComment { version: i64, comment: String },
    /// `PUT …/aliases/{alias}`.
    SetAlias { alias: String, version: i64 },
    /// `DELETE …/aliases/{alias}`.
    DeleteAlias { alias: String },
    /// `POST /api/2.0/mlflow/unity-catalog/model-versions/tags`: one tag of
    /// a version, set (or replaced).
    SetVersionTag { version: i64, key: String, value: String },
    /// `DELETE` of the same: a tag only the secondary's version has.
    DeleteVersionTag { version: i64, key: String },
}

impl ModelChange {
    pub fn describe(&self, model: &str) -> String {
        match self {
            ModelChange::Create { .. } => format!("create registered model {model}"),
            ModelChange::Update { owner: Some(owner), .. } => {
                format!("set owner of registered model {model} to {owner}")
            }
            ModelChange::Update { .. } => format!("set the comment of registered model {model}"),
            ModelChange::VersionComment { version, .. } => {
                format!("set the comment of version {version} of registered model {model}")
            }
            ModelChange::SetAlias { alias, version } => {
                format!("point alias {alias} of registered model {model} at version {version}")
            }
            ModelChange::DeleteAlias { alias } => format!("delete alias {alias} of registered model {model}"),
            ModelChange::SetVersionTag { version, key, .. } => {
                format!("set tag {key} of version {version} of registered model {model}")
            }
            ModelChange::DeleteVersionTag { version, key } => {
                format!("delete tag {key} of version {version} of registered model {model}")
            }
        }
    }

    /// The REST call: method, path below the workspace URL, body.
    pub fn request(&self, path: &[String]) -> (&'static str, String, Option<Value>) {
        let full_name = path.join(".");
        let model = format!("/api/2.1/unity-catalog/models/{}", crate::databricks::segment(&full_name));
        match self {
            ModelChange::Create { comment } => {
                let mut body = json!({ "catalog_name": path[0], "schema_name": path[1], "name": path[2] });
                if let Some(comment) = comment {
                    body["comment"] = json!(comment);
                }
                ("POST", "/api/2.1/unity-catalog/models".into(), Some(body))
            }
            ModelChange::Update { comment, owner } => {
                let mut body = json!({});
                if let Some(comment) = comment {
                    body["comment"] = json!(comment);
                }
                if let Some(owner) = owner {
                    body["owner"] = json!(owner);
                }
                ("PATCH", model, Some(body))
            }
            ModelChange::VersionComment { version, comment } => {
                ("PATCH", format!("{model}/versions/{version}"), Some(json!({ "comment": comment })))
            }
            ModelChange::SetAlias { alias, version } => (
                "PUT",
                format!("{model}/aliases/{}", crate::databricks::segment(alias)),
                Some(json!({ "version_num": version })),
            ),
            ModelChange::DeleteAlias { alias } => {
                ("DELETE", format!("{model}/aliases/{}", crate::databricks::segment(alias)), None)
            }
            ModelChange::SetVersionTag { version, key, value } => (
                "POST",
                VERSION_TAGS.into(),
                Some(json!({ "name": full_name, "version": version.to_string(), "key": key, "value": value })),
            ),
            ModelChange::DeleteVersionTag { .. } => ("DELETE", VERSION_TAGS.into(), None),
        }
    }

    /// The query of the call (a DELETE names what it deletes there, as the
    /// SDK sends MLflow's deletes).
    pub fn query(&self, path: &[String]) -> Vec<(&'static str, String)> {
        match self {
            ModelChange::DeleteVersionTag { version, key } => {
                vec![("name", path.join(".")), ("version", version.to_string()), ("key", key.clone())]
            }
            _ => Vec::new(),
        }
    }
}
