//! What Teams adds to the Bot Framework: mentions, invoke responses, replies
//! addressed back into the conversation they answer.

pub mod activity_feed;
pub mod feed_target;
pub mod invoke;
pub mod lifecycle;
pub mod mentions;
pub mod signin;

use crate::botframework::activity::Activity;

/// Addresses `reply` to the conversation `inbound` came from, as the SDKs'
/// conversation reference does: from the bot, to the user, same channel.
pub fn address_reply(inbound: &Activity, mut reply: Activity) -> Activity {
    reply.from = inbound.recipient.clone();
    reply.recipient = inbound.from.clone();
    reply.conversation = inbound.conversation.clone();
    reply.channel_id = inbound.channel_id.clone();
    reply.service_url = inbound.service_url.clone();
    reply.reply_to_id = inbound.id.clone();
    reply.locale = inbound.locale.clone();
    reply
}
