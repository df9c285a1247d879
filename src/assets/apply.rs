//! Applying an asset plan: every item ends with one result, stage by stage
//! (what others refer to first: folders before the notebooks in them,
//! policies before the clusters under them, warehouses before the queries
//! on them, queries before their alerts; see [`Stage::after`]). Stages that
//! do not depend on each other run side by side, and within a stage each
//! kind applies its items a few at a time ([`AssetKind::concurrency`]),
//! beside the others: a workspace's notebooks and its jobs go to different
//! endpoints, each with its own rate limit, so neither waits for the other.
//!
//! Unchanged and blocked items are results without a call. An item an
//! earlier attempt of the same run finished (`done`, from the run history)
//! is done without a call: that is how a run resumed after a crash or a
//! takeover carries on instead of starting over. Every apply is idempotent
//! anyway, so an item that finished but was not yet recorded is simply
//! applied again. A failure is that item's result; the others go on.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::{join_all, BoxFuture};
use futures::stream::{self, StreamExt};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::kind::{ApplyError, AssetContext, AssetKind, Stage};
use super::plan::{AssetPlan, Change, ItemOutcome, ItemResult, PlanItem};

/// What a run reports as it goes (progress cards, the run history).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssetEvent {
    Started { id: String, name: String },
    Finished(ItemResult),
}

/// The kind that owns items of `item_kind`.
pub fn owner<'k>(kinds: &[&'k dyn AssetKind], item_kind: &str) -> Option<&'k dyn AssetKind> {
    kinds.iter().find(|kind| kind.owns(item_kind)).copied()
}

/// The plan's item indices by stage, then by kind (an item no kind owns
/// fails at once, in the first stage).
fn stages(plan: &AssetPlan, kinds: &[&dyn AssetKind]) -> BTreeMap<Stage, BTreeMap<String, Vec<usize>>> {
    let mut stages: BTreeMap<Stage, BTreeMap<String, Vec<usize>>> = BTreeMap::new();
    for (index, item) in plan.items.iter().enumerate() {
        let kind = owner(kinds, &item.kind);
        let stage = kind.map_or(Stage::Containers, |kind| kind.stage(item));
        let lane = kind.map_or(item.kind.clone(), |kind| kind.name().to_string());
        stages.entry(stage).or_default().entry(lane).or_default().push(index);
    }
    stages
}

/// Applies `plan` with the kinds that made it, stage by stage; one result
/// per item, in the plan's order.
pub async fn apply(
    plan: &AssetPlan,
    kinds: &[&dyn AssetKind],
    ctx: &AssetContext<'_>,
    done: &BTreeSet<String>,
    cancel: &CancellationToken,
    events: &UnboundedSender<AssetEvent>,
) -> Vec<ItemResult> {
    let mut by_stage = stages(plan, kinds);
    // Each stage says when it is through; a stage waits for those it comes after.
    let signals: BTreeMap<Stage, (watch::Sender<bool>, watch::Receiver<bool>)> =
        Stage::ALL.iter().map(|stage| (*stage, watch::channel(false))).collect();
    let mut runs: Vec<BoxFuture<'_, Vec<(usize, ItemResult)>>> = Vec::new();
    for stage in Stage::ALL {
        let lanes = by_stage.remove(&stage).unwrap_or_default();
        let waits: Vec<watch::Receiver<bool>> = stage.after().iter().map(|s| signals[s].1.clone()).collect();
        let through = signals[&stage].0.clone();
        runs.push(Box::pin(async move {
            for mut wait in waits {
                let _ = wait.wait_for(|through| *through).await;
            }
            let lanes = lanes.into_values().map(|indices| lane(plan, kinds, ctx, done, cancel, events, indices));
            let finished: Vec<(usize, ItemResult)> = join_all(lanes).await.into_iter().flatten().collect();
            let _ = through.send(true);
            finished
        }));
    }
    let mut results: Vec<Option<ItemResult>> = vec![None; plan.items.len()];
    for (index, result) in join_all(runs).await.into_iter().flatten() {
        results[index] = Some(result);
    }
    results.into_iter().flatten().collect()
}

