//! The Files API over Unity Catalog volumes: list, copy, create directories, delete.
//!
//! Paths are absolute volume paths, `/Volumes/<catalog>/<schema>/<volume>/…`
//! (REST reference, "Files": docs.databricks.com/api/workspace/files). The
//! calls used, each as documented:
//!
//! - `GET /api/2.0/fs/directories{path}`: one page of a directory's entries
//!   under `contents` (`path`, `name`, `is_directory`, `file_size`,
//!   `last_modified` in epoch ms), at most 1,000 a page; the listing ends
//!   only at a page without `next_page_token` (the number of entries "must
//!   not be used to determine when the listing is complete").
//! - `GET /api/2.0/fs/files{path}`: the file's bytes as the body, with
//!   `Content-Length` and `Last-Modified` (an HTTP date).
//! - `PUT /api/2.0/fs/files{path}?overwrite=true`: the body's raw bytes
//!   become the file (up to 5 GiB).
//! - `PUT /api/2.0/fs/directories{path}`: creates the directory and its
//!   parents (`mkdir -p`); succeeds when it exists already.
//! - `DELETE /api/2.0/fs/files{path}`.
//!
//! A copy streams: the download's body is the upload's body, chunk by
//! chunk, so a file of any size passes through a bounded buffer, never
//! whole in memory. A transient failure of either side retries the whole
//! copy (a streamed body cannot be replayed) under the client's policy.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE, LAST_MODIFIED};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::paging::{collect_pages, Page};
use super::{segment, DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// The largest file one `PUT /fs/files` takes (the upload reference).
pub const MAX_UPLOAD_BYTES: u64 = 5 * 1024 * 1024 * 1024;

const FILES: &str = "/api/2.0/fs/files";
const DIRECTORIES: &str = "/api/2.0/fs/directories";

/// One entry of a directory listing.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// Absolute path.
    pub path: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_directory: bool,
    /// Bytes; absent for directories.
    #[serde(default)]
    pub file_size: Option<u64>,
    /// Epoch ms.
    #[serde(default)]
    pub last_modified: Option<i64>,
}

/// What a download's headers say of the file it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMetadata {
    pub size: u64,
    /// Epoch ms, at the HTTP date's one-second resolution.
    pub last_modified_ms: Option<i64>,
}

/// Why a copy failed, and on which side: a 404 from the source means the
/// file is gone, from the target that the volume or folder is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} {error}", if *at_source { "reading it from the source:" } else { "writing it to the target:" })]
pub struct CopyError {
    pub at_source: bool,
    pub error: DatabricksError,
}

/// An absolute volume path as URL path segments, each escaped (`/` kept
/// as the separator): the SDKs quote the path the same way.
fn escaped(path: &str) -> String {
    path.split('/').map(segment).collect::<Vec<_>>().join("/")
}

impl WorkspaceClient {
    /// Every entry directly in `directory`, across all pages.
    pub async fn list_directory(
        &self,
        token: &AccessToken,
        directory: &str,
    ) -> Result<Vec<DirectoryEntry>, DatabricksError> {
        let path = format!("{DIRECTORIES}{}", escaped(directory));
        collect_pages(|page_token| {
            let path = path.clone();
            async move {
                let query: Vec<(&str, String)> = page_token.map(|t| ("page_token", t)).into_iter().collect();
                let body: Value = self.get(&path, &query, token).await?;
                Page::from_json(body, "contents")
            }
        })
        .await
    }

    /// Every file and directory below `root` (itself excluded), listing at
    /// most `concurrency` directories at once.
    pub async fn list_tree(
        &self,
        token: &AccessToken,
        root: &str,
        concurrency: usize,
    ) -> Result<Vec<DirectoryEntry>, DatabricksError> {
        let mut pending: VecDeque<String> = VecDeque::from([root.to_string()]);
        let mut running = FuturesUnordered::new();
        let mut out = Vec::new();
        loop {
            while running.len() < concurrency.max(1) {
                let Some(directory) = pending.pop_front() else { break };
                running.push(async move { self.list_directory(token, &directory).await });
            }
            let Some(listed) = running.next().await else { return Ok(out) };
            for entry in listed? {
                if entry.is_directory {
                    pending.push_back(entry.path.clone());
                }
                out.push(entry);
            }
        }
    }

    /// `PUT /fs/directories{path}`: the directory and its parents.
    pub async fn create_directory(&self, token: &AccessToken, directory: &str) -> Result<(), DatabricksError> {
        let path = format!("{DIRECTORIES}{}", escaped(directory));
        self.raw(Method::PUT, &path, &[], token).await.map(|_| ())
    }

    /// `DELETE /fs/files{path}`.
    pub async fn delete_file(&self, token: &AccessToken, file: &str) -> Result<(), DatabricksError> {
        let path = format!("{FILES}{}", escaped(file));
        self.raw(Method::DELETE, &path, &[], token).await.map(|_| ())
    }

    /// `HEAD /fs/files{path}`: the file's size and modification time.
    pub async fn file_metadata(&self, token: &AccessToken, file: &str) -> Result<FileMetadata, DatabricksError> {
        let path = format!("{FILES}{}", escaped(file));
        let headers = self.raw(Method::HEAD, &path, &[], token).await?;
        metadata(&headers, &path)
    }

