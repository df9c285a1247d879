//! Metadata that clones do not carry: comments, tags, the table properties a
//! person set, and column comments and tags.
//!
//! Databricks' clone documentation ("Clone a table on Azure Databricks"):
//! the cloned metadata is the schema, partitioning, invariants, nullability
//! and TBLPROPERTIES; "metadata not cloned are the table description and
//! user-defined commit metadata", and clones "don't copy … Unity Catalog
//! properties, such as tags". A view or volume made by a plan has none of
//! its primary's metadata either (`CREATE VIEW` and `CREATE EXTERNAL VOLUME`
//! are issued without it). So after an object is created every piece the
//! primary has is set on it, and on objects both sides hold every piece
//! that differs is changed; either way by idempotent statements
//! (`COMMENT ON … IS`, `SET TAGS` / `UNSET TAGS`, `SET TBLPROPERTIES` /
//! `UNSET TBLPROPERTIES IF EXISTS`), each an action of its own
//! (`metadata_action.rs`), reported per object.
//!
//! What is compared (`fields`), for objects on both sides:
//! - catalogs and schemas: their tags (their comment and properties are
//!   `Field::Comment` / `Field::Properties`, set by the REST update);
//! - tables: comment, user properties, tags, column comments and tags;
//! - views: comment, tags, column comments and tags;
//! - volumes: comment and tags.
//!
//! Tags come from `information_schema` only (`tags.rs`): when either side
//! could not read them (`SkippedPart::Tags`), they are unknown and neither
//! compared nor set, which readiness and the dry run show as the skip.
//!
//! Constraints: CHECK constraints are stored as `delta.constraints.*` table
//! properties, which a deep clone carries with the other TBLPROPERTIES;
//! primary and foreign keys are informational Unity Catalog metadata that
//! the tables API does not report in the fields drbot reads, so they are
//! neither compared nor replicated (stated in the README's feature table).

use std::collections::{BTreeMap, BTreeSet};

use super::metadata_change::MetadataChange;
use super::object::ObjectKind;
use super::snapshot::{ColumnMetadata, Common, SkippedPart, Snapshot, Tags};

/// Property keys that belong to the system, not to a person: Delta's own
/// (`delta.*`: its protocol, features, constraints and bookkeeping, which a
/// deep clone carries as TBLPROPERTIES, or which describe the table's own
/// commits), Spark's (`spark.*`: statistics, the source schema), a view's
/// captured SQL configuration (`view.*`), a pipeline's (`pipelines.*`),
/// data source options (`option.*`) and the keys Databricks reserves or
/// maintains (`TBLPROPERTIES` reference: `external`, `location`, `owner`,
/// `provider`; `clusteringColumns` for liquid clustering, carried by the
/// clone; `transient_lastDdlTime`).
const SYSTEM_PREFIXES: &[&str] = &["delta.", "spark.", "view.", "pipelines.", "option."];
const SYSTEM_KEYS: &[&str] =
    &["external", "location", "owner", "provider", "comment", "clusteringColumns", "transient_lastDdlTime"];

/// Whether `key` is maintained by Databricks rather than set by a person.
pub fn is_system_property(key: &str) -> bool {
    SYSTEM_PREFIXES.iter().any(|p| key.starts_with(p)) || SYSTEM_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k))
}

/// The properties a person set.
pub fn user_properties(properties: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    properties.iter().filter(|(k, _)| !is_system_property(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Whether both snapshots know their tags.
pub fn tags_known(primary: &Snapshot, secondary: &Snapshot) -> bool {
    !primary.is_skipped("", SkippedPart::Tags) && !secondary.is_skipped("", SkippedPart::Tags)
}

/// What a plan between these snapshots cannot compare: the tags of a side
/// whose read did not learn them, with the reader's reason.
pub fn not_compared(primary: &Snapshot, secondary: &Snapshot) -> Vec<String> {
    [("primary", primary), ("secondary", secondary)]
        .into_iter()
        .flat_map(|(side, snapshot)| {
            snapshot.skipped.iter().filter(|s| s.part == SkippedPart::Tags).map(move |s| match s.full_name.as_str() {
                "" => format!("tags were neither compared nor copied: the {side}'s were not read ({})", s.reason),
                object => format!(
                    "the tags of {} {object} were neither compared nor copied: the {side}'s were not read ({})",
                    s.securable, s.reason
                ),
            })
        })
        .collect()
}

/// One piece of metadata that differs between the two sides.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MetadataField {
    Comment,
    /// The user properties (`user_properties`).
    Properties,
    Tags,
    ColumnComment(String),
    ColumnTags(String),
    /// Its informational primary and foreign keys (`constraints.rs`),
    /// which the planner sets with their own actions.
    Constraints,
}

impl std::fmt::Display for MetadataField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetadataField::Comment => f.write_str("comment"),
            MetadataField::Properties => f.write_str("table properties"),
            MetadataField::Tags => f.write_str("tags"),
            MetadataField::ColumnComment(c) => write!(f, "comment of column {c}"),
            MetadataField::ColumnTags(c) => write!(f, "tags of column {c}"),
            MetadataField::Constraints => f.write_str("primary and foreign keys"),
        }
    }
}

