//! Databricks managed DR's failover group, as a runbook decides on it.
//!
//! A pair that names a failover group is replicated by Databricks, not by
//! drbot, and its failover is one call: `POST …/failover-groups/{id}/failover`
//! with the target region, `FORCED` (the only type the API has) and the
//! etag. The etag makes the call conditional: the runbook sends the etag of
//! the group as its approvers saw it on the card, so a group that changed
//! since (another failover, a replication point that moved, a state that is
//! no longer ACTIVE) is refused by Databricks with 409, re-read, and the
//! change reported; nothing is failed over on a reading nobody approved.
//!
//! The request is checkpointed (with its etag) before it is sent, so a run
//! killed anywhere resumes without a second request: if the group still has
//! that etag the request never landed and is sent again (with the same etag:
//! had it landed, the etag would have changed and Databricks would refuse a
//! duplicate); otherwise the run follows the group to its end. Everything
//! here is pure; the step that sends and follows is `src/failover/run/managed_step.rs`.

use serde::{Deserialize, Serialize};

use crate::readiness::text::instant;

/// The group's states this module tells apart (the API has more).
pub const ACTIVE: &str = "ACTIVE";
pub const FAILING_OVER: &str = "FAILING_OVER";
pub const FAILOVER_FAILED: &str = "FAILOVER_FAILED";

/// The failover group as a runbook reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRead {
    /// The group's id (the last part of its name).
    pub id: String,
    /// ACTIVE, FAILING_OVER, FAILOVER_FAILED, INITIAL_REPLICATION, …
    pub state: String,
    /// The region that serves now (`effective_primary_region`).
    pub primary_region: String,
    pub regions: Vec<String>,
    /// The latest time replicated (epoch ms); none before the first replication.
    pub replication_point_ms: Option<i64>,
    pub etag: String,
}

impl GroupRead {
    /// The region a failover from the current primary goes to: the group's
    /// one other region (`None` when it has none, or several).
    pub fn other_region(&self) -> Option<&str> {
        let mut others = self.regions.iter().filter(|r| **r != self.primary_region);
        match (others.next(), others.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }
}

/// What a failover request came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupAnswer {
    /// Accepted: the group as it answered (normally FAILING_OVER).
    Started(GroupRead),
    /// Refused with 409: the etag was stale. The group as re-read.
    Stale(GroupRead),
}

/// The managed-DR part of a runbook: the group as its approvers saw it and
/// where it goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedPlan {
    /// As read when the runbook was planned: its etag is the one sent.
    pub group: GroupRead,
    pub target_region: String,
    /// How long reading the side left (its jobs and warehouses, before the
    /// failover) may take: it is presumed down, nobody waits long on it.
    pub record_timeout_ms: i64,
    /// The stable URLs linked to the group when it was planned: the
    /// addresses that follow it by themselves, which the repoint step
    /// checks and the result card names for clients.
    #[serde(default)]
    pub stable_urls: Vec<StableUrl>,
    /// The workspace id of the side promoted, when the pair knows it: where
    /// each stable URL must route once the group has failed over.
    #[serde(default)]
    pub target_workspace_id: Option<String>,
}

/// A managed-DR stable URL linked to the group: a region-independent
/// address of the workspace that managed DR moves with the group's primary
/// (nothing for drbot to write, only to check and to tell).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StableUrl {
    /// `accounts/{account_id}/stable-urls/{id}`.
    pub name: String,
    pub url: String,
    /// The workspace it routes to (`effective_workspace_id`): the group's
    /// primary while linked, across failovers.
    #[serde(default)]
    pub routes_to: String,
}

/// What the repoint step found of the stable URLs approved on the card,
/// given those linked to the group now: each still linked routes to the
/// promoted workspace (clients change nothing); one unlinked since follows
/// nothing, and people must know before they send clients to it. `Err`
/// when a linked one routes elsewhere than the promoted workspace (when
/// the pair knows its id): clients that use it do not reach the side that
/// now serves.
pub fn stable_url_findings(plan: &ManagedPlan, now: &[StableUrl], to: &str) -> Result<Vec<String>, String> {
    let group = &plan.group.id;
    let astray: Vec<String> = now
        .iter()
        .filter(|n| !n.routes_to.is_empty())
        .filter(|n| plan.target_workspace_id.as_ref().is_some_and(|target| n.routes_to != *target))
        .map(|n| format!("{} routes to workspace {}", n.url, n.routes_to))
        .collect();
    if let (false, Some(target)) = (astray.is_empty(), &plan.target_workspace_id) {
        return Err(format!(
            "managed DR's stable URL did not follow group {group} to the {to} side (workspace {target}): {}",
            astray.join("; ")
        ));
    }
    let routes = |n: &StableUrl| match (n.routes_to.as_str(), &plan.target_workspace_id) {
        ("", _) => "the group's primary (the account does not say which workspace)".to_string(),
        (id, Some(_)) => format!("workspace {id}, the {to} side"),
        (id, None) => {
            format!("workspace {id} (set the pair's workspace ids and drbot checks that it is the {to} side's)")
        }
    };
    let mut out = Vec::new();
    for approved in &plan.stable_urls {
        match now.iter().find(|n| n.name == approved.name) {
            Some(n) => out.push(format!(
                "{} (managed DR's stable URL of group {group}) now routes to {}: clients that use it change nothing",
                n.url,
                routes(n)
            )),
            None => out.push(format!(
                "{} is no longer linked to group {group}: it did not follow the failover, and clients that use it \
                 still reach the workspace it routed to",
                approved.url
            )),
        }
    }
    for n in now.iter().filter(|n| !plan.stable_urls.iter().any(|a| a.name == n.name)) {
        out.push(format!(
            "{} (linked to group {group} since the runbook was approved) now routes to {}",
            n.url,
            routes(n)
        ));
    }
    Ok(out)
}

