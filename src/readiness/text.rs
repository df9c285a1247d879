//! The readiness report as plain text for a terminal: `drbot status`
//! without `--json`. Pure formatting; the numbers are the report's.

use std::fmt::Write;

use super::drift::KindCounts;
use super::report::{Problem, Reachability, Readiness, Status};
use super::rpo::{Rag, TableRpo};

/// How many tables behind the text lists by name.
const TABLES_LISTED: usize = 10;

pub use super::report::duration;

/// An epoch-ms instant as `2026-11-24 08:50 UTC`.
pub fn instant(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Ready => "READY",
        Status::Degraded => "DEGRADED",
        Status::NotReady => "NOT READY",
    }
}

fn rag_word(rag: Rag) -> &'static str {
    match rag {
        Rag::Green => "green",
        Rag::Amber => "amber",
        Rag::Red => "red",
    }
}

fn problem_word(problem: Problem) -> &'static str {
    match problem {
        Problem::Missing => "missing",
        Problem::Stale => "stale",
        Problem::Different => "different",
        Problem::Grants => "grants",
        Problem::Owner => "owner",
        Problem::Metadata => "metadata",
        Problem::Extra => "extra",
    }
}

/// The whole report as a few aligned blocks, plain.
pub fn render(readiness: &Readiness) -> String {
    render_with(readiness, false)
}

/// The report, with ANSI colours (red, amber, green) on the verdict, the
/// RPO and each offender when `colour` (a terminal).
pub fn render_with(readiness: &Readiness, colour: bool) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(&mut out, readiness, colour);
    out
}