/// The metadata of one object, as compared and set.
#[derive(Clone, Copy, Debug)]
pub struct Side<'a> {
    pub common: &'a Common,
    pub columns: Option<&'a BTreeMap<String, ColumnMetadata>>,
}

/// What this kind of object carries of the metadata compared here.
fn carries(kind: ObjectKind) -> (bool, bool, bool) {
    // (comment, properties, columns); tags on every kind here.
    match kind {
        ObjectKind::Table => (true, true, true),
        ObjectKind::View => (true, false, true),
        ObjectKind::Volume => (true, false, false),
        _ => (false, false, false),
    }
}

fn comment(text: &Option<String>) -> Option<&str> {
    text.as_deref().filter(|c| !c.is_empty())
}

fn column<'a>(columns: Option<&'a BTreeMap<String, ColumnMetadata>>, name: &str) -> Option<&'a ColumnMetadata> {
    columns.and_then(|c| c.get(name))
}

/// Which metadata of an object of `kind` on both sides differs.
pub fn fields(kind: ObjectKind, primary: Side<'_>, secondary: Side<'_>, tags: bool) -> Vec<MetadataField> {
    let (has_comment, has_properties, has_columns) = carries(kind);
    let mut out = Vec::new();
    if has_comment && comment(&primary.common.comment) != comment(&secondary.common.comment) {
        out.push(MetadataField::Comment);
    }
    if has_properties && user_properties(&primary.common.properties) != user_properties(&secondary.common.properties) {
        out.push(MetadataField::Properties);
    }
    if tags && primary.common.tags != secondary.common.tags {
        out.push(MetadataField::Tags);
    }
    if has_columns {
        let names: BTreeSet<&String> =
            primary.columns.into_iter().chain(secondary.columns).flat_map(|c| c.keys()).collect();
        for name in names {
            let (a, b) = (column(primary.columns, name), column(secondary.columns, name));
            if a.and_then(|c| comment(&c.comment)) != b.and_then(|c| comment(&c.comment)) {
                out.push(MetadataField::ColumnComment(name.clone()));
            }
            let empty = Tags::new();
            if tags && a.map_or(&empty, |c| &c.tags) != b.map_or(&empty, |c| &c.tags) {
                out.push(MetadataField::ColumnTags(name.clone()));
            }
        }
    }
    out
}

/// What makes `secondary` (absent: an object this plan creates, which has
/// none of it) carry `primary`'s metadata: each change with the key that
/// tells it apart among the object's actions.
pub fn changes(
    kind: ObjectKind,
    primary: Side<'_>,
    secondary: Option<Side<'_>>,
    tags: bool,
) -> Vec<(String, MetadataChange)> {
    let empty_common = Common::default();
    let secondary = secondary.unwrap_or(Side { common: &empty_common, columns: None });
    let mut out = Vec::new();
    for field in fields(kind, primary, secondary, tags) {
        match field {
            MetadataField::Comment => out.push((
                "comment".to_string(),
                MetadataChange::Comment { comment: comment(&primary.common.comment).map(str::to_string) },
            )),
            MetadataField::Properties => {
                let (set, unset) =
                    delta(&user_properties(&primary.common.properties), &user_properties(&secondary.common.properties));
                if !set.is_empty() {
                    out.push(("properties".into(), MetadataChange::SetProperties { properties: set }));
                }
                if !unset.is_empty() {
                    out.push(("unset-properties".into(), MetadataChange::UnsetProperties { keys: unset }));
                }
            }
            MetadataField::Tags => tag_changes(None, &primary.common.tags, &secondary.common.tags, &mut out),
            MetadataField::ColumnComment(name) => {
                let wanted = column(primary.columns, &name).and_then(|c| comment(&c.comment)).map(str::to_string);
                out.push((
                    format!("column-comment:{name}"),
                    MetadataChange::ColumnComment { column: name, comment: wanted },
                ));
            }
            MetadataField::ColumnTags(name) => {
                let empty = Tags::new();
                let wanted = column(primary.columns, &name).map_or(&empty, |c| &c.tags);
                let held = column(secondary.columns, &name).map_or(&empty, |c| &c.tags);
                tag_changes(Some(&name), wanted, held, &mut out);
            }
            // Never among `fields` (diff adds it); planned in `Planner::constraints`.
            MetadataField::Constraints => {}
        }
    }
    out
}

