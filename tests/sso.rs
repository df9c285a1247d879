//! Teams SSO and on-behalf-of, end to end against the sandbox: the OAuthCard,
//! the exchange (deduplicated across instances), the magic code, sign-out,
//! expiry and consent; the Databricks call runs as the person who asked.

mod support;

use sandbox::connector::Recorded;
use sandbox::entra::DATABRICKS_RESOURCE;
use sandbox::token_service::SANDBOX_CONNECTION_NAME;
use sandbox::SANDBOX_BOT_APP_ID;
use serde_json::{json, Value};
use support::postgres::TestDatabase;
use support::{World, PATIENCE};

const OAUTH_CARD: &str = "application/vnd.microsoft.card.oauth";

fn oauth_card(recorded: &Recorded) -> Option<&Value> {
    recorded.body["attachments"].as_array()?.iter().find(|a| a["contentType"] == OAUTH_CARD).map(|a| &a["content"])
}

/// Whether the text holds something shaped like a JWT (`eyJ…` header, dot, `eyJ…` payload).
fn contains_jwt(text: &str) -> bool {
    text.match_indices("eyJ").any(|(start, _)| {
        let rest = &text[start..];
        let header_len =
            rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).unwrap_or(rest.len());
        rest[header_len..].starts_with(".eyJ")
    })
}

fn card_text(recorded: &Recorded) -> String {
    recorded.adaptive_card().map(Value::to_string).unwrap_or_default()
}

/// Types `text` as alice in her personal chat; returns the n-th activity the connector then has.
async fn type_and_wait(world: &World, text: &str, nth: usize) -> Recorded {
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let answer = world.sandbox.teams.send(&world.sandbox.teams.message(&alice, &chat, text)).await.unwrap();
    assert_eq!(answer.status, 200);
    world.sandbox.connector.wait_for(nth, PATIENCE).await.unwrap()[nth - 1].clone()
}

/// Answers an OAuthCard the way Teams does: SSO token exchange.
async fn exchange(world: &World, exchange_id: &str) -> sandbox::teams::BotResponse {
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let token = world.sandbox.entra.teams_sso_token(&alice, SANDBOX_BOT_APP_ID);
    let invoke = world.sandbox.teams.token_exchange(&alice, &chat, exchange_id, SANDBOX_CONNECTION_NAME, &token);
    world.sandbox.teams.send(&invoke).await.unwrap()
}

/// Types `whoami`, answers the OAuthCard with Teams' token exchange, and returns
/// the answer the command then gets (the connector's second activity).
async fn whoami_after_sign_in(world: &World) -> Recorded {
    let prompt = type_and_wait(world, "whoami", 1).await;
    let id = oauth_card(&prompt).expect("an OAuthCard")["tokenExchangeResource"]["id"].as_str().unwrap().to_string();
    assert_eq!(exchange(world, &id).await.status, 200);
    world.sandbox.connector.wait_for(2, PATIENCE).await.unwrap()[1].clone()
}

#[tokio::test]
async fn the_whole_sso_path_runs_the_command_as_the_user() {
    let world = World::start().await;
    let alice = world.alice();

    let prompt = type_and_wait(&world, "whoami", 1).await;
    let card = oauth_card(&prompt).expect("an OAuthCard");
    assert_eq!(card["connectionName"], SANDBOX_CONNECTION_NAME);
    assert_eq!(card["tokenExchangeResource"]["uri"], format!("api://botid-{SANDBOX_BOT_APP_ID}"));
    let exchange_id = card["tokenExchangeResource"]["id"].as_str().unwrap().to_string();
    assert!(card["buttons"][0]["value"].as_str().unwrap().starts_with("http"));

    let answer = exchange(&world, &exchange_id).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, json!({"id": exchange_id, "connectionName": SANDBOX_CONNECTION_NAME}));

    // The command that needed sign-in runs without retyping.
    let result = world.sandbox.connector.wait_for(2, PATIENCE).await.unwrap()[1].clone();
    let text = card_text(&result);
    assert!(text.contains("You are Alice Admin"), "{text}");
    assert!(text.contains("primary workspace knows you as alice@contoso.example"), "{text}");
    let calls = world.sandbox.primary.calls();
    assert!(calls.iter().any(|c| c.caller_upn == alice.upn && c.path.ends_with("/Me")), "{calls:?}");
    assert_eq!(world.sandbox.entra.obo_count(&alice.oid, DATABRICKS_RESOURCE), 1);
    // No token ever reaches a card.
    for recorded in world.sandbox.connector.recorded() {
        assert!(!contains_jwt(&recorded.body.to_string()), "a token in {}", recorded.body);
    }

    // Signed in now: the next whoami answers at once, from the cached on-behalf-of token.
    let again = type_and_wait(&world, "whoami", 3).await;
    assert!(card_text(&again).contains("You are Alice Admin"));
    assert_eq!(world.sandbox.entra.obo_count(&alice.oid, DATABRICKS_RESOURCE), 1, "cached per user and scope");
}

