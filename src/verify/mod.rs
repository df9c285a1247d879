//! `verify PAIR [catalog] [--deep]`: proof, per table, that the secondary
//! holds what the primary holds.
//!
//! Replication records which source version each clone copied
//! (`store::table_versions`); `status` measures RPO from that record. This
//! checks the data itself, as the person who asks (their own Unity Catalog
//! access decides what they may compare): for every table in scope, the
//! columns (names and types), the row count, the secondary's newest commit
//! against the source's and the recorded version, and with `--deep` an
//! order-independent hash of every row on tables small enough to scan. Each
//! table ends equal, different (what differs), blocked (why it cannot be
//! compared) or failed; none is left out ([`scope`]). Registered models
//! (versions, aliases) and volumes (a managed one's files: names, sizes,
//! modification times by the copy manifest) are judged too, from the two
//! snapshots ([`objects`]), each with one verdict.
//!
//! [`statements`] and [`judge`] are pure; [`run`] does the reading. It
//! only reads: nothing on either workspace changes.

pub mod judge;
pub mod objects;
pub mod run;
pub mod scope;
pub mod statements;

use serde::Serialize;

use judge::Verdict;
use scope::InScope;

/// What was read of one side of a table, for people (`--json` and the card).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Facts {
    pub rows: Option<i64>,
    pub row_hash: Option<String>,
    /// The table's own newest Delta version, and that commit's operation.
    pub version: Option<i64>,
    pub operation: Option<String>,
    /// For a clone: the source version it copied.
    pub source_version: Option<i64>,
    /// A table's size, or a volume's files' total.
    pub size_bytes: Option<u64>,
    /// A registered model's versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<usize>,
    /// A managed volume's files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<usize>,
}

/// One table's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableResult {
    pub table: String,
    /// `managed`, `external`, `view`, …
    pub kind: String,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub primary: Option<Facts>,
    pub secondary: Option<Facts>,
    /// The source version drbot recorded the secondary's last clone as holding.
    pub recorded_source_version: Option<i64>,
}

impl TableResult {
    fn without_facts(item: &InScope, verdict: Verdict) -> TableResult {
        TableResult {
            table: item.table.clone(),
            kind: item.kind.clone(),
            verdict,
            primary: None,
            secondary: None,
            recorded_source_version: None,
        }
    }
}

/// The running count of results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub total: usize,
    pub done: usize,
    pub equal: usize,
    pub different: usize,
    pub blocked: usize,
    pub failed: usize,
}

impl Tally {
    pub fn count(&mut self, verdict: &Verdict) {
        self.done += 1;
        match verdict {
            Verdict::Equal => self.equal += 1,
            Verdict::Different { .. } => self.different += 1,
            Verdict::Blocked { .. } => self.blocked += 1,
            Verdict::Failed { .. } => self.failed += 1,
        }
    }

    /// The tally of finished `results`.
    pub fn of(results: &[TableResult]) -> Tally {
        let mut tally = Tally { total: results.len(), ..Tally::default() };
        for result in results {
            tally.count(&result.verdict);
        }
        tally
    }
}

/// The whole answer (`drbot verify --json`, and the card's view model's source).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub pair: String,
    pub catalog: Option<String>,
    pub deep: bool,
    /// The `--deep` size limit in bytes (`[replication] verify_deep_max_bytes`).
    pub deep_max_bytes: u64,
    pub started_ms: i64,
    pub finished_ms: i64,
    pub tally: Tally,
    /// Every table in scope, then every registered model and volume, by name
    /// (`kind` tells them apart).
    pub tables: Vec<TableResult>,
}
