//! `status`: the readiness dashboard, read with the person's identity (or,
//! for scheduled posts, the bot's own) and shown as one card.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use serde_json::Value;

use super::actor::{Actor, DatabricksTokens};
use super::managed_status::{fold_managed, managed_row};
use super::pairs::Chosen;
use super::replication_schedule::ScheduleSummary;
use super::runs::worded_time;
use super::{now_ms, Answer, Bot};
use crate::cards::views::{self, Tone};
use crate::cards::{self};
use crate::databricks::failover_groups::FailoverGroup;
use crate::pairs::Pair;
use crate::readiness::check::{check_with_budgets, Target};
use crate::readiness::report::{AssessOptions, LastRun, Problem, Reachability, Readiness, Status};
use crate::readiness::rpo::Rag;
use crate::readiness::text;
use crate::replication::read::SharedPermits;
use crate::store::operations::Outcome;
use crate::store::table_versions::TableVersion;

/// Pairs the all-pairs overview reads at once. What reaches a workspace is
/// bounded apart from this: pairs that share one (several spokes to one hub)
/// share its `read_concurrency` budget of requests in flight. This bounds
/// the snapshots held in memory at once. A pair's read is mostly waiting on
/// its few statements (a few hundred ms), so 24 at once read 50 pairs in
/// about three pair-read times.
const OVERVIEW_PAIRS_AT_ONCE: usize = 24;

impl Bot {
    /// `status [PAIR]`: the pair's dashboard, or with several pairs and no
    /// default here, one card with a row per pair.
    pub(crate) async fn status(
        self: &Arc<Self>,
        actor: &Actor,
        conversation_id: Option<&str>,
        named: Option<&str>,
        correlation_id: &str,
    ) -> Answer {
        let chosen = match self.choose_pairs(conversation_id, named).await {
            Ok(chosen) => chosen,
            Err(error) => return Answer::Card(error.card(correlation_id)),
        };
        let tokens = match self.tokens_for(actor) {
            Ok(tokens) => tokens,
            Err(error) => return Answer::Card(error.card("The readiness could not be read", correlation_id)),
        };
        self.audit(actor, "read the readiness", named, "allowed", correlation_id).await;
        let bot = self.clone();
        let correlation_id = correlation_id.to_string();
        Answer::Later {
            now: cards::notice("Checking readiness…", "Reading both workspaces' metastores."),
            then: Box::pin(async move { bot.readiness_card(&tokens, chosen, &correlation_id).await }),
        }
    }

    /// The dashboard of one pair, or the overview of several.
    pub(crate) async fn readiness_card(
        &self,
        tokens: &DatabricksTokens,
        chosen: Chosen,
        correlation_id: &str,
    ) -> Value {
        match chosen {
            Chosen::One(pair) => self.dashboard(tokens, &pair, correlation_id).await,
            Chosen::All(pairs) => self.overview(tokens, &pairs, correlation_id).await,
        }
    }

    /// The dashboard card of `pair`, as whoever `tokens` belong to sees the workspaces.
    pub(crate) async fn dashboard(&self, tokens: &DatabricksTokens, pair: &Pair, correlation_id: &str) -> Value {
        let schedule = self.schedule_summary(&pair.name).await;
        let versions = self.recorded_versions(correlation_id).await.remove(&pair.name).unwrap_or_default();
        // The workspace assets' drift is read beside the data's (a few list pages per side).
        let (readiness, assets) = tokio::join!(
            self.readiness_of(tokens, pair, versions, [None, None], correlation_id),
            self.plan_assets(pair, tokens)
        );
        match readiness {
            Ok(readiness) => {
                let mut view = dashboard_view(&readiness, pair, schedule.as_ref());
                view.trend = self.trend(pair, &readiness).await;
                match &assets {
                    Ok(assets) => fold_asset_drift(&mut view, assets),
                    Err(error) => tracing::warn!(correlation_id, %error, "workspace assets unread for the dashboard"),
                }
                if let Some(group_id) = &pair.failover_group {
                    match self.failover_group(tokens, group_id).await {
                        Ok(group) => {
                            fold_failover_group(&mut view, &group, now_ms());
                            let reading = self.managed_reading(tokens, pair, &group, &readiness).await;
                            fold_managed(&mut view, &reading, assets.as_ref().ok());
                        }
                        Err(reason) => view.overall.more_reasons.push(reason),
                    }
                }
                fold_failed_over(&mut view, pair);
                views::render_dashboard(&view).unwrap_or_else(|error| cards::error(&error.to_string(), correlation_id))
            }
            Err(problem) => cards::error(&problem, correlation_id),
        }
    }

