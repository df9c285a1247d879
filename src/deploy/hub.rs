//! A spoke's (and the transit spoke's) parameters that only the hub of its region knows: the
//! firewall's private address (the spoke's route and DNS server), the key
//! versions of the customer-managed keys, the hub's VNet (peering) and vault.
//!
//! They are read from the hub deployment drbot made (`drbot-hub-{role}`, in
//! the region's hub group), so a spoke always matches the hub as deployed,
//! not as a parameter file once described it. Names a hub does not output
//! (the vault) come from the hub's own parameter files.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::plan::{load_templates, resource_group, Plan, Role, Target};
use super::{DeployError, Tokens};
use crate::azure::{ArmClient, DeploymentRef, ProvisioningState};
use crate::identity::ARM_SCOPE;

/// The spoke parameters taken from the hub, when the spoke template declares them.
pub const HUB_DERIVED: [&str; 5] =
    ["firewallPrivateIp", "managedServicesKeyVersion", "managedDisksKeyVersion", "hubVnetName", "keyVaultName"];

/// The hub deployment of one region, by drbot's deterministic name.
pub fn hub_deployment(plan: &Plan, role: Role, hub_group: &str) -> DeploymentRef {
    DeploymentRef {
        subscription_id: plan.region(role).deployment.subscription_id.clone(),
        resource_group: hub_group.to_string(),
        name: format!("drbot-hub-{role}"),
    }
}

/// A string output ARM evaluated (the sandbox leaves `reference()` as written).
fn evaluated<'a>(outputs: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    outputs.get(name)?.as_str().map(str::trim).filter(|v| !v.is_empty() && !v.starts_with('['))
}

/// The spoke parameters a hub's outputs and parameter values give: the
/// VNet's name is the last segment of `hubVnetId` (else `{hubName}-vnet`),
/// the vault's is the first label of `keyVaultUri` (else `keyVaultName`).
pub fn hub_parameters(outputs: &Map<String, Value>, hub_files: &Map<String, Value>) -> Map<String, Value> {
    let mut values = Map::new();
    for name in ["firewallPrivateIp", "managedServicesKeyVersion", "managedDisksKeyVersion"] {
        if let Some(value) = evaluated(outputs, name) {
            values.insert(name.into(), json!(value));
        }
    }
    let vnet = evaluated(outputs, "hubVnetId")
        .and_then(|id| id.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .or_else(|| hub_files.get("hubName")?.as_str().map(|hub| format!("{hub}-vnet")));
    if let Some(vnet) = vnet {
        values.insert("hubVnetName".into(), json!(vnet));
    }
    let vault = evaluated(outputs, "keyVaultUri")
        .and_then(|uri| uri.strip_prefix("https://"))
        .and_then(|rest| rest.split('.').next())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .or_else(|| hub_files.get("keyVaultName")?.as_str().map(str::to_string));
    if let Some(vault) = vault {
        values.insert("keyVaultName".into(), json!(vault));
    }
    values
}

/// Fills a spoke plan's hub-derived parameters from each region's hub
/// deployment (over the parameter files' values). A plan that declares none
/// is left alone; a hub that is missing or not `Succeeded` is an error that
/// says to deploy the hub first.
pub async fn link_hub(
    client: &ArmClient,
    tokens: &impl Tokens,
    config: &super::DeployConfig,
    templates_dir: &Path,
    plan: &mut Plan,
) -> Result<(), DeployError> {
    if plan.target == Target::Hub {
        return Ok(());
    }
    let declared: Vec<String> =
        plan.template["parameters"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
    if !HUB_DERIVED.iter().any(|name| declared.iter().any(|d| d == name)) {
        return Ok(());
    }
    let hub_files = load_templates(templates_dir, &Target::Hub).map(|t| t.parameters).unwrap_or_default();
    let token = tokens.token(ARM_SCOPE).await?;
    for role in Role::BOTH {
        let region_config = match role {
            Role::Primary => &config.primary,
            Role::Secondary => &config.secondary,
        };
        let hub = hub_deployment(plan, role, &resource_group(region_config, &Target::Hub));
        let found =
            client.find_deployment(&token, &hub).await.map_err(|source| DeployError::Region { role, source })?;
        let deployment = found.ok_or_else(|| {
            DeployError::Invalid(format!(
                "no hub deployment {} in {} ({role} region): deploy hub first",
                hub.name, hub.resource_group
            ))
        })?;
        if *deployment.state() != ProvisioningState::Succeeded {
            return Err(DeployError::Invalid(format!(
                "the hub deployment {} in {} is {}: deploy hub first",
                hub.name,
                hub.resource_group,
                deployment.state()
            )));
        }
        let empty = Map::new();
        let values = hub_parameters(&deployment.output_values(), hub_files.get(&role).unwrap_or(&empty));
        let region = plan.regions.iter_mut().find(|r| r.role == role).expect("a plan has both regions");
        for (name, value) in values {
            if declared.contains(&name) {
                region.parameters.insert(name, value);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_outputs_become_spoke_parameters() {
        let outputs = json!({
            "hubVnetId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/hub-weu-vnet",
            "firewallPrivateIp": "10.0.0.4",
            "keyVaultUri": "https://kv-drbot-hub-weu.vault.azure.net/",
            "managedServicesKeyVersion": "abc",
            "managedDisksKeyVersion": "[last(split(reference('x').keyUriWithVersion, '/'))]",
        });
        let files = json!({"hubName": "other", "keyVaultName": "kv-other"});
        let values = hub_parameters(outputs.as_object().unwrap(), files.as_object().unwrap());
        assert_eq!(values["hubVnetName"], "hub-weu-vnet");
        assert_eq!(values["keyVaultName"], "kv-drbot-hub-weu");
        assert_eq!(values["firewallPrivateIp"], "10.0.0.4");
        assert_eq!(values["managedServicesKeyVersion"], "abc");
        assert!(!values.contains_key("managedDisksKeyVersion"), "an unevaluated expression is no value");
        let from_files = hub_parameters(&Map::new(), files.as_object().unwrap());
        assert_eq!(from_files["hubVnetName"], "other-vnet");
        assert_eq!(from_files["keyVaultName"], "kv-other");
        assert_eq!(from_files.len(), 2);
    }
}
