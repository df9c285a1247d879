//! Secret scopes, their ACLs, and the keys a person must provide.
//!
//! Secret values cannot be read through the API, and drbot never asks for
//! one (its client has no call that could): a scope is re-created in the
//! target with its ACLs, and every key of a Databricks-backed scope that the
//! target lacks (or holds older than the source's last change) is reported
//! blocked with the reason, so the plan is the list of keys to provide in
//! the secondary. Key names are not secrets; values never reach a result,
//! a card, a log line or the store because drbot never holds one.
//!
//! A Key Vault-backed scope is created pointing at the vault the pair maps
//! its source vault to ([`VaultMap`]), or reported when none is mapped;
//! its keys live in the vault (Azure replicates or the team fills it), so
//! they are not listed. A scope's backend cannot be changed: a target scope
//! on another backend or vault is reported, never deleted. ACL principals
//! are copied by name.

use std::collections::BTreeMap;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::outcome::{finished, run_all, Action, Endpoints, ObjectResult, Outcome, Plan, Side, CONCURRENCY};
use crate::databricks::secrets::ScopeBackend;
use crate::databricks::DatabricksError;

/// A scope as read: its backend, its keys (name → last set, epoch ms) and
/// its ACLs (principal → permission), or why they could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeState {
    pub backend: ScopeBackend,
    pub keys: BTreeMap<String, Option<i64>>,
    pub acls: Result<BTreeMap<String, String>, String>,
}

/// Scopes by name.
pub type Scopes = BTreeMap<String, ScopeState>;

/// Source Key Vault resource id (compared case-insensitively) → the target's
/// vault: `(resource_id, dns_name)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VaultMap(BTreeMap<String, (String, String)>);

impl VaultMap {
    pub fn new(pairs: impl IntoIterator<Item = (String, String, String)>) -> VaultMap {
        VaultMap(pairs.into_iter().map(|(from, to, dns)| (from.to_ascii_lowercase(), (to, dns))).collect())
    }

    fn target_of(&self, source_vault: &str) -> Option<ScopeBackend> {
        self.0.get(&source_vault.to_ascii_lowercase()).map(|(resource_id, dns_name)| ScopeBackend::AzureKeyVault {
            resource_id: resource_id.clone(),
            dns_name: dns_name.clone(),
        })
    }
}

/// The vault's name, the last segment of its resource id.
fn vault_name(resource_id: &str) -> &str {
    resource_id.rsplit('/').next().unwrap_or(resource_id)
}

/// Reads the scopes of `side`; `only` limits to these names (the target's
/// read needs only the source's scopes).
pub async fn read_scopes(side: Side<'_>, only: Option<&Scopes>) -> Result<Scopes, DatabricksError> {
    let scopes = side.client.secret_scopes(side.token).await?;
    let wanted = scopes.into_iter().filter(|s| only.is_none_or(|o| o.contains_key(&s.name)));
    let read: Vec<Result<(String, ScopeState), DatabricksError>> = futures::stream::iter(wanted)
        .map(|scope| async move {
            let keys = match scope.backend {
                ScopeBackend::Databricks => side
                    .client
                    .secret_keys(side.token, &scope.name)
                    .await?
                    .into_iter()
                    .map(|k| (k.key, k.last_updated_timestamp))
                    .collect(),
                ScopeBackend::AzureKeyVault { .. } => BTreeMap::new(),
            };
            let acls = match side.client.secret_acls(side.token, &scope.name).await {
                Ok(acls) => Ok(acls.into_iter().map(|a| (a.principal, a.permission)).collect()),
                Err(DatabricksError::PermissionDenied(message)) => Err(format!("ACLs not readable: {message}")),
                Err(error) => return Err(error),
            };
            Ok((scope.name, ScopeState { backend: scope.backend, keys, acls }))
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    read.into_iter().collect()
}

/// One step of the scopes' plan: make the scope if needed, then set ACLs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeAction {
    pub scope: String,
    pub create: Option<ScopeBackend>,
    /// Principal and permission to set.
    pub acls: Vec<(String, String)>,
}

impl Action for ScopeAction {
    fn kind(&self) -> &'static str {
        "secret scope"
    }

    fn name(&self) -> String {
        self.scope.clone()
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        match &self.create {
            Some(ScopeBackend::Databricks) => parts.push("create".to_string()),
            Some(ScopeBackend::AzureKeyVault { resource_id, .. }) => {
                parts.push(format!("create on Key Vault {}", vault_name(resource_id)))
            }
            None => {}
        }
        if !self.acls.is_empty() {
            let acls: Vec<String> = self.acls.iter().map(|(p, l)| format!("{p} {l}")).collect();
            parts.push(format!("set ACLs {}", acls.join(", ")));
        }
        parts.join("; ")
    }

    fn changes(&self) -> Option<Vec<String>> {
        self.create.is_none().then(|| vec!["acls".into()])
    }
}

