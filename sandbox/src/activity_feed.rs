//! Microsoft Graph's Teams activity-feed notifications (v1.0), as drbot's
//! alerts send them: `POST /users/{userId | userPrincipalName}/teamwork/sendActivityNotification`
//! ("userTeamwork: sendActivityNotification"). Recorded, so tests see each
//! notification once.
//!
//! What the reference states and the stand-in enforces: a bearer token for
//! Graph (application permission `TeamsActivity.Send`: an app token here;
//! delegated calls need a user, which drbot never sends); the body's
//! parameters `topic` (`teamworkActivityTopic`: `source` `entityUrl` or
//! `text`, `value`, and `webUrl` with `text`), `activityType` (declared in
//! the app manifest's `activities.activityTypes`, or the reserved
//! `systemDefault`), optional `chainId`, `previewText` (`itemBody`),
//! `templateParameters` (`keyValuePair` collection), optional `teamsAppId`;
//! anything else is a 400. An unknown user is a 404. Success is `204 No
//! Content`. The declared types are read from drbot's own manifest, so an
//! activity type the manifest lacks fails here as in Teams. A test may make
//! the next calls fail (429 with `Retry-After`, or a 5xx) to prove retries.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use parking_lot::Mutex;
use serde_json::Value;

use crate::caller::AccessTokenVerifier;
use crate::graph::{odata_error, GRAPH_AUDIENCE};

/// The parameters the reference lists for the action.
const PARAMETERS: &[&str] =
    &["topic", "activityType", "chainId", "previewText", "templateParameters", "teamsAppId", "iconId"];

/// One notification Graph accepted.
#[derive(Clone, Debug)]
pub struct Sent {
    /// The user it was sent to, as the directory knows them (object id).
    pub user_oid: String,
    /// The app that sent it (the token's `appid`).
    pub sender_app_id: String,
    pub body: Value,
    pub at: Instant,
}

pub struct ActivityFeed {
    verifier: Arc<dyn AccessTokenVerifier>,
    directory: crate::directory::Directory,
    declared: Mutex<Vec<String>>,
    sent: Mutex<Vec<Sent>>,
    /// Statuses the next calls answer with, first first.
    failures: Mutex<Vec<u16>>,
    calls: Mutex<u64>,
}

impl ActivityFeed {
    pub fn new(verifier: Arc<dyn AccessTokenVerifier>, directory: crate::directory::Directory) -> Arc<ActivityFeed> {
        Arc::new(ActivityFeed {
            verifier,
            directory,
            declared: Mutex::new(declared_in(DRBOT_MANIFEST)),
            sent: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
            calls: Mutex::new(0),
        })
    }

    /// The notifications accepted so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().clone()
    }

    /// Every call, accepted or not (retries included).
    pub fn calls(&self) -> u64 {
        *self.calls.lock()
    }

    /// The next calls are answered with these statuses (429 with `Retry-After: 0`), in order.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.failures.lock().extend_from_slice(statuses);
    }

    /// The activity types the installed app declares.
    pub fn declare(&self, types: &[&str]) {
        *self.declared.lock() = types.iter().map(|t| t.to_string()).collect();
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/v1.0/users/{id}/teamwork/sendActivityNotification", post(send_to_user))
            .with_state(self.clone())
    }
}

/// drbot's app manifest, as installed in the sandbox's Teams.
const DRBOT_MANIFEST: &str = include_str!("../../manifest/manifest.json");

