//! The one lifecycle every long-running operation goes through.
//!
//! An operation row is created by the command that starts it (with a lease
//! held by this instance); from there the engine:
//!
//! 1. runs it through its registered [`OperationKind`], renewing the lease a
//!    third of its length at a time and passing a cancel asked for in the
//!    store on to the kind;
//! 2. keeps its card current ([`LiveCard`]: the kind shows progress, the
//!    engine coalesces the writes) and stores checkpoints the kind hands it;
//! 3. records the outcome (only the lease holder can) and an audit entry;
//! 4. delivers the final card through an outbox on the operation row: the
//!    card is kept in the row, delivery is claimed for a while, the card is
//!    written, and the row is marked. The card replaces the operation's own
//!    card (an update of a message whose id is known before any send), so a
//!    delivery repeated after a crash at any point shows the same one card.
//!
//! [`Engine::supervise`] runs on every instance: it takes over operations
//! whose holder died (their lease ran out) and delivers final cards that were
//! never marked delivered. It knows no kind by name: kinds are registered.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::fault;
use super::kind::{failure, Ending, OperationKind, Registered};
use super::live_card::{self, CardAddress, LiveCard};
use super::running::{now_ms, Running, Stops};
use crate::botframework::activity::{Activity, ActivityType, Attachment};
use crate::botframework::connector::{ConnectorClient, ConnectorError};
use crate::config::OperationsConfig;
use crate::store::audit::AuditEntry;
use crate::store::operations::{Kind, Lease, NewOperation, Operation, Outcome};
use crate::store::{Store, StoreError};

/// How many ended operations one look delivers final cards for.
/// How many orphans one look claims: every one claimed is run, and the
/// rest are left for the next look (this instance's or another's).
const ORPHAN_BATCH: usize = 20;
const FINAL_BATCH: i64 = 20;

/// What the engine needs from the rest of the bot.
pub struct EngineParts {
    pub store: Store,
    pub connector: Arc<ConnectorClient>,
    /// This process, as the store's leases name it.
    pub instance_id: String,
    pub settings: OperationsConfig,
    /// Where runs are spawned (the bot waits for them on shutdown).
    pub tasks: TaskTracker,
    /// Cancelled when the process shuts down.
    pub stopping: CancellationToken,
}

/// Runs operations of every registered kind.
pub struct Engine {
    parts: EngineParts,
    kinds: RwLock<BTreeMap<Kind, Arc<dyn Registered>>>,
    /// Operations this process is running now. A lease that lapsed while its
    /// holder was slow (a loaded machine) can be claimed back by the same
    /// instance's supervisor: that must not start the work a second time.
    running: Arc<Mutex<BTreeSet<String>>>,
}

impl Engine {
    pub fn new(parts: EngineParts) -> Arc<Engine> {
        Arc::new(Engine { parts, kinds: RwLock::new(BTreeMap::new()), running: Default::default() })
    }

    /// Makes operations of kind `K` runnable (and resumable) here.
    pub fn register<K: OperationKind>(&self, kind: K) {
        self.kinds.write().unwrap_or_else(|e| e.into_inner()).insert(K::KIND, Arc::new(kind));
    }

    fn kind(&self, kind: Kind) -> Option<Arc<dyn Registered>> {
        self.kinds.read().unwrap_or_else(|e| e.into_inner()).get(&kind).cloned()
    }

    fn lease_ms(&self) -> i64 {
        (self.parts.settings.lease_secs * 1000) as i64
    }

    /// Creates the operation, held by this instance, and runs it in the
    /// background; or returns the one already created with the same
    /// idempotency key (a double click), and runs nothing. The flag is true
    /// when this call created it.
    pub async fn start(self: &Arc<Self>, new: &NewOperation) -> Result<(Operation, bool), StoreError> {
        let store = &self.parts.store;
        let (op, created) = store.create_operation(new, &self.parts.instance_id, now_ms(), self.lease_ms()).await?;
        if created {
            self.spawn(op.clone());
        }
        Ok((op, created))
    }

    /// Runs `op` (just created, or taken over) in the background.
    fn spawn(self: &Arc<Self>, op: Operation) {
        let engine = self.clone();
        self.parts.tasks.spawn(async move { engine.drive(op).await });
    }

