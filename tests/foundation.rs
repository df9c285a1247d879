//! The front door end to end: Teams-shaped traffic from the sandbox channel,
//! authenticated, answered through the sandbox connector.

mod support;

use std::time::{Duration, Instant};

use sandbox::connector::Verb;
use serde_json::json;
use support::{World, PATIENCE};

#[tokio::test]
async fn help_gives_exactly_one_reply_card_sent_with_a_verified_bot_token() {
    let world = World::start().await;
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let message = world.sandbox.teams.message(&alice, &chat, "help");

    let answer = world.sandbox.teams.send(&message).await.unwrap();

    assert_eq!(answer.status, 200);
    let sent = world.sandbox.connector.wait_for(1, PATIENCE).await.unwrap();
    assert_eq!(sent.len(), 1, "exactly one reply");
    let reply = &sent[0];
    assert_eq!(reply.verb, Verb::Reply);
    assert_eq!(reply.conversation_id, chat.id());
    assert_eq!(reply.reply_to_id.as_deref(), message["id"].as_str());
    assert_eq!(reply.app_id, sandbox::SANDBOX_BOT_APP_ID, "sent with the bot's own token");
    assert_eq!(world.sandbox.connector.rejected_auth_count(), 0);
    let card = reply.adaptive_card().expect("an Adaptive Card");
    assert_eq!(card["version"], "1.5");
    let text = card.to_string();
    assert!(text.contains("drbot commands") && text.contains("help [command]"), "{text}");
    assert_eq!(reply.body["recipient"]["id"], alice.teams_id.as_str());
    assert_eq!(reply.body["from"]["id"], format!("28:{}", sandbox::SANDBOX_BOT_APP_ID));
}

#[tokio::test]
async fn commands_work_in_channels_with_a_mention_and_in_any_case() {
    let world = World::start().await;
    let alice = world.alice();
    let channel = world.sandbox.teams.channel("ops", "dr");
    let message = world.sandbox.teams.message(&alice, &channel, "HeLp");
    assert!(message["text"].as_str().unwrap().starts_with("<at>drbot</at>"));

    assert_eq!(world.sandbox.teams.send(&message).await.unwrap().status, 200);

    let sent = world.sandbox.connector.wait_for(1, PATIENCE).await.unwrap();
    assert_eq!(sent[0].conversation_id, channel.id());
    assert!(sent[0].adaptive_card().unwrap().to_string().contains("drbot commands"));
}

#[tokio::test]
async fn an_unknown_command_gets_the_closest_one() {
    let world = World::start().await;
    let alice = world.alice();
    let chat = world.sandbox.teams.group_chat("team-chat");
    let message = world.sandbox.teams.message(&alice, &chat, "hlep me");

    world.sandbox.teams.send(&message).await.unwrap();

    let sent = world.sandbox.connector.wait_for(1, PATIENCE).await.unwrap();
    let card = sent[0].adaptive_card().unwrap().to_string();
    assert!(card.contains("Did you mean **help**?"), "{card}");
}

#[tokio::test]
async fn the_bot_joining_a_conversation_sends_a_welcome_card_once() {
    let world = World::start().await;
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);

    let installed = world.sandbox.teams.installation_update(&alice, &chat, "add");
    assert_eq!(world.sandbox.teams.send(&installed).await.unwrap().status, 200);
    let added = world.sandbox.teams.bot_added(&alice, &chat);
    assert_eq!(world.sandbox.teams.send(&added).await.unwrap().status, 200);

    let sent = world.sandbox.connector.wait_for(1, PATIENCE).await.unwrap();
    assert_eq!(sent.len(), 1);
    let card = sent[0].adaptive_card().unwrap();
    assert!(card.to_string().contains("Hi, I'm drbot"));
    assert_eq!(card["actions"][0]["type"], "Action.Execute");

    // The conversation is remembered for proactive posts, and forgotten when the app is removed.
    let reference = world.bot.app.store.conversation(chat.id()).await.unwrap().expect("remembered");
    assert_eq!(reference.service_url, world.sandbox.teams.service_url());
    assert_eq!(reference.tenant_id.as_deref(), Some(sandbox::SANDBOX_TENANT_ID));
    assert_eq!(reference.installed_by_oid.as_deref(), Some(alice.oid.as_str()));
    let removed = world.sandbox.teams.installation_update(&alice, &chat, "remove");
    assert_eq!(world.sandbox.teams.send(&removed).await.unwrap().status, 200);
    assert_eq!(world.bot.app.store.conversation(chat.id()).await.unwrap(), None);
}

