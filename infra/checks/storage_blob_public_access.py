"""checkov's ARM rules do not look at allowBlobPublicAccess, and a missing value means true on older API versions: require it written out as false."""

from checkov.arm.base_resource_value_check import BaseResourceValueCheck
from checkov.common.models.enums import CheckCategories


class StorageBlobPublicAccessDisabled(BaseResourceValueCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Storage accounts forbid anonymous blob access (allowBlobPublicAccess is false)",
            id="CKV_DRBOT_1",
            categories=(CheckCategories.NETWORKING,),
            supported_resources=("Microsoft.Storage/storageAccounts",),
        )

    def get_inspected_key(self) -> str:
        return "properties/allowBlobPublicAccess"

    def get_expected_values(self) -> list:
        return [False]


check = StorageBlobPublicAccessDisabled()
