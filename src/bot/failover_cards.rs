//! The runbook's cards: the runbook as it would run, with its approvals
//! (`runbook.json`); the run kept current in place and its one result card
//! (`runbook_run.json`); past drills (`drills.json`). This file maps the
//! failover domain's typed state onto the views; the words for steps and
//! losses are the domain's own (`crate::failover::text`), so the card and
//! `drbot failover --dry-run` say the same.

use serde_json::Value;

use super::failover_job::{RunbookJob, StoredRunbook};
use super::runs::{worded_duration, worded_time};
use crate::cards::views::{
    self, DrillRowView, DrillsView, RunbookLossView, RunbookRunView, RunbookStepRunView, RunbookStepView, RunbookView,
    TextLine, Tone,
};
use crate::failover::loss::Loss;
use crate::failover::mode::Mode;
use crate::failover::progress::StepOutcome;
use crate::failover::run::Ended;
use crate::failover::runbook::Runbook;
use crate::failover::text;
use crate::pairs::{Pair, Side};
use crate::readiness::report::duration;
use crate::store::drills::{Approval, Drill};
use crate::store::operations::Operation;

/// "Planned failover of pair finance".
pub(crate) fn title(runbook: &Runbook) -> String {
    if runbook.managed.is_some() {
        let what = if runbook.mode == Mode::Failback { "failback" } else { "failover" };
        return format!("Managed DR {what} of pair {}", runbook.pair);
    }
    let what = match runbook.mode {
        Mode::Planned => "Planned failover",
        Mode::Forced => "Forced failover",
        Mode::Failback => "Failback",
        Mode::Drill => "Drill",
    };
    format!("{what} of pair {}", runbook.pair)
}

fn rendered(card: Result<Value, views::CardError>, id: &str) -> Value {
    card.unwrap_or_else(|error| crate::cards::error(&error.to_string(), id))
}

fn side_words(pair: Option<&Pair>, side: Side) -> String {
    match pair {
        Some(pair) => {
            let host = match side {
                Side::Primary => pair.primary.host(),
                Side::Secondary => pair.secondary.host(),
            };
            format!("{} ({host})", side.as_str())
        }
        None => side.as_str().to_string(),
    }
}

/// Who approved so far and how many more must, or the one approval a drill needs.
pub(crate) fn approval_note(approvals: &[Approval], needed: usize) -> (String, Tone) {
    if approvals.is_empty() {
        return match needed {
            1 => ("One person with the failover role approves it.".to_string(), Tone::Default),
            n => (format!("{n} people with the failover role must approve."), Tone::Default),
        };
    }
    let names: Vec<&str> = approvals.iter().map(|a| a.approver_upn.as_deref().unwrap_or(&a.approver_oid)).collect();
    let more = needed.saturating_sub(approvals.len());
    let text = match more {
        0 => format!("Approved by {}.", names.join(" and ")),
        1 => format!("Approved by {}. Awaiting 1 more person with the failover role.", names.join(", ")),
        n => format!("Approved by {}. Awaiting {n} more people with the failover role.", names.join(", ")),
    };
    (text, Tone::Accent)
}

