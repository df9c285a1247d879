//! `verify [pair] [catalog] [--deep]` in chat: the per-table (and per model
//! and volume) proof
//! (`crate::verify`) read as the person who asks, with a card that shows
//! how far it got and then every table that is not equal, with why.
//!
//! It only reads, so it runs beside the turn rather than on the operation
//! engine: nothing is left half-done by a restart, and asking again is the
//! way to resume. Its progress card is the answer's own card, updated in
//! place ([`Answer::Live`]); its statements take the pair's warehouse
//! slots, the ones replications of the pair take.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::actor::{Actor, DatabricksTokens};
use super::runs::{catalog_label, worded_duration, worded_time};
use super::{now_ms, Answer, Bot, LiveProgress};
use crate::botframework::activity::Activity;
use crate::cards::views::{self, Tone};
use crate::cards::{self};
use crate::pairs::Pair;
use crate::verify::judge::Verdict;
use crate::verify::run::{read_and_compare, Manifest, Sides};
use crate::verify::{TableResult, Tally};

/// The progress card is redrawn at most this often (the live card coalesces
/// writes too; this spares rendering one per table).
const REDRAW_EVERY: Duration = Duration::from_millis(500);

/// What the cards of one verification say about it.
#[derive(Clone)]
struct Asked {
    pair: String,
    catalog: Option<String>,
    deep: bool,
    deep_max_bytes: u64,
    by: String,
    started_ms: i64,
}

impl Bot {
    /// `verify`: both metastores and every table in scope read as `actor`.
    pub(crate) async fn verify(
        self: &Arc<Self>,
        activity: &Activity,
        actor: &Actor,
        named: Option<String>,
        mut catalog: Option<String>,
        deep: bool,
        correlation_id: &str,
    ) -> Answer {
        // `verify WORD`: a pair when one is named so, a catalog otherwise.
        let mut named = named;
        if named.is_none() {
            if let Some(word) = catalog.as_deref() {
                if matches!(self.services.store.pair(word).await, Ok(Some(_))) {
                    named = catalog.take();
                }
            }
        }
        let conversation = activity.conversation.as_ref().map(|c| c.id.clone());
        let pair = match self.choose_pair(conversation.as_deref(), named.as_deref()).await {
            Ok(pair) => pair,
            Err(error) => return Answer::Card(error.card(correlation_id)),
        };
        let tokens = match self.tokens_for(actor) {
            Ok(tokens) => tokens,
            Err(error) => return Answer::Card(error.card("The verification could not start", correlation_id)),
        };
        let settings = self.pair_settings(&pair);
        if let Err(side) = settings.verify_settings(deep) {
            let error = super::error::PairError::NoWarehouse(pair.name.clone(), side);
            return Answer::Card(error.card(correlation_id));
        }
        let target = match &catalog {
            Some(catalog) => format!("{} {catalog}", pair.name),
            None => pair.name.clone(),
        };
        self.audit(actor, "verify", Some(&target), "allowed", correlation_id).await;
        let asked = Asked {
            pair: pair.name.clone(),
            catalog,
            deep,
            deep_max_bytes: settings.verify_deep_max_bytes,
            by: actor.display_name().to_string(),
            started_ms: now_ms(),
        };
        let now = progress_card(&asked, &Tally::default(), correlation_id);
        let bot = self.clone();
        let correlation_id = correlation_id.to_string();
        Answer::Live {
            now,
            then: Box::new(move |progress| {
                Box::pin(async move { bot.run_verify(&pair, &tokens, &asked, progress, &correlation_id).await })
            }),
        }
    }

    async fn run_verify(
        &self,
        pair: &Pair,
        tokens: &DatabricksTokens,
        asked: &Asked,
        progress: LiveProgress,
        correlation_id: &str,
    ) -> Value {
        let settings = self.pair_settings(pair);
        let verify = match settings.verify_settings(asked.deep) {
            Ok(verify) => verify,
            Err(side) => return super::error::PairError::NoWarehouse(pair.name.clone(), side).card(correlation_id),
        };
        let mut reads = settings.read_options_per_side(asked.catalog.as_deref());
        for read in &mut reads {
            read.view_dependencies = false;
        }
        let config = settings.replication_config(asked.catalog.as_deref());
        let recorded = self.services.store.table_versions(&pair.name).await.unwrap_or_else(|error| {
            tracing::warn!(correlation_id, %error, "recorded table versions unavailable for verify");
            Vec::new()
        });
        let (primary, secondary) = self.pair_clients(pair);
        let slots = [
            self.warehouse_slots.of(&pair.primary.url, &verify.warehouses[0]),
            self.warehouse_slots.of(&pair.secondary.url, &verify.warehouses[1]),
        ];
        let sides = Sides { primary: &primary, secondary: &secondary, slots };
        let last_drawn = Mutex::new(Instant::now());
        let on_tally = |tally: &Tally| {
            let mut last = last_drawn.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= REDRAW_EVERY {
                *last = Instant::now();
                progress.show(progress_card(asked, tally, correlation_id));
            }
        };
        let manifest = Some(Manifest { store: &self.services.store, pair: &pair.name });
        match read_and_compare(&sides, tokens, &verify, &reads, &config, &recorded, manifest, &on_tally).await {
            Ok(results) => result_card(asked, &results, now_ms(), correlation_id),
            Err(error) => {
                tracing::warn!(correlation_id, %error, "verify could not read a metastore");
                cards::error(&format!("The verification could not run: {error}"), correlation_id)
            }
        }
    }
}

