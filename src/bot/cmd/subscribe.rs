//! `subscribe [pair] daily HH:MM [timezone] | every Nh`: scheduled readiness
//! posts in this conversation (`src/bot/subscriptions.rs`), of one pair or of
//! the conversation's (its `use PAIR`, or every pair).

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn};
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Schedule, Scope};

pub static SPEC: Spec = Spec {
    name: "subscribe",
    usage: "subscribe [pair] daily HH:MM [timezone] | every Nh",
    summary: "Post a pair's readiness dashboard here on a schedule.",
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

fn parse(args: &[&str]) -> super::Parsed {
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
