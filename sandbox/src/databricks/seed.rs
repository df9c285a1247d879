//! A seeded, realistic pair of metastores: the primary fully populated, the
//! secondary partly replicated so that there is drift to find.
//!
//! Same seed, same world (times are offsets from the `now_ms` given). The
//! primary has managed and external Delta tables, external Parquet and CSV
//! tables, views on views, external volumes, grants to users and groups and
//! varied owners. The secondary misses some objects, carries stale clones and
//! a few different grants, and has objects of its own.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::metastore::{
    Catalog, Column, Common, ExternalLocation, Metastore, Schema, StorageCredential, Table, Volume,
};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Seed {
    pub seed: u64,
    /// Tables and views in the primary, about.
    pub tables: usize,
    /// "Now", in epoch milliseconds: commit times are before it.
    pub now_ms: i64,
}

/// The managed volume with files the primary holds (`files.rs` seeds its
/// files): `<first schema of main>.documents`.
pub const MANAGED_VOLUME: &str = "documents";

/// A managed volume in `main`'s first schema, owned by the operators, made
/// after the random world so the rest of the seed stays as it was. The
/// secondary has none: replication creates it and copies its files.
fn add_managed_volume(primary: &mut Metastore, now_ms: i64) {
    let Some(schema) = primary.schemas.values().find(|s| s.catalog == "main").cloned() else { return };
    let volume = Volume {
        catalog: schema.catalog.clone(),
        schema: schema.name.clone(),
        name: MANAGED_VOLUME.into(),
        volume_type: "MANAGED".into(),
        storage_location: None,
        common: Common {
            owner: ADMIN_GROUP.into(),
            comment: Some("Files the sales team lands".into()),
            created_at: now_ms,
            updated_at: now_ms,
            ..Default::default()
        },
    };
    primary.volumes.insert(volume.full_name(), volume);
}

/// The group that administers both metastores.
pub const ADMIN_GROUP: &str = "dr-operators";

const CATALOG_NAMES: &[&str] = &[
    "main",
    "sales",
    "finance",
    "marketing",
    "supply_chain",
    "hr",
    "risk",
    "iot",
    "support",
    "research",
    "legal",
    "web",
];
const SCHEMA_WORDS: &[&str] =
    &["raw", "bronze", "silver", "gold", "staging", "curated", "reporting", "ml_features", "audit", "reference"];
const TABLE_WORDS: &[&str] = &[
    "orders",
    "customers",
    "invoices",
    "payments",
    "shipments",
    "events",
    "sessions",
    "devices",
    "readings",
    "tickets",
    "accounts",
    "ledger",
    "products",
    "prices",
    "stock",
    "suppliers",
    "employees",
    "contracts",
    "claims",
    "clicks",
];
const PRINCIPALS: &[&str] =
    &["dr-readers", "data-engineers", "analysts", "alice@contoso.example", "bob@contoso.example"];

/// The primary's storage accounts and what the secondary uses instead.
pub const LOCATION_MAPPING: &[(&str, &str)] = &[
    ("abfss://uc@stucprimary.dfs.core.windows.net/", "abfss://uc@stucsecondary.dfs.core.windows.net/"),
    ("abfss://external@stextprimary.dfs.core.windows.net/", "abfss://external@stextsecondary.dfs.core.windows.net/"),
    // Geo-redundant storage: the same account (its `-secondary` endpoint is
    // read-only; after a storage failover the account's own name serves the
    // secondary region).
    ("abfss://geo@stgeo.dfs.core.windows.net/", "abfss://geo@stgeo.dfs.core.windows.net/"),
];

