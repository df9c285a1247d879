//! Planning: two snapshots and the configuration in, an ordered graph of
//! idempotent actions out. Pure: no I/O, no clock, no randomness, so the same
//! inputs always give the same plan and everything here is unit- and
//! property-tested (see `model.rs` for what each action does).
//!
//! The seed's replication job (six chained tasks) had six faults that must
//! not come back. Where each is prevented:
//!
//! 1. *Managed tables were filtered on `EXTERNAL` and never cloned.* Tables
//!    are dispatched on their own kind in [`plan_table`]: managed Delta
//!    tables are deep-cloned from the mounted share, external Delta tables
//!    from their path; the property tests check every primary table arrives.
//! 2. *Catalogs were not created.* Missing managed catalogs get a
//!    `CreateCatalog` (storage root mapped) that their schemas depend on
//!    ([`Planner::catalogs`]).
//! 3. *Non-Delta external tables were deep-cloned, and failed.* They are
//!    registered on their geo-replicated location with `CREATE TABLE IF NOT
//!    EXISTS … USING fmt LOCATION` and never cloned ([`plan_table`]).
//! 4. *Views had no dependency order.* Views depend on the actions creating
//!    what they read; a cycle is found (Tarjan) and reported as blocked
//!    actions instead of looping ([`Planner::views`]); the plan is sorted so
//!    every dependency comes first.
//! 5. *Grants were compared as effective grants, and owners ignored.* The
//!    snapshot holds direct grants only; `diff` compares them per principal
//!    (add and remove) and owners too, and owner changes run after
//!    everything inside the object ([`Planner::grants_and_owners`]).
//! 6. *Listing was serial, no retry, no dry run, no statement deadline,
//!    results only printed, admin PATs in a file.* Planning is separated from
//!    I/O: the plan is the dry run and the per-object report; every action
//!    is idempotent and has an id, so the executor can run independent ones
//!    concurrently with retries and deadlines under the caller's own token.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::config::ReplicationConfig;
use super::dataset::Dataset;
use super::datasets;
use super::diff::{diff, is_external_volume, Change, Drift, Field};
use super::metadata;
use super::object::{ObjectKind, ObjectRef};
use super::plan::{Action, ActionId, ActionKind, BlockReason, CloneReason, CloneSource, Plan, ProviderRef, Side};
use super::principals::unknown_principal;
use super::snapshot::{CatalogKind, Common, Policy, Protection, Snapshot, TableInfo, TableKind};
use super::storage::{self, Need};
use super::volume_files::{plan_files, FilesRead};

/// The tag of a view taken over by the plan's identity before it is altered.
const TAKE_OVER: &str = "take-owner";

/// Delta Sharing accepts at most this many updates in one share PATCH.
pub const SHARE_UPDATES_PER_CALL: usize = 100;

/// The plan that makes the secondary match the primary under `config`.
pub fn plan(primary: &Snapshot, secondary: &Snapshot, config: &ReplicationConfig) -> Plan {
    let drift = diff(primary, secondary, config);
    let mut planner = Planner {
        primary,
        secondary,
        config,
        actions: Vec::new(),
        ids: HashSet::new(),
        creator: HashMap::new(),
        fresh: BTreeSet::new(),
        extras: Vec::new(),
        protect: HashMap::new(),
    };
    planner.catalogs(&drift);
    planner.schemas(&drift);
    let managed_clones = planner.tables(&drift);
    planner.sharing(managed_clones);
    planner.functions(&drift);
    planner.datasets(&drift);
    planner.views(&drift);
    planner.protection();
    planner.constraints();
    planner.volumes(&drift);
    planner.models();
    planner.metadata(&drift);
    planner.volume_files();
    planner.grants_and_owners(&drift);
    planner.owners_last();
    planner.keys_before_parent_owners();
    let extras = std::mem::take(&mut planner.extras);
    Plan { actions: order(planner.actions), extras, not_compared: metadata::not_compared(primary, secondary) }
}

struct Planner<'a> {
    primary: &'a Snapshot,
    secondary: &'a Snapshot,
    config: &'a ReplicationConfig,
    actions: Vec<Action>,
    ids: HashSet<ActionId>,
    /// Full name → the action creating or replacing that object.
    creator: HashMap<String, ActionId>,
    /// Objects this plan creates: they get every grant and their owner.
    fresh: BTreeSet<ObjectRef>,
    extras: Vec<ObjectRef>,
    /// Table full name → the actions setting its row filter and masks
    /// again on the secondary: its grants wait for them.
    protect: HashMap<String, Vec<ActionId>>,
}

