//! The Bot Framework connector stand-in: where the bot's replies land.
//!
//! It answers like the Teams connector (`201 {"id"}` for sends, `200` for
//! updates, `{id, activityId, serviceUrl}` for new conversations), checks the
//! bot's bearer token, enforces Teams' per-conversation rate limits with 429
//! and `Retry-After`, and records every activity so tests can read what the
//! bot said. Tests wait on [`Connector::wait_for`] instead of sleeping.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::entra::Entra;

/// The audience of the tokens a bot sends to the connector.
pub const BOTFRAMEWORK_AUDIENCE: &str = "https://api.botframework.com";

/// Teams' per-bot, per-conversation limits: (messages, window).
pub const CONVERSATION_LIMITS: [(usize, Duration); 4] = [
    (7, Duration::from_secs(1)),
    (8, Duration::from_secs(2)),
    (60, Duration::from_secs(30)),
    (1800, Duration::from_secs(3600)),
];

/// The largest activity the connector takes.
pub const MAX_ACTIVITY_BYTES: usize = 100 * 1024;

/// What kind of call the bot made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Send,
    Reply,
    Update,
    Delete,
    CreateConversation,
}

/// One call the connector accepted.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub verb: Verb,
    pub conversation_id: String,
    /// The activity id the connector assigned (send, reply, create) or was addressed (update, delete).
    pub activity_id: String,
    /// For replies, the activity replied to.
    pub reply_to_id: Option<String>,
    /// The body the bot sent (`null` for deletes).
    pub body: Value,
    /// The app id in the bot's token.
    pub app_id: String,
    /// When the connector accepted it (to check how often a card is updated).
    pub at: Instant,
}

impl Recorded {
    /// The first Adaptive Card attachment's content, if any.
    pub fn adaptive_card(&self) -> Option<&Value> {
        self.body["attachments"]
            .as_array()?
            .iter()
            .find(|a| a["contentType"] == "application/vnd.microsoft.card.adaptive")
            .map(|a| &a["content"])
    }
}

#[derive(Default)]
struct State_ {
    recorded: Vec<Recorded>,
    sends: HashMap<String, VecDeque<Instant>>,
    forced_throttles: VecDeque<u64>,
    removed: HashSet<String>,
    /// Each group chat's or channel's members, as `GET …/members` lists them.
    rosters: HashMap<String, Vec<Value>>,
    /// The tenant's admin blocked the bot: every send is refused.
    disabled: bool,
    next_id: u64,
    accepted: usize,
    rejected_auth: u64,
    throttled: u64,
}

