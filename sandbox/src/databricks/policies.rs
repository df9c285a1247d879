//! Cluster policies (Cluster Policies API 2.0):
//!
//! - `GET /api/2.0/policies/clusters/list` → `{policies: [{policy_id, name,
//!   definition, description?, max_clusters_per_user?, policy_family_id?,
//!   policy_family_definition_overrides?, created_at_timestamp,
//!   creator_user_name}]}` (not paginated; `sort_order`, `sort_column`);
//! - `GET /api/2.0/policies/clusters/get?policy_id=`;
//! - `POST /api/2.0/policies/clusters/create {name, definition?, description?,
//!   max_clusters_per_user?, policy_family_id?,
//!   policy_family_definition_overrides?}` → `{policy_id}`;
//! - `POST /api/2.0/policies/clusters/edit {policy_id, name, …}` replaces the
//!   policy's settings (`{}`).
//!
//! As documented: only workspace admins create and edit policies (the
//! sandbox: metastore admins); a name is unique; `definition` is a JSON
//! document (an object) and may not be given with `policy_family_id`, whose
//! policies take `policy_family_definition_overrides` instead. Sources: REST
//! reference, Cluster Policies › Create / Edit / List; "Cluster policy
//! definitions reference" (FIDELITY.md, "Cluster policies").

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{databricks_error, Workspace};

/// The policy families Azure Databricks ships.
const FAMILIES: &[&str] = &["personal-vm", "shared-compute", "power-user", "job-cluster", "shared-data-science"];

/// One policy, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub policy_id: String,
    pub name: String,
    pub definition: Option<String>,
    pub description: Option<String>,
    pub max_clusters_per_user: Option<i64>,
    pub policy_family_id: Option<String>,
    pub policy_family_definition_overrides: Option<String>,
    pub creator_user_name: String,
    pub created_at_timestamp: i64,
}

/// The workspace's cluster policies.
#[derive(Default)]
pub struct Policies {
    list: Mutex<Vec<Policy>>,
}

impl Policies {
    pub fn all(&self) -> Vec<Policy> {
        self.list.lock().clone()
    }

    fn add(&self, name: &str, definition: Option<&str>, family: Option<(&str, &str)>) {
        let mut list = self.list.lock();
        let policy_id = format!("{:016X}", 0xD0C5_0000_u64 + list.len() as u64 * 7 + name.len() as u64);
        list.push(Policy {
            policy_id,
            name: name.into(),
            definition: definition.map(str::to_string),
            description: Some(format!("{name} (seeded)")),
            max_clusters_per_user: None,
            policy_family_id: family.map(|f| f.0.to_string()),
            policy_family_definition_overrides: family.map(|f| f.1.to_string()),
            creator_user_name: "admin@contoso.com".into(),
            created_at_timestamp: 1_760_000_000_000,
        });
    }

