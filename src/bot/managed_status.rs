//! What `status` shows of a managed-DR pair beyond its group's RPO tile:
//! managed DR's own latest word from `system.replication.states` (its lag,
//! and the errors blocking replication with how many assets each holds
//! back), and what is in the group's scope that managed DR does not
//! replicate (materialized views, streaming tables, managed volumes' files,
//! registered models, secret scopes), which drbot can replicate beside it.
//!
//! The system table is queried on the active side's warehouse (the other
//! side's when that fails), as the person reads everything else.

use std::time::Duration;

use futures::stream::{self, StreamExt};

use super::actor::DatabricksTokens;
use super::Bot;
use crate::alerts::condition::{self, ManagedDrReading};
use crate::assets::AssetPlan;
use crate::cards;
use crate::cards::views::{self, Tone};
use crate::databricks::failover_groups::FailoverGroup;
use crate::databricks::replication_states::ReplicationStatus;
use crate::failover::mode::other;
use crate::identity::AccessToken;
use crate::pairs::{Pair, Side};
use crate::readiness::inventory::Inventory;
use crate::readiness::report::Readiness;
use crate::readiness::text;

/// How long the system table's query may take on the dashboard.
const STATES_WITHIN: Duration = Duration::from_secs(60);
/// Schemas whose models are listed at once.
const MODEL_LISTS_AT_ONCE: usize = 8;
/// How many objects a row names.
const EXAMPLES: usize = 3;

/// What the dashboard read of a managed pair besides the group.
pub(super) struct ManagedReading {
    /// The latest event (`None`: the table holds none for the group), or why unread.
    pub status: Result<Option<ReplicationStatus>, String>,
    /// The primary's objects in the group's catalogs, when it was read.
    pub scope: Option<Inventory>,
    /// Registered models in the group's catalogs, or why unread.
    pub models: Result<Vec<String>, String>,
}

impl Bot {
    /// Reads managed DR's latest event of `group` and the registered models
    /// in its catalogs, as whoever `tokens` belong to.
    pub(super) async fn managed_reading(
        &self,
        tokens: &DatabricksTokens,
        pair: &Pair,
        group: &FailoverGroup,
        readiness: &Readiness,
    ) -> ManagedReading {
        let catalogs = group.catalogs();
        let scope = readiness.primary_inventory.as_ref().map(|inventory| inventory.within(&catalogs));
        let token = match tokens.get(false).await {
            Ok(token) => token,
            Err(error) => {
                let why = format!("no Databricks token: {error}");
                return ManagedReading { status: Err(why.clone()), scope, models: Err(why) };
            }
        };
        let status = self.replication_status(&token, pair, group).await;
        if let (DatabricksTokens::App(_), Ok(Some(status))) = (tokens, &status) {
            self.observe_managed(pair, status);
        }
        let primary = self.pair_clients(pair).0;
        let models = match &scope {
            None => Err("the primary was not read".to_string()),
            Some(scope) => {
                let listed: Vec<_> = stream::iter(scope.schemas.clone())
                    .map(|(catalog, schema)| {
                        let (client, token) = (&primary, &token);
                        async move { client.list_models(token, &catalog, &schema).await }
                    })
                    .buffer_unordered(MODEL_LISTS_AT_ONCE)
                    .collect()
                    .await;
                let mut names = Vec::new();
                let mut failed = None;
                for list in listed {
                    match list {
                        Ok(models) => names.extend(models.into_iter().map(|m| m.full_name())),
                        Err(error) => failed = Some(error.to_string()),
                    }
                }
                names.sort();
                match failed {
                    Some(why) if names.is_empty() => Err(format!("registered models unread: {why}")),
                    _ => Ok(names),
                }
            }
        };
        ManagedReading { status, scope, models }
    }
}

