//! The chat grammar: what a person types, as a typed command.
//!
//! Words are matched case-insensitively; names (catalogs, spokes) keep their
//! case but must be plain identifiers, so nothing typed in chat ever reaches
//! SQL or a URL unchecked.

use super::catalog;

/// What the person asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Help { topic: Option<String> },
    Status,
    Replicate { catalog: Option<String>, dry_run: bool },
    Runs,
    Run { id: String },
    Cancel { id: String },
    Subscribe { schedule: Schedule },
    Unsubscribe,
    Subscriptions,
    DeployHub,
    DeployTransit,
    DeploySpoke { name: String },
    Whoami,
    Signout,
    Audit,
}

/// When scheduled status posts happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Every day at `hour:minute` in `timezone` (an IANA name; UTC when omitted).
    Daily { hour: u8, minute: u8, timezone: String },
    /// Every `hours` hours.
    Every { hours: u16 },
}

/// Why the text is not a command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("nothing to do")]
    Empty,
    #[error("unknown command '{word}'")]
    Unknown { word: String, suggestion: Option<&'static str> },
    #[error("{problem}; usage: {usage}")]
    Usage { command: &'static str, usage: &'static str, problem: String },
}

/// Longest name accepted for a catalog, spoke or run id.
pub const MAX_NAME_LEN: usize = 128;

/// Parses a message's text (mentions already stripped).
pub fn parse(text: &str) -> Result<Command, ParseError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some((first, args)) = words.split_first() else { return Err(ParseError::Empty) };
    let name = first.trim_start_matches('/').to_ascii_lowercase();
    let Some(help) = catalog::find(&name) else {
        return Err(ParseError::Unknown { word: first.to_string(), suggestion: catalog::closest_command(&name) });
    };
    let usage =
        |problem: &str| ParseError::Usage { command: help.name, usage: help.usage, problem: problem.to_string() };
    let no_args = |command: Command| if args.is_empty() { Ok(command) } else { Err(usage("unexpected words")) };
    match help.name {
        "help" => match args {
            [] => Ok(Command::Help { topic: None }),
            [topic] => Ok(Command::Help { topic: Some(topic.to_ascii_lowercase()) }),
            _ => Err(usage("one command at most")),
        },
        "status" => no_args(Command::Status),
        "replicate" => {
            let mut catalog = None;
            let mut dry_run = false;
            for arg in args {
                if arg.eq_ignore_ascii_case("--dry-run") {
                    dry_run = true;
                } else if arg.starts_with('-') {
                    return Err(usage(&format!("unknown option {arg}")));
                } else if catalog.is_none() {
                    catalog = Some(name_argument(arg).map_err(|p| usage(&p))?);
                } else {
                    return Err(usage("one catalog at most"));
                }
            }
            Ok(Command::Replicate { catalog, dry_run })
        }
        "runs" => no_args(Command::Runs),
        "run" => match args {
            [id] => Ok(Command::Run { id: name_argument(id).map_err(|p| usage(&p))? }),
            _ => Err(usage("give the run's id")),
        },
        "cancel" => match args {
            [id] => Ok(Command::Cancel { id: name_argument(id).map_err(|p| usage(&p))? }),
            _ => Err(usage("give the id of the run or deployment")),
        },
        "subscribe" => parse_schedule(args).map(|schedule| Command::Subscribe { schedule }).map_err(|p| usage(&p)),
        "unsubscribe" => no_args(Command::Unsubscribe),
        "subscriptions" => no_args(Command::Subscriptions),
        "deploy" => match args {
            [what] if what.eq_ignore_ascii_case("hub") => Ok(Command::DeployHub),
            [what] if what.eq_ignore_ascii_case("transit") => Ok(Command::DeployTransit),
            [what, name] if what.eq_ignore_ascii_case("spoke") => {
                Ok(Command::DeploySpoke { name: name_argument(name).map_err(|p| usage(&p))? })
            }
            _ => Err(usage("deploy hub, deploy transit, or deploy spoke NAME")),
        },
        "whoami" => no_args(Command::Whoami),
        "signout" => no_args(Command::Signout),
        "audit" => no_args(Command::Audit),
        other => unreachable!("catalog entry '{other}' has no grammar"),
    }
}

/// A catalog, spoke or run name: letters, digits, `_` and `-` only.
fn name_argument(word: &str) -> Result<String, String> {
    let ok = !word.is_empty()
        && word.len() <= MAX_NAME_LEN
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(word.to_string())
    } else {
        Err(format!(
            "'{}' is not a valid name (letters, digits, _ and - only)",
            word.chars().take(40).collect::<String>()
        ))
    }
}

