"""Benchmark: live syncs and a live apply over real HTTP, as users get them, against each one's floor.

    python benchmarks/bench_sync_loopback.py                  # every row of issue #26, 30 ms latency
    python benchmarks/bench_sync_loopback.py --vendor pingone --concurrency 16 --concurrency 64
    python benchmarks/bench_sync_loopback.py --vendor procore-apply --apply-grants 500

Each vendor's simulator (at scale) is served on 127.0.0.1 by a separate process (`reconciler.simulators
.serve`, the path of `access sandbox serve`: every answer waits `--latency`), and the live connector
(`from_env`, httpx over TCP, the garbage collector paused as the CLI pauses it) syncs everything; the
`procore-apply` row then grants `--apply-grants` project memberships through `executor.execute`, as
`access apply` does after its sync. Printed per row: requests made, wall time, the floor and the wall
time's ratio to it, the issue's target ratio, the client's CPU time (in all and per request), the
server's CPU time (when it nears the wall time, the simulator, not the connector, is the bottleneck),
and what the floor is:

- a sync whose requests can all overlap (Procore, PingOne): requests x latency / concurrency;
- Concur: the longer of two paths, x latency: Identity v4.1 pages by cursor, each named by the page
  before (the token and those pages follow one another), and the Spend v4.1 pages by offset beside
  them, at most 100 users a page, `concurrency` at once once the first page gives the count (token,
  first page, then the rest in rounds). At the default 8 at once, 20,000 users: 27 rounds of Spend
  pages against a chain of 21;
- apply: requests x latency / the changes apply runs at once (`executor.CONCURRENCY`). Procore
  documents rate limits per hour and per 10 s, not a number of requests at once, and the simulator
  here has none, so the floor is the latency's alone.
"""

from __future__ import annotations

import argparse
import gc
import math
import multiprocessing
import os
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# What `access plan` has loaded by the time it syncs: it reads the YAML first, through these models,
# which loads pydantic's plugins once per process (10-40 ms the sync would otherwise pay for its first
# answer's check).
import reconciler.policy_model  # noqa: F401
from reconciler import event_loop
from reconciler.changes import Action, Change
from reconciler.connectors.base import Outcome, VendorState
from reconciler.connectors.registry import plugin
from reconciler.executor import CONCURRENCY as APPLY_CONCURRENCY
from reconciler.executor import execute
from reconciler.gcpause import paused_gc
from reconciler.hosts import ALLOW_ENV
from reconciler.records import Scope

TARGETS = {"procore": 1.10, "concur": 1.10, "pingone": 1.30, "procore-apply": 1.10}  # issue #26
CPU_TARGET_MS = 0.5  # PingOne: client CPU per request


@dataclass(frozen=True)
class Setup:
    """What a vendor needs: a simulator factory (run in the server process), its environment, scope."""

    vendor: str
    build: Callable[[argparse.Namespace], Any]  # -> simulator (with .handle)
    after_start: Callable[[Any, str], None]  # simulator, url
    env: Callable[[Any, str, argparse.Namespace, Path], dict[str, str]]  # simulator facts, url, args, tmp
    facts: Callable[[Any], Any]  # picklable facts the parent needs (ids)
    scope: Callable[[Any], Scope]
    concurrency_var: str


@dataclass(frozen=True)
class Floor:
    seconds: float
    basis: str  # how it is made, for the notes under the table


def _procore() -> Setup:
    from reconciler.simulators.procore import ProcoreSimulator
    from reconciler.simulators.procore_state import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, scale_state

    def build(args: argparse.Namespace) -> Any:
        state = scale_state(users=args.procore_users, projects=args.procore_projects, members=(20, 40))
        return ProcoreSimulator(state, hourly_limit=None)

    def env(company: str, url: str, args: argparse.Namespace, tmp: Path) -> dict[str, str]:
        return {
            "PROCORE_API_URL": url, "PROCORE_LOGIN_URL": url, "PROCORE_CLIENT_ID": SANDBOX_CLIENT_ID,
            "PROCORE_CLIENT_SECRET": SANDBOX_CLIENT_SECRET, "PROCORE_COMPANY_ID": company,
        }  # fmt: skip

    def scope(company: str) -> Scope:
        return Scope(
            vendors=frozenset({"procore"}),
            tenants=frozenset({("procore", company)}),
            all_of=frozenset({("procore", company, "project")}),
        )

    return Setup(
        "procore", build, lambda sim, url: None, env, lambda sim: str(next(iter(sim.state.companies))), scope,
        "PROCORE_CONCURRENCY",
    )  # fmt: skip


