//! The deployment's cards: the What-If plan with Approve and Cancel, the
//! progress card kept current in place, and the one result card.
//!
//! Built here rather than from adaptive-cards/ templates because they are
//! small and only the chat layer uses them; every value comes from typed
//! state (`StoredDeployPlan`, `DeployProgress`, the operation's result), so
//! nothing a person typed reaches a card unquoted.

use serde_json::{json, Value};

use super::deploy::{StoredDeployPlan, APPROVE_VERB, CANCEL_VERB};
use super::deploy_run::{DeployProgress, DeploymentJob};
use super::runs::{worded_duration, worded_time};
use crate::deploy::{Role, Target};
use crate::store::operations::Operation;

/// Longest list on a card before "and N more".
const MAX_LISTED: usize = 10;

use crate::cards::card;

fn text(text: &str) -> Value {
    json!({"type": "TextBlock", "text": clip(text, 400), "wrap": true})
}

fn heading(text: &str, color: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "weight": "Bolder", "size": "Large", "color": color, "wrap": true})
}

fn subtle(text: &str) -> Value {
    json!({"type": "TextBlock", "text": clip(text, 400), "isSubtle": true, "wrap": true, "spacing": "None"})
}

fn colored(text: &str, color: &str) -> Value {
    json!({"type": "TextBlock", "text": clip(text, 400), "color": color, "wrap": true, "spacing": "Small"})
}

fn correlation(id: &str) -> Value {
    json!({"type": "TextBlock", "text": format!("Correlation id: {id}"), "isSubtle": true, "size": "Small", "wrap": true, "spacing": "Medium"})
}

/// "spoke sales" or "the hub", as sentences say it.
pub(crate) fn target_words(target: &Target) -> String {
    match target {
        Target::Hub => "the hub".into(),
        Target::Spoke(name) => format!("spoke {}", name.as_str()),
    }
}

/// The What-If of both regions, deletes in the Attention colour and listed,
/// with Approve and Cancel (or the note that a second person must approve).
pub(crate) fn plan(plan_id: &str, stored: &StoredDeployPlan, needs_second: bool) -> Value {
    let mut body = vec![
        heading(&format!("Deploy {}", target_words(&stored.target)), "Default"),
        subtle(&format!("What-If by {} at {}", stored.requested_by, worded_time(stored.planned_ms))),
    ];
    for region in &stored.what_if.regions {
        let role = region.role.map(Role::as_str).unwrap_or("region");
        body.push(
            json!({"type": "TextBlock", "text": format!("{role} · {} · {}", region.location, region.resource_group),
            "weight": "Bolder", "wrap": true, "spacing": "Medium", "separator": true}),
        );
        let count = |label: &str, n: usize, color: &str| {
            json!({"type": "Column", "width": "auto", "items": [
                {"type": "TextBlock", "text": n.to_string(), "size": "Large", "weight": "Bolder", "color": color},
                {"type": "TextBlock", "text": label, "isSubtle": true, "spacing": "None"}]})
        };
        body.push(json!({"type": "ColumnSet", "columns": [
            count("create", region.creates, "Good"),
            count("modify", region.modifies, if region.modifies > 0 { "Warning" } else { "Default" }),
            count("delete", region.deletes, if region.deletes > 0 { "Attention" } else { "Default" }),
            count("no change", region.no_change, "Default"),
        ]}));
        for id in region.deleted.iter().take(MAX_LISTED) {
            body.push(colored(&format!("DELETE {id}"), "Attention"));
        }
        if region.deleted.len() > MAX_LISTED {
            body.push(colored(&format!("and {} more deletes", region.deleted.len() - MAX_LISTED), "Attention"));
        }
        for (id, paths) in region.modified.iter().take(MAX_LISTED) {
            body.push(colored(&format!("modify {id} ({})", paths.join(", ")), "Warning"));
        }
    }
    if stored.what_if.has_deletes() {
        body.push(heading("This deployment deletes resources.", "Attention"));
    }
    if needs_second {
        match stored.approvals.as_slice() {
            [] => body.push(subtle("Two people with the deploy role must approve.")),
            approvals => {
                let names: Vec<&str> = approvals.iter().map(|a| a.name.as_str()).collect();
                body.push(colored(
                    &format!("Approved by {}. Awaiting a second person with the deploy role.", names.join(", ")),
                    "Accent",
                ));
            }
        }
    }
    let data = json!({ "plan_id": plan_id });
    card(
        body,
        vec![
            json!({"type": "Action.Execute", "title": "Approve", "verb": APPROVE_VERB, "data": data, "style": "positive"}),
            json!({"type": "Action.Execute", "title": "Cancel", "verb": CANCEL_VERB, "data": data}),
        ],
    )
}

