"""Unity Catalog and external data travel over HTTPS; older TLS versions are refused at the account."""

from checkov.arm.base_resource_value_check import BaseResourceValueCheck
from checkov.common.models.enums import CheckCategories


class StorageMinimumTls12(BaseResourceValueCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Storage accounts accept TLS 1.2 or newer only (minimumTlsVersion is TLS1_2)",
            id="CKV_DRBOT_2",
            categories=(CheckCategories.ENCRYPTION,),
            supported_resources=("Microsoft.Storage/storageAccounts",),
        )

    def get_inspected_key(self) -> str:
        return "properties/minimumTlsVersion"

    def get_expected_values(self) -> list:
        return ["TLS1_2", "TLS1_3"]


check = StorageMinimumTls12()