fn parse_schedule(args: &[&str]) -> Result<Schedule, String> {
    match args {
        [kind, time, rest @ ..] if kind.eq_ignore_ascii_case("daily") && rest.len() <= 1 => {
            let (hour, minute) = time.split_once(':').ok_or("the time must look like HH:MM")?;
            let hour: u8 = hour.parse().ok().filter(|h| *h < 24).ok_or("the hour must be 00 to 23")?;
            let minute: u8 = minute.parse().ok().filter(|m| *m < 60).ok_or("the minute must be 00 to 59")?;
            let timezone = match rest.first() {
                None => "UTC".to_string(),
                Some(tz) => tz.parse::<chrono_tz::Tz>().map(|tz| tz.name().to_string()).map_err(|_| {
                    format!("'{}' is not a time zone (e.g. Europe/Amsterdam)", tz.chars().take(40).collect::<String>())
                })?,
            };
            Ok(Schedule::Daily { hour, minute, timezone })
        }
        [kind, interval] if kind.eq_ignore_ascii_case("every") => {
            let hours = interval
                .strip_suffix(['h', 'H'])
                .and_then(|n| n.parse::<u16>().ok())
                .filter(|h| (1..=168).contains(h))
                .ok_or("the interval must look like 6h (1h to 168h)")?;
            Ok(Schedule::Every { hours })
        }
        _ => Err("daily HH:MM [timezone], or every Nh".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_case_insensitively() {
        assert_eq!(parse("HELP"), Ok(Command::Help { topic: None }));
        assert_eq!(parse("help Replicate"), Ok(Command::Help { topic: Some("replicate".into()) }));
        assert_eq!(parse("Status"), Ok(Command::Status));
        assert_eq!(parse("/status"), Ok(Command::Status));
        assert_eq!(
            parse("replicate Sales_EU --DRY-RUN"),
            Ok(Command::Replicate { catalog: Some("Sales_EU".into()), dry_run: true })
        );
        assert_eq!(parse("replicate"), Ok(Command::Replicate { catalog: None, dry_run: false }));
        assert_eq!(parse("run 42"), Ok(Command::Run { id: "42".into() }));
        assert_eq!(parse("deploy spoke finance"), Ok(Command::DeploySpoke { name: "finance".into() }));
        assert_eq!(parse("deploy HUB"), Ok(Command::DeployHub));
        assert_eq!(parse("deploy transit"), Ok(Command::DeployTransit));
        assert_eq!(
            parse("subscribe daily 08:00 Europe/Amsterdam"),
            Ok(Command::Subscribe {
                schedule: Schedule::Daily { hour: 8, minute: 0, timezone: "Europe/Amsterdam".into() }
            })
        );
        assert_eq!(
            parse("subscribe daily 8:05"),
            Ok(Command::Subscribe { schedule: Schedule::Daily { hour: 8, minute: 5, timezone: "UTC".into() } })
        );
        assert_eq!(parse("subscribe every 6h"), Ok(Command::Subscribe { schedule: Schedule::Every { hours: 6 } }));
    }

    #[test]
    fn bad_input_gets_a_usage_or_a_suggestion() {
        assert_eq!(parse("   "), Err(ParseError::Empty));
        assert_eq!(parse("stauts"), Err(ParseError::Unknown { word: "stauts".into(), suggestion: Some("status") }));
        assert!(matches!(parse("run"), Err(ParseError::Usage { command: "run", .. })));
        assert!(matches!(parse("status now"), Err(ParseError::Usage { .. })));
        assert!(matches!(parse("subscribe daily 25:00"), Err(ParseError::Usage { .. })));
        assert!(matches!(parse("subscribe daily 08:00 Mars/Olympus"), Err(ParseError::Usage { .. })));
        assert!(matches!(parse("subscribe every 0h"), Err(ParseError::Usage { .. })));
        assert!(matches!(parse("replicate --force"), Err(ParseError::Usage { .. })));
    }

    #[test]
    fn sql_and_path_metacharacters_are_not_names() {
        for hostile in ["main`; DROP TABLE x", "a'b", "../etc", "c.s", "x;y", "`", "name with\u{0}nul"] {
            let text = format!("replicate {hostile}");
            assert!(matches!(parse(&text), Err(ParseError::Usage { .. })), "{hostile:?} was accepted");
        }
    }
}
