"""Pause Python's cyclic garbage collector around bulk work.

Building hundreds of thousands of records next to millions of live ones makes the collector rescan
them all again and again (most of the time of a large plan). Records are acyclic, so nothing is lost
by pausing it; reference counting still frees memory. The caller's setting is restored.

The CLI pauses it for the whole of a command (`cli.main`): a command is one short process, and a
collection at the end of each bulk step (loading, normalizing, reading a snapshot, planning) would
rescan every record built so far. A command that runs until interrupted (`sandbox serve`) resumes it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def resumed_gc() -> Iterator[None]:
    """Collect cycles again inside a paused command (for work that runs until interrupted)."""
    was_enabled = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        if not was_enabled:
            gc.disable()
