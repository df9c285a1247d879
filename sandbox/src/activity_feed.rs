//! Microsoft Graph's Teams activity-feed notifications (v1.0), as drbot's
//! alerts send them: `POST /users/{userId | userPrincipalName}/teamwork/sendActivityNotification`
//! ("userTeamwork: sendActivityNotification"), `POST /teams/{teamId}/sendActivityNotification`
//! ("team: sendActivityNotification") and `POST /chats/{chatId}/sendActivityNotification`
//! ("chat: sendActivityNotification"). Recorded per person reached, so tests
//! see each member of a team, channel or chat notified once.
//!
//! A team or a chat exists here when a test adds it (`add_team`,
//! `add_channel`, `add_chat`), with its members and whether drbot is
//! installed in it: Graph delivers only where the app is installed (403
//! otherwise), an unknown team or chat is a 404. The team and chat actions
//! take a `recipient` (`teamworkNotificationRecipient`): one member
//! (`aadUserNotificationRecipient`), every member of the team
//! (`teamMembersNotificationRecipient`), of one of its channels
//! (`channelMembersNotificationRecipient`), or of the chat
//! (`chatMembersNotificationRecipient`); the user action takes none.
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

use std::collections::HashMap;
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

/// One notification Graph accepted, as one person's feed got it.
#[derive(Clone, Debug)]
pub struct Sent {
    /// The user it reached, as the directory knows them (object id).
    pub user_oid: String,
    /// Through which action: `user`, `team:{id}` or `chat:{id}`.
    pub scope: String,
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
    teams: Mutex<HashMap<String, Scope>>,
    chats: Mutex<HashMap<String, Scope>>,
}

