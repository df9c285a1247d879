//! Property tests of the planner against the model.
//!
//! A random primary (managed catalogs with schemas, managed and external
//! Delta tables, non-Delta external tables, views on views, external
//! volumes, SQL functions calling each other, row filters and column masks
//! using them, materialized views and streaming tables, registered models
//! with versions, aliases, version tags and grants, owners and grants, plus
//! catalogs that are never replicated), a principal mapping (some principals
//! named otherwise on the secondary, two merged into one) and principals the
//! secondary does not know, and
//! a secondary derived from it the way an imperfect earlier replication
//! leaves one: objects missing, clones stale, definitions, grants and owners
//! drifted, extras of its own. Then, for every case:
//!
//! (a) running the plan on the model makes the secondary equal to the
//!     primary under the location and principal mappings for every
//!     replicated kind (but for grants and owners naming a principal the
//!     secondary does not know, each planned blocked with that reason), leaves
//!     extras alone without `prune` and removes them with it, and touches
//!     nothing outside the scope;
//! (b) planning again gives an empty plan (or only those blocked grants and
//!     owners), and after new primary commits only incremental clones of
//!     exactly those tables;
//! (c) every dependency comes before its action, ids are unique, and every
//!     action renders to SQL the sandbox's warehouse parses (or a REST call).
//!
//! The world is built from a seed with a small PRNG so that cases stay
//! cheap; proptest picks the seed and the configuration knobs and reports
//! them when a case fails.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::config::ReplicationConfig;
use super::diff::{diff, Change};
use super::fixtures::*;
use super::metadata::user_properties;
use super::metadata_change::MetadataChange;
use super::model::{apply, apply_to_primary};
use super::object::{ObjectKind, ObjectRef};
use super::plan::{ActionKind, BlockReason, CloneReason, Plan};
use super::planner::plan;
use super::principals::{to_look_up, PrincipalMap};
use super::snapshot::{
    CatalogKind, ColumnMetadata, Common, DeltaState, Grants, Policy, ShareInfo, Snapshot, TableKind, Tags,
};
use super::sql::{render, Request};
use super::volume_files::{FileState, FilesRead, VolumeFiles};

const PRINCIPALS: &[&str] = &["alice@contoso.example", "dr-readers", "dr-operators", "it's `odd`", "carol"];
const PRIVILEGES: &[&str] = &["SELECT", "MODIFY", "USE_SCHEMA", "USE_CATALOG", "READ_VOLUME", "ALL_PRIVILEGES"];
/// Suffixes that make names hostile to naive SQL building.
const FLAVOURS: &[&str] = &["", "", "", "`q", "'s", ";x", " sp", "-dash"];

struct World {
    primary: Snapshot,
    secondary: Snapshot,
    /// The pair's principal mapping.
    principals: PrincipalMap,
    /// The top-most objects only the secondary has.
    extras: Vec<ObjectRef>,
}

struct Gen {
    rng: StdRng,
}