/// Builds the (primary, secondary) pair.
pub fn generate(seed: &Seed) -> (Metastore, Metastore) {
    let mut rng = StdRng::seed_from_u64(seed.seed);
    let mut primary = metastore(&mut rng, "westeurope");
    let catalogs = (seed.tables / 1000 + 2).clamp(2, CATALOG_NAMES.len());
    let schemas_per_catalog = (seed.tables / (catalogs * 40)).clamp(2, 60);
    let tables_per_schema = seed.tables.div_ceil(catalogs * schemas_per_catalog).max(1);
    let mut made = 0;

    add_system_catalog(&mut primary, seed.now_ms);
    for catalog_name in &CATALOG_NAMES[..catalogs] {
        let catalog = Catalog {
            name: catalog_name.to_string(),
            catalog_type: "MANAGED_CATALOG".into(),
            storage_root: Some(format!("{}{catalog_name}", LOCATION_MAPPING[0].0)),
            provider_name: None,
            share_name: None,
            common: common(&mut rng, seed.now_ms, &[("USE_CATALOG", 0.9)]),
        };
        primary.catalogs.insert(catalog.name.clone(), catalog);
        for s in 0..schemas_per_catalog {
            let schema_name = format!("{}_{s:02}", SCHEMA_WORDS[s % SCHEMA_WORDS.len()]);
            let schema = Schema {
                catalog: catalog_name.to_string(),
                name: schema_name.clone(),
                storage_root: None,
                common: common(&mut rng, seed.now_ms, &[("USE_SCHEMA", 0.8)]),
            };
            primary.schemas.insert(schema.full_name(), schema);
            let mut in_schema: Vec<String> = Vec::new();
            for t in 0..tables_per_schema {
                if made >= seed.tables {
                    break;
                }
                made += 1;
                let name = format!("{}_{t:03}", TABLE_WORDS[t % TABLE_WORDS.len()]);
                let table = table(&mut rng, seed.now_ms, catalog_name, &schema_name, &name, &in_schema);
                in_schema.push(table.full_name());
                primary.tables.insert(table.full_name(), table);
            }
            if rng.gen_bool(0.3) {
                let volume = Volume {
                    catalog: catalog_name.to_string(),
                    schema: schema_name.clone(),
                    name: "landing".into(),
                    volume_type: "EXTERNAL".into(),
                    storage_location: Some(format!("{}{catalog_name}/{schema_name}/landing", LOCATION_MAPPING[2].0)),
                    common: common(&mut rng, seed.now_ms, &[("READ_VOLUME", 0.5)]),
                };
                primary.volumes.insert(volume.full_name(), volume);
            }
        }
    }
    grant_readers_the_main_catalog(&mut rng, &mut primary);
    let mut secondary = partly_replicated(&mut rng, &primary, seed.now_ms);
    // After the secondary was copied, so the secondary lacks it: metadata
    // a clone does not carry, for replication to set.
    add_metadata(&mut primary);
    add_managed_volume(&mut primary, seed.now_ms);
    add_storage_access(&mut primary, 0, seed.now_ms);
    add_storage_access(&mut secondary, 1, seed.now_ms);
    add_source_access(&mut secondary, seed.now_ms);
    (primary, secondary)
}

/// A few tags and comments on the primary (no randomness, so the rest of
/// the world is the same as without them): a tag on the first catalog, and
/// on the first managed Delta table of each of the first two schemas a
/// comment, a user table property, a tag, and a column with a comment and a
/// tag.
fn add_metadata(primary: &mut Metastore) {
    let Some(first) = primary.catalogs.keys().find(|c| *c != "system").cloned() else { return };
    if let Some(catalog) = primary.catalogs.get_mut(&first) {
        catalog.common.tags.insert("environment".into(), "production".into());
    }
    let mut chosen: Vec<String> = Vec::new();
    for table in primary.tables.values() {
        let schema = format!("{}.{}", table.catalog, table.schema);
        let managed_delta = table.table_type == "MANAGED" && table.data_source_format.as_deref() == Some("DELTA");
        if table.catalog == first && managed_delta && !chosen.iter().any(|t| t.starts_with(&format!("{schema}."))) {
            chosen.push(table.full_name());
        }
        if chosen.len() == 2 {
            break;
        }
    }
    for name in chosen {
        let Some(table) = primary.tables.get_mut(&name) else { continue };
        table.common.comment = Some(format!("{} as the business sees them", table.name));
        table.common.properties.insert("quality".into(), "gold".into());
        table.common.tags.insert("data_owner".into(), "finance".into());
        table.column_metadata.insert(
            "customer_email".into(),
            super::metastore::ColumnMetadata {
                comment: Some("who to write to".into()),
                tags: [("pii".to_string(), "email".to_string())].into(),
            },
        );
    }
}

