//! The cards drbot sends. Adaptive Cards 1.5 (the most Teams renders for
//! bots), built from typed inputs so every card is valid by construction.
//!
//! The DR features' cards (dashboard, plan, progress, result, …) are
//! templates in adaptive-cards/ expanded by [`template`] over the typed views
//! of [`views`]; welcome, help and error use them too. The small one-off cards
//! below (usage, unknown command, sign-in problems, whoami) are built here.

pub mod template;
pub mod universal;
pub mod views;

use serde_json::{json, Value};

/// The verb every "run this command" button carries; `data.text` is the command.
pub const COMMAND_VERB: &str = "command";

/// An Adaptive Card 1.5 with `body` and, when there are any, `actions`.
pub(crate) fn card(body: Vec<Value>, actions: Vec<Value>) -> Value {
    let mut card = json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": body,
    });
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    universal::add_submit_fallbacks(&mut card);
    card
}

fn title(text: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "weight": "Bolder", "size": "Large", "wrap": true})
}

fn subtitle(text: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "isSubtle": true, "wrap": true, "spacing": "None"})
}

/// A button that runs a command as if it had been typed.
pub fn command_button(label: &str, command: &str) -> Value {
    let mut button = json!({"type": "Action.Execute", "title": label, "verb": COMMAND_VERB, "data": {"text": command}});
    universal::add_submit_fallbacks(&mut button);
    button
}

/// The list of commands, usage in monospace with a one-line summary under it.
/// The help card: each command's usage and summary.
pub fn help(commands: &[(&str, &str)]) -> Value {
    let view = views::HelpView {
        title: "drbot commands".into(),
        commands: commands
            .iter()
            .map(|(usage, summary)| views::HelpEntry { usage: usage.to_string(), summary: summary.to_string() })
            .collect(),
    };
    views::render_help(&view).unwrap_or_else(|e| fallback(&e))
}

/// Sent once when drbot joins a chat or channel.
pub fn welcome() -> Value {
    let view = views::WelcomeView { suggestions: vec!["status".into(), "replicate --dry-run".into()] };
    views::render_welcome(&view).unwrap_or_else(|e| fallback(&e))
}

/// The templates are compiled in and tested, so this should never show; if it
/// does, the person still gets an answer instead of silence.
fn fallback(error: &views::CardError) -> Value {
    tracing::error!(%error, "card template failed");
    notice("Something went wrong", "drbot could not draw this card. Try again in a minute.")
}

/// An unknown command, with the closest known one if there is one.
pub fn unknown_command(word: &str, suggestion: Option<&str>) -> Value {
    let mut body = vec![
        title("I don't know that one"),
        json!({"type": "TextBlock", "text": format!("\"{}\" is not a drbot command.", clip(word, 60)), "wrap": true}),
    ];
    let mut actions = Vec::new();
    if let Some(suggestion) = suggestion {
        body.push(json!({"type": "TextBlock", "text": format!("Did you mean **{suggestion}**?"), "wrap": true, "spacing": "Small"}));
        actions.push(command_button(&format!("Help on {suggestion}"), &format!("help {suggestion}")));
    }
    actions.push(command_button("All commands", "help"));
    card(body, actions)
}

/// A known command used the wrong way.
pub fn usage(command: &str, usage: &str, problem: &str) -> Value {
    card(
        vec![
            title(&format!("Not quite: {command}")),
            json!({"type": "TextBlock", "text": clip(problem, 200), "wrap": true, "color": "Warning"}),
            json!({"type": "TextBlock", "text": usage, "fontType": "Monospace", "wrap": true, "spacing": "Medium"}),
        ],
        vec![command_button(&format!("Help on {command}"), &format!("help {command}"))],
    )
}

/// A command this build does not carry out yet.
pub fn not_available(command: &str) -> Value {
    card(
        vec![
            title(&format!("{command} is not available yet")),
            subtitle("This drbot build does not carry out that command yet."),
        ],
        vec![command_button("What works now", "help")],
    )
}

/// Something failed on our side. The correlation id ties the card to the logs.
pub fn error(message: &str, correlation_id: &str) -> Value {
    let view = views::ErrorView {
        title: "Something went wrong".into(),
        message: clip(message, 300),
        hint: String::new(),
        correlation_id: correlation_id.to_string(),
        retry_command: String::new(),
    };
    views::render_error(&view).unwrap_or_else(|e| fallback(&e))
}

