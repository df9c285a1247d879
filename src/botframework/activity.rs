//! The Bot Framework activity, typed where drbot reads it and lossless
//! everywhere else.
//!
//! Channels add fields all the time; every struct keeps what it does not
//! know in `extra`, so an activity survives a parse/serialise round trip.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The activity types drbot handles; anything else is kept as `Other`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActivityType {
    Message,
    Invoke,
    ConversationUpdate,
    InstallationUpdate,
    MessageReaction,
    Typing,
    Event,
    Other(String),
}

impl ActivityType {
    fn as_str(&self) -> &str {
        match self {
            ActivityType::Message => "message",
            ActivityType::Invoke => "invoke",
            ActivityType::ConversationUpdate => "conversationUpdate",
            ActivityType::InstallationUpdate => "installationUpdate",
            ActivityType::MessageReaction => "messageReaction",
            ActivityType::Typing => "typing",
            ActivityType::Event => "event",
            ActivityType::Other(other) => other,
        }
    }
}

impl From<&str> for ActivityType {
    fn from(value: &str) -> Self {
        match value {
            "message" => ActivityType::Message,
            "invoke" => ActivityType::Invoke,
            "conversationUpdate" => ActivityType::ConversationUpdate,
            "installationUpdate" => ActivityType::InstallationUpdate,
            "messageReaction" => ActivityType::MessageReaction,
            "typing" => ActivityType::Typing,
            "event" => ActivityType::Event,
            other => ActivityType::Other(other.to_string()),
        }
    }
}

impl Serialize for ActivityType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ActivityType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(ActivityType::from(text.as_str()))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_object_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAccount {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_group: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Attachment {
    pub const ADAPTIVE_CARD: &'static str = "application/vnd.microsoft.card.adaptive";
    pub const OAUTH_CARD: &'static str = "application/vnd.microsoft.card.oauth";

    pub fn adaptive_card(card: Value) -> Attachment {
        Attachment::with_content(Self::ADAPTIVE_CARD, Content::Value(card))
    }

    /// An Adaptive Card drawn once for the process and kept serialized.
    pub fn serialized_adaptive_card(card: &'static RawValue) -> Attachment {
        Attachment::with_content(Self::ADAPTIVE_CARD, Content::Serialized(card))
    }

    pub fn with_content(content_type: &str, content: Content) -> Attachment {
        Attachment {
            content_type: content_type.into(),
            content: Some(content),
            content_url: None,
            name: None,
            extra: Map::new(),
        }
    }
}

/// What an attachment carries: JSON as received or built for this turn, or a
/// card drawn once for the process and kept serialized. The second is sent
/// as it is: a card the size of `help` (the most frequent turn) cost more to
/// copy, serialize and free on every turn than everything else in the turn
/// together (docs/BENCHMARKS.md, "Where a turn's instructions go").
#[derive(Clone, Debug)]
pub enum Content {
    Value(Value),
    Serialized(&'static RawValue),
}

impl Content {
    /// The content as a JSON value (parsed again when it was kept serialized).
    pub fn to_value(&self) -> Value {
        match self {
            Content::Value(value) => value.clone(),
            // It was serialized from a `Value`, so it parses back into one.
            Content::Serialized(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
        }
    }
}

impl PartialEq for Content {
    fn eq(&self, other: &Content) -> bool {
        match (self, other) {
            (Content::Value(a), Content::Value(b)) => a == b,
            _ => self.to_value() == other.to_value(),
        }
    }
}

impl Serialize for Content {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Value(value) => value.serialize(serializer),
            Content::Serialized(raw) => raw.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Content, D::Error> {
        Value::deserialize(deserializer).map(Content::Value)
    }
}

/// An id and optional name, as Teams nests them in channelData.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TeamsEntity {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What Teams puts in `channelData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamsChannelData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TeamsEntity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamsEntity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<TeamsEntity>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One activity, inbound or outbound.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    #[serde(rename = "type")]
    pub kind: ActivityType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The invoke's or event's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members_added: Vec<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members_removed: Vec<ChannelAccount>,
    /// installationUpdate: `add` or `remove`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Activity {
    /// A new outbound activity of `kind` with nothing else set.
    pub fn new(kind: ActivityType) -> Activity {
        Activity {
            kind,
            id: None,
            timestamp: None,
            service_url: None,
            channel_id: None,
            from: None,
            conversation: None,
            recipient: None,
            text: None,
            text_format: None,
            attachments: Vec::new(),
            value: None,
            name: None,
            reply_to_id: None,
            members_added: Vec::new(),
            members_removed: Vec::new(),
            action: None,
            channel_data: None,
            locale: None,
            entities: Vec::new(),
            extra: Map::new(),
        }
    }