/// How far a managed failover got, in the run's checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupProgress {
    /// The side left was read for what it ran (or could not be: tried once).
    pub recorded: bool,
    /// The failover was asked for with this etag (saved before asking).
    pub requested_etag: Option<String>,
}

/// What the step does next, from its checkpoint and the group as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Ask for the failover, conditional on this etag.
    Request(String),
    /// A failover is under way (or ended): follow the group.
    Follow,
    /// The group serves from the target region already.
    Arrived,
    /// Do nothing: why, for the card.
    Refuse(String),
}

/// Decides the step's next move. `requested`: the etag a request was sent
/// with before (a resumed run), if one was.
pub fn next(plan: &ManagedPlan, requested: Option<&str>, now: &GroupRead) -> Next {
    if now.state == ACTIVE && now.primary_region == plan.target_region {
        return Next::Arrived;
    }
    match requested {
        // Ours is under way, or ended (a failure is read by `ended`).
        Some(_) if now.state == FAILING_OVER => Next::Follow,
        // Unchanged since the request was saved: it never landed.
        Some(etag) if now.etag == etag => Next::Request(etag.to_string()),
        Some(_) if now.state == FAILOVER_FAILED => Next::Follow,
        Some(_) => Next::Refuse(format!(
            "the failover group {} changed after drbot asked for its failover, and not into one: {}",
            now.id,
            changes(&plan.group, now).join("; ")
        )),
        None if now.state == FAILING_OVER => Next::Refuse(format!(
            "a failover of group {} that drbot did not ask for is under way (to {}): nothing was asked",
            now.id, plan.target_region
        )),
        None => Next::Request(plan.group.etag.clone()),
    }
}

/// Whether a failover that is no longer under way reached the target.
/// On FAILOVER_FAILED the message says what people must know: the primary
/// is unchanged and drbot changed nothing.
pub fn ended(plan: &ManagedPlan, now: &GroupRead) -> Result<(), String> {
    if now.state == ACTIVE && now.primary_region == plan.target_region {
        return Ok(());
    }
    if now.state == FAILOVER_FAILED {
        return Err(format!(
            "managed DR's failover of group {} to {} ended FAILOVER_FAILED: the group still serves from {}. drbot \
             changed nothing else: every job and warehouse is as it was. system.replication.states names the \
             error; ask for the failover again to retry",
            now.id, plan.target_region, now.primary_region
        ));
    }
    Err(format!(
        "managed DR's failover of group {} ended {} with primary {}, not {}: drbot changed nothing else",
        now.id, now.state, now.primary_region, plan.target_region
    ))
}

/// What differs between the group as approved and as it is now, in words
/// (the etag alone when nothing drbot reads changed).
pub fn changes(approved: &GroupRead, now: &GroupRead) -> Vec<String> {
    let mut out = Vec::new();
    if approved.state != now.state {
        out.push(format!("state {} → {}", approved.state, now.state));
    }
    if approved.primary_region != now.primary_region {
        out.push(format!("primary region {} → {}", approved.primary_region, now.primary_region));
    }
    if approved.replication_point_ms != now.replication_point_ms {
        let point = |ms: Option<i64>| ms.map_or("none".to_string(), instant);
        out.push(format!(
            "replication point {} → {}",
            point(approved.replication_point_ms),
            point(now.replication_point_ms)
        ));
    }
    if out.is_empty() {
        out.push(format!("etag {} → {} (a change drbot does not read)", approved.etag, now.etag));
    }
    out
}