    /// Copies `file` from this workspace to `target_file` on `target`,
    /// streaming (download body → upload body), overwriting what is there.
    /// Returns what the download said of the source: the bytes and the
    /// modification time actually copied. `timeout` bounds one attempt.
    pub async fn copy_file_to(
        &self,
        token: &AccessToken,
        file: &str,
        target: &WorkspaceClient,
        target_token: &AccessToken,
        target_file: &str,
        timeout: Duration,
    ) -> Result<FileMetadata, CopyError> {
        let source_path = format!("{FILES}{}", escaped(file));
        let target_path = format!("{FILES}{}", escaped(target_file));
        let at_source = AtomicBool::new(true);
        self.retry
            .run(|| async {
                at_source.store(true, Ordering::SeqCst);
                let download = self
                    .http
                    .get(format!("{}{source_path}", self.host))
                    .bearer_auth(token.secret())
                    .header("accept", "application/octet-stream")
                    .timeout(timeout)
                    .send()
                    .await
                    .map_err(unreachable)?;
                let status = download.status().as_u16();
                if !(200..300).contains(&status) {
                    return Err(failure(download).await);
                }
                let source = metadata(download.headers(), &source_path)?;
                at_source.store(false, Ordering::SeqCst);
                if source.size > MAX_UPLOAD_BYTES {
                    return Err(DatabricksError::InvalidParameter(format!(
                        "{file} is {} bytes, more than one upload takes (5 GiB)",
                        source.size
                    )));
                }
                let upload = target
                    .http
                    .put(format!("{}{target_path}", target.host))
                    .query(&[("overwrite", "true")])
                    .bearer_auth(target_token.secret())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, source.size)
                    .body(reqwest::Body::from(download))
                    .timeout(timeout)
                    .send()
                    .await
                    .map_err(unreachable)?;
                let status = upload.status().as_u16();
                if !(200..300).contains(&status) {
                    return Err(failure(upload).await);
                }
                Ok(source)
            })
            .await
            .map_err(|error| CopyError { at_source: at_source.load(Ordering::SeqCst), error })
    }

    /// One call without a JSON answer, retried as the policy says; its headers.
    async fn raw(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        token: &AccessToken,
    ) -> Result<HeaderMap, DatabricksError> {
        self.retry
            .run(|| async {
                let mut request = self
                    .http
                    .request(method.clone(), format!("{}{path}", self.host))
                    .bearer_auth(token.secret())
                    .timeout(self.request_timeout);
                if !query.is_empty() {
                    request = request.query(query);
                }
                let response = request.send().await.map_err(unreachable)?;
                if response.status().is_success() {
                    Ok(response.headers().clone())
                } else {
                    Err(failure(response).await)
                }
            })
            .await
    }
}

fn unreachable(error: reqwest::Error) -> DatabricksError {
    DatabricksError::Unreachable(error.without_url().to_string())
}

/// The typed error of a non-2xx answer (a HEAD's has no body: its status decides).
async fn failure(response: reqwest::Response) -> DatabricksError {
    let status = response.status().as_u16();
    let retry_after = crate::retry_after::from_headers(response.headers());
    let body = response.bytes().await.unwrap_or_default();
    DatabricksError::from_response(status, &body, retry_after)
}

fn metadata(headers: &HeaderMap, path: &str) -> Result<FileMetadata, DatabricksError> {
    let size = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| DatabricksError::Protocol(format!("{path}: no Content-Length")))?;
    let last_modified_ms = headers
        .get(LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64);
    Ok(FileMetadata { size, last_modified_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_their_slashes_and_escape_the_rest() {
        assert_eq!(escaped("/Volumes/main/sales/files/a b/r#1.csv"), "/Volumes/main/sales/files/a%20b/r%231.csv");
        assert_eq!(escaped("/Volumes/c/s/v"), "/Volumes/c/s/v");
    }

    #[test]
    fn entries_parse_as_the_api_sends_them() {
        let page: Page<DirectoryEntry> = Page::from_json(
            serde_json::json!({
                "contents": [
                    {"path": "/Volumes/c/s/v/a", "name": "a", "is_directory": true},
                    {"path": "/Volumes/c/s/v/b.csv", "name": "b.csv", "is_directory": false,
                     "file_size": 12, "last_modified": 1_700_000_000_123i64}
                ],
                "next_page_token": "t"
            }),
            "contents",
        )
        .unwrap();
        assert_eq!(page.next_page_token.as_deref(), Some("t"));
        assert!(page.items[0].is_directory && page.items[0].file_size.is_none());
        assert_eq!((page.items[1].file_size, page.items[1].last_modified), (Some(12), Some(1_700_000_000_123)));
    }

    #[test]
    fn metadata_comes_from_the_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, "42".parse().unwrap());
        headers.insert(LAST_MODIFIED, "Sun, 06 Dec 2026 05:00:00 GMT".parse().unwrap());
        let found = metadata(&headers, "/x").unwrap();
        assert_eq!(found, FileMetadata { size: 42, last_modified_ms: Some(1_796_533_200_000) });
        assert!(metadata(&HeaderMap::new(), "/x").is_err());
    }
}
