//! Registered models (MLflow models in Unity Catalog): what the plan does
//! with each, what each action does (`model.rs` delegates here) and the
//! REST calls they become.
//!
//! What the documented API allows, and so what drbot does:
//!
//! - The model itself: `POST /models` creates it (comment carried),
//!   `PATCH /models/{full_name}` sets its comment and owner. The owner is
//!   set last: only a model's owner may set its aliases ("users must be
//!   owners of the registered model", Registered Models reference), so the
//!   identity running the plan keeps it until the aliases are in place.
//! - A version's comment: `PATCH /models/{full_name}/versions/{v}`.
//! - Aliases: `PUT /models/{full_name}/aliases/{alias}` with the version
//!   number (only to a version the secondary has), `DELETE` for one the
//!   primary does not have.
//! - A version the secondary lacks cannot be made: the Unity Catalog API
//!   creates no model version ("Creating new model versions requires use of
//!   the MLflow Python client", which uploads the files itself), and its
//!   files are not under a volume the Files API could copy. Each such
//!   version is reported blocked with what a person can do: copy it with
//!   MLflow (`MlflowClient.copy_model_version`) from the primary's model as
//!   the secondary reads it through the DR share (a shared schema shares its
//!   models too, "Create and manage shares"), into the secondary's model.
//!   The aliases on it wait for it (and are reported skipped).
//!
//! Not replicated yet: grants on models (securable type FUNCTION) and
//! version tags; a model only the secondary has is reported, never dropped.

use std::collections::BTreeMap;

use super::config::ReplicationConfig;
pub use super::model_info::{ModelChange, ModelInfo, VersionInfo};
use super::object::{ObjectKind, ObjectRef};
use super::plan::{ActionKind, BlockReason};
use super::snapshot::Snapshot;

/// One action the planner should add for models: `after` are indices of
/// earlier entries of the same list it waits for.
#[derive(Debug)]
pub(crate) struct Planned {
    pub tag: &'static str,
    pub object: ObjectRef,
    pub key: String,
    pub kind: ActionKind,
    pub after: Vec<usize>,
}

/// What makes the secondary's registered models match the primary's, in
/// order: each model's creation, comment, version comments and aliases,
/// then its owner. Versions the secondary lacks are blocked (see above).
/// Returns the actions and the models only the secondary has.
pub(crate) fn plan(
    primary: &Snapshot,
    secondary: &Snapshot,
    config: &ReplicationConfig,
) -> (Vec<Planned>, Vec<ObjectRef>) {
    let mut out: Vec<Planned> = Vec::new();
    let replicated =
        |m: &ModelInfo| super::diff::is_replicated_schema(primary, secondary, config, &m.catalog, &m.schema);
    for model in primary.models.values().filter(|m| replicated(m)) {
        let object = ObjectRef::new(ObjectKind::Model, [&model.catalog, &model.schema, &model.name]);
        let full_name = model.full_name();
        let mut push = |tag: &'static str, key: String, kind: ActionKind, after: Vec<usize>| {
            out.push(Planned { tag, object: object.clone(), key, kind, after });
            out.len() - 1
        };
        let existing = secondary.models.get(&full_name);
        let created = match existing {
            None => Some(push(
                "model",
                String::new(),
                ActionKind::Model(ModelChange::Create { comment: model.comment.clone() }),
                vec![],
            )),
            Some(copy) => {
                let comment = |c: &Option<String>| c.clone().filter(|c| !c.is_empty());
                if comment(&copy.comment) != comment(&model.comment) {
                    let update =
                        ModelChange::Update { comment: Some(model.comment.clone().unwrap_or_default()), owner: None };
                    push("model-comment", String::new(), ActionKind::Model(update), vec![]);
                }
                None
            }
        };
        let base: Vec<usize> = created.into_iter().collect();
        let mut inner = base.clone();
        let mut version_action: BTreeMap<i64, usize> = BTreeMap::new();
        for (version, info) in &model.versions {
            let there = existing.and_then(|m| m.versions.get(version));
            match there {
                None => {
                    let reason = BlockReason::ModelVersionFiles {
                        model: full_name.clone(),
                        version: *version,
                        source: info.source.clone().unwrap_or_default(),
                    };
                    let id = push("model-version", version.to_string(), ActionKind::Blocked(reason), base.clone());
                    version_action.insert(*version, id);
                    inner.push(id);
                }
                Some(copy) if copy.comment.clone().unwrap_or_default() != info.comment.clone().unwrap_or_default() => {
                    let change = ModelChange::VersionComment {
                        version: *version,
                        comment: info.comment.clone().unwrap_or_default(),
                    };
                    inner.push(push("model-version", version.to_string(), ActionKind::Model(change), base.clone()));
                }
                Some(_) => {}
            }
        }
        let no_aliases = BTreeMap::new();
        let their_aliases = existing.map(|m| &m.aliases).unwrap_or(&no_aliases);
        for (alias, version) in &model.aliases {
            if their_aliases.get(alias) == Some(version) {
                continue;
            }
            let mut after = base.clone();
            after.extend(version_action.get(version));
            let change = ModelChange::SetAlias { alias: alias.clone(), version: *version };
            inner.push(push("model-alias", alias.clone(), ActionKind::Model(change), after));
        }
        for alias in their_aliases.keys().filter(|a| !model.aliases.contains_key(*a)) {
            let change = ModelChange::DeleteAlias { alias: alias.clone() };
            inner.push(push("model-alias", alias.clone(), ActionKind::Model(change), base.clone()));
        }
        let owner_differs = existing.is_none_or(|m| m.owner != model.owner);
        if !model.owner.is_empty() && owner_differs {
            let change = ModelChange::Update { comment: None, owner: Some(model.owner.clone()) };
            push("model-owner", String::new(), ActionKind::Model(change), inner);
        }
    }
    let extras = secondary
        .models
        .values()
        .filter(|m| !primary.models.contains_key(&m.full_name()) && replicated(m))
        .map(|m| ObjectRef::new(ObjectKind::Model, [&m.catalog, &m.schema, &m.name]))
        .collect();
    (out, extras)
}

