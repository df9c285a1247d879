//! Jobs as an asset kind: each primary job has one paused copy in the
//! secondary, found by its [`SOURCE_TAG`], created or reset to the primary's
//! mapped settings ([`super::job_settings`]); and each primary job's pause
//! state is recorded on the pair, for failover to restore.
//!
//! A create first asks the secondary for jobs of that name carrying the tag
//! (`jobs/create` takes no idempotency token): a create whose answer was
//! lost (a crash, a timeout) is found and reset, not created twice. Two
//! copies of one job (created by hand, or by an older tool) block it with
//! the copies' ids rather than guessing which one failover should use.
//! A copy whose primary job is gone is reported, not deleted: a job deleted
//! by mistake in the primary is still in the region it would be restored from.
//!
//! Each copy also gets the primary job's direct permissions (its owner and
//! who may view, run or manage it), principals mapped as the pair says: a
//! team that fails over finds its jobs as it left them.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Value};

use super::job_settings::{differences, map_permissions, to_secondary, PauseState, PERMISSIONS_FIELD, SOURCE_TAG};
use super::kind::{ApplyError, AssetContext, AssetKind, Stage};
use super::plan::{Change, ItemResult, PlanItem};
use super::principals::{held_back, Principal};
use super::sides::Side;
use crate::databricks::job_definitions::{JobDefinition, JobPermission};
use crate::databricks::scim::PrincipalKind;
use crate::databricks::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;
use crate::store::job_pause_states::JobPauseState;

/// The kind's name on plan items and results.
pub const KIND: &str = "job";

pub struct Jobs;

/// A job as read, with its direct permissions.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadJob {
    pub job: JobDefinition,
    /// `None`: not read at planning (a primary job with no copy yet: its
    /// permissions are read when the copy is made).
    pub permissions: Option<Vec<JobPermission>>,
}

/// How many jobs' permissions are read at once.
const PERMISSION_READS: usize = 8;

/// Every job of a workspace, whole (a job whose tasks the list cut at 100
/// is read again on its own).
async fn read_all(ctx: &AssetContext<'_>, client: &WorkspaceClient) -> Result<Vec<JobDefinition>, String> {
    let token = ctx.token(false).await?;
    let mut jobs = client.list_jobs(&token, None).await.map_err(|e| e.to_string())?;
    for job in jobs.iter_mut().filter(|job| job.has_more) {
        *job = client.get_job(&token, job.job_id).await.map_err(|e| e.to_string())?;
    }
    Ok(jobs)
}

/// The jobs with the permissions of those `wanted` read (the secondary's
/// own jobs are none of drbot's business; a primary job with no copy has
/// its permissions read when the copy is made, beside the other creates).
async fn with_permissions(
    ctx: &AssetContext<'_>,
    client: &WorkspaceClient,
    jobs: Vec<JobDefinition>,
    wanted: impl Fn(&JobDefinition) -> bool,
) -> Result<Vec<ReadJob>, String> {
    let token = &ctx.token(false).await?;
    let reads = jobs.into_iter().map(|job| {
        let read = wanted(&job);
        async move {
            let permissions = match read {
                true => Some(client.job_permissions(token, job.job_id).await.map_err(|e| e.to_string())?),
                false => None,
            };
            Ok(ReadJob { job, permissions })
        }
    });
    stream::iter(reads).buffered(PERMISSION_READS).try_collect().await
}

/// The primary job a copy was made from, by its tag.
fn source_of(job: &JobDefinition) -> Option<i64> {
    job.tag(SOURCE_TAG).and_then(|id| id.parse().ok())
}

/// The plan items for `primary`'s jobs against `secondary`'s (pure), every
/// principal in the secondary.
pub fn plan_jobs(primary: &[ReadJob], secondary: &[ReadJob], mapping: &super::mapping::AssetMapping) -> Vec<PlanItem> {
    plan_jobs_without(primary, secondary, mapping, &BTreeSet::new())
}