/// A short statement: a title and one line.
pub fn notice(heading: &str, text: &str) -> Value {
    card(vec![title(heading), json!({"type": "TextBlock", "text": text, "wrap": true})], Vec::new())
}

/// An alert posted into a chat that follows a pair: what changed, and the
/// buttons to look closer (the pair's dashboard, its runs).
pub fn alert(headline: &str, summary: &str, pair: &str, raised: bool) -> Value {
    let color = if raised { "Attention" } else { "Good" };
    card(
        vec![
            json!({"type": "TextBlock", "text": headline, "weight": "Bolder", "size": "Large", "wrap": true, "color": color}),
            json!({"type": "TextBlock", "text": summary, "wrap": true}),
        ],
        vec![command_button("Dashboard", &format!("status {pair}")), command_button("Runs", &format!("runs {pair}"))],
    )
}

/// `pair list`: each pair's name and one line about it; a click on a row
/// opens that pair's dashboard (`status PAIR`).
pub fn pair_list(pairs: &[(String, String)]) -> Value {
    let mut body = vec![title("DR pairs")];
    if pairs.is_empty() {
        body.push(subtitle("None yet: an admin adds one with pair add, or deploy spoke NAME registers one."));
    }
    for (name, line) in pairs {
        body.push(json!({
            "type": "Container",
            "separator": true,
            "selectAction": {"type": "Action.Execute", "verb": COMMAND_VERB, "data": {"text": format!("status {name}")}},
            "items": [
                {"type": "TextBlock", "text": name, "weight": "Bolder", "wrap": true},
                {"type": "TextBlock", "text": line, "isSubtle": true, "wrap": true, "spacing": "None"},
            ],
        }));
    }
    card(body, Vec::new())
}

/// One pair's row of the all-pairs `status` card.
#[derive(Clone, Debug, PartialEq)]
pub struct PairRow {
    pub name: String,
    /// Who replicates the pair: "drbot", or "managed DR (group)".
    pub replicated_by: String,
    pub verdict: String,
    pub tone: views::Tone,
    pub worst_rpo: String,
    pub drift: String,
    pub last_run: String,
}

/// `status` over every pair: a row each (as given: worst first), a click on a
/// row opens that pair's dashboard. The card stays under Teams' message size
/// limit ([`views::MAX_CARD_BYTES`]): rows are written lean (three cells: the
/// pair, its verdict in colour, then who replicates it (drbot or managed DR:
/// both kinds side by side, the same columns) · worst RPO · drift · last run
/// in one; a
/// colour only where it is not the default), which fits 50 pairs; were there
/// still too many, the last rows (the best ones) give way to a line saying
/// how many are not shown.
pub fn pairs_overview(checked_at: &str, rows: &[PairRow]) -> Value {
    let mut shown = rows.len();
    loop {
        let card = overview_card(checked_at, &rows[..shown], rows.len() - shown);
        let bytes = serde_json::to_vec(&card).map(|b| b.len()).unwrap_or(usize::MAX);
        if bytes <= views::MAX_CARD_BYTES || shown == 0 {
            return card;
        }
        // Cut in proportion to the excess, at least one row a round.
        let keep = shown * views::MAX_CARD_BYTES / bytes;
        shown = keep.min(shown - 1);
    }
}

/// The overview's column weights (a number is a relative width in Adaptive
/// Cards): the same in every row, so rows align.
const OVERVIEW_WIDTHS: [u8; 3] = [2, 1, 3];