def _pingone() -> Setup:
    from reconciler.sandbox.pingone import (
        SANDBOX_CLIENT_ID,
        SANDBOX_ENVIRONMENT,
        SANDBOX_ORGANIZATION,
        SANDBOX_SECRET,
    )
    from reconciler.simulators.pingone import PingOneSimulator
    from reconciler.simulators.pingone_state import PingOneState

    def build(args: argparse.Namespace) -> Any:
        state = PingOneState.generate(
            users=args.pingone_users, groups=args.pingone_groups, memberships=args.pingone_memberships,
            role_assignments=40, environment_id=SANDBOX_ENVIRONMENT, organization_id=SANDBOX_ORGANIZATION,
        )  # fmt: skip
        state.clients[SANDBOX_CLIENT_ID] = SANDBOX_SECRET
        return PingOneSimulator(state, users_page_cap=200)

    def env(_: object, url: str, args: argparse.Namespace, tmp: Path) -> dict[str, str]:
        return {
            "PINGONE_CLIENT_ID": SANDBOX_CLIENT_ID, "PINGONE_CLIENT_SECRET": SANDBOX_SECRET,
            "PINGONE_ENVIRONMENT_ID": SANDBOX_ENVIRONMENT, "PINGONE_API_URL": f"{url}/v1",
            "PINGONE_AUTH_URL": url,
        }  # fmt: skip

    def scope(_: object) -> Scope:
        return Scope(
            vendors=frozenset({"pingone"}),
            tenants=frozenset({("pingone", "")}),
            all_of=frozenset({("pingone", "", "group"), ("pingone", "", "role")}),
        )

    return Setup(
        "pingone", build, lambda sim, url: None, env, lambda sim: None, scope, "PINGONE_MAX_CONCURRENCY"
    )


def _concur() -> Setup:
    from reconciler.sandbox.concur import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_REFRESH_TOKEN
    from reconciler.simulators.concur import ConcurSimulator
    from reconciler.simulators.concur_state import ConcurState

    def build(args: argparse.Namespace) -> Any:
        simulator = ConcurSimulator(ConcurState.generate(args.concur_users, 30))
        simulator.add_client(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)
        simulator.issue_refresh_token(SANDBOX_REFRESH_TOKEN)
        return simulator

    def after_start(simulator: Any, url: str) -> None:
        simulator.geolocation = url
        simulator.glz = url

    def env(company: str, url: str, args: argparse.Namespace, tmp: Path) -> dict[str, str]:
        return {
            "CONCUR_CLIENT_ID": SANDBOX_CLIENT_ID, "CONCUR_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
            "CONCUR_REFRESH_TOKEN": SANDBOX_REFRESH_TOKEN, "CONCUR_GEOLOCATION": url,
            "CONCUR_COMPANY_ID": company, "CONCUR_TOKEN_STORE": "file",
            "CONCUR_TOKEN_FILE": str(tmp / "concur.token.json"),
        }  # fmt: skip

    def scope(_: object) -> Scope:
        return Scope(
            vendors=frozenset({"concur"}),
            tenants=frozenset({("concur", "")}),
            all_of=frozenset({("concur", "", "role")}),
        )

    return Setup(
        "concur", build, after_start, env, lambda sim: sim.state.company_id, scope, "CONCUR_CONCURRENCY"
    )


SETUPS: dict[str, Callable[[], Setup]] = {
    "procore": _procore, "concur": _concur, "pingone": _pingone, "procore-apply": _procore,
}  # fmt: skip
DEFAULT_CONCURRENCY = {"procore": 8, "concur": 8, "pingone": 64, "procore-apply": APPLY_CONCURRENCY}


