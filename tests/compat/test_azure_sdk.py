"""The official Azure SDK (azure-mgmt-resource), unchanged, against the sandbox's ARM.

Driven by tests/compat_arm.rs: ARM_ENDPOINT, ARM_TOKEN (an Entra token for
https://management.azure.com), SUBSCRIPTION_ID. azure-core refuses bearer tokens
over plain HTTP unless a call passes enforce_https=False, which every call here does.
"""
import os
import time

from azure.core.credentials import AccessToken
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.resource.resources.models import Deployment, DeploymentProperties, DeploymentWhatIf, DeploymentWhatIfProperties

PLAIN_HTTP = {"enforce_https": False}


class StaticToken:
    def get_token(self, *scopes, **kwargs):
        return AccessToken(os.environ["ARM_TOKEN"], int(time.time()) + 3600)


def client():
    return ResourceManagementClient(
        StaticToken(), os.environ["SUBSCRIPTION_ID"], base_url=os.environ["ARM_ENDPOINT"],
        credential_scopes=["https://management.azure.com/.default"],
    )


TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "resources": [
        {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2024-05-01", "name": "nsg-compat", "properties": {}},
        {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2024-05-01", "name": "vnet-compat",
         "dependsOn": ["[resourceId('Microsoft.Network/networkSecurityGroups', 'nsg-compat')]"], "properties": {}},
    ],
}


def test_what_if_then_deploy_then_operations():
    c = client()
    what_if = c.deployments.begin_what_if(
        "rg-compat", "compat", DeploymentWhatIf(properties=DeploymentWhatIfProperties(mode="Incremental", template=TEMPLATE)),
        polling_interval=0, **PLAIN_HTTP,
    ).result()
    assert [change.change_type for change in what_if.changes] == ["Create", "Create"]
    poller = c.deployments.begin_create_or_update(
        "rg-compat", "compat", Deployment(properties=DeploymentProperties(mode="Incremental", template=TEMPLATE)),
        polling_interval=0, **PLAIN_HTTP,
    )
    deployment = poller.result()
    assert deployment.properties.provisioning_state == "Succeeded"
    operations = list(c.deployment_operations.list("rg-compat", "compat", **PLAIN_HTTP))
    assert sorted(o.properties.target_resource.resource_name for o in operations) == ["nsg-compat", "vnet-compat"]
    assert all(o.properties.provisioning_state == "Succeeded" for o in operations)
