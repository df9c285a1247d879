//! The workspace tree (Workspace API) and its git folders (Repos API).
//!
//! - `GET /api/2.0/workspace/list?path=[&notebooks_modified_after=]` →
//!   `{objects: [{path, object_type, object_id, language?, created_at,
//!   modified_at, size?}]}`, the direct children of a directory (not
//!   paginated; an empty directory answers `{}`); a notebook or file path
//!   lists itself; a missing path is `404 RESOURCE_DOES_NOT_EXIST`;
//! - `GET /api/2.0/workspace/get-status?path=` → one object;
//! - `GET /api/2.0/workspace/export?path=&format=` → `{content (base64),
//!   file_type}`: notebooks in `SOURCE`, files in `RAW` or `AUTO`;
//!   directories (DBC/zip archives) are not modelled and are refused;
//! - `POST /api/2.0/workspace/import {path, content, format, language?,
//!   overwrite?}`: `SOURCE` (needs `language`) makes a notebook, `RAW` a
//!   file; the parent must be a directory that exists; an existing object is
//!   `RESOURCE_ALREADY_EXISTS` unless `overwrite`; at most 10 MB;
//! - `POST /api/2.0/workspace/mkdirs {path}`: the directory and its parents,
//!   idempotent; a notebook or file on the way is `RESOURCE_ALREADY_EXISTS`;
//! - Repos: `GET /api/2.0/repos[?path_prefix=&next_page_token=]` (pages,
//!   `next_page_token`), `POST /api/2.0/repos {url, provider, path}` (the
//!   default branch checked out; the parent folder must exist), `GET`,
//!   `PATCH {branch}` (checkout) and `DELETE /api/2.0/repos/{id}`. A git
//!   folder is a `REPO` object of the tree.
//!
//! Sources: REST reference, Workspace › List / Get status / Export / Import /
//! Create a directory; Repos › List / Create / Get / Update / Delete
//! (FIDELITY.md, "Workspace tree and git folders").

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{databricks_error, Workspace};

/// What a path holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Directory,
    /// A notebook in one of PYTHON, SQL, SCALA, R.
    Notebook {
        language: String,
    },
    File,
    /// A git folder: its remote, provider and checked-out branch.
    Repo {
        id: i64,
        url: String,
        provider: String,
        branch: String,
    },
    /// An AI/BI (Lakeview) dashboard, `NAME.lvdash.json`: the Lakeview API
    /// keeps its contents ([`super::lakeview`]); the tree lists it.
    Dashboard {
        dashboard_id: String,
    },
}

/// One object of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub object_id: i64,
    pub kind: Kind,
    pub content: Vec<u8>,
    pub created_at: i64,
    pub modified_at: i64,
}

/// The largest import the Workspace API takes.
const MAX_IMPORT: usize = 10 * 1024 * 1024;
/// Git folders a page of `GET /repos` holds (small, so clients follow tokens).
const REPO_PAGE: usize = 2;
const LANGUAGES: &[&str] = &["PYTHON", "SQL", "SCALA", "R"];
const PROVIDERS: &[&str] = &[
    "gitHub",
    "bitbucketCloud",
    "gitLab",
    "azureDevOpsServices",
    "gitHubEnterprise",
    "bitbucketServer",
    "gitLabEnterpriseEdition",
    "awsCodeCommit",
];

/// The tree, by absolute path (`/` is the root).
pub struct Tree {
    nodes: Mutex<BTreeMap<String, Node>>,
    next_id: Mutex<i64>,
}

