"""The secure DR pair is private end to end: the workspace's front end, the Unity Catalog data and the keys all sit behind private endpoints."""

from checkov.arm.base_resource_value_check import BaseResourceValueCheck
from checkov.common.models.enums import CheckCategories


class PublicNetworkAccessDisabled(BaseResourceValueCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Workspaces, storage accounts and vaults are reachable over private endpoints only (publicNetworkAccess is Disabled)",
            id="CKV_DRBOT_5",
            categories=(CheckCategories.NETWORKING,),
            supported_resources=("Microsoft.Databricks/workspaces", "Microsoft.Storage/storageAccounts", "Microsoft.KeyVault/vaults"),
        )

    def get_inspected_key(self) -> str:
        return "properties/publicNetworkAccess"

    def get_expected_values(self) -> list:
        return ["Disabled"]


check = PublicNetworkAccessDisabled()
