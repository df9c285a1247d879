//! Scheduled posts: the readiness dashboard, posted proactively into each
//! subscribed conversation as the bot's own identity (nobody typed anything,
//! so nobody's token is there to use).
//!
//! A subscription gets the dashboard of the pair it names, else of its
//! conversation's pair (its `use PAIR`, or the only pair), or the overview
//! of every pair. Every due subscription of one tick
//! that shows the same pairs gets the same card: it is read once and reused
//! for a minute, so a hundred subscriptions cost one read of the metastores,
//! not a hundred.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::actor::DatabricksTokens;
use super::pairs::Chosen;
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
    /// The last card of each choice of pairs and when it was read. An async
    /// lock: posts due together wait for the one read instead of each reading.
    cards: tokio::sync::Mutex<HashMap<String, (Instant, Value)>>,
}

impl DashboardPoster {
    pub fn new(bot: Arc<Bot>) -> DashboardPoster {
        DashboardPoster { bot, cards: tokio::sync::Mutex::new(HashMap::new()) }
    }

    async fn card(&self, conversation_id: &str, pair: Option<&str>) -> Value {
        let chosen = match self.bot.choose_pairs(Some(conversation_id), pair).await {
            Ok(chosen) => chosen,
            Err(error) => return error.card("scheduled"),
        };
        let key = match &chosen {
            Chosen::One(pair) => pair.name.clone(),
            Chosen::All(pairs) => pairs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(","),
        };
        let mut cached = self.cards.lock().await;
        if let Some((at, card)) = cached.get(&key) {
            if at.elapsed() < DASHBOARD_REUSE {
                return card.clone();
            }
        }
        let card = match self.bot.services.app.clone() {
            Some(app) => self.bot.readiness_card(&DatabricksTokens::App(app), chosen, "scheduled").await,
            None => cards::notice(
                "Readiness unavailable",
                "drbot's own identity is not configured, so scheduled posts cannot read the workspaces.",
            ),
        };
        cached.insert(key, (Instant::now(), card.clone()));
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
        message.attachments.push(Attachment::adaptive_card(self.card(&due.conversation_id, due.pair.as_deref()).await));
        match self.bot.services.connector.send(&reference.service_url, &reference.conversation_id, &message).await {
            Ok(_) => Ok(()),
            Err(ConnectorError::NotInConversation { .. }) => Err(PostError::BotRemoved),
            Err(error) => Err(PostError::Failed(error.to_string())),
        }
    }
}
