//! The deployment's cards: the What-If plan with Approve and Cancel, the
//! progress card kept current in place, and the one result card.
//!
//! The layouts are the templates `adaptive-cards/deploy_plan.json`,
//! `deploy_progress.json` and `deploy_result.json`, expanded by the card
//! engine like every other card (and held to the npm reference and the size
//! limit by `tests/cards_reference.rs`). This file maps typed state
//! (`StoredDeployPlan`, `DeployProgress`, the operation's result) onto their
//! views, so nothing a person typed reaches a card unquoted.

use serde_json::Value;

use super::deploy_job::{DeploymentJob, StoredDeployPlan};
use super::deploy_progress::DeployProgress;
use super::runs::{worded_duration, worded_time};
use crate::cards::views::{
    self, DeployFailureView, DeployModifiedView, DeployPlanView, DeployProgressView, DeployRegionProgressView,
    DeployRegionView, DeployResourceView, DeployResultView, DeployWorkspaceView, Tone,
};
use crate::deploy::{RegionWhatIf, Role, Target};
use crate::store::operations::{Operation, Outcome};

/// Longest list on a card before "and N more".
const MAX_LISTED: usize = 10;

/// "spoke sales" or "the hub", as sentences say it.
pub(crate) fn target_words(target: &Target) -> String {
    match target {
        Target::Hub => "the hub".into(),
        Target::Transit => "the transit spoke".into(),
        Target::Spoke(name) => format!("spoke {}", name.as_str()),
    }
}

/// A template that does not expand is a bug in this repository, not in the
/// person's request: the error card says so with the correlation id.
fn rendered(card: Result<Value, views::CardError>, correlation_id: &str) -> Value {
    card.unwrap_or_else(|error| crate::cards::error(&error.to_string(), correlation_id))
}

fn region_view(region: &RegionWhatIf) -> DeployRegionView {
    let role = region.role.map(Role::as_str).unwrap_or("region");
    let more = region.deleted.len().saturating_sub(MAX_LISTED);
    DeployRegionView {
        shown: true,
        heading: format!("{role} · {} · {}", region.location, region.resource_group),
        creates: region.creates.to_string(),
        modifies: region.modifies.to_string(),
        deletes: region.deletes.to_string(),
        no_change: region.no_change.to_string(),
        modify_color: if region.modifies > 0 { Tone::Warning } else { Tone::Default },
        delete_color: if region.deletes > 0 { Tone::Attention } else { Tone::Default },
        deleted: region.deleted.iter().take(MAX_LISTED).map(|id| DeployResourceView { id: id.clone() }).collect(),
        deleted_more: if more > 0 { format!("and {more} more") } else { String::new() },
        modified: region
            .modified
            .iter()
            .take(MAX_LISTED)
            .map(|(id, paths)| DeployModifiedView { id: id.clone(), paths: paths.join(", ") })
            .collect(),
    }
}

/// The What-If of both regions, deletes in the Attention colour and listed,
/// with Approve and Cancel (or the note that a second person must approve);
/// `viewer_note`, when there is one, replaces the buttons with why this
/// person has none.
pub(crate) fn plan(plan_id: &str, stored: &StoredDeployPlan, needs_second: bool, viewer_note: Option<String>) -> Value {
    let mut regions = stored.what_if.regions.iter().map(region_view);
    let (approval_note, approval_color) = match (needs_second, stored.approvals.as_slice()) {
        (false, _) => (String::new(), Tone::Default),
        (true, []) => ("Two people with the deploy role must approve.".to_string(), Tone::Default),
        (true, approvals) => {
            let names: Vec<&str> = approvals.iter().map(|a| a.name.as_str()).collect();
            (format!("Approved by {}. Awaiting a second person with the deploy role.", names.join(", ")), Tone::Accent)
        }
    };
    let view = DeployPlanView {
        title: format!("Deploy {}", target_words(&stored.target)),
        subtitle: format!("What-If by {} at {}", stored.requested_by, worded_time(stored.planned_ms)),
        plan_id: plan_id.to_string(),
        first: regions.next().unwrap_or_default(),
        second: regions.next().unwrap_or_default(),
        deletes_resources: stored.what_if.has_deletes(),
        approval_note,
        approval_color,
        hide_buttons: viewer_note.is_some(),
        viewer_note: viewer_note.unwrap_or_default(),
    };
    rendered(views::render_deploy_plan(&view), plan_id)
}

