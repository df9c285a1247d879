//! Subscriptions - List Locations (`GET /subscriptions/{id}/locations`, api-version
//! 2022-12-01): each region with `metadata.pairedRegion`, the region Azure pairs it with
//! (<https://learn.microsoft.com/rest/api/resources/subscriptions/list-locations>).
//! Geo-redundant storage copies to that paired region and nowhere else.

use reqwest::Method;

use super::{ArmClient, ArmError};
use crate::identity::AccessToken;

/// The api-version of the locations list.
pub const LOCATIONS_API_VERSION: &str = "2022-12-01";

impl ArmClient {
    /// The regions Azure pairs with `location` (empty when ARM does not list the region).
    pub async fn paired_regions(
        &self,
        token: &AccessToken,
        subscription_id: &str,
        location: &str,
    ) -> Result<Vec<String>, ArmError> {
        let url = format!(
            "{}/subscriptions/{subscription_id}/locations?api-version={LOCATIONS_API_VERSION}",
            self.base_url()
        );
        let response = self.request(Method::GET, &url, token, None).await?;
        let regions = response.body["value"].as_array().cloned().unwrap_or_default();
        let region = regions.iter().find(|r| r["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(location)));
        Ok(region
            .and_then(|r| r["metadata"]["pairedRegion"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str().map(str::to_string))
            .collect())
    }
}
