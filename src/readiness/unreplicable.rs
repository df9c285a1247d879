//! The objects in scope that replication cannot copy, grouped by why.
//!
//! Drift says what the secondary lacks; this says which of those the next
//! run will not fix by itself, and what stands in the way, so the dashboard
//! can list them by reason instead of leaving a person to read a plan. It
//! reads the plan the planner would make now (pure, from the same
//! snapshots): every `Blocked` action is one object that cannot be
//! replicated as things stand.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::replication::plan::{ActionKind, Plan};

/// Objects blocked for one kind of reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnreplicableGroup {
    /// `BlockReason::category`, e.g. "no location mapping".
    pub category: String,
    pub count: usize,
    /// The first few objects' full names.
    pub examples: Vec<String>,
    /// The first object's reason in full (with its fix).
    pub reason: String,
}

/// How many objects each group names.
const EXAMPLES: usize = 3;

/// The plan's blocked objects by category, largest group first (then by name).
pub fn unreplicable(plan: &Plan) -> Vec<UnreplicableGroup> {
    let mut groups: BTreeMap<&'static str, UnreplicableGroup> = BTreeMap::new();
    for action in &plan.actions {
        let ActionKind::Blocked(reason) = &action.kind else { continue };
        let category = reason.category();
        let group = groups.entry(category).or_insert_with(|| UnreplicableGroup {
            category: category.to_string(),
            count: 0,
            examples: Vec::new(),
            reason: reason.to_string(),
        });
        group.count += 1;
        let name = action.object.full_name();
        if group.examples.len() < EXAMPLES && !group.examples.contains(&name) {
            group.examples.push(name);
        }
    }
    let mut out: Vec<UnreplicableGroup> = groups.into_values().collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.category.cmp(&b.category)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::object::{ObjectKind, ObjectRef};
    use crate::replication::plan::{Action, ActionId, BlockReason};

    fn blocked(name: &str, reason: BlockReason) -> Action {
        let path: Vec<String> = name.split('.').map(String::from).collect();
        Action {
            id: ActionId(format!("blocked:{name}")),
            object: ObjectRef { kind: ObjectKind::Table, path },
            kind: ActionKind::Blocked(reason),
            depends_on: vec![],
        }
    }

    #[test]
    fn blocked_objects_are_grouped_by_category_largest_first() {
        let unmapped = |l: &str| BlockReason::Unmapped { location: l.into() };
        let python = BlockReason::Unsupported { what: "a Python UDF".into() };
        let plan = Plan {
            actions: vec![
                blocked("main.a.t1", unmapped("abfss://x@a/1")),
                blocked("main.a.t2", unmapped("abfss://x@a/2")),
                blocked("main.a.t3", unmapped("abfss://x@a/3")),
                blocked("main.a.t4", unmapped("abfss://x@a/4")),
                blocked("main.a.f", python),
            ],
            ..Plan::default()
        };
        let groups = unreplicable(&plan);
        assert_eq!(groups.len(), 2);
        assert_eq!((groups[0].category.as_str(), groups[0].count), ("no location mapping", 4));
        assert_eq!(groups[0].examples, ["main.a.t1", "main.a.t2", "main.a.t3"]);
        assert!(groups[0].reason.contains("abfss://x@a/1"), "{}", groups[0].reason);
        assert_eq!((groups[1].category.as_str(), groups[1].count), ("not supported", 1));
        assert!(unreplicable(&Plan::default()).is_empty());
    }
}