fn tag_changes(column: Option<&str>, wanted: &Tags, held: &Tags, out: &mut Vec<(String, MetadataChange)>) {
    let (set, unset) = delta(wanted, held);
    let suffix = column.map(|c| format!(":{c}")).unwrap_or_default();
    let prefix = if column.is_some() { "column-" } else { "" };
    if !set.is_empty() {
        out.push((
            format!("{prefix}tags{suffix}"),
            MetadataChange::SetTags { column: column.map(str::to_string), tags: set },
        ));
    }
    if !unset.is_empty() {
        out.push((
            format!("{prefix}untag{suffix}"),
            MetadataChange::UnsetTags { column: column.map(str::to_string), keys: unset },
        ));
    }
}

/// The entries of `wanted` that `held` lacks or holds differently, and the
/// keys only `held` has.
fn delta(
    wanted: &BTreeMap<String, String>,
    held: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let set = wanted.iter().filter(|(k, v)| held.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let unset = held.keys().filter(|k| !wanted.contains_key(*k)).cloned().collect();
    (set, unset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(comment: Option<&str>, properties: &[(&str, &str)], tags: &[(&str, &str)]) -> Common {
        Common {
            comment: comment.map(str::to_string),
            properties: properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Common::default()
        }
    }

    /// The planner: a new table's metadata is set after its clone and
    /// before its owner changes hands; an existing one gets only what
    /// differs; applied on the model, a second plan is empty; with tags
    /// unread on one side, no tag is planned and the plan says so.
    #[test]
    fn planned_after_the_clone_before_the_owner_then_nothing() {
        use crate::replication::fixtures::*;
        use crate::replication::model::{apply, apply_to_primary};
        use crate::replication::plan::ActionKind;
        use crate::replication::planner::plan;
        use crate::replication::snapshot::CatalogKind;

        let mut orders = managed("main.sales.orders", 10);
        orders.common.owner = "alice".into();
        orders.common.comment = Some("orders".into());
        orders.common.tags.insert("tier".into(), "gold".into());
        orders.common.properties.insert("delta.appendOnly".into(), "true".into());
        orders.common.properties.insert("quality".into(), "gold".into());
        orders.column_metadata.insert(
            "email".into(),
            ColumnMetadata { comment: Some("contact".into()), tags: [("pii".to_string(), String::new())].into() },
        );
        let mut main = catalog("main", CatalogKind::Managed);
        main.common.tags.insert("env".into(), "prod".into());
        let primary = empty(PRIMARY_ID).with_catalog(main).with_schema(schema("main", "sales")).with_table(orders);
        let first = plan(&primary, &empty(SECONDARY_ID), &config());
        let at = |id: &str| first.actions.iter().position(|a| a.id.0 == id).unwrap_or_else(|| panic!("no {id}"));
        let clone = at("clone:table:main.sales.orders");
        let owner = at("owner:table:main.sales.orders");
        for key in ["comment", "properties", "tags", "column-comment:email", "column-tags:email"] {
            let id = format!("metadata:table:main.sales.orders:{key}");
            let action = &first.actions[at(&id)];
            assert!(action.depends_on.contains(&first.actions[clone].id), "{id} waits for the clone");
            assert!(first.actions[owner].depends_on.contains(&action.id), "the owner change waits for {id}");
        }
        let properties = &first.actions[at("metadata:table:main.sales.orders:properties")];
        assert!(
            matches!(&properties.kind, ActionKind::Metadata(MetadataChange::SetProperties { properties })
                if properties.keys().collect::<Vec<_>>() == ["quality"]),
            "Delta's own properties are carried by the clone, not set: {properties:?}"
        );
        assert!(first.actions.iter().any(|a| a.id.0 == "metadata:catalog:main:tags"));
        assert!(first.not_compared.is_empty());

        let primary = apply_to_primary(&first, &primary);
        let after = apply(&first, &empty(SECONDARY_ID));
        assert!(plan(&primary, &after, &config()).is_empty(), "{:?}", plan(&primary, &after, &config()));

        // Changed on the secondary: only that is planned back.
        let mut drifted = after.clone();
        drifted.tables.get_mut("main.sales.orders").unwrap().common.tags.insert("extra".into(), "x".into());
        let again = plan(&primary, &drifted, &config());
        let kinds: Vec<&ActionKind> = again.actions.iter().map(|a| &a.kind).collect();
        assert!(
            matches!(kinds.as_slice(), [ActionKind::Metadata(MetadataChange::UnsetTags { column: None, keys })]
                if keys.iter().collect::<Vec<_>>() == ["extra"]),
            "{kinds:?}"
        );

        // Tags unread on the primary: none planned, and the plan says why.
        let mut blind = primary.clone();
        blind.skipped.push(crate::replication::tags::unread("the warehouse is STOPPED".into()));
        let unread = plan(&blind, &empty(SECONDARY_ID), &config());
        assert!(!unread.actions.iter().any(|a| matches!(a.kind, ActionKind::Metadata(MetadataChange::SetTags { .. }))));
        assert_eq!(unread.not_compared.len(), 1);
        assert!(unread.not_compared[0].contains("primary's were not read (the warehouse is STOPPED)"));
    }

    #[test]
    fn only_the_properties_a_person_set_count() {
        let properties: BTreeMap<String, String> = [
            ("delta.enableChangeDataFeed", "true"),
            ("delta.constraints.positive", "amount > 0"),
            ("spark.sql.statistics.numRows", "4"),
            ("view.sqlConfig.spark.sql.ansi.enabled", "true"),
            ("clusteringColumns", "[[\"id\"]]"),
            ("owner_team", "finance"),
            ("quality", "gold"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let user = user_properties(&properties);
        assert_eq!(user.keys().collect::<Vec<_>>(), ["owner_team", "quality"]);
    }

    #[test]
    fn a_new_object_gets_everything_the_primary_has_and_an_existing_one_what_differs() {
        let columns: BTreeMap<String, ColumnMetadata> = [(
            "email".to_string(),
            ColumnMetadata { comment: Some("contact".into()), tags: [("pii".to_string(), "email".to_string())].into() },
        )]
        .into();
        let primary = common(Some("orders"), &[("delta.x", "1"), ("team", "a")], &[("tier", "gold")]);
        let side = Side { common: &primary, columns: Some(&columns) };
        let fresh = changes(ObjectKind::Table, side, None, true);
        let keys: Vec<&str> = fresh.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["comment", "properties", "tags", "column-comment:email", "column-tags:email"]);
        assert!(matches!(&fresh[1].1, MetadataChange::SetProperties { properties } if properties.len() == 1));

        // Without tags known, no tag is compared or set.
        let blind: Vec<String> = changes(ObjectKind::Table, side, None, false).into_iter().map(|(k, _)| k).collect();
        assert_eq!(blind, ["comment", "properties", "column-comment:email"]);

        let held = common(Some("orders"), &[("team", "b"), ("old", "x")], &[("tier", "gold"), ("stale", "")]);
        let other = Side { common: &held, columns: None };
        let found = changes(ObjectKind::Table, side, Some(other), true);
        let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["properties", "unset-properties", "untag", "column-comment:email", "column-tags:email"]);

        // A volume has no properties or columns compared; a catalog only tags.
        assert_eq!(fields(ObjectKind::Volume, side, other, true), [MetadataField::Tags]);
        let plain = common(None, &[], &[]);
        assert!(fields(ObjectKind::Catalog, side, Side { common: &plain, columns: None }, true)
            .iter()
            .all(|f| *f == MetadataField::Tags));
        // Identical metadata, nothing to do; an empty comment is none.
        let mut same = primary.clone();
        same.comment = Some(String::new());
        let mut with_comment = primary.clone();
        with_comment.comment = None;
        let a = Side { common: &same, columns: None };
        let b = Side { common: &with_comment, columns: Some(&BTreeMap::new()) };
        assert!(fields(ObjectKind::Table, a, b, true).is_empty());
    }
}
