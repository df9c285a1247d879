//! The readiness report: can we fail over to the secondary now, and if not,
//! what stands in the way.
//!
//! `assess` is a pure function of the two snapshots (or of why one could not
//! be read), the replication configuration and the clock, so every rule below
//! is unit-tested without a workspace. It serialises as the `--json` output
//! of `drbot status` and is the view model of the Teams dashboard card.
//!
//! # Verdict rules
//!
//! **Not ready** when a failover now would lose something or cannot be judged:
//! - a workspace is unreachable, refuses the token, or its metastore could
//!   not be read (drift and RPO are then not computed);
//! - anything of the primary is missing on the secondary: a catalog, schema,
//!   table, view or volume (a missing Delta table is also "never replicated"
//!   in the RPO).
//!
//! **Degraded** when a failover would work but not as promised:
//! - Delta tables are behind the primary by more than the RPO target;
//! - the lag of some Delta tables cannot be measured (no commit time);
//! - objects are defined differently (type, location, format, view text,
//!   comment, properties);
//! - grants or owners differ (people would lose or gain access on failover);
//! - parts of either metastore that drift is computed from could not be read
//!   (objects, their contents, grants, view dependencies): the picture is
//!   incomplete. An unread metastore id or Delta Sharing state is listed
//!   but does not count;
//! - the last replication run finished longer ago than the RPO target.
//!
//! **Ready** otherwise. Tables behind by less than the target are within the
//! promise and do not count against readiness. Objects only the secondary
//! has are listed but never change the verdict: a failover loses nothing by
//! them, and replication leaves them alone unless pruning is on.
//!
//! # Worst offenders
//!
//! One line per object and problem, most severe first: missing (catalogs,
//! then schemas, then the rest), then stale by lag (unmeasurable lag first,
//! as unbounded), then defined differently, then grant drift, then owner
//! drift, then extra; by name within a rank.

use std::collections::BTreeMap;

use serde::Serialize;

use super::blockers::{blockers as pair_blockers, Blocker, Seen, WarehouseCheck};
use super::drift::{summarise as summarise_drift, DriftSummary};
use super::rpo::{summarise as summarise_rpo, table_rpos, Rag, RpoSummary, TableRpo};
use super::storage::{blockers as storage_blockers, StorageBlocker};
use super::unreplicable::{unreplicable, UnreplicableGroup};
use crate::replication::diff::Field;
use crate::replication::object::{ObjectKind, ObjectRef};
use crate::replication::snapshot::{Skipped, SkippedPart, Snapshot};
use crate::replication::{diff, Change, Drift, ReplicationConfig};
use crate::replication::{freshness, history};
use crate::store::table_versions::TableVersion;

/// How the report is put together.
#[derive(Clone, Debug, PartialEq)]
pub struct AssessOptions {
    /// The lag people accept, in ms (default 24 h).
    pub rpo_target_ms: i64,
    /// How many worst offenders to list (default 10).
    pub offenders: usize,
    /// How many unread parts to list by name (default 10; all are counted).
    pub unread_listed: usize,
    /// The newest replication run, when the caller knows it (from the store).
    pub last_run: Option<LastRun>,
    /// Each table's recorded replicated version and the last cycle's reading
    /// of its source (the store's `table_versions`): RPO is measured from
    /// these, as of those readings, rather than from commit properties that
    /// need not move on an append, and without reading every history now.
    pub table_versions: Vec<TableVersion>,
    /// What the secondary said of the pair's warehouse: [`super::check_with`]
    /// asks it when this is [`WarehouseCheck::Unknown`] and the caller speaks
    /// for a pair ([`AssessOptions::for_pair`]); left as it is otherwise.
    pub warehouse: WarehouseCheck,
    /// Whether the read's warehouse is the pair's, to be judged (a pair with
    /// none, or one the secondary does not have, is blocked).
    pub judge_warehouse: bool,
    /// The pair's copy manifest (`store::volume_files`): given, [`super::check_with`]
    /// lists the managed volumes' files on both sides (within
    /// [`super::check::FILES_BUDGET`]) and the drift compares them; `None`:
    /// files are not compared.
    pub volume_files: Option<crate::replication::volume_survey::Manifest>,
}

impl Default for AssessOptions {
    fn default() -> Self {
        AssessOptions {
            rpo_target_ms: 24 * 3_600_000,
            offenders: 10,
            unread_listed: 10,
            last_run: None,
            table_versions: Vec::new(),
            warehouse: WarehouseCheck::Unknown,
            judge_warehouse: false,
            volume_files: None,
        }
    }
}

impl AssessOptions {
    /// The options of a pair's readiness: its warehouse is judged too.
    pub fn for_pair() -> AssessOptions {
        AssessOptions { judge_warehouse: true, ..AssessOptions::default() }
    }
}

/// The newest replication run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LastRun {
    pub id: String,
    pub started_ms: i64,
    /// `None` while it runs (or if it never finished).
    pub finished_ms: Option<i64>,
    /// The run's summary counts, as the runner wrote them.
    pub counts: Option<serde_json::Value>,
}

impl From<&crate::store::runs::Run> for LastRun {
    fn from(run: &crate::store::runs::Run) -> LastRun {
        LastRun {
            id: run.id.clone(),
            started_ms: run.started_ms,
            finished_ms: run.finished_ms,
            counts: run.counts.clone(),
        }
    }
}

