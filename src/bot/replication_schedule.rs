//! `replicate [pair] every 15m | daily HH:MM [timezone] | every off`: a
//! pair's replication schedule, set or stopped from chat. The cycles
//! themselves are the scheduler's (`src/bot/scheduled_replication.rs`); the
//! dashboard shows the next one and the worst-case RPO it implies.

use serde_json::Value;

use super::actor::Actor;
use super::runs::worded_time;
use super::subscriptions::schedule_label;
use super::{now_ms, Bot};
use crate::assets::coverage::Coverage;
use crate::botframework::activity::Activity;
use crate::cards;
use crate::commands::Schedule;

impl Bot {
    /// Sets (`Some`) or stops (`None`) the schedule of the pair a command means.
    pub(crate) async fn schedule_replication(
        &self,
        activity: &Activity,
        actor: &Actor,
        named: Option<String>,
        schedule: Option<Schedule>,
        coverage: Coverage,
        correlation_id: &str,
    ) -> Value {
        let Some(conversation_id) = activity.conversation.as_ref().map(|c| c.id.clone()) else {
            return cards::error("This activity has no conversation.", correlation_id);
        };
        let pair = match self.choose_pair(Some(&conversation_id), named.as_deref()).await {
            Ok(pair) => pair,
            Err(error) => return error.card(correlation_id),
        };
        let store = &self.services.store;
        let Some(schedule) = schedule else {
            return match store.remove_replication_schedule(&pair.name).await {
                Ok(removed) => {
                    let result = if removed { "stopped" } else { "no schedule" };
                    self.audit(actor, "stop a replication schedule", Some(&pair.name), result, correlation_id).await;
                    match removed {
                        true => cards::notice(
                            &format!("Pair {} is no longer replicated on a schedule", pair.name),
                            "A cycle in flight finishes. Replicate by hand with replicate, or set a schedule again.",
                        ),
                        false => cards::notice(
                            &format!("Pair {} has no schedule", pair.name),
                            &format!("Set one with replicate {} every 15m (or daily HH:MM).", pair.name),
                        ),
                    }
                }
                Err(error) => {
                    tracing::error!(correlation_id, %error, "replication schedule not removed");
                    cards::error("The schedule could not be removed.", correlation_id)
                }
            };
        };
        let label = schedule_label(&schedule);
        let target = format!("{} {}", pair.name, label.to_lowercase());
        // Scheduled cycles act as the bot and run on the pair's warehouse:
        // without either they could only fail, every time.
        if self.services.app.is_none() {
            self.audit(actor, "schedule a replication", Some(&target), "refused: no bot identity", correlation_id)
                .await;
            return cards::with_correlation_id(
                cards::notice(
                    "Scheduled replication needs drbot's own identity",
                    "Scheduled cycles run as drbot, not as a person, and its identity is not configured \
                     ([app_identity] or MicrosoftAppPassword). Replicate by hand with replicate meanwhile.",
                ),
                correlation_id,
            );
        }
        if let Err(error) = self.pair_workspaces(&pair) {
            self.audit(actor, "schedule a replication", Some(&target), "refused: no warehouse", correlation_id).await;
            return error.card(correlation_id);
        }
        // Failed cycles are posted here later: keep this conversation's reference current.
        self.remember_conversation(activity, correlation_id).await;
        let set = store
            .set_replication_schedule(
                &pair.name,
                &schedule,
                coverage,
                &conversation_id,
                (actor.oid(), Some(actor.upn())),
                now_ms(),
            )
            .await;
        match set {
            Ok(stored) => {
                self.audit(actor, "schedule a replication", Some(&target), "set", correlation_id).await;
                cards::notice(
                    &match coverage {
                        Coverage::Data => format!("Pair {} replicates {}", pair.name, label.to_lowercase()),
                        _ => format!("Pair {} replicates its {} {}", pair.name, coverage.label(), label.to_lowercase()),
                    },
                    &format!(
                        "The first cycle starts at {}. Each cycle plans and runs as drbot's own identity, like \
                         replicate, and reports every object (runs {}). A pair replicates once at a time: a cycle \
                         due while a run is in flight is skipped, and recorded. Worst-case RPO: {} plus one \
                         cycle. A failed cycle is posted here. Stop with replicate {} every off.",
                        worded_time(stored.next_fire_ms),
                        pair.name,
                        crate::readiness::text::duration(interval_ms(&schedule)),
                        pair.name
                    ),
                )
            }
            Err(error) => {
                tracing::error!(correlation_id, %error, "replication schedule not saved");
                self.audit(actor, "schedule a replication", Some(&target), "failed", correlation_id).await;
                cards::error("The schedule could not be saved.", correlation_id)
            }
        }
    }
}

/// A pair's schedule as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScheduleSummary {
    /// "Every 15 min", "Daily 02:00 UTC".
    pub label: String,
    pub next_ms: i64,
    pub interval_ms: i64,
    /// How long the last cycle took (`None` before the first one ended).
    pub last_cycle_ms: Option<i64>,
}