/// Per region: resources done of total, the one in progress, failures.
pub(crate) fn progress(op_id: &str, job: &DeploymentJob, progress: &DeployProgress, running: bool) -> Value {
    let mut body = vec![
        heading(&format!("Deploying {}", target_words(&job.target)), "Default"),
        subtle(&format!("Started by {} at {} · {}", job.started_by, worded_time(job.started_ms), op_id)),
    ];
    for role in Role::BOTH {
        let region = progress.region(role);
        let total = job.expected.get(&role).copied().unwrap_or(0).max(region.seen());
        let state = region.phase.clone().unwrap_or_else(|| "running".into());
        body.push(json!({"type": "TextBlock", "text": format!("{role}: {} of {total} resources done · {state}", region.done()),
            "weight": "Bolder", "wrap": true, "spacing": "Medium"}));
        if let Some(current) = region.current() {
            body.push(subtle(&format!("In progress: {current}")));
        }
        for (resource, error) in region.failures().into_iter().take(MAX_LISTED) {
            body.push(colored(&format!("Failed: {resource}: {error}"), "Attention"));
        }
    }
    if let Some(step) = progress.bootstrap.last() {
        body.push(subtle(&format!("Databricks: {step} ({} steps)", progress.bootstrap.len())));
    }
    if progress.canceling {
        body.push(colored("Cancelling: Azure is asked to stop both deployments.", "Warning"));
    }
    body.push(subtle(&format!("Updated {}", worded_time(super::now_ms()))));
    let actions = if running {
        vec![json!({"type": "Action.Execute", "title": "Cancel", "verb": CANCEL_VERB, "data": {"operation_id": op_id}})]
    } else {
        Vec::new()
    };
    card(body, actions)
}

/// The one card posted when a deployment ends, from the operation's result.
pub(crate) fn result(op: &Operation, job: &DeploymentJob) -> Value {
    let result = op.result.clone().unwrap_or(Value::Null);
    let target = target_words(&job.target);
    let (title, color) = match result["outcome"].as_str() {
        Some("succeeded") => (format!("Deployed {target}"), "Good"),
        Some("canceled") => (format!("Deployment of {target} cancelled"), "Warning"),
        _ => (format!("Deployment of {target} failed"), "Attention"),
    };
    let finished = op.updated_ms;
    let mut body = vec![
        heading(&title, color),
        subtle(&format!("{} · started by {} · {}", op.id, job.started_by, worded_duration(finished - job.started_ms))),
    ];
    if let Some(urls) = result["workspace_urls"].as_object() {
        for (role, url) in urls {
            if let Some(url) = url.as_str() {
                body.push(text(&format!("{role} workspace: [{url}]({url})")));
            }
        }
    }
    for failure in result["failures"].as_array().into_iter().flatten().take(MAX_LISTED) {
        let field = |k: &str| failure[k].as_str().unwrap_or_default().to_string();
        body.push(colored(
            &format!("{}: {} failed: {}", field("region"), field("resource"), field("error")),
            "Attention",
        ));
    }
    if let Some(error) = result["error"].as_str() {
        body.push(colored(error, "Attention"));
    }
    if result["outcome"] != "succeeded" {
        body.push(correlation(&job.correlation_id));
    }
    card(body, Vec::new())
}

/// At most `max` characters, with an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::deploy::Approver;
    use crate::deploy::{RegionWhatIf, SpokeName, WhatIfSummary};

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
        let card = plan("p-1", &stored(&["/subscriptions/s/resourceGroups/rg/providers/X/old"]), false);
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

        let calm = plan("p-2", &stored(&[]), false);
        assert!(!calm.to_string().contains("DELETE") && !calm.to_string().contains("Attention"));
    }

    #[test]
    fn a_first_approval_is_shown_as_awaiting_a_second_person() {
        let mut waiting = stored(&[]);
        waiting.approvals.push(Approver { oid: Some("1".into()), upn: "a@x".into(), name: "Alice".into() });
        let text = plan("p", &waiting, true).to_string();
        assert!(text.contains("Approved by Alice. Awaiting a second person"), "{text}");
        assert!(plan("p", &stored(&[]), true).to_string().contains("Two people"));
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
            kind: "deployment".into(),
            state: crate::store::operations::OperationState::Failed,
            conversation_id: "c".into(),
            card_activity_id: None,
            started_by_oid: None,
            started_by_upn: None,
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
