"""Unity Catalog reaches storage through the access connector's Entra identity; an account key would bypass Unity Catalog's grants."""

from checkov.arm.base_resource_value_check import BaseResourceValueCheck
from checkov.common.models.enums import CheckCategories


class StorageSharedKeyDisabled(BaseResourceValueCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Storage accounts refuse shared keys (allowSharedKeyAccess is false)",
            id="CKV_DRBOT_7",
            categories=(CheckCategories.IAM,),
            supported_resources=("Microsoft.Storage/storageAccounts",),
        )

    def get_inspected_key(self) -> str:
        return "properties/allowSharedKeyAccess"

    def get_expected_values(self) -> list:
        return [False]


check = StorageSharedKeyDisabled()