/// A team or a chat: its members (object ids), its channels' members (a
/// team's), and whether drbot is installed in it.
#[derive(Clone, Debug, Default)]
struct Scope {
    members: Vec<String>,
    channels: HashMap<String, Vec<String>>,
    installed: bool,
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
            teams: Mutex::new(HashMap::new()),
            chats: Mutex::new(HashMap::new()),
        })
    }

    /// A team (by its group id) with `members`, drbot installed in it or not.
    pub fn add_team(&self, team_id: &str, members: &[&crate::directory::User], installed: bool) {
        let members = members.iter().map(|u| u.oid.clone()).collect();
        self.teams.lock().insert(team_id.into(), Scope { members, channels: HashMap::new(), installed });
    }

    /// A channel of a team added before; `members` for a private channel,
    /// `None` for a standard one (every member of the team).
    pub fn add_channel(&self, team_id: &str, channel_id: &str, members: Option<&[&crate::directory::User]>) {
        let mut teams = self.teams.lock();
        let team = teams.get_mut(team_id).expect("add the team first");
        let members = match members {
            Some(members) => members.iter().map(|u| u.oid.clone()).collect(),
            None => team.members.clone(),
        };
        team.channels.insert(channel_id.into(), members);
    }

    /// A group chat with `members`, drbot installed in it or not.
    pub fn add_chat(&self, chat_id: &str, members: &[&crate::directory::User], installed: bool) {
        let members = members.iter().map(|u| u.oid.clone()).collect();
        self.chats.lock().insert(chat_id.into(), Scope { members, channels: HashMap::new(), installed });
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
            .route("/v1.0/teams/{id}/sendActivityNotification", post(send_in_team))
            .route("/v1.0/chats/{id}/sendActivityNotification", post(send_in_chat))
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

/// Checks the body against the reference; the problem as Graph would word
/// it. `recipient` is a parameter of the team and chat actions (required
/// there), not of the user action.
fn check_body(body: &Value, declared: &[String], with_recipient: bool) -> Result<(), Response> {
    let Some(map) = body.as_object() else { return Err(bad_request("The request body must be a JSON object.")) };
    let known = |k: &str| PARAMETERS.contains(&k) || (with_recipient && k == "recipient");
    if with_recipient && !map.contains_key("recipient") {
        return Err(bad_request("recipient is required."));
    }
    if let Some(unknown) = map.keys().find(|k| !known(k)) {
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

/// What every variant of the action checks first: the call is counted, the
/// token is Graph's, an injected failure answers, the body is as the
/// reference states. The caller's app id and the body, or the refusal.
fn accept(
    feed: &ActivityFeed,
    headers: &HeaderMap,
    body: &Bytes,
    with_recipient: bool,
) -> Result<(String, Value), Response> {
    *feed.calls.lock() += 1;
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(caller) = token.and_then(|t| feed.verifier.verify(t, GRAPH_AUDIENCE)) else {
        return Err(odata_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty or invalid.",
        ));
    };
    let failure = {
        let mut failures = feed.failures.lock();
        (!failures.is_empty()).then(|| failures.remove(0))
    };
    if let Some(status) = failure {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut response = odata_error(status, "TooManyRequests", "The request was throttled or failed; retry.");
        response.headers_mut().insert("retry-after", "0".parse().expect("a header value"));
        return Err(response);
    }
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return Err(bad_request("The request body must be JSON."));
    };
    let declared = feed.declared.lock().clone();
    check_body(&body, &declared, with_recipient)?;
    Ok((caller.app_id, body))
}

fn record(feed: &ActivityFeed, users: Vec<String>, scope: &str, sender_app_id: &str, body: &Value) -> Response {
    let at = Instant::now();
    let mut sent = feed.sent.lock();
    for user_oid in users {
        sent.push(Sent {
            user_oid,
            scope: scope.to_string(),
            sender_app_id: sender_app_id.to_string(),
            body: body.clone(),
            at,
        });
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn send_to_user(
    State(feed): State<Arc<ActivityFeed>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (sender, body) = match accept(&feed, &headers, &body, false) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal,
    };
    let Some(user) = feed.directory.users.iter().find(|u| u.oid == id || u.upn.eq_ignore_ascii_case(&id)) else {
        return not_found(&id);
    };
    record(&feed, vec![user.oid.clone()], "user", &sender, &body)
}

async fn send_in_team(
    State(feed): State<Arc<ActivityFeed>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    send_in(&feed, &headers, &id, &body, Kind::Team)
}

async fn send_in_chat(
    State(feed): State<Arc<ActivityFeed>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    send_in(&feed, &headers, &id, &body, Kind::Chat)
}

/// Which of the two scoped actions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Team,
    Chat,
}

/// The team or chat action: the scope must exist and have drbot installed,
/// the recipient must be one the action takes, naming this scope.
fn send_in(feed: &ActivityFeed, headers: &HeaderMap, id: &str, body: &Bytes, kind: Kind) -> Response {
    let (sender, body) = match accept(feed, headers, body, true) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal,
    };
    let (scopes, path, name) = match kind {
        Kind::Team => (&feed.teams, "teams", "team"),
        Kind::Chat => (&feed.chats, "chats", "chat"),
    };
    let Some(scope) = scopes.lock().get(id).cloned() else { return not_found(id) };
    let path = format!("{path}/{id}");
    if !scope.installed {
        return not_installed(&sender, &path);
    }
    let recipient = &body["recipient"];
    let names_this = |field: &str| recipient[field] == id;
    let users = match (kind, recipient_type(recipient)) {
        (_, Some("aadUserNotificationRecipient")) => match member(feed, &scope, recipient) {
            Some(user) => vec![user],
            None => return not_installed(&sender, &path),
        },
        (Kind::Team, Some("teamMembersNotificationRecipient")) if names_this("teamId") => scope.members.clone(),
        (Kind::Team, Some("channelMembersNotificationRecipient")) if names_this("teamId") => {
            let channel = recipient["channelId"].as_str().unwrap_or_default();
            match scope.channels.get(channel) {
                Some(members) => members.clone(),
                None => return not_found(channel),
            }
        }
        (Kind::Chat, Some("chatMembersNotificationRecipient")) if names_this("chatId") => scope.members.clone(),
        (Kind::Team, Some("teamMembersNotificationRecipient" | "channelMembersNotificationRecipient"))
        | (Kind::Chat, Some("chatMembersNotificationRecipient")) => {
            return bad_request(&format!("The recipient must name the {name} in the URL."))
        }
        (Kind::Team, _) => {
            return bad_request("recipient must be an aadUser, teamMembers or channelMembers notification recipient.")
        }
        (Kind::Chat, _) => return bad_request("recipient must be an aadUser or chatMembers notification recipient."),
    };
    record(feed, users, &format!("{name}:{id}"), &sender, &body)
}