/// What a correctly bootstrapped secondary also has: a read-only external
/// location on each primary prefix that replication reads by path (the
/// external Delta tables, deep-cloned from `delta.\`path\``), since the
/// clone runs on the secondary's metastore and needs READ FILES there. The
/// geo-replicated prefix maps to itself and is covered already.
fn add_source_access(secondary: &mut Metastore, now_ms: i64) {
    let credential = format!("uc-access-connector-{}", secondary.region);
    let common = Common { owner: ADMIN_GROUP.into(), created_at: now_ms, updated_at: now_ms, ..Default::default() };
    let name = "external_delta_primary".to_string();
    secondary.external_locations.insert(
        name.clone(),
        ExternalLocation {
            name,
            url: LOCATION_MAPPING[1].0.into(),
            credential_name: credential,
            read_only: true,
            common,
        },
    );
}

/// The access connector's credential and an external location per storage
/// prefix (`side` 0: the primary's prefixes, 1: the secondary's).
fn add_storage_access(metastore: &mut Metastore, side: usize, now_ms: i64) {
    let region = metastore.region.clone();
    let common = Common { owner: ADMIN_GROUP.into(), created_at: now_ms, updated_at: now_ms, ..Default::default() };
    let credential = format!("uc-access-connector-{region}");
    metastore.storage_credentials.insert(
        credential.clone(),
        StorageCredential {
            name: credential.clone(),
            access_connector_id: format!(
                "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-dr-{region}/providers/Microsoft.Databricks/accessConnectors/ac-uc-{region}"
            ),
            common: common.clone(),
        },
    );
    for (i, mapping) in LOCATION_MAPPING.iter().enumerate() {
        let url = if side == 0 { mapping.0 } else { mapping.1 };
        let name = ["uc_root", "external_delta", "geo_replicated"][i].to_string();
        metastore.external_locations.insert(
            name.clone(),
            ExternalLocation {
                name,
                url: url.into(),
                credential_name: credential.clone(),
                read_only: false,
                common: common.clone(),
            },
        );
    }
}

/// The readers' group may use `main`, half its schemas, and read about half the tables there:
/// a realistic reader who sees some things and not others.
fn grant_readers_the_main_catalog(rng: &mut StdRng, primary: &mut Metastore) {
    let grant = |common: &mut Common, privilege: &str| {
        common.grants.entry("dr-readers".into()).or_default().insert(privilege.into());
    };
    if let Some(main) = primary.catalogs.get_mut("main") {
        grant(&mut main.common, "USE_CATALOG");
    }
    let readable: Vec<String> =
        primary.schemas.values().filter(|s| s.catalog == "main").map(Schema::full_name).step_by(2).collect();
    for schema in &readable {
        if let Some(schema) = primary.schemas.get_mut(schema) {
            grant(&mut schema.common, "USE_SCHEMA");
        }
    }
    for table in primary.tables.values_mut().filter(|t| readable.contains(&format!("{}.{}", t.catalog, t.schema))) {
        if rng.gen_bool(0.5) {
            grant(&mut table.common, "SELECT");
        }
    }
}

fn metastore(rng: &mut StdRng, region: &str) -> Metastore {
    let id = uuid::Builder::from_random_bytes(rng.gen()).into_uuid().to_string();
    Metastore {
        global_id: format!("azure:{region}:{id}"),
        metastore_id: id,
        region: region.into(),
        admin_group: ADMIN_GROUP.into(),
        ..Default::default()
    }
}

fn add_system_catalog(metastore: &mut Metastore, now_ms: i64) {
    let mut grants = BTreeMap::new();
    grants.insert("account users".to_string(), BTreeSet::from(["USE_CATALOG".to_string()]));
    metastore.catalogs.insert(
        "system".into(),
        Catalog {
            name: "system".into(),
            catalog_type: "SYSTEM_CATALOG".into(),
            storage_root: None,
            provider_name: None,
            share_name: None,
            common: Common {
                owner: "System user".into(),
                created_at: now_ms,
                updated_at: now_ms,
                grants,
                ..Default::default()
            },
        },
    );
}

