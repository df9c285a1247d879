//! Reading the registered models of the schemas a read covered: a list per
//! schema, then each model with its aliases, its versions and its direct
//! grants (three GETs a model), then each version's tags (a GET a version,
//! from the MLflow registry: `src/databricks/models.rs`), when planning
//! (`ReadOptions::view_dependencies`); a read that does not plan takes the
//! metastore's models from one list, with their aliases and versions only
//! ([`fetch_summaries`]).
//!
//! A model's grants the caller may not read are recorded as skipped (so no
//! plan revokes on the strength of them); a version's tags that cannot be
//! read stay unknown (`None`, never compared) and are recorded as skipped
//! tags, which the plan's dry run names.
//!
//! What the caller may not see (a schema's models, a model that vanished
//! between the list and the GET) is recorded in `Snapshot::skipped`, as the
//! rest of the read does; anything else fails the read.

use futures::stream::{self, StreamExt};
use tokio::sync::Semaphore;

use super::model_info::{ModelInfo, VersionInfo};
use super::snapshot::{Skipped, SkippedPart, Snapshot};
use crate::databricks::models::{ModelVersion, RegisteredModel};
use crate::databricks::unity_catalog::{grants_map, Securable};
use crate::databricks::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// What could not be read, failing the whole read (`read.rs` reports it).
#[derive(Debug)]
pub struct Unreadable {
    pub what: String,
    pub source: DatabricksError,
}

/// What a read records as not visible to the caller and goes on.
fn skippable(error: &DatabricksError) -> bool {
    matches!(error, DatabricksError::PermissionDenied(_) | DatabricksError::NotFound(_))
}

fn skip(full_name: String, part: SkippedPart, error: &DatabricksError) -> Skipped {
    Skipped { securable: "model".into(), full_name, part, reason: error.to_string() }
}

/// Adds the models of every schema in `snapshot` (at most `concurrency`
/// requests at once).
pub async fn read(
    client: &WorkspaceClient,
    token: &AccessToken,
    snapshot: &mut Snapshot,
    concurrency: usize,
    permits: &Semaphore,
) -> Result<(), Unreadable> {
    let concurrency = concurrency.max(1);
    let fatal = |what: String, source: DatabricksError| Unreadable { what, source };
    let schemas: Vec<(String, String)> =
        snapshot.schemas.values().map(|s| (s.catalog.clone(), s.name.clone())).collect();
    let mut lists = stream::iter(schemas)
        .map(|(catalog, schema)| async move {
            let listed = limited_model(permits, client.list_models(token, &catalog, &schema)).await;
            (format!("{catalog}.{schema}"), listed)
        })
        .buffer_unordered(concurrency);
    let mut models: Vec<RegisteredModel> = Vec::new();
    while let Some((schema, listed)) = lists.next().await {
        match listed {
            Ok(found) => models.extend(found),
            Err(error) if skippable(&error) => snapshot.skipped.push(skip(schema, SkippedPart::Contents, &error)),
            Err(error) => return Err(fatal(format!("the models of {schema}"), error)),
        }
    }
    let mut details = stream::iter(models)
        .map(|model| async move {
            let full_name = model.full_name();
            let (model, versions, grants) = tokio::join!(
                limited_model(permits, client.get_model(token, &full_name)),
                limited_model(permits, client.list_model_versions(token, &full_name)),
                limited_model(permits, client.get_permissions(token, Securable::Function, &full_name)),
            );
            (full_name, model, versions, grants)
        })
        .buffer_unordered(concurrency);
    while let Some((full_name, model, versions, grants)) = details.next().await {
        match (model, versions) {
            (Ok(model), Ok(versions)) => {
                let mut info = model_info(model, versions);
                match grants {
                    Ok(assignments) => info.grants = grants_map(&assignments),
                    Err(error) if skippable(&error) => {
                        snapshot.skipped.push(skip(full_name.clone(), SkippedPart::Grants, &error))
                    }
                    Err(error) => return Err(fatal(format!("the grants of model {full_name}"), error)),
                }
                snapshot.models.insert(full_name, info);
            }
            (Err(error), _) | (_, Err(error)) if skippable(&error) => {
                snapshot.skipped.push(skip(full_name, SkippedPart::Object, &error))
            }
            (Err(error), _) | (_, Err(error)) => return Err(fatal(format!("model {full_name}"), error)),
        }
    }
    version_tags(client, token, snapshot, concurrency, permits).await;
    Ok(())
}

/// A read that does not plan (`status`, `verify`): the metastore's models
/// from one list (`listed`), each with its aliases and versions (two GETs a
/// model), neither grants (`grants_unread`) nor version tags. Fetched beside
/// the read's other lists, before it knows which schemas it covered, so
/// `wanted` narrows by the read's filter and [`apply_summaries`] keeps the
/// models of the schemas the read did cover: the GETs then cost no wave of
/// their own at the end of the read.
pub async fn fetch_summaries(
    client: &WorkspaceClient,
    token: &AccessToken,
    listed: Result<Vec<RegisteredModel>, DatabricksError>,
    wanted: impl Fn(&RegisteredModel) -> bool,
    concurrency: usize,
    permits: &Semaphore,
) -> Summaries {
    let models = match listed {
        Ok(models) => models,
        Err(error) => return Summaries(Err(SummaryFailure::List(error))),
    };
    let mut answers = stream::iter(models.into_iter().filter(|m| wanted(m)))
        .map(|model| async move {
            let full_name = model.full_name();
            let (details, versions) = tokio::join!(
                limited_model(permits, client.get_model(token, &full_name)),
                limited_model(permits, client.list_model_versions(token, &full_name)),
            );
            let schema = format!("{}.{}", model.catalog_name, model.schema_name);
            Summary { full_name, schema, details, versions }
        })
        .buffer_unordered(concurrency.max(1));
    let mut fetched = Vec::new();
    // A model that answered neither with itself nor with a refusal fails
    // the read, whichever schema it is in (not yet known), at once: the
    // requests still in flight are dropped with their permits.
    while let Some(summary) = answers.next().await {
        match summary.or_failure() {
            Ok(summary) => fetched.push(summary),
            Err(failure) => return Summaries(Err(failure)),
        }
    }
    Summaries(Ok(fetched))
}

