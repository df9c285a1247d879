//! The Files API over Unity Catalog volumes, files kept in memory per workspace.
//!
//! Endpoints, as the REST reference documents them (FIDELITY.md, Files API):
//! `GET|PUT|DELETE|HEAD /api/2.0/fs/directories{path}` (list with
//! `page_size` ≤ 1000 and `page_token`/`next_page_token`; create as `mkdir
//! -p`, idempotent; delete an empty directory; metadata) and
//! `GET|PUT|DELETE|HEAD /api/2.0/fs/files{path}` (download with
//! `Content-Length`, `Content-Type` and `Last-Modified`, `Range` and
//! `If-Unmodified-Since`; upload of the raw body with `overwrite`, default
//! true; delete; metadata). Paths are `/Volumes/<catalog>/<schema>/<volume>/…`
//! of a volume in the workspace's metastore; anything else is refused.
//!
//! Privileges as the volumes documentation lists them: reading or listing
//! needs USE CATALOG, USE SCHEMA and READ VOLUME; creating, changing or
//! deleting files needs WRITE VOLUME too. Files are data: owning the volume
//! (or its schema or catalog) gives both, being a metastore admin does not.
//!
//! A file's modification time comes from this store's clock, which never
//! runs backwards and never gives two writes the same millisecond, so a
//! rewrite is always newer than what it replaced.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::metastore::{Metastore, Principal, Securable, UcError};
use super::unity_catalog::{query, with_caller};
use super::{databricks_error, Workspace};

/// The most entries one listing page holds (the reference's maximum).
const MAX_PAGE: usize = 1000;
/// The largest upload (the reference: "a file of up to 5 GiB").
const MAX_UPLOAD: usize = 5 * 1024 * 1024 * 1024;

/// A node of a volume's tree, by absolute path.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    File { contents: Bytes, modified_ms: i64 },
    Directory { modified_ms: i64 },
}

/// Every volume's files of one workspace.
#[derive(Default)]
pub struct VolumeFiles {
    nodes: Mutex<BTreeMap<String, Node>>,
    clock: AtomicI64,
}

/// What the Files API refuses, in its words.
enum FilesError {
    Uc(UcError),
    NotFound(String),
    /// 409: a file where a directory is asked for (or the reverse), a
    /// non-empty directory to delete.
    Conflict(String),
    /// 409: the file exists and `overwrite` is false.
    Exists(String),
    /// 412: `If-Unmodified-Since` is older than the file.
    Precondition(String),
    /// 416: a `Range` beyond the file.
    Range(String),
}

impl From<UcError> for FilesError {
    fn from(error: UcError) -> FilesError {
        FilesError::Uc(error)
    }
}

impl IntoResponse for FilesError {
    fn into_response(self) -> Response {
        match self {
            FilesError::Uc(error) => error.into_response(),
            FilesError::NotFound(m) => databricks_error(StatusCode::NOT_FOUND, "NOT_FOUND", &m),
            FilesError::Conflict(m) => databricks_error(StatusCode::CONFLICT, "RESOURCE_CONFLICT", &m),
            FilesError::Exists(m) => databricks_error(StatusCode::CONFLICT, "ALREADY_EXISTS", &m),
            FilesError::Precondition(m) => databricks_error(StatusCode::PRECONDITION_FAILED, "FAILED_PRECONDITION", &m),
            FilesError::Range(m) => databricks_error(StatusCode::RANGE_NOT_SATISFIABLE, "INVALID_PARAMETER_VALUE", &m),
        }
    }
}

/// An absolute volume path: the volume's full name and the path itself
/// (no trailing slash; the volume's root is a directory).
struct VolumePath {
    volume: String,
    catalog: String,
    schema: String,
    path: String,
}

impl VolumePath {
    fn parse(raw: &str) -> Result<VolumePath, FilesError> {
        let path = format!("/{}", raw.trim_start_matches('/').trim_end_matches('/'));
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        let bad = |why: &str| {
            FilesError::Uc(UcError::Invalid(format!(
                "Invalid path {path}: {why}. The sandbox models the Files API over /Volumes/<catalog>/<schema>/<volume> only."
            )))
        };
        if parts.first() != Some(&"Volumes") || parts.len() < 4 {
            return Err(bad("not a path in a Unity Catalog volume"));
        }
        if parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
            return Err(bad("empty, '.' or '..' path component"));
        }
        Ok(VolumePath {
            volume: format!("{}.{}.{}", parts[1], parts[2], parts[3]),
            catalog: parts[1].to_string(),
            schema: parts[2].to_string(),
            path,
        })
    }

    fn is_root(&self) -> bool {
        self.path.split('/').count() == 5
    }

    fn parent(&self) -> String {
        self.path.rsplit_once('/').map(|(p, _)| p.to_string()).unwrap_or_default()
    }
}