/// The recipient's type without its namespace: the reference's examples
/// write both `microsoft.graph.` and `Microsoft.Teams.GraphSvc.`, with or
/// without the leading `#`.
fn recipient_type(recipient: &Value) -> Option<&str> {
    let odata = recipient["@odata.type"].as_str()?.trim_start_matches('#');
    odata.strip_prefix("microsoft.graph.").or_else(|| odata.strip_prefix("Microsoft.Teams.GraphSvc."))
}

/// The `aadUserNotificationRecipient`'s user, when they are a member of `scope`.
fn member(feed: &ActivityFeed, scope: &Scope, recipient: &Value) -> Option<String> {
    let id = recipient["userId"].as_str()?;
    let user = feed.directory.users.iter().find(|u| u.oid == id || u.upn.eq_ignore_ascii_case(id))?;
    scope.members.contains(&user.oid).then(|| user.oid.clone())
}

fn not_found(id: &str) -> Response {
    odata_error(StatusCode::NOT_FOUND, "NotFound", &format!("Resource '{id}' does not exist."))
}

/// Graph's refusal where the app is not installed (its wording, reported in
/// OfficeDev/microsoft-365-agents-toolkit#6067).
fn not_installed(app_id: &str, scope: &str) -> Response {
    odata_error(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!(
            "Application with AAD App Id '{app_id}' is not authorized to generate custom text notifications about \
             '/v1.0/{scope}/sendActivityNotification' to the recipient. Ensure that the expected Teams app is \
             installed in the target scope (user, team, or chat)."
        ),
    )
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
        assert!(check_body(&body(), &declared, false).is_ok());
        let mut undeclared = body();
        undeclared["activityType"] = json!("somethingElse");
        assert!(check_body(&undeclared, &declared, false).is_err(), "an undeclared activity type");
        let mut system = body();
        system["activityType"] = json!("systemDefault");
        assert!(check_body(&system, &declared, false).is_ok(), "the reserved type needs no declaration");
        let mut no_link = body();
        no_link["topic"] = json!({"source": "text", "value": "x"});
        assert!(check_body(&no_link, &declared, false).is_err(), "a text topic needs webUrl");
        let mut unknown = body();
        unknown["recipient"] = json!({});
        assert!(check_body(&unknown, &declared, false).is_err(), "not a parameter of the user action");
        let mut bad_template = body();
        bad_template["templateParameters"] = json!({"pair": "sales"});
        assert!(check_body(&bad_template, &declared, false).is_err());
        let mut to_members = body();
        to_members["recipient"] =
            json!({"@odata.type": "microsoft.graph.chatMembersNotificationRecipient", "chatId": "c"});
        assert!(check_body(&to_members, &declared, true).is_ok(), "a team or chat action takes a recipient");
        assert!(check_body(&body(), &declared, true).is_err(), "and needs one");
        for written in [
            "microsoft.graph.chatMembersNotificationRecipient",
            "#microsoft.graph.chatMembersNotificationRecipient",
            "Microsoft.Teams.GraphSvc.chatMembersNotificationRecipient",
        ] {
            assert_eq!(recipient_type(&json!({"@odata.type": written})), Some("chatMembersNotificationRecipient"));
        }
        assert_eq!(recipient_type(&json!({"@odata.type": "chatMembersNotificationRecipient"})), None);
    }
}
