//! Azure Resource Manager at resource-group scope, the start of it:
//! deployments (PUT, GET, cancel), deployment operations that follow the
//! template's resources in `dependsOn` order over time, What-If against what
//! the resource group holds, `Azure-AsyncOperation`/`Location`/`Retry-After`
//! headers, failure injection for a resource type, ARM's error shape and an
//! RBAC rule (members of `dr-operators` may write).
//!
//! Templates are validated and evaluated as ARM does before it deploys:
//! parameters supplied, defaulted or refused (undeclared, missing, outside
//! `allowedValues`); names, `dependsOn`, `condition`, `scope`,
//! `resourceGroup` and properties evaluated with ARM's functions
//! (`parameters`, `variables`, `concat`, `format`, `resourceId` and
//! `subscriptionResourceId` with their optional subscription and group,
//! `resourceGroup()`, `subscription()`, `environment()`, `guid`, `if`,
//! `equals`, `not`, `and`, `or`, `empty`, `toLower`, `toUpper`, `string`, `cidrHost`,
//! property access and indexing). `reference()` in `outputs` gives the
//! resource's properties with what Azure would add at runtime (a vault's
//! `vaultUri`, a key's `keyUriWithVersion`, and whatever a test set with
//! [`Arm::set_runtime_properties`]); elsewhere runtime functions such as
//! `reference()` and `listKeys()` leave their expression as written. A nested deployment is one
//! resource (in its `resourceGroup`); its inner template is not expanded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use crate::caller::{AccessTokenVerifier, Caller};
use crate::directory::DR_OPERATORS_GROUP;
use crate::faults::{Fault, Faults};

/// The audience of ARM tokens.
pub const ARM_AUDIENCE: &str = "https://management.azure.com";
/// API versions of Microsoft.Resources the stand-in speaks.
pub const API_VERSIONS: &[&str] = &["2024-03-01", "2024-07-01", "2025-03-01", "2025-04-01"];

#[derive(Clone, Debug)]
struct Planned {
    id: String,
    resource_type: String,
    name: String,
    start: Duration,
    end: Duration,
    fails: bool,
    /// Why the resource provider refuses this resource (code, message), when it does.
    error: Option<(String, String)>,
    /// Indices of the resources this one waits for.
    after: Vec<usize>,
    properties: Value,
}

struct Deployment {
    name: String,
    resource_group: String,
    started: Instant,
    timestamp: String,
    resources: Vec<Planned>,
    cancelled_after: Option<Duration>,
    persisted: bool,
    /// The template's outputs, evaluated; shown once the deployment succeeded.
    outputs: Map<String, Value>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Progress {
    NotStarted,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl Deployment {
    fn progress(&self) -> Vec<Progress> {
        let now = self.started.elapsed();
        let cut = self.cancelled_after.map_or(now, |c| c.min(now));
        let mut progress = vec![Progress::NotStarted; self.resources.len()];
        // In schedule order, so that a resource's dependencies are judged before it whatever
        // their place in the template (ARM does not ask templates to list them first).
        let mut order: Vec<usize> = (0..self.resources.len()).collect();
        order.sort_by_key(|i| self.resources[*i].start);
        for i in order {
            let resource = &self.resources[i];
            let blocked = resource
                .after
                .iter()
                .any(|d| progress[*d] != Progress::Succeeded && self.resources[*d].end <= resource.start);
            let upstream_failed =
                resource.after.iter().any(|d| matches!(progress[*d], Progress::Failed | Progress::Canceled));
            progress[i] = if blocked || upstream_failed || cut < resource.start {
                Progress::NotStarted
            } else if cut >= resource.end {
                if resource.fails {
                    Progress::Failed
                } else {
                    Progress::Succeeded
                }
            } else if self.cancelled_after.is_some() && now >= cut {
                Progress::Canceled
            } else {
                Progress::Running
            };
        }
        progress
    }

    fn state(&self) -> &'static str {
        let progress = self.progress();
        if progress.contains(&Progress::Failed) && !progress.contains(&Progress::Running) {
            return "Failed";
        }
        if self.cancelled_after.is_some() {
            return "Canceled";
        }
        if progress.iter().all(|p| *p == Progress::Succeeded) {
            return "Succeeded";
        }
        if self.started.elapsed() < Duration::from_millis(5) {
            "Accepted"
        } else {
            "Running"
        }
    }
}

#[derive(Default)]
pub(crate) struct State_ {
    deployments: HashMap<(String, String), Deployment>,
    /// What the resource groups hold: id → properties.
    resources: HashMap<String, Value>,
    /// Resources written directly (not by a deployment): id → the whole body.
    pub(crate) direct: HashMap<String, Value>,
    /// Every direct write, as `METHOD id`, in order.
    pub(crate) writes: Vec<String>,
    what_ifs: HashMap<String, Value>,
}

pub struct Arm {
    verifier: Arc<dyn AccessTokenVerifier>,
    pub subscription_id: String,
    base_url: Mutex<String>,
    pub(crate) state: Mutex<State_>,
    failing_type: Mutex<Option<String>>,
    resource_duration: Mutex<Duration>,
    /// Runtime properties by resource id (lowercase), for `reference()` in outputs.
    runtime: Mutex<HashMap<String, Value>>,
    /// Every deployment PUT accepted, as `resource group/name`.
    puts: Mutex<Vec<String>>,
    /// Latency, throttling and transient failures of every ARM call.
    pub faults: Faults,
    /// Storage accounts and their failovers (`arm_storage.rs`).
    pub(crate) storage: Mutex<crate::arm_storage::Accounts>,
    /// Private DNS zones and their record sets (`arm_dns.rs`).
    pub(crate) dns: Mutex<crate::arm_dns::Zones>,
}

impl Arm {
    pub fn new(verifier: Arc<dyn AccessTokenVerifier>, subscription_id: &str) -> Arc<Arm> {
        Arc::new(Arm {
            verifier,
            subscription_id: subscription_id.to_string(),
            base_url: Mutex::new(String::new()),
            state: Mutex::new(State_::default()),
            failing_type: Mutex::new(None),
            puts: Mutex::new(Vec::new()),
            resource_duration: Mutex::new(Duration::from_millis(100)),
            runtime: Mutex::new(HashMap::new()),
            faults: Faults::new(0xa2e0),
            storage: Mutex::new(Default::default()),
            dns: Mutex::new(Default::default()),
        })
    }

    pub fn set_base_url(&self, base: &str) {
        *self.base_url.lock() = base.trim_end_matches('/').to_string();
    }

    /// Where the sandbox's ARM is served (for `Location` headers).
    pub(crate) fn base_url(&self) -> String {
        self.base_url.lock().clone()
    }

    /// Deployments started from now on fail at resources of this type.
    pub fn fail_resource_type(&self, resource_type: Option<&str>) {
        *self.failing_type.lock() = resource_type.map(str::to_string);
    }

    /// How long each resource takes to provision.
    pub fn set_resource_duration(&self, duration: Duration) {
        *self.resource_duration.lock() = duration;
    }

    /// Properties Azure gives a resource once it exists (a workspace's
    /// `workspaceUrl` and `workspaceId`, a firewall's private address), laid
    /// over its template properties where a template's `outputs` call
    /// `reference()` on it: tests point a workspace at a sandbox workspace.
    pub fn set_runtime_properties(&self, resource_group: &str, resource_type: &str, name: &str, properties: Value) {
        let id = resource_id(&self.subscription_id, resource_group, resource_type, name).to_ascii_lowercase();
        self.runtime.lock().insert(id, properties);
    }

    /// Every write made to a resource directly (Azure Bot and its OAuth
    /// connections), as `PUT {id}`: `drbot setup` run twice must write once.
    pub fn resource_writes(&self) -> Vec<String> {
        self.state.lock().writes.clone()
    }

    /// Whether a deployment left a resource with this id (ids compare case-insensitively).
    pub(crate) fn deployed(&self, id: &str) -> bool {
        self.state.lock().resources.keys().any(|k| k.eq_ignore_ascii_case(id))
    }