    /// Every pair's readiness, [`OVERVIEW_PAIRS_AT_ONCE`] pairs at a time,
    /// as one card (worst first).
    async fn overview(&self, tokens: &DatabricksTokens, pairs: &[Pair], correlation_id: &str) -> Value {
        let versions = self.recorded_versions(correlation_id).await;
        let versions = &versions;
        // One budget of requests in flight per workspace, whichever pairs read it.
        let mut budgets: HashMap<String, SharedPermits> = HashMap::new();
        for pair in pairs {
            let capacity = self.pair_settings(pair).read_concurrency;
            for workspace in [&pair.primary, &pair.secondary] {
                budgets.entry(workspace.url.clone()).or_insert_with(|| SharedPermits::new(capacity));
            }
        }
        let budgets = &budgets;
        // By index: a stream of borrowed pairs trips the compiler's
        // higher-ranked lifetime check where the future must be `Send`.
        let results: Vec<_> = stream::iter(0..pairs.len())
            .map(|i| async move {
                let pair = &pairs[i];
                let sides = [budgets.get(&pair.primary.url).cloned(), budgets.get(&pair.secondary.url).cloned()];
                let versions = versions.get(&pair.name).cloned().unwrap_or_default();
                let readiness = self.readiness_of(tokens, pair, versions, sides, correlation_id).await;
                let managed = match &pair.failover_group {
                    Some(group) => Some(self.managed_summary(tokens, pair, group).await),
                    None => None,
                };
                (readiness, managed)
            })
            .buffered(OVERVIEW_PAIRS_AT_ONCE)
            .collect()
            .await;
        let schedules = self.schedule_summaries(pairs).await;
        let mut rows: Vec<(u8, i64, cards::PairRow)> = pairs
            .iter()
            .zip(results)
            .zip(schedules)
            .map(|((pair, (readiness, managed)), schedule)| {
                let mut row = match readiness {
                    Ok(readiness) => overview_row(pair, &readiness, schedule.as_ref()),
                    Err(problem) => (
                        3,
                        i64::MAX,
                        cards::PairRow {
                            name: pair.name.clone(),
                            replicated_by: "drbot".into(),
                            verdict: "Not read".into(),
                            tone: Tone::Attention,
                            worst_rpo: "-".into(),
                            drift: problem,
                            last_run: "-".into(),
                        },
                    ),
                };
                if let Some(managed) = &managed {
                    managed_row(&mut row, managed, now_ms());
                }
                row
            })
            .collect();
        rows.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.name.cmp(&b.2.name)));
        let rows: Vec<cards::PairRow> = rows.into_iter().map(|(_, _, row)| row).collect();
        cards::pairs_overview(&worded_time(now_ms()), &rows)
    }

    /// The table versions the last cycles recorded, by pair: RPO is measured
    /// from them (status reads no history itself). Read once per card.
    pub(super) async fn recorded_versions(&self, correlation_id: &str) -> BTreeMap<String, Vec<TableVersion>> {
        self.services.store.table_versions_of_every_pair().await.unwrap_or_else(|error| {
            tracing::warn!(correlation_id, %error, "recorded table versions unavailable for the dashboard");
            BTreeMap::new()
        })
    }

    /// One pair's readiness, read with `tokens`.
    pub(crate) async fn readiness_of(
        &self,
        tokens: &DatabricksTokens,
        pair: &Pair,
        table_versions: Vec<TableVersion>,
        budgets: [Option<SharedPermits>; 2],
        correlation_id: &str,
    ) -> Result<Readiness, String> {
        let (primary, secondary) = self.pair_clients(pair);
        let token = tokens.get(false).await.map_err(|error| format!("No Databricks token: {error}"))?;
        let settings = self.pair_settings(pair);
        // The last run that ran (a skipped scheduled firing copied nothing).
        let last_run = match self.services.store.recent_runs_of_pair(&pair.name, None, 5).await {
            Ok(runs) => runs.iter().find(|run| !run.skipped()).map(LastRun::from),
            Err(error) => {
                tracing::warn!(correlation_id, %error, "run history unavailable for the dashboard");
                None
            }
        };
        // The copy manifest, so the drift compares managed volumes' files.
        let volume_files = match self.services.store.copied_files(&pair.name).await {
            Ok(rows) => Some(crate::replication::volume_survey::manifest(&rows)),
            Err(error) => {
                tracing::warn!(correlation_id, %error, "the copy manifest is unavailable; volume files not compared");
                None
            }
        };
        let options = AssessOptions { last_run, table_versions, volume_files, ..AssessOptions::for_pair() };
        // Grants compared under the pair's principal mapping, as a plan would.
        let config = match self.replication_config(pair, None).await {
            Ok(config) => config,
            Err(error) => {
                tracing::warn!(correlation_id, %error, "the pair's mapping table is unavailable; principals unmapped");
                settings.replication_config(None)
            }
        };
        let readiness = check_with_budgets(
            Target { client: &primary, token: &token },
            Target { client: &secondary, token: &token },
            &settings.read_options_per_side(None),
            budgets,
            &config,
            now_ms(),
            &options,
            &|_| {},
        )
        .await;
        // The bot's own reading (a scheduled post or check) is a scheduled
        // check: kept in the history, and the RPO condition looked at. A
        // person's reading sees what they may see, not necessarily the pair.
        if matches!(tokens, DatabricksTokens::App(_)) {
            self.checked(pair, &readiness).await;
        }
        Ok(readiness)
    }
}

