//! `unsubscribe`: stops this conversation's scheduled posts.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn};
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Scope};

pub static SPEC: Spec = Spec {
    name: "unsubscribe",
    usage: "unsubscribe",
    summary: "Stop the scheduled posts in this chat.",
    offered_in: &Scope::ALL,
    needs: Needs::SignedIn,
    reach: Reach::Conversation,
    audit: "unsubscribe",
    verbs: &[],
    parse: |args| words::none(args).map(|()| Box::new(Unsubscribe) as Box<dyn Invocation>),
};

#[derive(Debug)]
struct Unsubscribe;

impl Invocation for Unsubscribe {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match turn.actor() {
                Ok(actor) => Answer::Card(bot.unsubscribe(turn.activity, actor, turn.correlation_id).await),
                Err(card) => Answer::Card(card),
            }
        })
    }
}
