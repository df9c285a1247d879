//! Small builders for snapshots in tests (diff, planner, model, properties).

use super::config::ReplicationConfig;
use super::mapping::LocationMapping;
use super::snapshot::{
    CatalogInfo, CatalogKind, ColumnDef, Common, DeltaState, FunctionInfo, SchemaInfo, Snapshot, TableInfo, TableKind,
    VolumeInfo,
};

pub const UC_PRIMARY: &str = "abfss://uc@primary.dfs.core.windows.net/";
pub const UC_SECONDARY: &str = "abfss://uc@secondary.dfs.core.windows.net/";
pub const EXT_PRIMARY: &str = "abfss://ext@primary.dfs.core.windows.net/";
pub const EXT_SECONDARY: &str = "abfss://ext@secondary.dfs.core.windows.net/";
pub const PRIMARY_ID: &str = "azure:westeurope:11111111-1111-1111-1111-111111111111";
pub const SECONDARY_ID: &str = "azure:northeurope:22222222-2222-2222-2222-222222222222";

pub fn mapping() -> LocationMapping {
    LocationMapping::new([(UC_PRIMARY, UC_SECONDARY), (EXT_PRIMARY, EXT_SECONDARY)])
}

pub fn config() -> ReplicationConfig {
    ReplicationConfig::new(mapping())
}

pub fn common(owner: &str) -> Common {
    Common { owner: owner.into(), ..Common::default() }
}

pub fn empty(id: &str) -> Snapshot {
    Snapshot { global_metastore_id: id.into(), ..Snapshot::default() }
}

pub fn catalog(name: &str, kind: CatalogKind) -> CatalogInfo {
    CatalogInfo {
        name: name.into(),
        kind,
        storage_root: Some(format!("{UC_PRIMARY}{name}")),
        provider_name: None,
        share_name: None,
        common: common("dr-operators"),
    }
}

pub fn schema(catalog: &str, name: &str) -> SchemaInfo {
    SchemaInfo { catalog: catalog.into(), name: name.into(), storage_root: None, common: common("dr-operators") }
}

fn table(full: &str, kind: TableKind) -> TableInfo {
    let parts: Vec<&str> = full.split('.').collect();
    TableInfo {
        catalog: parts[0].into(),
        schema: parts[1].into(),
        name: parts[2].into(),
        kind,
        format: None,
        storage_location: None,
        view_definition: None,
        view_dependencies: Vec::new(),
        delta: None,
        protection: Default::default(),
        columns: Vec::new(),
        format_options: None,
        pipeline_id: None,
        column_metadata: Default::default(),
        constraints: Vec::new(),
        common: common("dr-operators"),
    }
}

pub fn managed(full: &str, commit_ms: i64) -> TableInfo {
    TableInfo {
        format: Some("DELTA".into()),
        storage_location: Some(format!("{UC_PRIMARY}__managed/{full}")),
        delta: Some(DeltaState { version: 3, last_commit_ms: commit_ms }),
        ..table(full, TableKind::Managed)
    }
}

pub fn external_delta(full: &str, commit_ms: i64) -> TableInfo {
    TableInfo {
        format: Some("DELTA".into()),
        storage_location: Some(format!("{EXT_PRIMARY}{}", full.replace('.', "/"))),
        delta: Some(DeltaState { version: 7, last_commit_ms: commit_ms }),
        ..table(full, TableKind::External)
    }
}

/// A non-Delta external table with its definition read: two columns (the
/// second a partition column), and for CSV a header and a delimiter.
pub fn external(full: &str, format: &str) -> TableInfo {
    let options = if format.eq_ignore_ascii_case("CSV") {
        [("header".to_string(), "true".to_string()), ("delimiter".to_string(), ";".to_string())].into()
    } else {
        Default::default()
    };
    TableInfo {
        format: Some(format.into()),
        storage_location: Some(format!("{EXT_PRIMARY}{}", full.replace('.', "/"))),
        columns: vec![
            ColumnDef { name: "id".into(), type_text: "bigint".into(), partition_index: None },
            ColumnDef { name: "region".into(), type_text: "string".into(), partition_index: Some(0) },
        ],
        format_options: Some(options),
        ..table(full, TableKind::External)
    }
}

pub fn view(full: &str, dependencies: &[&str]) -> TableInfo {
    let from = dependencies
        .iter()
        .map(|d| format!("`{}`", d.replace('`', "``").replace('.', "`.`")))
        .collect::<Vec<_>>()
        .join(" JOIN ");
    TableInfo {
        view_definition: Some(format!("SELECT * FROM {from}")),
        view_dependencies: dependencies.iter().map(|d| d.to_string()).collect(),
        ..table(full, TableKind::View)
    }
}

