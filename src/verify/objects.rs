//! `verify` beyond tables: registered models and volumes, judged from the
//! two snapshots alone (pure).
//!
//! A **model** is equal when both sides hold the same versions, aliases and
//! comment, and the same comment on each version (the replication's own
//! comparison, `diff::model_fields`). Versions only the primary has are not
//! a difference drbot can remove: the Unity Catalog API creates no model
//! version, so such a model is blocked with the MLflow copy that fixes it
//! (its aliases to those versions wait for them).
//!
//! A **managed volume** is equal when the secondary holds every file of the
//! primary's at its size, copied from the primary's current version (size
//! and modification time, by the copy manifest: the secondary's own times
//! are the copies'), every folder, and nothing else (`diff::files_field`).
//! An **external volume**'s files arrive by storage replication, which
//! verify does not list: blocked, with why. Every model and volume in
//! scope gets exactly one verdict; none is left out.

use super::judge::Verdict;
use super::{Facts, TableResult};
use crate::replication::diff::{files_field, is_external_volume, is_replicated_schema, model_fields, Field};
use crate::replication::model_info::ModelInfo;
use crate::replication::snapshot::Snapshot;
use crate::replication::volume_files::{bytes, FilesRead, VolumeFiles};
use crate::replication::ReplicationConfig;

/// Every registered model and volume in scope, judged, by name.
pub fn judge_objects(primary: &Snapshot, secondary: &Snapshot, config: &ReplicationConfig) -> Vec<TableResult> {
    let in_scope = |catalog: &str, schema: &str| is_replicated_schema(primary, secondary, config, catalog, schema);
    let mut out = Vec::new();
    for model in primary.models.values().filter(|m| in_scope(&m.catalog, &m.schema)) {
        let there = secondary.models.get(&model.full_name());
        out.push(TableResult {
            table: model.full_name(),
            kind: "model".into(),
            verdict: model_verdict(model, there),
            primary: Some(model_facts(model)),
            secondary: there.map(model_facts),
            recorded_source_version: None,
        });
    }
    for model in secondary.models.values() {
        if in_scope(&model.catalog, &model.schema) && !primary.models.contains_key(&model.full_name()) {
            out.push(TableResult {
                table: model.full_name(),
                kind: "model".into(),
                verdict: only_on_the_secondary(),
                primary: None,
                secondary: Some(model_facts(model)),
                recorded_source_version: None,
            });
        }
    }
    for volume in primary.volumes.values().filter(|v| in_scope(&v.catalog, &v.schema)) {
        let name = volume.full_name();
        let listed = |s| files_of(s, &name);
        let (kind, verdict) = if is_external_volume(volume) {
            let reason = "an external volume: its files arrive by storage replication (its location is \
                          geo-replicated), which verify does not list";
            ("external_volume", Verdict::Blocked { reason: reason.into() })
        } else {
            let there = secondary.volumes.get(&name).filter(|v| !is_external_volume(v));
            ("managed_volume", volume_verdict(listed(primary), there.and(listed(secondary)), there.is_some()))
        };
        out.push(TableResult {
            table: name.clone(),
            kind: kind.into(),
            verdict,
            primary: listed(primary).and_then(file_facts),
            secondary: listed(secondary).and_then(file_facts),
            recorded_source_version: None,
        });
    }
    for volume in secondary.volumes.values() {
        if in_scope(&volume.catalog, &volume.schema) && !primary.volumes.contains_key(&volume.full_name()) {
            let kind = if is_external_volume(volume) { "external_volume" } else { "managed_volume" };
            out.push(TableResult {
                table: volume.full_name(),
                kind: kind.into(),
                verdict: only_on_the_secondary(),
                primary: None,
                secondary: None,
                recorded_source_version: None,
            });
        }
    }
    out
}

fn files_of<'s>(snapshot: &'s Snapshot, volume: &str) -> Option<&'s FilesRead> {
    snapshot.volume_files.get(volume)
}

fn only_on_the_secondary() -> Verdict {
    Verdict::Blocked { reason: "only on the secondary: the primary has no such object to compare with".into() }
}

fn model_facts(model: &ModelInfo) -> Facts {
    Facts { versions: Some(model.versions.len()), ..Facts::default() }
}

fn file_facts(read: &FilesRead) -> Option<Facts> {
    match read {
        FilesRead::Listed(files) => Some(Facts {
            files: Some(files.files.len()),
            size_bytes: Some(files.files.values().map(|f| f.size).sum()),
            ..Facts::default()
        }),
        FilesRead::Unreadable(_) => None,
    }
}

