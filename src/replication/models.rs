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
//! - Its direct grants: a registered model is a securable of type FUNCTION
//!   ("when granting privileges on models with SQL, use GRANT ON FUNCTION",
//!   Unity Catalog privileges reference), so `GRANT … ON FUNCTION` and
//!   `REVOKE` as for functions, principals mapped (`principals.rs`), before
//!   the owner changes.
//! - A version's tags: the `/api/2.1/unity-catalog` API has none; the MLflow
//!   client's Unity Catalog registry does (`POST` and `DELETE
//!   /api/2.0/mlflow/unity-catalog/model-versions/tags`, read with `GET
//!   …/model-versions/get`; `databricks_uc_registry_service.proto`), on a
//!   version both sides have and whose tags both reads learned.
//!
//! A model only the secondary has is reported, never dropped; the model's
//! own tags are not replicated (only its versions').

use std::collections::{BTreeMap, BTreeSet};

use super::config::ReplicationConfig;
pub use super::model_info::{ModelChange, ModelInfo, VersionInfo};
use super::object::{ObjectKind, ObjectRef};
use super::plan::{ActionKind, BlockReason};
use super::principals::unknown_principal;
use super::snapshot::{Grants, SkippedPart, Snapshot};

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
        for (version, info) in &model.versions {
            let there = existing.and_then(|m| m.versions.get(version));
            let (Some(wanted), Some(held)) = (&info.tags, there.and_then(|v| v.tags.as_ref())) else { continue };
            for (key, value) in wanted.iter().filter(|(k, v)| held.get(*k) != Some(*v)) {
                let change = ModelChange::SetVersionTag { version: *version, key: key.clone(), value: value.clone() };
                inner.push(push("model-tag", format!("{version}:{key}"), ActionKind::Model(change), base.clone()));
            }
            for key in held.keys().filter(|k| !wanted.contains_key(*k)) {
                let change = ModelChange::DeleteVersionTag { version: *version, key: key.clone() };
                inner.push(push("model-tag", format!("{version}:{key}"), ActionKind::Model(change), base.clone()));
            }
        }
        // Its grants, under the secondary's names, before the owner changes;
        // none when the primary's are unknown, no revoke when the secondary's are.
        let no_grants = Grants::new();
        let primary_unread = model.grants_unread || primary.is_skipped(&full_name, SkippedPart::Grants);
        let wanted = match primary_unread {
            true => Grants::new(),
            false => config.principals.grants(&model.grants),
        };
        let held = match existing {
            Some(m) if m.grants_unread || secondary.is_skipped(&full_name, SkippedPart::Grants) => &no_grants,
            Some(m) if !primary_unread => &m.grants,
            _ => &no_grants,
        };
        let principals: BTreeSet<&String> = wanted.keys().chain(held.keys()).collect();
        for principal in principals {
            let (want, have) = (wanted.get(principal), held.get(principal));
            let missing: BTreeSet<String> =
                want.into_iter().flatten().filter(|p| !have.is_some_and(|h| h.contains(*p))).cloned().collect();
            let extra: BTreeSet<String> =
                have.into_iter().flatten().filter(|p| !want.is_some_and(|w| w.contains(*p))).cloned().collect();
            if !missing.is_empty() {
                let kind = match unknown_principal(secondary, config, principal) {
                    Some(reason) => ActionKind::Blocked(reason),
                    None => ActionKind::Grant { principal: principal.clone(), privileges: missing },
                };
                let blocked = matches!(kind, ActionKind::Blocked(_));
                let id = push("grant", principal.clone(), kind, base.clone());
                if !blocked {
                    inner.push(id);
                }
            }
            if !extra.is_empty() {
                let kind = ActionKind::Revoke { principal: principal.clone(), privileges: extra };
                inner.push(push("revoke", principal.clone(), kind, base.clone()));
            }
        }
        let owner = config.principals.to_secondary(&model.owner);
        let owner_differs = existing.is_none_or(|m| m.owner != owner);
        if !model.owner.is_empty() && owner_differs {
            let kind = match unknown_principal(secondary, config, &owner) {
                Some(reason) => ActionKind::Blocked(reason),
                None => ActionKind::Model(ModelChange::Update { comment: None, owner: Some(owner) }),
            };
            push("model-owner", String::new(), kind, inner);
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
        ModelChange::SetVersionTag { version, key, value } => {
            if let Some(v) = model.versions.get_mut(version) {
                v.tags.get_or_insert_with(Default::default).insert(key.clone(), value.clone());
            }
        }
        ModelChange::DeleteVersionTag { version, key } => {
            if let Some(tags) = model.versions.get_mut(version).and_then(|v| v.tags.as_mut()) {
                tags.remove(key);
            }
        }
    }
}

