//! `subscribe daily HH:MM [timezone] | every Nh`: scheduled readiness posts
//! in this conversation (`src/bot/subscriptions.rs`).

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn};
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Schedule, Scope};

pub static SPEC: Spec = Spec {
    name: "subscribe",
    usage: "subscribe daily HH:MM [timezone] | every Nh",
    summary: "Post the readiness dashboard here on a schedule.",
    offered_in: &Scope::ALL,
    needs: Needs::SignedIn,
    reach: Reach::Conversation,
    audit: "subscribe",
    verbs: &[],
    parse: |args| Ok(Box::new(Subscribe { schedule: words::schedule(args)? })),
};

#[derive(Debug)]
struct Subscribe {
    schedule: Schedule,
}

impl Invocation for Subscribe {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match turn.actor() {
                Ok(actor) => {
                    Answer::Card(bot.subscribe(turn.activity, actor, self.schedule, turn.correlation_id).await)
                }
                Err(card) => Answer::Card(card),
            }
        })
    }
}