/// Where the target's copy of a source scope must keep its secrets, or why
/// it cannot be made.
fn target_backend(source: &ScopeBackend, vaults: &VaultMap) -> Result<ScopeBackend, String> {
    match source {
        ScopeBackend::Databricks => Ok(ScopeBackend::Databricks),
        ScopeBackend::AzureKeyVault { resource_id, .. } => vaults.target_of(resource_id).ok_or_else(|| {
            format!(
                "backed by Key Vault {}, and no secondary vault is configured for it on the pair",
                vault_name(resource_id)
            )
        }),
    }
}

pub fn plan_scopes(source: &Scopes, target: &Scopes, vaults: &VaultMap) -> Plan<ScopeAction> {
    let mut plan = Plan::default();
    for (name, wanted) in source {
        let backend = match target_backend(&wanted.backend, vaults) {
            Ok(backend) => backend,
            Err(why) => {
                plan.settled.push(ObjectResult::new("secret scope", name, Outcome::Blocked(why)));
                continue;
            }
        };
        let have = target.get(name);
        if let Some(have) = have.filter(|h| h.backend != backend) {
            let why = match &have.backend {
                ScopeBackend::Databricks => "the target's scope is Databricks-backed".to_string(),
                ScopeBackend::AzureKeyVault { resource_id, .. } => {
                    format!("the target's scope reads Key Vault {}", vault_name(resource_id))
                }
            };
            plan.settled.push(ObjectResult::new(
                "secret scope",
                name,
                Outcome::Blocked(format!("{why}; a scope's backend cannot change: re-create it by hand")),
            ));
            continue;
        }
        let mut acls = Vec::new();
        match &wanted.acls {
            Ok(wanted_acls) => {
                let have_acls = have.and_then(|h| h.acls.as_ref().ok());
                for (principal, permission) in wanted_acls {
                    if have_acls.and_then(|a| a.get(principal)) != Some(permission) {
                        acls.push((principal.clone(), permission.clone()));
                    }
                }
            }
            Err(why) => plan.settled.push(ObjectResult::new("secret ACL", name, Outcome::Blocked(why.clone()))),
        }
        let create = have.is_none().then(|| backend.clone());
        if create.is_none() && acls.is_empty() {
            plan.settled.push(ObjectResult::new("secret scope", name, Outcome::Unchanged));
        } else {
            plan.actions.push(ScopeAction { scope: name.clone(), create, acls });
        }
        if backend != ScopeBackend::Databricks {
            continue;
        }
        let have_keys = have.map(|h| &h.keys);
        for (key, set_at) in &wanted.keys {
            let object = format!("{name}/{key}");
            let outcome = match have_keys.and_then(|k| k.get(key)) {
                None => Outcome::Blocked(format!(
                    "its value cannot be read through the API: provide it in the secondary \
                     (databricks secrets put-secret {name} {key})"
                )),
                Some(copied) => match (set_at, copied) {
                    (Some(changed), Some(copied)) if changed > copied => Outcome::Blocked(format!(
                        "set again in the source after the secondary's: provide the new value \
                         (databricks secrets put-secret {name} {key})"
                    )),
                    _ => Outcome::Unchanged,
                },
            };
            plan.settled.push(ObjectResult::new("secret", object, outcome));
        }
    }
    plan
}

/// Runs one action of the plan (idempotent: running it twice leaves the
/// target as running it once).
pub async fn run_scope_action(endpoints: Endpoints<'_>, action: ScopeAction) -> ObjectResult {
    let target = endpoints.target;
    let answer = async {
        let mut done = Vec::new();
        if let Some(backend) = &action.create {
            match target.client.create_secret_scope(target.token, &action.scope, backend).await {
                // Made by a retried request or someone else meanwhile.
                Ok(()) | Err(DatabricksError::AlreadyExists(_)) => done.push("created".to_string()),
                Err(error) => return Err(error),
            }
        }
        for (principal, permission) in &action.acls {
            target.client.put_secret_acl(target.token, &action.scope, principal, permission).await?;
        }
        if !action.acls.is_empty() {
            done.push(format!("{} ACL(s) set", action.acls.len()));
        }
        Ok(done.join(", "))
    }
    .await;
    finished("secret scope", action.scope.clone(), answer)
}

