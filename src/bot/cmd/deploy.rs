//! `deploy hub | deploy transit | deploy spoke NAME`: What-If as the person, then Approve on
//! the plan card (`src/bot/deploy.rs`).

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn, Verb};
use crate::access::Role;
use crate::bot::deploy::{APPROVE_VERB, CANCEL_VERB};
use crate::bot::plan_view::DEPLOY_VIEW_VERB;
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Scope};

pub static SPEC: Spec = Spec {
    name: "deploy",
    usage: "deploy hub | deploy transit | deploy spoke NAME",
    summary: "Preview with What-If, approve, and deploy both regions.",
    offered_in: &Scope::ALL,
    needs: Needs::Role(Role::Deploy),
    reach: Reach::Conversation,
    audit: "deploy",
    verbs: &[
        Verb { verb: APPROVE_VERB, needs: Needs::Role(Role::Deploy), audit: "approve a deployment" },
        Verb { verb: CANCEL_VERB, needs: Needs::SignedIn, audit: "cancel a deployment" },
        // The plan card's refresh: each person's own view; nothing is done.
        Verb { verb: DEPLOY_VIEW_VERB, needs: Needs::Anyone, audit: "see a deployment plan" },
    ],
    parse,
};

#[derive(Debug)]
struct Deploy {
    kind: &'static str,
    name: Option<String>,
}

fn parse(args: &[&str]) -> super::Parsed {
    match args {
        [what] if what.eq_ignore_ascii_case("hub") => Ok(Box::new(Deploy { kind: "hub", name: None })),
        [what] if what.eq_ignore_ascii_case("transit") => Ok(Box::new(Deploy { kind: "transit", name: None })),
        [what, name] if what.eq_ignore_ascii_case("spoke") => {
            Ok(Box::new(Deploy { kind: "spoke", name: Some(words::name(name)?) }))
        }
        _ => Err("deploy hub, deploy transit, or deploy spoke NAME".into()),
    }
}

impl Invocation for Deploy {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match turn.actor() {
                Ok(actor) => {
                    let target = crate::deploy::Target::parse(self.kind, self.name.as_deref());
                    bot.plan_deployment(turn.activity, actor, target, turn.correlation_id).await
                }
                Err(card) => Answer::Card(card),
            }
        })
    }
}
