//! Universal Actions on every client: each `Action.Execute` carries an
//! `Action.Submit` fallback, and cards whose buttons only some people may
//! press ask each person's client for that person's own view.
//!
//! A client without `Action.Execute` (Universal Actions need Teams' newer
//! clients) renders the fallback instead; its click arrives as a message
//! whose `value` is the submit's data, so the data carries the verb too and
//! the bot handles both the same way (`bot::submitted_action`). The check of
//! who may press what stays on the server either way.

use serde_json::{json, Map, Value};

/// The most people a card's `refresh.userIds` may name (Teams' limit).
pub const MAX_REFRESH_USERS: usize = 60;

/// Gives every `Action.Execute` button in `card` (at any depth) an
/// `Action.Submit` fallback with the same title and its data plus the verb.
/// An action that already has a fallback keeps it. A `selectAction` (a
/// clickable row) gets none: a row is a shortcut for a command people can
/// type, and fifty rows' fallbacks would push a pairs overview over the
/// card size drbot keeps to.
pub fn add_submit_fallbacks(card: &mut Value) {
    match card {
        Value::Object(object) => {
            if object.get("type").and_then(Value::as_str) == Some("Action.Execute") && !object.contains_key("fallback")
            {
                let fallback = submit_fallback(object);
                object.insert("fallback".into(), fallback);
            }
            for (key, value) in object.iter_mut() {
                if key != "fallback" && key != "selectAction" {
                    add_submit_fallbacks(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(add_submit_fallbacks),
        _ => {}
    }
}

fn submit_fallback(execute: &Map<String, Value>) -> Value {
    let mut data = match execute.get("data") {
        Some(Value::Object(data)) => data.clone(),
        _ => Map::new(),
    };
    if let Some(verb) = execute.get("verb") {
        data.insert("verb".into(), verb.clone());
    }
    let mut submit = json!({"type": "Action.Submit", "data": data});
    if let Some(title) = execute.get("title") {
        submit["title"] = title.clone();
    }
    submit
}

/// Makes `card` refresh itself for each of `user_ids` (at most
/// [`MAX_REFRESH_USERS`]; the first ones are kept): their clients invoke
/// `verb` with `data` and show what the bot answers, their own view.
pub fn refresh_for(card: &mut Value, verb: &str, data: Value, user_ids: &[String]) {
    let user_ids: Vec<&String> = user_ids.iter().take(MAX_REFRESH_USERS).collect();
    if user_ids.is_empty() {
        return;
    }
    card["refresh"] = json!({
        "action": {"type": "Action.Execute", "verb": verb, "data": data},
        "userIds": user_ids,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_execute_gets_a_submit_with_its_verb_and_data() {
        let mut card = json!({
            "body": [{"type": "Container", "selectAction": {"type": "Action.Execute", "verb": "command", "data": {"text": "status a"}}}],
            "actions": [
                {"type": "Action.Execute", "title": "Run", "verb": "replicate.run", "data": {"plan_id": "p1"}},
                {"type": "Action.OpenUrl", "title": "Open", "url": "https://x.example"},
                {"type": "Action.Execute", "title": "Mine", "verb": "v", "fallback": "drop"}
            ]
        });
        add_submit_fallbacks(&mut card);
        assert_eq!(
            card["actions"][0]["fallback"],
            json!({"type": "Action.Submit", "title": "Run", "data": {"plan_id": "p1", "verb": "replicate.run"}})
        );
        assert!(card["body"][0]["selectAction"].get("fallback").is_none(), "a row is typed instead");
        assert!(card["actions"][1].get("fallback").is_none(), "only Action.Execute");
        assert_eq!(card["actions"][2]["fallback"], "drop", "an existing fallback is kept");
        let once = card.clone();
        add_submit_fallbacks(&mut card);
        assert_eq!(card, once, "idempotent");
    }

    #[test]
    fn refresh_names_at_most_sixty_people_and_none_is_no_refresh() {
        let mut card = json!({"type": "AdaptiveCard"});
        refresh_for(&mut card, "v", json!({}), &[]);
        assert!(card.get("refresh").is_none());
        let people: Vec<String> = (0..70).map(|i| format!("29:{i}")).collect();
        refresh_for(&mut card, "replicate.view", json!({"plan_id": "p"}), &people);
        assert_eq!(card["refresh"]["userIds"].as_array().unwrap().len(), MAX_REFRESH_USERS);
        assert_eq!(card["refresh"]["userIds"][0], "29:0");
        assert_eq!(card["refresh"]["action"]["verb"], "replicate.view");
    }
}
