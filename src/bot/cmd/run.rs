//! `run ID`: one run, with each object's result. Only a run of this
//! conversation is shown (any run, for admins); another chat's run is
//! answered as unknown, so its id tells nothing.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::{Invocation, Spec, Turn};
use crate::access::Role;
use crate::bot::runs::{catalog_label, failures, outcome, started_by, with_reasons, worded_duration, worded_time};
use crate::bot::{Answer, Bot};
use crate::cards::{self, views};
use crate::commands::{words, Needs, Reach};
use crate::store::runs::ResultStatus;

pub static SPEC: Spec = Spec {
    name: "run",
    usage: "run ID",
    summary: "One run of this chat, with each object's result.",
    // The personal list is full (twelve); `runs` and the result card lead here.
    offered_in: &[crate::commands::Scope::Team, crate::commands::Scope::GroupChat],
    needs: Needs::AnyRole,
    reach: Reach::Conversation,
    audit: "read a run",
    verbs: &[],
    parse: |args| match args {
        [id] => Ok(Box::new(Run { id: words::name(id)? }) as Box<dyn Invocation>),
        _ => Err("give the run's id".into()),
    },
};

/// Results the run card reads (failures first; it shows the first 10).
const RUN_RESULTS: i64 = 200;

#[derive(Debug)]
struct Run {
    id: String,
}

impl Invocation for Run {
    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let actor = match turn.actor() {
                Ok(actor) => actor,
                Err(card) => return Answer::Card(card),
            };
            let correlation_id = turn.correlation_id;
            if !bot.holds(actor, Role::Admin, correlation_id).await {
                let here = turn.activity.conversation.as_ref().map(|c| c.id.as_str());
                match bot.services.store.operation(&self.id).await {
                    Ok(Some(op)) if Some(op.conversation_id.as_str()) == here => {}
                    Ok(_) => return Answer::Card(no_such_run(&self.id)),
                    Err(error) => {
                        tracing::error!(correlation_id, %error, "run unavailable");
                        return Answer::Card(cards::error("The run could not be read.", correlation_id));
                    }
                }
            }
            Answer::Card(run_card(bot, &self.id, correlation_id).await)
        })
    }
}

fn no_such_run(id: &str) -> Value {
    cards::notice("No such run", &format!("drbot has no run with the id {id} in this chat."))
}

async fn run_card(bot: &Bot, id: &str, correlation_id: &str) -> Value {
    let (run, results) = match bot.services.store.run_with_results(id, RUN_RESULTS).await {
        Ok(Some(found)) => found,
        Ok(None) => return no_such_run(id),
        Err(error) => {
            tracing::error!(correlation_id, %error, "run unavailable");
            return cards::error("The run could not be read.", correlation_id);
        }
    };
    let counts = bot.services.store.run_result_counts(id).await.unwrap_or_default();
    let mut kinds: std::collections::BTreeMap<String, views::KindResult> = Default::default();
    for result in &results {
        let kind = kinds.entry(result.action.clone()).or_insert_with(|| views::KindResult {
            kind: result.action.clone(),
            succeeded: 0,
            failed: 0,
            blocked: 0,
            skipped: 0,
        });
        match result.status {
            ResultStatus::Succeeded => kind.succeeded += 1,
            ResultStatus::Failed => kind.failed += 1,
            ResultStatus::Blocked => kind.blocked += 1,
            ResultStatus::Skipped => kind.skipped += 1,
        }
    }
    let (label, color) = outcome(&run);
    let view = views::RunView {
        run_id: run.id.clone(),
        plan_id: run.counts.as_ref().and_then(|c| c["plan_id"].as_str()).unwrap_or_default().to_string(),
        catalog_label: catalog_label(run.catalog_filter.as_deref()),
        outcome_label: label,
        outcome_color: color,
        started_at: worded_time(run.started_ms),
        started_by: started_by(&run),
        finished_at: run.finished_ms.map(worded_time).unwrap_or_else(|| "still running".into()),
        duration: run.finished_ms.map(|f| worded_duration(f - run.started_ms)).unwrap_or_default(),
        succeeded: counts.succeeded as u64,
        failed: counts.failed as u64,
        blocked: counts.blocked as u64,
        skipped: counts.skipped as u64,
        kinds: kinds.into_values().collect(),
        failures: failures(&results),
        blocked_items: with_reasons(&results, ResultStatus::Blocked),
    };
    views::render_run(&view).unwrap_or_else(|error| cards::error(&error.to_string(), correlation_id))
}
