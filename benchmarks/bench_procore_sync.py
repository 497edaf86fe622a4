"""Full Procore sync at scale: the real connector against the in-process simulator with latency.

    python benchmarks/bench_procore_sync.py                      # 20,000 users, 1,000 projects, 30 ms
    python benchmarks/bench_procore_sync.py --users 2000 --projects 100 --latency 0.01
    python benchmarks/bench_procore_sync.py --spike-limit 25     # Procore's documented example spike limit

Prints the requests made, the wall time, and the fewest requests Procore's API shape allows for the
same sync (the arithmetic is printed too), so we know how close to the floor the connector is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time

from reconciler.connectors.procore_api import PER_PAGE_PROJECTS, PER_PAGE_USERS
from reconciler.records import Scope
from reconciler.sandbox.procore import simulator_connector, simulator_settings
from reconciler.simulators.procore import ProcoreSimulator
from reconciler.simulators.procore_state import ProcoreState, scale_state


def floor(state: ProcoreState, company_id: int) -> tuple[dict[str, int], list[str]]:
    """The fewest requests a full sync of this company needs with Procore's documented endpoints."""
    company = state.companies[company_id]
    active = sum(u.is_active for u in company.users.values())
    inactive = len(company.users) - active
    managed = [p for p in company.projects.values() if p.active]
    members = [sum(company.users[u].is_active for u in p.members) for p in managed]
    dormant = [len(p.members) - n for p, n in zip(managed, members, strict=True)]
    parts = {
        "token": 1,
        "templates": 1,
        "active": max(1, math.ceil(active / PER_PAGE_USERS)),
        "inactive": max(1, math.ceil(inactive / PER_PAGE_USERS)),
        "projects": max(1, math.ceil(len(company.projects) / PER_PAGE_PROJECTS)),
        "project_users": sum(max(1, math.ceil(n / PER_PAGE_USERS)) for n in members),
        # a company with inactive users: each project's inactive list too (their memberships remain)
        "project_inactive": sum(max(1, math.ceil(n / PER_PAGE_USERS)) for n in dormant) if inactive else 0,
    }
    lines = [
        f"  {parts['token']:>6}  token (POST /oauth/token)",
        f"  {parts['templates']:>6}  permission templates (one unpaginated list)",
        f"  {parts['active']:>6}  active users: ceil({active} / {PER_PAGE_USERS} per page)",
        f"  {parts['inactive']:>6}  inactive users: ceil({inactive} / {PER_PAGE_USERS} per page)",
        f"  {parts['projects']:>6}  projects: ceil({len(company.projects)} / {PER_PAGE_PROJECTS} per page)",
        f"  {parts['project_users']:>6}  project users: one list per managed project "
        f"({len(managed)} projects, at most {max(members, default=0)} members each)",
        f"  {parts['project_inactive']:>6}  inactive project users: one list per managed project, when the "
        "company has inactive users",
    ]
    return parts, lines


async def run(args: argparse.Namespace) -> dict[str, object]:
    state = scale_state(
        users=args.users,
        projects=args.projects,
        members=(args.min_members, args.max_members),
        inactive_share=args.inactive_share,
    )
    company_id = next(iter(state.companies))
    simulator = ProcoreSimulator(state, hourly_limit=args.hourly_limit, spike_limit=args.spike_limit)
    settings = simulator_settings(state, concurrency=args.concurrency)
    connector = simulator_connector(simulator, writable=False, latency=args.latency, settings=settings)
    company = str(company_id)
    scope = Scope(
        vendors=frozenset({"procore"}),
        tenants=frozenset({("procore", company)}),
        all_of=frozenset({("procore", company, "project")}),
    )
    started = time.perf_counter()
    result = await connector.sync(scope)
    elapsed = time.perf_counter() - started
    await connector.aclose()
    parts, arithmetic = floor(state, company_id)
    # with latency L: token, the company check, the longest paginated list, then the project lists
    # `concurrency` at a time.
    sequential = 2 + max(parts["active"], parts["inactive"], parts["projects"])
    per_project = parts["project_users"] + parts["project_inactive"]
    latency_bound = (sequential + math.ceil(per_project / args.concurrency)) * args.latency
    return {
        "users": args.users,
        "projects": args.projects,
        "latency_s": args.latency,
        "concurrency": args.concurrency,
        "accounts": len(result.accounts),
        "grants": len(result.grants),
        "requests": result.requests,
        "simulator_requests": simulator.request_count,
        "throttled_429": simulator.limits.throttled,
        "paused_for_rate_limit": connector.api.pacer.paused,
        "wall_time_s": round(elapsed, 2),
        "minimum_requests": sum(parts.values()),
        "arithmetic": arithmetic,
        "latency_bound_s": round(latency_bound, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--projects", type=int, default=1_000)
    parser.add_argument("--min-members", type=int, default=20)
    parser.add_argument("--max-members", type=int, default=40)
    parser.add_argument("--inactive-share", type=float, default=0.05)
    parser.add_argument("--latency", type=float, default=0.03, help="seconds added to every request")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="PROCORE_CONCURRENCY: project lists in flight"
    )
    parser.add_argument("--hourly-limit", type=int, default=None, help="simulate Procore's hourly limit")
    parser.add_argument("--spike-limit", type=int, default=None, help="simulate the 10-second spike limit")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"Procore sync: {result['users']} users, {result['projects']} managed projects, "
          f"{result['latency_s']} s latency, concurrency {result['concurrency']}")  # fmt: skip
    print(f"  accounts {result['accounts']}, grants {result['grants']}")
    print(f"  requests made:     {result['requests']} (429s: {result['throttled_429']}, "
          f"pauses for the rate limit: {result['paused_for_rate_limit']})")  # fmt: skip
    print(f"  wall time:         {result['wall_time_s']} s "
          f"(latency alone needs about {result['latency_bound_s']} s at this concurrency)")  # fmt: skip
    print(f"  minimum requests:  {result['minimum_requests']}")
    print("\n".join(str(line) for line in result["arithmetic"]))  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