fn model_verdict(primary: &ModelInfo, secondary: Option<&ModelInfo>) -> Verdict {
    let Some(secondary) = secondary else {
        return Verdict::Blocked {
            reason: "missing on the secondary: replicate creates it (its versions are then copied with MLflow)".into(),
        };
    };
    let fields = model_fields(primary, secondary);
    if fields.is_empty() {
        return Verdict::Equal;
    }
    let versions_to_copy: Vec<i64> = fields
        .iter()
        .find_map(|f| match f {
            Field::ModelVersions { missing, extra } if extra.is_empty() => Some(missing.clone()),
            _ => None,
        })
        .unwrap_or_default();
    // Aliases that differ only by pointing at versions still to copy.
    let aliases_wait =
        primary.aliases.iter().all(|(alias, version)| {
            secondary.aliases.get(alias) == Some(version) || versions_to_copy.contains(version)
        }) && secondary.aliases.keys().all(|a| primary.aliases.contains_key(a));
    let waits_on_copies = !versions_to_copy.is_empty()
        && fields.iter().all(|f| matches!(f, Field::ModelVersions { .. }) || (*f == Field::Aliases && aliases_wait));
    if waits_on_copies {
        let numbers: Vec<String> = versions_to_copy.iter().map(|v| v.to_string()).collect();
        return Verdict::Blocked {
            reason: format!(
                "version(s) {} not on the secondary: the Unity Catalog API creates no model version; copy each with \
                 MLflow (MlflowClient.copy_model_version, in version order), then replicate sets its comment, tags \
                 and aliases",
                numbers.join(", ")
            ),
        };
    }
    let differences = fields
        .iter()
        .map(|field| match field {
            Field::ModelVersions { missing, extra } => {
                let list = |v: &[i64]| v.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
                match (missing.is_empty(), extra.is_empty()) {
                    (false, true) => format!("versions {} missing on the secondary", list(missing)),
                    (true, false) => format!("versions {} only on the secondary", list(extra)),
                    _ => format!("versions {} missing on the secondary, {} only there", list(missing), list(extra)),
                }
            }
            Field::Aliases => {
                format!("aliases: primary {}, secondary {}", aliases(&primary.aliases), aliases(&secondary.aliases))
            }
            Field::Comment => "comment".into(),
            Field::VersionMetadata => "a version's comment or tags".into(),
            other => format!("{other:?}"),
        })
        .collect();
    Verdict::Different { differences }
}

fn aliases(aliases: &std::collections::BTreeMap<String, i64>) -> String {
    if aliases.is_empty() {
        return "none".into();
    }
    aliases.iter().map(|(a, v)| format!("{a} → {v}")).collect::<Vec<_>>().join(", ")
}

