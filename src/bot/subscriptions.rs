//! `subscribe`, `unsubscribe`, `subscriptions`: scheduled readiness posts in
//! this conversation. The posts themselves are the scheduler's
//! (`scheduler/`), sent as the bot's own identity. `subscriptions` lists the
//! pairs' replication and drill schedules set here too, and says when a
//! replication schedule waits for its pair's failback.

use serde_json::Value;

use super::actor::Actor;
use super::runs::worded_time;
use super::{now_ms, Bot};
use crate::botframework::activity::Activity;
use crate::cards::views::{self, Tone};
use crate::cards::{self};
use crate::commands::Schedule;
use crate::store::subscriptions::NewSubscription;

impl Bot {
    pub(crate) async fn subscribe(
        &self,
        activity: &Activity,
        actor: &Actor,
        pair: Option<String>,
        schedule: Schedule,
        correlation_id: &str,
    ) -> Value {
        let Some(conversation) = &activity.conversation else {
            return cards::error("This activity has no conversation to post into.", correlation_id);
        };
        // A pair named must exist now (the posts would only say it does not).
        if let Some(name) = &pair {
            if let Err(error) = self.choose_pair(None, Some(name)).await {
                return error.card(correlation_id);
            }
        }
        // Posts go to this conversation later: keep its reference current.
        self.remember_conversation(activity, correlation_id).await;
        let new = NewSubscription {
            conversation_id: conversation.id.clone(),
            tenant_id: activity.tenant_id(),
            schedule: schedule.clone(),
            pair: pair.clone(),
            created_by_oid: actor.oid().map(str::to_string),
            created_by_upn: Some(actor.upn().to_string()),
        };
        let label = match &pair {
            Some(pair) => format!("{} of pair {pair}", schedule_label(&schedule)),
            None => schedule_label(&schedule),
        };
        let what = match &pair {
            Some(pair) => format!("pair {pair}'s readiness dashboard"),
            None => "the readiness dashboard".to_string(),
        };
        match self.services.store.subscribe(&new, now_ms()).await {
            Ok(subscription) => {
                self.audit(actor, "subscribe", Some(&label), "succeeded", correlation_id).await;
                cards::notice(
                    "Subscribed",
                    &format!(
                        "I'll post {what} here {}. The first post is on {}.",
                        schedule_label(&schedule).to_lowercase(),
                        worded_time(subscription.next_fire_ms)
                    ),
                )
            }
            Err(error) => {
                tracing::error!(correlation_id, %error, "subscription not saved");
                self.audit(actor, "subscribe", Some(&label), "failed", correlation_id).await;
                cards::error("The subscription could not be saved.", correlation_id)
            }
        }
    }

    pub(crate) async fn unsubscribe(&self, activity: &Activity, actor: &Actor, correlation_id: &str) -> Value {
        let Some(conversation) = &activity.conversation else {
            return cards::error("This activity has no conversation.", correlation_id);
        };
        match self.services.store.remove_subscriptions_for_conversation(&conversation.id).await {
            Ok(0) => cards::notice("No subscriptions", "This conversation has no scheduled posts."),
            Ok(removed) => {
                self.audit(actor, "unsubscribe", None, "succeeded", correlation_id).await;
                cards::notice("Unsubscribed", &format!("Removed {removed} scheduled post(s) from this conversation."))
            }
            Err(error) => {
                tracing::error!(correlation_id, %error, "subscriptions not removed");
                cards::error("The subscriptions could not be removed.", correlation_id)
            }
        }
    }

    pub(crate) async fn subscriptions_card(&self, activity: &Activity, correlation_id: &str) -> Value {
        let Some(conversation) = &activity.conversation else {
            return cards::error("This activity has no conversation.", correlation_id);
        };
        let subscriptions = match self.services.store.subscriptions(&conversation.id).await {
            Ok(subscriptions) => subscriptions,
            Err(error) => {
                tracing::error!(correlation_id, %error, "subscriptions unavailable");
                return cards::error("The subscriptions could not be read.", correlation_id);
            }
        };
        // The pairs' replication and drill schedules set from here are listed
        // too (they stop with `replicate PAIR every off` and `subscribe drill
        // PAIR off`, not `unsubscribe`).
        let schedules = match self.services.store.replication_schedules().await {
            Ok(schedules) => schedules.into_iter().filter(|s| s.conversation_id == conversation.id).collect(),
            Err(error) => {
                tracing::warn!(correlation_id, %error, "replication schedules unavailable for the list");
                Vec::new()
            }
        };
        // A failed-over pair's cycles are passed over until its failback.
        let mut failed_over = Vec::new();
        for schedule in &schedules {
            if let Ok(Some(pair)) = self.services.store.pair(&schedule.pair).await {
                if pair.replicates_from_primary().is_err() {
                    failed_over.push(pair.name);
                }
            }
        }
        let replications = schedules.iter().map(|s| {
            let paused = failed_over.contains(&s.pair);
            views::SubscriptionRow {
                schedule_label: schedule_label(&s.schedule),
                what: format!("replication of {}", s.pair),
                next_run: worded_time(s.next_fire_ms),
                created_by: s.created_by_upn.clone().unwrap_or_default(),
                status_label: if paused {
                    format!("Paused until failback {} · stop: replicate {} every off", s.pair, s.pair)
                } else {
                    format!("Stop: replicate {} every off", s.pair)
                },
                status_color: if paused { Tone::Warning } else { Tone::Good },
            }
        });
        // The pairs' drill schedules set from here (stopped with `subscribe drill PAIR off`).
        let drills = match self.services.store.drill_schedules().await {
            Ok(drills) => drills.into_iter().filter(|d| d.conversation_id == conversation.id).collect(),
            Err(error) => {
                tracing::warn!(correlation_id, %error, "drill schedules unavailable for the list");
                Vec::new()
            }
        };
        let drills = drills.iter().map(|d| views::SubscriptionRow {
            schedule_label: schedule_label(&d.schedule),
            what: format!("drill of {}", d.pair),
            next_run: worded_time(d.next_fire_ms),
            created_by: d.approver_upn.clone().unwrap_or_default(),
            status_label: format!("Stop: subscribe drill {} off", d.pair),
            status_color: Tone::Good,
        });
        let view = views::SubscriptionsView {
            conversation_label: "this conversation".into(),
            subscriptions: subscriptions
                .iter()
                .map(|s| views::SubscriptionRow {
                    schedule_label: schedule_label(&s.schedule),
                    what: match &s.pair {
                        Some(pair) => format!("readiness of {pair}"),
                        None => "readiness".into(),
                    },
                    next_run: worded_time(s.next_fire_ms),
                    created_by: s.created_by_upn.clone().unwrap_or_default(),
                    status_label: "Active".into(),
                    status_color: Tone::Good,
                })
                .chain(replications)
                .chain(drills)
                .collect(),
        };
        views::render_subscriptions(&view).unwrap_or_else(|error| cards::error(&error.to_string(), correlation_id))
    }
}

/// "Daily 08:00 Europe/Amsterdam", "Every 6 h".
pub(crate) fn schedule_label(schedule: &Schedule) -> String {
    match schedule {
        Schedule::Daily { hour, minute, timezone } => format!("Daily {hour:02}:{minute:02} {timezone}"),
        Schedule::Every { minutes } if minutes % 60 == 0 => format!("Every {} h", minutes / 60),
        Schedule::Every { minutes } => format!("Every {minutes} min"),
        Schedule::Monthly => "Monthly".to_string(),
    }
}