    /// Every deployment PUT accepted so far (`resource group/name`), in order.
    pub fn deployment_puts(&self) -> Vec<String> {
        self.puts.lock().clone()
    }

    /// Ids of the resources the subscription holds.
    pub fn resource_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.state.lock().resources.keys().cloned().collect();
        ids.sort();
        ids
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let mut router = Router::new();
        for rg in ["resourcegroups", "resourceGroups"] {
            let deployment =
                format!("/subscriptions/{{sub}}/{rg}/{{rg}}/providers/Microsoft.Resources/deployments/{{name}}");
            router = router
                .route(&deployment, put(create_deployment).get(get_deployment))
                .route(&format!("{deployment}/cancel"), post(cancel_deployment))
                .route(&format!("{deployment}/validate"), post(validate_deployment))
                .route(&format!("{deployment}/whatIf"), post(what_if))
                .route(
                    &format!("/subscriptions/{{sub}}/{rg}/{{rg}}/deployments/{{name}}/operations"),
                    get(list_operations),
                )
                .route(&format!("{deployment}/operations"), get(list_operations))
                .route(&format!("{deployment}/operationStatuses/{{operation}}"), get(operation_status));
        }
        router
            .merge(crate::bot_service::routes())
            .merge(crate::arm_storage::routes())
            .merge(crate::arm_dns::routes())
            .route(
                "/subscriptions/{sub}/providers/Microsoft.Resources/locations/{location}/whatIfResults/{id}",
                get(what_if_result),
            )
            .route("/subscriptions/{sub}/locations", get(crate::arm_locations::list_locations))
            .layer(axum::middleware::from_fn_with_state(self.clone(), inject_faults))
            .with_state(self.clone())
    }

    fn caller(&self, headers: &HeaderMap, query: &Option<String>) -> Result<Caller, Response> {
        self.caller_for(headers, query, API_VERSIONS)
    }

    /// The caller, for a resource provider that speaks `versions`.
    pub(crate) fn caller_for(
        &self,
        headers: &HeaderMap,
        query: &Option<String>,
        versions: &[&str],
    ) -> Result<Caller, Response> {
        let version = params(query).get("api-version").cloned().unwrap_or_default();
        if !versions.contains(&version.as_str()) {
            return Err(arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidApiVersionParameter",
                &format!(
                    "The api-version '{version}' is invalid. The supported versions are '{}'.",
                    versions.join(",")
                ),
            ));
        }
        let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        token.and_then(|t| self.verifier.verify(t, ARM_AUDIENCE)).ok_or_else(|| {
            arm_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", "The access token is invalid.")
        })
    }

    fn writer(
        &self,
        headers: &HeaderMap,
        query: &Option<String>,
        action: &str,
        scope: &str,
    ) -> Result<Caller, Response> {
        self.writer_for(headers, query, API_VERSIONS, action, scope)
    }

    /// A caller allowed to write (the app itself or `dr-operators`), for a
    /// resource provider that speaks `versions`.
    pub(crate) fn writer_for(
        &self,
        headers: &HeaderMap,
        query: &Option<String>,
        versions: &[&str],
        action: &str,
        scope: &str,
    ) -> Result<Caller, Response> {
        let caller = self.caller_for(headers, query, versions)?;
        if caller.is_app || caller.groups.iter().any(|g| g == DR_OPERATORS_GROUP) {
            Ok(caller)
        } else {
            Err(arm_error(StatusCode::FORBIDDEN, "AuthorizationFailed", &format!("The client '{}' with object id '{}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid.", caller.upn, caller.oid)))
        }
    }
}

fn params(query: &Option<String>) -> HashMap<String, String> {
    serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default()
}

/// ARM's error body.
pub fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

/// Where a deployment's template functions look: `resourceGroup()` answers with this location,
/// as the sandbox keeps no resource group records of its own.
pub const RESOURCE_GROUP_LOCATION: &str = "westeurope";

/// `value` evaluated as a deployment into `resource_group` would evaluate it before deploying
/// (strings that need the deployment itself, such as `reference()`, stay as written), so that
/// checks of templates outside a deployment see the names and ids ARM would see.
pub fn evaluate(
    subscription_id: &str,
    resource_group: &str,
    parameters: &Map<String, Value>,
    variables: &Map<String, Value>,
    value: &Value,
) -> Value {
    expressions::Scope::new(subscription_id, resource_group, parameters, variables).deep(value)
}

/// The id of a resource of `resource_type` (child types included) named `name` in a group.
fn resource_id(sub: &str, rg: &str, resource_type: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{}", expressions::type_path(resource_type, name))
}

/// The template's `outputs` as ARM reports them: `{name: {type, value}}`,
/// string values evaluated like resource names, `int`/`bool` ones typed.
fn template_outputs(arm: &Arm, rg: &str, body: &Value, resources: &[Planned]) -> Map<String, Value> {
    let properties = &body["properties"];
    let template = &properties["template"];
    let supplied = properties["parameters"].as_object().cloned().unwrap_or_default();
    let parameters = parameter_values(arm, rg, template, &supplied).unwrap_or_default();
    let variables = template["variables"].as_object().cloned().unwrap_or_default();
    let references = runtime_properties(arm, resources);
    let scope = expressions::Scope::new(&arm.subscription_id, rg, &parameters, &variables).with_references(&references);
    let mut outputs = Map::new();
    for (name, output) in template["outputs"].as_object().into_iter().flatten() {
        let kind = output["type"].as_str().unwrap_or("string");
        let value = scope.deep(&output["value"]);
        let value = match (kind.to_ascii_lowercase().as_str(), value) {
            ("int", Value::String(text)) => text.parse::<i64>().map(Value::from).unwrap_or(Value::String(text)),
            ("bool", Value::String(text)) => text.parse::<bool>().map(Value::from).unwrap_or(Value::String(text)),
            (_, value) => value,
        };
        outputs.insert(name.clone(), json!({"type": kind, "value": value}));
    }
    outputs
}

/// What `reference()` gives for each resource of a deployment (ids lowercase):
/// its properties, what Azure adds to vaults and keys, then the test's.
fn runtime_properties(arm: &Arm, resources: &[Planned]) -> Map<String, Value> {
    use sha1::Digest as _;
    let runtime = arm.runtime.lock();
    let mut references = Map::new();
    for resource in resources {
        let mut properties = resource.properties.as_object().cloned().unwrap_or_default();
        let kind = resource.resource_type.to_ascii_lowercase();
        let mut names = resource.name.split('/');
        let vault = names.next().unwrap_or_default();
        if kind == "microsoft.keyvault/vaults" {
            properties.insert("vaultUri".into(), json!(format!("https://{vault}.vault.azure.net/")));
        }
        if kind == "microsoft.keyvault/vaults/keys" {
            let key = names.next().unwrap_or_default();
            let version: String = sha1::Sha1::digest(resource.id.to_ascii_lowercase().as_bytes())
                .iter()
                .take(16)
                .map(|b| format!("{b:02x}"))
                .collect();
            let uri = format!("https://{vault}.vault.azure.net/keys/{key}");
            properties.insert("keyUri".into(), json!(uri));
            properties.insert("keyUriWithVersion".into(), json!(format!("{uri}/{version}")));
        }
        if let Some(Value::Object(extra)) = runtime.get(&resource.id.to_ascii_lowercase()) {
            properties.extend(extra.clone());
        }
        references.insert(resource.id.to_ascii_lowercase(), Value::Object(properties));
    }
    references
}

/// The type (child types joined) and name (child names joined) an id names, after its last
/// `/providers/`, so a `dependsOn` id matches an extension resource whatever its scope.
fn type_and_name(id: &str) -> Option<(String, String)> {
    let at = id.to_ascii_lowercase().rfind("/providers/")?;
    let segments: Vec<&str> = id[at + "/providers/".len()..].split('/').collect();
    let (namespace, rest) = segments.split_first()?;
    if rest.is_empty() || rest.len() % 2 != 0 {
        return None;
    }
    let types: Vec<&str> = rest.iter().step_by(2).copied().collect();
    let names: Vec<&str> = rest.iter().skip(1).step_by(2).copied().collect();
    Some((format!("{namespace}/{}", types.join("/")), names.join("/")))
}