impl Bot {
    /// Managed DR's latest event of `group`, queried on the side that
    /// serves, else the other; `None` when the table holds none for it.
    async fn replication_status(
        &self,
        token: &AccessToken,
        pair: &Pair,
        group: &FailoverGroup,
    ) -> Result<Option<ReplicationStatus>, String> {
        let (primary, secondary) = self.pair_clients(pair);
        let mut status = Err("no warehouse to query system.replication.states on".to_string());
        for side in [pair.active, other(pair.active)] {
            let Some(warehouse) = pair.warehouse_of(side) else { continue };
            let client = if side == Side::Primary { &primary } else { &secondary };
            let deadline = tokio::time::Instant::now() + STATES_WITHIN;
            match client.latest_replication_status(token, warehouse, &group.name, deadline).await {
                Ok(found) => return Ok(found),
                Err(error) => {
                    status = Err(format!("system.replication.states unread on the {}: {error}", side.as_str()))
                }
            }
        }
        status
    }

    /// Hands managed DR's latest event of `pair` to the alerter (a reading
    /// by drbot itself: a person's reading is what they may see).
    fn observe_managed(&self, pair: &Pair, status: &ReplicationStatus) {
        let reading = ManagedDrReading {
            lag_ms: status.replication_lag_ms,
            errors: status.errors.iter().map(|e| (e.error_class.clone(), e.failing())).collect(),
        };
        self.observe(condition::managed_dr(&pair.name, &reading, pair.rpo_alert_minutes));
    }

    /// The periodic check of a managed pair (`src/bot/rpo_checks.rs`): its
    /// group's latest event read as drbot, its conditions observed. What
    /// could not be read is logged; the next interval tries again.
    pub(super) async fn check_managed(&self, tokens: &DatabricksTokens, pair: &Pair) {
        let Some(group_id) = &pair.failover_group else { return };
        let read = async {
            let group = self.failover_group(tokens, group_id).await?;
            let token = tokens.get(false).await.map_err(|e| format!("no Databricks token: {e}"))?;
            self.replication_status(&token, pair, &group).await
        };
        match read.await {
            Ok(Some(status)) => self.observe_managed(pair, &status),
            Ok(None) => tracing::info!(pair = %pair.name, "no managed-DR event of the failover group yet"),
            Err(problem) => tracing::warn!(pair = %pair.name, %problem, "managed DR's status could not be read"),
        }
    }
}

/// What the all-pairs overview reads of a managed pair: its group and
/// managed DR's latest event.
pub(super) struct ManagedSummary {
    group_id: String,
    group: Result<FailoverGroup, String>,
    status: Option<ReplicationStatus>,
}

impl Bot {
    /// The group and its latest event, for a managed pair's overview row
    /// (observed for alerts when drbot itself reads).
    pub(super) async fn managed_summary(
        &self,
        tokens: &DatabricksTokens,
        pair: &Pair,
        group_id: &str,
    ) -> ManagedSummary {
        let group = self.failover_group(tokens, group_id).await;
        let status = match (&group, tokens.get(false).await) {
            (Ok(group), Ok(token)) => self.replication_status(&token, pair, group).await.ok().flatten(),
            _ => None,
        };
        if let (DatabricksTokens::App(_), Some(status)) = (tokens, &status) {
            self.observe_managed(pair, status);
        }
        ManagedSummary { group_id: group_id.to_string(), group, status }
    }
}