/// Whether a workspace answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Reachability {
    Reachable {
        /// One round trip, when it was measured.
        latency_ms: Option<u64>,
        /// The global metastore id (`azure:<region>:<uuid>`), when it could be read.
        metastore_id: Option<String>,
        /// How the metastore was read: `information_schema` on the
        /// warehouse, or REST (and why).
        read_path: String,
    },
    /// Down, refusing the token, or its metastore could not be read.
    Unreachable { error: String },
}

impl Reachability {
    pub fn is_reachable(&self) -> bool {
        matches!(self, Reachability::Reachable { .. })
    }
}

/// What was seen of one workspace: its snapshot, or why there is none.
#[derive(Clone, Copy, Debug)]
pub enum Observed<'a> {
    Read { snapshot: &'a Snapshot, latency_ms: Option<u64> },
    Unreachable { error: &'a str },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ready,
    Degraded,
    NotReady,
}

/// The overall answer and every reason for it (empty when ready).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub status: Status,
    pub reasons: Vec<String>,
}

/// Which workspace (the pair's own word for it, so readings and pairs agree).
pub use crate::pairs::Side;

/// A part of a metastore the read left out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnreadPart {
    pub side: Side,
    pub securable: String,
    pub full_name: String,
    /// `object`, `contents`, `grants`, …
    pub part: String,
    pub reason: String,
}

/// What could not be read, counted, the first few by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Unread {
    pub count: usize,
    /// Of those, the parts drift is computed from (objects, their contents,
    /// grants, view dependencies); the metastore id, Delta Sharing and tags
    /// (unread whenever no warehouse answers) are not counted here.
    pub affecting_drift: usize,
    pub listed: Vec<UnreadPart>,
}

/// What is wrong with an offender, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    Missing,
    Stale,
    Different,
    Grants,
    /// Comments, tags or table properties differ (`replication::metadata`).
    Metadata,
    Owner,
    Extra,
}

/// One object and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Offender {
    /// `catalog`, `schema`, `table`, `view`, `volume`.
    pub kind: String,
    /// The full name.
    pub object: String,
    pub problem: Problem,
    /// A stale table's lag (`None` for anything else or when unmeasurable).
    pub rpo_ms: Option<i64>,
    /// The verdict this problem alone would give: red for missing, amber for
    /// what degrades (stale beyond the target or unmeasurable, defined
    /// differently, grants, owner), green for lag within the target and extras.
    pub colour: Rag,
    /// One line for people.
    pub text: String,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Readiness {
    /// When it was assessed (epoch ms).
    pub assessed_ms: i64,
    pub primary: Reachability,
    pub secondary: Reachability,
    pub last_run: Option<LastRun>,
    /// `None` when it could not be computed (see `not_computed`).
    pub drift: Option<DriftSummary>,
    pub rpo: Option<RpoSummary>,
    /// Every replicated Delta table's RPO, by name, with the versions it is
    /// measured between (empty when drift and RPO were not computed).
    pub rpo_tables: Vec<TableRpo>,
    /// What the RPO was measured from when the last cycle's history readings
    /// were used, and how old they are.
    pub rpo_readings: Option<RpoReadings>,
    /// Why drift and RPO are missing, when they are.
    pub not_computed: Option<String>,
    pub unread: Unread,
    pub verdict: Verdict,
    /// The worst offenders, at most `AssessOptions::offenders`.
    pub offenders: Vec<Offender>,
    /// How many offenders there are in all.
    pub offenders_total: usize,
    /// Paths replication cannot use on the secondary's metastore, with the
    /// fix (a missing or insufficient external location, an overlap).
    pub storage_blockers: Vec<StorageBlocker>,
    /// Security findings: secondary tables whose row filter or column masks
    /// differ from the primary's (a clone carries none, so such a table may
    /// be readable unfiltered and unmasked there).
    pub security: Vec<ProtectionFinding>,
    /// What stops the pair from replicating at all, each with its fix (a
    /// missing metastore or warehouse, the recipient deleted, a share's
    /// owner without SELECT, a workspace gone): also the first reasons of
    /// the verdict.
    pub blockers: Vec<Blocker>,
    /// Objects in scope the next replication cannot copy, by reason.
    pub unreplicable: Vec<UnreplicableGroup>,
    /// The primary's objects of the kinds managed DR leaves out (when it was read).
    #[serde(skip)]
    pub primary_inventory: Option<super::inventory::Inventory>,
}

/// A table present on both sides whose protection differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProtectionFinding {
    pub table: String,
    /// The primary's row filter and masks, and the secondary's, for people.
    pub primary: String,
    pub secondary: String,
}

/// Every table on both sides (views have no protection) whose row filter or
/// column masks differ, by name.
pub fn protection_findings(primary: &Snapshot, secondary: &Snapshot) -> Vec<ProtectionFinding> {
    primary
        .tables
        .iter()
        .filter_map(|(name, table)| {
            let replica = secondary.tables.get(name)?;
            (replica.protection != table.protection).then(|| ProtectionFinding {
                table: name.clone(),
                primary: table.protection.describe(),
                secondary: replica.protection.describe(),
            })
        })
        .collect()
}

/// The history readings an RPO was measured from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RpoReadings {
    /// Tables measured from a reading of their source's history.
    pub tables: usize,
    /// When the oldest of those readings was taken (epoch ms), and its age at assessment.
    pub oldest_ms: i64,
    pub age_ms: i64,
}

