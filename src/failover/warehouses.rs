//! Starting and stopping SQL warehouses across a move, through a small
//! trait ([`WarehouseControl`]), planned by pure functions.
//!
//! Start and stop are idempotent in Databricks, but a start while the
//! warehouse is STOPPING may be refused, so the plans leave a warehouse that
//! is already on its way alone and the step polls until each is RUNNING or
//! STOPPED. A warehouse is matched across the pair by name (the asset sync
//! copies warehouses under the same name).

use std::collections::BTreeSet;
use std::future::Future;

use serde::{Deserialize, Serialize};

use super::jobs::ControlError;

/// A warehouse's state as the SQL Warehouses API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WarehouseState {
    Starting,
    Running,
    Stopping,
    Stopped,
    Deleting,
    Deleted,
}

impl WarehouseState {
    pub fn parse(text: &str) -> Option<WarehouseState> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }

    /// Running or on its way there.
    pub fn is_up(self) -> bool {
        matches!(self, WarehouseState::Starting | WarehouseState::Running)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarehouseInfo {
    pub id: String,
    pub name: String,
    pub state: WarehouseState,
}

/// What the runbook needs of one workspace's warehouses.
pub trait WarehouseControl: Send + Sync {
    fn warehouses(&self) -> impl Future<Output = Result<Vec<WarehouseInfo>, ControlError>> + Send;
    fn start(&self, id: &str) -> impl Future<Output = Result<(), ControlError>> + Send;
    fn stop(&self, id: &str) -> impl Future<Output = Result<(), ControlError>> + Send;
}

/// The names of the warehouses up on the side being left: recorded at the
/// freeze, so the promoted side starts the same ones.
pub fn running_names(warehouses: &[WarehouseInfo]) -> BTreeSet<String> {
    warehouses.iter().filter(|w| w.state.is_up()).map(|w| w.name.clone()).collect()
}

/// What to start on the promoted side.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartPlan {
    /// Ids to start now (stopped ones whose name was running).
    pub start: Vec<String>,
    /// Ids still stopping: started once they have stopped.
    pub later: Vec<String>,
    /// Names that were running and have no warehouse on this side.
    pub missing: Vec<String>,
}

pub fn start_plan(wanted: &BTreeSet<String>, target: &[WarehouseInfo]) -> StartPlan {
    let mut plan = StartPlan::default();
    for name in wanted {
        match target
            .iter()
            .find(|w| &w.name == name && !matches!(w.state, WarehouseState::Deleting | WarehouseState::Deleted))
        {
            None => plan.missing.push(name.clone()),
            Some(w) if w.state == WarehouseState::Stopping => plan.later.push(w.id.clone()),
            Some(w) if w.state == WarehouseState::Stopped => plan.start.push(w.id.clone()),
            Some(_) => {}
        }
    }
    plan
}

/// A drill's return to passive: stop the warehouses it started (by id),
/// and only those still up.
pub fn stop_plan(started: &BTreeSet<String>, target: &[WarehouseInfo]) -> Vec<String> {
    target.iter().filter(|w| started.contains(&w.id) && w.state.is_up()).map(|w| w.id.clone()).collect()
}

/// A freeze's stop: the warehouses of `names` still up on the side left,
/// except `kept` (drbot's own, which the final sync reads with).
pub fn freeze_plan(names: &BTreeSet<String>, side: &[WarehouseInfo], kept: Option<&str>) -> Vec<String> {
    side.iter()
        .filter(|w| names.contains(&w.name) && w.state.is_up() && Some(w.id.as_str()) != kept)
        .map(|w| w.id.clone())
        .collect()
}

/// Whether every warehouse of `ids` has reached `state`.
pub fn all_in(ids: &[String], target: &[WarehouseInfo], state: WarehouseState) -> bool {
    ids.iter().all(|id| target.iter().any(|w| &w.id == id && w.state == state))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(id: &str, name: &str, state: WarehouseState) -> WarehouseInfo {
        WarehouseInfo { id: id.into(), name: name.into(), state }
    }

    #[test]
    fn the_promoted_side_starts_the_warehouses_that_were_up_and_leaves_running_ones_alone() {
        use WarehouseState::*;
        let primary =
            [w("p1", "bi", Running), w("p2", "etl", Starting), w("p3", "adhoc", Stopped), w("p4", "ml", Running)];
        let wanted = running_names(&primary);
        assert_eq!(wanted, ["bi", "etl", "ml"].map(String::from).into());
        let secondary = [w("s1", "bi", Stopped), w("s2", "etl", Stopping), w("s3", "adhoc", Stopped)];
        let plan = start_plan(&wanted, &secondary);
        assert_eq!(plan, StartPlan { start: vec!["s1".into()], later: vec!["s2".into()], missing: vec!["ml".into()] });
        let started = [w("s1", "bi", Running), w("s2", "etl", Running), w("s3", "adhoc", Stopped)];
        assert_eq!(start_plan(&wanted, &started).start, Vec::<String>::new(), "resumed: nothing started twice");
        assert!(all_in(&["s1".into(), "s2".into()], &started, Running));
        assert!(!all_in(&["s3".into()], &started, Running));
    }

    #[test]
    fn a_drill_stops_only_what_it_started() {
        use WarehouseState::*;
        let secondary = [w("s1", "bi", Running), w("s2", "etl", Running), w("s3", "adhoc", Stopped)];
        let started: BTreeSet<String> = ["s1".to_string(), "s3".to_string()].into();
        assert_eq!(stop_plan(&started, &secondary), ["s1"]);
    }

    #[test]
    fn a_freeze_stops_what_ran_but_drbot_s_own_and_a_resumed_one_nothing_again() {
        use WarehouseState::*;
        let primary = [w("p1", "bi", Running), w("p2", "drbot", Running), w("p3", "etl", Starting)];
        let names = running_names(&primary);
        assert_eq!(freeze_plan(&names, &primary, Some("p2")), ["p1", "p3"]);
        let stopping = [w("p1", "bi", Stopping), w("p2", "drbot", Running), w("p3", "etl", Stopped)];
        assert!(freeze_plan(&names, &stopping, Some("p2")).is_empty());
    }

    #[test]
    fn states_parse_from_the_api_s_words() {
        assert_eq!(WarehouseState::parse("RUNNING"), Some(WarehouseState::Running));
        assert_eq!(WarehouseState::parse("running"), None);
    }
}
