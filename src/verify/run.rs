//! Reading what [`super::judge`] judges: the statements of `verify`, on
//! each side's own warehouse, as the person who asked.
//!
//! One `information_schema.columns` statement per catalog and side, then per
//! table: its newest commit on each side (`DESCRIBE HISTORY … LIMIT 1`), its
//! rows on each side (`COUNT(*)`, or with `--deep` the count and row hash in
//! one scan when the primary's `DESCRIBE DETAIL` size is within the limit).
//! Every statement takes a slot of its side's warehouse first (the same
//! slots replication runs take, so a verify never floods a warehouse a
//! replication is using), and at most `concurrency` tables are in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::judge::{judge, Deep, Latest, Problem, Side, Verdict};
use super::scope::{scope, InScope};
use super::statements::{self, Column};
use super::{Facts, TableResult, Tally};
use crate::databricks::{DatabricksError, WorkspaceClient};
use crate::replication::apply::clone_source_version;
use crate::replication::history::{latest_commit, latest_commit_statement};
use crate::replication::snapshot::Snapshot;
use crate::replication::sql::SqlError;
use crate::replication::workspaces::TokenSource;
use crate::replication::ReplicationConfig;
use crate::store::table_versions::TableVersion;

/// Where and how the statements run.
pub struct Settings {
    /// Each side's warehouse (`[primary, secondary]`): an id names a
    /// warehouse in one workspace only.
    pub warehouses: [String; 2],
    /// Tables compared at once.
    pub concurrency: usize,
    pub statement_timeout: Duration,
    /// `Some` with `--deep`.
    pub deep: Option<Deep>,
}

/// Both workspaces, and each one's warehouse slots (`[primary, secondary]`).
pub struct Sides<'a> {
    pub primary: &'a WorkspaceClient,
    pub secondary: &'a WorkspaceClient,
    pub slots: [Arc<Semaphore>; 2],
}

/// Each catalog's `information_schema.columns`, by `schema.table`, or why it was not read.
type ColumnsByCatalog = BTreeMap<String, Result<BTreeMap<String, Vec<Column>>, Problem>>;

const PRIMARY: usize = 0;
const SECONDARY: usize = 1;

struct Asker<'a, T> {
    sides: &'a Sides<'a>,
    tokens: &'a T,
    settings: &'a Settings,
}