#[tokio::test]
async fn identical_exchanges_at_two_instances_sharing_postgres_are_processed_once() {
    let database = TestDatabase::create().await;
    let url = database.url.clone();
    let world = World::start_with(|config| config.store.url = Some(url)).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = drbot::server::start_on(&world.config, listener, Default::default()).await.unwrap();
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let token = world.sandbox.entra.teams_sso_token(&alice, SANDBOX_BOT_APP_ID);
    let invoke = world.sandbox.teams.token_exchange(&alice, &chat, "exchange-1", SANDBOX_CONNECTION_NAME, &token);
    let first_endpoint = format!("{}/api/messages", world.bot.url());
    let second_endpoint = format!("{}/api/messages", second.url());

    let teams = &world.sandbox.teams;
    let answers = futures::future::join_all([
        teams.send_to(&first_endpoint, &invoke),
        teams.send_to(&second_endpoint, &invoke),
        teams.send_to(&first_endpoint, &invoke),
    ])
    .await;

    let answers: Vec<_> = answers.into_iter().map(Result::unwrap).collect();
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    let processed = answers.iter().filter(|a| a.body != Value::Null).count();
    assert_eq!(processed, 1, "exactly one processed; the others get 200 with an empty body: {answers:?}");
    assert_eq!(world.sandbox.token_service.exchange_count(), 1);
    second.shutdown().await.unwrap();
    database.drop_database().await;
}

#[tokio::test]
async fn a_failed_exchange_gets_412_so_teams_falls_back() {
    let world = World::start().await;
    world.sandbox.token_service.fail_exchanges_for(&world.alice());
    let answer = exchange(&world, "exchange-9").await;
    assert_eq!(answer.status, 412);
    assert_eq!(answer.body["id"], "exchange-9");
    assert_eq!(answer.body["connectionName"], SANDBOX_CONNECTION_NAME);
    assert!(answer.body["failureDetail"].as_str().is_some_and(|d| !d.is_empty()));

    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let no_token = world.sandbox.teams.invoke(
        &alice,
        &chat,
        "signin/tokenExchange",
        json!({"id": "x", "connectionName": SANDBOX_CONNECTION_NAME}),
    );
    assert_eq!(world.sandbox.teams.send(&no_token).await.unwrap().status, 400);
    let wrong_connection = world.sandbox.teams.invoke(
        &alice,
        &chat,
        "signin/tokenExchange",
        json!({"id": "x", "connectionName": "other", "token": "t"}),
    );
    assert_eq!(world.sandbox.teams.send(&wrong_connection).await.unwrap().status, 400);
}

#[tokio::test]
async fn the_magic_code_completes_sign_in_and_runs_the_command() {
    let world = World::start().await;
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    assert!(oauth_card(&type_and_wait(&world, "whoami", 1).await).is_some());

    let wrong = world.sandbox.teams.invoke(&alice, &chat, "signin/verifyState", json!({"state": "000000"}));
    assert_eq!(world.sandbox.teams.send(&wrong).await.unwrap().status, 404);
    let code = world.sandbox.token_service.complete_sign_in(&alice);
    let verify = world.sandbox.teams.invoke(&alice, &chat, "signin/verifyState", json!({"state": code}));
    assert_eq!(world.sandbox.teams.send(&verify).await.unwrap().status, 200);

    let result = world.sandbox.connector.wait_for(2, PATIENCE).await.unwrap()[1].clone();
    assert!(card_text(&result).contains("You are Alice Admin"));

    let cancel = world.sandbox.teams.invoke(&alice, &chat, "signin/verifyState", json!({"state": "CancelledByUser"}));
    assert_eq!(world.sandbox.teams.send(&cancel).await.unwrap().status, 200);
    let cancelled = world.sandbox.connector.wait_for(3, PATIENCE).await.unwrap()[2].clone();
    assert!(card_text(&cancelled).contains("Sign-in cancelled"));
}

