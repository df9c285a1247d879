//! A small spoke template (NSG → VNet → workspace) whose outputs point at
//! the sandbox's two workspaces, so a deployment's Databricks bootstrap
//! runs too: shared by the chat deployment tests and the crash tests.

use std::path::Path;

use sandbox::Sandbox;
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