/// Per region: resources done of total, the one in progress, failures.
pub(crate) fn progress(op_id: &str, job: &DeploymentJob, progress: &DeployProgress, running: bool) -> Value {
    let region = |role: Role| {
        let region = progress.region(role);
        let total = job.expected.get(&role).copied().unwrap_or(0).max(region.seen());
        let state = region.phase.clone().unwrap_or_else(|| "running".into());
        DeployRegionProgressView {
            summary: format!("{role}: {} of {total} resources done · {state}", region.done()),
            in_progress: region.current().unwrap_or_default(),
            failures: region
                .failures()
                .into_iter()
                .take(MAX_LISTED)
                .map(|(resource, error)| DeployFailureView { region: String::new(), resource, error })
                .collect(),
        }
    };
    let view = DeployProgressView {
        title: format!("Deploying {}", target_words(&job.target)),
        subtitle: format!("Started by {} at {} · {op_id}", job.started_by, worded_time(job.started_ms)),
        operation_id: op_id.to_string(),
        primary: region(Role::Primary),
        secondary: region(Role::Secondary),
        bootstrap: progress
            .bootstrap
            .last()
            .map(|step| format!("{step} ({} steps)", progress.bootstrap.len()))
            .unwrap_or_default(),
        canceling: progress.canceling,
        updated_at: worded_time(super::now_ms()),
        running,
    };
    rendered(views::render_deploy_progress(&view), &job.correlation_id)
}