/// A grant or revoke on a registered model (`GRANT … ON FUNCTION`), on the
/// snapshot model.
pub(crate) fn grant_effect(s: &mut Snapshot, name: &str, principal: &str, privileges: &BTreeSet<String>, add: bool) {
    let Some(model) = s.models.get_mut(name) else { return };
    if add {
        model.grants.entry(principal.to_string()).or_default().extend(privileges.iter().cloned());
    } else if let Some(held) = model.grants.get_mut(principal) {
        held.retain(|p| !privileges.contains(p));
        if held.is_empty() {
            model.grants.remove(principal);
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
            tags: Some([("stage".to_string(), format!("v{n}"))].into()),
        };
        ModelInfo {
            catalog: "main".into(),
            schema: "sales".into(),
            name: "churn".into(),
            owner: "alice".into(),
            comment: Some("predicts churn".into()),
            versions: [(1, version(1)), (2, version(2))].into(),
            aliases: [("champion".to_string(), 2)].into(),
            grants: [("analysts".to_string(), ["EXECUTE".to_string()].into())].into(),
            grants_unread: false,
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

    /// A model's grants follow it under the mapped names (revoking what only
    /// the secondary grants), a version's tags are set and unset, all before
    /// the owner changes; a grant to a principal the secondary lacks is
    /// blocked alone, and an owner it lacks is blocked too.
    #[test]
    fn grants_and_version_tags_follow_before_the_owner_and_unknown_principals_block_alone() {
        use crate::replication::principals::PrincipalMap;
        let mut primary = primary();
        let churn = primary.models.get_mut("main.sales.churn").unwrap();
        churn.grants.insert("bob".into(), ["EXECUTE".to_string(), "APPLY_TAG".to_string()].into());
        let mut secondary = apply(&make_plan(&primary, &empty(SECONDARY_ID), &config()), &empty(SECONDARY_ID));
        let copied = secondary.models.get_mut("main.sales.churn").unwrap();
        copied.versions = model().versions;
        copied.versions.get_mut(&1).unwrap().tags = Some([("old".to_string(), "x".to_string())].into());
        copied.versions.get_mut(&2).unwrap().tags = None;
        copied.grants = [("eve".to_string(), ["EXECUTE".to_string()].into())].into();
        let mut config = config();
        config.principals = PrincipalMap::new([("bob", "bob@fabrikam")]);
        let plan = make_plan(&primary, &secondary, &config);
        let found: Vec<&ActionKind> =
            plan.actions.iter().filter(|a| a.object.kind == ObjectKind::Model).map(|a| &a.kind).collect();
        let tag = ModelChange::SetVersionTag { version: 1, key: "stage".into(), value: "v1".into() };
        assert!(found.contains(&&ActionKind::Model(tag)), "{found:?}");
        let untag = ModelChange::DeleteVersionTag { version: 1, key: "old".into() };
        assert!(found.contains(&&ActionKind::Model(untag)), "{found:?}");
        // Version 2's tags on the secondary are unknown: not compared.
        assert!(!found.iter().any(|k| matches!(k, ActionKind::Model(ModelChange::SetVersionTag { version: 2, .. }))));
        let grant = |p: &str, privileges: &[&str]| ActionKind::Grant {
            principal: p.into(),
            privileges: privileges.iter().map(|p| p.to_string()).collect(),
        };
        assert!(found.contains(&&grant("bob@fabrikam", &["APPLY_TAG", "EXECUTE"])), "{found:?}");
        assert!(found.contains(&&grant("analysts", &["EXECUTE"])), "{found:?}");
        let revoke = ActionKind::Revoke { principal: "eve".into(), privileges: ["EXECUTE".to_string()].into() };
        assert!(found.contains(&&revoke), "{found:?}");
        let owner = at(&plan, "model-owner:model:main.sales.churn");
        for id in ["grant:model:main.sales.churn:bob@fabrikam", "model-tag:model:main.sales.churn:1:stage"] {
            assert!(plan.actions[owner].depends_on.iter().any(|d| d.0 == id), "{id}: {:?}", plan.actions[owner]);
        }
        // The grants render as Databricks wants them for a model.
        let rendered =
            crate::replication::sql::render(&plan.actions[at(&plan, "grant:model:main.sales.churn:analysts")]);
        assert!(
            matches!(&rendered, Ok(crate::replication::sql::Request::Sql(sql)) if sql == "GRANT EXECUTE ON FUNCTION `main`.`sales`.`churn` TO `analysts`"),
            "{rendered:?}"
        );
        let after = apply(&plan, &secondary);
        let (got, want) = (&after.models["main.sales.churn"], &primary.models["main.sales.churn"]);
        assert_eq!(got.grants, config.principals.grants(&want.grants));
        assert_eq!(got.versions[&1].tags, want.versions[&1].tags);

        // bob's secondary name and the owner unknown there: both blocked,
        // the rest converges.
        secondary.unknown_principals = ["bob@fabrikam".to_string(), "alice".to_string()].into();
        let blocked_plan = make_plan(&primary, &secondary, &config);
        let blocked: Vec<String> = blocked_plan.blocked().map(|a| a.id.0.clone()).collect();
        assert_eq!(
            blocked,
            vec!["grant:model:main.sales.churn:bob@fabrikam".to_string(), "model-owner:model:main.sales.churn".into()]
        );
        let after = apply(&blocked_plan, &secondary);
        assert_eq!(after.models["main.sales.churn"].versions[&1].tags, want.versions[&1].tags);
        assert!(after.models["main.sales.churn"].grants.contains_key("analysts"));
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
        let tag = ModelChange::SetVersionTag { version: 2, key: "k".into(), value: "v".into() };
        let (method, url, body) = tag.request(&path);
        assert_eq!((method, url.as_str()), ("POST", "/api/2.0/mlflow/unity-catalog/model-versions/tags"));
        assert_eq!(body, Some(json!({"name": "c.s.m/x", "version": "2", "key": "k", "value": "v"})));
        let untag = ModelChange::DeleteVersionTag { version: 2, key: "k".into() };
        assert_eq!(untag.request(&path).0, "DELETE");
        let query = [("name", "c.s.m/x".to_string()), ("version", "2".into()), ("key", "k".into())];
        assert_eq!(untag.query(&path), query);
    }
}
