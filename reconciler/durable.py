"""fsync off the event loop, shared by whoever is waiting (group commit).

Apply writes each outcome to the journal and the audit log the moment it is known, and must not
go on until those lines are on disk (a kill -9 then loses at most the changes in flight). The
writes themselves are cheap and stay on the event loop, in order; the fsyncs run in a worker
thread, one batch at a time, and every outcome written while a batch was syncing is covered by
the next one. Other changes' HTTP requests proceed meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class GroupSync:
    """`await flushed()` returns once everything written before the call is on disk."""

    def __init__(self, sync: Callable[[], None]) -> None:
        self._sync = sync  # fsyncs every file written to; blocking, run in a thread
        self._written = 0  # writes announced with `wrote()`
        self._synced = 0  # writes known to be on disk
        self._syncing: asyncio.Future[None] | None = None

    def wrote(self) -> None:
        self._written += 1

    async def flushed(self) -> None:
        target = self._written
        while self._synced < target:
            if self._syncing is None or self._syncing.done():
                self._syncing = asyncio.ensure_future(self._sync_batch())
            await asyncio.shield(self._syncing)  # a waiter cancelled never cancels the fsync

    async def _sync_batch(self) -> None:
        covers = self._written
        await asyncio.to_thread(self._sync)
        self._synced = max(self._synced, covers)
