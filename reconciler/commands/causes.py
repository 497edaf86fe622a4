"""Ask the vendors who made what they hold and the YAML does not want (`reconciler.drift`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

from reconciler import drift
from reconciler.changes import Cause
from reconciler.connectors.base import Connector


async def causes_of(connectors: Mapping[str, Connector], items: Iterable[drift.Item]) -> list[Cause]:
    """One cause per item: from each vendor's connector that can say (`attribute`, after its sync),
    "not attributable at this vendor" elsewhere; sorted by the access they name."""
    by_vendor: dict[str, list[drift.Item]] = {}
    for item in items:
        by_vendor.setdefault(item.grant.vendor, []).append(item)

    async def one(vendor: str, found: list[drift.Item]) -> list[Cause]:
        attribute = getattr(connectors.get(vendor), "attribute", None)
        if attribute is None:
            return [drift.unknown(i, drift.NOT_AT_THIS_VENDOR) for i in found]
        causes: list[Cause] = await attribute(found)
        return causes

    answered = await asyncio.gather(*(one(v, found) for v, found in sorted(by_vendor.items())))
    return sorted((c for part in answered for c in part), key=drift.grant_of)
