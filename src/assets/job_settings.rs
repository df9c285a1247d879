//! A primary job's settings as the secondary's copy must have them, and how
//! an existing copy differs. Pure: the jobs kind ([`super::jobs`]) does the
//! reading and writing.
//!
//! The copy:
//! - carries the tag [`SOURCE_TAG`] = the primary's job id (how failover
//!   finds the copy of each job; the name alone is not unique);
//! - has every trigger paused: `schedule`, `trigger` (file arrival, table
//!   update, periodic) and `continuous` each carry their own `pause_status`,
//!   and an unpaused copy of any one would run the job in both regions;
//! - names the secondary's cluster policies, warehouses, clusters and
//!   instance pools (workspace-scoped ids, mapped by the pair's table; an
//!   id with no mapping blocks the job, named in the reason), its principals
//!   (`run_as`) and workspace paths as the pair maps them, and jobs it runs
//!   (`run_job_task`) by their copies' ids;
//! - keeps everything else as it is (git source, notifications, parameters).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::mapping::{AssetMapping, MappingKind};
use crate::databricks::job_definitions::JobPermission;

/// The tag on each secondary copy naming its primary job. Failover maps
/// jobs by it: keep it exactly.
pub const SOURCE_TAG: &str = "drbot_source_job_id";

/// The most tags a job may carry (Jobs API: "a maximum of 25 tags").
pub const MAX_TAGS: usize = 25;

/// The three switches that start a job without anyone asking.
pub const TRIGGERS: &[&str] = &["schedule", "trigger", "continuous"];

/// Top-level fields the workspace fills in when a job is created without
/// them: absent from the primary's settings, present in the copy's, they are
/// no difference.
const SERVER_FILLED: &[&str] = &[
    "format",
    "run_as",
    "email_notifications",
    "webhook_notifications",
    "timeout_seconds",
    "max_concurrent_runs",
    "edit_mode",
];

/// The name a plan gives a difference in a job's permissions.
pub const PERMISSIONS_FIELD: &str = "permissions";

/// The primary job's direct permissions with their principals mapped, sorted
/// (as the secondary's are read, so the two compare).
pub fn map_permissions(permissions: &[JobPermission], mapping: &AssetMapping) -> Vec<JobPermission> {
    let mut mapped: Vec<JobPermission> =
        permissions.iter().map(|p| JobPermission { principal: mapping.principal(&p.principal), ..p.clone() }).collect();
    mapped.sort();
    mapped.dedup();
    mapped
}

/// Each trigger's pause state on the primary: what failover restores.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseState {
    /// `PAUSED` or `UNPAUSED`; `None` when the job has no such trigger.
    pub schedule: Option<String>,
    pub trigger: Option<String>,
    pub continuous: Option<String>,
}

impl PauseState {
    /// Read from a job's settings (a trigger without `pause_status` is
    /// unpaused: the API's default).
    pub fn of(settings: &Value) -> PauseState {
        let state = |field: &str| {
            settings
                .get(field)
                .filter(|v| v.is_object())
                .map(|trigger| trigger["pause_status"].as_str().unwrap_or("UNPAUSED").to_string())
        };
        PauseState { schedule: state("schedule"), trigger: state("trigger"), continuous: state("continuous") }
    }

    /// True when nothing of the job starts on its own.
    pub fn all_paused(&self) -> bool {
        [&self.schedule, &self.trigger, &self.continuous].into_iter().flatten().all(|s| s == "PAUSED")
    }
}

/// What keeps a job from being copied, one line each.
pub type Unmappable = Vec<String>;