#[tokio::test]
async fn sign_out_forgets_the_user() {
    let world = World::start().await;
    let alice = world.alice();
    whoami_after_sign_in(&world).await;
    assert!(world.sandbox.token_service.is_signed_in(&alice));

    let signed_out = type_and_wait(&world, "signout", 3).await;
    assert!(card_text(&signed_out).contains("Signed out"));
    assert!(!world.sandbox.token_service.is_signed_in(&alice));
    let prompt_again = type_and_wait(&world, "whoami", 4).await;
    assert!(oauth_card(&prompt_again).is_some(), "signed out users are asked to sign in again");
}

#[tokio::test]
async fn an_expired_user_token_leads_to_a_new_sign_in_prompt() {
    let world = World::start().await;
    let alice = world.alice();
    whoami_after_sign_in(&world).await;

    world.sandbox.token_service.expire_token(&alice);
    let next = type_and_wait(&world, "whoami", 3).await;
    assert!(oauth_card(&next).is_some(), "a sign-in prompt, not an error: {}", next.body);
}

#[tokio::test]
async fn a_revoked_grant_leads_to_a_new_sign_in_prompt() {
    let world = World::start().await;
    let alice = world.alice();
    world.sandbox.entra.revoke(&alice.oid);
    let next = whoami_after_sign_in(&world).await;
    assert!(oauth_card(&next).is_some(), "{}", next.body);
}

#[tokio::test]
async fn consent_required_leads_to_the_consent_card() {
    let world = World::start().await;
    let alice = world.alice();
    world.sandbox.entra.require_consent(&alice.oid, DATABRICKS_RESOURCE);
    let result = whoami_after_sign_in(&world).await;
    let text = card_text(&result);
    assert!(text.contains("drbot needs your consent") && text.contains("Azure Databricks"), "{text}");
    assert!(world.sandbox.primary.calls().is_empty(), "no Databricks call without a token");
}

#[tokio::test]
async fn arm_consent_is_reported_by_whoami() {
    let world = World::start().await;
    let alice = world.alice();
    world.sandbox.entra.require_consent(&alice.oid, sandbox::entra::ARM_RESOURCE);
    let result = whoami_after_sign_in(&world).await;
    let text = card_text(&result);
    assert!(text.contains("Azure Resource Manager") && text.contains("Consent needed"), "{text}");
}

#[tokio::test]
async fn a_card_button_that_needs_sign_in_answers_with_a_login_request() {
    let world = World::start().await;
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let click = world.sandbox.teams.card_action(&alice, &chat, "1", "command", json!({"text": "whoami"}));
    let answer = world.sandbox.teams.send(&click).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["statusCode"], 401);
    assert_eq!(answer.body["type"], "application/vnd.microsoft.activity.loginRequest");
    assert_eq!(answer.body["value"]["connectionName"], SANDBOX_CONNECTION_NAME);
}

#[tokio::test]
async fn a_sign_in_failure_is_explained() {
    let world = World::start().await;
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
    let text = card_text(&told);
    assert!(text.contains("Sign-in didn't work") && text.contains("resourcematchfailed"), "{text}");
}

#[tokio::test]
async fn a_databricks_401_is_retried_once_with_a_fresh_token() {
    let world = World::start().await;
    let alice = world.alice();
    whoami_after_sign_in(&world).await;
    assert_eq!(world.sandbox.entra.obo_count(&alice.oid, DATABRICKS_RESOURCE), 1);

    world.sandbox.primary.reject_next_tokens(1);
    let answer = type_and_wait(&world, "whoami", 3).await;

    assert!(card_text(&answer).contains("primary workspace knows you as alice@contoso.example"), "{}", answer.body);
    assert_eq!(world.sandbox.entra.obo_count(&alice.oid, DATABRICKS_RESOURCE), 2, "one fresh token, not more");

    world.sandbox.primary.reject_next_tokens(2);
    let answer = type_and_wait(&world, "whoami", 4).await;
    assert!(card_text(&answer).contains("not authenticated"), "a second 401 is reported, not retried: {}", answer.body);
    assert_eq!(world.sandbox.entra.obo_count(&alice.oid, DATABRICKS_RESOURCE), 3);
}
