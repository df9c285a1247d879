//! A DR pair: the unit every command works on.
//!
//! A pair is a primary and a secondary workspace, the SQL warehouse drbot
//! runs statements on, how storage locations map across, the Delta Sharing
//! names replication uses between the two, and which side is active. One bot
//! serves many pairs; they live in the store (`src/store/pairs.rs`), seeded from
//! `[[pairs]]` in the configuration and registered by `deploy spoke NAME`.
//!
//! The sharing names are derived from the pair's name here and nowhere else:
//! the deploy bootstrap creates the recipient under the same name the
//! replication planner later grants the shares to.

use serde::{Deserialize, Serialize};

/// The longest pair name (it becomes part of Unity Catalog names).
pub const MAX_PAIR_NAME: usize = 40;

/// The pair the old single-pair settings (`[databricks] primary_host` …) describe.
pub const DEFAULT_PAIR: &str = "default";

/// One DR pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    pub name: String,
    pub primary: PairWorkspace,
    pub secondary: PairWorkspace,
    /// The secondary's SQL warehouse that runs the clones and DDL.
    pub warehouse_id: Option<String>,
    /// The primary's SQL warehouse, for what drbot asks of the primary in
    /// SQL (tags, history, verify, the metastore id). A warehouse id names a
    /// warehouse in one workspace only; without one, those reads fall back
    /// to REST (or are reported unread).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_warehouse_id: Option<String>,
    /// Storage URL prefixes, `[primary, secondary]`; longest match wins.
    #[serde(default)]
    pub location_mapping: Vec<(String, String)>,
    pub sharing: SharingNames,
    /// Which side serves now; changed only by compare-and-set in the store.
    #[serde(default)]
    pub active: Side,
    /// The managed-DR failover group, when the pair has one.
    #[serde(default)]
    pub failover_group: Option<String>,
    /// The catalogs replicated when a command names none; empty: every
    /// managed catalog of the primary. A deployed spoke's pair has its own
    /// catalog: the region's metastore is shared with other spokes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub catalogs: Vec<String>,
    /// Alert when the worst table's RPO exceeds this many minutes (none: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_alert_minutes: Option<u32>,
    /// Who gets the pair's alerts in their activity feed too (Entra object
    /// ids or user principal names); the subscribed chats get them anyway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_users: Vec<String>,
    /// Teams whose members get the pair's alerts in their activity feed: a
    /// team's group id, or `GROUP_ID/CHANNEL_ID` for one channel's members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_teams: Vec<String>,
    /// Group chats whose members get the pair's alerts in their activity feed (chat ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_chats: Vec<String>,
}

/// Why a pair does not replicate from its primary now: it has failed over,
/// and the primary is stale until a failback brings the secondary's writes
/// back. Copying it over the active secondary would lose them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "pair {0} has failed over: the secondary serves and the primary is stale, so nothing replicates from the \
     primary until failback {0} (it copies the secondary's writes back first)"
)]
pub struct FailedOver(pub String);

impl Pair {
    /// `Err` while the pair serves from its secondary.
    pub fn replicates_from_primary(&self) -> Result<(), FailedOver> {
        match self.active {
            Side::Primary => Ok(()),
            Side::Secondary => Err(FailedOver(self.name.clone())),
        }
    }
}

/// One workspace of a pair.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairWorkspace {
    /// `https://adb-….azuredatabricks.net`.
    pub url: String,
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// The Azure region, e.g. `westeurope`.
    #[serde(default)]
    pub region: Option<String>,
    /// The Unity Catalog metastore the workspace is assigned to.
    #[serde(default)]
    pub metastore_id: Option<String>,
}

impl PairWorkspace {
    pub fn at(url: &str) -> PairWorkspace {
        PairWorkspace { url: url.to_string(), ..PairWorkspace::default() }
    }

    /// The host part of the URL, for cards.
    pub fn host(&self) -> String {
        url::Url::parse(&self.url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default()
    }
}

/// Which workspace of a pair: the one that serves, or the one a reading is of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    #[default]
    Primary,
    Secondary,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Primary => "primary",
            Side::Secondary => "secondary",
        }
    }

    pub fn parse(text: &str) -> Option<Side> {
        match text {
            "primary" => Some(Side::Primary),
            "secondary" => Some(Side::Secondary),
            _ => None,
        }
    }
}

/// The Delta Sharing names replication uses between a pair's workspaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharingNames {
    /// The recipient created on the primary for the secondary's metastore.
    pub recipient: String,
    /// A catalog's share is `{share_prefix}{catalog}`.
    pub share_prefix: String,
    /// The mounted catalog on the secondary is `{shared_catalog_prefix}{catalog}`.
    pub shared_catalog_prefix: String,
}