/// Both snapshots with the recorded versions and the last cycle's readings
/// applied (`None` when there are none to apply), and what they were.
fn with_recorded_versions(
    primary: &Snapshot,
    secondary: &Snapshot,
    rows: &[TableVersion],
    now_ms: i64,
) -> Option<(Snapshot, Snapshot, Option<RpoReadings>)> {
    if rows.is_empty() {
        return None;
    }
    let readings: BTreeMap<String, crate::replication::snapshot::DeltaState> = rows
        .iter()
        .filter(|row| primary.tables.contains_key(&row.table_name))
        .filter_map(|row| {
            let source = row.source?;
            Some((
                row.table_name.clone(),
                crate::replication::snapshot::DeltaState { version: source.version, last_commit_ms: source.commit_ms },
            ))
        })
        .collect();
    let oldest_ms =
        rows.iter().filter(|row| readings.contains_key(&row.table_name)).filter_map(|row| row.read_ms).min();
    let (mut p, mut s) = (primary.clone(), secondary.clone());
    freshness::apply(&mut p, &mut s, &readings, &history::replicated(rows));
    let measured = oldest_ms.map(|oldest_ms| RpoReadings {
        tables: readings.len(),
        oldest_ms,
        age_ms: now_ms.saturating_sub(oldest_ms),
    });
    Some((p, s, measured))
}

/// Assesses two snapshots read from reachable workspaces.
pub fn assess(
    primary: &Snapshot,
    secondary: &Snapshot,
    config: &ReplicationConfig,
    now_ms: i64,
    options: &AssessOptions,
) -> Readiness {
    assess_observed(
        Observed::Read { snapshot: primary, latency_ms: None },
        Observed::Read { snapshot: secondary, latency_ms: None },
        config,
        now_ms,
        options,
    )
}

/// Assesses what was observed of each workspace; a side that could not be
/// read makes the drift parts "not computed" rather than failing.
pub fn assess_observed(
    primary: Observed<'_>,
    secondary: Observed<'_>,
    config: &ReplicationConfig,
    now_ms: i64,
    options: &AssessOptions,
) -> Readiness {
    let mut readiness = Readiness {
        assessed_ms: now_ms,
        primary: reachability(primary),
        secondary: reachability(secondary),
        last_run: options.last_run.clone(),
        drift: None,
        rpo: None,
        rpo_tables: Vec::new(),
        rpo_readings: None,
        not_computed: None,
        unread: Unread::default(),
        verdict: Verdict { status: Status::Ready, reasons: Vec::new() },
        offenders: Vec::new(),
        offenders_total: 0,
        storage_blockers: Vec::new(),
        security: Vec::new(),
        blockers: Vec::new(),
        unreplicable: Vec::new(),
        primary_inventory: match primary {
            Observed::Read { snapshot, .. } => Some(super::inventory::Inventory::of(snapshot)),
            Observed::Unreachable { .. } => None,
        },
    };
    let mut reasons = Reasons::default();
    readiness.blockers = pair_blockers(seen(primary), seen(secondary), &options.warehouse, config);
    // An unreachable workspace is one of them (its reason starts "the
    // secondary workspace is unreachable: …").
    for blocker in &readiness.blockers {
        reasons.not_ready(format!("{}; fix: {}", blocker.problem, blocker.fix));
    }

    match (primary, secondary) {
        (Observed::Read { snapshot: p, .. }, Observed::Read { snapshot: s, .. }) => {
            let recorded = with_recorded_versions(p, s, &options.table_versions, now_ms);
            let (p, s) = match &recorded {
                Some((p, s, readings)) => {
                    readiness.rpo_readings = readings.clone();
                    (p, s)
                }
                None => (p, s),
            };
            let drift = diff(p, s, config);
            let summary = summarise_drift(&drift);
            let rpo_tables = table_rpos(p, s, config, &drift);
            let rpo = summarise_rpo(&rpo_tables, options.rpo_target_ms);
            readiness.rpo_tables = rpo_tables;
            readiness.unread = unread(p, s, options.unread_listed);
            judge_drift(&summary, &rpo, &readiness.unread, &mut reasons);
            let offenders = offenders(&drift, options.rpo_target_ms);
            readiness.offenders_total = offenders.len();
            readiness.offenders = offenders.into_iter().take(options.offenders).collect();
            readiness.drift = Some(summary);
            readiness.rpo = Some(rpo);
            readiness.storage_blockers = storage_blockers(p, s, config);
            for blocker in &readiness.storage_blockers {
                reasons.not_ready(format!(
                    "replication is blocked on {}: {}",
                    plural(blocker.paths, "storage path"),
                    blocker.problem
                ));
            }
            readiness.unreplicable = unreplicable(&crate::replication::planner::plan(p, s, config));
            readiness.security = protection_findings(p, s);
            if let Some(first) = readiness.security.first() {
                let more = readiness.security.len() - 1;
                reasons.not_ready(format!(
                    "security: {} table(s) on the secondary are not protected like the primary (row filters, column \
                     masks), e.g. {}: primary {}, secondary {}{}",
                    readiness.security.len(),
                    first.table,
                    first.primary,
                    first.secondary,
                    if more > 0 { format!(" (and {more} more)") } else { String::new() }
                ));
            }
        }
        _ => {
            readiness.not_computed =
                Some("drift and RPO need both metastores; at least one could not be read".to_string());
        }
    }

    if let Some(LastRun { finished_ms: Some(finished_ms), .. }) = &options.last_run {
        let age = now_ms.saturating_sub(*finished_ms);
        if age > options.rpo_target_ms {
            reasons.degraded(format!(
                "the last replication run finished {} ago, longer than the RPO target of {}",
                duration(age),
                duration(options.rpo_target_ms)
            ));
        }
    }
    readiness.verdict = reasons.verdict();
    readiness
}

