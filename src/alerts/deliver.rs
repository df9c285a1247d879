//! Turning observations into alerts, once, and delivering them paced.
//!
//! [`Alerter::observe`] asks the store whether an observation is news: a
//! firing condition that was clear raises it (the one caller whose insert
//! wins alerts), a clear condition that was raised clears it (the one whose
//! delete wins says "recovered"); anything else is the same news again and
//! stays quiet. So a run retried after a takeover, or two instances seeing
//! the same failure, alert once.
//!
//! [`Alerter::deliver`] sends each alert through the [`AlertSink`]: a post to
//! every destination that follows the pair, then a notification to each
//! recipient the pair names, with a link to the post. Sends are paced twice:
//! each tenant at its share of the per-tenant budget (shared with scheduled
//! posts, [`TenantBudget`]), and each destination at the platform's
//! per-destination limits. One tenant's sends go one after another (each
//! waits for its budget slot, then its destination's slot, and goes at that
//! slot), so a burst of a hundred failing pairs is spread out, never
//! throttled; tenants go side by side. Transient failures of one send are
//! retried by the sink's client (429, 412, 502, 504 with jittered back-off);
//! an alert that reached nobody is un-raised, so the next observation tries
//! again instead of the condition staying silent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::condition::{Alert, Change, Observation, State};
use crate::rate_limit::RateLimiter;
use crate::scheduler::budget::TenantBudget;
use crate::store::{Store, StoreError};

/// Somewhere a pair's alerts are posted (a conversation), with the tenant
/// whose budget its sends count against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub id: String,
    pub tenant: Option<String>,
}

/// Someone a pair's alerts notify directly (the platform's activity feed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub id: String,
    pub tenant: Option<String>,
}

/// Why one send failed (after the client's own retries).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The destination no longer takes posts (the bot was removed): it is
    /// the lifecycle's to forget, not the alert's to retry.
    #[error("the destination is gone")]
    Gone,
    #[error("{0}")]
    Failed(String),
}

/// Carries alerts to people.
pub trait AlertSink: Send + Sync {
    /// The destinations that follow `pair`.
    fn destinations<'a>(&'a self, pair: &'a str) -> BoxFuture<'a, Result<Vec<Destination>, DeliveryError>>;

    /// Who `pair` notifies directly (none unless configured).
    fn recipients<'a>(&'a self, pair: &'a str) -> BoxFuture<'a, Vec<Recipient>>;

    /// Posts `alert` to `destination`; a link back to the post when there is one.
    fn post<'a>(
        &'a self,
        destination: &'a Destination,
        alert: &'a Alert,
    ) -> BoxFuture<'a, Result<Option<String>, DeliveryError>>;

    /// Notifies `recipient` of `alert`, linking to `link` (the first post).
    fn notify<'a>(
        &'a self,
        recipient: &'a Recipient,
        alert: &'a Alert,
        link: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), DeliveryError>>;
}

/// What delivering some alerts did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    pub posted: usize,
    pub notified: usize,
    pub failed: usize,
}

impl Delivered {
    fn add(&mut self, other: Delivered) {
        self.posted += other.posted;
        self.notified += other.notified;
        self.failed += other.failed;
    }
}

pub struct Alerter<S> {
    store: Store,
    sink: S,
    budget: Arc<TenantBudget>,
    destinations: RateLimiter,
}

/// One alert with where it goes, resolved before any pacing starts.
struct Addressed {
    alert: Alert,
    destinations: Vec<Destination>,
    recipients: Vec<Recipient>,
}

impl<S: AlertSink> Alerter<S> {
    /// An alerter sending through `sink`, each tenant paced by `budget`, each
    /// destination held to `destination_limits` (`(sends, window)` pairs).
    pub fn new(
        store: Store,
        sink: S,
        budget: Arc<TenantBudget>,
        destination_limits: &[(usize, Duration)],
    ) -> Alerter<S> {
        let longest = destination_limits.iter().map(|(_, window)| *window).max().unwrap_or_default();
        Alerter {
            store,
            sink,
            budget,
            // Idle destinations are forgotten after a minute at most: bursts are exact, an hour is not kept.
            destinations: RateLimiter::new(destination_limits).forgetting_after(longest.min(Duration::from_secs(60))),
        }
    }

