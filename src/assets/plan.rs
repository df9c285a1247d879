//! An asset plan: one item per object a kind read, with what applying it
//! would change. Pure data, shown before it runs (the plan card, a dry run)
//! and applied afterwards.
//!
//! Unchanged and blocked objects are items too, so a plan accounts for every
//! object read: the result card counts them, and a dry run lists exactly the
//! creates and updates ([`AssetPlan::differences`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What applying an item changes in the secondary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The secondary has no counterpart: it is created.
    Create,
    /// The counterpart differs in these top-level fields: it is updated.
    Update { fields: Vec<String> },
    /// The counterpart is already what the primary's object maps to.
    Unchanged,
    /// The object cannot be copied until someone acts (a reference with no
    /// counterpart in the secondary, a principal with no mapping).
    Blocked { reason: String },
}

/// One object of one kind, and what applying its item does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanItem {
    /// The kind's name (`job`).
    pub kind: String,
    /// The object's stable key in the primary (a job id, a path): with the
    /// kind, the item's id across re-plans, so a resumed run knows it.
    pub key: String,
    /// What people call it (a job's name, a path).
    pub name: String,
    #[serde(flatten)]
    pub change: Change,
    /// What the kind needs to apply it (the secondary's definition, the
    /// counterpart's id); opaque to the framework.
    #[serde(default)]
    pub payload: Value,
    /// What a person reading the plan needs beside the change (the remote a
    /// git folder clones, the vault a scope reads), or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// What applying it leaves out and why (a principal the secondary does
    /// not have): the rest is applied, and the item ends blocked with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_back: Option<String>,
}

impl PlanItem {
    /// An item whose key is its name (a path, a policy's name), no payload.
    pub fn named(kind: &str, name: &str, change: Change) -> PlanItem {
        PlanItem {
            kind: kind.into(),
            key: name.into(),
            name: name.into(),
            change,
            payload: Value::Null,
            detail: String::new(),
            held_back: None,
        }
    }

    /// Leaving out what `reason` says (`None`: nothing). An action applies
    /// the rest and ends blocked with the reason; an item with nothing else
    /// to do is blocked with it.
    pub fn holding_back(mut self, reason: Option<String>) -> PlanItem {
        let Some(reason) = reason else { return self };
        match self.change {
            Change::Create | Change::Update { .. } => self.held_back = Some(reason),
            Change::Unchanged => self.change = Change::Blocked { reason },
            Change::Blocked { .. } => {}
        }
        self
    }

    /// With what the kind needs to apply it.
    pub fn with_payload(mut self, payload: impl Serialize) -> PlanItem {
        self.payload = serde_json::to_value(payload).unwrap_or(Value::Null);
        self
    }

    /// With a few words for the person reading the plan.
    pub fn with_detail(mut self, detail: impl Into<String>) -> PlanItem {
        self.detail = detail.into();
        self
    }

    /// The payload as the kind wrote it.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(self.payload.clone()).map_err(|e| format!("the plan's {} payload: {e}", self.kind))
    }

    /// `kind:key`, stable across re-plans of the same state.
    pub fn id(&self) -> String {
        format!("{}:{}", self.kind, self.key)
    }

    /// True when applying it changes the secondary.
    pub fn is_action(&self) -> bool {
        matches!(self.change, Change::Create | Change::Update { .. })
    }

    /// A short word for the change, for cards and the CLI.
    pub fn verb(&self) -> &'static str {
        match self.change {
            Change::Create => "create",
            Change::Update { .. } => "update",
            Change::Unchanged => "unchanged",
            Change::Blocked { .. } => "blocked",
        }
    }
}

/// Every item of every kind a run read, in the order they are applied.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssetPlan {
    pub items: Vec<PlanItem>,
}

/// How many items of one kind fall under each change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCounts {
    pub create: usize,
    pub update: usize,
    pub unchanged: usize,
    pub blocked: usize,
}

impl KindCounts {
    /// Missing or different in the secondary: the kind's drift.
    pub fn drift(&self) -> usize {
        self.create + self.update
    }
}

impl AssetPlan {
    /// The items that change the secondary: what a dry run lists.
    pub fn differences(&self) -> impl Iterator<Item = &PlanItem> {
        self.items.iter().filter(|item| item.is_action())
    }

    /// True when applying it would change nothing (a converged pair), blocked
    /// items apart: those need a person, not another run.
    pub fn is_converged(&self) -> bool {
        self.differences().next().is_none()
    }

    /// Counts per kind, for the plan card and `status`.
    pub fn counts(&self) -> BTreeMap<String, KindCounts> {
        let mut counts: BTreeMap<String, KindCounts> = BTreeMap::new();
        for item in &self.items {
            let entry = counts.entry(item.kind.clone()).or_default();
            match item.change {
                Change::Create => entry.create += 1,
                Change::Update { .. } => entry.update += 1,
                Change::Unchanged => entry.unchanged += 1,
                Change::Blocked { .. } => entry.blocked += 1,
            }
        }
        counts
    }
}

/// How applying one item ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
pub enum ItemOutcome {
    /// Created or updated (now, or by an earlier attempt of the same run).
    Done,
    /// Nothing to do: the secondary already matched.
    Unchanged,
    /// Not applied, and why (the plan's reason).
    Blocked(String),
    /// Applying it failed, and the error.
    Failed(String),
    /// The run was cancelled before it was applied.
    Canceled,
}

impl ItemOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            ItemOutcome::Done => "done",
            ItemOutcome::Unchanged => "unchanged",
            ItemOutcome::Blocked(_) => "blocked",
            ItemOutcome::Failed(_) => "failed",
            ItemOutcome::Canceled => "cancelled",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            ItemOutcome::Blocked(reason) | ItemOutcome::Failed(reason) => Some(reason),
            _ => None,
        }
    }
}

/// One item's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemResult {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub outcome: ItemOutcome,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn item(key: &str, change: Change) -> PlanItem {
        PlanItem {
            kind: "job".into(),
            key: key.into(),
            name: format!("job {key}"),
            change,
            payload: Value::Null,
            detail: String::new(),
            held_back: None,
        }
    }

    #[test]
    fn a_dry_run_lists_only_creates_and_updates() {
        let plan = AssetPlan {
            items: vec![
                item("1", Change::Create),
                item("2", Change::Unchanged),
                item("3", Change::Update { fields: vec!["schedule".into()] }),
                item("4", Change::Blocked { reason: "no policy".into() }),
            ],
        };
        let listed: Vec<String> = plan.differences().map(PlanItem::id).collect();
        assert_eq!(listed, vec!["job:1", "job:3"]);
        assert!(!plan.is_converged());
        let counts = plan.counts()["job"];
        assert_eq!((counts.create, counts.update, counts.unchanged, counts.blocked, counts.drift()), (1, 1, 1, 1, 2));
    }

    #[test]
    fn blocked_items_alone_are_converged() {
        let plan =
            AssetPlan { items: vec![item("1", Change::Unchanged), item("2", Change::Blocked { reason: "x".into() })] };
        assert!(plan.is_converged());
    }

    #[test]
    fn items_round_trip_through_json() {
        let planned =
            PlanItem { payload: json!({"a": 1}), ..item("9", Change::Update { fields: vec!["tags".into()] }) };
        let text = serde_json::to_value(&planned).unwrap();
        assert_eq!(text["change"], "update");
        assert_eq!(serde_json::from_value::<PlanItem>(text).unwrap(), planned);
        let outcome = serde_json::to_value(ItemOutcome::Blocked("why".into())).unwrap();
        assert_eq!(outcome, json!({"outcome": "blocked", "reason": "why"}));
    }
}
