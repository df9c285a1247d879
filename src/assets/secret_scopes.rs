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
//! its source vault to (a `key_vault` row of the pair's mapping table,
//! [`VaultMap`]), or reported when none is mapped; its keys live in the
//! vault (Azure replicates or the team fills it), so they are not listed. A
//! scope's backend cannot be changed: a target scope on another backend or
//! vault is reported, never deleted. ACL principals are mapped as the pair
//! says.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::kind::{ApplyError, AssetContext, AssetKind, Stage};
use super::mapping::{AssetMapping, MappingKind};
use super::plan::{Change, PlanItem};
use super::principals::held_back;
use super::sides::{Side, READS};
use crate::databricks::secrets::ScopeBackend;
use crate::databricks::DatabricksError;

/// The item kinds of this kind: a scope, one of its keys, its ACLs.
pub const SCOPE: &str = "secret scope";
pub const SECRET: &str = "secret";
pub const ACL: &str = "secret ACL";

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

/// Source Key Vault resource id (compared case-insensitively) → the
/// target vault's resource id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VaultMap(BTreeMap<String, String>);

impl VaultMap {
    /// The pair's `key_vault` mappings.
    pub fn from_mapping(mapping: &AssetMapping) -> VaultMap {
        let rows = mapping.entries.get(&MappingKind::KeyVault).into_iter().flatten();
        VaultMap(rows.map(|(from, to)| (from.to_ascii_lowercase(), to.clone())).collect())
    }

    /// The target's backend for a source vault: the mapped vault, its DNS
    /// name the source's with the vault's name changed (the two regions of a
    /// pair are in one cloud, so the vault domain is the same).
    fn target_of(&self, source_vault: &str, source_dns: &str) -> Option<ScopeBackend> {
        let resource_id = self.0.get(&source_vault.to_ascii_lowercase())?;
        let name = vault_name(resource_id).to_ascii_lowercase();
        let (scheme, rest) = source_dns.split_once("://").unwrap_or(("https", source_dns));
        let domain = rest.split_once('.').map_or("vault.azure.net/", |(_, domain)| domain);
        Some(ScopeBackend::AzureKeyVault {
            resource_id: resource_id.clone(),
            dns_name: format!("{scheme}://{name}.{domain}"),
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
        .buffer_unordered(READS)
        .collect()
        .await;
    read.into_iter().collect()
}

/// What applying a scope item does (its payload): make the scope if
/// needed, then set ACLs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeAction {
    pub scope: String,
    pub create: Option<ScopeBackend>,
    /// Principal and permission to set.
    pub acls: Vec<(String, String)>,
}

impl ScopeAction {
    /// What it will do, for the plan a person reads first.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(ScopeBackend::AzureKeyVault { resource_id, .. }) = &self.create {
            parts.push(format!("on Key Vault {}", vault_name(resource_id)))
        }
        if !self.acls.is_empty() {
            let acls: Vec<String> = self.acls.iter().map(|(p, l)| format!("{p} {l}")).collect();
            parts.push(format!("set ACLs {}", acls.join(", ")));
        }
        parts.join("; ")
    }
}

/// Where the target's copy of a source scope must keep its secrets, or why
/// it cannot be made.
fn target_backend(source: &ScopeBackend, vaults: &VaultMap) -> Result<ScopeBackend, String> {
    match source {
        ScopeBackend::Databricks => Ok(ScopeBackend::Databricks),
        ScopeBackend::AzureKeyVault { resource_id, dns_name } => {
            vaults.target_of(resource_id, dns_name).ok_or_else(|| {
                format!(
                    "backed by Key Vault {}, and no secondary vault is configured for it on the pair",
                    vault_name(resource_id)
                )
            })
        }
    }
}

/// One item per source scope, per key of a Databricks-backed one (to
/// provide, or unchanged) and per scope whose ACLs cannot be read.
pub fn plan_scopes(source: &Scopes, target: &Scopes, vaults: &VaultMap, mapping: &AssetMapping) -> Vec<PlanItem> {
    plan_scopes_without(source, target, vaults, mapping, &BTreeSet::new())
}