/// The parameters' values as ARM resolves them: supplied, else the default (evaluated); a
/// parameter neither supplied nor defaulted, a supplied one the template does not declare, and
/// a value outside `allowedValues` fail validation as in ARM.
fn parameter_values(
    arm: &Arm,
    rg: &str,
    template: &Value,
    supplied: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let declared = template["parameters"].as_object().cloned().unwrap_or_default();
    if let Some(unknown) = supplied.keys().find(|k| !declared.keys().any(|d| d.eq_ignore_ascii_case(k))) {
        return Err(format!("Deployment template validation failed: 'The template parameters '{unknown}' in the parameters file are not valid; they are not present in the original template and can therefore not be provided at deployment time. The only supported parameters for this template are '{}'.'", declared.keys().cloned().collect::<Vec<_>>().join(", ")));
    }
    let variables = template["variables"].as_object().cloned().unwrap_or_default();
    let mut values = Map::new();
    for (name, declaration) in &declared {
        let given = supplied.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let value = match (given, declaration.get("defaultValue")) {
            // A Key Vault reference: ARM reads the secret at deployment; the sandbox has no vault,
            // so parameters() of it stays as written.
            (Some(given), _) if given.get("reference").is_some() => continue,
            (Some(given), _) => given.get("value").cloned().unwrap_or(Value::Null),
            (None, Some(default)) => {
                expressions::Scope::new(&arm.subscription_id, rg, &values, &variables).deep(default)
            }
            (None, None) => return Err(format!("Deployment template validation failed: 'The value for the template parameter '{name}' at line '1' and column '1' is not provided. Please see https://aka.ms/arm-create-parameter-file for usage details.'")),
        };
        if let Some(allowed) = declaration["allowedValues"].as_array() {
            if !allowed.contains(&value) {
                return Err(format!("Deployment template validation failed: 'The provided value '{value}' for the template parameter '{name}' at line '1' and column '1' is not valid. The parameter value is not part of the allowed value(s): '{}'.'", allowed.iter().map(Value::to_string).collect::<Vec<_>>().join(",")));
            }
        }
        values.insert(name.clone(), value);
    }
    Ok(values)
}

/// The template's resources with their dependencies resolved, scheduled in order. Names,
/// `dependsOn`, `condition`, `scope`, `resourceGroup` and properties are evaluated (a nested
/// deployment's own template is left to itself, as `expressionEvaluationOptions` inner asks);
/// a resource whose condition is false is not deployed and depending on it is no error.
fn plan(arm: &Arm, rg: &str, body: &Value) -> Result<Vec<Planned>, Response> {
    let invalid = |message: String| arm_error(StatusCode::BAD_REQUEST, "InvalidTemplate", &message);
    let properties = &body["properties"];
    let template = &properties["template"];
    let supplied = properties["parameters"].as_object().cloned().unwrap_or_default();
    let values = parameter_values(arm, rg, template, &supplied).map_err(invalid)?;
    let variables = template["variables"].as_object().cloned().unwrap_or_default();
    let scope = expressions::Scope::new(&arm.subscription_id, rg, &values, &variables);
    let Some(resources) = template["resources"].as_array() else {
        return Err(invalid("Deployment template validation failed: the template has no 'resources' array.".into()));
    };
    let duration = *arm.resource_duration.lock();
    let failing = arm.failing_type.lock().clone();
    let mut planned: Vec<Planned> = Vec::new();
    let mut kept: Vec<&Value> = Vec::new();
    let mut skipped: Vec<(String, String)> = Vec::new();
    for resource in resources {
        let (Some(kind), Some(name)) = (resource["type"].as_str(), resource["name"].as_str()) else {
            return Err(invalid("Every resource needs a 'type' and a 'name'.".into()));
        };
        if resource["apiVersion"].as_str().is_none() {
            return Err(invalid(format!("The resource '{kind}' has no apiVersion.")));
        }
        let text = |value: &Value| scope.deep(value).as_str().map(str::to_string);
        let name = text(&json!(name)).unwrap_or_else(|| name.to_string());
        if resource.get("condition").map(|c| scope.deep(c)) == Some(Value::Bool(false)) {
            skipped.push((kind.to_string(), name));
            continue;
        }
        let group = resource.get("resourceGroup").and_then(text).unwrap_or_else(|| rg.to_string());
        let id = match resource.get("scope").and_then(text) {
            Some(target) if target.starts_with('/') => {
                format!("{target}/providers/{}", expressions::type_path(kind, &name))
            }
            Some(target) => format!(
                "/subscriptions/{}/resourceGroups/{group}/providers/{target}/providers/{}",
                arm.subscription_id,
                expressions::type_path(kind, &name)
            ),
            None => resource_id(&arm.subscription_id, &group, kind, &name),
        };
        let mut evaluated = resource["properties"].clone();
        if let Some(fields) = evaluated.as_object_mut() {
            for (key, value) in fields.iter_mut() {
                let nested_template = kind.eq_ignore_ascii_case("Microsoft.Resources/deployments") && key == "template";
                if !nested_template {
                    *value = scope.deep(value);
                }
            }
        }
        planned.push(Planned {
            id,
            resource_type: kind.to_string(),
            name,
            start: Duration::ZERO,
            end: duration,
            fails: failing.as_deref() == Some(kind),
            error: None,
            after: Vec::new(),
            properties: evaluated,
        });
        kept.push(resource);
    }
    for (i, resource) in kept.iter().enumerate() {
        for dependency in resource["dependsOn"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            let evaluated = scope.deep(&json!(dependency)).as_str().unwrap_or(dependency).to_string();
            let (kind, name) = match type_and_name(&evaluated) {
                Some((kind, name)) => (Some(kind), name),
                None => (None, evaluated.clone()),
            };
            let same = |resource_type: &str, resource_name: &str| {
                resource_name == name && kind.as_deref().is_none_or(|k| k.eq_ignore_ascii_case(resource_type))
            };
            let found = planned
                .iter()
                .position(|p| p.id.eq_ignore_ascii_case(&evaluated))
                .or_else(|| planned.iter().position(|p| same(&p.resource_type, &p.name)));
            match found {
                Some(j) if j != i => planned[i].after.push(j),
                None if skipped.iter().any(|(k, n)| same(k, n)) => {}
                _ => return Err(invalid(format!("The resource '{dependency}' is not defined in the template."))),
            }
        }
    }
    // Schedule in dependency order; a cycle is an error, not a loop.
    let mut done = vec![false; planned.len()];
    for _ in 0..planned.len() {
        let Some(i) = (0..planned.len()).find(|i| !done[*i] && planned[*i].after.iter().all(|d| done[*d])) else {
            return Err(invalid(
                "Deployment template validation failed: circular dependency between resources.".into(),
            ));
        };
        let start = planned[i].after.iter().map(|d| planned[*d].end).max().unwrap_or(Duration::ZERO);
        planned[i].start = start;
        planned[i].end = start + duration;
        done[i] = true;
    }
    Ok(planned)
}

/// The planned resources as the network checks see them: (id, type, properties).
fn resources_view(resources: &[Planned]) -> Vec<(String, String, Value)> {
    resources.iter().map(|r| (r.id.clone(), r.resource_type.clone(), r.properties.clone())).collect()
}

