//! Each primary job's pause state, per pair, as the last asset replication
//! read it: which of its triggers (`schedule`, `trigger`, `continuous`) were
//! paused. The secondary's copies are all paused, so this is the only record
//! of which ones failover must unpause (a blind unpause-all would start the
//! jobs paused on purpose). Keyed by the pair and the primary's job id, the
//! value the copies carry in their `drbot_source_job_id` tag.

use crate::assets::job_settings::PauseState;

use super::{column, Store, StoreError};

/// One primary job's pause state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobPauseState {
    pub source_job_id: i64,
    pub job_name: String,
    pub pause: PauseState,
}

impl Store {
    /// Replaces `pair`'s recorded pause states with `states` (the primary's
    /// jobs as just read): a job gone from the primary is forgotten.
    pub async fn record_job_pause_states(
        &self,
        pair: &str,
        states: &[JobPauseState],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool().begin().await?;
        for state in states {
            sqlx::query(
                "INSERT INTO job_pause_states (pair, source_job_id, job_name, schedule_pause, trigger_pause,
                                               continuous_pause, recorded_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (pair, source_job_id) DO UPDATE SET
                    job_name = excluded.job_name,
                    schedule_pause = excluded.schedule_pause,
                    trigger_pause = excluded.trigger_pause,
                    continuous_pause = excluded.continuous_pause,
                    recorded_ms = excluded.recorded_ms",
            )
            .bind(pair)
            .bind(state.source_job_id)
            .bind(&state.job_name)
            .bind(state.pause.schedule.as_deref())
            .bind(state.pause.trigger.as_deref())
            .bind(state.pause.continuous.as_deref())
            .bind(now_ms)
            .execute(&mut *transaction)
            .await?;
        }
        sqlx::query("DELETE FROM job_pause_states WHERE pair = $1 AND recorded_ms < $2")
            .bind(pair)
            .bind(now_ms)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// `pair`'s recorded pause states, by primary job id.
    pub async fn job_pause_states(&self, pair: &str) -> Result<Vec<JobPauseState>, StoreError> {
        let rows = sqlx::query(
            "SELECT source_job_id, job_name, schedule_pause, trigger_pause, continuous_pause
             FROM job_pause_states WHERE pair = $1 ORDER BY source_job_id",
        )
        .bind(pair)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(JobPauseState {
                    source_job_id: column(row, "source_job_id")?,
                    job_name: column(row, "job_name")?,
                    pause: PauseState {
                        schedule: column(row, "schedule_pause")?,
                        trigger: column(row, "trigger_pause")?,
                        continuous: column(row, "continuous_pause")?,
                    },
                })
            })
            .collect()
    }
}
