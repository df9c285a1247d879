//! `status`: the readiness dashboard, read as the person (`src/bot/status.rs`).

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn};
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Scope};

pub static SPEC: Spec = Spec {
    name: "status",
    usage: "status",
    summary: "DR readiness: both workspaces' health, the last replication, RPO and drift.",
    offered_in: &Scope::ALL,
    needs: Needs::SignedIn,
    reach: Reach::Person,
    audit: "read the readiness",
    verbs: &[],
    parse: |args| words::none(args).map(|()| Box::new(Status) as Box<dyn Invocation>),
};

#[derive(Debug)]
struct Status;

impl Invocation for Status {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match turn.actor() {
                Ok(actor) => bot.status(actor, turn.correlation_id).await,
                Err(card) => Answer::Card(card),
            }
        })
    }
}
