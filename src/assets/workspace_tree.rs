//! Notebooks, workspace files and folders: the source's tree copied to the
//! target, incrementally.
//!
//! An object is copied when the target lacks it, holds another kind or
//! language there, or was last changed before the source was: an import
//! stamps the target's copy with the time of the import, so a target copy
//! newer than the source's last change is that change copied already (the
//! two workspaces' clocks are Databricks', seconds apart at most). Folders
//! are made with `mkdirs` (parents with them), before any copy. Notebooks
//! travel in source format with their language, files as raw bytes; both
//! are imported with `overwrite`, so re-running an action is harmless.
//! Git folders are their own kind (`git_folders` below): the tree walk does
//! not enter them. Objects the target has and the source does not are left
//! alone (drbot never deletes in the target). Libraries and legacy
//! dashboards cannot be exported in source format: they are reported.

use std::collections::BTreeMap;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::outcome::{finished, run_all, Action, Endpoints, ObjectResult, Outcome, Plan, Side, CONCURRENCY};
use crate::databricks::workspace_tree::{Format, GitFolder, WorkspaceObject};
use crate::databricks::DatabricksError;

/// What a path holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Folder,
    Notebook {
        language: String,
    },
    File,
    GitFolder,
    /// Anything the Workspace API cannot export in source format.
    Other(String),
}

/// One object of a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub modified_at: Option<i64>,
}

/// A workspace's tree below the roots, by path.
pub type Tree = BTreeMap<String, Entry>;

fn entry(object: &WorkspaceObject) -> Entry {
    let kind = match object.object_type.as_str() {
        "DIRECTORY" => Kind::Folder,
        "NOTEBOOK" => Kind::Notebook { language: object.language.clone().unwrap_or_default() },
        "FILE" => Kind::File,
        "REPO" => Kind::GitFolder,
        other => Kind::Other(other.to_string()),
    };
    Entry { kind, modified_at: object.modified_at }
}

/// Every object below `roots` (roots themselves excluded), folder by folder,
/// [`CONCURRENCY`] listings at once. A root that does not exist is empty.
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
            .buffer_unordered(CONCURRENCY)
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

/// One step of the tree's plan (serialisable: a plan is stored before it runs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TreeAction {
    /// The folder and its parents.
    MakeFolder { path: String },
    /// Export from the source, import into the target (overwriting).
    Copy { path: String, kind: Kind, why: String },
}

impl Action for TreeAction {
    fn kind(&self) -> &'static str {
        match self {
            TreeAction::MakeFolder { .. } => "folder",
            TreeAction::Copy { kind: Kind::Notebook { .. }, .. } => "notebook",
            TreeAction::Copy { .. } => "file",
        }
    }

    fn name(&self) -> String {
        match self {
            TreeAction::MakeFolder { path } | TreeAction::Copy { path, .. } => path.clone(),
        }
    }

    fn describe(&self) -> String {
        match self {
            TreeAction::MakeFolder { .. } => "create".into(),
            TreeAction::Copy { why, .. } => format!("copy ({why})"),
        }
    }

    fn changes(&self) -> Option<Vec<String>> {
        match self {
            TreeAction::Copy { why, .. } if why != "missing" => Some(vec![why.clone()]),
            _ => None,
        }
    }
}

fn result_kind(kind: &Kind) -> &'static str {
    match kind {
        Kind::Folder => "folder",
        Kind::Notebook { .. } => "notebook",
        Kind::File => "file",
        Kind::GitFolder => "git folder",
        Kind::Other(_) => "workspace object",
    }
}

