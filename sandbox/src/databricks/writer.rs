//! A primary that keeps committing: while replication runs, production jobs
//! write to the primary's Delta tables, so versions move under the cloner's
//! feet and the secondary is never quite caught up.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::IteratorRandom;
use rand::SeedableRng;
use tokio_util::sync::CancellationToken;

use super::Workspace;

/// The running writer; it stops when dropped, or when `stop` is awaited.
pub struct Writer {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Writer {
    /// Stops and waits until the writer has made its last commit.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Workspace {
    /// Every `interval`, commits once to each of `tables_per_tick` Delta tables
    /// (seeded choice): their version goes up by one and their commit time to now.
    pub fn keep_committing(self: &Arc<Self>, interval: Duration, tables_per_tick: usize, seed: u64) -> Writer {
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let workspace = self.clone();
        let task = tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut ticks = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    _ = stopped.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let now = chrono::Utc::now().timestamp_millis();
                let mut metastore = workspace.metastore.write();
                let chosen: Vec<String> = metastore
                    .tables
                    .values()
                    .filter(|t| t.data_source_format.as_deref() == Some("DELTA") && t.cloned_from.is_none())
                    .map(|t| t.full_name())
                    .choose_multiple(&mut rng, tables_per_tick);
                for name in chosen {
                    if let Some(table) = metastore.tables.get_mut(&name) {
                        table.delta_version += 1;
                        table.last_commit_ms = now;
                        if let Some(location) = &table.storage_location {
                            workspace
                                .account
                                .storage
                                .tables
                                .write()
                                .insert(location.trim_end_matches('/').to_string(), (table.delta_version, now));
                        }
                    }
                }
            }
        });
        Writer { stop, task: Some(task) }
    }
}
