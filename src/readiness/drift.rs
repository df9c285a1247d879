//! Drift counts: the replication's own diff, tallied for people.
//!
//! Counted from `replication::diff` and nothing else, so `status` and
//! `replicate --dry-run` can never disagree about what differs. Objects are
//! counted by kind and change; grant and owner drift apart, because they are
//! about who may do what after a failover rather than what exists.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::replication::{Change, Drift, DriftKind};

/// Changes of one object kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// In the primary, not in the secondary.
    pub missing: usize,
    /// Only in the secondary (top-most only: an extra schema's tables are not counted again).
    pub extra: usize,
    /// In both, defined differently.
    pub different: usize,
    /// Delta tables whose clone is older than the primary's last commit.
    pub stale: usize,
}

impl KindCounts {
    pub fn total(&self) -> usize {
        self.missing + self.extra + self.different + self.stale
    }

    fn add(&mut self, other: &KindCounts) {
        self.missing += other.missing;
        self.extra += other.extra;
        self.different += other.different;
        self.stale += other.stale;
    }
}

/// Object drift by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DriftCounts {
    pub catalog: KindCounts,
    pub schema: KindCounts,
    pub table: KindCounts,
    pub view: KindCounts,
    pub volume: KindCounts,
    /// User-defined functions (not among `rows`, which the status card lays
    /// out; counted in `total`).
    pub function: KindCounts,
    /// Registered models (versions, aliases, comment), like functions.
    pub model: KindCounts,
}

impl DriftCounts {
    /// The kinds in display order, with their names.
    pub fn rows(&self) -> [(&'static str, KindCounts); 5] {
        [
            ("catalog", self.catalog),
            ("schema", self.schema),
            ("table", self.table),
            ("view", self.view),
            ("volume", self.volume),
        ]
    }

    /// Every kind together.
    pub fn total(&self) -> KindCounts {
        let mut total = KindCounts::default();
        for (_, counts) in self.rows() {
            total.add(&counts);
        }
        total.add(&self.function);
        total.add(&self.model);
        total
    }

    fn kind_mut(&mut self, kind: DriftKind) -> Option<&mut KindCounts> {
        match kind {
            DriftKind::Catalog => Some(&mut self.catalog),
            DriftKind::Schema => Some(&mut self.schema),
            DriftKind::Table => Some(&mut self.table),
            DriftKind::View => Some(&mut self.view),
            DriftKind::Volume => Some(&mut self.volume),
            DriftKind::Function => Some(&mut self.function),
            DriftKind::Model => Some(&mut self.model),
            DriftKind::Grants | DriftKind::Owner | DriftKind::Metadata => None,
        }
    }
}

/// Direct grants that differ on objects present on both sides.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GrantDrift {
    /// Objects with at least one principal's grants different.
    pub objects: usize,
    /// Distinct principals concerned, over all objects.
    pub principals: usize,
    /// (object, principal) pairs that differ.
    pub entries: usize,
    /// Privileges the primary grants and the secondary does not.
    pub missing_privileges: usize,
    /// Privileges only the secondary grants.
    pub extra_privileges: usize,
}

/// Owners that differ on objects present on both sides.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OwnerDrift {
    pub objects: usize,
}

/// Comments, tags and table properties that differ, like grants: the
/// objects concerned and how many pieces (a comment, a column's tags…).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MetadataDrift {
    pub objects: usize,
    pub fields: usize,
}

/// Everything the diff says, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DriftSummary {
    pub objects: DriftCounts,
    pub grants: GrantDrift,
    pub owners: OwnerDrift,
    pub metadata: MetadataDrift,
}

