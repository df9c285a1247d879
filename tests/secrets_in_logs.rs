//! No secret reaches a log line (issue #9, part 6).
//!
//! Each test runs one end-to-end flow against a fresh sandbox with every log
//! line captured (TRACE for drbot and the sandbox, DEBUG for reqwest, hyper
//! and sqlx, which log URLs and SQL), then searches the lines for every secret
//! the sandbox handed out during the flow: the bot's client secret, every JWT
//! any issuer signed (channel tokens, the bot's own tokens, SSO, connection
//! and on-behalf-of tokens), every magic code, and anything JWT-shaped. The
//! same search runs over what the bot sent to conversations and over every
//! URL it requested of the sandbox.
//!
//! Adding a flow is one test: write `async fn my_flow(world: &World)` that
//! drives the bot the way a person would, then
//! `#[tokio::test] async fn my_flow_leaks_nothing() { no_secret_in_logs(my_flow).await }`.

mod support;

use sandbox::connector::Recorded;
use sandbox::entra::{ARM_RESOURCE, DATABRICKS_RESOURCE};
use sandbox::token_service::SANDBOX_CONNECTION_NAME;
use sandbox::SANDBOX_BOT_APP_ID;
use serde_json::{json, Value};
use support::{logs, World, PATIENCE};

/// Runs `flow` against a fresh sandbox and bot with logs captured, then
/// asserts that no secret issued while it ran appears in any line.
async fn no_secret_in_logs(flow: impl AsyncFnOnce(&World)) {
    let captured = logs::capture();
    let world = World::start().await;
    flow(&world).await;
    world.bot.app.bot.finish_background_work().await;
    let secrets = world.sandbox.issued_secrets();
    assert!(secrets.len() > 2, "the flow made the sandbox issue no token: is it a flow at all?");
    captured.assert_no_secrets(&secrets);
    // Nor in anything the bot sent to a conversation.
    let sent: Vec<String> = world.sandbox.connector.recorded().iter().map(|r| r.body.to_string()).collect();
    if !sent.is_empty() {
        logs::Captured::of_text(&sent.join("\n")).assert_no_secrets(&secrets);
    }
    // Nor in a URL the bot requested (proxies and access logs keep URLs). The
    // one exception is the protocol's: GetToken takes the magic code as `code=`.
    let codes = world.sandbox.token_service.magic_codes();
    let in_urls: Vec<String> = secrets.iter().filter(|s| !codes.contains(s)).cloned().collect();
    logs::Captured::of_text(&world.sandbox.requests.targets().join("\n")).assert_no_secrets(&in_urls);
}

// ---- the flows ------------------------------------------------------------

/// Types `text` as alice in her personal chat; returns the n-th activity the connector then has.
async fn type_and_wait(world: &World, text: &str, nth: usize) -> Recorded {
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let answer = world.sandbox.teams.send(&world.sandbox.teams.message(&alice, &chat, text)).await.unwrap();
    assert_eq!(answer.status, 200);
    world.sandbox.connector.wait_for(nth, PATIENCE).await.unwrap()[nth - 1].clone()
}

fn card_text(recorded: &Recorded) -> String {
    recorded.adaptive_card().map(Value::to_string).unwrap_or_default()
}

fn exchange_id(prompt: &Recorded) -> String {
    let oauth = prompt.body["attachments"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["contentType"] == "application/vnd.microsoft.card.oauth"))
        .expect("an OAuthCard");
    oauth["content"]["tokenExchangeResource"]["id"].as_str().unwrap().to_string()
}

/// `whoami`, the OAuthCard, Teams' SSO exchange, then the command as alice:
/// the exchange, on-behalf-of for Databricks and ARM, the Databricks call.
async fn sso_sign_in(world: &World) {
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let prompt = type_and_wait(world, "whoami", 1).await;
    let sso = world.sandbox.entra.teams_sso_token(&alice, SANDBOX_BOT_APP_ID);
    let invoke =
        world.sandbox.teams.token_exchange(&alice, &chat, &exchange_id(&prompt), SANDBOX_CONNECTION_NAME, &sso);
    assert_eq!(world.sandbox.teams.send(&invoke).await.unwrap().status, 200);
    let result = world.sandbox.connector.wait_for(2, PATIENCE).await.unwrap()[1].clone();
    assert!(card_text(&result).contains("You are Alice Admin"), "{}", result.body);
    assert_eq!(world.sandbox.entra.obo_count(&alice.oid, DATABRICKS_RESOURCE), 1);
    assert_eq!(world.sandbox.entra.obo_count(&alice.oid, ARM_RESOURCE), 1);
}

