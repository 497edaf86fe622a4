"""A vendor that answers but fails now and then is waited out; one that is down ends the run.

With one answer in five a 5xx and one connection in twenty dropped (half before the vendor acted,
half after: the answer lost), each connector reads a few thousand requests' worth of state exactly
and applies every change once: nothing repeated (a second account), nothing lost. A host that never
answers still fails in seconds, and a vendor that only fails ends the run with one line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from reconciler.catalogs.concur import EXCLUSIVE_PAIRS
from reconciler.changes import Action, Change
from reconciler.connectors.base import ChangeResult, Connector, Outcome, VendorState
from reconciler.connectors.http import Endpoint, NetworkFailure, RetryPolicy, build_client, send_with_retries
from reconciler.connectors.pingone import connect
from reconciler.executor import execute
from reconciler.planner import build_plan
from reconciler.records import AccessSet, Account, Grant, Scope
from reconciler.sandbox import concur as concur_sandbox
from reconciler.sandbox.pingone import (
    SANDBOX_CLIENT_ID,
    SANDBOX_ENVIRONMENT,
    SANDBOX_ORGANIZATION,
    SANDBOX_SECRET,
    sandbox_settings,
    seed_state,
)
from reconciler.sandbox.procore import simulator_connector
from reconciler.simulators.base import SimulatorBase, SimulatorTransport
from reconciler.simulators.concur import ConcurSimulator
from reconciler.simulators.concur_state import ConcurState
from reconciler.simulators.pingone import PingOneSimulator
from reconciler.simulators.pingone_state import PingOneState
from reconciler.simulators.procore import ProcoreSimulator
from reconciler.simulators.procore_state import scale_state
from reconciler.simulators.serve import serve

ACCESS = Path(sys.executable).parent / "access"
TODAY = dt.date(2026, 11, 23)


async def no_wait(_: float) -> None:
    await asyncio.sleep(0)  # no waiting, but other requests run meanwhile, as they would


def quick(seed: int = 1) -> RetryPolicy:
    """The default policy's budgets, without its waits."""
    return RetryPolicy(sleep=no_wait, rng=random.Random(seed))


def flaky(simulator: SimulatorBase, seed: int) -> None:
    """20% 5xx and 5% dropped connections, on every kind of request (token requests too)."""
    simulator.faults.rng = random.Random(seed)
    for kind, share in (("500", 0.05), ("502", 0.1), ("504", 0.05), ("drop", 0.025), ("lose-answer", 0.025)):
        simulator.faults.add_rate(kind, share)


@dataclass
class Vendor:
    simulator: SimulatorBase
    connector: Callable[[], Connector]
    scope: Scope
    new_account: Callable[[int], Account]
    changes: tuple[int, int] = (60, 40)  # grants and revocations to make
    exclusive: frozenset[frozenset[str]] = frozenset()  # resources one principal may not hold both of


def procore() -> Vendor:
    simulator = ProcoreSimulator(scale_state(users=1_500, projects=700, members=(3, 8)), hourly_limit=None)
    company = str(next(iter(simulator.state.companies)))
    scope = Scope(
        vendors=frozenset({"procore"}),
        tenants=frozenset({("procore", company)}),
        all_of=frozenset({("procore", company, "project")}),
    )

    def account(n: int) -> Account:
        email = f"flaky{n}@bench.example"
        return Account("procore", company, email, email=email, display_name=f"Flaky Person{n}")

    return Vendor(
        simulator, lambda: simulator_connector(simulator, writable=True, policy=quick()), scope, account
    )


def concur() -> Vendor:
    simulator = ConcurSimulator(ConcurState.generate(2_000, 30))
    simulator.provision_polls = 1
    scope = Scope(
        vendors=frozenset({"concur"}),
        tenants=frozenset({("concur", "")}),
        all_of=frozenset({("concur", "", "role")}),
    )

    def account(n: int) -> Account:
        email = f"flaky{n}@scale.example"
        return Account("concur", "", email, email=email, display_name=f"Flaky Person{n}")

    connector = concur_sandbox.simulated  # Concur reads 1,000 users a page: its requests are mostly writes
    return Vendor(
        simulator, lambda: connector(simulator, policy=quick(), concurrency=8), scope, account, (600, 400),
        frozenset(frozenset(pair) for pair in EXCLUSIVE_PAIRS),
    )  # fmt: skip