/// A managed pair's overview row, in the same columns as any other: who
/// replicates it, managed DR's RPO (from the group's replication point:
/// managed DR replicates the pair), the group's state and when it last
/// replicated; a group not ACTIVE, unread, with errors or with an asset
/// never replicated puts the pair at risk. `row` is (rank, worst RPO ms,
/// row), as the overview sorts it.
pub(super) fn managed_row(row: &mut (u8, i64, cards::PairRow), managed: &ManagedSummary, now_ms: i64) {
    let (rank, worst_ms, row) = row;
    row.replicated_by = format!("managed DR ({})", managed.group_id);
    let mut risks = Vec::new();
    match &managed.group {
        Err(_) => {
            row.worst_rpo = "-".into();
            row.last_run = "managed DR unread".into();
            risks.push("its failover group could not be read".to_string());
        }
        Ok(group) => {
            let now = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
            match group.rpo(now).map(|rpo| rpo.num_milliseconds()) {
                Some(ms) => {
                    *worst_ms = ms;
                    row.worst_rpo = text::duration(ms);
                    row.last_run = format!("{}, replicated {} ago", group.state, text::duration(ms));
                }
                None => {
                    *worst_ms = i64::MAX;
                    row.worst_rpo = "-".into();
                    row.last_run = format!("{}, nothing replicated yet", group.state);
                    risks.push("nothing replicated yet".to_string());
                }
            }
            if group.state != crate::failover::group::ACTIVE {
                risks.push(format!("the group is {}", group.state));
            }
        }
    }
    if let Some(status) = &managed.status {
        let failing: u64 = status.errors.iter().map(|e| e.failing()).sum();
        if failing > 0 {
            risks.push(format!("managed DR cannot replicate {failing} assets"));
        } else if !status.errors.is_empty() {
            risks.push(format!("managed DR's {} event reports errors", status.replication_state));
        }
        if status.replication_lag_ms.is_none() {
            risks.push("an asset never replicated".to_string());
        }
    }
    if !risks.is_empty() {
        if *rank < 1 {
            *rank = 1;
            row.verdict = "At risk".into();
            row.tone = Tone::Warning;
        }
        row.last_run = format!("{} · {}", row.last_run, risks.join(", "));
    }
}

/// Puts a ready pair at risk for `reason`, or adds the reason.
fn at_risk(view: &mut views::DashboardView, reason: String) {
    if view.overall.label == "Ready" {
        view.overall.label = "At risk".into();
        view.overall.color = Tone::Warning;
        view.overall.summary = reason;
    } else {
        view.overall.more_reasons.push(reason);
    }
}

/// "main.s.a, main.s.b, main.s.c and 2 more".
fn examples(names: &[String]) -> String {
    let named = names.iter().take(EXAMPLES).cloned().collect::<Vec<_>>().join(", ");
    match names.len().saturating_sub(EXAMPLES) {
        0 => named,
        more => format!("{named} and {more} more"),
    }
}

/// The reading on the dashboard: a lag tile, a row per blocking error, a
/// row per kind in scope that managed DR does not cover. `assets` is the
/// workspace assets' plan, where the primary's secret scopes are.
pub(super) fn fold_managed(view: &mut views::DashboardView, reading: &ManagedReading, assets: Option<&AssetPlan>) {
    match &reading.status {
        Err(why) => view.overall.more_reasons.push(format!("Managed DR's lag and errors are unread: {why}.")),
        Ok(None) => view.overall.more_reasons.push(
            "system.replication.states holds no event of the failover group yet: managed DR's lag is unknown.".into(),
        ),
        Ok(Some(status)) => fold_status(view, status),
    }
    let mut uncovered: Vec<(&str, Vec<String>, &str)> = Vec::new();
    if let Some(scope) = &reading.scope {
        uncovered.push((
            "materialized views",
            scope.materialized_views.clone(),
            "managed DR does not replicate materialized views: replicate recreates them on the secondary, where \
             their refresh rebuilds the data",
        ));
        uncovered.push((
            "streaming tables",
            scope.streaming_tables.clone(),
            "managed DR does not replicate streaming tables: replicate recreates them on the secondary",
        ));
        uncovered.push((
            "managed volume files",
            scope.managed_volumes.clone(),
            "managed DR copies volumes as metadata only: replicate copies a managed volume's files",
        ));
    }
    if let Ok(models) = &reading.models {
        uncovered.push((
            "registered models",
            models.clone(),
            "managed DR does not replicate registered models: replicate copies them with their versions",
        ));
    }
    let scopes: Vec<String> = assets
        .map(|plan| {
            plan.items
                .iter()
                .filter(|i| i.kind == crate::assets::secret_scopes::SCOPE)
                .map(|i| i.name.clone())
                .collect()
        })
        .unwrap_or_default();
    uncovered.push((
        "secret scopes",
        scopes,
        "managed DR does not replicate secrets: replicate --assets re-creates the scopes and their ACLs and lists the \
         keys to set",
    ));
    for (kind, names, reason) in uncovered.into_iter().filter(|(_, names, _)| !names.is_empty()) {
        view.unreplicable.push(views::UnreplicableRow {
            category: format!("not covered by managed DR: {kind}"),
            count: names.len() as u64,
            examples: examples(&names),
            reason: reason.to_string(),
        });
    }
    if let Err(why) = &reading.models {
        view.overall.more_reasons.push(format!("Which registered models managed DR leaves out is unknown: {why}."));
    }
}

