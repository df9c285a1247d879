//! Scheduled posts: the readiness dashboard, posted proactively into each
//! subscribed conversation as the bot's own identity (nobody typed anything,
//! so nobody's token is there to use).
//!
//! Every due subscription of one tick gets the same dashboard: it is read
//! once and reused for a minute, so a hundred subscriptions cost one read of
//! the metastores, not a hundred.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::actor::DatabricksTokens;
use super::Bot;
use crate::botframework::activity::{Activity, ActivityType, Attachment};
use crate::botframework::connector::ConnectorError;
use crate::cards;
use crate::scheduler::{PostError, Poster};
use crate::store::subscriptions::Due;

/// How long one dashboard serves the posts due together.
const DASHBOARD_REUSE: Duration = Duration::from_secs(60);

pub struct DashboardPoster {
    bot: Arc<Bot>,
    /// The last dashboard and when it was read. An async lock: posts due
    /// together wait for the one read instead of each reading.
    card: tokio::sync::Mutex<Option<(Instant, Value)>>,
}

impl DashboardPoster {
    pub fn new(bot: Arc<Bot>) -> DashboardPoster {
        DashboardPoster { bot, card: tokio::sync::Mutex::new(None) }
    }

    async fn card(&self) -> Value {
        let mut cached = self.card.lock().await;
        if let Some((at, card)) = cached.as_ref() {
            if at.elapsed() < DASHBOARD_REUSE {
                return card.clone();
            }
        }
        let card = match self.bot.services.app.clone() {
            Some(app) => self.bot.dashboard(&DatabricksTokens::App(app), "scheduled").await,
            None => cards::notice(
                "Readiness unavailable",
                "drbot's own identity is not configured, so scheduled posts cannot read the workspaces.",
            ),
        };
        *cached = Some((Instant::now(), card.clone()));
        card
    }
}

impl Poster for DashboardPoster {
    async fn post(&self, due: &Due) -> Result<(), PostError> {
        let reference = match self.bot.services.store.conversation(&due.conversation_id).await {
            Ok(Some(reference)) => reference,
            // No reference: drbot was never (or is no longer) installed there.
            Ok(None) => return Err(PostError::BotRemoved),
            Err(error) => return Err(PostError::Failed(error.to_string())),
        };
        let mut message = Activity::new(ActivityType::Message);
        message.attachments.push(Attachment::adaptive_card(self.card().await));
        match self.bot.services.connector.send(&reference.service_url, &reference.conversation_id, &message).await {
            Ok(_) => Ok(()),
            Err(ConnectorError::NotInConversation { .. }) => Err(PostError::BotRemoved),
            Err(error) => Err(PostError::Failed(error.to_string())),
        }
    }
}
