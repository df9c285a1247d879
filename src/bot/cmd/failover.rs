//! `failover [PAIR] [--planned | --forced]`, `failback [PAIR]`, `drill
//! [PAIR]` (each with `--dry-run` and `--override`) and `drills [PAIR]`:
//! runbooks shown as a card, approved by people with the failover role, run
//! on the operation engine (`src/bot/failover.rs`).
//!
//! The compose box's command lists are full (Teams shows a dozen per
//! scope), so these are typed or found through `help`.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn, Verb};
use crate::access::Role;
use crate::bot::failover::{RunbookAsk, APPROVE_VERB, CANCEL_VERB, VIEW_VERB};
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach};
use crate::failover::mode::Mode;

/// The runbook card's buttons, on whichever of the three commands made it.
const VERBS: &[Verb] = &[
    Verb { verb: APPROVE_VERB, needs: Needs::Role(Role::Failover), audit: "approve a runbook" },
    Verb { verb: CANCEL_VERB, needs: Needs::SignedIn, audit: "cancel a runbook" },
    // The card's refresh: each person's own view; nothing is done.
    Verb { verb: VIEW_VERB, needs: Needs::Anyone, audit: "see a runbook" },
];

pub static FAILOVER: Spec = Spec {
    name: "failover",
    usage: "failover [pair] [--planned | --forced] [--dry-run] [--override]",
    summary: "Move a pair to its secondary: planned (zero loss) or forced (primary down), approved by two people.",
    offered_in: &[],
    needs: Needs::Role(Role::Failover),
    reach: Reach::Conversation,
    audit: "failover",
    verbs: VERBS,
    parse: parse_failover,
};

pub static FAILBACK: Spec = Spec {
    name: "failback",
    usage: "failback [pair] [--dry-run] [--override]",
    summary: "Bring a failed-over pair back: replicate back what changed, then a planned move home.",
    offered_in: &[],
    needs: Needs::Role(Role::Failover),
    reach: Reach::Conversation,
    audit: "failback",
    verbs: &[],
    parse: parse_failback,
};

pub static DRILL: Spec = Spec {
    name: "drill",
    usage: "drill [pair] [--dry-run] [--override]",
    summary: "Rehearse a failover on the secondary without touching the primary; measures the RTO.",
    offered_in: &[],
    needs: Needs::Role(Role::Failover),
    reach: Reach::Conversation,
    audit: "drill",
    verbs: &[],
    parse: parse_drill,
};

pub static DRILLS: Spec = Spec {
    name: "drills",
    usage: "drills [pair]",
    summary: "Past drills with their RTO and findings.",
    offered_in: &[],
    needs: Needs::SignedIn,
    reach: Reach::Conversation,
    audit: "list drills",
    verbs: &[],
    parse: parse_drills,
};

impl Invocation for RunbookAsk {
    /// A dry run only reads, as the person: signing in is enough.
    fn needs(&self, spec: &Spec) -> Needs {
        if self.dry_run {
            Needs::SignedIn
        } else {
            spec.needs
        }
    }

    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match turn.actor() {
                Ok(actor) => bot.plan_runbook(turn.activity, actor, *self, turn.correlation_id).await,
                Err(card) => Answer::Card(card),
            }
        })
    }
}

/// `[pair]` and the flags `allowed` names, in any order.
fn read(args: &[&str], mode: Mode, allowed: &[&str]) -> Result<RunbookAsk, String> {
    let mut ask = RunbookAsk { pair: None, mode, dry_run: false, override_checks: false };
    let mut chosen: Option<&str> = None;
    for arg in args {
        let flag = arg.to_ascii_lowercase();
        match flag.as_str() {
            "--dry-run" => ask.dry_run = true,
            "--override" => ask.override_checks = true,
            "--planned" | "--forced" if allowed.contains(&flag.as_str()) => {
                if chosen.is_some_and(|c| c != flag) {
                    return Err("--planned or --forced, not both".into());
                }
                chosen = Some(if flag == "--planned" { "--planned" } else { "--forced" });
                ask.mode = if flag == "--forced" { Mode::Forced } else { Mode::Planned };
            }
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}")),
            _ if ask.pair.is_none() => ask.pair = Some(words::pair(arg)?),
            _ => return Err("one pair at most".into()),
        }
    }
    Ok(ask)
}

fn parse_failover(args: &[&str]) -> super::Parsed {
    Ok(Box::new(read(args, Mode::Planned, &["--planned", "--forced"])?))
}

fn parse_failback(args: &[&str]) -> super::Parsed {
    Ok(Box::new(read(args, Mode::Failback, &[])?))
}

fn parse_drill(args: &[&str]) -> super::Parsed {
    Ok(Box::new(read(args, Mode::Drill, &[])?))
}

#[derive(Debug)]
struct Drills {
    pair: Option<String>,
}

fn parse_drills(args: &[&str]) -> super::Parsed {
    match args {
        [] => Ok(Box::new(Drills { pair: None })),
        [pair] => Ok(Box::new(Drills { pair: Some(words::pair(pair)?) })),
        _ => Err("drills, or drills PAIR".into()),
    }
}

impl Invocation for Drills {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move { Answer::Card(bot.list_drills(self.pair.as_deref(), turn.correlation_id).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_read_in_any_order_and_conflicts_are_refused() {
        let ask = read(&["--forced", "finance", "--dry-run"], Mode::Planned, &["--planned", "--forced"]).unwrap();
        assert_eq!(
            ask,
            RunbookAsk { pair: Some("finance".into()), mode: Mode::Forced, dry_run: true, override_checks: false }
        );
        assert!(read(&["--planned", "--forced"], Mode::Planned, &["--planned", "--forced"]).is_err());
        assert!(read(&["--forced"], Mode::Drill, &[]).is_err(), "a drill has no --forced");
        assert!(read(&["a", "b"], Mode::Drill, &[]).is_err(), "one pair");
        assert!(read(&["bad;name"], Mode::Drill, &[]).is_err(), "pair names are checked");
        let ask = read(&["--override"], Mode::Failback, &[]).unwrap();
        assert!(ask.override_checks && ask.pair.is_none() && ask.mode == Mode::Failback);
    }
}
