//! Durable state behind one interface: SQLite by default (a file under the
//! data directory), PostgreSQL when the URL is `postgres://` and several bot
//! instances share it.
//!
//! Both back-ends run through sqlx's `Any` driver with one set of portable
//! SQL: times are epoch milliseconds (`BIGINT`), structured values JSON text,
//! ids text. That keeps one code path and one test suite for both, which
//! matters more here than either database's special types. Time is always
//! passed in (`now_ms`), never read inside, so leases and schedules are tested
//! with a test clock. Nothing here has a column for a token.

pub mod alerts;
pub mod asset_mappings;
pub mod audit;
pub mod conversations;
pub mod dedupe;
pub mod drill_schedules;
pub mod drills;
mod firings;
pub mod instances;
pub mod job_pause_states;
mod migrations;
pub mod operations;
pub mod pairs;
pub mod pending;
pub mod plans;
pub mod readiness_history;
pub mod replication_schedules;
pub mod runs;
pub mod subscriptions;
pub mod table_versions;
pub mod volume_files;

use std::sync::Once;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor};

/// Which database is behind the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store URL must start with sqlite:// or postgres:// (got '{0}')")]
    Url(String),
    #[error("store: {0}")]
    Database(#[from] sqlx::Error),
    #[error("store: stored value is invalid: {0}")]
    Corrupt(String),
    /// The caller asked for something the store cannot hold (a bad schedule,
    /// finishing an operation as still running).
    #[error("store: {0}")]
    Invalid(String),
    /// A replication of `pair` is in flight (operation `operation`): a
    /// pair replicates once at a time, on every instance together.
    #[error("store: pair {pair} is replicating already ({operation})")]
    PairBusy { pair: String, operation: String },
}

/// The store. Cheap to clone: it is a connection pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

static DRIVERS: Once = Once::new();

/// A SQLite connection idle this long is closed (at most twice this after
/// its last use: the pool looks once per period). The pool closes the last
/// one too and then opens one again (`min_connections`): on a quiet server
/// that is a reconnect every 20 to 40 s, four PRAGMAs, nothing more. Not
/// for an in-memory database, which lives only as long as a connection to
/// it ([`Store::open`]).
const SQLITE_IDLE_CONNECTION: Duration = Duration::from_secs(20);

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(url.split('@').next_back().unwrap_or_default().to_string()));
        };
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let pool = match backend {
            Backend::Sqlite => {
                let memory = in_memory(url);
                options
                    // Each SQLite connection keeps a page cache of its own (up to
                    // 2 MiB): after a burst has opened all four, the ones left idle
                    // are closed again, so the burst's caches do not stay resident.
                    .min_connections(1)
                    .idle_timeout((!memory).then_some(SQLITE_IDLE_CONNECTION))
                    // An in-memory database is one connection's own: one
                    // connection, kept for good (the pool's default
                    // lifetime of 30 min would end it too).
                    .max_connections(if memory { 1 } else { 4 })
                    .max_lifetime((!memory).then_some(Duration::from_secs(30 * 60)))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL lets readers run beside the writer; the busy timeout makes a
                            // second writer wait instead of failing with SQLITE_BUSY.
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA busy_timeout = 5000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            // 1 MiB of page cache a connection (SQLite's default is
                            // 2 MiB): four connections after a burst of writes held
                            // megabytes of pages the operating system caches anyway.
                            conn.execute("PRAGMA cache_size = -1024").await?;
                            Ok(())
                        })
                    })
                    .connect(&sqlite_url(url))
                    .await?
            }
            Backend::Postgres => options.max_connections(8).connect(url).await?,
        };
        let store = Store { pool, backend };
        migrations::run(&store).await?;
        Ok(store)
    }

    /// Connections open right now (the memory sweep hands memory back after
    /// idle ones are closed).
    pub fn open_connections(&self) -> usize {
        self.pool.size() as usize
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A SQLite URL naming an in-memory database (`sqlite::memory:`,
/// `mode=memory`): its data goes when its last connection closes.
fn in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// `sqlite://path` with the file created if missing.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Reads a column, mapping a decoding problem to a store error.
pub(crate) fn column<'r, T>(row: &'r AnyRow, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    row.try_get(name).map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}
