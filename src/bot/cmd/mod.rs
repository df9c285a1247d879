//! The command table: every command drbot answers, one file each (its
//! grammar and its handler), listed once in [`TABLE`].
//!
//! Parsing, the help card, "did you mean", the Teams manifest's command
//! lists, the access gate and the audit log's action names all read this
//! table. Adding a command is one new file here and one line in [`TABLE`];
//! `docs/ARCHITECTURE.md` walks through it.

mod audit;
mod cancel;
mod deploy;
mod failover;
pub(crate) mod help;
mod history;
mod pair;
mod replicate;
mod run;
mod runs;
mod signout;
mod status;
mod subscribe;
mod subscriptions;
mod unsubscribe;
mod use_pair;
mod verify;
mod whoami;

use std::fmt::Debug;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::actor::Actor;
use super::{Answer, Bot};
use crate::botframework::activity::Activity;
use crate::cards;
use crate::commands::{suggest, Needs, ParseError, Reach, Scope};

/// One command: what it is called, how it is typed, who may run it and
/// where Teams offers it, and how its words become something to run.
pub struct Spec {
    pub name: &'static str,
    pub usage: &'static str,
    /// The help card's line (and, shortened, the manifest's description).
    pub summary: &'static str,
    /// The compose box lists it in these scopes (Teams shows 12 per scope).
    pub offered_in: &'static [Scope],
    pub needs: Needs,
    pub reach: Reach,
    /// The audit log's name for an attempt (a refusal at the gate included).
    pub audit: &'static str,
    /// The card buttons (Action.Execute verbs) this command's cards carry.
    pub verbs: &'static [Verb],
    /// The words after the name, checked and read; `Err` says what is wrong.
    pub(crate) parse: fn(&[&str]) -> Parsed,
}

/// A command's words read: what to run, or what is wrong with them.
pub(crate) type Parsed = Result<Box<dyn Invocation>, String>;

/// A card button, and what a click needs before it is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verb {
    pub verb: &'static str,
    pub needs: Needs,
    /// The audit log's name for a click.
    pub audit: &'static str,
}

/// A command read from chat, ready to run.
pub(crate) trait Invocation: Debug + Send + Sync {
    /// What this invocation needs; the table's entry unless its arguments
    /// change it (a dry run reads; a replication writes).
    fn needs(&self, spec: &Spec) -> Needs {
        spec.needs
    }

    /// The handler: runs after the gate, with the person it let through.
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer>;
}

/// What a handler knows about the turn it answers.
pub(crate) struct Turn<'a> {
    pub activity: &'a Activity,
    /// The command as typed (kept for a sign-in that must resume it).
    pub text: &'a str,
    /// The person the gate let through; `None` only for `Needs::Anyone`.
    pub actor: Option<Actor>,
    pub correlation_id: &'a str,
}

impl Turn<'_> {
    /// The person behind the turn. The gate has made sure there is one for
    /// every command that needs it; a handler reached without one (a table
    /// entry that says `Anyone` by mistake) answers an error, not a panic.
    pub fn actor(&self) -> Result<&Actor, serde_json::Value> {
        self.actor.as_ref().ok_or_else(|| {
            tracing::error!(
                correlation_id = self.correlation_id,
                "a command that needs a person was reached without one"
            );
            cards::error("This command needs you to sign in.", self.correlation_id)
        })
    }
}

/// Every command, in the order the help card lists them.
pub static TABLE: &[&Spec] = &[
    &help::SPEC,
    &status::SPEC,
    &use_pair::SPEC,
    &replicate::SPEC,
    &verify::SPEC,
    &runs::SPEC,
    &history::SPEC,
    &run::SPEC,
    &cancel::SPEC,
    &subscribe::SPEC,
    &unsubscribe::SPEC,
    &subscriptions::SPEC,
    &deploy::SPEC,
    &failover::FAILOVER,
    &failover::FAILBACK,
    &failover::DRILL,
    &failover::DRILLS,
    &pair::SPEC,
    &whoami::SPEC,
    &signout::SPEC,
    &audit::SPEC,
];

/// The entry for `name` (case-insensitive).
pub fn find(name: &str) -> Option<&'static Spec> {
    TABLE.iter().copied().find(|spec| spec.name.eq_ignore_ascii_case(name))
}

