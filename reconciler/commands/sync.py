"""`access sync --out DIR`: write the normalized actual state as snapshot files."""

from __future__ import annotations

import asyncio
from pathlib import Path

from reconciler.commands.context import AppContext
from reconciler.commands.state import Source, load_desired, open_connectors, sync_all
from reconciler.snapshot import write_state


def run(ctx: AppContext, *, source: Source, out: Path) -> int:
    desired = load_desired(ctx)
    vendors = tuple(sorted(desired.access.scope.vendors))

    async def go() -> None:
        async with open_connectors(ctx, source, vendors, writable=False) as connectors:
            states = await sync_all(ctx, connectors, desired.access)
        for state in states.values():
            path = write_state(out, state)
            ctx.output.result(
                f"{state.vendor}: {len(state.accounts)} accounts, {len(state.grants)} grants → {path}"
            )

    asyncio.run(go())
    return 0
