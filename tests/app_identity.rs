//! The bot's own identity for work nobody typed: each
//! credential kind the configuration can choose gets a token from the
//! sandbox's Entra ID that a Databricks workspace accepts as the bot.

mod support;

use drbot::config::AppCredentialKind;
use drbot::identity::app::AppIdentity;
use drbot::identity::DATABRICKS_SCOPE;
use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::SANDBOX_BOT_APP_ID;
use support::World;

async fn token_as_bot(world: &World, config: &drbot::config::Config) -> String {
    let identity = AppIdentity::from_config(config).expect("credential builds");
    let token = identity.token(DATABRICKS_SCOPE).await.expect("a token");
    let caller = world.sandbox.entra.verify(token.secret(), DATABRICKS_AUDIENCE).expect("valid for Databricks");
    assert_eq!(caller.app_id, SANDBOX_BOT_APP_ID);
    assert!(caller.is_app, "an app token, not a user's");
    token.secret().to_string()
}

#[tokio::test]
async fn client_secret() {
    let world = World::start().await;
    let mut config = world.config.clone();
    config.app_identity.kind_setting = Some(AppCredentialKind::ClientSecret);
    token_as_bot(&world, &config).await;

    config.bot.app_password = Some(drbot::config::Secret::new("wrong"));
    let identity = AppIdentity::from_config(&config).unwrap();
    let error = identity.token(DATABRICKS_SCOPE).await.unwrap_err().to_string();
    assert!(!error.contains("wrong"), "the secret is not echoed: {error}");
}

#[tokio::test]
async fn managed_identity() {
    let world = World::start().await;
    std::env::set_var("IDENTITY_ENDPOINT", world.sandbox.entra.managed_identity_endpoint());
    std::env::set_var("IDENTITY_HEADER", sandbox::entra::MANAGED_IDENTITY_HEADER_SECRET);
    let mut config = world.config.clone();
    config.app_identity.kind_setting = Some(AppCredentialKind::ManagedIdentity);
    token_as_bot(&world, &config).await;
}

#[tokio::test]
async fn workload_identity_with_a_federated_token() {
    let world = World::start().await;
    let subject = "system:serviceaccount:drbot:drbot";
    world.sandbox.entra.trust_federated_subject(SANDBOX_BOT_APP_ID, subject);
    let token_file = world.data_dir.path().join("azure-identity-token");
    std::fs::write(&token_file, world.sandbox.entra.federated_token(subject)).unwrap();
    let mut config = world.config.clone();
    config.app_identity.kind_setting = Some(AppCredentialKind::WorkloadIdentity);
    config.app_identity.federated_token_file = Some(token_file.clone());
    token_as_bot(&world, &config).await;

    // A token for another service account is not trusted.
    std::fs::write(&token_file, world.sandbox.entra.federated_token("system:serviceaccount:other:intruder")).unwrap();
    let identity = AppIdentity::from_config(&config).unwrap();
    assert!(identity.token(DATABRICKS_SCOPE).await.is_err());
}

#[test]
fn the_kind_follows_the_bot_type_unless_set() {
    use drbot::config::{AppIdentityConfig, AppType};
    let unset = AppIdentityConfig::default();
    assert_eq!(unset.kind(AppType::UserAssignedMSI), AppCredentialKind::ManagedIdentity);
    assert_eq!(unset.kind(AppType::SingleTenant), AppCredentialKind::ClientSecret);
    let set = AppIdentityConfig { kind_setting: Some(AppCredentialKind::WorkloadIdentity), federated_token_file: None };
    assert_eq!(set.kind(AppType::SingleTenant), AppCredentialKind::WorkloadIdentity);
}
