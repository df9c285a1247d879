//! Reading one metastore into a [`Snapshot`].
//!
//! The seed's job listed serially and compared effective grants; here the
//! reads run concurrently (at most `concurrency` requests in flight, taken
//! from a budget of its own or one several reads of the workspace share; by
//! phase: catalogs → schemas → tables and volumes → grants and view GETs)
//! and only *direct* grants are read. Lists give everything but a view's
//! dependencies, so only views are fetched one by one.
//!
//! What the caller may not see is recorded in `Snapshot::skipped` with the
//! workspace's reason and the read goes on; an object that vanished between
//! the list and the GET is recorded the same way. Anything else (the token
//! refused, the workspace down beyond the retry budget, an answer that does
//! not parse) fails the read: an incomplete snapshot taken for a complete
//! one would make the planner copy or revoke the wrong things.
//!
//! Contents (schemas, tables, volumes) are read for managed catalogs only:
//! system, foreign and shared catalogs belong to the platform or to another
//! metastore and nothing in them is replicated. Every catalog's own entry and
//! grants are read. `information_schema` is skipped: Unity Catalog makes one
//! in every catalog by itself.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::bulk::{self, BulkGrants};
use super::constraints::{Constraint, Key};
use super::snapshot::{
    CatalogInfo, CatalogKind, ColumnDef, ColumnMetadata, Common, DeltaState, FunctionInfo, Grants, LocationInfo,
    Policy, Principal, Protection, ReadPath, SchemaInfo, ShareInfo, SharingState, Skipped, SkippedPart, Snapshot,
    StorageAccess, TableInfo, TableKind, VolumeInfo,
};
use crate::databricks::unity_catalog::{self as uc, grants_map, Securable};
use crate::databricks::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// The Unity Catalog properties that carry a Delta table's newest commit.
pub const DELTA_VERSION_PROPERTY: &str = "delta.lastUpdateVersion";
pub const DELTA_COMMIT_TIMESTAMP_PROPERTY: &str = "delta.lastCommitTimestamp";

/// Which part of the metastore to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadFilter {
    /// Only this catalog (by name); `None` reads every catalog.
    pub catalog: Option<String>,
    /// Only schemas whose name matches this glob (`*` any run, `?` one
    /// character, case-insensitive as Unity Catalog names are).
    pub schema_pattern: Option<String>,
}

impl ReadFilter {
    pub fn catalog(name: &str) -> ReadFilter {
        ReadFilter { catalog: Some(name.to_string()), schema_pattern: None }
    }

    pub fn wants_catalog(&self, name: &str) -> bool {
        self.catalog.as_deref().is_none_or(|wanted| wanted.eq_ignore_ascii_case(name))
    }

    pub fn wants_schema(&self, name: &str) -> bool {
        self.schema_pattern.as_deref().is_none_or(|pattern| glob_matches(pattern, name))
    }
}

/// How to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    pub filter: ReadFilter,
    /// Requests in flight at most (at least 1).
    pub concurrency: usize,
    /// The read workspace's own SQL warehouse (an id names a warehouse in
    /// one workspace only), for `SELECT current_metastore()`, the bulk
    /// grants and tags and the format options; without one the global
    /// metastore id stays empty and those are read over REST or reported unread.
    pub warehouse_id: Option<String>,
    /// How long that statement may take.
    pub statement_timeout: Duration,
    /// Read the grants with `information_schema` statements when the
    /// warehouse is already running (see `bulk.rs`); otherwise, or when
    /// `false`, one permissions GET per object. A read never starts a
    /// stopped warehouse.
    pub bulk: bool,
    /// Fetch each view to learn what it reads (one GET per view: a list
    /// does not carry it). Only planning needs it, and only the primary's;
    /// `status` reads without. The same holds for the format options of
    /// non-Delta external tables (`describe.rs`), read with it when the
    /// warehouse is running.
    pub view_dependencies: bool,
    /// A budget of requests in flight shared with other reads of the same
    /// workspace (the all-pairs `status`: pairs that share a hub share its
    /// budget); this read then takes its permits there, at most
    /// `concurrency` of them. `None`: a budget of its own.
    pub shared_permits: Option<SharedPermits>,
}

/// Requests in flight that several reads of one workspace share, so that
/// reading many pairs at once never asks one workspace for more than this.
#[derive(Clone, Debug)]
pub struct SharedPermits {
    semaphore: Arc<Semaphore>,
    capacity: usize,
}

impl SharedPermits {
    pub fn new(capacity: usize) -> SharedPermits {
        let capacity = capacity.max(1);
        SharedPermits { semaphore: Arc::new(Semaphore::new(capacity)), capacity }
    }

    /// One request's permit, held until dropped (`None` only were the
    /// budget closed, which it never is: the request then goes unbounded).
    pub async fn acquire(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.semaphore.acquire().await.ok()
    }

    /// `n` permits at once (at most the whole budget), held until dropped:
    /// for work that keeps up to `n` requests in flight under its own bound.
    pub async fn acquire_many(&self, n: usize) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.semaphore.acquire_many(n.clamp(1, self.capacity) as u32).await.ok()
    }

    /// Where the budget lives: budgets held together are taken in this
    /// order, so two holders never wait on each other.
    pub fn order_key(&self) -> usize {
        Arc::as_ptr(&self.semaphore) as usize
    }
}

/// The same budget, not an equal one.
impl PartialEq for SharedPermits {
    fn eq(&self, other: &SharedPermits) -> bool {
        Arc::ptr_eq(&self.semaphore, &other.semaphore)
    }
}

