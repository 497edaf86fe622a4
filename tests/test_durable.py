"""Group commit for apply's journal and audit log: on disk before going on, fsync off the loop."""

from __future__ import annotations

import asyncio
import threading
import time

from reconciler.durable import GroupSync


def test_every_writer_waits_for_an_fsync_that_covers_it_and_waiters_share_fsyncs() -> None:
    disk: list[int] = []  # how many writes each fsync covered
    written = [0]
    loop_ran_during_fsync = threading.Event()

    def fsync() -> None:
        covered = written[0]
        time.sleep(0.02)  # a slow disk: the loop keeps running meanwhile
        disk.append(covered)

    async def main() -> list[tuple[int, int]]:
        group = GroupSync(fsync)
        seen: list[tuple[int, int]] = []

        async def writer(n: int) -> None:
            await asyncio.sleep(0.001 * n)
            written[0] += 1
            group.wrote()
            mine = written[0]
            await group.flushed()
            seen.append((mine, max(disk)))  # some fsync covered this write before we went on

        async def ticker() -> None:
            while not disk:
                await asyncio.sleep(0.001)
                loop_ran_during_fsync.set()

        await asyncio.gather(ticker(), *(writer(n) for n in range(20)))
        return seen

    seen = asyncio.run(main())
    assert len(seen) == 20
    assert all(covered >= mine for mine, covered in seen)
    assert len(disk) < 20  # writes that arrived during an fsync shared the next one
    assert loop_ran_during_fsync.is_set()


def test_an_fsync_failure_reaches_the_waiter() -> None:
    def fsync() -> None:
        raise OSError(5, "I/O error")

    async def main() -> None:
        group = GroupSync(fsync)
        group.wrote()
        await group.flushed()

    try:
        asyncio.run(main())
    except OSError as exc:
        assert exc.errno == 5
    else:
        raise AssertionError("the fsync failure was swallowed")