/// `help`: the bot's own token and one connector send.
async fn help(world: &World) {
    let reply = type_and_wait(world, "help", 1).await;
    assert!(card_text(&reply).contains("drbot commands"));
}

/// SSO sign-in, then `whoami` again from the cached tokens.
async fn sso_then_whoami(world: &World) {
    sso_sign_in(world).await;
    assert!(card_text(&type_and_wait(world, "whoami", 3).await).contains("You are Alice Admin"));
}

/// The magic-code fallback: a wrong code, the right one, the command resumed.
async fn magic_code(world: &World) {
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    type_and_wait(world, "whoami", 1).await;
    let wrong = world.sandbox.teams.invoke(&alice, &chat, "signin/verifyState", json!({"state": "000000"}));
    assert_eq!(world.sandbox.teams.send(&wrong).await.unwrap().status, 404);
    let code = world.sandbox.token_service.complete_sign_in(&alice);
    let verify = world.sandbox.teams.invoke(&alice, &chat, "signin/verifyState", json!({"state": code}));
    assert_eq!(world.sandbox.teams.send(&verify).await.unwrap().status, 200);
    let result = world.sandbox.connector.wait_for(2, PATIENCE).await.unwrap()[1].clone();
    assert!(card_text(&result).contains("You are Alice Admin"));
}

/// Sign in, sign out (the token service and the on-behalf-of cache forget alice).
async fn sign_out(world: &World) {
    sso_sign_in(world).await;
    assert!(card_text(&type_and_wait(world, "signout", 3).await).contains("Signed out"));
    assert!(!world.sandbox.token_service.is_signed_in(&world.alice()));
}

/// A Databricks 401: the cached token is dropped and a fresh one fetched.
async fn databricks_token_refused(world: &World) {
    sso_sign_in(world).await;
    world.sandbox.primary.reject_next_tokens(1);
    let again = type_and_wait(world, "whoami", 3).await;
    assert!(card_text(&again).contains("knows you as"), "{}", again.body);
}

/// Requests refused at the door: a token for another bot, an expired one, a
/// forged one, a JWT-shaped header that is no token. The refusal is logged;
/// the token is not.
async fn refused_requests(world: &World) {
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let message = world.sandbox.teams.message(&alice, &chat, "help").to_string().into_bytes();
    let service_url = world.sandbox.teams.service_url();
    let channel = &world.sandbox.channel;
    let other_bot = channel.token("00000000-0000-4000-8000-000000000bad", &service_url);
    let expired = channel
        .token_builder(SANDBOX_BOT_APP_ID, &service_url)
        .claim("exp", json!(chrono::Utc::now().timestamp() - 3600))
        .sign();
    let forged = channel.token_builder(SANDBOX_BOT_APP_ID, &service_url).hs256_with_public_key();
    for token in [other_bot, expired, forged.clone(), format!("{forged}x")] {
        let answer = world.sandbox.teams.send_raw(message.clone(), Some(&format!("Bearer {token}"))).await.unwrap();
        assert_eq!(answer.status, 401);
    }
    // The forged token is not signed by a sandbox key: only the JWT-shape search would find it.
    assert!(world.sandbox.connector.recorded().is_empty());
}

/// Teams reports a failed sign-in; the user is told, with a correlation id.
async fn sign_in_failure(world: &World) {
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let failure = world.sandbox.teams.invoke(
        &alice,
        &chat,
        "signin/failure",
        json!({"code": "resourcematchfailed", "message": "The resource does not match."}),
    );
    assert_eq!(world.sandbox.teams.send(&failure).await.unwrap().status, 200);
    let told = world.sandbox.connector.wait_for(1, PATIENCE).await.unwrap()[0].clone();
    assert!(card_text(&told).contains("Correlation id"));
}

// ---- one test per flow ----------------------------------------------------

#[tokio::test]
async fn help_with_the_bots_own_token_leaks_nothing() {
    no_secret_in_logs(help).await
}

#[tokio::test]
async fn sso_exchange_and_on_behalf_of_leak_nothing() {
    no_secret_in_logs(sso_then_whoami).await
}