fn title(asked: &Asked, running: bool) -> String {
    let what = catalog_label(asked.catalog.as_deref());
    match running {
        true => format!("Verifying {}: {what}", asked.pair),
        false => format!("Verification of {}: {what}", asked.pair),
    }
}

fn deep_words(asked: &Asked) -> String {
    match asked.deep {
        true => format!(" · deep: row hashes of tables up to {}", bytes(asked.deep_max_bytes)),
        false => String::new(),
    }
}

/// "10 GiB", "512 MiB", "2048 bytes".
fn bytes(n: u64) -> String {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    match n {
        n if n >= GIB && n % GIB == 0 => format!("{} GiB", n / GIB),
        n if n >= MIB && n % MIB == 0 => format!("{} MiB", n / MIB),
        n => format!("{n} bytes"),
    }
}

fn commands(asked: &Asked) -> (String, String) {
    let mut again = format!("verify {}", asked.pair);
    if let Some(catalog) = &asked.catalog {
        again.push(' ');
        again.push_str(catalog);
    }
    if asked.deep {
        again.push_str(" --deep");
    }
    (again, format!("status {}", asked.pair))
}

/// The card's view with `tally`'s counts; the rest is the caller's to fill.
fn counted(asked: &Asked, tally: &Tally, running: bool) -> views::VerifyView {
    let (again, readiness) = commands(asked);
    views::VerifyView {
        title: title(asked, running),
        subtitle: String::new(),
        outcome_label: String::new(),
        outcome_color: Tone::Default,
        running,
        done: tally.done as u64,
        total: tally.total as u64,
        equal: tally.equal as u64,
        different: tally.different as u64,
        blocked: tally.blocked as u64,
        failed: tally.failed as u64,
        items_title: String::new(),
        items: Vec::new(),
        footnote: String::new(),
        again,
        readiness,
    }
}

fn progress_card(asked: &Asked, tally: &Tally, correlation_id: &str) -> Value {
    let view = views::VerifyView {
        subtitle: format!("As {} · started {}{}", asked.by, worded_time(asked.started_ms), deep_words(asked)),
        outcome_label: match tally.total {
            0 => "Reading both metastores…".into(),
            _ => "Comparing columns, rows and versions…".into(),
        },
        outcome_color: Tone::Accent,
        footnote: "The card updates as tables are checked.".into(),
        ..counted(asked, tally, true)
    };
    views::render_verify(&view).unwrap_or_else(|error| cards::error(&error.to_string(), correlation_id))
}

/// The finished card: the counts, and every table not equal (different and
/// failed first, then blocked), each with what differs or why.
fn result_card(asked: &Asked, results: &[TableResult], finished_ms: i64, correlation_id: &str) -> Value {
    let tally = Tally::of(results);
    let (outcome_label, outcome_color) = if tally.failed > 0 {
        (format!("{} of {} objects could not be compared", tally.failed, tally.total), Tone::Attention)
    } else if tally.different > 0 {
        (format!("{} of {} objects differ from the primary", tally.different, tally.total), Tone::Attention)
    } else if tally.blocked > 0 {
        (format!("No object differs: {} equal, {} blocked with a reason", tally.equal, tally.blocked), Tone::Warning)
    } else {
        (format!("All {} objects are equal", tally.total), Tone::Good)
    };
    let rank = |verdict: &Verdict| match verdict {
        Verdict::Different { .. } => 0,
        Verdict::Failed { .. } => 1,
        Verdict::Blocked { .. } => 2,
        Verdict::Equal => 3,
    };
    let mut listed: Vec<&TableResult> = results.iter().filter(|r| r.verdict != Verdict::Equal).collect();
    listed.sort_by_key(|r| rank(&r.verdict));
    let items = listed
        .into_iter()
        .map(|r| {
            let (color, detail) = match &r.verdict {
                Verdict::Different { differences } => (Tone::Attention, differences.join("; ")),
                Verdict::Failed { error } => (Tone::Attention, error.clone()),
                Verdict::Blocked { reason } => (Tone::Warning, reason.clone()),
                Verdict::Equal => (Tone::Good, String::new()),
            };
            // Tables by name; a model or volume says which it is.
            let table = match r.kind.as_str() {
                "model" => format!("model {}", r.table),
                "managed_volume" | "external_volume" => format!("{} {}", r.kind.replace('_', " "), r.table),
                _ => r.table.clone(),
            };
            views::VerifyItem { table, result: r.verdict.word().into(), color, detail }
        })
        .collect();
    let view = views::VerifyView {
        subtitle: format!(
            "As {} · {} · took {}{}",
            asked.by,
            worded_time(finished_ms),
            worded_duration(finished_ms - asked.started_ms),
            deep_words(asked)
        ),
        outcome_label,
        outcome_color,
        items_title: "Not equal".into(),
        items,
        footnote: "Every table, registered model and volume in scope is listed here or counted equal; drbot verify \
                   --json lists each with its rows, versions or files."
            .into(),
        ..counted(asked, &tally, false)
    };
    views::render_verify(&view).unwrap_or_else(|error| cards::error(&error.to_string(), correlation_id))
}