/// The secondary copy's settings for primary job `job_id`. `copies` maps
/// primary job ids to their copies' ids (for `run_job_task`).
pub fn to_secondary(
    job_id: i64,
    settings: &Value,
    mapping: &AssetMapping,
    copies: &BTreeMap<i64, i64>,
) -> Result<Value, Unmappable> {
    let mut copy = settings.clone();
    let mut problems: BTreeSet<String> = BTreeSet::new();
    let Some(object) = copy.as_object_mut() else {
        return Err(vec!["its settings are not an object".into()]);
    };
    for trigger in TRIGGERS {
        if let Some(Value::Object(trigger)) = object.get_mut(*trigger) {
            trigger.insert("pause_status".into(), json!("PAUSED"));
        }
    }
    let tags = object.entry("tags").or_insert_with(|| json!({}));
    match tags.as_object_mut() {
        Some(tags) => {
            tags.insert(SOURCE_TAG.into(), json!(job_id.to_string()));
            if tags.len() > MAX_TAGS {
                problems.insert(format!(
                    "it has {} tags: the copy needs one more, and a job may have {MAX_TAGS}",
                    tags.len() - 1
                ));
            }
        }
        None => {
            problems.insert("its tags are not an object".into());
        }
    }
    if let Some(Value::Object(run_as)) = object.get_mut("run_as") {
        for (_, principal) in run_as.iter_mut() {
            if let Some(name) = principal.as_str() {
                *principal = json!(mapping.principal(name));
            }
        }
    }
    for array in ["tasks", "job_clusters"] {
        if let Some(Value::Array(items)) = object.get_mut(array) {
            for item in items {
                map_references(item, mapping, copies, &mut problems);
            }
        }
    }
    match problems.is_empty() {
        true => Ok(copy),
        false => Err(problems.into_iter().collect()),
    }
}

