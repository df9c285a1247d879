//! `help [command]`: what drbot can do, from the table itself.

use std::sync::{Arc, OnceLock};

use futures::future::BoxFuture;
use serde_json::Value;

use super::{closest, find, help_card, Invocation, Spec, Turn, Verb, TABLE};
use crate::bot::{Answer, Bot};
use crate::cards;
use crate::commands::{Needs, Reach, Scope};

pub static SPEC: Spec = Spec {
    name: "help",
    usage: "help [command]",
    summary: "What drbot can do, and how to ask.",
    offered_in: &Scope::ALL,
    needs: Needs::Anyone,
    reach: Reach::Person,
    audit: "read the help",
    verbs: &[Verb { verb: cards::COMMAND_VERB, needs: Needs::Anyone, audit: "run a command from a card" }],
    parse,
};

#[derive(Debug)]
struct Help {
    topic: Option<String>,
}

fn parse(args: &[&str]) -> super::Parsed {
    match args {
        [] => Ok(Box::new(Help { topic: None })),
        [topic] => Ok(Box::new(Help { topic: Some(topic.to_ascii_lowercase()) })),
        _ => Err("one command at most".into()),
    }
}

impl Invocation for Help {
    fn run<'a>(self: Box<Self>, _bot: &'a Arc<Bot>, _turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        let card = match self.topic.as_deref() {
            None => whole_table_help(),
            Some(topic) => match find(topic) {
                Some(spec) => help_card(&[spec]),
                None => cards::unknown_command(topic, closest(topic)),
            },
        };
        Box::pin(async move { Answer::Card(card) })
    }
}

/// The help card of the whole table. `help` is the most frequent turn and
/// the table is static, so the card is drawn once per process and cloned.
fn whole_table_help() -> Value {
    static CARD: OnceLock<Value> = OnceLock::new();
    CARD.get_or_init(|| help_card(TABLE)).clone()
}
