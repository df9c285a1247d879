//! Who a grant or an owner names on the secondary: the pair's principal
//! mapping, and the principals the secondary's metastore does not know.
//!
//! In Azure Databricks users, groups and service principals are the
//! account's, so a primary's principal is, by default, the same name on the
//! secondary. Where the two sides differ (another account or tenant, a
//! renamed group), the pair's mapping table says so (`drbot pair map PAIR
//! principal PRIMARY_NAME SECONDARY_NAME`, the table the workspace assets
//! use): every grant and owner replicated to the secondary names the mapped
//! principal, and the diff compares the primary's grants under those names.
//!
//! A grant to (or an owner change to) a principal the secondary's metastore
//! does not know fails there (`PRINCIPAL_DOES_NOT_EXIST`). When a read of the
//! secondary learned which principals it lacks ([`Snapshot::unknown_principals`],
//! from `principal_survey.rs`), each such grant or owner change is planned
//! blocked with its principal and what a person can do, and nothing else is
//! held back: the object itself, its other grants and its owner still go.
//! Revokes need no check: the secondary holds the grant, so it knows the
//! principal. Row filters and masks name functions, not principals.

use std::collections::BTreeSet;

use super::config::ReplicationConfig;
use super::model_info::ModelInfo;
use super::plan::BlockReason;
pub use super::principal_map::PrincipalMap;
use super::snapshot::{Common, Snapshot};

/// Every account user: Unity Catalog knows it on every metastore.
pub const ACCOUNT_USERS: &str = "account users";

/// Why `principal` (a name on the secondary) cannot be granted to or own
/// anything there, if the secondary's read found it unknown.
pub(crate) fn unknown_principal(
    secondary: &Snapshot,
    config: &ReplicationConfig,
    principal: &str,
) -> Option<BlockReason> {
    secondary.unknown_principals.contains(principal).then(|| BlockReason::UnknownPrincipal {
        principal: principal.to_string(),
        mapped_from: config.principals.source_of(principal).map(str::to_string),
    })
}

/// Every principal the primary's replicated objects name (owners and direct
/// grants of catalogs, schemas, tables, views, volumes, functions and
/// registered models), under its secondary name.
pub fn wanted_on_secondary(primary: &Snapshot, secondary: &Snapshot, config: &ReplicationConfig) -> BTreeSet<String> {
    let replicated =
        |catalog: &str, schema: &str| super::diff::is_replicated_schema(primary, secondary, config, catalog, schema);
    let mut names = BTreeSet::new();
    let mut add = |common: &Common| {
        let common = config.principals.common(common);
        names.extend(std::iter::once(common.owner).filter(|o| !o.is_empty()));
        names.extend(common.grants.into_keys());
    };
    for catalog in primary.catalogs.values() {
        let in_scope = primary.schemas.values().any(|s| s.catalog == catalog.name && replicated(&s.catalog, &s.name));
        if in_scope {
            add(&catalog.common);
        }
    }
    for schema in primary.schemas.values().filter(|s| replicated(&s.catalog, &s.name)) {
        add(&schema.common);
    }
    for table in primary.tables.values().filter(|t| replicated(&t.catalog, &t.schema)) {
        add(&table.common);
    }
    for volume in primary.volumes.values().filter(|v| replicated(&v.catalog, &v.schema)) {
        add(&volume.common);
    }
    for function in primary.functions.values().filter(|f| replicated(&f.catalog, &f.schema)) {
        add(&function.common);
    }
    for model in primary.models.values().filter(|m| replicated(&m.catalog, &m.schema)) {
        add(&model_common(model));
    }
    names
}

/// A registered model's owner and grants as a [`Common`].
pub fn model_common(model: &ModelInfo) -> Common {
    Common { owner: model.owner.clone(), grants: model.grants.clone(), ..Common::default() }
}

