"""Run a coroutine to completion from synchronous code, whatever the size of its result.

`asyncio.run` keeps the main task in its Ctrl-C handler; when the run ends, Python 3.11's
`signal.getsignal`/`signal.signal` try to map that handler onto an enum and format an error message
holding the handler's repr, which includes the finished task's repr, which includes the repr of its
result: for a plan of a million grants, millions of records formatted twice and thrown away (a third
of the CPU time of `access plan` and half its memory). Here the task returns nothing; the result
travels beside it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(coro)`, without the repr of the result."""
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    asyncio.run(main())
    return box[0]