    /// A message carrying one Adaptive Card.
    pub fn card(card: Value) -> Activity {
        let mut activity = Activity::new(ActivityType::Message);
        activity.attachments.push(Attachment::adaptive_card(card));
        activity
    }

    /// A plain text message.
    pub fn text(text: impl Into<String>) -> Activity {
        let mut activity = Activity::new(ActivityType::Message);
        activity.text = Some(text.into());
        activity.text_format = Some("plain".into());
        activity
    }

    /// Teams' channelData, typed; `None` when absent or not an object.
    pub fn teams_channel_data(&self) -> Option<TeamsChannelData> {
        serde_json::from_value(self.channel_data.clone()?).ok()
    }

    /// The tenant the activity comes from (channelData, else the conversation).
    pub fn tenant_id(&self) -> Option<String> {
        self.teams_channel_data()
            .and_then(|data| data.tenant.map(|t| t.id))
            .filter(|id| !id.is_empty())
            .or_else(|| self.conversation.as_ref()?.tenant_id.clone())
    }

    /// Whether the bot (the recipient) is among the members added.
    pub fn adds_the_bot(&self) -> bool {
        let Some(bot) = &self.recipient else { return false };
        self.members_added.iter().any(|member| member.id == bot.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_card_kept_serialized_is_sent_as_the_same_json_as_the_card_itself() {
        let card = json!({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "a \"quoted\" é"}]});
        let kept: &'static RawValue = Box::leak(serde_json::value::to_raw_value(&card).unwrap());
        let mut as_value = Activity::new(ActivityType::Message);
        as_value.attachments.push(Attachment::adaptive_card(card.clone()));
        let mut as_kept = Activity::new(ActivityType::Message);
        as_kept.attachments.push(Attachment::serialized_adaptive_card(kept));

        assert_eq!(serde_json::to_string(&as_kept).unwrap(), serde_json::to_string(&as_value).unwrap());
        assert_eq!(serde_json::to_value(&as_kept).unwrap(), serde_json::to_value(&as_value).unwrap());
        assert_eq!(as_kept, as_value, "equal as JSON");
        // Read back, an attachment's content is a value again.
        let read: Activity = serde_json::from_str(&serde_json::to_string(&as_kept).unwrap()).unwrap();
        assert!(matches!(&read.attachments[0].content, Some(Content::Value(value)) if *value == card));
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let original = json!({
            "type": "message",
            "id": "1",
            "serviceUrl": "https://smba.trafficmanager.net/emea/",
            "channelId": "msteams",
            "from": {"id": "29:1", "name": "A", "aadObjectId": "oid", "futureField": 1},
            "conversation": {"id": "a:1", "conversationType": "personal", "tenantId": "t", "x": [1]},
            "recipient": {"id": "28:app"},
            "text": "help",
            "channelData": {"tenant": {"id": "t"}, "team": {"id": "19:team", "name": "Ops"}, "channel": {"id": "19:ch"}, "eventType": "x"},
            "entities": [{"type": "clientInfo"}],
            "somethingNew": {"nested": true},
            "attachments": [{"contentType": "text/html", "content": "<p>x</p>", "extraAttachmentField": "y"}]
        });
        let activity: Activity = serde_json::from_value(original.clone()).unwrap();
        assert_eq!(activity.kind, ActivityType::Message);
        assert_eq!(serde_json::to_value(&activity).unwrap(), original);
        let data = activity.teams_channel_data().unwrap();
        assert_eq!(data.team.unwrap().name.as_deref(), Some("Ops"));
        assert_eq!(data.channel.unwrap().id, "19:ch");
        assert_eq!(activity.tenant_id().as_deref(), Some("t"));
    }

    #[test]
    fn unknown_activity_types_are_kept() {
        let activity: Activity = serde_json::from_value(json!({"type": "handoff"})).unwrap();
        assert_eq!(activity.kind, ActivityType::Other("handoff".into()));
        assert_eq!(serde_json::to_value(&activity).unwrap(), json!({"type": "handoff"}));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [&b"{"[..], b"[]", b"null", b"{\"type\": 5}", b"{\"from\": {}}", b"\xff\xfe"] {
            assert!(serde_json::from_slice::<Activity>(bad).is_err());
        }
    }
}
