//! `help [command]`: what drbot can do, from the table itself.

use std::sync::{Arc, OnceLock};

use futures::future::BoxFuture;
use serde_json::value::RawValue;
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
        let answer = match self.topic.as_deref() {
            None => whole_table_help(),
            Some(topic) => Answer::Card(match find(topic) {
                Some(spec) => help_card(&[spec]),
                None => cards::unknown_command(topic, closest(topic)),
            }),
        };
        Box::pin(async move { answer })
    }
}

/// The help card of the whole table. `help` is the most frequent turn and
/// the table is static, so the card is drawn and serialized once per
/// process and sent as it is.
pub(crate) fn whole_table_help() -> Answer {
    static CARD: OnceLock<Result<Box<RawValue>, Value>> = OnceLock::new();
    let card = CARD.get_or_init(|| {
        let card = help_card(TABLE);
        // A `Value` always serializes; were it ever not to, the card is sent as a value.
        serde_json::value::to_raw_value(&card).map_err(|_| card)
    });
    match card {
        Ok(serialized) => Answer::Drawn(serialized),
        Err(card) => Answer::Card(card.clone()),
    }
}
