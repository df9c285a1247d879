//! Template deployments at resource-group scope: What-If, create-or-update
//! followed to its end, get, cancel and the deployment operations (one per
//! resource, which is where progress and the failing resource's message are).
//!
//! The shapes follow Microsoft.Resources 2025-04-01; fields drbot does not
//! use are ignored and missing optional ones default, so a newer ARM answer
//! still reads.

use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::arm::{ArmClient, ArmError, ArmErrorBody, ArmResponse};
use super::lro::{poll_until, Poll, PollOptions};
use crate::identity::AccessToken;

/// Pages of deployment operations followed at most; a template with more
/// resources than this times ARM's page length is not one drbot deploys.
const MAX_PAGES: usize = 200;

/// Where a deployment lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRef {
    pub subscription_id: String,
    pub resource_group: String,
    pub name: String,
}

impl DeploymentRef {
    fn path(&self) -> String {
        format!(
            "/subscriptions/{}/resourcegroups/{}/providers/Microsoft.Resources/deployments/{}",
            self.subscription_id, self.resource_group, self.name
        )
    }

    fn operations_path(&self) -> String {
        format!(
            "/subscriptions/{}/resourcegroups/{}/deployments/{}/operations",
            self.subscription_id, self.resource_group, self.name
        )
    }
}

/// A deployment's or an operation's `provisioningState`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ProvisioningState {
    Accepted,
    Running,
    Succeeded,
    Failed,
    Canceled,
    /// Creating, Updating, Deleting, ...: in progress too.
    Other(String),
}

impl From<String> for ProvisioningState {
    fn from(text: String) -> Self {
        match text.as_str() {
            "Accepted" => ProvisioningState::Accepted,
            "Running" => ProvisioningState::Running,
            "Succeeded" => ProvisioningState::Succeeded,
            "Failed" => ProvisioningState::Failed,
            "Canceled" | "Cancelled" => ProvisioningState::Canceled,
            _ => ProvisioningState::Other(text),
        }
    }
}

impl From<ProvisioningState> for String {
    fn from(state: ProvisioningState) -> String {
        state.as_str().to_string()
    }
}

impl ProvisioningState {
    pub fn as_str(&self) -> &str {
        match self {
            ProvisioningState::Accepted => "Accepted",
            ProvisioningState::Running => "Running",
            ProvisioningState::Succeeded => "Succeeded",
            ProvisioningState::Failed => "Failed",
            ProvisioningState::Canceled => "Canceled",
            ProvisioningState::Other(text) => text,
        }
    }

    /// Succeeded, Failed and Canceled: nothing changes after these.
    pub fn is_terminal(&self) -> bool {
        matches!(self, ProvisioningState::Succeeded | ProvisioningState::Failed | ProvisioningState::Canceled)
    }
}

impl Default for ProvisioningState {
    fn default() -> Self {
        ProvisioningState::Other(String::new())
    }
}

impl std::fmt::Display for ProvisioningState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Deployment {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub properties: DeploymentProperties,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentProperties {
    #[serde(default)]
    pub provisioning_state: ProvisioningState,
    /// `{name: {type, value}}`, present once the deployment succeeded.
    #[serde(default)]
    pub outputs: Option<Map<String, Value>>,
    #[serde(default)]
    pub error: Option<ArmErrorBody>,
    #[serde(default)]
    pub timestamp: Option<String>,
}

impl Deployment {
    pub fn state(&self) -> &ProvisioningState {
        &self.properties.provisioning_state
    }

    /// The value of one template output.
    pub fn output(&self, name: &str) -> Option<&Value> {
        self.properties.outputs.as_ref()?.get(name)?.get("value")
    }

