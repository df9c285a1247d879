//! Applying an asset plan: every item ends with one result, in the plan's
//! order, a few at a time.
//!
//! Unchanged and blocked items are results without a call. An item an
//! earlier attempt of the same run finished (`done`, from the run history)
//! is done without a call: that is how a run resumed after a crash or a
//! takeover carries on instead of starting over. Every apply is idempotent
//! anyway, so an item that finished but was not yet recorded is simply
//! applied again. A failure is that item's result; the others go on.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::kind::{AssetContext, AssetKind};
use super::plan::{AssetPlan, Change, ItemOutcome, ItemResult, PlanItem};

/// What a run reports as it goes (progress cards, the run history).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssetEvent {
    Started { id: String, name: String },
    Finished(ItemResult),
}

/// How many items are applied at once: Databricks' per-workspace REST
/// limits (tens of requests a second per endpoint) leave room for a few, and
/// the client's retry honours `Retry-After` when the limit is met.
pub const CONCURRENCY: usize = 4;

/// Applies `plan` with the kinds that made it; one result per item, in the
/// plan's order.
pub async fn apply(
    plan: &AssetPlan,
    kinds: &[&dyn AssetKind],
    ctx: &AssetContext<'_>,
    done: &BTreeSet<String>,
    cancel: &CancellationToken,
    events: &UnboundedSender<AssetEvent>,
) -> Vec<ItemResult> {
    let by_name: BTreeMap<&str, &dyn AssetKind> = kinds.iter().map(|k| (k.name(), *k)).collect();
    // Boxed one by one (not a closure over the items): the run is awaited
    // from a Send context, which a closure taking a reference trips up.
    let mut runs: Vec<BoxFuture<'_, ItemResult>> = Vec::with_capacity(plan.items.len());
    for item in &plan.items {
        let kind = by_name.get(item.kind.as_str()).copied();
        runs.push(Box::pin(async move {
            let outcome = apply_one(kind, ctx, item, done, cancel, events).await;
            let result = ItemResult { id: item.id(), kind: item.kind.clone(), name: item.name.clone(), outcome };
            let _ = events.send(AssetEvent::Finished(result.clone()));
            result
        }));
    }
    // `buffered` keeps the plan's order while running a few at once.
    stream::iter(runs).buffered(CONCURRENCY).collect().await
}

async fn apply_one(
    kind: Option<&dyn AssetKind>,
    ctx: &AssetContext<'_>,
    item: &PlanItem,
    done: &BTreeSet<String>,
    cancel: &CancellationToken,
    events: &UnboundedSender<AssetEvent>,
) -> ItemOutcome {
    match &item.change {
        Change::Unchanged => return ItemOutcome::Unchanged,
        Change::Blocked { reason } => return ItemOutcome::Blocked(reason.clone()),
        Change::Create | Change::Update { .. } => {}
    }
    if done.contains(&item.id()) {
        return ItemOutcome::Done;
    }
    if cancel.is_cancelled() {
        return ItemOutcome::Canceled;
    }
    let Some(kind) = kind else {
        return ItemOutcome::Failed(format!("this build has no asset kind `{}`", item.kind));
    };
    let _ = events.send(AssetEvent::Started { id: item.id(), name: item.name.clone() });
    match kind.apply(ctx, item).await {
        Ok(()) => ItemOutcome::Done,
        Err(error) => ItemOutcome::Failed(error),
    }
}

