//! How run history reads on a card: outcomes, counts, times and durations
//! in words. The `runs` and `run ID` commands are in `cmd/`.

use crate::cards::views::{self, Tone};
use crate::store::operations::Outcome;
use crate::store::runs::{ObjectResult, ResultStatus, Run};

/// The outcome a finished run recorded in its counts, or "Running". A
/// scheduled firing skipped because its pair was busy says which run was.
pub(crate) fn outcome(run: &Run) -> (String, Tone) {
    if let Some(counts) = run.counts.as_ref().filter(|_| run.skipped()) {
        let busy = counts["busy"].as_str().unwrap_or("another run");
        return (format!("Skipped: {busy} was in flight"), Tone::Warning);
    }
    let blocked = run.counts.as_ref().is_some_and(|counts| counts["blocked"].as_u64().unwrap_or(0) > 0);
    match run.counts.as_ref().and_then(Outcome::of) {
        None if run.finished_ms.is_none() => ("Running".into(), Tone::Accent),
        // As the result card words it: what is blocked is not being copied.
        Some(Outcome::Succeeded) if blocked => ("Succeeded, with objects blocked".into(), Tone::Warning),
        Some(Outcome::Succeeded) => ("Succeeded".into(), Tone::Good),
        Some(Outcome::Canceled) => ("Cancelled".into(), Tone::Warning),
        Some(Outcome::Failed) | None => ("Finished with failures".into(), Tone::Attention),
    }
}

/// Each failed object of a run, with its error, as the run and result
/// cards list them.
pub(crate) fn failures(results: &[ObjectResult]) -> Vec<views::Failure> {
    results
        .iter()
        .filter(|r| r.status == ResultStatus::Failed)
        .map(|r| views::Failure {
            object: r.object_name.clone(),
            action: r.action.clone(),
            error: r.error.clone().unwrap_or_default(),
        })
        .collect()
}

/// Each object of a run with `status` (blocked or skipped), with why.
pub(crate) fn with_reasons(results: &[ObjectResult], status: ResultStatus) -> Vec<views::ObjectReason> {
    results
        .iter()
        .filter(|r| r.status == status)
        .map(|r| views::ObjectReason { object: r.object_name.clone(), reason: r.reason.clone().unwrap_or_default() })
        .collect()
}

/// Who a scheduled run says started it, on cards and in the audit log.
pub(crate) const SCHEDULED_BY: &str = "drbot (scheduled)";

/// Who started a run: the person, or the pair's schedule (drbot itself).
pub(crate) fn started_by(run: &Run) -> String {
    match (&run.started_by_upn, run.scheduled) {
        (_, true) => SCHEDULED_BY.into(),
        (Some(upn), false) => upn.clone(),
        (None, false) => "drbot".into(),
    }
}

pub(crate) fn counts_label(run: &Run) -> String {
    if run.skipped() {
        return "nothing run".into();
    }
    let Some(counts) = &run.counts else { return "in progress".into() };
    let number = |key: &str| counts[key].as_u64().unwrap_or(0);
    let mut label = format!("{} ok", number("succeeded"));
    if number("failed") > 0 {
        label.push_str(&format!(" · {} failed", number("failed")));
    }
    if number("blocked") > 0 {
        label.push_str(&format!(" · {} blocked", number("blocked")));
    }
    if number("skipped") > 0 {
        label.push_str(&format!(" · {} skipped", number("skipped")));
    }
    label
}

pub(crate) fn catalog_label(catalog: Option<&str>) -> String {
    match catalog {
        Some(catalog) => format!("catalog {catalog}"),
        None => "all catalogs".into(),
    }
}

/// "24 Nov 2026 08:02 UTC".
pub(crate) fn worded_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%d %b %Y %H:%M UTC").to_string()).unwrap_or_default()
}

/// "4 min 12 s", "2 h 5 min", "850 ms".
pub(crate) fn worded_duration(ms: i64) -> String {
    let ms = ms.max(0);
    let seconds = ms / 1000;
    match seconds {
        0 => format!("{ms} ms"),
        1..=59 => format!("{seconds} s"),
        60..=3599 => format!("{} min {} s", seconds / 60, seconds % 60),
        _ => format!("{} h {} min", seconds / 3600, (seconds % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_read_as_people_say_them() {
        assert_eq!(worded_duration(850), "850 ms");
        assert_eq!(worded_duration(12_000), "12 s");
        assert_eq!(worded_duration(252_000), "4 min 12 s");
        assert_eq!(worded_duration(7_500_000), "2 h 5 min");
        assert_eq!(worded_time(0), "01 Jan 1970 00:00 UTC");
    }
}
