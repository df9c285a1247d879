//! Arguments as typed: names and schedules. Words are matched
//! case-insensitively; names (catalogs, spokes, run ids) keep their case but
//! must be plain identifiers, so nothing typed in chat ever reaches SQL or a
//! URL unchecked.

/// Longest name accepted for a catalog, spoke or run id.
pub const MAX_NAME_LEN: usize = 128;

/// When scheduled status posts happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Every day at `hour:minute` in `timezone` (an IANA name; UTC when omitted).
    Daily { hour: u8, minute: u8, timezone: String },
    /// Every `hours` hours.
    Every { hours: u16 },
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

/// A pair's name (see `crate::pairs::check_name`).
pub fn pair(word: &str) -> Result<String, String> {
    crate::pairs::check_name(word).map(|()| word.to_string())
}

/// `daily HH:MM [timezone]` or `every Nh`.
pub fn schedule(args: &[&str]) -> Result<Schedule, String> {
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
        [kind, interval] if kind.eq_ignore_ascii_case("every") => {
            let hours = interval
                .strip_suffix(['h', 'H'])
                .and_then(|n| n.parse::<u16>().ok())
                .filter(|h| (1..=168).contains(h))
                .ok_or("the interval must look like 6h (1h to 168h)")?;
            Ok(Schedule::Every { hours })
        }
        _ => Err("daily HH:MM [timezone], or every Nh".to_string()),
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
        assert_eq!(schedule(&["every", "6h"]), Ok(Schedule::Every { hours: 6 }));
        for bad in [&["daily", "25:00"][..], &["daily", "08:00", "Mars/Olympus"], &["every", "0h"], &[]] {
            assert!(schedule(bad).is_err(), "{bad:?}");
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