impl Gen {
    fn name(&mut self, prefix: &str, i: usize) -> String {
        let flavour = FLAVOURS.choose(&mut self.rng).copied().unwrap_or("");
        format!("{prefix}{i}{flavour}")
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    fn common(&mut self) -> Common {
        let mut grants = Grants::new();
        for _ in 0..self.rng.gen_range(0..3) {
            let principal = PRINCIPALS.choose(&mut self.rng).copied().unwrap_or("carol");
            let privilege = PRIVILEGES.choose(&mut self.rng).copied().unwrap_or("SELECT");
            grants.entry(principal.to_string()).or_default().insert(privilege.to_string());
        }
        let comment = self.chance(0.3).then(|| format!("comment {}", self.rng.gen_range(0..3)));
        let mut properties = BTreeMap::new();
        if self.chance(0.2) {
            properties.insert("owner_team".to_string(), format!("team{}", self.rng.gen_range(0..3)));
        }
        Common {
            owner: PRINCIPALS.choose(&mut self.rng).copied().unwrap_or("carol").to_string(),
            comment,
            properties,
            grants,
            tags: self.tags(),
        }
    }

    /// Owner and grant drift on a copy.
    fn drift(&mut self, common: &mut Common) {
        if self.chance(0.2) {
            common.owner = "mallory".into();
        }
        if self.chance(0.2) {
            common.grants.entry("mallory".into()).or_default().insert("SELECT".into());
        }
        if self.chance(0.2) {
            if let Some(principal) = common.grants.keys().next().cloned() {
                common.grants.remove(&principal);
            }
        }
        if self.chance(0.1) {
            common.grants.entry("dr-readers".into()).or_default().insert("MODIFY".into());
        }
    }

    /// Up to two tags, with keys and values hostile to naive SQL.
    fn tags(&mut self) -> Tags {
        let mut tags = Tags::new();
        for _ in 0..self.rng.gen_range(0..3) {
            let key = ["pii", "tier", "it's", "cost center", "x`y"].choose(&mut self.rng).copied().unwrap_or("pii");
            let value = ["", "gold", "o'brien", "a, b"].choose(&mut self.rng).copied().unwrap_or("");
            tags.insert(key.to_string(), value.to_string());
        }
        tags
    }

    /// Column comments and tags of a table or view.
    fn columns(&mut self) -> BTreeMap<String, ColumnMetadata> {
        let mut columns = BTreeMap::new();
        for name in ["email", "id", "weird`col"] {
            if self.chance(0.25) {
                let comment = self.chance(0.6).then(|| format!("{name} 'noted'\n\tsecond line"));
                let metadata = ColumnMetadata { comment, tags: self.tags() };
                if !metadata.is_empty() {
                    columns.insert(name.to_string(), metadata);
                }
            }
        }
        columns
    }

    /// Metadata drift on a copy: a tag changed, added or dropped, a column
    /// comment changed.
    fn metadata_drift(&mut self, common: &mut Common, columns: Option<&mut BTreeMap<String, ColumnMetadata>>) {
        if self.chance(0.15) {
            common.tags.insert("tier".into(), "bronze".into());
        }
        if self.chance(0.1) {
            common.tags.clear();
        }
        if let Some(columns) = columns {
            if self.chance(0.15) {
                columns.entry("email".into()).or_default().comment = Some("drifted".into());
            }
            if self.chance(0.1) {
                columns.clear();
            }
        }
    }

    fn definition_drift(&mut self, common: &mut Common) {
        if self.chance(0.15) {
            common.comment = Some("drifted".into());
        }
        if self.chance(0.1) {
            common.properties.insert("drifted".into(), "yes".into());
        }
    }

    fn world(&mut self) -> World {
        let mut primary = empty(PRIMARY_ID)
            .with_catalog(catalog("system", CatalogKind::System))
            .with_schema(schema("system", "access"))
            .with_table(managed("system.access.audit", 1))
            .with_catalog(catalog("lake", CatalogKind::Foreign))
            .with_catalog(catalog("partner", CatalogKind::DeltaSharing))
            .with_catalog(catalog("__databricks_internal", CatalogKind::Internal));
        let mut secondary = empty(SECONDARY_ID)
            .with_catalog(catalog("system", CatalogKind::System))
            .with_schema(schema("system", "access"))
            .with_table(managed("system.access.other", 1))
            .with_catalog(catalog("their_partner", CatalogKind::DeltaSharing));
        let mut extras = Vec::new();
        if self.chance(0.5) {
            primary.sharing.recipients.insert("drbot_secondary".into(), SECONDARY_ID.into());
        }
        if self.chance(0.5) {
            secondary.sharing.providers.insert("the_primary".into(), PRIMARY_ID.into());
        }

        for c in 0..self.rng.gen_range(1..=3) {
            let catalog_name = self.name("c", c);
            let mut info = catalog(&catalog_name, CatalogKind::Managed);
            if self.chance(0.3) {
                info.storage_root = None;
            }
            info.common = self.common();
            primary = primary.with_catalog(info.clone());
            let catalog_copied = self.chance(0.8);
            if catalog_copied {
                let mut copy = replica_of_catalog(&info);
                self.drift(&mut copy.common);
                self.definition_drift(&mut copy.common);
                secondary = secondary.with_catalog(copy);
            }
            let share = format!("drbot_{catalog_name}");
            if self.chance(0.5) {
                primary.sharing.shares.insert(share.clone(), ShareInfo::default());
            }
            if self.chance(0.4) {
                let mut mounted = catalog(&format!("drbot_shared_{catalog_name}"), CatalogKind::DeltaSharing);
                mounted.share_name = Some(share.clone());
                secondary = secondary.with_catalog(mounted);
            }
            for s in 0..self.rng.gen_range(1..=3) {
                let schema_name = self.name("s", s);
                let mut info = schema(&catalog_name, &schema_name);
                if self.chance(0.2) {
                    info.storage_root = Some(format!("{UC_PRIMARY}{catalog_name}/{schema_name}"));
                }
                info.common = self.common();
                primary = primary.with_schema(info.clone());
                if let Some(existing) = primary.sharing.shares.get_mut(&share) {
                    if self.rng.gen_bool(0.5) {
                        existing.schemas.insert(info.full_name());
                    }
                    if self.rng.gen_bool(0.5) {
                        existing.recipients_with_select.insert("drbot_secondary".into());
                    }
                }
                let schema_copied = catalog_copied && self.chance(0.8);
                if schema_copied {
                    let mut copy = info.clone();
                    copy.storage_root = copy.storage_root.as_deref().and_then(|l| mapping().to_secondary(l));
                    self.drift(&mut copy.common);
                    self.definition_drift(&mut copy.common);
                    secondary = secondary.with_schema(copy);
                }
                // Functions first: each may call earlier ones; views and
                // protected tables below use them.
                let mut functions: Vec<String> = Vec::new();
                for f in 0..self.rng.gen_range(0..=2) {
                    let full = format!("{catalog_name}.{schema_name}.{}", self.name("f", f));
                    let calls: Vec<&str> =
                        functions.iter().filter(|_| self.rng.gen_bool(0.5)).map(String::as_str).collect();
                    let mut info = function(&full, &calls);
                    let comment = self.chance(0.4).then(|| "it's a check".to_string());
                    info.common = Common { comment, properties: BTreeMap::new(), tags: Tags::new(), ..self.common() };
                    primary = primary.with_function(info.clone());
                    if schema_copied && self.chance(0.6) {
                        let mut copy = info.clone();
                        self.drift(&mut copy.common);
                        if self.chance(0.2) {
                            copy.common.comment = Some("drifted".into());
                        }
                        if self.chance(0.25) {
                            copy.body = "x = 'drifted'".into();
                            copy.dependencies.clear();
                        }
                        secondary = secondary.with_function(copy);
                    }
                    functions.push(full);
                }
                if schema_copied && self.chance(0.1) {
                    let full = format!("{catalog_name}.{schema_name}.zz_extra_f");
                    secondary = secondary.with_function(function(&full, &[]));
                    extras.push(ObjectRef::new(ObjectKind::Function, [&catalog_name, &schema_name, "zz_extra_f"]));
                }
                let mut earlier: Vec<String> = Vec::new();
                // Tables of this schema with a primary key, for foreign keys.
                let mut keyed: Vec<String> = Vec::new();
                let mut copied_keys: HashSet<String> = HashSet::new();
                for t in 0..self.rng.gen_range(0..=4) {
                    let full = format!("{catalog_name}.{schema_name}.{}", self.name("t", t));
                    let commit = self.rng.gen_range(1_000..100_000);
                    let roll: f64 = self.rng.gen();
                    let mut table = if roll < 0.45 || earlier.is_empty() && roll < 0.8 {
                        managed(&full, commit)
                    } else if roll < 0.65 {
                        external_delta(&full, commit)
                    } else if roll < 0.8 {
                        external(&full, if self.chance(0.5) { "PARQUET" } else { "CSV" })
                    } else if earlier.is_empty() {
                        external(&full, "JSON")
                    } else {
                        let count = self.rng.gen_range(1..=2.min(earlier.len()));
                        let mut sources: Vec<&str> =
                            earlier.choose_multiple(&mut self.rng, count).map(String::as_str).collect();
                        sources.sort();
                        let mut v = view(&full, &sources);
                        if let (Some(f), true) = (functions.choose(&mut self.rng), self.chance(0.4)) {
                            v.view_dependencies.push(f.clone());
                        }
                        v
                    };
                    table.common = self.common();
                    table.column_metadata = self.columns();
                    if table.is_delta() && self.chance(0.3) {
                        // Delta's own property: the clone carries it, never compared.
                        table.common.properties.insert("delta.enableChangeDataFeed".into(), "true".into());
                    }
                    if table.is_delta() && !functions.is_empty() {
                        if self.chance(0.3) {
                            let f = functions.choose(&mut self.rng).cloned().unwrap_or_default();
                            table.protection.row_filter = Some(Policy { function_name: f, columns: vec!["x".into()] });
                        }
                        if self.chance(0.3) {
                            let f = functions.choose(&mut self.rng).cloned().unwrap_or_default();
                            let columns = if self.chance(0.5) { vec!["x".into()] } else { Vec::new() };
                            table.protection.column_masks.insert("email".into(), Policy { function_name: f, columns });
                        }
                    }
                    if table.is_delta() {
                        let short = self.name("t", t);
                        if let (Some(parent), true) = (keyed.choose(&mut self.rng).cloned(), self.chance(0.4)) {
                            table.constraints.push(fk(&format!("fk_{short}"), &["parent_id"], &parent, &["id"]));
                        }
                        if self.chance(0.5) {
                            table.constraints.push(pk(&format!("pk_{short}"), &["id"]));
                            keyed.push(full.clone());
                        }
                        table.constraints.sort();
                    }
                    earlier.push(full.clone());
                    primary = primary.with_table(table.clone());
                    if schema_copied && self.chance(0.75) {
                        let mut copy = replica_of(&table);
                        self.drift(&mut copy.common);
                        self.definition_drift(&mut copy.common);
                        self.metadata_drift(&mut copy.common, Some(&mut copy.column_metadata));
                        if let (Some(delta), true) = (copy.delta.as_mut(), self.chance(0.3)) {
                            delta.last_commit_ms -= self.rng.gen_range(1..1_000);
                        }
                        if copy.delta.is_some() && self.chance(0.05) {
                            copy.delta = None;
                        }
                        if self.chance(0.3) {
                            // Cloned without its protection, or protected otherwise.
                            copy.protection = Default::default();
                        } else if copy.is_delta() && self.chance(0.1) {
                            if let Some(f) = functions.first() {
                                let stray = Policy { function_name: f.clone(), columns: Vec::new() };
                                copy.protection.column_masks.insert("ssn".into(), stray);
                            }
                        }
                        // A copy's foreign key names a copied primary key
                        // (Databricks allows no other state).
                        copy.constraints.retain(|c| c.parent().is_none_or(|p| copied_keys.contains(p)));
                        if self.chance(0.2) {
                            // Cloned before its keys were added.
                            copy.constraints.clear();
                        } else if copy.is_delta()
                            && !copy.constraints.iter().any(|c| c.is_primary())
                            && self.chance(0.1)
                        {
                            copy.constraints.push(pk(&format!("stray_{}", copy.name), &["id"]));
                            copy.constraints.sort();
                        }
                        if copy.constraints.iter().any(|c| c.is_primary() && c.columns == ["id"]) {
                            copied_keys.insert(full.clone());
                        }
                        if copy.kind == TableKind::View && self.chance(0.15) {
                            copy.view_definition = Some("SELECT * FROM `somewhere`.`else`.`entirely`".into());
                        }
                        if copy.kind == TableKind::External && copy.is_delta() && self.chance(0.1) {
                            copy.storage_location = Some(format!("{EXT_SECONDARY}moved/{full}"));
                        }
                        secondary = secondary.with_table(copy);
                    }
                }
                if self.chance(0.4) {
                    let mut volume = external_volume(&format!("{catalog_name}.{schema_name}.{}", self.name("v", 0)));
                    volume.common = self.common();
                    primary = primary.with_volume(volume.clone());
                    if schema_copied && self.chance(0.75) {
                        let mut copy = replica_of_volume(&volume);
                        self.drift(&mut copy.common);
                        self.definition_drift(&mut copy.common);
                        self.metadata_drift(&mut copy.common, None);
                        secondary = secondary.with_volume(copy);
                    }
                }
                if schema_copied && self.chance(0.2) {
                    let full = format!("{catalog_name}.{schema_name}.zz_extra_t");
                    secondary = secondary.with_table(managed(&full, 5));
                    extras.push(ObjectRef::new(ObjectKind::Table, [&catalog_name, &schema_name, "zz_extra_t"]));
                }
                if schema_copied && self.chance(0.1) {
                    let full = format!("{catalog_name}.{schema_name}.zz_extra_v");
                    let source = format!("{catalog_name}.{schema_name}.zz_extra_src");
                    secondary = secondary.with_table(view(&full, &[&source]));
                    extras.push(ObjectRef::new(ObjectKind::View, [&catalog_name, &schema_name, "zz_extra_v"]));
                }
                if schema_copied && self.chance(0.1) {
                    secondary =
                        secondary.with_volume(external_volume(&format!("{catalog_name}.{schema_name}.zz_extra_vol")));
                    extras.push(ObjectRef::new(ObjectKind::Volume, [&catalog_name, &schema_name, "zz_extra_vol"]));
                }
            }
            if catalog_copied && self.chance(0.15) {
                secondary = secondary
                    .with_schema(schema(&catalog_name, "zz_extra_s"))
                    .with_table(managed(&format!("{catalog_name}.zz_extra_s.t"), 1));
                extras.push(ObjectRef::new(ObjectKind::Schema, [&catalog_name, "zz_extra_s"]));
            }
        }
        if self.chance(0.3) {
            secondary = secondary
                .with_catalog(catalog("zz_extra_c", CatalogKind::Managed))
                .with_schema(schema("zz_extra_c", "s"))
                .with_table(managed("zz_extra_c.s.t", 1));
            extras.push(ObjectRef::new(ObjectKind::Catalog, ["zz_extra_c"]));
        }
        self.datasets_and_models(&mut primary, &mut secondary);
        // The plan's identity, one of the principals that own things: the
        // model refuses its ALTER VIEW of a view it does not own, so a plan
        // must take such a view over first (and leaves its own views alone).
        secondary.read_as = PRINCIPALS[0].into();
        self.managed_volumes(&mut primary, &mut secondary);
        let principals = self.principals(&primary, &mut secondary);
        World { primary, secondary, principals, extras }
    }

    /// Managed volumes with files in folders (drawn last, so the rest of a
    /// seed's world stays as it was): on the secondary none, or the volume
    /// with some files copied (the manifest says so), some changed on the
    /// primary since, some missing.
    fn managed_volumes(&mut self, primary: &mut Snapshot, secondary: &mut Snapshot) {
        let schemas: Vec<(String, String)> = primary
            .schemas
            .values()
            .filter(|x| primary.catalogs.get(&x.catalog).is_some_and(|c| c.kind == CatalogKind::Managed))
            .map(|x| (x.catalog.clone(), x.name.clone()))
            .collect();
        for (catalog, schema) in schemas {
            if !self.chance(0.3) {
                continue;
            }
            let mut volume = external_volume(&format!("{catalog}.{schema}.{}", self.name("mv", 0)));
            volume.volume_type = "MANAGED".into();
            volume.storage_location = None;
            volume.common = self.common();
            let name = volume.full_name();
            let mut files = VolumeFiles::default();
            for i in 0..self.rng.gen_range(0..5) {
                let folder = ["", "a/", "a/b/", "c/"][self.rng.gen_range(0..4)];
                for dir in ["a", "a/b", "c"].iter().filter(|d| folder.starts_with(&format!("{d}/"))) {
                    files.directories.insert(dir.to_string());
                }
                let state =
                    FileState { size: self.rng.gen_range(0..1000), modified_ms: self.rng.gen_range(1..1_000_000) };
                files.files.insert(format!("{folder}{}.csv", self.name("f", i)), state);
            }
            if self.chance(0.3) {
                files.directories.insert("empty".into());
            }
            let there = secondary.schemas.contains_key(&format!("{catalog}.{schema}")) && self.chance(0.6);
            if there {
                let mut copy = replica_of_volume(&volume);
                self.drift(&mut copy.common);
                let mut held = VolumeFiles::default();
                for (path, state) in &files.files {
                    match self.rng.gen_range(0..3) {
                        0 => {}
                        1 => {
                            held.files.insert(path.clone(), FileState { modified_ms: 2_000_000, ..*state });
                            held.copied.insert(path.clone(), *state);
                        }
                        _ => {
                            // Copied from an older version of the file.
                            held.files.insert(path.clone(), FileState { modified_ms: 2_000_000, ..*state });
                            held.copied
                                .insert(path.clone(), FileState { modified_ms: state.modified_ms - 1, ..*state });
                        }
                    }
                }
                held.directories = files.directories.iter().filter(|_| self.rng.gen_bool(0.5)).cloned().collect();
                secondary.volumes.insert(name.clone(), copy);
                secondary.volume_files.insert(name.clone(), FilesRead::Listed(held));
            }
            primary.volumes.insert(name.clone(), volume);
            primary.volume_files.insert(name, FilesRead::Listed(files));
        }
    }
}

impl Gen {
    /// The pair's principal mapping (drawn last): `carol` named otherwise
    /// on the secondary, `it's \`odd\`` merged into `dr-operators`; and some
    /// of the principals the plan would name there unknown to the
    /// secondary (never one it already names: it knows those).
    fn principals(&mut self, primary: &Snapshot, secondary: &mut Snapshot) -> PrincipalMap {
        let mut pairs = Vec::new();
        if self.chance(0.5) {
            pairs.push(("carol", "carol@fabrikam.example"));
        }
        if self.chance(0.3) {
            pairs.push(("it's `odd`", "dr-operators"));
        }
        let map = PrincipalMap::new(pairs);
        let mut config = config();
        config.principals = map.clone();
        if self.chance(0.5) {
            for name in to_look_up(primary, secondary, &config) {
                if self.chance(0.5) {
                    secondary.unknown_principals.insert(name);
                }
            }
        }
        map
    }

