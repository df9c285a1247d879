//! `replicate [pair] [catalog] [--dry-run] [--assets|--assets-only|--data-only]`:
//! a plan first (`src/bot/replicate.rs` reads both metastores, and with
//! `--assets` or `--assets-only` both workspaces' assets, as the person), Run
//! or Cancel on its card. One word is a pair when a pair has that name, a
//! catalog otherwise.
//!
//! `replicate [pair] every 15m | daily HH:MM [timezone] | every off`: the
//! pair's schedule (`src/bot/replication_schedule.rs`), set or stopped. Its
//! cycles run as the bot; setting one needs the same role as a run.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn, Verb};
use crate::access::Role;
use crate::assets::coverage::Coverage;
use crate::bot::plan_view::VIEW_VERB;
use crate::bot::replicate::{CANCEL_VERB, RUN_VERB};
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Scope};

pub static SPEC: Spec = Spec {
    name: "replicate",
    // The compose box shows usage and summary in 128 characters: `--data-only`
    // (the default) and `every off` are spelled out in the file's doc.
    usage: "replicate [pair] [catalog | every 15m | daily HH:MM | off] [--dry-run] [--assets[-only]]",
    summary: "Plan, run or schedule replication.",
    offered_in: &Scope::ALL,
    needs: Needs::Role(Role::Replicate),
    reach: Reach::Conversation,
    audit: "replicate",
    verbs: &[
        Verb { verb: RUN_VERB, needs: Needs::Role(Role::Replicate), audit: "run a replication" },
        Verb { verb: CANCEL_VERB, needs: Needs::SignedIn, audit: "cancel a run" },
        // A plan card's refresh: each person's own view; nothing is done.
        Verb { verb: VIEW_VERB, needs: Needs::Anyone, audit: "see a plan" },
    ],
    parse,
};

#[derive(Debug)]
struct Replicate {
    pair: Option<String>,
    catalog: Option<String>,
    dry_run: bool,
    coverage: Coverage,
}

/// `replicate [pair] every …|daily …`: set or stop a pair's schedule.
#[derive(Debug)]
struct Schedule {
    pair: Option<String>,
    /// `None`: `every off`, stop it.
    schedule: Option<crate::commands::Schedule>,
    /// What each cycle covers (`--assets`, `--assets-only`; data by default).
    coverage: Coverage,
}

fn parse(args: &[&str]) -> super::Parsed {
    let keyword = |word: &&str| word.eq_ignore_ascii_case("every") || word.eq_ignore_ascii_case("daily");
    let (coverage, args) = Coverage::take_from(args)?;
    if let Some(at) = args.iter().position(keyword) {
        let pair = match &args[..at] {
            [] => None,
            [pair] => Some(words::pair(pair)?),
            _ => return Err("a schedule names one pair at most".into()),
        };
        let schedule = match &args[at..] {
            [every, off] if every.eq_ignore_ascii_case("every") && off.eq_ignore_ascii_case("off") => None,
            words => Some(words::replication_schedule(words)?),
        };
        return Ok(Box::new(Schedule { pair, schedule, coverage }));
    }
    let (pair, catalog, dry_run) = words::pair_and_catalog(&args, "--dry-run")?;
    Ok(Box::new(Replicate { pair, catalog, dry_run, coverage }))
}

impl Invocation for Schedule {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match turn.actor() {
                Ok(actor) => Answer::Card(
                    bot.schedule_replication(
                        turn.activity,
                        actor,
                        self.pair,
                        self.schedule,
                        self.coverage,
                        turn.correlation_id,
                    )
                    .await,
                ),
                Err(card) => Answer::Card(card),
            }
        })
    }
}

impl Invocation for Replicate {
    /// A dry run only reads, with the person's own identity: Unity Catalog
    /// decides what they see, so signing in is enough.
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
                Ok(actor) => {
                    bot.plan_replication(
                        turn.activity,
                        actor,
                        self.pair,
                        self.catalog,
                        self.dry_run,
                        self.coverage,
                        turn.correlation_id,
                    )
                    .await
                }
                Err(card) => Answer::Card(card),
            }
        })
    }
}