/// Owner and grants: each privilege granted to a random principal with the given probability.
fn common(rng: &mut StdRng, now_ms: i64, privileges: &[(&str, f64)]) -> Common {
    let owner = if rng.gen_bool(0.7) { ADMIN_GROUP } else { PRINCIPALS[rng.gen_range(1..PRINCIPALS.len())] };
    let mut grants: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (privilege, probability) in privileges {
        if rng.gen_bool(*probability) {
            let principal = PRINCIPALS.choose(rng).copied().unwrap_or("dr-readers");
            grants.entry(principal.to_string()).or_default().insert(privilege.to_string());
        }
    }
    let created_at = now_ms - rng.gen_range(30..400) * 86_400_000;
    Common {
        owner: owner.into(),
        comment: None,
        properties: BTreeMap::new(),
        created_at,
        updated_at: created_at,
        grants,
        tags: BTreeMap::new(),
    }
}

fn table(rng: &mut StdRng, now_ms: i64, catalog: &str, schema: &str, name: &str, earlier: &[String]) -> Table {
    let roll: f64 = rng.gen();
    let (table_type, format, location, view_definition, dependencies) = if roll < 0.55 || earlier.is_empty() {
        (
            "MANAGED",
            Some("DELTA"),
            Some(format!("{}{catalog}/__managed/{schema}/{name}", LOCATION_MAPPING[0].0)),
            None,
            Vec::new(),
        )
    } else if roll < 0.75 {
        (
            "EXTERNAL",
            Some("DELTA"),
            Some(format!("{}{catalog}/{schema}/{name}", LOCATION_MAPPING[1].0)),
            None,
            Vec::new(),
        )
    } else if roll < 0.85 {
        let format = if rng.gen_bool(0.5) { "PARQUET" } else { "CSV" };
        (
            "EXTERNAL",
            Some(format),
            Some(format!("{}{catalog}/{schema}/{name}", LOCATION_MAPPING[2].0)),
            None,
            Vec::new(),
        )
    } else {
        // A view on one or two earlier objects of the schema: chains form as views pick views.
        let count = rng.gen_range(1..=2.min(earlier.len()));
        let mut sources: Vec<String> = earlier.choose_multiple(rng, count).cloned().collect();
        sources.sort();
        let from = sources.iter().map(|s| format!("`{}`", s.replace('.', "`.`"))).collect::<Vec<_>>().join(" JOIN ");
        ("VIEW", None, None, Some(format!("SELECT * FROM {from}")), sources)
    };
    let delta_version = if format == Some("DELTA") { rng.gen_range(1..500) } else { 0 };
    let (columns, options) = files_schema(format);
    Table {
        catalog: catalog.into(),
        schema: schema.into(),
        name: name.into(),
        table_type: table_type.into(),
        data_source_format: format.map(str::to_string),
        storage_location: location,
        view_definition,
        view_dependencies: dependencies,
        view_functions: Vec::new(),
        columns,
        options,
        delta_version,
        last_commit_ms: now_ms - rng.gen_range(0..3 * 86_400_000),
        cloned_from: None,
        protection: Default::default(),
        constraints: Vec::new(),
        properties_commit: None,
        pipeline_id: None,
        column_metadata: Default::default(),
        common: common(rng, now_ms, &[("SELECT", 0.6), ("MODIFY", 0.1)]),
    }
}

/// The columns and format options of a seeded non-Delta external table
/// (no random draw, so the rest of the seed is unchanged): a CSV file set
/// with a header line and `;` as delimiter, a Parquet one partitioned by
/// region. Delta tables and views: none modelled.
fn files_schema(format: Option<&str>) -> (Vec<Column>, BTreeMap<String, String>) {
    let column = |name: &str, type_text: &str, partition_index: Option<usize>| Column {
        name: name.into(),
        type_text: type_text.into(),
        partition_index,
    };
    match format {
        Some("CSV") => (
            vec![column("id", "STRING", None), column("region", "STRING", None), column("amount", "STRING", None)],
            [("header".to_string(), "true".to_string()), ("delimiter".to_string(), ";".to_string())].into(),
        ),
        Some("PARQUET") => (
            vec![column("id", "BIGINT", None), column("amount", "DOUBLE", None), column("region", "STRING", Some(0))],
            BTreeMap::new(),
        ),
        _ => (Vec::new(), BTreeMap::new()),
    }
}