def pingone() -> Vendor:
    state = PingOneState.generate(
        users=1_500, groups=30, memberships=3_000, role_assignments=40,
        environment_id=SANDBOX_ENVIRONMENT, organization_id=SANDBOX_ORGANIZATION,
    )  # fmt: skip
    state.clients[SANDBOX_CLIENT_ID] = SANDBOX_SECRET
    simulator = PingOneSimulator(state, users_page_cap=200)
    scope = Scope(
        vendors=frozenset({"pingone"}),
        tenants=frozenset({("pingone", "")}),
        all_of=frozenset({("pingone", "", "group"), ("pingone", "", "role")}),
    )

    def account(n: int) -> Account:
        email = f"flaky{n}@bench.example"
        return Account(
            "pingone", "", email, email=email, display_name=f"Flaky Person{n}",
            attributes=(("population", "Employees"),),
        )  # fmt: skip

    transport = SimulatorTransport(simulator.handle)
    return Vendor(
        simulator,
        lambda: connect(sandbox_settings(), writable=True, transport=transport, policy=quick()),
        scope,
        account,
    )


def desired_from(actual: VendorState, vendor: Vendor, rng: random.Random) -> AccessSet:
    """What the vendor holds, less some grants, plus new ones, 5 of them for 5 new people."""
    grants = sorted(actual.grants)
    to_grant, to_revoke = vendor.changes
    wanted = set(grants) - set(rng.sample(grants, to_revoke))
    heads = sorted({g[:5] for g in grants})
    accounts = {a.key: a for a in actual.accounts if a.active}
    new = [vendor.new_account(n) for n in range(5)]
    accounts |= {a.key: a for a in new}
    principals = sorted(a.principal for a in accounts.values())
    held: dict[str, set[str]] = {}
    for grant in grants:
        held.setdefault(grant.principal, set()).add(grant.resource)
    added = 0
    while added < to_grant:
        head = rng.choice(heads)
        principal = new[added].principal if added < len(new) else rng.choice(principals)
        mine = held.setdefault(principal, set())
        if head[3] in mine or any(frozenset((head[3], other)) in vendor.exclusive for other in mine):
            continue
        wanted.add(Grant(*head, principal))
        mine.add(head[3])
        added += 1
    return AccessSet(accounts=accounts, grants=frozenset(wanted), scope=vendor.scope)


@pytest.mark.parametrize("make", [procore, concur, pingone], ids=["procore", "concur", "pingone"])
def test_a_flaky_vendor_is_read_exactly_and_every_change_is_made_once(make: Callable[[], Vendor]) -> None:
    vendor = make()
    [name] = vendor.scope.vendors
    connector = vendor.connector()

    async def scenario() -> tuple[AccessSet, list[VendorState], list[tuple[Change, ChangeResult]]]:
        clean = await connector.sync(vendor.scope)
        desired = desired_from(clean, vendor, random.Random(5))
        flaky(vendor.simulator, seed=11)
        read = await connector.sync(vendor.scope)
        plan = build_plan(desired, {name: read}, today=TODAY)
        results = await execute(plan.changes, {name: connector})
        vendor.simulator.faults.rates.clear()
        after = await connector.sync(vendor.scope)
        await connector.aclose()
        return desired, [clean, read, after], results

    desired, (clean, read, after), results = asyncio.run(scenario())
    assert read.fingerprint == clean.fingerprint, "a flaky read lost or doubled something"
    actions = Counter(c.action for c, _ in results)
    to_grant, to_revoke = vendor.changes
    assert actions == {Action.CREATE_ACCOUNT: 5, Action.GRANT: to_grant, Action.REVOKE: to_revoke}
    assert [
        (c.action, c.principal, c.resource, r.message) for c, r in results if r.outcome != Outcome.APPLIED
    ] == []
    assert build_plan(desired, {name: after}, today=TODAY).changes == ()  # nothing lost
    principals = Counter(a.principal for a in after.accounts)
    assert principals.most_common(1)[0][1] == 1, "an account was made twice"
    fired = vendor.simulator.faults.fired
    assert vendor.simulator.request_count >= 2_000 and sum(fired.values()) > 300, fired
    assert min(fired[kind] for kind in ("500", "502", "504", "drop", "lose-answer")) >= 10, fired


def pingone_env(url: str) -> dict[str, str]:
    return {
        "PINGONE_CLIENT_ID": SANDBOX_CLIENT_ID, "PINGONE_CLIENT_SECRET": SANDBOX_SECRET,
        "PINGONE_ENVIRONMENT_ID": SANDBOX_ENVIRONMENT, "PINGONE_API_URL": f"{url}/v1", "PINGONE_AUTH_URL": url,
        "ACCESS_ALLOW_HOSTS": url.removeprefix("http://"),
    }  # fmt: skip