impl Eq for SharedPermits {}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            filter: ReadFilter::default(),
            concurrency: 32,
            warehouse_id: None,
            statement_timeout: Duration::from_secs(120),
            bulk: true,
            view_dependencies: true,
            shared_permits: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("could not read {what}: {source}")]
    Databricks {
        what: String,
        #[source]
        source: DatabricksError,
    },
}

impl ReadError {
    pub fn databricks_error(&self) -> &DatabricksError {
        match self {
            ReadError::Databricks { source, .. } => source,
        }
    }
}

/// `*` matches any run of characters, `?` exactly one; ASCII case is ignored.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen and the text position it is trying to cover up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi].eq_ignore_ascii_case(&t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_pi, star_ti)) = star {
            pi = star_pi + 1;
            ti = star_ti + 1;
            star = Some((star_pi, star_ti + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Reads one metastore. Both metastores are meant to be read at once by the
/// caller (`tokio::join!`), each with its own client and token.
///
/// The warehouse's state is asked beside the first list: running, the
/// grants, the volumes and (a read without view dependencies) the functions
/// come from six or eight `information_schema` statements started at once
/// and running beside the lists (`bulk.rs`); stopped (or unknown), from the
/// REST path (a permissions GET per object and external location, a volume
/// and a function list per schema), and no statement is sent (a
/// statement would start it). Either way the snapshot is the same;
/// `Snapshot::read_path` says which was taken.
pub async fn read_snapshot(
    client: &WorkspaceClient,
    token: &AccessToken,
    options: &ReadOptions,
) -> Result<Snapshot, ReadError> {
    let (concurrency, permits) = match &options.shared_permits {
        Some(shared) => (options.concurrency.clamp(1, shared.capacity), shared.semaphore.clone()),
        None => (options.concurrency.max(1), Arc::new(Semaphore::new(options.concurrency.max(1)))),
    };
    let reader = Reader { client, token, concurrency, permits };
    let (catalogs, warehouse) = tokio::join!(reader.limited(client.list_catalogs(token)), reader.warehouse(options));
    let catalogs = catalogs.map_err(|source| ReadError::Databricks { what: "the catalogs".into(), source })?;
    let (path, may_query, elsewhere) = warehouse;
    let bulk_read = async {
        match &path {
            ReadPath::Warehouse(id) => {
                let deadline = Instant::now() + options.statement_timeout;
                // A permit per statement, so the bound holds.
                // Functions too, unless their dependencies are wanted
                // (no view has them; the lists do).
                let functions = !options.view_dependencies;
                Some(bulk::read(client, token, id, deadline, &reader.permits, functions).await)
            }
            ReadPath::Rest(_) => None,
        }
    };
    // Tags come only from `information_schema` (`tags.rs`); a failure
    // there is a hole (tags unknown), not a failed read.
    let tags_read = async {
        match &path {
            ReadPath::Warehouse(id) => {
                let deadline = Instant::now() + options.statement_timeout;
                super::tags::read(client, token, id, deadline, &reader.permits).await.map_err(|e| e.to_string())
            }
            ReadPath::Rest(why) => Err(format!("tags are read from information_schema only, and {why}")),
        }
    };
    // The first fatal error ends the whole read at once.
    // Boxed: together these futures are large, and a caller joins two reads
    // on one task's stack.
    // A read that does not plan lists the metastore's models in one call and
    // fetches each wanted one, beside the rest (`models_read::fetch_summaries`).
    let managed_catalogs: Vec<String> = catalogs
        .iter()
        .filter(|c| options.filter.wants_catalog(&c.name))
        .filter(|c| catalog_kind(c) == CatalogKind::Managed)
        .map(|c| c.name.clone())
        .collect();
    let wanted_model = |model: &crate::databricks::models::RegisteredModel| {
        managed_catalogs.iter().any(|c| c.eq_ignore_ascii_case(&model.catalog_name))
            && options.filter.wants_schema(&model.schema_name)
    };
    let models_summarised = async {
        match options.view_dependencies {
            true => None,
            false => {
                let listed = reader.limited(client.list_metastore_models(token)).await;
                let summaries = super::models_read::fetch_summaries(
                    client,
                    token,
                    listed,
                    wanted_model,
                    concurrency,
                    &reader.permits,
                );
                Some(summaries.await)
            }
        }
    };
    let (
        (mut snapshot, rest_jobs),
        (sharing, mut skipped),
        metastore_id,
        bulk_read,
        storage,
        me,
        tags,
        models_summarised,
    ) = tokio::try_join!(
        Box::pin(reader.objects(catalogs, options, matches!(path, ReadPath::Rest(_)))),
        Box::pin(reader.sharing()),
        Box::pin(async { Ok(reader.metastore_id(options, may_query, elsewhere).await) }),
        Box::pin(async { Ok(bulk_read.await) }),
        Box::pin(async { Ok(reader.storage(matches!(path, ReadPath::Rest(_))).await) }),
        Box::pin(async { Ok(reader.limited(client.me(token)).await) }),
        Box::pin(async { Ok(tags_read.await) }),
        Box::pin(async { Ok(models_summarised.await) }),
    )?;
    // Who read it, once: the view take-over, the share-owner checks and the
    // storage checks all judge by this principal and its groups.
    let read_by = match me {
        Ok(me) => Some(Principal {
            name: me.user_name,
            groups: me.groups.into_iter().map(|g| g.display).filter(|g| !g.is_empty()).collect(),
        }),
        // Not fatal: a plan then alters only views this identity owns, and
        // the others fail with Databricks' own refusal.
        Err(error) => {
            tracing::warn!(error = %error, "who the reader is could not be read");
            None
        }
    };
    if let Some(principal) = &read_by {
        snapshot.read_as = principal.name.clone();
        snapshot.read_as_groups = principal.groups.iter().cloned().collect();
    }
    match storage {
        Ok(storage) => snapshot.storage = Some(StorageAccess { reader: read_by, ..storage }),
        Err(skip) => skipped.push(skip),
    }
    // Format options need the warehouse: read when it is running (whichever
    // path the grants took), never starting it.
    if let (Some(id), true, true) = (&options.warehouse_id, may_query, options.view_dependencies) {
        let deadline = Instant::now() + options.statement_timeout;
        reader.format_options(id, &mut snapshot, deadline).await;
    }
    // Registered models (`models_read.rs`): in full to plan, else their
    // versions and aliases from the one list.
    let unreadable = |unreadable: super::models_read::Unreadable| ReadError::Databricks {
        what: unreadable.what,
        source: unreadable.source,
    };
    match models_summarised {
        None => super::models_read::read(client, token, &mut snapshot, concurrency, &reader.permits)
            .await
            .map_err(unreadable)?,
        Some(summaries) => super::models_read::apply_summaries(&mut snapshot, summaries).map_err(unreadable)?,
    }
    snapshot.read_path = path;
    match bulk_read {
        Some(Ok(mut read)) => {
            apply_bulk_volumes(&mut snapshot, read.volumes);
            if let Some(functions) = read.functions {
                apply_bulk_functions(&mut snapshot, functions, options.view_dependencies);
            }
            if let Some(storage) = snapshot.storage.as_mut() {
                for location in storage.locations.iter_mut() {
                    location.grants = read.grants.external_locations.remove(&location.name).unwrap_or_default();
                    location.grants_read = true;
                }
            }
            apply_bulk(&mut snapshot, read.grants);
        }
        Some(Err(error)) => {
            // The warehouse could not answer (a permission, a view it does
            // not have): the REST path still can.
            tracing::warn!(error = %error, "information_schema unreadable; reading grants, volumes and functions by REST");
            snapshot.read_path = ReadPath::Rest(format!("information_schema failed: {error}"));
            let mut holes = Vec::new();
            let mut volume_grants = Vec::new();
            for done in reader.phase(rest_jobs, &mut holes).await? {
                match done {
                    Done::Volumes(volumes) => fold_volumes(&mut snapshot, volumes, &mut volume_grants),
                    Done::Functions(functions) => {
                        for function in &functions {
                            let name = format!("{}.{}.{}", function.catalog_name, function.schema_name, function.name);
                            volume_grants.push(Job::Grants(Securable::Function, name));
                        }
                        fold_functions(&mut snapshot, functions, options.view_dependencies)
                    }
                    other => apply(&mut snapshot, other),
                }
            }
            for done in reader.phase(volume_grants, &mut holes).await? {
                apply(&mut snapshot, done);
            }
            if let Some(storage) = snapshot.storage.as_mut() {
                reader.locations_grants(&mut storage.locations).await;
            }
            snapshot.skipped.append(&mut holes);
        }
        None => {}
    }
    match tags {
        Ok(tags) => super::tags::apply(&mut snapshot, tags),
        Err(why) => snapshot.skipped.push(super::tags::unread(why)),
    }
    snapshot.sharing = sharing;
    snapshot.skipped.append(&mut skipped);
    match metastore_id {
        Ok(id) => snapshot.global_metastore_id = id,
        Err(skip) => snapshot.skipped.push(skip),
    }
    snapshot.skipped.sort();
    snapshot.skipped.dedup();
    Ok(snapshot)
}

/// Adds the bulk-read volumes of the schemas whose contents were read (the
/// REST path lists exactly those schemas' volumes: managed catalogs, the
/// filter, no `information_schema`).
fn apply_bulk_volumes(snapshot: &mut Snapshot, volumes: Vec<uc::Volume>) {
    for volume in volumes {
        let schema = format!("{}.{}", volume.catalog_name, volume.schema_name);
        if snapshot.schemas.contains_key(&schema) {
            let info = volume_info(volume);
            snapshot.volumes.insert(info.full_name(), info);
        }
    }
}

/// Adds the bulk-read functions of the schemas whose contents were read
/// (as `apply_bulk_volumes`).
fn apply_bulk_functions(snapshot: &mut Snapshot, functions: Vec<uc::Function>, with_dependencies: bool) {
    let wanted: Vec<uc::Function> = functions
        .into_iter()
        .filter(|f| snapshot.schemas.contains_key(&format!("{}.{}", f.catalog_name, f.schema_name)))
        .collect();
    fold_functions(snapshot, wanted, with_dependencies);
}

/// Adds listed functions. A read without dependencies (`status`) keeps of
/// each only what `information_schema` has (`bulk.rs`): no dependencies and
/// no owner, whichever path read it, so that both paths give the same
/// snapshot (neither is compared by a status; planning reads with both).
fn fold_functions(snapshot: &mut Snapshot, functions: Vec<uc::Function>, with_dependencies: bool) {
    for function in functions {
        let mut info = function_info(function);
        if !with_dependencies {
            info.dependencies.clear();
            info.common.owner.clear();
        }
        snapshot.functions.insert(info.full_name(), info);
    }
}

/// Adds listed volumes, and a grants job for each to `grant_jobs`.
fn fold_volumes(snapshot: &mut Snapshot, volumes: Vec<uc::Volume>, grant_jobs: &mut Vec<Job>) {
    for volume in volumes {
        let info = volume_info(volume);
        grant_jobs.push(Job::Grants(Securable::Volume, info.full_name()));
        snapshot.volumes.insert(info.full_name(), info);
    }
}

/// Puts the bulk-read grants on every object the lists found; an object
/// with no row has no direct grants.
fn apply_bulk(snapshot: &mut Snapshot, mut grants: BulkGrants) {
    for (name, catalog) in snapshot.catalogs.iter_mut() {
        catalog.common.grants = grants.catalogs.remove(name).unwrap_or_default();
    }
    for (name, schema) in snapshot.schemas.iter_mut() {
        schema.common.grants = grants.schemas.remove(name).unwrap_or_default();
    }
    for (name, table) in snapshot.tables.iter_mut() {
        table.common.grants = grants.tables.remove(name).unwrap_or_default();
    }
    for (name, volume) in snapshot.volumes.iter_mut() {
        volume.common.grants = grants.volumes.remove(name).unwrap_or_default();
    }
    for (name, function) in snapshot.functions.iter_mut() {
        function.common.grants = grants.functions.remove(name).unwrap_or_default();
    }
}

struct Reader<'a> {
    client: &'a WorkspaceClient,
    token: &'a AccessToken,
    concurrency: usize,
    /// One permit per request in flight, shared by the object phases and
    /// the sharing reads that run beside them, so the bound holds overall
    /// (and with other reads of the workspace, given `shared_permits`).
    permits: Arc<Semaphore>,
}

/// One request of a phase.
#[derive(Clone, Debug)]
enum Job {
    Grants(Securable, String),
    Schemas(String),
    Tables(String, String),
    Volumes(String, String),
    Functions(String, String),
    View(String),
}

impl Job {
    /// What the job reads, for a skip record: securable, full name, part.
    fn subject(&self) -> (&'static str, String, SkippedPart) {
        match self {
            Job::Grants(kind, name) => (kind.api_name(), name.clone(), SkippedPart::Grants),
            Job::Schemas(catalog) => ("catalog", catalog.clone(), SkippedPart::Contents),
            Job::Tables(catalog, schema) | Job::Volumes(catalog, schema) | Job::Functions(catalog, schema) => {
                ("schema", format!("{catalog}.{schema}"), SkippedPart::Contents)
            }
            Job::View(name) => ("table", name.clone(), SkippedPart::ViewDependencies),
        }
    }
}

enum Done {
    Grants(Securable, String, Grants),
    Schemas(Vec<uc::Schema>),
    Tables(Vec<uc::Table>),
    Volumes(Vec<uc::Volume>),
    Functions(Vec<uc::Function>),
    View(Box<uc::Table>),
}

/// Errors that leave a hole to record rather than a read to abandon.
fn skippable(error: &DatabricksError) -> bool {
    matches!(error, DatabricksError::PermissionDenied(_) | DatabricksError::NotFound(_))
}

fn skip(securable: &str, full_name: String, part: SkippedPart, error: &DatabricksError) -> Skipped {
    Skipped { securable: securable.to_string(), full_name, part, reason: error.to_string() }
}

impl Reader<'_> {
    /// `request`, once a permit is free.
    async fn limited<T>(&self, request: impl Future<Output = T>) -> T {
        // The semaphore is never closed; were it, the request runs unlimited.
        let _permit = self.permits.acquire().await.ok();
        request.await
    }

    /// The format options of the non-Delta external tables (`describe.rs`),
    /// one statement each, within the read's budget of requests.
    async fn format_options(&self, warehouse_id: &str, snapshot: &mut Snapshot, deadline: Instant) {
        let mut answers = stream::iter(super::describe::tables(snapshot))
            .map(|(name, parts)| async move {
                let result = match super::describe::statement(&parts) {
                    Ok(sql) => match self.limited(self.client.query(self.token, warehouse_id, &sql, deadline)).await {
                        Ok((_, rows)) => super::describe::from_rows(&rows),
                        Err(error) => Err(error.to_string()),
                    },
                    Err(error) => Err(error.to_string()),
                };
                (name, result)
            })
            .buffer_unordered(self.concurrency);
        while let Some((name, result)) = answers.next().await {
            super::describe::fold(snapshot, name, result);
        }
    }

    async fn run(&self, job: &Job) -> Result<Done, DatabricksError> {
        let _permit = self.permits.acquire().await.ok();
        let (client, token) = (self.client, self.token);
        Ok(match job {
            Job::Grants(kind, name) => {
                let assignments = client.get_permissions(token, *kind, name).await?;
                Done::Grants(*kind, name.clone(), grants_map(&assignments))
            }
            Job::Schemas(catalog) => Done::Schemas(client.list_schemas(token, catalog).await?),
            Job::Tables(catalog, schema) => Done::Tables(client.list_tables(token, catalog, schema).await?),
            Job::Volumes(catalog, schema) => Done::Volumes(client.list_volumes(token, catalog, schema).await?),
            Job::Functions(catalog, schema) => Done::Functions(client.list_functions(token, catalog, schema).await?),
            Job::View(name) => Done::View(Box::new(client.get_table(token, name).await?)),
        })
    }

    /// Runs a phase's jobs, `concurrency` at a time; holes are recorded,
    /// anything else ends the read.
    async fn phase(&self, jobs: Vec<Job>, skipped: &mut Vec<Skipped>) -> Result<Vec<Done>, ReadError> {
        let mut results = stream::iter(jobs)
            .map(|job| async move {
                let result = self.run(&job).await;
                (job, result)
            })
            .buffer_unordered(self.concurrency);
        let mut done = Vec::new();
        while let Some((job, result)) = results.next().await {
            match result {
                Ok(value) => done.push(value),
                Err(error) if skippable(&error) => {
                    let (securable, name, part) = job.subject();
                    skipped.push(skip(securable, name, part, &error));
                }
                Err(error) => {
                    let (securable, name, part) = job.subject();
                    return Err(ReadError::Databricks {
                        what: format!("{part:?} of {securable} {name}"),
                        source: error,
                    });
                }
            }
        }
        Ok(done)
    }

    /// The lists (and view GETs) below the catalogs; grants, volume lists
    /// and (without dependencies wanted) function lists too when `rest`,
    /// else their jobs come back unrun (the statements of `bulk.rs` read
    /// them; the jobs are the fallback).
    async fn objects(
        &self,
        catalogs: Vec<uc::Catalog>,
        options: &ReadOptions,
        rest: bool,
    ) -> Result<(Snapshot, Vec<Job>), ReadError> {
        let filter = &options.filter;
        let mut snapshot = Snapshot::default();
        let mut skipped = Vec::new();
        let mut deferred = Vec::new();
        let mut deferrable = |jobs: &mut Vec<Job>, job: Job| {
            if rest {
                jobs.push(job)
            } else {
                deferred.push(job)
            }
        };

        // Phase 1: every wanted catalog's grants; managed catalogs' schemas.
        let mut jobs = Vec::new();
        for catalog in catalogs.into_iter().filter(|c| filter.wants_catalog(&c.name)) {
            let info = catalog_info(catalog);
            deferrable(&mut jobs, Job::Grants(Securable::Catalog, info.name.clone()));
            if info.kind == CatalogKind::Managed {
                jobs.push(Job::Schemas(info.name.clone()));
            }
            snapshot.catalogs.insert(info.name.clone(), info);
        }
        let mut next = Vec::new();
        for done in self.phase(jobs, &mut skipped).await? {
            match done {
                Done::Schemas(schemas) => {
                    for schema in schemas {
                        if schema.name.eq_ignore_ascii_case("information_schema") || !filter.wants_schema(&schema.name)
                        {
                            continue;
                        }
                        let info = schema_info(schema);
                        deferrable(&mut next, Job::Grants(Securable::Schema, info.full_name()));
                        next.push(Job::Tables(info.catalog.clone(), info.name.clone()));
                        deferrable(&mut next, Job::Volumes(info.catalog.clone(), info.name.clone()));
                        // Deferred like the volumes when `bulk.rs` reads
                        // them, i.e. when no dependencies are wanted.
                        let functions = Job::Functions(info.catalog.clone(), info.name.clone());
                        if options.view_dependencies {
                            next.push(functions);
                        } else {
                            deferrable(&mut next, functions);
                        }
                        snapshot.schemas.insert(info.full_name(), info);
                    }
                }
                other => apply(&mut snapshot, other),
            }
        }

        // Phase 2: each schema's grants, tables and volumes.
        let mut last = Vec::new();
        for done in self.phase(next, &mut skipped).await? {
            match done {
                Done::Tables(tables) => {
                    for table in tables {
                        let info = table_info(table);
                        deferrable(&mut last, Job::Grants(Securable::Table, info.full_name()));
                        // Views, materialized views and streaming tables name
                        // what they read only in a GET.
                        let defined_by_query = matches!(
                            info.kind,
                            TableKind::View | TableKind::MaterializedView | TableKind::StreamingTable
                        );
                        if defined_by_query && options.view_dependencies {
                            last.push(Job::View(info.full_name()));
                        }
                        snapshot.tables.insert(info.full_name(), info);
                    }
                }
                // Listed only on the REST path, whose grants are read too.
                Done::Volumes(volumes) => fold_volumes(&mut snapshot, volumes, &mut last),
                Done::Functions(functions) => {
                    for function in &functions {
                        let name = format!("{}.{}.{}", function.catalog_name, function.schema_name, function.name);
                        deferrable(&mut last, Job::Grants(Securable::Function, name));
                    }
                    fold_functions(&mut snapshot, functions, options.view_dependencies)
                }
                other => apply(&mut snapshot, other),
            }
        }

        // Phase 3: table and volume grants, view dependencies.
        for done in self.phase(last, &mut skipped).await? {
            apply(&mut snapshot, done);
        }
        snapshot.skipped = skipped;
        Ok((snapshot, deferred))
    }

    /// The external locations with their owners and direct grants, and who
    /// is reading (SCIM `Me`: user name and groups), for the storage checks
    /// (`storage.rs`). A handful of calls: one list and, when `rest_grants`,
    /// one grants GET per location (else `bulk.rs` reads them and
    /// `read_snapshot` fills them in). Unreadable, it is a hole in the
    /// snapshot, not a failed read: the checks are then not made, and
    /// readiness lists why.
    async fn storage(&self, rest_grants: bool) -> Result<StorageAccess, Skipped> {
        let (client, token) = (self.client, self.token);
        let hole = |error: DatabricksError| skip("metastore", String::new(), SkippedPart::Storage, &error);
        let locations = self.limited(client.list_external_locations(token)).await.map_err(hole)?;
        let mut locations: Vec<LocationInfo> = locations
            .into_iter()
            .map(|l| LocationInfo {
                name: l.name,
                url: l.url,
                read_only: l.read_only,
                owner: l.owner.unwrap_or_default(),
                grants: Grants::new(),
                grants_read: false,
            })
            .collect();
        if rest_grants {
            self.locations_grants(&mut locations).await;
        }
        // Who reads (SCIM `Me`) is read once for the whole snapshot, in
        // `read_snapshot`, and filled in there.
        Ok(StorageAccess { locations, reader: None })
    }

    /// Each location's direct grants by REST, at once; one that cannot be
    /// read keeps `grants_read: false` (the checks then say so).
    async fn locations_grants(&self, locations: &mut [LocationInfo]) {
        let names: Vec<String> = locations.iter().map(|l| l.name.clone()).collect();
        let answers = futures::future::join_all(names.into_iter().map(|name| self.location_grants(name))).await;
        let mut grants: BTreeMap<String, Result<Grants, DatabricksError>> = answers.into_iter().collect();
        for location in locations.iter_mut() {
            if let Some(Ok(read)) = grants.remove(&location.name) {
                location.grants = read;
                location.grants_read = true;
            }
        }
    }

    /// One external location's direct grants, once a permit is free.
    async fn location_grants(&self, name: String) -> (String, Result<Grants, DatabricksError>) {
        let answer = self.limited(self.client.get_permissions(self.token, Securable::ExternalLocation, &name)).await;
        (name, answer.map(|assignments| grants_map(&assignments)))
    }

    /// Recipients, shares (with objects and grants) and providers.
    async fn sharing(&self) -> Result<(SharingState, Vec<Skipped>), ReadError> {
        let (client, token) = (self.client, self.token);
        let mut state = SharingState::default();
        let mut skipped = Vec::new();
        let fatal = |what: &str, source| ReadError::Databricks { what: what.to_string(), source };
        let (recipients, shares, providers) = tokio::join!(
            self.limited(client.list_recipients(token)),
            self.limited(client.list_shares(token)),
            self.limited(client.list_providers(token, None))
        );
        match recipients {
            Ok(recipients) => {
                for recipient in recipients {
                    state
                        .recipients
                        .insert(recipient.name, recipient.data_recipient_global_metastore_id.unwrap_or_default());
                }
            }
            Err(error) if skippable(&error) => {
                skipped.push(skip("recipient", String::new(), SkippedPart::Sharing, &error))
            }
            Err(error) => return Err(fatal("the recipients", error)),
        }
        match providers {
            Ok(providers) => {
                for provider in providers {
                    state
                        .providers
                        .insert(provider.name, provider.data_provider_global_metastore_id.unwrap_or_default());
                }
            }
            Err(error) if skippable(&error) => {
                skipped.push(skip("provider", String::new(), SkippedPart::Sharing, &error))
            }
            Err(error) => return Err(fatal("the providers", error)),
        }
        let shares = match shares {
            Ok(shares) => shares,
            Err(error) if skippable(&error) => {
                skipped.push(skip("share", String::new(), SkippedPart::Sharing, &error));
                Vec::new()
            }
            Err(error) => return Err(fatal("the shares", error)),
        };
        let mut details = stream::iter(shares)
            .map(|share| async move {
                let (detail, permissions) = tokio::join!(
                    self.limited(client.get_share(token, &share.name)),
                    self.limited(client.share_permissions(token, &share.name))
                );
                (share.name, detail, permissions)
            })
            .buffer_unordered(self.concurrency);
        while let Some((name, detail, permissions)) = details.next().await {
            let (detail, permissions) = match (detail, permissions) {
                (Ok(detail), Ok(permissions)) => (detail, permissions),
                (Err(error), _) | (_, Err(error)) if skippable(&error) => {
                    skipped.push(skip("share", name, SkippedPart::Sharing, &error));
                    continue;
                }
                (Err(error), _) | (_, Err(error)) => return Err(fatal(&format!("share {name}"), error)),
            };
            let schemas = detail
                .objects
                .iter()
                .filter(|o| o.data_object_type.eq_ignore_ascii_case("SCHEMA"))
                .map(|o| o.name.clone())
                .collect();
            let recipients_with_select = permissions
                .into_iter()
                .filter(|a| a.privileges.iter().any(|p| p.eq_ignore_ascii_case("SELECT")))
                .map(|a| a.principal)
                .collect();
            let owner = detail.owner.unwrap_or_default();
            state.shares.insert(name, ShareInfo { schemas, recipients_with_select, owner });
        }
        Ok((state, skipped))
    }

    /// Which path the grants take: the warehouse's when it is running;
    /// whether a statement may be sent at all (not to a warehouse known to
    /// be stopped: that would start it); and whether the warehouse is not
    /// this workspace's at all (a pair's warehouse is the secondary's).
    async fn warehouse(&self, options: &ReadOptions) -> (ReadPath, bool, bool) {
        let Some(id) = options.warehouse_id.as_deref() else {
            return (ReadPath::Rest("no SQL warehouse configured".into()), false, false);
        };
        match self.running_warehouse(id, options.statement_timeout).await {
            Ok(state) if state == "RUNNING" && options.bulk => (ReadPath::Warehouse(id.to_string()), true, false),
            Ok(state) if state == "RUNNING" => (ReadPath::Rest("bulk reads turned off".into()), true, false),
            Ok(state) if state == "STARTING" => {
                let waited = options.statement_timeout.as_secs();
                (ReadPath::Rest(format!("warehouse {id} is still STARTING after {waited} s of waiting")), false, false)
            }
            Ok(state) => (ReadPath::Rest(format!("warehouse {id} is {state}; a read does not start it")), false, false),
            // A statement sent there would fail.
            Err(DatabricksError::NotFound(_)) => {
                (ReadPath::Rest(format!("warehouse {id} is not a warehouse of this workspace")), false, true)
            }
            Err(error) => (ReadPath::Rest(format!("warehouse {id} state unknown: {error}")), true, false),
        }
    }

    /// The warehouse's state; one that is STARTING (someone else woke it) is
    /// waited for, within `budget`, since asking it then costs nothing more
    /// than it already does. A stopped one is left alone.
    async fn running_warehouse(&self, id: &str, budget: Duration) -> Result<String, DatabricksError> {
        let deadline = Instant::now() + budget;
        let mut pause = Duration::from_millis(100);
        loop {
            let state = self.limited(self.client.warehouse_state(self.token, id)).await?;
            if state != "STARTING" || Instant::now() + pause >= deadline {
                return Ok(state);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// The global metastore id, or why it stays empty (never fatal: readiness
    /// reports it, and a read without a warehouse is legitimate).
    async fn metastore_id(&self, options: &ReadOptions, may_query: bool, elsewhere: bool) -> Result<String, Skipped> {
        let warehouse_id = options.warehouse_id.as_deref().filter(|_| !elsewhere);
        let Some(warehouse_id) = warehouse_id else {
            // No warehouse of this workspace (none given, or the id is
            // another workspace's): the metastore summary names the global
            // id without a statement.
            return self
                .limited(self.client.metastore_summary(self.token))
                .await
                .map(|summary| summary.global_metastore_id)
                .map_err(|error| skip("metastore", String::new(), SkippedPart::MetastoreId, &error));
        };
        if !may_query {
            return Err(Skipped {
                securable: "metastore".into(),
                full_name: String::new(),
                part: SkippedPart::MetastoreId,
                reason: format!(
                    "warehouse {warehouse_id} is not running (stopped, or still starting); a read does not start it"
                ),
            });
        }
        let deadline = Instant::now() + options.statement_timeout;
        self.limited(self.client.current_metastore(self.token, warehouse_id, deadline))
            .await
            .map_err(|error| skip("metastore", String::new(), SkippedPart::MetastoreId, &error))
    }
}

/// Folds a grants or view answer into the snapshot.
fn apply(snapshot: &mut Snapshot, done: Done) {
    match done {
        Done::Grants(kind, name, grants) => {
            let common = match kind {
                Securable::Catalog => snapshot.catalogs.get_mut(&name).map(|c| &mut c.common),
                Securable::Schema => snapshot.schemas.get_mut(&name).map(|s| &mut s.common),
                Securable::Table => snapshot.tables.get_mut(&name).map(|t| &mut t.common),
                Securable::Volume => snapshot.volumes.get_mut(&name).map(|v| &mut v.common),
                Securable::Function => snapshot.functions.get_mut(&name).map(|f| &mut f.common),
                _ => None,
            };
            if let Some(common) = common {
                common.grants = grants;
            }
        }
        Done::View(table) => {
            if let Some(info) = snapshot.tables.get_mut(&table.full_name()) {
                info.view_dependencies = table.table_dependencies();
                info.view_dependencies.extend(table.function_dependencies());
                if info.view_definition.is_none() {
                    info.view_definition = table.view_definition.clone();
                }
            }
        }
        Done::Schemas(_) | Done::Tables(_) | Done::Volumes(_) | Done::Functions(_) => {}
    }
}

fn common(owner: Option<String>, comment: Option<String>, properties: BTreeMap<String, String>) -> Common {
    Common { owner: owner.unwrap_or_default(), comment, properties, grants: Grants::new(), tags: Default::default() }
}

/// A catalog the list gives no type is an ordinary managed one.
fn catalog_kind(catalog: &uc::Catalog) -> CatalogKind {
    CatalogKind::from_api(catalog.catalog_type.as_deref().unwrap_or("MANAGED_CATALOG"))
}

fn catalog_info(catalog: uc::Catalog) -> CatalogInfo {
    CatalogInfo {
        kind: catalog_kind(&catalog),
        storage_root: catalog.storage_root,
        provider_name: catalog.provider_name,
        share_name: catalog.share_name,
        common: common(catalog.owner, catalog.comment, catalog.properties),
        name: catalog.name,
    }
}

fn schema_info(schema: uc::Schema) -> SchemaInfo {
    SchemaInfo {
        catalog: schema.catalog_name,
        name: schema.name,
        storage_root: schema.storage_root,
        common: common(schema.owner, schema.comment, schema.properties),
    }
}

/// A listed table; the two commit properties become `delta` (they are state,
/// not configuration: copied or compared as properties they would differ
/// on every read).
fn table_info(table: uc::Table) -> TableInfo {
    let mut properties = table.properties;
    let version = properties.remove(DELTA_VERSION_PROPERTY).and_then(|v| v.trim().parse::<i64>().ok());
    let committed = properties.remove(DELTA_COMMIT_TIMESTAMP_PROPERTY).and_then(|v| v.trim().parse::<i64>().ok());
    let delta = match (version, committed) {
        (Some(version), Some(last_commit_ms)) => Some(DeltaState { version, last_commit_ms }),
        _ => None,
    };
    let kind = TableKind::from_api(table.table_type.as_deref().unwrap_or_default());
    let delta_format = table.data_source_format.as_deref().is_none_or(|f| f.eq_ignore_ascii_case("DELTA"));
    // A non-Delta external table's columns, when the API gave them all.
    let columns: Vec<ColumnDef> = if kind == TableKind::External && !delta_format {
        let given: Vec<ColumnDef> = table
            .columns
            .iter()
            .filter_map(|c| {
                let type_text = c.type_text.clone().filter(|t| !t.is_empty())?;
                Some(ColumnDef { name: c.name.clone(), type_text, partition_index: c.partition_index })
            })
            .collect();
        if given.len() == table.columns.len() {
            given
        } else {
            Vec::new()
        }
    } else {
        Vec::new()
    };
    // Column comments come with the list; column tags from `bulk.rs`.
    let column_metadata: BTreeMap<String, ColumnMetadata> = table
        .columns
        .iter()
        .filter_map(|c| {
            let comment = c.comment.clone().filter(|c| !c.is_empty())?;
            Some((c.name.clone(), ColumnMetadata { comment: Some(comment), tags: Default::default() }))
        })
        .collect();
    let protection = Protection {
        row_filter: table.row_filter.map(|f| Policy { function_name: f.function_name, columns: f.input_column_names }),
        column_masks: table
            .columns
            .into_iter()
            .filter_map(|c| {
                let mask = c.mask?;
                Some((c.name, Policy { function_name: mask.function_name, columns: mask.using_column_names }))
            })
            .collect(),
    };
    TableInfo {
        protection,
        columns,
        format_options: None,
        pipeline_id: table.pipeline_id,
        column_metadata,
        constraints: constraints(table.table_constraints),
        kind,
        format: table.data_source_format,
        storage_location: table.storage_location,
        view_definition: table.view_definition,
        view_dependencies: Vec::new(),
        delta,
        common: common(table.owner, table.comment, properties),
        catalog: table.catalog_name,
        schema: table.schema_name,
        name: table.name,
    }
}

/// A table's informational keys, sorted by name; a foreign key without
/// its parent table is not one drbot could add again, so it is left out
/// (the API always names the parent).
fn constraints(listed: Vec<uc::TableConstraint>) -> Vec<Constraint> {
    let mut out: Vec<Constraint> = listed
        .into_iter()
        .filter_map(|c| match (c.primary_key_constraint, c.foreign_key_constraint) {
            (Some(pk), _) => Some(Constraint {
                name: pk.name,
                columns: pk.child_columns,
                key: Key::Primary,
                rely: pk.rely.unwrap_or(false),
            }),
            (None, Some(fk)) => Some(Constraint {
                name: fk.name,
                columns: fk.child_columns,
                key: Key::Foreign { parent_table: fk.parent_table?, parent_columns: fk.parent_columns },
                rely: fk.rely.unwrap_or(false),
            }),
            (None, None) => None,
        })
        .collect();
    out.sort();
    out
}

/// A function as the planner needs it: a SQL function's parameters, return
/// type and body; another language's name (it is reported, not re-created).
fn function_info(function: uc::Function) -> FunctionInfo {
    let full_name = function.full_name();
    let language = match (function.routine_body.as_deref(), &function.external_language) {
        (Some(body), _) if body.eq_ignore_ascii_case("SQL") => "SQL".to_string(),
        (_, Some(language)) => language.to_ascii_uppercase(),
        (Some(body), None) => body.to_ascii_uppercase(),
        (None, None) => "UNKNOWN".to_string(),
    };
    let mut parameters = function.input_params.clone().map(|p| p.parameters).unwrap_or_default();
    parameters.sort_by_key(|p| p.position.unwrap_or(i64::MAX));
    let mut parts = full_name.splitn(3, '.').map(str::to_string);
    FunctionInfo {
        catalog: parts.next().unwrap_or(function.catalog_name.clone()),
        schema: parts.next().unwrap_or(function.schema_name.clone()),
        name: parts.next().unwrap_or(function.name.clone()),
        language,
        parameters: parameters.into_iter().map(|p| (p.name, p.type_text)).collect(),
        returns: function.full_data_type.clone().unwrap_or_default(),
        body: function.routine_definition.clone().unwrap_or_default(),
        dependencies: function.dependencies(),
        common: common(function.owner, function.comment, BTreeMap::new()),
    }
}

fn volume_info(volume: uc::Volume) -> VolumeInfo {
    VolumeInfo {
        catalog: volume.catalog_name,
        schema: volume.schema_name,
        name: volume.name,
        volume_type: volume.volume_type.unwrap_or_default(),
        storage_location: volume.storage_location,
        common: common(volume.owner, volume.comment, BTreeMap::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_a_shell_would() {
        assert!(glob_matches("*", ""));
        assert!(glob_matches("raw_*", "raw_00"));
        assert!(glob_matches("RAW_??", "raw_01"));
        assert!(!glob_matches("raw_?", "raw_01"));
        assert!(glob_matches("*_0?", "silver_03"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxbyy"));
        assert!(glob_matches("**x", "x"));
        assert!(!glob_matches("", "x"));
        // No blow-up on many stars.
        assert!(!glob_matches(&"*a".repeat(30), &"a".repeat(29)));
    }

    #[test]
    fn filters_select_catalogs_and_schemas() {
        let filter = ReadFilter { catalog: Some("Main".into()), schema_pattern: Some("gold_*".into()) };
        assert!(filter.wants_catalog("main") && !filter.wants_catalog("sales"));
        assert!(filter.wants_schema("gold_03") && !filter.wants_schema("raw_00"));
        assert!(ReadFilter::default().wants_catalog("x") && ReadFilter::default().wants_schema("y"));
    }

    #[test]
    fn delta_state_comes_from_the_two_properties_which_are_then_dropped() {
        let table = uc::Table {
            name: "t".into(),
            catalog_name: "c".into(),
            schema_name: "s".into(),
            table_type: Some("MANAGED".into()),
            data_source_format: Some("DELTA".into()),
            properties: [
                (DELTA_VERSION_PROPERTY.to_string(), "12".to_string()),
                (DELTA_COMMIT_TIMESTAMP_PROPERTY.to_string(), "1795000000000".to_string()),
                ("team".to_string(), "sales".to_string()),
            ]
            .into(),
            ..Default::default()
        };
        let info = table_info(table);
        assert_eq!(info.delta, Some(DeltaState { version: 12, last_commit_ms: 1_795_000_000_000 }));
        assert_eq!(info.common.properties.len(), 1);
        assert_eq!(info.kind, TableKind::Managed);

        let garbled = uc::Table {
            properties: [(DELTA_VERSION_PROPERTY.to_string(), "twelve".to_string())].into(),
            ..Default::default()
        };
        assert_eq!(table_info(garbled).delta, None, "bad wire data is no state, not a panic");
    }
}