/// What [`fetch_summaries`] read: each listed model's two answers, or what
/// stopped it.
pub struct Summaries(Result<Vec<Summary>, SummaryFailure>);

/// Why [`fetch_summaries`] stopped.
pub enum SummaryFailure {
    /// The metastore-wide list failed.
    List(DatabricksError),
    /// This model's GET or versions failed, not with a refusal.
    Model(String, DatabricksError),
}

/// One listed model's GET and versions list, as answered.
pub struct Summary {
    full_name: String,
    /// `catalog.schema`, the key of `Snapshot::schemas`.
    schema: String,
    details: Result<RegisteredModel, DatabricksError>,
    versions: Result<Vec<ModelVersion>, DatabricksError>,
}

impl Summary {
    /// The summary, or the failure that is not a refusal.
    fn or_failure(self) -> Result<Summary, SummaryFailure> {
        let Summary { full_name, schema, details, versions } = self;
        let details = match details {
            Err(error) if !skippable(&error) => return Err(SummaryFailure::Model(full_name, error)),
            other => other,
        };
        let versions = match versions {
            Err(error) if !skippable(&error) => return Err(SummaryFailure::Model(full_name, error)),
            other => other,
        };
        Ok(Summary { full_name, schema, details, versions })
    }
}

/// Records the summaries of the models in the schemas `snapshot` covers;
/// what the caller may not see is skipped, any other failure fails the read.
pub fn apply_summaries(snapshot: &mut Snapshot, summaries: Summaries) -> Result<(), Unreadable> {
    let fetched = match summaries.0 {
        Ok(fetched) => fetched,
        Err(SummaryFailure::Model(full_name, source)) => {
            return Err(Unreadable { what: format!("model {full_name}"), source })
        }
        Err(SummaryFailure::List(error)) if skippable(&error) => {
            let skipped = Skipped {
                securable: "metastore".into(),
                full_name: String::new(),
                part: SkippedPart::Models,
                reason: error.to_string(),
            };
            snapshot.skipped.push(skipped);
            return Ok(());
        }
        Err(SummaryFailure::List(source)) => return Err(Unreadable { what: "the registered models".into(), source }),
    };
    for Summary { full_name, schema, details, versions } in fetched {
        if !snapshot.schemas.contains_key(&schema) {
            continue;
        }
        match (details, versions) {
            (Ok(model), Ok(versions)) => {
                let info = ModelInfo { grants_unread: true, ..model_info(model, versions) };
                snapshot.models.insert(full_name, info);
            }
            // A refusal (what else failed stopped the fetch).
            (Err(error), _) | (_, Err(error)) => snapshot.skipped.push(skip(full_name, SkippedPart::Object, &error)),
        }
    }
    Ok(())
}

/// Each version's tags; a version whose tags cannot be read keeps `None`,
/// and its model is recorded as having tags unread.
async fn version_tags(
    client: &WorkspaceClient,
    token: &AccessToken,
    snapshot: &mut Snapshot,
    concurrency: usize,
    permits: &Semaphore,
) {
    let versions: Vec<(String, i64)> =
        snapshot.models.values().flat_map(|m| m.versions.keys().map(move |v| (m.full_name(), *v))).collect();
    let mut answers = stream::iter(versions)
        .map(|(full_name, version)| async move {
            let tags = limited_model(permits, client.model_version_tags(token, &full_name, version)).await;
            (full_name, version, tags)
        })
        .buffer_unordered(concurrency);
    while let Some((full_name, version, tags)) = answers.next().await {
        match tags {
            Ok(tags) => {
                let info = snapshot.models.get_mut(&full_name).and_then(|m| m.versions.get_mut(&version));
                if let Some(info) = info {
                    info.tags = Some(tags.into_iter().map(|t| (t.key, t.value)).collect());
                }
            }
            Err(error) => {
                let skipped = skip(full_name, SkippedPart::Tags, &error);
                if !snapshot.skipped.contains(&skipped) {
                    snapshot.skipped.push(skipped);
                }
            }
        }
    }
}

/// `request` once a permit of the read's budget of requests in flight is
/// free, like every other request of the read.
async fn limited_model<T>(permits: &Semaphore, request: impl std::future::Future<Output = T>) -> T {
    let _permit = permits.acquire().await.ok();
    request.await
}

fn model_info(model: RegisteredModel, versions: Vec<ModelVersion>) -> ModelInfo {
    ModelInfo {
        owner: model.owner.unwrap_or_default(),
        comment: model.comment.filter(|c| !c.is_empty()),
        versions: versions
            .into_iter()
            .map(|v| {
                let info = VersionInfo {
                    source: v.source,
                    run_id: v.run_id,
                    comment: v.comment.filter(|c| !c.is_empty()),
                    status: v.status,
                    tags: None,
                };
                (v.version, info)
            })
            .collect(),
        aliases: model.aliases.into_iter().map(|a| (a.alias_name, a.version_num)).collect(),
        grants: Default::default(),
        grants_unread: false,
        catalog: model.catalog_name,
        schema: model.schema_name,
        name: model.name,
    }
}
