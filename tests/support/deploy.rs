//! A small spoke template (NSG → VNet → workspace) whose outputs point at
//! the sandbox's two workspaces, so a deployment's Databricks bootstrap
//! runs too: shared by the chat deployment tests and the crash tests.

use std::path::Path;
use std::time::Duration;

use sandbox::Sandbox;

use super::World;
use serde_json::{json, Value};

pub const NSG: &str = "Microsoft.Network/networkSecurityGroups";
pub const VNET: &str = "Microsoft.Network/virtualNetworks";
pub const WORKSPACE: &str = "Microsoft.Databricks/workspaces";

/// A spoke of three resources (NSG → VNet → workspace) whose outputs point
/// at the sandbox's two workspaces, so the Databricks bootstrap runs too.
pub fn spoke_template() -> Value {
    let name = |prefix: &str| format!("[concat('{prefix}-', parameters('spokeName'), '-', parameters('drRole'))]");
    json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "location": {"type": "string"}, "spokeName": {"type": "string"}, "drRole": {"type": "string"},
            "workspaceUrl": {"type": "string"}, "workspaceId": {"type": "int"},
        },
        "resources": [
            {"type": WORKSPACE, "apiVersion": "2024-05-01", "name": name("dbw"),
             "dependsOn": [format!("[resourceId('{VNET}', concat('vnet-', parameters('spokeName'), '-', parameters('drRole')))]")],
             "properties": {}},
            {"type": VNET, "apiVersion": "2024-05-01", "name": name("vnet"),
             "dependsOn": [format!("[resourceId('{NSG}', concat('nsg-', parameters('spokeName'), '-', parameters('drRole')))]")],
             "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]}}},
            {"type": NSG, "apiVersion": "2024-05-01", "name": name("nsg"), "properties": {}},
        ],
        "outputs": {
            "workspaceUrl": {"type": "string", "value": "[parameters('workspaceUrl')]"},
            "workspaceId": {"type": "int", "value": "[parameters('workspaceId')]"},
            "accessConnectorId": {"type": "string", "value": format!("[concat('/subscriptions/{}/resourceGroups/rg-', parameters('spokeName'), '/providers/Microsoft.Databricks/accessConnectors/ac-', parameters('drRole'))]", sandbox::SANDBOX_SUBSCRIPTION_ID)},
            "ucStorageAccountName": {"type": "string", "value": "[concat('stuc', parameters('spokeName'), parameters('drRole'))]"},
            "externalStorageAccountName": {"type": "string", "value": "[concat('stext', parameters('spokeName'), parameters('drRole'))]"},
        },
    })
}

/// Writes `spoke.json` and a parameter file per region into `dir`.
pub fn write_spoke_templates(sandbox: &Sandbox, dir: &Path) {
    std::fs::write(dir.join("spoke.json"), spoke_template().to_string()).unwrap();
    for (role, workspace, url) in [
        ("primary", &sandbox.primary, sandbox.primary_url()),
        ("secondary", &sandbox.secondary, sandbox.secondary_url()),
    ] {
        let id = sandbox::databricks::assignment::workspace_id(workspace);
        let parameters = json!({"parameters": {"workspaceUrl": {"value": url}, "workspaceId": {"value": id}}});
        std::fs::write(dir.join(format!("spoke.parameters.{role}.json")), parameters.to_string()).unwrap();
    }
}

/// A bot deploying with the repository's own infra/ (hub.json, spoke.json,
/// parameters/), fast polling, and what Azure gives the hub firewalls and
/// the spoke `spoke`'s workspaces once they exist: the workspaces point at
/// the sandbox's two, so the Databricks bootstrap runs against them.
pub async fn real_infra_world(spoke: &str, adjust: impl FnOnce(&mut drbot::config::Config)) -> World {
    let infra = Path::new(env!("CARGO_MANIFEST_DIR")).join("infra");
    let world = World::start_with(|config| {
        config.deploy.templates_dir = infra;
        config.deploy.poll_interval_ms = 20;
        config.operations.card_update_interval_ms = 100;
        adjust(config);
    })
    .await;
    let arm = &world.sandbox.arm;
    arm.set_resource_duration(Duration::from_millis(2));
    for (location, hub, firewall_ip, workspace, url) in [
        ("westeurope", "hub-weu", "10.0.0.4", &world.sandbox.primary, world.sandbox.primary_url()),
        ("northeurope", "hub-neu", "10.128.0.4", &world.sandbox.secondary, world.sandbox.secondary_url()),
    ] {
        arm.set_runtime_properties(
            &format!("rg-drbot-hub-{location}"),
            "Microsoft.Network/azureFirewalls",
            &format!("{hub}-fw"),
            json!({"ipConfigurations": [{"properties": {"privateIPAddress": firewall_ip}}]}),
        );
        let id = sandbox::databricks::assignment::workspace_id(workspace);
        arm.set_runtime_properties(
            &format!("rg-drbot-{spoke}-{location}"),
            WORKSPACE,
            &format!("{spoke}-dbw"),
            json!({"workspaceUrl": url, "workspaceId": id}),
        );
    }
    world
}