fn overview_card(checked_at: &str, rows: &[PairRow], hidden: usize) -> Value {
    let mut body = vec![title("DR readiness of every pair"), subtitle(&format!("Checked {checked_at}. Worst first."))];
    let headings: Vec<Value> = ["Pair", "Verdict", "Replicated by · worst RPO · drift · last run"]
        .iter()
        .zip(OVERVIEW_WIDTHS)
        .map(|(h, width)| {
            json!({"type": "Column", "width": width,
                   "items": [{"type": "TextBlock", "text": h, "weight": "Bolder", "size": "Small", "wrap": true}]})
        })
        .collect();
    body.push(json!({"type": "ColumnSet", "columns": headings}));
    for row in rows {
        let cell = |text: &str, tone: views::Tone, width: u8| {
            let mut block = json!({"type": "TextBlock", "text": text, "size": "Small", "wrap": true});
            if tone != views::Tone::Default {
                block["color"] = json!(tone.color());
            }
            json!({"type": "Column", "width": width, "items": [block]})
        };
        let [name_width, verdict_width, rest_width] = OVERVIEW_WIDTHS;
        body.push(json!({
            "type": "ColumnSet",
            "separator": true,
            "selectAction": {"type": "Action.Execute", "verb": COMMAND_VERB, "data": {"text": format!("status {}", row.name)}},
            "columns": [
                cell(&clip(&row.name, 60), views::Tone::Default, name_width),
                cell(&row.verdict, row.tone, verdict_width),
                cell(
                    &format!(
                        "{} · {} · {} · {}",
                        clip(&row.replicated_by, 60),
                        row.worst_rpo,
                        clip(&row.drift, 120),
                        row.last_run
                    ),
                    views::Tone::Default,
                    rest_width,
                ),
            ],
        }));
    }
    if hidden > 0 {
        body.push(json!({"type": "TextBlock", "isSubtle": true, "wrap": true, "separator": true,
            "text": format!("…and {hidden} more pairs, the least at risk, not shown to fit Teams' size limit: type status PAIR for one.")}));
    }
    card(body, Vec::new())
}

/// Teams could not sign the person in (`signin/failure`).
pub fn sign_in_failed(message: &str, code: &str, correlation_id: &str) -> Value {
    card(
        vec![
            json!({"type": "TextBlock", "text": "Sign-in didn't work", "weight": "Bolder", "size": "Large", "color": "Attention", "wrap": true}),
            json!({"type": "TextBlock", "text": clip(message, 300), "wrap": true}),
            json!({"type": "TextBlock", "text": "Try the command again; if it keeps failing, ask your admin whether drbot's single sign-on is set up for your tenant.", "wrap": true, "isSubtle": true}),
            json!({"type": "TextBlock", "text": format!("Code: {} · Correlation id: {correlation_id}", clip(code, 60)), "isSubtle": true, "size": "Small", "wrap": true}),
        ],
        Vec::new(),
    )
}

/// The person (or an admin) must consent before drbot may act for them on `resource`.
pub fn consent_required(resource: &str, correlation_id: &str) -> Value {
    card(
        vec![
            json!({"type": "TextBlock", "text": "drbot needs your consent", "weight": "Bolder", "size": "Large", "color": "Warning", "wrap": true}),
            json!({"type": "TextBlock", "wrap": true, "text": format!("To act for you on {resource}, drbot needs permission to use it on your behalf. Nobody has granted that yet.")}),
            json!({"type": "TextBlock", "wrap": true, "text": "Ask your Entra ID admin to grant admin consent to the drbot app (API permissions), or sign out and sign in again to consent yourself if your tenant allows it."}),
            json!({"type": "TextBlock", "text": format!("Correlation id: {correlation_id}"), "isSubtle": true, "size": "Small", "wrap": true}),
        ],
        vec![command_button("Sign out", "signout")],
    )
}

/// Whether drbot may act for the person on a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrantStatus {
    Granted(String),
    ConsentNeeded,
    SignInNeeded,
    Unavailable(String),
}

impl GrantStatus {
    fn line(&self) -> (String, &'static str) {
        match self {
            GrantStatus::Granted(detail) => (format!("Granted: {}", clip(detail, 120)), "Good"),
            GrantStatus::ConsentNeeded => ("Consent needed (ask your admin)".into(), "Warning"),
            GrantStatus::SignInNeeded => ("Sign in again".into(), "Warning"),
            GrantStatus::Unavailable(problem) => (format!("Unavailable: {}", clip(problem, 120)), "Attention"),
        }
    }
}

