//! The few Microsoft Graph v1.0 calls `drbot setup` makes: find the bot's
//! application object by app id, PATCH it, and check or create its service
//! principal. Graph's OData errors become [`SetupError::Service`].

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::SetupError;
use crate::config::Secret;

pub struct GraphClient {
    http: reqwest::Client,
    base: String,
    token: Secret,
}

impl GraphClient {
    /// `base` is Graph's root (`https://graph.microsoft.com`), `token` an access token for it.
    pub fn new(http: reqwest::Client, base: &str, token: Secret) -> GraphClient {
        GraphClient { http, base: base.trim_end_matches('/').to_string(), token }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, SetupError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}/v1.0{path}", self.base))
            .bearer_auth(self.token.expose())
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| SetupError::Unreachable { service: "Microsoft Graph", error: e.without_url().to_string() })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(service_error("Microsoft Graph", &method, path, status, &text));
        }
        if status == StatusCode::NO_CONTENT || text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|_| {
            SetupError::Unexpected(format!("Microsoft Graph answered {method} {path} with something not JSON"))
        })
    }

    /// The application object whose `appId` is `app_id`.
    pub async fn application(&self, app_id: &str) -> Result<Value, SetupError> {
        let found =
            self.call(Method::GET, "/applications", &[("$filter", format!("appId eq '{app_id}'"))], None).await?;
        match found["value"].as_array().map(Vec::as_slice) {
            Some([application]) => Ok(application.clone()),
            Some([]) => Err(SetupError::Unexpected(format!(
                "no app registration with app id {app_id} in this tenant (is MicrosoftAppId right, and the token for this tenant?)"
            ))),
            _ => Err(SetupError::Unexpected(format!("Microsoft Graph's answer to the app registration {app_id} is not one application"))),
        }
    }

    pub async fn patch_application(&self, object_id: &str, patch: &Value) -> Result<(), SetupError> {
        self.call(Method::PATCH, &format!("/applications/{object_id}"), &[], Some(patch)).await.map(|_| ())
    }

    pub async fn has_service_principal(&self, app_id: &str) -> Result<bool, SetupError> {
        let found =
            self.call(Method::GET, "/servicePrincipals", &[("$filter", format!("appId eq '{app_id}'"))], None).await?;
        Ok(found["value"].as_array().is_some_and(|v| !v.is_empty()))
    }

    pub async fn create_service_principal(&self, app_id: &str) -> Result<(), SetupError> {
        self.call(Method::POST, "/servicePrincipals", &[], Some(&json!({"appId": app_id}))).await.map(|_| ())
    }
}

/// Graph's and ARM's error bodies share `{"error": {"code", "message"}}`.
pub(super) fn service_error(
    service: &'static str,
    method: &Method,
    path: &str,
    status: StatusCode,
    body: &str,
) -> SetupError {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let code = parsed["error"]["code"].as_str().unwrap_or("").to_string();
    let message = parsed["error"]["message"].as_str().map(str::to_string).unwrap_or_else(|| {
        let mut text: String = body.chars().take(200).collect();
        if text.is_empty() {
            text = status.canonical_reason().unwrap_or("").to_string();
        }
        text
    });
    // The path says which object; query strings (never secrets, but long) are left out.
    SetupError::Service { service, request: format!("{method} {path}"), status: status.as_u16(), code, message }
}
