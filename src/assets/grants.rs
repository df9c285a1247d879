//! Direct permissions on workspace objects (warehouses, cluster policies,
//! clusters, instance pools, folders, notebooks), copied beside their
//! definitions: what the source grants and the target's copy lacks is set
//! (Permissions API `PATCH`), principals mapped as the pair's mapping table
//! says (account identities are the same in both workspaces unless mapped).
//! Grants only the target has are kept; owners come with creating the object.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;

use super::mapping::AssetMapping;
use super::principals::{held_back, Principals};
use super::sides::{Endpoints, Side, READS};
use crate::databricks::permissions::ObjectGrant;
use crate::databricks::scim::PrincipalKind;
use crate::databricks::DatabricksError;

/// Direct grants by object id, per side (ids are the workspace's own: the
/// same id may name different objects on the two sides).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    pub source: BTreeMap<String, Vec<ObjectGrant>>,
    pub target: BTreeMap<String, Vec<ObjectGrant>>,
    /// Principals (as the target names them) the target does not have and
    /// the mapping does not map: their grants are left out ([`Grants::vet`]).
    pub absent: BTreeSet<String>,
}

impl Grants {
    /// The source object's grants (principals mapped) its copy lacks
    /// (`None`: a copy to be made), but those of absent principals.
    pub fn missing(&self, source_id: &str, target_id: Option<&str>, mapping: &AssetMapping) -> Vec<ObjectGrant> {
        let held = target_id.and_then(|id| self.target.get(id)).cloned().unwrap_or_default();
        self.mapped(source_id, mapping)
            .filter(|grant| !held.contains(grant) && !self.absent.contains(&grant.principal))
            .collect()
    }

    /// Why some of the source object's grants cannot be copied, if so.
    pub fn held_back(&self, source_id: &str, mapping: &AssetMapping) -> Option<String> {
        let absent = self.absent_of(source_id, mapping);
        held_back(&absent.iter().map(String::as_str).collect())
    }

    /// The absent principals the source object grants to.
    pub fn absent_of(&self, source_id: &str, mapping: &AssetMapping) -> BTreeSet<String> {
        self.mapped(source_id, mapping).map(|g| g.principal).filter(|p| self.absent.contains(p)).collect()
    }

    fn mapped<'a>(&'a self, source_id: &str, mapping: &'a AssetMapping) -> impl Iterator<Item = ObjectGrant> + 'a {
        self.source
            .get(source_id)
            .into_iter()
            .flatten()
            .map(|grant| ObjectGrant { principal: mapping.principal(&grant.principal), ..grant.clone() })
    }

    /// Notes which of the source's principals the target lacks (unmapped
    /// ones, looked up once per run).
    pub async fn vet(
        mut self,
        principals: &Principals,
        target: Side<'_>,
        mapping: &AssetMapping,
    ) -> Result<Grants, DatabricksError> {
        let wanted = self
            .source
            .values()
            .flatten()
            .map(|g| (PrincipalKind::from_field(&g.principal_field), g.principal.clone()));
        self.absent = principals.absent(target, mapping, wanted).await?;
        Ok(self)
    }
}

async fn read_side(
    side: Side<'_>,
    object_type: &str,
    ids: Vec<String>,
) -> Result<BTreeMap<String, Vec<ObjectGrant>>, DatabricksError> {
    let read: Vec<Result<(String, Vec<ObjectGrant>), DatabricksError>> = futures::stream::iter(ids)
        .map(|id| async move { side.client.object_grants(side.token, object_type, &id).await.map(|g| (id, g)) })
        .buffer_unordered(READS)
        .collect()
        .await;
    read.into_iter().collect()
}

/// Reads the grants of these objects of one type on each side.
pub async fn read_grants(
    endpoints: Endpoints<'_>,
    object_type: &str,
    source_ids: Vec<String>,
    target_ids: Vec<String>,
) -> Result<Grants, DatabricksError> {
    let (source, target) = futures::try_join!(
        read_side(endpoints.source, object_type, source_ids),
        read_side(endpoints.target, object_type, target_ids)
    )?;
    Ok(Grants { source, target, absent: BTreeSet::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_grants_the_copy_lacks_are_set_even_when_ids_coincide() {
        let grant = |who: &str, level: &str| ObjectGrant {
            principal_field: "group_name".into(),
            principal: who.into(),
            level: level.into(),
        };
        let grants = Grants {
            source: [("1".to_string(), vec![grant("a", "CAN_USE"), grant("b", "CAN_MANAGE")])].into(),
            target: [("1".to_string(), vec![grant("a", "CAN_USE"), grant("c", "CAN_USE")])].into(),
            ..Grants::default()
        };
        let none = AssetMapping::default();
        assert_eq!(grants.missing("1", Some("1"), &none), vec![grant("b", "CAN_MANAGE")]);
        assert_eq!(grants.missing("1", None, &none).len(), 2);
        assert!(grants.missing("unknown", Some("1"), &none).is_empty());
        // A mapped principal is granted under its secondary name.
        let mut mapping = AssetMapping::default();
        mapping.insert(crate::assets::mapping::MappingKind::Principal, "b", "c");
        assert_eq!(grants.missing("1", Some("1"), &mapping), vec![grant("c", "CAN_MANAGE")]);
        // A principal the target lacks is left out, and named.
        let absent = Grants { absent: ["b".to_string()].into(), ..grants };
        assert!(absent.missing("1", Some("1"), &none).is_empty());
        assert_eq!(
            absent.held_back("1", &none).as_deref(),
            Some("principal b has no mapping and no account in the secondary: copied without it")
        );
        assert_eq!(absent.held_back("1", &mapping), None, "mapped to one the target has");
    }
}
