//! Alerts that find people: a pair's replication failing, unable to run or
//! leaving objects blocked, its RPO over the pair's threshold, a drill's or
//! failover's result.
//!
//! The DR domain decides (here, without naming any chat platform) whether a
//! condition is firing ([`condition`]), the store decides whether that is
//! news (one alert per condition until it clears, then one "recovered":
//! `src/store/alerts.rs`), and a [`deliver::AlertSink`] carries the alert to
//! people, paced so a burst of failing pairs stays within the platform's
//! limits ([`deliver`]). The chat sink is `src/bot/alerts.rs`.

pub mod condition;
pub mod deliver;

pub use condition::{Alert, Change, Condition, Observation, State};
