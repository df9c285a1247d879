//! A failover, failback or drill approved in chat, as a durable operation.
//!
//! The operation row holds the runbook people approved (not a re-plan: the
//! steps run are the steps read), whose identity it acts with, and the
//! runbook's checkpoint ([`Progress`]). The step runner
//! (`crate::failover::run`) saves that checkpoint through [`EngineJournal`]
//! after every step and before any effect a resumed run could not see
//! again; the engine does the rest (lease, takeover, cancel, the live card,
//! the one result card). A checkpoint that cannot be stored stops the run
//! here: the next owner resumes from the last one that was.

use std::sync::{Arc, Weak};

use serde_json::{json, Value};

use super::error::RunError;
use super::failover_cards;
use super::failover_job::RunbookJob;
use super::readings::FailoverEnded;
use super::{now_ms, Bot};
use crate::alerts::condition::Condition;
use crate::failover::loss;
use crate::failover::mode::Mode;
use crate::failover::progress::Progress;
use crate::failover::run::{self, Ended, Halt, Journal};
use crate::ops::{fault, Ending, OperationKind, Running};
use crate::store::drills::Drill;
use crate::store::operations::{Kind, Operation, Outcome};

/// Runbooks as an operation kind: they run in this process, so a lost lease
/// stops the run between two effects, and the next owner resumes it.
pub(crate) struct Failover(pub Weak<Bot>);

impl OperationKind for Failover {
    type State = RunbookJob;
    type Error = RunError;
    const KIND: Kind = Kind::Failover;

    async fn run(&self, op: &Operation, job: RunbookJob, running: &Running) -> Result<Ending, RunError> {
        let bot = self.0.upgrade().ok_or(RunError::ShuttingDown)?;
        bot.run_runbook(op, job, running).await
    }

    async fn result_card(&self, op: &Operation, job: RunbookJob) -> Value {
        if job.scheduled && op.state.as_str() == "succeeded" {
            // A scheduled drill that went well is in `drills`; nobody waits on a card.
            return Value::Null;
        }
        let ended = op.result.as_ref().and_then(|r| serde_json::from_value::<Ended>(r["ended"].clone()).ok());
        let failed = op.result.as_ref().and_then(|r| r["error"].as_str()).map(str::to_string);
        let active = match self.0.upgrade() {
            Some(bot) => bot.services.store.pair(&job.runbook.pair).await.ok().flatten(),
            None => None,
        };
        failover_cards::run_card(op, &job, ended.as_ref(), failed.as_deref(), active.as_ref())
    }
}

impl Bot {
    async fn run_runbook(
        self: &Arc<Self>,
        op: &Operation,
        job: RunbookJob,
        running: &Running,
    ) -> Result<Ending, RunError> {
        let store = &self.services.store;
        let pair_name = job.runbook.pair.clone();
        let pair = store.pair(&pair_name).await?.ok_or_else(|| RunError::PairGone(pair_name.clone()))?;
        let tokens = self.tokens_acting_as(&job.acting_as).await?;
        let services = self.failover_services(&pair, tokens).await?;
        let mut progress = job.progress.clone();
        let (runbook, options) = (job.runbook.clone(), job.options);
        let mut journal = EngineJournal { op, job, running, pair: &pair };
        running.show(failover_cards::run_card(op, &journal.job, None, None, Some(&pair)));
        let ended = match run::run(&services, &mut journal, &runbook, options, &mut progress).await {
            Ok(ended) => ended,
            Err(Halt) => return Ok(Ending::LetGo),
        };
        let outcome = match &ended {
            Ended::Completed { .. } => Outcome::Succeeded,
            Ended::Stopped { .. } => Outcome::Failed,
            Ended::Cancelled { .. } => Outcome::Canceled,
        };
        self.runbook_ended(op, &journal.job, &ended, outcome).await;
        // `outcome` is the engine's; `ended` is what the result card shows.
        let result = json!({"outcome": outcome.as_str(), "ended": ended});
        Ok(Ending::Finished { outcome, result })
    }