impl Default for Tree {
    fn default() -> Self {
        let tree = Tree { nodes: Mutex::new(BTreeMap::new()), next_id: Mutex::new(1_000) };
        for dir in ["/", "/Users", "/Shared", "/Repos"] {
            tree.put(dir, Kind::Directory, Vec::new(), 1_700_000_000_000);
        }
        tree
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// An absolute path without a trailing slash, `..` or empty segments.
fn valid_path(path: &str) -> bool {
    path == "/"
        || (path.starts_with('/')
            && !path.ends_with('/')
            && path[1..].split('/').all(|s| !s.is_empty() && s != "." && s != ".."))
}

impl Tree {
    /// Writes `path`; an overwrite is the same object (its id, creation
    /// time and permissions stay).
    fn put(&self, path: &str, kind: Kind, content: Vec<u8>, at: i64) -> i64 {
        let mut next = self.next_id.lock();
        let mut nodes = self.nodes.lock();
        let id = match nodes.get(path) {
            Some(node) => node.object_id,
            None => {
                *next += 1;
                *next
            }
        };
        let created_at = nodes.get(path).map_or(at, |n| n.created_at);
        nodes.insert(path.to_string(), Node { object_id: id, kind, content, created_at, modified_at: at });
        id
    }

    /// The object at `path`, if any.
    pub fn get(&self, path: &str) -> Option<Node> {
        self.nodes.lock().get(path).cloned()
    }

    /// What the object with this `object_id` is, if any (the Permissions API's lookup).
    pub fn kind_of(&self, object_id: i64) -> Option<Kind> {
        self.nodes.lock().values().find(|n| n.object_id == object_id).map(|n| n.kind.clone())
    }

    /// A dashboard's object at `path` (the Lakeview API made or renamed it):
    /// its parent must be a directory, the path free or this dashboard's.
    pub fn place_dashboard(&self, path: &str, dashboard_id: &str, at: i64) -> Result<i64, String> {
        match self.get(parent(path)) {
            Some(Node { kind: Kind::Directory, .. }) => {}
            _ => return Err(format!("The parent folder ({}) does not exist.", parent(path))),
        }
        match self.get(path) {
            Some(Node { kind: Kind::Dashboard { dashboard_id: id }, .. }) if id == dashboard_id => {}
            Some(_) => return Err(format!("{path} already exists.")),
            None => {}
        }
        Ok(self.put(path, Kind::Dashboard { dashboard_id: dashboard_id.into() }, Vec::new(), at))
    }

    /// Removes the object at `path` (a dashboard trashed or renamed).
    pub fn remove(&self, path: &str) {
        self.nodes.lock().remove(path);
    }

    /// Every path of the tree (tests compare two workspaces with it).
    pub fn paths(&self) -> Vec<String> {
        self.nodes.lock().keys().cloned().collect()
    }

    /// Directories down to `path` (tests and the seed).
    pub fn mkdirs(&self, path: &str, at: i64) -> Result<(), String> {
        let mut todo = Vec::new();
        let mut at_path = path;
        loop {
            match self.get(at_path) {
                Some(Node { kind: Kind::Directory, .. }) => break,
                Some(_) => return Err(at_path.to_string()),
                None => todo.push(at_path.to_string()),
            }
            at_path = parent(at_path);
        }
        for dir in todo.into_iter().rev() {
            self.put(&dir, Kind::Directory, Vec::new(), at);
        }
        Ok(())
    }

    /// A notebook or file (the seed; someone editing it in the UI).
    pub fn write(&self, path: &str, kind: Kind, content: &str, at: i64) {
        let _ = self.mkdirs(parent(path), at);
        self.put(path, kind, content.as_bytes().to_vec(), at);
    }

    /// Notebooks in folders, a few workspace files and a git folder: what a
    /// data team's primary holds. The secondary has an older copy of part of it.
    pub fn seed(&self, primary: bool, notebooks: usize) {
        let base = 1_760_000_000_000;
        let teams = ["sales", "finance", "ops"];
        for i in 0..notebooks {
            let team = teams[i % teams.len()];
            let (language, source) = match i % 3 {
                0 => ("PYTHON", format!("# Databricks notebook source\nprint('report {i}')\n")),
                1 => ("SQL", format!("-- Databricks notebook source\nSELECT {i}\n")),
                _ => ("SCALA", format!("// Databricks notebook source\nprintln(\"job {i}\")\n")),
            };
            let path = format!("/Shared/{team}/reports/report_{i:04}");
            // The secondary had every other notebook copied once, before the
            // primary's last edit of every fourth one.
            let modified = base + i as i64 * 1_000;
            if primary {
                self.write(&path, Kind::Notebook { language: language.into() }, &source, modified);
            } else if i % 2 == 0 {
                let stale = i % 4 == 0;
                let text = if stale { "# Databricks notebook source\nprint('old')\n".to_string() } else { source };
                let at = if stale { modified - 500 } else { modified + 60_000 };
                self.write(&path, Kind::Notebook { language: language.into() }, &text, at);
            }
        }
        if primary {
            self.write("/Shared/sales/config/settings.yaml", Kind::File, "region: primary\nretries: 3\n", base);
            self.write("/Shared/sales/config/empty.txt", Kind::File, "", base);
            let _ = self.mkdirs("/Shared/ops/archive/2025", base);
            let _ = self.mkdirs("/Repos/dr-operators", base);
            self.put(
                "/Repos/dr-operators/pipelines",
                Kind::Repo {
                    id: 42,
                    url: "https://github.com/contoso/pipelines.git".into(),
                    provider: "gitHub".into(),
                    branch: "release".into(),
                },
                Vec::new(),
                base,
            );
        }
    }

    fn repos(&self) -> Vec<(String, Node)> {
        self.nodes
            .lock()
            .iter()
            .filter(|(_, n)| matches!(n.kind, Kind::Repo { .. }))
            .map(|(p, n)| (p.clone(), n.clone()))
            .collect()
    }
}

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route("/api/2.0/workspace/list", get(list))
        .route("/api/2.0/workspace/get-status", get(status))
        .route("/api/2.0/workspace/export", get(export))
        .route("/api/2.0/workspace/import", post(import))
        .route("/api/2.0/workspace/mkdirs", post(mkdirs))
        .route("/api/2.0/repos", get(list_repos).post(create_repo))
        .route("/api/2.0/repos/{id}", get(get_repo).patch(update_repo).delete(delete_repo))
}

fn invalid(message: &str) -> Response {
    databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
}

fn missing(path: &str) -> Response {
    databricks_error(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", &format!("Path ({path}) doesn't exist."))
}

fn object_json(path: &str, node: &Node) -> Value {
    let (object_type, language) = match &node.kind {
        Kind::Directory => ("DIRECTORY", None),
        Kind::Notebook { language } => ("NOTEBOOK", Some(language.clone())),
        Kind::File => ("FILE", None),
        Kind::Repo { .. } => ("REPO", None),
        Kind::Dashboard { .. } => ("DASHBOARD", None),
    };
    let mut object = json!({
        "path": path,
        "object_type": object_type,
        "object_id": node.object_id,
        "created_at": node.created_at,
        "modified_at": node.modified_at,
    });
    if let Some(language) = language {
        object["language"] = json!(language);
    }
    if let Kind::Dashboard { dashboard_id } = &node.kind {
        object["resource_id"] = json!(dashboard_id);
    }
    if matches!(node.kind, Kind::File | Kind::Notebook { .. }) {
        object["size"] = json!(node.content.len());
    }
    object
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    path: String,
    #[serde(default)]
    notebooks_modified_after: Option<i64>,
}

async fn list(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refusal) = ws.caller(&headers, "workspace.list") {
        return refusal;
    }
    let Ok(Query(query)) = query else { return invalid("list takes path and notebooks_modified_after.") };
    if !valid_path(&query.path) {
        return invalid(&format!("Path ({}) is not an absolute path.", query.path));
    }
    let nodes = ws.tree.nodes.lock();
    let Some(node) = nodes.get(&query.path) else { return missing(&query.path) };
    let objects: Vec<Value> = match node.kind {
        Kind::Notebook { .. } | Kind::File | Kind::Dashboard { .. } => vec![object_json(&query.path, node)],
        Kind::Repo { .. } => Vec::new(),
        Kind::Directory => nodes
            .iter()
            .filter(|(p, _)| p.as_str() != "/" && parent(p) == query.path)
            .filter(|(_, n)| {
                !matches!(n.kind, Kind::Notebook { .. })
                    || query.notebooks_modified_after.is_none_or(|after| n.modified_at > after)
            })
            .map(|(p, n)| object_json(p, n))
            .collect(),
    };
    if objects.is_empty() {
        return Json(json!({})).into_response();
    }
    Json(json!({ "objects": objects })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PathQuery {
    path: String,
}

async fn status(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    query: Result<Query<PathQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refusal) = ws.caller(&headers, "workspace.get-status") {
        return refusal;
    }
    let Ok(Query(query)) = query else { return invalid("get-status takes path.") };
    match ws.tree.get(&query.path) {
        Some(node) => Json(object_json(&query.path, &node)).into_response(),
        None => missing(&query.path),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    path: String,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    direct_download: Option<bool>,
}

async fn export(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refusal) = ws.caller(&headers, "workspace.export") {
        return refusal;
    }
    let Ok(Query(query)) = query else { return invalid("export takes path, format and direct_download.") };
    if query.direct_download == Some(true) {
        return invalid("The sandbox does not model direct_download.");
    }
    let Some(node) = ws.tree.get(&query.path) else { return missing(&query.path) };
    let format = query.format.as_deref().unwrap_or("SOURCE");
    let file_type = match (&node.kind, format) {
        (Kind::Notebook { language }, "SOURCE") => match language.as_str() {
            "PYTHON" => "py",
            "SQL" => "sql",
            "SCALA" => "scala",
            _ => "r",
        },
        (Kind::File, "RAW" | "AUTO") => "",
        (Kind::Directory | Kind::Repo { .. }, _) => {
            return invalid("The sandbox does not export directories (DBC or zip archives).")
        }
        (Kind::Dashboard { .. }, _) => {
            return invalid("The sandbox does not export dashboards here: read them with the Lakeview API.")
        }
        (_, other) => return invalid(&format!("Format {other} is not supported for this object.")),
    };
    let content = base64::engine::general_purpose::STANDARD.encode(&node.content);
    Json(json!({ "content": content, "file_type": file_type })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Import {
    path: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    overwrite: Option<bool>,
}

async fn import(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = ws.caller(&headers, "workspace.import") {
        return refusal;
    }
    let request: Import = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return invalid(&format!("Invalid request: {e}")),
    };
    if !valid_path(&request.path) || request.path == "/" {
        return invalid(&format!("Path ({}) is not an absolute path.", request.path));
    }
    let content = match base64::engine::general_purpose::STANDARD.decode(request.content.unwrap_or_default()) {
        Ok(content) => content,
        Err(_) => return invalid("content is not base64."),
    };
    if content.len() > MAX_IMPORT {
        return databricks_error(
            StatusCode::BAD_REQUEST,
            "MAX_NOTEBOOK_SIZE_EXCEEDED",
            "File size imported is too large.",
        );
    }
    let kind = match request.format.as_deref().unwrap_or("SOURCE") {
        "SOURCE" => match request.language.as_deref() {
            Some(language) if LANGUAGES.contains(&language) => Kind::Notebook { language: language.into() },
            Some(other) => return invalid(&format!("Language {other} is not a notebook language.")),
            None => return invalid("A SOURCE import needs language."),
        },
        "RAW" if request.language.is_none() => Kind::File,
        "RAW" => return invalid("A RAW import takes no language."),
        other => return invalid(&format!("The sandbox does not import format {other}.")),
    };
    let parent_path = parent(&request.path);
    match ws.tree.get(parent_path) {
        Some(Node { kind: Kind::Directory, .. }) => {}
        Some(_) => return invalid(&format!("The parent ({parent_path}) is not a directory.")),
        None => {
            return databricks_error(
                StatusCode::NOT_FOUND,
                "RESOURCE_DOES_NOT_EXIST",
                &format!("The parent folder ({parent_path}) does not exist."),
            )
        }
    }
    match ws.tree.get(&request.path) {
        Some(existing)
            if request.overwrite != Some(true)
                || matches!(existing.kind, Kind::Directory | Kind::Repo { .. } | Kind::Dashboard { .. }) =>
        {
            return databricks_error(
                StatusCode::BAD_REQUEST,
                "RESOURCE_ALREADY_EXISTS",
                &format!("{} already exists.", request.path),
            )
        }
        _ => {}
    }
    ws.tree.put(&request.path, kind, content, now_ms());
    Json(json!({})).into_response()
}

async fn mkdirs(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = ws.caller(&headers, "workspace.mkdirs") {
        return refusal;
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Mkdirs {
        path: String,
    }
    let request: Mkdirs = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return invalid(&format!("Invalid request: {e}")),
    };
    if !valid_path(&request.path) {
        return invalid(&format!("Path ({}) is not an absolute path.", request.path));
    }
    match ws.tree.mkdirs(&request.path, now_ms()) {
        Ok(()) => Json(json!({})).into_response(),
        Err(blocking) => databricks_error(
            StatusCode::BAD_REQUEST,
            "RESOURCE_ALREADY_EXISTS",
            &format!("Cannot create directory {} because {blocking} is not a directory.", request.path),
        ),
    }
}

fn repo_json(path: &str, node: &Node) -> Value {
    let Kind::Repo { id, url, provider, branch } = &node.kind else { return json!({}) };
    json!({
        "id": id,
        "path": path,
        "url": url,
        "provider": provider,
        "branch": branch,
        "head_commit_id": format!("{:040x}", (*id as u128) * 7919 + branch.len() as u128),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepoQuery {
    #[serde(default)]
    path_prefix: Option<String>,
    #[serde(default)]
    next_page_token: Option<String>,
}

async fn list_repos(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    query: Result<Query<RepoQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refusal) = ws.caller(&headers, "repos.list") {
        return refusal;
    }
    let Ok(Query(query)) = query else { return invalid("list takes path_prefix and next_page_token.") };
    let prefix = query.path_prefix.unwrap_or_default();
    let all: Vec<(String, Node)> = ws.tree.repos().into_iter().filter(|(p, _)| p.starts_with(&prefix)).collect();
    let start = match query.next_page_token.as_deref() {
        None | Some("") => 0,
        Some(token) => match token.parse::<usize>() {
            Ok(start) if start <= all.len() => start,
            _ => return invalid("Invalid page token."),
        },
    };
    let end = (start + REPO_PAGE).min(all.len());
    let repos: Vec<Value> = all[start..end].iter().map(|(p, n)| repo_json(p, n)).collect();
    let mut body = if repos.is_empty() { json!({}) } else { json!({ "repos": repos }) };
    if end < all.len() {
        body["next_page_token"] = json!(end.to_string());
    }
    Json(body).into_response()
}

async fn create_repo(State(ws): State<Arc<Workspace>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = ws.caller(&headers, "repos.create") {
        return refusal;
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Create {
        url: String,
        provider: String,
        #[serde(default)]
        path: Option<String>,
    }
    let request: Create = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return invalid(&format!("Invalid request: {e}")),
    };
    let Some(provider) = PROVIDERS.iter().find(|p| p.eq_ignore_ascii_case(&request.provider)) else {
        return invalid(&format!("Unsupported git provider {}.", request.provider));
    };
    if !(request.url.starts_with("https://") && request.url.len() > 8) {
        return invalid("url must be an https URL of a git repository.");
    }
    let Some(path) = request.path.filter(|p| valid_path(p) && p != "/") else {
        return invalid("The sandbox needs an absolute path for a git folder.");
    };
    if !matches!(ws.tree.get(parent(&path)), Some(Node { kind: Kind::Directory, .. })) {
        return databricks_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            &format!("Parent directory {} does not exist.", parent(&path)),
        );
    }
    if ws.tree.get(&path).is_some() {
        return databricks_error(
            StatusCode::BAD_REQUEST,
            "RESOURCE_ALREADY_EXISTS",
            &format!("{path} already exists."),
        );
    }
    let id = {
        let mut next = ws.tree.next_id.lock();
        *next += 1;
        *next
    };
    let kind = Kind::Repo { id, url: request.url, provider: provider.to_string(), branch: "main".into() };
    ws.tree.put(&path, kind, Vec::new(), now_ms());
    let node = ws.tree.get(&path).expect("just put");
    Json(repo_json(&path, &node)).into_response()
}

fn repo_by_id(ws: &Workspace, id: &str) -> Option<(String, Node)> {
    let id: i64 = id.parse().ok()?;
    ws.tree.repos().into_iter().find(|(_, n)| matches!(&n.kind, Kind::Repo { id: i, .. } if *i == id))
}

fn missing_repo(id: &str) -> Response {
    databricks_error(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", &format!("Repo {id} does not exist."))
}

async fn get_repo(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(refusal) = ws.caller(&headers, "repos.get") {
        return refusal;
    }
    match repo_by_id(&ws, &id) {
        Some((path, node)) => Json(repo_json(&path, &node)).into_response(),
        None => missing_repo(&id),
    }
}

async fn update_repo(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = ws.caller(&headers, "repos.update") {
        return refusal;
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Update {
        #[serde(default)]
        branch: Option<String>,
        #[serde(default)]
        tag: Option<String>,
    }
    let request: Update = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return invalid(&format!("Invalid request: {e}")),
    };
    let Some((path, mut node)) = repo_by_id(&ws, &id) else { return missing_repo(&id) };
    let branch = match (request.branch, request.tag) {
        (Some(branch), None) if !branch.trim().is_empty() => branch,
        _ => return invalid("Give exactly one of branch or tag (the sandbox models branches)."),
    };
    if let Kind::Repo { branch: current, .. } = &mut node.kind {
        *current = branch;
    }
    node.modified_at = now_ms();
    ws.tree.nodes.lock().insert(path, node);
    Json(json!({})).into_response()
}

async fn delete_repo(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(refusal) = ws.caller(&headers, "repos.delete") {
        return refusal;
    }
    let Some((path, _)) = repo_by_id(&ws, &id) else { return missing_repo(&id) };
    ws.tree.nodes.lock().remove(&path);
    Json(json!({})).into_response()
}
