"""Pure facts about each vendor's resource types: labels, and which allow one entitlement each.

An *exclusive* resource type lets a principal hold one entitlement at a time (a Procore project
membership has one permission template), so a change of entitlement is one `update`, not a
revoke and a grant.
"""

from __future__ import annotations

from dataclasses import dataclass

VENDORS: tuple[str, ...] = ("procore", "concur", "pingone")

VENDOR_LABELS: dict[str, str] = {"procore": "Procore", "concur": "SAP Concur", "pingone": "PingOne"}


@dataclass(frozen=True, slots=True)
class ResourceType:
    vendor: str
    name: str
    label: str
    exclusive: bool = False
    entitlement_word: str = ""  # how a renderer names the entitlement: "as", "scope"


RESOURCE_TYPES: dict[tuple[str, str], ResourceType] = {
    ("procore", "project"): ResourceType(
        "procore", "project", "project", exclusive=True, entitlement_word="as"
    ),
    ("concur", "role"): ResourceType("concur", "role", "role"),
    ("pingone", "group"): ResourceType("pingone", "group", "group"),
    ("pingone", "role"): ResourceType("pingone", "role", "role", entitlement_word="scope"),
}


def resource_type(vendor: str, name: str) -> ResourceType:
    return RESOURCE_TYPES.get((vendor, name)) or ResourceType(vendor, name, name)


def vendor_label(vendor: str) -> str:
    return VENDOR_LABELS.get(vendor, vendor)