/// USE CATALOG, USE SCHEMA and `privileges` on the volume, or the refusal.
/// Only data access counts: owning the volume or a parent, or a grant of
/// the privilege (or ALL PRIVILEGES) on it or a parent.
fn require(metastore: &Metastore, who: &Principal, at: &VolumePath, privileges: &[&str]) -> Result<(), FilesError> {
    if !metastore.volumes.contains_key(&at.volume) {
        return Err(FilesError::NotFound(format!("Volume '{}' does not exist.", at.volume)));
    }
    metastore.require_use(who, &at.catalog, Some(&at.schema))?;
    let owned = Metastore::chain(Securable::Volume, &at.volume)
        .iter()
        .any(|(kind, name)| metastore.common(*kind, name).is_ok_and(|c| who_is(who, &c.owner)));
    let effective = metastore.effective(who, Securable::Volume, &at.volume);
    for privilege in privileges {
        if !owned && !effective.contains(*privilege) && !effective.contains("ALL_PRIVILEGES") {
            return Err(FilesError::Uc(UcError::PermissionDenied(format!(
                "User does not have {} on Volume '{}'.",
                privilege.replace('_', " "),
                at.volume
            ))));
        }
    }
    Ok(())
}

fn who_is(who: &Principal, name: &str) -> bool {
    who.name == name || who.groups.iter().any(|g| g == name)
}

const READ: &[&str] = &["READ_VOLUME"];
const WRITE: &[&str] = &["READ_VOLUME", "WRITE_VOLUME"];

impl VolumeFiles {
    /// Milliseconds from the wall clock, strictly after the last ones given.
    fn now_ms(&self) -> i64 {
        let wall = chrono::Utc::now().timestamp_millis();
        let mut last = self.clock.load(Ordering::SeqCst);
        loop {
            let next = wall.max(last + 1);
            match self.clock.compare_exchange(last, next, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    fn is_directory(&self, nodes: &BTreeMap<String, Node>, at: &VolumePath) -> bool {
        at.is_root() || matches!(nodes.get(&at.path), Some(Node::Directory { .. }))
    }

    /// Writes a file as an upload would, creating its parents (the seed's and tests' way in).
    pub fn put(&self, path: &str, contents: &[u8]) {
        let Ok(at) = VolumePath::parse(path) else { return };
        let now = self.now_ms();
        let mut nodes = self.nodes.lock();
        let mut parent = at.parent();
        while parent.split('/').count() > 5 {
            nodes.entry(parent.clone()).or_insert(Node::Directory { modified_ms: now });
            parent = parent.rsplit_once('/').map(|(p, _)| p.to_string()).unwrap_or_default();
        }
        nodes.insert(at.path, Node::File { contents: Bytes::copy_from_slice(contents), modified_ms: now });
    }

    /// A file's bytes, if there is one at `path`.
    pub fn get(&self, path: &str) -> Option<Bytes> {
        match self.nodes.lock().get(path.trim_end_matches('/')) {
            Some(Node::File { contents, .. }) => Some(contents.clone()),
            _ => None,
        }
    }

    /// Every file below `root` (absolute paths), with its bytes.
    pub fn files_under(&self, root: &str) -> BTreeMap<String, Bytes> {
        let prefix = format!("{}/", root.trim_end_matches('/'));
        self.nodes
            .lock()
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, n)| match n {
                Node::File { contents, .. } => Some((k.clone(), contents.clone())),
                Node::Directory { .. } => None,
            })
            .collect()
    }

    /// Directories below `root` (absolute paths).
    pub fn directories_under(&self, root: &str) -> Vec<String> {
        let prefix = format!("{}/", root.trim_end_matches('/'));
        self.nodes
            .lock()
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, n)| matches!(n, Node::Directory { .. }))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// An empty directory, as `PUT /fs/directories` makes it.
    pub fn mkdir(&self, path: &str) {
        let now = self.now_ms();
        self.nodes.lock().entry(path.trim_end_matches('/').to_string()).or_insert(Node::Directory { modified_ms: now });
    }

