//! Schema migrations, in order, each applied once. The SQL is portable
//! between SQLite and PostgreSQL on purpose (see the module above). On
//! PostgreSQL an advisory lock keeps two instances starting together from
//! migrating at once.

use sqlx::Executor;

use super::{Backend, Store, StoreError};

/// (version, what it does, statements)
const MIGRATIONS: &[(i64, &str, &[&str])] = &[
    (
        1,
        "dedupe keys, conversation references, audit log",
        &[
            "CREATE TABLE dedupe (key TEXT PRIMARY KEY, expires_ms BIGINT NOT NULL)",
            "CREATE INDEX dedupe_expiry ON dedupe (expires_ms)",
            "CREATE TABLE conversations (
                conversation_id TEXT PRIMARY KEY,
                service_url TEXT NOT NULL,
                channel_id TEXT NOT NULL,
                bot_id TEXT NOT NULL,
                tenant_id TEXT,
                conversation_type TEXT,
                teams_channel_id TEXT,
                installed_by_oid TEXT,
                updated_ms BIGINT NOT NULL
            )",
            "CREATE TABLE audit (
                id TEXT PRIMARY KEY,
                at_ms BIGINT NOT NULL,
                actor_oid TEXT,
                actor_upn TEXT,
                action TEXT NOT NULL,
                target TEXT,
                result TEXT NOT NULL,
                correlation_id TEXT
            )",
            "CREATE INDEX audit_time ON audit (at_ms)",
        ],
    ),
    (
        2,
        "commands waiting for sign-in",
        &["CREATE TABLE pending_commands (
                conversation_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                command TEXT NOT NULL,
                created_ms BIGINT NOT NULL,
                PRIMARY KEY (conversation_id, user_id)
            )"],
    ),
    (
        3,
        "operations with leases, run history, scheduled subscriptions",
        &[
            // Booleans are BIGINT 0/1: the one representation both back-ends
            // decode the same way through the Any driver.
            "CREATE TABLE operations (
                id TEXT PRIMARY KEY,
                idempotency_key TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                state TEXT NOT NULL,
                conversation_id TEXT NOT NULL,
                card_activity_id TEXT,
                started_by_oid TEXT,
                started_by_upn TEXT,
                payload TEXT NOT NULL,
                result TEXT,
                owner TEXT NOT NULL,
                lease_until_ms BIGINT NOT NULL,
                takeovers BIGINT NOT NULL DEFAULT 0,
                cancel_requested BIGINT NOT NULL DEFAULT 0,
                final_posted BIGINT NOT NULL DEFAULT 0,
                created_ms BIGINT NOT NULL,
                updated_ms BIGINT NOT NULL
            )",
            "CREATE INDEX operations_conversation ON operations (conversation_id, created_ms)",
            "CREATE INDEX operations_lease ON operations (state, lease_until_ms)",
            "CREATE TABLE runs (
                id TEXT PRIMARY KEY,
                started_by_oid TEXT,
                started_by_upn TEXT,
                catalog_filter TEXT,
                dry_run BIGINT NOT NULL,
                started_ms BIGINT NOT NULL,
                finished_ms BIGINT,
                counts TEXT
            )",
            "CREATE INDEX runs_started ON runs (started_ms)",
            "CREATE TABLE run_results (
                run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                object_name TEXT NOT NULL,
                action TEXT NOT NULL,
                status TEXT NOT NULL,
                duration_ms BIGINT NOT NULL,
                copied BIGINT,
                error TEXT,
                reason TEXT,
                recorded_ms BIGINT NOT NULL,
                PRIMARY KEY (run_id, object_name)
            )",
            "CREATE TABLE subscriptions (
                id TEXT PRIMARY KEY,
                conversation_id TEXT NOT NULL,
                tenant_id TEXT,
                schedule TEXT NOT NULL,
                created_by_oid TEXT,
                created_by_upn TEXT,
                created_ms BIGINT NOT NULL,
                next_fire_ms BIGINT NOT NULL,
                UNIQUE (conversation_id, schedule)
            )",
            "CREATE INDEX subscriptions_due ON subscriptions (next_fire_ms)",
        ],
    ),
    (
        4,
        "plans shown to people, kept until they are run or expire",
        &[
            "CREATE TABLE plans (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                conversation_id TEXT NOT NULL,
                created_by_oid TEXT,
                created_ms BIGINT NOT NULL,
                expires_ms BIGINT NOT NULL,
                payload TEXT NOT NULL
            )",
            "CREATE INDEX plans_expiry ON plans (expires_ms)",
        ],
    ),
    (
        5,
        "operations: the final card as an outbox (the card, and who is delivering it until when)",
        &[
            "ALTER TABLE operations ADD COLUMN final_card TEXT",
            "ALTER TABLE operations ADD COLUMN final_claim_until_ms BIGINT NOT NULL DEFAULT 0",
        ],
    ),
    (
        6,
        "live bot instances, so a per-tenant send budget can be divided between them",
        &["CREATE TABLE instances (id TEXT PRIMARY KEY, joined_ms BIGINT NOT NULL, seen_ms BIGINT NOT NULL)"],
    ),
    (
        7,
        "each secondary table's replicated source version and commit time, and the last reading of the source",
        &["CREATE TABLE table_versions (
                table_name TEXT PRIMARY KEY,
                replicated_version BIGINT,
                replicated_commit_ms BIGINT,
                replicated_ms BIGINT,
                source_version BIGINT,
                source_commit_ms BIGINT,
                read_ms BIGINT
            )"],
    ),
    (
        8,
        "DR pairs, each conversation's default pair, and the pair of each operation",
        &[
            // The pair itself is JSON (`crate::pairs::Pair`); the active side is its
            // own column so a failover changes it by compare-and-set.
            "CREATE TABLE pairs (
                name TEXT PRIMARY KEY,
                spec TEXT NOT NULL,
                active_side TEXT NOT NULL,
                origin TEXT NOT NULL,
                created_ms BIGINT NOT NULL,
                updated_ms BIGINT NOT NULL
            )",
            "CREATE TABLE conversation_pairs (
                conversation_id TEXT PRIMARY KEY,
                pair_name TEXT NOT NULL,
                set_by_oid TEXT,
                updated_ms BIGINT NOT NULL
            )",
            "ALTER TABLE operations ADD COLUMN pair TEXT",
            // Every replication before pairs was of the one pair, now `default`.
            "UPDATE operations SET pair = 'default' WHERE kind = 'replication'",
            "CREATE INDEX operations_pair ON operations (pair, state)",
        ],
    ),
    (
        9,
        "scheduled replication per pair, one replication of a pair at a time, runs that say how they started, \
         subscriptions and recorded table versions per pair",
        &[
            "CREATE TABLE replication_schedules (
                pair_name TEXT PRIMARY KEY,
                schedule TEXT NOT NULL,
                conversation_id TEXT NOT NULL,
                created_by_oid TEXT,
                created_by_upn TEXT,
                created_ms BIGINT NOT NULL,
                next_fire_ms BIGINT NOT NULL
            )",
            "CREATE INDEX replication_schedules_due ON replication_schedules (next_fire_ms)",
            // At most one active replication per pair, whoever starts it (a
            // click, a schedule) and on whichever instance: the database refuses
            // the second. A partial index is portable between both back-ends.
            "CREATE UNIQUE INDEX operations_one_replication_per_pair ON operations (pair)
                WHERE kind = 'replication' AND state IN ('pending', 'running')",
            // 1: started by the pair's schedule, not by a person (chat or CLI).
            "ALTER TABLE runs ADD COLUMN scheduled BIGINT NOT NULL DEFAULT 0",
            // Subscriptions name the pair they post ('' = the conversation's own
            // choice); the key includes it, so one chat can follow two pairs.
            "CREATE TABLE subscriptions_by_pair (
                id TEXT PRIMARY KEY,
                conversation_id TEXT NOT NULL,
                tenant_id TEXT,
                schedule TEXT NOT NULL,
                pair TEXT NOT NULL DEFAULT '',
                created_by_oid TEXT,
                created_by_upn TEXT,
                created_ms BIGINT NOT NULL,
                next_fire_ms BIGINT NOT NULL,
                UNIQUE (conversation_id, schedule, pair)
            )",
            "INSERT INTO subscriptions_by_pair (id, conversation_id, tenant_id, schedule, pair, created_by_oid,
                                                created_by_upn, created_ms, next_fire_ms)
             SELECT id, conversation_id, tenant_id, schedule, '', created_by_oid, created_by_upn, created_ms,
                    next_fire_ms FROM subscriptions",
            "DROP TABLE subscriptions",
            "ALTER TABLE subscriptions_by_pair RENAME TO subscriptions",
            "CREATE INDEX subscriptions_due ON subscriptions (next_fire_ms)",
            // Two pairs may hold tables of the same name: versions are the pair's.
            // Every version recorded before pairs was the one pair's, now `default`.
            "CREATE TABLE table_versions_by_pair (
                pair TEXT NOT NULL,
                table_name TEXT NOT NULL,
                replicated_version BIGINT,
                replicated_commit_ms BIGINT,
                replicated_ms BIGINT,
                source_version BIGINT,
                source_commit_ms BIGINT,
                read_ms BIGINT,
                PRIMARY KEY (pair, table_name)
            )",
            "INSERT INTO table_versions_by_pair (pair, table_name, replicated_version, replicated_commit_ms,
                                                 replicated_ms, source_version, source_commit_ms, read_ms)
             SELECT 'default', table_name, replicated_version, replicated_commit_ms, replicated_ms, source_version,
                    source_commit_ms, read_ms FROM table_versions",
            "DROP TABLE table_versions",
            "ALTER TABLE table_versions_by_pair RENAME TO table_versions",
        ],
    ),
    (
        10,
        "the team a channel conversation belongs to, so a team removed, deleted or archived forgets all its channels",
        &["ALTER TABLE conversations ADD COLUMN team_id TEXT"],
    ),
    (
        11,
        "the manifest of managed volumes' files copied to the secondary, per pair",
        // The source's size and modification time each copy carried: the
        // secondary's own time is the copy's, so only this tells an
        // unchanged file from a changed one (replication/volume_files.rs).
        &["CREATE TABLE volume_files (
                pair TEXT NOT NULL,
                volume TEXT NOT NULL,
                path TEXT NOT NULL,
                source_size BIGINT NOT NULL,
                source_modified_ms BIGINT NOT NULL,
                copied_ms BIGINT NOT NULL,
                PRIMARY KEY (pair, volume, path)
            )"],
    ),
    (
        12,
        "what a pair's scheduled replication covers: the data, the workspace assets or both",
        &["ALTER TABLE replication_schedules ADD COLUMN coverage TEXT NOT NULL DEFAULT 'data'"],
    ),
    (
        13,
        "workspace assets: each primary job's pause state per pair (for failover), and each pair's mapping table",
        &[
            // NULL: the job has no such trigger.
            "CREATE TABLE job_pause_states (
                pair TEXT NOT NULL,
                source_job_id BIGINT NOT NULL,
                job_name TEXT NOT NULL,
                schedule_pause TEXT,
                trigger_pause TEXT,
                continuous_pause TEXT,
                recorded_ms BIGINT NOT NULL,
                PRIMARY KEY (pair, source_job_id)
            )",
            "CREATE TABLE asset_mappings (
                pair TEXT NOT NULL,
                kind TEXT NOT NULL,
                source TEXT NOT NULL,
                target TEXT NOT NULL,
                PRIMARY KEY (pair, kind, source)
            )",
        ],
    ),
    (
        14,
        "drills with their RTO and findings, and who approved each failover runbook",
        &[
            // One row per drill operation: written once when it ends (its id
            // is the operation's), listed newest first by `drills PAIR`.
            "CREATE TABLE drills (
                id TEXT PRIMARY KEY,
                pair TEXT NOT NULL,
                started_ms BIGINT NOT NULL,
                finished_ms BIGINT NOT NULL,
                outcome TEXT NOT NULL,
                rto_ms BIGINT,
                findings TEXT NOT NULL
            )",
            "CREATE INDEX drills_pair ON drills (pair, started_ms)",
            // One row per person per runbook: a second click of the same
            // person adds nothing, so two rows are two people.
            "CREATE TABLE runbook_approvals (
                runbook_id TEXT NOT NULL,
                approver_oid TEXT NOT NULL,
                approver_upn TEXT,
                approved_ms BIGINT NOT NULL,
                PRIMARY KEY (runbook_id, approver_oid)
            )",
        ],
    ),
    (
        15,
        "alert conditions raised per pair (one alert until it clears), and readiness recorded per pair over time",
        &[
            // A row is a condition that has alerted and not yet cleared: raising
            // inserts it (the first writer alerts), clearing deletes it (the
            // deleter posts "recovered"), on every instance together.
            "CREATE TABLE alert_conditions (
                pair TEXT NOT NULL,
                condition TEXT NOT NULL,
                summary TEXT NOT NULL,
                raised_ms BIGINT NOT NULL,
                PRIMARY KEY (pair, condition)
            )",
            // One reading of a pair's readiness: after a run (`run_id`), or a
            // scheduled check. Worst RPO and drift are what the dashboard charts.
            "CREATE TABLE readiness_history (
                pair TEXT NOT NULL,
                at_ms BIGINT NOT NULL,
                source TEXT NOT NULL,
                worst_rpo_ms BIGINT,
                drift BIGINT,
                run_id TEXT,
                outcome TEXT,
                duration_ms BIGINT,
                PRIMARY KEY (pair, at_ms, source)
            )",
        ],
    ),
    (
        16,
        "one replication or failover runbook in flight per pair",
        &[
            // A runbook replicates, pauses and promotes the pair it runs on:
            // no replication may start beside it, nor a second runbook.
            "DROP INDEX operations_one_replication_per_pair",
            "CREATE UNIQUE INDEX operations_one_change_per_pair ON operations (pair)
                WHERE kind IN ('replication', 'failover') AND state IN ('pending', 'running')",
        ],
    ),
];

