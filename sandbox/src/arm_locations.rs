//! `GET /subscriptions/{sub}/locations` (api-version 2022-12-01): the regions with their
//! `metadata.pairedRegion`, as Subscriptions - List Locations answers
//! (<https://learn.microsoft.com/rest/api/resources/subscriptions/list-locations>). Azure fixes
//! each region's pair, and geo-redundant storage copies to the pair and nowhere else
//! (<https://learn.microsoft.com/azure/reliability/cross-region-replication-azure>), so drbot
//! reads this before it deploys a DR pair whose external data relies on geo-replication.
//! The table holds the paired regions of Europe and North America the tests and demos use.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::arm::Arm;

/// The api-version the stand-in answers for the locations list.
pub const LOCATIONS_API_VERSIONS: &[&str] = &["2022-12-01"];

/// (name, display name, geography, paired region).
const REGIONS: &[(&str, &str, &str, &str)] = &[
    ("westeurope", "West Europe", "Europe", "northeurope"),
    ("northeurope", "North Europe", "Europe", "westeurope"),
    ("uksouth", "UK South", "United Kingdom", "ukwest"),
    ("ukwest", "UK West", "United Kingdom", "uksouth"),
    ("francecentral", "France Central", "France", "francesouth"),
    ("francesouth", "France South", "France", "francecentral"),
    ("germanywestcentral", "Germany West Central", "Germany", "germanynorth"),
    ("germanynorth", "Germany North", "Germany", "germanywestcentral"),
    ("swedencentral", "Sweden Central", "Sweden", "swedensouth"),
    ("swedensouth", "Sweden South", "Sweden", "swedencentral"),
    ("eastus", "East US", "United States", "westus"),
    ("westus", "West US", "United States", "eastus"),
    ("eastus2", "East US 2", "United States", "centralus"),
    ("centralus", "Central US", "United States", "eastus2"),
    ("canadacentral", "Canada Central", "Canada", "canadaeast"),
    ("canadaeast", "Canada East", "Canada", "canadacentral"),
];

/// The region Azure pairs with `location`, if the table knows it.
pub fn paired_region(location: &str) -> Option<&'static str> {
    REGIONS.iter().find(|(name, ..)| name.eq_ignore_ascii_case(location)).map(|(.., pair)| *pair)
}

pub(crate) async fn list_locations(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path(_sub): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refusal) = arm.caller_for(&headers, &query, LOCATIONS_API_VERSIONS) {
        return refusal;
    }
    let subscription = &arm.subscription_id;
    let value: Vec<Value> = REGIONS
        .iter()
        .map(|(name, display, geography, pair)| {
            json!({
                "id": format!("/subscriptions/{subscription}/locations/{name}"),
                "name": name,
                "type": "Region",
                "displayName": display,
                "regionalDisplayName": display,
                "metadata": {
                    "regionType": "Physical",
                    "regionCategory": "Recommended",
                    "geography": geography,
                    "pairedRegion": [{"name": pair, "id": format!("/subscriptions/{subscription}/locations/{pair}")}],
                },
            })
        })
        .collect();
    Json(json!({ "value": value })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_is_mutual() {
        for (name, ..) in REGIONS {
            let pair = paired_region(name).expect("listed");
            assert_eq!(paired_region(pair), Some(*name), "{name} and {pair}");
        }
        assert_eq!(paired_region("WestEurope"), Some("northeurope"));
        assert_eq!(paired_region("atlantis"), None);
    }
}