    /// Files for every managed volume of `metastore`: a few in folders, and
    /// an empty folder, the same for the same volume name.
    pub fn seeded(metastore: &Metastore) -> VolumeFiles {
        let files = VolumeFiles::default();
        for volume in metastore.volumes.values().filter(|v| v.volume_type == "MANAGED") {
            let root = format!("/Volumes/{}/{}/{}", volume.catalog, volume.schema, volume.name);
            files.put(
                &format!("{root}/README.md"),
                format!("# {}\nFiles the sales team lands.\n", volume.name).as_bytes(),
            );
            for month in ["01", "02", "03"] {
                let rows: String =
                    (0..20).map(|i| format!("{month}-{i:03},{},{}\n", i * 7 % 13, i * 31 % 97)).collect();
                files.put(
                    &format!("{root}/exports/2026/{month}/orders.csv"),
                    format!("id,qty,price\n{rows}").as_bytes(),
                );
            }
            let image: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
            files.put(&format!("{root}/images/logo.png"), &image);
            files.mkdir(&format!("{root}/archive"));
        }
        files
    }
}

pub fn router() -> Router<Arc<Workspace>> {
    Router::new()
        .route(
            "/api/2.0/fs/directories/{*path}",
            get(list_directory).put(create_directory).delete(delete_directory).head(directory_metadata),
        )
        .route("/api/2.0/fs/files/{*path}", get(download).put(upload).delete(delete_file).head(file_metadata))
}

fn http_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

async fn list_directory(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    RawQuery(raw_query): RawQuery,
) -> Response {
    with_caller(&ws, &headers, "files.list_directory", |who| {
        let at = VolumePath::parse(&raw).map_err(into_uc)?;
        let result = (|| -> Result<Response, FilesError> {
            require(&ws.metastore.read(), who, &at, READ)?;
            let nodes = ws.files.nodes.lock();
            if !ws.files.is_directory(&nodes, &at) {
                return Err(FilesError::NotFound(format!("The directory being accessed is not found: {}", at.path)));
            }
            let query = query(raw_query);
            let asked = match query.get("page_size") {
                Some(size) => size
                    .parse::<usize>()
                    .map_err(|_| UcError::Invalid(format!("page_size must be a number, not {size:?}")))?,
                None => MAX_PAGE,
            };
            let size = asked.clamp(1, MAX_PAGE).min(ws.page_size());
            let after = match query.get("page_token") {
                Some(token) => Some(decode_token(token).ok_or_else(|| UcError::Invalid("Invalid page_token.".into()))?),
                None => None,
            };
            let prefix = format!("{}/", at.path);
            let children: Vec<(&String, &Node)> = nodes
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .filter(|(k, _)| !k[prefix.len()..].contains('/'))
                .filter(|(k, _)| after.as_ref().is_none_or(|a| k.as_str() > a.as_str()))
                .collect();
            let page = &children[..children.len().min(size)];
            let contents: Vec<Value> = page
                .iter()
                .map(|(path, node)| {
                    let name = &path[prefix.len()..];
                    match node {
                        Node::File { contents, modified_ms } => json!({
                            "path": path, "name": name, "is_directory": false,
                            "file_size": contents.len(), "last_modified": modified_ms,
                        }),
                        Node::Directory { .. } => json!({"path": path, "name": name, "is_directory": true}),
                    }
                })
                .collect();
            let mut body = json!({});
            if !contents.is_empty() {
                body["contents"] = json!(contents);
            }
            if children.len() > page.len() {
                if let Some((last, _)) = page.last() {
                    body["next_page_token"] = json!(encode_token(last));
                }
            }
            Ok(Json(body).into_response())
        })();
        Ok(result.unwrap_or_else(IntoResponse::into_response))
    })
}

