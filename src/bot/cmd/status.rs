//! `status [PAIR]`: a pair's readiness dashboard, or one card over every
//! pair, read as the person (`src/bot/status.rs`).

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn};
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Scope};

pub static SPEC: Spec = Spec {
    name: "status",
    usage: "status [pair]",
    summary: "DR readiness: both workspaces' health, the last replication, RPO and drift (every pair, or one).",
    offered_in: &Scope::ALL,
    needs: Needs::SignedIn,
    reach: Reach::Person,
    audit: "read the readiness",
    verbs: &[],
    parse: |args| match args {
        [] => Ok(Box::new(Status { pair: None }) as Box<dyn Invocation>),
        [pair] => Ok(Box::new(Status { pair: Some(words::pair(pair)?) })),
        _ => Err("one pair at most".into()),
    },
};

#[derive(Debug)]
struct Status {
    pair: Option<String>,
}

impl Invocation for Status {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match turn.actor() {
                Ok(actor) => {
                    let conversation = turn.activity.conversation.as_ref().map(|c| c.id.as_str());
                    bot.status(actor, conversation, self.pair.as_deref(), turn.correlation_id).await
                }
                Err(card) => Answer::Card(card),
            }
        })
    }
}
