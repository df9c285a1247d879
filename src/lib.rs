//! drbot: a Microsoft Teams bot that runs disaster recovery for Azure Databricks.
//!
//! The layers, from the wire inwards:
//! [`botframework`] (protocol) → [`teams`] (what Teams adds) → [`commands`]
//! (text and card actions to intents) → the DR domain ([`replication`],
//! [`readiness`]) → the REST clients ([`databricks`]). Replies are Adaptive
//! Cards rendered by [`cards`]; durable state lives in [`store`].

pub mod access;
pub mod alerts;
pub mod assets;
pub mod azure;
pub mod bot;
pub mod botframework;
pub mod cards;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod connections;
pub mod databricks;
pub mod deploy;
pub mod failover;
pub mod http_client;
pub mod identity;
pub mod memory;
pub mod microsoft_retry;
pub mod ops;
pub mod pairs;
pub mod rate_limit;
pub mod readiness;
pub mod replication;
pub mod retry_after;
pub mod scheduler;
pub mod server;
pub mod setup;
pub mod store;

pub mod teams;
pub mod teams_app;
pub mod verify;
