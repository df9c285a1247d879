//! What every workspace asset kind shares: the two workspaces it works
//! between, the result of one object, and a plan (actions to run, and the
//! objects already settled when planning: unchanged, or blocked with why).
//!
//! A plan with no actions is a converged pair; a dry run is the plan alone.
//! Nothing is ever skipped silently: every object read from the source ends
//! in exactly one result.

use std::future::Future;

use futures::StreamExt;

use crate::databricks::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// One workspace and the token to call it with.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub client: &'a WorkspaceClient,
    pub token: &'a AccessToken,
}

/// Assets flow from `source` to `target` (primary to secondary, or back).
#[derive(Clone, Copy)]
pub struct Endpoints<'a> {
    pub source: Side<'a>,
    pub target: Side<'a>,
}

/// How one object ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Changed in the target; what was done.
    Done(String),
    /// Already as in the source.
    Unchanged,
    /// Not done, and why: a person has to act, or the API cannot.
    Blocked(String),
    /// Tried and failed (after the client's retries).
    Failed(String),
}

/// The result of one object of one kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectResult {
    /// `notebook`, `file`, `folder`, `git folder`, `cluster policy`,
    /// `warehouse`, `secret scope`, `secret`, `secret ACL`.
    pub kind: &'static str,
    /// The object's name or path.
    pub name: String,
    pub outcome: Outcome,
}

impl ObjectResult {
    pub fn new(kind: &'static str, name: impl Into<String>, outcome: Outcome) -> ObjectResult {
        ObjectResult { kind, name: name.into(), outcome }
    }

    /// One line for a card or a log: `kind name: outcome`.
    pub fn line(&self) -> String {
        match &self.outcome {
            Outcome::Done(what) => format!("{} {}: {what}", self.kind, self.name),
            Outcome::Unchanged => format!("{} {}: unchanged", self.kind, self.name),
            Outcome::Blocked(why) => format!("{} {}: blocked, {why}", self.kind, self.name),
            Outcome::Failed(error) => format!("{} {}: failed, {error}", self.kind, self.name),
        }
    }
}

/// An action of a plan: what it touches and what it will do.
pub trait Action {
    fn kind(&self) -> &'static str;
    fn name(&self) -> String;
    /// What the action will do, for the plan a person reads first.
    fn describe(&self) -> String;
    /// `None` when it creates the object; the fields it changes otherwise.
    fn changes(&self) -> Option<Vec<String>>;
}

/// Actions to run, and the objects settled while planning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan<A> {
    pub actions: Vec<A>,
    /// Unchanged and blocked objects (no action).
    pub settled: Vec<ObjectResult>,
}

impl<A> Default for Plan<A> {
    fn default() -> Self {
        Plan { actions: Vec::new(), settled: Vec::new() }
    }
}

impl<A: Action> Plan<A> {
    /// The plan as lines: each action, then each blocked object.
    pub fn lines(&self) -> Vec<String> {
        let actions = self.actions.iter().map(|a| format!("{} {}: {}", a.kind(), a.name(), a.describe()));
        let blocked = self.settled.iter().filter(|r| matches!(r.outcome, Outcome::Blocked(_))).map(ObjectResult::line);
        actions.chain(blocked).collect()
    }
}

/// How many calls of one kind run at once against a workspace: few enough
/// to stay under its rate limits (429s are retried, not counted on).
pub const CONCURRENCY: usize = 8;

/// Runs every action (at most [`CONCURRENCY`] at once) and returns the
/// settled results followed by one result per action, sorted by kind and name.
pub async fn run_all<A, F, Fut>(plan: Plan<A>, run: F) -> Vec<ObjectResult>
where
    A: Action,
    F: Fn(A) -> Fut,
    Fut: Future<Output = ObjectResult>,
{
    let mut results = plan.settled;
    let done: Vec<ObjectResult> =
        futures::stream::iter(plan.actions.into_iter().map(run)).buffer_unordered(CONCURRENCY).collect().await;
    results.extend(done);
    results.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    results
}

/// The result of an action from what its calls answered.
pub fn finished(kind: &'static str, name: impl Into<String>, answer: Result<String, DatabricksError>) -> ObjectResult {
    let outcome = match answer {
        Ok(done) => Outcome::Done(done),
        Err(DatabricksError::PermissionDenied(message)) => Outcome::Blocked(format!("permission denied: {message}")),
        Err(error) => Outcome::Failed(error.to_string()),
    };
    ObjectResult::new(kind, name, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_what_happened() {
        let blocked = ObjectResult::new("secret", "etl/api-token", Outcome::Blocked("provide it".into()));
        assert_eq!(blocked.line(), "secret etl/api-token: blocked, provide it");
        let denied = finished("warehouse", "BI", Err(DatabricksError::PermissionDenied("no".into())));
        assert_eq!(denied.outcome, Outcome::Blocked("permission denied: no".into()));
        let failed = finished("warehouse", "BI", Err(DatabricksError::NotFound("gone".into())));
        assert!(matches!(failed.outcome, Outcome::Failed(_)));
    }
}
