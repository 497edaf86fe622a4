"""Benchmark: a full Concur sync of 50,000 users and 30 roles with 30 ms simulated latency.

Runs the real connector against the in-process simulator (every request pays the latency):

    python benchmarks/bench_concur_sync.py [--users 50000] [--roles 30] [--latency 0.03] [--concurrency 8]

The minimum number of requests the API shape allows:
  1 token refresh
  + ceil(users / 1000) Identity v4.1 pages (count <= 1000, cursor: each page names the next)
  + ceil(users / 100)  Spend v4.1 pages    (count <= 100; roles live only in the spend profile)
Identity pages must run one after another (a cursor is known only from the previous page), so their
latency adds up: ceil(users / 1000) x latency is the floor of the wall time. Spend pages use
startIndex, so once the first page gives totalResults the rest run side by side, alongside the
identity chain.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time

import httpx

from reconciler.connectors.concur import IDENTITY_PAGE, SPEND_PAGE
from reconciler.records import Scope
from reconciler.sandbox.concur import simulated
from reconciler.simulators.concur import ConcurSimulator
from reconciler.simulators.concur_state import ConcurState

SCOPE = Scope(
    vendors=frozenset({"concur"}),
    tenants=frozenset({("concur", "")}),
    all_of=frozenset({("concur", "", "role")}),
)


async def bench(users: int, roles: int, latency: float, concurrency: int) -> None:
    started = time.perf_counter()
    simulator = ConcurSimulator(ConcurState.generate(users, roles))
    seeded = time.perf_counter() - started
    busy = [0.0]  # seconds the simulator itself spends building responses (same process, same GIL)
    handle = simulator.handle

    def timed(request: httpx.Request) -> httpx.Response:
        began = time.perf_counter()
        try:
            return handle(request)
        finally:
            busy[0] += time.perf_counter() - began

    simulator.handle = timed  # type: ignore[method-assign]
    connector = simulated(simulator, latency=latency, concurrency=concurrency)
    started = time.perf_counter()
    try:
        state = await connector.sync(SCOPE)
    finally:
        await connector.aclose()
    wall = time.perf_counter() - started
    identity_pages = math.ceil(users / IDENTITY_PAGE)
    spend_pages = math.ceil(users / SPEND_PAGE)
    minimum = 1 + identity_pages + spend_pages
    held = len({g.resource for g in state.grants})
    print(f"users {users:,}, roles held {held}, latency {latency * 1000:.0f} ms, concurrency {concurrency}")
    print(
        f"accounts {len(state.accounts):,}, grants {len(state.grants):,} (simulator seeded in {seeded:.1f} s)"
    )
    print(f"requests {state.requests:,} (simulator counted {simulator.request_count:,})")
    print(
        f"minimum  {minimum:,} = 1 token + {identity_pages} identity pages of {IDENTITY_PAGE}"
        f" + {spend_pages} spend pages of {SPEND_PAGE}"
    )
    print(f"wall time {wall:.2f} s, of which {busy[0]:.2f} s in the simulator building responses")
    floor = (1 + identity_pages) * latency
    spend_only = (1 + math.ceil((spend_pages - 1) / concurrency)) * latency
    print(
        f"connector side {wall - busy[0]:.2f} s; latency floor {floor:.2f} s (token + sequential identity cursor"
        f" chain), spend pages alone {spend_only:.2f} s at this concurrency"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--roles", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.030)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(bench(args.users, args.roles, args.latency, args.concurrency))


if __name__ == "__main__":
    main()