    /// Databricks SQL's materialized views and streaming tables on earlier
    /// tables, and registered models (drawn after the rest, so the other
    /// kinds' worlds stay as they were). A model the secondary has holds
    /// every version (a person copied them: versions are never made by a
    /// plan); one it lacks has none on the primary either, so nothing is
    /// blocked here (the blocked cases are unit-tested in `datasets.rs` and
    /// `models.rs`).
    fn datasets_and_models(&mut self, primary: &mut Snapshot, secondary: &mut Snapshot) {
        use super::models::{ModelInfo, VersionInfo};
        let quote = |d: &str| format!("`{}`", d.replace('`', "``").replace('.', "`.`"));
        let managed: Vec<(String, String)> = primary
            .schemas
            .values()
            .filter(|s| primary.catalogs.get(&s.catalog).is_some_and(|c| c.kind == CatalogKind::Managed))
            .map(|s| (s.catalog.clone(), s.name.clone()))
            .collect();
        for (catalog, schema) in managed {
            let sources: Vec<String> = primary
                .tables
                .values()
                .filter(|t| t.catalog == catalog && t.schema == schema && t.kind == TableKind::Managed)
                .map(|t| t.full_name())
                .collect();
            let schema_copied = secondary.schemas.contains_key(&format!("{catalog}.{schema}"));
            if let (Some(source), true) = (sources.first(), self.chance(0.5)) {
                let streaming = self.chance(0.5);
                let full = format!("{catalog}.{schema}.{}", self.name(if streaming { "st" } else { "mv" }, 0));
                let mut table = view(&full, &[source]);
                table.format = Some("DELTA".into());
                if streaming {
                    table.kind = TableKind::StreamingTable;
                    table.view_definition = Some(format!("SELECT * FROM STREAM {}", quote(source)));
                } else {
                    table.kind = TableKind::MaterializedView;
                }
                table.common = self.common();
                table.common.comment = None;
                table.common.properties.clear();
                *primary = std::mem::take(primary).with_table(table.clone());
                if schema_copied && self.chance(0.6) {
                    let mut copy = table.clone();
                    self.drift(&mut copy.common);
                    if self.chance(0.3) {
                        copy.view_definition = Some(format!("SELECT 1 FROM {}", quote(source)));
                    }
                    *secondary = std::mem::take(secondary).with_table(copy);
                }
            }
            if self.chance(0.4) {
                let name = self.name("m", 0);
                let copied = schema_copied && self.chance(0.6);
                let versions: std::collections::BTreeMap<i64, VersionInfo> = if copied {
                    (1..=self.rng.gen_range(1..=3))
                        .map(|n| {
                            let tags = Some(self.tags());
                            (n, VersionInfo { comment: Some(format!("v{n}")), tags, ..VersionInfo::default() })
                        })
                        .collect()
                } else {
                    Default::default()
                };
                let mut aliases = std::collections::BTreeMap::new();
                if let (Some(last), true) = (versions.keys().last(), self.chance(0.7)) {
                    aliases.insert("champion".to_string(), *last);
                }
                let common = self.common();
                let model = ModelInfo {
                    catalog: catalog.clone(),
                    schema: schema.clone(),
                    name,
                    owner: common.owner,
                    comment: common.comment,
                    versions,
                    aliases,
                    grants: common.grants,
                    grants_unread: false,
                };
                primary.models.insert(model.full_name(), model.clone());
                if copied {
                    let mut copy = model.clone();
                    if self.chance(0.3) {
                        copy.owner = "carol".into();
                    }
                    if self.chance(0.3) {
                        copy.comment = Some("drifted".into());
                    }
                    if let (Some(v), true) = (copy.versions.values_mut().next(), self.chance(0.3)) {
                        v.comment = None;
                    }
                    if self.chance(0.3) {
                        copy.aliases.clear();
                        copy.aliases.insert("stale".into(), 1);
                    }
                    if let (Some(v), true) = (copy.versions.values_mut().last(), self.chance(0.3)) {
                        v.tags = Some([("tier".to_string(), "drifted".to_string())].into());
                    }
                    let mut grants = Common { grants: copy.grants.clone(), ..Common::default() };
                    self.drift(&mut grants);
                    copy.grants = grants.grants;
                    secondary.models.insert(copy.full_name(), copy);
                }
            }
        }
    }
}

/// A replicated object as the comparison sees it, side-independent.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    kind: String,
    format: Option<String>,
    location: Option<String>,
    definition: Option<String>,
    comment: Option<String>,
    properties: BTreeMap<String, String>,
    owner: String,
    grants: Grants,
    /// A table's row filter and masks.
    protection: Option<String>,
    tags: Tags,
    /// A table's or view's column comments and tags (empty ones left out).
    columns: BTreeMap<String, ColumnMetadata>,
}

