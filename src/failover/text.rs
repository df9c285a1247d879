//! A runbook and past drills as plain text, for the command line: every
//! step with what it touches, the expected loss per table, the current RPO
//! and what blocks it (the same facts the runbook card shows).

use std::fmt::Write;

use super::loss::{self, Loss};
use super::runbook::{Runbook, Step, StepKind};
use crate::readiness::report::duration;
use crate::readiness::text::instant;
use crate::store::drills::Drill;

/// The runbook, as `drbot failover PAIR --dry-run` prints it.
pub fn runbook(runbook: &Runbook) -> String {
    let mut out = String::new();
    let d = runbook.direction;
    let _ = writeln!(
        out,
        "{} of pair {}: {} -> {} (active afterwards: {})",
        runbook.mode.as_str(),
        runbook.pair,
        d.from.as_str(),
        d.to.as_str(),
        d.ends_active.as_str()
    );
    let _ = writeln!(out, "\nsteps:");
    for (n, step) in runbook.steps.iter().enumerate() {
        let _ = writeln!(out, "  {}. {}{}", n + 1, step.kind.as_str(), step_tags(step));
        for touch in &step.touches {
            let _ = writeln!(out, "       {touch}");
        }
    }
    let rpo = runbook.current_rpo_ms.map_or("not measured (nothing recorded)".to_string(), duration);
    let _ = writeln!(out, "\ncurrent RPO: {rpo}");
    let _ = writeln!(out, "expected data loss: {}", loss_summary(runbook));
    for table in &runbook.loss {
        let _ = writeln!(out, "  {}\t{}", table.table, loss_words(table.loss));
    }
    if runbook.blocked.is_empty() {
        let _ = writeln!(out, "\nblocked: nothing");
    } else {
        let _ = writeln!(out, "\nblocked (refused at preflight unless overridden):");
        for blocker in &runbook.blocked {
            let _ = writeln!(out, "  {blocker}");
        }
    }
    out
}

/// " (best effort, timeout 30 s)", or empty: how a step may end short.
pub fn step_tags(step: &Step) -> String {
    let mut tags = Vec::new();
    if step.best_effort {
        tags.push("best effort".to_string());
    }
    if let Some(ms) = step.timeout_ms {
        tags.push(format!("timeout {}", duration(ms)));
    }
    if tags.is_empty() {
        String::new()
    } else {
        format!(" ({})", tags.join(", "))
    }
}

/// The worst expected loss of the runbook, in words.
pub fn loss_summary(runbook: &Runbook) -> String {
    match loss::worst(&runbook.loss) {
        (_, true) => "unbounded for a table never replicated".to_string(),
        (Some(worst), false) => format!("up to {} ({})", duration(worst.loss.ms().unwrap_or(0)), worst.table),
        (None, false) => "none".to_string(),
    }
}

/// One table's expected loss, in words.
pub fn loss_words(loss: Loss) -> String {
    match loss {
        Loss::None => "none".to_string(),
        Loss::Window { since_ms, ms } => format!("{} (commits since {})", duration(ms), instant(since_ms)),
        Loss::Unbounded => "unbounded (never replicated)".to_string(),
    }
}

/// What clients must change once a failover or failback is over: work runs
/// in `url` now; clients that connect through a configured alias follow it
/// by themselves once their resolver's cache expires, and those that use
/// managed DR's stable URL follow with the group; everything that names
/// the other workspace's own host must be changed by hand. Then the way
/// home, or (for a failback, which is the way home) that the side left is
/// passive again.
pub fn clients_note(runbook: &Runbook, url: &str) -> String {
    let mut follow = String::new();
    if let Some(ttl) = runbook.aliases.iter().map(|a| a.ttl).max() {
        let names: Vec<String> = runbook.aliases.iter().map(|a| a.fqdn()).collect();
        follow += &format!(
            "Clients that connect through {} follow by themselves within {}. ",
            names.join(", "),
            duration(i64::from(ttl) * 1000)
        );
    }
    let stable: Vec<&str> = runbook.managed.iter().flat_map(|m| &m.stable_urls).map(|s| s.url.as_str()).collect();
    if !stable.is_empty() {
        follow += &format!("Clients that use managed DR's stable URL {} follow with the group. ", stable.join(", "));
    }
    let by_hand = if follow.is_empty() { "Clients" } else { "Other clients" };
    let then = match runbook.mode {
        super::mode::Mode::Failback => format!("The {} side is passive again.", runbook.direction.from.as_str()),
        _ => format!("Fail back with failback {} once the other side is healthy.", runbook.pair),
    };
    format!(
        "Work now runs in {url}. {follow}{by_hand}, dashboards and jobs outside Databricks that name the other \
         workspace's host change to it. {then}"
    )
}