impl ScheduleSummary {
    /// The worst-case RPO continuous replication promises: a change made
    /// just after a cycle read the source waits for the next firing and for
    /// that cycle to copy it. The last cycle's duration stands for the next.
    pub fn rpo_bound_ms(&self) -> Option<i64> {
        Some(self.interval_ms + self.last_cycle_ms?)
    }

    /// "worst-case RPO 18 min (15 min + last cycle 3 min)".
    pub fn rpo_bound_words(&self) -> String {
        let interval = crate::readiness::text::duration(self.interval_ms);
        match (self.rpo_bound_ms(), self.last_cycle_ms) {
            (Some(bound), Some(cycle)) => format!(
                "worst-case RPO {} ({interval} + last cycle {})",
                crate::readiness::text::duration(bound),
                crate::readiness::text::duration(cycle)
            ),
            _ => format!("worst-case RPO {interval} + one cycle (none measured yet)"),
        }
    }
}

impl Bot {
    /// `pair`'s schedule and the last cycle's duration, if it has one.
    pub(crate) async fn schedule_summary(&self, pair: &str) -> Option<ScheduleSummary> {
        let schedule = match self.services.store.replication_schedule(pair).await {
            Ok(schedule) => schedule?,
            Err(error) => {
                tracing::warn!(pair, %error, "replication schedule unavailable for the dashboard");
                return None;
            }
        };
        Some(self.summarise(schedule).await)
    }

    /// [`Bot::schedule_summary`] of each of `pairs`, in their order: the
    /// schedules read once, the runs only of the pairs that have one.
    pub(crate) async fn schedule_summaries(&self, pairs: &[crate::pairs::Pair]) -> Vec<Option<ScheduleSummary>> {
        let mut schedules = match self.services.store.replication_schedules().await {
            Ok(schedules) => schedules,
            Err(error) => {
                tracing::warn!(%error, "replication schedules unavailable for the overview");
                Vec::new()
            }
        };
        let mut summaries = Vec::with_capacity(pairs.len());
        for pair in pairs {
            let summary = match schedules.iter().position(|s| s.pair == pair.name) {
                Some(at) => Some(self.summarise(schedules.swap_remove(at)).await),
                None => None,
            };
            summaries.push(summary);
        }
        summaries
    }

    async fn summarise(&self, schedule: crate::store::replication_schedules::ReplicationSchedule) -> ScheduleSummary {
        let store = &self.services.store;
        let pair = schedule.pair.as_str();
        // The newest cycle that ran to its end (a skipped firing ran nothing).
        let runs = store.recent_runs_of_pair(pair, None, 20).await.unwrap_or_default();
        let ran = |run: &&crate::store::runs::Run| !run.dry_run && run.finished_ms.is_some() && !run.skipped();
        let last = runs.iter().filter(ran).find(|run| run.scheduled).or_else(|| runs.iter().find(ran));
        ScheduleSummary {
            label: schedule_label(&schedule.schedule),
            next_ms: schedule.next_fire_ms,
            interval_ms: interval_ms(&schedule.schedule),
            last_cycle_ms: last.and_then(|run| Some(run.finished_ms? - run.started_ms)),
        }
    }
}

/// The longest time between two firings, in milliseconds. A daily time in
/// a zone with daylight saving is 25 hours apart the night the clocks go back.
pub(crate) fn interval_ms(schedule: &Schedule) -> i64 {
    match schedule {
        Schedule::Every { minutes } => i64::from(*minutes) * 60_000,
        Schedule::Daily { timezone, .. } if timezone == "UTC" => 24 * 3_600_000,
        Schedule::Daily { .. } => 25 * 3_600_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_the_longest_gap_between_two_firings_plus_a_cycle() {
        assert_eq!(interval_ms(&Schedule::Every { minutes: 15 }), 15 * 60_000);
        let daily = |timezone: &str| Schedule::Daily { hour: 2, minute: 0, timezone: timezone.into() };
        assert_eq!(interval_ms(&daily("UTC")), 24 * 3_600_000);
        assert_eq!(interval_ms(&daily("Europe/Amsterdam")), 25 * 3_600_000, "the night the clocks go back");

        let mut summary =
            ScheduleSummary { label: "Every 15 min".into(), next_ms: 0, interval_ms: 15 * 60_000, last_cycle_ms: None };
        assert_eq!(summary.rpo_bound_ms(), None);
        assert_eq!(summary.rpo_bound_words(), "worst-case RPO 15 min + one cycle (none measured yet)");
        summary.last_cycle_ms = Some(3 * 60_000 + 12_000);
        assert_eq!(summary.rpo_bound_ms(), Some(18 * 60_000 + 12_000));
        assert_eq!(summary.rpo_bound_words(), "worst-case RPO 18 min (15 min + last cycle 3 min)");
    }
}
