//! `subscribe [pair] daily HH:MM [timezone] | every Nh`: scheduled readiness
//! posts in this conversation (`src/bot/subscriptions.rs`), of one pair or of
//! the conversation's (its `use PAIR`, or every pair). `subscribe drill PAIR
//! weekly | monthly | off`: the pair's scheduled drills, approved by whoever
//! sets them (`src/bot/scheduled_drill.rs`); a failed one is told here.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn};
use crate::access::Role;
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Schedule, Scope};

pub static SPEC: Spec = Spec {
    name: "subscribe",
    usage: "subscribe [pair] daily HH:MM [timezone] | every Nh | drill PAIR weekly|monthly|off",
    summary: "Scheduled readiness posts here, or drills.",
    offered_in: &Scope::ALL,
    needs: Needs::SignedIn,
    reach: Reach::Conversation,
    audit: "subscribe",
    verbs: &[],
    parse,
};

#[derive(Debug)]
struct Subscribe {
    pair: Option<String>,
    schedule: Schedule,
}

/// `subscribe drill PAIR weekly|monthly|off`; `schedule` is `None` for off.
#[derive(Debug)]
struct SubscribeDrill {
    pair: String,
    schedule: Option<Schedule>,
}

fn parse(args: &[&str]) -> super::Parsed {
    if let [first, pair, when] = args {
        if first.eq_ignore_ascii_case("drill") {
            let schedule = match *when {
                off if off.eq_ignore_ascii_case("off") => None,
                other => Some(words::drill_schedule(&[other])?),
            };
            return Ok(Box::new(SubscribeDrill { pair: words::pair(pair)?, schedule }));
        }
    }
    if args.first().is_some_and(|first| first.eq_ignore_ascii_case("drill")) {
        return Err("subscribe drill PAIR weekly, monthly or off".into());
    }
    let (pair, schedule) = match args.split_first() {
        Some((first, rest)) if !first.eq_ignore_ascii_case("daily") && !first.eq_ignore_ascii_case("every") => {
            (Some(words::pair(first)?), rest)
        }
        _ => (None, args),
    };
    Ok(Box::new(Subscribe { pair, schedule: words::schedule(schedule)? }))
}

impl Invocation for Subscribe {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match turn.actor() {
                Ok(actor) => Answer::Card(
                    bot.subscribe(turn.activity, actor, self.pair, self.schedule, turn.correlation_id).await,
                ),
                Err(card) => Answer::Card(card),
            }
        })
    }
}

impl Invocation for SubscribeDrill {
    /// A drill changes the secondary for a while: the failover role sets one.
    fn needs(&self, _spec: &Spec) -> Needs {
        Needs::Role(Role::Failover)
    }

    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match turn.actor() {
                Ok(actor) => Answer::Card(
                    bot.schedule_drills(turn.activity, actor, &self.pair, self.schedule, turn.correlation_id).await,
                ),
                Err(card) => Answer::Card(card),
            }
        })
    }
}