/// `text` in the colour of `rag` (ANSI), or as it is.
fn paint(text: &str, rag: Rag, colour: bool) -> String {
    if !colour {
        return text.to_string();
    }
    let code = match rag {
        Rag::Green => "32",
        Rag::Amber => "33",
        Rag::Red => "31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn status_rag(status: Status) -> Rag {
    match status {
        Status::Ready => Rag::Green,
        Status::Degraded => Rag::Amber,
        Status::NotReady => Rag::Red,
    }
}

fn write_report(out: &mut String, r: &Readiness, colour: bool) -> std::fmt::Result {
    let status = r.verdict.status;
    let verdict = paint(status_word(status), status_rag(status), colour);
    writeln!(out, "DR readiness: {verdict}  (assessed {})", instant(r.assessed_ms))?;
    for reason in &r.verdict.reasons {
        writeln!(out, "  - {reason}")?;
    }

    writeln!(out, "\nWorkspaces")?;
    for (name, reachability) in [("primary", &r.primary), ("secondary", &r.secondary)] {
        match reachability {
            Reachability::Reachable { latency_ms, metastore_id, read_path } => {
                let latency = latency_ms.map(|ms| format!("{ms} ms")).unwrap_or_else(|| "-".into());
                let metastore = metastore_id.as_deref().unwrap_or("metastore id not read");
                writeln!(out, "  {name:<10} reachable    {latency:>8}  {metastore}")?;
                writeln!(out, "  {:<10} read via {read_path}", "")?;
            }
            Reachability::Unreachable { error } => writeln!(out, "  {name:<10} UNREACHABLE  {error}")?,
        }
    }

    writeln!(out, "\nLast replication run")?;
    match &r.last_run {
        None => writeln!(out, "  none recorded")?,
        Some(run) => {
            let when = match run.finished_ms {
                Some(ms) => format!("finished {} ({} ago)", instant(ms), duration(r.assessed_ms.saturating_sub(ms))),
                None => format!("started {}, not finished", instant(run.started_ms)),
            };
            let counts = run.counts.as_ref().map(|c| format!("  {c}")).unwrap_or_default();
            writeln!(out, "  {}  {when}{counts}", run.id)?;
        }
    }

    match (&r.drift, &r.rpo) {
        (Some(drift), Some(rpo)) => {
            writeln!(out, "\nDrift       missing    extra  different    stale")?;
            let row = |out: &mut String, name: &str, c: &KindCounts| {
                writeln!(out, "  {name:<8} {:>8} {:>8} {:>10} {:>8}", c.missing, c.extra, c.different, c.stale)
            };
            for (name, counts) in drift.objects.rows() {
                row(out, name, &counts)?;
            }
            row(out, "total", &drift.objects.total())?;
            let g = &drift.grants;
            writeln!(
                out,
                "  grants: {} objects differ ({} principals; {} privileges missing, {} extra)",
                g.objects, g.principals, g.missing_privileges, g.extra_privileges
            )?;
            writeln!(out, "  owners: {} objects differ", drift.owners.objects)?;
            writeln!(
                out,
                "  comments, tags, properties: {} objects differ ({} pieces)",
                drift.metadata.objects, drift.metadata.fields
            )?;

            let rag = paint(rag_word(rpo.status), rpo.status, colour);
            writeln!(out, "\nRPO (target {}, {rag})", duration(rpo.target_ms))?;
            writeln!(
                out,
                "  {} Delta tables: {} up to date, {} behind ({} over target), {} unknown, {} never replicated",
                rpo.tables, rpo.up_to_date, rpo.behind, rpo.over_target, rpo.unknown, rpo.never_replicated
            )?;
            let p = |v: Option<i64>| v.map(duration).unwrap_or_else(|| "-".into());
            let worst = rpo.worst.as_ref().map(|w| format!("{} ({})", duration(w.ms), w.table)).unwrap_or("-".into());
            writeln!(out, "  worst {worst}; p50 {}; p95 {}", p(rpo.p50_ms), p(rpo.p95_ms))?;
            if let Some(readings) = &r.rpo_readings {
                writeln!(
                    out,
                    "  as of the last replication cycle's history readings ({} tables, oldest {} old)",
                    readings.tables,
                    duration(readings.age_ms)
                )?;
            }
            // The tables furthest behind, with the versions the lag is measured between.
            let mut behind: Vec<&TableRpo> =
                r.rpo_tables.iter().filter(|t| t.rpo.ms().is_some_and(|ms| ms > 0)).collect();
            behind.sort_by(|a, b| b.rpo.ms().cmp(&a.rpo.ms()).then(a.table.cmp(&b.table)));
            for table in behind.iter().take(TABLES_LISTED) {
                let version = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "?".into());
                writeln!(
                    out,
                    "  {} behind: {} (source at version {}, the secondary holds {})",
                    duration(table.rpo.ms().unwrap_or_default()),
                    table.table,
                    version(table.source_version),
                    version(table.held_version)
                )?;
            }
            if behind.len() > TABLES_LISTED {
                writeln!(out, "  and {} more behind (--json lists every table)", behind.len() - TABLES_LISTED)?;
            }
        }
        _ => {
            let why = r.not_computed.as_deref().unwrap_or("not computed");
            writeln!(out, "\nDrift and RPO: {why}")?;
        }
    }

    if !r.offenders.is_empty() {
        writeln!(out, "\nWorst offenders ({} of {})", r.offenders.len(), r.offenders_total)?;
        let width = r.offenders.iter().map(|o| o.object.len()).max().unwrap_or(0);
        for o in &r.offenders {
            let problem = paint(&format!("{:<9}", problem_word(o.problem)), o.colour, colour);
            writeln!(out, "  {problem} {:<7} {:<width$}  {}", o.kind, o.object, o.text)?;
        }
    }

    if r.unread.count > 0 {
        writeln!(out, "\nCould not be read ({})", r.unread.count)?;
        for part in &r.unread.listed {
            writeln!(
                out,
                "  {:<9} {} {} ({}): {}",
                part.side.as_str(),
                part.securable,
                part.full_name,
                part.part,
                part.reason
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::report::{assess_observed, AssessOptions, Observed};
    use crate::replication::fixtures::*;
    use crate::replication::snapshot::CatalogKind;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(45_000), "45 s");
        assert_eq!(duration(12 * 60_000), "12 min");
        assert_eq!(duration(3 * 3_600_000), "3 h");
        assert_eq!(duration(3 * 3_600_000 + 5 * 60_000), "3 h 5 min");
        assert_eq!(duration(24 * 3_600_000), "1 d");
        assert_eq!(duration(40 * 3_600_000), "1 d 16 h");
        assert_eq!(duration(-5), "0 s");
        assert_eq!(instant(0), "1970-01-01 00:00 UTC");
    }

    #[test]
    fn the_text_names_the_tables_behind_with_the_versions_between() {
        const HOUR: i64 = 3_600_000;
        let primary = empty(PRIMARY_ID)
            .with_catalog(catalog("main", CatalogKind::Managed))
            .with_schema(schema("main", "sales"))
            .with_table(managed("main.sales.orders", 100 * HOUR));
        let mut secondary = empty(SECONDARY_ID)
            .with_catalog(replica_of_catalog(&primary.catalogs["main"]))
            .with_schema(schema("main", "sales"))
            .with_table(replica_of(&primary.tables["main.sales.orders"]));
        secondary.tables.get_mut("main.sales.orders").unwrap().delta =
            Some(crate::replication::snapshot::DeltaState { version: 1, last_commit_ms: 97 * HOUR });
        let readiness = assess_observed(
            Observed::Read { snapshot: &primary, latency_ms: None },
            Observed::Read { snapshot: &secondary, latency_ms: None },
            &config(),
            100 * HOUR,
            &AssessOptions::default(),
        );
        let source = primary.tables["main.sales.orders"].delta.unwrap().version;
        let text = render(&readiness);
        let line = format!("  3 h behind: main.sales.orders (source at version {source}, the secondary holds 1)");
        assert!(text.contains(&line), "{text}");
    }

    #[test]
    fn the_text_shows_verdict_workspaces_drift_rpo_and_offenders() {
        let primary = empty(PRIMARY_ID)
            .with_catalog(catalog("main", CatalogKind::Managed))
            .with_schema(schema("main", "sales"))
            .with_table(managed("main.sales.orders", 1_000));
        let secondary = empty(SECONDARY_ID).with_catalog(replica_of_catalog(&primary.catalogs["main"]));
        let readiness = assess_observed(
            Observed::Read { snapshot: &primary, latency_ms: Some(42) },
            Observed::Read { snapshot: &secondary, latency_ms: Some(51) },
            &config(),
            10_000,
            &AssessOptions::default(),
        );
        let text = render(&readiness);
        assert!(text.starts_with("DR readiness: NOT READY"), "{text}");
        assert!(!text.contains('\x1b'), "plain unless asked");
        let coloured = render_with(&readiness, true);
        assert!(coloured.starts_with("DR readiness: \x1b[31mNOT READY\x1b[0m"), "{coloured}");
        assert!(coloured.contains("\x1b[31mmissing  \x1b[0m table"), "{coloured}");
        assert!(text.contains("missing on the secondary: 1 schema, 1 table"), "{text}");
        assert!(text.contains("primary    reachable"), "{text}");
        assert!(text.contains("42 ms") && text.contains(SECONDARY_ID), "{text}");
        assert!(text.contains("  schema          1        0          0        0"), "{text}");
        assert!(text.contains("1 never replicated"), "{text}");
        assert!(text.contains("missing   table   main.sales.orders  missing on the secondary"), "{text}");

        let down = assess_observed(
            Observed::Read { snapshot: &primary, latency_ms: Some(42) },
            Observed::Unreachable { error: "connection refused" },
            &config(),
            10_000,
            &AssessOptions::default(),
        );
        let text = render(&down);
        assert!(text.contains("secondary  UNREACHABLE  connection refused"), "{text}");
        assert!(text.contains("Drift and RPO: drift and RPO need both metastores"), "{text}");
    }
}
