//! Which kind of dataset a materialized view or streaming table is: a leaf
//! type the plan, the renderer and the planning of `datasets.rs` share.

use super::snapshot::TableKind;

/// Which kind of dataset.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dataset {
    MaterializedView,
    StreamingTable,
}

impl Dataset {
    pub fn of(kind: &TableKind) -> Option<Dataset> {
        match kind {
            TableKind::MaterializedView => Some(Dataset::MaterializedView),
            TableKind::StreamingTable => Some(Dataset::StreamingTable),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Dataset::MaterializedView => "materialized view",
            Dataset::StreamingTable => "streaming table",
        }
    }

    pub fn kind(self) -> TableKind {
        match self {
            Dataset::MaterializedView => TableKind::MaterializedView,
            Dataset::StreamingTable => TableKind::StreamingTable,
        }
    }
}