fn deployment_json(arm: &Arm, deployment: &Deployment) -> Value {
    let state = deployment.state();
    let mut body = json!({
        "id": format!("/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Resources/deployments/{}", arm.subscription_id, deployment.resource_group, deployment.name),
        "name": deployment.name,
        "type": "Microsoft.Resources/deployments",
        "properties": {"provisioningState": state, "mode": "Incremental", "timestamp": deployment.timestamp, "correlationId": uuid::Uuid::new_v4()},
    });
    if state == "Succeeded" && !deployment.outputs.is_empty() {
        body["properties"]["outputs"] = Value::Object(deployment.outputs.clone());
    }
    if state == "Failed" {
        let failed: Vec<Value> = deployment.progress().iter().zip(&deployment.resources).filter(|(p, _)| **p == Progress::Failed)
            .map(|(_, r)| match &r.error {
                Some((code, message)) => json!({"code": code, "target": r.id, "message": message}),
                None => json!({"code": "ResourceDeploymentFailure", "target": r.id, "message": format!("The resource write operation failed to complete successfully, because it reached terminal provisioning state 'Failed' ({}).", r.resource_type)}),
            })
            .collect();
        body["properties"]["error"] = json!({"code": "DeploymentFailed", "message": "At least one resource deployment operation failed. Please list deployment operations for details.", "details": failed});
    }
    body
}

async fn create_deployment(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, rg, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let scope = format!("/subscriptions/{}/resourceGroups/{rg}", arm.subscription_id);
    if let Err(refusal) = arm.writer(&headers, &query, "Microsoft.Resources/deployments/write", &scope) {
        return refusal;
    }
    let valid_name =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_alphanumeric() || "-_.()".contains(c));
    if !valid_name {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidDeploymentName",
            &format!("The deployment name '{name}' is invalid."),
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        );
    };
    let mut resources = match plan(&arm, &rg, &body) {
        Ok(resources) => resources,
        Err(refusal) => return refusal,
    };
    // What the network resource provider refuses when it writes each resource.
    let refusals = crate::arm_network::refusals(&arm.state.lock().resources, &resources_view(&resources));
    for (i, refusal) in refusals {
        resources[i].fails = true;
        resources[i].error = Some(refusal);
    }
    let outputs = template_outputs(&arm, &rg, &body, &resources);
    let deployment = Deployment {
        name: name.clone(),
        resource_group: rg.clone(),
        started: Instant::now(),
        timestamp: chrono::Utc::now().to_rfc3339(),
        resources,
        cancelled_after: None,
        persisted: false,
        outputs,
    };
    let mut answer = deployment_json(&arm, &deployment);
    answer["properties"]["provisioningState"] = json!("Accepted");
    arm.state.lock().deployments.insert((rg.clone(), name.clone()), deployment);
    arm.puts.lock().push(format!("{rg}/{name}"));
    let version = params(&query).get("api-version").cloned().unwrap_or_default();
    let deployment_url = format!(
        "{}/subscriptions/{}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}",
        arm.base_url.lock(),
        arm.subscription_id
    );
    let status_url =
        format!("{deployment_url}/operationStatuses/{}?api-version={version}", uuid::Uuid::new_v4().simple());
    let mut response = (StatusCode::CREATED, Json(answer)).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&status_url) {
        headers.insert("azure-asyncoperation", value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("{deployment_url}?api-version={version}")) {
        headers.insert("location", value);
    }
    headers.insert("retry-after", HeaderValue::from_static("1"));
    response
}

async fn get_deployment(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, rg, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refusal) = arm.caller(&headers, &query) {
        return refusal;
    }
    let mut state = arm.state.lock();
    let Some(deployment) = state.deployments.get_mut(&(rg.clone(), name.clone())) else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "DeploymentNotFound",
            &format!("Deployment '{name}' could not be found."),
        );
    };
    let body = deployment_json(&arm, deployment);
    // A successful deployment leaves its resources in the group (What-If sees them).
    let to_persist: Vec<(String, Value)> =
        if body["properties"]["provisioningState"] == "Succeeded" && !deployment.persisted {
            deployment.persisted = true;
            deployment.resources.iter().map(|r| (r.id.clone(), r.properties.clone())).collect()
        } else {
            Vec::new()
        };
    state.resources.extend(to_persist);
    Json(body).into_response()
}

/// Delays and fails calls as the fault knobs say, in ARM's error shape.
async fn inject_faults(
    State(arm): State<Arc<Arm>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match arm.faults.before_request().await {
        None => next.run(request).await,
        Some(Fault::Throttle { retry_after_secs }) => {
            let mut response = arm_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "The request is being throttled as the limit has been reached for operation type.",
            );
            response.headers_mut().insert("retry-after", retry_after_secs.into());
            response
        }
        Some(Fault::ServerError { status, retry_after_secs }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response =
                arm_error(status, "InternalServerError", "Encountered internal server error. Please try again.");
            response.headers_mut().insert("retry-after", retry_after_secs.into());
            response
        }
    }
}

/// `POST …/validate`: the template checked, nothing deployed.
async fn validate_deployment(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, rg, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let scope = format!("/subscriptions/{}/resourceGroups/{rg}", arm.subscription_id);
    if let Err(refusal) = arm.writer(&headers, &query, "Microsoft.Resources/deployments/validate/action", &scope) {
        return refusal;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        );
    };
    match plan(&arm, &rg, &body) {
        Ok(planned) => Json(json!({
            "id": format!("/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments/{name}", arm.subscription_id),
            "name": name,
            "properties": {
                "provisioningState": "Succeeded",
                "mode": "Incremental",
                "validatedResources": planned.iter().map(|r| json!({"id": r.id})).collect::<Vec<_>>(),
            },
        }))
        .into_response(),
        Err(refusal) => refusal,
    }
}

/// `Azure-AsyncOperation`: the deployment's state as a long-running operation status.
async fn operation_status(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, rg, name, _operation)): Path<(String, String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refusal) = arm.caller(&headers, &query) {
        return refusal;
    }
    let state = arm.state.lock();
    let Some(deployment) = state.deployments.get(&(rg, name.clone())) else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "DeploymentNotFound",
            &format!("Deployment '{name}' could not be found."),
        );
    };
    let status = match deployment.state() {
        "Accepted" | "Running" => "InProgress",
        other => other,
    };
    let mut response = Json(json!({"status": status})).into_response();
    if status == "InProgress" {
        response.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
    }
    response
}

async fn cancel_deployment(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, rg, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let scope = format!("/subscriptions/{}/resourceGroups/{rg}", arm.subscription_id);
    if let Err(refusal) = arm.writer(&headers, &query, "Microsoft.Resources/deployments/cancel/action", &scope) {
        return refusal;
    }
    let mut state = arm.state.lock();
    let Some(deployment) = state.deployments.get_mut(&(rg, name.clone())) else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "DeploymentNotFound",
            &format!("Deployment '{name}' could not be found."),
        );
    };
    if matches!(deployment.state(), "Succeeded" | "Failed" | "Canceled") {
        return arm_error(
            StatusCode::CONFLICT,
            "DeploymentCannotBeCancelled",
            &format!("Deployment '{name}' cannot be canceled: it has finished."),
        );
    }
    deployment.cancelled_after = Some(deployment.started.elapsed());
    StatusCode::NO_CONTENT.into_response()
}

