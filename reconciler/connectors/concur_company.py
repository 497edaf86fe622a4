"""CONCUR_COMPANY_ID against the company of the refresh token, the one Concur's answers belong to.

Plan compares it with the company of every account Concur lists (`check_listed`). Where plan could
not tell (an app without `identity.user.enterprise.read` sees no companyId), apply learns it from
the first account creation, the only write that carries the company id: Concur refuses it at once
(400) or, as the docs say validation failures usually do, in the provision's status (vendor-apis
§2.5). That first refusal stops every Concur write with one line naming CONCUR_COMPANY_ID
(`refused`), and `FirstCreate` makes sure no second creation was sent meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from reconciler.connectors.base import ChangeResult, Outcome
from reconciler.errors import ConfigError, VendorHalt

VENDOR = "concur"
FIX = "set CONCUR_COMPANY_ID to the UUID of the company the token was set up for"


class WrongCompany(VendorHalt, ConfigError):
    """CONCUR_COMPANY_ID is not the company of the refresh token."""


def check_listed(configured: str, companies: Iterable[str]) -> None:
    """At sync: the company of every listed account must be CONCUR_COMPANY_ID (when they show one)."""
    found = {c for c in companies if c}
    if found and configured.casefold() not in {c.casefold() for c in found}:
        raise ConfigError(
            f"concur: CONCUR_COMPANY_ID is {configured}, but the refresh token belongs to company "
            f"{', '.join(sorted(found))} (the company of every account Concur lists): {FIX}"
        )


def refused(configured: str, detail: str) -> WrongCompany:
    """At apply: Concur refused the company id of an account creation (`detail`: what it said)."""
    return WrongCompany(
        VENDOR,
        f"CONCUR_COMPANY_ID is {configured}, but Concur refused it as not the company of the refresh token "
        f"({detail}): {FIX}; no other Concur change was attempted",
    )


class FirstCreate:
    """Account creations one at a time until one succeeds: once the company id is proven right they
    run side by side; until then, the first refusal stops the writes before a second one is sent."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._proven = False

    async def create(self, make: Callable[[], Awaitable[ChangeResult]]) -> ChangeResult:
        if self._proven:
            return await make()
        async with self._lock:
            result = await make()
            self._proven = self._proven or result.outcome is Outcome.APPLIED
            return result
