"""Progress while the vendors are read: a spinner with counts on a terminal; plain lines elsewhere.

A CI log of a ten-minute sync would otherwise show nothing until the end. Without a terminal, each
vendor still being read gets one line every `ACCESS_PROGRESS_INTERVAL` seconds (10 by default) on
stderr, so that stdout stays the command's result (`--format json`); `--quiet` shows neither.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from reconciler.connectors.base import Connector
from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from reconciler.connectors.http import RequestStats
    from reconciler.console import Output

INTERVAL_ENV = "ACCESS_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 10.0
SPINNER_TICK = 0.25


def interval(env: Mapping[str, str]) -> float:
    """Seconds between plain progress lines: `ACCESS_PROGRESS_INTERVAL`, else 10."""
    raw = env.get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"{INTERVAL_ENV} must be a number of seconds above 0, got {raw!r}")
    return seconds


def stats_of(connectors: Mapping[str, Connector]) -> dict[str, RequestStats]:
    """The request counters of the connectors that keep them (a snapshot's do not), by vendor."""
    from reconciler.connectors.http import RequestStats  # httpx: only once connectors ran

    found = {vendor: getattr(connector, "stats", None) for vendor, connector in sorted(connectors.items())}
    return {vendor: stats for vendor, stats in found.items() if isinstance(stats, RequestStats)}


def counts(stats: RequestStats) -> str:
    """'12 requests, 8 pages, 3,200 resources' (and how many were retried, if any)."""
    return f"{stats.requests:,} requests, {stats.pages:,} pages, {stats.resources:,} resources" + (
        f", {stats.retries:,} retried" if stats.retries else ""
    )


def summary(connectors: Mapping[str, Connector]) -> str:
    """'procore 12 requests, 8 pages, 3,200 resources · concur …' from the connectors that count."""
    return " · ".join(f"{vendor} {counts(stats)}" for vendor, stats in stats_of(connectors).items())


def seconds(elapsed: float) -> str:
    """'0.4 s', '42 s', '12 min 5 s'."""
    if elapsed < 10:
        return f"{elapsed:.1f} s"
    if elapsed < 600:
        return f"{elapsed:.0f} s"
    minutes, rest = divmod(round(elapsed), 60)
    return f"{minutes} min {rest} s"


@asynccontextmanager
async def reading(
    output: Output, env: Mapping[str, str], connectors: Mapping[str, Connector], verb: str = "syncing"
) -> AsyncIterator[Callable[[str], None]]:
    """Show progress while the body reads `connectors`; yields `finished(vendor)`, to call when a
    vendor is done (its plain lines stop)."""
    every = interval(env)
    done: set[str] = set()
    with output.progress(f"{verb} {', '.join(sorted(connectors))}") as spinner:
        ticks: Coroutine[Any, Any, None] | None = None
        if spinner is not None:

            async def tick_spinner() -> None:
                while True:
                    await asyncio.sleep(SPINNER_TICK)
                    line = summary(connectors)
                    if line:
                        spinner.update(spinner.task_ids[0], description=f"{verb} · {line}")

            ticks = tick_spinner()
        elif output.plain_progress:
            started = time.monotonic()

            async def tick_lines() -> None:
                while True:
                    await asyncio.sleep(every)
                    elapsed = time.monotonic() - started
                    for vendor, stats in stats_of(connectors).items():
                        if vendor not in done:
                            output.progress_line(f"{verb} {vendor}: {counts(stats)} after {seconds(elapsed)}")

            ticks = tick_lines()
        ticker = asyncio.ensure_future(ticks) if ticks is not None else None
        try:
            yield done.add
        finally:
            if ticker is not None:
                ticker.cancel()
