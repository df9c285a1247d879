//! Azure Resource Manager at resource-group scope, the start of it:
//! deployments (PUT, GET, cancel), deployment operations that follow the
//! template's resources in `dependsOn` order over time, What-If against what
//! the resource group holds, `Azure-AsyncOperation`/`Location`/`Retry-After`
//! headers, failure injection for a resource type, ARM's error shape and an
//! RBAC rule (members of `dr-operators` may write).
//!
//! Template expressions: `parameters()`, `variables()`, `concat()` and
//! `resourceId()` with literal arguments are evaluated; any other expression
//! stays an opaque string.

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
        // Dependencies first, whatever order the template lists resources in.
        for i in self.dependency_order() {
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

    /// Resource indices with every resource after the ones it depends on
    /// (`plan` refused cycles, so this always completes).
    fn dependency_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = Vec::with_capacity(self.resources.len());
        while order.len() < self.resources.len() {
            let next = (0..self.resources.len())
                .find(|i| !order.contains(i) && self.resources[*i].after.iter().all(|d| order.contains(d)));
            match next {
                Some(i) => order.push(i),
                None => break,
            }
        }
        order
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
struct State_ {
    deployments: HashMap<(String, String), Deployment>,
    /// What the resource groups hold: id → properties.
    resources: HashMap<String, Value>,
    what_ifs: HashMap<String, Value>,
}

pub struct Arm {
    verifier: Arc<dyn AccessTokenVerifier>,
    pub subscription_id: String,
    base_url: Mutex<String>,
    state: Mutex<State_>,
    failing_type: Mutex<Option<String>>,
    resource_duration: Mutex<Duration>,
    /// Every deployment PUT accepted, as `resource group/name`.
    puts: Mutex<Vec<String>>,
    /// Latency, throttling and transient failures of every ARM call.
    pub faults: Faults,
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
            faults: Faults::new(0xa2e0),
        })
    }

    pub fn set_base_url(&self, base: &str) {
        *self.base_url.lock() = base.trim_end_matches('/').to_string();
    }

    /// Deployments started from now on fail at resources of this type.
    pub fn fail_resource_type(&self, resource_type: Option<&str>) {
        *self.failing_type.lock() = resource_type.map(str::to_string);
    }

    /// How long each resource takes to provision.
    pub fn set_resource_duration(&self, duration: Duration) {
        *self.resource_duration.lock() = duration;
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
            .route(
                "/subscriptions/{sub}/providers/Microsoft.Resources/locations/{location}/whatIfResults/{id}",
                get(what_if_result),
            )
            .layer(axum::middleware::from_fn_with_state(self.clone(), inject_faults))
            .with_state(self.clone())
    }

    fn caller(&self, headers: &HeaderMap, query: &Option<String>) -> Result<Caller, Response> {
        let version = params(query).get("api-version").cloned().unwrap_or_default();
        if !API_VERSIONS.contains(&version.as_str()) {
            return Err(arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidApiVersionParameter",
                &format!(
                    "The api-version '{version}' is invalid. The supported versions are '{}'.",
                    API_VERSIONS.join(",")
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
        let caller = self.caller(headers, query)?;
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

/// Evaluates the template expressions the stand-in knows; others stay as written.
fn evaluate(text: &str, parameters: &Map<String, Value>, variables: &Map<String, Value>) -> String {
    let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else { return text.to_string() };
    expression(inner.trim(), parameters, variables).unwrap_or_else(|| text.to_string())
}

fn expression(expr: &str, parameters: &Map<String, Value>, variables: &Map<String, Value>) -> Option<String> {
    if let Some(literal) = expr.strip_prefix('\'').and_then(|e| e.strip_suffix('\'')) {
        return Some(literal.to_string());
    }
    let (function, rest) = expr.split_once('(')?;
    let args = split_args(rest.strip_suffix(')')?);
    let values: Option<Vec<String>> = args.iter().map(|a| expression(a.trim(), parameters, variables)).collect();
    match function.trim() {
        "parameters" => parameters.get(&values?[0]).and_then(|p| p.get("value").or(Some(p))).map(value_text),
        "variables" => variables.get(&values?[0]).map(value_text),
        "concat" => Some(values?.concat()),
        "resourceId" => {
            let values = values?;
            let (kind, names) = values.split_first()?;
            Some(format!("{kind}|{}", names.join("/")))
        }
        _ => None,
    }
}

fn value_text(value: &Value) -> String {
    value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string())
}

fn split_args(text: &str) -> Vec<String> {
    let (mut args, mut current, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
    for c in text.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                args.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        args.push(current);
    }
    args
}

fn resource_id(sub: &str, rg: &str, resource_type: &str, name: &str) -> String {
    let types: Vec<&str> = resource_type.split('/').collect();
    let names: Vec<&str> = name.split('/').collect();
    let mut path =
        format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{}/{}", types[0], types.get(1).unwrap_or(&""));
    path.push_str(&format!("/{}", names[0]));
    for (t, n) in types.iter().skip(2).zip(names.iter().skip(1)) {
        path.push_str(&format!("/{t}/{n}"));
    }
    path
}

/// The template's `outputs` as ARM reports them: `{name: {type, value}}`,
/// string values evaluated like resource names, `int`/`bool` ones typed.
fn template_outputs(body: &Value) -> Map<String, Value> {
    let properties = &body["properties"];
    let template = &properties["template"];
    let parameters = properties["parameters"].as_object().cloned().unwrap_or_default();
    let mut defaults = template["parameters"].as_object().cloned().unwrap_or_default();
    for (name, declared) in defaults.iter_mut() {
        *declared = parameters.get(name).cloned().unwrap_or_else(|| json!({"value": declared["defaultValue"].clone()}));
    }
    let variables = template["variables"].as_object().cloned().unwrap_or_default();
    let mut outputs = Map::new();
    for (name, output) in template["outputs"].as_object().into_iter().flatten() {
        let kind = output["type"].as_str().unwrap_or("string");
        let value = match &output["value"] {
            Value::String(text) => {
                let text = evaluate(text, &defaults, &variables);
                match kind.to_ascii_lowercase().as_str() {
                    "int" => text.parse::<i64>().map(Value::from).unwrap_or(Value::String(text)),
                    "bool" => text.parse::<bool>().map(Value::from).unwrap_or(Value::String(text)),
                    _ => Value::String(text),
                }
            }
            other => other.clone(),
        };
        outputs.insert(name.clone(), json!({"type": kind, "value": value}));
    }
    outputs
}

/// The template's resources with their dependencies resolved, scheduled in order.
fn plan(arm: &Arm, rg: &str, body: &Value) -> Result<Vec<Planned>, Response> {
    let invalid = |message: String| arm_error(StatusCode::BAD_REQUEST, "InvalidTemplate", &message);
    let properties = &body["properties"];
    let template = &properties["template"];
    let parameters = properties["parameters"].as_object().cloned().unwrap_or_default();
    let mut defaults = template["parameters"].as_object().cloned().unwrap_or_default();
    for (name, declared) in defaults.iter_mut() {
        *declared = parameters.get(name).cloned().unwrap_or_else(|| json!({"value": declared["defaultValue"].clone()}));
    }
    let variables = template["variables"].as_object().cloned().unwrap_or_default();
    let Some(resources) = template["resources"].as_array() else {
        return Err(invalid("Deployment template validation failed: the template has no 'resources' array.".into()));
    };
    let duration = *arm.resource_duration.lock();
    let failing = arm.failing_type.lock().clone();
    let mut planned: Vec<Planned> = Vec::new();
    for resource in resources {
        let (Some(kind), Some(name)) = (resource["type"].as_str(), resource["name"].as_str()) else {
            return Err(invalid("Every resource needs a 'type' and a 'name'.".into()));
        };
        if resource["apiVersion"].as_str().is_none() {
            return Err(invalid(format!("The resource '{kind}' has no apiVersion.")));
        }
        let name = evaluate(name, &defaults, &variables);
        planned.push(Planned {
            id: resource_id(&arm.subscription_id, rg, kind, &name),
            resource_type: kind.to_string(),
            name,
            start: Duration::ZERO,
            end: duration,
            fails: failing.as_deref() == Some(kind),
            after: Vec::new(),
            properties: resource["properties"].clone(),
        });
    }
    for (i, resource) in resources.iter().enumerate() {
        for dependency in resource["dependsOn"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            let evaluated = evaluate(dependency, &defaults, &variables);
            let (kind, name) = evaluated.split_once('|').map_or((None, evaluated.as_str()), |(k, n)| (Some(k), n));
            let found = planned
                .iter()
                .position(|p| p.name == name && kind.is_none_or(|k| k.eq_ignore_ascii_case(&p.resource_type)));
            match found {
                Some(j) if j != i => planned[i].after.push(j),
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
            .map(|(_, r)| json!({"code": "ResourceDeploymentFailure", "target": r.id, "message": format!("The resource write operation failed to complete successfully, because it reached terminal provisioning state 'Failed' ({}).", r.resource_type)}))
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
    let resources = match plan(&arm, &rg, &body) {
        Ok(resources) => resources,
        Err(refusal) => return refusal,
    };
    let deployment = Deployment {
        name: name.clone(),
        resource_group: rg.clone(),
        started: Instant::now(),
        timestamp: chrono::Utc::now().to_rfc3339(),
        resources,
        cancelled_after: None,
        persisted: false,
        outputs: template_outputs(&body),
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
                operation["properties"]["statusMessage"] = json!({"status": "Failed", "error": {"code": "ResourceTypeDeploymentFailed", "message": format!("Provisioning {} '{}' failed (injected by the sandbox).", r.resource_type, r.name)}});
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