/// The connector. One per sandbox; serves every conversation.
pub struct Connector {
    entra: Arc<Entra>,
    bot_app_id: String,
    state: Mutex<State_>,
    count: watch::Sender<usize>,
    throttled: watch::Sender<u64>,
    recording: std::sync::atomic::AtomicBool,
    /// Tokens already verified, with when: a bot reuses its token for an hour,
    /// and verifying RSA on every call would make the connector the bottleneck
    /// of a load test.
    verified_tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl Connector {
    pub fn new(entra: Arc<Entra>, bot_app_id: &str) -> Arc<Connector> {
        Arc::new(Connector {
            entra,
            bot_app_id: bot_app_id.to_string(),
            state: Mutex::new(State_::default()),
            count: watch::channel(0).0,
            throttled: watch::channel(0).0,
            recording: std::sync::atomic::AtomicBool::new(true),
            verified_tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Everything recorded so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.state.lock().recorded.clone()
    }

    /// Keep only counts, not the activities (load tests send hundreds of thousands).
    pub fn set_recording(&self, on: bool) {
        self.recording.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many calls were accepted, recorded or not.
    pub fn accepted_count(&self) -> usize {
        self.state.lock().accepted
    }

    /// Waits until at least `n` activities are accepted, up to `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<Recorded>> {
        let mut count = self.count.subscribe();
        let reached = tokio::time::timeout(timeout, count.wait_for(|c| *c >= n)).await;
        match reached {
            Ok(Ok(_)) => Ok(self.recorded()),
            _ => anyhow::bail!("the connector received {} activities, expected {n}", self.recorded().len()),
        }
    }

    /// Waits until at least `n` calls were answered 429, up to `timeout`.
    pub async fn wait_for_throttled(&self, n: u64, timeout: Duration) -> anyhow::Result<()> {
        let mut throttled = self.throttled.subscribe();
        let reached = tokio::time::timeout(timeout, throttled.wait_for(|c| *c >= n)).await.is_ok_and(|r| r.is_ok());
        if !reached {
            anyhow::bail!("the connector throttled {} calls, expected {n}", self.throttled_count());
        }
        Ok(())
    }

    /// The next `n` calls are answered 429 with this `Retry-After`.
    pub fn throttle_next(&self, n: usize, retry_after_secs: u64) {
        self.state.lock().forced_throttles.extend(std::iter::repeat_n(retry_after_secs, n));
    }

    /// The bot was removed from this conversation: sends get 403.
    pub fn remove_bot_from(&self, conversation_id: &str) {
        self.state.lock().removed.insert(conversation_id.to_string());
    }

    /// The people in conversation `conversation_id`, as Teams lists them
    /// (`GET v3/conversations/{id}/members`: `id`, `name`, `aadObjectId`,
    /// `userPrincipalName`).
    pub fn set_members(&self, conversation_id: &str, members: &[crate::directory::User]) {
        let listed = members
            .iter()
            .map(|user| {
                json!({"id": user.teams_id, "name": user.name, "aadObjectId": user.oid, "userPrincipalName": user.upn})
            })
            .collect();
        self.state.lock().rosters.insert(conversation_id.to_string(), listed);
    }

    /// The tenant's admin blocks the bot (Teams admin center): every send
    /// gets 403 `BotDisabledByAdmin`.
    pub fn disable_bot(&self) {
        self.state.lock().disabled = true;
    }

    /// How many calls were refused for a bad token.
    pub fn rejected_auth_count(&self) -> u64 {
        self.state.lock().rejected_auth
    }

    /// How many calls were answered 429.
    pub fn throttled_count(&self) -> u64 {
        self.state.lock().throttled
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/v3/conversations", post(create_conversation))
            .route("/v3/conversations/{conversation}/activities", post(send))
            .route("/v3/conversations/{conversation}/members", get(members))
            .route("/v3/conversations/{conversation}/activities/{activity}", post(reply).put(update).delete(delete))
            .route("/v3/conversations/{conversation}/activities/{activity}/", put(update))
            .with_state(self.clone())
    }

    /// Checks the token, the roster and the rate limits; records on success.
    fn accept(
        &self,
        headers: &HeaderMap,
        verb: Verb,
        conversation_id: &str,
        addressed: Option<&str>,
        body: &Bytes,
    ) -> Result<Recorded, Refusal> {
        let app_id = self.authenticate(headers).ok_or_else(|| {
            self.state.lock().rejected_auth += 1;
            Refusal::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Authorization has been denied for this request.")
        })?;
        if body.len() > MAX_ACTIVITY_BYTES {
            return Err(Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "MessageSizeTooBig", "Message size too big."));
        }
        let recording = self.recording.load(std::sync::atomic::Ordering::Relaxed);
        let bad_syntax = || Refusal::new(StatusCode::BAD_REQUEST, "BadSyntax", "Request body is not valid JSON.");
        let activity: Value = if verb == Verb::Delete {
            Value::Null
        } else {
            let (typed, activity) = read_body(body, recording).ok_or_else(bad_syntax)?;
            if verb != Verb::CreateConversation && !typed {
                return Err(Refusal::new(StatusCode::BAD_REQUEST, "BadArgument", "Activity type is required."));
            }
            activity
        };
        let mut state = self.state.lock();
        if state.disabled {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "BotDisabledByAdmin",
                "The tenant admin disabled this bot.",
            ));
        }
        if state.removed.contains(conversation_id) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "BotNotInConversationRoster",
                "The bot is not part of the conversation roster.",
            ));
        }
        if let Some(retry_after) = state.forced_throttles.pop_front() {
            state.throttled += 1;
            self.throttled.send_replace(state.throttled);
            return Err(Refusal::throttled(retry_after));
        }
        if verb != Verb::CreateConversation {
            let now = Instant::now();
            let sends = state.sends.entry(conversation_id.to_string()).or_default();
            while sends.front().is_some_and(|t| now.duration_since(*t) > Duration::from_secs(3600)) {
                sends.pop_front();
            }
            if let Some(wait) = wait_needed(sends, now) {
                state.throttled += 1;
                self.throttled.send_replace(state.throttled);
                return Err(Refusal::throttled(wait.as_secs_f64().ceil().max(1.0) as u64));
            }
            sends.push_back(now);
        }
        state.next_id += 1;
        let activity_id = match (verb, addressed) {
            (Verb::Update | Verb::Delete, Some(id)) => id.to_string(),
            _ => format!("1{:012}", state.next_id),
        };
        let recorded = Recorded {
            verb,
            conversation_id: conversation_id.to_string(),
            activity_id,
            reply_to_id: if verb == Verb::Reply { addressed.map(str::to_string) } else { None },
            body: activity,
            app_id,
            at: Instant::now(),
        };
        if recording {
            state.recorded.push(recorded.clone());
        }
        state.accepted += 1;
        let count = state.accepted;
        drop(state);
        self.count.send_replace(count);
        Ok(recorded)
    }

    fn authenticate(&self, headers: &HeaderMap) -> Option<String> {
        let header = headers.get("authorization")?.to_str().ok()?;
        let token = header.strip_prefix("Bearer ")?;
        if let Some((app_id, at)) = self.verified_tokens.lock().get(token) {
            if at.elapsed() < Duration::from_secs(300) {
                return Some(app_id.clone());
            }
        }
        let caller = self.entra.verify(token, BOTFRAMEWORK_AUDIENCE)?;
        if caller.app_id != self.bot_app_id {
            return None;
        }
        let mut cache = self.verified_tokens.lock();
        if cache.len() >= 256 {
            cache.clear();
        }
        cache.insert(token.to_string(), (caller.app_id.clone(), Instant::now()));
        Some(caller.app_id)
    }
}

