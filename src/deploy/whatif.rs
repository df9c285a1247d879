//! What-If in both regions, summarised for a person deciding whether to
//! click Deploy: counts per kind of change, and every delete and modify
//! listed by resource, deletes first, because a delete is what nobody wants
//! to approve by accident.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::plan::{Plan, Role};
use super::{DeployError, Tokens};
use crate::azure::{ArmClient, ChangeType, PollOptions, WhatIfChange};
use crate::identity::ARM_SCOPE;

/// One region's What-If.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionWhatIf {
    pub role: Option<Role>,
    pub location: String,
    pub resource_group: String,
    pub creates: usize,
    pub modifies: usize,
    pub deletes: usize,
    pub no_change: usize,
    /// Ignore, Deploy, Unsupported and kinds newer than drbot.
    pub other: usize,
    /// Resource ids that would be deleted.
    pub deleted: Vec<String>,
    /// Resource ids that would change, with the changed property paths.
    pub modified: Vec<(String, Vec<String>)>,
}

/// Both regions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatIfSummary {
    pub regions: Vec<RegionWhatIf>,
}

impl WhatIfSummary {
    pub fn has_deletes(&self) -> bool {
        self.regions.iter().any(|r| r.deletes > 0)
    }
}

/// Counts and lists one region's changes.
pub fn summarise(changes: &[WhatIfChange]) -> RegionWhatIf {
    let mut summary = RegionWhatIf::default();
    for change in changes {
        match change.change_type {
            ChangeType::Create => summary.creates += 1,
            ChangeType::NoChange => summary.no_change += 1,
            ChangeType::Delete => {
                summary.deletes += 1;
                summary.deleted.push(change.resource_id.clone());
            }
            ChangeType::Modify => {
                summary.modifies += 1;
                let paths = change.delta.iter().filter_map(|d| d["path"].as_str().map(str::to_string)).collect();
                summary.modified.push((change.resource_id.clone(), paths));
            }
            ChangeType::Ignore | ChangeType::Deploy | ChangeType::Unsupported | ChangeType::Unknown => {
                summary.other += 1
            }
        }
    }
    summary.deleted.sort();
    summary.modified.sort();
    summary
}

/// What-If of the plan in both regions, at once.
pub async fn what_if(
    client: &ArmClient,
    tokens: &impl Tokens,
    plan: &Plan,
    options: &PollOptions,
) -> Result<WhatIfSummary, DeployError> {
    let token = tokens.token(ARM_SCOPE).await?;
    let regions = futures::future::join_all(plan.regions.iter().map(|region| {
        let token = token.clone();
        async move {
            let result = client
                .what_if(&token, &region.deployment, &plan.body(region.role), options)
                .await
                .map_err(|source| DeployError::Region { role: region.role, source })?;
            let mut summary = summarise(&result.properties.changes);
            summary.role = Some(region.role);
            summary.location = region.location.clone();
            summary.resource_group = region.deployment.resource_group.clone();
            Ok::<_, DeployError>(summary)
        }
    }))
    .await;
    Ok(WhatIfSummary { regions: regions.into_iter().collect::<Result<_, _>>()? })
}

impl fmt::Display for WhatIfSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for region in &self.regions {
            let role = region.role.map(Role::as_str).unwrap_or("region");
            writeln!(
                f,
                "{role} ({}, {}): {} to create, {} to modify, {} to delete, {} unchanged{}",
                region.location,
                region.resource_group,
                region.creates,
                region.modifies,
                region.deletes,
                region.no_change,
                if region.other > 0 { format!(", {} other", region.other) } else { String::new() }
            )?;
            for id in &region.deleted {
                writeln!(f, "  DELETE {id}")?;
            }
            for (id, paths) in &region.modified {
                writeln!(f, "  modify {id} ({})", paths.join(", "))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn change(id: &str, kind: &str, delta: serde_json::Value) -> WhatIfChange {
        serde_json::from_value(json!({"resourceId": id, "changeType": kind, "delta": delta})).unwrap()
    }

    #[test]
    fn counts_every_kind_and_lists_deletes_and_modifies() {
        let changes = vec![
            change("/b", "Create", json!([])),
            change("/a", "Create", json!([])),
            change("/z", "Delete", json!([])),
            change("/y", "Delete", json!([])),
            change("/m", "Modify", json!([{"path": "properties.addressSpace"}, {"path": "tags.env"}])),
            change("/n", "NoChange", json!([])),
            change("/i", "Ignore", json!([])),
            change("/u", "SomethingNew", json!([])),
        ];
        let summary = summarise(&changes);
        assert_eq!(
            (summary.creates, summary.modifies, summary.deletes, summary.no_change, summary.other),
            (2, 1, 2, 1, 2)
        );
        assert_eq!(summary.deleted, vec!["/y", "/z"]);
        assert_eq!(
            summary.modified,
            vec![("/m".to_string(), vec!["properties.addressSpace".into(), "tags.env".into()])]
        );
        let both = WhatIfSummary {
            regions: vec![RegionWhatIf { role: Some(Role::Primary), location: "westeurope".into(), ..summary }],
        };
        assert!(both.has_deletes());
        let text = both.to_string();
        assert!(text.starts_with("primary (westeurope, ): 2 to create, 1 to modify, 2 to delete, 1 unchanged, 2 other"));
        assert!(text.contains("  DELETE /y\n  DELETE /z\n  modify /m (properties.addressSpace, tags.env)"), "{text}");
        assert_eq!(summarise(&[]), RegionWhatIf::default());
    }
}