/// The principals (as the primary names them) of a job's `run_as`.
fn run_as(settings: &Value) -> Vec<Principal> {
    let fields = settings.get("run_as").and_then(Value::as_object).into_iter().flatten();
    fields.filter_map(|(field, name)| Some((PrincipalKind::from_field(field), name.as_str()?.to_string()))).collect()
}

/// The plan items, `absent` the principals (as the secondary names them)
/// the secondary lacks: a job that runs as one is blocked (it would run as
/// someone else); permissions for one are left out, and the item says so.
pub fn plan_jobs_without(
    primary: &[ReadJob],
    secondary: &[ReadJob],
    mapping: &super::mapping::AssetMapping,
    absent: &BTreeSet<String>,
) -> Vec<PlanItem> {
    let mut copies: BTreeMap<i64, Vec<&ReadJob>> = BTreeMap::new();
    for read in secondary {
        if let Some(source) = source_of(&read.job) {
            copies.entry(source).or_default().push(read);
        }
    }
    let single: BTreeMap<i64, i64> =
        copies.iter().filter(|(_, c)| c.len() == 1).map(|(source, c)| (*source, c[0].job.job_id)).collect();
    let mut primary: Vec<&ReadJob> = primary.iter().collect();
    primary.sort_by_key(|read| read.job.job_id);
    let mut items = Vec::new();
    for read in &primary {
        let job = &read.job;
        let pause = PauseState::of(&job.settings);
        let item = |change: Change, payload: Value| PlanItem {
            kind: KIND.into(),
            key: job.job_id.to_string(),
            name: job.name().to_string(),
            change,
            payload,
            detail: String::new(),
            held_back: None,
        };
        let mut payload = json!({"source_job_id": job.job_id, "pause": pause});
        let is_absent = |who: &str| !mapping.maps_principal(who) && absent.contains(who);
        if let Some((_, who)) = run_as(&job.settings).into_iter().find(|(_, who)| is_absent(who)) {
            let reason = format!("it runs as {who}, who has no mapping and no account in the secondary");
            items.push(item(Change::Blocked { reason }, payload));
            continue;
        }
        let wanted = match to_secondary(job.job_id, &job.settings, mapping, &single) {
            Ok(wanted) => wanted,
            Err(problems) => {
                items.push(item(Change::Blocked { reason: problems.join("; ") }, payload));
                continue;
            }
        };
        payload["settings"] = wanted.clone();
        if read.permissions.is_none() {
            payload["permissions_from"] = json!(job.job_id);
        }
        let (left_out, permissions): (Vec<JobPermission>, Vec<JobPermission>) =
            map_permissions(read.permissions.as_deref().unwrap_or_default(), mapping)
                .into_iter()
                .partition(|p| absent.contains(&p.principal));
        // An owner left out: the copy keeps whoever owns it, and that is no difference.
        let owner_left_out = left_out.iter().any(|p| p.level == "IS_OWNER");
        let held_back = held_back(&left_out.iter().map(|p| p.principal.as_str()).collect());
        payload["permissions"] = json!(permissions);
        let change = match copies.get(&job.job_id).map(Vec::as_slice) {
            None | Some([]) => Change::Create,
            Some([copy]) => {
                payload["job_id"] = json!(copy.job.job_id);
                let mut fields = differences(&wanted, &copy.job.settings);
                payload["settings_differ"] = json!(!fields.is_empty());
                let theirs: Vec<&JobPermission> =
                    copy.permissions.iter().flatten().filter(|p| !(owner_left_out && p.level == "IS_OWNER")).collect();
                if theirs != permissions.iter().collect::<Vec<_>>() {
                    fields.push(PERMISSIONS_FIELD.into());
                }
                match fields.is_empty() {
                    true => Change::Unchanged,
                    false => Change::Update { fields },
                }
            }
            Some(many) => {
                let ids: Vec<String> = many.iter().map(|c| c.job.job_id.to_string()).collect();
                Change::Blocked {
                    reason: format!(
                        "the secondary has {} jobs tagged {SOURCE_TAG}={} ({}): delete all but one",
                        many.len(),
                        job.job_id,
                        ids.join(", ")
                    ),
                }
            }
        };
        items.push(item(change, payload).holding_back(held_back));
    }
    let sources: std::collections::BTreeSet<i64> = primary.iter().map(|read| read.job.job_id).collect();
    for (source, orphans) in copies.iter().filter(|(source, _)| !sources.contains(source)) {
        for orphan in orphans.iter().map(|read| &read.job) {
            items.push(PlanItem {
                kind: KIND.into(),
                key: format!("{source}@{}", orphan.job_id),
                name: orphan.name().to_string(),
                change: Change::Blocked {
                    reason: format!(
                        "its primary job {source} is gone; the secondary's copy {} is kept until someone deletes it",
                        orphan.job_id
                    ),
                },
                payload: Value::Null,
                detail: String::new(),
                held_back: None,
            });
        }
    }
    items
}