/// The one card posted when a deployment ends, from the operation's result.
pub(crate) fn result(op: &Operation, job: &DeploymentJob) -> Value {
    let result = op.result.clone().unwrap_or(Value::Null);
    let target = target_words(&job.target);
    let outcome = Outcome::of(&result);
    let (title, title_color) = match outcome {
        Some(Outcome::Succeeded) => (format!("Deployed {target}"), Tone::Good),
        Some(Outcome::Canceled) => (format!("Deployment of {target} cancelled"), Tone::Warning),
        _ => (format!("Deployment of {target} failed"), Tone::Attention),
    };
    let text = |value: &Value, key: &str| value[key].as_str().unwrap_or_default().to_string();
    let view = DeployResultView {
        title,
        title_color,
        subtitle: format!(
            "{} · started by {} · {}",
            op.id,
            job.started_by,
            worded_duration(op.updated_ms - job.started_ms)
        ),
        workspaces: result["workspace_urls"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(role, url)| Some(DeployWorkspaceView { role: role.clone(), url: url.as_str()?.to_string() }))
            .collect(),
        failures: result["failures"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|failure| DeployFailureView {
                region: text(failure, "region"),
                resource: text(failure, "resource"),
                error: text(failure, "error"),
            })
            .collect(),
        error: text(&result, "error"),
        needs: result["needs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|need| Some(views::DeployNeedView { text: need.as_str()?.to_string() }))
            .collect(),
        correlation_id: if outcome == Some(Outcome::Succeeded) { String::new() } else { job.correlation_id.clone() },
    };
    rendered(views::render_deploy_result(&view), &job.correlation_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::deploy::{APPROVE_VERB, CANCEL_VERB};
    use crate::bot::deploy_job::Approver;
    use crate::deploy::{RegionWhatIf, SpokeName, WhatIfSummary};
    use serde_json::json;

    fn stored(deletes: &[&str]) -> StoredDeployPlan {
        let region = |role: Role, location: &str| RegionWhatIf {
            role: Some(role),
            location: location.into(),
            resource_group: format!("rg-{location}"),
            creates: 2,
            modifies: 1,
            deletes: deletes.len(),
            no_change: 4,
            other: 0,
            deleted: deletes.iter().map(|d| d.to_string()).collect(),
            modified: vec![("/vnet".into(), vec!["properties.addressSpace".into()])],
        };
        StoredDeployPlan {
            target: Target::Spoke(SpokeName::parse("sales").unwrap()),
            what_if: WhatIfSummary {
                regions: vec![region(Role::Primary, "westeurope"), region(Role::Secondary, "northeurope")],
            },
            requested_by: "Alice".into(),
            planned_ms: 0,
            approvals: Vec::new(),
        }
    }

    fn texts(card: &Value) -> Vec<(String, String)> {
        card["body"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "TextBlock")
            .map(|b| {
                (b["text"].as_str().unwrap_or_default().to_string(), b["color"].as_str().unwrap_or("").to_string())
            })
            .collect()
    }

    #[test]
    fn deletes_stand_out_in_the_attention_colour_and_are_listed() {
        let card = plan("p-1", &stored(&["/subscriptions/s/resourceGroups/rg/providers/X/old"]), false, None);
        let lines = texts(&card);
        assert!(
            lines.contains(&("DELETE /subscriptions/s/resourceGroups/rg/providers/X/old".into(), "Attention".into()))
        );
        assert!(lines.iter().any(|(t, c)| t.contains("deletes resources") && c == "Attention"), "{lines:?}");
        let delete_count = &card["body"][3]["columns"][2]["items"][0];
        assert_eq!((delete_count["text"].as_str(), delete_count["color"].as_str()), (Some("1"), Some("Attention")));
        assert_eq!(card["actions"][0]["verb"], APPROVE_VERB);
        assert_eq!(card["actions"][0]["data"]["plan_id"], "p-1");
        assert_eq!(card["actions"][1]["verb"], CANCEL_VERB);

        let calm = plan("p-2", &stored(&[]), false, None);
        assert!(!calm.to_string().contains("DELETE") && !calm.to_string().contains("Attention"));
    }

    #[test]
    fn a_first_approval_is_shown_as_awaiting_a_second_person() {
        let mut waiting = stored(&[]);
        waiting.approvals.push(Approver { oid: Some("1".into()), upn: "a@x".into(), name: "Alice".into() });
        let text = plan("p", &waiting, true, None).to_string();
        assert!(text.contains("Approved by Alice. Awaiting a second person"), "{text}");
        assert!(plan("p", &stored(&[]), true, None).to_string().contains("Two people"));
    }

    #[test]
    fn a_failure_result_names_the_resource_and_carries_a_correlation_id() {
        let job: DeploymentJob = serde_json::from_value(json!({
            "plan_id": "p", "target": {"spoke": "sales"}, "acting_as": {"kind": "app"}, "service_url": "http://x",
            "started_by": "Alice", "started_ms": 0, "correlation_id": "corr-9"}))
        .unwrap();
        let op = Operation {
            id: "op-1".into(),
            idempotency_key: "k".into(),
            kind: crate::store::operations::Kind::Deployment,
            state: crate::store::operations::OperationState::Failed,
            conversation_id: "c".into(),
            card_activity_id: None,
            started_by_oid: None,
            started_by_upn: None,
            pair: None,
            payload: json!({}),
            result: Some(json!({"outcome": "failed", "failures": [{"region": "primary",
                "resource": "Microsoft.Network/virtualNetworks vnet", "error": "quota exceeded"}]})),
            owner: "i".into(),
            lease_until_ms: 0,
            takeovers: 0,
            cancel_requested: false,
            final_posted: false,
            created_ms: 0,
            updated_ms: 1000,
        };
        let text = result(&op, &job).to_string();
        assert!(text.contains("primary: Microsoft.Network/virtualNetworks vnet failed: quota exceeded"), "{text}");
        assert!(text.contains("Correlation id: corr-9") && text.contains("Attention"), "{text}");
    }
}
