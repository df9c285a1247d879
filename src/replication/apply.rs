//! One action against the workspaces.
//!
//! `sql::render` says what an action sends; this file sends it and decides
//! what the answer means. A statement runs on the secondary's warehouse with
//! its own deadline (a stuck clone must not hold the run for two days) and
//! its id is handed out as soon as the warehouse accepted it, before any
//! wait, so that a bot restarted mid-run can look the statement up instead
//! of starting it again. A REST call goes through the typed client.
//!
//! Every action is idempotent (see `plan.rs`), so the answers "already
//! exists" to a create or a share ADD and "not found" to a drop mean the work
//! is done, not that it failed. Transient trouble (throttling, a 5xx, a
//! warehouse that lost its executor) is retried with backoff for as long as
//! the action's budget lasts; anything else fails the action at once with the
//! workspace's message. A token refused with 401 is replaced by a fresh one,
//! once: a second refusal is a real one.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::history::latest_commit_statement;
use super::model_info::ModelChange;
use super::object::ObjectKind;
use super::plan::{Action, ActionKind, CloneReason};
use super::sql::{self, Request, RestCall};
use super::storage_arrival::{self, Arrival};
use super::workspaces::{TokenSource, Workspaces};
use crate::databricks::sharing::{ShareAction, ShareUpdate, SharedObject};
use crate::databricks::statements::{CancelReason, Polling, StatementOutcome, StatementRequest, StatementRun};
use crate::databricks::unity_catalog::{CreateCatalog, CreateSchema, PermissionChange, Securable, Update};
use crate::databricks::{DatabricksError, RetryPolicy, WorkspaceClient};
use crate::identity::AccessToken;

/// How one action is run.
#[derive(Clone, Debug)]
pub struct ActionSettings {
    /// The deadline of one statement, from its submission.
    pub statement_timeout: Duration,
    /// The whole action, retries included: no new attempt starts after it.
    pub budget: Duration,
    /// Backoff between attempts (its own budget and attempt count are not
    /// used: `budget` bounds the action).
    pub backoff: RetryPolicy,
    /// How often a running statement is looked at.
    pub polling: Polling,
}

impl Default for ActionSettings {
    fn default() -> Self {
        ActionSettings {
            statement_timeout: Duration::from_secs(3600),
            budget: Duration::from_secs(4 * 3600),
            backoff: RetryPolicy::default(),
            polling: Polling { first: Duration::from_millis(50), max: Duration::from_secs(2) },
        }
    }
}

/// What a succeeded action reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// For people: `version 42`, `already there`, …
    pub detail: Option<String>,
    /// The primary's Delta version a clone copied.
    pub copied_version: Option<i64>,
}

/// Why an action did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("{0}")]
    Failed(String),
    #[error("canceled")]
    Canceled,
    /// Not run yet, for a reason a later cycle outgrows (storage
    /// replication has not delivered the files): reported, not a failure.
    #[error("{0}")]
    Waiting(String),
}

/// How one attempt ended, when not with success.
enum Attempt {
    Transient(String),
    Unauthenticated(String),
    Permanent(String),
    Canceled,
}

impl From<DatabricksError> for Attempt {
    fn from(error: DatabricksError) -> Attempt {
        if error.is_transient() {
            Attempt::Transient(error.to_string())
        } else if matches!(error, DatabricksError::Unauthenticated(_)) {
            Attempt::Unauthenticated(error.to_string())
        } else {
            Attempt::Permanent(error.to_string())
        }
    }
}

/// What an earlier attempt of this run (before a restart or a takeover) may
/// have done for an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prior<'a> {
    /// A fresh run: nothing.
    Nothing,
    /// It submitted this statement: followed first, and only if it did not
    /// succeed is a new one sent.
    Submitted(&'a str),
    /// A resumed run with no statement recorded for the action: it may still
    /// have been sent (the process can die between the warehouse accepting
    /// it and the checkpoint naming it), so a clone is first looked for in
    /// the table's history.
    Unrecorded,
}