fn seen(kind: String, location: Option<String>, common: &Common) -> Seen {
    Seen {
        kind,
        format: None,
        location: location.map(|l| l.trim_end_matches('/').to_string()),
        definition: None,
        comment: common.comment.clone().filter(|c| !c.is_empty()),
        properties: common.properties.clone(),
        owner: common.owner.clone(),
        grants: common.grants.clone(),
        protection: None,
        tags: common.tags.clone(),
        columns: BTreeMap::new(),
    }
}

/// Everything in scope on one side, by full name; the primary's locations
/// mapped, the secondary's as they are, objects within `skip` left out.
fn replicated(
    s: &Snapshot,
    config: &ReplicationConfig,
    is_primary: bool,
    skip: &[ObjectRef],
) -> BTreeMap<String, Seen> {
    // The primary's owners and grants under their secondary names.
    let mapped = |common: &Common| if is_primary { config.principals.common(common) } else { common.clone() };
    let seen = |kind: String, location: Option<String>, common: &Common| seen(kind, location, &mapped(common));
    let map = |l: &Option<String>| -> Option<String> {
        if is_primary {
            l.as_deref().map(|l| mapping().to_secondary(l).expect("generated locations are mapped"))
        } else {
            l.clone()
        }
    };
    let skipped =
        |path: &[&str]| skip.iter().any(|o| path.len() >= o.path.len() && o.path.iter().zip(path).all(|(a, b)| a == b));
    let managed = |c: &str| s.catalogs.get(c).is_some_and(|c| c.kind == CatalogKind::Managed);
    let mut out = BTreeMap::new();
    for c in s.catalogs.values() {
        if c.kind == CatalogKind::Managed && config.includes_catalog(&c.name) && !skipped(&[&c.name]) {
            out.insert(c.name.clone(), seen("catalog".into(), map(&c.storage_root), &c.common));
        }
    }
    for x in s.schemas.values() {
        if managed(&x.catalog) && config.includes_schema(&x.catalog, &x.name) && !skipped(&[&x.catalog, &x.name]) {
            out.insert(x.full_name(), seen("schema".into(), map(&x.storage_root), &x.common));
        }
    }
    for t in s.tables.values() {
        if managed(&t.catalog)
            && config.includes_schema(&t.catalog, &t.schema)
            && !skipped(&[&t.catalog, &t.schema, &t.name])
        {
            let location = if t.kind == TableKind::External { map(&t.storage_location) } else { None };
            let mut entry = seen(format!("{:?}", t.kind), location, &t.common);
            entry.format = t.format.as_deref().map(str::to_ascii_uppercase);
            entry.definition = t.view_definition.as_deref().map(|d| d.trim().to_string());
            // The properties a person set on a table are replicated, not
            // Delta's own (nor a view's); comments and column metadata too.
            entry.properties = match t.kind {
                TableKind::View => BTreeMap::new(),
                _ => user_properties(&t.common.properties),
            };
            entry.columns = t
                .column_metadata
                .iter()
                .map(|(c, m)| {
                    let comment = m.comment.clone().filter(|c| !c.is_empty());
                    (c.clone(), ColumnMetadata { comment, tags: m.tags.clone() })
                })
                .filter(|(_, m)| !m.is_empty())
                .collect();
            entry.protection = Some(format!("{:?} {:?}", t.protection, t.constraints));
            if t.kind == TableKind::External && !t.is_delta() {
                // Registered with the primary's columns, partitioning and options.
                entry.definition = Some(format!("{:?} {:?}", t.columns, t.format_options));
            }
            out.insert(t.full_name(), entry);
        }
    }
    for f in s.functions.values() {
        if managed(&f.catalog)
            && config.includes_schema(&f.catalog, &f.schema)
            && !skipped(&[&f.catalog, &f.schema, &f.name])
        {
            // Their comments, owners and grants, as tables'.
            let common = Common { properties: BTreeMap::new(), tags: Tags::new(), ..f.common.clone() };
            let mut entry = seen("function".into(), None, &common);
            entry.definition = Some(format!("{:?} {:?} {} {}", f.language, f.parameters, f.returns, f.body.trim()));
            out.insert(format!("function {}", f.full_name()), entry);
        }
    }
    for m in s.models.values() {
        if managed(&m.catalog)
            && config.includes_schema(&m.catalog, &m.schema)
            && !skipped(&[&m.catalog, &m.schema, &m.name])
        {
            let common = Common {
                owner: m.owner.clone(),
                comment: m.comment.clone(),
                grants: m.grants.clone(),
                ..Common::default()
            };
            let mut entry = seen("model".into(), None, &common);
            entry.definition = Some(format!("{:?} {:?}", m.versions, m.aliases));
            out.insert(format!("model {}", m.full_name()), entry);
        }
    }
    for v in s.volumes.values() {
        if managed(&v.catalog)
            && config.includes_schema(&v.catalog, &v.schema)
            && !skipped(&[&v.catalog, &v.schema, &v.name])
        {
            let mut entry = seen(format!("volume {}", v.volume_type), map(&v.storage_location), &v.common);
            entry.properties = BTreeMap::new();
            // A managed volume's files: each at the primary's size, copied
            // from the primary's current state (the manifest), its folders.
            if let Some(FilesRead::Listed(files)) = s.volume_files.get(&v.full_name()) {
                let held: Vec<(&String, u64, Option<FileState>)> = files
                    .files
                    .iter()
                    .map(|(path, f)| {
                        (path, f.size, if is_primary { Some(*f) } else { files.copied.get(path).copied() })
                    })
                    .collect();
                if !held.is_empty() || !files.directories.is_empty() {
                    entry.definition = Some(format!("{held:?} {:?}", files.directories));
                }
            }
            out.insert(v.full_name(), entry);
        }
    }
    out
}