/// Opaque page tokens: the last listed path, hex-encoded.
fn encode_token(path: &str) -> String {
    path.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_token(token: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> =
        (0..token.len()).step_by(2).map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

/// `with_caller` speaks `UcError`; a bad path is one.
fn into_uc(error: FilesError) -> UcError {
    match error {
        FilesError::Uc(error) => error,
        FilesError::NotFound(m) => UcError::NotFound(m),
        FilesError::Conflict(m) | FilesError::Exists(m) | FilesError::Precondition(m) | FilesError::Range(m) => {
            UcError::Invalid(m)
        }
    }
}

/// Runs `handler` for the caller on a parsed path, answering in the Files API's words.
fn files_call(
    ws: &Workspace,
    headers: &HeaderMap,
    endpoint: &str,
    raw: &str,
    handler: impl FnOnce(&Principal, VolumePath) -> Result<Response, FilesError>,
) -> Response {
    with_caller(ws, headers, endpoint, |who| {
        let at = VolumePath::parse(raw).map_err(into_uc)?;
        Ok(handler(who, at).unwrap_or_else(IntoResponse::into_response))
    })
}

async fn create_directory(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(raw): Path<String>) -> Response {
    files_call(&ws, &headers, "files.create_directory", &raw, |who, at| {
        require(&ws.metastore.read(), who, &at, WRITE)?;
        let now = ws.files.now_ms();
        let mut nodes = ws.files.nodes.lock();
        // `mkdir -p`: every missing component, none of them a file.
        let parts: Vec<&str> = at.path.split('/').collect();
        for end in 6..=parts.len() {
            let path = parts[..end].join("/");
            match nodes.get(&path) {
                Some(Node::File { .. }) => {
                    return Err(FilesError::Conflict(format!("A file exists at {path}, where a directory is needed.")))
                }
                Some(Node::Directory { .. }) => {}
                None => {
                    nodes.insert(path, Node::Directory { modified_ms: now });
                }
            }
        }
        Ok(StatusCode::OK.into_response())
    })
}

async fn delete_directory(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(raw): Path<String>) -> Response {
    files_call(&ws, &headers, "files.delete_directory", &raw, |who, at| {
        require(&ws.metastore.read(), who, &at, WRITE)?;
        let mut nodes = ws.files.nodes.lock();
        if at.is_root() || !matches!(nodes.get(&at.path), Some(Node::Directory { .. })) {
            return Err(FilesError::NotFound(format!("The directory being accessed is not found: {}", at.path)));
        }
        let prefix = format!("{}/", at.path);
        if nodes.range(prefix.clone()..).next().is_some_and(|(k, _)| k.starts_with(&prefix)) {
            return Err(FilesError::Conflict(format!("The directory {} is not empty.", at.path)));
        }
        nodes.remove(&at.path);
        Ok(StatusCode::OK.into_response())
    })
}

async fn directory_metadata(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(raw): Path<String>) -> Response {
    files_call(&ws, &headers, "files.get_directory_metadata", &raw, |who, at| {
        require(&ws.metastore.read(), who, &at, READ)?;
        let nodes = ws.files.nodes.lock();
        if ws.files.is_directory(&nodes, &at) {
            Ok(StatusCode::OK.into_response())
        } else {
            Err(FilesError::NotFound(format!("The directory being accessed is not found: {}", at.path)))
        }
    })
}

/// The file at `at`, or 404.
fn file_at(ws: &Workspace, at: &VolumePath) -> Result<(Bytes, i64), FilesError> {
    match ws.files.nodes.lock().get(&at.path) {
        Some(Node::File { contents, modified_ms }) => Ok((contents.clone(), *modified_ms)),
        _ => Err(FilesError::NotFound(format!("The file being accessed is not found: {}", at.path))),
    }
}

fn file_headers(response: &mut Response, length: usize, modified_ms: i64) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, length.into());
    headers.insert(header::CONTENT_TYPE, "application/octet-stream".parse().expect("a header value"));
    headers.insert(header::LAST_MODIFIED, http_date(modified_ms).parse().expect("a header value"));
}

async fn file_metadata(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(raw): Path<String>) -> Response {
    files_call(&ws, &headers, "files.get_metadata", &raw, |who, at| {
        require(&ws.metastore.read(), who, &at, READ)?;
        let (contents, modified_ms) = file_at(&ws, &at)?;
        let mut response = StatusCode::OK.into_response();
        file_headers(&mut response, contents.len(), modified_ms);
        Ok(response)
    })
}

async fn download(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(raw): Path<String>) -> Response {
    let (range, unmodified_since) =
        (headers.get(header::RANGE).cloned(), headers.get(header::IF_UNMODIFIED_SINCE).cloned());
    files_call(&ws, &headers, "files.download", &raw, |who, at| {
        require(&ws.metastore.read(), who, &at, READ)?;
        let (contents, modified_ms) = file_at(&ws, &at)?;
        if let Some(since) = unmodified_since {
            let since = since
                .to_str()
                .ok()
                .and_then(|s| chrono::DateTime::parse_from_rfc2822(s).ok())
                .ok_or_else(|| UcError::Invalid("If-Unmodified-Since is not an HTTP date.".into()))?;
            if modified_ms / 1000 > since.timestamp() {
                return Err(FilesError::Precondition(format!("{} was modified since then.", at.path)));
            }
        }
        let (status, body) = match range {
            None => (StatusCode::OK, contents.clone()),
            Some(range) => {
                let (start, end) = byte_range(range.to_str().unwrap_or(""), contents.len())?;
                (StatusCode::PARTIAL_CONTENT, contents.slice(start..end))
            }
        };
        let length = body.len();
        let mut response = (status, Body::from(body)).into_response();
        file_headers(&mut response, length, modified_ms);
        Ok(response)
    })
}

