//! Teams sign-in: the OAuthCard that offers SSO, and the shapes of the
//! `signin/*` invokes and their answers, as Microsoft documents Teams SSO for
//! bots: <https://learn.microsoft.com/microsoftteams/platform/bots/how-to/authentication/bot-sso-code>.

use serde::Deserialize;
use serde_json::{json, Value};

use super::invoke::InvokeResponse;
use crate::botframework::activity::{Attachment, Content};
use crate::botframework::user_token::SignInResource;

/// `signin/tokenExchange`'s value.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenExchangeRequest {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub connection_name: String,
    #[serde(default)]
    pub token: Option<String>,
}

/// The OAuthCard: Teams tries SSO with `tokenExchangeResource` first and
/// shows the sign-in button only when that fails.
pub fn oauth_card(resource: &SignInResource, connection_name: &str, text: &str) -> Attachment {
    let mut content = json!({
        "text": text,
        "connectionName": connection_name,
        "buttons": [{"type": "signin", "title": "Sign in", "value": resource.sign_in_link}],
    });
    if let Some(exchange) = &resource.token_exchange_resource {
        content["tokenExchangeResource"] = json!(exchange);
    }
    Attachment::with_content(Attachment::OAUTH_CARD, Content::Value(content))
}

/// The exchange worked: Teams stops here.
pub fn exchange_succeeded(id: &str, connection_name: &str) -> InvokeResponse {
    InvokeResponse::status(200, json!({"id": id, "connectionName": connection_name}))
}

/// The exchange did not work: 412 makes Teams fall back to consent or sign-in.
pub fn exchange_failed(id: &str, connection_name: &str, detail: &str) -> InvokeResponse {
    InvokeResponse::status(412, json!({"id": id, "connectionName": connection_name, "failureDetail": detail}))
}

/// An `adaptiveCard/action` that needs sign-in first: Teams shows the OAuthCard.
pub fn login_request(card: &Attachment) -> InvokeResponse {
    InvokeResponse::status(
        200,
        json!({"statusCode": 401, "type": "application/vnd.microsoft.activity.loginRequest", "value": card.content.as_ref().map(Content::to_value).unwrap_or(Value::Null)}),
    )
}