    /// A drill's record (`drills PAIR`), and the reading and alert every
    /// runbook leaves in the pair's history.
    async fn runbook_ended(&self, op: &Operation, job: &RunbookJob, ended: &Ended, outcome: Outcome) {
        let runbook = &job.runbook;
        let (rto_ms, findings, summary) = match ended {
            Ended::Completed { rto_ms, findings } => (Some(*rto_ms), findings.clone(), "completed".to_string()),
            Ended::Stopped { step, why, findings } => {
                (None, findings.clone(), format!("stopped at {}: {why}", step.as_str()))
            }
            Ended::Cancelled { before, findings } => {
                (None, findings.clone(), format!("cancelled before {}", before.as_str()))
            }
        };
        if runbook.mode == Mode::Drill {
            let drill = Drill {
                id: op.id.clone(),
                pair: runbook.pair.clone(),
                started_ms: job.progress.approved_ms,
                finished_ms: now_ms(),
                outcome: outcome.as_str().to_string(),
                rto_ms,
                findings,
            };
            if let Err(error) = self.services.store.record_drill(&drill).await {
                tracing::error!(operation = %op.id, %error, "the drill was not recorded");
            }
        }
        let kind = if runbook.mode == Mode::Drill { Condition::Drill } else { Condition::Failover };
        let data_loss_ms = match runbook.loses_data() {
            true => loss::worst(&runbook.loss).0.and_then(|worst| worst.loss.ms()),
            false => Some(0),
        };
        let ended = FailoverEnded {
            pair: runbook.pair.clone(),
            kind,
            operation_id: op.id.clone(),
            succeeded: outcome == Outcome::Succeeded,
            data_loss_ms,
            rto_ms: rto_ms.unwrap_or_else(|| now_ms() - job.progress.approved_ms),
            summary: format!("{} of pair {} {summary}", runbook.mode.as_str(), runbook.pair),
        };
        self.failover_ended(&ended).await;
        // Home again: a scheduled replication's next pause is news again.
        if runbook.mode == Mode::Failback && outcome == Outcome::Succeeded {
            let key = super::scheduled_replication::paused_note_key(&runbook.pair);
            if let Err(error) = self.services.store.release_claim(&key).await {
                tracing::warn!(pair = %runbook.pair, %error, "the paused schedule's note not released");
            }
        }
    }
}

/// The runner's checkpoints go into the operation row, and each shows on
/// the live card. A lost lease or a checkpoint the store did not take halts
/// the run: nothing further is done on a checkpoint nobody could resume from.
struct EngineJournal<'a> {
    op: &'a Operation,
    job: RunbookJob,
    running: &'a Running,
    pair: &'a crate::pairs::Pair,
}

impl Journal for EngineJournal<'_> {
    async fn save(&mut self, progress: &Progress) -> Result<(), Halt> {
        let finished_before = self.job.progress.steps.len();
        let job_started = self.job.progress.validate_run.is_none() && progress.validate_run.is_some();
        self.job.progress = progress.clone();
        if !self.running.checkpoint(&self.job).await || self.running.lost() {
            return Err(Halt);
        }
        // Where a crash test kills the process: after each step's
        // checkpoint, after the validation job's run was recorded, and after
        // any other checkpoint inside a step (the prior states recorded
        // before the first pause, the warehouses a drill starts).
        match progress.steps.last() {
            Some(last) if progress.steps.len() != finished_before => {
                fault::point(&format!("runbook.after_{}", last.kind.as_str()))
            }
            _ if job_started => fault::point("runbook.job_started"),
            _ => fault::point("runbook.recorded"),
        }
        self.running.show(failover_cards::run_card(self.op, &self.job, None, None, Some(self.pair)));
        Ok(())
    }

    async fn cancel_requested(&mut self) -> bool {
        self.running.cancel().is_cancelled() && !self.running.lost()
    }
}
