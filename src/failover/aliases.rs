//! The names clients reach a pair by, moved to the promoted side by the
//! runbook's repoint step: a record in an Azure Private DNS zone (an A
//! record to a private endpoint's address, or a CNAME to a workspace's
//! host) with one value per side. Configured per pair under `[failover]`
//! (`[[failover.aliases.PAIR]]`); pure data here, the ARM call is at the
//! edge (`src/bot/failover_services.rs`).
//!
//! Nothing documents a Front Door, Traffic Manager or CNAME in front of a
//! workspace URL as supported by Databricks (the DR reference notes), so an
//! alias is for what the team's own clients resolve (a JDBC host, a BI
//! tool's server name) in their private network; the result card names the
//! clients that follow by themselves and what those that use a workspace's
//! own host must change.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::pairs::Side;

/// The record types an alias may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordKind {
    /// An IPv4 address per side (a private endpoint's).
    #[serde(rename = "A")]
    A,
    /// A host name per side (a workspace's, or its private link name).
    #[serde(rename = "CNAME")]
    Cname,
}

impl RecordKind {
    /// As ARM names the record type in a record set's path.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::A => "A",
            RecordKind::Cname => "CNAME",
        }
    }
}

fn default_ttl() -> u32 {
    60
}

/// One alias: a record set of a private DNS zone and its value on each side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsAlias {
    /// The zone's ARM id (`/subscriptions/…/providers/Microsoft.Network/privateDnsZones/NAME`).
    pub zone: String,
    /// The record set's name relative to the zone (`databricks`).
    pub name: String,
    #[serde(rename = "type")]
    pub kind: RecordKind,
    /// The value while the primary serves.
    pub primary: String,
    /// The value while the secondary serves.
    pub secondary: String,
    /// How long resolvers may cache it, in seconds: how long clients may
    /// still reach the side left after the move (default 60).
    #[serde(default = "default_ttl")]
    pub ttl: u32,
}

impl DnsAlias {
    /// The zone's name, the last segment of its id.
    pub fn zone_name(&self) -> &str {
        self.zone.trim_end_matches('/').rsplit('/').next().unwrap_or_default()
    }

    /// `databricks.corp.contoso.internal`.
    pub fn fqdn(&self) -> String {
        format!("{}.{}", self.name, self.zone_name())
    }

    /// What the record holds while `side` serves.
    pub fn value(&self, side: Side) -> &str {
        match side {
            Side::Primary => &self.primary,
            Side::Secondary => &self.secondary,
        }
    }

    /// What the repoint step does to it, for the runbook card.
    pub fn touches(&self, side: Side) -> String {
        format!("points {} ({}, TTL {} s) at {}", self.fqdn(), self.kind.as_str(), self.ttl, self.value(side))
    }

    /// Why the configured alias cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        let segments: Vec<&str> = self.zone.trim_start_matches('/').split('/').collect();
        let shaped = segments.len() == 8
            && segments[0].eq_ignore_ascii_case("subscriptions")
            && segments[2].eq_ignore_ascii_case("resourceGroups")
            && segments[4].eq_ignore_ascii_case("providers")
            && segments[5].eq_ignore_ascii_case("Microsoft.Network")
            && segments[6].eq_ignore_ascii_case("privateDnsZones")
            && segments.iter().all(|s| !s.is_empty());
        if !shaped || !self.zone.starts_with('/') {
            return Err(format!(
                "zone {:?} is not the ARM id of a private DNS zone \
                 (/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Network/privateDnsZones/ZONE)",
                self.zone
            ));
        }
        if !is_host(&self.name) {
            return Err(format!("name {:?} is not a record name relative to the zone", self.name));
        }
        for value in [&self.primary, &self.secondary] {
            match self.kind {
                RecordKind::A if value.parse::<Ipv4Addr>().is_err() => {
                    return Err(format!("{value:?} is not an IPv4 address (an A record's value)"));
                }
                RecordKind::Cname if !is_host(value.trim_end_matches('.')) => {
                    return Err(format!("{value:?} is not a host name (a CNAME record's value)"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Letters, digits, hyphens and underscores in dot-separated labels of at
/// most 63 characters, 253 in all.
fn is_host(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(kind: RecordKind, primary: &str, secondary: &str) -> DnsAlias {
        DnsAlias {
            zone: "/subscriptions/s/resourceGroups/rg-hub/providers/Microsoft.Network/privateDnsZones/corp.example"
                .into(),
            name: "databricks".into(),
            kind,
            primary: primary.into(),
            secondary: secondary.into(),
            ttl: 60,
        }
    }

    #[test]
    fn an_alias_names_its_record_and_holds_one_value_per_side() {
        let cname = alias(RecordKind::Cname, "adb-1.azuredatabricks.net", "adb-2.azuredatabricks.net");
        assert_eq!(cname.check(), Ok(()));
        assert_eq!(cname.fqdn(), "databricks.corp.example");
        assert_eq!(cname.value(Side::Secondary), "adb-2.azuredatabricks.net");
        assert_eq!(
            cname.touches(Side::Secondary),
            "points databricks.corp.example (CNAME, TTL 60 s) at adb-2.azuredatabricks.net"
        );
        assert_eq!(alias(RecordKind::A, "10.1.0.4", "10.2.0.4").check(), Ok(()));
    }

    #[test]
    fn an_alias_that_cannot_work_is_refused_with_the_reason() {
        let a_with_hosts = alias(RecordKind::A, "adb-1.example", "10.2.0.4");
        assert!(a_with_hosts.check().unwrap_err().contains("not an IPv4 address"));
        let cname_with_space = alias(RecordKind::Cname, "adb 1", "adb-2.example");
        assert!(cname_with_space.check().unwrap_err().contains("not a host name"));
        let mut wrong_zone = alias(RecordKind::A, "10.1.0.4", "10.2.0.4");
        wrong_zone.zone = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/dnsZones/corp.example".into();
        assert!(wrong_zone.check().unwrap_err().contains("not the ARM id of a private DNS zone"));
        let mut apex = alias(RecordKind::Cname, "a.example", "b.example");
        apex.name = "@".into();
        assert!(apex.check().is_err(), "a CNAME cannot sit at the zone's apex");
    }

    #[test]
    fn aliases_read_from_the_configuration_s_words() {
        let parsed: DnsAlias = toml::from_str(
            r#"
            zone = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/z.example"
            name = "sql"
            type = "A"
            primary = "10.1.0.4"
            secondary = "10.2.0.4"
            "#,
        )
        .unwrap();
        assert_eq!((parsed.kind, parsed.ttl), (RecordKind::A, 60));
        assert!(toml::from_str::<DnsAlias>(
            "zone = \"x\"\nname = \"a\"\ntype = \"MX\"\nprimary = \"a\"\nsecondary = \"b\""
        )
        .is_err());
    }
}
