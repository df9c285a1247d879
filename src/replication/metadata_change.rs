//! One change of metadata (comment, tags, table properties, a column's
//! comment or tags) on one object: the data of `ActionKind::Metadata`, how a
//! plan describes it, and what it does on the snapshot model. Rendering it
//! as SQL is `metadata_action.rs`'s.

use std::collections::{BTreeMap, BTreeSet};

use super::object::{ObjectKind, ObjectRef};
use super::snapshot::{ColumnMetadata, Common, Snapshot, Tags};

/// One change of metadata on one object (the action's object).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum MetadataChange {
    /// The comment of a table, view or volume (`None` removes it).
    Comment { comment: Option<String> },
    /// The comment of a column of a table or view.
    ColumnComment { column: String, comment: Option<String> },
    /// Tags added or changed on the object, or on one of its columns.
    SetTags { column: Option<String>, tags: Tags },
    /// Tags removed from the object, or from one of its columns.
    UnsetTags { column: Option<String>, keys: BTreeSet<String> },
    /// Table properties a person set, added or changed.
    SetProperties { properties: BTreeMap<String, String> },
    /// Table properties removed.
    UnsetProperties { keys: BTreeSet<String> },
}

fn listed<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    items.into_iter().cloned().collect::<Vec<_>>().join(", ")
}

/// One line for a dry run or a progress card.
pub fn describe(object: &ObjectRef, change: &MetadataChange) -> String {
    let on = |column: &Option<String>| match column {
        Some(column) => format!("column {column} of {object}"),
        None => object.to_string(),
    };
    match change {
        MetadataChange::Comment { comment: Some(_) } => format!("set the comment of {object}"),
        MetadataChange::Comment { comment: None } => format!("remove the comment of {object}"),
        MetadataChange::ColumnComment { column, comment: Some(_) } => {
            format!("set the comment of column {column} of {object}")
        }
        MetadataChange::ColumnComment { column, comment: None } => {
            format!("remove the comment of column {column} of {object}")
        }
        MetadataChange::SetTags { column, tags } => format!("tag {} with {}", on(column), listed(tags.keys())),
        MetadataChange::UnsetTags { column, keys } => format!("remove tags {} from {}", listed(keys), on(column)),
        MetadataChange::SetProperties { properties } => {
            format!("set table properties {} of {object}", listed(properties.keys()))
        }
        MetadataChange::UnsetProperties { keys } => format!("remove table properties {} of {object}", listed(keys)),
    }
}

/// What `change` does on the model: only on an object that exists, and
/// columns only on tables and views.
pub fn apply(s: &mut Snapshot, object: &ObjectRef, change: &MetadataChange) {
    if let Some(column) = column_of(change) {
        let relation = matches!(object.kind, ObjectKind::Table | ObjectKind::View);
        let Some(table) = s.tables.get_mut(&object.full_name()).filter(|_| relation) else { return };
        let columns = &mut table.column_metadata;
        let entry = columns.entry(column.to_string()).or_default();
        change_column(entry, change);
        if entry.is_empty() {
            columns.remove(column);
        }
        return;
    }
    let Some(common) = s.common_mut(object) else { return };
    change_common(common, change);
}

fn column_of(change: &MetadataChange) -> Option<&str> {
    match change {
        MetadataChange::ColumnComment { column, .. } => Some(column),
        MetadataChange::SetTags { column, .. } | MetadataChange::UnsetTags { column, .. } => column.as_deref(),
        _ => None,
    }
}

fn change_column(entry: &mut ColumnMetadata, change: &MetadataChange) {
    match change {
        MetadataChange::ColumnComment { comment, .. } => entry.comment = comment.clone(),
        MetadataChange::SetTags { tags, .. } => entry.tags.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone()))),
        MetadataChange::UnsetTags { keys, .. } => entry.tags.retain(|k, _| !keys.contains(k)),
        _ => {}
    }
}

fn change_common(common: &mut Common, change: &MetadataChange) {
    match change {
        MetadataChange::Comment { comment } => common.comment = comment.clone(),
        MetadataChange::SetTags { tags, .. } => common.tags.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone()))),
        MetadataChange::UnsetTags { keys, .. } => common.tags.retain(|k, _| !keys.contains(k)),
        MetadataChange::SetProperties { properties } => {
            common.properties.extend(properties.iter().map(|(k, v)| (k.clone(), v.clone())))
        }
        MetadataChange::UnsetProperties { keys } => common.properties.retain(|k, _| !keys.contains(k)),
        MetadataChange::ColumnComment { .. } => {}
    }
}