fn declared_in(manifest: &str) -> Vec<String> {
    let manifest: Value = serde_json::from_str(manifest).unwrap_or_default();
    manifest["activities"]["activityTypes"]
        .as_array()
        .map(|types| types.iter().filter_map(|t| t["type"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn bad_request(message: &str) -> Response {
    odata_error(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// Checks the body against the reference; the problem as Graph would word it.
fn check_body(body: &Value, declared: &[String]) -> Result<(), Response> {
    let Some(map) = body.as_object() else { return Err(bad_request("The request body must be a JSON object.")) };
    if let Some(unknown) = map.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        return Err(bad_request(&format!(
            "The parameter '{unknown}' in the request payload is not a valid parameter."
        )));
    }
    let topic = &body["topic"];
    let value_ok = topic["value"].as_str().is_some_and(|v| !v.is_empty());
    match topic["source"].as_str() {
        Some("text") if value_ok && topic["webUrl"].as_str().is_some_and(|u| u.starts_with("https://")) => {}
        Some("text") => return Err(bad_request("A topic of source 'text' needs a value and an https webUrl.")),
        Some("entityUrl") if value_ok => {}
        _ => return Err(bad_request("topic must have source 'entityUrl' or 'text' and a value.")),
    }
    let Some(activity_type) = body["activityType"].as_str() else {
        return Err(bad_request("activityType is required."));
    };
    if activity_type != "systemDefault" && !declared.iter().any(|d| d == activity_type) {
        return Err(bad_request(&format!("Activity type '{activity_type}' is not declared in the app manifest.")));
    }
    if !body["previewText"].is_null() && !body["previewText"]["content"].is_string() {
        return Err(bad_request("previewText must be an itemBody with content."));
    }
    if let Some(parameters) = body.get("templateParameters") {
        let pairs = parameters.as_array().is_some_and(|items| {
            items.iter().all(|item| {
                item["name"].is_string() && item["value"].is_string() && item.as_object().map_or(0, |o| o.len()) == 2
            })
        });
        if !pairs {
            return Err(bad_request("templateParameters must be a collection of keyValuePair {name, value}."));
        }
    }
    if !body["chainId"].is_null() && !body["chainId"].is_i64() {
        return Err(bad_request("chainId must be an Int64."));
    }
    Ok(())
}

async fn send_to_user(
    State(feed): State<Arc<ActivityFeed>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    *feed.calls.lock() += 1;
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(caller) = token.and_then(|t| feed.verifier.verify(t, GRAPH_AUDIENCE)) else {
        return odata_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty or invalid.",
        );
    };
    let failure = {
        let mut failures = feed.failures.lock();
        (!failures.is_empty()).then(|| failures.remove(0))
    };
    if let Some(status) = failure {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut response = odata_error(status, "TooManyRequests", "The request was throttled or failed; retry.");
        response.headers_mut().insert("retry-after", "0".parse().expect("a header value"));
        return response;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("The request body must be JSON.");
    };
    let declared = feed.declared.lock().clone();
    if let Err(refusal) = check_body(&body, &declared) {
        return refusal;
    }
    let Some(user) = feed.directory.users.iter().find(|u| u.oid == id || u.upn.eq_ignore_ascii_case(&id)) else {
        return odata_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist."),
        );
    };
    feed.sent.lock().push(Sent { user_oid: user.oid.clone(), sender_app_id: caller.app_id, body, at: Instant::now() });
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body() -> Value {
        json!({
            "topic": {"source": "text", "value": "Pair sales", "webUrl": "https://teams.microsoft.com/l/message/a/1"},
            "activityType": "drAlert",
            "previewText": {"content": "Replication failed"},
            "templateParameters": [{"name": "pair", "value": "sales"}],
        })
    }

    #[test]
    fn drbots_manifest_declares_its_alert_type() {
        assert_eq!(declared_in(DRBOT_MANIFEST), ["drAlert"]);
    }

    #[test]
    fn bodies_are_checked_as_the_reference_states() {
        let declared = vec!["drAlert".to_string()];
        assert!(check_body(&body(), &declared).is_ok());
        let mut undeclared = body();
        undeclared["activityType"] = json!("somethingElse");
        assert!(check_body(&undeclared, &declared).is_err(), "an undeclared activity type");
        let mut system = body();
        system["activityType"] = json!("systemDefault");
        assert!(check_body(&system, &declared).is_ok(), "the reserved type needs no declaration");
        let mut no_link = body();
        no_link["topic"] = json!({"source": "text", "value": "x"});
        assert!(check_body(&no_link, &declared).is_err(), "a text topic needs webUrl");
        let mut unknown = body();
        unknown["recipient"] = json!({});
        assert!(check_body(&unknown, &declared).is_err(), "not a parameter of the user action");
        let mut bad_template = body();
        bad_template["templateParameters"] = json!({"pair": "sales"});
        assert!(check_body(&bad_template, &declared).is_err());
    }
}