/// The workspace assets on the dashboard: one drift row per asset kind
/// that differs (missing is what a run would create, different what it would
/// update), and a pair whose secondary lacks them is at risk, not ready: a
/// failover would find jobs missing.
/// A pair that has failed over serves from its secondary: the primary is
/// stale (drift and RPO compare it to what now serves), and nothing
/// replicates from it until failback. Said first, whatever else is true.
fn fold_failed_over(view: &mut views::DashboardView, pair: &Pair) {
    let Err(failed_over) = pair.replicates_from_primary() else { return };
    let earlier = std::mem::take(&mut view.overall.summary);
    if !earlier.is_empty() {
        view.overall.more_reasons.insert(0, earlier);
    }
    view.overall.label = "Failed over".into();
    view.overall.color = Tone::Attention;
    view.overall.summary = format!("{}.", failed_over);
}

/// A pair whose replication Databricks' managed DR runs (`failover_group`):
/// the group's replication point gives the RPO (one figure for the whole
/// group: managed DR has no per-table view), shown as a tile; a group not
/// ACTIVE, or with errors blocking its replication point, is a reason of
/// its own. `now_ms` is when the group was read.
fn fold_failover_group(view: &mut views::DashboardView, group: &FailoverGroup, now_ms: i64) {
    let now = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
    let (value, color) = match group.rpo(now) {
        Some(rpo) => (text::duration(rpo.num_milliseconds()), Tone::Default),
        None => ("-".to_string(), Tone::Warning),
    };
    view.tiles.push(views::Tile {
        label: "Managed DR RPO".into(),
        value,
        color,
        note: format!("{} · primary {}", group.state, group.effective_primary_region),
    });
    let reason = match (group.state.as_str(), group.has_replication_point_blocking_errors) {
        ("ACTIVE", false) if group.replication_point.is_some() => return,
        ("ACTIVE", false) => "Managed DR has replicated nothing yet: the failover group has no replication point.".to_string(),
        ("ACTIVE", true) => "Errors hold managed DR's replication point: the RPO grows until they are fixed (system.replication.states names them).".to_string(),
        (state, _) => format!("Managed DR's failover group is {state}, primary {}.", group.effective_primary_region),
    };
    if view.overall.label == "Ready" {
        view.overall.label = "At risk".into();
        view.overall.color = Tone::Warning;
        view.overall.summary = reason;
    } else {
        view.overall.more_reasons.push(reason);
    }
}