/// The plan that makes `target` hold every folder, notebook and file of
/// `source`: folders first (shallowest first), then copies.
pub fn plan_tree(source: &Tree, target: &Tree) -> Plan<TreeAction> {
    let mut plan = Plan::default();
    let mut copies = Vec::new();
    for (path, wanted) in source {
        let have = target.get(path);
        let kind = result_kind(&wanted.kind);
        match (&wanted.kind, have) {
            // Git folders are planned by `plan_git_folders`.
            (Kind::GitFolder, _) => {}
            (Kind::Other(what), _) => plan.settled.push(ObjectResult::new(
                kind,
                path,
                Outcome::Blocked(format!("a {what} cannot be exported in source format; copy it by hand")),
            )),
            (Kind::Folder, Some(Entry { kind: Kind::Folder, .. })) => {
                plan.settled.push(ObjectResult::new(kind, path, Outcome::Unchanged))
            }
            (Kind::Folder, None) => plan.actions.push(TreeAction::MakeFolder { path: path.clone() }),
            (_, Some(Entry { kind: Kind::Folder | Kind::GitFolder | Kind::Other(_), .. })) => {
                plan.settled.push(ObjectResult::new(
                    kind,
                    path,
                    Outcome::Blocked("the target holds a folder or another kind of object at this path".into()),
                ))
            }
            (Kind::Folder, Some(_)) => plan.settled.push(ObjectResult::new(
                kind,
                path,
                Outcome::Blocked("the target holds a notebook or file at this path".into()),
            )),
            (_, None) => {
                copies.push(TreeAction::Copy { path: path.clone(), kind: wanted.kind.clone(), why: "missing".into() })
            }
            (_, Some(have)) => {
                let why = if have.kind != wanted.kind {
                    Some("another kind or language in the target")
                } else {
                    match (wanted.modified_at, have.modified_at) {
                        (Some(changed), Some(copied)) if copied >= changed => None,
                        (Some(_), Some(_)) => Some("changed since the last copy"),
                        _ => Some("no modification time to compare"),
                    }
                };
                match why {
                    None => plan.settled.push(ObjectResult::new(kind, path, Outcome::Unchanged)),
                    Some(why) => {
                        copies.push(TreeAction::Copy { path: path.clone(), kind: wanted.kind.clone(), why: why.into() })
                    }
                }
            }
        }
    }
    plan.actions.sort_by_key(|a| match a {
        TreeAction::MakeFolder { path } => (path.matches('/').count(), path.clone()),
        TreeAction::Copy { path, .. } => (usize::MAX, path.clone()),
    });
    plan.actions.extend(copies);
    plan
}

/// The folder holding `path`.
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Runs one action of the tree's plan (idempotent).
pub async fn run_tree_action(endpoints: Endpoints<'_>, action: TreeAction) -> ObjectResult {
    let (kind, name) = (action.kind(), action.name());
    let answer = match action {
        TreeAction::MakeFolder { path } => {
            endpoints.target.client.mkdirs(endpoints.target.token, &path).await.map(|_| "created".to_string())
        }
        TreeAction::Copy { path, kind: object, why } => {
            copy(endpoints, &path, &object).await.map(|_| format!("copied ({why})"))
        }
    };
    finished(kind, name, answer)
}

async fn copy(endpoints: Endpoints<'_>, path: &str, kind: &Kind) -> Result<(), DatabricksError> {
    let (format, language) = match kind {
        Kind::Notebook { language } => (Format::Source, Some(language.as_str())),
        _ => (Format::Raw, None),
    };
    let content = endpoints.source.client.export_object(endpoints.source.token, path, format).await?;
    let target = endpoints.target;
    match target.client.import_object(target.token, path, format, language, &content).await {
        // A parent made since planning by someone else's delete: make it, once.
        Err(DatabricksError::NotFound(_)) => {
            target.client.mkdirs(target.token, parent(path)).await?;
            target.client.import_object(target.token, path, format, language, &content).await
        }
        answer => answer,
    }
}

/// Folders, then copies: a copy never runs before its folder exists.
pub async fn apply_tree(endpoints: Endpoints<'_>, plan: Plan<TreeAction>) -> Vec<ObjectResult> {
    let (folders, copies): (Vec<_>, Vec<_>) =
        plan.actions.into_iter().partition(|a| matches!(a, TreeAction::MakeFolder { .. }));
    let mut results =
        run_all(Plan { actions: folders, settled: plan.settled }, |a| run_tree_action(endpoints, a)).await;
    let failed_folders: Vec<String> = results
        .iter()
        .filter(|r| r.kind == "folder" && matches!(r.outcome, Outcome::Failed(_) | Outcome::Blocked(_)))
        .map(|r| format!("{}/", r.name))
        .collect();
    // A copy into a folder that could not be made is reported, not tried.
    let (blocked, copies): (Vec<_>, Vec<_>) =
        copies.into_iter().partition(|a| failed_folders.iter().any(|f| a.name().starts_with(f.as_str())));
    let settled = blocked
        .into_iter()
        .map(|a| ObjectResult::new(a.kind(), a.name(), Outcome::Blocked("its folder could not be made".into())))
        .collect();
    results.extend(run_all(Plan { actions: copies, settled }, |a| run_tree_action(endpoints, a)).await);
    results.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    results
}

