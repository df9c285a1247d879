//! The scheduler's [`Poster`]: a due subscription's post, sent proactively
//! into its conversation through the stored conversation reference.
//!
//! Nobody typed anything, so there is no person to act for: anything read
//! for the post is read as the bot's own identity (`services.app`). A 403
//! from the connector means the bot left the chat; the scheduler then drops
//! the chat's subscriptions.

use std::sync::Arc;

use super::Bot;
use crate::botframework::activity::{Activity, ActivityType, Attachment};
use crate::botframework::connector::ConnectorError;
use crate::cards;
use crate::scheduler::{PostError, Poster};
use crate::store::subscriptions::Due;

/// Posts scheduled readiness notices as the bot.
pub struct ScheduledPoster {
    bot: Arc<Bot>,
}

impl ScheduledPoster {
    pub fn new(bot: Arc<Bot>) -> ScheduledPoster {
        ScheduledPoster { bot }
    }

    async fn post_due(&self, due: &Due) -> Result<(), PostError> {
        let services = &self.bot.services;
        let reference = services
            .store
            .conversation(&due.conversation_id)
            .await
            .map_err(|e| PostError::Failed(format!("conversation reference not read: {e}")))?
            // Without a reference there is nowhere to post; the next occurrence tries again.
            .ok_or_else(|| PostError::Failed("no conversation reference is stored for this chat".into()))?;
        // TODO(status): post the readiness dashboard (`bot::status`, read as
        // `services.app`) once it is merged; until then a notice that points to it.
        let card = cards::notice(
            "Scheduled readiness check",
            "It is time for the scheduled disaster recovery readiness check: type `status` for the dashboard.",
        );
        let mut message = Activity::new(ActivityType::Message);
        message.attachments.push(Attachment::adaptive_card(card));
        match services.connector.send(&reference.service_url, &reference.conversation_id, &message).await {
            Ok(_) => Ok(()),
            Err(ConnectorError::NotInConversation { .. }) => Err(PostError::BotRemoved),
            Err(error) => Err(PostError::Failed(error.to_string())),
        }
    }
}

impl Poster for ScheduledPoster {
    fn post(&self, due: &Due) -> impl std::future::Future<Output = Result<(), PostError>> + Send {
        self.post_due(due)
    }
}