/// A SQL function of one `STRING` parameter `x` returning `BOOLEAN`, which
/// calls the functions in `calls` (full names) on `x`.
pub fn function(full: &str, calls: &[&str]) -> FunctionInfo {
    let parts: Vec<&str> = full.split('.').collect();
    let quoted =
        |name: &str| name.split('.').map(|p| format!("`{}`", p.replace('`', "``"))).collect::<Vec<_>>().join(".");
    let body = if calls.is_empty() {
        "x = 'a'".to_string()
    } else {
        calls.iter().map(|c| format!("{}(x)", quoted(c))).collect::<Vec<_>>().join(" AND ")
    };
    FunctionInfo {
        catalog: parts[0].into(),
        schema: parts[1].into(),
        name: parts[2].into(),
        language: "SQL".into(),
        parameters: vec![("x".into(), "STRING".into())],
        returns: "BOOLEAN".into(),
        body,
        dependencies: calls.iter().map(|c| c.to_string()).collect(),
        common: Common { owner: "alice".into(), ..Default::default() },
    }
}

pub fn external_volume(full: &str) -> VolumeInfo {
    let parts: Vec<&str> = full.split('.').collect();
    VolumeInfo {
        catalog: parts[0].into(),
        schema: parts[1].into(),
        name: parts[2].into(),
        volume_type: "EXTERNAL".into(),
        storage_location: Some(format!("{EXT_PRIMARY}volumes/{}", full.replace('.', "/"))),
        common: common("dr-operators"),
    }
}

/// Adding objects to a snapshot by value, so a world reads as a list.
pub trait Build {
    fn with_catalog(self, catalog: CatalogInfo) -> Self;
    fn with_schema(self, schema: SchemaInfo) -> Self;
    fn with_table(self, table: TableInfo) -> Self;
    fn with_volume(self, volume: VolumeInfo) -> Self;
    fn with_function(self, function: FunctionInfo) -> Self;
}

impl Build for Snapshot {
    fn with_catalog(mut self, catalog: CatalogInfo) -> Self {
        self.catalogs.insert(catalog.name.clone(), catalog);
        self
    }
    fn with_schema(mut self, schema: SchemaInfo) -> Self {
        self.schemas.insert(schema.full_name(), schema);
        self
    }
    fn with_function(mut self, function: FunctionInfo) -> Self {
        self.functions.insert(function.full_name(), function);
        self
    }

    fn with_table(mut self, table: TableInfo) -> Self {
        self.tables.insert(table.full_name(), table);
        self
    }
    fn with_volume(mut self, volume: VolumeInfo) -> Self {
        self.volumes.insert(volume.full_name(), volume);
        self
    }
}

/// The secondary's faithful copy of a primary table (mapped location, a
/// clone committed when the primary last did).
pub fn replica_of(table: &TableInfo) -> TableInfo {
    let mut copy = table.clone();
    match copy.kind {
        TableKind::Managed => copy.storage_location = None,
        _ => copy.storage_location = copy.storage_location.as_deref().and_then(|l| mapping().to_secondary(l)),
    }
    copy
}

pub fn replica_of_volume(volume: &VolumeInfo) -> VolumeInfo {
    let mut copy = volume.clone();
    copy.storage_location = copy.storage_location.as_deref().and_then(|l| mapping().to_secondary(l));
    copy
}

pub fn replica_of_catalog(catalog: &CatalogInfo) -> CatalogInfo {
    let mut copy = catalog.clone();
    copy.storage_root = copy.storage_root.as_deref().and_then(|l| mapping().to_secondary(l));
    copy
}

/// A primary key named `name` on `columns`.
pub fn pk(name: &str, columns: &[&str]) -> super::constraints::Constraint {
    super::constraints::Constraint {
        name: name.into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        key: super::constraints::Key::Primary,
        rely: false,
    }
}

/// A foreign key named `name` on `columns`, referencing `parent` (`parent_columns`).
pub fn fk(name: &str, columns: &[&str], parent: &str, parent_columns: &[&str]) -> super::constraints::Constraint {
    super::constraints::Constraint {
        key: super::constraints::Key::Foreign {
            parent_table: parent.into(),
            parent_columns: parent_columns.iter().map(|c| c.to_string()).collect(),
        },
        ..pk(name, columns)
    }
}
