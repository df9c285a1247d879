//! `verify [pair] [catalog] [--deep]`: per table, proof that the secondary
//! holds what the primary holds (`src/bot/verify.rs`), read as the person.
//! One word is a pair when a pair has that name, a catalog otherwise.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn};
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Scope};

pub static SPEC: Spec = Spec {
    name: "verify",
    usage: "verify [pair] [catalog] [--deep]",
    summary: "Per-table proof that the secondary holds the primary's data (--deep: row hashes).",
    offered_in: &[Scope::Team, Scope::GroupChat],
    // It only reads, with the person's own identity: Unity Catalog decides
    // what they may compare, so signing in is enough.
    needs: Needs::SignedIn,
    reach: Reach::Person,
    audit: "verify",
    verbs: &[],
    parse,
};

#[derive(Debug)]
struct Verify {
    pair: Option<String>,
    catalog: Option<String>,
    deep: bool,
}

fn parse(args: &[&str]) -> super::Parsed {
    let (pair, catalog, deep) = words::pair_and_catalog(args, "--deep")?;
    Ok(Box::new(Verify { pair, catalog, deep }))
}

impl Invocation for Verify {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match turn.actor() {
                Ok(actor) => {
                    bot.verify(turn.activity, actor, self.pair, self.catalog, self.deep, turn.correlation_id).await
                }
                Err(card) => Answer::Card(card),
            }
        })
    }
}
