//! `history [PAIR]`: what the pair's runs (and, once they exist, its
//! failovers and drills) achieved, with their RPO and time, newest first,
//! from the readings drbot records after each run and each scheduled check.
//! It names no person or catalog, but it is DR history: one of drbot's roles.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::{Invocation, Spec, Turn};
use crate::bot::runs::{worded_duration, worded_time};
use crate::bot::{Answer, Bot};
use crate::cards::views::{self, Tone};
use crate::cards::{self};
use crate::commands::{words, Needs, Reach};
use crate::readiness::history::{self, HistoryItem};

pub static SPEC: Spec = Spec {
    name: "history",
    usage: "history [pair]",
    summary: "A pair's runs with the RPO after each and how long each took, newest first.",
    // Every scope's compose-box list is full (Teams shows twelve): typed, or from help.
    offered_in: &[],
    needs: Needs::AnyRole,
    reach: Reach::Person,
    audit: "read a pair's history",
    verbs: &[],
    parse: |args| match args {
        [] => Ok(Box::new(History { pair: None }) as Box<dyn Invocation>),
        [pair] => Ok(Box::new(History { pair: Some(words::pair(pair)?) })),
        _ => Err("one pair at most".into()),
    },
};

/// Entries the card lists (it shows the first 15).
const ENTRIES: usize = 30;

/// Readings read for them (a check every few minutes between runs fits).
const READINGS: i64 = 2_000;

#[derive(Debug)]
struct History {
    pair: Option<String>,
}

impl Invocation for History {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            if let Err(card) = turn.actor() {
                return Answer::Card(card);
            }
            let conversation = turn.activity.conversation.as_ref().map(|c| c.id.as_str());
            let pair = match bot.choose_pair(conversation, self.pair.as_deref()).await {
                Ok(pair) => pair,
                Err(error) => return Answer::Card(error.card(turn.correlation_id)),
            };
            Answer::Card(history_card(bot, &pair.name, turn.correlation_id).await)
        })
    }
}

async fn history_card(bot: &Bot, pair: &str, correlation_id: &str) -> Value {
    let readings = match bot.services.store.readings(pair, 0, READINGS).await {
        Ok(readings) => readings,
        Err(error) => {
            tracing::error!(correlation_id, %error, "readiness history unavailable");
            return cards::error("The pair's history could not be read.", correlation_id);
        }
    };
    let items = history::items(&readings, ENTRIES);
    let view = views::HistoryView {
        pair: pair.to_string(),
        subtitle: match items.len() {
            0 => "Nothing recorded yet: a run or a scheduled check records the pair's readiness.".into(),
            n => format!(
                "The last {n} runs, failovers and drills, newest first. A run's RPO is the worst lag the next \
                 check measured; a failover's or drill's, the data loss it measured."
            ),
        },
        entries: items.iter().map(entry).collect(),
    };
    views::render_history(&view).unwrap_or_else(|error| cards::error(&error.to_string(), correlation_id))
}

/// One entry, worded.
pub(crate) fn entry(item: &HistoryItem) -> views::HistoryEntry {
    let (label, color) = match item.outcome.as_str() {
        "succeeded" => ("Succeeded", Tone::Good),
        "canceled" => ("Cancelled", Tone::Warning),
        "failed" => ("Failed", Tone::Attention),
        _ => ("Unknown", Tone::Default),
    };
    views::HistoryEntry {
        kind: match item.kind {
            "replication" => "Replication".into(),
            "failover" => "Failover".into(),
            "drill" => "Drill".into(),
            other => other.to_string(),
        },
        id: item.id.clone(),
        at: worded_time(item.at_ms),
        outcome_label: label.into(),
        outcome_color: color,
        rpo: match (item.kind, item.rpo_ms) {
            ("replication", Some(ms)) => format!("RPO {} after", worded_duration(ms)),
            ("replication", None) => "RPO not measured since".into(),
            (_, Some(ms)) => format!("data loss {}", worded_duration(ms)),
            (_, None) => "data loss not measured".into(),
        },
        time: match (item.kind, item.duration_ms) {
            (_, None) => String::new(),
            ("replication", Some(ms)) => format!("took {}", worded_duration(ms)),
            (_, Some(ms)) => format!("RTO {}", worded_duration(ms)),
        },
    }
}
