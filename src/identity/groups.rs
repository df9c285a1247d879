//! Group membership when the token cannot carry it (the "groups overage").
//!
//! A token names at most 200 groups; a person in more gets
//! `_claim_names.groups` (or `hasgroups`) instead, and drbot would otherwise
//! see no groups at all. Then drbot asks Microsoft Graph, as the person
//! (on-behalf-of, `User.Read`), `POST /me/checkMemberGroups` with exactly the
//! group ids its configuration names (at most 20 a request, transitive), and
//! keeps the answer for a few minutes per person so a busy chat does not ask
//! on every turn.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::json;

use super::{IdentityError, OnBehalfOf, UserAssertion, GRAPH_SCOPE};

/// How long an answer is reused.
pub const CACHE_FOR: Duration = Duration::from_secs(300);
/// Graph checks at most this many ids per request.
const IDS_PER_REQUEST: usize = 20;

#[derive(Deserialize)]
struct Answer {
    value: Vec<String>,
}

/// The Graph client for membership checks, with its per-person cache.
pub struct GroupMembership {
    http: reqwest::Client,
    url: String,
    cache: Mutex<HashMap<Person, (Vec<String>, Instant)>>,
}

/// (tenant, object id) of a bound sign-in: whose answer it is.
type Person = (String, String);

impl GroupMembership {
    pub fn new(graph: &str, http: reqwest::Client) -> GroupMembership {
        GroupMembership {
            http,
            url: format!("{}/v1.0/me/checkMemberGroups", graph.trim_end_matches('/')),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Which of `candidates` (group object ids) the bound `user` is a member of.
    pub async fn among(
        &self,
        obo: &OnBehalfOf,
        user: &UserAssertion,
        candidates: &[String],
    ) -> Result<Vec<String>, IdentityError> {
        let key = (user.tenant_id.to_ascii_lowercase(), user.oid.to_ascii_lowercase());
        if let Some((groups, at)) = self.cache.lock().get(&key) {
            if at.elapsed() < CACHE_FOR {
                return Ok(groups.clone());
            }
        }
        let token = obo.token(user, GRAPH_SCOPE, false).await?;
        let mut member = Vec::new();
        for ids in candidates.chunks(IDS_PER_REQUEST) {
            let response = self
                .http
                .post(&self.url)
                .bearer_auth(token.secret())
                .json(&json!({ "groupIds": ids }))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .map_err(|e| IdentityError::Unavailable(format!("Graph: {}", e.without_url())))?;
            if !response.status().is_success() {
                return Err(IdentityError::Unavailable(format!("Graph checkMemberGroups: HTTP {}", response.status())));
            }
            let answer: Answer =
                response.json().await.map_err(|e| IdentityError::Unavailable(format!("Graph: {}", e.without_url())))?;
            member.extend(answer.value);
        }
        self.cache.lock().insert(key, (member.clone(), Instant::now()));
        Ok(member)
    }
}
