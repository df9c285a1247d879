//! Alerts in Teams: the [`AlertSink`] that posts an alert card into every
//! chat or channel following the pair (its subscriptions) and, for the
//! people, teams, channels and chats the pair names (`alert_users`,
//! `alert_teams`, `alert_chats`), an activity-feed notification through
//! Graph linking back to the card (each member of a team, channel or chat
//! gets it in their own feed). The conditions and the
//! deduplication are the DR domain's (`src/alerts/`); here is only where
//! they go and how.
//!
//! A post goes through the connector (paced per conversation, 429, 412, 502,
//! 503 and 504 retried with jittered back-off); a chat that removed the bot
//! is the lifecycle's to forget (`src/teams/lifecycle.rs`), so its
//! subscriptions go as they do for a scheduled post.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::alerts::deliver::{AlertSink, DeliveryError, Destination, Recipient};
use crate::alerts::{Alert, Change};
use crate::botframework::activity::{Activity, ActivityType, Attachment};
use crate::botframework::connector::{ConnectorClient, ConnectorError};
use crate::cards;
use crate::store::Store;
use crate::teams::activity_feed::{ActivityFeed, FeedTarget, Notification, ALERT_ACTIVITY_TYPE};
use crate::teams::feed_target::feed_targets;

pub struct TeamsAlerts {
    store: Store,
    connector: Arc<ConnectorClient>,
    /// `None` when the bot has no identity of its own for Graph.
    feed: Option<ActivityFeed>,
    /// The Teams app id, for the link when no card could be linked to.
    app_id: String,
}

impl TeamsAlerts {
    pub fn new(store: Store, connector: Arc<ConnectorClient>, feed: Option<ActivityFeed>, app_id: &str) -> TeamsAlerts {
        TeamsAlerts { store, connector, feed, app_id: app_id.to_string() }
    }
}

/// A deep link to message `message_id` in conversation `conversation_id`
/// (Teams' `l/message` link; a channel conversation's id carries the
/// thread's root as `;messageid=`, which the link does not take).
pub fn message_link(conversation_id: &str, message_id: &str) -> String {
    let chat = conversation_id.split(';').next().unwrap_or(conversation_id);
    let encode =
        |text: &str| percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string();
    format!("https://teams.microsoft.com/l/message/{}/{}", encode(chat), encode(message_id))
}

impl AlertSink for TeamsAlerts {
    fn destinations<'a>(&'a self, pair: &'a str) -> BoxFuture<'a, Result<Vec<Destination>, DeliveryError>> {
        Box::pin(async move {
            let followers =
                self.store.alert_conversations(pair).await.map_err(|e| DeliveryError::Failed(e.to_string()))?;
            Ok(followers.into_iter().map(|(id, tenant)| Destination { id, tenant }).collect())
        })
    }

    fn recipients<'a>(&'a self, pair: &'a str) -> BoxFuture<'a, Vec<Recipient>> {
        Box::pin(async move {
            if self.feed.is_none() {
                return Vec::new();
            }
            match self.store.pair(pair).await {
                Ok(Some(pair)) => feed_targets(&pair).into_iter().map(|id| Recipient { id, tenant: None }).collect(),
                _ => Vec::new(),
            }
        })
    }

    fn post<'a>(
        &'a self,
        destination: &'a Destination,
        alert: &'a Alert,
    ) -> BoxFuture<'a, Result<Option<String>, DeliveryError>> {
        Box::pin(async move {
            let reference = match self.store.conversation(&destination.id).await {
                Ok(Some(reference)) => reference,
                Ok(None) => return Err(DeliveryError::Gone),
                Err(error) => return Err(DeliveryError::Failed(error.to_string())),
            };
            let mut message = Activity::new(ActivityType::Message);
            message.attachments.push(Attachment::adaptive_card(cards::alert(
                &alert.headline(),
                &alert.summary,
                &alert.pair,
                alert.change == Change::Raised,
            )));
            match self.connector.send(&reference.service_url, &reference.conversation_id, &message).await {
                Ok(sent) if !sent.id.is_empty() => Ok(Some(message_link(&reference.conversation_id, &sent.id))),
                Ok(_) => Ok(None),
                Err(ConnectorError::NotInConversation { .. }) => {
                    if let Err(error) = self.store.remove_subscriptions_for_conversation(&destination.id).await {
                        tracing::warn!(%error, "the bot left a chat; removing its subscriptions failed");
                    }
                    Err(DeliveryError::Gone)
                }
                Err(error) => Err(DeliveryError::Failed(error.to_string())),
            }
        })
    }

    fn notify<'a>(
        &'a self,
        recipient: &'a Recipient,
        alert: &'a Alert,
        link: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let Some(feed) = &self.feed else { return Ok(()) };
            let what = match alert.change {
                Change::Raised => "needs attention",
                Change::Recovered => "recovered",
            };
            let notification = Notification {
                activity_type: ALERT_ACTIVITY_TYPE.into(),
                topic: alert.headline(),
                web_url: link
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("https://teams.microsoft.com/l/app/{}", self.app_id)),
                preview: alert.summary.clone(),
                template: vec![("pair".into(), alert.pair.clone()), ("what".into(), what.into())],
            };
            let target = FeedTarget::parse(&recipient.id).map_err(DeliveryError::Failed)?;
            feed.notify(&target, &notification).await.map_err(|e| DeliveryError::Failed(e.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_point_at_the_message_in_its_chat() {
        assert_eq!(
            message_link("19:abc@thread.tacv2;messageid=17", "1700000000000"),
            "https://teams.microsoft.com/l/message/19%3Aabc%40thread%2Etacv2/1700000000000"
        );
    }
}