/// `whoami`: the identity in the person's token and the resources granted.
pub fn whoami(name: &str, upn: &str, oid: &str, tenant: &str, databricks: &GrantStatus, arm: &GrantStatus) -> Value {
    let grant = |resource: &str, status: &GrantStatus| {
        let (text, color) = status.line();
        json!({
            "type": "ColumnSet",
            "columns": [
                {"type": "Column", "width": "auto", "items": [{"type": "TextBlock", "text": resource, "weight": "Bolder"}]},
                {"type": "Column", "width": "stretch", "items": [{"type": "TextBlock", "text": text, "color": color, "wrap": true}]},
            ],
        })
    };
    card(
        vec![
            title(&format!("You are {}", if name.is_empty() { upn } else { name })),
            json!({"type": "FactSet", "facts": [
                {"title": "Sign-in name", "value": upn},
                {"title": "Object id", "value": oid},
                {"title": "Tenant", "value": tenant},
            ]}),
            json!({"type": "TextBlock", "text": "What drbot may do for you", "weight": "Bolder", "separator": true, "spacing": "Medium"}),
            grant("Azure Databricks", databricks),
            grant("Azure Resource Manager", arm),
            json!({"type": "TextBlock", "text": "drbot acts with your identity and never shows, logs or stores your tokens.", "isSubtle": true, "size": "Small", "wrap": true, "spacing": "Medium"}),
        ],
        vec![command_button("Sign out", "signout")],
    )
}

/// Puts the correlation id under a card that reports a problem (a usage
/// mistake, an unknown command): the person can quote it, and it is the id
/// of the turn's log line.
pub fn with_correlation_id(mut card: Value, correlation_id: &str) -> Value {
    if let Some(body) = card["body"].as_array_mut() {
        body.push(json!({"type": "TextBlock", "text": format!("Correlation id: {correlation_id}"), "isSubtle": true, "size": "Small", "wrap": true, "spacing": "Medium"}));
    }
    card
}

/// At most `max` characters, with an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair_rows(n: usize) -> Vec<PairRow> {
        (0..n)
            .map(|i| PairRow {
                name: format!("business-unit-{i:03}"),
                replicated_by: if i % 2 == 0 { "drbot".into() } else { format!("managed DR (bu-{i:03}-dr)") },
                verdict: if i < 3 { "Not ready" } else { "Ready" }.into(),
                tone: if i < 3 { views::Tone::Attention } else { views::Tone::Good },
                worst_rpo: "14 min".into(),
                drift: format!("{} objects", i * 7),
                last_run: "2 h ago".into(),
            })
            .collect()
    }

    #[test]
    fn the_overview_of_fifty_pairs_shows_every_one_under_the_size_limit() {
        let card = pairs_overview("today at 09:00", &pair_rows(50));
        let text = card.to_string();
        assert!(text.len() <= views::MAX_CARD_BYTES, "{} bytes", text.len());
        assert!(text.contains("business-unit-000") && text.contains("business-unit-049"));
        assert!(!text.contains("more pairs"), "nothing cut");
    }

    #[test]
    fn an_overview_too_large_for_teams_cuts_the_best_rows_and_says_so() {
        let rows = pair_rows(400);
        let text = pairs_overview("today at 09:00", &rows).to_string();
        assert!(text.len() <= views::MAX_CARD_BYTES, "{} bytes", text.len());
        assert!(text.contains("business-unit-000"), "the worst stay");
        assert!(!text.contains("business-unit-399"), "the best go first");
        let hidden: usize = text.split("…and ").nth(1).and_then(|t| t.split(' ').next()).unwrap().parse().unwrap();
        let shown = (0..400).filter(|i| text.contains(&format!("\"status business-unit-{i:03}\""))).count();
        assert_eq!(shown + hidden, 400);
    }

    #[test]
    fn welcome_help_and_error_come_from_their_templates() {
        let welcome = welcome();
        assert_eq!(welcome["version"], "1.5");
        assert_eq!(welcome["body"][0]["text"], "Hi, I'm drbot");
        assert_eq!(welcome["actions"][0], command_button("Show commands", "help"));
        assert!(welcome["body"][3]["text"].as_str().unwrap().contains("replicate --dry-run"));

        let help = help(&[("runs", "Recent runs.")]);
        assert_eq!(help["body"][0]["text"], "drbot commands");
        assert_eq!(help["body"][2]["items"][0]["items"][0]["text"], "runs");
        assert_eq!(help["body"][2]["items"][0]["items"][1]["text"], "Recent runs.");

        let error = error(&"x".repeat(1000), "corr-1");
        let text = error.to_string();
        assert!(text.contains("Correlation id: corr-1"), "{text}");
        assert!(!text.contains(&"x".repeat(301)), "the message is clipped");
        assert_eq!(error["actions"], serde_json::json!([]), "no retry button without a command");
    }
}
