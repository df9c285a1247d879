//! Databricks errors, typed.
//!
//! Databricks documents `error_code` as the thing to branch on; the HTTP
//! status is only the fallback when a body carries no code we know (a proxy's
//! 502, an empty 503). Whether an error is worth retrying is decided here,
//! once, so the retry loop and the callers agree.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DatabricksError {
    /// 401: the token was not accepted (expired, wrong audience).
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// 429 or a rate-limit code; `retry_after` is the server's `Retry-After`.
    #[error("throttled: {message}")]
    Throttled { retry_after: Option<Duration>, message: String },
    /// 503, `TEMPORARILY_UNAVAILABLE` or another transient 5xx.
    #[error("temporarily unavailable ({status} {code}): {message}")]
    Unavailable { status: u16, code: String, message: String, retry_after: Option<Duration> },
    /// Anything else the workspace answered.
    #[error("{code}: {message}")]
    Api { status: u16, code: String, message: String },
    /// No answer at all: connection refused, reset, timed out.
    #[error("workspace unreachable: {0}")]
    Unreachable(String),
    /// An answer we cannot use: a body that does not parse, a page token
    /// that repeats forever.
    #[error("unexpected answer from the workspace: {0}")]
    Protocol(String),
}

impl DatabricksError {
    /// Worth trying again after a wait: throttling, a transient server
    /// error, or no answer at all.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DatabricksError::Throttled { .. } | DatabricksError::Unavailable { .. } | DatabricksError::Unreachable(_)
        )
    }

    /// How long the server asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DatabricksError::Throttled { retry_after, .. } | DatabricksError::Unavailable { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// The typed error for a non-2xx answer: `error_code` first, status second.
    pub fn from_response(status: u16, body: &[u8], retry_after: Option<Duration>) -> DatabricksError {
        let body: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let code = body.error_code.unwrap_or_default();
        let message = body.message.unwrap_or_default();
        if let Some(error) = from_code(&code, status, &message, retry_after) {
            return error;
        }
        match status {
            401 => DatabricksError::Unauthenticated(message),
            403 => DatabricksError::PermissionDenied(message),
            404 => DatabricksError::NotFound(message),
            409 => DatabricksError::AlreadyExists(message),
            400 => DatabricksError::InvalidParameter(message),
            429 => DatabricksError::Throttled { retry_after, message },
            500 | 502 | 503 | 504 => DatabricksError::Unavailable { status, code, message, retry_after },
            _ => DatabricksError::Api { status, code, message },
        }
    }
}

/// The typed error for an `error_code`, whatever the status. Unity Catalog
/// names the object in its codes (`CATALOG_ALREADY_EXISTS`,
/// `SCHEMA_DOES_NOT_EXIST`, …) and answers them with statuses no document
/// fixes, so the suffix decides. `ENDPOINT_NOT_FOUND` is a 404 about the
/// URL, not the object: a fault, never "not there".
fn from_code(code: &str, status: u16, message: &str, retry_after: Option<Duration>) -> Option<DatabricksError> {
    let message = message.to_string();
    Some(match code {
        "ENDPOINT_NOT_FOUND" => DatabricksError::Api { status, code: code.to_string(), message },
        "UNAUTHENTICATED" => DatabricksError::Unauthenticated(message),
        "PERMISSION_DENIED" => DatabricksError::PermissionDenied(message),
        "NOT_FOUND" | "RESOURCE_DOES_NOT_EXIST" => DatabricksError::NotFound(message),
        code if code.ends_with("_DOES_NOT_EXIST") => DatabricksError::NotFound(message),
        "RESOURCE_ALREADY_EXISTS" | "ALREADY_EXISTS" => DatabricksError::AlreadyExists(message),
        code if code.ends_with("_ALREADY_EXISTS") => DatabricksError::AlreadyExists(message),
        "INVALID_PARAMETER_VALUE" | "INVALID_REQUEST" | "MALFORMED_REQUEST" | "BAD_REQUEST" => {
            DatabricksError::InvalidParameter(message)
        }
        "REQUEST_LIMIT_EXCEEDED" | "RESOURCE_EXHAUSTED" | "TOO_MANY_REQUESTS" => {
            DatabricksError::Throttled { retry_after, message }
        }
        "TEMPORARILY_UNAVAILABLE"
        | "UNAVAILABLE"
        | "DEADLINE_EXCEEDED"
        | "WORKSPACE_TEMPORARILY_UNAVAILABLE"
        | "SERVICE_UNDER_MAINTENANCE"
        | "ABORTED" => DatabricksError::Unavailable { status, code: code.to_string(), message, retry_after },
        _ => return None,
    })
}