/// What a model action does to a snapshot (`model.rs`): as the API does,
/// a create leaves an existing model alone (`…_ALREADY_EXISTS`, counted
/// done), and the rest change an existing model only; an alias is set only
/// on a version the model has.
pub(crate) fn effect(s: &mut Snapshot, path: &[String], creator: &str, change: &ModelChange) {
    let name = path.join(".");
    if let ModelChange::Create { comment } = change {
        s.models.entry(name).or_insert_with(|| ModelInfo {
            catalog: path[0].clone(),
            schema: path[1].clone(),
            name: path[2].clone(),
            owner: creator.into(),
            comment: comment.clone(),
            ..ModelInfo::default()
        });
        return;
    }
    let Some(model) = s.models.get_mut(&name) else { return };
    match change {
        ModelChange::Create { .. } => {}
        ModelChange::Update { comment, owner } => {
            if let Some(comment) = comment {
                model.comment = Some(comment.clone()).filter(|c| !c.is_empty());
            }
            if let Some(owner) = owner {
                model.owner = owner.clone();
            }
        }
        ModelChange::VersionComment { version, comment } => {
            if let Some(v) = model.versions.get_mut(version) {
                v.comment = Some(comment.clone()).filter(|c| !c.is_empty());
            }
        }
        ModelChange::SetAlias { alias, version } => {
            if model.versions.contains_key(version) {
                model.aliases.insert(alias.clone(), *version);
            }
        }
        ModelChange::DeleteAlias { alias } => {
            model.aliases.remove(alias);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::fixtures::*;
    use crate::replication::model::{apply, apply_to_primary};
    use crate::replication::planner::plan as make_plan;
    use crate::replication::snapshot::CatalogKind;
    use serde_json::json;

    fn model() -> ModelInfo {
        let version = |n: i64| VersionInfo {
            source: Some(format!("abfss://uc@stucprimary.dfs.core.windows.net/models/churn/{n}")),
            run_id: Some(format!("run-{n}")),
            comment: Some(format!("version {n}")),
            status: Some("READY".into()),
        };
        ModelInfo {
            catalog: "main".into(),
            schema: "sales".into(),
            name: "churn".into(),
            owner: "alice".into(),
            comment: Some("predicts churn".into()),
            versions: [(1, version(1)), (2, version(2))].into(),
            aliases: [("champion".to_string(), 2)].into(),
        }
    }

    fn primary() -> Snapshot {
        let mut s =
            empty(PRIMARY_ID).with_catalog(catalog("main", CatalogKind::Managed)).with_schema(schema("main", "sales"));
        s.models.insert("main.sales.churn".into(), model());
        s
    }

    fn at(plan: &crate::replication::Plan, id: &str) -> usize {
        plan.actions.iter().position(|a| a.id.0 == id).unwrap_or_else(|| panic!("no {id} in {plan:#?}"))
    }

    /// A missing model is created with its comment; each version is
    /// blocked, naming the MLflow copy a person can run; the alias waits on
    /// its version and the owner comes last. Applied, the model is there
    /// and a re-plan has only the blocked versions and what waits on them.
    #[test]
    fn a_missing_model_is_created_and_its_versions_reported_blocked_with_the_fix() {
        let primary = primary();
        let first = make_plan(&primary, &empty(SECONDARY_ID), &config());
        let create = at(&first, "model:model:main.sales.churn");
        let v2 = at(&first, "model-version:model:main.sales.churn:2");
        let alias = at(&first, "model-alias:model:main.sales.churn:champion");
        let owner = at(&first, "model-owner:model:main.sales.churn");
        assert!(at(&first, "create:schema:main.sales") < create && create < v2 && v2 < alias && alias < owner);
        assert!(first.actions[alias].depends_on.contains(&first.actions[v2].id));
        let blocked: Vec<String> = first.blocked().map(|a| a.describe()).collect();
        assert_eq!(blocked.len(), 2, "{blocked:?}");
        assert!(blocked[0].contains("version 1") && blocked[0].contains("copy_model_version"), "{blocked:?}");

        let primary = apply_to_primary(&first, &primary);
        let after = apply(&first, &empty(SECONDARY_ID));
        let copy = &after.models["main.sales.churn"];
        assert_eq!((copy.comment.as_deref(), copy.versions.len()), (Some("predicts churn"), 0));
        let again = make_plan(&primary, &after, &config());
        assert!(
            again
                .actions
                .iter()
                .all(|a| a.object.kind == ObjectKind::Model || matches!(a.kind, ActionKind::SetOwner { .. })),
            "{:?}",
            again.actions
        );
        assert_eq!(again.blocked().count(), 2);
    }

    /// Once a person copied the versions (the secondary has them), the
    /// plan sets their comments and the alias and hands the model over;
    /// then nothing is left. An alias only the secondary has is deleted.
    #[test]
    fn with_the_versions_copied_comments_aliases_and_owner_follow_and_converge() {
        let primary = primary();
        let mut secondary = apply(&make_plan(&primary, &empty(SECONDARY_ID), &config()), &empty(SECONDARY_ID));
        let copied = secondary.models.get_mut("main.sales.churn").unwrap();
        copied.versions = model().versions;
        copied.versions.get_mut(&1).unwrap().comment = None;
        copied.aliases.insert("old".into(), 1);
        let plan = make_plan(&primary, &secondary, &config());
        assert_eq!(plan.blocked().count(), 0, "{:?}", plan.actions);
        let kinds: Vec<&ActionKind> =
            plan.actions.iter().filter(|a| a.object.kind == ObjectKind::Model).map(|a| &a.kind).collect();
        assert!(kinds
            .contains(&&ActionKind::Model(ModelChange::VersionComment { version: 1, comment: "version 1".into() })));
        assert!(kinds.contains(&&ActionKind::Model(ModelChange::SetAlias { alias: "champion".into(), version: 2 })));
        assert!(kinds.contains(&&ActionKind::Model(ModelChange::DeleteAlias { alias: "old".into() })));
        let after = apply(&plan, &secondary);
        assert_eq!(after.models["main.sales.churn"], primary.models["main.sales.churn"]);
        let left = make_plan(&primary, &after, &config());
        assert!(left.actions.iter().all(|a| a.object.kind != ObjectKind::Model), "{:?}", left.actions);
    }

    #[test]
    fn requests_are_the_documented_calls_with_names_escaped() {
        let path: Vec<String> = ["c", "s", "m/x"].iter().map(|s| s.to_string()).collect();
        let (method, url, body) = ModelChange::SetAlias { alias: "a b".into(), version: 3 }.request(&path);
        assert_eq!((method, url.as_str()), ("PUT", "/api/2.1/unity-catalog/models/c.s.m%2Fx/aliases/a%20b"));
        assert_eq!(body, Some(json!({"version_num": 3})));
        let (method, url, body) = ModelChange::Create { comment: None }.request(&path);
        assert_eq!((method, url.as_str()), ("POST", "/api/2.1/unity-catalog/models"));
        assert_eq!(body, Some(json!({"catalog_name": "c", "schema_name": "s", "name": "m/x"})));
        let (method, url, body) = ModelChange::Update { comment: None, owner: Some("g".into()) }.request(&path);
        assert_eq!((method, url.as_str()), ("PATCH", "/api/2.1/unity-catalog/models/c.s.m%2Fx"));
        assert_eq!(body, Some(json!({"owner": "g"})));
    }
}