impl Planner<'_> {
    fn push(&mut self, tag: &str, object: ObjectRef, kind: ActionKind, depends_on: Vec<ActionId>) -> ActionId {
        self.push_keyed(tag, object, "", kind, depends_on)
    }

    /// `key` tells apart actions of one tag on one object (the principal of
    /// a grant).
    fn push_keyed(
        &mut self,
        tag: &str,
        object: ObjectRef,
        key: &str,
        kind: ActionKind,
        depends_on: Vec<ActionId>,
    ) -> ActionId {
        let mut base = format!("{tag}:{}:{}", object.kind.as_str().replace(' ', "-"), object.full_name());
        if !key.is_empty() {
            base = format!("{base}:{key}");
        }
        let mut id = ActionId(base.clone());
        let mut n = 2;
        while self.ids.contains(&id) {
            id = ActionId(format!("{base}#{n}"));
            n += 1;
        }
        let mut depends_on = depends_on;
        let mut seen = HashSet::new();
        depends_on.retain(|d| seen.insert(d.clone()));
        self.ids.insert(id.clone());
        self.actions.push(Action { id: id.clone(), object, kind, depends_on });
        id
    }

    /// The actions creating the containers of `path` (its catalog, schema).
    fn parents(&self, path: &[String]) -> Vec<ActionId> {
        (1..path.len()).filter_map(|n| self.creator.get(&path[..n].join(".")).cloned()).collect()
    }

    fn mapped(&self, location: &str) -> Result<String, BlockReason> {
        self.config.mapping.to_secondary(location).ok_or_else(|| BlockReason::Unmapped { location: location.into() })
    }

    fn mapped_root(&self, root: &Option<String>) -> Result<Option<String>, BlockReason> {
        root.as_deref().map(|r| self.mapped(r)).transpose()
    }

    fn extra(&mut self, object: &ObjectRef) {
        if self.config.prune {
            self.push("drop", object.clone(), ActionKind::Drop, Vec::new());
        } else {
            self.extras.push(object.clone());
        }
    }

    fn catalogs(&mut self, drift: &[Drift]) {
        for entry in drift.iter().filter(|d| d.object.kind == ObjectKind::Catalog) {
            let object = entry.object.clone();
            let name = object.full_name();
            match &entry.change {
                Change::Missing => {
                    let Some(catalog) = self.primary.catalogs.get(&name) else { continue };
                    let kind = match self.mapped_root(&catalog.storage_root) {
                        Ok(storage_root) => ActionKind::CreateCatalog {
                            storage_root,
                            comment: catalog.common.comment.clone(),
                            properties: catalog.common.properties.clone(),
                        },
                        Err(reason) => ActionKind::Blocked(reason),
                    };
                    let id = self.push("create", object.clone(), kind, Vec::new());
                    self.creator.insert(name, id);
                    self.fresh.insert(object);
                }
                Change::Different(fields) => {
                    let Some(catalog) = self.primary.catalogs.get(&name) else { continue };
                    if fields.iter().any(|f| matches!(f, Field::Kind { .. })) {
                        let kind = self.secondary.catalogs.get(&name).map(|c| c.kind.clone());
                        let existing = format!("a {:?} catalog", kind.unwrap_or(CatalogKind::Managed));
                        let id = self.push(
                            "blocked",
                            object,
                            ActionKind::Blocked(BlockReason::NameTaken { existing }),
                            vec![],
                        );
                        self.creator.insert(name, id);
                        continue;
                    }
                    if fields.iter().any(|f| matches!(f, Field::StorageLocation { .. })) {
                        let reason = BlockReason::Immutable { what: "storage root".into() };
                        self.push("blocked", object.clone(), ActionKind::Blocked(reason), vec![]);
                    }
                    if fields.iter().any(|f| matches!(f, Field::Comment | Field::Properties)) {
                        let kind = ActionKind::UpdateCatalog {
                            comment: catalog.common.comment.clone(),
                            properties: catalog.common.properties.clone(),
                        };
                        self.push("update", object, kind, vec![]);
                    }
                }
                Change::Extra => self.extra(&object),
                _ => {}
            }
        }
    }

    fn schemas(&mut self, drift: &[Drift]) {
        for entry in drift.iter().filter(|d| d.object.kind == ObjectKind::Schema) {
            let object = entry.object.clone();
            let name = object.full_name();
            let parents = self.parents(&object.path);
            match &entry.change {
                Change::Missing => {
                    let Some(schema) = self.primary.schemas.get(&name) else { continue };
                    let kind = match self.mapped_root(&schema.storage_root) {
                        Ok(storage_root) => ActionKind::CreateSchema {
                            storage_root,
                            comment: schema.common.comment.clone(),
                            properties: schema.common.properties.clone(),
                        },
                        Err(reason) => ActionKind::Blocked(reason),
                    };
                    let id = self.push("create", object.clone(), kind, parents);
                    self.creator.insert(name, id);
                    self.fresh.insert(object);
                }
                Change::Different(fields) => {
                    let Some(schema) = self.primary.schemas.get(&name) else { continue };
                    if fields.iter().any(|f| matches!(f, Field::StorageLocation { .. })) {
                        let reason = BlockReason::Immutable { what: "storage root".into() };
                        self.push("blocked", object.clone(), ActionKind::Blocked(reason), parents.clone());
                    }
                    if fields.iter().any(|f| matches!(f, Field::Comment | Field::Properties)) {
                        let kind = ActionKind::UpdateSchema {
                            comment: schema.common.comment.clone(),
                            properties: schema.common.properties.clone(),
                        };
                        self.push("update", object, kind, parents);
                    }
                }
                Change::Extra => self.extra(&object),
                _ => {}
            }
        }
    }

    /// Tables (not views). Returns the managed clones per catalog (action
    /// index, schema name): they need the catalog's share mounted first.
    fn tables(&mut self, drift: &[Drift]) -> BTreeMap<String, Vec<(usize, String)>> {
        let mut managed_clones: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
        for entry in drift.iter().filter(|d| d.object.kind == ObjectKind::Table) {
            let object = entry.object.clone();
            let reason = match &entry.change {
                Change::Missing => CloneReason::Missing,
                Change::Stale { .. } => CloneReason::Stale,
                Change::Different(_) => CloneReason::Different,
                Change::Extra => {
                    self.extra(&object);
                    continue;
                }
                _ => continue,
            };
            let Some(table) = self.primary.tables.get(&object.full_name()) else { continue };
            if Dataset::of(&table.kind).is_some() {
                // Planned with what they read, in `datasets`.
                continue;
            }
            let (tag, kind) = match table_view_conflict(&entry.change) {
                Some(reason) => ("blocked", ActionKind::Blocked(reason)),
                None => plan_table(self.config, self.secondary, table, reason),
            };
            let managed = table.kind == TableKind::Managed && matches!(kind, ActionKind::CloneTable { .. });
            let parents = self.parents(&object.path);
            let id = self.push(tag, object.clone(), kind, parents);
            if managed {
                managed_clones
                    .entry(table.catalog.clone())
                    .or_default()
                    .push((self.actions.len() - 1, table.schema.clone()));
            }
            self.creator.insert(object.full_name(), id);
            if reason == CloneReason::Missing {
                self.fresh.insert(object);
            }
        }
        managed_clones
    }

    /// The Delta Sharing bootstrap managed clones need: the recipient for the
    /// secondary's metastore, a share per catalog holding its schemas with
    /// managed tables, SELECT for the recipient, the share mounted on the
    /// secondary. Only what is missing is planned.
    fn sharing(&mut self, managed_clones: BTreeMap<String, Vec<(usize, String)>>) {
        // Every schema with a replicated managed Delta table is shared, not
        // only those cloned now: the share is the standing path for later
        // incremental clones, so a re-plan after success finds it in place.
        let mut shared: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for table in self.primary.tables.values() {
            let replicated = super::diff::is_replicated_schema(
                self.primary,
                self.secondary,
                self.config,
                &table.catalog,
                &table.schema,
            );
            if replicated && table.kind == TableKind::Managed && table.is_delta() {
                shared.entry(table.catalog.clone()).or_default().insert(table.schema.clone());
            }
        }
        let mut managed_clones = managed_clones;
        if shared.is_empty() {
            return;
        }
        let recipient = self.config.recipient_name.clone();
        let recipient_ref = ObjectRef::new(ObjectKind::Recipient, [&recipient]);
        let secondary_id = self.secondary.global_metastore_id.clone();
        let recipient_kind = match self.primary.sharing.recipients.get(&recipient) {
            None if secondary_id.is_empty() => {
                Some(ActionKind::Blocked(BlockReason::UnknownMetastoreId { side: Side::Secondary }))
            }
            None => Some(ActionKind::CreateRecipient { global_metastore_id: secondary_id.clone() }),
            Some(id) if !secondary_id.is_empty() && *id != secondary_id => {
                Some(ActionKind::Blocked(BlockReason::RecipientForOtherMetastore {
                    recipient: recipient.clone(),
                    global_metastore_id: id.clone(),
                }))
            }
            Some(_) => None,
        };
        let recipient_dep = recipient_kind.map(|kind| self.push("recipient", recipient_ref, kind, vec![]));

        for (catalog, schemas) in shared {
            let clones = managed_clones.remove(&catalog).unwrap_or_default();
            let share = self.config.share_name(&catalog);
            let share_ref = ObjectRef::new(ObjectKind::Share, [&share]);
            let existing = self.primary.sharing.shares.get(&share);
            let mut bootstrap: Vec<ActionId> = recipient_dep.iter().cloned().collect();
            let created =
                existing.is_none().then(|| self.push("share", share_ref.clone(), ActionKind::CreateShare, vec![]));
            // The DR shares belong to the DR group: a new share is handed to
            // it at once, and one its reader owns is handed over too, so a
            // member who did not create it (or the bot's scheduled run) may
            // extend it. One someone else owns stays theirs to hand over.
            let current = match existing {
                Some(share) => share.owner.clone(),
                None => self.primary.read_as.clone(),
            };
            let transfer = self
                .config
                .share_owner
                .clone()
                .filter(|wanted| *wanted != current && (existing.is_none() || self.reader_is(&current)));
            let share_dep = match transfer.clone() {
                Some(owner) => {
                    let deps = created.iter().cloned().collect();
                    Some(self.push("share-handover", share_ref.clone(), ActionKind::TransferShare { owner }, deps))
                }
                None => created,
            };
            bootstrap.extend(share_dep.clone());

            let shared_schemas: BTreeSet<String> = existing.map(|s| s.schemas.clone()).unwrap_or_default();
            let needed: Vec<&String> =
                schemas.iter().filter(|s| !shared_schemas.contains(&format!("{catalog}.{s}"))).collect();
            // The share's owner once the actions above ran.
            let owner = transfer.unwrap_or(current);
            let not_mine = !owner.is_empty() && !self.primary.read_as.is_empty() && !self.reader_is(&owner);
            let mut chunk_of: HashMap<String, ActionId> = HashMap::new();
            for chunk in needed.chunks(SHARE_UPDATES_PER_CALL) {
                let schemas = chunk.iter().map(|s| vec![catalog.clone(), (*s).clone()]).collect();
                let kind = if not_mine {
                    ActionKind::Blocked(BlockReason::NotShareOwner { share: share.clone(), owner: owner.clone() })
                } else {
                    ActionKind::AddSchemasToShare { schemas }
                };
                let id = self.push("share-schemas", share_ref.clone(), kind, share_dep.iter().cloned().collect());
                for s in chunk {
                    chunk_of.insert((*s).clone(), id.clone());
                }
                bootstrap.push(id);
            }

            let select_dep = existing.is_none_or(|s| !s.recipients_with_select.contains(&recipient)).then(|| {
                let deps = share_dep.iter().chain(recipient_dep.iter()).cloned().collect();
                let kind = ActionKind::GrantShareSelect { recipient: recipient.clone() };
                self.push("share-select", share_ref.clone(), kind, deps)
            });
            bootstrap.extend(select_dep.clone());

            let mounted = self.config.shared_catalog_name(&catalog);
            let mount_ref = ObjectRef::new(ObjectKind::SharedCatalog, [&mounted]);
            let mount_kind = match self.secondary.catalogs.get(&mounted) {
                Some(c)
                    if c.kind == CatalogKind::DeltaSharing && c.share_name.as_deref().is_none_or(|s| s == share) =>
                {
                    None
                }
                Some(c) => {
                    Some(ActionKind::Blocked(BlockReason::NameTaken { existing: format!("a {:?} catalog", c.kind) }))
                }
                None => {
                    let primary_id = &self.primary.global_metastore_id;
                    let known = self.secondary.sharing.providers.iter().find(|(_, id)| *id == primary_id);
                    Some(match known {
                        Some((name, _)) => ActionKind::MountSharedCatalog {
                            share: share.clone(),
                            provider: ProviderRef::Known(name.clone()),
                        },
                        None if primary_id.is_empty() => {
                            ActionKind::Blocked(BlockReason::UnknownMetastoreId { side: Side::Primary })
                        }
                        None => ActionKind::MountSharedCatalog {
                            share: share.clone(),
                            provider: ProviderRef::LookUp { global_metastore_id: primary_id.clone() },
                        },
                    })
                }
            };
            let mount_dep = mount_kind.map(|kind| self.push("mount", mount_ref, kind, bootstrap.clone()));

            // A table its share's owner cannot read is out of the secondary's
            // reach: its clone waits on a blocker that names the grant.
            let mut unreadable: HashMap<String, ActionId> = HashMap::new();
            if !owner.is_empty() {
                let names = self.names_of(&owner);
                let tables: Vec<String> = self
                    .primary
                    .tables
                    .values()
                    .filter(|t| t.catalog == catalog && schemas.contains(&t.schema))
                    .filter(|t| t.kind == TableKind::Managed && t.is_delta() && !reads(self.primary, &names, t))
                    .map(|t| t.full_name())
                    .collect();
                for table in tables {
                    let reason = BlockReason::ShareOwnerCannotRead {
                        share: share.clone(),
                        owner: owner.clone(),
                        table: table.clone(),
                    };
                    let id = self.push_keyed(
                        "share-owner-select",
                        share_ref.clone(),
                        &table,
                        ActionKind::Blocked(reason),
                        vec![],
                    );
                    unreadable.insert(table, id);
                }
            }

            for (index, schema) in clones {
                let blocker = unreadable.get(&self.actions[index].object.full_name()).cloned();
                let action = &mut self.actions[index];
                let deps = recipient_dep.iter().chain(&share_dep).chain(&select_dep).chain(&mount_dep);
                for dep in deps.chain(chunk_of.get(&schema)).chain(blocker.as_ref()) {
                    if !action.depends_on.contains(dep) {
                        action.depends_on.push(dep.clone());
                    }
                }
            }
        }
    }

    /// Views in dependency order; each strongly connected group of more than
    /// one view (or a view reading itself) is blocked as a cycle.
    fn views(&mut self, drift: &[Drift]) {
        let mut wanted: Vec<(ObjectRef, CloneReason)> = Vec::new();
        for entry in drift.iter().filter(|d| d.object.kind == ObjectKind::View) {
            match &entry.change {
                Change::Missing => wanted.push((entry.object.clone(), CloneReason::Missing)),
                Change::Different(_) => match table_view_conflict(&entry.change) {
                    Some(reason) => {
                        let parents = self.parents(&entry.object.path);
                        let id = self.push("view", entry.object.clone(), ActionKind::Blocked(reason), parents);
                        self.creator.insert(entry.object.full_name(), id);
                    }
                    None => wanted.push((entry.object.clone(), CloneReason::Different)),
                },
                Change::Extra => self.extra(&entry.object),
                _ => {}
            }
        }
        wanted.retain(|(o, _)| self.primary.tables.contains_key(&o.full_name()));
        let names: Vec<String> = wanted.iter().map(|(o, _)| o.full_name()).collect();
        let cycle_of =
            cycles(&names, |n| self.primary.tables.get(n).map(|t| t.view_dependencies.as_slice()).unwrap_or(&[]));
        // Ids first, so a view may depend on one planned after it.
        for name in &names {
            self.creator.insert(name.clone(), ActionId(format!("view:view:{name}")));
        }
        for (i, (object, reason)) in wanted.into_iter().enumerate() {
            let Some(view) = self.primary.tables.get(&names[i]) else { continue };
            let mut deps = self.parents(&object.path);
            let mut missing = None;
            for dependency in &view.view_dependencies {
                let in_cycle = cycle_of[i].as_ref().is_some_and(|c| c.contains(dependency));
                if in_cycle {
                    continue;
                }
                match self.creator.get(dependency) {
                    Some(id) => deps.push(id.clone()),
                    None if self.on_secondary(dependency) => {}
                    None => missing = missing.or(Some(dependency.clone())),
                }
            }
            let kind = match (&cycle_of[i], missing, &view.view_definition) {
                (Some(cycle), _, _) => ActionKind::Blocked(BlockReason::ViewCycle { cycle: cycle.clone() }),
                (None, Some(dependency), _) => ActionKind::Blocked(BlockReason::MissingDependency { dependency }),
                (None, None, None) => {
                    ActionKind::Blocked(BlockReason::Unsupported { what: "a view without a definition".into() })
                }
                (None, None, Some(definition)) => ActionKind::CreateView {
                    definition: definition.clone(),
                    dependencies: view.view_dependencies.clone(),
                    existing: reason != CloneReason::Missing,
                },
            };
            let primary_owner = self.config.principals.common(&view.common).owner;
            let altered = matches!(kind, ActionKind::CreateView { existing: true, .. });
            let taken_from = if altered { self.take_over(&object, &mut deps) } else { None };
            let id = self.push("view", object.clone(), kind, deps);
            debug_assert_eq!(Some(&id), self.creator.get(&names[i]));
            if let Some(owner) = taken_from {
                // Handed back, unless the owner changes anyway (to the
                // primary's, in `grants_and_owners`).
                if primary_owner.is_empty() || primary_owner == owner {
                    self.push("owner", object.clone(), ActionKind::SetOwner { owner }, vec![id]);
                }
            }
            if reason == CloneReason::Missing {
                self.fresh.insert(object);
            }
        }
    }

    /// User-defined functions, each after what it reads (tables, views and
    /// other functions) and before the views, row filters and masks that
    /// call it. SQL functions are created (`CREATE FUNCTION IF NOT EXISTS`)
    /// or redefined (`CREATE OR REPLACE FUNCTION`); functions in another
    /// language are reported blocked. Functions calling each other in a
    /// cycle are blocked like views.
    fn functions(&mut self, drift: &[Drift]) {
        let mut wanted: Vec<(ObjectRef, bool)> = Vec::new();
        for entry in drift.iter().filter(|d| d.object.kind == ObjectKind::Function) {
            match &entry.change {
                Change::Missing => wanted.push((entry.object.clone(), false)),
                Change::Different(_) => wanted.push((entry.object.clone(), true)),
                Change::Extra => self.extra(&entry.object),
                _ => {}
            }
        }
        wanted.retain(|(o, _)| self.primary.functions.contains_key(&o.full_name()));
        // Views this plan creates or alters get their ids in `views`, after
        // this: a function reading one waits for that id.
        let planned_views = planned_views(drift);
        let names: Vec<String> = wanted.iter().map(|(o, _)| o.full_name()).collect();
        let cycle_of =
            cycles(&names, |n| self.primary.functions.get(n).map(|f| f.dependencies.as_slice()).unwrap_or(&[]));
        for name in &names {
            self.creator.insert(name.clone(), ActionId(format!("function:function:{name}")));
        }
        for (i, (object, existing)) in wanted.into_iter().enumerate() {
            let Some(function) = self.primary.functions.get(&names[i]) else { continue };
            let mut deps = self.parents(&object.path);
            let mut missing = None;
            for dependency in &function.dependencies {
                if cycle_of[i].as_ref().is_some_and(|c| c.contains(dependency)) {
                    continue;
                }
                match self.wait_for(dependency, &planned_views) {
                    Some(wait) => deps.extend(wait),
                    None => missing = missing.or(Some(dependency.clone())),
                }
            }
            let kind = match (&cycle_of[i], missing) {
                (Some(cycle), _) => ActionKind::Blocked(BlockReason::ViewCycle { cycle: cycle.clone() }),
                (None, Some(dependency)) => ActionKind::Blocked(BlockReason::MissingDependency { dependency }),
                (None, None) if !function.is_sql() => ActionKind::Blocked(BlockReason::Unsupported {
                    what: format!(
                        "a {} function (drbot re-creates SQL functions; create it on the secondary by hand)",
                        function.language
                    ),
                }),
                (None, None) => ActionKind::CreateFunction {
                    parameters: function.parameters.clone(),
                    returns: function.returns.clone(),
                    body: function.body.clone(),
                    dependencies: function.dependencies.clone(),
                    existing,
                    comment: function.common.comment.clone().filter(|c| !c.is_empty()),
                },
            };
            if !existing {
                // A new function gets the primary's grants and owner.
                self.fresh.insert(object.clone());
            }
            let id = self.push("function", object, kind, deps);
            debug_assert_eq!(Some(&id), self.creator.get(&names[i]));
        }
    }

    /// Materialized views and streaming tables (`datasets.rs`), each after
    /// the tables, views and functions it reads and before the views that
    /// read it; one whose kind differs on the secondary is blocked (a table
    /// cannot be turned into a dataset in place, nor the reverse).
    fn datasets(&mut self, drift: &[Drift]) {
        let planned_views = planned_views(drift);
        for entry in drift.iter().filter(|d| d.object.kind == ObjectKind::Table) {
            let object = entry.object.clone();
            let name = object.full_name();
            let Some(table) = self.primary.tables.get(&name) else { continue };
            let Some(dataset) = Dataset::of(&table.kind) else { continue };
            let kind = match &entry.change {
                Change::Missing => datasets::action(table, dataset, false),
                Change::Different(fields) if fields.iter().any(|f| matches!(f, Field::Kind { .. })) => {
                    let secondary = self.secondary.tables.get(&name).map(|t| super::diff::table_kind_name(&t.kind));
                    ActionKind::Blocked(BlockReason::Immutable {
                        what: format!(
                            "object kind ({} where the primary has {})",
                            secondary.unwrap_or_default(),
                            super::diff::table_kind_name(&table.kind)
                        ),
                    })
                }
                Change::Different(_) => datasets::action(table, dataset, true),
                _ => continue,
            };
            let mut deps = self.parents(&object.path);
            let mut missing = None;
            for dependency in &table.view_dependencies {
                match self.wait_for(dependency, &planned_views) {
                    Some(wait) => deps.extend(wait),
                    None => missing = missing.or(Some(dependency.clone())),
                }
            }
            let kind = match (kind, missing) {
                (ActionKind::CreateDataset { .. }, Some(dependency)) => {
                    ActionKind::Blocked(BlockReason::MissingDependency { dependency })
                }
                (kind, _) => kind,
            };
            let id = self.push("dataset", object.clone(), kind, deps);
            self.creator.insert(name, id);
            if entry.change == Change::Missing {
                self.fresh.insert(object);
            }
        }
    }

    /// Registered models (`models.rs`), each after its schema.
    fn models(&mut self) {
        let (planned, extras) = super::models::plan(self.primary, self.secondary, self.config);
        let mut ids: Vec<ActionId> = Vec::with_capacity(planned.len());
        for entry in planned {
            let mut deps = self.parents(&entry.object.path);
            deps.extend(entry.after.iter().filter_map(|&i| ids.get(i).cloned()));
            ids.push(self.push_keyed(entry.tag, entry.object, &entry.key, entry.kind, deps));
        }
        // Reported; dropping a registered model (and its versions' files) is
        // left to a person even with `prune`, which says so per model.
        for object in extras {
            if self.config.prune {
                let reason = BlockReason::Unsupported {
                    what: "dropping a registered model and its versions' files (delete it by hand if it should go)"
                        .into(),
                };
                self.push("drop", object, ActionKind::Blocked(reason), Vec::new());
            } else {
                self.extras.push(object);
            }
        }
    }

    /// What an object reading `dependency` waits for: the action making it
    /// in this plan (a view planned later, by its known id), or nothing
    /// when the secondary has it (`Some(None)`); `None` when neither.
    fn wait_for(&self, dependency: &str, planned_views: &HashSet<String>) -> Option<Option<ActionId>> {
        match self.creator.get(dependency) {
            Some(id) => Some(Some(id.clone())),
            None if planned_views.contains(dependency) => Some(Some(ActionId(format!("view:view:{dependency}")))),
            None if self.on_secondary(dependency) => Some(None),
            None => None,
        }
    }

    /// Whether the secondary already holds a table, view or function of this name.
    fn on_secondary(&self, full_name: &str) -> bool {
        self.secondary.tables.contains_key(full_name) || self.secondary.functions.contains_key(full_name)
    }

    /// Row filters and column masks: a deep clone carries none, so every
    /// table the primary protects gets its filter and masks set again on
    /// the secondary after its clone (or registration) and after the
    /// functions they call; a copy already protected alike gets nothing.
    /// The table's grants wait for these actions (`push_grant`): until the
    /// protection is in place only the identity running the plan reads the
    /// copy. A filter or mask dropped on the primary is dropped here too.
    ///
    /// The clone reads the table through the share, as the share's owner
    /// sees it: Databricks lets a provider share a filtered or masked table
    /// when the share owner is exempt from the policies, and the recipient
    /// then reads it unfiltered ("Delta Sharing and ABAC", FIDELITY.md).
    fn protection(&mut self) {
        let tables: Vec<&TableInfo> = self
            .primary
            .tables
            .values()
            .filter(|t| t.kind != TableKind::View)
            .filter(|t| {
                super::diff::is_replicated_schema(self.primary, self.secondary, self.config, &t.catalog, &t.schema)
            })
            .collect();
        for table in tables {
            let name = table.full_name();
            let creator = self.creator.get(&name).and_then(|id| self.actions.iter().rev().find(|a| &a.id == id));
            let replaced = creator.is_some_and(|a| {
                matches!(a.kind, ActionKind::CloneTable { .. } | ActionKind::RegisterExternalTable { .. })
            });
            let creator_id = creator.map(|a| a.id.clone());
            let after = match self.secondary.tables.get(&name) {
                Some(copy) if !replaced => copy.protection.clone(),
                Some(_) => Protection::default(),
                None if creator_id.is_some() => Protection::default(),
                // Not there and not made by this plan: nothing to protect yet.
                None => continue,
            };
            let wanted = &table.protection;
            if after == *wanted {
                continue;
            }
            let object = super::diff::table_ref(table);
            let mut parents = self.parents(&object.path);
            parents.extend(creator_id);
            let mut ids = Vec::new();
            if after.row_filter != wanted.row_filter {
                let filter = wanted.row_filter.clone();
                let (kind, deps) = self.policy_action(filter.as_ref(), &parents, |filter| ActionKind::SetRowFilter {
                    filter: filter.cloned(),
                });
                ids.push(self.push_keyed("protect", object.clone(), "row-filter", kind, deps));
            }
            let columns: BTreeSet<&String> = after.column_masks.keys().chain(wanted.column_masks.keys()).collect();
            for column in columns {
                let mask = wanted.column_masks.get(column);
                if after.column_masks.get(column) == mask {
                    continue;
                }
                let (kind, deps) = self.policy_action(mask, &parents, |mask| ActionKind::SetColumnMask {
                    column: column.clone(),
                    mask: mask.cloned(),
                });
                ids.push(self.push_keyed("protect", object.clone(), &format!("mask:{column}"), kind, deps));
            }
            self.protect.insert(name, ids);
        }
    }

    /// Informational primary and foreign keys (`constraints.rs`): each key
    /// the primary declares on a replicated table is added on the
    /// secondary's copy, and a key only the secondary has (or defined
    /// differently there) is dropped. A clone creating a table carries none;
    /// one replacing a table leaves its keys (Unity Catalog keeps them with
    /// the table). Order, as Databricks requires: foreign keys are dropped
    /// before the primary keys they reference, a name is added only after
    /// the key that held it in the schema is dropped, and a foreign key is
    /// added after its parent's primary key; one whose parent key the
    /// secondary will not have is blocked with the reason.
    fn constraints(&mut self) {
        use super::constraints::{change, Constraint, KeyChange};
        let replicated = |t: &TableInfo| {
            t.kind != TableKind::View
                && super::diff::is_replicated_schema(self.primary, self.secondary, self.config, &t.catalog, &t.schema)
        };
        // What each table of the secondary will hold before these actions:
        // its keys, or none when this plan creates it.
        let mut held: HashMap<String, Vec<Constraint>> = self
            .secondary
            .tables
            .iter()
            .filter(|(_, t)| t.kind != TableKind::View)
            .map(|(name, t)| (name.clone(), t.constraints.clone()))
            .collect();
        for name in self.creator.keys() {
            if self.primary.tables.get(name).is_some_and(|t| t.kind != TableKind::View) {
                held.entry(name.clone()).or_default();
            }
        }
        let held_of = |name: &str| held.get(name).cloned();
        let mut changes: BTreeMap<String, KeyChange> = BTreeMap::new();
        for table in self.primary.tables.values().filter(|t| replicated(t)) {
            let name = table.full_name();
            let Some(held) = held_of(&name) else { continue };
            let wanted = change(&table.constraints, &held);
            if !wanted.is_empty() {
                changes.insert(name, wanted);
            }
        }
        // A primary key dropped here takes the secondary's foreign keys
        // referencing it first; those the primary has are added again.
        let dropped_keys: BTreeSet<String> = changes
            .iter()
            .filter(|(_, c)| c.drop.iter().any(Constraint::is_primary))
            .map(|(name, _)| name.clone())
            .collect();
        for (name, table) in &self.secondary.tables {
            for key in table.constraints.iter().filter(|c| c.parent().is_some_and(|p| dropped_keys.contains(p))) {
                let entry = changes.entry(name.clone()).or_default();
                if !entry.drop.contains(key) {
                    entry.drop.push(key.clone());
                    let again = self
                        .primary
                        .tables
                        .get(name)
                        .filter(|t| replicated(t))
                        .and_then(|t| t.constraints.iter().find(|c| *c == key).cloned());
                    if let Some(again) = again.filter(|a| !entry.add.contains(a)) {
                        entry.add.push(again);
                    }
                }
            }
        }
        let object_of = |name: &str| {
            let kind = ObjectKind::Table;
            ObjectRef::new(kind, name.split('.'))
        };
        let schema_of = |name: &str| name.rsplit_once('.').map_or(String::new(), |(s, _)| s.to_string());
        // Drops: foreign keys first, then the primary keys they reference.
        let mut drops_by_name: HashMap<(String, String), Vec<ActionId>> = HashMap::new();
        let mut fk_drops_by_parent: HashMap<String, Vec<ActionId>> = HashMap::new();
        let mut pk_drops: HashMap<String, Vec<ActionId>> = HashMap::new();
        for primary_pass in [false, true] {
            for (name, change) in &changes {
                let object = object_of(name);
                for key in change.drop.iter().filter(|k| k.is_primary() == primary_pass) {
                    let mut deps = self.parents(&object.path);
                    deps.extend(self.creator.get(name).cloned());
                    if primary_pass {
                        deps.extend(fk_drops_by_parent.get(name).into_iter().flatten().cloned());
                    }
                    let kind = ActionKind::DropConstraint { name: key.name.clone() };
                    let id = self.push_keyed("constraint", object.clone(), &format!("drop:{}", key.name), kind, deps);
                    drops_by_name.entry((schema_of(name), key.name.clone())).or_default().push(id.clone());
                    match key.parent() {
                        Some(parent) => fk_drops_by_parent.entry(parent.to_string()).or_default().push(id),
                        None => pk_drops.entry(name.clone()).or_default().push(id),
                    }
                }
            }
        }
        // Adds: primary keys, then the foreign keys naming them.
        let mut pk_adds: HashMap<String, (ActionId, Vec<String>)> = HashMap::new();
        for primary_pass in [true, false] {
            for (name, change) in &changes {
                let object = object_of(name);
                for key in change.add.iter().filter(|k| k.is_primary() == primary_pass) {
                    let mut deps = self.parents(&object.path);
                    deps.extend(self.creator.get(name).cloned());
                    deps.extend(drops_by_name.get(&(schema_of(name), key.name.clone())).into_iter().flatten().cloned());
                    let mut kind = ActionKind::AddConstraint { constraint: key.clone() };
                    match &key.key {
                        super::constraints::Key::Primary => {
                            deps.extend(pk_drops.get(name).into_iter().flatten().cloned());
                        }
                        super::constraints::Key::Foreign { parent_table, parent_columns } => {
                            match pk_adds.get(parent_table) {
                                Some((id, columns)) if columns == parent_columns => deps.push(id.clone()),
                                _ => {
                                    // The parent's key as the secondary keeps it.
                                    let kept = held_of(parent_table).is_some_and(|held| {
                                        let dropped =
                                            changes.get(parent_table).map(|c| c.drop.as_slice()).unwrap_or(&[]);
                                        held.iter().any(|c| {
                                            c.is_primary() && &c.columns == parent_columns && !dropped.contains(c)
                                        })
                                    });
                                    if kept {
                                        deps.extend(self.creator.get(parent_table).cloned());
                                    } else {
                                        kind = ActionKind::Blocked(BlockReason::MissingKey {
                                            parent: parent_table.clone(),
                                        });
                                    }
                                }
                            }
                        }
                    }
                    let id = self.push_keyed("constraint", object.clone(), &format!("add:{}", key.name), kind, deps);
                    if key.is_primary() {
                        pk_adds.insert(name.clone(), (id, key.columns.clone()));
                    }
                }
            }
        }
    }

    /// A foreign key is added by the owner of its parent table too (the
    /// table constraints API), so the parent's hand-over to its primary
    /// owner waits for the foreign keys added to it.
    fn keys_before_parent_owners(&mut self) {
        let mut waits: HashMap<String, Vec<ActionId>> = HashMap::new();
        for action in &self.actions {
            if let ActionKind::AddConstraint { constraint } = &action.kind {
                if let Some(parent) = constraint.parent() {
                    waits.entry(parent.to_string()).or_default().push(action.id.clone());
                }
            }
        }
        for action in &mut self.actions {
            let is_owner = matches!(action.kind, ActionKind::SetOwner { .. }) && !action.id.0.starts_with(TAKE_OVER);
            if !is_owner || action.object.kind != ObjectKind::Table {
                continue;
            }
            for id in waits.get(&action.object.full_name()).into_iter().flatten() {
                if !action.depends_on.contains(id) {
                    action.depends_on.push(id.clone());
                }
            }
        }
    }

    /// The action setting one filter or mask (`make`) and what it waits
    /// for: the table, and the function unless the secondary has it; blocked
    /// when neither the secondary nor this plan has the function.
    fn policy_action(
        &self,
        policy: Option<&Policy>,
        parents: &[ActionId],
        make: impl Fn(Option<&Policy>) -> ActionKind,
    ) -> (ActionKind, Vec<ActionId>) {
        let mut deps = parents.to_vec();
        let Some(policy) = policy else { return (make(None), deps) };
        match self.creator.get(&policy.function_name) {
            Some(id) => deps.push(id.clone()),
            None if self.secondary.functions.contains_key(&policy.function_name) => {}
            None => {
                let reason = BlockReason::MissingDependency { dependency: policy.function_name.clone() };
                return (ActionKind::Blocked(reason), deps);
            }
        }
        (make(Some(policy)), deps)
    }

    /// Whether the identity that reads (and runs) the plan is `owner` or a
    /// member of it.
    fn reader_is(&self, owner: &str) -> bool {
        self.names_of(&self.primary.read_as).contains(owner)
    }

    /// The names a principal holds privileges by on the primary: its own,
    /// the groups the reader is in when it is the reader (SCIM `Me`), and
    /// `account users`, which every user of the account belongs to.
    fn names_of(&self, principal: &str) -> BTreeSet<String> {
        principal_names(self.primary, principal)
    }

    /// Only a view's owner may change its definition (`ALTER VIEW … AS`,
    /// Databricks' ALTER VIEW reference), and drbot hands views to the
    /// primary's owners: when the identity running the plan does not own
    /// the secondary's view, it takes it over first (`ALTER VIEW … OWNER
    /// TO` itself, which a metastore admin may do) and the view waits for
    /// that. Returns the owner to hand the view back to.
    ///
    /// The identity is the secondary snapshot's `read_as`, and the plan
    /// runs as that same identity: both sides are read with the token the
    /// run uses. In chat a plan runs only for the person who read it (Run
    /// refuses anyone else, and a resumed run acts only with that person's
    /// token, checked by object id); the local bot reads and runs as its own
    /// identity; `drbot replicate` reads and runs with one token. A run by
    /// another identity would fail loudly here, not silently: its take-over
    /// hands the view to the reader, and its `ALTER VIEW` is then refused.
    fn take_over(&mut self, object: &ObjectRef, deps: &mut Vec<ActionId>) -> Option<String> {
        let me = &self.secondary.read_as;
        let owner = &self.secondary.tables.get(&object.full_name())?.common.owner;
        if me.is_empty() || owner == me {
            return None;
        }
        let owner = owner.clone();
        let parents = self.parents(&object.path);
        let kind = ActionKind::SetOwner { owner: me.clone() };
        deps.push(self.push(TAKE_OVER, object.clone(), kind, parents));
        Some(owner)
    }

    fn volumes(&mut self, drift: &[Drift]) {
        for entry in drift.iter().filter(|d| d.object.kind == ObjectKind::Volume) {
            let object = entry.object.clone();
            let parents = self.parents(&object.path);
            let kind = match &entry.change {
                Change::Missing => {
                    let Some(volume) = self.primary.volumes.get(&object.full_name()) else { continue };
                    self.fresh.insert(object.clone());
                    match (&volume.storage_location, is_external_volume(volume)) {
                        (Some(location), true) => match self.mapped(location).and_then(|location| {
                            storage::check(
                                self.secondary,
                                &location,
                                Need::CreateExternalVolume,
                                Some(&object.full_name()),
                            )
                            .map(|()| location)
                            .map_err(BlockReason::Storage)
                        }) {
                            Ok(location) => ActionKind::CreateExternalVolume { location },
                            Err(reason) => ActionKind::Blocked(reason),
                        },
                        (None, true) => ActionKind::Blocked(BlockReason::Unsupported {
                            what: "an external volume without a location".into(),
                        }),
                        (_, false) if volume.volume_type.eq_ignore_ascii_case("MANAGED") => {
                            ActionKind::CreateManagedVolume { comment: volume.common.comment.clone() }
                        }
                        (_, false) => ActionKind::Blocked(BlockReason::Unsupported {
                            what: format!(
                                "a {} volume (only external volumes' files are geo-replicated)",
                                volume.volume_type
                            ),
                        }),
                    }
                }
                // Its files are copied by `volume_files` (from the listings).
                Change::Different(fields) if fields.iter().all(|f| matches!(f, Field::Files { .. })) => continue,
                Change::Different(_) => {
                    ActionKind::Blocked(BlockReason::Immutable { what: "volume type or location".into() })
                }
                Change::Extra => {
                    self.extra(&object);
                    continue;
                }
                _ => continue,
            };
            let tag = if matches!(kind, ActionKind::Blocked(_)) { "blocked" } else { "create" };
            let id = self.push(tag, object.clone(), kind, parents);
            if self.fresh.contains(&object) {
                self.creator.insert(object.full_name(), id);
            }
        }
    }

    /// Comments, tags and table properties (`metadata.rs`): everything the
    /// primary has on an object this plan creates (a clone or a create
    /// carries none of it), and what differs on one both sides hold. Each
    /// change waits for the object's creation; the object's owner change
    /// waits for them (`owners_last`), so drbot still may make them.
    fn metadata(&mut self, drift: &[Drift]) {
        let tags = metadata::tags_known(self.primary, self.secondary);
        let mut wanted = Vec::new();
        for object in &self.fresh {
            if let Some(primary) = metadata_of(self.primary, object) {
                wanted.push((object.clone(), metadata::changes(object.kind, primary, None, tags)));
            }
        }
        for entry in drift.iter().filter(|d| matches!(d.change, Change::Metadata(_))) {
            let object = &entry.object;
            if let (Some(primary), Some(secondary)) =
                (metadata_of(self.primary, object), metadata_of(self.secondary, object))
            {
                wanted.push((object.clone(), metadata::changes(object.kind, primary, Some(secondary), tags)));
            }
        }
        for (object, changes) in wanted {
            let mut deps = self.parents(&object.path);
            deps.extend(self.creator.get(&object.full_name()).cloned());
            for (key, change) in changes {
                self.push_keyed("metadata", object.clone(), &key, ActionKind::Metadata(change), deps.clone());
            }
        }
    }

    /// Each listed managed volume's files (`volume_files.rs`), after the
    /// volume itself; nothing for a volume whose secondary is not a managed
    /// volume (that is reported on the volume).
    fn volume_files(&mut self) {
        for (name, read) in &self.primary.volume_files {
            let Some(volume) = self.primary.volumes.get(name) else { continue };
            let in_scope = self.primary.catalogs.get(&volume.catalog).is_some_and(|c| c.kind == CatalogKind::Managed)
                && self.secondary.catalogs.get(&volume.catalog).is_none_or(|c| c.kind == CatalogKind::Managed)
                && self.config.includes_schema(&volume.catalog, &volume.schema);
            let there = self.secondary.volumes.get(name);
            if !in_scope || is_external_volume(volume) || there.is_some_and(is_external_volume) {
                continue;
            }
            let object = super::diff::volume_ref(volume);
            let mut deps = self.parents(&object.path);
            deps.extend(self.creator.get(name).cloned());
            let secondary = match (there, self.secondary.volume_files.get(name)) {
                (Some(_), Some(FilesRead::Unreadable(reason))) => Err((Side::Secondary, reason.clone())),
                (Some(_), Some(FilesRead::Listed(files))) => Ok(Some(files)),
                _ => Ok(None),
            };
            let kind = match (read, secondary) {
                (FilesRead::Unreadable(reason), _) => {
                    ActionKind::Blocked(BlockReason::FilesUnreadable { side: Side::Primary, reason: reason.clone() })
                }
                (_, Err((side, reason))) => ActionKind::Blocked(BlockReason::FilesUnreadable { side, reason }),
                (FilesRead::Listed(files), Ok(secondary)) => {
                    let copy = plan_files(files, secondary, self.config.prune);
                    if copy.is_empty() {
                        continue;
                    }
                    ActionKind::CopyVolumeFiles(copy)
                }
            };
            self.push("files", object, kind, deps);
        }
    }

    fn primary_common(&self, object: &ObjectRef) -> Option<&Common> {
        let name = object.full_name();
        match object.kind {
            ObjectKind::Catalog => self.primary.catalogs.get(&name).map(|c| &c.common),
            ObjectKind::Schema => self.primary.schemas.get(&name).map(|s| &s.common),
            ObjectKind::Table | ObjectKind::View => self.primary.tables.get(&name).map(|t| &t.common),
            ObjectKind::Volume => self.primary.volumes.get(&name).map(|v| &v.common),
            ObjectKind::Function => self.primary.functions.get(&name).map(|f| &f.common),
            _ => None,
        }
    }

    /// Direct grants (added and revoked) and owners. A new object gets all of
    /// the primary's; an existing one what the diff found.
    fn grants_and_owners(&mut self, drift: &[Drift]) {
        let fresh: Vec<ObjectRef> = self.fresh.iter().cloned().collect();
        for object in fresh {
            let Some(common) = self.primary_common(&object).map(|c| self.config.principals.common(c)) else { continue };
            let deps: Vec<ActionId> = self.creator.get(&object.full_name()).into_iter().cloned().collect();
            for (principal, privileges) in &common.grants {
                if !privileges.is_empty() {
                    let kind = ActionKind::Grant { principal: principal.clone(), privileges: privileges.clone() };
                    self.push_grant("grant", &object, principal, kind, deps.clone());
                }
            }
            if !common.owner.is_empty() {
                self.push_owner(&object, &common.owner, deps);
            }
        }
        // A registered model's grants and owner are planned with it (`models.rs`).
        for entry in drift.iter().filter(|d| d.object.kind != ObjectKind::Model) {
            let object = &entry.object;
            let deps: Vec<ActionId> = self.creator.get(&object.full_name()).into_iter().cloned().collect();
            match &entry.change {
                Change::Grants { principal, missing, extra } => {
                    if !missing.is_empty() {
                        let kind = ActionKind::Grant { principal: principal.clone(), privileges: missing.clone() };
                        self.push_grant("grant", object, principal, kind, deps.clone());
                    }
                    if !extra.is_empty() {
                        let kind = ActionKind::Revoke { principal: principal.clone(), privileges: extra.clone() };
                        self.push_grant("revoke", object, principal, kind, deps);
                    }
                }
                Change::Owner { primary, .. } if !primary.is_empty() => {
                    self.push_owner(object, primary, deps);
                }
                _ => {}
            }
        }
    }

    fn push_grant(&mut self, tag: &str, object: &ObjectRef, principal: &str, kind: ActionKind, deps: Vec<ActionId>) {
        let mut deps = deps;
        if matches!(kind, ActionKind::Grant { .. }) {
            deps.extend(self.protect.get(&object.full_name()).into_iter().flatten().cloned());
        }
        let kind = match (&kind, self.unprotected(object), self.unknown(principal)) {
            (ActionKind::Grant { .. }, _, Some(reason)) | (ActionKind::Grant { .. }, Some(reason), _) => {
                ActionKind::Blocked(reason)
            }
            _ => kind,
        };
        self.push_keyed(tag, object.clone(), principal, kind, deps);
    }

    /// The owner change of `object` to `owner` (a secondary name), blocked
    /// when the secondary does not know `owner`.
    fn push_owner(&mut self, object: &ObjectRef, owner: &str, deps: Vec<ActionId>) {
        let kind = match self.unknown(owner) {
            Some(reason) => ActionKind::Blocked(reason),
            None => ActionKind::SetOwner { owner: owner.to_string() },
        };
        self.push("owner", object.clone(), kind, deps);
    }

    /// Why `principal` (a secondary name) cannot be granted to or own
    /// anything there: the secondary's read found no such principal.
    fn unknown(&self, principal: &str) -> Option<BlockReason> {
        unknown_principal(self.secondary, self.config, principal)
    }

    /// Why granting on `object` would expose what the primary hides: it is a
    /// table the primary protects (row filter, column masks) and one of the
    /// actions setting that protection on the secondary cannot run (its
    /// function cannot be made there). The grant is then blocked with the
    /// reason instead of waiting silently; otherwise it simply runs after
    /// those actions (`protection`).
    fn unprotected(&self, object: &ObjectRef) -> Option<BlockReason> {
        if object.kind != ObjectKind::Table {
            return None;
        }
        let name = object.full_name();
        let wanted = &self.primary.tables.get(&name)?.protection;
        if wanted.is_none() {
            return None;
        }
        let ids = self.protect.get(&name)?;
        let blocked = ids.iter().any(|id| self.cannot_run(id));
        blocked.then(|| BlockReason::Unprotected { protection: wanted.describe() })
    }

    /// Whether the action `id` is blocked, or waits (transitively) on one
    /// that is.
    fn cannot_run(&self, id: &ActionId) -> bool {
        let by_id: HashMap<&ActionId, &Action> = self.actions.iter().map(|a| (&a.id, a)).collect();
        let mut seen = HashSet::new();
        let mut work = vec![id];
        while let Some(next) = work.pop() {
            if !seen.insert(next) {
                continue;
            }
            let Some(action) = by_id.get(next) else { continue };
            if !action.is_runnable() {
                return true;
            }
            work.extend(action.depends_on.iter());
        }
        false
    }

    /// An owner change runs after everything inside the object (its
    /// children, their grants and owners), so drbot never loses the right to
    /// finish what it started by handing an object over too early.
    fn owners_last(&mut self) {
        let mut by_path: BTreeMap<Vec<String>, Vec<usize>> = BTreeMap::new();
        for (i, action) in self.actions.iter().enumerate() {
            let inside = action.object.kind.is_securable() || action.object.kind == ObjectKind::Function;
            if action.side() == Side::Secondary && inside {
                by_path.entry(action.object.path.clone()).or_default().push(i);
            }
        }
        for i in 0..self.actions.len() {
            if !matches!(self.actions[i].kind, ActionKind::SetOwner { .. })
                || self.actions[i].id.0.starts_with(TAKE_OVER)
            {
                // A take-over runs before what it is for.
                continue;
            }
            let owner_object = self.actions[i].object.clone();
            let mut deps = Vec::new();
            for (path, indices) in by_path.range(owner_object.path.clone()..) {
                if !path.starts_with(&owner_object.path) {
                    break;
                }
                for &j in indices {
                    // A grant blocked for its principal never runs; the
                    // owner does not wait for it (nor skip with it).
                    let unknown_principal =
                        matches!(self.actions[j].kind, ActionKind::Blocked(BlockReason::UnknownPrincipal { .. }));
                    if j != i && !unknown_principal && self.actions[j].object.is_within(&owner_object) {
                        let inner_owner = path.len() == owner_object.path.len()
                            && matches!(self.actions[j].kind, ActionKind::SetOwner { .. });
                        if !inner_owner {
                            deps.push(self.actions[j].id.clone());
                        }
                    }
                }
            }
            let action = &mut self.actions[i];
            for dep in deps {
                if !action.depends_on.contains(&dep) {
                    action.depends_on.push(dep);
                }
            }
        }
    }
}