impl<T: TokenSource> Asker<'_, T> {
    /// Runs one query on `side`, holding one of its warehouse slots.
    async fn ask(
        &self,
        side: usize,
        sql: Result<String, SqlError>,
    ) -> Result<(Vec<String>, Vec<Vec<Option<String>>>), Problem> {
        let sql = sql.map_err(|error| Problem::Failed(error.to_string()))?;
        let _slot = self.sides.slots[side].acquire().await;
        let token = self.tokens.token(false).await.map_err(|error| Problem::Failed(format!("no token: {error}")))?;
        let client = if side == PRIMARY { self.sides.primary } else { self.sides.secondary };
        let deadline = Instant::now() + self.settings.statement_timeout;
        client.query(&token, &self.settings.warehouses[side], &sql, deadline).await.map_err(|error| problem(&error))
    }

    /// `catalog`'s columns on `side`, by `schema.table`.
    async fn columns(&self, side: usize, catalog: &str) -> Result<BTreeMap<String, Vec<Column>>, Problem> {
        let (names, rows) = self.ask(side, statements::columns(catalog)).await?;
        statements::read_columns(&names, &rows)
            .ok_or_else(|| Problem::Failed("information_schema.columns answered without its columns".into()))
    }

    async fn latest(&self, side: usize, table: &str) -> Result<Latest, Problem> {
        let sql = latest_commit_statement(table).ok_or(SqlError::EmptyIdentifier);
        let (names, rows) = self.ask(side, sql).await?;
        let version = latest_commit(&names, &rows)
            .ok_or_else(|| Problem::Failed("DESCRIBE HISTORY returned no commit".into()))?
            .version;
        let operation = names
            .iter()
            .position(|c| c.eq_ignore_ascii_case("operation"))
            .and_then(|i| rows.first()?.get(i).cloned().flatten())
            .unwrap_or_default();
        Ok(Latest { version, operation, source_version: clone_source_version(&names, &rows) })
    }

    async fn rows(&self, side: usize, table: &str, hash: bool) -> Result<(i64, Option<String>), Problem> {
        let sql = if hash { statements::row_hash(table) } else { statements::count(table) };
        let (names, rows) = self.ask(side, sql).await?;
        statements::read_aggregate(&names, &rows).ok_or_else(|| Problem::Failed("the count returned no row".into()))
    }

    async fn size(&self, table: &str) -> Result<u64, Problem> {
        let (names, rows) = self.ask(PRIMARY, statements::detail(table)).await?;
        statements::read_detail(&names, &rows)
            .map(|(_, size)| size)
            .ok_or_else(|| Problem::Failed("DESCRIBE DETAIL returned no sizeInBytes".into()))
    }

    /// Both sides of one table, judged.
    async fn table(&self, item: &InScope, columns: &[ColumnsByCatalog; 2], recorded: Option<i64>) -> TableResult {
        let table = item.table.as_str();
        let size = match self.settings.deep {
            Some(_) => Some(self.size(table).await),
            None => None,
        };
        let columns_of = |side: usize| {
            let (catalog, rest) = table.split_once('.')?;
            match columns[side].get(catalog)? {
                Ok(tables) => tables.get(rest).cloned().map(Ok),
                Err(problem) => Some(Err(problem.clone())),
            }
        };
        let (p_columns, s_columns) = (columns_of(PRIMARY), columns_of(SECONDARY));
        let unhashable = match (&self.settings.deep, &p_columns) {
            (Some(_), Some(Ok(columns))) => unhashable(columns),
            _ => None,
        };
        let hash = match (self.settings.deep, &size) {
            (Some(deep), Some(Ok(size))) => *size <= deep.max_bytes && unhashable.is_none(),
            _ => false,
        };
        let (p_latest, s_latest, p_rows, s_rows) = tokio::join!(
            self.latest(PRIMARY, table),
            self.latest(SECONDARY, table),
            self.rows(PRIMARY, table, hash),
            self.rows(SECONDARY, table, hash),
        );
        let primary =
            Side { columns: p_columns, rows: Some(p_rows), latest: Some(p_latest), size: size.clone(), unhashable };
        let secondary =
            Side { columns: s_columns, rows: Some(s_rows), latest: Some(s_latest), size: None, unhashable: None };
        let verdict = judge(&primary, &secondary, recorded, self.settings.deep);
        TableResult {
            table: item.table.clone(),
            kind: item.kind.clone(),
            verdict,
            primary: Some(facts(&primary)),
            secondary: Some(facts(&secondary)),
            recorded_source_version: recorded,
        }
    }
}

/// Why `xxhash64(*)` cannot hash a table with these columns: it refuses
/// MAP values (SPARK-27619: map hash codes depend on insertion order) and
/// VARIANT values (SPARK-47822), nested ones included.
fn unhashable(columns: &[Column]) -> Option<String> {
    columns.iter().find_map(|column| {
        let lower = column.data_type.to_ascii_lowercase();
        let kind = if lower.contains("map<") {
            "MAP"
        } else if lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|word| word == "variant") {
            "VARIANT"
        } else {
            return None;
        };
        Some(format!("column {} holds {kind} values, which xxhash64 does not hash", column.name))
    })
}

/// What a person reads of one side.
fn facts(side: &Side) -> Facts {
    let rows = side.rows.as_ref().and_then(|r| r.as_ref().ok());
    let latest = side.latest.as_ref().and_then(|r| r.as_ref().ok());
    Facts {
        rows: rows.map(|(count, _)| *count),
        row_hash: rows.and_then(|(_, hash)| hash.clone()),
        version: latest.map(|l| l.version),
        operation: latest.map(|l| l.operation.clone()),
        source_version: latest.and_then(|l| l.source_version),
        size_bytes: side.size.as_ref().and_then(|r| r.as_ref().ok()).copied(),
        ..Facts::default()
    }
}

