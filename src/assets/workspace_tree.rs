//! Notebooks, workspace files and folders: the primary's tree copied to the
//! secondary, incrementally, as an asset kind.
//!
//! An object is copied when the secondary lacks it, holds another kind or
//! language there, or was last changed before the primary's was: an import
//! stamps the copy with the time of the import, so a copy newer than the
//! source's last change is that change copied already (the two workspaces'
//! clocks are Databricks', seconds apart at most). Folders are made with
//! `mkdirs` (parents with them) in an earlier stage than the copies
//! ([`Stage::Containers`]). Notebooks travel in source format with their
//! language, files as raw bytes; both are imported with `overwrite`, so
//! re-running an item is harmless. Paths map as the pair's mapping says
//! (a user's home folder under another name), as jobs' notebook paths do.
//! Folders and notebooks carry their direct permissions (Permissions API
//! `directories` and `notebooks`, by object id), principals mapped: what the
//! primary grants and the copy lacks is set once the copy exists (grants only
//! the secondary has are kept). Git folders are their own kind
//! ([`super::git_folders`]): the walk does not enter them; AI/BI dashboards
//! are too ([`super::dashboards`]). Objects only the secondary has are left
//! alone (drbot never deletes there). Libraries and legacy dashboards cannot be exported
//! in source format: they are reported.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::grants::Grants;
use super::kind::{ApplyError, AssetContext, AssetKind, Stage};
use super::mapping::AssetMapping;
use super::plan::{Change, PlanItem};
use super::sides::{Endpoints, Side, READS};
use crate::databricks::permissions::ObjectGrant;
use crate::databricks::workspace_tree::{Format, WorkspaceObject};
use crate::databricks::DatabricksError;

/// The item kinds of the tree.
pub const FOLDER: &str = "folder";
pub const NOTEBOOK: &str = "notebook";
pub const FILE: &str = "file";
/// What the Workspace API cannot export in source format.
pub const OTHER: &str = "workspace object";

/// What a path holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Folder,
    Notebook {
        language: String,
    },
    File,
    GitFolder,
    /// An AI/BI dashboard (`.lvdash.json`): the dashboards kind copies it
    /// through the Lakeview API ([`super::dashboards`]).
    Dashboard,
    /// Anything the Workspace API cannot export in source format.
    Other(String),
}

/// One object of a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub modified_at: Option<i64>,
    /// The workspace's id of it (its permissions are named by it).
    pub object_id: Option<i64>,
}

/// A workspace's tree below the roots, by path.
pub type Tree = BTreeMap<String, Entry>;

fn entry(object: &WorkspaceObject) -> Entry {
    let kind = match object.object_type.as_str() {
        "DIRECTORY" => Kind::Folder,
        "NOTEBOOK" => Kind::Notebook { language: object.language.clone().unwrap_or_default() },
        "FILE" => Kind::File,
        "REPO" => Kind::GitFolder,
        "DASHBOARD" => Kind::Dashboard,
        other => Kind::Other(other.to_string()),
    };
    Entry { kind, modified_at: object.modified_at, object_id: object.object_id }
}

/// The Permissions API's name for an object of this kind, if it has
/// permissions drbot copies (folders and notebooks).
pub fn permissions_type(kind: &Kind) -> Option<&'static str> {
    match kind {
        Kind::Folder => Some("directories"),
        Kind::Notebook { .. } => Some("notebooks"),
        _ => None,
    }
}

/// The direct grants of the primary's folders and notebooks the secondary
/// has a copy of, and of those copies, by object id (as a string). Those of
/// an object still to be copied are read when it is ([`TreeAction`]'s
/// `source_grants`): a first sync of thousands of notebooks then reads them
/// beside the imports, under another endpoint's rate limit, instead of all
/// before the first import.
pub async fn read_tree_grants(
    endpoints: Endpoints<'_>,
    source: &Tree,
    target: &Tree,
    mapping: &AssetMapping,
) -> Result<Grants, DatabricksError> {
    let copied = source.keys().filter(|path| target.contains_key(&mapping.path(path))).cloned().collect();
    let source_ids = with_permissions(source, copied);
    let target_ids = with_permissions(target, source.keys().map(|path| mapping.path(path)).collect());
    let (source, target) =
        futures::try_join!(grants_of(endpoints.source, source_ids), grants_of(endpoints.target, target_ids))?;
    Ok(Grants { source, target, ..Grants::default() })
}