#[tokio::test]
async fn magic_code_sign_in_leaks_nothing() {
    no_secret_in_logs(magic_code).await
}

#[tokio::test]
async fn sign_out_leaks_nothing() {
    no_secret_in_logs(sign_out).await
}

#[tokio::test]
async fn a_refused_databricks_token_leaks_nothing() {
    no_secret_in_logs(databricks_token_refused).await
}

#[tokio::test]
async fn refused_inbound_tokens_leak_nothing() {
    no_secret_in_logs(refused_requests).await
}

#[tokio::test]
async fn a_sign_in_failure_leaks_nothing() {
    no_secret_in_logs(sign_in_failure).await
}

// ---- the harness itself ---------------------------------------------------

/// The capture sees drbot's events, `log` records (reqwest's), sqlx's SQL,
/// and the search finds a leak.
#[tokio::test]
async fn the_capture_catches_a_leak() {
    let captured = logs::capture();
    let world = World::start().await;
    sso_sign_in(&world).await;
    let lines = captured.lines();
    let has = |target: &str| lines.iter().any(|l| l.contains(&format!("\"target\":\"{target}")));
    assert!(has("drbot::server"), "drbot's events are captured");
    assert!(has("reqwest"), "log records are bridged");
    assert!(has("sqlx::query"), "the store's SQL is captured");
    let targets = world.sandbox.requests.targets();
    assert!(targets.iter().any(|t| t.starts_with("GET /api/usertoken/GetToken?")), "{targets:?}");
    assert!(targets.iter().any(|t| t.starts_with("POST /api/usertoken/exchange?")), "{targets:?}");
    let secrets = world.sandbox.issued_secrets();
    captured.assert_no_secrets(&secrets);

    // The search itself, on lines of its own (a leak written to the shared
    // buffer would fail the tests running beside this one).
    let token = world.sandbox.entra.app_token(SANDBOX_BOT_APP_ID, "https://example.test");
    let leak =
        format!(r#"{{"timestamp":"2026-01-01T00:00:00.123456Z","fields":{{"authorization":"Bearer {token}"}}}}"#);
    let caught = std::panic::catch_unwind(|| logs::Captured::of_text(&leak).assert_no_secrets(&[]));
    assert!(caught.is_err(), "a JWT in a log line fails the test");
    let secret = format!(r#"{{"fields":{{"message":"{}"}}}}"#, sandbox::SANDBOX_BOT_SECRET);
    let caught = std::panic::catch_unwind(|| logs::Captured::of_text(&secret).assert_no_secrets(&secrets));
    assert!(caught.is_err(), "the client secret in a log line fails the test");
    let code = r#"{"timestamp":"2026-01-01T00:00:00.123456Z","fields":{"message":"typed 123456"}}"#;
    let caught = std::panic::catch_unwind(|| logs::Captured::of_text(code).assert_no_secrets(&["123456".into()]));
    assert!(caught.is_err(), "a magic code in a log line fails the test");
    let clock = r#"{"timestamp":"2026-01-01T00:00:00.123456Z","fields":{"port":1234567}}"#;
    logs::Captured::of_text(clock).assert_no_secrets(&["123456".into()]);
}
/// `status`, then `replicate`, Run, and the run to its result card:
/// OBO tokens for Databricks, statements, the store's operations and history.
async fn status_and_replication(world: &World) {
    sso_sign_in(world).await;
    let chat = support::chat::Chat::personal(world, "alice");
    let checking = chat.say("status").await;
    let id = checking.activity_id.clone();
    support::chat::wait_for(world, "the dashboard", |r| {
        r.verb == sandbox::connector::Verb::Update && r.activity_id == id
    })
    .await;
    let planning = chat.say("replicate").await;
    let id = planning.activity_id.clone();
    let plan = support::chat::wait_for(world, "the plan", |r| {
        r.verb == sandbox::connector::Verb::Update && r.activity_id == id
    })
    .await;
    let card = plan.adaptive_card().cloned().unwrap_or_default();
    let data = card["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["verb"] == "replicate.run"))
        .map(|a| a["data"].clone())
        .expect("a Run button");
    assert_eq!(chat.click(&plan.activity_id, "replicate.run", data).await.status, 200);
    support::chat::wait_for(world, "the result", |r| support::chat::card_text(r).contains("Run details")).await;
}

#[tokio::test]
async fn status_and_a_replication_leak_nothing() {
    no_secret_in_logs(status_and_replication).await
}