/// The same, `absent` the principals the target lacks (unmapped ones):
/// their ACLs are left out, and the scope's item says so.
pub fn plan_scopes_without(
    source: &Scopes,
    target: &Scopes,
    vaults: &VaultMap,
    mapping: &AssetMapping,
    absent: &BTreeSet<String>,
) -> Vec<PlanItem> {
    let mut items = Vec::new();
    for (name, wanted) in source {
        let blocked = |kind: &str, reason: String| PlanItem::named(kind, name, Change::Blocked { reason });
        let backend = match target_backend(&wanted.backend, vaults) {
            Ok(backend) => backend,
            Err(why) => {
                items.push(blocked(SCOPE, why));
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
            items.push(blocked(SCOPE, format!("{why}; a scope's backend cannot change: re-create it by hand")));
            continue;
        }
        let mut acls = Vec::new();
        let mut left_out = BTreeSet::new();
        match &wanted.acls {
            Ok(wanted_acls) => {
                let have_acls = have.and_then(|h| h.acls.as_ref().ok());
                for (principal, permission) in wanted_acls {
                    let principal = mapping.principal(principal);
                    if absent.contains(&principal) {
                        left_out.insert(principal);
                    } else if have_acls.and_then(|a| a.get(&principal)) != Some(permission) {
                        acls.push((principal, permission.clone()));
                    }
                }
            }
            Err(why) => items.push(blocked(ACL, why.clone())),
        }
        let create = have.is_none().then(|| backend.clone());
        let change = match (&create, acls.is_empty()) {
            (Some(_), _) => Change::Create,
            (None, false) => Change::Update { fields: vec!["acls".into()] },
            (None, true) => Change::Unchanged,
        };
        let action = ScopeAction { scope: name.clone(), create, acls };
        let held_back = held_back(&left_out.iter().map(String::as_str).collect());
        items.push(
            match change {
                Change::Unchanged => PlanItem::named(SCOPE, name, change),
                _ => PlanItem::named(SCOPE, name, change).with_detail(action.describe()).with_payload(action),
            }
            .holding_back(held_back),
        );
        if backend != ScopeBackend::Databricks {
            continue;
        }
        let have_keys = have.map(|h| &h.keys);
        for (key, set_at) in &wanted.keys {
            let object = format!("{name}/{key}");
            let change = match have_keys.and_then(|k| k.get(key)) {
                None => Change::Blocked {
                    reason: format!(
                        "its value cannot be read through the API: provide it in the secondary \
                         (databricks secrets put-secret {name} {key})"
                    ),
                },
                Some(copied) => match (set_at, copied) {
                    (Some(changed), Some(copied)) if changed > copied => Change::Blocked {
                        reason: format!(
                            "set again in the source after the secondary's: provide the new value \
                             (databricks secrets put-secret {name} {key})"
                        ),
                    },
                    _ => Change::Unchanged,
                },
            };
            items.push(PlanItem::named(SECRET, &object, change));
        }
    }
    items
}

/// Applies one scope action (idempotent: applying it twice leaves the
/// target as applying it once).
async fn run(target: Side<'_>, action: &ScopeAction) -> Result<(), DatabricksError> {
    if let Some(backend) = &action.create {
        match target.client.create_secret_scope(target.token, &action.scope, backend).await {
            // Made by a retried request or someone else meanwhile.
            Ok(()) | Err(DatabricksError::AlreadyExists(_)) => {}
            Err(error) => return Err(error),
        }
    }
    for (principal, permission) in &action.acls {
        target.client.put_secret_acl(target.token, &action.scope, principal, permission).await?;
    }
    Ok(())
}

/// Secret scopes, their ACLs, and the keys to provide.
pub struct SecretScopes;

impl AssetKind for SecretScopes {
    fn name(&self) -> &'static str {
        SCOPE
    }

    fn owns(&self, item_kind: &str) -> bool {
        matches!(item_kind, SCOPE | SECRET | ACL)
    }

    fn stage(&self, _item: &PlanItem) -> Stage {
        Stage::Containers
    }

    fn plan<'a>(&'a self, ctx: &'a AssetContext<'a>) -> BoxFuture<'a, Result<Vec<PlanItem>, String>> {
        Box::pin(async move {
            let token = ctx.token(false).await?;
            let endpoints = ctx.endpoints(&token);
            let read = async {
                let source = read_scopes(endpoints.source, None).await?;
                let target = read_scopes(endpoints.target, Some(&source)).await?;
                Ok::<_, DatabricksError>((source, target))
            };
            let (source, target) = read.await.map_err(|e| e.to_string())?;
            let principals = source
                .values()
                .filter_map(|scope| scope.acls.as_ref().ok())
                .flat_map(|acls| acls.keys().map(|p| (None, p.clone())))
                .collect::<Vec<_>>();
            let absent =
                ctx.principals.absent(endpoints.target, &ctx.mapping, principals).await.map_err(|e| e.to_string())?;
            Ok(plan_scopes_without(&source, &target, &VaultMap::from_mapping(&ctx.mapping), &ctx.mapping, &absent))
        })
    }

    fn apply<'a>(&'a self, ctx: &'a AssetContext<'a>, item: &'a PlanItem) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(async move {
            let action: ScopeAction = item.payload_as().map_err(ApplyError::Failed)?;
            let action = &action;
            ctx.with_token(|token| async move { run(ctx.endpoints(&token).target, action).await }).await
        })
    }
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
            backend: ScopeBackend::AzureKeyVault {
                resource_id: resource_id.into(),
                dns_name: "https://kv-primary.vault.azure.net/".into(),
            },
            keys: BTreeMap::new(),
            acls: Ok([("ops".to_string(), "READ".to_string())].into()),
        }
    }

    fn actions(items: &[PlanItem]) -> Vec<ScopeAction> {
        items.iter().filter(|i| i.is_action()).map(|i| i.payload_as().unwrap()).collect()
    }

    fn blocked<'a>(items: &'a [PlanItem], kind: &str) -> Vec<&'a str> {
        items
            .iter()
            .filter(|i| i.kind == kind && matches!(i.change, Change::Blocked { .. }))
            .map(|i| i.name.as_str())
            .collect()
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
        let none = AssetMapping::default();
        let items = plan_scopes(&source, &target, &VaultMap::default(), &none);
        assert_eq!(
            actions(&items),
            vec![ScopeAction { scope: "etl".into(), create: None, acls: vec![("eng".into(), "READ".into())] }]
        );
        assert_eq!(blocked(&items, SECRET), vec!["etl/api-token", "etl/jdbc-password", "etl/rotated"]);
        // A missing scope is created with its ACLs, and every key is to provide.
        let items = plan_scopes(&source, &Scopes::new(), &VaultMap::default(), &none);
        let created = actions(&items);
        assert_eq!(created[0].create, Some(ScopeBackend::Databricks));
        assert_eq!(created[0].acls.len(), 2);
        assert_eq!(items.iter().filter(|i| !i.is_action()).count(), 3);
        // Once the keys are provided and the ACLs set, nothing is left to do.
        assert!(plan_scopes(&source, &source, &VaultMap::default(), &none)
            .iter()
            .all(|i| i.change == Change::Unchanged));
        // A mapped principal's ACL is set under its secondary name.
        let mut mapping = AssetMapping::default();
        mapping.insert(MappingKind::Principal, "eng", "engineering");
        let items = plan_scopes(&source, &target, &VaultMap::default(), &mapping);
        assert_eq!(actions(&items)[0].acls, vec![("engineering".to_string(), "READ".to_string())]);
    }

    #[test]
    fn a_key_vault_scope_is_pointed_at_the_mapped_vault_or_reported() {
        let source: Scopes = [("kv".to_string(), key_vault(VAULT))].into();
        let none = AssetMapping::default();
        let unmapped = plan_scopes(&source, &Scopes::new(), &VaultMap::default(), &none);
        assert!(actions(&unmapped).is_empty());
        assert!(matches!(&unmapped[0].change, Change::Blocked { reason } if reason.contains("kv-primary")));
        let mut mapping = AssetMapping::default();
        mapping.insert(MappingKind::KeyVault, &VAULT.to_uppercase(), VAULT_2);
        let vaults = VaultMap::from_mapping(&mapping);
        let items = plan_scopes(&source, &Scopes::new(), &vaults, &none);
        assert_eq!(
            actions(&items)[0].create,
            Some(ScopeBackend::AzureKeyVault {
                resource_id: VAULT_2.into(),
                dns_name: "https://kv-secondary.vault.azure.net/".into()
            })
        );
        assert_eq!(items[0].detail, "on Key Vault kv-secondary; set ACLs ops READ");
        // A target scope on the primary's vault cannot be repointed: reported.
        let stale: Scopes = [("kv".to_string(), key_vault(VAULT))].into();
        let items = plan_scopes(&source, &stale, &vaults, &none);
        assert!(actions(&items).is_empty());
        assert!(matches!(&items[0].change, Change::Blocked { reason } if reason.contains("cannot change")));
    }
}
