//! What is wrong with a pair, as conditions that fire and clear; pure, so
//! every rule is a unit test.

use std::fmt;

/// Something about a pair that people must hear about while it lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Condition {
    /// The pair's last replication (scheduled or manual) failed or could not run.
    Replication,
    /// The pair's last replication of its Unity Catalog objects left some
    /// blocked: the planner could not make them runnable (a missing
    /// location, grant or privilege), so they are not being copied however
    /// often it runs. The run succeeds with them listed; without this,
    /// nobody would hear of them, and a table never copied has no RPO to
    /// alert on.
    Blocked,
    /// The same for the pair's workspace assets (a job on a cluster policy
    /// nobody mapped, ...): their own condition, as runs cover the data and
    /// the assets apart.
    AssetsBlocked,
    /// The pair's worst table lags the primary by more than its threshold.
    Rpo,
    /// The last drill of the pair failed.
    Drill,
    /// The last failover (or failback) of the pair failed.
    Failover,
    /// A failover or failback of the pair awaits its approvers.
    Approval,
    /// Databricks' managed DR reports errors blocking the pair's replication.
    ManagedDrErrors,
    /// Managed DR's replication lag is over the pair's RPO threshold.
    ManagedDrLag,
}

impl Condition {
    /// The key the store dedupes on.
    pub fn key(self) -> &'static str {
        match self {
            Condition::Replication => "replication",
            Condition::Blocked => "replication_blocked",
            Condition::AssetsBlocked => "assets_blocked",
            Condition::Rpo => "rpo",
            Condition::Drill => "drill",
            Condition::Failover => "failover",
            Condition::Approval => "approval",
            Condition::ManagedDrErrors => "managed_dr_errors",
            Condition::ManagedDrLag => "managed_dr_lag",
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Whether a condition holds now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// It holds; `summary` is what the alert says.
    Firing { summary: String },
    /// It does not hold (any more).
    Clear,
}

/// One look at one condition of one pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub pair: String,
    pub condition: Condition,
    pub state: State,
    /// What the alert links back to (a run's id, a drill's), when there is one.
    pub subject: Option<String>,
}

/// Whether an alert announces a condition or its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Raised,
    Recovered,
}

/// An alert to deliver: news about a condition of a pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub pair: String,
    pub condition: Condition,
    pub change: Change,
    /// One line: what happened.
    pub summary: String,
    pub subject: Option<String>,
}

impl Alert {
    /// The headline people see first (a card's title, a notification's preview).
    pub fn headline(&self) -> String {
        let what = match self.condition {
            Condition::Replication => "replication",
            Condition::Blocked => "blocked objects",
            Condition::AssetsBlocked => "blocked workspace assets",
            Condition::Rpo => "RPO",
            Condition::Drill => "drill",
            Condition::Failover => "failover",
            Condition::Approval => "failover approval",
            Condition::ManagedDrErrors => "managed DR replication",
            Condition::ManagedDrLag => "managed DR lag",
        };
        match (self.condition, self.change) {
            (Condition::Blocked, Change::Raised) => format!("Pair {}: objects are blocked from replication", self.pair),
            (Condition::Blocked, Change::Recovered) => {
                format!("Pair {}: no object is blocked from replication any more", self.pair)
            }
            (Condition::AssetsBlocked, Change::Raised) => {
                format!("Pair {}: workspace assets are blocked from replication", self.pair)
            }
            (Condition::AssetsBlocked, Change::Recovered) => {
                format!("Pair {}: no workspace asset is blocked from replication any more", self.pair)
            }
            (_, Change::Raised) => format!("Pair {}: {what} needs attention", self.pair),
            (_, Change::Recovered) => format!("Pair {}: {what} recovered", self.pair),
        }
    }
}

/// How a replication run of `pair` ended, as the alert condition sees it:
/// `outcome` and `counts` are the run's recorded result (`failed` objects,
/// `error` when it could not run at all). A cancelled run says nothing
/// (someone chose to stop it); `None` then.
pub fn replication_ended(pair: &str, run_id: &str, counts: &serde_json::Value) -> Option<Observation> {
    let state = match counts["outcome"].as_str() {
        Some("succeeded") => State::Clear,
        Some("failed") => State::Firing {
            summary: match counts["error"].as_str() {
                Some(error) => format!("Replication of pair {pair} is blocked: {error} (run {run_id})"),
                None => format!(
                    "Replication of pair {pair} failed: {} object(s) failed (run {run_id})",
                    counts["failed"].as_u64().unwrap_or(0)
                ),
            },
        },
        _ => return None,
    };
    Some(Observation { pair: pair.into(), condition: Condition::Replication, state, subject: Some(run_id.into()) })
}

