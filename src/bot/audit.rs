//! `audit`: the recent audit log, for admins.

use serde_json::Value;

use super::actor::Actor;
use super::Bot;
use crate::cards::views::{self, Tone};
use crate::cards::{self};

/// How many entries the card asks the store for (the card shows the first 15).
const AUDIT_ENTRIES: i64 = 50;

impl Bot {
    pub(crate) async fn audit_card(&self, actor: &Actor, correlation_id: &str) -> Value {
        // The gate (`cmd/audit.rs`: admins only) has let `actor` through.
        let entries = match self.services.store.recent_audit(AUDIT_ENTRIES).await {
            Ok(entries) => entries,
            Err(error) => {
                tracing::error!(correlation_id, %error, "audit log unavailable");
                return cards::error("The audit log could not be read.", correlation_id);
            }
        };
        self.audit(actor, "read the audit log", None, "allowed", correlation_id).await;
        let view = views::AuditView {
            subtitle: format!("The {} most recent actions", entries.len()),
            entries: entries
                .iter()
                .map(|entry| {
                    let at = chrono::DateTime::from_timestamp_millis(entry.at_ms).unwrap_or_default();
                    views::AuditEntry {
                        date: at.format("%d %b").to_string(),
                        time: at.format("%H:%M").to_string(),
                        who: entry.actor_upn.clone().unwrap_or_else(|| "drbot".into()),
                        action: entry.action.clone(),
                        target: entry.target.clone().unwrap_or_default(),
                        outcome_label: entry.result.clone(),
                        outcome_color: outcome_tone(&entry.result),
                    }
                })
                .collect(),
        };
        views::render_audit(&view).unwrap_or_else(|error| cards::error(&error.to_string(), correlation_id))
    }
}

/// Green for what went through, red for refusals and failures.
pub(crate) fn outcome_tone(result: &str) -> Tone {
    if result.starts_with("refused") || result.starts_with("failed") {
        Tone::Attention
    } else if result.starts_with("canceled") || result.starts_with("cancelled") {
        Tone::Warning
    } else {
        Tone::Good
    }
}