#[derive(Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(status: u16, body: &str) -> DatabricksError {
        DatabricksError::from_response(status, body.as_bytes(), None)
    }

    #[test]
    fn the_code_decides_before_the_status() {
        // A 400 that says it is a missing object is a missing object.
        assert!(
            matches!(error(400, r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"m"}"#), DatabricksError::NotFound(m) if m == "m")
        );
        assert!(matches!(
            error(409, r#"{"error_code":"RESOURCE_ALREADY_EXISTS","message":"x"}"#),
            DatabricksError::AlreadyExists(_)
        ));
        assert!(matches!(
            error(400, r#"{"error_code":"INVALID_PARAMETER_VALUE","message":"x"}"#),
            DatabricksError::InvalidParameter(_)
        ));
        assert!(matches!(error(403, r#"{"error_code":"PERMISSION_DENIED"}"#), DatabricksError::PermissionDenied(_)));
        assert!(matches!(error(401, r#"{"error_code":"UNAUTHENTICATED"}"#), DatabricksError::Unauthenticated(_)));
        assert!(matches!(error(400, r#"{"error_code":"RESOURCE_EXHAUSTED"}"#), DatabricksError::Throttled { .. }));
    }

    #[test]
    fn object_specific_codes_decide_whatever_the_status() {
        for code in
            ["CATALOG_ALREADY_EXISTS", "SCHEMA_ALREADY_EXISTS", "SHARE_ALREADY_EXISTS", "RECIPIENT_ALREADY_EXISTS"]
        {
            let body = format!(r#"{{"error_code":"{code}","message":"m"}}"#);
            assert!(matches!(error(400, &body), DatabricksError::AlreadyExists(_)), "{code}");
            assert!(matches!(error(409, &body), DatabricksError::AlreadyExists(_)), "{code}");
        }
        for code in ["CATALOG_DOES_NOT_EXIST", "SCHEMA_DOES_NOT_EXIST", "TABLE_DOES_NOT_EXIST"] {
            let body = format!(r#"{{"error_code":"{code}","message":"m"}}"#);
            assert!(matches!(error(404, &body), DatabricksError::NotFound(_)), "{code}");
            assert!(matches!(error(400, &body), DatabricksError::NotFound(_)), "{code}");
        }
    }

    #[test]
    fn an_unknown_endpoint_is_a_fault_not_a_missing_object() {
        let answer = error(404, r#"{"error_code":"ENDPOINT_NOT_FOUND","message":"No API found"}"#);
        assert!(matches!(&answer, DatabricksError::Api { status: 404, code, .. } if code == "ENDPOINT_NOT_FOUND"));
        assert!(!answer.is_transient());
    }

    #[test]
    fn the_status_decides_when_the_body_does_not() {
        assert!(matches!(error(404, "<html>"), DatabricksError::NotFound(_)));
        assert!(matches!(error(429, ""), DatabricksError::Throttled { retry_after: None, .. }));
        assert!(matches!(error(502, "bad gateway"), DatabricksError::Unavailable { status: 502, .. }));
        assert!(matches!(error(418, r#"{"error_code":"TEAPOT","message":"m"}"#),
            DatabricksError::Api { status: 418, code, .. } if code == "TEAPOT"));
    }

    #[test]
    fn transient_errors_are_the_retryable_ones() {
        let throttled = DatabricksError::from_response(
            429,
            br#"{"error_code":"REQUEST_LIMIT_EXCEEDED"}"#,
            Some(Duration::from_secs(3)),
        );
        assert!(throttled.is_transient());
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(3)));
        assert!(error(503, r#"{"error_code":"TEMPORARILY_UNAVAILABLE"}"#).is_transient());
        assert!(error(500, r#"{"error_code":"INTERNAL_ERROR"}"#).is_transient());
        assert!(DatabricksError::Unreachable("reset".into()).is_transient());
        assert!(!error(404, r#"{"error_code":"NOT_FOUND"}"#).is_transient());
        assert!(!error(400, r#"{"error_code":"INVALID_PARAMETER_VALUE"}"#).is_transient());
        assert!(!DatabricksError::Protocol("loop".into()).is_transient());
    }
}
