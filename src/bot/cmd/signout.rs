//! `signout`: the token service forgets the person, and so does drbot
//! (`src/bot/signin.rs`). Anyone may forget their own sign-in.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn};
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Scope};

pub static SPEC: Spec = Spec {
    name: "signout",
    usage: "signout",
    summary: "Forget your sign-in.",
    // Signing out is personal: the team and group lists leave it out.
    offered_in: &[Scope::Personal],
    needs: Needs::Anyone,
    reach: Reach::Person,
    audit: "sign out",
    verbs: &[],
    parse: |args| words::none(args).map(|()| Box::new(Signout) as Box<dyn Invocation>),
};

#[derive(Debug)]
struct Signout;

impl Invocation for Signout {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move { Answer::Card(bot.sign_out(turn.activity, turn.correlation_id).await) })
    }
}