/// The Permissions API's type and id of the objects at `paths` that have
/// permissions drbot copies.
fn with_permissions(tree: &Tree, paths: Vec<String>) -> Vec<(String, String)> {
    paths
        .iter()
        .filter_map(|path| tree.get(path))
        .filter_map(|entry| Some((permissions_type(&entry.kind)?.to_string(), entry.object_id?.to_string())))
        .collect()
}

/// The direct grants of these objects of one side, by id.
async fn grants_of(
    side: Side<'_>,
    ids: Vec<(String, String)>,
) -> Result<BTreeMap<String, Vec<ObjectGrant>>, DatabricksError> {
    let read: Vec<Result<(String, Vec<ObjectGrant>), DatabricksError>> = futures::stream::iter(ids)
        .map(|(object_type, id)| async move {
            side.client.object_grants(side.token, &object_type, &id).await.map(|grants| (id, grants))
        })
        .buffer_unordered(READS)
        .collect()
        .await;
    read.into_iter().collect()
}

/// Every object below `roots` (roots themselves excluded), folder by folder,
/// [`READS`] listings at once. A root that does not exist is empty.
pub async fn read_tree(side: Side<'_>, roots: &[String]) -> Result<Tree, DatabricksError> {
    let mut tree = Tree::new();
    let mut folders: Vec<String> = roots.to_vec();
    while !folders.is_empty() {
        let listings: Vec<Result<Vec<WorkspaceObject>, DatabricksError>> = futures::stream::iter(folders.drain(..))
            .map(|folder| async move {
                match side.client.list_folder(side.token, &folder).await {
                    Err(DatabricksError::NotFound(_)) => Ok(Vec::new()),
                    answer => answer,
                }
            })
            .buffer_unordered(READS)
            .collect()
            .await;
        for listing in listings {
            for object in listing? {
                let entry = entry(&object);
                if entry.kind == Kind::Folder {
                    folders.push(object.path.clone());
                }
                tree.insert(object.path, entry);
            }
        }
    }
    Ok(tree)
}

/// What applying a tree item does (its payload). `grants` are what the
/// copy lacks of the primary object's direct permissions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TreeAction {
    /// The folder and its parents, at the secondary's path.
    MakeFolder {
        path: String,
        #[serde(default)]
        grants: Vec<ObjectGrant>,
        /// The primary folder's object id, whose grants are read and set
        /// when it is made.
        #[serde(default)]
        source_grants: Option<i64>,
    },
    /// Export from the primary's path, import at the secondary's (overwriting).
    Copy {
        source: String,
        target: String,
        kind: Kind,
        #[serde(default)]
        grants: Vec<ObjectGrant>,
        /// As for a folder: a copy to be made has its grants read then.
        #[serde(default)]
        source_grants: Option<i64>,
    },
    /// Only the permissions: the copy is current.
    Grant { target: String, kind: Kind, grants: Vec<ObjectGrant> },
}

fn item_kind(kind: &Kind) -> &'static str {
    match kind {
        Kind::Folder => FOLDER,
        Kind::Notebook { .. } => NOTEBOOK,
        Kind::File => FILE,
        // Git folders and dashboards are other kinds' items; the tree plans none.
        Kind::GitFolder | Kind::Dashboard | Kind::Other(_) => OTHER,
    }
}

/// Why a copy the secondary holds must be made again (`None`: it is current).
fn stale(wanted: &Entry, have: &Entry) -> Option<(&'static str, &'static str)> {
    if have.kind != wanted.kind {
        return Some(("language", "another kind or language in the secondary"));
    }
    match (wanted.modified_at, have.modified_at) {
        (Some(changed), Some(copied)) if copied >= changed => None,
        (Some(_), Some(_)) => Some(("content", "changed since the last copy")),
        _ => Some(("content", "no modification time to compare")),
    }
}