impl AssetKind for Jobs {
    fn name(&self) -> &'static str {
        KIND
    }

    fn stage(&self, _item: &PlanItem) -> Stage {
        Stage::Jobs
    }

    fn plan<'a>(&'a self, ctx: &'a AssetContext<'a>) -> BoxFuture<'a, Result<Vec<PlanItem>, String>> {
        Box::pin(async move {
            let (primary, secondary) = tokio::try_join!(read_all(ctx, &ctx.primary), async {
                let jobs = read_all(ctx, &ctx.secondary).await?;
                with_permissions(ctx, &ctx.secondary, jobs, |job| source_of(job).is_some()).await
            })?;
            let copied: BTreeSet<i64> = secondary.iter().filter_map(|read| source_of(&read.job)).collect();
            let primary = with_permissions(ctx, &ctx.primary, primary, |job| copied.contains(&job.job_id)).await?;
            let token = ctx.token(false).await?;
            let mapping = &ctx.mapping;
            let principals = primary.iter().flat_map(|read| {
                let permitted = read
                    .permissions
                    .iter()
                    .flatten()
                    .map(|p| (PrincipalKind::from_field(&p.principal_type), p.principal.clone()));
                permitted.chain(run_as(&read.job.settings)).collect::<Vec<_>>()
            });
            let target = Side { client: &ctx.secondary, token: &token };
            let absent = ctx.principals.absent(target, mapping, principals).await.map_err(|e| e.to_string())?;
            Ok(plan_jobs_without(&primary, &secondary, mapping, &absent))
        })
    }

    fn apply<'a>(&'a self, ctx: &'a AssetContext<'a>, item: &'a PlanItem) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(async move {
            let applied = match apply_job(ctx, item, false).await {
                Err(DatabricksError::Unauthenticated(_)) => apply_job(ctx, item, true).await,
                other => other,
            };
            match applied.map_err(ApplyError::from)? {
                Some(held_back) => Err(ApplyError::Blocked(held_back)),
                None => Ok(()),
            }
        })
    }

    fn record<'a>(
        &'a self,
        ctx: &'a AssetContext<'a>,
        items: &'a [PlanItem],
        _results: &'a [ItemResult],
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let Some(store) = &ctx.store else { return Ok(()) };
            let states: Vec<JobPauseState> = items
                .iter()
                .filter(|item| item.kind == KIND)
                .filter_map(|item| {
                    Some(JobPauseState {
                        source_job_id: item.payload["source_job_id"].as_i64()?,
                        job_name: item.name.clone(),
                        pause: serde_json::from_value(item.payload["pause"].clone()).ok()?,
                    })
                })
                .collect();
            store.record_job_pause_states(&ctx.pair, &states, now_ms()).await.map_err(|e| e.to_string())
        })
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// The permissions a new copy gets, read from the primary now, and why some
/// are left out (principals the secondary lacks and nobody mapped).
async fn permissions_to_copy(
    ctx: &AssetContext<'_>,
    token: &AccessToken,
    source_job_id: i64,
) -> Result<(Vec<JobPermission>, Option<String>), DatabricksError> {
    let read = ctx.primary.job_permissions(token, source_job_id).await?;
    let principals = read.iter().map(|p| (PrincipalKind::from_field(&p.principal_type), p.principal.clone()));
    let target = Side { client: &ctx.secondary, token };
    let absent = ctx.principals.absent(target, &ctx.mapping, principals).await?;
    let (left_out, kept): (Vec<JobPermission>, Vec<JobPermission>) =
        map_permissions(&read, &ctx.mapping).into_iter().partition(|p| absent.contains(&p.principal));
    Ok((kept, held_back(&left_out.iter().map(|p| p.principal.as_str()).collect())))
}