async fn list_operations(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, rg, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refusal) = arm.caller(&headers, &query) {
        return refusal;
    }
    let skip: usize = params(&query).get("$skiptoken").and_then(|s| s.parse().ok()).unwrap_or(0);
    let state = arm.state.lock();
    let Some(deployment) = state.deployments.get(&(rg.clone(), name.clone())) else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "DeploymentNotFound",
            &format!("Deployment '{name}' could not be found."),
        );
    };
    let operations: Vec<Value> = deployment
        .progress()
        .iter()
        .zip(&deployment.resources)
        .filter(|(p, _)| **p != Progress::NotStarted)
        .map(|(progress, r)| {
            let (state, code) = match progress {
                Progress::Running => ("Running", "Accepted"),
                Progress::Succeeded => ("Succeeded", "OK"),
                Progress::Failed => ("Failed", "BadRequest"),
                _ => ("Canceled", "Conflict"),
            };
            // Stable per deployment and resource, as ARM's operation ids are.
            let digest = <sha2::Sha256 as sha2::Digest>::digest(format!("{name}{}", r.id).as_bytes());
            let operation_id: String = digest.iter().take(8).map(|b| format!("{b:02X}")).collect();
            let mut operation = json!({
                "id": format!("/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments/{name}/operations/{operation_id}", arm.subscription_id),
                "operationId": operation_id,
                "properties": {
                    "provisioningOperation": "Create",
                    "provisioningState": state,
                    "timestamp": changed_at(deployment, if *progress == Progress::Running { r.start } else { r.end }),
                    "duration": format!("PT{:.3}S", (r.end - r.start).as_secs_f64()),
                    "statusCode": code,
                    "targetResource": {"id": r.id, "resourceType": r.resource_type, "resourceName": r.name},
                },
            });
            if *progress == Progress::Failed {
                let (code, message) = r.error.clone().unwrap_or_else(|| {
                    ("ResourceTypeDeploymentFailed".into(), format!("Provisioning {} '{}' failed (injected by the sandbox).", r.resource_type, r.name))
                });
                operation["properties"]["statusMessage"] = json!({"status": "Failed", "error": {"code": code, "message": message}});
            }
            operation
        })
        .collect();
    const PAGE: usize = 5;
    let page: Vec<Value> = operations.iter().skip(skip).take(PAGE).cloned().collect();
    let mut body = json!({"value": page});
    if skip + PAGE < operations.len() {
        let version = params(&query).get("api-version").cloned().unwrap_or_default();
        body["nextLink"] = json!(format!(
            "{}/subscriptions/{}/resourcegroups/{rg}/deployments/{name}/operations?api-version={version}&$skiptoken={}",
            arm.base_url.lock(),
            arm.subscription_id,
            skip + PAGE
        ));
    }
    Json(body).into_response()
}

/// When an operation last changed: the deployment's start plus an offset.
fn changed_at(deployment: &Deployment, offset: Duration) -> String {
    let started = chrono::DateTime::parse_from_rfc3339(&deployment.timestamp).map(|t| t.with_timezone(&chrono::Utc));
    let offset = chrono::Duration::from_std(offset).unwrap_or_default();
    started.map(|t| (t + offset).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)).unwrap_or_default()
}

async fn what_if(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, rg, _name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let scope = format!("/subscriptions/{}/resourceGroups/{rg}", arm.subscription_id);
    if let Err(refusal) = arm.writer(&headers, &query, "Microsoft.Resources/deployments/whatIf/action", &scope) {
        return refusal;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        );
    };
    let planned = match plan(&arm, &rg, &body) {
        Ok(planned) => planned,
        Err(refusal) => return refusal,
    };
    let mut state = arm.state.lock();
    let changes: Vec<Value> = planned
        .iter()
        .map(|r| match state.resources.get(&r.id) {
            None => json!({"resourceId": r.id, "changeType": "Create", "after": {"properties": r.properties}}),
            Some(before) if *before == r.properties => json!({"resourceId": r.id, "changeType": "NoChange"}),
            Some(before) => {
                let delta: Vec<Value> = r.properties.as_object().into_iter().flatten()
                    .filter(|(k, v)| before.get(k.as_str()) != Some(v))
                    .map(|(k, v)| json!({"path": format!("properties.{k}"), "propertyChangeType": "Modify", "before": before.get(k.as_str()), "after": v}))
                    .collect();
                json!({"resourceId": r.id, "changeType": "Modify", "before": {"properties": before}, "after": {"properties": r.properties}, "delta": delta})
            }
        })
        .collect();
    let id = uuid::Uuid::new_v4().to_string();
    state.what_ifs.insert(id.clone(), json!({"status": "Succeeded", "properties": {"changes": changes}}));
    let version = params(&query).get("api-version").cloned().unwrap_or_default();
    let location = format!("{}/subscriptions/{}/providers/Microsoft.Resources/locations/westeurope/whatIfResults/{id}?api-version={version}", arm.base_url.lock(), arm.subscription_id);
    let mut response = StatusCode::ACCEPTED.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert("location", value);
    }
    response.headers_mut().insert("retry-after", HeaderValue::from_static("0"));
    response
}

async fn what_if_result(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, _location, id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refusal) = arm.caller(&headers, &query) {
        return refusal;
    }
    match arm.state.lock().what_ifs.get(&id) {
        Some(result) => Json(result.clone()).into_response(),
        None => arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", "The What-If operation was not found."),
    }
}

/// ARM's template language: the functions a template's names, `dependsOn`, conditions and
/// properties use, evaluated as ARM evaluates them. Runtime functions (`reference()`,
/// `listKeys()`) and anything else unknown leave the whole expression as written, which is
/// what the stand-in cannot know before the resources exist.
mod expressions {
    use std::cell::Cell;

    use serde_json::{json, Map, Value};
    use sha1::Digest as _;

    /// ARM's `guid()` is a name-based (SHA-1, version 5) UUID in this namespace of its
    /// arguments joined by '-'.
    const GUID_NAMESPACE: [u8; 16] =
        [0x11, 0xfb, 0x06, 0xfb, 0x71, 0x2d, 0x4d, 0xdd, 0x98, 0xc7, 0xe7, 0x1b, 0xbd, 0x58, 0x88, 0x30];
    /// Variables may use variables; a cycle ends here instead of overflowing the stack.
    const MAX_DEPTH: u8 = 32;

    /// `Microsoft.Network/virtualNetworks/subnets` named `vnet/host` →
    /// `Microsoft.Network/virtualNetworks/vnet/subnets/host`.
    pub fn type_path(resource_type: &str, name: &str) -> String {
        let mut types = resource_type.split('/');
        let mut path = types.next().unwrap_or_default().to_string();
        let mut names = name.split('/');
        for kind in types {
            path.push_str(&format!("/{kind}/{}", names.next().unwrap_or_default()));
        }
        path
    }

