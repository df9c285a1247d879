//! Which principals the secondary lacks. A grant, an ACL entry, a job's
//! permissions or an owner names a principal; the pair's mapping table
//! renames it, and an unmapped one is taken to be the same account identity
//! in the secondary. When the secondary does not have it (no mapping, and
//! not assigned to that workspace), what names it cannot be copied: the
//! object is copied without it, and its item is reported blocked with the
//! principal named ([`held_back`]), not failed.
//!
//! Each principal is looked up once per run (SCIM, on the secondary) and
//! remembered for every kind that asks.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use parking_lot::Mutex;

use super::mapping::AssetMapping;
use super::sides::Side;
use crate::databricks::scim::PrincipalKind;
use crate::databricks::DatabricksError;

/// A principal as looked up: its kind (`None`: not known, as a secret ACL
/// names a principal; every kind its name may be is tried) and name.
pub type Principal = (Option<PrincipalKind>, String);

/// The groups every workspace has (its own, not the account's): never looked up.
const WORKSPACE_GROUPS: [&str; 2] = ["users", "admins"];

/// How many lookups run at once (Workspace SCIM reads are rate-limited).
const LOOKUPS: usize = 2;

/// The secondary's principals, as far as a run asked.
#[derive(Default)]
pub struct Principals {
    checked: Mutex<BTreeMap<Principal, bool>>,
}

impl Principals {
    /// Of the primary's `wanted` principals, the secondary's names (mapped)
    /// of those with no mapping that the secondary does not have.
    pub async fn absent(
        &self,
        target: Side<'_>,
        mapping: &AssetMapping,
        wanted: impl IntoIterator<Item = Principal>,
    ) -> Result<BTreeSet<String>, DatabricksError> {
        let unmapped: BTreeSet<Principal> = wanted
            .into_iter()
            .filter(|(_, name)| !mapping.maps_principal(name) && !WORKSPACE_GROUPS.contains(&name.as_str()))
            .collect();
        let unknown: Vec<Principal> = {
            let checked = self.checked.lock();
            unmapped.iter().filter(|p| !checked.contains_key(*p)).cloned().collect()
        };
        let looked_up: Vec<Result<(Principal, bool), DatabricksError>> = futures::stream::iter(unknown)
            .map(|(kind, name)| async move {
                let has = match kind {
                    Some(kind) => target.client.has_principal_of(target.token, kind, &name).await?,
                    None => target.client.has_principal(target.token, &name).await?,
                };
                Ok(((kind, name), has))
            })
            .buffer_unordered(LOOKUPS)
            .collect()
            .await;
        let mut checked = self.checked.lock();
        for found in looked_up {
            let (principal, has) = found?;
            checked.insert(principal, has);
        }
        Ok(unmapped.into_iter().filter(|p| checked.get(p) == Some(&false)).map(|(_, name)| name).collect())
    }
}

/// Why an item leaves these principals out, if it does.
pub fn held_back(absent: &BTreeSet<&str>) -> Option<String> {
    if absent.is_empty() {
        return None;
    }
    let names: Vec<&str> = absent.iter().copied().collect();
    let (noun, verb) = match names.len() {
        1 => ("principal", "has"),
        _ => ("principals", "have"),
    };
    Some(format!(
        "{noun} {} {verb} no mapping and no account in the secondary: copied without {}",
        names.join(", "),
        match names.len() {
            1 => "it",
            _ => "them",
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_names_every_principal_left_out() {
        assert_eq!(held_back(&BTreeSet::new()), None);
        assert_eq!(
            held_back(&BTreeSet::from(["analysts"])).unwrap(),
            "principal analysts has no mapping and no account in the secondary: copied without it"
        );
        assert!(held_back(&BTreeSet::from(["a", "b"])).unwrap().starts_with("principals a, b have no mapping"));
    }
}