/// What the plan must not touch: everything outside the scope, except the
/// share catalogs it mounts.
fn out_of_scope(s: &Snapshot, config: &ReplicationConfig) -> Snapshot {
    let managed = |c: &str| s.catalogs.get(c).is_some_and(|c| c.kind == CatalogKind::Managed);
    let mut out = s.clone();
    out.catalogs.retain(|name, c| {
        !(config.is_shared_catalog_name(name) || c.kind == CatalogKind::Managed && config.includes_catalog(name))
    });
    out.schemas.retain(|_, x| !(managed(&x.catalog) && config.includes_schema(&x.catalog, &x.name)));
    out.tables.retain(|_, t| !(managed(&t.catalog) && config.includes_schema(&t.catalog, &t.schema)));
    out.volumes.retain(|_, v| !(managed(&v.catalog) && config.includes_schema(&v.catalog, &v.schema)));
    out.volume_files.retain(|name, _| {
        let parts: Vec<&str> = name.split('.').collect();
        !(parts.len() == 3 && managed(parts[0]) && config.includes_schema(parts[0], parts[1]))
    });
    out.functions.retain(|_, f| !(managed(&f.catalog) && config.includes_schema(&f.catalog, &f.schema)));
    out.models.retain(|_, m| !(managed(&m.catalog) && config.includes_schema(&m.catalog, &m.schema)));
    out.sharing = Default::default();
    out
}