impl SharingNames {
    /// The names of pair `name` (hyphens become underscores, as in every
    /// Unity Catalog name drbot derives from a spoke). A pair named `drbot`
    /// gets the names single-pair drbot always used (`drbot_secondary`,
    /// `drbot_`, `drbot_shared_`).
    pub fn of_pair(name: &str) -> SharingNames {
        let base = name.replace('-', "_");
        SharingNames {
            recipient: format!("{base}_secondary"),
            share_prefix: format!("{base}_"),
            shared_catalog_prefix: format!("{base}_shared_"),
        }
    }
}

impl Pair {
    /// A pair with the derived sharing names, the primary active.
    pub fn new(name: &str, primary: PairWorkspace, secondary: PairWorkspace) -> Pair {
        Pair {
            name: name.to_string(),
            primary,
            secondary,
            warehouse_id: None,
            primary_warehouse_id: None,
            location_mapping: Vec::new(),
            sharing: SharingNames::of_pair(name),
            active: Side::Primary,
            failover_group: None,
            catalogs: Vec::new(),
            rpo_alert_minutes: None,
            alert_users: Vec::new(),
            alert_teams: Vec::new(),
            alert_chats: Vec::new(),
        }
    }

    /// Everything a pair must satisfy before it is stored: the name, both
    /// URLs, the warehouse id. The message names the field.
    pub fn validate(&self) -> Result<(), String> {
        check_name(&self.name)?;
        for (field, workspace) in [("primary", &self.primary), ("secondary", &self.secondary)] {
            check_url(&workspace.url).map_err(|problem| format!("{field}: {problem}"))?;
        }
        if self.primary.url.trim_end_matches('/') == self.secondary.url.trim_end_matches('/') {
            return Err("primary and secondary are the same workspace".into());
        }
        for (field, warehouse) in [("warehouse", &self.warehouse_id), ("primary_warehouse", &self.primary_warehouse_id)]
        {
            if let Some(warehouse) = warehouse {
                if warehouse.is_empty() || !warehouse.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(format!("{field}: '{}' is not a warehouse id", shorten(warehouse)));
                }
            }
        }
        Ok(())
    }

    /// The warehouse drbot runs statements on in `side`'s workspace.
    pub fn warehouse_of(&self, side: Side) -> Option<&str> {
        match side {
            Side::Primary => self.primary_warehouse_id.as_deref(),
            Side::Secondary => self.warehouse_id.as_deref(),
        }
    }
}

/// A pair name: a lowercase letter, then lowercase letters, digits, `_` or
/// `-`, at most [`MAX_PAIR_NAME`]. It becomes part of recipient, share and
/// catalog names, so it is a plain identifier (spoke names are a subset).
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let plain = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && name.len() <= MAX_PAIR_NAME;
    if plain {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not a pair name (a lowercase letter, then lowercase letters, digits, _ or -, at most {MAX_PAIR_NAME})",
            shorten(name)
        ))
    }
}

/// An http(s) URL with a host.
pub fn check_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("'{}' is not a URL ({e})", shorten(text)))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(format!("'{}' must be an http(s) URL", shorten(text)));
    }
    Ok(())
}

fn shorten(text: &str) -> String {
    text.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharing_names_derive_from_the_pair_name() {
        let names = SharingNames::of_pair("finance-eu");
        assert_eq!(names.recipient, "finance_eu_secondary");
        assert_eq!(names.share_prefix, "finance_eu_");
        assert_eq!(names.shared_catalog_prefix, "finance_eu_shared_");
        // The names single-pair drbot used are the pair `drbot`'s.
        assert_eq!(SharingNames::of_pair("drbot").recipient, "drbot_secondary");
    }

    #[test]
    fn pair_names_are_plain_identifiers() {
        for good in ["default", "finance", "finance-eu", "bu_2", "a"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Finance", "2nd", "-x", "a b", "a;drop", "a'b", "a.b", &"x".repeat(41)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_pair_is_checked_field_by_field() {
        let mut pair = Pair::new("p", PairWorkspace::at("https://a.example"), PairWorkspace::at("https://b.example"));
        assert!(pair.validate().is_ok());
        pair.warehouse_id = Some("abc'; --".into());
        assert!(pair.validate().unwrap_err().starts_with("warehouse:"));
        pair.warehouse_id = None;
        pair.primary_warehouse_id = Some("a b".into());
        assert!(pair.validate().unwrap_err().starts_with("primary_warehouse:"));
        pair.primary_warehouse_id = Some("0a1b".into());
        assert_eq!(pair.warehouse_of(Side::Primary), Some("0a1b"));
        pair.secondary.url = "ftp://b".into();
        assert!(pair.validate().unwrap_err().starts_with("secondary:"));
        pair.secondary.url = "https://a.example/".into();
        assert!(pair.validate().unwrap_err().contains("same workspace"));
    }
}
