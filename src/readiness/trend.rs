//! Whether a pair is getting better or worse: its recorded readings
//! (`src/store/readiness_history.rs`) folded into one point a day, the
//! worst RPO of the day and the drift the day ended with. Pure, so the
//! dashboard's chart and its text fallback come from one tested function.

use crate::store::readiness_history::Reading;

const DAY_MS: i64 = 86_400_000;

/// One UTC day of a pair's readings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayPoint {
    /// Midnight UTC at the start of the day, epoch ms.
    pub day_ms: i64,
    /// The worst RPO read that day (its largest worst-table lag).
    pub worst_rpo_ms: Option<i64>,
    /// The drift of the day's last reading that had one.
    pub drift: Option<i64>,
}

/// The first millisecond of the window of the last `days` days (today included).
pub fn window_start(now_ms: i64, days: u32) -> i64 {
    now_ms.div_euclid(DAY_MS) * DAY_MS - i64::from(days.saturating_sub(1)) * DAY_MS
}

/// The last `days` UTC days up to `now_ms`, oldest first, each with what
/// was read that day (none where nothing was).
pub fn daily(readings: &[Reading], now_ms: i64, days: u32) -> Vec<DayPoint> {
    let start = window_start(now_ms, days);
    let mut points: Vec<DayPoint> = (0..i64::from(days))
        .map(|i| DayPoint { day_ms: start + i * DAY_MS, worst_rpo_ms: None, drift: None })
        .collect();
    let mut sorted: Vec<&Reading> = readings.iter().filter(|r| r.at_ms >= start && r.at_ms <= now_ms).collect();
    sorted.sort_by_key(|r| r.at_ms);
    for reading in sorted {
        let Some(point) = points.get_mut(((reading.at_ms - start) / DAY_MS) as usize) else { continue };
        if let Some(rpo) = reading.worst_rpo_ms {
            point.worst_rpo_ms = Some(point.worst_rpo_ms.map_or(rpo, |worst| worst.max(rpo)));
        }
        if reading.drift.is_some() {
            point.drift = reading.drift;
        }
    }
    points
}

/// The direction of a series, first measured day against the last.
pub fn direction(values: impl IntoIterator<Item = Option<i64>>) -> &'static str {
    let measured: Vec<i64> = values.into_iter().flatten().collect();
    match (measured.first(), measured.last()) {
        (Some(first), Some(last)) if measured.len() > 1 && last < first => "getting better",
        (Some(first), Some(last)) if measured.len() > 1 && last > first => "getting worse",
        (Some(_), Some(_)) if measured.len() > 1 => "steady",
        _ => "not enough readings yet",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::readiness_history::ReadingSource;

    /// 2026-01-15T00:00:00Z
    const DAY0: i64 = 1_768_435_200_000;

    fn check(at_ms: i64, rpo: Option<i64>, drift: Option<i64>) -> Reading {
        Reading {
            pair: "p".into(),
            at_ms,
            source: ReadingSource::Check,
            worst_rpo_ms: rpo,
            drift,
            run_id: None,
            outcome: None,
            duration_ms: None,
        }
    }

    #[test]
    fn a_day_is_its_worst_rpo_and_its_last_drift() {
        let now = DAY0 + 6 * DAY_MS + 3_600_000;
        let readings = [
            check(DAY0 - 1, Some(999), Some(999)),
            check(DAY0 + 1_000, Some(10), Some(5)),
            check(DAY0 + 2_000, Some(30), Some(3)),
            check(DAY0 + 3_000, Some(20), None),
            check(DAY0 + 6 * DAY_MS, Some(1), Some(0)),
        ];
        let days = daily(&readings, now, 7);
        assert_eq!(days.len(), 7);
        assert_eq!(
            days[0],
            DayPoint { day_ms: DAY0, worst_rpo_ms: Some(30), drift: Some(3) },
            "before the window is out"
        );
        assert!(days[1..6].iter().all(|d| d.worst_rpo_ms.is_none() && d.drift.is_none()), "days without readings");
        assert_eq!(days[6], DayPoint { day_ms: DAY0 + 6 * DAY_MS, worst_rpo_ms: Some(1), drift: Some(0) });
    }

    #[test]
    fn the_direction_compares_the_first_and_last_measured_days() {
        assert_eq!(direction([Some(30), None, Some(10)]), "getting better");
        assert_eq!(direction([Some(10), Some(30)]), "getting worse");
        assert_eq!(direction([Some(10), None, Some(10)]), "steady");
        assert_eq!(direction([None, Some(10)]), "not enough readings yet");
    }
}
