//! Jobs 2.2 definitions: list, get, create, reset, delete (running a job is
//! `jobs.rs`). Settings are kept as JSON, whole: a typed model would drop
//! every field it does not name, and a copied job must lose nothing.
//!
//! - `GET /api/2.2/jobs/list?limit=(1..=100)&page_token=&expand_tasks=&name=`
//!   → `{jobs: [{job_id, creator_user_name, created_time, settings, has_more}],
//!   has_more, next_page_token}`; page tokens, never `offset` (offsets past
//!   1,000 fail). With `expand_tasks`, a job's `tasks`/`job_clusters` stop at
//!   100 and the job says `has_more`: the rest come from `jobs/get`.
//! - `GET /api/2.2/jobs/get?job_id=&page_token=` → `{job_id, settings, …,
//!   next_page_token}`: a job's arrays (`tasks`, `job_clusters`,
//!   `environments`, `parameters`) page 100 at a time.
//! - `POST /api/2.2/jobs/create` settings → `{job_id}`.
//! - `POST /api/2.2/jobs/reset {job_id, new_settings}` replaces every
//!   setting (unlike `jobs/update`, which replaces only the top-level fields
//!   it is given, each whole).
//! - `POST /api/2.2/jobs/update {job_id, new_settings}` replaces the
//!   top-level fields it is given, each whole (a pause state is changed by
//!   sending the whole `schedule`, `trigger` or `continuous` with only its
//!   `pause_status` changed).
//! - `POST /api/2.2/jobs/delete {job_id}`.
//! - `GET`/`PUT /api/2.0/permissions/jobs/{job_id}` → `{access_control_list:
//!   [{user_name | group_name | service_principal_name, all_permissions:
//!   [{permission_level, inherited}]}]}`: PUT replaces the direct permissions.

use serde::Deserialize;
use serde_json::{json, Value};

use super::paging::{collect_pages, Page};
use super::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

const JOBS: &str = "/api/2.2/jobs";

/// The most jobs one page of `jobs/list` holds.
pub const LIST_LIMIT: u32 = 100;

/// The arrays of a job's settings that `jobs/get` pages.
const PAGED_ARRAYS: &[&str] = &["tasks", "job_clusters", "environments", "parameters"];

/// One job: its id and its settings, whole.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct JobDefinition {
    pub job_id: i64,
    #[serde(default)]
    pub creator_user_name: Option<String>,
    #[serde(default)]
    pub settings: Value,
    /// In a list: its tasks or job clusters were cut at 100.
    #[serde(default)]
    pub has_more: bool,
}

impl JobDefinition {
    pub fn name(&self) -> &str {
        self.settings["name"].as_str().unwrap_or("")
    }

    /// The value of one of the job's tags.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.settings["tags"][key].as_str()
    }
}

/// One direct permission on a job: who (`user_name`, `group_name` or
/// `service_principal_name`, and the name) and the level (`IS_OWNER`,
/// `CAN_MANAGE`, `CAN_MANAGE_RUN`, `CAN_VIEW`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, Deserialize)]
pub struct JobPermission {
    pub principal_type: String,
    pub principal: String,
    pub level: String,
}

const PRINCIPAL_TYPES: &[&str] = &["user_name", "group_name", "service_principal_name"];