    /// The per-tenant budget it spends.
    pub fn budget(&self) -> Arc<TenantBudget> {
        self.budget.clone()
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The alert `observation` calls for, if it is news (see the module doc).
    pub async fn observe(&self, observation: &Observation, now_ms: i64) -> Result<Option<Alert>, StoreError> {
        let key = observation.condition.key();
        let alert = |change, summary: String| Alert {
            pair: observation.pair.clone(),
            condition: observation.condition,
            change,
            summary,
            subject: observation.subject.clone(),
        };
        match &observation.state {
            State::Firing { summary } => {
                let raised = self.store.raise_alert(&observation.pair, key, summary, now_ms).await?;
                Ok(raised.then(|| alert(Change::Raised, summary.clone())))
            }
            State::Clear => {
                let cleared = self.store.clear_alert(&observation.pair, key).await?;
                Ok(cleared.map(|was| alert(Change::Recovered, format!("Cleared: {}", was.summary))))
            }
        }
    }

    /// Observes, and delivers what is news.
    pub async fn handle(&self, observations: &[Observation], now_ms: i64) -> Result<Delivered, StoreError> {
        let mut alerts = Vec::new();
        for observation in observations {
            if let Some(alert) = self.observe(observation, now_ms).await? {
                alerts.push(alert);
            }
        }
        Ok(self.deliver(alerts).await)
    }

    /// Delivers `alerts` (see the module doc for the pacing). An alert raised
    /// that reached nobody is un-raised, so the next observation alerts again.
    pub async fn deliver(&self, alerts: Vec<Alert>) -> Delivered {
        let addressed = self.address(alerts).await;
        let mut by_tenant: BTreeMap<String, Vec<&Addressed>> = BTreeMap::new();
        for one in &addressed {
            let tenant = one
                .destinations
                .iter()
                .map(|d| d.tenant.clone())
                .chain(one.recipients.iter().map(|r| r.tenant.clone()))
                .flatten()
                .next()
                .unwrap_or_default();
            by_tenant.entry(tenant).or_default().push(one);
        }
        let reports = futures::future::join_all(
            by_tenant.into_iter().map(|(tenant, alerts)| self.deliver_tenant(tenant, alerts)),
        )
        .await;
        let mut total = Delivered::default();
        for (report, unreached) in reports {
            total.add(report);
            for alert in unreached {
                if alert.change == Change::Raised {
                    if let Err(error) = self.store.clear_alert(&alert.pair, alert.condition.key()).await {
                        tracing::warn!(pair = %alert.pair, condition = %alert.condition, %error, "an undelivered alert stays raised");
                    }
                }
            }
        }
        total
    }

    async fn address(&self, alerts: Vec<Alert>) -> Vec<Addressed> {
        let mut addressed = Vec::with_capacity(alerts.len());
        for alert in alerts {
            let destinations = match self.sink.destinations(&alert.pair).await {
                Ok(destinations) => destinations,
                Err(error) => {
                    tracing::warn!(pair = %alert.pair, %error, "the destinations of an alert could not be read");
                    Vec::new()
                }
            };
            let recipients = self.sink.recipients(&alert.pair).await;
            if destinations.is_empty() && recipients.is_empty() {
                tracing::info!(pair = %alert.pair, condition = %alert.condition, "nobody follows the pair: the alert is not sent");
            }
            addressed.push(Addressed { alert, destinations, recipients });
        }
        addressed
    }

    /// One tenant's alerts, one send at a time; the alerts that reached nobody.
    async fn deliver_tenant<'a>(&self, tenant: String, alerts: Vec<&'a Addressed>) -> (Delivered, Vec<&'a Alert>) {
        let mut report = Delivered::default();
        let mut unreached = Vec::new();
        for one in alerts {
            let mut link: Option<String> = None;
            let mut reached = false;
            for destination in &one.destinations {
                self.budget.acquire(&tenant).await;
                self.destinations.acquire(&destination.id).await;
                match self.sink.post(destination, &one.alert).await {
                    Ok(posted) => {
                        report.posted += 1;
                        reached = true;
                        link = link.or(posted);
                    }
                    Err(error) => {
                        report.failed += 1;
                        tracing::warn!(pair = %one.alert.pair, %error, "an alert was not posted");
                    }
                }
            }
            for recipient in &one.recipients {
                self.budget.acquire(&tenant).await;
                match self.sink.notify(recipient, &one.alert, link.as_deref()).await {
                    Ok(()) => {
                        report.notified += 1;
                        reached = true;
                    }
                    Err(error) => {
                        report.failed += 1;
                        tracing::warn!(pair = %one.alert.pair, %error, "an alert notification was not sent");
                    }
                }
            }
            let addressed = !one.destinations.is_empty() || !one.recipients.is_empty();
            if addressed && !reached {
                unreached.push(&one.alert);
            }
        }
        (report, unreached)
    }
}