/// Creates or resets one copy; what it had to leave out, if anything.
async fn apply_job(ctx: &AssetContext<'_>, item: &PlanItem, fresh: bool) -> Result<Option<String>, DatabricksError> {
    let token = ctx.tokens.token(fresh).await.map_err(|e| DatabricksError::Unauthenticated(e.to_string()))?;
    let settings = &item.payload["settings"];
    let source = item.payload["source_job_id"].as_i64().unwrap_or_default();
    let existing = match item.payload["job_id"].as_i64() {
        Some(job_id) => Some(job_id),
        // A create: is there a copy a lost answer left behind?
        None => ctx
            .secondary
            .list_jobs(&token, Some(&item.name))
            .await?
            .iter()
            .find(|job| source_of(job) == Some(source))
            .map(|job| job.job_id),
    };
    let settings_differ = item.payload["settings_differ"].as_bool() != Some(false);
    let job_id = match existing {
        Some(job_id) if settings_differ => ctx.secondary.reset_job(&token, job_id, settings).await.map(|()| job_id)?,
        Some(job_id) => job_id,
        None => ctx.secondary.create_job(&token, settings).await?,
    };
    let (permissions, held_back) = match item.payload["permissions_from"].as_i64() {
        Some(source) => permissions_to_copy(ctx, &token, source).await?,
        None => {
            let planned = serde_json::from_value(item.payload["permissions"].clone())
                .map_err(|e| DatabricksError::Protocol(format!("the plan's permissions: {e}")))?;
            (planned, None)
        }
    };
    if !permissions.is_empty() {
        ctx.secondary.set_job_permissions(&token, job_id, &permissions).await?;
    }
    Ok(held_back)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::mapping::AssetMapping;

    fn job(job_id: i64, settings: Value) -> ReadJob {
        ReadJob {
            job: JobDefinition { job_id, creator_user_name: None, settings, has_more: false },
            permissions: Some(Vec::new()),
        }
    }

    fn permission(principal: &str, level: &str) -> JobPermission {
        JobPermission { principal_type: "user_name".into(), principal: principal.into(), level: level.into() }
    }

    #[test]
    fn missing_different_same_and_duplicated_copies() {
        let primary = vec![
            job(1, json!({"name": "a", "schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"}})),
            job(2, json!({"name": "b"})),
            job(3, json!({"name": "c", "tags": {"k": "v"}})),
            job(4, json!({"name": "d"})),
        ];
        let tagged = |id: i64, source: i64, extra: Value| {
            let mut settings = json!({"name": "x", "tags": {SOURCE_TAG: source.to_string()}});
            settings.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            job(id, settings)
        };
        let secondary = vec![
            tagged(20, 2, json!({"name": "b", "format": "MULTI_TASK"})),
            tagged(30, 3, json!({"name": "c"})),
            tagged(40, 4, json!({"name": "d"})),
            tagged(41, 4, json!({"name": "d"})),
            tagged(90, 9, json!({"name": "gone"})),
            job(99, json!({"name": "the secondary's own"})),
        ];
        let items = plan_jobs(&primary, &secondary, &AssetMapping::default());
        let changes: Vec<(String, &str)> = items.iter().map(|i| (i.key.clone(), i.verb())).collect();
        assert_eq!(
            changes,
            vec![
                ("1".into(), "create"),
                ("2".into(), "unchanged"),
                ("3".into(), "update"),
                ("4".into(), "blocked"),
                ("9@90".into(), "blocked"),
            ]
        );
        assert_eq!(items[0].payload["settings"]["schedule"]["pause_status"], "PAUSED");
        assert_eq!(items[0].payload["pause"]["schedule"], "UNPAUSED");
        assert_eq!(items[2].change, Change::Update { fields: vec!["tags".into()] });
        assert_eq!(items[2].payload["job_id"], 30);
        assert!(matches!(&items[3].change, Change::Blocked { reason } if reason.contains("40, 41")));
    }

    #[test]
    fn a_plan_of_its_own_result_is_empty() {
        let primary = vec![job(5, json!({"name": "e", "continuous": {"pause_status": "UNPAUSED"}, "tags": {}}))];
        let first = plan_jobs(&primary, &[], &AssetMapping::default());
        let copy = job(50, first[0].payload["settings"].clone());
        let second = plan_jobs(&primary, &[copy], &AssetMapping::default());
        assert_eq!(second[0].change, Change::Unchanged);
    }

    #[test]
    fn principals_the_secondary_lacks_block_a_run_as_and_are_left_out_of_permissions() {
        let mut owned = job(7, json!({"name": "g"}));
        owned.permissions =
            Some(vec![permission("gone@contoso.com", "IS_OWNER"), permission("b@contoso.com", "CAN_VIEW")]);
        let runs_as = job(8, json!({"name": "h", "run_as": {"user_name": "gone@contoso.com"}}));
        let absent = BTreeSet::from(["gone@contoso.com".to_string()]);
        let none = AssetMapping::default();
        let items = plan_jobs_without(&[owned.clone(), runs_as], &[], &none, &absent);
        let why = "principal gone@contoso.com has no mapping and no account in the secondary: copied without it";
        assert_eq!((&items[0].change, items[0].held_back.as_deref()), (&Change::Create, Some(why)));
        let wanted: Vec<JobPermission> = serde_json::from_value(items[0].payload["permissions"].clone()).unwrap();
        assert_eq!(wanted, vec![permission("b@contoso.com", "CAN_VIEW")]);
        assert!(
            matches!(&items[1].change, Change::Blocked { reason } if reason.contains("runs as gone@contoso.com")),
            "a job is not run as someone else"
        );
        // The copy, owned by whoever made it, is no difference: blocked with why, nothing to do.
        let mut copy = job(70, items[0].payload["settings"].clone());
        copy.permissions =
            Some(vec![permission("b@contoso.com", "CAN_VIEW"), permission("drbot@contoso.com", "IS_OWNER")]);
        let again = plan_jobs_without(&[owned.clone()], &[copy], &none, &absent);
        assert_eq!(again[0].change, Change::Blocked { reason: why.into() });
        // Mapped, the principal is the mapping's business.
        let mut mapping = AssetMapping::default();
        mapping.insert(crate::assets::mapping::MappingKind::Principal, "gone@contoso.com", "new@contoso.com");
        assert_eq!(plan_jobs_without(&[owned], &[], &mapping, &absent)[0].held_back, None);
    }

    #[test]
    fn permissions_are_mapped_and_compared() {
        let mut primary = job(6, json!({"name": "f"}));
        primary.permissions =
            Some(vec![permission("a@contoso.com", "IS_OWNER"), permission("b@contoso.com", "CAN_VIEW")]);
        let mut mapping = AssetMapping::default();
        mapping.insert(crate::assets::mapping::MappingKind::Principal, "a@contoso.com", "a@fabrikam.com");
        let first = plan_jobs(std::slice::from_ref(&primary), &[], &mapping);
        let wanted: Vec<JobPermission> = serde_json::from_value(first[0].payload["permissions"].clone()).unwrap();
        assert_eq!(wanted, vec![permission("a@fabrikam.com", "IS_OWNER"), permission("b@contoso.com", "CAN_VIEW")]);
        let mut copy = job(60, first[0].payload["settings"].clone());
        copy.permissions = Some(vec![permission("a@fabrikam.com", "IS_OWNER")]);
        let second = plan_jobs(std::slice::from_ref(&primary), &[copy.clone()], &mapping);
        assert_eq!(second[0].change, Change::Update { fields: vec!["permissions".into()] });
        assert_eq!(second[0].payload["settings_differ"], false);
        copy.permissions = Some(wanted);
        assert_eq!(plan_jobs(&[primary], &[copy], &mapping)[0].change, Change::Unchanged);
    }
}
