//! Names in `[access]`, turned into object ids once, at start-up.
//!
//! A role is held by an object id (src/access.rs): a name can be renamed or
//! handed to someone else. As a convenience the configuration may still name
//! a user by UPN; drbot asks Microsoft Graph, as itself, for that user's
//! object id (`GET /v1.0/users/{upn}?$select=id`, application permission
//! `User.Read.All`) and keeps only the id. A name Graph cannot resolve is
//! left as it is, and [`crate::access::AccessConfig::keep_object_ids`] then
//! drops it with a warning: it grants nothing.

use std::time::Duration;

use serde::Deserialize;

use super::app::AppIdentity;
use super::GRAPH_SCOPE;
use crate::access::{is_object_id, AccessConfig};

#[derive(Deserialize)]
struct UserId {
    id: String,
}

/// Replaces each UPN in the role lists by its object id, where Graph knows it.
pub async fn resolve_names(access: &mut AccessConfig, app: Option<&AppIdentity>, graph: &str, http: &reqwest::Client) {
    let names = [&access.replicate, &access.deploy, &access.admins]
        .into_iter()
        .flatten()
        .any(|entry| !is_object_id(entry) && entry.contains('@'));
    if !names {
        return;
    }
    let Some(app) = app else {
        tracing::warn!("names (UPNs) in [access] cannot be resolved without the bot's own identity");
        return;
    };
    let token = match app.token(GRAPH_SCOPE).await {
        Ok(token) => token,
        Err(error) => {
            tracing::warn!(%error, "names (UPNs) in [access] cannot be resolved: no Graph token");
            return;
        }
    };
    for (setting, list) in [
        ("access.replicate", &mut access.replicate),
        ("access.deploy", &mut access.deploy),
        ("access.admins", &mut access.admins),
    ] {
        for (position, entry) in list.iter_mut().enumerate() {
            if is_object_id(entry) || !entry.contains('@') {
                continue;
            }
            match lookup(http, graph, token.secret(), entry).await {
                Ok(id) => *entry = id,
                // The name itself is personal data: the log names the setting and position.
                Err(problem) => tracing::warn!(setting, position, %problem, "a name in [access] could not be resolved"),
            }
        }
    }
}

async fn lookup(http: &reqwest::Client, graph: &str, token: &str, upn: &str) -> Result<String, String> {
    let mut url = url::Url::parse(graph).map_err(|e| e.to_string())?;
    url.path_segments_mut().map_err(|_| "Graph URL cannot be a base")?.pop_if_empty().extend(["v1.0", "users", upn]);
    url.query_pairs_mut().append_pair("$select", "id");
    let response = http
        .get(url)
        .bearer_auth(token)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if !response.status().is_success() {
        return Err(format!("Graph answered HTTP {}", response.status()));
    }
    let user: UserId = response.json().await.map_err(|e| e.without_url().to_string())?;
    if !is_object_id(&user.id) {
        return Err("Graph answered an id that is not an object id".into());
    }
    Ok(user.id)
}