/// The views this plan creates or alters: they get their ids in
/// `Planner::views`, after the functions and datasets that may read them.
fn planned_views(drift: &[Drift]) -> HashSet<String> {
    drift
        .iter()
        .filter(|d| d.object.kind == ObjectKind::View && matches!(d.change, Change::Missing | Change::Different(_)))
        .map(|d| d.object.full_name())
        .collect()
}

/// The metadata `snapshot` holds of `object` (`metadata.rs`).
fn metadata_of<'a>(snapshot: &'a Snapshot, object: &ObjectRef) -> Option<metadata::Side<'a>> {
    let name = object.full_name();
    let plain = |common| Some(metadata::Side { common, columns: None });
    match object.kind {
        ObjectKind::Catalog => snapshot.catalogs.get(&name).and_then(|c| plain(&c.common)),
        ObjectKind::Schema => snapshot.schemas.get(&name).and_then(|s| plain(&s.common)),
        ObjectKind::Volume => snapshot.volumes.get(&name).and_then(|v| plain(&v.common)),
        ObjectKind::Table | ObjectKind::View => {
            snapshot.tables.get(&name).map(|t| metadata::Side { common: &t.common, columns: Some(&t.column_metadata) })
        }
        _ => None,
    }
}

/// The names `principal` holds privileges by on `snapshot`: its own, the
/// reader's groups when it is the reader (SCIM `Me`), and `account users`.
pub(crate) fn principal_names(snapshot: &Snapshot, principal: &str) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = [principal.to_string(), "account users".to_string()].into();
    if principal == snapshot.read_as {
        names.extend(snapshot.read_as_groups.iter().cloned());
    }
    names
}

