//! The replication settings of the configuration, turned into what the
//! domain takes: the planner's configuration, the reader's and the runner's
//! options. One place, so chat, the CLI and scheduled posts plan alike.

use std::time::Duration;

use crate::config::ReplicationSettings;
use crate::pairs::{Pair, Side};
use crate::replication::execute::Limits;
use crate::replication::mapping::LocationMapping;
use crate::replication::read::{ReadFilter, ReadOptions};
use crate::replication::run::RunOptions;
use crate::replication::ReplicationConfig;

impl ReplicationSettings {
    /// These settings for one pair: its warehouse, its location mapping and
    /// its sharing names; the limits and timeouts stay the bot's.
    pub fn for_pair(&self, pair: &Pair) -> ReplicationSettings {
        ReplicationSettings {
            warehouse_id: pair.warehouse_id.clone(),
            primary_warehouse_id: pair.primary_warehouse_id.clone(),
            location_mapping: pair.location_mapping.clone(),
            recipient_name: pair.sharing.recipient.clone(),
            share_prefix: pair.sharing.share_prefix.clone(),
            shared_catalog_prefix: pair.sharing.shared_catalog_prefix.clone(),
            catalogs: pair.catalogs.clone(),
            ..self.clone()
        }
    }

    /// What to replicate and under which names; `catalog` narrows it to one
    /// (otherwise the pair's catalogs, or every managed catalog).
    pub fn replication_config(&self, catalog: Option<&str>) -> ReplicationConfig {
        let mut config = ReplicationConfig::new(LocationMapping::new(self.location_mapping.iter().cloned()));
        config.catalogs = match catalog {
            Some(c) => Some([c.to_string()].into_iter().collect()),
            None if !self.catalogs.is_empty() => Some(self.catalogs.iter().cloned().collect()),
            None => None,
        };
        config.recipient_name = self.recipient_name.clone();
        config.share_prefix = self.share_prefix.clone();
        config.shared_catalog_prefix = self.shared_catalog_prefix.clone();
        config.share_owner = self.dr_group.clone().filter(|g| !g.trim().is_empty());
        config
    }

    /// The one catalog a read can be narrowed to: the one asked for, or the
    /// pair's only catalog.
    fn read_catalog(&self, catalog: Option<&str>) -> Option<String> {
        match (catalog, self.catalogs.as_slice()) {
            (Some(c), _) => Some(c.to_string()),
            (None, [only]) => Some(only.clone()),
            _ => None,
        }
    }

    /// The warehouse drbot runs statements on in `side`'s workspace.
    pub fn warehouse_of(&self, side: Side) -> Option<String> {
        match side {
            Side::Primary => self.primary_warehouse_id.clone(),
            Side::Secondary => self.warehouse_id.clone(),
        }
    }

    /// How `side`'s metastore is read, on that workspace's warehouse (the
    /// catalog filter only narrows the objects; the sharing state is always
    /// read whole).
    pub fn read_options(&self, catalog: Option<&str>, side: Side) -> ReadOptions {
        ReadOptions {
            filter: ReadFilter { catalog: self.read_catalog(catalog), schema_pattern: None },
            // A read is mostly waiting on the workspace (one list per schema;
            // one grants call per object when the warehouse is stopped).
            concurrency: self.read_concurrency.max(1),
            warehouse_id: self.warehouse_of(side),
            statement_timeout: Duration::from_secs(self.statement_timeout_secs.min(300)),
            bulk: true,
            view_dependencies: true,
            shared_permits: None,
        }
    }

    /// How each side is read (`[primary, secondary]`), each on its own warehouse.
    pub fn read_options_per_side(&self, catalog: Option<&str>) -> [ReadOptions; 2] {
        [self.read_options(catalog, Side::Primary), self.read_options(catalog, Side::Secondary)]
    }

    /// How `verify` reads: on each side's warehouse, as many tables at once
    /// as a replication keeps statements, each statement within the
    /// statement timeout; with `deep`, rows hashed up to the size limit.
    /// `Err` names the side that has no warehouse: verify asks both in SQL.
    pub fn verify_settings(&self, deep: bool) -> Result<crate::verify::run::Settings, Side> {
        let warehouse = |side: Side| self.warehouse_of(side).filter(|id| !id.is_empty()).ok_or(side);
        Ok(crate::verify::run::Settings {
            warehouses: [warehouse(Side::Primary)?, warehouse(Side::Secondary)?],
            concurrency: self.concurrency.max(1),
            statement_timeout: Duration::from_secs(self.statement_timeout_secs),
            deep: deep.then_some(crate::verify::judge::Deep { max_bytes: self.verify_deep_max_bytes }),
        })
    }

    /// How a plan runs: the warehouse's concurrency, deadlines and budgets.
    pub fn run_options(&self) -> RunOptions {
        RunOptions {
            limits: Limits { warehouse: self.concurrency, api: self.api_concurrency },
            statement_timeout: Duration::from_secs(self.statement_timeout_secs),
            action_budget: Duration::from_secs(self.action_budget_secs),
            ..RunOptions::default()
        }
    }
}
