//! Arguments as typed: names and schedules. Words are matched
//! case-insensitively; names (catalogs, spokes, run ids) keep their case but
//! must be plain identifiers, so nothing typed in chat ever reaches SQL or a
//! URL unchecked.

/// Longest name accepted for a catalog, spoke or run id.
pub const MAX_NAME_LEN: usize = 128;

/// When scheduled work (a status post, a replication) happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Every day at `hour:minute` in `timezone` (an IANA name; UTC when omitted).
    Daily { hour: u8, minute: u8, timezone: String },
    /// Every `minutes` minutes (status posts take whole hours only).
    Every { minutes: u32 },
    /// Once a calendar month (UTC), on the day of the month and at the time
    /// it was set (the 28th at the latest, so that every month has the day):
    /// scheduled drills (`subscribe drill PAIR monthly`).
    Monthly,
}

/// The shortest replication interval: a cycle reads both metastores before
/// it copies anything, and a tighter loop would mostly re-read.
pub const MIN_REPLICATION_MINUTES: u32 = 5;

/// The longest interval either schedule takes: a week.
pub const MAX_INTERVAL_MINUTES: u32 = 168 * 60;

/// `weekly` or `monthly`: how often a pair is drilled. A drill rehearses a
/// failover end to end, so nothing more frequent than weekly is offered.
pub fn drill_schedule(args: &[&str]) -> Result<Schedule, String> {
    match args {
        [word] if word.eq_ignore_ascii_case("weekly") => Ok(Schedule::Every { minutes: MAX_INTERVAL_MINUTES }),
        [word] if word.eq_ignore_ascii_case("monthly") => Ok(Schedule::Monthly),
        _ => Err("weekly or monthly".into()),
    }
}

/// `Ok` when nothing follows the command's name.
pub fn none(args: &[&str]) -> Result<(), String> {
    if args.is_empty() {
        Ok(())
    } else {
        Err("unexpected words".into())
    }
}

/// A catalog, spoke or run name: letters, digits, `_` and `-` only.
pub fn name(word: &str) -> Result<String, String> {
    let ok = !word.is_empty()
        && word.len() <= MAX_NAME_LEN
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(word.to_string())
    } else {
        Err(format!(
            "'{}' is not a valid name (letters, digits, _ and - only)",
            word.chars().take(40).collect::<String>()
        ))
    }
}

/// `[pair] [catalog]` and an optional `flag` (`--dry-run`, `--deep`), in
/// any order: one word is a catalog (the handler takes it for a pair when a
/// pair has that name), two are the pair then the catalog.
#[allow(clippy::type_complexity)]
pub fn pair_and_catalog(args: &[&str], flag: &str) -> Result<(Option<String>, Option<String>, bool), String> {
    let mut pair_name = None;
    let mut catalog = None;
    let mut flagged = false;
    for arg in args {
        if arg.eq_ignore_ascii_case(flag) {
            flagged = true;
        } else if arg.starts_with('-') {
            return Err(format!("unknown option {arg}"));
        } else if catalog.is_none() {
            catalog = Some(name(arg)?);
        } else if pair_name.is_none() {
            // Two words: the pair, then the catalog.
            pair_name = Some(pair(catalog.as_deref().unwrap_or_default())?);
            catalog = Some(name(arg)?);
        } else {
            return Err("a pair and one catalog at most".into());
        }
    }
    Ok((pair_name, catalog, flagged))
}

/// A pair's name (see `crate::pairs::check_name`).
pub fn pair(word: &str) -> Result<String, String> {
    crate::pairs::check_name(word).map(|()| word.to_string())
}

/// `daily HH:MM [timezone]` or `every Nh`: when status posts happen.
pub fn schedule(args: &[&str]) -> Result<Schedule, String> {
    match args {
        [kind, interval] if kind.eq_ignore_ascii_case("every") => {
            let hours = interval
                .strip_suffix(['h', 'H'])
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|h| (1..=MAX_INTERVAL_MINUTES / 60).contains(h))
                .ok_or("the interval must look like 6h (1h to 168h)")?;
            Ok(Schedule::Every { minutes: hours * 60 })
        }
        _ => daily_or_every(args),
    }
}

