//! `use PAIR`: the pair this chat's commands mean when they name none, so a
//! team's channel types `status` and `replicate` as if drbot had one pair.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn};
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Scope};

pub static SPEC: Spec = Spec {
    name: "use",
    usage: "use PAIR",
    summary: "Make PAIR this chat's default: status, replicate and runs mean it here.",
    // Where a team sets its channel's pair (twelve a scope: whoami makes room).
    offered_in: &[Scope::Team, Scope::GroupChat],
    needs: Needs::AnyRole,
    reach: Reach::Conversation,
    audit: "set the default pair",
    verbs: &[],
    parse: |args| match args {
        [pair] => Ok(Box::new(Use { pair: words::pair(pair)? }) as Box<dyn Invocation>),
        _ => Err("name the pair".into()),
    },
};

#[derive(Debug)]
struct Use {
    pair: String,
}

impl Invocation for Use {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match turn.actor() {
                Ok(actor) => {
                    let conversation = turn.activity.conversation.as_ref().map(|c| c.id.as_str());
                    Answer::Card(bot.use_pair(actor, conversation, &self.pair, turn.correlation_id).await)
                }
                Err(card) => Answer::Card(card),
            }
        })
    }
}
