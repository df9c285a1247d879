//! When a schedule fires next: pure functions of the schedule and a time.
//!
//! Daily schedules are local wall-clock times in an IANA time zone, so they
//! must survive daylight saving: a local time skipped by a spring-forward
//! gap fires at the first instant after the gap (the clock jumps 02:00 →
//! 03:00, so "02:30" fires at 03:00), and a time repeated by an autumn fold
//! fires once, at its first occurrence. Interval schedules are plain
//! elapsed time and ignore zones altogether.

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

pub use crate::commands::Schedule;

#[cfg(test)]
const HOUR_MS: i64 = 3_600_000;
const MINUTE_MS: i64 = 60_000;

/// Why a schedule cannot be evaluated (only a schedule that did not come
/// from the grammar, e.g. a damaged stored value, gets here).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("unknown time zone '{0}'")]
    TimeZone(String),
    #[error("{0:02}:{1:02} is not a time of day")]
    Time(u8, u8),
    #[error("an interval must be longer than zero")]
    Interval,
    #[error("time out of range")]
    OutOfRange,
    #[error("stored schedule is invalid: {0}")]
    Encoding(String),
}

/// The first occurrence of `schedule` strictly after `after_ms`.
///
/// `anchor_ms` is a past (or the first) occurrence: interval schedules fire
/// at `anchor + k × interval`, so a late claim does not shift the grid and
/// firings missed while no instance ran collapse into one. Daily schedules
/// ignore it.
pub fn next_after(schedule: &Schedule, anchor_ms: i64, after_ms: i64) -> Result<i64, ScheduleError> {
    match schedule {
        Schedule::Every { minutes } => {
            let period = i64::from(*minutes) * MINUTE_MS;
            if period <= 0 {
                return Err(ScheduleError::Interval);
            }
            if anchor_ms > after_ms {
                // The anchor itself is still ahead; step back to the first one after `after`.
                let back = (anchor_ms - after_ms - 1) / period;
                return Ok(anchor_ms - back * period);
            }
            let elapsed = after_ms - anchor_ms;
            (elapsed / period + 1)
                .checked_mul(period)
                .and_then(|d| anchor_ms.checked_add(d))
                .ok_or(ScheduleError::OutOfRange)
        }
        Schedule::Daily { hour, minute, timezone } => {
            let tz: Tz = timezone.parse().map_err(|_| ScheduleError::TimeZone(timezone.clone()))?;
            let time = NaiveTime::from_hms_opt(u32::from(*hour), u32::from(*minute), 0)
                .ok_or(ScheduleError::Time(*hour, *minute))?;
            let after = DateTime::<Utc>::from_timestamp_millis(after_ms).ok_or(ScheduleError::OutOfRange)?;
            let mut date = after.with_timezone(&tz).date_naive();
            // Today's occurrence may already be past; tomorrow's never is (a day
            // is at least 22 hours even across a transition). A third day is slack.
            for _ in 0..3 {
                let at = occurrence(&tz, date, time).ok_or(ScheduleError::OutOfRange)?;
                if at > after_ms {
                    return Ok(at);
                }
                date = date.checked_add_days(Days::new(1)).ok_or(ScheduleError::OutOfRange)?;
            }
            Err(ScheduleError::OutOfRange)
        }
        Schedule::Monthly => {
            let anchor = DateTime::<Utc>::from_timestamp_millis(anchor_ms).ok_or(ScheduleError::OutOfRange)?;
            let after = DateTime::<Utc>::from_timestamp_millis(after_ms).ok_or(ScheduleError::OutOfRange)?;
            // The 28th at the latest: every month has it, so the day never drifts.
            let day = anchor.day().min(28);
            let (mut year, mut month) = (after.year(), after.month());
            // This month's occurrence may be past; next month's never is.
            for _ in 0..2 {
                let date = NaiveDate::from_ymd_opt(year, month, day).ok_or(ScheduleError::OutOfRange)?;
                let at = date.and_time(anchor.time()).and_utc().timestamp_millis();
                if at > after_ms {
                    return Ok(at);
                }
                (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
            }
            Err(ScheduleError::OutOfRange)
        }
    }
}

/// The instant (epoch ms) of local `date time` in `tz`, resolving gaps and folds.
fn occurrence(tz: &Tz, date: NaiveDate, time: NaiveTime) -> Option<i64> {
    let local = NaiveDateTime::new(date, time);
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.timestamp_millis()),
        // A fold: the first of the two instants, so the post happens once.
        LocalResult::Ambiguous(first, _) => Some(first.timestamp_millis()),
        // A gap: walk forward a minute at a time to the first local time that
        // exists, which is the instant the clocks jumped. Real gaps are at most
        // a few hours and every zone's transitions fall on whole minutes.
        LocalResult::None => (1..=24 * 60).find_map(|minutes| {
            let later = local.checked_add_signed(chrono::Duration::minutes(minutes))?;
            tz.from_local_datetime(&later).earliest().map(|at| at.timestamp_millis())
        }),
    }
}