/// What a replication run of `pair` left blocked, as two conditions of
/// their own: its Unity Catalog objects (`counts["blocked_data"]`, present
/// when the run covered data) and its workspace assets
/// (`counts["blocked_assets"]`, present when it covered them). Each fires
/// while the latest run that covered it left any blocked, and clears only
/// with a run that covered all of it: a run of one catalog
/// (`counts["whole_metastore"]` false) never clears the data's, and a run
/// that did not cover a part says nothing of it. A run that could not run
/// at all (`error`) or was cancelled learned nothing: no observation.
pub fn replication_blocked(pair: &str, run_id: &str, counts: &serde_json::Value) -> Vec<Observation> {
    if counts["error"].is_string() || !matches!(counts["outcome"].as_str(), Some("succeeded" | "failed")) {
        return Vec::new();
    }
    let whole_metastore = counts["whole_metastore"].as_bool().unwrap_or(false);
    let parts = [
        (Condition::Blocked, "blocked_data", "object(s)", whole_metastore),
        (Condition::AssetsBlocked, "blocked_assets", "workspace asset(s)", true),
    ];
    parts
        .into_iter()
        .filter_map(|(condition, key, what, covered_all)| {
            let state = match counts[key].as_u64()? {
                0 if covered_all => State::Clear,
                0 => return None,
                n => State::Firing {
                    summary: format!(
                        "Replication of pair {pair} left {n} {what} blocked: they are not copied until what \
                         the run names is settled (run {run_id})"
                    ),
                },
            };
            Some(Observation { pair: pair.into(), condition, state, subject: Some(run_id.into()) })
        })
        .collect()
}

/// The RPO condition from the worst measured lag: none without a threshold;
/// a lag that cannot be measured (`None`) changes nothing either.
pub fn rpo_measured(pair: &str, worst_rpo_ms: Option<i64>, threshold_minutes: Option<u32>) -> Option<Observation> {
    let threshold_ms = i64::from(threshold_minutes?) * 60_000;
    let worst = worst_rpo_ms?;
    let state = if worst > threshold_ms {
        State::Firing {
            summary: format!(
                "Pair {pair}'s RPO is {} min, over its threshold of {} min",
                worst / 60_000,
                threshold_ms / 60_000
            ),
        }
    } else {
        State::Clear
    };
    Some(Observation { pair: pair.into(), condition: Condition::Rpo, state, subject: None })
}

/// The result hook of a drill or a failover (`condition` is one of the two):
/// a failure fires, a success clears.
pub fn operation_result(
    pair: &str,
    condition: Condition,
    operation_id: &str,
    succeeded: bool,
    summary: &str,
) -> Observation {
    let state = match succeeded {
        true => State::Clear,
        false => State::Firing { summary: summary.to_string() },
    };
    Observation { pair: pair.into(), condition, state, subject: Some(operation_id.into()) }
}

/// A failover or failback asked for and awaiting its approvers (`awaiting`:
/// what the alert says), or started (`None`: it clears).
pub fn approval(pair: &str, runbook_id: &str, awaiting: Option<String>) -> Observation {
    let state = match awaiting {
        Some(summary) => State::Firing { summary },
        None => State::Clear,
    };
    Observation { pair: pair.into(), condition: Condition::Approval, state, subject: Some(runbook_id.into()) }
}

/// Managed DR's latest status event of a pair's failover group, as the
/// alert conditions read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManagedDrReading {
    /// `None`: at least one asset was never replicated.
    pub lag_ms: Option<i64>,
    /// Each error blocking replication: its class and the assets it holds back.
    pub errors: Vec<(String, u64)>,
}

