//! The Azure Bot resource's OAuth connection setting through Azure Resource
//! Manager (`Microsoft.BotService/botServices/{bot}/connections/{name}`).
//! GET withholds the client secret, so comparing it takes the
//! `listWithSecrets` action; the secret read there is compared and dropped,
//! never printed.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::graph::service_error;
use super::SetupError;
use crate::config::Secret;

/// The Bot Service API version used (generally available, has connections).
pub const API_VERSION: &str = "2022-09-15";

pub struct ArmClient {
    http: reqwest::Client,
    base: String,
    token: Secret,
    /// `/subscriptions/…/connections/{name}`.
    path: String,
}

impl ArmClient {
    pub fn new(
        http: reqwest::Client,
        base: &str,
        token: Secret,
        subscription: &str,
        resource_group: &str,
        bot: &str,
        connection: &str,
    ) -> ArmClient {
        let path = format!(
            "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.BotService/botServices/{bot}/connections/{connection}"
        );
        ArmClient { http, base: base.trim_end_matches('/').to_string(), token, path }
    }

    async fn call(&self, method: Method, suffix: &str, body: Option<&Value>) -> Result<Option<Value>, SetupError> {
        let path = format!("{}{suffix}", self.path);
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .query(&[("api-version", API_VERSION)])
            .bearer_auth(self.token.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| SetupError::Unreachable {
            service: "Azure Resource Manager",
            error: e.without_url().to_string(),
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status == StatusCode::NOT_FOUND && method == Method::GET {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(service_error("Azure Resource Manager", &method, &path, status, &text));
        }
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Some(value))
    }

    /// The connection's properties, or `None` if the bot has no such connection.
    pub async fn connection(&self) -> Result<Option<Value>, SetupError> {
        Ok(self.call(Method::GET, "", None).await?.map(|c| c["properties"].clone()))
    }

    /// Whether the stored client secret is `secret`; `None` when these
    /// rights may read the connection but not its secret (a reader's dry run).
    pub async fn secret_matches(&self, secret: &Secret) -> Result<Option<bool>, SetupError> {
        match self.call(Method::POST, "/listWithSecrets", None).await {
            Ok(with_secrets) => {
                let stored = with_secrets.as_ref().and_then(|c| c["properties"]["clientSecret"].as_str());
                Ok(Some(stored == Some(secret.expose())))
            }
            Err(SetupError::Service { status: 403, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Creates or replaces the connection with `properties` and `secret`.
    pub async fn put_connection(&self, properties: &Value, secret: &Secret) -> Result<(), SetupError> {
        let mut properties = properties.clone();
        properties["clientSecret"] = json!(secret.expose());
        self.call(Method::PUT, "", Some(&json!({"location": "global", "properties": properties}))).await.map(|_| ())
    }
}