fn check_structure(plan: &Plan) -> Result<(), TestCaseError> {
    let mut seen = HashSet::new();
    for action in &plan.actions {
        for dep in &action.depends_on {
            prop_assert!(seen.contains(dep), "{} depends on {} which does not come before it", action.id, dep);
        }
        prop_assert!(seen.insert(action.id.clone()), "duplicate id {}", action.id);
        if !action.is_runnable() {
            // Blocked: reported with its reason, never sent.
            continue;
        }
        match render(action) {
            Ok(Request::Sql(sql)) => {
                let parsed = sandbox::databricks::sql::parse::parse(&sql);
                prop_assert!(parsed.is_ok(), "the warehouse would not parse {sql:?}: {parsed:?}");
            }
            Ok(_) => {}
            Err(e) => prop_assert!(false, "{} does not render: {e}", action.id),
        }
    }
    Ok(())
}

fn config_for(world: &World, prune: bool, filter: u8) -> ReplicationConfig {
    let mut config = config();
    config.principals = world.principals.clone();
    config.prune = prune;
    let managed: Vec<String> =
        world.primary.catalogs.values().filter(|c| c.kind == CatalogKind::Managed).map(|c| c.name.clone()).collect();
    match filter {
        1 => config.catalogs = Some(managed.iter().take(1).cloned().collect::<BTreeSet<_>>()),
        2 => config.schema_pattern = Some("s0*".into()),
        _ => {}
    }
    config
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn plans_converge_the_secondary_to_the_primary(seed in any::<u64>(), prune in any::<bool>(), filter in 0u8..4) {
        let mut generator = Gen { rng: StdRng::seed_from_u64(seed) };
        let world = generator.world();
        let config = config_for(&world, prune, filter);
        let plan = plan(&world.primary, &world.secondary, &config);

        // (c) order, ids, rendering
        check_structure(&plan)?;
        // Nothing blocked but a grant or owner naming a principal the
        // secondary does not know, each with that reason.
        let unknown = &world.secondary.unknown_principals;
        let names_unknown = |kind: &ActionKind| {
            matches!(kind, ActionKind::Blocked(BlockReason::UnknownPrincipal { principal, .. }) if unknown.contains(principal))
        };
        let other_blocks: Vec<String> = plan.blocked().filter(|a| !names_unknown(&a.kind)).map(|a| a.describe()).collect();
        prop_assert!(other_blocks.is_empty(), "{:?}", other_blocks);

        // (a) the model after the plan equals the primary, in scope
        let after = apply(&plan, &world.secondary);
        let primary = apply_to_primary(&plan, &world.primary);
        // An extra catalog is in scope only without a schema pattern (with
        // one, catalogs are mere containers).
        let (in_scope_extras, other_extras): (Vec<ObjectRef>, Vec<ObjectRef>) = world.extras.iter().cloned().partition(|o| {
            if o.path.len() < 2 {
                config.includes_catalog(&o.path[0]) && config.schema_pattern.is_none()
            } else {
                config.includes_schema(&o.path[0], &o.path[1])
            }
        });
        let mut left_alone = other_extras.clone();
        if !prune {
            left_alone.extend(in_scope_extras.iter().cloned());
        }
        let mut want = replicated(&world.primary, &config, true, &[]);
        let mut got = replicated(&after, &config, false, &left_alone);
        // Grants to a principal the secondary lacks never arrive, and an
        // owner it lacks is not set (whoever owns it there keeps it).
        for (name, entry) in want.iter_mut() {
            entry.grants.retain(|principal, _| !unknown.contains(principal));
            if unknown.contains(&entry.owner) {
                entry.owner = "(unknown on the secondary)".into();
                if let Some(there) = got.get_mut(name) {
                    there.owner = entry.owner.clone();
                }
            }
        }
        prop_assert_eq!(&got, &want);
        for table in world.primary.tables.values().filter(|t| want.contains_key(&t.full_name())) {
            if let Some(DeltaState { last_commit_ms, .. }) = table.delta {
                let clone = after.tables[&table.full_name()].delta;
                prop_assert!(clone.is_some_and(|d| d.last_commit_ms >= last_commit_ms), "{} is stale", table.full_name());
            }
        }
        for extra in &in_scope_extras {
            let name = extra.full_name();
            let present = match extra.kind {
                ObjectKind::Function => after.functions.contains_key(&name),
                _ => after.catalogs.contains_key(&name) || after.schemas.contains_key(&name)
                    || after.tables.contains_key(&name) || after.volumes.contains_key(&name),
            };
            prop_assert_eq!(present, !prune, "extra {} after the plan", extra);
        }
        prop_assert_eq!(plan.extras.len(), if prune { 0 } else { in_scope_extras.len() });
        prop_assert_eq!(out_of_scope(&after, &config), out_of_scope(&world.secondary, &config));

        // (b) nothing left to do; new commits give only their clones
        let again = super::planner::plan(&primary, &after, &config);
        let left: Vec<String> = again.actions.iter().filter(|a| !names_unknown(&a.kind)).map(|a| a.describe()).collect();
        prop_assert!(left.is_empty(), "{:?}", left);
        let drifted = |d: &super::diff::Drift| match &d.change {
            Change::Extra => false,
            Change::Grants { principal, extra, .. } => !unknown.contains(principal) || !extra.is_empty(),
            Change::Owner { primary, .. } => !unknown.contains(primary),
            _ => true,
        };
        let drift: Vec<_> = diff(&primary, &after, &config).into_iter().filter(drifted).collect();
        prop_assert!(drift.is_empty(), "{:?}", drift);

        let mut committed = primary.clone();
        let mut bumped = BTreeSet::new();
        for (name, table) in committed.tables.iter_mut() {
            if let (Some(delta), true) = (table.delta.as_mut(), generator.chance(0.3)) {
                delta.last_commit_ms += 1;
                if want.contains_key(name) {
                    bumped.insert(name.clone());
                }
            }
        }
        let incremental = super::planner::plan(&committed, &after, &config);
        check_structure(&incremental)?;
        let incremental_runs = || incremental.actions.iter().filter(|a| !names_unknown(&a.kind));
        let cloned: BTreeSet<String> = incremental_runs().map(|a| a.object.full_name()).collect();
        prop_assert_eq!(&cloned, &bumped);
        // A refreshed clone carries no row filter or mask: a protected
        // table's are set again right after it, and nothing else runs.
        let only_stale_clones = incremental_runs().all(|a| {
            matches!(a.kind, ActionKind::CloneTable { reason: CloneReason::Stale, .. })
                || matches!(a.kind, ActionKind::SetRowFilter { .. } | ActionKind::SetColumnMask { .. })
                    && committed.tables.get(&a.object.full_name()).is_some_and(|t| !t.protection.is_none())
        });
        prop_assert!(only_stale_clones, "more than incremental clones");
        let after_refresh = apply(&incremental, &after);
        for name in &bumped {
            prop_assert_eq!(&after_refresh.tables[name].protection, &committed.tables[name].protection);
        }
    }
}