/// The command nearest to a typo, for "did you mean".
pub fn closest(word: &str) -> Option<&'static str> {
    suggest::closest(word, TABLE.iter().map(|spec| spec.name))
}

/// The command whose cards carry `verb`, with what a click needs.
pub fn verb(verb: &str) -> Option<(&'static Spec, Verb)> {
    TABLE.iter().find_map(|spec| spec.verbs.iter().find(|v| v.verb == verb).map(|v| (*spec, *v)))
}

/// The commands Teams offers in `scope`, in table order.
pub fn offered_in(scope: Scope) -> impl Iterator<Item = &'static Spec> {
    TABLE.iter().copied().filter(move |spec| spec.offered_in.contains(&scope))
}

/// Reads a message's text (mentions already stripped): the command's entry
/// and what to run.
pub(crate) fn parse(text: &str) -> Result<(&'static Spec, Box<dyn Invocation>), ParseError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some((first, args)) = words.split_first() else { return Err(ParseError::Empty) };
    let name = first.trim_start_matches('/').to_ascii_lowercase();
    let Some(spec) = find(&name) else {
        return Err(ParseError::Unknown { word: first.to_string(), suggestion: closest(&name) });
    };
    let invocation =
        (spec.parse)(args).map_err(|problem| ParseError::Usage { command: spec.name, usage: spec.usage, problem })?;
    Ok((spec, invocation))
}

/// Reads a message's text as the bot does, for callers outside it (the
/// fuzz target): the command's entry and the invocation's `Debug` form, or
/// why the text is not a command.
pub fn read(text: &str) -> Result<(&'static Spec, String), ParseError> {
    parse(text).map(|(spec, invocation)| (spec, format!("{invocation:?}")))
}

