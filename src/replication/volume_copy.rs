//! Running one volume's `CopyVolumeFiles`: folders, files, prune's deletions.
//!
//! At most `concurrency` files are in flight at once, each streamed from
//! the primary to the secondary (`databricks/files.rs`), so memory stays
//! bounded whatever the files' sizes. Every file that arrives is handed to
//! `on_copied` at once, which records it in the manifest: a run killed half
//! way through a volume has recorded exactly what arrived, and its resumed
//! attempt (given the manifest as `before`) or the next plan copies only
//! the rest.
//!
//! The result is per volume and names every file that did not arrive, with
//! the workspace's reason; a file the primary no longer has (deleted since
//! the plan) is reported as such, not failed. Any file not copied fails the
//! action, so the run's result says so: nothing is skipped silently.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use tokio_util::sync::CancellationToken;

use super::apply::{Applied, ApplyError};
use super::plan::Action;
use super::volume_files::{bytes, volume_root, FileCopy, FileState, VolumeCopy};
use super::workspaces::{TokenSource, Workspaces};
use crate::databricks::files::{CopyError, FileMetadata};
use crate::databricks::DatabricksError;
use crate::identity::AccessToken;

/// How one volume is copied.
#[derive(Clone, Copy, Debug)]
pub struct CopySettings {
    /// Files (and folders) in flight at once.
    pub concurrency: usize,
    /// One file's copy attempt, download and upload together.
    pub file_timeout: Duration,
}

/// How one file ended.
enum FileEnd {
    Copied(u64),
    /// The manifest already had it (an earlier attempt of this run).
    Before,
    /// The primary no longer has it.
    Gone,
    Failed(String),
    Canceled,
}