    /// Every output's value by name.
    pub fn output_values(&self) -> Map<String, Value> {
        self.properties
            .outputs
            .iter()
            .flatten()
            .filter_map(|(name, output)| output.get("value").map(|v| (name.clone(), v.clone())))
            .collect()
    }
}

/// What a create-or-update answered: the deployment as accepted and where
/// to follow it.
#[derive(Clone, Debug)]
pub struct Started {
    pub deployment: Deployment,
    pub async_operation: Option<String>,
    pub location: Option<String>,
    pub retry_after: Option<Duration>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentOperation {
    #[serde(default)]
    pub operation_id: String,
    #[serde(default)]
    pub properties: OperationProperties,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationProperties {
    #[serde(default)]
    pub provisioning_operation: Option<String>,
    #[serde(default)]
    pub provisioning_state: ProvisioningState,
    #[serde(default)]
    pub status_code: Option<String>,
    /// `{status, error: {code, message, details}}` on failure; sometimes plain text.
    #[serde(default)]
    pub status_message: Option<Value>,
    #[serde(default)]
    pub target_resource: Option<TargetResource>,
    #[serde(default)]
    pub timestamp: Option<String>,
    /// ISO 8601, e.g. `PT1M4.52S`.
    #[serde(default)]
    pub duration: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetResource {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub resource_type: Option<String>,
    #[serde(default)]
    pub resource_name: Option<String>,
}

impl DeploymentOperation {
    /// The failing resource's own message, the innermost ARM gives.
    pub fn error_message(&self) -> Option<String> {
        let message = self.properties.status_message.as_ref()?;
        if let Some(text) = message.as_str() {
            return Some(text.to_string());
        }
        let error = message.get("error").unwrap_or(message);
        let body: ArmErrorBody = serde_json::from_value(error.clone()).ok()?;
        let text = body.innermost_message();
        (!text.is_empty()).then_some(text)
    }

    pub fn duration(&self) -> Option<Duration> {
        parse_iso8601_duration(self.properties.duration.as_deref()?)
    }
}

/// `PnDTnHnMn.nS` (the subset ARM writes); `None` for anything else.
pub fn parse_iso8601_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((days, time)) => (days, time),
        None => (rest, ""),
    };
    let mut seconds = 0f64;
    let mut number = String::new();
    for (part, units) in [(days, &[('D', 86_400f64)][..]), (time, &[('H', 3600f64), ('M', 60f64), ('S', 1f64)][..])] {
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
            } else {
                let factor = units.iter().find(|(u, _)| *u == c)?.1;
                seconds += number.parse::<f64>().ok()? * factor;
                number.clear();
            }
        }
        if !number.is_empty() {
            return None;
        }
    }
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// A What-If change's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum ChangeType {
    Create,
    Delete,
    Ignore,
    Deploy,
    NoChange,
    Modify,
    Unsupported,
    /// A kind newer than drbot.
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhatIfChange {
    #[serde(default)]
    pub resource_id: String,
    pub change_type: ChangeType,
    #[serde(default)]
    pub delta: Vec<Value>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct WhatIfResult {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub properties: WhatIfProperties,
    #[serde(default)]
    pub error: Option<ArmErrorBody>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct WhatIfProperties {
    #[serde(default)]
    pub changes: Vec<WhatIfChange>,
}

impl ArmClient {
    /// `POST …/whatIf`, then the `Location` until the result is there.
    pub async fn what_if(
        &self,
        token: &AccessToken,
        deployment: &DeploymentRef,
        body: &Value,
        options: &PollOptions,
    ) -> Result<WhatIfResult, ArmError> {
        let url = self.url(&format!("{}/whatIf", deployment.path()));
        let answer = self.request(Method::POST, &url, token, Some(body)).await?;
        let result = if answer.status == 202 {
            let location = answer
                .header("location")
                .ok_or_else(|| ArmError::BadResponse("What-If answered 202 without a Location".into()))?;
            poll_until(options, answer.retry_after(), || async {
                let polled = self.request(Method::GET, &location, token, None).await?;
                if polled.status == 202 {
                    return Ok(Poll::Pending(polled.retry_after()));
                }
                Ok(Poll::Done(polled.json::<WhatIfResult>("a What-If result")?))
            })
            .await?
        } else {
            answer.json::<WhatIfResult>("a What-If result")?
        };
        match (&result.error, result.status.as_str()) {
            (Some(error), _) => Err(ArmError::Api { status: 200, error: error.clone() }),
            (None, "Failed") => Err(ArmError::Api {
                status: 200,
                error: ArmErrorBody {
                    code: "WhatIfFailed".into(),
                    message: "What-If failed".into(),
                    ..Default::default()
                },
            }),
            _ => Ok(result),
        }
    }

    /// `PUT` the deployment; ARM answers at once and provisions in the background.
    pub async fn create_or_update(
        &self,
        token: &AccessToken,
        deployment: &DeploymentRef,
        body: &Value,
    ) -> Result<Started, ArmError> {
        let answer = self.request(Method::PUT, &self.url(&deployment.path()), token, Some(body)).await?;
        Ok(Started {
            deployment: answer.json("a deployment")?,
            async_operation: answer.header("azure-asyncoperation"),
            location: answer.header("location"),
            retry_after: answer.retry_after(),
        })
    }

    pub async fn get_deployment(
        &self,
        token: &AccessToken,
        deployment: &DeploymentRef,
    ) -> Result<Deployment, ArmError> {
        self.request(Method::GET, &self.url(&deployment.path()), token, None).await?.json("a deployment")
    }

    /// The deployment, or `None` when there is none of that name.
    pub async fn find_deployment(
        &self,
        token: &AccessToken,
        deployment: &DeploymentRef,
    ) -> Result<Option<Deployment>, ArmError> {
        match self.get_deployment(token, deployment).await {
            Ok(found) => Ok(Some(found)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `POST …/cancel` (only while Accepted or Running; ARM answers 409 after).
    pub async fn cancel_deployment(&self, token: &AccessToken, deployment: &DeploymentRef) -> Result<(), ArmError> {
        let url = self.url(&format!("{}/cancel", deployment.path()));
        self.request(Method::POST, &url, token, None).await.map(|_| ())
    }

    /// Every operation of the deployment, all pages.
    pub async fn list_operations(
        &self,
        token: &AccessToken,
        deployment: &DeploymentRef,
    ) -> Result<Vec<DeploymentOperation>, ArmError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            value: Vec<DeploymentOperation>,
            #[serde(default)]
            next_link: Option<String>,
        }
        let mut operations = Vec::new();
        let mut url = self.url(&deployment.operations_path());
        for _ in 0..MAX_PAGES {
            let page: Page = self.request(Method::GET, &url, token, None).await?.json("a page of operations")?;
            operations.extend(page.value);
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(next) => url = next,
                None => return Ok(operations),
            }
        }
        Err(ArmError::BadResponse(format!("more than {MAX_PAGES} pages of deployment operations")))
    }

    /// Follows a deployment to a terminal state: its `Azure-AsyncOperation`
    /// when ARM gave one, else its `Location`, else the deployment itself
    /// (a deployment found running after a restart has no headers to follow).
    /// Returns the deployment as it ended, outputs and error included.
    pub async fn wait_for_deployment(
        &self,
        token: &AccessToken,
        deployment: &DeploymentRef,
        started: Option<&Started>,
        options: &PollOptions,
    ) -> Result<Deployment, ArmError> {
        let first = started.and_then(|s| s.retry_after);
        if let Some(status_url) = started.and_then(|s| s.async_operation.clone()) {
            #[derive(Deserialize)]
            struct Status {
                status: String,
            }
            poll_until(options, first, || async {
                let polled = self.request(Method::GET, &status_url, token, None).await?;
                let status: Status = polled.json("an operation status")?;
                if ProvisioningState::from(status.status).is_terminal() {
                    Ok(Poll::Done(()))
                } else {
                    Ok(Poll::Pending(polled.retry_after()))
                }
            })
            .await?;
            return self.get_deployment(token, deployment).await;
        }
        let url = started.and_then(|s| s.location.clone()).unwrap_or_else(|| self.url(&deployment.path()));
        poll_until(options, first, || async {
            let polled = self.request(Method::GET, &url, token, None).await?;
            terminal_deployment(polled)
        })
        .await?;
        // The Location may answer with an empty 200; the deployment has the outputs.
        self.get_deployment(token, deployment).await
    }
}

fn terminal_deployment(polled: ArmResponse) -> Result<Poll<()>, ArmError> {
    if polled.status == 202 {
        return Ok(Poll::Pending(polled.retry_after()));
    }
    if polled.body.is_null() {
        return Ok(Poll::Done(()));
    }
    let deployment: Deployment = polled.json("a deployment")?;
    if deployment.state().is_terminal() {
        Ok(Poll::Done(()))
    } else {
        Ok(Poll::Pending(polled.retry_after()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn iso_durations_as_arm_writes_them() {
        assert_eq!(parse_iso8601_duration("PT0.080S"), Some(Duration::from_millis(80)));
        assert_eq!(parse_iso8601_duration("PT1M4.5S"), Some(Duration::from_millis(64_500)));
        assert_eq!(parse_iso8601_duration("P1DT2H"), Some(Duration::from_secs(93_600)));
        assert_eq!(parse_iso8601_duration("PT"), Some(Duration::ZERO));
        for bad in ["", "1S", "PT5", "PTxS", "PT5Y", "PT-1S"] {
            assert_eq!(parse_iso8601_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn operations_read_arm_shapes_and_name_the_inner_error() {
        let failed: DeploymentOperation = serde_json::from_value(json!({
            "operationId": "AB",
            "properties": {"provisioningState": "Failed", "duration": "PT2S", "statusMessage": {"status": "Failed",
                "error": {"code": "ResourceDeploymentFailure", "message": "outer",
                    "details": [{"code": "SubnetInUse", "message": "Subnet host is in use"}]}},
                "targetResource": {"resourceType": "Microsoft.Network/virtualNetworks", "resourceName": "vnet"}},
            "somethingNew": true,
        }))
        .unwrap();
        assert_eq!(failed.properties.provisioning_state, ProvisioningState::Failed);
        assert_eq!(failed.error_message().as_deref(), Some("Subnet host is in use"));
        assert_eq!(failed.duration(), Some(Duration::from_secs(2)));
        let plain: DeploymentOperation =
            serde_json::from_value(json!({"properties": {"provisioningState": "Creating", "statusMessage": "busy"}}))
                .unwrap();
        assert!(!plain.properties.provisioning_state.is_terminal());
        assert_eq!(plain.error_message().as_deref(), Some("busy"));
        let change: WhatIfChange =
            serde_json::from_value(json!({"resourceId": "/x", "changeType": "SomethingElse"})).unwrap();
        assert_eq!(change.change_type, ChangeType::Unknown);
    }

    #[test]
    fn outputs_by_name() {
        let deployment: Deployment = serde_json::from_value(json!({"properties": {"provisioningState": "Succeeded",
            "outputs": {"workspaceUrl": {"type": "String", "value": "adb-1.azuredatabricks.net"}}}}))
        .unwrap();
        assert_eq!(deployment.output("workspaceUrl"), Some(&json!("adb-1.azuredatabricks.net")));
        assert_eq!(deployment.output_values().len(), 1);
        assert!(deployment.state().is_terminal());
    }
}
