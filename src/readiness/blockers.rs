//! What stops a pair from replicating at all, each with the fix and who
//! must make it: readiness blockers, not replication failures. A pair whose
//! set-up is incomplete (a region without a metastore, no warehouse for the
//! engine) or broken later (the recipient deleted, a share's owner that lost
//! SELECT, the secondary gone) says so on `status PAIR` and in
//! `drbot status --json`, before anyone types `replicate` and gets failures.
//!
//! Pure: judged from the two snapshots (or why one is missing) and what the
//! secondary said of the pair's warehouse.

use serde::Serialize;

use super::report::Side;
use crate::replication::planner::{principal_names, reads};
use crate::replication::snapshot::TableKind;
use crate::replication::snapshot::{SkippedPart, Snapshot};
use crate::replication::ReplicationConfig;

/// One blocker: what is wrong, and what fixes it (who, and how).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// `metastore`, `workspace`, `warehouse`, `recipient`, `share_owner`.
    pub kind: &'static str,
    pub problem: String,
    pub fix: String,
}

/// What the secondary said of the pair's warehouse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum WarehouseCheck {
    /// Not asked (the secondary was unreachable, or the caller does not know).
    #[default]
    Unknown,
    /// The pair names none.
    NotSet,
    /// The secondary has no warehouse with this id.
    Missing(String),
    /// It exists (in whatever state).
    Present,
}

