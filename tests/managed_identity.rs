//! A bot with `MicrosoftAppType = UserAssignedMSI` gets its connector token
//! from a managed identity (src/identity/credential.rs), here App Service's
//! endpoint as the sandbox serves it. (Its own test binary: it sets the
//! process environment the credential reads.)

mod support;

use drbot::config::AppType;
use sandbox::SANDBOX_BOT_APP_ID;
use support::{World, PATIENCE};

#[tokio::test]
async fn a_user_assigned_managed_identity_signs_the_replies() {
    let world = World::start_with(|config| {
        config.bot.app_type = AppType::UserAssignedMSI;
        config.bot.app_password = None;
    })
    .await;
    // The credential reads IDENTITY_ENDPOINT when it is built, and the endpoint is only known
    // once the sandbox runs: start a second bot now that the variables are set.
    std::env::set_var("IDENTITY_ENDPOINT", world.sandbox.entra.managed_identity_endpoint());
    std::env::set_var("IDENTITY_HEADER", sandbox::entra::MANAGED_IDENTITY_HEADER_SECRET);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bot = drbot::server::start_on(&world.config, listener, Default::default()).await.unwrap();
    world.sandbox.teams.set_bot_endpoint(&format!("{}/api/messages", bot.url()));
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);

    let answer = world.sandbox.teams.send(&world.sandbox.teams.message(&alice, &chat, "help")).await.unwrap();

    assert_eq!(answer.status, 200);
    let sent = world.sandbox.connector.wait_for(1, PATIENCE).await.unwrap();
    assert_eq!(sent[0].app_id, SANDBOX_BOT_APP_ID);
    assert_eq!(world.sandbox.connector.rejected_auth_count(), 0);
}
