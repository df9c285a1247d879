//! A managed volume's files: what each side holds, what was copied, and
//! what a plan copies. Pure: the listings come from `volume_survey.rs`, the
//! copying is `volume_copy.rs`.
//!
//! A managed volume's files live in the metastore's own storage, which no
//! storage replication copies for us (only an external volume's location is
//! geo-replicated), so drbot copies them with the Files API.
//!
//! Incremental by a manifest. A file's size and modification time say
//! whether the primary's file changed, but the secondary's modification
//! time is the time of the copy, never the source's, so the two sides'
//! times cannot be compared. The store keeps, per pair, volume and file,
//! the source's size and modification time each copy carried
//! (`store::volume_files`). A file is unchanged when the secondary has it
//! at the source's size and the manifest says it was copied from the
//! primary's current size and time; anything else is copied again. The
//! manifest lives in the store rather than in a file: the store is drbot's
//! durable state already (shared by every instance on PostgreSQL, so a
//! takeover sees it), written per file as copies finish, and a file in the
//! volume itself would be the users' data, theirs to delete or overwrite.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::databricks::files::MAX_UPLOAD_BYTES;

/// One file as a listing shows it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileState {
    pub size: u64,
    /// Epoch ms.
    pub modified_ms: i64,
}

/// One side's files of one volume, by path relative to the volume's root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeFiles {
    pub files: BTreeMap<String, FileState>,
    pub directories: BTreeSet<String>,
    /// The secondary's only: the source state each file was copied from
    /// (the manifest), for the files the store knows.
    pub copied: BTreeMap<String, FileState>,
}

/// A volume's files, or why they could not be listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilesRead {
    Listed(VolumeFiles),
    Unreadable(String),
}

/// One file a plan copies.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct FileCopy {
    /// Relative to the volume's root.
    pub path: String,
    /// The primary's file when planned.
    pub source: FileState,
    /// The secondary lacks it (else it differs or was not copied by drbot).
    pub new: bool,
}

/// What a plan does to one managed volume's files on the secondary.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeCopy {
    /// Directories the secondary lacks (empty ones included), parents first.
    pub directories: Vec<String>,
    pub copy: Vec<FileCopy>,
    /// Files only the secondary has, deleted (prune).
    pub delete: Vec<String>,
    /// Files the secondary holds as the primary has them.
    pub unchanged: u64,
    /// Files only the secondary has, left alone (no prune).
    pub kept: u64,
    /// Files one upload cannot take (over 5 GiB): reported, never copied.
    pub too_large: Vec<FileCopy>,
}

impl VolumeCopy {
    pub fn bytes(&self) -> u64 {
        self.copy.iter().map(|f| f.source.size).sum()
    }

    /// Nothing to do and nothing to report.
    pub fn is_empty(&self) -> bool {
        self.directories.is_empty() && self.copy.is_empty() && self.delete.is_empty() && self.too_large.is_empty()
    }

    /// One line for the dry run: counts and bytes.
    pub fn describe(&self, volume: &str) -> String {
        let new = self.copy.iter().filter(|f| f.new).count();
        let mut text = format!(
            "copy {} file(s), {} into {volume} ({new} new, {} changed; {} unchanged)",
            self.copy.len(),
            bytes(self.bytes()),
            self.copy.len() - new,
            self.unchanged
        );
        if !self.directories.is_empty() {
            text.push_str(&format!(", {} folder(s) to create", self.directories.len()));
        }
        if !self.delete.is_empty() {
            text.push_str(&format!(", delete {} file(s) only on the secondary (prune)", self.delete.len()));
        }
        if self.kept > 0 {
            text.push_str(&format!(", {} file(s) only on the secondary kept (prune deletes them)", self.kept));
        }
        if !self.too_large.is_empty() {
            let names: Vec<&str> = self.too_large.iter().map(|f| f.path.as_str()).collect();
            text.push_str(&format!(
                "; cannot copy {} file(s) over 5 GiB (one Files API upload's limit): {}",
                names.len(),
                names.join(", ")
            ));
        }
        text
    }
}

/// `1.5 MB`-style sizes for people.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `/Volumes/<catalog>/<schema>/<volume>` of a three-part name.
pub fn volume_root(full_name: &str) -> Option<String> {
    let parts: Vec<&str> = full_name.split('.').collect();
    (parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && !p.contains('/')))
        .then(|| format!("/Volumes/{}/{}/{}", parts[0], parts[1], parts[2]))
}

/// `path` relative to `root` (`None` when it is not below it).
pub fn relative(root: &str, path: &str) -> Option<String> {
    let rest = path.strip_prefix(root)?.strip_prefix('/')?;
    (!rest.is_empty()).then(|| rest.trim_end_matches('/').to_string())
}