/// A statement's failure as `verify` reports it: a refusal or a missing
/// table by its SQL error class, anything else as it came.
fn problem(error: &DatabricksError) -> Problem {
    let text = error.to_string();
    let class = match error {
        DatabricksError::PermissionDenied(_) | DatabricksError::Unauthenticated(_) => return Problem::NoAccess(text),
        DatabricksError::Api { message, .. } => statements::error_class(message),
        _ => None,
    };
    match class {
        Some("INSUFFICIENT_PERMISSIONS" | "PERMISSION_DENIED") => Problem::NoAccess(text),
        Some("TABLE_OR_VIEW_NOT_FOUND" | "SCHEMA_NOT_FOUND" | "CATALOG_NOT_FOUND") => Problem::Missing(text),
        _ => Problem::Failed(text),
    }
}

/// Compares every table in scope of `primary` and `secondary` (their
/// snapshots, read as the same person) and reports each, by name.
/// `progress` hears the running tally after every table.
#[allow(clippy::too_many_arguments)]
pub async fn compare<T: TokenSource>(
    sides: &Sides<'_>,
    tokens: &T,
    settings: &Settings,
    primary: &Snapshot,
    secondary: &Snapshot,
    config: &ReplicationConfig,
    recorded: &[TableVersion],
    progress: &(dyn Fn(&Tally) + Send + Sync),
) -> Vec<TableResult> {
    let items = scope(primary, secondary, config);
    let objects = super::objects::judge_objects(primary, secondary, config);
    let asker = Asker { sides, tokens, settings };
    let mut tally = Tally { total: items.len() + objects.len(), ..Tally::default() };
    let mut results = Vec::with_capacity(items.len());
    let (blocked, compared): (Vec<InScope>, Vec<InScope>) = items.into_iter().partition(|item| item.blocked.is_some());
    for item in &blocked {
        let verdict = Verdict::Blocked { reason: item.blocked.clone().unwrap_or_default() };
        let result = TableResult::without_facts(item, verdict);
        tally.count(&result.verdict);
        results.push(result);
    }
    progress(&tally);

    let catalogs: BTreeSet<String> =
        compared.iter().filter_map(|item| item.table.split('.').next()).map(str::to_string).collect();
    let read_side = |side: usize| {
        let asker = &asker;
        futures::future::join_all(catalogs.iter().cloned().map(move |catalog| async move {
            let columns = asker.columns(side, &catalog).await;
            (catalog, columns)
        }))
    };
    let (p_columns, s_columns) = tokio::join!(read_side(PRIMARY), read_side(SECONDARY));
    let columns = [p_columns.into_iter().collect(), s_columns.into_iter().collect()];
    let recorded: BTreeMap<&str, i64> =
        recorded.iter().filter_map(|row| Some((row.table_name.as_str(), row.replicated?.version))).collect();

    let columns = &columns;
    let recorded = &recorded;
    let asker = &asker;
    let compared = &compared;
    // By index: a stream of borrowed items trips the compiler's
    // higher-ranked lifetime check where the future must be `Send`.
    let mut stream = futures::stream::iter(0..compared.len())
        .map(|i| async move {
            let item = &compared[i];
            asker.table(item, columns, recorded.get(item.table.as_str()).copied()).await
        })
        .buffer_unordered(settings.concurrency.max(1));
    while let Some(mut result) = stream.next().await {
        // Its informational keys, as both snapshots declare them.
        let keys = match (primary.tables.get(&result.table), secondary.tables.get(&result.table)) {
            (Some(p), Some(s)) => crate::replication::constraints::differences(&p.constraints, &s.constraints),
            _ => Vec::new(),
        };
        result.verdict = super::judge::with_differences(result.verdict, keys);
        tally.count(&result.verdict);
        progress(&tally);
        results.push(result);
    }
    results.sort_by(|a, b| a.table.cmp(&b.table));
    // Models and volumes after the tables, judged from the snapshots.
    for result in objects {
        tally.count(&result.verdict);
        results.push(result);
    }
    progress(&tally);
    results
}