    /// Runs `op` to its end here, or until this instance lets go of it.
    async fn drive(self: Arc<Self>, op: Operation) {
        let Some(kind) = self.kind(op.kind) else {
            tracing::warn!(operation = %op.id, kind = %op.kind, "an operation of a kind this build does not run");
            return;
        };
        let Some(_here) = RunningHere::enter(&self.running, &op.id) else {
            // Claimed back by this instance while it still runs it: the run
            // goes on, and its lease is live again.
            return;
        };
        let live = card_address(&op).map(|address| {
            let interval = Duration::from_millis(self.parts.settings.card_update_interval_ms);
            LiveCard::start(self.parts.connector.clone(), address, interval)
        });
        let running = Running {
            store: self.parts.store.clone(),
            instance_id: self.parts.instance_id.clone(),
            stopping: self.parts.stopping.clone(),
            id: op.id.clone(),
            detached: kind.detached(),
            cancel: CancellationToken::new(),
            lost: CancellationToken::new(),
            live,
        };
        if op.cancel_requested {
            running.cancel.cancel();
        }
        let keeper = tokio::spawn(self.clone().keep_lease(op.id.clone(), running.stops()));
        let ending = kind.run(&op, &running).await;
        keeper.abort();
        let Running { lost, live, .. } = running;
        let (outcome, result) = match ending {
            _ if lost.is_cancelled() => {
                tracing::warn!(operation = %op.id, kind = %op.kind, "lease lost: leaving the operation to its new owner");
                return;
            }
            Ok(Ending::LetGo) => {
                tracing::warn!(operation = %op.id, kind = %op.kind, "leaving the operation to the next owner");
                return;
            }
            Ok(Ending::Finished { outcome, result }) => (outcome, result),
            Err(problem) => {
                tracing::warn!(operation = %op.id, kind = %op.kind, %problem, "the operation could not run");
                (Outcome::Failed, failure(&problem))
            }
        };
        let store = &self.parts.store;
        match store.finish_operation(&op.id, &self.parts.instance_id, outcome.into(), &result, now_ms()).await {
            Ok(true) => {
                self.audit_end(&op, outcome).await;
                self.deliver_final(&op.id, live).await;
            }
            Ok(false) => tracing::warn!(operation = %op.id, "ended elsewhere: the outcome here is not recorded"),
            Err(error) => tracing::error!(operation = %op.id, %error, "outcome not recorded; the lease runs out"),
        }
    }

    /// Renews the lease of `id` a third of its length at a time, and passes
    /// on a cancel asked for in the store and a lost lease.
    async fn keep_lease(self: Arc<Self>, id: String, stops: Stops) {
        let lease_ms = self.lease_ms();
        let every = Duration::from_millis((lease_ms / 3).max(50) as u64);
        loop {
            tokio::time::sleep(every).await;
            let renewed =
                self.parts.store.renew_operation_lease(&id, &self.parts.instance_id, now_ms(), lease_ms).await;
            match renewed {
                Ok(Lease::Held { cancel_requested: true }) => stops.cancel.cancel(),
                Ok(Lease::Held { cancel_requested: false }) => {}
                Ok(Lease::Lost) => return stops.lose(),
                Err(error) => tracing::warn!(operation = %id, %error, "lease not renewed"),
            }
        }
    }

    /// Who started it, what it was, how it ended.
    async fn audit_end(&self, op: &Operation, outcome: Outcome) {
        let entry = AuditEntry {
            id: uuid::Uuid::new_v4().to_string(),
            at_ms: now_ms(),
            actor_oid: op.started_by_oid.clone(),
            actor_upn: op.started_by_upn.clone(),
            action: format!("{} ended", op.kind),
            target: Some(op.id.clone()),
            result: outcome.as_str().to_string(),
            correlation_id: None,
        };
        if let Err(error) = self.parts.store.append_audit(&entry).await {
            tracing::error!(operation = %op.id, %error, "audit entry not written");
        }
    }