/// A managed volume's files: `secondary` is `None` when the secondary has
/// no such managed volume (`there` false) or did not list it.
fn volume_verdict(primary: Option<&FilesRead>, secondary: Option<&FilesRead>, there: bool) -> Verdict {
    let listed = |read: Option<&FilesRead>, side: &str| -> Result<VolumeFiles, Verdict> {
        match read {
            Some(FilesRead::Listed(files)) => Ok(files.clone()),
            Some(FilesRead::Unreadable(why)) => Err(Verdict::Blocked {
                reason: format!(
                    "its files cannot be listed on the {side}: {why} (listing needs USE CATALOG, USE SCHEMA and \
                     READ VOLUME)"
                ),
            }),
            None => Err(Verdict::Blocked { reason: format!("its files were not listed on the {side}") }),
        }
    };
    let primary = match listed(primary, "primary") {
        Ok(files) => files,
        Err(verdict) => return verdict,
    };
    if !there {
        return Verdict::Blocked {
            reason: "missing on the secondary: replicate creates it and copies its files".into(),
        };
    }
    let secondary = match listed(secondary, "secondary") {
        Ok(files) => files,
        Err(verdict) => return verdict,
    };
    match files_field(&primary, Some(&secondary)) {
        None => Verdict::Equal,
        Some(Field::Files { missing, changed, extra, examples }) => {
            let mut differences = Vec::new();
            if missing > 0 {
                differences.push(format!("{missing} file(s) missing on the secondary"));
            }
            if changed > 0 {
                differences.push(format!(
                    "{changed} file(s) not the primary's current version (size or modification time changed since \
                     the copy, or not copied by drbot)"
                ));
            }
            if extra > 0 {
                differences.push(format!("{extra} file(s) only on the secondary"));
            }
            let folders = primary.directories.difference(&secondary.directories).count();
            if folders > 0 {
                differences.push(format!("{folders} folder(s) missing on the secondary"));
            }
            let size: u64 = primary.files.values().map(|f| f.size).sum();
            differences.push(format!("e.g. {} (the primary holds {})", examples.join(", "), bytes(size)));
            Verdict::Different { differences }
        }
        Some(other) => Verdict::Different { differences: vec![format!("{other:?}")] },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::fixtures::*;
    use crate::replication::model_info::VersionInfo;
    use crate::replication::snapshot::CatalogKind;
    use crate::replication::volume_files::FileState;

    fn world() -> (Snapshot, Snapshot) {
        let base =
            |id| empty(id).with_catalog(catalog("main", CatalogKind::Managed)).with_schema(schema("main", "sales"));
        let model = ModelInfo {
            catalog: "main".into(),
            schema: "sales".into(),
            name: "churn".into(),
            owner: "alice".into(),
            versions: [(1, VersionInfo::default()), (2, VersionInfo::default())].into(),
            aliases: [("champion".to_string(), 2)].into(),
            ..ModelInfo::default()
        };
        let mut volume = external_volume("main.sales.landing");
        volume.volume_type = "MANAGED".into();
        volume.storage_location = None;
        let files = VolumeFiles {
            files: [("a/x.csv".to_string(), FileState { size: 10, modified_ms: 5 })].into(),
            directories: ["a".to_string()].into(),
            copied: Default::default(),
        };
        let mut primary = base(PRIMARY_ID).with_volume(volume.clone()).with_volume(external_volume("main.sales.ext"));
        primary.models.insert(model.full_name(), model.clone());
        primary.volume_files.insert(volume.full_name(), FilesRead::Listed(files.clone()));
        let mut secondary = base(SECONDARY_ID).with_volume(volume.clone());
        secondary.models.insert(model.full_name(), model);
        let mut held = files.clone();
        held.files.get_mut("a/x.csv").unwrap().modified_ms = 99;
        held.copied = files.files;
        secondary.volume_files.insert(volume.full_name(), FilesRead::Listed(held));
        (primary, secondary)
    }

    fn verdicts(primary: &Snapshot, secondary: &Snapshot) -> Vec<(String, String, Verdict)> {
        judge_objects(primary, secondary, &config()).into_iter().map(|r| (r.table, r.kind, r.verdict)).collect()
    }

    #[test]
    fn equal_models_and_files_are_equal_and_an_external_volume_is_blocked_with_why() {
        let (primary, secondary) = world();
        let found = verdicts(&primary, &secondary);
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0], ("main.sales.churn".into(), "model".into(), Verdict::Equal));
        assert!(
            matches!(&found[1], (n, k, Verdict::Blocked { reason }) if n == "main.sales.ext" && k == "external_volume" && reason.contains("storage replication"))
        );
        assert_eq!(found[2], ("main.sales.landing".into(), "managed_volume".into(), Verdict::Equal));
    }

    #[test]
    fn versions_to_copy_block_other_model_differences_differ() {
        let (primary, mut secondary) = world();
        let copy = secondary.models.get_mut("main.sales.churn").unwrap();
        copy.versions.remove(&2);
        copy.aliases.clear();
        let Verdict::Blocked { reason } = &verdicts(&primary, &secondary)[0].2 else { panic!() };
        assert!(reason.starts_with("version(s) 2 not on the secondary") && reason.contains("copy_model_version"));
        let copy = secondary.models.get_mut("main.sales.churn").unwrap();
        copy.versions.insert(2, VersionInfo::default());
        copy.aliases.insert("champion".into(), 1);
        copy.versions.insert(3, VersionInfo::default());
        let Verdict::Different { differences } = &verdicts(&primary, &secondary)[0].2 else { panic!() };
        assert_eq!(
            differences,
            &vec![
                "versions 3 only on the secondary".to_string(),
                "aliases: primary champion → 2, secondary champion → 1".to_string()
            ]
        );
        secondary.models.clear();
        assert!(
            matches!(&verdicts(&primary, &secondary)[0].2, Verdict::Blocked { reason } if reason.starts_with("missing on the secondary"))
        );
    }

    #[test]
    fn files_missing_changed_extra_or_unlisted_are_named() {
        let (primary, mut secondary) = world();
        let name = "main.sales.landing".to_string();
        let Some(FilesRead::Listed(held)) = secondary.volume_files.get_mut(&name) else { panic!() };
        held.copied.get_mut("a/x.csv").unwrap().modified_ms = 4;
        held.files.insert("stray.txt".into(), FileState { size: 1, modified_ms: 1 });
        let Verdict::Different { differences } = &verdicts(&primary, &secondary)[2].2 else { panic!() };
        assert!(differences[0].starts_with("1 file(s) not the primary's current version"), "{differences:?}");
        assert!(differences[1].starts_with("1 file(s) only on the secondary"), "{differences:?}");
        assert!(differences[2].contains("a/x.csv") && differences[2].contains("stray.txt"), "{differences:?}");
        secondary.volume_files.insert(name.clone(), FilesRead::Unreadable("[PERMISSION_DENIED] no READ VOLUME".into()));
        assert!(
            matches!(&verdicts(&primary, &secondary)[2].2, Verdict::Blocked { reason } if reason.contains("no READ VOLUME"))
        );
        secondary.volumes.remove(&name);
        secondary.volume_files.remove(&name);
        assert!(
            matches!(&verdicts(&primary, &secondary)[2].2, Verdict::Blocked { reason } if reason.starts_with("missing on the secondary"))
        );
    }
}