/// The items that make `target` hold every folder, notebook and file of
/// `source` (paths mapped), with the folders' and notebooks' direct
/// permissions: folders first, shallowest first, then the rest by path. Git
/// folders are another kind's.
pub fn plan_tree(source: &Tree, target: &Tree, grants: &Grants, mapping: &AssetMapping) -> Vec<PlanItem> {
    let mut folders = Vec::new();
    let mut items = Vec::new();
    for (path, wanted) in source {
        let kind = item_kind(&wanted.kind);
        let to = mapping.path(path);
        let moved = match to == *path {
            true => String::new(),
            false => format!("at {to}"),
        };
        let have = target.get(&to);
        // A copy to be made reads the primary's grants when it is made;
        // otherwise, the primary's grants the copy lacks.
        let source_grants = match (have, permissions_type(&wanted.kind)) {
            (None, Some(_)) => wanted.object_id,
            _ => None,
        };
        let missing = match (permissions_type(&wanted.kind), wanted.object_id) {
            _ if source_grants.is_some() => Vec::new(),
            (Some(_), Some(id)) => {
                let held = have.filter(|h| h.kind == wanted.kind).and_then(|h| h.object_id).map(|id| id.to_string());
                grants.missing(&id.to_string(), held.as_deref(), mapping)
            }
            _ => Vec::new(),
        };
        let held_back = match permissions_type(&wanted.kind) {
            Some(_) => wanted.object_id.and_then(|id| grants.held_back(&id.to_string(), mapping)),
            None => None,
        };
        let blocked = |reason: &str| PlanItem::named(kind, path, Change::Blocked { reason: reason.into() });
        let item = match (&wanted.kind, have) {
            (Kind::GitFolder | Kind::Dashboard, _) => continue,
            (Kind::Other(what), _) => {
                blocked(&format!("a {what} cannot be exported in source format; copy it by hand"))
            }
            (Kind::Folder, None) => {
                folders.push(
                    PlanItem::named(kind, path, Change::Create)
                        .with_payload(TreeAction::MakeFolder { path: to, grants: missing, source_grants })
                        .with_detail(moved)
                        .holding_back(held_back),
                );
                continue;
            }
            (Kind::Folder, Some(Entry { kind: Kind::Folder, .. })) => match missing.is_empty() {
                true => PlanItem::named(kind, path, Change::Unchanged),
                false => PlanItem::named(kind, path, Change::Update { fields: vec!["permissions".into()] })
                    .with_payload(TreeAction::Grant { target: to, kind: wanted.kind.clone(), grants: missing }),
            },
            (Kind::Folder, Some(_)) => blocked("the secondary holds a notebook or file at this path"),
            (_, Some(Entry { kind: Kind::Folder | Kind::GitFolder | Kind::Dashboard | Kind::Other(_), .. })) => {
                blocked("the secondary holds a folder or another kind of object at this path")
            }
            (_, None) => PlanItem::named(kind, path, Change::Create)
                .with_payload(TreeAction::Copy {
                    source: path.clone(),
                    target: to,
                    kind: wanted.kind.clone(),
                    grants: missing,
                    source_grants,
                })
                .with_detail(moved),
            (_, Some(have)) => match (stale(wanted, have), missing.is_empty()) {
                (None, true) => PlanItem::named(kind, path, Change::Unchanged),
                (None, false) => PlanItem::named(kind, path, Change::Update { fields: vec!["permissions".into()] })
                    .with_payload(TreeAction::Grant { target: to, kind: wanted.kind.clone(), grants: missing }),
                (Some((field, why)), _) => {
                    let mut fields = vec![field.to_string()];
                    if !missing.is_empty() {
                        fields.push("permissions".into());
                    }
                    let detail = [why.to_string(), moved.clone()].join(" ").trim().to_string();
                    PlanItem::named(kind, path, Change::Update { fields })
                        .with_payload(TreeAction::Copy {
                            source: path.clone(),
                            target: to,
                            kind: wanted.kind.clone(),
                            grants: missing,
                            source_grants: None,
                        })
                        .with_detail(detail)
                }
            },
        };
        items.push(item.holding_back(held_back));
    }
    folders.sort_by_key(|item| (item.name.matches('/').count(), item.name.clone()));
    folders.extend(items);
    folders
}

