"""A purged CMK makes every workspace encrypted with it unreadable for good; Databricks requires purge protection on CMK vaults."""

from checkov.arm.base_resource_value_check import BaseResourceValueCheck
from checkov.common.models.enums import CheckCategories


class KeyVaultPurgeProtection(BaseResourceValueCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Key Vaults holding customer-managed keys have purge protection (enablePurgeProtection is true)",
            id="CKV_DRBOT_3",
            categories=(CheckCategories.BACKUP_AND_RECOVERY,),
            supported_resources=("Microsoft.KeyVault/vaults",),
        )

    def get_inspected_key(self) -> str:
        return "properties/enablePurgeProtection"

    def get_expected_values(self) -> list:
        return [True]


check = KeyVaultPurgeProtection()
