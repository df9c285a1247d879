//! Workspace assets in a replication (`replicate PAIR --assets` or
//! `--assets-only`): planned beside the data as the person, shown on the same
//! plan card, run after the data in the same operation, each item's result
//! in the run history (so a resumed run skips what an earlier attempt did,
//! and the result card lists what failed or is blocked).

use std::collections::{BTreeMap, BTreeSet};

use tokio::sync::mpsc;

use super::actor::DatabricksTokens;
use super::error::TurnError;
use super::Bot;
use crate::assets::apply::AssetEvent;
use crate::assets::plan::{AssetPlan, Change, ItemResult};
use crate::assets::{history, kinds, run as asset_run, text, AssetContext, AssetOptions};
use crate::cards::views;
use crate::ops::Running;
use crate::pairs::Pair;
use crate::store::operations::Operation;

/// The plan card's heading for an asset item's change.
pub(crate) fn asset_label(item: &crate::assets::PlanItem) -> String {
    match item.change {
        Change::Create => format!("Create {}", item.kind),
        Change::Update { .. } => format!("Update {}", item.kind),
        Change::Unchanged => format!("Unchanged {}", item.kind),
        Change::Blocked { .. } => format!("Cannot copy {}", item.kind),
    }
}

/// The asset rows of a plan card: counts by heading, the differences, and
/// what is blocked with why.
pub(crate) fn plan_rows(
    plan: &AssetPlan,
) -> (Vec<views::KindCount>, Vec<views::PlannedAction>, Vec<views::BlockedAction>) {
    let mut summary: BTreeMap<String, u64> = BTreeMap::new();
    for item in plan.differences() {
        *summary.entry(asset_label(item)).or_default() += 1;
    }
    let summary = summary.into_iter().map(|(kind, count)| views::KindCount { kind, count }).collect();
    let actions = plan
        .differences()
        .map(|item| views::PlannedAction {
            kind: asset_label(item),
            object: item.name.clone(),
            detail: text::describe(item),
        })
        .collect();
    let blocked = plan
        .items
        .iter()
        .filter_map(|item| match (&item.change, &item.held_back) {
            // Blocked, or applied but for what it must leave out.
            (Change::Blocked { reason }, _) | (_, Some(reason)) => {
                Some(views::BlockedAction { object: format!("{} {}", item.kind, item.name), reason: reason.clone() })
            }
            _ => None,
        })
        .collect();
    (summary, actions, blocked)
}

impl Bot {
    /// The pair's context for asset kinds, as `tokens`' person.
    async fn asset_context<'a>(
        &self,
        pair: &Pair,
        tokens: &'a DatabricksTokens,
    ) -> Result<AssetContext<'a>, crate::store::StoreError> {
        let (primary, secondary) = self.pair_clients(pair);
        Ok(AssetContext {
            pair: pair.name.clone(),
            primary,
            secondary,
            tokens,
            mapping: self
                .services
                .store
                .asset_mapping(&pair.name)
                .await?
                .with_pair_warehouses(pair.primary_warehouse_id.as_deref(), pair.warehouse_id.as_deref()),
            options: AssetOptions::for_pair(pair.primary_warehouse_id.as_deref(), pair.warehouse_id.as_deref()),
            store: Some(self.services.store.clone()),
            principals: Default::default(),
        })
    }

    /// Reads both workspaces with every asset kind.
    pub(super) async fn plan_assets(&self, pair: &Pair, tokens: &DatabricksTokens) -> Result<AssetPlan, TurnError> {
        let ctx = self.asset_context(pair, tokens).await?;
        Ok(asset_run::plan(&kinds::registered(), &ctx).await)
    }

    /// Applies `plan` after the data, each result to the run history as it
    /// comes; `on_event` (an item started, an item's result) keeps the
    /// progress card current.
    pub(super) async fn run_assets(
        &self,
        op: &Operation,
        pair: &Pair,
        tokens: &DatabricksTokens,
        plan: &AssetPlan,
        running: &Running,
        mut on_event: impl FnMut(&AssetEvent),
    ) -> Result<Vec<ItemResult>, TurnError> {
        let store = &self.services.store;
        // What an earlier attempt of this run did is not done again.
        let done: BTreeSet<String> = store
            .run_results(&op.id, false, 0, i64::MAX)
            .await?
            .iter()
            .filter(|r| r.status == crate::store::runs::ResultStatus::Succeeded)
            .map(|r| history::item_id(&r.object_name).to_string())
            .collect();
        let ctx = self.asset_context(pair, tokens).await?;
        let kinds = kinds::registered();
        let (events, mut received) = mpsc::unbounded_channel();
        let cancel = running.cancel();
        let runner = asset_run::run(plan, &kinds, &ctx, &done, cancel, &events);
        tokio::pin!(runner);
        let record = |event: &AssetEvent| {
            let row = match event {
                AssetEvent::Finished(result) => history::object_result(&op.id, plan, result),
                AssetEvent::Started { .. } => None,
            };
            async move {
                if let Some(row) = row {
                    if let Err(error) = store.record_result(&row, super::now_ms()).await {
                        tracing::error!(operation = %op.id, %error, "asset result not recorded");
                    }
                }
            }
        };
        let results = loop {
            tokio::select! {
                results = &mut runner => break results,
                Some(event) = received.recv() => {
                    record(&event).await;
                    on_event(&event);
                }
            }
        };
        while let Ok(event) = received.try_recv() {
            record(&event).await;
            on_event(&event);
        }
        Ok(results)
    }
}