/// Copies `copy` for `action` (a managed volume). `before`: the manifest of
/// this volume at the run's start (path → source state); `on_copied`
/// receives each file that arrives, with the source state it carried.
#[allow(clippy::too_many_arguments)]
pub async fn copy_volume<T: TokenSource>(
    action: &Action,
    copy: &VolumeCopy,
    workspaces: &Workspaces,
    tokens: &T,
    before: &BTreeMap<String, FileState>,
    settings: CopySettings,
    cancel: &CancellationToken,
    on_copied: &(dyn Fn(&str, FileState) + Send + Sync),
) -> Result<Applied, ApplyError> {
    let name = action.object.full_name();
    let root = volume_root(&name).ok_or_else(|| ApplyError::Failed(format!("{name} is not a volume's name")))?;
    let token = tokens.token(false).await.map_err(|e| ApplyError::Failed(e.to_string()))?;
    let secondary = &workspaces.secondary;
    let concurrency = settings.concurrency.max(1);
    let mut failures: Vec<String> = Vec::new();

    // Parents first: each create is `mkdir -p`, so order only saves calls.
    let folders: Vec<Result<(), String>> = stream::iter(copy.directories.iter().cloned())
        .map(|dir| {
            let (token, root) = (&token, &root);
            async move {
                secondary
                    .create_directory(token, &format!("{root}/{dir}"))
                    .await
                    .map_err(|e| format!("folder {dir}: {e}"))
            }
        })
        .buffered(concurrency)
        .collect()
        .await;
    failures.extend(folders.into_iter().filter_map(Result::err));

    let ends: Vec<(FileCopy, FileEnd)> = stream::iter(copy.copy.iter().cloned())
        .map(|file| {
            let (token, root) = (&token, &root);
            async move {
                if before.get(&file.path) == Some(&file.source) {
                    return (file, FileEnd::Before);
                }
                let end = tokio::select! {
                    end = copy_file(&file, workspaces, tokens, token, root, settings.file_timeout, on_copied) => end,
                    () = cancel.cancelled() => FileEnd::Canceled,
                };
                (file, end)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    if cancel.is_cancelled() {
        return Err(ApplyError::Canceled);
    }

    let mut deleted = 0usize;
    for path in &copy.delete {
        match secondary.delete_file(&token, &format!("{root}/{path}")).await {
            Ok(()) | Err(DatabricksError::NotFound(_)) => deleted += 1,
            Err(error) => failures.push(format!("delete {path}: {error}")),
        }
    }

    let (mut copied, mut copied_bytes, mut earlier, mut gone) = (0usize, 0u64, 0usize, Vec::new());
    for (file, end) in ends {
        match end {
            FileEnd::Copied(size) => {
                copied += 1;
                copied_bytes += size;
            }
            FileEnd::Before => earlier += 1,
            FileEnd::Gone => gone.push(file.path.clone()),
            FileEnd::Failed(error) => failures.push(format!("{}: {error}", file.path)),
            FileEnd::Canceled => return Err(ApplyError::Canceled),
        }
    }
    for file in &copy.too_large {
        failures.push(format!(
            "{}: {} bytes, more than one Files API upload takes (5 GiB); copy it another way",
            file.path, file.source.size
        ));
    }

    let mut summary = format!("{copied} file(s) copied ({}), {} unchanged", bytes(copied_bytes), copy.unchanged);
    if earlier > 0 {
        summary.push_str(&format!(", {earlier} copied before the restart"));
    }
    if deleted > 0 {
        summary.push_str(&format!(", {deleted} deleted (prune)"));
    }
    if !gone.is_empty() {
        summary.push_str(&format!(", {} gone from the primary since the plan: {}", gone.len(), gone.join(", ")));
    }
    if failures.is_empty() {
        Ok(Applied { detail: Some(summary), ..Applied::default() })
    } else {
        Err(ApplyError::Failed(format!("{} not copied: {}; {summary}", failures.len(), failures.join("; "))))
    }
}

/// One file, its token refreshed once if refused.
async fn copy_file<T: TokenSource>(
    file: &FileCopy,
    workspaces: &Workspaces,
    tokens: &T,
    token: &AccessToken,
    root: &str,
    timeout: Duration,
    on_copied: &(dyn Fn(&str, FileState) + Send + Sync),
) -> FileEnd {
    let path = format!("{root}/{}", file.path);
    let attempt = |token: AccessToken| {
        let path = path.clone();
        async move { workspaces.primary.copy_file_to(&token, &path, &workspaces.secondary, &token, &path, timeout).await }
    };
    let mut result = attempt(token.clone()).await;
    if matches!(result, Err(CopyError { error: DatabricksError::Unauthenticated(_), .. })) {
        match tokens.token(true).await {
            Ok(fresh) => result = attempt(fresh).await,
            Err(error) => return FileEnd::Failed(error.to_string()),
        }
    }
    match result {
        Ok(carried) => {
            on_copied(&file.path, carried_state(file.source, carried));
            FileEnd::Copied(carried.size)
        }
        Err(CopyError { at_source: true, error: DatabricksError::NotFound(_) }) => FileEnd::Gone,
        Err(error) => FileEnd::Failed(error.to_string()),
    }
}

/// The source state a copy carried, as the manifest must record it: the
/// planned state (a listing's, in ms) when the download matches it (the
/// download's `Last-Modified` has one-second resolution), else what the
/// download said, so a file that changed since the plan is recorded as
/// what was really copied (the next plan then compares against that).
fn carried_state(planned: FileState, carried: FileMetadata) -> FileState {
    let same_second =
        carried.last_modified_ms.is_none_or(|ms| ms.div_euclid(1000) == planned.modified_ms.div_euclid(1000));
    if carried.size == planned.size && same_second {
        planned
    } else {
        FileState { size: carried.size, modified_ms: carried.last_modified_ms.unwrap_or(planned.modified_ms) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_records_what_was_really_copied() {
        let planned = FileState { size: 10, modified_ms: 1_700_000_000_456 };
        let same = FileMetadata { size: 10, last_modified_ms: Some(1_700_000_000_000) };
        assert_eq!(carried_state(planned, same), planned);
        let newer = FileMetadata { size: 12, last_modified_ms: Some(1_700_000_005_000) };
        assert_eq!(carried_state(planned, newer), FileState { size: 12, modified_ms: 1_700_000_005_000 });
        let touched = FileMetadata { size: 10, last_modified_ms: Some(1_700_000_009_000) };
        assert_eq!(carried_state(planned, touched).modified_ms, 1_700_000_009_000);
    }
}