/// What was seen of one workspace, for the blockers.
pub enum Seen<'a> {
    Read(&'a Snapshot),
    Unreachable(&'a str),
}

/// Every blocker of the pair, the most fundamental first.
pub fn blockers(
    primary: Seen<'_>,
    secondary: Seen<'_>,
    warehouse: &WarehouseCheck,
    config: &ReplicationConfig,
) -> Vec<Blocker> {
    let mut out = Vec::new();
    for (side, seen) in [(Side::Primary, &primary), (Side::Secondary, &secondary)] {
        if let Seen::Unreachable(error) = seen {
            out.push(unreachable(side, error));
        }
    }
    match warehouse {
        WarehouseCheck::NotSet => out.push(Blocker {
            kind: "warehouse",
            problem: "the pair has no SQL warehouse for the replication engine".into(),
            fix: "a workspace admin of the secondary creates one (serverless where the region offers it) and sets it \
                  on the pair (pair add … warehouse=ID), or deploys the spoke again as one"
                .into(),
        }),
        WarehouseCheck::Missing(id) => out.push(Blocker {
            kind: "warehouse",
            problem: format!("the pair's SQL warehouse {id} does not exist in the secondary"),
            fix: "a workspace admin of the secondary creates a warehouse and sets its id on the pair (pair add … \
                  warehouse=ID), or deploys the spoke again (it finds or makes drbot-PAIR)"
                .into(),
        }),
        WarehouseCheck::Unknown | WarehouseCheck::Present => {}
    }
    if let (Seen::Read(p), Seen::Read(s)) = (&primary, &secondary) {
        out.extend(recipient(p, s, config));
        out.extend(share_owners(p, config));
    }
    out
}

/// An unreachable workspace; one without a metastore is the account admin's.
fn unreachable(side: Side, error: &str) -> Blocker {
    let lower = error.to_ascii_lowercase();
    if lower.contains("metastore") && (lower.contains("not exist") || lower.contains("no metastore")) {
        return Blocker {
            kind: "metastore",
            problem: format!("the {} workspace has no Unity Catalog metastore: {error}", side.as_str()),
            fix: "a Databricks account admin must create a metastore in the workspace's region and assign it to the \
                  workspace (or deploy the spoke again as one)"
                .into(),
        };
    }
    Blocker {
        kind: "workspace",
        problem: format!("the {} workspace is unreachable: {error}", side.as_str()),
        fix: format!(
            "check that the {} workspace is up and its URL on the pair is right, and that the identity reading it \
             may sign in to it (an admin adds it to the workspace)",
            side.as_str()
        ),
    }
}

/// The recipient is gone while the pair's sharing is in place (a share, or
/// the share mounted on the secondary): it was deleted, and every mounted
/// catalog is cut off from the primary.
fn recipient(primary: &Snapshot, secondary: &Snapshot, config: &ReplicationConfig) -> Option<Blocker> {
    let read = |s: &Snapshot| !s.skipped.iter().any(|k| k.part == SkippedPart::Sharing);
    if !read(primary) || primary.sharing.recipients.contains_key(&config.recipient_name) {
        return None;
    }
    let shared = primary.sharing.shares.keys().any(|share| share.starts_with(&config.share_prefix))
        || secondary.catalogs.keys().any(|c| config.is_shared_catalog_name(c));
    shared.then(|| Blocker {
        kind: "recipient",
        problem: format!(
            "the Delta Sharing recipient {} is missing on the primary: the secondary can no longer read the shares",
            config.recipient_name
        ),
        fix: "run replicate for this pair: it creates the recipient again for the secondary's metastore and grants \
              it SELECT on the shares (a metastore admin, or someone with CREATE RECIPIENT, must run it)"
            .into(),
    })
}

/// A share of the pair whose owner cannot read a table it shares: the
/// recipient cannot read it either (REST reference, Shares › Update).
fn share_owners(primary: &Snapshot, config: &ReplicationConfig) -> Vec<Blocker> {
    let mut out = Vec::new();
    for (share, info) in &primary.sharing.shares {
        if !share.starts_with(&config.share_prefix) || info.owner.is_empty() {
            continue;
        }
        let names = principal_names(primary, &info.owner);
        let unreadable: Vec<String> = primary
            .tables
            .values()
            .filter(|t| info.schemas.contains(&format!("{}.{}", t.catalog, t.schema)))
            .filter(|t| t.kind == TableKind::Managed && t.is_delta() && !reads(primary, &names, t))
            .map(|t| t.full_name())
            .collect();
        let Some(first) = unreadable.first() else { continue };
        let more = unreadable.len() - 1;
        out.push(Blocker {
            kind: "share_owner",
            problem: format!(
                "the owner of share {share}, {}, cannot read {first}{}: the secondary cannot read it either",
                info.owner,
                if more > 0 { format!(" (and {more} more)") } else { String::new() }
            ),
            fix: format!(
                "an owner of the catalog grants it back: GRANT USE CATALOG, USE SCHEMA, SELECT ON CATALOG {} TO `{}`",
                first.split('.').next().unwrap_or_default(),
                info.owner
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::fixtures::*;
    use crate::replication::snapshot::ShareInfo;

    fn shared() -> (Snapshot, Snapshot) {
        let mut primary = empty(PRIMARY_ID)
            .with_catalog(catalog("main", crate::replication::snapshot::CatalogKind::Managed))
            .with_schema(schema("main", "sales"))
            .with_table(managed("main.sales.orders", 1));
        primary.catalogs.get_mut("main").unwrap().common.grants =
            [("dr".to_string(), ["SELECT".to_string()].into())].into();
        primary.sharing.recipients.insert("drbot_secondary".into(), SECONDARY_ID.into());
        primary.sharing.shares.insert(
            "drbot_main".into(),
            ShareInfo {
                schemas: ["main.sales".to_string()].into(),
                recipients_with_select: ["drbot_secondary".to_string()].into(),
                owner: "dr".into(),
            },
        );
        (primary, empty(SECONDARY_ID))
    }

    #[test]
    fn a_healthy_pair_has_none() {
        let (p, s) = shared();
        assert_eq!(blockers(Seen::Read(&p), Seen::Read(&s), &WarehouseCheck::Present, &config()), vec![]);
    }

    #[test]
    fn each_blocker_names_its_fix() {
        let (mut p, s) = shared();
        // The recipient deleted while the share is in place.
        p.sharing.recipients.clear();
        // The share's owner lost SELECT.
        p.catalogs.get_mut("main").unwrap().common.grants.clear();
        let found = blockers(Seen::Read(&p), Seen::Read(&s), &WarehouseCheck::Missing("abc".into()), &config());
        let kinds: Vec<&str> = found.iter().map(|b| b.kind).collect();
        assert_eq!(kinds, ["warehouse", "recipient", "share_owner"]);
        assert!(found[0].problem.contains("abc") && found[0].fix.contains("warehouse=ID"), "{found:?}");
        assert!(found[1].problem.contains("drbot_secondary") && found[1].fix.contains("replicate"), "{found:?}");
        assert!(found[2].problem.contains("main.sales.orders"), "{found:?}");
        assert!(found[2].fix.contains("GRANT USE CATALOG, USE SCHEMA, SELECT ON CATALOG main TO `dr`"), "{found:?}");

        // Never set up: no recipient is no blocker (the first replicate makes it).
        let (mut fresh, s) = shared();
        fresh.sharing.recipients.clear();
        fresh.sharing.shares.clear();
        let none = blockers(Seen::Read(&fresh), Seen::Read(&s), &WarehouseCheck::NotSet, &config());
        assert_eq!(none.iter().map(|b| b.kind).collect::<Vec<_>>(), ["warehouse"]);
    }

    #[test]
    fn an_unreachable_side_and_a_missing_metastore() {
        let (p, _) = shared();
        let found =
            blockers(Seen::Read(&p), Seen::Unreachable("connection refused"), &WarehouseCheck::Unknown, &config());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, "workspace");
        assert!(found[0].problem.contains("secondary") && found[0].fix.contains("URL on the pair"), "{found:?}");
        let error = "not found: No metastore assigned for the current workspace.";
        let found = blockers(Seen::Unreachable(error), Seen::Read(&p), &WarehouseCheck::Present, &config());
        assert_eq!(found[0].kind, "metastore");
        assert!(found[0].fix.contains("account admin must create a metastore"), "{found:?}");
    }
}