fn seen(observed: Observed<'_>) -> Seen<'_> {
    match observed {
        Observed::Read { snapshot, .. } => Seen::Read(snapshot),
        Observed::Unreachable { error } => Seen::Unreachable(error),
    }
}

fn reachability(observed: Observed<'_>) -> Reachability {
    match observed {
        Observed::Read { snapshot, latency_ms } => Reachability::Reachable {
            latency_ms,
            metastore_id: Some(snapshot.global_metastore_id.clone()).filter(|id| !id.is_empty()),
            read_path: snapshot.read_path.to_string(),
        },
        Observed::Unreachable { error } => Reachability::Unreachable { error: error.to_string() },
    }
}

/// Reasons gathered by status; the verdict is the worst status with a reason.
#[derive(Default)]
struct Reasons {
    not_ready: Vec<String>,
    degraded: Vec<String>,
}

impl Reasons {
    fn not_ready(&mut self, reason: String) {
        self.not_ready.push(reason);
    }

    fn degraded(&mut self, reason: String) {
        self.degraded.push(reason);
    }

    fn verdict(self) -> Verdict {
        let status = if !self.not_ready.is_empty() {
            Status::NotReady
        } else if !self.degraded.is_empty() {
            Status::Degraded
        } else {
            Status::Ready
        };
        Verdict { status, reasons: self.not_ready.into_iter().chain(self.degraded).collect() }
    }
}

fn judge_drift(drift: &DriftSummary, rpo: &RpoSummary, unread: &Unread, reasons: &mut Reasons) {
    let total = drift.objects.total();
    if total.missing > 0 {
        let by_kind: Vec<String> = drift
            .objects
            .rows()
            .iter()
            .filter(|(_, c)| c.missing > 0)
            .map(|(kind, c)| plural(c.missing, kind))
            .collect();
        reasons.not_ready(format!("missing on the secondary: {}", by_kind.join(", ")));
    }
    if rpo.over_target > 0 {
        let worst =
            rpo.worst.as_ref().map(|w| format!(" (worst: {}, {})", w.table, duration(w.ms))).unwrap_or_default();
        reasons.degraded(format!(
            "{} behind the primary by more than the RPO target of {}{worst}",
            plural(rpo.over_target, "Delta table"),
            duration(rpo.target_ms)
        ));
    }
    if rpo.unknown > 0 {
        reasons.degraded(format!("{} without a commit time to measure the lag by", plural(rpo.unknown, "Delta table")));
    }
    if total.different > 0 {
        reasons.degraded(format!("{} defined differently on the secondary", plural(total.different, "object")));
    }
    if drift.grants.objects > 0 {
        reasons.degraded(format!(
            "grants differ on {} ({})",
            plural(drift.grants.objects, "object"),
            plural(drift.grants.principals, "principal")
        ));
    }
    if drift.owners.objects > 0 {
        reasons.degraded(format!("owners differ on {}", plural(drift.owners.objects, "object")));
    }
    if drift.metadata.objects > 0 {
        reasons.degraded(format!(
            "comments, tags or table properties differ on {}",
            plural(drift.metadata.objects, "object")
        ));
    }
    if unread.affecting_drift > 0 {
        reasons.degraded(format!(
            "{} could not be read; the picture is incomplete",
            plural(unread.affecting_drift, "part")
        ));
    }
}

/// `1 table`, `3 tables`, `2 catalogs`.
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn unread(primary: &Snapshot, secondary: &Snapshot, listed: usize) -> Unread {
    let all = primary
        .skipped
        .iter()
        .map(|s| (Side::Primary, s))
        .chain(secondary.skipped.iter().map(|s| (Side::Secondary, s)));
    let count = primary.skipped.len() + secondary.skipped.len();
    let affecting_drift = primary
        .skipped
        .iter()
        .chain(&secondary.skipped)
        // Tags unread are listed, not a degradation: a read without a
        // running warehouse cannot read them by design (`replication::tags`),
        // and the plan says it did not compare them.
        .filter(|s| {
            !matches!(
                s.part,
                SkippedPart::MetastoreId | SkippedPart::Sharing | SkippedPart::Storage | SkippedPart::Tags
            )
        })
        .count();
    Unread { count, affecting_drift, listed: all.take(listed).map(|(side, s)| unread_part(side, s)).collect() }
}

fn unread_part(side: Side, skipped: &Skipped) -> UnreadPart {
    let part = match skipped.part {
        SkippedPart::Object => "object",
        SkippedPart::Contents => "contents",
        SkippedPart::Grants => "grants",
        SkippedPart::ViewDependencies => "view dependencies",
        SkippedPart::Sharing => "sharing",
        SkippedPart::MetastoreId => "metastore id",
        SkippedPart::Storage => "external locations",
        SkippedPart::FormatOptions => "format options",
        SkippedPart::Tags => "tags",
        SkippedPart::Models => "registered models",
    };
    UnreadPart {
        side,
        securable: skipped.securable.clone(),
        full_name: skipped.full_name.clone(),
        part: part.to_string(),
        reason: skipped.reason.clone(),
    }
}

/// Every offender, most severe first (see the module's rules), coloured
/// against the RPO target.
pub fn offenders(drift: &[Drift], rpo_target_ms: i64) -> Vec<Offender> {
    // Grant drift comes one entry per principal; people want one line per object.
    let mut grants: BTreeMap<&ObjectRef, Vec<String>> = BTreeMap::new();
    let mut out: Vec<(Offender, (Problem, u8, i64, String))> = Vec::new();
    for entry in drift {
        let object = &entry.object;
        let (problem, rpo_ms, text) = match &entry.change {
            Change::Grants { principal, missing, extra } => {
                let mut parts = Vec::new();
                if !missing.is_empty() {
                    parts.push(format!("{principal} lacks {}", join(missing)));
                }
                if !extra.is_empty() {
                    parts.push(format!("{principal} also has {}", join(extra)));
                }
                grants.entry(object).or_default().push(parts.join(", "));
                continue;
            }
            Change::Missing => (Problem::Missing, None, "missing on the secondary".to_string()),
            Change::Extra => (Problem::Extra, None, "only on the secondary".to_string()),
            Change::Different(fields) => {
                let what: Vec<&str> = fields.iter().map(field_name).collect();
                (Problem::Different, None, format!("defined differently: {}", what.join(", ")))
            }
            Change::Stale { primary_commit_ms, secondary_commit_ms } => match secondary_commit_ms {
                Some(secondary_ms) => {
                    let lag = primary_commit_ms.saturating_sub(*secondary_ms);
                    (Problem::Stale, Some(lag), format!("{} behind the primary", duration(lag)))
                }
                None => (Problem::Stale, None, "stale: the clone has no commit time".to_string()),
            },
            Change::Owner { primary, secondary } => {
                (Problem::Owner, None, format!("owned by {secondary}, the primary says {primary}"))
            }
            Change::Metadata(fields) => {
                let what: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
                (Problem::Metadata, None, format!("metadata differs: {}", what.join(", ")))
            }
        };
        let colour = match problem {
            Problem::Missing => Rag::Red,
            Problem::Stale if rpo_ms.is_some_and(|ms| ms <= rpo_target_ms) => Rag::Green,
            Problem::Extra => Rag::Green,
            _ => Rag::Amber,
        };
        out.push(offender(object, problem, rpo_ms, colour, text));
    }
    for (object, lines) in grants {
        let text = format!("grants differ: {}", lines.join("; "));
        out.push(offender(object, Problem::Grants, None, Rag::Amber, text));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out.into_iter().map(|(offender, _)| offender).collect()
}

fn offender(
    object: &ObjectRef,
    problem: Problem,
    rpo_ms: Option<i64>,
    colour: Rag,
    text: String,
) -> (Offender, (Problem, u8, i64, String)) {
    let depth = match object.kind {
        ObjectKind::Catalog | ObjectKind::SharedCatalog => 0,
        ObjectKind::Schema => 1,
        _ => 2,
    };
    // Missing: containers first. Stale: the largest lag first, an
    // unmeasurable one before all (unbounded).
    let (level, lag) = match problem {
        Problem::Missing => (depth, 0),
        Problem::Stale => (0, rpo_ms.map_or(i64::MIN, |ms| -ms)),
        _ => (0, 0),
    };
    let name = object.full_name();
    let key = (problem, level, lag, name.clone());
    (Offender { kind: object.kind.as_str().to_string(), object: name, problem, rpo_ms, colour, text }, key)
}

fn join(privileges: &std::collections::BTreeSet<String>) -> String {
    privileges.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
}

fn field_name(field: &Field) -> &'static str {
    match field {
        Field::Kind { .. } => "type",
        Field::Comment => "comment",
        Field::Properties => "properties",
        Field::StorageLocation { .. } => "storage location",
        Field::Format { .. } => "format",
        Field::ViewDefinition => "view definition",
        Field::FunctionDefinition => "function definition",
        Field::Columns => "columns or format options",
        Field::VolumeType { .. } => "volume type",
        Field::Files { .. } => "files",
        Field::ModelVersions { .. } => "model versions",
        Field::Aliases => "aliases",
        Field::VersionMetadata => "version comments or tags",
    }
}

/// A lag or an age for people: `45 s`, `12 min`, `3 h 5 min`, `1 d 16 h`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    let (s, m, h) = (ms / 1_000, ms / 60_000, ms / 3_600_000);
    let d = h / 24;
    if d > 0 {
        match h % 24 {
            0 => format!("{d} d"),
            hours => format!("{d} d {hours} h"),
        }
    } else if h > 0 {
        match m % 60 {
            0 => format!("{h} h"),
            minutes => format!("{h} h {minutes} min"),
        }
    } else if m > 0 {
        format!("{m} min")
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::fixtures::*;
    use crate::replication::snapshot::{CatalogKind, DeltaState, ReadPath};

    const HOUR: i64 = 3_600_000;
    const NOW: i64 = 200 * HOUR;

    fn primary() -> Snapshot {
        empty(PRIMARY_ID)
            .with_catalog(catalog("main", CatalogKind::Managed))
            .with_schema(schema("main", "sales"))
            .with_table(managed("main.sales.orders", 100 * HOUR))
            .with_table(managed("main.sales.items", 100 * HOUR))
            .with_table(view("main.sales.v", &["main.sales.orders"]))
            .with_volume(external_volume("main.sales.landing"))
    }

    fn faithful(primary: &Snapshot) -> Snapshot {
        let mut secondary = empty(SECONDARY_ID)
            .with_catalog(replica_of_catalog(&primary.catalogs["main"]))
            .with_schema(schema("main", "sales"))
            .with_volume(replica_of_volume(&primary.volumes["main.sales.landing"]));
        for table in primary.tables.values() {
            secondary = secondary.with_table(replica_of(table));
        }
        secondary
    }

    fn lag(secondary: &mut Snapshot, table: &str, hours: i64) {
        secondary.tables.get_mut(table).unwrap().delta =
            Some(DeltaState { version: 1, last_commit_ms: (100 - hours) * HOUR });
    }

    fn assess_default(primary: &Snapshot, secondary: &Snapshot) -> Readiness {
        assess(primary, secondary, &config(), NOW, &AssessOptions::default())
    }

    /// A clone carries no row filter or mask: a secondary table protected
    /// otherwise than its primary is a security finding that makes the pair
    /// not ready, naming both sides' protection.
    /// Metadata a clone does not carry is diffed like grants: a differing
    /// comment, tag, user property or column tag degrades the pair and names
    /// what differs; Delta's own properties are not drift; tags a read could
    /// not learn are unknown, not different.
    #[test]
    fn a_differing_comment_tag_or_property_is_drift_like_grants() {
        use crate::replication::snapshot::ColumnMetadata;
        let mut primary = primary();
        let orders = primary.tables.get_mut("main.sales.orders").unwrap();
        orders.common.comment = Some("orders".into());
        orders.common.tags.insert("tier".into(), "gold".into());
        orders.common.properties.insert("quality".into(), "gold".into());
        orders
            .column_metadata
            .insert("email".into(), ColumnMetadata { comment: None, tags: [("pii".into(), "email".into())].into() });
        let mut secondary = faithful(&primary);
        // Delta's bookkeeping differs on every clone: never drift.
        secondary
            .tables
            .get_mut("main.sales.orders")
            .unwrap()
            .common
            .properties
            .insert("delta.minReaderVersion".into(), "3".into());
        let same = assess_default(&primary, &secondary);
        assert_eq!(same.drift.as_ref().unwrap().metadata.objects, 0, "{:?}", same.offenders);

        let copy = secondary.tables.get_mut("main.sales.orders").unwrap();
        copy.common.comment = None;
        copy.common.tags.clear();
        copy.common.properties.insert("quality".into(), "bronze".into());
        copy.column_metadata.clear();
        secondary.catalogs.get_mut("main").unwrap().common.tags.insert("stray".into(), "x".into());
        let readiness = assess_default(&primary, &secondary);
        let drift = readiness.drift.as_ref().unwrap();
        assert_eq!((drift.metadata.objects, drift.metadata.fields), (2, 5));
        let orders = readiness.offenders.iter().find(|o| o.object == "main.sales.orders").expect("an offender");
        assert_eq!(orders.problem, Problem::Metadata);
        assert_eq!(orders.text, "metadata differs: comment, table properties, tags, tags of column email");
        assert!(
            readiness.verdict.reasons.iter().any(|r| r == "comments, tags or table properties differ on 2 objects"),
            "{:?}",
            readiness.verdict
        );

        // Tags unknown on one side (read without a warehouse): only the
        // comment and the property are judged.
        secondary.skipped.push(crate::replication::tags::unread("no warehouse".into()));
        let blind = assess_default(&primary, &secondary);
        let drift = blind.drift.as_ref().unwrap();
        assert_eq!((drift.metadata.objects, drift.metadata.fields), (1, 2));
    }

    #[test]
    fn a_secondary_table_protected_otherwise_than_the_primary_is_a_security_finding() {
        use crate::replication::snapshot::{Policy, Protection};
        let mut primary = primary();
        let secondary = faithful(&primary);
        assert!(assess_default(&primary, &secondary).security.is_empty());
        let policy = |f: &str, columns: &[&str]| Policy {
            function_name: f.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
        };
        primary.tables.get_mut("main.sales.orders").unwrap().protection = Protection {
            row_filter: Some(policy("main.security.by_region", &["region"])),
            column_masks: [("email".to_string(), policy("main.security.hide_email", &[]))].into(),
        };
        let readiness = assess_default(&primary, &secondary);
        assert_eq!(
            readiness.security,
            vec![ProtectionFinding {
                table: "main.sales.orders".into(),
                primary: "row filter main.security.by_region, masks on email (main.security.hide_email)".into(),
                secondary: "none".into(),
            }]
        );
        assert_eq!(readiness.verdict.status, Status::NotReady);
        assert!(
            readiness.verdict.reasons.iter().any(|r| r.starts_with("security: 1 table(s)")),
            "{:?}",
            readiness.verdict
        );
        // Protected alike: no finding.
        let alike = faithful(&primary);
        assert!(assess_default(&primary, &alike).security.is_empty());
    }

    #[test]
    fn rpo_comes_from_the_recorded_versions_as_of_the_last_readings_with_their_age() {
        use crate::store::table_versions::{Commit, TableVersion};
        // By the listed properties both tables look current (an append moved none).
        let primary = primary();
        let secondary = faithful(&primary);
        assert_eq!(assess_default(&primary, &secondary).rpo.unwrap().behind, 0);
        let row = |table: &str, replicated_ms: i64, source_version: i64, source_ms: i64| TableVersion {
            table_name: table.into(),
            replicated: Some(Commit { version: 3, commit_ms: replicated_ms }),
            replicated_ms: Some(replicated_ms),
            source: Some(Commit { version: source_version, commit_ms: source_ms }),
            read_ms: Some(NOW - 2 * HOUR),
        };
        let options = AssessOptions {
            table_versions: vec![
                row("main.sales.orders", 100 * HOUR, 9, 130 * HOUR),
                row("main.sales.items", 100 * HOUR, 3, 100 * HOUR),
            ],
            ..AssessOptions::default()
        };
        let readiness = assess(&primary, &secondary, &config(), NOW, &options);
        let rpo = readiness.rpo.unwrap();
        assert_eq!((rpo.behind, rpo.over_target, rpo.up_to_date), (1, 1, 1));
        assert_eq!(rpo.worst.map(|w| (w.table, w.ms)), Some(("main.sales.orders".to_string(), 30 * HOUR)));
        // Per table: the lag and the versions it is measured between.
        let per_table: Vec<String> = readiness
            .rpo_tables
            .iter()
            .map(|t| format!("{} {:?} {:?} {:?}", t.table, t.rpo.ms(), t.source_version, t.held_version))
            .collect();
        assert_eq!(
            per_table,
            vec![
                "main.sales.items Some(0) Some(3) Some(3)".to_string(),
                format!("main.sales.orders Some({}) Some(9) Some(3)", 30 * HOUR),
            ]
        );
        assert_eq!(
            readiness.rpo_readings,
            Some(RpoReadings { tables: 2, oldest_ms: NOW - 2 * HOUR, age_ms: 2 * HOUR })
        );
        assert_eq!(readiness.verdict.status, Status::Degraded);
    }

    #[test]
    fn a_faithful_replica_is_ready_with_reachable_workspaces() {
        let primary = primary();
        let readiness = assess_default(&primary, &faithful(&primary));
        assert_eq!(readiness.verdict, Verdict { status: Status::Ready, reasons: vec![] });
        assert_eq!(
            readiness.primary,
            Reachability::Reachable {
                latency_ms: None,
                metastore_id: Some(PRIMARY_ID.into()),
                read_path: ReadPath::default().to_string()
            }
        );
        assert!(readiness.secondary.is_reachable());
        assert_eq!(readiness.drift, Some(DriftSummary::default()));
        assert_eq!(readiness.rpo.as_ref().map(|r| (r.tables, r.up_to_date)), Some((2, 2)));
        assert!(readiness.offenders.is_empty() && readiness.not_computed.is_none());
    }

    #[test]
    fn lag_within_the_target_is_ready_beyond_it_degraded() {
        let primary = primary();
        let mut secondary = faithful(&primary);
        lag(&mut secondary, "main.sales.orders", 5);
        let readiness = assess_default(&primary, &secondary);
        assert_eq!(readiness.verdict.status, Status::Ready, "{:?}", readiness.verdict);
        assert_eq!(readiness.drift.as_ref().unwrap().objects.table.stale, 1);

        lag(&mut secondary, "main.sales.items", 30);
        let readiness = assess_default(&primary, &secondary);
        assert_eq!(readiness.verdict.status, Status::Degraded);
        assert_eq!(readiness.verdict.reasons.len(), 1);
        let reason = &readiness.verdict.reasons[0];
        assert!(reason.contains("1 Delta table behind") && reason.contains("main.sales.items"), "{reason}");
    }

    #[test]
    fn anything_missing_is_not_ready_and_named_by_kind() {
        let primary = primary();
        let mut secondary = faithful(&primary);
        secondary.tables.remove("main.sales.orders");
        secondary.tables.remove("main.sales.v");
        secondary.volumes.clear();
        let readiness = assess_default(&primary, &secondary);
        assert_eq!(readiness.verdict.status, Status::NotReady);
        assert_eq!(readiness.verdict.reasons, vec!["missing on the secondary: 1 table, 1 view, 1 volume".to_string()]);
        assert_eq!(readiness.rpo.as_ref().unwrap().never_replicated, 1);
    }

    #[test]
    fn grants_owners_definitions_unread_parts_and_an_old_run_degrade() {
        let primary = primary();
        let mut secondary = faithful(&primary);
        secondary.tables.get_mut("main.sales.orders").unwrap().common.grants =
            [("eve".to_string(), ["SELECT".to_string()].into())].into();
        secondary.schemas.get_mut("main.sales").unwrap().common.owner = "carol".into();
        secondary.tables.get_mut("main.sales.v").unwrap().view_definition = Some("SELECT 1".into());
        secondary.skipped.push(Skipped {
            securable: "table".into(),
            full_name: "main.sales.items".into(),
            part: SkippedPart::Grants,
            reason: "permission denied".into(),
        });
        let options = AssessOptions {
            last_run: Some(LastRun {
                id: "r1".into(),
                started_ms: 0,
                finished_ms: Some(NOW - 25 * HOUR),
                counts: None,
            }),
            ..AssessOptions::default()
        };
        let readiness = assess(&primary, &secondary, &config(), NOW, &options);
        assert_eq!(readiness.verdict.status, Status::Degraded);
        let reasons = readiness.verdict.reasons.join("\n");
        for expected in [
            "1 object defined differently",
            "grants differ on 1 object (1 principal)",
            "owners differ on 1 object",
            "1 part could not be read",
            "the last replication run finished 1 d 1 h ago",
        ] {
            assert!(reasons.contains(expected), "{expected} in {reasons}");
        }
        assert_eq!((readiness.unread.count, readiness.unread.affecting_drift), (1, 1));
        assert_eq!(readiness.unread.listed[0].side, Side::Secondary);
        assert_eq!(readiness.unread.listed[0].part, "grants");
        assert_eq!(readiness.last_run.as_ref().map(|r| r.id.as_str()), Some("r1"));
    }

    #[test]
    fn an_unread_metastore_id_or_sharing_state_is_listed_but_keeps_the_verdict() {
        let primary = primary();
        let mut secondary = faithful(&primary);
        for (part, securable) in [(SkippedPart::MetastoreId, "metastore"), (SkippedPart::Sharing, "provider")] {
            secondary.skipped.push(Skipped {
                securable: securable.into(),
                full_name: String::new(),
                part,
                reason: "no warehouse".into(),
            });
        }
        let readiness = assess_default(&primary, &secondary);
        assert_eq!(readiness.verdict.status, Status::Ready, "{:?}", readiness.verdict);
        assert_eq!((readiness.unread.count, readiness.unread.affecting_drift), (2, 0));
        assert_eq!(readiness.unread.listed.len(), 2);
    }

    #[test]
    fn extra_objects_are_listed_but_keep_the_verdict() {
        let primary = primary();
        let secondary = faithful(&primary).with_schema(schema("main", "dr_scratch"));
        let readiness = assess_default(&primary, &secondary);
        assert_eq!(readiness.verdict.status, Status::Ready);
        assert_eq!(readiness.drift.as_ref().unwrap().objects.schema.extra, 1);
        assert_eq!(readiness.offenders.len(), 1);
        assert_eq!(readiness.offenders[0].problem, Problem::Extra);
        assert_eq!(readiness.offenders[0].object, "main.dr_scratch");
    }

    #[test]
    fn an_unreachable_side_is_not_ready_and_drift_not_computed() {
        let primary = primary();
        let readiness = assess_observed(
            Observed::Read { snapshot: &primary, latency_ms: Some(12) },
            Observed::Unreachable { error: "workspace unreachable: connection refused" },
            &config(),
            NOW,
            &AssessOptions::default(),
        );
        assert_eq!(readiness.verdict.status, Status::NotReady);
        assert_eq!(readiness.verdict.reasons.len(), 1, "{:?}", readiness.verdict);
        assert!(
            readiness.verdict.reasons[0].starts_with(
                "the secondary workspace is unreachable: workspace unreachable: connection refused; fix: "
            ),
            "{:?}",
            readiness.verdict
        );
        assert_eq!(readiness.blockers.len(), 1);
        assert_eq!(
            readiness.primary,
            Reachability::Reachable {
                latency_ms: Some(12),
                metastore_id: Some(PRIMARY_ID.into()),
                read_path: ReadPath::default().to_string()
            }
        );
        assert!(matches!(&readiness.secondary, Reachability::Unreachable { error } if error.contains("refused")));
        assert!(readiness.drift.is_none() && readiness.rpo.is_none() && readiness.not_computed.is_some());
        let json = serde_json::to_value(&readiness).unwrap();
        assert_eq!(json["secondary"]["state"], "unreachable");
        assert_eq!(json["verdict"]["status"], "not_ready");
        assert!(json["drift"].is_null());
    }

    #[test]
    fn offenders_go_missing_then_stale_by_lag_then_different_grants_owner_extra() {
        let primary = primary()
            .with_schema(schema("main", "hr"))
            .with_table(managed("main.sales.a", 100 * HOUR))
            .with_table(managed("main.sales.b", 100 * HOUR))
            .with_table(managed("main.sales.c", 100 * HOUR));
        let mut secondary = faithful(&primary);
        secondary.schemas.remove("main.hr");
        secondary.tables.remove("main.sales.orders");
        lag(&mut secondary, "main.sales.a", 2);
        lag(&mut secondary, "main.sales.b", 40);
        secondary.tables.get_mut("main.sales.c").unwrap().delta = None;
        secondary.tables.get_mut("main.sales.items").unwrap().common.grants =
            [("eve".to_string(), ["SELECT".to_string()].into()), ("zed".to_string(), ["MODIFY".to_string()].into())]
                .into();
        secondary.tables.get_mut("main.sales.v").unwrap().common.owner = "carol".into();
        secondary.tables.get_mut("main.sales.v").unwrap().view_definition = Some("SELECT 1".into());
        secondary = secondary.with_schema(schema("main", "dr_scratch"));

        let readiness = assess_default(&primary, &secondary);
        let order: Vec<(Problem, &str)> = readiness.offenders.iter().map(|o| (o.problem, o.object.as_str())).collect();
        assert_eq!(
            order,
            vec![
                (Problem::Missing, "main.hr"),
                (Problem::Missing, "main.sales.orders"),
                (Problem::Stale, "main.sales.c"),
                (Problem::Stale, "main.sales.b"),
                (Problem::Stale, "main.sales.a"),
                (Problem::Different, "main.sales.v"),
                (Problem::Grants, "main.sales.items"),
                (Problem::Owner, "main.sales.v"),
                (Problem::Extra, "main.dr_scratch"),
            ]
        );
        assert_eq!(readiness.offenders_total, 9);
        let b = &readiness.offenders[3];
        assert_eq!((b.rpo_ms, b.text.as_str()), (Some(40 * HOUR), "1 d 16 h behind the primary"));
        let colours: Vec<Rag> = readiness.offenders.iter().map(|o| o.colour).collect();
        use Rag::{Amber, Green, Red};
        // Missing ×2, stale: unmeasurable, 40 h (over 24 h), 2 h; different, grants, owner, extra.
        assert_eq!(colours, vec![Red, Red, Amber, Amber, Green, Amber, Amber, Amber, Green]);
        assert_eq!(readiness.offenders[6].text, "grants differ: eve also has SELECT; zed also has MODIFY");
        assert_eq!(readiness.offenders[7].text, "owned by carol, the primary says dr-operators");

        let top3 = assess(&primary, &secondary, &config(), NOW, &AssessOptions { offenders: 3, ..Default::default() });
        assert_eq!(top3.offenders.len(), 3);
        assert_eq!(top3.offenders_total, 9);
    }
}
