"""Benchmark: a full PingOne sync at scale through the real connector and the in-process simulator.

    python benchmarks/bench_pingone_sync.py [--users 50000 --groups 500 --memberships 200000
                                             --roles 40 --latency 0.03 --concurrency 16]

Scope: every group (`all_of` group) and every admin role (`exhaustive: [roles]`), the most
expensive sync. Prints requests made, wall time, and the minimum number of requests the API
shape allows, term by term. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler.connectors.http import RetryPolicy
from reconciler.connectors.pingone import connect
from reconciler.records import Scope
from reconciler.sandbox.pingone import (
    SANDBOX_CLIENT_ID,
    SANDBOX_ENVIRONMENT,
    SANDBOX_ORGANIZATION,
    SANDBOX_SECRET,
    sandbox_settings,
)
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.pingone import PingOneSimulator
from reconciler.simulators.pingone_state import PingOneState


def minimum(state: PingOneState, users_page: int, list_page: int) -> list[tuple[str, int]]:
    users = len(state.users)
    return [
        ("token (client_credentials)", 1),
        ("populations pages", max(1, math.ceil(len(state.populations) / list_page))),
        ("groups pages", max(1, math.ceil(len(state.groups) / list_page))),
        ("role lists (built-in /v1/roles + custom)", 2),
        (f"users pages (ceil({users} / {users_page}))", max(1, math.ceil(users / users_page))),
        (
            f"member pages, sum over groups of ceil(m_g / {users_page})",
            sum(max(1, math.ceil(len(m) / users_page)) for m in state.direct.values()),
        ),
        ("users/{id}/roleAssignments, one per user (unpaged, no bulk read)", users),
        ("groups/{id}/roleAssignments, one per group (roles held through groups)", len(state.groups)),
    ]


async def main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    state = PingOneState.generate(
        users=args.users,
        groups=args.groups,
        memberships=args.memberships,
        role_assignments=args.roles,
        environment_id=SANDBOX_ENVIRONMENT,
        organization_id=SANDBOX_ORGANIZATION,
    )
    state.clients[SANDBOX_CLIENT_ID] = SANDBOX_SECRET
    simulator = PingOneSimulator(state, users_page_cap=args.users_page)
    print(
        f"seeded in {time.perf_counter() - started:.1f}s: {args.users} users, {args.groups} groups, "
        f"{args.memberships} memberships, {args.roles} role assignments"
    )
    settings = sandbox_settings(PINGONE_MAX_CONCURRENCY=str(args.concurrency))
    transport = SimulatorTransport(simulator.handle, latency=args.latency)
    connector = connect(settings, writable=False, transport=transport, policy=RetryPolicy())
    scope = Scope(
        tenants=frozenset({("pingone", "")}),
        all_of=frozenset({("pingone", "", "group"), ("pingone", "", "role")}),
    )
    started = time.perf_counter()
    result = await connector.sync(scope)
    wall = time.perf_counter() - started
    await connector.aclose()
    groups = sum(1 for g in result.grants if g.resource_type == "group")
    roles = sum(1 for g in result.grants if g.resource_type == "role")
    print(f"synced {len(result.accounts)} accounts, {groups} memberships, {roles} role assignments")
    print(f"requests: {result.requests} (simulator counted {simulator.request_count})")
    print(f"wall time: {wall:.1f}s at {args.latency * 1000:.0f} ms latency, {args.concurrency} at once")
    terms = minimum(state, args.users_page, 1000)
    print("minimum requests the API shape allows:")
    for label, count in terms:
        print(f"  {count:>7}  {label}")
    total = sum(c for _, c in terms)
    floor, chain = total * args.latency / args.concurrency, terms[4][1] * args.latency
    print(f"  {total:>7}  total; a perfectly parallel floor is {floor:.1f}s of latency at this concurrency")
    print(f"           (the users pages alone chain {chain:.1f}s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--memberships", type=int, default=200_000)
    parser.add_argument("--roles", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.030)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--users-page", type=int, default=200, help="the simulator's users page cap")
    asyncio.run(main(parser.parse_args()))