/// `bytes=start-` or `bytes=start-end` (inclusive) of a file of `len` bytes.
fn byte_range(value: &str, len: usize) -> Result<(usize, usize), FilesError> {
    let bad = || FilesError::Range(format!("Unsupported or unsatisfiable Range {value:?} for {len} bytes."));
    let spec = value.strip_prefix("bytes=").ok_or_else(bad)?;
    let (start, end) = spec.split_once('-').ok_or_else(bad)?;
    let start: usize = start.trim().parse().map_err(|_| bad())?;
    let end: usize = match end.trim() {
        "" => len,
        end => end.parse::<usize>().map_err(|_| bad())?.saturating_add(1).min(len),
    };
    if start >= len.max(1) || start > end {
        return Err(bad());
    }
    Ok((start, end))
}

async fn upload(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    RawQuery(raw_query): RawQuery,
    body: Body,
) -> Response {
    // Read the body before taking any lock; an upload over 5 GiB is refused.
    let contents = match axum::body::to_bytes(body, MAX_UPLOAD).await {
        Ok(contents) => contents,
        Err(_) => {
            return databricks_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "INVALID_PARAMETER_VALUE",
                "The upload is larger than 5 GiB, or its body could not be read.",
            )
        }
    };
    files_call(&ws, &headers, "files.upload", &raw, |who, at| {
        let overwrite = match query(raw_query).get("overwrite").map(|v| v.to_ascii_lowercase()) {
            None => true,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(v) => return Err(UcError::Invalid(format!("overwrite must be true or false, not {v:?}")).into()),
        };
        require(&ws.metastore.read(), who, &at, WRITE)?;
        if at.is_root() {
            return Err(FilesError::Conflict(format!("{} is the volume's root directory.", at.path)));
        }
        let now = ws.files.now_ms();
        let mut nodes = ws.files.nodes.lock();
        let parent = at.parent();
        let parent_is_directory =
            parent.split('/').count() == 5 || matches!(nodes.get(&parent), Some(Node::Directory { .. }));
        if !parent_is_directory {
            return Err(FilesError::NotFound(format!(
                "The parent directory {parent} does not exist: create it first (PUT /api/2.0/fs/directories{parent})."
            )));
        }
        match nodes.get(&at.path) {
            Some(Node::Directory { .. }) => {
                return Err(FilesError::Conflict(format!("A directory exists at {}.", at.path)))
            }
            Some(Node::File { .. }) if !overwrite => {
                return Err(FilesError::Exists(format!("The file {} already exists and overwrite is false.", at.path)))
            }
            _ => {}
        }
        nodes.insert(at.path, Node::File { contents, modified_ms: now });
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

async fn delete_file(State(ws): State<Arc<Workspace>>, headers: HeaderMap, Path(raw): Path<String>) -> Response {
    files_call(&ws, &headers, "files.delete", &raw, |who, at| {
        require(&ws.metastore.read(), who, &at, WRITE)?;
        let mut nodes = ws.files.nodes.lock();
        match nodes.get(&at.path) {
            Some(Node::File { .. }) => {
                nodes.remove(&at.path);
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            _ => Err(FilesError::NotFound(format!("The file being accessed is not found: {}", at.path))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_be_in_a_volume() {
        let at = VolumePath::parse("Volumes/main/s/v/a/b.csv").ok().unwrap();
        assert_eq!((at.volume.as_str(), at.path.as_str()), ("main.s.v", "/Volumes/main/s/v/a/b.csv"));
        assert_eq!(at.parent(), "/Volumes/main/s/v/a");
        assert!(VolumePath::parse("Volumes/main/s/v/").ok().unwrap().is_root());
        for bad in ["Volumes/main/s", "Workspace/Users/x", "Volumes/main/s/v/../w", "Volumes/main//v/x"] {
            assert!(VolumePath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_and_tokens() {
        assert_eq!(byte_range("bytes=2-", 10).ok(), Some((2, 10)));
        assert_eq!(byte_range("bytes=0-3", 10).ok(), Some((0, 4)));
        assert!(byte_range("bytes=10-", 10).is_err());
        assert!(byte_range("items=1-2", 10).is_err());
        assert_eq!(decode_token(&encode_token("/Volumes/a/b/c/ü")).as_deref(), Some("/Volumes/a/b/c/ü"));
        assert_eq!(decode_token("zz"), None);
    }

    #[test]
    fn the_clock_never_gives_a_write_the_same_time_twice() {
        let files = VolumeFiles::default();
        let times: Vec<i64> = (0..100).map(|_| files.now_ms()).collect();
        assert!(times.windows(2).all(|w| w[1] > w[0]));
    }
}