    /// What the functions of one deployment see.
    pub struct Scope<'a> {
        subscription_id: &'a str,
        resource_group: &'a str,
        parameters: &'a Map<String, Value>,
        variables: &'a Map<String, Value>,
        /// Resource id (lowercase) → what `reference()` gives; none outside outputs.
        references: Option<&'a Map<String, Value>>,
        depth: Cell<u8>,
    }

    enum Expr {
        Text(String),
        Integer(i64),
        Call(String, Vec<Expr>),
        Member(Box<Expr>, String),
        Index(Box<Expr>, Box<Expr>),
    }

    impl<'a> Scope<'a> {
        pub fn new(
            subscription_id: &'a str,
            resource_group: &'a str,
            parameters: &'a Map<String, Value>,
            variables: &'a Map<String, Value>,
        ) -> Scope<'a> {
            Scope { subscription_id, resource_group, parameters, variables, references: None, depth: Cell::new(0) }
        }

        /// A scope whose `reference()` answers from `references`.
        pub fn with_references(mut self, references: &'a Map<String, Value>) -> Scope<'a> {
            self.references = Some(references);
            self
        }

        /// Every string in `value` (object keys too) evaluated where it can be; the rest as written.
        pub fn deep(&self, value: &Value) -> Value {
            match value {
                Value::String(text) => self.string(text).unwrap_or_else(|| value.clone()),
                Value::Array(items) => Value::Array(items.iter().map(|item| self.deep(item)).collect()),
                Value::Object(fields) => Value::Object(
                    fields
                        .iter()
                        .map(|(key, field)| {
                            let key = match self.string(key) {
                                Some(Value::String(evaluated)) => evaluated,
                                _ => key.clone(),
                            };
                            (key, self.deep(field))
                        })
                        .collect(),
                ),
                other => other.clone(),
            }
        }

        /// `value` fully evaluated, or None when any expression in it cannot be.
        fn strict(&self, value: &Value) -> Option<Value> {
            match value {
                Value::String(text) => self.string(text),
                Value::Array(items) => {
                    items.iter().map(|item| self.strict(item)).collect::<Option<_>>().map(Value::Array)
                }
                Value::Object(fields) => fields
                    .iter()
                    .map(|(key, field)| Some((key.clone(), self.strict(field)?)))
                    .collect::<Option<Map<_, _>>>()
                    .map(Value::Object),
                other => Some(other.clone()),
            }
        }

        /// A template string: `[…]` is an expression, `[[…` a literal starting with '['.
        fn string(&self, text: &str) -> Option<Value> {
            if let Some(rest) = text.strip_prefix("[[") {
                return Some(Value::String(format!("[{rest}")));
            }
            match text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                Some(inner) => self.eval(&parse(inner)?),
                None => Some(Value::String(text.to_string())),
            }
        }

        fn eval(&self, expr: &Expr) -> Option<Value> {
            match expr {
                Expr::Text(text) => Some(json!(text)),
                Expr::Integer(number) => Some(json!(number)),
                // Property names are case-insensitive in ARM.
                Expr::Member(base, name) => self
                    .eval(base)?
                    .as_object()?
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone()),
                Expr::Index(base, index) => match (self.eval(base)?, self.eval(index)?) {
                    (Value::Array(items), Value::Number(at)) => items.get(usize::try_from(at.as_u64()?).ok()?).cloned(),
                    (Value::Object(fields), Value::String(key)) => {
                        fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(&key)).map(|(_, v)| v.clone())
                    }
                    _ => None,
                },
                Expr::Call(function, args) => self.call(&function.to_ascii_lowercase(), args),
            }
        }

        fn call(&self, function: &str, args: &[Expr]) -> Option<Value> {
            // if() evaluates only the branch it takes, as ARM does.
            if function == "if" {
                let [condition, yes, no] = args else { return None };
                return if self.eval(condition)?.as_bool()? { self.eval(yes) } else { self.eval(no) };
            }
            let values: Vec<Value> = args.iter().map(|arg| self.eval(arg)).collect::<Option<_>>()?;
            let first = values.first();
            match function {
                "parameters" => lookup(self.parameters, first?.as_str()?).cloned(),
                "variables" => {
                    let declared = lookup(self.variables, first?.as_str()?)?;
                    if self.depth.get() >= MAX_DEPTH {
                        return None;
                    }
                    self.depth.set(self.depth.get() + 1);
                    let value = self.strict(declared);
                    self.depth.set(self.depth.get() - 1);
                    value
                }
                "concat" if values.iter().all(Value::is_array) => {
                    Some(Value::Array(values.iter().flat_map(|v| v.as_array().cloned().unwrap_or_default()).collect()))
                }
                "concat" => values.iter().map(text).collect::<Option<String>>().map(Value::String),
                "format" => format(first?.as_str()?, &values[1..]).map(Value::String),
                "resourceid" => self.resource_id(&values).map(Value::String),
                "subscriptionresourceid" => self.subscription_resource_id(&values).map(Value::String),
                "resourcegroup" => Some(json!({
                    "id": format!("/subscriptions/{}/resourceGroups/{}", self.subscription_id, self.resource_group),
                    "name": self.resource_group,
                    "type": "Microsoft.Resources/resourceGroups",
                    "location": super::RESOURCE_GROUP_LOCATION,
                    "properties": {"provisioningState": "Succeeded"},
                })),
                "subscription" => Some(json!({
                    "id": format!("/subscriptions/{}", self.subscription_id),
                    "subscriptionId": self.subscription_id,
                    "tenantId": crate::SANDBOX_TENANT_ID,
                    "displayName": "Sandbox subscription",
                })),
                "environment" => Some(json!({
                    "name": "AzureCloud",
                    "resourceManager": "https://management.azure.com/",
                    "authentication": {"loginEndpoint": "https://login.microsoftonline.com/"},
                    "suffixes": {"storage": "core.windows.net", "keyvaultDns": ".vault.azure.net", "sqlServerHostname": ".database.windows.net", "acrLoginServer": ".azurecr.io"},
                })),
                "guid" => values
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Option<Vec<_>>>()
                    .map(|parts| json!(guid(&parts.join("-")))),
                "reference" => {
                    let id = first?.as_str()?.to_ascii_lowercase();
                    self.references?.get(&id).cloned()
                }
                "split" => Some(json!(first?.as_str()?.split(values.get(1)?.as_str()?).collect::<Vec<_>>())),
                "last" => match first? {
                    Value::Array(items) => items.last().cloned(),
                    Value::String(text) => text.chars().last().map(|c| json!(c.to_string())),
                    _ => None,
                },
                "cidrhost" => cidr_host(first?.as_str()?, values.get(1)?.as_u64()?).map(Value::String),
                "tolower" => Some(json!(first?.as_str()?.to_lowercase())),
                "toupper" => Some(json!(first?.as_str()?.to_uppercase())),
                "string" => text(first?).map(Value::String),
                "equals" => Some(json!(first? == values.get(1)?)),
                "not" => Some(json!(!first?.as_bool()?)),
                "and" => values
                    .iter()
                    .map(Value::as_bool)
                    .collect::<Option<Vec<_>>>()
                    .map(|all| json!(all.iter().all(|b| *b))),
                "or" => values
                    .iter()
                    .map(Value::as_bool)
                    .collect::<Option<Vec<_>>>()
                    .map(|all| json!(all.iter().any(|b| *b))),
                "empty" => Some(json!(match first? {
                    Value::Null => true,
                    Value::String(s) => s.is_empty(),
                    Value::Array(items) => items.is_empty(),
                    Value::Object(fields) => fields.is_empty(),
                    _ => false,
                })),
                "true" => Some(json!(true)),
                "false" => Some(json!(false)),
                _ => None,
            }
        }

        /// `resourceId([subscriptionId], [resourceGroupName], type, name, …)`: the type is the
        /// first argument with a '/', which neither a subscription id nor a group name has.
        fn resource_id(&self, values: &[Value]) -> Option<String> {
            let parts: Vec<&str> = values.iter().map(Value::as_str).collect::<Option<_>>()?;
            let at = parts.iter().position(|p| p.contains('/'))?;
            let (subscription, group) = match parts[..at] {
                [] => (self.subscription_id, self.resource_group),
                [group] => (self.subscription_id, group),
                [subscription, group] => (subscription, group),
                _ => return None,
            };
            let names = &parts[at + 1..];
            (parts[at].split('/').count() == names.len() + 1)
                .then(|| super::resource_id(subscription, group, parts[at], &names.join("/")))
        }

        /// `subscriptionResourceId([subscriptionId], type, name, …)`.
        fn subscription_resource_id(&self, values: &[Value]) -> Option<String> {
            let parts: Vec<&str> = values.iter().map(Value::as_str).collect::<Option<_>>()?;
            let at = parts.iter().position(|p| p.contains('/'))?;
            let subscription = match parts[..at] {
                [] => self.subscription_id,
                [subscription] => subscription,
                _ => return None,
            };
            let names = &parts[at + 1..];
            (parts[at].split('/').count() == names.len() + 1)
                .then(|| format!("/subscriptions/{subscription}/providers/{}", type_path(parts[at], &names.join("/"))))
        }
    }

    fn lookup<'m>(map: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
        map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// `cidrHost(network, hostIndex)`: the usable address `hostIndex` of an IPv4 range, the first
    /// usable one (network + 1) being index 0, as ARM's CIDR functions number them
    /// (https://learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-cidr).
    fn cidr_host(network: &str, index: u64) -> Option<String> {
        let (address, bits) = network.split_once('/')?;
        let address: std::net::Ipv4Addr = address.parse().ok()?;
        let bits: u32 = bits.parse().ok().filter(|b| *b <= 30)?;
        let size = 1u64 << (32 - bits);
        // The network and broadcast addresses are not hosts.
        if index + 2 >= size {
            return None;
        }
        let base = u64::from(u32::from(address)) & !(size - 1);
        Some(std::net::Ipv4Addr::from((base + 1 + index) as u32).to_string())
    }

    /// A value as text, the way concat() and format() show it (.NET's True and False).
    fn text(value: &Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(true) => Some("True".into()),
            Value::Bool(false) => Some("False".into()),
            _ => None,
        }
    }

    /// .NET composite formatting: `{0}`, `{1:spec}` (the spec is ignored), `{{` and `}}`.
    fn format(pattern: &str, args: &[Value]) -> Option<String> {
        let mut out = String::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    out.push('{');
                }
                '{' => {
                    let mut hole = String::new();
                    for c in chars.by_ref() {
                        if c == '}' {
                            break;
                        }
                        hole.push(c);
                    }
                    let index: usize = hole.split(':').next()?.trim().parse().ok()?;
                    out.push_str(&text(args.get(index)?)?);
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    out.push('}');
                }
                c => out.push(c),
            }
        }
        Some(out)
    }

    fn guid(name: &str) -> String {
        let mut hasher = sha1::Sha1::new();
        hasher.update(GUID_NAMESPACE);
        hasher.update(name.as_bytes());
        let digest = hasher.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        bytes[6] = (bytes[6] & 0x0f) | 0x50;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        uuid::Uuid::from_bytes(bytes).to_string()
    }

    /// Parses one expression (the text between the brackets); None if it is not one.
    fn parse(text: &str) -> Option<Expr> {
        let mut parser = Parser { chars: text.chars().collect(), at: 0, nesting: 0 };
        let expr = parser.expr()?;
        parser.blanks();
        (parser.at == parser.chars.len()).then_some(expr)
    }

    struct Parser {
        chars: Vec<char>,
        at: usize,
        /// How deep the expression being read is; a template from the wire cannot make the
        /// parser recurse without bound.
        nesting: u8,
    }

    impl Parser {
        fn peek(&self) -> Option<char> {
            self.chars.get(self.at).copied()
        }

        fn blanks(&mut self) {
            while self.peek().is_some_and(char::is_whitespace) {
                self.at += 1;
            }
        }

        fn eat(&mut self, expected: char) -> Option<()> {
            self.blanks();
            (self.peek()? == expected).then(|| self.at += 1)
        }

        fn expr(&mut self) -> Option<Expr> {
            self.nesting = self.nesting.checked_add(1).filter(|n| *n <= MAX_DEPTH)?;
            let expr = self.operand();
            self.nesting -= 1;
            expr
        }

        fn operand(&mut self) -> Option<Expr> {
            self.blanks();
            let mut expr = match self.peek()? {
                '\'' => Expr::Text(self.literal()?),
                c if c.is_ascii_digit() || c == '-' => Expr::Integer(self.integer()?),
                c if c.is_alphabetic() => {
                    let function = self.identifier();
                    self.eat('(')?;
                    Expr::Call(function, self.arguments()?)
                }
                _ => return None,
            };
            loop {
                self.blanks();
                match self.peek() {
                    Some('.') => {
                        self.at += 1;
                        let member = self.identifier();
                        if member.is_empty() {
                            return None;
                        }
                        expr = Expr::Member(Box::new(expr), member);
                    }
                    Some('[') => {
                        self.at += 1;
                        let index = self.expr()?;
                        self.eat(']')?;
                        expr = Expr::Index(Box::new(expr), Box::new(index));
                    }
                    _ => return Some(expr),
                }
            }
        }

        fn arguments(&mut self) -> Option<Vec<Expr>> {
            let mut args = Vec::new();
            self.blanks();
            if self.peek()? == ')' {
                self.at += 1;
                return Some(args);
            }
            loop {
                args.push(self.expr()?);
                self.blanks();
                match self.peek()? {
                    ',' => self.at += 1,
                    ')' => {
                        self.at += 1;
                        return Some(args);
                    }
                    _ => return None,
                }
            }
        }

        /// A quoted string; two quotes stand for one.
        fn literal(&mut self) -> Option<String> {
            self.at += 1;
            let mut out = String::new();
            loop {
                let c = self.peek()?;
                self.at += 1;
                if c != '\'' {
                    out.push(c);
                } else if self.peek() == Some('\'') {
                    self.at += 1;
                    out.push('\'');
                } else {
                    return Some(out);
                }
            }
        }

        fn integer(&mut self) -> Option<i64> {
            let start = self.at;
            self.at += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.at += 1;
            }
            self.chars[start..self.at].iter().collect::<String>().parse().ok()
        }

        fn identifier(&mut self) -> String {
            let start = self.at;
            while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                self.at += 1;
            }
            self.chars[start..self.at].iter().collect()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const SUB: &str = "5ab05c71-0000-4000-8000-00000000a2e0";

        #[test]
        fn cidr_host_numbers_usable_addresses_from_zero() {
            assert_eq!(cidr_host("10.0.0.0/26", 3).as_deref(), Some("10.0.0.4"));
            assert_eq!(cidr_host("10.144.3.0/24", 0).as_deref(), Some("10.144.3.1"));
            assert_eq!(cidr_host("10.0.0.0/30", 1).as_deref(), Some("10.0.0.2"));
            assert_eq!(cidr_host("10.0.0.0/30", 2), None, "the broadcast address is no host");
            assert_eq!(cidr_host("fd00::/64", 0), None, "IPv4 only");
        }

        fn scope_eval(text: &str) -> Option<Value> {
            let parameters =
                json!({"spokeName": "sales-weu", "hubGroup": "rg-hub", "enabled": false, "names": ["a", "b"]});
            let variables = json!({
                "vnetName": "[format('{0}-vnet', parameters('spokeName'))]",
                "vnetId": "[resourceId('Microsoft.Network/virtualNetworks', variables('vnetName'))]",
                "tags": {"spoke": "[parameters('spokeName')]"},
                "loop": "[variables('loop')]",
                "runtime": "[reference('x').principalId]",
            });
            let (parameters, variables) =
                (parameters.as_object().unwrap().clone(), variables.as_object().unwrap().clone());
            Scope::new(SUB, "rg-spoke", &parameters, &variables).string(text)
        }

        #[test]
        fn resource_ids_take_an_optional_subscription_and_group() {
            assert_eq!(
                scope_eval("[variables('vnetId')]").unwrap(),
                format!("/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Network/virtualNetworks/sales-weu-vnet")
            );
            assert_eq!(
                scope_eval("[resourceId(parameters('hubGroup'), 'Microsoft.Network/privateDnsZones', 'privatelink.azuredatabricks.net')]").unwrap(),
                format!("/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/privateDnsZones/privatelink.azuredatabricks.net")
            );
            assert_eq!(
                scope_eval("[resourceId('other-sub', 'rg-x', 'Microsoft.Network/virtualNetworks/subnets', 'vnet', 'host')]").unwrap(),
                "/subscriptions/other-sub/resourceGroups/rg-x/providers/Microsoft.Network/virtualNetworks/vnet/subnets/host"
            );
            assert_eq!(
                scope_eval("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')]").unwrap(),
                format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe")
            );
            assert_eq!(
                scope_eval("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet')]"),
                None,
                "one name short"
            );
        }

        #[test]
        fn scope_functions_and_their_properties() {
            assert_eq!(scope_eval("[resourceGroup().location]").unwrap(), "westeurope");
            assert_eq!(
                scope_eval("[resourceGroup().id]").unwrap(),
                format!("/subscriptions/{SUB}/resourceGroups/rg-spoke")
            );
            assert_eq!(scope_eval("[subscription().subscriptionId]").unwrap(), SUB);
            assert_eq!(scope_eval("[subscription().tenantId]").unwrap(), crate::SANDBOX_TENANT_ID);
            assert_eq!(scope_eval("[environment().suffixes.keyvaultDns]").unwrap(), ".vault.azure.net");
            assert_eq!(scope_eval("[parameters('names')[1]]").unwrap(), "b");
            assert_eq!(scope_eval("[variables('tags')]").unwrap(), json!({"spoke": "sales-weu"}));
        }

        #[test]
        fn strings_formats_and_logic() {
            assert_eq!(scope_eval("[format('{0}/{1}-{0}', 'a', 2)]").unwrap(), "a/2-a");
            assert_eq!(scope_eval("[format('{{0}} {0:D2}', 'x')]").unwrap(), "{0} x");
            assert_eq!(scope_eval("[concat('it''s ', parameters('spokeName'))]").unwrap(), "it's sales-weu");
            assert_eq!(scope_eval("[concat(parameters('names'), createArray())]"), None, "an unknown function");
            assert_eq!(scope_eval("[toUpper(if(not(parameters('enabled')), 'off', 'on'))]").unwrap(), "OFF");
            assert_eq!(scope_eval("[empty('')]").unwrap(), true);
            assert_eq!(scope_eval("[equals(parameters('spokeName'), 'sales-weu')]").unwrap(), true);
            assert_eq!(scope_eval("[[not an expression]").unwrap(), "[not an expression]");
            assert_eq!(scope_eval("plain").unwrap(), "plain");
        }

        #[test]
        fn guid_is_a_version_5_uuid_of_the_arguments_joined_by_dashes() {
            // Python: uuid.uuid5(uuid.UUID('11fb06fb-712d-4ddd-98c7-e71bbd588830'), 'a-b')
            assert_eq!(scope_eval("[guid('a', 'b')]").unwrap(), "2d796349-8c7e-55ec-9624-54ece82ed031");
            assert_eq!(scope_eval("[guid('a', 'b')]"), scope_eval("[guid('a', 'b')]"), "deterministic");
            assert_ne!(scope_eval("[guid('a', 'b')]"), scope_eval("[guid('a-b', '')]"));
        }

        #[test]
        fn what_only_deployment_knows_stays_as_written() {
            assert_eq!(scope_eval("[reference('x').principalId]"), None);
            assert_eq!(scope_eval("[variables('runtime')]"), None);
            assert_eq!(scope_eval("[variables('loop')]"), None, "a cycle ends");
            assert_eq!(scope_eval("[parameters('missing')]"), None);
            assert_eq!(scope_eval("[concat('a']"), None, "unbalanced");
            assert_eq!(scope_eval("[concat('a'").unwrap(), "[concat('a'", "no closing bracket: a literal");
            assert_eq!(scope_eval("[format('{7}', 'a')]"), None);
            let deep = format!("[{}'x'{}]", "string(".repeat(10_000), ")".repeat(10_000));
            assert_eq!(scope_eval(&deep), None, "too deep to evaluate, and no stack overflow");
            assert_eq!(scope_eval("[string(string('x'))]").unwrap(), "x");
        }

        #[test]
        fn child_types_interleave_with_their_names() {
            assert_eq!(
                type_path("Microsoft.Storage/storageAccounts/blobServices/containers", "st/default/catalog"),
                "Microsoft.Storage/storageAccounts/st/blobServices/default/containers/catalog"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoOne;
    impl AccessTokenVerifier for NoOne {
        fn verify(&self, _: &str, _: &str) -> Option<Caller> {
            None
        }
    }

    fn planned(template: Value, parameters: Value) -> Result<Vec<Planned>, String> {
        let arm = Arm::new(Arc::new(NoOne), "sub-1");
        let body = json!({"properties": {"mode": "Incremental", "template": template, "parameters": parameters}});
        plan(&arm, "rg-spoke", &body).map_err(|refusal| format!("{}", refusal.status()))
    }

    fn template(resources: Value) -> Value {
        json!({
            "parameters": {
                "name": {"type": "string"},
                "role": {"type": "string", "allowedValues": ["primary", "secondary"], "defaultValue": "primary"},
                "location": {"type": "string", "defaultValue": "[resourceGroup().location]"},
                "withEndpoint": {"type": "bool", "defaultValue": false},
            },
            "variables": {"vault": "[format('{0}-kv', parameters('name'))]"},
            "resources": resources,
        })
    }

    #[test]
    fn parameters_must_be_declared_supplied_or_defaulted_and_allowed() {
        let empty = json!([]);
        assert!(planned(template(empty.clone()), json!({"name": {"value": "a"}})).is_ok());
        assert_eq!(planned(template(empty.clone()), json!({})).unwrap_err(), "400 Bad Request", "name is required");
        assert!(planned(template(empty.clone()), json!({"name": {"value": "a"}, "nope": {"value": 1}})).is_err());
        assert!(
            planned(template(empty.clone()), json!({"name": {"value": "a"}, "role": {"value": "tertiary"}})).is_err()
        );
        let from_vault = json!({"name": {"reference": {"keyVault": {"id": "/x"}, "secretName": "s"}}});
        assert!(planned(template(empty), from_vault).is_ok(), "a Key Vault reference counts as supplied");
    }

    #[test]
    fn a_dependency_listed_after_its_dependent_still_comes_first() {
        let resources = json!([
            {"type": "Microsoft.Network/routeTables", "apiVersion": "2024-05-01", "name": "rt",
             "dependsOn": ["[resourceId('Microsoft.Network/azureFirewalls', 'fw')]"]},
            {"type": "Microsoft.Network/azureFirewalls", "apiVersion": "2024-05-01", "name": "fw"},
        ]);
        let resources = planned(template(resources), json!({"name": {"value": "a"}})).unwrap();
        assert_eq!((resources[0].after.clone(), resources[1].start), (vec![1], Duration::ZERO));
        let (first, span) = (resources[1].end, resources[0].end);
        let deployment = |elapsed: Duration| Deployment {
            name: "d".into(),
            resource_group: "rg".into(),
            started: Instant::now() - elapsed,
            timestamp: String::new(),
            resources: resources.clone(),
            cancelled_after: None,
            persisted: false,
            outputs: Map::new(),
        };
        assert_eq!(deployment(first / 2).progress(), [Progress::NotStarted, Progress::Running]);
        assert_eq!(deployment(span + Duration::from_secs(1)).state(), "Succeeded");
    }

    #[test]
    fn names_scopes_conditions_and_properties_are_evaluated() {
        let resources = json!([
            {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "[variables('vault')]",
             "properties": {"tenantId": "[subscription().tenantId]", "where": "[parameters('location')]", "later": "[reference('x').vaultUri]"}},
            {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01",
             "name": "[guid(resourceGroup().id, variables('vault'))]",
             "scope": "[format('Microsoft.KeyVault/vaults/{0}', variables('vault'))]",
             "dependsOn": ["[resourceId('Microsoft.KeyVault/vaults', variables('vault'))]"], "properties": {}},
            {"condition": "[parameters('withEndpoint')]", "type": "Microsoft.Network/privateEndpoints", "apiVersion": "2024-05-01",
             "name": "pe", "properties": {}},
            {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "nested",
             "resourceGroup": "rg-hub",
             "dependsOn": ["[resourceId('Microsoft.Network/privateEndpoints', 'pe')]",
                           "[resourceId('Microsoft.Authorization/roleAssignments', guid(resourceGroup().id, variables('vault')))]"],
             "properties": {"mode": "Incremental", "template": {"resources": [], "x": "[parameters('inner')]"}}},
        ]);
        let plan = planned(template(resources), json!({"name": {"value": "hub"}})).unwrap();
        assert_eq!(plan.len(), 3, "the endpoint's condition is false");
        assert_eq!(
            plan[0].id,
            "/subscriptions/sub-1/resourceGroups/rg-spoke/providers/Microsoft.KeyVault/vaults/hub-kv"
        );
        assert_eq!(plan[0].properties["tenantId"], crate::SANDBOX_TENANT_ID);
        assert_eq!(plan[0].properties["where"], RESOURCE_GROUP_LOCATION);
        assert_eq!(plan[0].properties["later"], "[reference('x').vaultUri]");
        assert!(plan[1].id.starts_with("/subscriptions/sub-1/resourceGroups/rg-spoke/providers/Microsoft.KeyVault/vaults/hub-kv/providers/Microsoft.Authorization/roleAssignments/"), "{}", plan[1].id);
        assert_eq!(plan[1].after, [0]);
        assert_eq!(
            plan[2].id,
            "/subscriptions/sub-1/resourceGroups/rg-hub/providers/Microsoft.Resources/deployments/nested"
        );
        assert_eq!(plan[2].after, [1], "depending on a skipped resource is no error");
        assert_eq!(
            plan[2].properties["template"]["x"], "[parameters('inner')]",
            "the nested template is its own scope"
        );
    }
}
