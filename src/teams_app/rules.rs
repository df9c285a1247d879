//! What Teams checks beyond the JSON schema, and what drbot itself requires of
//! its manifest. The v1.30 schema lets a command title run to 128 characters,
//! but Teams' app validation (and the command menu) stops at 32, and
//! descriptions at 128; a title that is not a real command would offer the
//! user something the bot answers with "I don't know that one".

use std::collections::HashSet;

use serde_json::Value;

/// Teams' limit on a bot command's title.
pub const MAX_TITLE: usize = 32;
/// Teams' limit on a bot command's description.
pub const MAX_DESCRIPTION: usize = 128;
/// Commands per command list since manifest v1.24.
pub const MAX_COMMANDS: usize = 12;

/// Every rule the manifest breaks, in a readable sentence each.
pub fn violations(manifest: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let Some(bots) = manifest["bots"].as_array() else {
        found.push("the manifest has no bots".to_string());
        return found;
    };
    for (b, bot) in bots.iter().enumerate() {
        let mut scopes_listed = HashSet::new();
        for (l, list) in bot["commandLists"].as_array().into_iter().flatten().enumerate() {
            let at = format!("bots[{b}].commandLists[{l}]");
            for scope in list["scopes"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !scopes_listed.insert(scope.to_string()) {
                    found.push(format!("{at}: scope {scope} has more than one command list"));
                }
            }
            let commands = list["commands"].as_array().map(Vec::as_slice).unwrap_or_default();
            if commands.len() > MAX_COMMANDS {
                found.push(format!("{at}: {} commands; Teams shows at most {MAX_COMMANDS}", commands.len()));
            }
            let mut titles = HashSet::new();
            for command in commands {
                let title = command["title"].as_str().unwrap_or_default();
                let description = command["description"].as_str().unwrap_or_default();
                if title.chars().count() > MAX_TITLE {
                    found.push(format!(
                        "{at}: the title \"{title}\" has {} characters; Teams allows {MAX_TITLE}",
                        title.chars().count()
                    ));
                }
                if description.chars().count() > MAX_DESCRIPTION {
                    found.push(format!(
                        "{at}: the description of \"{title}\" has {} characters; Teams allows {MAX_DESCRIPTION}",
                        description.chars().count()
                    ));
                }
                if !titles.insert(title.to_ascii_lowercase()) {
                    found.push(format!("{at}: \"{title}\" is listed twice"));
                }
                if crate::bot::cmd::find(title).is_none() {
                    found.push(format!("{at}: \"{title}\" is not a drbot command"));
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn with_commands(commands: Value) -> Value {
        json!({"bots": [{"commandLists": [{"scopes": ["personal"], "commands": commands}]}]})
    }

    #[test]
    fn the_repository_manifest_keeps_the_rules() {
        let manifest: Value = serde_json::from_str(include_str!("../../manifest/manifest.json")).expect("json");
        assert_eq!(violations(&manifest), Vec::<String>::new());
    }

    #[test]
    fn long_titles_unknown_and_repeated_commands_are_named() {
        let long = "x".repeat(40);
        let found = violations(&with_commands(json!([
            {"title": long, "description": "d"},
            {"title": "status", "description": "y".repeat(129)},
            {"title": "Status", "description": "again"},
        ])));
        assert!(found.iter().any(|v| v.contains("40 characters") && v.contains("allows 32")), "{found:?}");
        assert!(found.iter().any(|v| v.contains("not a drbot command")), "{found:?}");
        assert!(found.iter().any(|v| v.contains("129 characters")), "{found:?}");
        assert!(found.iter().any(|v| v.contains("listed twice")), "{found:?}");
    }

    #[test]
    fn too_many_commands_and_a_scope_listed_twice() {
        let thirteen: Vec<Value> =
            crate::bot::cmd::TABLE.iter().cycle().take(13).map(|c| json!({"title": c.name})).collect();
        let found = violations(&with_commands(json!(thirteen)));
        assert!(
            found.contains(&"bots[0].commandLists[0]: 13 commands; Teams shows at most 12".to_string()),
            "{found:?}"
        );
        let twice = json!({"bots": [{"commandLists": [
            {"scopes": ["team"], "commands": []}, {"scopes": ["team", "groupChat"], "commands": []}]}]});
        assert_eq!(violations(&twice), vec!["bots[0].commandLists[1]: scope team has more than one command list"]);
    }
}
