//! What Teams says about conversations going away, as the conversations the
//! bot can no longer post to.
//!
//! Teams tells a bot through `conversationUpdate` activities whose
//! `channelData.eventType` names the event (`channelDeleted`, `teamDeleted`,
//! `teamHardDeleted`, `teamArchived`, …) or whose `membersRemoved` holds the
//! bot itself (removed from a chat or a team), and through
//! `installationUpdate` with action `remove` (the app uninstalled). A removed
//! bot's sends are refused (403 `BotNotInConversationRoster`), an archived
//! team is read-only, so each of these ends the conversation's scheduled posts
//! and alerts at once. A renamed channel or team changes nothing drbot keeps
//! (it stores ids, not names).

use crate::botframework::activity::Activity;

/// Conversations that are gone, by what identifies them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gone {
    /// One chat (personal, group) or channel thread, by conversation id.
    Conversation(String),
    /// Every conversation in one channel, by Teams channel id.
    Channel(String),
    /// Every conversation in one team, by team id.
    Team(String),
}

impl Gone {
    /// For the log (no ids).
    pub fn what(&self) -> &'static str {
        match self {
            Gone::Conversation(_) => "conversation",
            Gone::Channel(_) => "channel",
            Gone::Team(_) => "team",
        }
    }
}

/// What a `conversationUpdate` takes away, if anything.
pub fn gone(activity: &Activity) -> Option<Gone> {
    let data = activity.teams_channel_data();
    let team = data.as_ref().and_then(|d| d.team.as_ref()).map(|t| t.id.clone()).filter(|id| !id.is_empty());
    let channel = data.as_ref().and_then(|d| d.channel.as_ref()).map(|c| c.id.clone()).filter(|id| !id.is_empty());
    let event = data.as_ref().and_then(|d| d.extra.get("eventType")).and_then(|e| e.as_str()).unwrap_or_default();
    match event {
        "teamDeleted" | "teamHardDeleted" | "teamArchived" => return team.map(Gone::Team),
        "channelDeleted" => return channel.map(Gone::Channel),
        _ => {}
    }
    let bot = activity.recipient.as_ref()?;
    if !activity.members_removed.iter().any(|member| member.id == bot.id) {
        return None;
    }
    // The bot removed from a team leaves all its channels; from a chat, that chat.
    team.map(Gone::Team).or_else(|| activity.conversation.as_ref().map(|c| Gone::Conversation(c.id.clone())))
}

/// What uninstalling the app (`installationUpdate`, `remove…`) takes away:
/// from a team, all its channels; elsewhere, the chat.
pub fn uninstalled(activity: &Activity) -> Option<Gone> {
    let team = activity.teams_channel_data().and_then(|d| d.team).map(|t| t.id).filter(|id| !id.is_empty());
    team.map(Gone::Team).or_else(|| activity.conversation.as_ref().map(|c| Gone::Conversation(c.id.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn activity(value: serde_json::Value) -> Activity {
        let mut base = json!({
            "type": "conversationUpdate",
            "recipient": {"id": "28:bot"},
            "conversation": {"id": "19:general@thread.tacv2"},
        });
        base.as_object_mut().unwrap().extend(value.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn team_and_channel_events_and_the_bot_removed_are_gone() {
        let team = json!({"team": {"id": "19:team@thread.tacv2"}, "channel": {"id": "19:ch@thread.tacv2"}});
        let with = |event: &str| {
            let mut data = team.clone();
            data["eventType"] = json!(event);
            activity(json!({"channelData": data}))
        };
        for event in ["teamDeleted", "teamHardDeleted", "teamArchived"] {
            assert_eq!(gone(&with(event)), Some(Gone::Team("19:team@thread.tacv2".into())), "{event}");
        }
        assert_eq!(gone(&with("channelDeleted")), Some(Gone::Channel("19:ch@thread.tacv2".into())));
        assert_eq!(gone(&with("channelRenamed")), None);
        assert_eq!(gone(&with("teamRenamed")), None);

        let removed = json!({"membersRemoved": [{"id": "28:bot"}]});
        let mut from_team = removed.clone();
        from_team["channelData"] = team.clone();
        assert_eq!(gone(&activity(from_team)), Some(Gone::Team("19:team@thread.tacv2".into())));
        assert_eq!(gone(&activity(removed)), Some(Gone::Conversation("19:general@thread.tacv2".into())));
        assert_eq!(gone(&activity(json!({"membersRemoved": [{"id": "29:someone"}]}))), None);
    }

    #[test]
    fn uninstalling_from_a_team_forgets_the_team_else_the_chat() {
        let mut from_team = activity(json!({"channelData": {"team": {"id": "19:team@thread.tacv2"}}}));
        from_team.action = Some("remove".into());
        assert_eq!(uninstalled(&from_team), Some(Gone::Team("19:team@thread.tacv2".into())));
        assert_eq!(uninstalled(&activity(json!({}))), Some(Gone::Conversation("19:general@thread.tacv2".into())));
    }
}
