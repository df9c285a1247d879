//! A person chatting with drbot through the sandbox's Teams: type a command,
//! click a card button, sign in with Teams SSO; every wait has a deadline.

use sandbox::connector::Recorded;
use sandbox::directory::User;
use sandbox::teams::{BotResponse, Conversation};
use sandbox::token_service::SANDBOX_CONNECTION_NAME;
use serde_json::Value;

use super::{World, PATIENCE};

pub struct Chat<'a> {
    pub world: &'a World,
    pub user: User,
    pub conversation: Conversation,
}

impl<'a> Chat<'a> {
    /// `login`'s personal chat with the bot.
    pub fn personal(world: &'a World, login: &str) -> Chat<'a> {
        let user = world.sandbox.teams.user(login).expect("a sandbox user");
        let conversation = world.sandbox.teams.personal(&user);
        Chat { world, user, conversation }
    }

    /// `login` in the group chat `room`.
    pub fn in_group(world: &'a World, room: &Conversation, login: &str) -> Chat<'a> {
        let user = world.sandbox.teams.user(login).expect("a sandbox user");
        Chat { world, user, conversation: room.clone() }
    }

    /// How many activities the connector has accepted so far (all chats).
    pub fn sent(&self) -> usize {
        self.world.sandbox.connector.recorded().len()
    }

    /// Types `text`; returns the first activity the bot sends afterwards.
    pub async fn say(&self, text: &str) -> Recorded {
        self.type_text(text, true).await
    }

    /// Types `text` as the Agents Playground sends it in local anonymous
    /// mode: the same activity, no token.
    pub async fn say_unsigned(&self, text: &str) -> Recorded {
        self.type_text(text, false).await
    }

    async fn type_text(&self, text: &str, signed: bool) -> Recorded {
        let before = self.sent();
        let message = self.world.sandbox.teams.message(&self.user, &self.conversation, text);
        let teams = &self.world.sandbox.teams;
        let answer = if signed {
            teams.send(&message).await
        } else {
            teams.send_raw(message.to_string().into_bytes(), None).await
        };
        let answer = answer.expect("the bot answers");
        assert_eq!(answer.status, 200, "typing {text:?}");
        // The reply to this message: a progress card of an earlier run may be
        // updated in between, so "the next activity" is not necessarily it.
        let id = message["id"].as_str().unwrap_or_default().to_string();
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let seen = self.world.sandbox.connector.recorded();
            if let Some(reply) = seen[before.min(seen.len())..]
                .iter()
                .find(|r| r.verb == sandbox::connector::Verb::Reply && r.reply_to_id.as_deref() == Some(id.as_str()))
            {
                return reply.clone();
            }
            assert!(std::time::Instant::now() < deadline, "no reply to {text:?}");
            let _ = self.world.sandbox.connector.wait_for(seen.len() + 1, std::time::Duration::from_millis(200)).await;
        }
    }

    /// Clicks an `Action.Execute` button of the card sent as `card_activity_id`.
    pub async fn click(&self, card_activity_id: &str, verb: &str, data: Value) -> BotResponse {
        let invoke = self.world.sandbox.teams.card_action(&self.user, &self.conversation, card_activity_id, verb, data);
        self.world.sandbox.teams.send(&invoke).await.expect("the bot answers the invoke")
    }

    /// The click as the Agents Playground sends it in local anonymous mode: no token.
    pub async fn click_unsigned(&self, card_activity_id: &str, verb: &str, data: Value) -> BotResponse {
        let invoke = self.world.sandbox.teams.card_action(&self.user, &self.conversation, card_activity_id, verb, data);
        let body = invoke.to_string().into_bytes();
        self.world.sandbox.teams.send_raw(body, None).await.expect("the bot answers the invoke")
    }

    /// Signs in with Teams SSO (types `whoami`, answers the OAuthCard with a
    /// token exchange) so later commands act as this person.
    pub async fn sign_in(&self) {
        let prompt = self.say("whoami").await;
        let Some(id) = prompt.body["attachments"][0]["content"]["tokenExchangeResource"]["id"].as_str() else {
            return; // already signed in: whoami answered directly
        };
        let before = self.sent();
        let token = self.world.sandbox.entra.teams_sso_token(&self.user, sandbox::SANDBOX_BOT_APP_ID);
        let invoke = self.world.sandbox.teams.token_exchange(
            &self.user,
            &self.conversation,
            id,
            SANDBOX_CONNECTION_NAME,
            &token,
        );
        let answer = self.world.sandbox.teams.send(&invoke).await.expect("exchange answered");
        assert_eq!(answer.status, 200, "token exchange");
        // The whoami that waited for sign-in is answered now.
        self.world.sandbox.connector.wait_for(before + 1, PATIENCE).await.expect("whoami after sign-in");
    }
}

/// Waits (60 s at most) until the connector has accepted an activity
/// matching `found`; on time-out names it and shows the last cards sent.
pub async fn wait_for(world: &World, what: &str, found: impl Fn(&Recorded) -> bool) -> Recorded {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let seen = world.sandbox.connector.recorded();
        if let Some(hit) = seen.iter().find(|r| found(r)) {
            return hit.clone();
        }
        if std::time::Instant::now() >= deadline {
            let last: Vec<String> = seen.iter().rev().take(3).map(card_text).collect();
            panic!("never saw {what}; the last cards: {last:?}");
        }
        let _ = world.sandbox.connector.wait_for(seen.len() + 1, std::time::Duration::from_millis(200)).await;
    }
}

/// The whole card of a recorded activity as text, for `contains` checks.
pub fn card_text(recorded: &Recorded) -> String {
    recorded.adaptive_card().map(Value::to_string).unwrap_or_default()
}

/// What the chat shows now: for each activity the bot posted or updated,
/// its last write (a delete removes it), in the order they first appeared.
/// A card updated in place is one card, however often it was rewritten.
pub fn visible(recorded: &[Recorded]) -> Vec<Recorded> {
    let mut shown: Vec<Recorded> = Vec::new();
    for r in recorded {
        let at = shown.iter().position(|s| s.conversation_id == r.conversation_id && s.activity_id == r.activity_id);
        match (r.verb, at) {
            (sandbox::connector::Verb::Delete, Some(at)) => {
                shown.remove(at);
            }
            (sandbox::connector::Verb::Delete, None) => {}
            (_, Some(at)) => shown[at] = r.clone(),
            (_, None) => shown.push(r.clone()),
        }
    }
    shown
}

/// How many cards the chat shows now whose text contains `text`.
pub fn showing(recorded: &[Recorded], text: &str) -> usize {
    visible(recorded).iter().filter(|r| card_text(r).contains(text)).count()
}

/// The data of the button with `verb` on `card` (a test fails without one).
pub fn button(card: &Value, verb: &str) -> Value {
    card["actions"]
        .as_array()
        .and_then(|actions| actions.iter().find(|a| a["verb"] == verb))
        .map(|a| a["data"].clone())
        .unwrap_or_else(|| panic!("a {verb} button on {card}"))
}
