//! One asset replication of a pair: every kind plans (reads both sides),
//! the plan is applied unless it is a dry run, and each kind records what
//! failover needs. A kind that cannot even read is one blocked item with
//! why, never a kind silently missing from the plan.

use std::collections::BTreeSet;

use futures::future::join_all;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::apply::{apply, owner, AssetEvent};
use super::kind::{AssetContext, AssetKind, Stage};
use super::plan::{AssetPlan, Change, ItemResult, PlanItem};

/// The key of the item standing for a kind that could not be read.
pub const UNREAD: &str = "*";

/// Reads both workspaces with every kind, into one plan, in the order it is
/// applied: stage by stage ([`Stage`]), kinds in the order given within one.
pub async fn plan(kinds: &[&dyn AssetKind], ctx: &AssetContext<'_>) -> AssetPlan {
    let planned = join_all(kinds.iter().map(|kind| kind.plan(ctx))).await;
    let mut items = Vec::new();
    for (kind, planned) in kinds.iter().zip(planned) {
        match planned {
            Ok(kind_items) => items.extend(kind_items),
            Err(error) => items.push(PlanItem {
                key: UNREAD.into(),
                name: format!("every {}", kind.name()),
                ..PlanItem::named(kind.name(), "", Change::Blocked { reason: format!("could not be read: {error}") })
            }),
        }
    }
    // Stable: within a stage, the kinds' own order (folders by depth).
    items.sort_by_key(|item| owner(kinds, &item.kind).map_or(Stage::Containers, |kind| kind.stage(item)));
    AssetPlan { items }
}

/// Applies `plan`, then lets each kind record what it read. A recording
/// that fails is reported as the kind's own failed result.
pub async fn run(
    plan: &AssetPlan,
    kinds: &[&dyn AssetKind],
    ctx: &AssetContext<'_>,
    done: &BTreeSet<String>,
    cancel: &CancellationToken,
    events: &UnboundedSender<AssetEvent>,
) -> Vec<ItemResult> {
    let mut results = apply(plan, kinds, ctx, done, cancel, events).await;
    for kind in kinds {
        let unread = plan.items.iter().any(|i| i.kind == kind.name() && i.key == UNREAD);
        if unread {
            continue;
        }
        if let Err(error) = kind.record(ctx, &plan.items, &results).await {
            let result = ItemResult {
                id: format!("{}:record", kind.name()),
                kind: kind.name().into(),
                name: format!("the primary's {} state, for failover", kind.name()),
                outcome: super::plan::ItemOutcome::Failed(format!("not recorded: {error}")),
            };
            let _ = events.send(AssetEvent::Finished(result.clone()));
            results.push(result);
        }
    }
    results
}
