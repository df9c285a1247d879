//! AI/BI dashboards (Lakeview API).
//!
//! - `GET /api/2.0/lakeview/dashboards?page_token=` → `{dashboards: [...],
//!   next_page_token}`: a listed dashboard has no contents nor folder, so
//!   the kind reads each one it matches with `GET …/{id}`;
//! - `POST /api/2.0/lakeview/dashboards {display_name, warehouse_id,
//!   serialized_dashboard, parent_path}` → the draft;
//! - `PATCH /api/2.0/lakeview/dashboards/{id} {…}`: the fields sent;
//! - `POST …/{id}/published {embed_credentials, warehouse_id}` publishes the
//!   draft; `GET …/{id}/published` reads what is published (404: nothing).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{segment, DatabricksError, Page, WorkspaceClient};
use crate::identity::AccessToken;

const DASHBOARDS: &str = "/api/2.0/lakeview/dashboards";

/// A dashboard as listed (enough to match it by name).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ListedDashboard {
    pub dashboard_id: String,
    #[serde(default)]
    pub display_name: String,
}

/// A dashboard's draft, whole.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct DashboardDraft {
    #[serde(default, skip_serializing)]
    pub dashboard_id: String,
    pub display_name: String,
    #[serde(default)]
    pub parent_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse_id: Option<String>,
    #[serde(default)]
    pub serialized_dashboard: String,
}

impl DashboardDraft {
    /// Its path in the workspace tree.
    pub fn path(&self) -> String {
        format!("{}/{}.lvdash.json", self.parent_path.trim_end_matches('/'), self.display_name)
    }
}

/// What is published of a dashboard.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PublishedDashboard {
    #[serde(default)]
    pub embed_credentials: bool,
    #[serde(default)]
    pub warehouse_id: Option<String>,
}

impl WorkspaceClient {
    /// Every active dashboard.
    pub async fn dashboards(&self, token: &AccessToken) -> Result<Vec<ListedDashboard>, DatabricksError> {
        super::paging::collect_pages(|page_token| async move {
            let query: Vec<(&str, String)> = page_token.map(|t| ("page_token", t)).into_iter().collect();
            let body: Value = self.get(DASHBOARDS, &query, token).await?;
            Page::from_json(body, "dashboards")
        })
        .await
    }

    /// One dashboard's draft.
    pub async fn dashboard(&self, token: &AccessToken, id: &str) -> Result<DashboardDraft, DatabricksError> {
        self.get(&format!("{DASHBOARDS}/{}", segment(id)), &[], token).await
    }

    /// What is published of a dashboard, if anything.
    pub async fn published_dashboard(
        &self,
        token: &AccessToken,
        id: &str,
    ) -> Result<Option<PublishedDashboard>, DatabricksError> {
        match self.get(&format!("{DASHBOARDS}/{}/published", segment(id)), &[], token).await {
            Ok(published) => Ok(Some(published)),
            Err(DatabricksError::NotFound(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// A new draft; its id.
    pub async fn create_dashboard(
        &self,
        token: &AccessToken,
        draft: &DashboardDraft,
    ) -> Result<String, DatabricksError> {
        let body = serde_json::to_value(draft).map_err(|e| DatabricksError::Protocol(e.to_string()))?;
        let created: DashboardDraft = self.post(DASHBOARDS, body, token).await?;
        Ok(created.dashboard_id)
    }

    /// Replaces a draft's name, warehouse and contents (its folder stays).
    pub async fn update_dashboard(
        &self,
        token: &AccessToken,
        id: &str,
        draft: &DashboardDraft,
    ) -> Result<(), DatabricksError> {
        let mut body = serde_json::to_value(draft).map_err(|e| DatabricksError::Protocol(e.to_string()))?;
        if let Some(body) = body.as_object_mut() {
            body.remove("parent_path");
        }
        self.patch::<Value>(&format!("{DASHBOARDS}/{}", segment(id)), body, token).await.map(|_| ())
    }

    /// Publishes the current draft.
    pub async fn publish_dashboard(
        &self,
        token: &AccessToken,
        id: &str,
        embed_credentials: bool,
    ) -> Result<(), DatabricksError> {
        let body = json!({ "embed_credentials": embed_credentials });
        self.post::<Value>(&format!("{DASHBOARDS}/{}/published", segment(id)), body, token).await.map(|_| ())
    }
}