/// The schedule as stored: a small JSON object, stable across versions.
pub fn to_json(schedule: &Schedule) -> String {
    match schedule {
        Schedule::Daily { hour, minute, timezone } => {
            serde_json::json!({"daily": {"hour": hour, "minute": minute, "timezone": timezone}}).to_string()
        }
        // Whole hours keep the form they always had, so a subscription made
        // before minutes existed is still the same row (it is part of a key).
        Schedule::Every { minutes } if minutes % 60 == 0 => {
            serde_json::json!({"every": {"hours": minutes / 60}}).to_string()
        }
        Schedule::Every { minutes } => serde_json::json!({"every": {"minutes": minutes}}).to_string(),
        Schedule::Monthly => serde_json::json!({"monthly": {}}).to_string(),
    }
}

/// Reads a stored schedule back, checking it as the grammar would.
pub fn from_json(text: &str) -> Result<Schedule, ScheduleError> {
    let bad = || ScheduleError::Encoding(text.chars().take(80).collect());
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| bad())?;
    let schedule = if let Some(daily) = value.get("daily") {
        let field = |name: &str| daily.get(name).and_then(|v| v.as_u64()).and_then(|v| u8::try_from(v).ok());
        let timezone = daily.get("timezone").and_then(|v| v.as_str()).ok_or_else(bad)?;
        Schedule::Daily {
            hour: field("hour").ok_or_else(bad)?,
            minute: field("minute").ok_or_else(bad)?,
            timezone: timezone.to_string(),
        }
    } else if let Some(every) = value.get("every") {
        let hours = every.get("hours").and_then(|v| v.as_u64()).and_then(|v| u16::try_from(v).ok());
        let minutes = every.get("minutes").and_then(|v| v.as_u64()).and_then(|v| u32::try_from(v).ok());
        match (hours, minutes) {
            (Some(hours), None) => Schedule::Every { minutes: u32::from(hours) * 60 },
            (None, Some(minutes)) => Schedule::Every { minutes },
            _ => return Err(bad()),
        }
    } else if value.get("monthly").is_some_and(serde_json::Value::is_object) {
        Schedule::Monthly
    } else {
        return Err(bad());
    };
    validate(&schedule)?;
    Ok(schedule)
}