/// Every principal `snapshot`'s metastore is known to hold: those its
/// objects name (Unity Catalog accepted each), its reader and the reader's
/// groups, and `account users`.
pub fn named_by(snapshot: &Snapshot) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = [ACCOUNT_USERS.to_string()].into();
    if !snapshot.read_as.is_empty() {
        names.insert(snapshot.read_as.clone());
    }
    names.extend(snapshot.read_as_groups.iter().cloned());
    let mut add = |common: &Common| {
        names.insert(common.owner.clone());
        names.extend(common.grants.keys().cloned());
    };
    snapshot.catalogs.values().for_each(|c| add(&c.common));
    snapshot.schemas.values().for_each(|s| add(&s.common));
    snapshot.tables.values().for_each(|t| add(&t.common));
    snapshot.volumes.values().for_each(|v| add(&v.common));
    snapshot.functions.values().for_each(|f| add(&f.common));
    snapshot.models.values().for_each(|m| add(&model_common(m)));
    for location in snapshot.storage.iter().flat_map(|s| &s.locations) {
        names.insert(location.owner.clone());
        names.extend(location.grants.keys().cloned());
    }
    names.remove("");
    names
}

/// The principals whose existence on the secondary a read should ask
/// about: wanted there, and not already known to be there.
pub fn to_look_up(primary: &Snapshot, secondary: &Snapshot, config: &ReplicationConfig) -> BTreeSet<String> {
    let known = named_by(secondary);
    wanted_on_secondary(primary, secondary, config).into_iter().filter(|p| !known.contains(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::fixtures::*;
    use crate::replication::snapshot::CatalogKind;

    use crate::replication::snapshot::Grants;

    fn privileges(list: &[&str]) -> std::collections::BTreeSet<String> {
        list.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn grants_and_owners_take_their_secondary_names() {
        let map = PrincipalMap::new([("a@contoso.com", "a@fabrikam.com"), ("etl", "etl-dr")]);
        let grants: Grants = [
            ("a@contoso.com".to_string(), privileges(&["SELECT"])),
            ("etl".to_string(), privileges(&["MODIFY"])),
            ("etl-dr".to_string(), privileges(&["SELECT"])),
            ("bob".to_string(), privileges(&["SELECT"])),
        ]
        .into();
        let common = map.common(&Common { owner: "etl".into(), grants, ..Common::default() });
        assert_eq!(common.owner, "etl-dr");
        assert_eq!(common.grants["a@fabrikam.com"], privileges(&["SELECT"]));
        assert_eq!(common.grants["etl-dr"], privileges(&["MODIFY", "SELECT"]), "merged");
        assert_eq!(common.grants["bob"], privileges(&["SELECT"]), "unmapped: itself");
        assert!(!common.grants.contains_key("etl"));
        assert_eq!(map.source_of("etl-dr"), Some("etl"));
        assert_eq!(map.inverse().to_secondary("etl-dr"), "etl");
        assert_eq!(PrincipalMap::default().common(&common), common);
    }

    #[test]
    fn only_principals_the_secondary_does_not_already_name_are_looked_up() {
        let mut primary =
            empty(PRIMARY_ID).with_catalog(catalog("main", CatalogKind::Managed)).with_schema(schema("main", "s"));
        let mut table = managed("main.s.t", 1);
        table.common.owner = "owner@contoso.com".into();
        table.common.grants = [
            ("analysts".to_string(), privileges(&["SELECT"])),
            ("account users".to_string(), privileges(&["SELECT"])),
            ("a@contoso.com".to_string(), privileges(&["SELECT"])),
        ]
        .into();
        primary = primary.with_table(table);
        let mut other = managed("other.s.t", 1);
        other.common.owner = "out-of-scope".into();
        primary = primary.with_table(other);
        let mut secondary = empty(SECONDARY_ID).with_catalog(catalog("main", CatalogKind::Managed));
        secondary.catalogs.get_mut("main").unwrap().common.grants =
            [("analysts".to_string(), privileges(&["USE_CATALOG"]))].into();
        secondary.read_as = "owner@fabrikam.com".into();
        let mut config = config();
        config.principals = PrincipalMap::new([("owner@contoso.com", "owner@fabrikam.com")]);
        let asked: Vec<String> = to_look_up(&primary, &secondary, &config).into_iter().collect();
        assert_eq!(asked, vec!["a@contoso.com".to_string()]);
    }
}
