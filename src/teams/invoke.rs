//! Invoke responses: Teams waits for these in the HTTP response body, and
//! shows "Something went wrong" for an empty or malformed one.

use serde_json::{json, Value};

/// The HTTP status and body of an answered invoke.
#[derive(Clone, Debug, PartialEq)]
pub struct InvokeResponse {
    pub status: u16,
    pub body: Option<Value>,
}

impl InvokeResponse {
    /// 200 with no body (what a processed `signin/verifyState` or a duplicate exchange gets).
    pub fn ok_empty() -> InvokeResponse {
        InvokeResponse { status: 200, body: None }
    }

    pub fn status(status: u16, body: Value) -> InvokeResponse {
        InvokeResponse { status, body: Some(body) }
    }

    /// `adaptiveCard/action` answered with a card that replaces the one clicked.
    pub fn card(card: Value) -> InvokeResponse {
        Self::status(200, json!({"statusCode": 200, "type": "application/vnd.microsoft.card.adaptive", "value": card}))
    }

    /// `adaptiveCard/action` answered with a short message.
    pub fn message(text: &str) -> InvokeResponse {
        Self::status(
            200,
            json!({"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text}),
        )
    }

    /// `adaptiveCard/action` answered with an error Teams shows to the user.
    pub fn error(status_code: u16, code: &str, message: &str) -> InvokeResponse {
        Self::status(
            200,
            json!({"statusCode": status_code, "type": "application/vnd.microsoft.error", "value": {"code": code, "message": message}}),
        )
    }

    /// An invoke drbot does not handle: 501, as the Bot Framework SDKs answer.
    pub fn not_implemented() -> InvokeResponse {
        InvokeResponse { status: 501, body: None }
    }
}
