"""Finds the plugin of each vendor: `reconciler.connectors.<vendor>.PLUGIN`."""

from __future__ import annotations

import importlib

from reconciler.connectors.base import VendorPlugin
from reconciler.errors import AccessError
from reconciler.vendors import VENDORS


def plugin(vendor: str) -> VendorPlugin:
    if vendor not in VENDORS:
        raise AccessError(f"unknown vendor {vendor!r}; known: {', '.join(VENDORS)}")
    module = importlib.import_module(f"reconciler.connectors.{vendor}")
    found: VendorPlugin = module.PLUGIN
    return found