#[tokio::test]
async fn a_card_button_is_answered_in_the_invoke_response() {
    let world = World::start().await;
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let click = world.sandbox.teams.card_action(&alice, &chat, "1000", "command", json!({"text": "help"}));

    let answer = world.sandbox.teams.send(&click).await.unwrap();

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["statusCode"], 200);
    assert_eq!(answer.body["type"], "application/vnd.microsoft.card.adaptive");
    assert!(answer.body["value"].to_string().contains("drbot commands"));
    let unknown = world.sandbox.teams.card_action(&alice, &chat, "1000", "self-destruct", json!({}));
    let answer = world.sandbox.teams.send(&unknown).await.unwrap();
    assert_eq!(answer.body["type"], "application/vnd.microsoft.error");
    let other = world.sandbox.teams.invoke(&alice, &chat, "composeExtension/query", json!({}));
    assert_eq!(world.sandbox.teams.send(&other).await.unwrap().status, 501);
    assert!(world.sandbox.connector.recorded().is_empty(), "invokes answer in the response");
}

#[tokio::test]
async fn a_connector_429_is_retried_after_retry_after_and_delivered_once() {
    let world = World::start().await;
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    world.sandbox.connector.throttle_next(1, 1);

    let started = Instant::now();
    let answer = world.sandbox.teams.send(&world.sandbox.teams.message(&alice, &chat, "help")).await.unwrap();

    assert_eq!(answer.status, 200);
    let sent = world.sandbox.connector.wait_for(1, PATIENCE).await.unwrap();
    assert_eq!(sent.len(), 1, "delivered once");
    assert_eq!(world.sandbox.connector.throttled_count(), 1);
    assert!(started.elapsed() >= Duration::from_secs(1), "the bot waited for Retry-After");
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_refused_without_a_panic() {
    let world = World::start().await;
    let token = world.sandbox.channel.token(sandbox::SANDBOX_BOT_APP_ID, &world.sandbox.teams.service_url());
    let auth = format!("Bearer {token}");
    for body in [&b"{"[..], b"[]", b"null", b"{\"type\": 7}", b"\xff\xfe\x00", b""] {
        let answer = world.sandbox.teams.send_raw(body.to_vec(), Some(&auth)).await.unwrap();
        assert_eq!(answer.status, 400, "{:?}", String::from_utf8_lossy(body));
        assert!(answer.body["error"]["correlationId"].is_string());
    }
    let huge = vec![b' '; world.config.server.max_body_bytes + 1];
    assert_eq!(world.sandbox.teams.send_raw(huge, Some(&auth)).await.unwrap().status, 413);
    // Still serving afterwards.
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    assert_eq!(
        world.sandbox.teams.send(&world.sandbox.teams.message(&alice, &chat, "help")).await.unwrap().status,
        200
    );
    assert!(world.sandbox.connector.recorded().len() == 1);
}

#[tokio::test]
async fn health_and_readiness() {
    let world = World::start().await;
    let http = reqwest::Client::new();
    let health = http.get(format!("{}/healthz", world.bot.url())).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = http.get(format!("{}/readyz", world.bot.url())).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn readiness_waits_for_the_signing_keys() {
    // Metadata that is not there: the bot serves, but is not ready.
    let world = World::start_with(|_| {}).await;
    let mut config = world.config.clone();
    config.endpoints.channel_openid_metadata = format!("{}/nowhere", world.sandbox.botframework_url());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bot = drbot::server::start_on(&config, listener, Default::default()).await.unwrap();
    let ready = reqwest::get(format!("{}/readyz", bot.url())).await.unwrap();
    assert_eq!(ready.status(), 503);
    bot.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let World { sandbox, bot, .. } = World::start().await;
    let alice = sandbox.teams.user("alice").unwrap();
    let chat = sandbox.teams.personal(&alice);
    // The reply will wait a second for Retry-After: the request is in flight when shutdown starts.
    sandbox.connector.throttle_next(1, 1);
    let message = sandbox.teams.message(&alice, &chat, "help");
    let teams = sandbox.teams.clone();
    let in_flight = tokio::spawn(async move { teams.send(&message).await });
    sandbox.connector.wait_for_throttled(1, PATIENCE).await.unwrap();

    bot.shutdown().await.unwrap();

    assert_eq!(in_flight.await.unwrap().unwrap().status, 200);
    assert_eq!(sandbox.connector.recorded().len(), 1);
}

#[tokio::test]
async fn local_anonymous_mode_accepts_requests_without_a_token_but_still_checks_tokens_it_gets() {
    let world = World::start_with(|config| config.server.local_anonymous = true).await;
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let message = world.sandbox.teams.message(&alice, &chat, "help");

    let anonymous = world.sandbox.teams.send_raw(message.to_string().into_bytes(), None).await.unwrap();
    assert_eq!(anonymous.status, 200);
    world.sandbox.connector.wait_for(1, PATIENCE).await.unwrap();
    let forged = world.sandbox.teams.send_raw(message.to_string().into_bytes(), Some("Bearer forged")).await.unwrap();
    assert_eq!(forged.status, 401);
}

#[tokio::test]
async fn local_anonymous_mode_is_refused_off_loopback() {
    let world = World::start().await;
    let text = world.sandbox.bot_config_toml("0.0.0.0:3978", true);
    let error = drbot::config::Config::from_toml(&text, &Default::default()).unwrap_err().to_string();
    assert!(error.contains("server.local_anonymous"), "{error}");
}
