"""Apply a plan's changes through the connectors: ordered, bounded, dependency-aware.

Per vendor, phases run in order (accounts created, then updates, grants, revocations, and
deactivations last); changes within a phase run with bounded concurrency. Vendors run side by side.
A change whose account could not be created is skipped rather than attempted. A `VendorHalt` (an
answer the code did not expect, a setting the vendor refuses) fails its change and stops that
vendor: none of its later changes is attempted, the other vendors go on.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from itertools import groupby

from reconciler.changes import ACTION_ORDER, Action, Change
from reconciler.connectors.base import ChangeResult, Connector, Outcome
from reconciler.errors import AccessError, VendorHalt, WritesStopped

OnResult = Callable[[Change, ChangeResult], Awaitable[None] | None]


def _phase(change: Change) -> tuple[int, bool]:
    return ACTION_ORDER[change.action], not change.is_account_change


async def execute(
    changes: Sequence[Change],
    connectors: Mapping[str, Connector],
    *,
    concurrency: int = 4,
    on_result: OnResult | None = None,
) -> list[tuple[Change, ChangeResult]]:
    by_vendor: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        by_vendor[change.vendor].append(change)
    results: list[tuple[Change, ChangeResult]] = []

    async def record(change: Change, result: ChangeResult) -> None:
        results.append((change, result))
        if on_result is not None:
            maybe = on_result(change, result)
            if maybe is not None:
                await maybe

    async def run_vendor(vendor: str, vendor_changes: list[Change]) -> None:
        connector = connectors[vendor]
        semaphore = asyncio.Semaphore(concurrency)
        failed_accounts: set[tuple[str, str]] = set()
        halted: list[VendorHalt] = []
        # Within a phase, changes to accounts go first: a reactivation before the template update of
        # that account's project membership (Procore refuses to change an inactive member).
        ordered = sorted(vendor_changes, key=lambda c: (_phase(c), c.sort_key))
        for _, phase in groupby(ordered, key=_phase):

            async def one(change: Change) -> None:
                if (change.tenant, change.principal) in failed_accounts:
                    await record(
                        change, ChangeResult(change.id, Outcome.SKIPPED, "its account could not be created")
                    )
                    return
                async with semaphore:
                    try:
                        if halted:
                            raise WritesStopped(halted[0])
                        result = await connector.apply(change)
                    except WritesStopped as exc:  # stopped by a change before it (or beside it)
                        result = ChangeResult(change.id, Outcome.SKIPPED, exc.message)
                    except VendorHalt as exc:
                        halted.append(exc)
                        result = ChangeResult(change.id, Outcome.FAILED, exc.message)
                    except AccessError as exc:
                        result = ChangeResult(change.id, Outcome.FAILED, exc.message)
                if change.action is Action.CREATE_ACCOUNT and not result.ok:
                    failed_accounts.add((change.tenant, change.principal))
                await record(change, result)

            await asyncio.gather(*(one(c) for c in phase))

    await asyncio.gather(*(run_vendor(v, cs) for v, cs in sorted(by_vendor.items())))
    return results