/// The direct (not inherited) permissions of an ACL answer, sorted.
fn direct_permissions(body: &Value) -> Vec<JobPermission> {
    let mut out = Vec::new();
    for entry in body["access_control_list"].as_array().into_iter().flatten() {
        let Some((principal_type, principal)) =
            PRINCIPAL_TYPES.iter().find_map(|t| entry[*t].as_str().map(|p| (t.to_string(), p.to_string())))
        else {
            continue;
        };
        for permission in entry["all_permissions"].as_array().into_iter().flatten() {
            if permission["inherited"].as_bool() == Some(true) {
                continue;
            }
            if let Some(level) = permission["permission_level"].as_str() {
                out.push(JobPermission {
                    principal_type: principal_type.clone(),
                    principal: principal.clone(),
                    level: level.into(),
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[derive(Deserialize)]
struct Created {
    job_id: i64,
}

impl WorkspaceClient {
    /// Every job of the workspace, with its tasks (up to 100 each: see
    /// [`JobDefinition::has_more`]); `name` filters to that exact name.
    pub async fn list_jobs(
        &self,
        token: &AccessToken,
        name: Option<&str>,
    ) -> Result<Vec<JobDefinition>, DatabricksError> {
        collect_pages(|page_token| async move {
            let mut query = vec![("limit", LIST_LIMIT.to_string()), ("expand_tasks", "true".to_string())];
            if let Some(name) = name {
                query.push(("name", name.to_string()));
            }
            if let Some(page_token) = page_token {
                query.push(("page_token", page_token));
            }
            let mut body: Value = self.get(&format!("{JOBS}/list"), &query, token).await?;
            // `has_more: false` ends the list whatever token comes with it.
            if body["has_more"] == json!(false) {
                if let Some(object) = body.as_object_mut() {
                    object.remove("next_page_token");
                }
            }
            Page::from_json(body, "jobs")
        })
        .await
    }

    /// One job, its paged arrays read to their end.
    pub async fn get_job(&self, token: &AccessToken, job_id: i64) -> Result<JobDefinition, DatabricksError> {
        let mut whole: Option<Value> = None;
        let mut page_token: Option<String> = None;
        for _ in 0..1000 {
            let mut query = vec![("job_id", job_id.to_string())];
            if let Some(page_token) = page_token.take() {
                query.push(("page_token", page_token));
            }
            let page: Value = self.get(&format!("{JOBS}/get"), &query, token).await?;
            let next = page["next_page_token"].as_str().filter(|t| !t.is_empty()).map(str::to_string);
            match whole.as_mut() {
                None => whole = Some(page),
                Some(whole) => append_arrays(whole, &page),
            }
            match next {
                Some(next) => page_token = Some(next),
                None => {
                    let mut whole = whole.unwrap_or_default();
                    if let Some(object) = whole.as_object_mut() {
                        object.remove("next_page_token");
                    }
                    return serde_json::from_value(whole)
                        .map_err(|e| DatabricksError::Protocol(format!("job {job_id} does not parse: {e}")));
                }
            }
        }
        Err(DatabricksError::Protocol(format!("job {job_id}: its pages did not end")))
    }

    pub async fn create_job(&self, token: &AccessToken, settings: &Value) -> Result<i64, DatabricksError> {
        let created: Created = self.post(&format!("{JOBS}/create"), settings.clone(), token).await?;
        Ok(created.job_id)
    }

    /// Replaces every setting of `job_id` with `settings`.
    pub async fn reset_job(&self, token: &AccessToken, job_id: i64, settings: &Value) -> Result<(), DatabricksError> {
        let body = json!({"job_id": job_id, "new_settings": settings});
        self.post::<Value>(&format!("{JOBS}/reset"), body, token).await.map(|_| ())
    }

    /// The job's direct permissions (inherited ones, such as the admins',
    /// are the workspace's, not the job's).
    pub async fn job_permissions(
        &self,
        token: &AccessToken,
        job_id: i64,
    ) -> Result<Vec<JobPermission>, DatabricksError> {
        let body: Value = self.get(&format!("/api/2.0/permissions/jobs/{job_id}"), &[], token).await?;
        Ok(direct_permissions(&body))
    }

    /// Replaces the job's direct permissions with `permissions`.
    pub async fn set_job_permissions(
        &self,
        token: &AccessToken,
        job_id: i64,
        permissions: &[JobPermission],
    ) -> Result<(), DatabricksError> {
        let list: Vec<Value> = permissions
            .iter()
            .map(|p| json!({p.principal_type.as_str(): p.principal, "permission_level": p.level}))
            .collect();
        let body = json!({ "access_control_list": list });
        self.put::<Value>(&format!("/api/2.0/permissions/jobs/{job_id}"), body, token).await.map(|_| ())
    }

    /// Replaces the top-level settings in `fields` (each whole); the other
    /// settings stay as they are.
    pub async fn update_job(&self, token: &AccessToken, job_id: i64, fields: &Value) -> Result<(), DatabricksError> {
        let body = json!({"job_id": job_id, "new_settings": fields});
        self.post::<Value>(&format!("{JOBS}/update"), body, token).await.map(|_| ())
    }

    pub async fn delete_job(&self, token: &AccessToken, job_id: i64) -> Result<(), DatabricksError> {
        self.post::<Value>(&format!("{JOBS}/delete"), json!({ "job_id": job_id }), token).await.map(|_| ())
    }
}

/// Adds the next page's items of each paged array to the job read so far.
fn append_arrays(whole: &mut Value, page: &Value) {
    for key in PAGED_ARRAYS {
        let Some(more) = page["settings"][key].as_array() else { continue };
        let settings = whole["settings"].as_object_mut();
        let Some(settings) = settings else { continue };
        match settings.get_mut(*key).and_then(Value::as_array_mut) {
            Some(items) => items.extend(more.iter().cloned()),
            None => {
                settings.insert(key.to_string(), Value::Array(more.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_direct_permissions_are_the_jobs() {
        let body = json!({"access_control_list": [
            {"user_name": "a@x.com", "all_permissions": [{"permission_level": "IS_OWNER", "inherited": false}]},
            {"group_name": "admins", "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": true}]},
            {"group_name": "eng", "all_permissions": [{"permission_level": "CAN_MANAGE_RUN"}]}
        ]});
        let levels: Vec<(String, String)> =
            direct_permissions(&body).into_iter().map(|p| (p.principal, p.level)).collect();
        assert_eq!(levels, vec![("eng".into(), "CAN_MANAGE_RUN".into()), ("a@x.com".into(), "IS_OWNER".into())]);
    }

    #[test]
    fn pages_of_a_job_are_joined() {
        let mut whole = json!({"job_id": 1, "settings": {"name": "a", "tasks": [{"task_key": "1"}]}});
        append_arrays(
            &mut whole,
            &json!({"settings": {"tasks": [{"task_key": "2"}], "job_clusters": [{"job_cluster_key": "c"}]}}),
        );
        assert_eq!(whole["settings"]["tasks"].as_array().unwrap().len(), 2);
        assert_eq!(whole["settings"]["job_clusters"][0]["job_cluster_key"], "c");
        let job: JobDefinition = serde_json::from_value(whole).unwrap();
        assert_eq!(job.name(), "a");
    }
}