/// The latest event: the lag tile, and the errors as rows and a reason.
fn fold_status(view: &mut views::DashboardView, status: &ReplicationStatus) {
    let failing: u64 = status.errors.iter().map(|e| e.failing()).sum();
    let (value, color) = match status.replication_lag_ms {
        Some(ms) => (text::duration(ms), if status.errors.is_empty() { Tone::Default } else { Tone::Warning }),
        None => ("never replicated".to_string(), Tone::Attention),
    };
    let errors = match status.errors.len() {
        0 => "no errors".to_string(),
        1 => format!("1 error, {failing} assets"),
        n => format!("{n} errors, {failing} assets"),
    };
    view.tiles.push(views::Tile {
        label: "Managed DR lag".into(),
        value,
        color,
        note: format!("{} · {errors}", status.replication_state),
    });
    for error in &status.errors {
        let by_type: Vec<String> =
            error.affected.iter().map(|a| format!("{} {}", a.failing_count, a.asset_type.to_lowercase())).collect();
        view.unreplicable.push(views::UnreplicableRow {
            category: format!("managed DR: {}", error.error_class),
            count: error.failing(),
            examples: by_type.join(", "),
            reason: error.message.clone(),
        });
    }
    if status.replication_lag_ms.is_none() {
        at_risk(
            view,
            "Managed DR has never replicated at least one asset of the failover group (its lag is null).".into(),
        );
    }
    if !status.errors.is_empty() {
        let classes: Vec<&str> = status.errors.iter().map(|e| e.error_class.as_str()).collect();
        let reason = if status.replication_state == "REPLICATING" {
            format!(
                "Managed DR cannot replicate {failing} assets ({}): they fall behind while the rest replicates.",
                classes.join(", ")
            )
        } else {
            // Outside replication, the errors are what failed the operation.
            format!("Managed DR's last operation ({}) failed: {}.", status.replication_state, classes.join(", "))
        };
        at_risk(view, reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::databricks::replication_states::{AffectedAssets, ReplicationError};

    fn view() -> views::DashboardView {
        let sample = include_str!("../../adaptive-cards/samples/dashboard.json");
        let mut view: views::DashboardView = serde_json::from_str(sample).unwrap();
        view.overall.label = "Ready".into();
        view.unreplicable.clear();
        view
    }

    #[test]
    fn the_lag_and_each_error_with_its_asset_counts_are_shown() {
        let mut v = view();
        let status = ReplicationStatus {
            event_time: None,
            replication_state: "REPLICATING".into(),
            replication_lag_ms: Some(90_000),
            errors: vec![ReplicationError {
                error_class: "ROW_FILTER_NOT_SUPPORTED".into(),
                message: "tables with row filters cannot be replicated".into(),
                affected: vec![
                    AffectedAssets { asset_type: "TABLE".into(), failing_count: 3 },
                    AffectedAssets { asset_type: "VIEW".into(), failing_count: 1 },
                ],
            }],
            effective_primary_region: "westeurope".into(),
        };
        let reading = ManagedReading { status: Ok(Some(status)), scope: None, models: Ok(Vec::new()) };
        fold_managed(&mut v, &reading, None);
        let tile = v.tiles.last().unwrap();
        assert_eq!((tile.label.as_str(), tile.value.as_str()), ("Managed DR lag", text::duration(90_000).as_str()));
        assert_eq!(tile.note, "REPLICATING · 1 error, 4 assets");
        let row = &v.unreplicable[0];
        assert_eq!((row.count, row.examples.as_str()), (4, "3 table, 1 view"));
        assert_eq!(v.overall.label, "At risk");
        assert!(v.overall.summary.contains("ROW_FILTER_NOT_SUPPORTED"), "{}", v.overall.summary);
    }

    #[test]
    fn a_managed_pair_s_overview_row_has_the_same_columns_in_managed_dr_s_terms() {
        let drbot_row = || {
            (
                0,
                60_000,
                cards::PairRow {
                    name: "sales".into(),
                    replicated_by: "drbot".into(),
                    verdict: "Ready".into(),
                    tone: Tone::Good,
                    worst_rpo: "1 min".into(),
                    drift: "0 objects".into(),
                    last_run: "never".into(),
                },
            )
        };
        let point = chrono::DateTime::from_timestamp_millis(1_800_000_000_000).unwrap();
        let group: FailoverGroup = serde_json::from_value(serde_json::json!({
            "name": "accounts/a/failover-groups/sales-dr", "state": "ACTIVE",
            "effective_primary_region": "westeurope", "replication_point": point.to_rfc3339(), "etag": "1"
        }))
        .unwrap();
        let now = 1_800_000_000_000 + 7 * 60_000;
        let mut row = drbot_row();
        let managed = ManagedSummary { group_id: "sales-dr".into(), group: Ok(group.clone()), status: None };
        managed_row(&mut row, &managed, now);
        assert_eq!(row.2.replicated_by, "managed DR (sales-dr)");
        assert_eq!((row.1, row.2.worst_rpo.clone()), (7 * 60_000, text::duration(7 * 60_000)));
        assert_eq!(row.2.last_run, format!("ACTIVE, replicated {} ago", text::duration(7 * 60_000)));
        assert_eq!((row.0, row.2.verdict.as_str()), (0, "Ready"));

        let failing = ReplicationStatus {
            event_time: None,
            replication_state: "REPLICATING".into(),
            replication_lag_ms: Some(1),
            errors: vec![ReplicationError {
                error_class: "X".into(),
                message: String::new(),
                affected: vec![AffectedAssets { asset_type: "TABLE".into(), failing_count: 2 }],
            }],
            effective_primary_region: "westeurope".into(),
        };
        let mut row = drbot_row();
        let managed = ManagedSummary { group_id: "sales-dr".into(), group: Ok(group), status: Some(failing) };
        managed_row(&mut row, &managed, now);
        assert_eq!((row.0, row.2.verdict.as_str()), (1, "At risk"));
        assert!(row.2.last_run.ends_with("managed DR cannot replicate 2 assets"), "{}", row.2.last_run);
        let mut row = drbot_row();
        managed_row(&mut row, &ManagedSummary { group_id: "g".into(), group: Err("no".into()), status: None }, now);
        assert_eq!((row.0, row.2.last_run.as_str()), (1, "managed DR unread · its failover group could not be read"));
    }

    #[test]
    fn what_managed_dr_leaves_out_is_listed_by_kind() {
        let mut v = view();
        let scope = Inventory {
            materialized_views: vec!["main.s.mv1".into(), "main.s.mv2".into()],
            streaming_tables: Vec::new(),
            managed_volumes: vec!["main.s.files".into()],
            schemas: Vec::new(),
        };
        let reading = ManagedReading { status: Ok(None), scope: Some(scope), models: Ok(vec!["main.s.churn".into()]) };
        fold_managed(&mut v, &reading, None);
        let categories: Vec<&str> = v.unreplicable.iter().map(|r| r.category.as_str()).collect();
        assert_eq!(
            categories,
            [
                "not covered by managed DR: materialized views",
                "not covered by managed DR: managed volume files",
                "not covered by managed DR: registered models"
            ]
        );
        assert_eq!(v.unreplicable[0].examples, "main.s.mv1, main.s.mv2");
        assert!(v.overall.more_reasons.iter().any(|r| r.contains("no event")), "{:?}", v.overall.more_reasons);
    }
}
