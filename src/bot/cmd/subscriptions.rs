//! `subscriptions`: this conversation's scheduled posts. It shows what
//! anyone in the chat receives anyway, so it needs no sign-in.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn};
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Scope};

pub static SPEC: Spec = Spec {
    name: "subscriptions",
    usage: "subscriptions",
    summary: "The scheduled posts of this chat.",
    offered_in: &Scope::ALL,
    needs: Needs::Anyone,
    reach: Reach::Conversation,
    audit: "read the subscriptions",
    verbs: &[],
    parse: |args| words::none(args).map(|()| Box::new(Subscriptions) as Box<dyn Invocation>),
};

#[derive(Debug)]
struct Subscriptions;

impl Invocation for Subscriptions {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move { Answer::Card(bot.subscriptions_card(turn.activity, turn.correlation_id).await) })
    }
}