/// An arbitrary, fixed key for `pg_advisory_lock`.
const MIGRATION_LOCK: i64 = 0x0064_7262_6f74;

pub(super) async fn run(store: &Store) -> Result<(), StoreError> {
    let mut conn = store.pool().acquire().await?;
    match store.backend() {
        Backend::Postgres => {
            // Each migration in its own transaction, all under one advisory lock.
            sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
            let result = apply(&mut conn, true).await;
            sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
            result
        }
        Backend::Sqlite => {
            // BEGIN IMMEDIATE takes the write lock before reading what is applied,
            // so a second process waits (busy timeout) instead of racing.
            conn.execute("BEGIN IMMEDIATE").await?;
            match apply(&mut conn, false).await {
                Ok(()) => {
                    conn.execute("COMMIT").await?;
                    Ok(())
                }
                Err(error) => {
                    let _ = conn.execute("ROLLBACK").await;
                    Err(error)
                }
            }
        }
    }
}

async fn apply(conn: &mut sqlx::AnyConnection, transaction_per_migration: bool) -> Result<(), StoreError> {
    conn.execute("CREATE TABLE IF NOT EXISTS drbot_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL)")
        .await?;
    for (version, description, statements) in MIGRATIONS {
        let applied: Option<i64> = sqlx::query_scalar("SELECT version FROM drbot_migrations WHERE version = $1")
            .bind(*version)
            .fetch_optional(&mut *conn)
            .await?;
        if applied.is_some() {
            continue;
        }
        if transaction_per_migration {
            conn.execute("BEGIN").await?;
        }
        let applied = apply_one(conn, *version, description, statements).await;
        if transaction_per_migration {
            conn.execute(if applied.is_ok() { "COMMIT" } else { "ROLLBACK" }).await?;
        }
        applied?;
        tracing::info!(version, description, "store migrated");
    }
    Ok(())
}

async fn apply_one(
    conn: &mut sqlx::AnyConnection,
    version: i64,
    description: &str,
    statements: &[&str],
) -> Result<(), StoreError> {
    for statement in statements {
        conn.execute(*statement).await?;
    }
    sqlx::query("INSERT INTO drbot_migrations (version, description) VALUES ($1, $2)")
        .bind(version)
        .bind(description)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
