"""Serverless compute reaches the workspace's storage only through the NCC's private endpoint rules.

The network connectivity configuration (NCC) is an account-level Databricks object, not an ARM
resource: the template cannot create it, but it must say which private endpoint rules the NCC
needs, so that the Databricks side of the deployment creates them. A template that deploys a
workspace and storage accounts must therefore output `nccPrivateEndpointRules` naming every
storage account it deploys; without the rule, serverless compute cannot read an account whose
public access is disabled.

checkov hands a check one resource; the outputs are elsewhere in the template, so the check
reads the template the workspace comes from (its path is in entity_path).
"""

import json
import os
import re

from checkov.arm.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult


def _template(entity_path):
    scanned = entity_path.split(":")[0]
    for candidate in (scanned, scanned.lstrip("/"), os.path.join(os.getcwd(), scanned.lstrip("/"))):
        if os.path.isfile(candidate):
            with open(candidate, encoding="utf-8") as handle:
                return json.load(handle)
    return None


def _names(expression):
    return set(re.findall(r"'([^']+)'", expression or "")) or {expression}


class DatabricksNccRules(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="A template deploying a workspace and storage outputs the NCC private endpoint rules serverless compute needs (nccPrivateEndpointRules)",
            id="CKV_DRBOT_9",
            categories=(CheckCategories.NETWORKING,),
            supported_resources=("Microsoft.Databricks/workspaces",),
        )

    def scan_resource_conf(self, conf):
        template = _template(getattr(self, "entity_path", ""))
        if template is None:
            return CheckResult.UNKNOWN
        accounts = [
            r for r in template.get("resources", []) if str(r.get("type", "")).lower() == "microsoft.storage/storageaccounts"
        ]
        if not accounts:
            return CheckResult.PASSED
        output = template.get("outputs", {}).get("nccPrivateEndpointRules")
        if output is None:
            return CheckResult.FAILED
        # The rules (and the variables they are built from) must name every account.
        text = json.dumps(output) + json.dumps(template.get("variables", {}))
        for account in accounts:
            if not any(name in text for name in _names(account.get("name"))):
                return CheckResult.FAILED
        return CheckResult.PASSED


check = DatabricksNccRules()