// ---- git folders -------------------------------------------------------

/// A git folder as the target must have it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitFolderSpec {
    pub url: String,
    pub provider: String,
    pub branch: Option<String>,
}

/// Git folders by path.
pub fn git_specs(folders: &[GitFolder]) -> BTreeMap<String, (i64, GitFolderSpec)> {
    folders
        .iter()
        .map(|f| {
            let spec = GitFolderSpec { url: f.url.clone(), provider: f.provider.clone(), branch: f.branch.clone() };
            (f.path.clone(), (f.id, spec))
        })
        .collect()
}

/// One step of the git folders' plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GitAction {
    /// Clone the remote at the path, then check the branch out.
    Create { path: String, spec: GitFolderSpec },
    /// Check the source's branch out in the target's git folder.
    Checkout { path: String, id: i64, branch: String },
}

impl Action for GitAction {
    fn kind(&self) -> &'static str {
        "git folder"
    }

    fn name(&self) -> String {
        match self {
            GitAction::Create { path, .. } | GitAction::Checkout { path, .. } => path.clone(),
        }
    }

    fn describe(&self) -> String {
        match self {
            GitAction::Create { spec, .. } => format!(
                "clone {} ({}){}",
                spec.url,
                spec.provider,
                spec.branch.as_ref().map(|b| format!(", branch {b}")).unwrap_or_default()
            ),
            GitAction::Checkout { branch, .. } => format!("check out {branch}"),
        }
    }

    fn changes(&self) -> Option<Vec<String>> {
        match self {
            GitAction::Create { .. } => None,
            GitAction::Checkout { .. } => Some(vec!["branch".into()]),
        }
    }
}

/// Each source git folder re-created at the same path on the same remote,
/// provider and branch. A target folder on another remote is reported: a
/// git folder's remote cannot be changed, and drbot does not delete.
pub fn plan_git_folders(
    source: &BTreeMap<String, (i64, GitFolderSpec)>,
    target: &BTreeMap<String, (i64, GitFolderSpec)>,
) -> Plan<GitAction> {
    let mut plan = Plan::default();
    for (path, (_, wanted)) in source {
        match target.get(path) {
            None => plan.actions.push(GitAction::Create { path: path.clone(), spec: wanted.clone() }),
            Some((_, have)) if have.url != wanted.url => plan.settled.push(ObjectResult::new(
                "git folder",
                path,
                Outcome::Blocked(format!(
                    "the target's git folder clones {}, not {}: delete it there to have it re-created",
                    have.url, wanted.url
                )),
            )),
            Some((id, have)) => match &wanted.branch {
                Some(branch) if have.branch.as_ref() != Some(branch) => {
                    plan.actions.push(GitAction::Checkout { path: path.clone(), id: *id, branch: branch.clone() })
                }
                _ => plan.settled.push(ObjectResult::new("git folder", path, Outcome::Unchanged)),
            },
        }
    }
    plan
}

/// Runs one action of the git folders' plan (idempotent).
pub async fn run_git_action(endpoints: Endpoints<'_>, action: GitAction) -> ObjectResult {
    let target = endpoints.target;
    let name = action.name();
    let answer = match action {
        GitAction::Checkout { id, branch, .. } => {
            target.client.checkout_branch(target.token, id, &branch).await.map(|_| format!("checked out {branch}"))
        }
        GitAction::Create { path, spec } => {
            async {
                target.client.mkdirs(target.token, parent(&path)).await?;
                let created = target.client.create_git_folder(target.token, &path, &spec.url, &spec.provider).await?;
                match &spec.branch {
                    Some(branch) if created.branch.as_ref() != Some(branch) => {
                        target.client.checkout_branch(target.token, created.id, branch).await?;
                        Ok(format!("cloned, {branch} checked out"))
                    }
                    _ => Ok("cloned".to_string()),
                }
            }
            .await
        }
    };
    finished("git folder", name, answer)
}