/// Whether one of `names` may read `table` on `snapshot`: SELECT or ALL
/// PRIVILEGES on it, its schema or its catalog, or owning one of them (a
/// metastore admin reads nothing by being one).
pub(crate) fn reads(snapshot: &Snapshot, names: &BTreeSet<String>, table: &TableInfo) -> bool {
    let schema = format!("{}.{}", table.catalog, table.schema);
    let commons = [
        Some(&table.common),
        snapshot.schemas.get(&schema).map(|s| &s.common),
        snapshot.catalogs.get(&table.catalog).map(|c| &c.common),
    ];
    commons.into_iter().flatten().any(|common| {
        names.contains(&common.owner)
            || common.grants.iter().any(|(principal, privileges)| {
                names.contains(principal) && (privileges.contains("SELECT") || privileges.contains("ALL_PRIVILEGES"))
            })
    })
}

/// A table on one side and a view on the other cannot be replaced in place
/// (`CREATE OR REPLACE VIEW` refuses to replace a table, and the reverse).
fn table_view_conflict(change: &Change) -> Option<BlockReason> {
    let Change::Different(fields) = change else { return None };
    fields.iter().find_map(|field| match field {
        Field::Kind { primary, secondary } if (primary == "VIEW") != (secondary == "VIEW") => {
            Some(BlockReason::Immutable { what: format!("object kind ({secondary} where the primary has {primary})") })
        }
        _ => None,
    })
}

