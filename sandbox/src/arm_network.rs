//! What the network resource provider refuses when a deployment writes a resource, beyond
//! template validation:
//!
//! - **The network intent policy of VNet-injected workspaces.** Once a workspace is injected
//!   into a VNet, its delegated subnets carry a network intent policy that adds the rules
//!   `Microsoft.Databricks-workspaces_UseOnly_databricks-worker-to-worker-inbound` and
//!   `…-outbound` (priority 100, any protocol and port, VirtualNetwork to VirtualNetwork) to
//!   the subnets' network security group, and nobody may delete or change them
//!   (<https://learn.microsoft.com/azure/databricks/security/network/classic/harden-nsg-rule-100>:
//!   "it also adds the following incoming and outbound rules with priority 100"; Databricks'
//!   own account of the delegation: "You do not have permission to update or delete these NSG
//!   rules; any attempt to do so is blocked by the subnet delegation",
//!   <https://community.databricks.com/t5/data-engineering/how-azure-databricks-manages-network-security-group-rules/td-p/21874>).
//!   A redeploy whose NSG body lacks them asks to delete them, and the write fails with
//!   `ConflictWithNetworkIntentPolicy`. Only these two rules are modelled: they are the ones
//!   every VNet-injected workspace gets; the control-plane rules `requiredNsgRules: AllRules`
//!   adds are not (drbot's templates use `NoAzureDatabricksRules`).
//! - **A private endpoint's DNS zone group names zones that exist.** A zone group that points
//!   at a private DNS zone nobody deployed fails with `InvalidResourceReference`, the network
//!   provider's answer to any id that does not resolve; a zone in another resource group (the
//!   hub's) is found there, so a spoke's endpoint in one region registers in its own region's
//!   hub zones.

use std::collections::HashMap;

use serde_json::Value;

/// The rules the network intent policy adds to a VNet-injected workspace's NSG.
pub const INTENT_POLICY_RULES: [(&str, &str); 2] = [
    ("Microsoft.Databricks-workspaces_UseOnly_databricks-worker-to-worker-inbound", "Inbound"),
    ("Microsoft.Databricks-workspaces_UseOnly_databricks-worker-to-worker-outbound", "Outbound"),
];

const WORKSPACES: &str = "/providers/microsoft.databricks/workspaces/";

/// Which of `planned` (id, type, properties) the provider refuses, by index, with ARM's
/// error code and message; `existing` is what the subscription already holds (id → properties).
pub fn refusals(
    existing: &HashMap<String, Value>,
    planned: &[(String, String, Value)],
) -> Vec<(usize, (String, String))> {
    let guarded = guarded_nsgs(existing, planned);
    let mut refused = Vec::new();
    for (i, (id, kind, properties)) in planned.iter().enumerate() {
        if kind.eq_ignore_ascii_case("Microsoft.Network/networkSecurityGroups")
            && guarded.contains(&id.to_ascii_lowercase())
        {
            if let Some(missing) = missing_intent_rule(properties) {
                let message = format!(
                    "Security rule {missing} of network security group {id} is part of the network intent policy of the subnets delegated to Microsoft.Databricks/workspaces; the request would delete or change it. Rules of a network intent policy cannot be deleted or modified."
                );
                refused.push((i, ("ConflictWithNetworkIntentPolicy".to_string(), message)));
            }
        }
        if kind.eq_ignore_ascii_case("Microsoft.Network/privateEndpoints/privateDnsZoneGroups") {
            for zone in zone_ids(properties) {
                let known = existing.keys().any(|k| k.eq_ignore_ascii_case(&zone))
                    || planned.iter().any(|(other, _, _)| other.eq_ignore_ascii_case(&zone));
                if !known {
                    let message = format!(
                        "Resource {zone} referenced by resource {id} was not found. Please make sure that the referenced resource exists."
                    );
                    refused.push((i, ("InvalidResourceReference".to_string(), message)));
                    break;
                }
            }
        }
    }
    refused
}

/// Ids (lowercase) of the NSGs on the delegated subnets of workspaces that already exist:
/// the ones whose subnets carry the intent policy.
fn guarded_nsgs(existing: &HashMap<String, Value>, planned: &[(String, String, Value)]) -> Vec<String> {
    let vnet = |id: &str| -> Option<Value> {
        planned
            .iter()
            .find(|(p, _, _)| p.eq_ignore_ascii_case(id))
            .map(|(_, _, properties)| properties.clone())
            .or_else(|| existing.iter().find(|(k, _)| k.eq_ignore_ascii_case(id)).map(|(_, v)| v.clone()))
    };
    let mut nsgs = Vec::new();
    for (id, workspace) in existing {
        if !id.to_ascii_lowercase().contains(WORKSPACES) {
            continue;
        }
        let parameters = &workspace["parameters"];
        let Some(vnet_id) = parameters["customVirtualNetworkId"]["value"].as_str() else { continue };
        let Some(vnet) = vnet(vnet_id) else { continue };
        for subnet_parameter in ["customPublicSubnetName", "customPrivateSubnetName"] {
            let Some(subnet_name) = parameters[subnet_parameter]["value"].as_str() else { continue };
            let subnets = vnet["subnets"].as_array().cloned().unwrap_or_default();
            let subnet = subnets.iter().find(|s| s["name"].as_str() == Some(subnet_name));
            if let Some(nsg) = subnet.and_then(|s| s["properties"]["networkSecurityGroup"]["id"].as_str()) {
                nsgs.push(nsg.to_ascii_lowercase());
            }
        }
    }
    nsgs
}