/// One kind's items of one stage, as many at once as the kind takes.
fn lane<'a>(
    plan: &'a AssetPlan,
    kinds: &'a [&'a dyn AssetKind],
    ctx: &'a AssetContext<'a>,
    done: &'a BTreeSet<String>,
    cancel: &'a CancellationToken,
    events: &'a UnboundedSender<AssetEvent>,
    indices: Vec<usize>,
) -> BoxFuture<'a, Vec<(usize, ItemResult)>> {
    let concurrency = indices.first().and_then(|i| owner(kinds, &plan.items[*i].kind)).map_or(1, |k| k.concurrency());
    // Boxed one by one (not a closure over the items): the run is awaited
    // from a Send context, which a closure taking a reference trips up.
    let mut runs: Vec<BoxFuture<'a, (usize, ItemResult)>> = Vec::with_capacity(indices.len());
    for index in indices {
        let item = &plan.items[index];
        let kind = owner(kinds, &item.kind);
        runs.push(Box::pin(async move {
            let outcome = apply_one(kind, ctx, item, done, cancel, events).await;
            let result = ItemResult { id: item.id(), kind: item.kind.clone(), name: item.name.clone(), outcome };
            let _ = events.send(AssetEvent::Finished(result.clone()));
            (index, result)
        }));
    }
    Box::pin(stream::iter(runs).buffer_unordered(concurrency.max(1)).collect())
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
        Ok(()) => match &item.held_back {
            Some(reason) => ItemOutcome::Blocked(reason.clone()),
            None => ItemOutcome::Done,
        },
        Err(ApplyError::Blocked(reason)) => ItemOutcome::Blocked(reason),
        Err(ApplyError::Failed(error)) => ItemOutcome::Failed(error),
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
        /// Keys starting `first` are containers, the others their contents.
        fn stage(&self, item: &PlanItem) -> Stage {
            match item.key.starts_with("first") {
                true => Stage::Containers,
                false => Stage::Contents,
            }
        }
        fn plan<'a>(&'a self, _ctx: &'a AssetContext<'a>) -> BoxFuture<'a, Result<Vec<PlanItem>, String>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn apply<'a>(
            &'a self,
            _ctx: &'a AssetContext<'a>,
            item: &'a PlanItem,
        ) -> BoxFuture<'a, Result<(), ApplyError>> {
            Box::pin(async move {
                self.applied.lock().unwrap().push(item.key.clone());
                match self.failing.contains(&item.key.as_str()) {
                    true => Err(ApplyError::Failed("boom".into())),
                    false => Ok(()),
                }
            })
        }
    }

    fn item(kind: &str, key: &str, change: Change) -> PlanItem {
        PlanItem { payload: Value::Null, ..PlanItem::named(kind, key, change) }
    }

    fn context(tokens: &FixedToken) -> AssetContext<'_> {
        let client = WorkspaceClient::new(reqwest::Client::new(), "http://127.0.0.1:9");
        AssetContext {
            pair: "default".into(),
            primary: client.clone(),
            secondary: client,
            tokens,
            mapping: AssetMapping::default(),
            options: Default::default(),
            store: None,
            principals: Default::default(),
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

    /// Notebooks (contents) wait for a signal only a job gives: they finish
    /// only if jobs run beside them rather than after them.
    struct Gate {
        notebooks_may_finish: tokio::sync::Notify,
    }

    impl AssetKind for Gate {
        fn name(&self) -> &'static str {
            "gate"
        }
        fn owns(&self, item_kind: &str) -> bool {
            matches!(item_kind, "notebook" | "job")
        }
        fn stage(&self, item: &PlanItem) -> Stage {
            match item.kind.as_str() {
                "job" => Stage::Jobs,
                _ => Stage::Contents,
            }
        }
        fn plan<'a>(&'a self, _ctx: &'a AssetContext<'a>) -> BoxFuture<'a, Result<Vec<PlanItem>, String>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn apply<'a>(
            &'a self,
            _ctx: &'a AssetContext<'a>,
            item: &'a PlanItem,
        ) -> BoxFuture<'a, Result<(), ApplyError>> {
            Box::pin(async move {
                match item.kind.as_str() {
                    "job" => self.notebooks_may_finish.notify_one(),
                    _ => {
                        let waited = tokio::time::timeout(
                            std::time::Duration::from_secs(60),
                            self.notebooks_may_finish.notified(),
                        );
                        waited.await.map_err(|_| ApplyError::Failed("jobs did not run beside notebooks".into()))?;
                    }
                }
                Ok(())
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stages_that_do_not_depend_on_each_other_run_side_by_side() {
        let kind = Gate { notebooks_may_finish: tokio::sync::Notify::new() };
        let tokens = FixedToken(AccessToken::new("t"));
        let ctx = context(&tokens);
        let plan = AssetPlan { items: vec![item("notebook", "nb", Change::Create), item("job", "j", Change::Create)] };
        let (tx, _rx) = mpsc::unbounded_channel();
        let results = apply(&plan, &[&kind], &ctx, &BTreeSet::new(), &CancellationToken::new(), &tx).await;
        assert!(results.iter().all(|r| r.outcome == ItemOutcome::Done), "{results:?}");
        assert!(Stage::Jobs.after().iter().all(|s| *s != Stage::Contents));
    }

    #[tokio::test]
    async fn a_stage_is_applied_whole_before_the_next_and_results_keep_the_plans_order() {
        let kind = Recorder { applied: Mutex::new(Vec::new()), failing: vec![] };
        let tokens = FixedToken(AccessToken::new("t"));
        let ctx = context(&tokens);
        let later: Vec<PlanItem> = (0..6).map(|i| item("thing", &format!("later{i}"), Change::Create)).collect();
        let first: Vec<PlanItem> = (0..6).map(|i| item("thing", &format!("first{i}"), Change::Create)).collect();
        let plan = AssetPlan { items: [later, first].concat() };
        let (tx, _rx) = mpsc::unbounded_channel();
        let results = apply(&plan, &[&kind], &ctx, &BTreeSet::new(), &CancellationToken::new(), &tx).await;
        let ids: Vec<String> = results.iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids, plan.items.iter().map(PlanItem::id).collect::<Vec<_>>());
        let applied = kind.applied.lock().unwrap().clone();
        assert_eq!(applied.len(), 12);
        assert!(applied[..6].iter().all(|key| key.starts_with("first")), "{applied:?}");
    }
}