#[test]
fn the_generator_makes_interesting_worlds() {
    // Guard against a generator that quietly stops producing the drift the
    // properties are about.
    let mut totals = BTreeMap::<&str, usize>::new();
    for seed in 0..64 {
        let world = Gen { rng: StdRng::seed_from_u64(seed) }.world();
        let plan = plan(&world.primary, &world.secondary, &config_for(&world, false, 0));
        for action in &plan.actions {
            let key = match &action.kind {
                ActionKind::CreateCatalog { .. } => "catalog",
                ActionKind::CloneTable { reason: CloneReason::Stale, .. } => "stale",
                ActionKind::CloneTable { source: super::plan::CloneSource::DeltaPath(_), .. } => "external clone",
                ActionKind::CloneTable { .. } => "clone",
                ActionKind::RegisterExternalTable { .. } => "register",
                ActionKind::CreateView { .. } => "view",
                ActionKind::CreateExternalVolume { .. } => "volume",
                ActionKind::CreateFunction { existing: false, comment: Some(_), .. } => "function comment",
                ActionKind::CreateManagedVolume { .. } => "managed volume",
                ActionKind::CopyVolumeFiles(copy) if copy.copy.iter().any(|f| f.new) => "new files",
                ActionKind::CopyVolumeFiles(copy) if !copy.copy.is_empty() => "changed files",
                ActionKind::CreateFunction { existing: false, .. } => "function",
                ActionKind::CreateFunction { existing: true, .. } => "function update",
                ActionKind::SetRowFilter { .. } => "row filter",
                ActionKind::SetColumnMask { .. } => "mask",
                ActionKind::AddConstraint { constraint } if constraint.is_primary() => "primary key",
                ActionKind::AddConstraint { .. } => "foreign key",
                ActionKind::DropConstraint { .. } => "drop key",
                ActionKind::Grant { principal, .. } | ActionKind::SetOwner { owner: principal }
                    if world.principals.source_of(principal).is_some() =>
                {
                    "mapped principal"
                }
                ActionKind::Revoke { .. } => "revoke",
                ActionKind::SetOwner { .. } => "owner",
                ActionKind::MountSharedCatalog { .. } => "mount",
                ActionKind::UpdateSchema { .. } | ActionKind::UpdateCatalog { .. } => "update",
                ActionKind::CreateDataset { existing: false, .. } => "dataset",
                ActionKind::CreateDataset { existing: true, .. } => "dataset update",
                ActionKind::Model(super::models::ModelChange::Create { .. }) => "model",
                ActionKind::Model(super::models::ModelChange::SetAlias { .. }) => "model alias",
                ActionKind::Model(super::models::ModelChange::SetVersionTag { .. }) => "model version tag",
                ActionKind::Model(super::models::ModelChange::DeleteVersionTag { .. }) => "model version untag",
                ActionKind::Grant { .. } if action.object.kind == ObjectKind::Model => "model grant",
                ActionKind::Blocked(BlockReason::UnknownPrincipal { .. }) => "unknown principal",
                ActionKind::Model(_) => "model update",
                ActionKind::Metadata(change) => match change {
                    MetadataChange::Comment { .. } => "comment",
                    MetadataChange::ColumnComment { .. } => "column comment",
                    MetadataChange::SetTags { column: None, .. } => "tags",
                    MetadataChange::SetTags { column: Some(_), .. } => "column tags",
                    MetadataChange::UnsetTags { .. } => "untag",
                    MetadataChange::SetProperties { .. } => "properties",
                    MetadataChange::UnsetProperties { .. } => "unset properties",
                },
                _ => continue,
            };
            *totals.entry(key).or_default() += 1;
        }
        *totals.entry("extras").or_default() += plan.extras.len();
    }
    for key in [
        "catalog",
        "stale",
        "external clone",
        "clone",
        "register",
        "view",
        "volume",
        "managed volume",
        "new files",
        "changed files",
        "function",
        "function update",
        "function comment",
        "row filter",
        "mask",
        "primary key",
        "foreign key",
        "drop key",
        "revoke",
        "owner",
        "mount",
        "update",
        "dataset",
        "dataset update",
        "model",
        "model alias",
        "model update",
        "model version tag",
        "model version untag",
        "model grant",
        "mapped principal",
        "unknown principal",
        "extras",
        "comment",
        "column comment",
        "tags",
        "column tags",
        "untag",
        "properties",
        "unset properties",
    ] {
        assert!(totals.get(key).copied().unwrap_or(0) >= 3, "{key}: {totals:?}");
    }
}