/// Why a stale etag stopped the runbook: what changed and what to do.
pub fn stale(plan: &ManagedPlan, now: &GroupRead) -> String {
    format!(
        "refused: failover group {} changed since the runbook was approved ({}). Nothing was failed over and \
         nothing else changed; ask again to plan with the group as it is now",
        now.id,
        changes(&plan.group, now).join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(state: &str, primary: &str, etag: &str) -> GroupRead {
        GroupRead {
            id: "sales-dr".into(),
            state: state.into(),
            primary_region: primary.into(),
            regions: vec!["westeurope".into(), "northeurope".into()],
            replication_point_ms: Some(1_000),
            etag: etag.into(),
        }
    }

    fn plan() -> ManagedPlan {
        ManagedPlan {
            group: group(ACTIVE, "westeurope", "3"),
            target_region: "northeurope".into(),
            record_timeout_ms: 30_000,
            stable_urls: vec![url("a", "1"), url("b", "1")],
            target_workspace_id: Some("2".into()),
        }
    }

    fn url(id: &str, routes_to: &str) -> StableUrl {
        StableUrl {
            name: format!("accounts/acc/stable-urls/{id}"),
            url: format!("https://spog.example/?w={id}"),
            routes_to: routes_to.into(),
        }
    }

    #[test]
    fn the_stable_urls_still_linked_follow_and_an_unlinked_one_is_named() {
        let found = stable_url_findings(&plan(), &[url("a", "2"), url("c", "2")], "secondary").unwrap();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("https://spog.example/?w=a (managed DR's"), "{found:?}");
        assert!(found[0].contains("routes to workspace 2, the secondary side: clients that use it change nothing"));
        assert!(found[1].starts_with("https://spog.example/?w=b is no longer linked"), "{found:?}");
        assert!(found[2].contains("?w=c (linked to group sales-dr since"), "{found:?}");
    }

    #[test]
    fn a_stable_url_that_still_routes_to_the_side_left_stops_the_step() {
        let why = stable_url_findings(&plan(), &[url("a", "1")], "secondary").unwrap_err();
        assert!(why.contains("did not follow group sales-dr to the secondary side (workspace 2)"), "{why}");
        assert!(why.contains("?w=a routes to workspace 1"), "{why}");
        // Without the promoted workspace's id it is told, not judged.
        let unknown = ManagedPlan { target_workspace_id: None, ..plan() };
        let found = stable_url_findings(&unknown, &[url("a", "1")], "secondary").unwrap();
        assert!(found[0].contains("routes to workspace 1 (set the pair's workspace ids"), "{found:?}");
        // Nor when the account does not say where it routes.
        let found = stable_url_findings(&plan(), &[url("a", "")], "secondary").unwrap();
        assert!(found[0].contains("routes to the group's primary (the account does not say"), "{found:?}");
    }

    #[test]
    fn a_first_run_asks_with_the_approved_etag() {
        assert_eq!(next(&plan(), None, &group(ACTIVE, "westeurope", "4")), Next::Request("3".into()));
        assert_eq!(group(ACTIVE, "westeurope", "3").other_region(), Some("northeurope"));
    }

    #[test]
    fn a_resumed_run_never_asks_twice_for_a_request_that_landed() {
        let p = plan();
        // Killed after saving the request, before sending it: the etag is unchanged.
        assert_eq!(next(&p, Some("3"), &group(ACTIVE, "westeurope", "3")), Next::Request("3".into()));
        // Killed after sending it: the group is failing over, or already there.
        assert_eq!(next(&p, Some("3"), &group(FAILING_OVER, "westeurope", "4")), Next::Follow);
        assert_eq!(next(&p, Some("3"), &group(ACTIVE, "northeurope", "5")), Next::Arrived);
        assert_eq!(next(&p, Some("3"), &group(FAILOVER_FAILED, "westeurope", "5")), Next::Follow);
        // Something else changed it: refused, with what changed.
        let Next::Refuse(why) = next(&p, Some("3"), &group(ACTIVE, "westeurope", "9")) else { panic!() };
        assert!(why.contains("etag 3 → 9"), "{why}");
    }

    #[test]
    fn someone_else_s_failover_is_not_joined() {
        let Next::Refuse(why) = next(&plan(), None, &group(FAILING_OVER, "westeurope", "4")) else { panic!() };
        assert!(why.contains("did not ask for"), "{why}");
    }

    #[test]
    fn a_failed_failover_says_the_primary_is_unchanged_and_nothing_else_was_touched() {
        let p = plan();
        assert_eq!(ended(&p, &group(ACTIVE, "northeurope", "5")), Ok(()));
        let why = ended(&p, &group(FAILOVER_FAILED, "westeurope", "5")).unwrap_err();
        assert!(why.contains("FAILOVER_FAILED") && why.contains("still serves from westeurope"), "{why}");
        assert!(why.contains("every job and warehouse is as it was"), "{why}");
        assert!(ended(&p, &group(ACTIVE, "westeurope", "5")).is_err());
    }

    #[test]
    fn a_stale_etag_names_what_changed() {
        let mut now = group(ACTIVE, "westeurope", "4");
        now.replication_point_ms = Some(301_000);
        let words = stale(&plan(), &now);
        assert!(words.contains("replication point 1970-01-01 00:00 UTC → 1970-01-01 00:05 UTC"), "{words}");
        assert!(words.contains("ask again"), "{words}");
        assert_eq!(
            changes(&plan().group, &group(ACTIVE, "westeurope", "4")),
            ["etag 3 → 4 (a change drbot does not read)"]
        );
    }
}