/// The first intent-policy rule the NSG body does not carry as the policy wrote it.
fn missing_intent_rule(nsg: &Value) -> Option<&'static str> {
    let rules = nsg["securityRules"].as_array().cloned().unwrap_or_default();
    INTENT_POLICY_RULES.into_iter().map(|(name, _)| name).find(|name| {
        let direction = INTENT_POLICY_RULES.iter().find(|(n, _)| n == name).map(|(_, d)| *d).unwrap_or_default();
        !rules.iter().any(|rule| {
            let p = &rule["properties"];
            rule["name"].as_str() == Some(*name)
                && p["access"] == "Allow"
                && p["direction"] == direction
                && p["priority"] == 100
                && p["protocol"] == "*"
                && p["sourceAddressPrefix"] == "VirtualNetwork"
                && p["destinationAddressPrefix"] == "VirtualNetwork"
                && p["sourcePortRange"] == "*"
                && p["destinationPortRange"] == "*"
        })
    })
}

/// The zones a private endpoint's DNS zone group points at (evaluated ids only).
fn zone_ids(zone_group: &Value) -> Vec<String> {
    zone_group["privateDnsZoneConfigs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["properties"]["privateDnsZoneId"].as_str())
        .filter(|id| id.starts_with('/'))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VNET: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v";
    const NSG: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n";

    fn rule(name: &str, direction: &str) -> Value {
        json!({"name": name, "properties": {"protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*",
            "sourceAddressPrefix": "VirtualNetwork", "destinationAddressPrefix": "VirtualNetwork",
            "access": "Allow", "priority": 100, "direction": direction}})
    }

    /// A subscription holding a VNet-injected workspace whose subnets carry the NSG.
    fn injected() -> HashMap<String, Value> {
        let subnet = |name: &str| json!({"name": name, "properties": {"networkSecurityGroup": {"id": NSG}}});
        HashMap::from([
            (VNET.to_string(), json!({"subnets": [subnet("host"), subnet("container")]})),
            (
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w".to_string(),
                json!({"parameters": {"customVirtualNetworkId": {"value": VNET},
                    "customPublicSubnetName": {"value": "host"}, "customPrivateSubnetName": {"value": "container"}}}),
            ),
        ])
    }

    #[test]
    fn an_nsg_that_drops_the_intent_policys_rules_conflicts_once_the_workspace_exists() {
        let kind = "Microsoft.Network/networkSecurityGroups".to_string();
        let without = vec![(NSG.to_string(), kind.clone(), json!({"securityRules": []}))];
        let refused = refusals(&injected(), &without);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].1 .0, "ConflictWithNetworkIntentPolicy");
        // Changing a rule is deleting it too.
        let mut changed = rule(INTENT_POLICY_RULES[0].0, "Inbound");
        changed["properties"]["priority"] = json!(101);
        let with_changed = vec![(
            NSG.to_string(),
            kind.clone(),
            json!({"securityRules": [changed, rule(INTENT_POLICY_RULES[1].0, "Outbound")]}),
        )];
        assert_eq!(refusals(&injected(), &with_changed).len(), 1);
        let with = vec![(
            NSG.to_string(),
            kind.clone(),
            json!({"securityRules": [rule(INTENT_POLICY_RULES[0].0, "Inbound"), rule(INTENT_POLICY_RULES[1].0, "Outbound")]}),
        )];
        assert!(refusals(&injected(), &with).is_empty());
        // Before the workspace exists there is no policy yet.
        assert!(refusals(&HashMap::new(), &without).is_empty());
    }

    #[test]
    fn a_zone_group_needs_its_zone_deployed_or_in_the_same_deployment() {
        let zone = "/subscriptions/s/resourceGroups/hub/providers/Microsoft.Network/privateDnsZones/privatelink.dfs.core.windows.net";
        let group = (
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe/privateDnsZoneGroups/default".to_string(),
            "Microsoft.Network/privateEndpoints/privateDnsZoneGroups".to_string(),
            json!({"privateDnsZoneConfigs": [{"name": "dfs", "properties": {"privateDnsZoneId": zone}}]}),
        );
        let refused = refusals(&HashMap::new(), std::slice::from_ref(&group));
        assert_eq!(refused[0].1 .0, "InvalidResourceReference");
        let deployed = HashMap::from([(zone.to_string(), json!({}))]);
        assert!(refusals(&deployed, std::slice::from_ref(&group)).is_empty());
        let together = vec![(zone.to_string(), "Microsoft.Network/privateDnsZones".to_string(), json!({})), group];
        assert!(refusals(&HashMap::new(), &together).is_empty());
    }
}
