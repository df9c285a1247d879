//! Git folders as an asset kind: each of the primary's git folders
//! re-created in the secondary at the same (mapped) path, on the same
//! remote, provider and branch. A secondary git folder on another remote is
//! reported: a git folder's remote cannot be changed, and drbot does not
//! delete. Made after folders ([`Stage::Contents`]): it lives in one.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::kind::{ApplyError, AssetContext, AssetKind, Stage};
use super::mapping::AssetMapping;
use super::plan::{Change, PlanItem};
use super::sides::Side;
use super::workspace_tree::parent;
use crate::databricks::workspace_tree::GitFolder;
use crate::databricks::DatabricksError;

pub const KIND: &str = "git folder";

/// A git folder as the secondary must have it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitFolderSpec {
    pub url: String,
    pub provider: String,
    pub branch: Option<String>,
}

/// Git folders by path, with their ids.
pub fn git_specs(folders: &[GitFolder]) -> BTreeMap<String, (i64, GitFolderSpec)> {
    folders
        .iter()
        .map(|f| {
            let spec = GitFolderSpec { url: f.url.clone(), provider: f.provider.clone(), branch: f.branch.clone() };
            (f.path.clone(), (f.id, spec))
        })
        .collect()
}

/// What applying a git folder item does (its payload).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GitAction {
    /// Clone the remote at the path, then check the branch out.
    Create { path: String, spec: GitFolderSpec },
    /// Check the primary's branch out in the secondary's git folder.
    Checkout { id: i64, branch: String },
}

/// One item per primary git folder (pure).
pub fn plan_git_folders(
    source: &BTreeMap<String, (i64, GitFolderSpec)>,
    target: &BTreeMap<String, (i64, GitFolderSpec)>,
    mapping: &AssetMapping,
) -> Vec<PlanItem> {
    let mut items = Vec::new();
    for (path, (_, wanted)) in source {
        let to = mapping.path(path);
        let item = match target.get(&to) {
            None => PlanItem::named(KIND, path, Change::Create)
                .with_detail(format!(
                    "clone {} ({}){}",
                    wanted.url,
                    wanted.provider,
                    wanted.branch.as_ref().map(|b| format!(", branch {b}")).unwrap_or_default()
                ))
                .with_payload(GitAction::Create { path: to, spec: wanted.clone() }),
            Some((_, have)) if have.url != wanted.url => PlanItem::named(
                KIND,
                path,
                Change::Blocked {
                    reason: format!(
                        "the secondary's git folder clones {}, not {}: delete it there to have it re-created",
                        have.url, wanted.url
                    ),
                },
            ),
            Some((id, have)) => match &wanted.branch {
                Some(branch) if have.branch.as_ref() != Some(branch) => {
                    PlanItem::named(KIND, path, Change::Update { fields: vec!["branch".into()] })
                        .with_detail(format!("check out {branch}"))
                        .with_payload(GitAction::Checkout { id: *id, branch: branch.clone() })
                }
                _ => PlanItem::named(KIND, path, Change::Unchanged),
            },
        };
        items.push(item);
    }
    items
}

/// Applies one git folder action (idempotent).
async fn run(target: Side<'_>, action: &GitAction) -> Result<(), DatabricksError> {
    match action {
        GitAction::Checkout { id, branch } => target.client.checkout_branch(target.token, *id, branch).await,
        GitAction::Create { path, spec } => {
            target.client.mkdirs(target.token, parent(path)).await?;
            let created = target.client.create_git_folder(target.token, path, &spec.url, &spec.provider).await?;
            match &spec.branch {
                Some(branch) if created.branch.as_ref() != Some(branch) => {
                    target.client.checkout_branch(target.token, created.id, branch).await
                }
                _ => Ok(()),
            }
        }
    }
}

pub struct GitFolders;

impl AssetKind for GitFolders {
    fn name(&self) -> &'static str {
        KIND
    }

    fn stage(&self, _item: &PlanItem) -> Stage {
        Stage::Contents
    }

    fn plan<'a>(&'a self, ctx: &'a AssetContext<'a>) -> BoxFuture<'a, Result<Vec<PlanItem>, String>> {
        Box::pin(async move {
            let token = ctx.token(false).await?;
            let (source, target) =
                futures::try_join!(ctx.primary.git_folders(&token), ctx.secondary.git_folders(&token))
                    .map_err(|e| e.to_string())?;
            Ok(plan_git_folders(&git_specs(&source), &git_specs(&target), &ctx.mapping))
        })
    }

    fn apply<'a>(&'a self, ctx: &'a AssetContext<'a>, item: &'a PlanItem) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(async move {
            let action: GitAction = item.payload_as().map_err(ApplyError::Failed)?;
            let action = &action;
            ctx.with_token(|token| async move { run(ctx.endpoints(&token).target, action).await }).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let items = plan_git_folders(&source, &target, &AssetMapping::default());
        let actions: Vec<GitAction> = items.iter().filter(|i| i.is_action()).map(|i| i.payload_as().unwrap()).collect();
        assert_eq!(
            actions,
            vec![
                GitAction::Create { path: "/Repos/t/a".into(), spec: spec("https://g/a.git", "release") },
                GitAction::Checkout { id: 20, branch: "main".into() },
            ]
        );
        assert_eq!(items[0].detail, "clone https://g/a.git (gitHub), branch release");
        assert!(matches!(items[2].change, Change::Blocked { .. }));
        assert_eq!(items[3].change, Change::Unchanged);
        assert!(plan_git_folders(&source, &source, &AssetMapping::default()).iter().all(|i| !i.is_action()));
    }
}
