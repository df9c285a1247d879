//! `audit`: the recent audit log, for admins (`src/bot/audit.rs` renders it).

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn};
use crate::access::Role;
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Scope};

pub static SPEC: Spec = Spec {
    name: "audit",
    usage: "audit",
    summary: "Recent actions and who took them (admins).",
    // Admins read it in their own chat; the team and group lists have
    // room for twelve commands only.
    offered_in: &[Scope::Personal],
    needs: Needs::Role(Role::Admin),
    reach: Reach::Person,
    audit: "read the audit log",
    verbs: &[],
    parse: |args| words::none(args).map(|()| Box::new(Audit) as Box<dyn Invocation>),
};

#[derive(Debug)]
struct Audit;

impl Invocation for Audit {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match turn.actor() {
                Ok(actor) => Answer::Card(bot.audit_card(actor, turn.correlation_id).await),
                Err(card) => Answer::Card(card),
            }
        })
    }
}
