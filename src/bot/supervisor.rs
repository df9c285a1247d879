//! Operations whose instance died: taken over and carried on, and final
//! cards that were never posted, posted.
//!
//! Every instance looks a few times per lease length; the store hands an
//! orphan to exactly one of them.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::deploy_run::DEPLOYMENT;
use super::replication_run::REPLICATION;
use super::{now_ms, Bot};
use crate::store::operations::Lease;

/// How many orphans one look takes.
const BATCH: i64 = 20;

/// Runs until `stop`: takes over orphaned operations, posts missing final cards.
pub async fn supervise(bot: Arc<Bot>, stop: CancellationToken) {
    let lease_ms = (bot.services.config.operations.lease_secs * 1000) as i64;
    let every = Duration::from_millis((lease_ms / 2).clamp(50, 10_000) as u64);
    loop {
        look_once(&bot, lease_ms).await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

async fn look_once(bot: &Arc<Bot>, lease_ms: i64) {
    let store = &bot.services.store;
    match store.claim_orphans(&bot.services.instance_id, now_ms(), lease_ms).await {
        Ok(orphans) => {
            for op in orphans.into_iter().take(BATCH as usize) {
                if op.kind == REPLICATION {
                    tracing::info!(operation = %op.id, takeovers = op.takeovers, "taking over a replication");
                    let runner = bot.clone();
                    bot.background.spawn(async move { runner.drive_replication(op).await });
                } else if op.kind == DEPLOYMENT {
                    tracing::info!(operation = %op.id, takeovers = op.takeovers, "taking over a deployment");
                    let runner = bot.clone();
                    bot.background.spawn(async move { runner.drive_deployment(op).await });
                } else {
                    tracing::warn!(operation = %op.id, kind = %op.kind, "an orphaned operation of a kind this build does not run");
                }
            }
        }
        Err(error) => tracing::warn!(%error, "orphaned operations not checked"),
    }
    match store.operations_awaiting_final_post(BATCH).await {
        Ok(finished) => {
            for op in &finished {
                match op.kind.as_str() {
                    REPLICATION => bot.post_replication_result(&op.id).await,
                    DEPLOYMENT => bot.post_deployment_result(&op.id).await,
                    _ => {}
                }
            }
        }
        Err(error) => tracing::warn!(%error, "unposted final cards not checked"),
    }
}

/// What a runner does when another instance took its operation over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnLeaseLost {
    /// Stop the work too (a replication: the new owner carries on from the checkpoint).
    StopWork,
    /// Only stop following it (a deployment: cancelling would cancel it in Azure).
    KeepGoing,
}

/// Renews an operation's lease a third of its length at a time. A cancel
/// asked for in the store cancels `cancel`; a lost lease cancels `lost`
/// (and `cancel` too when `on_lost` says so).
pub(crate) async fn keep_lease(
    bot: Arc<Bot>,
    id: String,
    cancel: CancellationToken,
    lost: CancellationToken,
    on_lost: OnLeaseLost,
) {
    let lease_ms = (bot.services.config.operations.lease_secs * 1000) as i64;
    let every = Duration::from_millis((lease_ms / 3).max(50) as u64);
    loop {
        tokio::time::sleep(every).await;
        match bot.services.store.renew_operation_lease(&id, &bot.services.instance_id, now_ms(), lease_ms).await {
            Ok(Lease::Held { cancel_requested }) => {
                if cancel_requested {
                    cancel.cancel();
                }
            }
            Ok(Lease::Lost) => {
                lost.cancel();
                if on_lost == OnLeaseLost::StopWork {
                    cancel.cancel();
                }
                return;
            }
            Err(error) => tracing::warn!(operation = %id, %error, "lease not renewed"),
        }
    }
}
