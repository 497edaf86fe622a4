"""Benchmark: full syncs over real HTTP, as users get them, against each vendor's floor.

    python benchmarks/bench_sync_loopback.py                         # every vendor, 30 ms latency
    python benchmarks/bench_sync_loopback.py --vendor pingone --concurrency 16 --concurrency 64

Each vendor's simulator (at scale) is served on 127.0.0.1 by a separate process (the path of
`access sandbox serve`: a ThreadingHTTPServer that sleeps `--latency` per request), and the live
connector (`from_env`, httpx over TCP) syncs everything. Printed per vendor: requests made, wall
time, the CPU time of the client and of the simulator's server (when the server's CPU nears the
wall time, the simulator, not the connector, is the bottleneck), and the floor = requests x latency / concurrency (what the latency
alone costs if every request could overlap), so the ratio shows how close the sync is to it.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler.connectors.registry import plugin
from reconciler.gcpause import paused_gc
from reconciler.hosts import ALLOW_ENV
from reconciler.records import Scope


@dataclass(frozen=True)
class Setup:
    """What a vendor needs: a simulator factory (run in the server process), its environment, scope."""

    build: Callable[[argparse.Namespace], Any]  # -> simulator (with .handle)
    after_start: Callable[[Any, str], None]  # simulator, url
    env: Callable[[Any, str, argparse.Namespace, Path], dict[str, str]]  # simulator facts, url, args, tmp
    facts: Callable[[Any], Any]  # picklable facts the parent needs (ids)
    scope: Callable[[Any], Scope]
    concurrency_var: str


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
        build, lambda sim, url: None, env, lambda sim: str(next(iter(sim.state.companies))), scope,
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

    return Setup(build, lambda sim, url: None, env, lambda sim: None, scope, "PINGONE_MAX_CONCURRENCY")


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

    return Setup(build, after_start, env, lambda sim: sim.state.company_id, scope, "CONCUR_CONCURRENCY")


SETUPS: dict[str, Callable[[], Setup]] = {"procore": _procore, "concur": _concur, "pingone": _pingone}


def _serve(vendor: str, args: argparse.Namespace, pipe: Connection) -> None:
    """The server process: build the simulator, serve it, report the URL, wait to be told to stop."""
    from reconciler.simulators.serve import serve

    setup = SETUPS[vendor]()
    simulator = setup.build(args)
    with serve(simulator.handle, latency=args.latency) as url:
        setup.after_start(simulator, url)
        pipe.send((url, setup.facts(simulator)))
        started = time.process_time()
        pipe.recv()  # stop
        pipe.send((simulator.request_count, time.process_time() - started))


def run(vendor: str, concurrency: int, args: argparse.Namespace) -> dict[str, Any]:
    setup = SETUPS[vendor]()
    parent, child = multiprocessing.get_context("fork").Pipe()
    server = multiprocessing.get_context("fork").Process(
        target=_serve, args=(vendor, args, child), daemon=True
    )
    server.start()
    url, facts = parent.recv()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **setup.env(facts, url, args, Path(tmp)),
            setup.concurrency_var: str(concurrency),
            ALLOW_ENV: urlsplit(url).hostname or "",  # the loopback simulator: an explicit opt-in
        }
        connector = plugin(vendor).from_env(env, writable=False)

        async def sync() -> Any:
            try:
                return await connector.sync(setup.scope(facts))
            finally:
                await connector.aclose()

        wall, cpu = time.perf_counter(), time.process_time()
        with paused_gc():  # as the CLI runs every command (reconciler.gcpause)
            state = asyncio.run(sync())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    parent.send("stop")
    served, server_cpu = parent.recv()
    server.join(timeout=10)
    floor = state.requests * args.latency / concurrency
    return {
        "vendor": vendor, "concurrency": concurrency, "accounts": len(state.accounts),
        "grants": len(state.grants), "requests": state.requests, "served": served, "wall_s": wall,
        "client_cpu_s": cpu, "server_cpu_s": server_cpu, "floor_s": floor,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vendor", action="append", choices=sorted(SETUPS), help="repeatable; default: all")
    parser.add_argument("--concurrency", type=int, action="append", help="repeatable; default: each vendor's")
    parser.add_argument("--latency", type=float, default=0.030)
    parser.add_argument("--procore-users", type=int, default=20_000)
    parser.add_argument("--procore-projects", type=int, default=1_000)
    parser.add_argument("--pingone-users", type=int, default=20_000)
    parser.add_argument("--pingone-groups", type=int, default=200)
    parser.add_argument("--pingone-memberships", type=int, default=80_000)
    parser.add_argument("--concur-users", type=int, default=20_000)
    args = parser.parse_args()
    defaults = {"procore": 8, "concur": 8, "pingone": 16}
    print(f"loopback HTTP, {args.latency * 1000:.0f} ms a request; floor = requests x latency / concurrency")
    print(
        f"{'vendor':<8} {'conc.':>5} {'requests':>9} {'wall':>8} {'floor':>8} {'ratio':>6} {'client CPU':>10} {'server CPU':>10}  result"
    )
    for vendor in args.vendor or ["procore", "concur", "pingone"]:
        for concurrency in args.concurrency or [defaults[vendor]]:
            r = run(vendor, concurrency, args)
            print(
                f"{vendor:<8} {concurrency:>5} {r['requests']:>9,} {r['wall_s']:>7.2f}s {r['floor_s']:>7.2f}s"
                f" {r['wall_s'] / r['floor_s']:>5.2f}x {r['client_cpu_s']:>9.2f}s {r['server_cpu_s']:>9.2f}s"
                f"  {r['accounts']:,} accounts, {r['grants']:,} grants",
                flush=True,
            )


if __name__ == "__main__":
    main()