def plan_process(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ACCESS), "--repo", str(repo), "--vendor", "pingone", "plan", "--format", "json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.loopback
def test_a_plan_against_a_flaky_vendor_over_http_is_the_plan_of_a_healthy_one(example_repo: Path) -> None:
    """The CLI as a process, with its real retry policy (real waits), over loopback HTTP."""
    simulator = PingOneSimulator(seed_state())
    with serve(simulator.handle) as url:
        healthy = plan_process(example_repo, pingone_env(url))
        flaky(simulator, seed=3)
        simulator.faults.rates = [r for r in simulator.faults.rates if r.kind != "lose-answer"]  # plan: reads
        simulator.faults.add("502", 3, match="/as/token")  # the first answers fail: 3 attempts were the end
        run = plan_process(example_repo, pingone_env(url))
    assert healthy.returncode == 0, healthy.stderr
    assert run.returncode == 0, run.stderr
    assert run.stdout == healthy.stdout
    assert simulator.faults.fired["502"] >= 4 and simulator.faults.fired["drop"] >= 1, simulator.faults.fired


def test_a_vendor_that_only_fails_stops_the_run_in_one_line_once_most_requests_fail() -> None:
    """100% 5xx after the vendor answered: the shared budget stops every request, not 12 attempts each."""
    simulator = PingOneSimulator(seed_state())
    transport = SimulatorTransport(simulator.handle)
    connector = connect(sandbox_settings(), writable=False, transport=transport, policy=quick())
    scope = Scope(
        vendors=frozenset({"pingone"}), tenants=frozenset({("pingone", "")}),
        all_of=frozenset({("pingone", "", "group"), ("pingone", "", "role")}),
    )  # fmt: skip

    async def sync_twice() -> None:
        try:
            await connector.sync(scope)
            simulator.faults.add("500", 10**6, match="/roleAssignments")
            await connector.sync(scope)
        finally:
            await connector.aclose()

    before = simulator.request_count
    with pytest.raises(NetworkFailure) as caught:
        asyncio.run(sync_twice())
    message = caught.value.message
    assert "\n" not in message and message.startswith(
        "pingone: api.pingone.com (PINGONE_REGION) answered HTTP 500 GET "
    )
    assert message.endswith(
        "of its last 100 requests failed; the service is failing or overloaded: check the vendor's status "
        "page and try again later"
    )
    assert simulator.faults.fired["500"] < 200  # not 12 attempts for each of the users
    assert simulator.request_count - before < 400


def test_a_vendor_failing_for_longer_than_the_budget_stops_even_one_request_at_a_time() -> None:
    """No success for `budget_seconds` while failing: the run stops before a request's own 12 attempts."""
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    def failing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503 if now[0] else 200, json={"message": "down for maintenance"})

    client = build_client(
        "https://api.procore.com",
        transport=httpx.MockTransport(failing),
        writable=False,
        endpoint=Endpoint("procore", {"api.procore.com": "PROCORE_ENVIRONMENT"}),
    )
    policy = RetryPolicy(sleep=sleep, clock=lambda: now[0], rng=random.Random(2))

    async def go() -> None:
        async with client:
            await send_with_retries(client, "GET", "/rest/v1.0/companies", policy=policy)
            now[0] = 1.0
            await send_with_retries(client, "GET", "/rest/v1.0/companies", policy=policy)

    with pytest.raises(NetworkFailure) as caught:
        asyncio.run(go())
    assert caught.value.message.startswith(
        "procore: api.procore.com (PROCORE_ENVIRONMENT) answered HTTP 503 GET /rest/v1.0/companies "
    )
    assert "(down for maintenance), and no request has succeeded for 2" in caught.value.message
    assert 20 <= now[0] - 1.0 < 25


@pytest.mark.loopback
def test_an_unreachable_host_still_fails_within_seconds_with_the_default_policy() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: connections are refused
    url = f"http://127.0.0.1:{port}"
    env = pingone_env(url)
    settings = sandbox_settings(PINGONE_API_URL=env["PINGONE_API_URL"], PINGONE_AUTH_URL=url,
                                ACCESS_ALLOW_HOSTS=env["ACCESS_ALLOW_HOSTS"])  # fmt: skip
    connector = connect(settings, writable=False)  # the real transport and the default policy
    scope = Scope(vendors=frozenset({"pingone"}), tenants=frozenset({("pingone", "")}))

    async def sync() -> None:
        try:
            await connector.sync(scope)
        finally:
            await connector.aclose()

    started = time.monotonic()
    with pytest.raises(NetworkFailure) as caught:
        asyncio.run(sync())
    assert time.monotonic() - started < 5
    assert caught.value.message == (
        f"pingone: cannot reach 127.0.0.1:{port} (PINGONE_API_URL / PINGONE_AUTH_URL): the connection was refused "
        f"(POST /{SANDBOX_ENVIRONMENT}/as/token, 3 attempts); check PINGONE_API_URL / PINGONE_AUTH_URL and the "
        "host and port"
    )
