"""Shared steps of validate, sync, plan and apply: desired state in, actual state in."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.commands.context import AppContext
from reconciler.errors import AccessError, ConfigError, LocatedError, TenantError, ValidationErrors
from reconciler.loader import DesiredFiles, FileCache, read_files
from reconciler.normalize import PeopleMemo, normalize
from reconciler.records import AccessSet

if TYPE_CHECKING:  # (imported where used: `access validate` loads the YAML and none of the vendors)
    from reconciler.connectors.base import Connector, VendorState
    from reconciler.snapshot_reading import SnapshotReading


@dataclass(frozen=True, slots=True)
class Desired:
    files: DesiredFiles
    access: AccessSet


def load_desired(
    ctx: AppContext,
    *,
    keep_files: bool = True,
    cache: FileCache | None = None,
    people: PeopleMemo | None = None,
) -> Desired:
    """The YAML, read and compiled. `keep_files=False` keeps only the files' digest: their parsed
    text (a quarter of a gigabyte at 100,000 people) is then free before the vendors are read.
    `cache` and `people`: what earlier reads of other commits parsed and compiled (the gate's)."""
    files = read_files(ctx.repo, cache)
    access = normalize(files, today=ctx.today, now=ctx.now, vendors=ctx.vendors, people=people)
    return Desired(files if keep_files else DesiredFiles((), files.digest), access)


@dataclass(frozen=True, slots=True)
class Source:
    """Where actual state comes from: the live vendors, the sandbox, or a snapshot directory."""

    sandbox: bool = False
    state_dir: Path | None = None

    def describe(self) -> str:
        if self.state_dir is not None:
            return f"snapshot {self.state_dir}"
        return "sandbox" if self.sandbox else "live vendors"


STATE_DIR_ENV = "ACCESS_STATE_DIR"


def state_dir(ctx: AppContext, source: Source) -> Path:
    """Where the journal, lock, audit log and sync counts live."""
    if source.sandbox:
        from reconciler import sandbox  # the simulators load only for --sandbox

        return sandbox.state_dir(ctx.repo)
    configured = ctx.env.get(STATE_DIR_ENV, "").strip()
    return Path(configured) if configured else ctx.repo / ".access"


@asynccontextmanager
async def open_connectors(
    ctx: AppContext,
    source: Source,
    vendors: tuple[str, ...],
    *,
    writable: bool,
    snapshots: SnapshotReading | None = None,
) -> AsyncIterator[dict[str, Connector]]:
    """The vendors' connectors; a snapshot's (`source.state_dir`) from `snapshots` when the caller
    started reading them early."""
    from reconciler.connectors.memory import MemoryConnector
    from reconciler.connectors.registry import plugin
    from reconciler.hosts import notice
    from reconciler.snapshot import read_state

    async with AsyncExitStack() as stack:
        connectors: dict[str, Connector] = {}
        missing: list[str] = []
        for vendor in vendors:
            if source.state_dir is not None:
                if writable:
                    raise AccessError(
                        "a snapshot (--state) is read-only: apply needs --sandbox or live vendors"
                    )
                state = snapshots.read(vendor) if snapshots else read_state(source.state_dir, vendor)
                if state is None:
                    raise AccessError(f"{source.state_dir}: no snapshot for {vendor} ({vendor}.json)")
                connectors[vendor] = MemoryConnector(state)
            elif source.sandbox:
                from reconciler import sandbox  # the simulators load only for --sandbox

                directory = sandbox.state_dir(ctx.repo)
                connectors[vendor] = await stack.enter_async_context(
                    sandbox.vendor_sandbox(vendor).connector(directory, writable=writable)
                )
            else:
                try:
                    connector = plugin(vendor).from_env(ctx.env, writable=writable)
                except ConfigError as exc:
                    missing.append(exc.message)
                    continue
                stack.push_async_callback(connector.aclose)
                connectors[vendor] = connector
        if not source.sandbox and source.state_dir is None:
            line = notice(ctx.env, tuple(connectors))
            if line:  # shown even with --quiet, once per run (apply opens the connectors again)
                ctx.output.warn(line, once=True)
        if missing:  # every vendor's missing settings at once, not one per run
            raise ConfigError(
                "\n".join(missing) + "\n(to try access without credentials, use --sandbox; "
                "`access sandbox serve` prints settings that reach the simulated vendors)"
            )
        stack.push_async_callback(_cancel_stragglers)  # runs first on the way out
        yield connectors


log = logging.getLogger("reconciler.sync")


async def _cancel_stragglers() -> None:
    """Requests still in flight when a vendor failed: cancel and finish them before clients close.

    `asyncio.gather` leaves siblings of a failed request running; closing the clients under them
    would leak their connections (and their never-started coroutines would warn).
    """
    import asyncio

    current = asyncio.current_task()
    others = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


async def sync_all(
    ctx: AppContext, connectors: Mapping[str, Connector], desired: AccessSet
) -> dict[str, VendorState]:
    """Sync every vendor concurrently; each connector bounds its own concurrency. Progress shows,
    per vendor, the requests made and the pages and resources read so far (`progress.reading`)."""
    import asyncio

    from reconciler.commands.progress import reading, summary

    vendors = sorted(connectors)
    started = time.monotonic()
    try:
        async with reading(ctx.output, ctx.env, connectors) as finished:

            async def sync(vendor: str) -> VendorState:
                state = await connectors[vendor].sync(desired.scope.for_vendor(vendor))
                finished(vendor)
                return state

            states = await asyncio.gather(*(sync(v) for v in vendors))
    except TenantError as exc:  # a company the credentials cannot reach: where the YAML names it
        raise ValidationErrors(
            LocatedError(desired.tenant_sources.get((exc.vendor, tenant)), exc.message_for(tenant))
            for tenant in exc.tenants
        ) from None
    if log.isEnabledFor(logging.DEBUG) and summary(connectors):
        log.debug("synced in %.1f s: %s", time.monotonic() - started, summary(connectors))
    return dict(zip(vendors, states, strict=True))


def planned_vendors(ctx: AppContext, desired: AccessSet) -> tuple[str, ...]:
    return tuple(sorted(desired.scope.vendors))
