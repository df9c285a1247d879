//! The dashboard's last seven days: the pair's recorded readings and the
//! reading just taken, one point a day, as chart data and as words.

use super::{now_ms, Bot};
use crate::cards::views::{ChartPoint, Trend};
use crate::pairs::Pair;
use crate::readiness::trend::{self, DayPoint};
use crate::readiness::Readiness;
use crate::store::readiness_history::{Reading, ReadingSource};

/// How many days the chart covers.
pub(crate) const TREND_DAYS: u32 = 7;

/// Readings read for the chart at most (a check every few minutes for a week fits).
const MAX_READINGS: i64 = 5_000;

impl Bot {
    /// `pair`'s trend, with `readiness` (just read) as today's newest reading.
    pub(crate) async fn trend(&self, pair: &Pair, readiness: &Readiness) -> Trend {
        let now = now_ms();
        let mut readings =
            match self.services.store.readings(&pair.name, trend::window_start(now, TREND_DAYS), MAX_READINGS).await {
                Ok(readings) => readings,
                Err(error) => {
                    tracing::warn!(pair = %pair.name, %error, "readiness history unavailable for the dashboard");
                    Vec::new()
                }
            };
        readings.push(Reading {
            pair: pair.name.clone(),
            at_ms: readiness.assessed_ms.min(now),
            source: ReadingSource::Check,
            worst_rpo_ms: readiness.rpo.as_ref().and_then(|rpo| rpo.worst.as_ref()).map(|worst| worst.ms),
            drift: readiness.drift.as_ref().map(|drift| drift.objects.total().total() as i64),
            run_id: None,
            outcome: None,
            duration_ms: None,
        });
        trend_view(&trend::daily(&readings, now, TREND_DAYS))
    }
}

/// The chart data and its words.
pub(crate) fn trend_view(days: &[DayPoint]) -> Trend {
    let label = |day: &DayPoint| {
        chrono::DateTime::from_timestamp_millis(day.day_ms).map(|t| t.format("%-d %b").to_string()).unwrap_or_default()
    };
    let rpo: Vec<ChartPoint> =
        days.iter().filter_map(|d| d.worst_rpo_ms.map(|ms| ChartPoint { x: label(d), y: ms / 60_000 })).collect();
    let drift: Vec<ChartPoint> =
        days.iter().filter_map(|d| d.drift.map(|count| ChartPoint { x: label(d), y: count })).collect();
    let words = |heading: &str, points: &[ChartPoint], values: Vec<Option<i64>>| match points.is_empty() {
        true => String::new(),
        false => format!(
            "{heading}: {}: {}",
            points.iter().map(|p| format!("{} {}", p.x, p.y)).collect::<Vec<_>>().join(" · "),
            trend::direction(values)
        ),
    };
    Trend {
        shown: !rpo.is_empty() || !drift.is_empty(),
        rpo_text: words("Worst RPO by day (min)", &rpo, days.iter().map(|d| d.worst_rpo_ms).collect()),
        drift_text: words("Drift by day (objects)", &drift, days.iter().map(|d| d.drift).collect()),
        rpo,
        drift,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-24T00:00:00Z
    const DAY0: i64 = 1_795_478_400_000;
    const DAY: i64 = 86_400_000;

    #[test]
    fn days_with_readings_become_points_and_words() {
        let days = [
            DayPoint { day_ms: DAY0, worst_rpo_ms: Some(12 * 60_000), drift: Some(3) },
            DayPoint { day_ms: DAY0 + DAY, worst_rpo_ms: None, drift: None },
            DayPoint { day_ms: DAY0 + 2 * DAY, worst_rpo_ms: Some(95 * 60_000), drift: Some(1) },
        ];
        let trend = trend_view(&days);
        assert!(trend.shown);
        assert_eq!(trend.rpo, [ChartPoint { x: "24 Nov".into(), y: 12 }, ChartPoint { x: "26 Nov".into(), y: 95 }]);
        assert_eq!(trend.rpo_text, "Worst RPO by day (min): 24 Nov 12 · 26 Nov 95: getting worse");
        assert_eq!(trend.drift_text, "Drift by day (objects): 24 Nov 3 · 26 Nov 1: getting better");
        let empty = trend_view(&[DayPoint { day_ms: DAY0, worst_rpo_ms: None, drift: None }]);
        assert!(!empty.shown && empty.rpo_text.is_empty());
    }
}