/// Maps every workspace-scoped reference under a task or job cluster.
fn map_references(
    value: &mut Value,
    mapping: &AssetMapping,
    copies: &BTreeMap<i64, i64>,
    problems: &mut BTreeSet<String>,
) {
    match value {
        Value::Object(object) => {
            for (key, field) in object.iter_mut() {
                let id_kind = match key.as_str() {
                    "policy_id" => Some(MappingKind::ClusterPolicy),
                    "warehouse_id" => Some(MappingKind::Warehouse),
                    "existing_cluster_id" => Some(MappingKind::Cluster),
                    "instance_pool_id" | "driver_instance_pool_id" => Some(MappingKind::InstancePool),
                    "pipeline_id" => Some(MappingKind::Pipeline),
                    _ => None,
                };
                match (id_kind, key.as_str(), &*field) {
                    (Some(kind), _, Value::String(id)) => match mapping.id(kind, id) {
                        Ok(mapped) => *field = json!(mapped),
                        Err(unmapped) => {
                            problems.insert(unmapped.to_string());
                        }
                    },
                    (None, "notebook_path" | "python_file", Value::String(path)) if path.starts_with('/') => {
                        *field = json!(mapping.path(path));
                    }
                    (None, "job_id", Value::Number(id)) => {
                        match id.as_i64().and_then(|id| copies.get(&id).map(|c| (id, *c))) {
                            Some((_, copy)) => *field = json!(copy),
                            None => {
                                problems.insert(format!("it runs job {id}, which has no copy in the secondary yet"));
                            }
                        }
                    }
                    _ => map_references(field, mapping, copies, problems),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| map_references(item, mapping, copies, problems)),
        _ => {}
    }
}

/// The top-level fields in which the copy `actual` differs from `wanted`,
/// sorted; empty when it is up to date.
pub fn differences(wanted: &Value, actual: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let wanted = wanted.as_object().unwrap_or(&empty);
    let actual = actual.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = wanted.keys().chain(actual.keys()).collect();
    keys.into_iter()
        .filter(|key| match (wanted.get(*key), actual.get(*key)) {
            (Some(w), Some(a)) => w != a,
            (None, Some(_)) => !SERVER_FILLED.contains(&key.as_str()),
            (Some(w), None) => !w.is_null(),
            (None, None) => false,
        })
        .map(|key| key.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn primary() -> Value {
        json!({
            "name": "nightly",
            "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"},
            "trigger": {"file_arrival": {"url": "abfss://in@acct.dfs.core.windows.net/x/"}},
            "continuous": {"pause_status": "UNPAUSED"},
            "tags": {"team": "data"},
            "run_as": {"user_name": "a@contoso.com"},
            "git_source": {"git_url": "https://github.com/x/y", "git_provider": "gitHub", "git_branch": "main"},
            "job_clusters": [{"job_cluster_key": "c", "new_cluster": {"policy_id": "P1", "spark_version": "15.4.x-scala2.12"}}],
            "tasks": [
                {"task_key": "nb", "notebook_task": {"notebook_path": "/Users/a@contoso.com/etl"}, "job_cluster_key": "c"},
                {"task_key": "sql", "sql_task": {"warehouse_id": "W1", "query": {"query_id": "q"}}},
                {"task_key": "run", "run_job_task": {"job_id": 7}},
                {"task_key": "rel", "notebook_task": {"notebook_path": "etl/rel", "source": "GIT"}, "existing_cluster_id": "C1"}
            ]
        })
    }

    fn mapping() -> AssetMapping {
        let mut mapping = AssetMapping::default();
        mapping.insert(MappingKind::ClusterPolicy, "P1", "S-P1");
        mapping.insert(MappingKind::Warehouse, "W1", "S-W1");
        mapping.insert(MappingKind::Cluster, "C1", "S-C1");
        mapping.insert(MappingKind::Principal, "a@contoso.com", "a@fabrikam.com");
        mapping.insert(MappingKind::PathPrefix, "/Users/a@contoso.com", "/Users/a@fabrikam.com");
        mapping
    }

    #[test]
    fn the_copy_is_tagged_paused_and_mapped() {
        let copy = to_secondary(42, &primary(), &mapping(), &BTreeMap::from([(7, 70)])).unwrap();
        assert_eq!(copy["tags"], json!({"team": "data", "drbot_source_job_id": "42"}));
        for trigger in TRIGGERS {
            assert_eq!(copy[trigger]["pause_status"], "PAUSED", "{trigger}");
        }
        assert!(PauseState::of(&copy).all_paused());
        assert_eq!(copy["schedule"]["quartz_cron_expression"], "0 0 2 * * ?", "the rest of a trigger is kept");
        assert_eq!(copy["run_as"]["user_name"], "a@fabrikam.com");
        assert_eq!(copy["job_clusters"][0]["new_cluster"]["policy_id"], "S-P1");
        assert_eq!(copy["tasks"][0]["notebook_task"]["notebook_path"], "/Users/a@fabrikam.com/etl");
        assert_eq!(copy["tasks"][1]["sql_task"]["warehouse_id"], "S-W1");
        assert_eq!(copy["tasks"][2]["run_job_task"]["job_id"], 70);
        assert_eq!(copy["tasks"][3]["notebook_task"]["notebook_path"], "etl/rel", "a git-relative path stays");
        assert_eq!(copy["tasks"][3]["existing_cluster_id"], "S-C1");
        assert_eq!(copy["git_source"], primary()["git_source"]);
    }

    #[test]
    fn every_unmapped_reference_is_reported() {
        let problems = to_secondary(42, &primary(), &AssetMapping::default(), &BTreeMap::new()).unwrap_err();
        assert_eq!(
            problems,
            vec![
                "SQL warehouse W1 has no counterpart mapped in the secondary",
                "cluster C1 has no counterpart mapped in the secondary",
                "cluster policy P1 has no counterpart mapped in the secondary",
                "it runs job 7, which has no copy in the secondary yet",
            ]
        );
    }

    #[test]
    fn a_job_with_every_tag_taken_cannot_carry_the_source_tag() {
        let tags: serde_json::Map<String, Value> = (0..25).map(|i| (format!("t{i}"), json!("v"))).collect();
        let problems = to_secondary(1, &json!({"name": "x", "tags": tags}), &AssetMapping::default(), &BTreeMap::new())
            .unwrap_err();
        assert!(problems[0].contains("25"), "{problems:?}");
    }

    #[test]
    fn the_primary_pause_state_is_read_per_trigger() {
        let state = PauseState::of(&primary());
        assert_eq!(state.schedule.as_deref(), Some("UNPAUSED"));
        assert_eq!(state.trigger.as_deref(), Some("UNPAUSED"), "no pause_status is unpaused");
        assert_eq!(state.continuous.as_deref(), Some("UNPAUSED"));
        assert!(!state.all_paused());
        assert_eq!(PauseState::of(&json!({"name": "manual"})), PauseState::default());
    }

    #[test]
    fn server_filled_fields_are_no_difference_but_extra_settings_are() {
        let wanted = json!({"name": "a", "tags": {"x": "1"}});
        let actual = json!({"name": "a", "tags": {"x": "1"}, "format": "MULTI_TASK", "timeout_seconds": 0});
        assert!(differences(&wanted, &actual).is_empty());
        let actual = json!({"name": "a", "tags": {"x": "2"}, "schedule": {"quartz_cron_expression": "x"}});
        assert_eq!(differences(&wanted, &actual), vec!["schedule", "tags"]);
    }
}