pub async fn apply_scopes(endpoints: Endpoints<'_>, plan: Plan<ScopeAction>) -> Vec<ObjectResult> {
    run_all(plan, |action| run_scope_action(endpoints, action)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const VAULT: &str = "/subscriptions/s/resourceGroups/p/providers/Microsoft.KeyVault/vaults/kv-primary";
    const VAULT_2: &str = "/subscriptions/s/resourceGroups/s/providers/Microsoft.KeyVault/vaults/kv-secondary";

    fn databricks(keys: &[(&str, i64)], acls: &[(&str, &str)]) -> ScopeState {
        ScopeState {
            backend: ScopeBackend::Databricks,
            keys: keys.iter().map(|(k, at)| (k.to_string(), Some(*at))).collect(),
            acls: Ok(acls.iter().map(|(p, l)| (p.to_string(), l.to_string())).collect()),
        }
    }

    fn key_vault(resource_id: &str) -> ScopeState {
        ScopeState {
            backend: ScopeBackend::AzureKeyVault { resource_id: resource_id.into(), dns_name: "https://v/".into() },
            keys: BTreeMap::new(),
            acls: Ok([("ops".to_string(), "READ".to_string())].into()),
        }
    }

    #[test]
    fn the_plan_lists_every_key_to_provide_and_sets_acls() {
        let source: Scopes = [(
            "etl".to_string(),
            databricks(
                &[("jdbc-password", 5), ("api-token", 5), ("rotated", 9)],
                &[("dr-operators", "MANAGE"), ("eng", "READ")],
            ),
        )]
        .into();
        let target: Scopes = [("etl".to_string(), databricks(&[("rotated", 7)], &[("dr-operators", "MANAGE")]))].into();
        let plan = plan_scopes(&source, &target, &VaultMap::default());
        assert_eq!(
            plan.actions,
            vec![ScopeAction { scope: "etl".into(), create: None, acls: vec![("eng".into(), "READ".into())] }]
        );
        let blocked: Vec<&str> = plan
            .settled
            .iter()
            .filter(|r| r.kind == "secret" && matches!(r.outcome, Outcome::Blocked(_)))
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(blocked, vec!["etl/api-token", "etl/jdbc-password", "etl/rotated"]);
        // A missing scope is created with its ACLs, and every key is to provide.
        let plan = plan_scopes(&source, &Scopes::new(), &VaultMap::default());
        assert_eq!(plan.actions[0].create, Some(ScopeBackend::Databricks));
        assert_eq!(plan.actions[0].acls.len(), 2);
        assert_eq!(plan.settled.len(), 3);
        // Once the keys are provided and the ACLs set, nothing is left to do.
        assert!(plan_scopes(&source, &source, &VaultMap::default()).actions.is_empty());
        assert!(plan_scopes(&source, &source, &VaultMap::default())
            .settled
            .iter()
            .all(|r| r.outcome == Outcome::Unchanged));
    }

    #[test]
    fn a_key_vault_scope_is_pointed_at_the_mapped_vault_or_reported() {
        let source: Scopes = [("kv".to_string(), key_vault(VAULT))].into();
        let none = plan_scopes(&source, &Scopes::new(), &VaultMap::default());
        assert!(none.actions.is_empty());
        assert!(matches!(&none.settled[0].outcome, Outcome::Blocked(why) if why.contains("kv-primary")));
        let vaults = VaultMap::new([(VAULT.to_uppercase(), VAULT_2.to_string(), "https://kv-secondary/".to_string())]);
        let plan = plan_scopes(&source, &Scopes::new(), &vaults);
        assert_eq!(
            plan.actions[0].create,
            Some(ScopeBackend::AzureKeyVault { resource_id: VAULT_2.into(), dns_name: "https://kv-secondary/".into() })
        );
        // A target scope on the primary's vault cannot be repointed: reported.
        let stale: Scopes = [("kv".to_string(), key_vault(VAULT))].into();
        let plan = plan_scopes(&source, &stale, &vaults);
        assert!(plan.actions.is_empty());
        assert!(matches!(&plan.settled[0].outcome, Outcome::Blocked(why) if why.contains("cannot change")));
    }
}