/// A step's name as people read it.
pub fn step_name(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Preflight => "Preflight",
        StepKind::ManagedFailover => "Managed DR failover",
        StepKind::CatchUp => "Catch up",
        StepKind::Freeze => "Freeze writers",
        StepKind::FinalSync => "Final sync",
        StepKind::Storage => "Storage failover",
        StepKind::Promote => "Promote",
        StepKind::Repoint => "Repoint clients",
        StepKind::Validate => "Validate",
        StepKind::ReturnToPassive => "Return to passive",
    }
}

/// Past drills, one line each, then their findings.
pub fn drills(drills: &[Drill]) -> String {
    if drills.is_empty() {
        return "no drill recorded\n".to_string();
    }
    let mut out = String::new();
    for drill in drills {
        let rto = drill.rto_ms.map_or("-".to_string(), duration);
        let _ =
            writeln!(out, "{}\t{}\t{}\tRTO {rto}\t{}", instant(drill.started_ms), drill.pair, drill.outcome, drill.id);
        for finding in &drill.findings {
            let _ = writeln!(out, "    {finding}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::mode::Mode;
    use crate::failover::runbook::{plan, RunbookSettings};
    use crate::pairs::{Pair, PairWorkspace};
    use crate::store::table_versions::{Commit, TableVersion};

    #[test]
    fn a_forced_runbook_lists_every_step_each_table_s_loss_and_the_rpo() {
        let pair =
            Pair::new("fin", PairWorkspace::at("https://adb-1.example"), PairWorkspace::at("https://adb-2.example"));
        let versions = [
            TableVersion {
                table_name: "c.s.t".into(),
                replicated: Some(Commit { version: 2, commit_ms: 0 }),
                replicated_ms: Some(10),
                source: Some(Commit { version: 3, commit_ms: 60_000 }),
                read_ms: Some(61_000),
            },
            TableVersion {
                table_name: "c.s.u".into(),
                replicated: None,
                replicated_ms: None,
                source: None,
                read_ms: None,
            },
        ];
        let runbook = plan(&pair, Mode::Forced, &RunbookSettings::default(), &versions, &[], 3_600_000).unwrap();
        let text = super::runbook(&runbook);
        assert!(text.starts_with("forced of pair fin: primary -> secondary (active afterwards: secondary)"), "{text}");
        assert!(text.contains("2. freeze (best effort, timeout 30 s)"), "{text}");
        assert!(text.contains("c.s.t\t1 h (commits since 1970-01-01 00:00 UTC)"), "{text}");
        assert!(text.contains("c.s.u\tunbounded (never replicated)"), "{text}");
        assert!(text.contains("current RPO: 1 min"), "{text}");
        assert!(text.contains("expected data loss: unbounded"), "{text}");
        assert!(text.contains("blocked: nothing"), "{text}");
    }

    #[test]
    fn the_clients_note_names_the_aliases_that_follow_and_what_must_change_by_hand() {
        let pair =
            Pair::new("fin", PairWorkspace::at("https://adb-1.example"), PairWorkspace::at("https://adb-2.example"));
        let mut runbook = plan(&pair, Mode::Planned, &RunbookSettings::default(), &[], &[], 0).unwrap();
        let plain = clients_note(&runbook, "https://adb-2.example");
        assert!(plain.starts_with("Work now runs in https://adb-2.example. Clients, dashboards"), "{plain}");
        runbook.aliases = vec![crate::failover::aliases::DnsAlias {
            zone: "/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/privateDnsZones/corp.example".into(),
            name: "sql".into(),
            kind: crate::failover::aliases::RecordKind::A,
            primary: "10.1.0.4".into(),
            secondary: "10.2.0.4".into(),
            ttl: 120,
        }];
        let note = clients_note(&runbook, "https://adb-2.example");
        assert!(
            note.contains("Clients that connect through sql.corp.example follow by themselves within 2 min"),
            "{note}"
        );
        assert!(note.contains("within 2 min. Other clients, dashboards"), "{note}");
        assert!(note.ends_with("Fail back with failback fin once the other side is healthy."), "{note}");
        let mut home = pair.clone();
        home.active = crate::pairs::Side::Secondary;
        let back = plan(&home, Mode::Failback, &RunbookSettings::default(), &[], &[], 0).unwrap();
        let note = clients_note(&back, "https://adb-1.example");
        assert!(note.ends_with("The secondary side is passive again.") && !note.contains("failback"), "{note}");
    }

    #[test]
    fn drills_list_with_their_rto_and_findings() {
        assert_eq!(drills(&[]), "no drill recorded\n");
        let listed = drills(&[Drill {
            id: "op-1".into(),
            pair: "fin".into(),
            started_ms: 0,
            finished_ms: 90_000,
            outcome: "succeeded".into(),
            rto_ms: Some(90_000),
            findings: vec!["no warehouse on the secondary side for: ml".into()],
        }]);
        assert_eq!(
            listed,
            "1970-01-01 00:00 UTC\tfin\tsucceeded\tRTO 1 min\top-1\n    no warehouse on the secondary side for: ml\n"
        );
    }
}
