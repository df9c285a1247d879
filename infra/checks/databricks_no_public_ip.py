"""Cluster nodes get no public address: every way out goes through the hub firewall."""

from checkov.arm.base_resource_value_check import BaseResourceValueCheck
from checkov.common.models.enums import CheckCategories


class DatabricksNoPublicIp(BaseResourceValueCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Databricks workspaces use secure cluster connectivity (enableNoPublicIp is true)",
            id="CKV_DRBOT_4",
            categories=(CheckCategories.NETWORKING,),
            supported_resources=("Microsoft.Databricks/workspaces",),
        )

    def get_inspected_key(self) -> str:
        return "properties/parameters/enableNoPublicIp/value"

    def get_expected_values(self) -> list:
        return [True]


check = DatabricksNoPublicIp()