/// Why nothing could be compared: a metastore could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the {side} metastore could not be read: {error}")]
pub struct NotRead {
    pub side: &'static str,
    pub error: String,
}

/// Where a pair's copy manifest is (`store::volume_files`): a managed
/// volume's files are judged by it.
pub struct Manifest<'a> {
    pub store: &'a crate::store::Store,
    pub pair: &'a str,
}

/// Reads both metastores as the person (`read`: the pair's read options)
/// and lists the managed volumes' files on both sides (`manifest`), then
/// [`compare`]s them.
#[allow(clippy::too_many_arguments)]
pub async fn read_and_compare<T: TokenSource>(
    sides: &Sides<'_>,
    tokens: &T,
    settings: &Settings,
    reads: &[crate::replication::read::ReadOptions; 2],
    config: &ReplicationConfig,
    recorded: &[TableVersion],
    manifest: Option<Manifest<'_>>,
    progress: &(dyn Fn(&Tally) + Send + Sync),
) -> Result<Vec<TableResult>, NotRead> {
    use crate::replication::read::read_snapshot;
    let token = tokens.token(false).await.map_err(|error| NotRead { side: "primary", error: error.to_string() })?;
    let [primary_read, secondary_read] = reads;
    let (primary, secondary) = tokio::join!(
        read_snapshot(sides.primary, &token, primary_read),
        read_snapshot(sides.secondary, &token, secondary_read)
    );
    let mut primary = primary.map_err(|error| NotRead { side: "primary", error: error.to_string() })?;
    let mut secondary = secondary.map_err(|error| NotRead { side: "secondary", error: error.to_string() })?;
    if let Some(Manifest { store, pair }) = manifest {
        let (from, to) = (sides.primary, sides.secondary);
        let concurrency = settings.concurrency.max(1);
        crate::replication::volume_survey::survey(
            store,
            pair,
            from,
            to,
            &token,
            concurrency,
            &mut primary,
            &mut secondary,
        )
        .await
        .map_err(|error| NotRead { side: "secondary", error: format!("the copy manifest: {error}") })?;
    }
    Ok(compare(sides, tokens, settings, &primary, &secondary, config, recorded, progress).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, data_type: &str) -> Column {
        Column { name: name.into(), data_type: data_type.into(), position: 1 }
    }

    #[test]
    fn maps_and_variants_cannot_be_hashed_nested_or_not() {
        assert_eq!(unhashable(&[column("id", "bigint"), column("s", "struct<variant_id:int>")]), None);
        let reason = unhashable(&[column("id", "bigint"), column("tags", "map<string,string>")]);
        assert_eq!(reason.as_deref(), Some("column tags holds MAP values, which xxhash64 does not hash"));
        assert!(unhashable(&[column("v", "array<variant>")]).is_some_and(|r| r.contains("VARIANT")));
    }

    #[test]
    fn a_refusal_is_told_from_a_missing_table_and_a_failure() {
        let api =
            |message: &str| DatabricksError::Api { status: 200, code: "BAD_REQUEST".into(), message: message.into() };
        assert!(matches!(problem(&api("[INSUFFICIENT_PERMISSIONS] no SELECT")), Problem::NoAccess(_)));
        assert!(matches!(problem(&api("[PERMISSION_DENIED] no USE SCHEMA")), Problem::NoAccess(_)));
        assert!(matches!(problem(&api("[TABLE_OR_VIEW_NOT_FOUND] gone")), Problem::Missing(_)));
        assert!(matches!(problem(&api("[DIVIDE_BY_ZERO] x")), Problem::Failed(_)));
        assert!(matches!(problem(&DatabricksError::PermissionDenied("x".into())), Problem::NoAccess(_)));
    }
}