def _serve(setup: Setup, args: argparse.Namespace, pipe: Connection) -> None:
    """The server process: build the simulator, serve it, report the URL, wait to be told to stop."""
    from reconciler.simulators.serve import serve

    simulator = setup.build(args)
    gc.freeze()  # the simulated state is long-lived: collections need not walk it again and again
    with serve(simulator.handle, latency=args.latency) as url:
        setup.after_start(simulator, url)
        if hasattr(simulator, "freeze"):  # its pages made once from the built state (any write thaws it)
            simulator.freeze()
        pipe.send((url, setup.facts(simulator)))
        started = time.process_time()
        while pipe.recv() == "calls":  # the requests served so far, by "METHOD /path"
            pipe.send((Counter(simulator.calls), time.process_time() - started))
        pipe.send((Counter(simulator.calls), time.process_time() - started))


def grants_to_make(state: VendorState, count: int) -> list[Change]:
    """`count` project memberships the company does not have yet: active users onto projects, each
    with a template the company has (the changes a plan would ask apply to make)."""
    holds = {(g.resource, g.principal) for g in state.grants}
    templates = sorted(state.catalog.get("project", frozenset()))
    projects = sorted({g.resource for g in state.grants})
    accounts = [a for a in state.accounts if a.active]
    changes: list[Change] = []
    for n in range(count * 50):
        if len(changes) == count:
            break
        account = accounts[(n * 7919) % len(accounts)]
        project = projects[n % len(projects)]
        if (project, account.principal) in holds:
            continue
        holds.add((project, account.principal))
        change = Change(
            id=f"bench-{n}", vendor="procore", action=Action.GRANT, tenant=account.tenant,
            principal=account.principal, resource_type="project", resource=project,
            entitlement=templates[n % len(templates)], account_id=account.native_id,
        )  # fmt: skip
        changes.append(change)
    return changes


def run(row: str, concurrency: int, args: argparse.Namespace) -> dict[str, Any]:
    setup = SETUPS[row]()
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    server = context.Process(target=_serve, args=(setup, args, child), daemon=True)
    server.start()
    url, facts = parent.recv()
    applying = row == "procore-apply"
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **setup.env(facts, url, args, Path(tmp)),
            setup.concurrency_var: str(DEFAULT_CONCURRENCY["procore"] if applying else concurrency),
            ALLOW_ENV: urlsplit(url).hostname or "",  # the loopback simulator: an explicit opt-in
        }
        connector = plugin(setup.vendor).from_env(env, writable=applying)
        measured: dict[str, Any] = {}

        async def go() -> VendorState:
            try:
                state = await connector.sync(setup.scope(facts))
                if applying:
                    changes = grants_to_make(state, args.apply_grants)
                    before = connector.stats.requests
                    parent.send("calls")
                    calls_before, server_before = parent.recv()
                    wall, cpu = time.perf_counter(), time.process_time()
                    results = await execute(changes, {"procore": connector}, concurrency=concurrency)
                    measured.update(
                        wall=time.perf_counter() - wall, cpu=time.process_time() - cpu,
                        requests=connector.stats.requests - before, calls_before=calls_before,
                        server_before=server_before, changes=len(changes),
                        applied=sum(r.outcome is Outcome.APPLIED for _, r in results),
                    )  # fmt: skip
                return state
            finally:
                await connector.aclose()

        wall, cpu = time.perf_counter(), time.process_time()
        with paused_gc():  # as the CLI runs every command (reconciler.gcpause)
            state = event_loop.run(go())  # as the CLI runs it (see reconciler.event_loop)
            # Timed before the collector is resumed: the CLI keeps it paused to the end of the
            # command, and the first allocation after resuming it collects all the sync made (~0.1 s).
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    parent.send("stop")
    calls, server_cpu = parent.recv()
    server.join(timeout=10)
    result = {
        "row": row, "concurrency": concurrency, "accounts": len(state.accounts), "grants": len(state.grants),
        "requests": state.requests, "wall_s": wall, "client_cpu_s": cpu, "server_cpu_s": server_cpu,
    }  # fmt: skip
    if applying:
        result |= {
            "requests": measured["requests"], "wall_s": measured["wall"], "client_cpu_s": measured["cpu"],
            "server_cpu_s": server_cpu - measured["server_before"], "changes": measured["changes"],
            "applied": measured["applied"], "calls": calls - measured["calls_before"],
        }  # fmt: skip
    else:
        result["calls"] = calls
    result["floor"] = floor(row, result, args.latency)
    return result