/// The help card's entries for `specs`.
pub(crate) fn help_card(specs: &[&Spec]) -> serde_json::Value {
    let entries: Vec<(&str, &str)> = specs.iter().map(|spec| (spec.usage, spec.summary)).collect();
    cards::help(&entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a text parses to, as its debug form (each command's own type).
    fn parsed(text: &str) -> String {
        match parse(text) {
            Ok((_, invocation)) => format!("{invocation:?}"),
            Err(error) => format!("error: {error}"),
        }
    }

    #[test]
    fn commands_parse_case_insensitively() {
        assert_eq!(parsed("HELP"), "Help { topic: None }");
        assert_eq!(parsed("help Replicate"), "Help { topic: Some(\"replicate\") }");
        assert_eq!(parsed("Status"), "Status { pair: None }");
        assert_eq!(parsed("/status"), "Status { pair: None }");
        assert_eq!(parsed("status finance-eu"), "Status { pair: Some(\"finance-eu\") }");
        assert_eq!(
            parsed("replicate Sales_EU --DRY-RUN"),
            "Replicate { pair: None, catalog: Some(\"Sales_EU\"), dry_run: true, coverage: Data }"
        );
        assert_eq!(parsed("replicate"), "Replicate { pair: None, catalog: None, dry_run: false, coverage: Data }");
        assert_eq!(
            parsed("replicate finance main"),
            "Replicate { pair: Some(\"finance\"), catalog: Some(\"main\"), dry_run: false, coverage: Data }"
        );
        assert_eq!(
            parsed("replicate finance --Assets-Only --dry-run"),
            "Replicate { pair: None, catalog: Some(\"finance\"), dry_run: true, coverage: Assets }"
        );
        assert_eq!(
            parsed("replicate --assets"),
            "Replicate { pair: None, catalog: None, dry_run: false, coverage: Both }"
        );
        assert_eq!(parsed("runs finance"), "Runs { pair: Some(\"finance\") }");
        assert_eq!(parsed("verify"), "Verify { pair: None, catalog: None, deep: false }");
        assert_eq!(
            parsed("verify finance main --DEEP"),
            "Verify { pair: Some(\"finance\"), catalog: Some(\"main\"), deep: true }"
        );
        assert_eq!(parsed("use finance"), "Use { pair: \"finance\" }");
        assert_eq!(parsed("pair remove finance"), "Remove(\"finance\")");
        assert_eq!(parsed("run 42"), "Run { id: \"42\" }");
        assert_eq!(parsed("deploy spoke finance"), "Deploy { kind: \"spoke\", name: Some(\"finance\") }");
        assert_eq!(parsed("deploy HUB"), "Deploy { kind: \"hub\", name: None }");
        assert_eq!(parsed("deploy transit"), "Deploy { kind: \"transit\", name: None }");
        assert_eq!(
            parsed("subscribe daily 08:00 Europe/Amsterdam"),
            "Subscribe { pair: None, schedule: Daily { hour: 8, minute: 0, timezone: \"Europe/Amsterdam\" } }"
        );
        assert_eq!(parsed("subscribe every 6h"), "Subscribe { pair: None, schedule: Every { minutes: 360 } }");
        assert_eq!(
            parsed("subscribe finance daily 08:00"),
            "Subscribe { pair: Some(\"finance\"), schedule: Daily { hour: 8, minute: 0, timezone: \"UTC\" } }"
        );
        // A pair's schedule: set with an interval or a daily time, stopped with `every off`.
        assert_eq!(
            parsed("replicate finance every 15m"),
            "Schedule { pair: Some(\"finance\"), schedule: Some(Every { minutes: 15 }), coverage: Data }"
        );
        assert_eq!(
            parsed("replicate every 2h"),
            "Schedule { pair: None, schedule: Some(Every { minutes: 120 }), coverage: Data }"
        );
        assert_eq!(
            parsed("replicate finance every 15m --ASSETS"),
            "Schedule { pair: Some(\"finance\"), schedule: Some(Every { minutes: 15 }), coverage: Both }"
        );
        assert_eq!(
            parsed("replicate finance DAILY 02:30 Europe/Amsterdam"),
            "Schedule { pair: Some(\"finance\"), schedule: Some(Daily { hour: 2, minute: 30, timezone: \"Europe/Amsterdam\" }), coverage: Data }"
        );
        assert_eq!(
            parsed("replicate finance every off"),
            "Schedule { pair: Some(\"finance\"), schedule: None, coverage: Data }"
        );
    }

    #[test]
    fn bad_input_gets_a_usage_or_a_suggestion() {
        assert!(matches!(parse("   "), Err(ParseError::Empty)));
        assert!(matches!(parse("stauts"), Err(ParseError::Unknown { suggestion: Some("status"), .. })));
        for bad in [
            "run",
            "status Now",
            "status a b",
            "subscribe daily 25:00",
            "replicate --force",
            "replicate A b",
            "replicate a b c",
            "verify a b c",
            "verify --fast",
            "verify main`x",
            "deploy",
            "cancel",
            "use",
            "pair drop x",
            "replicate finance every 1m",
            "replicate finance every",
            "replicate a b every 15m",
            "replicate Finance every 15m",
            "replicate finance daily 24:00",
            "replicate finance every off now",
            "subscribe Finance daily 08:00",
            "subscribe finance",
        ] {
            assert!(matches!(parse(bad), Err(ParseError::Usage { .. })), "{bad}");
        }
        for hostile in ["main`; DROP TABLE x", "a'b", "../etc", "c.s"] {
            assert!(matches!(parse(&format!("replicate {hostile}")), Err(ParseError::Usage { .. })), "{hostile}");
        }
    }

    #[test]
    fn the_table_is_consistent() {
        for (i, spec) in TABLE.iter().enumerate() {
            assert!(spec.usage.starts_with(spec.name), "{}", spec.name);
            assert!(TABLE[i + 1..].iter().all(|other| other.name != spec.name), "{} twice", spec.name);
            assert!(!spec.audit.is_empty() && !spec.summary.is_empty(), "{}", spec.name);
            for button in spec.verbs {
                let owner = verb(button.verb).map(|(owner, _)| owner.name);
                assert_eq!(owner, Some(spec.name), "{} belongs to one command", button.verb);
            }
        }
        for scope in Scope::ALL {
            let offered = offered_in(scope).count();
            // Teams shows at most twelve per scope (the manifest rules check it too).
            assert!(offered > 0 && offered <= 12, "{scope:?}: {offered}");
        }
        // `run ID` is reached from the runs card; `history` and the runbooks
        // are typed or found through help (every list is full).
        let typed = ["run", "history", "failover", "failback", "drill", "drills"];
        assert!(TABLE.iter().all(|spec| !spec.offered_in.is_empty() || typed.contains(&spec.name)));
    }
}