/// The runbook card. `viewer_note` (a person who may not approve, or has)
/// and `dry_run` hide the buttons.
pub(crate) fn runbook(
    plan_id: &str,
    stored: &StoredRunbook,
    pair: &Pair,
    approvals: &[Approval],
    needed: usize,
    viewer_note: Option<String>,
    dry_run: bool,
) -> Value {
    let runbook = &stored.runbook;
    let d = runbook.direction;
    let steps = runbook
        .steps
        .iter()
        .enumerate()
        .map(|(n, step)| RunbookStepView {
            number: (n + 1).to_string(),
            name: text::step_name(step.kind).to_string(),
            tags: text::step_tags(step),
            touches: step.touches.join(" · "),
        })
        .collect();
    let losses = runbook
        .loss
        .iter()
        .map(|table| RunbookLossView {
            table: table.table.clone(),
            loss: text::loss_words(table.loss),
            color: match table.loss {
                Loss::None => Tone::Good,
                Loss::Window { .. } => Tone::Warning,
                Loss::Unbounded => Tone::Attention,
            },
        })
        .collect();
    let (approval_note, approval_color) = if dry_run {
        ("Dry run: nothing changes. Ask again without --dry-run to approve it.".to_string(), Tone::Default)
    } else {
        approval_note(approvals, needed)
    };
    let loss_summary = match &runbook.managed {
        Some(managed) => crate::failover::managed::loss_words(managed, &text::loss_summary(runbook)),
        None if runbook.mode == Mode::Forced => text::loss_summary(runbook),
        None => "none: writers are frozen first and every table is proven at its frozen version".to_string(),
    };
    let view = RunbookView {
        title: title(runbook),
        subtitle: format!(
            "{} → {} · planned by {} at {} · runs as {}",
            d.from.as_str(),
            d.to.as_str(),
            stored.requested_by,
            worded_time(stored.planned_ms),
            stored.requested_by
        ),
        plan_id: plan_id.to_string(),
        rpo: runbook.current_rpo_ms.map_or("not measured (nothing replicated yet)".to_string(), duration),
        loss_summary,
        ends_active: side_words(Some(pair), d.ends_active),
        steps,
        losses,
        blocked: runbook.blocked.iter().map(|b| TextLine { text: b.clone(), color: Tone::Attention }).collect(),
        override_note: if stored.override_checks {
            "Approving overrides the preflight's blockers and the final sync's proof by version.".to_string()
        } else {
            String::new()
        },
        approval_note,
        approval_color,
        approve_label: match runbook.mode {
            _ if runbook.managed.is_some() => "Approve managed DR failover",
            Mode::Planned => "Approve failover",
            Mode::Forced => "Approve forced failover",
            Mode::Failback => "Approve failback",
            Mode::Drill => "Run drill",
        }
        .to_string(),
        hide_buttons: dry_run || viewer_note.is_some(),
        viewer_note: viewer_note.unwrap_or_default(),
    };
    rendered(views::render_runbook(&view), plan_id)
}

