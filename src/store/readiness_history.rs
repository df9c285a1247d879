//! Readiness over time, per pair: one row after each replication run and
//! each scheduled check, so the dashboard can show whether RPO and drift are
//! getting better or worse, and `history PAIR` what each run achieved.

use super::{column, Store, StoreError};

/// What took the reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadingSource {
    /// A replication run ended (`run_id`, `outcome`, `duration_ms` say which;
    /// `run_id` holds a failover's or drill's operation id alike).
    Run,
    /// A scheduled readiness check (a scheduled post read the pair).
    Check,
    /// A failover (or failback) ended: `worst_rpo_ms` is the data loss it
    /// measured, `duration_ms` its RTO.
    Failover,
    /// A drill ended (measured as a failover is).
    Drill,
}

impl ReadingSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadingSource::Run => "run",
            ReadingSource::Check => "check",
            ReadingSource::Failover => "failover",
            ReadingSource::Drill => "drill",
        }
    }

    fn parse(text: &str) -> Result<ReadingSource, StoreError> {
        match text {
            "run" => Ok(ReadingSource::Run),
            "check" => Ok(ReadingSource::Check),
            "failover" => Ok(ReadingSource::Failover),
            "drill" => Ok(ReadingSource::Drill),
            other => Err(StoreError::Corrupt(format!("readiness source '{other}'"))),
        }
    }
}

/// One reading of a pair's readiness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    pub pair: String,
    pub at_ms: i64,
    pub source: ReadingSource,
    /// The worst table's RPO, when any table's could be told.
    pub worst_rpo_ms: Option<i64>,
    /// Objects in the primary missing or different in the secondary.
    pub drift: Option<i64>,
    pub run_id: Option<String>,
    /// How the run ended (`succeeded`, `failed`, ...).
    pub outcome: Option<String>,
    /// How long the run took.
    pub duration_ms: Option<i64>,
}

impl Store {
    /// Records a reading; a second reading of the same pair, time and source
    /// (a retried write) replaces the first.
    pub async fn record_reading(&self, reading: &Reading) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO readiness_history (pair, at_ms, source, worst_rpo_ms, drift, run_id, outcome, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (pair, at_ms, source) DO UPDATE SET
                worst_rpo_ms = excluded.worst_rpo_ms, drift = excluded.drift, run_id = excluded.run_id,
                outcome = excluded.outcome, duration_ms = excluded.duration_ms",
        )
        .bind(&reading.pair)
        .bind(reading.at_ms)
        .bind(reading.source.as_str())
        .bind(reading.worst_rpo_ms)
        .bind(reading.drift)
        .bind(&reading.run_id)
        .bind(&reading.outcome)
        .bind(reading.duration_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The readings of `pair` since `since_ms`, oldest first, at most `limit`
    /// (the newest ones when there are more).
    pub async fn readings(&self, pair: &str, since_ms: i64, limit: i64) -> Result<Vec<Reading>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM readiness_history WHERE pair = $1 AND at_ms >= $2 ORDER BY at_ms DESC, source LIMIT $3",
        )
        .bind(pair)
        .bind(since_ms)
        .bind(limit.max(0))
        .fetch_all(self.pool())
        .await?;
        let mut readings = rows
            .iter()
            .map(|row| {
                let source: String = column(row, "source")?;
                Ok(Reading {
                    pair: column(row, "pair")?,
                    at_ms: column(row, "at_ms")?,
                    source: ReadingSource::parse(&source)?,
                    worst_rpo_ms: column(row, "worst_rpo_ms")?,
                    drift: column(row, "drift")?,
                    run_id: column(row, "run_id")?,
                    outcome: column(row, "outcome")?,
                    duration_ms: column(row, "duration_ms")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        readings.reverse();
        Ok(readings)
    }
}