    /// The primary's policies; the secondary has one with an older definition.
    pub fn seed(&self, primary: bool) {
        let jobs = if primary {
            r#"{"spark_version":{"type":"unlimited","defaultValue":"auto:latest-lts"},"node_type_id":{"type":"allowlist","values":["Standard_D4ds_v5","Standard_D8ds_v5"]},"autotermination_minutes":{"type":"fixed","value":30}}"#
        } else {
            r#"{"spark_version":{"type":"unlimited","defaultValue":"auto:latest-lts"},"node_type_id":{"type":"fixed","value":"Standard_D4ds_v5"}}"#
        };
        self.add("Jobs compute", Some(jobs), None);
        if primary {
            self.add(
                "Small interactive",
                Some(r#"{"num_workers":{"type":"range","maxValue":4},"custom_tags.team":{"type":"fixed","value":"analytics"}}"#),
                None,
            );
            self.add(
                "Personal compute (analysts)",
                None,
                Some(("personal-vm", r#"{"node_type_id":{"type":"fixed","value":"Standard_DS3_v2"}}"#)),
            );
        }
    }
}

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.0/policies/clusters/list", get(list))
        .route("/api/2.0/policies/clusters/get", get(one))
        .route("/api/2.0/policies/clusters/create", post(create))
        .route("/api/2.0/policies/clusters/edit", post(edit))
}

fn invalid(message: &str) -> Response {
    databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
}

fn to_json(policy: &Policy) -> Value {
    let mut body = json!({
        "policy_id": policy.policy_id,
        "name": policy.name,
        "creator_user_name": policy.creator_user_name,
        "created_at_timestamp": policy.created_at_timestamp,
        "is_default": false,
    });
    for (key, value) in [
        ("definition", &policy.definition),
        ("description", &policy.description),
        ("policy_family_id", &policy.policy_family_id),
        ("policy_family_definition_overrides", &policy.policy_family_definition_overrides),
    ] {
        if let Some(value) = value {
            body[key] = json!(value);
        }
    }
    if let Some(max) = policy.max_clusters_per_user {
        body["max_clusters_per_user"] = json!(max);
    }
    body
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    sort_order: Option<String>,
    #[serde(default)]
    sort_column: Option<String>,
}

async fn list(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refusal) = ws.caller(&headers, "policies.clusters.list") {
        return refusal;
    }
    let Ok(Query(query)) = query else { return invalid("list takes sort_order and sort_column.") };
    let mut all = ws.policies.all();
    match query.sort_column.as_deref() {
        None | Some("POLICY_CREATION_TIME") => all.sort_by_key(|p| p.created_at_timestamp),
        Some("POLICY_NAME") => all.sort_by(|a, b| a.name.cmp(&b.name)),
        Some(other) => return invalid(&format!("sort_column {other} is not POLICY_CREATION_TIME or POLICY_NAME.")),
    }
    match query.sort_order.as_deref() {
        None | Some("DESC") => all.reverse(),
        Some("ASC") => {}
        Some(other) => return invalid(&format!("sort_order {other} is not ASC or DESC.")),
    }
    Json(json!({ "policies": all.iter().map(to_json).collect::<Vec<_>>() })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdQuery {
    policy_id: String,
}

async fn one(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    query: Result<Query<IdQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refusal) = ws.caller(&headers, "policies.clusters.get") {
        return refusal;
    }
    let Ok(Query(query)) = query else { return invalid("get takes policy_id.") };
    match ws.policies.all().iter().find(|p| p.policy_id == query.policy_id) {
        Some(policy) => Json(to_json(policy)).into_response(),
        None => databricks_error(
            StatusCode::BAD_REQUEST,
            "RESOURCE_DOES_NOT_EXIST",
            &format!("Cluster policy {} does not exist.", query.policy_id),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    policy_id: Option<String>,
    name: String,
    #[serde(default)]
    definition: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    max_clusters_per_user: Option<i64>,
    #[serde(default)]
    policy_family_id: Option<String>,
    #[serde(default)]
    policy_family_definition_overrides: Option<String>,
}

/// The settings checked as the API checks them, or the refusal.
fn check(ws: &Workspace, headers: &HeaderMap, endpoint: &str, body: &[u8]) -> Result<(Settings, String), Response> {
    let caller = ws.caller(headers, endpoint)?;
    let settings: Settings = serde_json::from_slice(body).map_err(|e| invalid(&format!("Invalid request: {e}")))?;
    if !ws.metastore.read().is_admin(&ws.principal(&caller)) {
        return Err(databricks_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Only workspace admins may create or edit cluster policies.",
        ));
    }
    if settings.name.trim().is_empty() || settings.name.len() > 100 {
        return Err(invalid("name must be 1 to 100 characters."));
    }
    let is_object = |text: &str| serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object());
    match (&settings.definition, &settings.policy_family_id) {
        (Some(_), Some(_)) => return Err(invalid("definition cannot be given with policy_family_id.")),
        (Some(definition), None) if !is_object(definition) => {
            return Err(invalid("definition is not a JSON object of policy rules."))
        }
        (None, Some(family)) if !FAMILIES.contains(&family.as_str()) => {
            return Err(invalid(&format!("Policy family {family} does not exist.")))
        }
        (_, None) if settings.policy_family_definition_overrides.is_some() => {
            return Err(invalid("policy_family_definition_overrides needs policy_family_id."))
        }
        _ => {}
    }
    if settings.policy_family_definition_overrides.as_deref().is_some_and(|o| !is_object(o)) {
        return Err(invalid("policy_family_definition_overrides is not a JSON object."));
    }
    if settings.max_clusters_per_user.is_some_and(|n| n < 0) {
        return Err(invalid("max_clusters_per_user must not be negative."));
    }
    Ok((settings, ws.principal(&caller).name))
}

async fn create(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    let (settings, creator) = match check(&ws, &headers, "policies.clusters.create", &body) {
        Ok(checked) => checked,
        Err(refusal) => return refusal,
    };
    if settings.policy_id.is_some() {
        return invalid("create takes no policy_id.");
    }
    let mut list = ws.policies.list.lock();
    if list.iter().any(|p| p.name == settings.name) {
        return invalid(&format!("Cluster policy with name {} already exists.", settings.name));
    }
    let policy_id = format!("{:016X}", rand::random::<u64>());
    list.push(Policy {
        policy_id: policy_id.clone(),
        name: settings.name,
        definition: settings.definition.or_else(|| settings.policy_family_id.is_none().then(|| "{}".to_string())),
        description: settings.description,
        max_clusters_per_user: settings.max_clusters_per_user,
        policy_family_id: settings.policy_family_id,
        policy_family_definition_overrides: settings.policy_family_definition_overrides,
        creator_user_name: creator,
        created_at_timestamp: chrono::Utc::now().timestamp_millis(),
    });
    Json(json!({ "policy_id": policy_id })).into_response()
}

async fn edit(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    let (settings, _) = match check(&ws, &headers, "policies.clusters.edit", &body) {
        Ok(checked) => checked,
        Err(refusal) => return refusal,
    };
    let Some(policy_id) = settings.policy_id.clone() else { return invalid("edit needs policy_id.") };
    let mut list = ws.policies.list.lock();
    if list.iter().any(|p| p.name == settings.name && p.policy_id != policy_id) {
        return invalid(&format!("Cluster policy with name {} already exists.", settings.name));
    }
    let Some(policy) = list.iter_mut().find(|p| p.policy_id == policy_id) else {
        return databricks_error(
            StatusCode::BAD_REQUEST,
            "RESOURCE_DOES_NOT_EXIST",
            &format!("Cluster policy {policy_id} does not exist."),
        );
    };
    // Edit replaces the settings whole: what is not sent is cleared.
    policy.name = settings.name;
    policy.definition = settings.definition.or_else(|| settings.policy_family_id.is_none().then(|| "{}".to_string()));
    policy.description = settings.description;
    policy.max_clusters_per_user = settings.max_clusters_per_user;
    policy.policy_family_id = settings.policy_family_id;
    policy.policy_family_definition_overrides = settings.policy_family_definition_overrides;
    Json(json!({})).into_response()
}
