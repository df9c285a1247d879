//! `runs [PAIR]`: the recent replication runs of this conversation (every
//! conversation's, for admins), of every pair or of one. Run history names catalogs, people and
//! failures, so it needs sign-in and one of drbot's roles.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::{Invocation, Spec, Turn};
use crate::access::Role;
use crate::bot::runs::{catalog_label, counts_label, outcome, started_by, worded_duration, worded_time};
use crate::bot::{Answer, Bot};
use crate::cards::{self, views};
use crate::commands::{words, Needs, Reach, Scope};

pub static SPEC: Spec = Spec {
    name: "runs",
    usage: "runs [pair]",
    summary: "Recent replication runs of this chat and their results.",
    offered_in: &Scope::ALL,
    needs: Needs::AnyRole,
    reach: Reach::Conversation,
    audit: "read the run history",
    verbs: &[],
    parse: |args| match args {
        [] => Ok(Box::new(Runs { pair: None }) as Box<dyn Invocation>),
        [pair] => Ok(Box::new(Runs { pair: Some(words::pair(pair)?) })),
        _ => Err("one pair at most".into()),
    },
};

/// Runs the history card lists (it shows the first 10).
const RECENT_RUNS: i64 = 20;

#[derive(Debug)]
struct Runs {
    pair: Option<String>,
}

impl Invocation for Runs {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match turn.actor() {
                Ok(actor) => {
                    let everything = bot.holds(actor, Role::Admin, turn.correlation_id).await;
                    if let Some(pair) = &self.pair {
                        if let Err(error) = bot.choose_pair(None, Some(pair)).await {
                            return Answer::Card(error.card(turn.correlation_id));
                        }
                    }
                    Answer::Card(runs_card(bot, turn, self.pair.as_deref(), everything).await)
                }
                Err(card) => Answer::Card(card),
            }
        })
    }
}

async fn runs_card(bot: &Bot, turn: &Turn<'_>, pair: Option<&str>, everything: bool) -> Value {
    let store = &bot.services.store;
    let correlation_id = turn.correlation_id;
    let conversation = turn.activity.conversation.as_ref().map(|c| c.id.as_str()).unwrap_or_default();
    let runs = match (pair, everything) {
        (Some(pair), true) => store.recent_runs_of_pair(pair, None, RECENT_RUNS).await,
        (Some(pair), false) => store.recent_runs_of_pair(pair, Some(conversation), RECENT_RUNS).await,
        (None, true) => store.recent_runs(RECENT_RUNS).await,
        (None, false) => store.recent_runs_in_conversation(conversation, RECENT_RUNS).await,
    };
    let runs = match runs {
        Ok(runs) => runs,
        Err(error) => {
            tracing::error!(correlation_id, %error, "run history unavailable");
            return cards::error("The run history could not be read.", correlation_id);
        }
    };
    let view = views::RunsView {
        subtitle: match (runs.is_empty(), everything) {
            (true, _) => "No replication has run here yet. Plan one with replicate.".into(),
            (false, true) => format!("The last {} runs of every chat, newest first", runs.len()),
            (false, false) => format!("The last {} runs of this chat, newest first", runs.len()),
        },
        runs: runs
            .iter()
            .map(|run| {
                let (label, color) = outcome(run);
                views::RunSummary {
                    run_id: run.id.clone(),
                    catalog_label: catalog_label(run.catalog_filter.as_deref()),
                    started_at: worded_time(run.started_ms),
                    started_by: started_by(run),
                    duration: run.finished_ms.map(|f| worded_duration(f - run.started_ms)).unwrap_or_default(),
                    counts_label: counts_label(run),
                    outcome_label: label,
                    outcome_color: color,
                }
            })
            .collect(),
    };
    views::render_runs(&view).unwrap_or_else(|error| cards::error(&error.to_string(), correlation_id))
}