/// `daily HH:MM [timezone]` or `every N(m|h)` (5 minutes to a week): when a
/// pair replicates.
pub fn replication_schedule(args: &[&str]) -> Result<Schedule, String> {
    match args {
        [kind, interval] if kind.eq_ignore_ascii_case("every") => {
            let lower = interval.to_ascii_lowercase();
            let minutes = match (lower.strip_suffix('m'), lower.strip_suffix('h')) {
                (Some(n), _) => n.parse::<u32>().ok(),
                (_, Some(n)) => n.parse::<u32>().ok().and_then(|h| h.checked_mul(60)),
                _ => None,
            };
            let minutes = minutes
                .filter(|m| (MIN_REPLICATION_MINUTES..=MAX_INTERVAL_MINUTES).contains(m))
                .ok_or("the interval must look like 15m or 2h (5m to 168h)")?;
            Ok(Schedule::Every { minutes })
        }
        _ => daily_or_every(args),
    }
}

fn daily_or_every(args: &[&str]) -> Result<Schedule, String> {
    match args {
        [kind, time, rest @ ..] if kind.eq_ignore_ascii_case("daily") && rest.len() <= 1 => {
            let (hour, minute) = time.split_once(':').ok_or("the time must look like HH:MM")?;
            let hour: u8 = hour.parse().ok().filter(|h| *h < 24).ok_or("the hour must be 00 to 23")?;
            let minute: u8 = minute.parse().ok().filter(|m| *m < 60).ok_or("the minute must be 00 to 59")?;
            let timezone = match rest.first() {
                None => "UTC".to_string(),
                Some(tz) => tz.parse::<chrono_tz::Tz>().map(|tz| tz.name().to_string()).map_err(|_| {
                    format!("'{}' is not a time zone (e.g. Europe/Amsterdam)", tz.chars().take(40).collect::<String>())
                })?,
            };
            Ok(Schedule::Daily { hour, minute, timezone })
        }
        _ => Err("daily HH:MM [timezone], or every N".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_read_as_typed() {
        assert_eq!(
            schedule(&["daily", "08:00", "Europe/Amsterdam"]),
            Ok(Schedule::Daily { hour: 8, minute: 0, timezone: "Europe/Amsterdam".into() })
        );
        assert_eq!(schedule(&["DAILY", "8:05"]), Ok(Schedule::Daily { hour: 8, minute: 5, timezone: "UTC".into() }));
        assert_eq!(schedule(&["every", "6h"]), Ok(Schedule::Every { minutes: 360 }));
        for bad in
            [&["daily", "25:00"][..], &["daily", "08:00", "Mars/Olympus"], &["every", "0h"], &["every", "30m"], &[]]
        {
            assert!(schedule(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn replication_schedules_take_minutes_with_a_floor() {
        assert_eq!(replication_schedule(&["every", "15m"]), Ok(Schedule::Every { minutes: 15 }));
        assert_eq!(replication_schedule(&["EVERY", "2H"]), Ok(Schedule::Every { minutes: 120 }));
        assert_eq!(replication_schedule(&["every", "168h"]), Ok(Schedule::Every { minutes: 168 * 60 }));
        assert_eq!(
            replication_schedule(&["daily", "02:30", "Europe/Amsterdam"]),
            Ok(Schedule::Daily { hour: 2, minute: 30, timezone: "Europe/Amsterdam".into() })
        );
        for bad in [
            &["every", "4m"][..],
            &["every", "0m"],
            &["every", "169h"],
            &["every", "15"],
            &["every", "15s"],
            &["every", "m"],
            &["every", "99999999999h"],
            &["every", "-5m"],
            &["weekly", "mon"],
        ] {
            assert!(replication_schedule(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn drills_are_weekly_or_monthly() {
        assert_eq!(drill_schedule(&["weekly"]), Ok(Schedule::Every { minutes: 7 * 24 * 60 }));
        assert_eq!(drill_schedule(&["MONTHLY"]), Ok(Schedule::Monthly));
        for bad in [&[][..], &["daily"], &["every", "1h"], &["monthly", "extra"]] {
            assert!(drill_schedule(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sql_and_path_metacharacters_are_not_names() {
        for hostile in ["main`; DROP TABLE x", "a'b", "../etc", "c.s", "x;y", "`", "name with\u{0}nul", ""] {
            assert!(name(hostile).is_err(), "{hostile:?} was accepted");
        }
        assert_eq!(name("Sales_EU-2"), Ok("Sales_EU-2".into()));
    }
}
