//! The workspace tree and its git folders: the Workspace API (notebooks,
//! files, folders) and the Repos API.
//!
//! - `GET /api/2.0/workspace/list?path=` → `{objects: [{path, object_type,
//!   language?, modified_at, …}]}`: one directory's children, not paginated;
//!   an empty directory answers `{}`;
//! - `GET /api/2.0/workspace/get-status?path=`: one object (404 if none);
//! - `GET /api/2.0/workspace/export?path=&format=SOURCE|RAW` → `{content}`,
//!   base64: notebooks in `SOURCE` (their code, with the language's
//!   "Databricks notebook source" header), files `RAW`;
//! - `POST /api/2.0/workspace/import {path, content, format, language?,
//!   overwrite: true}`: the parent must exist, hence `mkdirs` first;
//! - `POST /api/2.0/workspace/mkdirs {path}`: the folder and its parents;
//! - `GET /api/2.0/repos?next_page_token=` → `{repos: [{id, path, url,
//!   provider, branch}], next_page_token}` (the token is sent back under the
//!   same name); `POST /api/2.0/repos {url, provider, path}`;
//!   `PATCH /api/2.0/repos/{id} {branch}` checks a branch out.
//!
//! Content is bytes here and is never logged: a notebook may hold anything.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// One object of the tree, as `list` and `get-status` show it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct WorkspaceObject {
    pub path: String,
    /// `DIRECTORY`, `NOTEBOOK`, `FILE`, `REPO`, `LIBRARY`, `DASHBOARD`.
    pub object_type: String,
    /// A notebook's: `PYTHON`, `SQL`, `SCALA`, `R`.
    #[serde(default)]
    pub language: Option<String>,
    /// Epoch ms of the last change (absent for some directories).
    #[serde(default)]
    pub modified_at: Option<i64>,
    /// The workspace's id of the object (what the Permissions API names it by).
    #[serde(default)]
    pub object_id: Option<i64>,
}

/// How an object is exported and imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A notebook as its source code.
    Source,
    /// A workspace file as its bytes.
    Raw,
}

impl Format {
    fn wire(self) -> &'static str {
        match self {
            Format::Source => "SOURCE",
            Format::Raw => "RAW",
        }
    }
}

/// A git folder.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct GitFolder {
    pub id: i64,
    pub path: String,
    pub url: String,
    pub provider: String,
    #[serde(default)]
    pub branch: Option<String>,
}

impl WorkspaceClient {
    /// The children of a directory.
    pub async fn list_folder(&self, token: &AccessToken, path: &str) -> Result<Vec<WorkspaceObject>, DatabricksError> {
        let body: Value = self.get("/api/2.0/workspace/list", &[("path", path.to_string())], token).await?;
        super::Page::<WorkspaceObject>::from_json(body, "objects").map(|page| page.items)
    }

    /// The object at `path`, or `None` when there is none.
    pub async fn object_status(
        &self,
        token: &AccessToken,
        path: &str,
    ) -> Result<Option<WorkspaceObject>, DatabricksError> {
        match self.get("/api/2.0/workspace/get-status", &[("path", path.to_string())], token).await {
            Ok(object) => Ok(Some(object)),
            Err(DatabricksError::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// A notebook's source or a file's bytes.
    pub async fn export_object(
        &self,
        token: &AccessToken,
        path: &str,
        format: Format,
    ) -> Result<Vec<u8>, DatabricksError> {
        #[derive(Deserialize)]
        struct Exported {
            #[serde(default)]
            content: String,
        }
        let query = [("path", path.to_string()), ("format", format.wire().to_string())];
        let exported: Exported = self.get("/api/2.0/workspace/export", &query, token).await?;
        base64::engine::general_purpose::STANDARD
            .decode(exported.content)
            .map_err(|_| DatabricksError::Protocol(format!("the export of {path} is not base64")))
    }

    /// Writes a notebook (`language` given, `Source`) or a file (`Raw`) at
    /// `path`, replacing what is there.
    pub async fn import_object(
        &self,
        token: &AccessToken,
        path: &str,
        format: Format,
        language: Option<&str>,
        content: &[u8],
    ) -> Result<(), DatabricksError> {
        let mut body = json!({
            "path": path,
            "format": format.wire(),
            "content": base64::engine::general_purpose::STANDARD.encode(content),
            "overwrite": true,
        });
        if let (Format::Source, Some(language)) = (format, language) {
            body["language"] = json!(language);
        }
        self.post::<Value>("/api/2.0/workspace/import", body, token).await.map(|_| ())
    }

    /// The folder and its parents (nothing if they exist).
    pub async fn mkdirs(&self, token: &AccessToken, path: &str) -> Result<(), DatabricksError> {
        self.post::<Value>("/api/2.0/workspace/mkdirs", json!({ "path": path }), token).await.map(|_| ())
    }

    /// Every git folder of the workspace, page by page.
    pub async fn git_folders(&self, token: &AccessToken) -> Result<Vec<GitFolder>, DatabricksError> {
        super::paging::collect_pages(|page_token| async move {
            let query: Vec<(&str, String)> = page_token.map(|t| ("next_page_token", t)).into_iter().collect();
            let body: Value = self.get("/api/2.0/repos", &query, token).await?;
            super::Page::from_json(body, "repos")
        })
        .await
    }

    /// A git folder at `path` cloned from `url` (its default branch).
    pub async fn create_git_folder(
        &self,
        token: &AccessToken,
        path: &str,
        url: &str,
        provider: &str,
    ) -> Result<GitFolder, DatabricksError> {
        self.post("/api/2.0/repos", json!({"url": url, "provider": provider, "path": path}), token).await
    }

    /// Checks `branch` out in a git folder.
    pub async fn checkout_branch(&self, token: &AccessToken, id: i64, branch: &str) -> Result<(), DatabricksError> {
        self.patch::<Value>(&format!("/api/2.0/repos/{id}"), json!({ "branch": branch }), token).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_parse_with_and_without_optional_fields() {
        let page = super::super::Page::<WorkspaceObject>::from_json(
            json!({"objects": [
                {"path": "/Shared/a", "object_type": "NOTEBOOK", "language": "PYTHON", "modified_at": 5, "object_id": 1},
                {"path": "/Shared/d", "object_type": "DIRECTORY", "object_id": 2}
            ]}),
            "objects",
        )
        .unwrap();
        assert_eq!(page.items[0].language.as_deref(), Some("PYTHON"));
        assert_eq!(page.items[1].modified_at, None);
        assert!(super::super::Page::<WorkspaceObject>::from_json(json!({}), "objects").unwrap().items.is_empty());
    }
}
