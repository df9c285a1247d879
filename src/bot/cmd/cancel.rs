//! `cancel ID`: asks a replication or deployment in progress to stop. The
//! role it needs depends on the operation's kind, so the handler
//! (`src/bot/replicate.rs`) checks it once it has read the operation.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn};
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Scope};

pub static SPEC: Spec = Spec {
    name: "cancel",
    usage: "cancel ID",
    summary: "Stop a replication or deployment in progress.",
    offered_in: &[Scope::Team, Scope::GroupChat],
    needs: Needs::SignedIn,
    reach: Reach::Conversation,
    audit: "cancel",
    verbs: &[],
    parse: |args| match args {
        [id] => Ok(Box::new(Cancel { id: words::name(id)? }) as Box<dyn Invocation>),
        _ => Err("give the id of the run or deployment".into()),
    },
};

#[derive(Debug)]
struct Cancel {
    id: String,
}

impl Invocation for Cancel {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match turn.actor() {
                Ok(actor) => Answer::Card(bot.cancel_operation(actor, &self.id, turn.correlation_id).await),
                Err(card) => Answer::Card(card),
            }
        })
    }
}