/// How many results ended each way (`done`, `unchanged`, …).
pub fn tally(results: &[ItemResult]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for result in results {
        *counts.entry(result.outcome.label()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures::future::BoxFuture;
    use serde_json::Value;
    use tokio::sync::mpsc;

    use super::*;
    use crate::assets::mapping::AssetMapping;
    use crate::databricks::WorkspaceClient;
    use crate::identity::AccessToken;
    use crate::replication::workspaces::FixedToken;

    /// Applies by recording the key; fails the keys it is told to.
    struct Recorder {
        applied: Mutex<Vec<String>>,
        failing: Vec<&'static str>,
    }

    impl AssetKind for Recorder {
        fn name(&self) -> &'static str {
            "thing"
        }
        fn plan<'a>(&'a self, _ctx: &'a AssetContext<'a>) -> BoxFuture<'a, Result<Vec<PlanItem>, String>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn apply<'a>(&'a self, _ctx: &'a AssetContext<'a>, item: &'a PlanItem) -> BoxFuture<'a, Result<(), String>> {
            Box::pin(async move {
                self.applied.lock().unwrap().push(item.key.clone());
                match self.failing.contains(&item.key.as_str()) {
                    true => Err("boom".into()),
                    false => Ok(()),
                }
            })
        }
    }

    fn item(kind: &str, key: &str, change: Change) -> PlanItem {
        PlanItem { kind: kind.into(), key: key.into(), name: key.into(), change, payload: Value::Null }
    }

    fn context(tokens: &FixedToken) -> AssetContext<'_> {
        let client = WorkspaceClient::new(reqwest::Client::new(), "http://127.0.0.1:9");
        AssetContext {
            pair: "default".into(),
            primary: client.clone(),
            secondary: client,
            tokens,
            mapping: AssetMapping::default(),
            store: None,
        }
    }

    #[tokio::test]
    async fn every_item_has_one_result_and_nothing_is_skipped_silently() {
        let kind = Recorder { applied: Mutex::new(Vec::new()), failing: vec!["bad"] };
        let tokens = FixedToken(AccessToken::new("t"));
        let ctx = context(&tokens);
        let plan = AssetPlan {
            items: vec![
                item("thing", "new", Change::Create),
                item("thing", "same", Change::Unchanged),
                item("thing", "stuck", Change::Blocked { reason: "no mapping for x".into() }),
                item("thing", "bad", Change::Update { fields: vec!["a".into()] }),
                item("thing", "earlier", Change::Create),
                item("gadget", "unknown", Change::Create),
            ],
        };
        let done = BTreeSet::from(["thing:earlier".to_string()]);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let results = apply(&plan, &[&kind], &ctx, &done, &CancellationToken::new(), &tx).await;
        let outcomes: Vec<(String, ItemOutcome)> = results.into_iter().map(|r| (r.id, r.outcome)).collect();
        assert_eq!(
            outcomes,
            vec![
                ("thing:new".into(), ItemOutcome::Done),
                ("thing:same".into(), ItemOutcome::Unchanged),
                ("thing:stuck".into(), ItemOutcome::Blocked("no mapping for x".into())),
                ("thing:bad".into(), ItemOutcome::Failed("boom".into())),
                ("thing:earlier".into(), ItemOutcome::Done),
                ("gadget:unknown".into(), ItemOutcome::Failed("this build has no asset kind `gadget`".into())),
            ]
        );
        let mut applied = kind.applied.lock().unwrap().clone();
        applied.sort();
        assert_eq!(applied, vec!["bad", "new"], "the earlier attempt's item is not applied again");
        let mut finished = 0;
        while let Ok(event) = rx.try_recv() {
            finished += matches!(event, AssetEvent::Finished(_)) as usize;
        }
        assert_eq!(finished, 6);
    }

    #[tokio::test]
    async fn a_cancelled_run_applies_nothing_more() {
        let kind = Recorder { applied: Mutex::new(Vec::new()), failing: vec![] };
        let tokens = FixedToken(AccessToken::new("t"));
        let ctx = context(&tokens);
        let plan = AssetPlan { items: vec![item("thing", "a", Change::Create), item("thing", "b", Change::Unchanged)] };
        let cancel = CancellationToken::new();
        cancel.cancel();
        let (tx, _rx) = mpsc::unbounded_channel();
        let results = apply(&plan, &[&kind], &ctx, &BTreeSet::new(), &cancel, &tx).await;
        assert_eq!(results[0].outcome, ItemOutcome::Canceled);
        assert_eq!(results[1].outcome, ItemOutcome::Unchanged);
        assert!(kind.applied.lock().unwrap().is_empty());
        assert_eq!(tally(&results).get("cancelled"), Some(&1));
    }
}
