//! What `verify` concludes about one table from what it read of both sides:
//! pure, so every rule is a unit test.
//!
//! A table is **equal** when both sides have the same columns (names and
//! types, in order), the same number of rows, the secondary's newest commit
//! is the clone that copied the source's newest version, and (deep) the same
//! row hash. It is **different** when any of those is not so, each
//! difference named. It is **blocked** when it cannot be compared, with why:
//! a view (no data of its own), not a Delta table, missing on the
//! secondary, only on the secondary, the person may not read it, or too
//! large for the deep comparison. It is **failed** when a statement failed
//! for another reason. Every table in scope gets exactly one of these.

use serde::Serialize;

use super::statements::Column;

/// Why a statement gave no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The person may not read it (no SELECT, no USE CATALOG/SCHEMA).
    NoAccess(String),
    /// The table is not there (dropped since it was listed).
    Missing(String),
    /// Anything else.
    Failed(String),
}

/// The newest commit of a table's Delta history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Latest {
    pub version: i64,
    pub operation: String,
    /// For a `CLONE` commit: the source version it copied.
    pub source_version: Option<i64>,
}

/// What was read of one side of one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Side {
    /// `None`: not listed in `information_schema.columns` (not visible);
    /// an error: the catalog's columns could not be read.
    pub columns: Option<Result<Vec<Column>, Problem>>,
    pub rows: Option<Result<(i64, Option<String>), Problem>>,
    pub latest: Option<Result<Latest, Problem>>,
    /// `DESCRIBE DETAIL`'s `sizeInBytes` (deep only, the primary only).
    pub size: Option<Result<u64, Problem>>,
    /// Why its rows cannot be hashed (deep only): `xxhash64` refuses MAP
    /// and VARIANT values (SPARK-27619, SPARK-47822).
    pub unhashable: Option<String>,
}

impl Side {
    /// Every statement's failure, in a fixed order.
    fn problems(&self) -> impl Iterator<Item = &Problem> {
        [
            self.columns.as_ref().and_then(|r| r.as_ref().err()),
            self.rows.as_ref().and_then(|r| r.as_ref().err()),
            self.latest.as_ref().and_then(|r| r.as_ref().err()),
            self.size.as_ref().and_then(|r| r.as_ref().err()),
        ]
        .into_iter()
        .flatten()
    }
}

/// The outcome for one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Verdict {
    Equal,
    Different { differences: Vec<String> },
    Blocked { reason: String },
    Failed { error: String },
}

impl Verdict {
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Equal => "equal",
            Verdict::Different { .. } => "different",
            Verdict::Blocked { .. } => "blocked",
            Verdict::Failed { .. } => "failed",
        }
    }
}

/// `verdict` with more differences found outside the statements (the
/// tables' informational keys, from the two snapshots): an equal table with
/// any becomes different; a blocked or failed one stays as it is.
pub fn with_differences(verdict: Verdict, more: Vec<String>) -> Verdict {
    match verdict {
        _ if more.is_empty() => verdict,
        Verdict::Equal => Verdict::Different { differences: more },
        Verdict::Different { mut differences } => {
            differences.extend(more);
            Verdict::Different { differences }
        }
        other => other,
    }
}

/// What the deep comparison may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deep {
    pub max_bytes: u64,
}

