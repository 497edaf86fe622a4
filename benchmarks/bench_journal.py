"""Benchmark: what the journal's and audit log's fsyncs cost apply, per change.

    python benchmarks/bench_journal.py [--changes 400 --latency 0.03 --concurrency 4]

Applies `--changes` changes through the executor against a stand-in vendor that answers after
`--latency` seconds, writing every outcome to a real journal and audit log (in a temp dir on the
same disk as `--dir`), two ways: fsync on the event loop for each line (before), and the group
commit apply uses now (fsync in a worker thread, outcomes that arrive meanwhile share it). Prints
the wall time, the floor (changes x latency / concurrency), the cost per change above the floor,
and how many fsync batches ran.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from reconciler.audit import AuditLog
from reconciler.changes import Action, Change
from reconciler.connectors.base import ChangeResult, Outcome
from reconciler.durable import GroupSync
from reconciler.executor import execute
from reconciler.journal import Journal


class SlowVendor:
    vendor = "pingone"

    def __init__(self, latency: float) -> None:
        self.latency = latency

    async def apply(self, change: Change) -> ChangeResult:
        await asyncio.sleep(self.latency)
        return ChangeResult(change.id, Outcome.APPLIED)


async def run(
    changes: list[Change], latency: float, concurrency: int, directory: Path, group: bool
) -> tuple[float, int]:
    journal = Journal.begin(directory, commit=None, changes_hash="bench", resumes=None)
    audit = AuditLog(directory / "audit.jsonl", journal.run, None)
    syncs = [0]

    def sync_both() -> None:
        syncs[0] += 1
        journal.sync()
        audit.sync()

    durable = GroupSync(sync_both)

    async def report(change: Change, result: ChangeResult) -> None:
        if group:
            journal.record(change, result, sync=False)
            audit.write(change, result, None, sync=False)
            durable.wrote()
            await durable.flushed()
        else:
            journal.record(change, result)
            audit.write(change, result, None)
            syncs[0] += 2

    started = time.perf_counter()
    await execute(changes, {"pingone": SlowVendor(latency)}, concurrency=concurrency, on_result=report)
    wall = time.perf_counter() - started
    journal.finish({})
    audit.close()
    return wall, syncs[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.030)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--dir", type=Path, default=Path("."), help="where the temp journal goes (its disk)")
    args = parser.parse_args()
    changes = [
        Change(f"c{i:05d}", "pingone", Action.GRANT, "", f"p{i}@x.example", "group", "VPN", "member")
        for i in range(args.changes)
    ]
    floor = args.changes * args.latency / args.concurrency
    print(f"{args.changes} changes, {args.latency * 1000:.0f} ms a change, concurrency {args.concurrency};"
          f" floor {floor:.2f} s")  # fmt: skip
    for label, group in (("fsync on the event loop", False), ("group commit off the loop", True)):
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            wall, syncs = asyncio.run(run(changes, args.latency, args.concurrency, Path(tmp), group))
        extra = (wall - floor) / args.changes * 1000
        print(f"{label:<28} {wall:6.2f} s  {extra:6.2f} ms a change above the floor  {syncs:5} fsyncs")


if __name__ == "__main__":
    main()
