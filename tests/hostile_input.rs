//! Hostile input through the real HTTP endpoint (issue #9, part 5).
//!
//! Every case goes through `POST /api/messages` of a running bot, with a valid
//! channel token from the sandbox and, where the bot must refuse before
//! authenticating, without one. The promises: a body that is too big is 413
//! however it arrives; a body that is not an activity is 400 with a
//! correlation id; an activity drbot does not handle is 200 and nothing is
//! sent; an invoke it does not know is 501 (as the Bot Framework SDKs
//! answer); a card action always gets a well-formed invoke response; text a
//! person types never panics, never reaches Databricks, and a card that
//! reports a failure shows a correlation id. After all of it, the bot still
//! answers.
//!
//! Adding a case is one line in the table it belongs to: [`not_an_activity`],
//! [`wrong_types`], [`odd_but_valid`], [`UNKNOWN_TYPES`], [`unknown_invokes`], [`card_actions`]
//! [`malformed_sign_in_invokes`] or [`hostile_commands`].

mod support;

use sandbox::connector::Recorded;
use sandbox::teams::BotResponse;
use serde_json::{json, Value};
use support::{World, PATIENCE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---- the tables -------------------------------------------------------------

/// Bodies that are not an activity at all: 400 with a correlation id.
fn not_an_activity() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty body", b"".to_vec()),
        ("whitespace", b"  \n\t ".to_vec()),
        ("truncated object", b"{".to_vec()),
        ("truncated string", br#"{"type": "message", "text": "hel"#.to_vec()),
        ("trailing garbage", br#"{"type": "message"} x"#.to_vec()),
        ("array", b"[]".to_vec()),
        ("null", b"null".to_vec()),
        ("number", b"42".to_vec()),
        ("string", br#""message""#.to_vec()),
        ("no type", br#"{"text": "help"}"#.to_vec()),
        ("invalid UTF-8", b"\xff\xfe\x00".to_vec()),
        ("invalid UTF-8 in a string", b"{\"type\": \"message\", \"text\": \"\xc3\x28\"}".to_vec()),
        ("lone surrogate escape", br#"{"type": "message", "text": "\ud800"}"#.to_vec()),
        ("NaN", br#"{"type": "message", "value": NaN}"#.to_vec()),
        ("single quotes", b"{'type': 'message'}".to_vec()),
        ("nested arrays 100k deep", json_bomb("[", "]", 100_000)),
        ("nested objects 10k deep in value", {
            let mut bomb = br#"{"type": "invoke", "name": "x", "value": "#.to_vec();
            bomb.extend(json_bomb(r#"{"a":"#, "}", 10_000));
            bomb.push(b'}');
            bomb
        }),
    ]
}

/// A real Teams message with one known field of the wrong JSON type: 400.
fn wrong_types() -> Vec<(&'static str, Value)> {
    vec![
        ("type", json!(7)),
        ("type", Value::Null),
        ("text", json!(["help"])),
        ("text", json!({"value": "help"})),
        ("id", json!(12345)),
        ("serviceUrl", json!(true)),
        ("channelId", json!(["msteams"])),
        ("from", json!("alice")),
        ("from", json!({"name": "no id"})),
        ("conversation", json!(1)),
        ("recipient", json!([])),
        ("attachments", json!({})),
        ("attachments", json!([{"content": "no contentType"}])),
        ("entities", json!("mention")),
        ("membersAdded", json!({"id": "28:bot"})),
        ("name", json!(7)),
        ("replyToId", json!({})),
    ]
}

/// A real `help` message with an optional field of an odd shape drbot keeps
/// as JSON: still answered, with the help card.
fn odd_but_valid() -> Vec<(&'static str, Value)> {
    vec![
        ("channelData", json!(5)),
        ("channelData", json!({"tenant": "not an object", "team": [], "channel": {"id": 7}})),
        ("channelData", json!({"tenant": {"id": ""}})),
        ("entities", json!([null, 1, "x", {"type": "mention"}, {"type": "mention", "mentioned": 5}])),
        ("attachments", json!([{"contentType": "application/x-unknown", "content": {"a": [1, {"b": null}]}}])),
        ("value", json!({"text": ["not", "a", "string"]})),
        ("locale", Value::Null),
        ("somethingNew", json!({"deep": [[[[[[[[[[1]]]]]]]]]]})),
    ]
}

/// Activity types drbot does nothing with: 200, nothing sent.
const UNKNOWN_TYPES: &[&str] = &[
    "handoff",
    "typing",
    "event",
    "messageReaction",
    "messageUpdate",
    "messageDelete",
    "endOfConversation",
    "trace",
    "",
    "MESSAGE",
    "message\u{0}",
    "invoke ",
];

/// Invokes drbot does not handle: 501 and no body, as `ActivityHandler.onInvokeActivity` answers.
/// `None` is an invoke without a name.
fn unknown_invokes() -> Vec<(Option<&'static str>, Value)> {
    vec![
        (Some("composeExtension/query"), json!({"commandId": "x"})),
        (Some("composeExtension/fetchTask"), json!({})),
        (Some("task/fetch"), json!({"data": {}})),
        (Some("config/fetch"), Value::Null),
        (Some("actionableMessage/executeAction"), json!({})),
        (Some("signin/somethingNew"), json!({})),
        (Some("adaptivecard/action"), json!({"action": {"verb": "command", "data": {"text": "help"}}})),
        (Some(""), json!({})),
        (None, json!({"action": {"verb": "command"}})),
    ]
}

/// `adaptiveCard/action` values (or none at all): always a well-formed invoke response.
fn card_actions() -> Vec<(&'static str, Option<Value>)> {
    let execute = |verb: Value, data: Value| json!({"action": {"type": "Action.Execute", "verb": verb, "data": data}});
    vec![
        ("unknown verb", Some(execute(json!("self-destruct"), json!({})))),
        ("empty verb", Some(execute(json!(""), json!({"text": "help"})))),
        ("verb of the wrong type", Some(execute(json!(42), json!({"text": "help"})))),
        ("no value", None),
        ("null value", Some(Value::Null)),
        ("value is a string", Some(json!("command"))),
        ("value is an array", Some(json!([1, 2]))),
        ("action is a string", Some(json!({"action": "Action.Execute"}))),
        ("no data", Some(json!({"action": {"type": "Action.Execute", "verb": "command"}}))),
        ("data is a string", Some(execute(json!("command"), json!("help")))),
        ("text is a number", Some(execute(json!("command"), json!({"text": 5})))),
        ("text is empty", Some(execute(json!("command"), json!({"text": ""})))),
        (
            "text is a hostile command",
            Some(execute(json!("command"), json!({"text": "replicate main`; DROP TABLE x"}))),
        ),
        ("text is 10,000 words", Some(execute(json!("command"), json!({"text": words(10_000)})))),
    ]
}

/// Sign-in invokes whose value has the wrong shape, and the status Teams must get.
fn malformed_sign_in_invokes() -> Vec<(&'static str, Value, u16)> {
    vec![
        ("signin/tokenExchange", Value::Null, 400),
        ("signin/tokenExchange", json!("token"), 400),
        ("signin/tokenExchange", json!({"id": 5, "connectionName": "drbot-sso", "token": "t"}), 400),
        ("signin/tokenExchange", json!({"id": "x", "connectionName": "drbot-sso", "token": 5}), 400),
        ("signin/tokenExchange", json!({"id": "x", "connectionName": ["drbot-sso"], "token": "t"}), 400),
        ("signin/tokenExchange", json!({"id": "x", "connectionName": "drbot-sso", "token": ""}), 400),
        ("signin/verifyState", json!({"state": "x".repeat(10_000)}), 400),
        // Issue 16: a 200 KB code used to reach the token service and answer 500.
        ("signin/verifyState", json!({"state": "1".repeat(200_000)}), 400),
        ("signin/verifyState", json!({"state": "123\n456"}), 400),
        ("signin/tokenExchange", json!({"id": "x", "connectionName": "drbot-sso", "token": "t".repeat(200_000)}), 400),
        ("signin/tokenExchange", json!({"id": "x".repeat(10_000), "connectionName": "drbot-sso", "token": "t"}), 400),
        ("signin/tokenExchange", json!({"id": "x", "connectionName": "c".repeat(10_000), "token": "t"}), 400),
        ("signin/failure", json!({"code": "c".repeat(100_000), "message": "m".repeat(100_000)}), 200),
        ("signin/verifyState", json!({"state": "'; DROP TABLE x; --"}), 404),
        ("signin/failure", json!("not an object"), 200),
        ("signin/failure", json!({"code": 5, "message": ["x"]}), 200),
    ]
}

/// Text a person might type to break something. Each gets a card (usage,
/// unknown command or help) that shows a correlation id when it reports a
/// problem, and nothing reaches Databricks.
fn hostile_commands() -> Vec<String> {
    let mut commands: Vec<String> = [
        "replicate main`; DROP TABLE x",
        "replicate main`; DROP TABLE x; --",
        "replicate `main`",
        "replicate 'main'",
        "replicate \"main\"",
        "replicate main'--",
        "replicate main -- DROP",
        "replicate main --dry-run; DELETE FROM runs",
        "replicate ma\u{0}in",
        "replicate m\u{0430}in",  // Cyrillic а
        "replicate main\u{200b}", // zero-width space
        "replicate \u{202e}niam", // right-to-left override
        "replicate ../../etc/passwd",
        "replicate main.schema.table",
        "replicate %27%3B",
        "replicate ${jndi:ldap://x}",
        "replicate {{catalog}}",
        "run 1 OR 1=1",
        "run 1;SELECT",
        "cancel '; DROP TABLE operations; --",
        "deploy spoke x'); DROP TABLE plans; --",
        "deploy spoke ＤＲＯＰ",
        "subscribe daily 08:00 Europe/Amsterdam'; --",
        "subscribe every 1e9h",
        "subscribe daily 99999999999999999999:00",
        "help '; DROP TABLE x",
        "\u{0}",
        "ｒｅｐｌｉｃａｔｅ main",
        "<at>drbot</at><at>drbot</at> replicate <script>alert(1)</script>",
        "<at>unterminated replicate main",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    commands.push(format!("replicate {}", "a".repeat(10_000)));
    commands.push(format!("replicate {}", words(10_000)));
    commands.push(words(10_000));
    commands.push(format!("{} help", "<at>x</at>".repeat(20_000)));
    commands.push("x".repeat(200_000));
    commands
}

// ---- the tests --------------------------------------------------------------

#[tokio::test]
async fn bodies_over_the_limit_are_413_however_they_arrive() {
    let world = World::start().await;
    let limit = world.config.server.max_body_bytes;
    let auth = channel_auth(&world);

    // Exactly at the limit is not too big; one byte more is.
    let at_limit = padded_message(&world, limit);
    assert_eq!(post(&world, at_limit, Some(&auth)).await.status, 200, "a body of exactly the limit is served");
    let over = padded_message(&world, limit + 1);
    assert_eq!(post(&world, over, Some(&auth)).await.status, 413);
    assert_eq!(post(&world, vec![b' '; limit + 1], None).await.status, 413, "without a token too");

    // Far over: 64 MiB declared, the bot answers 413 without reading it all.
    let declared = 64 << 20;
    assert_eq!(raw_post(&world, Some(declared), declared, Some(&auth)).await, 413);
    // Chunked, with no Content-Length: counted as it arrives.
    assert_eq!(raw_post(&world, None, limit + 1, Some(&auth)).await, 413);
    assert_eq!(raw_post(&world, None, 64 << 20, None).await, 413);

    still_serving(&world, 1).await;
}

/// A connection is closed once it has no request under way for the idle
/// time: one whose request head never finishes (a slow-loris client) and an
/// idle keep-alive one alike, so neither holds a task and buffers for ever.
#[tokio::test]
async fn quiet_connections_are_closed_and_the_bot_still_serves() {
    let world = World::start_with(|config| config.server.idle_connection_ms = 300).await;

    // Half a request head, then silence: closed (hyper answers 408 first).
    let mut stalled = tokio::net::TcpStream::connect(world.bot.addr).await.expect("connect");
    stalled.write_all(b"POST /api/messages HTTP/1.1\r\nHost: drbot\r\n").await.unwrap();
    let answer = read_until_closed(&mut stalled).await;
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "a stalled head got {answer:?}");

    // A complete request on a keep-alive connection is answered, then the
    // connection is closed once it has been idle for the idle time.
    let mut kept = tokio::net::TcpStream::connect(world.bot.addr).await.expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: drbot\r\n\r\n").await.unwrap();
    let answer = read_until_closed(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "healthz on a kept-alive connection got {answer:?}");
    assert!(!answer.to_ascii_lowercase().contains("connection: close"), "closed for idleness, not at once: {answer:?}");

    still_serving(&world, 1).await;
}

#[tokio::test]
async fn bodies_that_are_not_activities_are_400_with_a_correlation_id() {
    let world = World::start().await;
    let mut ids = std::collections::HashSet::new();
    let forged = "Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.".to_string();
    for auth in [Some(channel_auth(&world)), None, Some(forged)] {
        for (name, body) in not_an_activity() {
            let answer = post(&world, body, auth.as_deref()).await;
            assert_eq!(answer.status, 400, "{name}: {answer:?}");
            ids.insert(correlation_id_of_400(name, &answer));
        }
        for (field, value) in wrong_types() {
            let mut activity = a_message(&world, "help");
            activity[field] = value.clone();
            let answer = post(&world, activity.to_string().into_bytes(), auth.as_deref()).await;
            assert_eq!(answer.status, 400, "{field} = {value}: {answer:?}");
            ids.insert(correlation_id_of_400(field, &answer));
        }
    }
    let sent = 3 * (not_an_activity().len() + wrong_types().len());
    assert_eq!(ids.len(), sent, "every refusal has its own correlation id");
    assert!(world.sandbox.connector.recorded().is_empty(), "nothing was sent");
    still_serving(&world, 1).await;
}

#[tokio::test]
async fn odd_shapes_of_optional_fields_are_still_answered() {
    let world = World::start().await;
    for (n, (field, value)) in odd_but_valid().into_iter().enumerate() {
        let mut activity = a_message(&world, "help");
        activity[field] = value.clone();
        let answer = world.sandbox.teams.send(&activity).await.unwrap();
        assert_eq!(answer.status, 200, "{field} = {value}: {answer:?}");
        let reply = world.sandbox.connector.wait_for(n + 1, PATIENCE).await.unwrap()[n].clone();
        assert!(reply.adaptive_card().unwrap().to_string().contains("drbot commands"), "{field} = {value}");
    }
}

#[tokio::test]
async fn activities_drbot_does_not_handle_are_200_and_nothing_is_sent() {
    let world = World::start().await;
    for kind in UNKNOWN_TYPES {
        let mut activity = a_message(&world, "help");
        activity["type"] = json!(kind);
        let answer = world.sandbox.teams.send(&activity).await.unwrap();
        assert_eq!(answer.status, 200, "type {kind:?}: {answer:?}");
        assert_eq!(answer.body, Value::Null, "type {kind:?}: no body");
        // Unauthenticated, the same activity is refused.
        let anonymous = post(&world, activity.to_string().into_bytes(), None).await;
        assert_eq!(anonymous.status, 401, "type {kind:?} without a token");
    }
    // A conversationUpdate that does not add the bot, and an installationUpdate with an odd action.
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let mut update = world.sandbox.teams.base_activity("conversationUpdate", &alice, &chat);
    update["membersAdded"] = json!([{"id": "29:someone-else"}]);
    assert_eq!(world.sandbox.teams.send(&update).await.unwrap().status, 200);
    let odd = world.sandbox.teams.installation_update(&alice, &chat, "upgrade'; DROP TABLE conversations; --");
    assert_eq!(world.sandbox.teams.send(&odd).await.unwrap().status, 200);

    assert!(world.sandbox.connector.recorded().is_empty(), "{:?}", world.sandbox.connector.recorded());
    still_serving(&world, 1).await;
}

#[tokio::test]
async fn unknown_invokes_are_501_without_a_body() {
    let world = World::start().await;
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    for (name, value) in unknown_invokes() {
        let mut invoke = world.sandbox.teams.invoke(&alice, &chat, name.unwrap_or_default(), value);
        if name.is_none() {
            invoke.as_object_mut().unwrap().remove("name");
        }
        let answer = world.sandbox.teams.send(&invoke).await.unwrap();
        assert_eq!(answer.status, 501, "{name:?}: {answer:?}");
        assert_eq!(answer.body, Value::Null, "{name:?}");
    }
    assert!(world.sandbox.connector.recorded().is_empty());
    still_serving(&world, 1).await;
}

#[tokio::test]
async fn card_actions_always_get_a_well_formed_invoke_response() {
    let world = World::start().await;
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    for (name, value) in card_actions() {
        let mut click = world.sandbox.teams.card_action(&alice, &chat, "1000", "command", json!({}));
        match value {
            Some(value) => click["value"] = value,
            None => {
                click.as_object_mut().unwrap().remove("value");
            }
        }
        let answer = world.sandbox.teams.send(&click).await.unwrap();
        assert_well_formed_card_action_answer(name, &answer);
    }
    // Signed-in-only commands from a button ask for sign-in the way Teams expects.
    let whoami = world.sandbox.teams.card_action(&alice, &chat, "1", "command", json!({"text": "whoami"}));
    let answer = world.sandbox.teams.send(&whoami).await.unwrap();
    assert_well_formed_card_action_answer("whoami", &answer);
    assert!(world.sandbox.connector.recorded().is_empty(), "card actions answer in the response");
    assert_no_databricks_calls(&world, 0);
    still_serving(&world, 1).await;
}

#[tokio::test]
async fn malformed_sign_in_invokes_are_refused_cleanly() {
    let world = World::start().await;
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let mut replies = 0;
    for (name, value, status) in malformed_sign_in_invokes() {
        let invoke = world.sandbox.teams.invoke(&alice, &chat, name, value.clone());
        let answer = world.sandbox.teams.send(&invoke).await.unwrap();
        assert_eq!(answer.status, status, "{name} {value}: {answer:?}");
        if status >= 400 && answer.body != Value::Null {
            assert!(answer.body["failureDetail"].is_string(), "{name} {value}: {answer:?}");
        }
        if name == "signin/failure" {
            replies += 1;
            let told = world.sandbox.connector.wait_for(replies, PATIENCE).await.unwrap()[replies - 1].clone();
            assert_failure_card_shows_a_correlation_id(name, &told);
        }
    }
    assert_eq!(world.sandbox.token_service.exchange_count(), 0);
    still_serving(&world, replies + 1).await;
}

#[tokio::test]
async fn hostile_commands_get_a_card_and_never_reach_databricks() {
    let world = World::start().await;
    sign_in_without_databricks(&world).await;
    let before = world.sandbox.connector.recorded().len();
    let calls_before = world.sandbox.primary.calls().len() + world.sandbox.secondary.calls().len();
    let commands = hostile_commands();
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    for (n, command) in commands.iter().enumerate() {
        let message = world.sandbox.teams.message(&alice, &chat, command);
        // Answered promptly: a message that costs seconds of CPU is a denial of service.
        let answer = tokio::time::timeout(PATIENCE, world.sandbox.teams.send(&message))
            .await
            .unwrap_or_else(|_| panic!("{}: not answered within {PATIENCE:?}", clip(command)))
            .unwrap();
        assert_eq!(answer.status, 200, "{}", clip(command));
        let reply = world.sandbox.connector.wait_for(before + n + 1, PATIENCE).await.unwrap()[before + n].clone();
        assert_failure_card_shows_a_correlation_id(command, &reply);
    }
    // In a channel, behind a mention, as well.
    let channel = world.sandbox.teams.channel("ops", "dr");
    let mentioned = world.sandbox.teams.message(&alice, &channel, "replicate main`; DROP TABLE x");
    assert_eq!(world.sandbox.teams.send(&mentioned).await.unwrap().status, 200);
    let reply = world.sandbox.connector.wait_for(before + commands.len() + 1, PATIENCE).await.unwrap();
    assert_failure_card_shows_a_correlation_id("in a channel", reply.last().unwrap());

    assert_no_databricks_calls(&world, calls_before);
    still_serving(&world, before + commands.len() + 2).await;
}

#[tokio::test]
async fn hostile_ids_reach_the_store_as_data_not_sql() {
    let world = World::start().await;
    let alice = world.alice();
    let hostile = sandbox::teams::Conversation::GroupChat { id: "19:x'); DROP TABLE conversations; --".into() };
    let installed = world.sandbox.teams.installation_update(&alice, &hostile, "add");
    assert_eq!(world.sandbox.teams.send(&installed).await.unwrap().status, 200);
    let stored = world.bot.app.store.conversation(hostile.id()).await.unwrap().expect("stored as it is");
    assert_eq!(stored.conversation_id, hostile.id());
    // The table is still there: an ordinary conversation is remembered too.
    let chat = world.sandbox.teams.personal(&alice);
    let installed = world.sandbox.teams.installation_update(&alice, &chat, "add");
    assert_eq!(world.sandbox.teams.send(&installed).await.unwrap().status, 200);
    assert!(world.bot.app.store.conversation(chat.id()).await.unwrap().is_some());
}

// ---- what every answer must look like -------------------------------------

fn correlation_id_of_400(name: &str, answer: &BotResponse) -> String {
    let id = answer.body["error"]["correlationId"].as_str().unwrap_or_else(|| panic!("{name}: {answer:?}"));
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{name}: {id} is a correlation id");
    assert_eq!(answer.body["error"]["code"], "BadRequest", "{name}");
    id.to_string()
}

/// HTTP 200 with `{statusCode, type, value}` Teams can show: a card, a
/// message, a login request, or an error `{code, message}` naming a correlation id.
fn assert_well_formed_card_action_answer(name: &str, answer: &BotResponse) {
    assert_eq!(answer.status, 200, "{name}: {answer:?}");
    let body = &answer.body;
    let status = body["statusCode"].as_u64().unwrap_or_else(|| panic!("{name}: no statusCode in {body}"));
    match body["type"].as_str() {
        Some("application/vnd.microsoft.card.adaptive") => {
            assert_eq!(status, 200, "{name}");
            assert_eq!(body["value"]["type"], "AdaptiveCard", "{name}: {body}");
            let card = body["value"].to_string();
            if is_failure_card(&card) {
                assert!(has_correlation_id(&card), "{name}: a failure card without a correlation id: {card}");
            }
        }
        Some("application/vnd.microsoft.activity.message") => assert!(body["value"].is_string(), "{name}"),
        Some("application/vnd.microsoft.activity.loginRequest") => {
            assert_eq!(status, 401, "{name}");
            assert!(body["value"]["connectionName"].is_string(), "{name}: {body}");
        }
        Some("application/vnd.microsoft.error") => {
            assert!((400..600).contains(&status), "{name}: {body}");
            assert!(body["value"]["code"].as_str().is_some_and(|c| !c.is_empty()), "{name}: {body}");
            let message = body["value"]["message"].as_str().unwrap_or_default();
            assert!(has_correlation_id(message), "{name}: the error names no correlation id: {body}");
        }
        other => panic!("{name}: invoke response of type {other:?}: {body}"),
    }
}

/// The reply is one Adaptive Card; if it reports a problem it shows a correlation id.
fn assert_failure_card_shows_a_correlation_id(command: &str, reply: &Recorded) {
    let card = reply.adaptive_card().unwrap_or_else(|| panic!("{}: no card in {}", clip(command), reply.body));
    assert_eq!(card["version"], "1.5");
    let text = card.to_string();
    assert!(text.len() < 28 * 1024, "{}: the card is {} bytes", clip(command), text.len());
    if is_failure_card(&text) {
        assert!(has_correlation_id(&text), "{}: no correlation id in {text}", clip(command));
    }
}

/// Cards that tell the person something did not work (a new failure card
/// adds its heading here).
fn is_failure_card(card: &str) -> bool {
    ["Not quite", "I don't know that one", "Something went wrong", "didn't work", "needs your consent"]
        .iter()
        .any(|marker| card.contains(marker))
}

fn has_correlation_id(text: &str) -> bool {
    text.split("orrelation id: ")
        .nth(1)
        .is_some_and(|rest| rest.get(..36).is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()))
}

/// Nothing more reached either workspace than `before` calls, and no SQL ever.
fn assert_no_databricks_calls(world: &World, before: usize) {
    let calls: Vec<_> = world.sandbox.primary.calls().into_iter().chain(world.sandbox.secondary.calls()).collect();
    assert_eq!(calls.len(), before, "{calls:?}");
    assert!(!calls.iter().any(|c| c.path.contains("/sql/")), "{calls:?}");
}

// ---- helpers ----------------------------------------------------------------

fn channel_auth(world: &World) -> String {
    let token = world.sandbox.channel.token(sandbox::SANDBOX_BOT_APP_ID, &world.sandbox.teams.service_url());
    format!("Bearer {token}")
}

fn a_message(world: &World, text: &str) -> Value {
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    world.sandbox.teams.message(&alice, &chat, text)
}

/// A `help` message padded with trailing whitespace to exactly `len` bytes.
fn padded_message(world: &World, len: usize) -> Vec<u8> {
    let mut body = a_message(world, "help").to_string().into_bytes();
    assert!(body.len() <= len);
    body.resize(len, b' ');
    body
}

async fn post(world: &World, body: Vec<u8>, authorization: Option<&str>) -> BotResponse {
    world.sandbox.teams.send_raw(body, authorization).await.expect("the bot answers")
}

/// `n` words separated by spaces.
fn words(n: usize) -> String {
    (0..n).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ")
}

fn json_bomb(open: &str, close: &str, depth: usize) -> Vec<u8> {
    format!("{}{}", open.repeat(depth), close.repeat(depth)).into_bytes()
}

fn clip(text: &str) -> String {
    text.chars().take(60).collect()
}

/// Posts `body_len` bytes over a raw connection (a Content-Length of
/// `declared`, or chunked when `None`) while reading the answer: the bot may
/// answer before the body is sent, as it should for a body that is too big.
/// Returns the HTTP status.
async fn raw_post(world: &World, declared: Option<usize>, body_len: usize, authorization: Option<&str>) -> u16 {
    let stream = tokio::net::TcpStream::connect(world.bot.addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let mut head =
        format!("POST /api/messages HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n", world.bot.addr);
    match declared {
        Some(length) => head.push_str(&format!("Content-Length: {length}\r\n")),
        None => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    if let Some(authorization) = authorization {
        head.push_str(&format!("Authorization: {authorization}\r\n"));
    }
    head.push_str("\r\n");
    let chunked = declared.is_none();
    let sender = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < body_len {
            let n = chunk.len().min(body_len - sent);
            if chunked {
                writer.write_all(format!("{n:x}\r\n").as_bytes()).await?;
            }
            writer.write_all(&chunk[..n]).await?;
            if chunked {
                writer.write_all(b"\r\n").await?;
            }
            sent += n;
        }
        if chunked {
            writer.write_all(b"0\r\n\r\n").await?;
        }
        writer.flush().await
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = tokio::time::timeout(PATIENCE, async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    sender.abort();
    assert!(read.is_ok(), "the bot did not answer within {PATIENCE:?}");
    let head = String::from_utf8_lossy(&answer);
    head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("no status in {head:?}"))
}

/// Everything the bot sends on `stream` until it closes the connection;
/// fails if it is still open after [`PATIENCE`].
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(closed.is_ok(), "the bot kept a quiet connection open for {PATIENCE:?}; it sent {answer:?}");
    answer
}

/// The bot still answers `help`: the `nth` activity the connector accepts is its reply.
async fn still_serving(world: &World, nth: usize) {
    let answer = world.sandbox.teams.send(&a_message(world, "help")).await.unwrap();
    assert_eq!(answer.status, 200);
    let sent = world.sandbox.connector.wait_for(nth, PATIENCE).await.unwrap();
    assert!(sent[nth - 1].adaptive_card().unwrap().to_string().contains("drbot commands"));
}

/// Signs alice in with the magic code (no command waiting, so no Databricks
/// call): commands that act for her would now run, and still must not.
async fn sign_in_without_databricks(world: &World) {
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let code = world.sandbox.token_service.complete_sign_in(&alice);
    let verify = world.sandbox.teams.invoke(&alice, &chat, "signin/verifyState", json!({"state": code}));
    assert_eq!(world.sandbox.teams.send(&verify).await.unwrap().status, 200);
    let notice = world.sandbox.connector.wait_for(1, PATIENCE).await.unwrap()[0].clone();
    assert!(notice.adaptive_card().unwrap().to_string().contains("Signed in"), "{}", notice.body);
    assert!(world.sandbox.token_service.is_signed_in(&alice));
}