/// Tallies a diff.
pub fn summarise(drift: &[Drift]) -> DriftSummary {
    let mut summary = DriftSummary::default();
    let mut grant_objects = BTreeSet::new();
    let mut principals = BTreeSet::new();
    let mut owner_objects = BTreeSet::new();
    for entry in drift {
        match &entry.change {
            Change::Grants { principal, missing, extra } => {
                grant_objects.insert(&entry.object);
                principals.insert(principal.as_str());
                summary.grants.entries += 1;
                summary.grants.missing_privileges += missing.len();
                summary.grants.extra_privileges += extra.len();
            }
            Change::Owner { .. } => {
                owner_objects.insert(&entry.object);
            }
            Change::Metadata(fields) => {
                summary.metadata.objects += 1;
                summary.metadata.fields += fields.len();
            }
            change => {
                if let Some(counts) = summary.objects.kind_mut(entry.kind()) {
                    match change {
                        Change::Missing => counts.missing += 1,
                        Change::Extra => counts.extra += 1,
                        Change::Different(_) => counts.different += 1,
                        Change::Stale { .. } => counts.stale += 1,
                        Change::Grants { .. } | Change::Owner { .. } | Change::Metadata(_) => {}
                    }
                }
            }
        }
    }
    summary.grants.objects = grant_objects.len();
    summary.grants.principals = principals.len();
    summary.owners.objects = owner_objects.len();
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::diff::Field;
    use crate::replication::object::{ObjectKind, ObjectRef};

    fn drift(kind: ObjectKind, name: &str, change: Change) -> Drift {
        Drift { object: ObjectRef::new(kind, name.split('.')), change }
    }

    fn grants(principal: &str, missing: &[&str], extra: &[&str]) -> Change {
        Change::Grants {
            principal: principal.into(),
            missing: missing.iter().map(|p| p.to_string()).collect(),
            extra: extra.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn every_kind_and_change_is_counted_in_its_cell() {
        let stale = Change::Stale { primary_commit_ms: 10, secondary_commit_ms: Some(5) };
        let entries = vec![
            drift(ObjectKind::Catalog, "a", Change::Missing),
            drift(ObjectKind::Catalog, "b", Change::Extra),
            drift(ObjectKind::Catalog, "c", Change::Different(vec![Field::Comment])),
            drift(ObjectKind::Schema, "a.s", Change::Missing),
            drift(ObjectKind::Schema, "c.t", Change::Missing),
            drift(ObjectKind::Schema, "c.x", Change::Extra),
            drift(ObjectKind::Table, "c.s.t1", Change::Missing),
            drift(ObjectKind::Table, "c.s.t2", stale.clone()),
            drift(ObjectKind::Table, "c.s.t3", stale),
            drift(ObjectKind::Table, "c.s.t4", Change::Different(vec![Field::Properties])),
            drift(ObjectKind::View, "c.s.v", Change::Missing),
            drift(ObjectKind::View, "c.s.w", Change::Different(vec![Field::ViewDefinition])),
            drift(ObjectKind::Volume, "c.s.vol", Change::Extra),
            drift(ObjectKind::Model, "c.s.m", Change::Different(vec![Field::Aliases])),
        ];
        let summary = summarise(&entries);
        let o = summary.objects;
        assert_eq!(o.catalog, KindCounts { missing: 1, extra: 1, different: 1, stale: 0 });
        assert_eq!(o.schema, KindCounts { missing: 2, extra: 1, different: 0, stale: 0 });
        assert_eq!(o.table, KindCounts { missing: 1, extra: 0, different: 1, stale: 2 });
        assert_eq!(o.view, KindCounts { missing: 1, extra: 0, different: 1, stale: 0 });
        assert_eq!(o.volume, KindCounts { missing: 0, extra: 1, different: 0, stale: 0 });
        assert_eq!(o.model, KindCounts { missing: 0, extra: 0, different: 1, stale: 0 });
        assert_eq!(o.total(), KindCounts { missing: 5, extra: 3, different: 4, stale: 2 });
        assert_eq!(o.total().total(), entries.len());
        assert_eq!(summary.grants, GrantDrift::default());
        assert_eq!(summary.owners, OwnerDrift::default());
    }

    #[test]
    fn grant_drift_counts_objects_principals_and_privileges() {
        let entries = vec![
            drift(ObjectKind::Table, "c.s.t", grants("bob", &["SELECT", "MODIFY"], &[])),
            drift(ObjectKind::Table, "c.s.t", grants("eve", &[], &["SELECT"])),
            drift(ObjectKind::Schema, "c.s", grants("bob", &["USE_SCHEMA"], &[])),
            drift(ObjectKind::View, "c.s.v", Change::Owner { primary: "a".into(), secondary: "b".into() }),
            drift(ObjectKind::Table, "c.s.t", Change::Owner { primary: "a".into(), secondary: "b".into() }),
        ];
        let summary = summarise(&entries);
        assert_eq!(
            summary.grants,
            GrantDrift { objects: 2, principals: 2, entries: 3, missing_privileges: 3, extra_privileges: 1 }
        );
        assert_eq!(summary.owners.objects, 2);
        assert_eq!(summary.objects.total().total(), 0, "grant and owner drift are not object drift");
    }

    #[test]
    fn no_drift_is_all_zero() {
        assert_eq!(summarise(&[]), DriftSummary::default());
    }
}
