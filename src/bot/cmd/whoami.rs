//! `whoami`: who drbot thinks you are, and what you have granted it
//! (`src/bot/whoami.rs`). It is how a person signs in, so it needs only that;
//! in local mode, where nobody signs in, the local user must hold a role
//! like for every other command.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn};
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Scope};

pub static SPEC: Spec = Spec {
    name: "whoami",
    usage: "whoami",
    summary: "Who drbot thinks you are, and what you have granted it.",
    offered_in: &[Scope::Personal],
    needs: Needs::SignedIn,
    reach: Reach::Person,
    audit: "whoami",
    verbs: &[],
    parse: |args| words::none(args).map(|()| Box::new(Whoami) as Box<dyn Invocation>),
};

#[derive(Debug)]
struct Whoami;

impl Invocation for Whoami {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match turn.actor() {
                Ok(actor) => bot.whoami(turn.activity, actor, turn.text, turn.correlation_id).await,
                Err(card) => Answer::Card(card),
            }
        })
    }
}