/// Maps a primary location to the secondary's.
pub fn map_location(location: &str) -> String {
    LOCATION_MAPPING
        .iter()
        .find_map(|(from, to)| location.strip_prefix(from).map(|rest| format!("{to}{rest}")))
        .unwrap_or_else(|| location.to_string())
}

/// The secondary as an earlier, imperfect replication left it.
fn partly_replicated(rng: &mut StdRng, primary: &Metastore, now_ms: i64) -> Metastore {
    let mut secondary = metastore(rng, "northeurope");
    add_system_catalog(&mut secondary, now_ms);
    let catalog_names: Vec<&String> = primary.catalogs.keys().filter(|c| *c != "system").collect();
    // The newest catalog was never replicated.
    let missing_catalog = catalog_names.last().map(|c| c.to_string());
    for (name, catalog) in &primary.catalogs {
        if name == "system" || Some(name) == missing_catalog.as_ref() {
            continue;
        }
        let mut copy = catalog.clone();
        copy.storage_root = copy.storage_root.as_deref().map(map_location);
        secondary.catalogs.insert(name.clone(), copy);
    }
    for (full_name, schema) in &primary.schemas {
        if secondary.catalogs.contains_key(&schema.catalog) && rng.gen_bool(0.9) {
            secondary.schemas.insert(full_name.clone(), schema.clone());
        }
    }
    for (full_name, table) in &primary.tables {
        if !secondary.schemas.contains_key(&format!("{}.{}", table.catalog, table.schema)) || !rng.gen_bool(0.85) {
            continue;
        }
        let mut copy = table.clone();
        copy.storage_location = copy.storage_location.as_deref().map(map_location);
        if copy.data_source_format.as_deref() == Some("DELTA") {
            // A deep clone of some earlier version of the primary.
            let behind = if rng.gen_bool(0.3) { rng.gen_range(1..20) } else { 0 };
            let copied = (table.delta_version - behind).max(1);
            copy.cloned_from = Some((full_name.clone(), copied));
            copy.delta_version = 1;
            copy.last_commit_ms = table.last_commit_ms - behind * 3_600_000;
        }
        if rng.gen_bool(0.1) {
            // Grants drifted: one dropped, or one added that the primary does not have.
            if let Some(principal) = copy.common.grants.keys().next().cloned() {
                copy.common.grants.remove(&principal);
            } else {
                copy.common.grants.entry("contractors".into()).or_default().insert("SELECT".into());
            }
        }
        secondary.tables.insert(full_name.clone(), copy);
    }
    for (full_name, volume) in &primary.volumes {
        if secondary.schemas.contains_key(&format!("{}.{}", volume.catalog, volume.schema)) && rng.gen_bool(0.7) {
            let mut copy = volume.clone();
            copy.storage_location = copy.storage_location.as_deref().map(map_location);
            secondary.volumes.insert(full_name.clone(), copy);
        }
    }
    // Objects only the secondary has: a forgotten scratch schema with a table.
    if let Some(first) = catalog_names.first() {
        let scratch = Schema {
            catalog: first.to_string(),
            name: "dr_scratch".into(),
            storage_root: None,
            common: Common { owner: ADMIN_GROUP.into(), created_at: now_ms, updated_at: now_ms, ..Default::default() },
        };
        let table = Table {
            catalog: first.to_string(),
            schema: "dr_scratch".into(),
            name: "restore_test".into(),
            table_type: "MANAGED".into(),
            data_source_format: Some("DELTA".into()),
            storage_location: None,
            view_definition: None,
            view_dependencies: Vec::new(),
            view_functions: Vec::new(),
            columns: Vec::new(),
            options: Default::default(),
            delta_version: 3,
            last_commit_ms: now_ms,
            cloned_from: None,
            protection: Default::default(),
            constraints: Vec::new(),
            properties_commit: None,
            pipeline_id: None,
            column_metadata: Default::default(),
            common: scratch.common.clone(),
        };
        secondary.tables.insert(table.full_name(), table);
        secondary.schemas.insert(scratch.full_name(), scratch);
    }
    secondary
}