fn fold_asset_drift(view: &mut views::DashboardView, assets: &crate::assets::AssetPlan) {
    let rows: Vec<views::DriftRow> = assets
        .counts()
        .into_iter()
        .filter(|(_, counts)| counts.drift() > 0)
        .map(|(kind, counts)| views::DriftRow {
            kind: plural(&kind),
            missing: counts.create as u64,
            different: counts.update as u64,
            extra: 0,
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let kinds: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {} missing, {} different", r.kind.to_lowercase(), r.missing, r.different))
        .collect();
    let reason = format!(
        "The secondary's workspace assets differ from the primary's ({}): replicate --assets copies them.",
        kinds.join("; ")
    );
    view.drift.extend(rows);
    if view.overall.label == "Ready" {
        view.overall.label = "At risk".into();
        view.overall.color = Tone::Warning;
        view.overall.summary = reason;
    } else {
        view.overall.more_reasons.push(reason);
    }
}

/// A pair's row of the overview, with its sort keys (badness, worst RPO).
fn overview_row(pair: &Pair, readiness: &Readiness, schedule: Option<&ScheduleSummary>) -> (u8, i64, cards::PairRow) {
    let (rank, verdict, tone) = match readiness.verdict.status {
        Status::Ready => (0, "Ready", Tone::Good),
        Status::Degraded => (1, "At risk", Tone::Warning),
        Status::NotReady => (2, "Not ready", Tone::Attention),
    };
    let worst_ms = readiness.rpo.as_ref().and_then(|r| r.worst.as_ref()).map(|w| w.ms).unwrap_or(0);
    let row = cards::PairRow {
        name: pair.name.clone(),
        replicated_by: "drbot".into(),
        verdict: verdict.into(),
        tone,
        worst_rpo: match (&readiness.rpo, schedule.and_then(ScheduleSummary::rpo_bound_ms)) {
            (Some(_), Some(bound)) => format!("{} (bound {})", text::duration(worst_ms), text::duration(bound)),
            (Some(_), None) => text::duration(worst_ms),
            (None, _) => "-".into(),
        },
        drift: match &readiness.drift {
            Some(drift) => {
                let total = drift.objects.total();
                format!("{} objects", total.missing + total.different + total.extra)
            }
            None => "-".into(),
        },
        last_run: {
            let last = match &readiness.last_run {
                Some(run) => {
                    run.finished_ms.map(|f| format!("{} ago", text::duration(now_ms() - f))).unwrap_or("running".into())
                }
                None => "never".into(),
            };
            match schedule {
                Some(schedule) => format!("{last} · next at {}", worded_time(schedule.next_ms)),
                None => last,
            }
        },
    };
    (rank, worst_ms, row)
}

/// One "cannot be replicated" row: the category, the objects named, the first reason.
fn unreplicable_row(group: &crate::readiness::unreplicable::UnreplicableGroup) -> views::UnreplicableRow {
    let named = group.examples.join(", ");
    let rest = group.count.saturating_sub(group.examples.len());
    views::UnreplicableRow {
        category: group.category.clone(),
        count: group.count as u64,
        examples: if rest > 0 { format!("{named} and {rest} more") } else { named },
        reason: group.reason.clone(),
    }
}

/// How many of the verdict's reasons the card spells out.
const REASONS_SHOWN: usize = 5;

/// The verdict's first reason, and the next few (each its own paragraph
/// on the card: a pair can be blocked for several reasons at once, each
/// with its own fix), then how many more there are.
fn reasons_shown(reasons: &[String]) -> (String, Vec<String>) {
    let Some((first, rest)) = reasons.split_first() else {
        return ("The secondary matches the primary within the RPO target.".into(), Vec::new());
    };
    let mut more: Vec<String> = rest.iter().take(REASONS_SHOWN - 1).cloned().collect();
    if reasons.len() > REASONS_SHOWN {
        more.push(format!("…and {} more reasons (drbot status --json lists them all).", reasons.len() - REASONS_SHOWN));
    }
    (first.clone(), more)
}

/// The readiness report as the dashboard card shows it.
fn dashboard_view(readiness: &Readiness, pair: &Pair, schedule: Option<&ScheduleSummary>) -> views::DashboardView {
    let (label, color) = match readiness.verdict.status {
        Status::Ready => ("Ready", Tone::Good),
        Status::Degraded => ("At risk", Tone::Warning),
        Status::NotReady => ("Not ready", Tone::Attention),
    };
    let (summary, more_reasons) = reasons_shown(&readiness.verdict.reasons);
    let host = |w: &crate::pairs::PairWorkspace| Some(w.host()).filter(|h| !h.is_empty());
    let workspace = |role: &str, name: Option<String>, reach: &Reachability| {
        let (health_label, health_color, detail) = match reach {
            Reachability::Reachable { latency_ms, read_path, .. } => (
                "Healthy".to_string(),
                Tone::Good,
                match latency_ms {
                    Some(l) => format!("answered in {l} ms; read via {read_path}"),
                    None => format!("read via {read_path}"),
                },
            ),
            Reachability::Unreachable { error } => ("Unreachable".to_string(), Tone::Attention, error.clone()),
        };
        views::WorkspaceHealth {
            role: role.to_string(),
            name: name.unwrap_or_else(|| role.to_lowercase()),
            region: match reach {
                Reachability::Reachable { metastore_id: Some(id), .. } => id.split(':').nth(1).unwrap_or("").into(),
                _ => String::new(),
            },
            health_label,
            health_color,
            detail,
        }
    };
    let mut tiles = Vec::new();
    tiles.push(match &readiness.last_run {
        Some(run) => {
            let outcome = run.counts.as_ref().and_then(Outcome::of).map(Outcome::as_str).unwrap_or("running");
            views::Tile {
                label: "Last replication".into(),
                value: run
                    .finished_ms
                    .map(|f| format!("{} ago", text::duration(now_ms() - f)))
                    .unwrap_or_else(|| "running".into()),
                color: if outcome == "succeeded" { Tone::Good } else { Tone::Warning },
                note: outcome.to_string(),
            }
        }
        None => views::Tile {
            label: "Last replication".into(),
            value: "never".into(),
            color: Tone::Warning,
            note: "no run recorded".into(),
        },
    });
    tiles.push(match schedule {
        Some(schedule) => views::Tile {
            label: "Scheduled replication".into(),
            value: schedule.label.clone(),
            color: Tone::Good,
            note: format!("next run at {} · {}", worded_time(schedule.next_ms), schedule.rpo_bound_words()),
        },
        None => views::Tile {
            label: "Scheduled replication".into(),
            value: "none".into(),
            color: Tone::Default,
            note: format!("replicate {} every 15m keeps RPO bounded", pair.name),
        },
    });
    if let Some(rpo) = &readiness.rpo {
        tiles.push(views::Tile {
            label: "Worst RPO".into(),
            value: rpo.worst.as_ref().map(|w| text::duration(w.ms)).unwrap_or_else(|| "0 s".into()),
            color: rag_tone(rpo.status),
            note: match &readiness.rpo_readings {
                Some(readings) => format!(
                    "{} of {} tables behind, as of readings {} old",
                    rpo.behind,
                    rpo.tables,
                    text::duration(readings.age_ms)
                ),
                None => format!("{} of {} tables behind", rpo.behind, rpo.tables),
            },
        });
    }
    let mut drift_rows = Vec::new();
    if let Some(drift) = &readiness.drift {
        let total = drift.objects.total();
        tiles.push(views::Tile {
            label: "Drift".into(),
            value: format!("{} objects", total.missing + total.different + total.extra),
            color: if total.missing > 0 {
                Tone::Attention
            } else if total.different > 0 {
                Tone::Warning
            } else {
                Tone::Good
            },
            note: format!("{} missing · {} stale", total.missing, total.stale),
        });
        for (kind, counts) in drift.objects.rows() {
            if counts.total() > 0 {
                drift_rows.push(views::DriftRow {
                    kind: plural(kind),
                    missing: counts.missing as u64,
                    different: (counts.different + counts.stale) as u64,
                    extra: counts.extra as u64,
                });
            }
        }
        if drift.grants.objects > 0 {
            drift_rows.push(views::DriftRow {
                kind: "Grants".into(),
                missing: drift.grants.missing_privileges as u64,
                different: drift.grants.objects as u64,
                extra: drift.grants.extra_privileges as u64,
            });
        }
        if drift.metadata.objects > 0 {
            drift_rows.push(views::DriftRow {
                kind: "Comments, tags, properties".into(),
                missing: 0,
                different: drift.metadata.objects as u64,
                extra: 0,
            });
        }
    }
    views::DashboardView {
        // The pair of single-pair drbot keeps its title (the primary's host).
        spoke: match (pair.name.as_str(), host(&pair.primary)) {
            (crate::pairs::DEFAULT_PAIR, Some(host)) => host,
            (name, Some(host)) => format!("{name} · {host}"),
            (name, None) => name.to_string(),
        },
        checked_at: worded_time(readiness.assessed_ms),
        overall: views::Overall { label: label.into(), color, summary, more_reasons },
        workspaces: vec![
            workspace("Primary", host(&pair.primary), &readiness.primary),
            workspace("Secondary", host(&pair.secondary), &readiness.secondary),
        ],
        tiles,
        drift: drift_rows,
        unreplicable: readiness.unreplicable.iter().map(unreplicable_row).collect(),
        trend: views::Trend::default(),
        offenders: readiness
            .offenders
            .iter()
            .map(|o| views::Offender {
                name: o.object.clone(),
                kind: o.kind.clone(),
                problem: o.text.clone(),
                url: {
                    // A missing object has its page on the primary; anything else on the secondary.
                    let side = if o.problem == Problem::Missing { &pair.primary } else { &pair.secondary };
                    crate::databricks::links::catalog_explorer(&side.url, &o.kind, &o.object).unwrap_or_default()
                },
                color: match o.problem {
                    Problem::Missing => Tone::Attention,
                    Problem::Extra => Tone::Default,
                    _ => rag_tone(o.colour),
                },
            })
            .collect(),
    }
}

fn rag_tone(rag: Rag) -> Tone {
    match rag {
        Rag::Green => Tone::Good,
        Rag::Amber => Tone::Warning,
        Rag::Red => Tone::Attention,
    }
}

/// "table" → "Tables".
fn plural(kind: &str) -> String {
    let mut chars = kind.chars();
    match chars.next() {
        Some(first) => format!("{}{}s", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_spells_out_every_reason_up_to_a_few() {
        assert!(reasons_shown(&[]).0.contains("matches the primary"));
        let two = ["the recipient is missing".to_string(), "the share's owner cannot read t".to_string()];
        assert_eq!(reasons_shown(&two), (two[0].clone(), vec![two[1].clone()]));
        let many: Vec<String> = (0..7).map(|i| format!("reason {i}")).collect();
        let (first, more) = reasons_shown(&many);
        assert_eq!(first, "reason 0");
        assert_eq!(more[..4], many[1..5]);
        assert_eq!(more[4], "…and 2 more reasons (drbot status --json lists them all).");
    }

    /// A dashboard otherwise ready is at risk while jobs are missing; one not
    /// ready keeps its verdict and gains the reason.
    #[test]
    fn missing_jobs_put_a_ready_pair_at_risk() {
        use crate::assets::{AssetPlan, Change, PlanItem};
        let sample = include_str!("../../adaptive-cards/samples/dashboard.json");
        let mut view: views::DashboardView = serde_json::from_str(sample).unwrap();
        let item = |key: &str, change: Change| PlanItem::named("job", key, change);
        let assets = AssetPlan { items: vec![item("1", Change::Create), item("2", Change::Unchanged)] };
        view.overall.label = "Ready".into();
        let rows_before = view.drift.len();
        fold_asset_drift(&mut view, &assets);
        assert_eq!((view.overall.label.as_str(), view.overall.color), ("At risk", Tone::Warning));
        assert!(view.overall.summary.contains("jobs 1 missing, 0 different"), "{}", view.overall.summary);
        assert_eq!(view.drift.len(), rows_before + 1);

        view.overall.label = "Not ready".into();
        let reasons = view.overall.more_reasons.len();
        fold_asset_drift(&mut view, &assets);
        assert_eq!(view.overall.label, "Not ready");
        assert_eq!(view.overall.more_reasons.len(), reasons + 1);
        let converged = AssetPlan { items: vec![item("2", Change::Unchanged)] };
        let before = view.overall.clone();
        fold_asset_drift(&mut view, &converged);
        assert_eq!(view.overall.more_reasons, before.more_reasons, "nothing to say when the assets match");
    }

    /// A managed-DR pair shows the group's RPO as a tile; a group failing
    /// over, or with nothing replicated, puts a ready pair at risk.
    #[test]
    fn a_failover_group_shows_its_rpo_and_says_when_it_is_not_active() {
        let sample = include_str!("../../adaptive-cards/samples/dashboard.json");
        let mut view: views::DashboardView = serde_json::from_str(sample).unwrap();
        view.overall.label = "Ready".into();
        let tiles = view.tiles.len();
        let point = chrono::DateTime::from_timestamp_millis(1_800_000_000_000).unwrap();
        let mut group = FailoverGroup {
            name: "accounts/a/failover-groups/sales-dr".into(),
            regions: vec!["westeurope".into(), "northeurope".into()],
            effective_primary_region: "westeurope".into(),
            state: "ACTIVE".into(),
            replication_point: Some(point),
            has_replication_point_blocking_errors: false,
            etag: "1".into(),
            unity_catalog_assets: None,
            workspace_sets: Vec::new(),
        };
        fold_failover_group(&mut view, &group, 1_800_000_000_000 + 7 * 60_000);
        assert_eq!(view.tiles.len(), tiles + 1);
        let tile = view.tiles.last().unwrap();
        assert_eq!(tile.value, text::duration(7 * 60_000));
        assert_eq!(tile.note, "ACTIVE · primary westeurope");
        assert_eq!(view.overall.label, "Ready", "an active group with a replication point says nothing more");

        group.state = "FAILING_OVER".into();
        fold_failover_group(&mut view, &group, 1_800_000_000_000);
        assert_eq!((view.overall.label.as_str(), view.overall.color), ("At risk", Tone::Warning));
        assert!(view.overall.summary.contains("FAILING_OVER"), "{}", view.overall.summary);

        group.state = "ACTIVE".into();
        group.replication_point = None;
        fold_failover_group(&mut view, &group, 1_800_000_000_000);
        assert_eq!(view.tiles.last().unwrap().value, "-");
        assert!(view.overall.more_reasons.last().unwrap().contains("replicated nothing"));
    }
}
