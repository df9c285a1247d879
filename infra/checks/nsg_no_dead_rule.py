"""No NSG rule that a route makes dead.

An outbound Allow rule to an Internet service tag (AzureActiveDirectory, AzureFrontDoor.Frontend,
Storage, ...) does nothing on a subnet whose route table sends the default route (0.0.0.0/0) to a
virtual appliance: the packets go to the appliance (the hub firewall), which decides alone. Such
a rule misleads the reader into thinking the path is open. The traffic must be allowed where it
actually goes (a firewall rule), or the route must send that tag elsewhere (a route whose
addressPrefix is the tag).

checkov hands a check one resource; whether a rule is dead depends on the subnets that carry the
NSG and the route tables on them, elsewhere in the same template. So the check reads the template
the NSG comes from (its path is in entity_path) and looks at the subnets declared there.
"""

import json
import os
import re

from checkov.arm.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult

# Destinations that stay inside Azure's private address space: never routed by 0.0.0.0/0.
LOCAL = {"virtualnetwork", "azureloadbalancer", "*"}
PRIVATE = re.compile(r"^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.)")


def _resolve(text, variables):
    """An ARM expression's text with variables('x') replaced by what x holds, as checkov shows
    resource names (it resolves variables), so names and ids can be compared as text."""
    text = str(text or "")
    for _ in range(8):
        match = re.search(r"variables\('([^']+)'\)", text)
        if not match:
            break
        value = variables.get(match.group(1), "")
        inner = value[1:-1] if isinstance(value, str) and value.startswith("[") else "'%s'" % value
        text = text[: match.start()] + inner + text[match.end() :]
    return text


def _name_in(name, reference, variables):
    """Whether a resource named `name` is the one the id expression `reference` points at."""
    name = _resolve(name, variables)
    name = name[1:-1] if name.startswith("[") else "'%s'" % name
    return bool(name) and name in _resolve(reference, variables)


def _template(entity_path):
    scanned = entity_path.split(":")[0]
    for candidate in (scanned, scanned.lstrip("/"), os.path.join(os.getcwd(), scanned.lstrip("/"))):
        if os.path.isfile(candidate):
            with open(candidate, encoding="utf-8") as handle:
                return json.load(handle)
    return None


def _routes_default_to_appliance(route_table):
    for route in route_table.get("properties", {}).get("routes", []) or []:
        props = route.get("properties", {})
        if props.get("addressPrefix") == "0.0.0.0/0" and props.get("nextHopType") == "VirtualAppliance":
            return True
    return False


def _tag_routed_elsewhere(route_table, tag):
    for route in route_table.get("properties", {}).get("routes", []) or []:
        if str(route.get("properties", {}).get("addressPrefix", "")).lower() == tag.lower():
            return True
    return False


def _is_internet(destination):
    text = str(destination)
    return text.lower() not in LOCAL and not PRIVATE.match(text) and not text.startswith("[")


class NsgNoDeadRule(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="No outbound NSG rule to an Internet destination on subnets whose default route goes to a firewall (the route makes it dead)",
            id="CKV_DRBOT_8",
            categories=(CheckCategories.NETWORKING,),
            supported_resources=("Microsoft.Network/networkSecurityGroups",),
        )

    def scan_resource_conf(self, conf):
        template = _template(getattr(self, "entity_path", ""))
        if template is None:
            return CheckResult.UNKNOWN
        resources = template.get("resources", [])
        variables = template.get("variables", {})
        nsg_name = conf.get("name")
        route_tables = [r for r in resources if str(r.get("type", "")).lower() == "microsoft.network/routetables"]
        # The route tables on the subnets that carry this NSG.
        tables = []
        for vnet in resources:
            if str(vnet.get("type", "")).lower() != "microsoft.network/virtualnetworks":
                continue
            for subnet in vnet.get("properties", {}).get("subnets", []) or []:
                props = subnet.get("properties", {})
                nsg_id = (props.get("networkSecurityGroup") or {}).get("id", "")
                if not _name_in(nsg_name, nsg_id, variables):
                    continue
                table_id = (props.get("routeTable") or {}).get("id", "")
                tables += [t for t in route_tables if table_id and _name_in(t.get("name"), table_id, variables)]
        tables = [t for t in tables if _routes_default_to_appliance(t)]
        if not tables:
            return CheckResult.PASSED
        for rule in conf.get("properties", {}).get("securityRules", []) or []:
            props = rule.get("properties", {})
            if props.get("direction") != "Outbound" or props.get("access") != "Allow":
                continue
            destinations = [props.get("destinationAddressPrefix")] + list(props.get("destinationAddressPrefixes") or [])
            for destination in filter(None, destinations):
                if _is_internet(destination) and not all(_tag_routed_elsewhere(t, destination) for t in tables):
                    return CheckResult.FAILED
        return CheckResult.PASSED


check = NsgNoDeadRule()