/// The folder holding `path`.
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Sets `grants` on the secondary's object at `path` (found by its path:
/// its id is the secondary's own, known once it exists).
async fn grant(target: Side<'_>, path: &str, kind: &Kind, grants: &[ObjectGrant]) -> Result<(), DatabricksError> {
    let (Some(object_type), false) = (permissions_type(kind), grants.is_empty()) else { return Ok(()) };
    let object = target.client.object_status(target.token, path).await?;
    let Some(id) = object.and_then(|o| o.object_id) else {
        return Err(DatabricksError::NotFound(format!("{path} has no object id in the secondary")));
    };
    target.client.add_object_grants(target.token, object_type, &id.to_string(), grants).await
}

/// The grants of the primary's object `source_id` (of `kind`) its new copy
/// gets, and why some are left out (a principal the secondary lacks).
async fn grants_to_copy(
    ctx: &AssetContext<'_>,
    endpoints: Endpoints<'_>,
    kind: &Kind,
    source_id: i64,
) -> Result<(Vec<ObjectGrant>, Option<String>), DatabricksError> {
    let Some(object_type) = permissions_type(kind) else { return Ok((Vec::new(), None)) };
    let (source, id) = (endpoints.source, source_id.to_string());
    let read = source.client.object_grants(source.token, object_type, &id).await?;
    let grants = Grants { source: [(id.clone(), read)].into(), ..Grants::default() };
    let grants = grants.vet(&ctx.principals, endpoints.target, &ctx.mapping).await?;
    Ok((grants.missing(&id, None, &ctx.mapping), grants.held_back(&id, &ctx.mapping)))
}

/// The grants an action sets: the plan's, or, for a copy to be made, the
/// primary's read now.
async fn grants_of_action(
    ctx: &AssetContext<'_>,
    endpoints: Endpoints<'_>,
    kind: &Kind,
    planned: &[ObjectGrant],
    source_grants: Option<i64>,
) -> Result<(Vec<ObjectGrant>, Option<String>), DatabricksError> {
    match source_grants {
        Some(id) => grants_to_copy(ctx, endpoints, kind, id).await,
        None => Ok((planned.to_vec(), None)),
    }
}

/// Applies one tree action (idempotent); `Ok(Err(why))` when it was
/// applied but for grants to principals the secondary lacks.
async fn run(
    ctx: &AssetContext<'_>,
    endpoints: Endpoints<'_>,
    action: &TreeAction,
) -> Result<Result<(), String>, DatabricksError> {
    let target = endpoints.target;
    let held_back = match action {
        TreeAction::MakeFolder { path, grants, source_grants } => {
            target.client.mkdirs(target.token, path).await?;
            let (grants, held_back) = grants_of_action(ctx, endpoints, &Kind::Folder, grants, *source_grants).await?;
            grant(target, path, &Kind::Folder, &grants).await?;
            held_back
        }
        TreeAction::Grant { target: to, kind, grants } => {
            grant(target, to, kind, grants).await?;
            None
        }
        TreeAction::Copy { source, target: to, kind, grants, source_grants } => {
            let (format, language) = match kind {
                Kind::Notebook { language } => (Format::Source, Some(language.as_str())),
                _ => (Format::Raw, None),
            };
            let (content, (grants, held_back)) = futures::try_join!(
                endpoints.source.client.export_object(endpoints.source.token, source, format),
                grants_of_action(ctx, endpoints, kind, grants, *source_grants)
            )?;
            match target.client.import_object(target.token, to, format, language, &content).await {
                // A folder that could not be made, or was deleted since: make it, once.
                Err(DatabricksError::NotFound(_)) => {
                    target.client.mkdirs(target.token, parent(to)).await?;
                    target.client.import_object(target.token, to, format, language, &content).await?;
                }
                answer => answer?,
            }
            grant(target, to, kind, &grants).await?;
            held_back
        }
    };
    Ok(held_back.map_or(Ok(()), Err))
}

/// The tree below the pair's roots.
pub struct WorkspaceTree;