/// The managed-DR conditions from the latest event: errors fire while
/// there are any; the lag fires over the pair's threshold (a lag that is
/// null, something never replicated, is over any threshold); no threshold,
/// no lag condition.
pub fn managed_dr(pair: &str, reading: &ManagedDrReading, threshold_minutes: Option<u32>) -> Vec<Observation> {
    let observation = |condition, state| Observation { pair: pair.into(), condition, state, subject: None };
    let errors = if reading.errors.is_empty() {
        State::Clear
    } else {
        let classes: Vec<String> =
            reading.errors.iter().map(|(class, n)| format!("{class} ({n} asset(s) affected)")).collect();
        State::Firing { summary: format!("Managed DR reports errors for pair {pair}: {}", classes.join(", ")) }
    };
    let mut out = vec![observation(Condition::ManagedDrErrors, errors)];
    if let Some(minutes) = threshold_minutes {
        let threshold_ms = i64::from(minutes) * 60_000;
        let lag = match reading.lag_ms {
            Some(ms) if ms <= threshold_ms => State::Clear,
            Some(ms) => State::Firing {
                summary: format!(
                    "Managed DR's lag for pair {pair} is {} min, over its threshold of {minutes} min",
                    ms / 60_000
                ),
            },
            None => {
                State::Firing { summary: format!("Managed DR has never replicated at least one asset of pair {pair}") }
            }
        };
        out.push(observation(Condition::ManagedDrLag, lag));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_run_that_failed_or_could_not_run_fires_and_one_that_succeeded_clears() {
        let failed = replication_ended("sales", "r1", &json!({"outcome": "failed", "failed": 3})).unwrap();
        assert_eq!(failed.condition, Condition::Replication);
        assert!(
            matches!(&failed.state, State::Firing { summary } if summary.contains("3 object(s) failed") && summary.contains("r1")),
            "{failed:?}"
        );
        let blocked = replication_ended("sales", "r2", &json!({"outcome": "failed", "error": "no warehouse"})).unwrap();
        assert!(matches!(&blocked.state, State::Firing { summary } if summary.contains("blocked: no warehouse")));
        let fine = replication_ended("sales", "r3", &json!({"outcome": "succeeded"})).unwrap();
        assert_eq!(fine.state, State::Clear);
        assert_eq!(replication_ended("sales", "r4", &json!({"outcome": "canceled"})), None, "a person stopped it");
    }

    #[test]
    fn objects_left_blocked_fire_their_own_condition_until_a_run_covering_them_leaves_none() {
        let states = |counts: serde_json::Value| -> Vec<(Condition, bool)> {
            replication_blocked("sales", "r1", &counts)
                .into_iter()
                .map(|o| (o.condition, matches!(o.state, State::Firing { .. })))
                .collect()
        };
        let everything =
            json!({"outcome": "succeeded", "blocked_data": 2, "whole_metastore": true, "blocked_assets": 1});
        assert_eq!(states(everything), [(Condition::Blocked, true), (Condition::AssetsBlocked, true)]);
        let summary = &replication_blocked("sales", "r1", &json!({"outcome": "failed", "blocked_data": 2}))[0].state;
        assert!(
            matches!(summary, State::Firing { summary } if summary.contains("2 object(s) blocked") && summary.contains("r1"))
        );
        // Cleared only by a run that covered all of it.
        let data_only = json!({"outcome": "succeeded", "blocked_data": 0, "whole_metastore": true});
        assert_eq!(states(data_only), [(Condition::Blocked, false)], "the assets' condition is left alone");
        let one_catalog = json!({"outcome": "succeeded", "blocked_data": 0, "whole_metastore": false});
        assert_eq!(states(one_catalog), [], "one catalog clears nothing");
        let assets_only = json!({"outcome": "succeeded", "blocked_assets": 0});
        assert_eq!(states(assets_only), [(Condition::AssetsBlocked, false)]);
        // A run that learned nothing says nothing.
        assert_eq!(states(json!({"outcome": "failed", "error": "no warehouse", "blocked_data": 0})), []);
        assert_eq!(states(json!({"outcome": "canceled", "blocked_data": 3})), []);
    }

    #[test]
    fn rpo_fires_over_the_threshold_only() {
        assert_eq!(rpo_measured("p", Some(90 * 60_000), None), None, "no threshold, no alert");
        assert_eq!(rpo_measured("p", None, Some(30)), None, "nothing measured changes nothing");
        let over = rpo_measured("p", Some(31 * 60_000), Some(30)).unwrap();
        assert!(
            matches!(&over.state, State::Firing { summary } if summary.contains("31 min") && summary.contains("30 min"))
        );
        assert_eq!(rpo_measured("p", Some(30 * 60_000), Some(30)).unwrap().state, State::Clear, "at it is fine");
    }

    #[test]
    fn drills_and_failovers_report_through_one_hook() {
        let failed = operation_result("p", Condition::Drill, "d1", false, "step 3 failed");
        assert_eq!((failed.condition, failed.subject.as_deref()), (Condition::Drill, Some("d1")));
        assert!(matches!(failed.state, State::Firing { .. }));
        assert_eq!(operation_result("p", Condition::Failover, "f1", true, "").state, State::Clear);
    }

    #[test]
    fn managed_dr_errors_fire_while_reported_and_its_lag_over_the_threshold() {
        let reading = ManagedDrReading { lag_ms: Some(31 * 60_000), errors: vec![("ROW_FILTER".into(), 3)] };
        let seen = managed_dr("p", &reading, Some(30));
        assert_eq!(
            seen.iter().map(|o| o.condition).collect::<Vec<_>>(),
            [Condition::ManagedDrErrors, Condition::ManagedDrLag]
        );
        assert!(
            matches!(&seen[0].state, State::Firing { summary } if summary.contains("ROW_FILTER (3 asset(s) affected)"))
        );
        assert!(matches!(&seen[1].state, State::Firing { summary } if summary.contains("31 min")));
        let fine = managed_dr("p", &ManagedDrReading { lag_ms: Some(60_000), errors: vec![] }, Some(30));
        assert!(fine.iter().all(|o| o.state == State::Clear));
        assert_eq!(managed_dr("p", &ManagedDrReading::default(), None).len(), 1, "no threshold, no lag condition");
        let never = managed_dr("p", &ManagedDrReading::default(), Some(30));
        assert!(matches!(&never[1].state, State::Firing { summary } if summary.contains("never replicated")));
    }

    #[test]
    fn headlines_say_which_way() {
        let alert = Alert {
            pair: "p".into(),
            condition: Condition::Rpo,
            change: Change::Recovered,
            summary: String::new(),
            subject: None,
        };
        assert_eq!(alert.headline(), "Pair p: RPO recovered");
    }
}
