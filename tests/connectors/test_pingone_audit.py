"""PingOne's audit activities and licence: the simulator records who made each write, the connector
names the cause of drift from them (bounded to the users that drifted) and reads the licence; a 403
degrades to a note, never a failed plan."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest

from reconciler import drift
from reconciler.changes import ACCOUNT, Action, Cause, CauseKind, Change
from reconciler.connectors.http import RetryPolicy
from reconciler.connectors.pingone import PingOneConnector, connect
from reconciler.records import Grant, ResourceKey, Scope
from reconciler.sandbox.pingone import SANDBOX_CLIENT_ID, SANDBOX_LICENSED_USERS, sandbox_settings, seed_state
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.pingone import PingOneSimulator
from reconciler.simulators.pingone_audit import CONSOLE_NAME

T = TypeVar("T")
DOMAIN = "harborbuild.example"
BOB, CAROL, HEIDI = f"bob.ruiz@{DOMAIN}", f"carol.okafor@{DOMAIN}", f"heidi.brandt@{DOMAIN}"
ENV = "/v1/environments/7a3c9e52-5b1d-4f0e-9a61-5a4db0c1e001"
API = "https://api.pingone.com"
SCOPE = Scope(
    vendors=frozenset({"pingone"}),
    tenants=frozenset({("pingone", "")}),
    resources={ResourceKey("pingone", "", "group", "VPN"): True},
    all_of=frozenset({("pingone", "", "role")}),
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _no_sleep(seconds: float) -> None:
    return None


def make(sim: PingOneSimulator, *, writable: bool = False, **env: str) -> PingOneConnector:
    policy = RetryPolicy(sleep=_no_sleep, rng=random.Random(1))
    return connect(
        sandbox_settings(**env), writable=writable, transport=SimulatorTransport(sim.handle), policy=policy
    )


def user_id(sim: PingOneSimulator, email: str) -> str:
    return next(uid for uid, u in sim.state.users.items() if u["email"].casefold() == email)


def by_hand(
    sim: PingOneSimulator, admin: str, method: str, path: str, body: dict[str, Any]
) -> httpx.Response:
    """An administrator's change in the admin console: a request with their console token."""
    token = sim.console_token(user_id(sim, admin))
    request = httpx.Request(
        method, f"{API}{ENV}{path}", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    return sim.handle(request)


def item(rtype: str, resource: str, entitlement: str, principal: str, change: str = "c1") -> drift.Item:
    return drift.Item(Grant("pingone", "", rtype, resource, entitlement, principal), change)


async def attribute(sim: PingOneSimulator, items: list[drift.Item], **env: str) -> list[Cause]:
    connector = make(sim, **env)
    try:
        await connector.sync(SCOPE)
        return await connector.attribute(items)
    finally:
        await connector.aclose()


def activities(sim: PingOneSimulator) -> list[dict[str, Any]]:
    return sim.state.activities


# ---------------------------------------------------------------- the simulator's audit trail


def test_every_write_leaves_an_activity_naming_the_application_that_made_it() -> None:
    sim = PingOneSimulator(seed_state())
    before = len(activities(sim))

    async def grant() -> None:
        connector = make(sim, writable=True)
        try:
            await connector.sync(SCOPE)
            change = Change("c", "pingone", Action.GRANT, "", CAROL, "group", "VPN", "member")
            assert (await connector.apply(change)).ok
        finally:
            await connector.aclose()

    run(grant())
    (new,) = activities(sim)[before:]
    assert new["action"]["type"] == "GROUP_MEMBERSHIP.CREATED"
    assert new["actors"]["client"]["id"] == SANDBOX_CLIENT_ID and "user" not in new["actors"]
    assert {r["type"]: r["id"] for r in new["resources"]} == {
        "USER": user_id(sim, CAROL),
        "GROUP": sim.state.group_named("VPN"),
    }
    assert new["result"]["status"] == "SUCCESS" and new["recordedAt"].endswith("Z")


def test_a_change_made_by_hand_names_the_administrator_and_the_console() -> None:
    sim = PingOneSimulator(seed_state())
    response = by_hand(
        sim,
        HEIDI,
        "POST",
        f"/users/{user_id(sim, CAROL)}/memberOfGroups",
        {"id": sim.state.group_named("VPN")},
    )
    assert response.status_code == 201
    actors = activities(sim)[-1]["actors"]
    assert actors["user"] == {
        "id": user_id(sim, HEIDI),
        "name": HEIDI,
        "type": "USER",
        "environment": actors["user"]["environment"],
    }
    assert actors["client"]["name"] == CONSOLE_NAME


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 400),  # the docs: the minimum filter is a date range
        ('resources.id eq "x"', 400),
        ('recordedAt gt "2020-01-01T00:00:00Z" AND name eq "x"', 400),  # not a filterable attribute
        ('recordedAt gt "2020-01-01T00:00:00Z" AND recordedAt lt "2099-01-01T00:00:00Z"', 200),
    ],
)
def test_the_activities_filter_needs_a_recorded_range(query: str, status: int) -> None:
    sim = PingOneSimulator(seed_state())
    token = sim.console_token(user_id(sim, HEIDI))
    request = httpx.Request(
        "GET", f"{API}{ENV}/activities", params={"filter": query} if query else None,
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    response = sim.handle(request)
    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["code"] == "INVALID_FILTER"


def test_the_sandbox_seed_records_who_granted_bob_his_admin_role_by_hand() -> None:
    (seeded,) = [a for a in activities(PingOneSimulator(seed_state()))]
    assert seeded["action"]["type"] == "ROLE_ASSIGNMENT.CREATED"
    assert seeded["actors"]["user"]["name"] == HEIDI


# ---------------------------------------------------------------- causes


def test_a_hand_made_grant_is_out_of_band_and_names_its_administrator() -> None:
    sim = PingOneSimulator(seed_state())
    by_hand(
        sim,
        HEIDI,
        "POST",
        f"/users/{user_id(sim, CAROL)}/memberOfGroups",
        {"id": sim.state.group_named("VPN")},
    )
    causes = run(
        attribute(
            sim,
            [item("group", "VPN", "member", CAROL), item("role", "Environment Admin", "environment", BOB)],
        )
    )
    carol, bob = sorted(causes, key=lambda c: c.resource_type)
    assert (carol.kind, carol.actor, carol.actor_type, carol.client) == (
        CauseKind.OUT_OF_BAND,
        HEIDI,
        "user",
        CONSOLE_NAME,
    )
    assert carol.action == "GROUP_MEMBERSHIP.CREATED" and carol.change == "c1"
    assert (bob.kind, bob.actor, bob.action) == (CauseKind.OUT_OF_BAND, HEIDI, "ROLE_ASSIGNMENT.CREATED")
    assert drift.text(carol).startswith(f"granted by {HEIDI} (an administrator, through {CONSOLE_NAME}) at ")


def test_what_access_granted_itself_is_its_own_and_another_application_is_out_of_band() -> None:
    sim = PingOneSimulator(seed_state())

    async def grant() -> None:
        connector = make(sim, writable=True)
        try:
            await connector.sync(SCOPE)
            await connector.apply(Change("c", "pingone", Action.GRANT, "", CAROL, "group", "VPN", "member"))
        finally:
            await connector.aclose()

    run(grant())
    (ours,) = run(attribute(sim, [item("group", "VPN", "member", CAROL)]))
    assert (ours.kind, ours.actor_id, ours.actor) == (
        CauseKind.ACCESS,
        SANDBOX_CLIENT_ID,
        "access worker (sandbox)",
    )
    # Planning with read-only credentials: the apply worker is named by PINGONE_WORKER_CLIENT_IDS.
    (read_only,) = run(
        attribute(sim, [item("group", "VPN", "member", CAROL)], PINGONE_WORKER_CLIENT_IDS="apply-app")
    )
    assert read_only.kind is CauseKind.OUT_OF_BAND and read_only.actor_type == "client"
    (listed,) = run(
        attribute(
            sim,
            [item("group", "VPN", "member", CAROL)],
            PINGONE_WORKER_CLIENT_IDS=f"apply-app, {SANDBOX_CLIENT_ID}",
        )
    )
    assert listed.kind is CauseKind.ACCESS


def test_only_the_drifted_users_are_asked_about_within_the_window() -> None:
    sim = PingOneSimulator(seed_state())
    sim.keep_log = True
    run(
        attribute(
            sim, [item("role", "Environment Admin", "environment", BOB), item(ACCOUNT, "", "", BOB, "")]
        )
    )
    asked = [r for r in sim.log if r.url.path.endswith("/activities")]
    assert len(asked) == 1  # one user: one request, however many of their items drifted
    text = asked[0].url.params["filter"]
    assert f'resources.id eq "{user_id(sim, BOB)}"' in text
    assert 'recordedAt gt "' in text and 'AND recordedAt lt "' in text


def test_activities_older_than_the_window_or_of_something_else_name_nobody() -> None:
    sim = PingOneSimulator(seed_state())
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    sim.wall = lambda: old
    by_hand(
        sim,
        HEIDI,
        "POST",
        f"/users/{user_id(sim, CAROL)}/memberOfGroups",
        {"id": sim.state.group_named("VPN")},
    )
    (cause,) = run(attribute(sim, [item("group", "VPN", "member", CAROL)]))
    assert cause.kind is CauseKind.UNKNOWN
    assert cause.note == "not attributable (no PingOne audit activity made it in the last 30 days)"
    (wider,) = run(attribute(sim, [item("group", "VPN", "member", CAROL)], PINGONE_ACTIVITY_DAYS="60"))
    assert wider.kind is CauseKind.OUT_OF_BAND
    # Bob's activity is a role assignment: it does not explain a group membership of his.
    (other,) = run(attribute(sim, [item("group", "VPN", "member", BOB)]))
    assert other.kind is CauseKind.UNKNOWN


def test_a_worker_that_may_not_read_activities_degrades_without_retrying_the_403() -> None:
    sim = PingOneSimulator(seed_state())
    sim.forbidden.add("/activities")
    sim.keep_log = True
    causes = run(
        attribute(
            sim,
            [item("role", "Environment Admin", "environment", BOB), item("group", "VPN", "member", CAROL)],
        )
    )
    assert (
        {c.note for c in causes}
        == {drift.FORBIDDEN}
        == {"not attributable (the worker may not read audit activities)"}
    )
    assert (
        sum(1 for r in sim.log if r.url.path.endswith("/activities")) == 2
    )  # one each, no propagation retries


# ---------------------------------------------------------------- licence


def test_the_licence_gives_the_identities_it_allows_or_says_why_not() -> None:
    sim = PingOneSimulator(seed_state())

    async def licence() -> Any:
        connector = make(sim)
        try:
            return await connector.licence()
        finally:
            await connector.aclose()

    assert run(licence()).users == SANDBOX_LICENSED_USERS
    sim.state.licenses[sim.state.license_id]["users"].pop("max")
    assert run(licence()).note == "the licence sets no maximum of users"
    sim.forbidden.add("/licenses")
    found = run(licence())
    assert (found.users, found.note) == (None, "the worker may not read the organization's licences")
