//! What a freeze may do beyond pausing jobs, when the pair's configuration
//! asks for it (`[failover.freeze.PAIR]`): stop the warehouses running on
//! the side being left, and revoke MODIFY on its replicated catalogs from
//! everyone but the DR group, so that nobody writes to the side that is
//! about to go stale. Both are shown on the runbook card before anything
//! runs, and both are undone on the promoted side: its warehouses started,
//! MODIFY granted again to those it was revoked from (a failback's freeze
//! and promotion do the same the other way, which restores the original
//! side's grants).
//!
//! Only grants made on the catalogs themselves are revoked: grants on
//! schemas and tables, ALL PRIVILEGES and the owners' rights are left as
//! they are, and the card says so (a grant of ALL PRIVILEGES on a catalog
//! is named in the findings: it still lets its holder write).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The optional parts of a pair's freeze.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FreezeOptions {
    /// Stop the warehouses running on the side left (drbot's own is kept:
    /// the final sync reads with it); the promoted side starts the same ones.
    pub stop_warehouses: bool,
    /// Revoke MODIFY granted on the replicated catalogs from every principal
    /// but this group (the DR team, which keeps writing rights); `None`: leave grants alone.
    pub revoke_modify_except: Option<String>,
}

/// The privileges one principal holds directly on one catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogGrant {
    pub catalog: String,
    pub principal: String,
    pub privileges: Vec<String>,
}

/// MODIFY revoked from these principals on this catalog (what promotion grants back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub catalog: String,
    pub principals: Vec<String>,
}

/// The revocations a freeze makes (by catalog, every principal holding
/// MODIFY but `kept`), and who holds ALL PRIVILEGES there (who can still
/// write), as `catalog: principal`.
pub fn revocations(grants: &[CatalogGrant], kept: &str) -> (Vec<Revoked>, Vec<String>) {
    let mut by_catalog: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut all = Vec::new();
    for grant in grants.iter().filter(|g| !g.principal.eq_ignore_ascii_case(kept)) {
        let holds = |privilege: &str| grant.privileges.iter().any(|p| p.replace(' ', "_") == privilege);
        if holds("MODIFY") {
            by_catalog.entry(&grant.catalog).or_default().push(grant.principal.clone());
        }
        if holds("ALL_PRIVILEGES") {
            all.push(format!("{}: {}", grant.catalog, grant.principal));
        }
    }
    let revoked = by_catalog
        .into_iter()
        .map(|(catalog, mut principals)| {
            principals.sort();
            Revoked { catalog: catalog.to_string(), principals }
        })
        .collect();
    (revoked, all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(catalog: &str, principal: &str, privileges: &[&str]) -> CatalogGrant {
        CatalogGrant {
            catalog: catalog.into(),
            principal: principal.into(),
            privileges: privileges.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn modify_is_revoked_from_everyone_but_the_dr_group_and_all_privileges_is_named() {
        let grants = [
            grant("sales", "analysts", &["USE_CATALOG", "MODIFY"]),
            grant("sales", "dr-operators", &["MODIFY"]),
            grant("sales", "etl@contoso.example", &["MODIFY", "SELECT"]),
            grant("finance", "readers", &["SELECT"]),
            grant("finance", "admins", &["ALL PRIVILEGES"]),
        ];
        let (revoked, all) = revocations(&grants, "DR-Operators");
        assert_eq!(
            revoked,
            [Revoked { catalog: "sales".into(), principals: vec!["analysts".into(), "etl@contoso.example".into()] }]
        );
        assert_eq!(all, ["finance: admins"]);
    }

    #[test]
    fn the_options_read_from_the_configuration_s_words() {
        let options: FreezeOptions =
            toml::from_str("stop_warehouses = true\nrevoke_modify_except = \"dr-operators\"").unwrap();
        assert!(options.stop_warehouses);
        assert_eq!(options.revoke_modify_except.as_deref(), Some("dr-operators"));
        assert_eq!(toml::from_str::<FreezeOptions>("").unwrap(), FreezeOptions::default());
        assert!(toml::from_str::<FreezeOptions>("stop = true").is_err());
    }
}