/// What makes the secondary's files of one volume the primary's. `secondary`
/// is `None` when the secondary has no such volume yet (every file is new).
pub fn plan_files(primary: &VolumeFiles, secondary: Option<&VolumeFiles>, prune: bool) -> VolumeCopy {
    let empty = VolumeFiles::default();
    let secondary = secondary.unwrap_or(&empty);
    let mut out = VolumeCopy {
        directories: primary.directories.difference(&secondary.directories).cloned().collect(),
        ..VolumeCopy::default()
    };
    // BTreeSet order puts a parent before its children ("a" < "a/b").
    for (path, source) in &primary.files {
        let held = secondary.files.get(path);
        let unchanged = held.is_some_and(|h| h.size == source.size) && secondary.copied.get(path) == Some(source);
        if unchanged {
            out.unchanged += 1;
            continue;
        }
        let copy = FileCopy { path: path.clone(), source: *source, new: held.is_none() };
        if source.size > MAX_UPLOAD_BYTES {
            out.too_large.push(copy);
        } else {
            out.copy.push(copy);
        }
    }
    for path in secondary.files.keys().filter(|p| !primary.files.contains_key(*p)) {
        if prune {
            out.delete.push(path.clone());
        } else {
            out.kept += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(size: u64, modified_ms: i64) -> FileState {
        FileState { size, modified_ms }
    }

    fn files(entries: &[(&str, FileState)]) -> VolumeFiles {
        let mut out = VolumeFiles::default();
        for (path, state) in entries {
            out.files.insert(path.to_string(), *state);
            let mut parent = std::path::Path::new(path).parent();
            while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
                out.directories.insert(dir.to_string_lossy().into_owned());
                parent = dir.parent();
            }
        }
        out
    }

    /// The secondary after copying `primary` exactly (copy times later than the source's).
    fn copied(primary: &VolumeFiles) -> VolumeFiles {
        let mut out = primary.clone();
        for state in out.files.values_mut() {
            state.modified_ms += 1_000_000;
        }
        out.copied = primary.files.clone();
        out
    }

    #[test]
    fn a_new_volume_copies_every_file_and_folder_parents_first() {
        let primary = files(&[("a/b/x.csv", state(10, 1)), ("top.txt", state(5, 2)), ("a/y.json", state(7, 3))]);
        let plan = plan_files(&primary, None, false);
        assert_eq!(plan.directories, vec!["a".to_string(), "a/b".to_string()]);
        assert_eq!(plan.copy.len(), 3);
        assert!(plan.copy.iter().all(|f| f.new));
        assert_eq!((plan.bytes(), plan.unchanged), (22, 0));
        assert_eq!(
            plan.describe("volume main.s.v"),
            "copy 3 file(s), 22 B into volume main.s.v (3 new, 0 changed; 0 unchanged), 2 folder(s) to create"
        );
    }

    #[test]
    fn after_a_copy_nothing_is_left_and_a_change_of_size_or_time_is_copied_again() {
        let primary = files(&[("a/x.csv", state(10, 1)), ("a/y.csv", state(20, 2)), ("z", state(1, 3))]);
        let secondary = copied(&primary);
        assert!(plan_files(&primary, Some(&secondary), true).is_empty());
        assert_eq!(plan_files(&primary, Some(&secondary), true).unchanged, 3);

        let mut changed = primary.clone();
        changed.files.insert("a/x.csv".into(), state(10, 99)); // same size, touched
        changed.files.insert("a/y.csv".into(), state(21, 2)); // grown
        let plan = plan_files(&changed, Some(&secondary), false);
        let paths: Vec<&str> = plan.copy.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, vec!["a/x.csv", "a/y.csv"]);
        assert!(plan.copy.iter().all(|f| !f.new));
        assert_eq!(plan.unchanged, 1);
    }

    #[test]
    fn the_secondary_time_is_never_compared_but_its_size_and_the_manifest_are() {
        let primary = files(&[("x", state(10, 1))]);
        // Same size, no manifest (copied by someone else, or the manifest is gone): copied again.
        let mut foreign = copied(&primary);
        foreign.copied.clear();
        assert_eq!(plan_files(&primary, Some(&foreign), false).copy.len(), 1);
        // Truncated on the secondary after the copy: copied again.
        let mut truncated = copied(&primary);
        truncated.files.insert("x".into(), state(3, 5));
        assert_eq!(plan_files(&primary, Some(&truncated), false).copy.len(), 1);
    }

    #[test]
    fn files_only_on_the_secondary_are_deleted_with_prune_and_counted_without() {
        let primary = files(&[("keep", state(1, 1))]);
        let mut secondary = copied(&primary);
        secondary.files.insert("old/extra.bin".into(), state(4, 4));
        let kept = plan_files(&primary, Some(&secondary), false);
        assert!(kept.delete.is_empty() && kept.kept == 1 && kept.is_empty());
        let pruned = plan_files(&primary, Some(&secondary), true);
        assert_eq!(pruned.delete, vec!["old/extra.bin".to_string()]);
        assert!(pruned.describe("v").contains("delete 1 file(s) only on the secondary (prune)"));
    }

    #[test]
    fn a_file_over_five_gib_is_reported_not_copied() {
        let primary = files(&[("huge.bin", state(MAX_UPLOAD_BYTES + 1, 1)), ("small", state(1, 1))]);
        let plan = plan_files(&primary, None, false);
        assert_eq!(plan.copy.len(), 1);
        assert_eq!(plan.too_large.len(), 1);
        assert!(plan.describe("v").contains("cannot copy 1 file(s) over 5 GiB"), "{}", plan.describe("v"));
    }

    /// A primary with `main.s.docs` (managed, `files`) and an empty secondary.
    fn world(
        files_read: FilesRead,
    ) -> (crate::replication::snapshot::Snapshot, crate::replication::snapshot::Snapshot) {
        use crate::replication::fixtures::*;
        use crate::replication::snapshot::CatalogKind;
        let mut volume = external_volume("main.s.docs");
        volume.volume_type = "MANAGED".into();
        volume.storage_location = None;
        volume.common.owner = "dr-operators".into();
        let mut primary = empty(PRIMARY_ID)
            .with_catalog(catalog("main", CatalogKind::Managed))
            .with_schema(schema("main", "s"))
            .with_volume(volume);
        primary.volume_files.insert("main.s.docs".into(), files_read);
        (primary, empty(SECONDARY_ID))
    }

    #[test]
    fn the_planner_creates_the_volume_copies_its_files_then_hands_it_over() {
        use crate::replication::fixtures::config;
        use crate::replication::plan::ActionKind;
        let (primary, secondary) = world(FilesRead::Listed(files(&[("a/x.csv", state(3, 1))])));
        let plan = crate::replication::planner::plan(&primary, &secondary, &config());
        let at = |id: &str| plan.actions.iter().position(|a| a.id.0 == id).unwrap_or_else(|| panic!("no {id}"));
        let (create, copy) = (at("create:volume:main.s.docs"), at("files:volume:main.s.docs"));
        assert!(matches!(plan.actions[create].kind, ActionKind::CreateManagedVolume { .. }));
        assert!(plan.actions[copy].depends_on.contains(&plan.actions[create].id));
        let owner = plan
            .actions
            .iter()
            .find(|a| a.object.full_name() == "main.s.docs" && matches!(a.kind, ActionKind::SetOwner { .. }))
            .expect("the volume is handed to its owner");
        assert!(owner.depends_on.contains(&plan.actions[copy].id), "after the copy, which needs WRITE VOLUME");
        assert_eq!(plan.blocked().count(), 0);
    }

    #[test]
    fn an_unreadable_primary_is_blocked_and_an_external_namesake_gets_no_files() {
        use crate::replication::fixtures::*;
        use crate::replication::plan::{ActionKind, BlockReason, Side};
        let denied = "permission denied: User does not have READ VOLUME on Volume 'main.s.docs'.";
        let (primary, secondary) = world(FilesRead::Unreadable(denied.into()));
        let plan = crate::replication::planner::plan(&primary, &secondary, &config());
        let blocked: Vec<_> = plan.blocked().collect();
        assert_eq!(blocked.len(), 1);
        assert!(
            matches!(&blocked[0].kind, ActionKind::Blocked(BlockReason::FilesUnreadable { side: Side::Primary, reason }) if reason == denied)
        );
        assert!(blocked[0].describe().contains("cannot be listed on the primary"));

        let (primary, secondary) = world(FilesRead::Listed(files(&[("x", state(1, 1))])));
        let secondary = secondary
            .with_catalog(catalog("main", crate::replication::snapshot::CatalogKind::Managed))
            .with_schema(schema("main", "s"))
            .with_volume(external_volume("main.s.docs"));
        let plan = crate::replication::planner::plan(&primary, &secondary, &config());
        assert!(plan.actions.iter().all(|a| !matches!(a.kind, ActionKind::CopyVolumeFiles(_))));
        assert!(plan.blocked().any(|a| a.object.full_name() == "main.s.docs"), "the volume itself is reported");
    }

    #[test]
    fn roots_and_relative_paths() {
        assert_eq!(volume_root("main.sales.files").as_deref(), Some("/Volumes/main/sales/files"));
        assert_eq!(volume_root("main.sales"), None);
        assert_eq!(volume_root("a/b.c.d"), None);
        let root = "/Volumes/main/sales/files";
        assert_eq!(relative(root, "/Volumes/main/sales/files/a/b.csv").as_deref(), Some("a/b.csv"));
        assert_eq!(relative(root, "/Volumes/main/sales/files/dir/").as_deref(), Some("dir"));
        assert_eq!(relative(root, "/Volumes/main/sales/filesX/a"), None);
        assert_eq!(relative(root, root), None);
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_500_000), "1.5 MB");
    }
}