/// Judges a Delta table present on both sides. `recorded` is the source
/// version drbot recorded the secondary's last clone as holding.
pub fn judge(primary: &Side, secondary: &Side, recorded: Option<i64>, deep: Option<Deep>) -> Verdict {
    // A refusal anywhere: the person cannot prove it either way.
    for (side, facts) in [("primary", primary), ("secondary", secondary)] {
        for problem in facts.problems() {
            match problem {
                Problem::NoAccess(why) => {
                    return Verdict::Blocked { reason: format!("no SELECT on the {side} table: {why}") }
                }
                Problem::Missing(why) => return Verdict::Blocked { reason: format!("missing on the {side}: {why}") },
                Problem::Failed(_) => {}
            }
        }
    }
    let mut errors = Vec::new();
    for (side, facts) in [("primary", primary), ("secondary", secondary)] {
        for problem in facts.problems() {
            if let Problem::Failed(why) = problem {
                errors.push(format!("{side}: {why}"));
            }
        }
    }
    if !errors.is_empty() {
        return Verdict::Failed { error: errors.join("; ") };
    }

    let mut differences = Vec::new();
    match (&primary.columns, &secondary.columns) {
        (Some(Ok(p)), Some(Ok(s))) => differences.extend(column_differences(p, s)),
        (Some(Err(_)), _) | (_, Some(Err(_))) => {}
        (None, _) => differences.push("the primary's columns are not visible in information_schema".into()),
        (_, None) => differences.push("the secondary's columns are not visible in information_schema".into()),
    }
    let rows = |side: &Side| side.rows.as_ref().and_then(|r| r.as_ref().ok()).cloned();
    let (p_rows, s_rows) = (rows(primary), rows(secondary));
    if let (Some((p, _)), Some((s, _))) = (&p_rows, &s_rows) {
        if p != s {
            differences.push(format!("rows: primary {p}, secondary {s}"));
        }
    }
    let latest = |side: &Side| side.latest.as_ref().and_then(|r| r.as_ref().ok()).cloned();
    if let (Some(source), Some(replica)) = (latest(primary), latest(secondary)) {
        match (replica.operation.eq_ignore_ascii_case("CLONE"), replica.source_version) {
            (true, Some(held)) if held < source.version => differences.push(format!(
                "version: the secondary holds source version {held}, the primary is at {}",
                source.version
            )),
            (true, Some(held)) if recorded.is_some_and(|r| r > held) => differences.push(format!(
                "version: the secondary holds source version {held}, drbot recorded {}",
                recorded.unwrap_or_default()
            )),
            (true, Some(_)) => {}
            (true, None) => differences.push("version: the secondary's clone names no source version".into()),
            (false, _) => differences.push(format!(
                "version: written on the secondary after its clone (version {}, {})",
                replica.version, replica.operation
            )),
        }
    }
    if let Some(deep) = deep {
        let size = primary.size.as_ref().and_then(|r| r.as_ref().ok()).copied();
        match (size, &p_rows, &s_rows) {
            // Too large or unhashable, but already different: the difference is the answer.
            _ if !differences.is_empty()
                && (primary.unhashable.is_some() || size.is_some_and(|s| s > deep.max_bytes)) => {}
            _ if primary.unhashable.is_some() => {
                return Verdict::Blocked {
                    reason: format!(
                        "--deep cannot hash its rows ({}): columns, rows and version are equal",
                        primary.unhashable.clone().unwrap_or_default()
                    ),
                };
            }
            (Some(size), _, _) if size > deep.max_bytes => {
                return Verdict::Blocked {
                    reason: format!(
                        "too large for --deep ({size} bytes, the limit is {}): columns, rows and version are equal",
                        deep.max_bytes
                    ),
                };
            }
            (_, Some((_, Some(p))), Some((_, Some(s)))) if p != s => {
                differences.push("row hash: the rows' content differs".into())
            }
            _ => {}
        }
    }
    if differences.is_empty() {
        Verdict::Equal
    } else {
        Verdict::Different { differences }
    }
}