/// The run's card: while it runs (`ended` and `failed` both `None`), and
/// once it has ended (`ended`, or `failed`: it could not run at all).
pub(crate) fn run_card(
    op: &Operation,
    job: &RunbookJob,
    ended: Option<&Ended>,
    failed: Option<&str>,
    pair: Option<&Pair>,
) -> Value {
    let runbook = &job.runbook;
    let progress = &job.progress;
    let running = ended.is_none() && failed.is_none();
    let next = running.then(|| progress.next(runbook).map(|s| s.kind)).flatten();
    let steps = runbook
        .steps
        .iter()
        .map(|step| {
            let record = progress.steps.iter().find(|r| r.kind == step.kind);
            let (outcome, color) = match record.map(|r| &r.outcome) {
                Some(StepOutcome::Done) => ("done".to_string(), Tone::Good),
                Some(StepOutcome::AlreadyDone) => ("already done".to_string(), Tone::Good),
                Some(StepOutcome::Failed { why }) => (format!("failed (best effort, went on): {why}"), Tone::Warning),
                None if Some(step.kind) == next => ("running".to_string(), Tone::Accent),
                None => match ended {
                    Some(Ended::Stopped { step: at, why, .. }) if *at == step.kind => {
                        (format!("stopped: {why}"), Tone::Attention)
                    }
                    Some(_) | None if !running => ("not run".to_string(), Tone::Default),
                    _ => ("waiting".to_string(), Tone::Default),
                },
            };
            RunbookStepRunView {
                name: text::step_name(step.kind).to_string(),
                outcome,
                color,
                took: record.map(|r| worded_duration(r.finished_ms - r.started_ms)).unwrap_or_default(),
            }
        })
        .collect();
    let now = super::now_ms();
    let (state, state_color, findings) = match (ended, failed) {
        (Some(Ended::Completed { findings, .. }), _) => {
            let state = match runbook.mode {
                Mode::Drill => "Completed: the drill left both sides as they were".to_string(),
                _ => format!("Completed: the {} is active", runbook.direction.ends_active.as_str()),
            };
            (state, Tone::Good, findings.as_slice())
        }
        (Some(Ended::Stopped { step, why, findings }), _) => {
            (format!("Stopped at {}: {why}", text::step_name(*step)), Tone::Attention, findings.as_slice())
        }
        (Some(Ended::Cancelled { before, findings }), _) => {
            (format!("Cancelled before {}", text::step_name(*before)), Tone::Warning, findings.as_slice())
        }
        (None, Some(problem)) => (format!("Could not run: {problem}"), Tone::Attention, &[][..]),
        (None, None) => {
            let state = match next {
                Some(kind) => format!("Running: {}", text::step_name(kind)),
                None => "Finishing".to_string(),
            };
            (state, Tone::Accent, &[][..])
        }
    };
    let rto = match ended {
        Some(Ended::Completed { rto_ms, .. }) => worded_duration(*rto_ms),
        Some(_) => "not reached".to_string(),
        None if failed.is_some() => "not reached".to_string(),
        None => format!("running for {}", worded_duration(now - progress.approved_ms)),
    };
    let loss = match (runbook.mode, ended) {
        _ if runbook.loses_data() => text::loss_summary(runbook),
        (_, Some(Ended::Completed { .. })) if !progress.frozen_versions.is_empty() => {
            format!("none: {} tables proven at their frozen version", progress.frozen_versions.len())
        }
        (_, Some(Ended::Completed { .. })) => "none".to_string(),
        _ => "none so far".to_string(),
    };
    let active = pair.map(|p| p.active).unwrap_or(runbook.direction.from);
    let next_words = match (ended, runbook.mode) {
        (Some(Ended::Completed { .. }), Mode::Planned | Mode::Forced | Mode::Failback) => {
            let to = runbook.direction.ends_active;
            let url = pair.map(|p| if to == Side::Primary { p.primary.url.clone() } else { p.secondary.url.clone() });
            text::clients_note(runbook, &url.unwrap_or_else(|| to.as_str().to_string()))
        }
        _ => String::new(),
    };
    let approved = if job.approved_by.is_empty() { "nobody".to_string() } else { job.approved_by.join(" and ") };
    let view = RunbookRunView {
        title: title(runbook),
        subtitle: format!("Approved by {approved} · {}", op.id),
        operation_id: op.id.clone(),
        pair: runbook.pair.clone(),
        state,
        state_color,
        steps,
        rto,
        loss,
        active: side_words(pair, active),
        findings: findings.iter().map(|f| TextLine { text: f.clone(), color: Tone::Default }).collect(),
        next: next_words,
        updated_at: worded_time(now),
        running,
    };
    rendered(views::render_runbook_run(&view), &op.id)
}

/// `drills [PAIR]`.
pub(crate) fn drills(pair: Option<&str>, drills: &[Drill]) -> Value {
    let view = DrillsView {
        title: pair.map_or("Drills".to_string(), |p| format!("Drills of pair {p}")),
        drills: drills
            .iter()
            .map(|d| DrillRowView {
                id: d.id.clone(),
                pair: d.pair.clone(),
                at: worded_time(d.started_ms),
                outcome: d.outcome.clone(),
                color: if d.outcome == "succeeded" { Tone::Good } else { Tone::Attention },
                rto: d.rto_ms.map_or("-".to_string(), worded_duration),
                findings: if d.findings.is_empty() { "no findings".to_string() } else { d.findings.join(" · ") },
            })
            .collect(),
    };
    rendered(views::render_drills(&view), "drills")
}
