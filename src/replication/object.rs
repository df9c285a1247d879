//! Names of the things drift and plans talk about.
//!
//! A name is kept as its parts (`["main", "sales", "orders"]`) rather than a
//! dotted string: Unity Catalog names may hold characters SQL cares about,
//! and only the renderer (`sql.rs`) decides how to quote them.

use std::fmt;

/// What kind of object a drift entry or an action concerns.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    Catalog,
    Schema,
    Table,
    View,
    Volume,
    /// A user-defined function.
    Function,
    /// A Delta Sharing share on the primary.
    Share,
    /// A Delta Sharing recipient on the primary.
    Recipient,
    /// A catalog on the secondary mounted from a share.
    SharedCatalog,
    /// A registered model (MLflow model in Unity Catalog), `models.rs`.
    Model,
}

impl ObjectKind {
    /// Whether grants and owners apply (Unity Catalog securables).
    pub fn is_securable(self) -> bool {
        matches!(
            self,
            ObjectKind::Catalog | ObjectKind::Schema | ObjectKind::Table | ObjectKind::View | ObjectKind::Volume
        )
    }

    /// How many parts a name of this kind has (`catalog.schema.table`: 3).
    pub fn name_parts(self) -> usize {
        match self {
            ObjectKind::Schema => 2,
            ObjectKind::Table | ObjectKind::View | ObjectKind::Volume | ObjectKind::Function | ObjectKind::Model => 3,
            ObjectKind::Catalog | ObjectKind::Share | ObjectKind::Recipient | ObjectKind::SharedCatalog => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Catalog => "catalog",
            ObjectKind::Schema => "schema",
            ObjectKind::Table => "table",
            ObjectKind::View => "view",
            ObjectKind::Volume => "volume",
            ObjectKind::Function => "function",
            ObjectKind::Share => "share",
            ObjectKind::Recipient => "recipient",
            ObjectKind::SharedCatalog => "shared catalog",
            ObjectKind::Model => "model",
        }
    }
}

/// One object: its kind and its name as parts.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    pub kind: ObjectKind,
    pub path: Vec<String>,
}

impl ObjectRef {
    pub fn new<I, S>(kind: ObjectKind, path: I) -> ObjectRef
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ObjectRef { kind, path: path.into_iter().map(Into::into).collect() }
    }

    /// The dotted full name, as the REST API spells it (for display and
    /// lookups in a snapshot; never for SQL).
    pub fn full_name(&self) -> String {
        self.path.join(".")
    }

    /// Whether `self` is `other` or lies inside it (a table inside its
    /// schema and catalog).
    pub fn is_within(&self, other: &ObjectRef) -> bool {
        self.path.len() >= other.path.len()
            && self.path[..other.path.len()] == other.path[..]
            && matches!(
                other.kind,
                ObjectKind::Catalog | ObjectKind::Schema | ObjectKind::Table | ObjectKind::View | ObjectKind::Volume
            )
            && !matches!(self.kind, ObjectKind::Share | ObjectKind::Recipient | ObjectKind::SharedCatalog)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.full_name())
    }
}