/// What to do for one table (not a view) that is missing, stale or
/// different, and the id tag of that action.
fn plan_table(
    config: &ReplicationConfig,
    secondary: &Snapshot,
    table: &TableInfo,
    reason: CloneReason,
) -> (&'static str, ActionKind) {
    let blocked = |reason: BlockReason| ("blocked", ActionKind::Blocked(reason));
    let full_name = table.full_name();
    // What the secondary's metastore must allow for each path (storage.rs).
    let usable = |path: &str, need: Need| {
        let object = (need != Need::ReadFiles).then_some(full_name.as_str());
        storage::check(secondary, path, need, object).map_err(BlockReason::Storage)
    };
    match (&table.kind, table.is_delta()) {
        (TableKind::Managed, true) => {
            let source = vec![config.shared_catalog_name(&table.catalog), table.schema.clone(), table.name.clone()];
            (
                "clone",
                ActionKind::CloneTable {
                    source: CloneSource::Shared(source),
                    location: None,
                    source_delta: table.delta,
                    reason,
                },
            )
        }
        (TableKind::Managed, false) => {
            blocked(BlockReason::Unsupported { what: "a managed table that is not Delta (it cannot be shared)".into() })
        }
        (TableKind::External, true) => match &table.storage_location {
            None => blocked(BlockReason::Unsupported { what: "an external table without a location".into() }),
            Some(path) => match config.mapping.to_secondary(path) {
                None => blocked(BlockReason::Unmapped { location: path.clone() }),
                Some(location) => {
                    match usable(path, Need::ReadFiles).and_then(|()| usable(&location, Need::CreateExternalTable)) {
                        Err(reason) => blocked(reason),
                        Ok(()) => (
                            "clone",
                            ActionKind::CloneTable {
                                source: CloneSource::DeltaPath(path.clone()),
                                location: Some(location),
                                source_delta: table.delta,
                                reason,
                            },
                        ),
                    }
                }
            },
        },
        (TableKind::External, false) => {
            if reason != CloneReason::Missing {
                return blocked(BlockReason::Immutable {
                    what: "format, location or columns of this non-Delta external table".into(),
                });
            }
            // Registered with its full definition, never blind (see
            // `ActionKind::RegisterExternalTable`).
            let (columns, options) = match (&table.columns, &table.format_options) {
                (columns, _) if columns.is_empty() => {
                    return blocked(BlockReason::UnknownDefinition { what: "columns".into() })
                }
                (_, None) => return blocked(BlockReason::UnknownDefinition { what: "format options".into() }),
                (columns, Some(options)) => (columns.clone(), options.clone()),
            };
            match (&table.format, &table.storage_location) {
                (Some(format), Some(path)) => match config.mapping.to_secondary(path) {
                    None => blocked(BlockReason::Unmapped { location: path.clone() }),
                    // The registration lists the path first (have the files arrived?).
                    Some(location) => match usable(&location, Need::ReadFiles)
                        .and_then(|()| usable(&location, Need::CreateExternalTable))
                    {
                        Err(reason) => blocked(reason),
                        Ok(()) => (
                            "register",
                            ActionKind::RegisterExternalTable { format: format.clone(), location, columns, options },
                        ),
                    },
                },
                _ => {
                    blocked(BlockReason::Unsupported { what: "an external table without a format or location".into() })
                }
            }
        }
        (kind, _) => blocked(BlockReason::Unsupported {
            what: format!("a {} table", super::diff::table_kind_name(kind).to_ascii_lowercase().replace('_', " ")),
        }),
    }
}

/// For each of `names` (views, or functions), the sorted cycle it is part
/// of among them, if any: a strongly connected group of more than one, or
/// one that depends on itself. `dependencies` gives what each one uses.
fn cycles<'a>(names: &[String], dependencies: impl Fn(&str) -> &'a [String]) -> Vec<Option<Vec<String>>> {
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let edges: Vec<Vec<usize>> =
        names.iter().map(|n| dependencies(n).iter().filter_map(|d| index.get(d.as_str()).copied()).collect()).collect();
    let mut cycle_of: Vec<Option<Vec<String>>> = vec![None; names.len()];
    for component in strongly_connected(&edges) {
        let self_loop = component.len() == 1 && edges[component[0]].contains(&component[0]);
        if component.len() > 1 || self_loop {
            let mut cycle: Vec<String> = component.iter().map(|&i| names[i].clone()).collect();
            cycle.sort();
            for &i in &component {
                cycle_of[i] = Some(cycle.clone());
            }
        }
    }
    cycle_of
}

