//! Whose Teams activity feed a notification goes to, and how Graph names
//! it: pure, so the configuration can check a target without the client.

use serde_json::{json, Value};

use crate::pairs::Pair;

/// Every feed a pair's alerts go to, as text: its people (`alert_users`),
/// teams and channels (`alert_teams`) and chats (`alert_chats`).
pub fn feed_targets(pair: &Pair) -> Vec<String> {
    let teams = pair.alert_teams.iter().map(|team| format!("team:{team}"));
    let chats = pair.alert_chats.iter().map(|chat| format!("chat:{chat}"));
    pair.alert_users.iter().cloned().chain(teams).chain(chats).collect()
}

/// Whose activity feed a notification goes to. Written as text in the
/// configuration and between the alerter and this client: a person is their
/// object id or user principal name, a team `team:{group id}`, one of its
/// channels `team:{group id}/{channel id}`, a chat `chat:{chat id}` (the ids
/// Graph uses: a team's is its Microsoft 365 group's object id, a channel's
/// and a chat's the `19:…@thread…` ids).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedTarget {
    User(String),
    /// Every member of the team.
    Team(String),
    /// Every member of one channel of the team.
    Channel {
        team: String,
        channel: String,
    },
    /// Every member of the chat.
    Chat(String),
}

impl FeedTarget {
    /// Reads the text form (see the type's doc); what it is not, said.
    pub fn parse(text: &str) -> Result<FeedTarget, String> {
        let plain = |id: &str| !id.is_empty() && !id.chars().any(|c| c.is_whitespace() || c == '/');
        let target = if let Some(rest) = text.strip_prefix("team:") {
            match rest.split_once('/') {
                Some((team, channel)) => FeedTarget::Channel { team: team.into(), channel: channel.into() },
                None => FeedTarget::Team(rest.into()),
            }
        } else if let Some(chat) = text.strip_prefix("chat:") {
            FeedTarget::Chat(chat.into())
        } else {
            FeedTarget::User(text.into())
        };
        let ids_ok = match &target {
            FeedTarget::User(id) | FeedTarget::Team(id) | FeedTarget::Chat(id) => plain(id),
            FeedTarget::Channel { team, channel } => plain(team) && plain(channel),
        };
        if ids_ok {
            Ok(target)
        } else {
            Err(format!(
                "'{}' is not a feed target (a user's object id or UPN, team:GROUP_ID, team:GROUP_ID/CHANNEL_ID or chat:CHAT_ID)",
                text.chars().take(80).collect::<String>()
            ))
        }
    }

    /// Graph's path segments for the action, and the `recipient` its body
    /// carries (none for a user: the path names them).
    pub(crate) fn route(&self) -> (Vec<&str>, Option<Value>) {
        match self {
            FeedTarget::User(user) => (vec!["users", user, "teamwork", "sendActivityNotification"], None),
            FeedTarget::Team(team) => (
                vec!["teams", team, "sendActivityNotification"],
                Some(json!({"@odata.type": "microsoft.graph.teamMembersNotificationRecipient", "teamId": team})),
            ),
            FeedTarget::Channel { team, channel } => (
                vec!["teams", team, "sendActivityNotification"],
                Some(json!({
                    "@odata.type": "microsoft.graph.channelMembersNotificationRecipient",
                    "teamId": team,
                    "channelId": channel,
                })),
            ),
            FeedTarget::Chat(chat) => (
                vec!["chats", chat, "sendActivityNotification"],
                Some(json!({"@odata.type": "microsoft.graph.chatMembersNotificationRecipient", "chatId": chat})),
            ),
        }
    }
}

impl std::fmt::Display for FeedTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeedTarget::User(user) => f.write_str(user),
            FeedTarget::Team(team) => write!(f, "team:{team}"),
            FeedTarget::Channel { team, channel } => write!(f, "team:{team}/{channel}"),
            FeedTarget::Chat(chat) => write!(f, "chat:{chat}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_back_as_written_and_route_as_graph_documents() {
        for text in ["oncall@contoso.com", "team:0b1c", "team:0b1c/19:abc@thread.tacv2", "chat:19:d65@thread.v2"] {
            assert_eq!(FeedTarget::parse(text).unwrap().to_string(), text);
        }
        let channel = FeedTarget::parse("team:0b1c/19:abc@thread.tacv2").unwrap();
        let (path, recipient) = channel.route();
        assert_eq!(path, ["teams", "0b1c", "sendActivityNotification"]);
        let recipient = recipient.unwrap();
        assert_eq!(recipient["@odata.type"], "microsoft.graph.channelMembersNotificationRecipient");
        assert_eq!(
            (recipient["teamId"].as_str(), recipient["channelId"].as_str()),
            (Some("0b1c"), Some("19:abc@thread.tacv2"))
        );
        let chat = FeedTarget::parse("chat:19:d65@thread.v2").unwrap();
        let (path, recipient) = chat.route();
        assert_eq!(path, ["chats", "19:d65@thread.v2", "sendActivityNotification"]);
        assert_eq!(recipient.unwrap()["chatId"], "19:d65@thread.v2");
        let user = FeedTarget::parse("a@b.c").unwrap();
        let (path, recipient) = user.route();
        assert_eq!((path, recipient), (vec!["users", "a@b.c", "teamwork", "sendActivityNotification"], None));
        for bad in ["", "team:", "chat:", "team:a/", "team:/b", "a b"] {
            assert!(FeedTarget::parse(bad).is_err(), "{bad:?}");
        }
    }
}