pub async fn apply_git_folders(endpoints: Endpoints<'_>, plan: Plan<GitAction>) -> Vec<ObjectResult> {
    run_all(plan, |a| run_git_action(endpoints, a)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notebook(at: i64) -> Entry {
        Entry { kind: Kind::Notebook { language: "PYTHON".into() }, modified_at: Some(at) }
    }

    fn folder() -> Entry {
        Entry { kind: Kind::Folder, modified_at: None }
    }

    #[test]
    fn only_what_is_missing_or_newer_is_copied_and_folders_come_first() {
        let source: Tree = [
            ("/Shared/a".to_string(), folder()),
            ("/Shared/a/b".to_string(), folder()),
            ("/Shared/a/b/new".to_string(), notebook(10)),
            ("/Shared/a/edited".to_string(), notebook(20)),
            ("/Shared/a/copied".to_string(), notebook(20)),
            ("/Shared/a/conf.yaml".to_string(), Entry { kind: Kind::File, modified_at: Some(5) }),
            ("/Shared/lib".to_string(), Entry { kind: Kind::Other("LIBRARY".into()), modified_at: None }),
            ("/Repos/x/app".to_string(), Entry { kind: Kind::GitFolder, modified_at: None }),
        ]
        .into();
        let target: Tree = [
            ("/Shared/a".to_string(), folder()),
            ("/Shared/a/edited".to_string(), notebook(15)),
            ("/Shared/a/copied".to_string(), notebook(25)),
            ("/Shared/a/conf.yaml".to_string(), folder()),
        ]
        .into();
        let plan = plan_tree(&source, &target);
        let names: Vec<(String, String)> = plan.actions.iter().map(|a| (a.name(), a.describe())).collect();
        assert_eq!(
            names,
            vec![
                ("/Shared/a/b".to_string(), "create".to_string()),
                ("/Shared/a/b/new".to_string(), "copy (missing)".to_string()),
                ("/Shared/a/edited".to_string(), "copy (changed since the last copy)".to_string()),
            ]
        );
        let settled: Vec<(&str, &Outcome)> = plan.settled.iter().map(|r| (r.name.as_str(), &r.outcome)).collect();
        assert_eq!(settled.len(), 4, "{settled:?}");
        assert!(settled.contains(&("/Shared/a/copied", &Outcome::Unchanged)));
        assert!(settled.iter().any(|(n, o)| *n == "/Shared/a/conf.yaml" && matches!(o, Outcome::Blocked(_))));
        assert!(settled.iter().any(|(n, o)| *n == "/Shared/lib" && matches!(o, Outcome::Blocked(_))));
        // The same tree on both sides plans nothing.
        assert!(plan_tree(&source, &source).actions.is_empty());
    }

    #[test]
    fn a_notebook_in_another_language_is_copied_again() {
        let source: Tree = [("/n".to_string(), notebook(1))].into();
        let target: Tree =
            [("/n".to_string(), Entry { kind: Kind::Notebook { language: "SQL".into() }, modified_at: Some(9) })]
                .into();
        assert_eq!(plan_tree(&source, &target).actions.len(), 1);
    }

    #[test]
    fn git_folders_are_recreated_on_the_same_remote_and_branch() {
        let spec = |url: &str, branch: &str| GitFolderSpec {
            url: url.into(),
            provider: "gitHub".into(),
            branch: Some(branch.into()),
        };
        let source: BTreeMap<String, (i64, GitFolderSpec)> = [
            ("/Repos/t/a".to_string(), (1, spec("https://g/a.git", "release"))),
            ("/Repos/t/b".to_string(), (2, spec("https://g/b.git", "main"))),
            ("/Repos/t/c".to_string(), (3, spec("https://g/c.git", "main"))),
            ("/Repos/t/d".to_string(), (4, spec("https://g/d.git", "main"))),
        ]
        .into();
        let target: BTreeMap<String, (i64, GitFolderSpec)> = [
            ("/Repos/t/b".to_string(), (20, spec("https://g/b.git", "dev"))),
            ("/Repos/t/c".to_string(), (30, spec("https://g/other.git", "main"))),
            ("/Repos/t/d".to_string(), (40, spec("https://g/d.git", "main"))),
        ]
        .into();
        let plan = plan_git_folders(&source, &target);
        assert_eq!(
            plan.actions,
            vec![
                GitAction::Create { path: "/Repos/t/a".into(), spec: spec("https://g/a.git", "release") },
                GitAction::Checkout { path: "/Repos/t/b".into(), id: 20, branch: "main".into() },
            ]
        );
        assert!(matches!(plan.settled[0].outcome, Outcome::Blocked(_)));
        assert_eq!(plan.settled[1].outcome, Outcome::Unchanged);
        assert!(plan_git_folders(&source, &source).actions.is_empty());
    }
}