/// Tarjan's strongly connected components, iteratively (a long chain of
/// views must not overflow the stack). `edges[v]` are the nodes `v` depends on.
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut components = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, next edge to look at)
        let mut work = vec![(root, 0usize)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut edge)) = work.last_mut() {
            if *edge < edges[v].len() {
                let w = edges[v][*edge];
                *edge += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

/// Sorts the actions so every dependency comes first, keeping the planning
/// order otherwise (catalogs, schemas, sharing, tables, views, volumes,
/// grants, owners, drops). The planner builds an acyclic graph (view cycles
/// are cut above); a dependency on an unknown id would be a planner bug and
/// is dropped rather than looping.
fn order(actions: Vec<Action>) -> Vec<Action> {
    let position: HashMap<ActionId, usize> = actions.iter().enumerate().map(|(i, a)| (a.id.clone(), i)).collect();
    let mut pending = vec![0usize; actions.len()];
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); actions.len()];
    for (i, action) in actions.iter().enumerate() {
        for dep in &action.depends_on {
            if let Some(&j) = position.get(dep) {
                pending[i] += 1;
                dependants[j].push(i);
            }
        }
    }
    let mut ready: BTreeSet<usize> = (0..actions.len()).filter(|&i| pending[i] == 0).collect();
    let mut sorted = Vec::with_capacity(actions.len());
    while let Some(i) = ready.pop_first() {
        sorted.push(i);
        for &k in &dependants[i] {
            pending[k] -= 1;
            if pending[k] == 0 {
                ready.insert(k);
            }
        }
    }
    debug_assert_eq!(sorted.len(), actions.len(), "the plan's dependency graph has a cycle");
    let placed: HashSet<usize> = sorted.iter().copied().collect();
    sorted.extend((0..actions.len()).filter(|i| !placed.contains(i)));
    let mut slots: Vec<Option<Action>> = actions.into_iter().map(Some).collect();
    sorted
        .into_iter()
        .filter_map(|i| slots[i].take())
        .map(|mut action| {
            action.depends_on.retain(|d| position.contains_key(d));
            action
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::fixtures::*;
    use crate::replication::model::{apply, apply_to_primary};
    use crate::replication::snapshot::{CatalogInfo, ShareInfo};

    fn primary() -> Snapshot {
        let mut orders = managed("main.sales.orders", 2_000);
        orders.common.grants = [("bob".to_string(), ["SELECT".to_string()].into())].into();
        orders.common.owner = "alice".into();
        empty(PRIMARY_ID)
            .with_catalog(catalog("main", CatalogKind::Managed))
            .with_catalog(catalog("system", CatalogKind::System))
            .with_catalog(catalog("lake", CatalogKind::Foreign))
            .with_catalog(catalog("partner", CatalogKind::DeltaSharing))
            .with_catalog(catalog("__databricks_internal", CatalogKind::Internal))
            .with_schema(schema("main", "sales"))
            .with_schema(schema("system", "access"))
            .with_schema(schema("lake", "x"))
            .with_table(orders)
            .with_table(managed("system.access.audit", 5))
            .with_table(managed("lake.x.y", 5))
            .with_table(external_delta("main.sales.events", 2_000))
            .with_table(external("main.sales.raw", "PARQUET"))
            .with_table(view("main.sales.v2", &["main.sales.v1"]))
            .with_table(view("main.sales.v1", &["main.sales.orders", "main.sales.raw"]))
            .with_volume(external_volume("main.sales.landing"))
    }

    fn kinds(plan: &Plan) -> Vec<String> {
        plan.actions.iter().map(|a| a.id.0.clone()).collect()
    }

    fn position(plan: &Plan, id: &str) -> usize {
        plan.actions.iter().position(|a| a.id.0 == id).unwrap_or_else(|| panic!("no action {id} in {:?}", kinds(plan)))
    }

    fn assert_ordered(plan: &Plan) {
        for (i, action) in plan.actions.iter().enumerate() {
            for dep in &action.depends_on {
                let j = plan.actions.iter().position(|a| &a.id == dep).expect("dependency in plan");
                assert!(j < i, "{} depends on {} which comes later", action.id, dep);
            }
        }
    }

    #[test]
    fn from_nothing_every_kind_in_dependency_order_then_nothing() {
        let primary = primary();
        let secondary = empty(SECONDARY_ID);
        let plan = plan(&primary, &secondary, &config());
        assert_ordered(&plan);
        assert_eq!(plan.blocked().count(), 0, "{:?}", plan.blocked().collect::<Vec<_>>());
        let ids = kinds(&plan);
        // Only the managed catalog: system, foreign, shared and internal ones are not replicated.
        assert!(ids.iter().all(|id| !id.contains("system") && !id.contains("lake") && !id.contains("partner")));
        assert!(ids.iter().all(|id| !id.contains("__databricks_internal")));

        let create = &plan.actions[position(&plan, "create:catalog:main")];
        assert_eq!(
            create.kind,
            ActionKind::CreateCatalog {
                storage_root: Some(format!("{UC_SECONDARY}main")),
                comment: None,
                properties: Default::default()
            }
        );
        assert!(position(&plan, "create:schema:main.sales") > position(&plan, "create:catalog:main"));
        let recipient = &plan.actions[position(&plan, "recipient:recipient:drbot_secondary")];
        assert_eq!(recipient.kind, ActionKind::CreateRecipient { global_metastore_id: SECONDARY_ID.into() });
        assert_eq!(recipient.side(), Side::Primary);
        let schemas = &plan.actions[position(&plan, "share-schemas:share:drbot_main")];
        assert_eq!(schemas.kind, ActionKind::AddSchemasToShare { schemas: vec![vec!["main".into(), "sales".into()]] });
        let mount = &plan.actions[position(&plan, "mount:shared-catalog:drbot_shared_main")];
        assert_eq!(
            mount.kind,
            ActionKind::MountSharedCatalog {
                share: "drbot_main".into(),
                provider: ProviderRef::LookUp { global_metastore_id: PRIMARY_ID.into() }
            }
        );
        for dep in ["recipient:recipient:drbot_secondary", "share:share:drbot_main", "share-select:share:drbot_main"] {
            assert!(mount.depends_on.contains(&ActionId(dep.into())), "mount after {dep}");
        }
        let clone = &plan.actions[position(&plan, "clone:table:main.sales.orders")];
        assert_eq!(
            clone.kind,
            ActionKind::CloneTable {
                source: CloneSource::Shared(vec!["drbot_shared_main".into(), "sales".into(), "orders".into()]),
                location: None,
                source_delta: primary.tables["main.sales.orders"].delta,
                reason: CloneReason::Missing
            }
        );
        assert!(clone.depends_on.contains(&mount.id));
        let external = &plan.actions[position(&plan, "clone:table:main.sales.events")];
        assert!(matches!(
            &external.kind,
            ActionKind::CloneTable { source: CloneSource::DeltaPath(p), location: Some(l), .. }
                if p.starts_with(EXT_PRIMARY) && l == &format!("{EXT_SECONDARY}main/sales/events")
        ));
        // External Delta tables do not need the share.
        assert!(!external.depends_on.contains(&mount.id));
        let raw = &plan.actions[position(&plan, "register:table:main.sales.raw")];
        assert_eq!(
            raw.kind,
            ActionKind::RegisterExternalTable {
                format: "PARQUET".into(),
                location: format!("{EXT_SECONDARY}main/sales/raw"),
                columns: primary.tables["main.sales.raw"].columns.clone(),
                options: Default::default(),
            }
        );
        assert!(position(&plan, "view:view:main.sales.v1") > position(&plan, "clone:table:main.sales.orders"));
        assert!(position(&plan, "view:view:main.sales.v1") > position(&plan, "register:table:main.sales.raw"));
        assert!(position(&plan, "view:view:main.sales.v2") > position(&plan, "view:view:main.sales.v1"));
        let volume = &plan.actions[position(&plan, "create:volume:main.sales.landing")];
        assert_eq!(
            volume.kind,
            ActionKind::CreateExternalVolume { location: format!("{EXT_SECONDARY}volumes/main/sales/landing") }
        );
        let grant = &plan.actions[position(&plan, "grant:table:main.sales.orders:bob")];
        assert!(grant.depends_on.contains(&clone.id));
        let owner = position(&plan, "owner:table:main.sales.orders");
        assert!(owner > position(&plan, "grant:table:main.sales.orders:bob"));
        // The catalog changes hands only after everything inside it is done.
        let catalog_owner = position(&plan, "owner:catalog:main");
        assert!(plan.actions[..catalog_owner].iter().filter(|a| a.side() == Side::Secondary).count() >= 10);
        assert!(catalog_owner > owner);

        let after = apply(&plan, &secondary);
        let primary_after = apply_to_primary(&plan, &primary);
        assert!(primary_after.sharing.shares["drbot_main"].recipients_with_select.contains("drbot_secondary"));
        assert_eq!(after.tables["main.sales.orders"].common.owner, "alice");
        let again = super::plan(&primary_after, &after, &config());
        assert!(again.is_empty(), "{:?}", kinds(&again));
        assert!(diff(&primary_after, &after, &config()).is_empty());
    }

    /// Only a share's owner adds schemas to it, and it must read what it
    /// shares (REST reference, Shares › Update): someone else's share blocks
    /// its new schemas with the fix and the clones that need them wait; a
    /// group the reader is in makes the share the reader's; a table the
    /// owner cannot read blocks its clone with the grant to make.
    #[test]
    fn a_share_is_changed_only_by_its_owner_who_must_read_what_it_shares() {
        let mut primary = primary().with_schema(schema("main", "hr")).with_table(managed("main.hr.people", 1));
        primary.read_as = "alice".into();
        primary.read_as_groups = ["dr".to_string()].into();
        primary.sharing.recipients.insert("drbot_secondary".into(), SECONDARY_ID.into());
        primary.catalogs.get_mut("main").unwrap().common.grants =
            [("dr".to_string(), ["SELECT".to_string()].into())].into();
        let share = |owner: &str| ShareInfo {
            schemas: ["main.sales".to_string()].into(),
            recipients_with_select: ["drbot_secondary".to_string()].into(),
            owner: owner.into(),
        };
        let mut secondary = empty(SECONDARY_ID);
        let mut shared = catalog("drbot_shared_main", CatalogKind::DeltaSharing);
        shared.share_name = Some("drbot_main".into());
        secondary.catalogs.insert(shared.name.clone(), shared);
        let reason = |plan: &Plan, prefix: &str| -> Vec<String> {
            let blocked = plan.actions.iter().filter(|a| a.id.0.starts_with(prefix));
            blocked
                .map(|a| match &a.kind {
                    ActionKind::Blocked(reason) => reason.to_string(),
                    other => format!("{other:?}"),
                })
                .collect()
        };

        primary.sharing.shares.insert("drbot_main".into(), share("carol"));
        let plan = super::plan(&primary, &secondary, &config());
        let refused = reason(&plan, "share-schemas");
        assert_eq!(refused.len(), 1);
        assert!(
            refused[0].contains("belongs to carol") && refused[0].contains("ALTER SHARE drbot_main OWNER TO"),
            "{refused:?}"
        );
        assert!(plan.unrunnable().contains(&ActionId("clone:table:main.hr.people".into())));

        primary.sharing.shares.insert("drbot_main".into(), share("dr"));
        let plan = super::plan(&primary, &secondary, &config());
        let add = plan.actions.iter().find(|a| a.id.0.starts_with("share-schemas")).unwrap();
        assert!(
            matches!(&add.kind, ActionKind::AddSchemasToShare { schemas } if *schemas == vec![vec!["main".to_string(), "hr".to_string()]])
        );
        assert!(reason(&plan, "share-owner-select").is_empty(), "{:?}", reason(&plan, "share-owner-select"));
        assert!(
            plan.unrunnable().is_empty() || !plan.unrunnable().contains(&ActionId("clone:table:main.hr.people".into()))
        );

        // The owning group loses SELECT on the catalog; it still owns one table.
        primary.catalogs.get_mut("main").unwrap().common.grants.clear();
        primary.tables.get_mut("main.hr.people").unwrap().common.owner = "dr".into();
        let plan = super::plan(&primary, &secondary, &config());
        let lost = reason(&plan, "share-owner-select");
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert!(lost[0].contains("GRANT SELECT ON TABLE main.sales.orders TO dr"), "{lost:?}");
        let unrunnable = plan.unrunnable();
        assert!(unrunnable.contains(&ActionId("clone:table:main.sales.orders".into())));
        assert!(!unrunnable.contains(&ActionId("clone:table:main.hr.people".into())));
    }

    #[test]
    fn only_stale_tables_are_cloned_again_once_bootstrapped() {
        let primary = primary();
        let first = plan(&primary, &empty(SECONDARY_ID), &config());
        let secondary = apply(&first, &empty(SECONDARY_ID));
        let mut primary = apply_to_primary(&first, &primary);
        primary.tables.get_mut("main.sales.orders").unwrap().delta.as_mut().unwrap().last_commit_ms += 1;
        primary.tables.get_mut("main.sales.events").unwrap().delta.as_mut().unwrap().last_commit_ms += 1;
        let plan = plan(&primary, &secondary, &config());
        assert_eq!(kinds(&plan), vec!["clone:table:main.sales.events", "clone:table:main.sales.orders"]);
        assert!(plan
            .actions
            .iter()
            .all(|a| matches!(a.kind, ActionKind::CloneTable { reason: CloneReason::Stale, .. })));
        assert!(plan.actions.iter().all(|a| a.depends_on.is_empty()));
    }

    #[test]
    fn a_known_provider_is_used_and_a_wrong_recipient_blocks() {
        let primary = primary();
        let mut secondary = empty(SECONDARY_ID);
        secondary.sharing.providers.insert("westeurope_primary".into(), PRIMARY_ID.into());
        let plan = plan(&primary, &secondary, &config());
        let mount = &plan.actions[position(&plan, "mount:shared-catalog:drbot_shared_main")];
        assert!(
            matches!(&mount.kind, ActionKind::MountSharedCatalog { provider: ProviderRef::Known(p), .. } if p == "westeurope_primary")
        );

        let mut primary = primary;
        primary.sharing.recipients.insert("drbot_secondary".into(), "azure:elsewhere:x".into());
        let plan = super::plan(&primary, &secondary, &config());
        let recipient = &plan.actions[position(&plan, "recipient:recipient:drbot_secondary")];
        assert!(matches!(recipient.kind, ActionKind::Blocked(BlockReason::RecipientForOtherMetastore { .. })));
        let unrunnable = plan.unrunnable();
        assert!(unrunnable.contains(&ActionId("clone:table:main.sales.orders".into())));
        // What does not need sharing goes ahead.
        assert!(!unrunnable.contains(&ActionId("clone:table:main.sales.events".into())));
    }

    #[test]
    fn sharing_only_adds_what_is_missing() {
        let primary = primary();
        let mut secondary = empty(SECONDARY_ID);
        let mut shared = catalog("drbot_shared_main", CatalogKind::DeltaSharing);
        shared.share_name = Some("drbot_main".into());
        secondary.catalogs.insert(shared.name.clone(), shared);
        let mut primary = primary.with_schema(schema("main", "hr")).with_table(managed("main.hr.people", 1));
        primary.sharing.recipients.insert("drbot_secondary".into(), SECONDARY_ID.into());
        primary.sharing.shares.insert(
            "drbot_main".into(),
            ShareInfo {
                schemas: ["main.sales".to_string()].into(),
                recipients_with_select: ["drbot_secondary".to_string()].into(),
                owner: String::new(),
            },
        );
        let plan = plan(&primary, &secondary, &config());
        let sharing: Vec<&Action> = plan.actions.iter().filter(|a| a.side() == Side::Primary).collect();
        assert_eq!(sharing.len(), 1);
        assert_eq!(sharing[0].kind, ActionKind::AddSchemasToShare { schemas: vec![vec!["main".into(), "hr".into()]] });
        let people = &plan.actions[position(&plan, "clone:table:main.hr.people")];
        assert!(people.depends_on.contains(&sharing[0].id));
        let orders = &plan.actions[position(&plan, "clone:table:main.sales.orders")];
        assert!(!orders.depends_on.contains(&sharing[0].id));
    }

    /// With a DR group configured, a new share is handed to it right after
    /// it is created (before schemas are added), a share the reader owns is
    /// handed over too, and one someone else owns is left to its owner.
    #[test]
    fn new_shares_are_handed_to_the_dr_group() {
        let mut primary = primary();
        primary.read_as = "alice".into();
        primary.read_as_groups = ["dr".to_string()].into();
        primary.catalogs.get_mut("main").unwrap().common.grants =
            [("dr".to_string(), ["SELECT".to_string(), "USE CATALOG".to_string(), "USE SCHEMA".to_string()].into())]
                .into();
        let secondary = empty(SECONDARY_ID);
        let mut config = config();
        config.share_owner = Some("dr".into());
        let handover = |plan: &Plan| plan.actions.iter().find(|a| a.id.0.starts_with("share-handover")).cloned();

        let plan = super::plan(&primary, &secondary, &config);
        let action = handover(&plan).expect("the new share is handed over");
        assert!(matches!(&action.kind, ActionKind::TransferShare { owner } if owner == "dr"), "{action:?}");
        assert!(action.depends_on.iter().any(|d| d.0.starts_with("share:")), "after the create: {action:?}");
        let add = plan.actions.iter().find(|a| a.id.0.starts_with("share-schemas")).unwrap();
        assert!(add.depends_on.contains(&action.id), "schemas are added by the group: {add:?}");
        assert!(matches!(add.kind, ActionKind::AddSchemasToShare { .. }), "alice is in dr: {add:?}");
        assert_eq!(action.describe(), "hand share drbot_main to dr");
        assert_ordered(&plan);

        // A share alice owns is handed over; carol's is not (she must).
        for (owner, handed) in [("alice", true), ("carol", false), ("dr", false)] {
            primary.sharing.shares.insert(
                "drbot_main".into(),
                ShareInfo {
                    schemas: Default::default(),
                    recipients_with_select: Default::default(),
                    owner: owner.into(),
                },
            );
            let plan = super::plan(&primary, &secondary, &config);
            assert_eq!(handover(&plan).is_some(), handed, "{owner}");
        }
        // Without a DR group nothing is handed over.
        primary.sharing.shares.clear();
        assert!(handover(&super::plan(&primary, &secondary, &super::tests::config())).is_none());
    }

    #[test]
    fn share_updates_are_chunked_by_one_hundred() {
        let mut primary = empty(PRIMARY_ID).with_catalog(catalog("main", CatalogKind::Managed));
        for i in 0..250 {
            primary = primary
                .with_schema(schema("main", &format!("s{i:03}")))
                .with_table(managed(&format!("main.s{i:03}.t"), 1));
        }
        let plan = plan(&primary, &empty(SECONDARY_ID), &config());
        let sizes: Vec<usize> = plan
            .actions
            .iter()
            .filter_map(|a| match &a.kind {
                ActionKind::AddSchemasToShare { schemas } => Some(schemas.len()),
                _ => None,
            })
            .collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        assert_ordered(&plan);
    }

    #[test]
    fn view_cycles_are_reported_not_looped() {
        let primary = empty(PRIMARY_ID)
            .with_catalog(catalog("main", CatalogKind::Managed))
            .with_schema(schema("main", "s"))
            .with_table(managed("main.s.t", 1))
            .with_table(view("main.s.a", &["main.s.b", "main.s.t"]))
            .with_table(view("main.s.b", &["main.s.a"]))
            .with_table(view("main.s.self", &["main.s.self"]))
            .with_table(view("main.s.c", &["main.s.a"]))
            .with_table(view("main.s.d", &["main.s.t"]));
        let plan = plan(&primary, &empty(SECONDARY_ID), &config());
        assert_ordered(&plan);
        let a = &plan.actions[position(&plan, "view:view:main.s.a")];
        assert_eq!(
            a.kind,
            ActionKind::Blocked(BlockReason::ViewCycle { cycle: vec!["main.s.a".into(), "main.s.b".into()] })
        );
        let this = &plan.actions[position(&plan, "view:view:main.s.self")];
        assert!(
            matches!(&this.kind, ActionKind::Blocked(BlockReason::ViewCycle { cycle }) if cycle == &["main.s.self"])
        );
        let c = &plan.actions[position(&plan, "view:view:main.s.c")];
        assert!(c.depends_on.contains(&a.id));
        let unrunnable = plan.unrunnable();
        assert!(unrunnable.contains(&c.id));
        assert!(!unrunnable.contains(&ActionId("view:view:main.s.d".into())));
        assert!(a.describe().contains("cycle: main.s.a → main.s.b"), "{}", a.describe());
    }

    #[test]
    fn a_view_reading_what_nobody_creates_is_blocked() {
        let primary = empty(PRIMARY_ID)
            .with_catalog(catalog("main", CatalogKind::Managed))
            .with_schema(schema("main", "s"))
            .with_table(view("main.s.v", &["elsewhere.x.y"]));
        let plan = plan(&primary, &empty(SECONDARY_ID), &config());
        let v = &plan.actions[position(&plan, "view:view:main.s.v")];
        assert_eq!(v.kind, ActionKind::Blocked(BlockReason::MissingDependency { dependency: "elsewhere.x.y".into() }));
    }

    #[test]
    fn mapping_gaps_block_with_the_location() {
        let mut primary = primary();
        primary.catalogs.get_mut("main").unwrap().storage_root =
            Some("abfss://nowhere@x.dfs.core.windows.net/main".into());
        primary.tables.get_mut("main.sales.raw").unwrap().storage_location = Some("abfss://nowhere@x/raw".into());
        let plan = plan(&primary, &empty(SECONDARY_ID), &config());
        let catalog = &plan.actions[position(&plan, "create:catalog:main")];
        assert_eq!(
            catalog.kind,
            ActionKind::Blocked(BlockReason::Unmapped {
                location: "abfss://nowhere@x.dfs.core.windows.net/main".into()
            })
        );
        let raw = &plan.actions[position(&plan, "blocked:table:main.sales.raw")];
        assert_eq!(raw.kind, ActionKind::Blocked(BlockReason::Unmapped { location: "abfss://nowhere@x/raw".into() }));
        // Everything in the catalog waits on it.
        let unrunnable = plan.unrunnable();
        assert!(plan.actions.iter().filter(|a| a.object.path[0] == "main").all(|a| unrunnable.contains(&a.id)));
        assert!(!apply(&plan, &empty(SECONDARY_ID)).catalogs.contains_key("main"));
    }

    #[test]
    fn extras_are_reported_and_dropped_only_with_prune() {
        let primary = primary();
        let first = plan(&primary, &empty(SECONDARY_ID), &config());
        let primary = apply_to_primary(&first, &primary);
        let secondary = apply(&first, &empty(SECONDARY_ID))
            .with_catalog(catalog("scratch", CatalogKind::Managed))
            .with_schema(schema("scratch", "tmp"))
            .with_schema(schema("main", "old"))
            .with_table(managed("main.sales.leftover", 1))
            .with_volume(external_volume("main.sales.files"));
        let plan = plan(&primary, &secondary, &config());
        assert!(plan.is_empty());
        let extras: Vec<String> = plan.extras.iter().map(|o| o.to_string()).collect();
        assert_eq!(
            extras,
            vec!["catalog scratch", "schema main.old", "table main.sales.leftover", "volume main.sales.files"]
        );
        let mut prune = config();
        prune.prune = true;
        let pruned = super::plan(&primary, &secondary, &prune);
        assert!(pruned.extras.is_empty());
        assert!(pruned.actions.iter().all(|a| a.kind == ActionKind::Drop));
        assert_eq!(pruned.actions.len(), 4);
        let after = apply(&pruned, &secondary);
        assert!(!after.catalogs.contains_key("scratch") && !after.schemas.contains_key("scratch.tmp"));
        assert!(!after.schemas.contains_key("main.old") && !after.tables.contains_key("main.sales.leftover"));
        assert!(super::plan(&primary, &after, &prune).is_empty());
    }

    #[test]
    fn filters_limit_the_plan() {
        let primary = primary()
            .with_catalog(catalog("finance", CatalogKind::Managed))
            .with_schema(schema("finance", "ledger"))
            .with_schema(schema("main", "hr"));
        let mut config = config();
        config.catalogs = Some(["finance".to_string()].into());
        let plan = plan(&primary, &empty(SECONDARY_ID), &config);
        assert!(plan.actions.iter().all(|a| a.object.path[0] == "finance"), "{:?}", kinds(&plan));
        config.catalogs = None;
        config.schema_pattern = Some("h*".into());
        let plan = super::plan(&primary, &empty(SECONDARY_ID), &config);
        let schemas: Vec<&Action> = plan.actions.iter().filter(|a| a.object.kind == ObjectKind::Schema).collect();
        assert!(schemas.iter().all(|a| a.object.full_name() == "main.hr"));
        assert!(plan.actions.iter().all(|a| a.object.path.len() < 2 || a.object.path[1] == "hr"));
    }

    /// A grant on a table the primary protects with a row filter or column
    /// masks is blocked with the reason while the secondary's copy is not
    /// protected alike (a clone carries none); revokes and unprotected
    /// tables go on as usual, and a copy protected alike gets its grants.
    #[test]
    fn grants_on_a_protected_table_wait_for_its_protection_on_the_secondary() {
        use crate::replication::snapshot::{Policy, Protection};
        let protection = Protection {
            row_filter: Some(Policy {
                function_name: "main.security.by_region".into(),
                columns: vec!["region".into()],
            }),
            column_masks: Default::default(),
        };
        let mut primary = primary();
        primary.tables.get_mut("main.sales.orders").unwrap().protection = protection.clone();
        let blocked = |plan: &Plan| {
            plan.actions.iter().find(|a| a.id.0 == "grant:table:main.sales.orders:bob").map(|a| a.kind.clone())
        };
        // A first copy: the clone carries no filter, so the grant waits.
        let first = plan(&primary, &empty(SECONDARY_ID), &config());
        assert!(
            matches!(blocked(&first), Some(ActionKind::Blocked(BlockReason::Unprotected { protection }))
                if protection == "row filter main.security.by_region"),
            "{:?}",
            blocked(&first)
        );
        let events = first.actions.iter().find(|a| a.id.0 == "grant:table:main.sales.events:bob");
        assert!(events.is_none_or(|a| a.is_runnable()), "an unprotected table's grants are not held back");
        // A copy protected alike (set by hand) gets the grant.
        let mut secondary = apply(&first, &empty(SECONDARY_ID));
        let primary_after = apply_to_primary(&first, &primary);
        secondary.tables.get_mut("main.sales.orders").unwrap().protection = protection;
        let again = plan(&primary_after, &secondary, &config());
        assert!(matches!(blocked(&again), Some(ActionKind::Grant { .. })), "{:?}", blocked(&again));
    }

    /// Keys: every primary and foreign key arrives on the copy, a foreign
    /// key after the primary key it names; re-planning is then free of
    /// them. A key redefined on the primary is dropped (the foreign keys
    /// naming it first) and added again; a foreign key whose parent is not
    /// replicated and lacks the key on the secondary is blocked with why;
    /// the parent's hand-over to its owner waits for the foreign key.
    #[test]
    fn keys_arrive_primary_before_foreign_and_redefined_keys_are_dropped_first() {
        let mut customers = managed("main.sales.customers", 2_000);
        customers.constraints = vec![pk("pk_customers", &["id"])];
        customers.common.owner = "carol".into();
        let mut orders = managed("main.sales.orders", 2_000);
        orders.constraints =
            vec![fk("fk_customer", &["customer_id"], "main.sales.customers", &["id"]), pk("pk_orders", &["id"])];
        let primary = empty(PRIMARY_ID)
            .with_catalog(catalog("main", CatalogKind::Managed))
            .with_schema(schema("main", "sales"))
            .with_table(customers)
            .with_table(orders);
        let first = plan(&primary, &empty(SECONDARY_ID), &config());
        assert_ordered(&first);
        let pk_add = position(&first, "constraint:table:main.sales.customers:add:pk_customers");
        let fk_add = position(&first, "constraint:table:main.sales.orders:add:fk_customer");
        assert!(pk_add < fk_add);
        assert!(position(&first, "clone:table:main.sales.orders") < fk_add);
        let fk_id = &first.actions[fk_add].id;
        let parent_owner = &first.actions[position(&first, "owner:table:main.sales.customers")];
        assert!(parent_owner.depends_on.contains(fk_id), "{parent_owner:?}");
        let primary = apply_to_primary(&first, &primary);
        let after = apply(&first, &empty(SECONDARY_ID));
        assert_eq!(after.tables["main.sales.orders"].constraints, primary.tables["main.sales.orders"].constraints);
        assert_eq!(
            after.tables["main.sales.customers"].constraints,
            primary.tables["main.sales.customers"].constraints
        );
        let again = plan(&primary, &after, &config());
        assert!(
            again
                .actions
                .iter()
                .all(|a| !matches!(a.kind, ActionKind::AddConstraint { .. } | ActionKind::DropConstraint { .. })),
            "{:?}",
            kinds(&again)
        );

        // Redefined on the primary: the foreign key naming the old key is
        // dropped before it, and both come back after.
        let mut changed = primary.clone();
        changed.tables.get_mut("main.sales.customers").unwrap().constraints =
            vec![pk("pk_customers", &["id", "region"])];
        changed.tables.get_mut("main.sales.orders").unwrap().constraints = vec![
            fk("fk_customer", &["customer_id", "region"], "main.sales.customers", &["id", "region"]),
            pk("pk_orders", &["id"]),
        ];
        let second = plan(&changed, &after, &config());
        assert_ordered(&second);
        let at = |id: &str| position(&second, id);
        assert!(
            at("constraint:table:main.sales.orders:drop:fk_customer")
                < at("constraint:table:main.sales.customers:drop:pk_customers")
        );
        assert!(
            at("constraint:table:main.sales.customers:drop:pk_customers")
                < at("constraint:table:main.sales.customers:add:pk_customers")
        );
        assert!(
            at("constraint:table:main.sales.customers:add:pk_customers")
                < at("constraint:table:main.sales.orders:add:fk_customer")
        );
        let end = apply(&second, &after);
        assert_eq!(end.tables["main.sales.orders"].constraints, changed.tables["main.sales.orders"].constraints);
        assert_eq!(end.tables["main.sales.customers"].constraints, changed.tables["main.sales.customers"].constraints);
        let drift = diff(&changed, &end, &config());
        assert!(drift.iter().all(|d| !matches!(&d.change, Change::Metadata(f) if f.contains(&super::super::metadata::MetadataField::Constraints))), "{drift:?}");

        // A parent outside the replicated schemas: blocked, with why.
        let mut orphan = changed.clone();
        orphan.tables.get_mut("main.sales.orders").unwrap().constraints =
            vec![fk("fk_elsewhere", &["x"], "other.s.parent", &["id"])];
        let third = plan(&orphan, &end, &config());
        let blocked = &third.actions[position(&third, "constraint:table:main.sales.orders:add:fk_elsewhere")];
        match &blocked.kind {
            ActionKind::Blocked(reason @ BlockReason::MissingKey { parent }) => {
                assert_eq!(parent, "other.s.parent");
                assert!(reason.to_string().contains("primary key of other.s.parent"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Functions come before the views and the filters and masks that use
    /// them; a protected table's filter and masks are set again after its
    /// clone, and its grants wait for them; a Python function is reported
    /// blocked with what to do. Applied, the secondary is equal; re-planned,
    /// nothing is left.
    #[test]
    fn functions_then_views_filters_and_masks_then_grants() {
        use crate::replication::snapshot::{Policy, Protection};
        let mut python = function("main.sales.py_score", &[]);
        python.language = "PYTHON".into();
        let mut primary = primary()
            .with_function(function("main.sales.is_eu", &[]))
            .with_function(function("main.sales.is_eu_or_us", &["main.sales.is_eu"]))
            .with_function(python);
        primary.tables.get_mut("main.sales.v2").unwrap().view_dependencies.push("main.sales.is_eu".into());
        primary.tables.get_mut("main.sales.orders").unwrap().protection = Protection {
            row_filter: Some(Policy { function_name: "main.sales.is_eu_or_us".into(), columns: vec!["region".into()] }),
            column_masks: [(
                "email".to_string(),
                Policy { function_name: "main.sales.is_eu".into(), columns: vec!["region".into()] },
            )]
            .into(),
        };
        let first = plan(&primary, &empty(SECONDARY_ID), &config());
        assert_ordered(&first);
        let at = |id: &str| position(&first, id);
        assert!(at("function:function:main.sales.is_eu") < at("function:function:main.sales.is_eu_or_us"));
        assert!(at("function:function:main.sales.is_eu") < at("view:view:main.sales.v2"));
        let filter = at("protect:table:main.sales.orders:row-filter");
        let mask = at("protect:table:main.sales.orders:mask:email");
        assert!(at("clone:table:main.sales.orders") < filter);
        assert!(at("function:function:main.sales.is_eu_or_us") < filter);
        let grant = &first.actions[at("grant:table:main.sales.orders:bob")];
        assert!(matches!(grant.kind, ActionKind::Grant { .. }), "{grant:?}");
        assert!(
            grant.depends_on.contains(&first.actions[filter].id) && grant.depends_on.contains(&first.actions[mask].id)
        );
        let blocked: Vec<String> = first.blocked().map(|a| a.describe()).collect();
        assert_eq!(blocked.len(), 1, "{blocked:?}");
        assert!(blocked[0].contains("a PYTHON function") && blocked[0].contains("by hand"), "{blocked:?}");

        let primary = apply_to_primary(&first, &primary);
        let after = apply(&first, &empty(SECONDARY_ID));
        assert_eq!(after.tables["main.sales.orders"].protection, primary.tables["main.sales.orders"].protection);
        assert_eq!(after.functions["main.sales.is_eu_or_us"].body, primary.functions["main.sales.is_eu_or_us"].body);
        // Only the Python function is left, and the owner changes of its
        // schema and catalog, which wait for everything inside them.
        let again = plan(&primary, &after, &config());
        let left: Vec<String> = again.actions.iter().map(|a| a.describe()).collect();
        assert!(
            again.actions.iter().all(|a| a.object.full_name() == "main.sales.py_score"
                || matches!(a.kind, ActionKind::SetOwner { .. }) && a.object.kind != ObjectKind::Table),
            "{left:?}"
        );
        assert_eq!(again.blocked().count(), 1, "{left:?}");

        // A changed function is redefined in place; a filter whose function
        // nobody can make blocks the grants with the reason.
        let mut changed = primary.clone();
        changed.functions.get_mut("main.sales.is_eu").unwrap().body = "x = 'b'".into();
        changed.tables.get_mut("main.sales.orders").unwrap().protection.row_filter =
            Some(Policy { function_name: "main.sales.py_score".into(), columns: vec![] });
        let mut secondary = after.clone();
        secondary.tables.get_mut("main.sales.orders").unwrap().common.grants.clear();
        let second = plan(&changed, &secondary, &config());
        let redefine = &second.actions[position(&second, "function:function:main.sales.is_eu")];
        assert!(matches!(redefine.kind, ActionKind::CreateFunction { existing: true, .. }), "{redefine:?}");
        let grant = &second.actions[position(&second, "grant:table:main.sales.orders:bob")];
        assert!(matches!(&grant.kind, ActionKind::Blocked(BlockReason::Unprotected { .. })), "{grant:?}");
    }

    /// A non-Delta external table is registered only with its definition:
    /// unread columns or format options block it with the reason (never a
    /// blind registration), and a copy whose columns differ is drift the
    /// plan reports as blocked (they cannot be changed in place).
    #[test]
    fn non_delta_tables_need_their_definition_and_differing_columns_are_drift() {
        let mut unread = primary();
        unread.tables.get_mut("main.sales.raw").unwrap().format_options = None;
        let blocked = plan(&unread, &empty(SECONDARY_ID), &config());
        let raw = &blocked.actions[position(&blocked, "blocked:table:main.sales.raw")];
        assert!(raw.describe().contains("format options could not be read"), "{}", raw.describe());
        unread.tables.get_mut("main.sales.raw").unwrap().columns.clear();
        let blocked = plan(&unread, &empty(SECONDARY_ID), &config());
        let raw = &blocked.actions[position(&blocked, "blocked:table:main.sales.raw")];
        assert!(raw.describe().contains("columns could not be read"), "{}", raw.describe());

        let primary = primary();
        let first = plan(&primary, &empty(SECONDARY_ID), &config());
        let primary = apply_to_primary(&first, &primary);
        let mut secondary = apply(&first, &empty(SECONDARY_ID));
        secondary.tables.get_mut("main.sales.raw").unwrap().columns[0].type_text = "string".into();
        let drift = diff(&primary, &secondary, &config());
        assert!(
            drift.iter().any(|d| d.object.full_name() == "main.sales.raw"
                && matches!(&d.change, Change::Different(fields) if fields.contains(&Field::Columns))),
            "{drift:?}"
        );
        let again = plan(&primary, &secondary, &config());
        let raw = &again.actions[position(&again, "blocked:table:main.sales.raw")];
        assert!(raw.describe().contains("columns"), "{}", raw.describe());
    }

    #[test]
    fn grants_are_added_and_revoked_owners_changed_definitions_updated() {
        let primary = primary();
        let first = plan(&primary, &empty(SECONDARY_ID), &config());
        let primary = apply_to_primary(&first, &primary);
        let mut secondary = apply(&first, &empty(SECONDARY_ID));
        let orders = secondary.tables.get_mut("main.sales.orders").unwrap();
        orders.common.grants = [("eve".to_string(), ["MODIFY".to_string()].into())].into();
        orders.common.owner = "eve".into();
        secondary.schemas.get_mut("main.sales").unwrap().common.comment = Some("stale".into());
        secondary.catalogs.get_mut("main").unwrap().common.properties.insert("k".into(), "v".into());
        secondary.tables.get_mut("main.sales.v1").unwrap().view_definition = Some("SELECT 1 FROM x".into());
        let plan = plan(&primary, &secondary, &config());
        assert_ordered(&plan);
        let found: Vec<(String, ActionKind)> = plan.actions.iter().map(|a| (a.id.0.clone(), a.kind.clone())).collect();
        assert_eq!(
            found,
            vec![
                (
                    "update:catalog:main".into(),
                    ActionKind::UpdateCatalog { comment: None, properties: Default::default() }
                ),
                (
                    "update:schema:main.sales".into(),
                    ActionKind::UpdateSchema { comment: None, properties: Default::default() }
                ),
                (
                    "view:view:main.sales.v1".into(),
                    ActionKind::CreateView {
                        definition: primary.tables["main.sales.v1"].view_definition.clone().unwrap(),
                        dependencies: vec!["main.sales.orders".into(), "main.sales.raw".into()],
                        existing: true,
                    }
                ),
                (
                    "grant:table:main.sales.orders:bob".into(),
                    ActionKind::Grant { principal: "bob".into(), privileges: ["SELECT".to_string()].into() }
                ),
                (
                    "revoke:table:main.sales.orders:eve".into(),
                    ActionKind::Revoke { principal: "eve".into(), privileges: ["MODIFY".to_string()].into() }
                ),
                ("owner:table:main.sales.orders".into(), ActionKind::SetOwner { owner: "alice".into() }),
            ]
        );
        assert!(super::plan(&primary, &apply(&plan, &secondary), &config()).is_empty());
    }

    /// Grants and owners name the principals the pair maps them to; one the
    /// secondary does not know is blocked with its reason, alone: the table,
    /// its other grants and its owner still go, and a second plan has only
    /// the blocked ones left.
    #[test]
    fn principals_are_mapped_and_an_unknown_one_blocks_only_its_own_grant_or_owner() {
        use crate::replication::principals::PrincipalMap;
        let mut primary = primary();
        let orders = primary.tables.get_mut("main.sales.orders").unwrap();
        orders.common.grants.insert("carol".into(), ["SELECT".to_string()].into());
        orders.common.grants.insert("ghost".into(), ["MODIFY".to_string()].into());
        primary.schemas.get_mut("main.sales").unwrap().common.owner = "ghost".into();
        let mut config = config();
        config.principals = PrincipalMap::new([("alice", "alice@fabrikam"), ("bob", "bob@fabrikam")]);
        let mut secondary = empty(SECONDARY_ID);
        secondary.read_as = "dr-operators".into();
        secondary.unknown_principals = ["bob@fabrikam".to_string(), "ghost".to_string()].into();

        let first = plan(&primary, &secondary, &config);
        assert_ordered(&first);
        let kind = |id: &str| first.actions[position(&first, id)].kind.clone();
        assert_eq!(kind("owner:table:main.sales.orders"), ActionKind::SetOwner { owner: "alice@fabrikam".into() });
        assert_eq!(
            kind("grant:table:main.sales.orders:carol"),
            ActionKind::Grant { principal: "carol".into(), privileges: ["SELECT".to_string()].into() }
        );
        assert_eq!(
            kind("grant:table:main.sales.orders:bob@fabrikam"),
            ActionKind::Blocked(BlockReason::UnknownPrincipal {
                principal: "bob@fabrikam".into(),
                mapped_from: Some("bob".into())
            })
        );
        let ghost = BlockReason::UnknownPrincipal { principal: "ghost".into(), mapped_from: None };
        assert_eq!(kind("grant:table:main.sales.orders:ghost"), ActionKind::Blocked(ghost.clone()));
        assert_eq!(kind("owner:schema:main.sales"), ActionKind::Blocked(ghost.clone()));
        assert!(ghost.to_string().contains("drbot pair map PAIR principal ghost"), "{ghost}");
        assert!(!first.actions.iter().any(|a| matches!(&a.kind, ActionKind::Grant { principal, .. } | ActionKind::SetOwner { owner: principal } if principal == "bob" || principal == "alice")));
        // Nothing but the blocked ones is held back: the owner changes run.
        let unrunnable = first.unrunnable();
        let held: Vec<&ActionId> = unrunnable
            .iter()
            .filter(|id| first.get(id).is_some_and(|a| a.is_runnable()) && id.0.contains("main.sales"))
            .collect();
        assert!(held.iter().all(|id| !id.0.starts_with("owner:")), "held back: {held:?}");
        assert!(!unrunnable.contains(&ActionId("owner:table:main.sales.orders".into())));
        assert!(!unrunnable.contains(&ActionId("owner:catalog:main".into())));

        let primary = apply_to_primary(&first, &primary);
        let after = apply(&first, &secondary);
        let copy = &after.tables["main.sales.orders"].common;
        assert_eq!(copy.owner, "alice@fabrikam");
        assert_eq!(copy.grants.keys().collect::<Vec<_>>(), vec!["carol"]);
        let again = plan(&primary, &after, &config);
        let left: Vec<String> = again.actions.iter().map(|a| a.id.0.clone()).collect();
        assert!(
            again.actions.iter().all(|a| matches!(a.kind, ActionKind::Blocked(BlockReason::UnknownPrincipal { .. }))),
            "{left:?}"
        );
        assert_eq!(again.blocked().count(), 3, "{left:?}");
        // Readiness compares under the mapping: only the unknown ones differ.
        let drift = diff(&primary, &after, &config);
        assert!(
            drift.iter().all(|d| match &d.change {
                Change::Grants { principal, .. } => principal == "bob@fabrikam" || principal == "ghost",
                Change::Owner { primary, .. } => primary == "ghost",
                _ => false,
            }),
            "{drift:?}"
        );
    }

    /// Only a view's owner may alter it: a view owned by someone other than
    /// the plan's identity is taken over, altered, and handed back; a
    /// second plan finds nothing to do.
    #[test]
    fn a_view_owned_by_someone_else_is_taken_over_altered_and_handed_back() {
        let mut primary = primary();
        primary.tables.get_mut("main.sales.v1").unwrap().common.owner = "bob".into();
        let first = plan(&primary, &empty(SECONDARY_ID), &config());
        let primary = apply_to_primary(&first, &primary);
        let mut secondary = apply(&first, &empty(SECONDARY_ID));
        secondary.read_as = "drbot".into();
        assert_eq!(secondary.tables["main.sales.v1"].common.owner, "bob");
        secondary.tables.get_mut("main.sales.v1").unwrap().view_definition = Some("SELECT 1 FROM x".into());

        // Without the take-over the model refuses the ALTER, as Databricks does.
        let mut alter_only = plan(&primary, &secondary, &config());
        alter_only.actions.retain(|a| a.id.0 == "view:view:main.sales.v1");
        alter_only.actions[0].depends_on.clear();
        assert_eq!(apply(&alter_only, &secondary), secondary);

        let plan = plan(&primary, &secondary, &config());
        assert_ordered(&plan);
        let found: Vec<(&str, &ActionKind)> = plan.actions.iter().map(|a| (a.id.0.as_str(), &a.kind)).collect();
        assert!(
            matches!(found.as_slice(), [
                ("take-owner:view:main.sales.v1", ActionKind::SetOwner { owner: taker }),
                ("view:view:main.sales.v1", ActionKind::CreateView { existing: true, .. }),
                ("owner:view:main.sales.v1", ActionKind::SetOwner { owner: back }),
            ] if taker == "drbot" && back == "bob"),
            "{found:?}"
        );
        assert!(plan.actions[1].depends_on.contains(&plan.actions[0].id));
        assert!(plan.actions[2].depends_on.contains(&plan.actions[1].id));
        let after = apply(&plan, &secondary);
        assert_eq!(after.tables["main.sales.v1"].view_definition, primary.tables["main.sales.v1"].view_definition);
        assert_eq!(after.tables["main.sales.v1"].common, secondary.tables["main.sales.v1"].common);
        assert!(super::plan(&primary, &after, &config()).is_empty());
    }

    #[test]
    fn a_table_where_the_primary_has_a_view_is_blocked_not_replaced() {
        let primary = primary();
        let first = plan(&primary, &empty(SECONDARY_ID), &config());
        let primary = apply_to_primary(&first, &primary);
        let mut secondary = apply(&first, &empty(SECONDARY_ID));
        secondary.tables.insert("main.sales.v1".into(), managed("main.sales.v1", 1));
        secondary.tables.insert("main.sales.raw".into(), view("main.sales.raw", &["main.sales.orders"]));
        let plan = plan(&primary, &secondary, &config());
        let v1 = &plan.actions[position(&plan, "view:view:main.sales.v1")];
        assert!(
            matches!(&v1.kind, ActionKind::Blocked(BlockReason::Immutable { what }) if what.contains("MANAGED where the primary has VIEW")),
            "{v1:?}"
        );
        let raw = &plan.actions[position(&plan, "blocked:table:main.sales.raw")];
        assert!(matches!(raw.kind, ActionKind::Blocked(BlockReason::Immutable { .. })));
        // v2 reads v1, so it waits on it (and is not re-created anyway: it is unchanged).
        assert!(plan.get(&ActionId("view:view:main.sales.v2".into())).is_none());
    }

    #[test]
    fn unfixable_differences_are_blocked_with_a_reason() {
        let primary = primary().with_volume({
            let mut v = external_volume("main.sales.managed_files");
            v.volume_type = "MANAGED".into();
            v
        });
        let first = plan(&primary, &empty(SECONDARY_ID), &config());
        assert_eq!(first.blocked().count(), 0, "a managed volume is created, its files copied once listed");
        let managed = &first.actions[position(&first, "create:volume:main.sales.managed_files")];
        assert_eq!(managed.kind, ActionKind::CreateManagedVolume { comment: None });
        let primary = apply_to_primary(&first, &primary);
        let mut secondary = apply(&first, &empty(SECONDARY_ID));
        secondary.tables.get_mut("main.sales.raw").unwrap().format = Some("CSV".into());
        secondary.catalogs.insert(
            "drbot_shared_main".into(),
            CatalogInfo { kind: CatalogKind::Managed, ..catalog("drbot_shared_main", CatalogKind::Managed) },
        );
        secondary.tables.get_mut("main.sales.orders").unwrap().delta = None;
        let plan = plan(&primary, &secondary, &config());
        let raw = &plan.actions[position(&plan, "blocked:table:main.sales.raw")];
        assert!(matches!(raw.kind, ActionKind::Blocked(BlockReason::Immutable { .. })));
        let mount = &plan.actions[position(&plan, "mount:shared-catalog:drbot_shared_main")];
        assert!(matches!(mount.kind, ActionKind::Blocked(BlockReason::NameTaken { .. })));
    }
}