/// Runs `action` to success, permanent failure, the end of its budget or
/// cancellation, after reconciling what an earlier attempt did (`prior`).
/// `on_submitted` gets each new statement's id before it is waited for.
pub async fn apply<T: TokenSource>(
    action: &Action,
    workspaces: &Workspaces,
    tokens: &T,
    settings: &ActionSettings,
    prior: Prior<'_>,
    cancel: &CancellationToken,
    on_submitted: &(dyn Fn(&str) + Send + Sync),
) -> Result<Applied, ApplyError> {
    let request = sql::render(action).map_err(|e| ApplyError::Failed(e.to_string()))?;
    let started = Instant::now();
    let mut token = tokens.token(false).await.map_err(|e| ApplyError::Failed(e.to_string()))?;
    let mut refreshed = false;
    if prior == Prior::Unrecorded {
        if let Some(version) = unrecorded_clone(action, workspaces, &token, settings).await {
            return Ok(cloned(version, "copied before the restart; its statement was not recorded"));
        }
    }
    if let ActionKind::RegisterExternalTable { location, .. } = &action.kind {
        if let Arrival::Waiting(reason) = arrival(location, workspaces, &token, settings, started, cancel).await? {
            return Err(ApplyError::Waiting(reason));
        }
    }
    let mut in_flight = match prior {
        Prior::Submitted(id) => Some(id.to_string()),
        Prior::Nothing | Prior::Unrecorded => None,
    };
    let mut retry = 0u32;
    loop {
        if cancel.is_cancelled() {
            return Err(ApplyError::Canceled);
        }
        let attempt =
            attempt(action, &request, workspaces, &token, settings, in_flight.take(), cancel, on_submitted).await;
        let error = match attempt {
            Ok(applied) => return Ok(applied),
            Err(Attempt::Canceled) => return Err(ApplyError::Canceled),
            Err(Attempt::Permanent(message)) => return Err(ApplyError::Failed(message)),
            Err(Attempt::Unauthenticated(message)) => {
                if refreshed {
                    return Err(ApplyError::Failed(message));
                }
                refreshed = true;
                token = tokens.token(true).await.map_err(|e| ApplyError::Failed(e.to_string()))?;
                continue;
            }
            Err(Attempt::Transient(message)) => message,
        };
        let wait = settings.backoff.backoff(retry);
        if started.elapsed() + wait > settings.budget {
            return Err(ApplyError::Failed(format!("{error} (still failing after {} attempts)", retry + 1)));
        }
        tracing::debug!(action = %action.id, retry, %error, "retrying an action after a transient failure");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return Err(ApplyError::Canceled),
        }
        retry += 1;
    }
}

#[allow(clippy::too_many_arguments)]
async fn attempt(
    action: &Action,
    request: &Request,
    workspaces: &Workspaces,
    token: &AccessToken,
    settings: &ActionSettings,
    in_flight: Option<String>,
    cancel: &CancellationToken,
    on_submitted: &(dyn Fn(&str) + Send + Sync),
) -> Result<Applied, Attempt> {
    match request {
        Request::Sql(statement) => {
            statement_attempt(action, statement, workspaces, token, settings, in_flight, cancel, on_submitted).await
        }
        Request::Rest(call) => rest(call, workspaces, token).await,
        // The runner hands these to `volume_copy.rs`; never one request.
        Request::VolumeFiles => Err(Attempt::Permanent("a volume's files are copied by volume_copy.rs".into())),
        Request::MountAfterProviderLookup { lookup, catalog, share } => {
            let RestCall::ListProviders { global_metastore_id } = lookup else {
                return Err(Attempt::Permanent("the provider lookup is not a provider list".into()));
            };
            let providers = workspaces.secondary.list_providers(token, Some(global_metastore_id)).await?;
            let provider = providers
                .into_iter()
                .find(|p| p.data_provider_global_metastore_id.as_deref().is_none_or(|id| id == global_metastore_id))
                // Providers appear by themselves once the recipient exists: not there yet is worth waiting for.
                .ok_or_else(|| {
                    Attempt::Transient(format!("no provider for {global_metastore_id} on the secondary yet"))
                })?;
            let call =
                sql::mount_share(catalog, share, &provider.name).map_err(|e| Attempt::Permanent(e.to_string()))?;
            rest(&call, workspaces, token).await
        }
    }
}

