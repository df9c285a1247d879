"""With back-end private link the NSG needs no AzureDatabricks service-tag rules; requiring them would open the public path again."""

from checkov.arm.base_resource_value_check import BaseResourceValueCheck
from checkov.common.models.enums import CheckCategories


class DatabricksNoAzureDatabricksNsgRules(BaseResourceValueCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Databricks workspaces reach their control plane over private link only (requiredNsgRules is NoAzureDatabricksRules)",
            id="CKV_DRBOT_6",
            categories=(CheckCategories.NETWORKING,),
            supported_resources=("Microsoft.Databricks/workspaces",),
        )

    def get_inspected_key(self) -> str:
        return "properties/requiredNsgRules"

    def get_expected_values(self) -> list:
        return ["NoAzureDatabricksRules"]


check = DatabricksNoAzureDatabricksNsgRules()
