//! The periodic RPO check: a pair with an RPO threshold is otherwise read
//! by the bot only for a scheduled post, so a pair that no chat subscribes
//! to would never be checked. The scheduler asks here which pairs are due
//! (a threshold and no subscription) and runs each one's check once per
//! interval across the fleet ([`crate::scheduler::Checker`]); the check is
//! the scheduled post's reading without the post: the pair's readiness
//! read as the bot, kept in its history, its RPO handed to the alerter
//! (`Bot::checked`), so the alert goes to the pair's activity feeds. A
//! managed-DR pair's check reads managed DR's latest event as well (its
//! lag against the same threshold, its errors: `src/bot/managed_status.rs`).

use std::sync::Arc;

use futures::future::BoxFuture;

use super::actor::DatabricksTokens;
use super::Bot;
use crate::scheduler::Checker;

/// The bot, as the scheduler's [`Checker`] of RPO thresholds.
pub struct RpoChecks {
    bot: Arc<Bot>,
}

impl RpoChecks {
    pub fn new(bot: Arc<Bot>) -> RpoChecks {
        RpoChecks { bot }
    }
}

impl Checker for RpoChecks {
    fn due(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async move {
            let store = &self.bot.services.store;
            let pairs = match store.pairs().await {
                Ok(pairs) => pairs,
                Err(error) => {
                    tracing::warn!(%error, "the pairs could not be read for the periodic RPO check");
                    return Vec::new();
                }
            };
            let mut due = Vec::new();
            // A threshold to watch, or managed DR's errors (`check_managed`).
            for pair in
                pairs.into_iter().filter(|pair| pair.rpo_alert_minutes.is_some() || pair.failover_group.is_some())
            {
                // A subscription's scheduled post reads the pair already.
                match store.alert_conversations(&pair.name).await {
                    Ok(followers) if followers.is_empty() => due.push(pair.name),
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(pair = %pair.name, %error, "the pair's subscriptions could not be read")
                    }
                }
            }
            due
        })
    }

    fn check(self: Arc<Self>, pair: String) -> BoxFuture<'static, ()> {
        Box::pin(async move { self.bot.check_rpo(&pair).await })
    }
}

impl Bot {
    /// Reads `pair` as the bot, as a scheduled post would: the reading goes
    /// into its history and its RPO to the alerter. What could not be read
    /// is said in the log (the next interval tries again).
    async fn check_rpo(&self, name: &str) {
        let Some(app) = self.services.app.clone() else {
            tracing::warn!(pair = name, "drbot's own identity is not configured: the periodic RPO check cannot read");
            return;
        };
        let pair = match self.services.store.pair(name).await {
            Ok(Some(pair)) => pair,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(pair = name, %error, "the pair could not be read for its RPO check");
                return;
            }
        };
        let versions = self.recorded_versions("rpo-check").await.remove(name).unwrap_or_default();
        let tokens = DatabricksTokens::App(app);
        if let Err(problem) = self.readiness_of(&tokens, &pair, versions, [None, None], "rpo-check").await {
            tracing::warn!(pair = name, %problem, "the periodic RPO check could not read the pair");
        }
        // A managed-DR pair: managed DR's own lag and errors too.
        self.check_managed(&tokens, &pair).await;
    }
}