/// Whether a non-Delta table's files have reached its location on the
/// secondary, asked again while the answer is transient (within the action's
/// budget); a refusal (no READ FILES) fails the action like its statement would.
async fn arrival(
    location: &str,
    workspaces: &Workspaces,
    token: &AccessToken,
    settings: &ActionSettings,
    started: Instant,
    cancel: &CancellationToken,
) -> Result<Arrival, ApplyError> {
    let mut retry = 0u32;
    loop {
        let deadline = Instant::now() + settings.statement_timeout;
        let looked = tokio::select! {
            looked = storage_arrival::look(&workspaces.secondary, token, &workspaces.warehouse_id, location, deadline) => looked,
            () = cancel.cancelled() => return Err(ApplyError::Canceled),
        };
        let error = match looked {
            Ok(arrival) => return Ok(arrival),
            Err(error) if error.is_transient() => error,
            Err(error) => return Err(ApplyError::Failed(format!("listing {location}: {error}"))),
        };
        let wait = settings.backoff.backoff(retry);
        if started.elapsed() + wait > settings.budget {
            return Err(ApplyError::Failed(format!("listing {location}: {error}")));
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return Err(ApplyError::Canceled),
        }
        retry += 1;
    }
}

#[allow(clippy::too_many_arguments)]
async fn statement_attempt(
    action: &Action,
    statement: &str,
    workspaces: &Workspaces,
    token: &AccessToken,
    settings: &ActionSettings,
    in_flight: Option<String>,
    cancel: &CancellationToken,
    on_submitted: &(dyn Fn(&str) + Send + Sync),
) -> Result<Applied, Attempt> {
    let client = &workspaces.secondary;
    if let Some(id) = in_flight {
        // An earlier attempt's statement: if it succeeded the work is done;
        // if it failed, was cancelled or is forgotten, it is sent again.
        let deadline = Instant::now() + settings.statement_timeout;
        match client.follow_statement(token, &id, deadline, cancel, settings.polling).await {
            Ok(run @ StatementRun { outcome: StatementOutcome::Succeeded { .. } | StatementOutcome::Closed, .. }) => {
                return settle(action, run, workspaces, token, settings).await
            }
            Ok(StatementRun { outcome: StatementOutcome::Canceled { reason: CancelReason::Caller }, .. }) => {
                return Err(Attempt::Canceled)
            }
            // Forgotten: the warehouse keeps an ended statement ≥ 12 h only.
            // Whether it succeeded is read from the object itself, so that a
            // clone that succeeded is not copied again.
            Err(DatabricksError::NotFound(_)) => {
                if let Some(version) = cloned_version(action, workspaces, token, settings).await {
                    return Ok(cloned(version, "copied before; its statement was forgotten"));
                }
            }
            Ok(_) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let mut request = StatementRequest::new(&workspaces.warehouse_id, statement);
    // Answer at once with the id; the statement is followed by polling.
    request.wait_timeout = Duration::ZERO;
    let deadline = Instant::now() + settings.statement_timeout;
    let run = client
        .execute_statement_with(token, &request, deadline, cancel, settings.polling, |id| on_submitted(id))
        .await?;
    settle(action, run, workspaces, token, settings).await
}

/// How a statement's run ends the attempt. A `CLOSED` clone succeeded but
/// its result (the version it copied) is gone: the table's history says.
async fn settle(
    action: &Action,
    run: StatementRun,
    workspaces: &Workspaces,
    token: &AccessToken,
    settings: &ActionSettings,
) -> Result<Applied, Attempt> {
    if run.outcome == StatementOutcome::Closed {
        if let Some(version) = cloned_version(action, workspaces, token, settings).await {
            return Ok(cloned(version, "its result was closed; version from the table's history"));
        }
    }
    statement_outcome(action, run)
}

/// For a clone that holds at least the primary's version the plan saw: the
/// source version the secondary table's newest commit copied, read with
/// `DESCRIBE HISTORY … LIMIT 1` (a clone's commit is a `CLONE` whose
/// `operationParameters` name its `source` and `sourceVersion`). `None`
/// for any other action, a table not there, a newest commit that is not a
/// clone, an older version, or a history that could not be read: the clone
/// then runs (again), which is safe.
async fn cloned_version(
    action: &Action,
    workspaces: &Workspaces,
    token: &AccessToken,
    settings: &ActionSettings,
) -> Option<i64> {
    let ActionKind::CloneTable { source_delta: Some(planned), .. } = &action.kind else { return None };
    let sql = latest_commit_statement(&action.object.full_name())?;
    let deadline = Instant::now() + settings.statement_timeout;
    let (columns, rows) = match workspaces.secondary.query(token, &workspaces.warehouse_id, &sql, deadline).await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::info!(action = %action.id, %error, "the clone's table history is unreadable; cloning again");
            return None;
        }
    };
    let version = clone_source_version(&columns, &rows)?;
    (version >= planned.version).then_some(version)
}

