//! Databricks SQL queries and alerts (Queries and Alerts APIs): the two
//! have one shape, so one client serves both ([`SqlObjects`] names which).
//!
//! - `GET /api/2.0/sql/{queries|alerts}?page_token=` → `{results: [...],
//!   next_page_token}`: a listed object has no `parent_path`, so the kinds
//!   read each one they match with `GET …/{id}`;
//! - `POST /api/2.0/sql/{queries|alerts} {query|alert: {...}}` → the object;
//! - `PATCH /api/2.0/sql/{queries|alerts}/{id} {update_mask, query|alert}`:
//!   only the masked fields change (a masked field left out is cleared).
//!
//! Objects are JSON maps: the kinds copy their definition fields whole.

use serde_json::{json, Map, Value};

use super::{segment, DatabricksError, Page, WorkspaceClient};
use crate::identity::AccessToken;

/// Which of the two APIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlObjects {
    Queries,
    Alerts,
}

impl SqlObjects {
    fn path(self) -> &'static str {
        match self {
            SqlObjects::Queries => "/api/2.0/sql/queries",
            SqlObjects::Alerts => "/api/2.0/sql/alerts",
        }
    }

    /// The body's key for one object.
    fn key(self) -> &'static str {
        match self {
            SqlObjects::Queries => "query",
            SqlObjects::Alerts => "alert",
        }
    }
}

/// One object as the API answers it.
pub type SqlObject = Map<String, Value>;

/// A string field of an object (empty when absent).
pub fn text<'a>(object: &'a SqlObject, field: &str) -> &'a str {
    object.get(field).and_then(Value::as_str).unwrap_or_default()
}

fn object(body: Value, what: &str) -> Result<SqlObject, DatabricksError> {
    match body {
        Value::Object(object) if object.get("id").is_some_and(Value::is_string) => Ok(object),
        _ => Err(DatabricksError::Protocol(format!("the {what} answered is not an object with an id"))),
    }
}

impl WorkspaceClient {
    /// Every object the caller may see (trashed ones are not listed).
    pub async fn sql_objects(&self, token: &AccessToken, api: SqlObjects) -> Result<Vec<SqlObject>, DatabricksError> {
        super::paging::collect_pages(|page_token| async move {
            let query: Vec<(&str, String)> = page_token.map(|t| ("page_token", t)).into_iter().collect();
            let body: Value = self.get(api.path(), &query, token).await?;
            Page::from_json(body, "results")
        })
        .await
    }

    /// One object, with its folder (`parent_path`).
    pub async fn sql_object(
        &self,
        token: &AccessToken,
        api: SqlObjects,
        id: &str,
    ) -> Result<SqlObject, DatabricksError> {
        let body: Value = self.get(&format!("{}/{}", api.path(), segment(id)), &[], token).await?;
        object(body, api.key())
    }

    /// A new object (owned by the caller).
    pub async fn create_sql_object(
        &self,
        token: &AccessToken,
        api: SqlObjects,
        definition: &SqlObject,
    ) -> Result<SqlObject, DatabricksError> {
        let body: Value = self.post(api.path(), json!({ api.key(): definition }), token).await?;
        object(body, api.key())
    }

    /// Sets the `fields` of an object to theirs in `definition` (one left
    /// out of it is cleared).
    pub async fn update_sql_object(
        &self,
        token: &AccessToken,
        api: SqlObjects,
        id: &str,
        fields: &[String],
        definition: &SqlObject,
    ) -> Result<SqlObject, DatabricksError> {
        let changes: SqlObject =
            fields.iter().filter_map(|f| definition.get(f).map(|v| (f.clone(), v.clone()))).collect();
        let body = json!({ "update_mask": fields.join(","), api.key(): changes });
        let answer: Value = self.patch(&format!("{}/{}", api.path(), segment(id)), body, token).await?;
        object(answer, api.key())
    }
}