/// Checks what `next_after` needs: a known zone, a real time of day, a non-zero interval.
pub fn validate(schedule: &Schedule) -> Result<(), ScheduleError> {
    match schedule {
        Schedule::Daily { hour, minute, timezone } => {
            timezone.parse::<Tz>().map_err(|_| ScheduleError::TimeZone(timezone.clone()))?;
            if *hour >= 24 || *minute >= 60 {
                return Err(ScheduleError::Time(*hour, *minute));
            }
            Ok(())
        }
        Schedule::Every { minutes: 0 } => Err(ScheduleError::Interval),
        Schedule::Every { .. } | Schedule::Monthly => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
    }

    #[test]
    fn monthly_fires_on_the_set_day_and_time_each_month_the_28th_at_the_latest() {
        let set = utc("2027-01-15T09:30:00Z");
        assert_eq!(next_after(&Schedule::Monthly, set, set), Ok(utc("2027-02-15T09:30:00Z")));
        let claimed = utc("2027-02-15T09:30:00Z");
        // Claimed late (nothing ran for a while): the next is still on the 15th.
        assert_eq!(
            next_after(&Schedule::Monthly, claimed, utc("2027-02-20T00:00:00Z")),
            Ok(utc("2027-03-15T09:30:00Z"))
        );
        let december = utc("2027-12-15T09:30:00Z");
        assert_eq!(next_after(&Schedule::Monthly, december, december), Ok(utc("2028-01-15T09:30:00Z")));
        // Set on the 31st: the 28th, every month, February too.
        let late = utc("2027-01-31T22:00:00Z");
        assert_eq!(next_after(&Schedule::Monthly, late, late), Ok(utc("2027-02-28T22:00:00Z")));
        let feb = utc("2027-02-28T22:00:00Z");
        assert_eq!(next_after(&Schedule::Monthly, feb, feb), Ok(utc("2027-03-28T22:00:00Z")));
        assert_eq!(from_json(&to_json(&Schedule::Monthly)), Ok(Schedule::Monthly));
    }

    fn daily(hour: u8, minute: u8, timezone: &str) -> Schedule {
        Schedule::Daily { hour, minute, timezone: timezone.into() }
    }

    #[test]
    fn daily_fires_later_today_or_tomorrow() {
        let eight = daily(8, 0, "UTC");
        assert_eq!(next_after(&eight, 0, utc("2026-03-10T07:59:59Z")), Ok(utc("2026-03-10T08:00:00Z")));
        assert_eq!(
            next_after(&eight, 0, utc("2026-03-10T08:00:00Z")),
            Ok(utc("2026-03-11T08:00:00Z")),
            "strictly after"
        );
        assert_eq!(next_after(&eight, 0, utc("2026-03-10T09:00:00Z")), Ok(utc("2026-03-11T08:00:00Z")));
    }

    #[test]
    fn daily_across_midnight_and_the_date_line() {
        // 23:30 UTC is already tomorrow in Amsterdam: 00:15 local is the next day's UTC 23:15.
        let quarter_past_midnight = daily(0, 15, "Europe/Amsterdam");
        assert_eq!(next_after(&quarter_past_midnight, 0, utc("2026-01-14T23:30:00Z")), Ok(utc("2026-01-15T23:15:00Z")));
        assert_eq!(next_after(&quarter_past_midnight, 0, utc("2026-01-14T23:00:00Z")), Ok(utc("2026-01-14T23:15:00Z")));
        // Late evening in New York is the next UTC day.
        let late = daily(23, 45, "America/New_York");
        assert_eq!(next_after(&late, 0, utc("2026-01-15T12:00:00Z")), Ok(utc("2026-01-16T04:45:00Z")));
        assert_eq!(next_after(&late, 0, utc("2026-01-16T04:45:00Z")), Ok(utc("2026-01-17T04:45:00Z")));
    }

    #[test]
    fn amsterdam_spring_forward_gap_fires_when_the_clocks_jump() {
        // 29 March 2026: 02:00 CET becomes 03:00 CEST at 01:00 UTC; 02:30 does not exist.
        let half_past_two = daily(2, 30, "Europe/Amsterdam");
        assert_eq!(next_after(&half_past_two, 0, utc("2026-03-28T12:00:00Z")), Ok(utc("2026-03-29T01:00:00Z")));
        // The day after, 02:30 CEST again exists (00:30 UTC).
        assert_eq!(next_after(&half_past_two, 0, utc("2026-03-29T01:00:00Z")), Ok(utc("2026-03-30T00:30:00Z")));
        // Times around the gap are unaffected.
        assert_eq!(
            next_after(&daily(3, 0, "Europe/Amsterdam"), 0, utc("2026-03-28T12:00:00Z")),
            Ok(utc("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            next_after(&daily(1, 59, "Europe/Amsterdam"), 0, utc("2026-03-28T12:00:00Z")),
            Ok(utc("2026-03-29T00:59:00Z"))
        );
    }

    #[test]
    fn amsterdam_autumn_fold_fires_once() {
        // 25 October 2026: 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:30 happens twice.
        let half_past_two = daily(2, 30, "Europe/Amsterdam");
        let first = next_after(&half_past_two, 0, utc("2026-10-24T12:00:00Z")).unwrap();
        assert_eq!(first, utc("2026-10-25T00:30:00Z"), "the first 02:30 (CEST)");
        let next = next_after(&half_past_two, 0, first).unwrap();
        assert_eq!(next, utc("2026-10-26T01:30:00Z"), "not the second 02:30 (CET) an hour later");
    }

    #[test]
    fn new_york_transitions() {
        // 8 March 2026: 02:00 EST becomes 03:00 EDT at 07:00 UTC.
        let two_fifteen = daily(2, 15, "America/New_York");
        assert_eq!(next_after(&two_fifteen, 0, utc("2026-03-07T12:00:00Z")), Ok(utc("2026-03-08T07:00:00Z")));
        assert_eq!(next_after(&two_fifteen, 0, utc("2026-03-08T07:00:00Z")), Ok(utc("2026-03-09T06:15:00Z")));
        // 1 November 2026: 02:00 EDT becomes 01:00 EST at 06:00 UTC; 01:30 happens twice.
        let half_past_one = daily(1, 30, "America/New_York");
        let first = next_after(&half_past_one, 0, utc("2026-10-31T12:00:00Z")).unwrap();
        assert_eq!(first, utc("2026-11-01T05:30:00Z"));
        assert_eq!(next_after(&half_past_one, 0, first), Ok(utc("2026-11-02T06:30:00Z")));
        // A morning post keeps its local time across the change (UTC offset moves).
        let eight = daily(8, 0, "America/New_York");
        assert_eq!(next_after(&eight, 0, utc("2026-03-07T14:00:00Z")), Ok(utc("2026-03-08T12:00:00Z")));
    }

    #[test]
    fn every_n_hours_keeps_its_grid() {
        let six = Schedule::Every { minutes: 6 * 60 };
        let anchor = utc("2026-05-01T10:00:00Z");
        assert_eq!(next_after(&six, anchor, anchor), Ok(utc("2026-05-01T16:00:00Z")));
        assert_eq!(next_after(&six, anchor, utc("2026-05-01T16:00:00Z")), Ok(utc("2026-05-01T22:00:00Z")));
        // Claimed late (after a day without any instance): one firing, back on the grid.
        assert_eq!(next_after(&six, anchor, utc("2026-05-02T13:17:00Z")), Ok(utc("2026-05-02T16:00:00Z")));
        // An anchor in the future: the first grid point after `after`.
        assert_eq!(next_after(&six, anchor, utc("2026-04-30T23:00:00Z")), Ok(utc("2026-05-01T04:00:00Z")));
        // Intervals ignore DST: 24h across Amsterdam's spring change is 24 elapsed hours.
        let day = Schedule::Every { minutes: 24 * 60 };
        assert_eq!(
            next_after(&day, utc("2026-03-28T12:00:00Z"), utc("2026-03-28T12:00:00Z")),
            Ok(utc("2026-03-29T12:00:00Z"))
        );
        assert_eq!(next_after(&Schedule::Every { minutes: 0 }, 0, 0), Err(ScheduleError::Interval));
        // Minutes, for replication: a quarter hour on its own grid.
        let quarter = Schedule::Every { minutes: 15 };
        assert_eq!(next_after(&quarter, anchor, utc("2026-05-01T10:20:00Z")), Ok(utc("2026-05-01T10:30:00Z")));
    }

    #[test]
    fn stored_form_round_trips_and_rejects_damage() {
        for schedule in [
            daily(8, 5, "Europe/Amsterdam"),
            Schedule::Every { minutes: 168 * 60 },
            Schedule::Every { minutes: 15 },
            Schedule::Every { minutes: 90 },
        ] {
            assert_eq!(from_json(&to_json(&schedule)), Ok(schedule));
        }
        // Whole hours are stored as they were before minutes existed.
        assert_eq!(to_json(&Schedule::Every { minutes: 360 }), r#"{"every":{"hours":6}}"#);
        assert_eq!(from_json(r#"{"every":{"hours":6}}"#), Ok(Schedule::Every { minutes: 360 }));
        for bad in [
            "",
            "null",
            "{}",
            r#"{"daily":{"hour":8,"minute":0,"timezone":"Mars/Olympus"}}"#,
            r#"{"daily":{"hour":24,"minute":0,"timezone":"UTC"}}"#,
            r#"{"daily":{"hour":-1,"minute":0,"timezone":"UTC"}}"#,
            r#"{"every":{"hours":0}}"#,
            r#"{"every":{"hours":70000}}"#,
            r#"{"every":{"minutes":0}}"#,
            r#"{"every":{"hours":1,"minutes":5}}"#,
        ] {
            assert!(from_json(bad).is_err(), "{bad}");
        }
        assert!(next_after(&daily(8, 0, "Nowhere/Special"), 0, 0).is_err());
        assert!(next_after(&daily(25, 0, "UTC"), 0, 0).is_err());
        assert!(next_after(&daily(8, 0, "UTC"), 0, i64::MAX).is_err(), "out of range, not a panic");
    }

    mod properties {
        use chrono::Timelike;
        use proptest::prelude::*;

        use super::*;

        /// Zones with the awkward cases: whole-hour DST both sides of the
        /// equator, a 30-minute DST shift (Lord Howe), a :45 offset (Chatham).
        const ZONES: [&str; 6] =
            ["UTC", "Europe/Amsterdam", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Kolkata"];

        /// 2000-01-01 to 2040-01-01.
        const SPAN: std::ops::Range<i64> = 946_684_800_000..2_208_988_800_000;

        proptest! {
            #[test]
            fn daily_is_the_next_local_occurrence(
                zone in 0..ZONES.len(), hour in 0u8..24, minute in 0u8..60, after in SPAN
            ) {
                let schedule = daily(hour, minute, ZONES[zone]);
                let tz: Tz = ZONES[zone].parse().unwrap();
                let next = next_after(&schedule, 0, after).unwrap();
                prop_assert!(next > after);
                prop_assert!(next - after <= 26 * HOUR_MS, "{} hours later", (next - after) / HOUR_MS);
                let local = DateTime::<Utc>::from_timestamp_millis(next).unwrap().with_timezone(&tz);
                let asked = NaiveTime::from_hms_opt(hour.into(), minute.into(), 0).unwrap();
                if local.time() != asked {
                    // Only when the asked time does not exist that day: then it is
                    // the first instant after the gap, and a minute earlier is before it.
                    let naive = NaiveDateTime::new(local.date_naive(), asked);
                    prop_assert!(tz.from_local_datetime(&naive).earliest().is_none(), "{local} for {asked}");
                    let before = DateTime::<Utc>::from_timestamp_millis(next - 60_000).unwrap().with_timezone(&tz);
                    prop_assert!(before.time() < asked || before.date_naive() < local.date_naive());
                    prop_assert!(local.time() > asked && local.second() == 0);
                }
                // Once a day: the one after is on a later local date.
                let following = next_after(&schedule, 0, next).unwrap();
                let following_local = DateTime::<Utc>::from_timestamp_millis(following).unwrap().with_timezone(&tz);
                prop_assert!(following_local.date_naive() > local.date_naive());
            }

            #[test]
            fn every_stays_on_its_grid(minutes in 5u32..=168 * 60, anchor in SPAN, after in SPAN) {
                let period = i64::from(minutes) * MINUTE_MS;
                let next = next_after(&Schedule::Every { minutes }, anchor, after).unwrap();
                prop_assert!(next > after && next - period <= after);
                prop_assert_eq!((next - anchor).rem_euclid(period), 0);
            }
        }
    }
}