impl AssetKind for WorkspaceTree {
    fn name(&self) -> &'static str {
        OTHER
    }

    fn owns(&self, item_kind: &str) -> bool {
        matches!(item_kind, FOLDER | NOTEBOOK | FILE | OTHER)
    }

    fn stage(&self, item: &PlanItem) -> Stage {
        match item.kind == FOLDER {
            true => Stage::Containers,
            false => Stage::Contents,
        }
    }

    fn plan<'a>(&'a self, ctx: &'a AssetContext<'a>) -> BoxFuture<'a, Result<Vec<PlanItem>, String>> {
        Box::pin(async move {
            let token = ctx.token(false).await?;
            let endpoints = ctx.endpoints(&token);
            let roots = &ctx.options.roots;
            let target_roots: Vec<String> = roots.iter().map(|root| ctx.mapping.path(root)).collect();
            let read = async {
                let (source, target) =
                    futures::try_join!(read_tree(endpoints.source, roots), read_tree(endpoints.target, &target_roots))?;
                let grants = read_tree_grants(endpoints, &source, &target, &ctx.mapping)
                    .await?
                    .vet(&ctx.principals, endpoints.target, &ctx.mapping)
                    .await?;
                Ok::<_, DatabricksError>(plan_tree(&source, &target, &grants, &ctx.mapping))
            };
            read.await.map_err(|e| e.to_string())
        })
    }

    fn apply<'a>(&'a self, ctx: &'a AssetContext<'a>, item: &'a PlanItem) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(async move {
            let action: TreeAction = item.payload_as().map_err(ApplyError::Failed)?;
            let action = &action;
            ctx.with_token(|token| async move { run(ctx, ctx.endpoints(&token), action).await })
                .await?
                .map_err(ApplyError::Blocked)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notebook(at: i64) -> Entry {
        Entry { kind: Kind::Notebook { language: "PYTHON".into() }, modified_at: Some(at), object_id: None }
    }

    fn folder() -> Entry {
        Entry { kind: Kind::Folder, modified_at: None, object_id: None }
    }

    fn no_grants() -> Grants {
        Grants::default()
    }

    fn lines(items: &[PlanItem]) -> Vec<String> {
        items.iter().filter(|i| i.is_action()).map(super::super::text::describe).collect()
    }

    #[test]
    fn only_what_is_missing_or_newer_is_copied_and_folders_come_first() {
        let source: Tree = [
            ("/Shared/a".to_string(), folder()),
            ("/Shared/a/b".to_string(), folder()),
            ("/Shared/a/b/new".to_string(), notebook(10)),
            ("/Shared/a/edited".to_string(), notebook(20)),
            ("/Shared/a/copied".to_string(), notebook(20)),
            ("/Shared/a/conf.yaml".to_string(), Entry { kind: Kind::File, modified_at: Some(5), object_id: None }),
            (
                "/Shared/lib".to_string(),
                Entry { kind: Kind::Other("LIBRARY".into()), modified_at: None, object_id: None },
            ),
            ("/Repos/x/app".to_string(), Entry { kind: Kind::GitFolder, modified_at: None, object_id: None }),
        ]
        .into();
        let target: Tree = [
            ("/Shared/a".to_string(), folder()),
            ("/Shared/a/edited".to_string(), notebook(15)),
            ("/Shared/a/copied".to_string(), notebook(25)),
            ("/Shared/a/conf.yaml".to_string(), folder()),
        ]
        .into();
        let items = plan_tree(&source, &target, &no_grants(), &AssetMapping::default());
        assert_eq!(
            lines(&items),
            vec![
                "create folder /Shared/a/b".to_string(),
                "create notebook /Shared/a/b/new".to_string(),
                "update notebook /Shared/a/edited: content; changed since the last copy".to_string(),
            ]
        );
        let settled: Vec<(&str, &str)> =
            items.iter().filter(|i| !i.is_action()).map(|i| (i.name.as_str(), i.verb())).collect();
        assert_eq!(
            settled,
            vec![
                ("/Shared/a", "unchanged"),
                ("/Shared/a/conf.yaml", "blocked"),
                ("/Shared/a/copied", "unchanged"),
                ("/Shared/lib", "blocked"),
            ]
        );
        assert_eq!(items.iter().find(|i| i.name == "/Shared/lib").unwrap().kind, OTHER);
        // The same tree on both sides plans nothing.
        assert!(plan_tree(&source, &source, &no_grants(), &AssetMapping::default()).iter().all(|i| !i.is_action()));
    }

    #[test]
    fn a_notebook_in_another_language_is_copied_again() {
        let source: Tree = [("/n".to_string(), notebook(1))].into();
        let target: Tree = [(
            "/n".to_string(),
            Entry { kind: Kind::Notebook { language: "SQL".into() }, modified_at: Some(9), object_id: None },
        )]
        .into();
        let items = plan_tree(&source, &target, &no_grants(), &AssetMapping::default());
        assert_eq!(items[0].change, Change::Update { fields: vec!["language".into()] });
    }

    #[test]
    fn paths_map_as_the_pair_says() {
        let mut mapping = AssetMapping::default();
        mapping.insert(super::super::mapping::MappingKind::PathPrefix, "/Users/a@contoso.com", "/Users/a@fabrikam.com");
        let source: Tree =
            [("/Users/a@contoso.com".to_string(), folder()), ("/Users/a@contoso.com/etl".to_string(), notebook(3))]
                .into();
        let items = plan_tree(&source, &Tree::new(), &no_grants(), &mapping);
        assert_eq!(
            items[0].payload_as::<TreeAction>().unwrap(),
            TreeAction::MakeFolder { path: "/Users/a@fabrikam.com".into(), grants: vec![], source_grants: None }
        );
        assert_eq!(
            items[1].payload_as::<TreeAction>().unwrap(),
            TreeAction::Copy {
                source: "/Users/a@contoso.com/etl".into(),
                target: "/Users/a@fabrikam.com/etl".into(),
                kind: Kind::Notebook { language: "PYTHON".into() },
                grants: vec![],
                source_grants: None,
            }
        );
        let copied: Tree =
            [("/Users/a@fabrikam.com".to_string(), folder()), ("/Users/a@fabrikam.com/etl".to_string(), notebook(4))]
                .into();
        assert!(plan_tree(&source, &copied, &no_grants(), &mapping).iter().all(|i| i.change == Change::Unchanged));
    }

    #[test]
    fn folders_and_notebooks_carry_their_direct_grants_principals_mapped() {
        let grant = |who: &str, level: &str| ObjectGrant {
            principal_field: "group_name".into(),
            principal: who.into(),
            level: level.into(),
        };
        let with_id = |mut entry: Entry, id: i64| {
            entry.object_id = Some(id);
            entry
        };
        let source: Tree = [
            ("/Shared/a".to_string(), with_id(folder(), 1)),
            ("/Shared/a/nb".to_string(), with_id(notebook(5), 2)),
            ("/Shared/a/new".to_string(), with_id(notebook(5), 3)),
        ]
        .into();
        let target: Tree =
            [("/Shared/a".to_string(), with_id(folder(), 70)), ("/Shared/a/nb".to_string(), with_id(notebook(9), 71))]
                .into();
        let grants = Grants {
            source: [
                ("1".to_string(), vec![grant("eng", "CAN_EDIT")]),
                ("2".to_string(), vec![grant("ops", "CAN_RUN")]),
                ("3".to_string(), vec![grant("ops", "CAN_READ")]),
            ]
            .into(),
            target: [("71".to_string(), vec![grant("ops", "CAN_RUN")])].into(),
            ..Grants::default()
        };
        let mut mapping = AssetMapping::default();
        mapping.insert(super::super::mapping::MappingKind::Principal, "eng", "engineering");
        let items = plan_tree(&source, &target, &grants, &mapping);
        let changes: Vec<(&str, &str)> = items.iter().map(|i| (i.name.as_str(), i.verb())).collect();
        assert_eq!(changes, vec![("/Shared/a", "update"), ("/Shared/a/nb", "unchanged"), ("/Shared/a/new", "create")]);
        assert_eq!(
            items[0].payload_as::<TreeAction>().unwrap(),
            TreeAction::Grant {
                target: "/Shared/a".into(),
                kind: Kind::Folder,
                grants: vec![grant("engineering", "CAN_EDIT")]
            }
        );
        // A copy to be made reads its grants when it is made.
        assert!(
            matches!(items[2].payload_as().unwrap(), TreeAction::Copy { grants, source_grants: Some(3), .. } if grants.is_empty())
        );
    }
}
