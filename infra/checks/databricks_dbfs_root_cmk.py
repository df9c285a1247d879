"""The DBFS root (the workspace's storage account) is encrypted with a customer-managed key.

The key can only be set once the workspace's storage account exists and its identity holds the
key (prepareEncryption makes that identity). A template therefore sets it either on the
workspace itself (`parameters.encryption`, keySource Microsoft.Keyvault) or in a nested
deployment of the same template that PUTs the same workspace again with that parameter, after
the grant. checkov reads only the outer resource, so for the second form the check reads the
template the workspace comes from (entity_path) and looks for that nested deployment.
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


def _resolve(text, variables):
    """variables('x') replaced by what x holds, as checkov shows resource names."""
    text = str(text or "")
    for _ in range(8):
        match = re.search(r"variables\('([^']+)'\)", text)
        if not match:
            break
        value = variables.get(match.group(1), "")
        inner = value[1:-1] if isinstance(value, str) and value.startswith("[") else "'%s'" % value
        text = text[: match.start()] + inner + text[match.end() :]
    return text


def _keyvault(encryption):
    value = (encryption or {}).get("value", encryption) or {}
    source = value.get("keySource") or value.get("KeySource") or ""
    return str(source).lower() == "microsoft.keyvault"


class DatabricksDbfsRootCmk(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="The Databricks workspace's DBFS root is encrypted with a customer-managed key (directly or by a nested re-PUT of the same workspace)",
            id="CKV_DRBOT_10",
            categories=(CheckCategories.ENCRYPTION,),
            supported_resources=("Microsoft.Databricks/workspaces",),
        )

    def scan_resource_conf(self, conf):
        properties = conf.get("properties", {})
        if not isinstance(properties, dict):
            # Built by an expression (the nested re-PUT itself): nothing to read here.
            return CheckResult.UNKNOWN
        parameters = properties.get("parameters", {}) or {}
        if _keyvault(parameters.get("encryption")):
            return CheckResult.PASSED
        prepared = (parameters.get("prepareEncryption") or {}).get("value") is True
        template = _template(getattr(self, "entity_path", ""))
        if template is None or not prepared:
            return CheckResult.FAILED
        variables = template.get("variables", {})
        name = _resolve(conf.get("name"), variables)
        for nested in template.get("resources", []):
            if str(nested.get("type", "")).lower() != "microsoft.resources/deployments":
                continue
            given = nested.get("properties", {}).get("parameters", {}) or {}
            same = _resolve((given.get("workspaceName") or {}).get("value"), variables) == name
            inner = nested.get("properties", {}).get("template", {}).get("resources", []) or []
            redeploys = any(str(r.get("type", "")).lower() == "microsoft.databricks/workspaces" for r in inner)
            if same and redeploys and _keyvault(given.get("encryption")):
                return CheckResult.PASSED
        return CheckResult.FAILED


check = DatabricksDbfsRootCmk()
