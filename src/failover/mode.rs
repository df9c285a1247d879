//! The four runbooks a pair can run, and which way each moves it.

use serde::{Deserialize, Serialize};

use crate::pairs::Side;

/// Which runbook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The primary is healthy: freeze it, sync the rest, move with zero loss.
    Planned,
    /// The primary is presumed down: freeze and sync are best effort, the
    /// loss is each table's window since its replication point.
    Forced,
    /// Back to the original side once it is healthy again (a planned move the
    /// other way, restoring the original pause states).
    Failback,
    /// A rehearsal of a planned failover that leaves both sides as they were.
    Drill,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Planned => "planned",
            Mode::Forced => "forced",
            Mode::Failback => "failback",
            Mode::Drill => "drill",
        }
    }

    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "planned" => Some(Mode::Planned),
            "forced" => Some(Mode::Forced),
            "failback" => Some(Mode::Failback),
            "drill" => Some(Mode::Drill),
            _ => None,
        }
    }

    /// The side the runbook starts from and the side it ends active, for a
    /// pair whose `active` side serves now. A failover goes from the primary
    /// to the secondary, a failback the other way; a drill rehearses from
    /// the active side and ends where it started. `None`: the runbook makes
    /// no sense for that pair (a failover of a pair already failed over, a
    /// failback of one that never was).
    pub fn direction(self, active: Side) -> Option<Direction> {
        match (self, active) {
            (Mode::Planned | Mode::Forced, Side::Primary) => {
                Some(Direction { from: Side::Primary, to: Side::Secondary, ends_active: Side::Secondary })
            }
            (Mode::Failback, Side::Secondary) => {
                Some(Direction { from: Side::Secondary, to: Side::Primary, ends_active: Side::Primary })
            }
            (Mode::Drill, from) => Some(Direction { from, to: other(from), ends_active: from }),
            _ => None,
        }
    }

    /// A failover or failback changes which side serves: it needs the
    /// configured number of approvers. A drill changes nothing lasting.
    pub fn needs_approval(self) -> bool {
        !matches!(self, Mode::Drill)
    }
}

/// Which way a runbook moves a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Direction {
    /// The side that serves when the runbook starts (frozen, synced from).
    pub from: Side,
    /// The side promoted (for a drill: rehearsed on, then returned to passive).
    pub to: Side,
    /// The side active when the runbook ends.
    pub ends_active: Side,
}

/// The other side of a pair.
pub fn other(side: Side) -> Side {
    match side {
        Side::Primary => Side::Secondary,
        Side::Secondary => Side::Primary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failover_moves_a_primary_pair_and_refuses_one_already_failed_over() {
        for mode in [Mode::Planned, Mode::Forced] {
            let d = mode.direction(Side::Primary).unwrap();
            assert_eq!((d.from, d.to, d.ends_active), (Side::Primary, Side::Secondary, Side::Secondary));
            assert_eq!(mode.direction(Side::Secondary), None, "{mode:?} of a failed-over pair");
        }
    }

    #[test]
    fn a_failback_only_moves_a_failed_over_pair_back() {
        assert_eq!(Mode::Failback.direction(Side::Primary), None);
        let d = Mode::Failback.direction(Side::Secondary).unwrap();
        assert_eq!((d.from, d.to, d.ends_active), (Side::Secondary, Side::Primary, Side::Primary));
    }

    #[test]
    fn a_drill_rehearses_on_the_passive_side_and_ends_where_it_started() {
        for active in [Side::Primary, Side::Secondary] {
            let d = Mode::Drill.direction(active).unwrap();
            assert_eq!((d.from, d.to, d.ends_active), (active, other(active), active));
        }
        assert!(!Mode::Drill.needs_approval());
        assert!(Mode::Planned.needs_approval() && Mode::Forced.needs_approval() && Mode::Failback.needs_approval());
    }

    #[test]
    fn modes_round_trip_through_their_names() {
        for mode in [Mode::Planned, Mode::Forced, Mode::Failback, Mode::Drill] {
            assert_eq!(Mode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(Mode::parse("FORCED"), None);
    }
}