def floor(row: str, r: dict[str, Any], latency: float) -> Floor:
    requests, concurrency = r["requests"], r["concurrency"]
    if row == "concur":
        calls: Counter[str] = r["calls"]
        chained = ("POST /oauth2/v0/token", "GET /profile/identity/v4.1/Users")
        chain = sum(calls[c] for c in chained)
        spend = calls["GET /profile/spend/v4.1/Users"]
        # The Spend pages come by offset, `concurrency` at once beside the chain, once the first
        # page has said how many there are: the token, the first page, then the rest side by side.
        beside = 2 + math.ceil(max(0, spend - 1) / concurrency) if spend else 0
        rounds = max(chain, beside)
        return Floor(
            rounds * latency,
            f"{rounds} round trips x {latency * 1000:.0f} ms, the longer of: the Identity cursor chain, "
            f"{chain} requests one after another (token + pages, each naming the next), and the "
            f"{spend} Spend pages beside it, {beside} rounds at {concurrency} at once (token, first "
            "page, then the rest side by side once it gives totalResults; Spend v4.1 pages hold at "
            "most 100 users)",
        )
    what = f"{requests:,} requests x {latency * 1000:.0f} ms / {concurrency} at once"
    if row == "procore-apply":
        what += f" (apply's concurrency; {r['changes']:,} grants, {r['applied']:,} applied)"
    return Floor(requests * latency / concurrency, what)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--vendor", action="append", choices=sorted(SETUPS), help="a row, repeatable; default: all"
    )
    parser.add_argument("--concurrency", type=int, action="append", help="repeatable; default: each row's")
    parser.add_argument("--latency", type=float, default=0.030)
    parser.add_argument("--procore-users", type=int, default=20_000)
    parser.add_argument("--procore-projects", type=int, default=1_000)
    parser.add_argument("--apply-grants", type=int, default=2_000)
    parser.add_argument("--pingone-users", type=int, default=20_000)
    parser.add_argument("--pingone-groups", type=int, default=200)
    parser.add_argument("--pingone-memberships", type=int, default=80_000)
    parser.add_argument("--concur-users", type=int, default=20_000)
    args = parser.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"loopback HTTP, {args.latency * 1000:.0f} ms a request; {os.cpu_count()} cores, load average {load}"
    )
    print(
        f"{'row':<13} {'conc.':>5} {'requests':>9} {'wall':>8} {'floor':>8} {'ratio':>6} {'target':>6}"
        f" {'client CPU':>10} {'per request':>11} {'server CPU':>10}  result"
    )
    notes: list[str] = []
    for row in args.vendor or ["procore", "concur", "pingone", "procore-apply"]:
        for concurrency in args.concurrency or [DEFAULT_CONCURRENCY[row]]:
            r = run(row, concurrency, args)
            ratio = r["wall_s"] / r["floor"].seconds
            per_request = r["client_cpu_s"] / max(1, r["requests"]) * 1000
            result = (
                f"{r['applied']:,} of {r['changes']:,} grants applied"
                if row == "procore-apply"
                else f"{r['accounts']:,} accounts, {r['grants']:,} grants"
            )
            print(
                f"{row:<13} {concurrency:>5} {r['requests']:>9,} {r['wall_s']:>7.2f}s {r['floor'].seconds:>7.2f}s"
                f" {ratio:>5.2f}x {TARGETS[row]:>5.2f}x {r['client_cpu_s']:>9.2f}s {per_request:>8.3f} ms"
                f" {r['server_cpu_s']:>9.2f}s  {result}",
                flush=True,
            )
            notes.append(f"  {row} at {concurrency}: {r['floor'].basis}")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("floors:", *notes, sep="\n")
    print(
        f"targets (issue #26): each row's ratio at most its target; PingOne's client CPU at most "
        f"{CPU_TARGET_MS} ms a request. Servers' CPU in all: {children.ru_utime + children.ru_stime:.1f} s; "
        f"load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
