"""Builders for the Procore tests: a simulator, the real connector over it, scopes, a fake clock."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from reconciler.changes import Action, Change, change_id
from reconciler.connectors.http import RetryPolicy
from reconciler.connectors.procore_api import procore_retry_policy
from reconciler.connectors.procore_connector import ProcoreConnector
from reconciler.records import ResourceKey, Scope
from reconciler.sandbox.procore import simulator_connector, simulator_settings
from reconciler.sandbox_seed import PROCORE_COMPANY
from reconciler.sandbox_seed import email as seed_email
from reconciler.simulators.procore import ProcoreSimulator
from reconciler.simulators.procore_state import ProcoreState, demo_state

COMPANY = PROCORE_COMPANY
MANAGED = ("Harbor Tower", "Pier 7 Retrofit", "Eastside Depot")
START = 1_800_000_000.0  # a fixed Unix time for the fake clock


@dataclass
class FakeClock:
    """Wall time that only moves when someone sleeps: the connector's sleeps advance the simulator."""

    now: float = START
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def policy(clock: FakeClock) -> RetryPolicy:
    return procore_retry_policy(sleep=clock.sleep, rng=random.Random(1))


def make(
    state: ProcoreState | None = None,
    *,
    writable: bool = True,
    clock: FakeClock | None = None,
    hourly_limit: int | None = None,
    spike_limit: int | None = None,
    concurrency: int = 4,
) -> tuple[ProcoreSimulator, ProcoreConnector, FakeClock]:
    clock = clock or FakeClock()
    sim = ProcoreSimulator(
        state or demo_state(), clock=clock, hourly_limit=hourly_limit, spike_limit=spike_limit
    )
    settings = simulator_settings(sim.state, concurrency=concurrency)
    connector = simulator_connector(
        sim, writable=writable, policy=policy(clock), settings=settings, now=clock, monotonic=clock
    )
    return sim, connector, clock


def scope(
    projects: Iterable[str] = MANAGED,
    *,
    company: str = COMPANY,
    all_projects: bool = False,
    authoritative: bool = True,
) -> Scope:
    return Scope(
        vendors=frozenset({"procore"}),
        tenants=frozenset({("procore", company)}),
        resources={ResourceKey("procore", company, "project", p): authoritative for p in projects},
        all_of=frozenset({("procore", company, "project")}) if all_projects else frozenset(),
    )


def change(
    action: Action,
    principal: str,
    *,
    resource_type: str = "project",
    resource: str = "",
    entitlement: str = "",
    before: str = "",
    attributes: Iterable[tuple[str, str]] = (),
    company: str = COMPANY,
    account_id: str = "",
) -> Change:
    return Change(
        id=change_id("procore", action, company, resource_type, resource, entitlement, principal),
        vendor="procore",
        action=action,
        tenant=company,
        principal=principal,
        resource_type=resource_type,
        resource=resource,
        entitlement=entitlement,
        before=before,
        attributes=tuple(sorted(attributes)),
        account_id=account_id,
    )


def email(key: str) -> str:
    return seed_email(key).casefold()
