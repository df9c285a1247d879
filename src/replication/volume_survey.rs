//! A replication cycle's file step, before planning: lists every managed
//! volume's files on both sides (the Files API, recursively, a bounded
//! number of directories at once) and puts them, with the manifest of what
//! was copied, into the two snapshots for the planner (`volume_files.rs`).
//!
//! A volume that cannot be listed is recorded as unreadable with the
//! workspace's words, never left out: the plan then reports it blocked.
//! A secondary volume not there yet has no listing (everything is new).

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt};

use super::diff::is_external_volume;
use super::snapshot::{CatalogKind, Snapshot};
use super::volume_files::{relative, volume_root, FileState, FilesRead, VolumeFiles};
use crate::databricks::files::DirectoryEntry;
use crate::databricks::WorkspaceClient;
use crate::identity::AccessToken;
use crate::store::volume_files::CopiedFile;
use crate::store::{Store, StoreError};

/// Volumes listed at once (sharing the survey's concurrency).
const VOLUMES_AT_ONCE: usize = 4;

/// The copy manifest as the planner reads it: volume → path → the source
/// state each copy carried.
pub type Manifest = BTreeMap<String, BTreeMap<String, FileState>>;

/// One side's client and token.
#[derive(Clone, Copy)]
pub struct Lister<'a> {
    pub client: &'a WorkspaceClient,
    pub token: &'a AccessToken,
}

/// Lists the managed volumes of `primary`'s managed catalogs on both sides,
/// at most about `concurrency` directory listings at once in all, and
/// records `pair`'s manifest in the secondary's listings.
#[allow(clippy::too_many_arguments)]
pub async fn survey(
    store: &Store,
    pair: &str,
    primary_client: &WorkspaceClient,
    secondary_client: &WorkspaceClient,
    token: &AccessToken,
    concurrency: usize,
    primary: &mut Snapshot,
    secondary: &mut Snapshot,
) -> Result<(), StoreError> {
    let manifest = manifest(&store.copied_files(pair).await?);
    let (from, to) = (Lister { client: primary_client, token }, Lister { client: secondary_client, token });
    survey_with(&manifest, from, to, concurrency, primary, secondary).await;
    Ok(())
}

/// As [`survey`], with the manifest already read and each side's own token
/// (`status` reads each side as its own target).
pub async fn survey_with(
    manifest: &Manifest,
    from: Lister<'_>,
    to: Lister<'_>,
    concurrency: usize,
    primary: &mut Snapshot,
    secondary: &mut Snapshot,
) {
    let volumes: Vec<String> = primary
        .volumes
        .values()
        .filter(|v| !is_external_volume(v))
        .filter(|v| primary.catalogs.get(&v.catalog).is_some_and(|c| c.kind == CatalogKind::Managed))
        .map(|v| v.full_name())
        .collect();
    let on_secondary = |name: &String| secondary.volumes.get(name).is_some_and(|v| !is_external_volume(v));
    let jobs: Vec<(String, bool)> = volumes.into_iter().map(|v| (v.clone(), on_secondary(&v))).collect();
    // `concurrency` bounds the whole survey: shared by the volumes listed at once.
    let concurrency = (concurrency / VOLUMES_AT_ONCE).max(1);
    let listed: Vec<(String, FilesRead, Option<FilesRead>)> = stream::iter(jobs)
        .map(|(name, there)| async move {
            let listed_from = list(from.client, from.token, &name, concurrency).await;
            let listed_to = match there {
                true => Some(list(to.client, to.token, &name, concurrency).await),
                false => None,
            };
            (name, listed_from, listed_to)
        })
        .buffer_unordered(VOLUMES_AT_ONCE)
        .collect()
        .await;
    for (name, from, to) in listed {
        primary.volume_files.insert(name.clone(), from);
        if let Some(mut to) = to {
            if let (FilesRead::Listed(files), Some(copied)) = (&mut to, manifest.get(&name)) {
                files.copied = copied.clone();
            }
            secondary.volume_files.insert(name, to);
        }
    }
}

/// The store's manifest as the planner reads it.
pub fn manifest(rows: &BTreeMap<String, BTreeMap<String, CopiedFile>>) -> Manifest {
    rows.iter()
        .map(|(volume, files)| {
            let files = files
                .iter()
                .map(|(path, f)| {
                    let state = FileState {
                        size: u64::try_from(f.source_size).unwrap_or(0),
                        modified_ms: f.source_modified_ms,
                    };
                    (path.clone(), state)
                })
                .collect();
            (volume.clone(), files)
        })
        .collect()
}

/// One volume's files on one side.
async fn list(client: &WorkspaceClient, token: &AccessToken, volume: &str, concurrency: usize) -> FilesRead {
    let Some(root) = volume_root(volume) else {
        return FilesRead::Unreadable(format!("{volume} is not a volume's three-part name"));
    };
    match client.list_tree(token, &root, concurrency).await {
        Ok(entries) => FilesRead::Listed(fold(&root, entries)),
        Err(error) => FilesRead::Unreadable(error.to_string()),
    }
}

/// Entries below `root` as relative files and directories.
pub fn fold(root: &str, entries: Vec<DirectoryEntry>) -> VolumeFiles {
    let mut out = VolumeFiles::default();
    for entry in entries {
        let Some(path) = relative(root, &entry.path) else { continue };
        if entry.is_directory {
            out.directories.insert(path);
        } else {
            let state = FileState { size: entry.file_size.unwrap_or(0), modified_ms: entry.last_modified.unwrap_or(0) };
            out.files.insert(path, state);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_folds_into_relative_paths() {
        let entry = |path: &str, dir: bool, size: Option<u64>| DirectoryEntry {
            path: path.into(),
            name: String::new(),
            is_directory: dir,
            file_size: size,
            last_modified: Some(7),
        };
        let root = "/Volumes/main/s/v";
        let files = fold(
            root,
            vec![
                entry("/Volumes/main/s/v/a", true, None),
                entry("/Volumes/main/s/v/a/x.csv", false, Some(3)),
                entry("/Volumes/other/s/v/y", false, Some(1)),
            ],
        );
        assert_eq!(files.directories.iter().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(files.files["a/x.csv"], FileState { size: 3, modified_ms: 7 });
        assert_eq!(files.files.len(), 1, "an entry outside the volume is ignored");
        let rows = BTreeMap::from([(
            "main.s.v".to_string(),
            BTreeMap::from([("a/x.csv".to_string(), CopiedFile { source_size: 3, source_modified_ms: 7 })]),
        )]);
        assert_eq!(manifest(&rows)["main.s.v"]["a/x.csv"], FileState { size: 3, modified_ms: 7 });
    }
}