/// A resumed run's clone that an earlier attempt may have sent without
/// recording it: done if the table's newest commit is a clone of at least
/// the planned version. Only for a missing or stale table, whose newest
/// commit before this run was older than that; a table replaced because it
/// differs is cloned again (its source may be a new table whose versions
/// start over).
async fn unrecorded_clone(
    action: &Action,
    workspaces: &Workspaces,
    token: &AccessToken,
    settings: &ActionSettings,
) -> Option<i64> {
    let ActionKind::CloneTable { reason: CloneReason::Missing | CloneReason::Stale, .. } = &action.kind else {
        return None;
    };
    cloned_version(action, workspaces, token, settings).await
}

/// The `sourceVersion` of a `CLONE` commit in the first row of a `DESCRIBE
/// HISTORY` answer. `operationParameters` is a map, which a JSON_ARRAY
/// result carries as JSON text; its values are strings (or numbers).
pub fn clone_source_version(columns: &[String], rows: &[Vec<Option<String>>]) -> Option<i64> {
    let at = |name: &str| columns.iter().position(|c| c.eq_ignore_ascii_case(name));
    let row = rows.first()?;
    let operation = row.get(at("operation")?)?.as_deref()?;
    if !operation.trim().eq_ignore_ascii_case("CLONE") {
        return None;
    }
    let parameters: serde_json::Value = serde_json::from_str(row.get(at("operationParameters")?)?.as_deref()?).ok()?;
    match parameters.get("sourceVersion")? {
        serde_json::Value::String(text) => text.trim().parse().ok(),
        serde_json::Value::Number(number) => number.as_i64(),
        _ => None,
    }
}

fn cloned(version: i64, how: &str) -> Applied {
    Applied { detail: Some(format!("version {version} ({how})")), copied_version: Some(version) }
}

fn statement_outcome(action: &Action, run: StatementRun) -> Result<Applied, Attempt> {
    match run.outcome {
        StatementOutcome::Succeeded { columns, rows } => Ok(clone_result(action, &columns, &rows)),
        // Succeeded, its result already gone: the work is done (a clone
        // reports the version the plan saw, which it holds at least).
        StatementOutcome::Closed => Ok(clone_result(action, &[], &[])),
        outcome @ StatementOutcome::Failed { .. } => {
            let transient = outcome.is_transient_failure();
            let StatementOutcome::Failed { error_code, message } = outcome else { unreachable!() };
            let message = if message.is_empty() { error_code } else { message };
            Err(if transient { Attempt::Transient(message) } else { Attempt::Permanent(message) })
        }
        StatementOutcome::Canceled { reason: CancelReason::Caller } => Err(Attempt::Canceled),
        StatementOutcome::Canceled { reason: CancelReason::Deadline } => Err(Attempt::Permanent(format!(
            "statement {} did not finish in time and was cancelled on the warehouse",
            run.statement_id
        ))),
        // Never started: the warehouse is starting or saturated; it can be
        // tried again within the action's budget.
        StatementOutcome::Canceled { reason: CancelReason::NotStarted } => Err(Attempt::Transient(format!(
            "the SQL warehouse had not started statement {} when its time ran out (starting or busy)",
            run.statement_id
        ))),
        StatementOutcome::Canceled { reason: CancelReason::Server } => {
            Err(Attempt::Transient(format!("the warehouse cancelled statement {}", run.statement_id)))
        }
    }
}

/// What a clone copied: the version the warehouse reports (the sandbox's
/// `source_table_version`), else the primary's version the plan saw, which
/// the clone holds at least.
fn clone_result(action: &Action, columns: &[String], rows: &[Vec<Option<String>>]) -> Applied {
    let ActionKind::CloneTable { source_delta, .. } = &action.kind else { return Applied::default() };
    let reported = columns
        .iter()
        .position(|c| c == "source_table_version")
        .and_then(|i| rows.first()?.get(i)?.as_deref()?.parse::<i64>().ok());
    let version = reported.or(source_delta.map(|d| d.version));
    Applied { detail: version.map(|v| format!("version {v}")), copied_version: version }
}

fn client<'a>(workspaces: &'a Workspaces, call: &RestCall) -> &'a WorkspaceClient {
    match call.side() {
        super::plan::Side::Primary => &workspaces.primary,
        super::plan::Side::Secondary => &workspaces.secondary,
    }
}