/// A body's JSON: whether it is an object with a string `type`, and the
/// whole of it when it is kept (`None`: not JSON). Not kept, only what is
/// checked (UTF-8, JSON syntax, a string `type`) is read, without building
/// it: parsing a 20 KB card into a tree per reply cost a benchmark's
/// connector more than the bot spent on the turn.
fn read_body(body: &[u8], keep: bool) -> Option<(bool, Value)> {
    if keep {
        let activity: Value = serde_json::from_slice(body).ok()?;
        return Some((activity.get("type").is_some_and(Value::is_string), activity));
    }
    let shape = serde_json::from_str::<Shape>(std::str::from_utf8(body).ok()?).ok()?;
    Some((shape == Shape::Typed, Value::Null))
}

/// What the connector checks of a body: a JSON object whose `type` is a
/// string (the last `type` counts, as when parsed into a map), read
/// without building the rest.
#[derive(Debug, PartialEq, Eq)]
enum Shape {
    Typed,
    Untyped,
}

impl<'de> serde::Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Shape, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

        struct Body;
        impl<'de> Visitor<'de> for Body {
            type Value = Shape;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
                let mut shape = Shape::Untyped;
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Type => {
                            shape = match map.next_value::<Value>()? {
                                Value::String(_) => Shape::Typed,
                                _ => Shape::Untyped,
                            }
                        }
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(shape)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Shape::Untyped)
            }

            fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::Untyped)
            }

            fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::Untyped)
            }

            fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::Untyped)
            }

            fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::Untyped)
            }

            fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::Untyped)
            }

            fn visit_unit<E>(self) -> Result<Shape, E> {
                Ok(Shape::Untyped)
            }
        }

        /// A key, compared without being copied.
        enum Key {
            Type,
            Other,
        }
        impl<'de> serde::Deserialize<'de> for Key {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
                struct KeyVisitor;
                impl Visitor<'_> for KeyVisitor {
                    type Value = Key;

                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a key")
                    }

                    fn visit_str<E>(self, key: &str) -> Result<Key, E> {
                        Ok(if key == "type" { Key::Type } else { Key::Other })
                    }
                }
                deserializer.deserialize_str(KeyVisitor)
            }
        }

        deserializer.deserialize_any(Body)
    }
}