/// Missing, extra and retyped columns, and a changed order; at most a few named.
fn column_differences(primary: &[Column], secondary: &[Column]) -> Vec<String> {
    let mut out = Vec::new();
    for column in primary {
        match secondary.iter().find(|c| c.name.eq_ignore_ascii_case(&column.name)) {
            None => out.push(format!("column {} missing on the secondary", column.name)),
            Some(other) if !other.data_type.eq_ignore_ascii_case(&column.data_type) => {
                out.push(format!("column {}: primary {}, secondary {}", column.name, column.data_type, other.data_type))
            }
            Some(_) => {}
        }
    }
    for column in secondary {
        if !primary.iter().any(|c| c.name.eq_ignore_ascii_case(&column.name)) {
            out.push(format!("column {} only on the secondary", column.name));
        }
    }
    let order = |columns: &[Column]| columns.iter().map(|c| c.name.to_ascii_lowercase()).collect::<Vec<_>>();
    if out.is_empty() && order(primary) != order(secondary) {
        out.push("columns: in another order".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, data_type: &str, position: i64) -> Column {
        Column { name: name.into(), data_type: data_type.into(), position }
    }

    fn side(rows: i64, hash: Option<&str>, latest: Latest) -> Side {
        Side {
            columns: Some(Ok(vec![column("id", "bigint", 0), column("amount", "decimal(10,2)", 1)])),
            rows: Some(Ok((rows, hash.map(str::to_string)))),
            latest: Some(Ok(latest)),
            size: None,
            unhashable: None,
        }
    }

    fn write(version: i64) -> Latest {
        Latest { version, operation: "WRITE".into(), source_version: None }
    }

    fn clone_of(version: i64, source_version: i64) -> Latest {
        Latest { version, operation: "CLONE".into(), source_version: Some(source_version) }
    }

    #[test]
    fn a_clone_of_the_newest_version_with_the_same_rows_is_equal() {
        let primary = side(100, None, write(12));
        let secondary = side(100, None, clone_of(3, 12));
        assert_eq!(judge(&primary, &secondary, Some(12), None), Verdict::Equal);
    }

    #[test]
    fn a_primary_that_moved_on_is_different_with_what_differs() {
        let primary = side(130, None, write(13));
        let secondary = side(100, None, clone_of(3, 12));
        let Verdict::Different { differences } = judge(&primary, &secondary, Some(12), None) else { panic!() };
        assert_eq!(
            differences,
            vec![
                "rows: primary 130, secondary 100".to_string(),
                "version: the secondary holds source version 12, the primary is at 13".to_string()
            ]
        );
    }

    #[test]
    fn a_secondary_written_after_its_clone_or_behind_the_record_is_different() {
        let primary = side(100, None, write(12));
        let written = side(100, None, write(4));
        assert!(matches!(judge(&primary, &written, None, None), Verdict::Different { .. }));
        let behind_record = side(100, None, clone_of(3, 11));
        let Verdict::Different { differences } = judge(&side(100, None, write(11)), &behind_record, Some(12), None)
        else {
            panic!()
        };
        assert_eq!(differences, vec!["version: the secondary holds source version 11, drbot recorded 12".to_string()]);
    }

    #[test]
    fn columns_are_compared_by_name_type_and_order() {
        let primary = side(1, None, write(1));
        let mut secondary = side(1, None, clone_of(1, 1));
        secondary.columns = Some(Ok(vec![column("id", "string", 0), column("extra", "int", 1)]));
        let Verdict::Different { differences } = judge(&primary, &secondary, None, None) else { panic!() };
        assert_eq!(
            differences,
            vec![
                "column id: primary bigint, secondary string".to_string(),
                "column amount missing on the secondary".to_string(),
                "column extra only on the secondary".to_string(),
            ]
        );
        secondary.columns = Some(Ok(vec![column("amount", "decimal(10,2)", 0), column("id", "bigint", 1)]));
        let Verdict::Different { differences } = judge(&primary, &secondary, None, None) else { panic!() };
        assert_eq!(differences, vec!["columns: in another order".to_string()]);
    }

    #[test]
    fn deep_compares_the_hash_below_the_limit_and_blocks_above_it() {
        let deep = Some(Deep { max_bytes: 1_000 });
        let mut primary = side(100, Some("77"), write(12));
        primary.size = Some(Ok(500));
        let secondary = side(100, Some("77"), clone_of(1, 12));
        assert_eq!(judge(&primary, &secondary, None, deep), Verdict::Equal);
        let tampered = side(100, Some("78"), clone_of(1, 12));
        assert_eq!(
            judge(&primary, &tampered, None, deep),
            Verdict::Different { differences: vec!["row hash: the rows' content differs".into()] }
        );
        primary.size = Some(Ok(5_000));
        let Verdict::Blocked { reason } = judge(&primary, &side(100, None, clone_of(1, 12)), None, deep) else {
            panic!()
        };
        assert!(reason.starts_with("too large for --deep (5000 bytes, the limit is 1000)"), "{reason}");
        // Too large, but already different: the difference is the answer.
        let moved = side(90, None, clone_of(1, 11));
        assert!(matches!(judge(&primary, &moved, None, deep), Verdict::Different { .. }));
        // A MAP column: xxhash64 refuses it, so the hash is not asked for.
        primary.size = Some(Ok(500));
        primary.unhashable = Some("column tags is a MAP".into());
        let Verdict::Blocked { reason } = judge(&primary, &side(100, None, clone_of(1, 12)), None, deep) else {
            panic!()
        };
        assert!(reason.starts_with("--deep cannot hash its rows (column tags is a MAP)"), "{reason}");
    }

    #[test]
    fn differences_found_elsewhere_make_an_equal_table_different_only() {
        let keys = vec!["constraint missing on the secondary: PRIMARY KEY pk (id)".to_string()];
        assert_eq!(with_differences(Verdict::Equal, Vec::new()), Verdict::Equal);
        assert_eq!(with_differences(Verdict::Equal, keys.clone()), Verdict::Different { differences: keys.clone() });
        let rows = Verdict::Different { differences: vec!["rows".into()] };
        let both = with_differences(rows, keys.clone());
        assert_eq!(both, Verdict::Different { differences: vec!["rows".into(), keys[0].clone()] });
        let blocked = Verdict::Blocked { reason: "no SELECT".into() };
        assert_eq!(with_differences(blocked.clone(), keys), blocked);
    }

    #[test]
    fn a_refusal_blocks_and_another_error_fails() {
        let primary = side(1, None, write(1));
        let mut secondary = side(1, None, clone_of(1, 1));
        secondary.rows = Some(Err(Problem::NoAccess("[INSUFFICIENT_PERMISSIONS] no SELECT".into())));
        let Verdict::Blocked { reason } = judge(&primary, &secondary, None, None) else { panic!() };
        assert!(reason.starts_with("no SELECT on the secondary table"), "{reason}");
        secondary.rows = Some(Err(Problem::Failed("[INTERNAL_ERROR] boom".into())));
        assert_eq!(
            judge(&primary, &secondary, None, None),
            Verdict::Failed { error: "secondary: [INTERNAL_ERROR] boom".into() }
        );
    }
}