/// Counts "already exists" as done.
fn created<T>(result: Result<T, DatabricksError>) -> Result<Applied, Attempt> {
    match result {
        Ok(_) => Ok(Applied::default()),
        Err(DatabricksError::AlreadyExists(_)) => {
            Ok(Applied { detail: Some("already there".into()), ..Applied::default() })
        }
        Err(error) => Err(error.into()),
    }
}

async fn rest(call: &RestCall, workspaces: &Workspaces, token: &AccessToken) -> Result<Applied, Attempt> {
    let client = client(workspaces, call);
    match call {
        RestCall::CreateCatalog { name, comment, properties, storage_root } => {
            let request = CreateCatalog {
                name: name.clone(),
                comment: comment.clone(),
                properties: properties.clone(),
                storage_root: storage_root.clone(),
                ..CreateCatalog::default()
            };
            created(client.create_catalog(token, &request).await)
        }
        RestCall::MountShare { catalog, provider, share } => {
            let request = CreateCatalog {
                name: catalog.clone(),
                provider_name: Some(provider.clone()),
                share_name: Some(share.clone()),
                ..CreateCatalog::default()
            };
            created(client.create_catalog(token, &request).await)
        }
        RestCall::UpdateCatalog { name, comment, properties } => {
            let update = Update {
                owner: None,
                comment: Some(comment.clone().unwrap_or_default()),
                properties: Some(properties.clone()),
            };
            client.update_securable(token, Securable::Catalog, name, &update).await?;
            Ok(Applied::default())
        }
        RestCall::CreateSchema { catalog, name, comment, properties, storage_root } => {
            let request = CreateSchema {
                name: name.clone(),
                catalog_name: catalog.clone(),
                comment: comment.clone(),
                properties: properties.clone(),
                storage_root: storage_root.clone(),
            };
            created(client.create_schema(token, &request).await)
        }
        RestCall::UpdateSchema { full_name, comment, properties } => {
            let update = Update {
                owner: None,
                comment: Some(comment.clone().unwrap_or_default()),
                properties: Some(properties.clone()),
            };
            client.update_securable(token, Securable::Schema, full_name, &update).await?;
            Ok(Applied::default())
        }
        RestCall::CreateManagedVolume { catalog, schema, name, comment } => {
            created(client.create_managed_volume(token, catalog, schema, name, comment.as_deref()).await)
        }
        RestCall::CreateRecipient { name, global_metastore_id } => {
            created(client.create_recipient(token, name, global_metastore_id, Some("drbot: the DR secondary")).await)
        }
        RestCall::CreateShare { name } => created(client.create_share(token, name).await),
        RestCall::AddSchemasToShare { share, schemas } => add_schemas(client, token, share, schemas).await,
        RestCall::GrantShareSelect { share, recipient } => {
            let change =
                PermissionChange { principal: recipient.clone(), add: vec!["SELECT".into()], remove: Vec::new() };
            client.update_share_permissions(token, share, &[change]).await?;
            Ok(Applied::default())
        }
        RestCall::TransferShare { share, owner } => {
            let update = Update { owner: Some(owner.clone()), comment: None, properties: None };
            client.update_securable(token, Securable::Share, share, &update).await?;
            Ok(Applied::default())
        }
        RestCall::ListProviders { global_metastore_id } => {
            let providers = client.list_providers(token, Some(global_metastore_id)).await?;
            Ok(Applied { detail: Some(format!("{} provider(s)", providers.len())), ..Applied::default() })
        }
        RestCall::Model { path, change } => model(client, token, path, change).await,
        RestCall::Delete { kind, full_name } => {
            let securable = match kind {
                ObjectKind::Catalog | ObjectKind::SharedCatalog => Securable::Catalog,
                ObjectKind::Schema => Securable::Schema,
                ObjectKind::Table | ObjectKind::View => Securable::Table,
                ObjectKind::Volume => Securable::Volume,
                ObjectKind::Function => Securable::Function,
                ObjectKind::Share => Securable::Share,
                ObjectKind::Recipient => {
                    return Err(Attempt::Permanent("recipients are never dropped by replication".into()))
                }
                ObjectKind::Model => {
                    return Err(Attempt::Permanent("registered models are never dropped by replication".into()))
                }
            };
            let force = matches!(kind, ObjectKind::Catalog | ObjectKind::Schema);
            match client.delete_securable(token, securable, full_name, force).await {
                Ok(()) => Ok(Applied::default()),
                Err(DatabricksError::NotFound(_)) => {
                    Ok(Applied { detail: Some("already gone".into()), ..Applied::default() })
                }
                Err(error) => Err(error.into()),
            }
        }
    }
}

