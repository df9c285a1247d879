//! An asset plan as text (the CLI's dry run): the differences by kind, then
//! what is blocked and why, then the counts.

use super::plan::{AssetPlan, Change, PlanItem};

/// What changing `item` means, in a few words.
pub fn describe(item: &PlanItem) -> String {
    // A job is known by its id in the primary; a path or a policy's name is its own key.
    let primary = match item.key == item.name {
        true => String::new(),
        false => format!(" (primary {})", item.key),
    };
    let detail = |sep: &str| match item.detail.is_empty() {
        true => String::new(),
        false => format!("{sep}{}", item.detail),
    };
    let held_back = item.held_back.as_ref().map(|why| format!(" ({why})")).unwrap_or_default();
    match &item.change {
        Change::Create => format!("create {} {}{primary}{}{held_back}", item.kind, item.name, detail(": ")),
        Change::Update { fields } => {
            format!("update {} {}{primary}: {}{}{held_back}", item.kind, item.name, fields.join(", "), detail("; "))
        }
        Change::Unchanged => format!("{} {} is up to date", item.kind, item.name),
        Change::Blocked { reason } => format!("{} {}{primary}: {reason}", item.kind, item.name),
    }
}

pub fn render(plan: &AssetPlan) -> String {
    let mut out = String::new();
    if plan.is_converged() {
        out.push_str("Workspace assets: nothing to do, the secondary matches the primary.\n");
    }
    for (kind, counts) in plan.counts() {
        if counts.drift() > 0 {
            out.push_str(&format!("{kind}: {} to create, {} to update\n", counts.create, counts.update));
            for item in plan.differences().filter(|i| i.kind == kind) {
                out.push_str(&format!("  {}\n", describe(item)));
            }
        }
    }
    let blocked: Vec<&PlanItem> = plan.items.iter().filter(|i| matches!(i.change, Change::Blocked { .. })).collect();
    if !blocked.is_empty() {
        out.push_str(&format!("Blocked ({})\n", blocked.len()));
        for item in blocked {
            out.push_str(&format!("  {}\n", describe(item)));
        }
    }
    for (kind, counts) in plan.counts() {
        out.push_str(&format!(
            "{kind}: {} create, {} update, {} unchanged, {} blocked\n",
            counts.create, counts.update, counts.unchanged, counts.blocked
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn the_dry_run_lists_differences_and_blocked_items() {
        let item = |key: &str, change| PlanItem {
            kind: "job".into(),
            key: key.into(),
            name: format!("j{key}"),
            change,
            payload: Value::Null,
            detail: String::new(),
            held_back: None,
        };
        let plan = AssetPlan {
            items: vec![
                item("1", Change::Create),
                item("2", Change::Update { fields: vec!["schedule".into()] }),
                item("3", Change::Unchanged),
                item("4", Change::Blocked { reason: "cluster policy P has no counterpart".into() }),
            ],
        };
        let text = render(&plan);
        assert!(text.contains(
            "job: 1 to create, 1 to update\n  create job j1 (primary 1)\n  update job j2 (primary 2): schedule\n"
        ));
        assert!(text.contains("Blocked (1)\n  job j4 (primary 4): cluster policy P has no counterpart\n"));
        assert!(text.contains("job: 1 create, 1 update, 1 unchanged, 1 blocked\n"));
        assert!(!text.contains("j3"));
        let git = PlanItem::named("git folder", "/Repos/a", Change::Create).with_detail("clone https://g/a.git");
        assert_eq!(describe(&git), "create git folder /Repos/a: clone https://g/a.git");
    }
}
