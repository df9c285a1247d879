//! The Bot Framework protocol: activities, inbound token validation, the
//! connector client and the bot's own token. Knows nothing of Databricks.

pub mod activity;
pub mod auth;
pub mod bot_token;
pub mod connector;
pub mod pacing;
pub mod service_hosts;
pub mod user_token;
