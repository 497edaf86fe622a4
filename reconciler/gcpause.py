"""Pause Python's cyclic garbage collector around bulk work.

Building hundreds of thousands of records next to millions of live ones makes the collector rescan
them all again and again (most of the time of a large plan). Records are acyclic, so nothing is lost
by pausing it; reference counting still frees memory. The caller's setting is restored.
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