    /// Delivers the final card of an ended operation unless it is known to
    /// be delivered: kept, claimed, written, marked. `live` is the progress
    /// card's writer when the run ended in this process (the final card goes
    /// after its last progress update).
    pub(crate) async fn deliver_final(&self, id: &str, live: Option<LiveCard>) {
        let store = &self.parts.store;
        let op = match store.operation(id).await {
            Ok(Some(op)) if op.state.is_terminal() && !op.final_posted => op,
            Ok(_) => return,
            Err(error) => return tracing::error!(operation = id, %error, "final card not checked"),
        };
        let Some(kind) = self.kind(op.kind) else { return };
        let card = match store.final_card(id).await {
            Ok(Some(card)) => card,
            Ok(None) => {
                let card = match kind.result_card(&op).await {
                    Ok(card) => card,
                    Err(problem) => crate::cards::error(&format!("The result could not be shown: {problem}"), id),
                };
                match store.keep_final_card(id, &card).await {
                    Ok(kept) => kept.unwrap_or(card),
                    Err(error) => return tracing::error!(operation = id, %error, "final card not kept"),
                }
            }
            Err(error) => return tracing::error!(operation = id, %error, "final card not read"),
        };
        if card.is_null() {
            // The kind has nothing to say (work nobody waits on that went
            // well): delivered, with nothing written.
            if let Err(error) = store.mark_final_posted(id, now_ms()).await {
                tracing::error!(operation = id, %error, "final card not marked delivered");
            }
            drop(live);
            return;
        }
        fault::point("final.before_claim");
        match store.claim_final_post(id, now_ms(), self.lease_ms()).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => return tracing::error!(operation = id, %error, "final card not claimed"),
        }
        fault::point("final.after_claim");
        if let Err(error) = self.write_final(&op, card, live).await {
            // The claim runs out and the supervisor delivers it again.
            return tracing::error!(operation = id, %error, "final card not delivered");
        }
        fault::point("final.after_send");
        if let Err(error) = store.mark_final_posted(id, now_ms()).await {
            tracing::error!(operation = id, %error, "final card not marked delivered; it is written again");
        }
    }

    /// Writes the final card in place of the operation's own card. Without
    /// one (a click that named no card) it is posted as a new message: then a
    /// crash between the post and its mark posts it twice.
    async fn write_final(&self, op: &Operation, card: Value, live: Option<LiveCard>) -> Result<(), ConnectorError> {
        if let Some(live) = live {
            return live.finish(card).await;
        }
        if let Some(address) = card_address(op) {
            return live_card::write(&self.parts.connector, &address, card).await.map(drop);
        }
        let Some(service_url) = op.payload["service_url"].as_str() else {
            return Err(ConnectorError::Unreachable("the operation names no service URL".into()));
        };
        let mut message = Activity::new(ActivityType::Message);
        message.attachments.push(Attachment::adaptive_card(card));
        self.parts.connector.send(service_url, &op.conversation_id, &message).await.map(drop)
    }

    /// Runs until `stop`: takes over orphaned operations, delivers final
    /// cards nobody marked delivered. Every instance looks a few times per
    /// lease length; the store hands each orphan to exactly one of them.
    pub async fn supervise(self: Arc<Self>, stop: CancellationToken) {
        let every = Duration::from_millis((self.lease_ms() / 2).clamp(50, 10_000) as u64);
        loop {
            self.look_once().await;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    async fn look_once(self: &Arc<Self>) {
        let store = &self.parts.store;
        match store.claim_orphans(&self.parts.instance_id, now_ms(), self.lease_ms(), ORPHAN_BATCH).await {
            Ok(orphans) => {
                for op in orphans {
                    tracing::info!(operation = %op.id, takeovers = op.takeovers, "taking over a {}", op.kind);
                    self.spawn(op);
                }
            }
            Err(error) => tracing::warn!(%error, "orphaned operations not checked"),
        }
        match store.operations_awaiting_final_post(FINAL_BATCH).await {
            Ok(ended) => {
                for op in ended {
                    self.deliver_final(&op.id, None).await;
                }
            }
            Err(error) => tracing::warn!(%error, "undelivered final cards not checked"),
        }
    }
}

/// An operation's place in [`Engine::running`], given up when the run ends.
struct RunningHere {
    running: Arc<Mutex<BTreeSet<String>>>,
    id: String,
}

impl RunningHere {
    /// `None` if this process already runs `id`.
    fn enter(running: &Arc<Mutex<BTreeSet<String>>>, id: &str) -> Option<RunningHere> {
        let entered = running.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string());
        entered.then(|| RunningHere { running: running.clone(), id: id.to_string() })
    }
}

impl Drop for RunningHere {
    fn drop(&mut self) {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

/// The operation's own card: the clicked card that shows its progress.
fn card_address(op: &Operation) -> Option<CardAddress> {
    Some(CardAddress {
        service_url: op.payload["service_url"].as_str()?.to_string(),
        conversation_id: op.conversation_id.clone(),
        activity_id: op.card_activity_id.clone()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_runs_once_per_process_until_its_run_ends() {
        let running = Arc::new(Mutex::new(BTreeSet::new()));
        let first = RunningHere::enter(&running, "op-1").expect("not running yet");
        assert!(RunningHere::enter(&running, "op-1").is_none(), "claimed back while running: not started again");
        assert!(RunningHere::enter(&running, "op-2").is_some(), "another operation runs beside it");
        drop(first);
        assert!(RunningHere::enter(&running, "op-1").is_some(), "taken over again after its run ended");
    }
}