/// One registered-model call (`models.rs`): a create that finds the model
/// there, or an alias delete that finds it gone, is done.
async fn model(
    client: &WorkspaceClient,
    token: &AccessToken,
    path: &[String],
    change: &ModelChange,
) -> Result<Applied, Attempt> {
    let [catalog, schema, name] = path else {
        return Err(Attempt::Permanent(format!("a model named by {} part(s)", path.len())));
    };
    let full_name = path.join(".");
    match change {
        ModelChange::Create { comment } => {
            created(client.create_model(token, catalog, schema, name, comment.as_deref()).await)
        }
        ModelChange::Update { comment, owner } => {
            client.update_model(token, &full_name, comment.as_deref(), owner.as_deref()).await?;
            Ok(Applied::default())
        }
        ModelChange::VersionComment { version, comment } => {
            client.update_model_version(token, &full_name, *version, comment).await?;
            Ok(Applied::default())
        }
        ModelChange::SetAlias { alias, version } => {
            client.set_model_alias(token, &full_name, alias, *version).await?;
            Ok(Applied::default())
        }
        ModelChange::DeleteAlias { alias } => match client.delete_model_alias(token, &full_name, alias).await {
            Ok(()) => Ok(Applied::default()),
            Err(DatabricksError::NotFound(_)) => {
                Ok(Applied { detail: Some("already gone".into()), ..Applied::default() })
            }
            Err(error) => Err(error.into()),
        },
        ModelChange::SetVersionTag { version, key, value } => {
            client.set_model_version_tag(token, &full_name, *version, key, value).await?;
            Ok(Applied::default())
        }
        ModelChange::DeleteVersionTag { version, key } => {
            match client.delete_model_version_tag(token, &full_name, *version, key).await {
                Ok(()) => Ok(Applied::default()),
                Err(DatabricksError::NotFound(_)) => {
                    Ok(Applied { detail: Some("already gone".into()), ..Applied::default() })
                }
                Err(error) => Err(error.into()),
            }
        }
    }
}

/// Adds schemas to a share. If the share answers that one is there already,
/// the share is read and only the ones it lacks are added.
async fn add_schemas(
    client: &WorkspaceClient,
    token: &AccessToken,
    share: &str,
    schemas: &[String],
) -> Result<Applied, Attempt> {
    let updates = |names: &[String]| -> Vec<ShareUpdate> {
        names
            .iter()
            .map(|name| ShareUpdate {
                action: ShareAction::Add,
                data_object: SharedObject { name: name.clone(), data_object_type: "SCHEMA".into(), status: None },
            })
            .collect()
    };
    match client.update_share(token, share, &updates(schemas)).await {
        Ok(_) => Ok(Applied::default()),
        Err(DatabricksError::AlreadyExists(_)) => {
            let current = client.get_share(token, share).await?;
            let missing: Vec<String> = schemas
                .iter()
                .filter(|s| !current.objects.iter().any(|o| o.data_object_type == "SCHEMA" && &o.name == *s))
                .cloned()
                .collect();
            if missing.is_empty() {
                return Ok(Applied { detail: Some("already shared".into()), ..Applied::default() });
            }
            client.update_share(token, share, &updates(&missing)).await?;
            Ok(Applied::default())
        }
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| Some(v.to_string())).collect()
    }

    #[test]
    fn a_clone_commit_names_the_source_version_it_copied() {
        let columns: Vec<String> =
            ["version", "timestamp", "operation", "operationParameters"].iter().map(|c| c.to_string()).collect();
        let clone = row(&["3", "2026-01-01T00:00:00Z", "CLONE", r#"{"source":"s.t","sourceVersion":"42"}"#]);
        assert_eq!(clone_source_version(&columns, &[clone]), Some(42));
        let numeric = row(&["3", "t", "CLONE", r#"{"sourceVersion":7}"#]);
        assert_eq!(clone_source_version(&columns, &[numeric]), Some(7));
        let write = row(&["4", "t", "WRITE", r#"{"mode":"Append"}"#]);
        assert_eq!(clone_source_version(&columns, &[write]), None, "a newest commit that is no clone");
        let garbage = row(&["4", "t", "CLONE", "not json"]);
        assert_eq!(clone_source_version(&columns, &[garbage]), None);
        assert_eq!(clone_source_version(&columns, &[]), None);
        assert_eq!(clone_source_version(&columns[..3], &[row(&["1", "t", "CLONE"])]), None);
    }
}
