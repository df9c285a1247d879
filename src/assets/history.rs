//! An asset item's result as the run history keeps it (`run ID`, the result
//! card): done is succeeded, blocked and cancelled are skipped with why,
//! failed keeps its error. Unchanged items are counted, not stored: a
//! converged pair would otherwise write a row per job on every run.

use super::plan::{AssetPlan, ItemOutcome, ItemResult};
use crate::store::runs::{ObjectResult, ResultStatus};

/// The history row of `result` (an item of `plan`), or none when unchanged.
pub fn object_result(run_id: &str, plan: &AssetPlan, result: &ItemResult) -> Option<ObjectResult> {
    let item = plan.items.iter().find(|i| i.id() == result.id);
    let action = match item {
        Some(item) => match &item.change {
            super::plan::Change::Update { fields } => format!("update {} ({})", item.kind, fields.join(", ")),
            _ => format!("{} {}", item.verb(), item.kind),
        },
        None => result.kind.clone(),
    };
    let (status, error, reason) = match &result.outcome {
        ItemOutcome::Unchanged => return None,
        ItemOutcome::Done => (ResultStatus::Succeeded, None, None),
        ItemOutcome::Failed(error) => (ResultStatus::Failed, Some(error.clone()), None),
        ItemOutcome::Blocked(reason) => (ResultStatus::Blocked, None, Some(reason.clone())),
        ItemOutcome::Canceled => (ResultStatus::Skipped, None, Some("canceled".to_string())),
    };
    Some(ObjectResult {
        run_id: run_id.to_string(),
        object_name: format!("{} ({})", result.id, result.name),
        action,
        status,
        duration_ms: 0,
        copied: None,
        error,
        reason,
    })
}

/// The item id a history row names (what a resumed run counts as done).
pub fn item_id(object_name: &str) -> &str {
    object_name.split_once(" (").map_or(object_name, |(id, _)| id)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::assets::plan::{Change, PlanItem};

    #[test]
    fn results_become_history_rows_that_name_their_item() {
        let plan = AssetPlan {
            items: vec![PlanItem {
                kind: "job".into(),
                key: "7".into(),
                name: "nightly (eu)".into(),
                change: Change::Update { fields: vec!["schedule".into(), "tags".into()] },
                payload: Value::Null,
                detail: String::new(),
                held_back: None,
            }],
        };
        let result =
            |outcome| ItemResult { id: "job:7".into(), kind: "job".into(), name: "nightly (eu)".into(), outcome };
        let row = object_result("r", &plan, &result(ItemOutcome::Done)).unwrap();
        assert_eq!((row.action.as_str(), row.status), ("update job (schedule, tags)", ResultStatus::Succeeded));
        assert_eq!(item_id(&row.object_name), "job:7");
        let row = object_result("r", &plan, &result(ItemOutcome::Blocked("no policy".into()))).unwrap();
        assert_eq!((row.status, row.reason.as_deref()), (ResultStatus::Blocked, Some("no policy")));
        assert!(object_result("r", &plan, &result(ItemOutcome::Unchanged)).is_none());
    }
}