/// How long until one more send fits in every window, if it does not now.
fn wait_needed(sends: &VecDeque<Instant>, now: Instant) -> Option<Duration> {
    CONVERSATION_LIMITS
        .iter()
        .filter_map(|(limit, window)| {
            let in_window: Vec<&Instant> = sends.iter().filter(|t| now.duration_since(**t) < *window).collect();
            (in_window.len() >= *limit).then(|| {
                let oldest_that_must_expire = in_window[in_window.len() - limit];
                *window - now.duration_since(*oldest_that_must_expire)
            })
        })
        .max()
}

/// Why the connector refused a call, rendered in the connector's error shape.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
    retry_after_secs: Option<u64>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: &'static str) -> Refusal {
        Refusal { status, code, message, retry_after_secs: None }
    }

    fn throttled(retry_after_secs: u64) -> Refusal {
        Refusal {
            retry_after_secs: Some(retry_after_secs),
            ..Refusal::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Too many requests.")
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = connector_error(self.status, self.code, self.message);
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert("retry-after", secs.into());
        }
        response
    }
}

fn connector_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

async fn send(
    State(c): State<Arc<Connector>>,
    Path(conversation): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match c.accept(&headers, Verb::Send, &conversation, None, &body) {
        Ok(r) => (StatusCode::CREATED, Json(json!({"id": r.activity_id}))).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn reply(
    State(c): State<Arc<Connector>>,
    Path((conversation, activity)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match c.accept(&headers, Verb::Reply, &conversation, Some(&activity), &body) {
        Ok(r) => (StatusCode::CREATED, Json(json!({"id": r.activity_id}))).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn update(
    State(c): State<Arc<Connector>>,
    Path((conversation, activity)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match c.accept(&headers, Verb::Update, &conversation, Some(&activity), &body) {
        Ok(r) => (StatusCode::OK, Json(json!({"id": r.activity_id}))).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn delete(
    State(c): State<Arc<Connector>>,
    Path((conversation, activity)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    match c.accept(&headers, Verb::Delete, &conversation, Some(&activity), &Bytes::new()) {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET v3/conversations/{id}/members`: the roster; the same refusals as a
/// send (a bot removed or blocked), 404 for a conversation the bot is not in.
async fn members(State(c): State<Arc<Connector>>, Path(conversation): Path<String>, headers: HeaderMap) -> Response {
    if c.authenticate(&headers).is_none() {
        return connector_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Authorization has been denied for this request.",
        );
    }
    let state = c.state.lock();
    if state.disabled {
        return connector_error(StatusCode::FORBIDDEN, "BotDisabledByAdmin", "The tenant admin disabled this bot.");
    }
    if state.removed.contains(&conversation) {
        return connector_error(
            StatusCode::FORBIDDEN,
            "BotNotInConversationRoster",
            "The bot is not part of the conversation roster.",
        );
    }
    match state.rosters.get(&conversation) {
        Some(members) => Json(Value::Array(members.clone())).into_response(),
        None => connector_error(StatusCode::NOT_FOUND, "ConversationNotFound", "Conversation not found."),
    }
}

async fn create_conversation(State(c): State<Arc<Connector>>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(member) = parsed["members"].as_array().and_then(|m| m.first()).and_then(|m| m["id"].as_str()) else {
        if c.authenticate(&headers).is_none() {
            return connector_error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Authorization has been denied for this request.",
            );
        }
        return connector_error(StatusCode::BAD_REQUEST, "BadArgument", "Conversation members are required.");
    };
    if parsed["channelData"]["tenant"]["id"].as_str().is_none() {
        return connector_error(StatusCode::BAD_REQUEST, "BadArgument", "Tenant id is required.");
    }
    let conversation_id = format!("a:1{}", member.trim_start_matches("29:"));
    match c.accept(&headers, Verb::CreateConversation, &conversation_id, None, &body) {
        Ok(r) => {
            (StatusCode::CREATED, Json(json!({"id": conversation_id, "activityId": r.activity_id}))).into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_checked_for_json_and_a_string_type_without_being_built() {
        let shape = |body: &str| serde_json::from_slice::<Shape>(body.as_bytes()).ok();
        assert_eq!(
            shape(r#"{"type": "message", "attachments": [{"content": {"a": [1, 2.5, null, true]}}]}"#),
            Some(Shape::Typed)
        );
        assert_eq!(shape(r#"{"text": "no type"}"#), Some(Shape::Untyped));
        assert_eq!(shape(r#"{"type": 7}"#), Some(Shape::Untyped));
        assert_eq!(shape(r#"{"type": "message", "type": null}"#), Some(Shape::Untyped), "the last one counts");
        assert_eq!(shape(r#"{"t\u0079pe": "message"}"#), Some(Shape::Typed), "an escaped key is the same key");
        for not_an_object in ["[]", "null", "42", "\"message\"", "true"] {
            assert_eq!(shape(not_an_object), Some(Shape::Untyped), "{not_an_object}");
        }
        for not_json in
            ["", "{", r#"{"type": "message"} x"#, "{'type': 'message'}", r#"{"type": "message", "value": NaN}"#]
        {
            assert_eq!(shape(not_json), None, "{not_json}");
        }
    }

    /// Kept or not, a body is JSON with a string `type` alike; kept, it is
    /// parsed whole, so what only a full parse refuses is refused too.
    #[test]
    fn a_body_kept_is_parsed_whole_and_one_not_kept_is_checked_alike() {
        for keep in [true, false] {
            let typed = |body: &[u8]| read_body(body, keep).map(|(typed, _)| typed);
            assert_eq!(typed(br#"{"type": "message", "text": "hi"}"#), Some(true));
            assert_eq!(typed(br#"{"text": "hi"}"#), Some(false));
            assert_eq!(typed(b"[1, 2]"), Some(false));
            assert_eq!(typed(b"{\"type\": \"message\", \"text\": \"\xff\"}"), None, "not UTF-8 (keep: {keep})");
            assert_eq!(typed(b"{\"type\": \"message\""), None);
        }
        let (_, kept) = read_body(br#"{"type": "message", "text": "hi"}"#, true).unwrap();
        assert_eq!(kept["text"], "hi");
        for only_a_full_parse_refuses in
            [&br#"{"type": "message", "n": 1e999}"#[..], br#"{"type": "m", "t": "\ud800"}"#]
        {
            assert_eq!(read_body(only_a_full_parse_refuses, true), None);
        }
    }

    #[test]
    fn eighth_send_within_two_seconds_must_wait() {
        let now = Instant::now();
        let mut sends = VecDeque::new();
        for i in 0..7 {
            sends.push_back(now - Duration::from_millis(1500 - i * 10));
        }
        // 7 in the last 2 s but none in the last second: the 1 s window is free, 8/2 s is not yet reached.
        assert_eq!(wait_needed(&sends, now), None);
        sends.push_back(now - Duration::from_millis(100));
        // Now 8 within 2 s: must wait until the oldest leaves the window.
        let wait = wait_needed(&sends, now).unwrap();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500), "{wait:?}");
    }
}
