//! How a Databricks SQL object (a query, a dashboard) names its warehouse
//! in the secondary: warehouse ids are the workspace's own, so the
//! primary's id maps through the pair's table when it has an entry (the
//! pair's own engine warehouses among them), and otherwise to the
//! secondary's warehouse of the same name, as the warehouses kind
//! ([`super::warehouse_defs`]) copies them by name. A warehouse that kind
//! creates in the same run is named, and found when the object is applied
//! (warehouses are applied in an earlier stage).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::mapping::{AssetMapping, MappingKind};
use super::sides::Side;
use crate::databricks::warehouses::DefinedWarehouse;
use crate::databricks::DatabricksError;

/// The secondary's warehouse for an object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarehouseRef {
    /// The secondary's warehouse, by id.
    Id(String),
    /// The secondary's warehouse of this name, which this run creates.
    Named(String),
}

impl WarehouseRef {
    /// The id, when known before applying.
    pub fn id(&self) -> Option<&str> {
        match self {
            WarehouseRef::Id(id) => Some(id),
            WarehouseRef::Named(_) => None,
        }
    }
}

/// Both sides' warehouses by name, read once for every object of a kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WarehouseNames {
    /// Primary id → name.
    source: BTreeMap<String, String>,
    /// Secondary name → id.
    target: BTreeMap<String, String>,
    /// Names the warehouses kind copies (the primary's, engines apart).
    copied: BTreeSet<String>,
}

impl WarehouseNames {
    /// From both sides' warehouses; `skip` are the pair's engine warehouses.
    pub fn new(source: &[DefinedWarehouse], target: &[DefinedWarehouse], skip: &BTreeSet<String>) -> WarehouseNames {
        WarehouseNames {
            source: source.iter().map(|w| (w.id.clone(), w.definition.name.clone())).collect(),
            target: target.iter().map(|w| (w.definition.name.clone(), w.id.clone())).collect(),
            copied: source.iter().filter(|w| !skip.contains(&w.id)).map(|w| w.definition.name.clone()).collect(),
        }
    }

    /// The name of the primary's warehouse `id`.
    pub fn name_of(&self, id: &str) -> Option<&str> {
        self.source.get(id).map(String::as_str)
    }

    /// The secondary's warehouse for the primary's `id`, or why there is none.
    pub fn target_of(&self, id: &str, mapping: &AssetMapping) -> Result<WarehouseRef, String> {
        if let Ok(mapped) = mapping.id(MappingKind::Warehouse, id) {
            return Ok(WarehouseRef::Id(mapped));
        }
        let Some(name) = self.source.get(id) else {
            return Err(format!("its SQL warehouse {id} is not in the primary"));
        };
        match (self.target.get(name), self.copied.contains(name)) {
            (Some(target), _) => Ok(WarehouseRef::Id(target.clone())),
            (None, true) => Ok(WarehouseRef::Named(name.clone())),
            (None, false) => Err(format!("its SQL warehouse {name} has no counterpart in the secondary")),
        }
    }
}

/// The id of `warehouse` in the target now; `Err` when it is still missing.
pub async fn resolve(target: Side<'_>, warehouse: &WarehouseRef) -> Result<Result<String, String>, DatabricksError> {
    match warehouse {
        WarehouseRef::Id(id) => Ok(Ok(id.clone())),
        WarehouseRef::Named(name) => {
            let warehouses = target.client.warehouse_definitions(target.token).await?;
            Ok(warehouses
                .into_iter()
                .find(|w| &w.definition.name == name)
                .map(|w| w.id)
                .ok_or_else(|| format!("its SQL warehouse {name} is not in the secondary")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::databricks::warehouses::WarehouseDefinition;

    fn warehouse(id: &str, name: &str) -> DefinedWarehouse {
        DefinedWarehouse {
            id: id.into(),
            state: "STOPPED".into(),
            definition: WarehouseDefinition { name: name.into(), ..Default::default() },
        }
    }

    #[test]
    fn ids_map_through_the_table_else_by_name_else_to_what_this_run_creates() {
        let source = [warehouse("p1", "BI"), warehouse("p2", "Ad hoc"), warehouse("engine", "drbot")];
        let target = [warehouse("s1", "BI")];
        let skip = BTreeSet::from(["engine".to_string()]);
        let names = WarehouseNames::new(&source, &target, &skip);
        let none = AssetMapping::default();
        assert_eq!(names.target_of("p1", &none), Ok(WarehouseRef::Id("s1".into())));
        assert_eq!(names.target_of("p2", &none), Ok(WarehouseRef::Named("Ad hoc".into())));
        assert_eq!(
            names.target_of("engine", &none),
            Err("its SQL warehouse drbot has no counterpart in the secondary".into())
        );
        assert_eq!(names.target_of("gone", &none), Err("its SQL warehouse gone is not in the primary".into()));
        let pair = AssetMapping::default().with_pair_warehouses(Some("engine"), Some("s-engine"));
        assert_eq!(names.target_of("engine", &pair), Ok(WarehouseRef::Id("s-engine".into())));
    }
}
