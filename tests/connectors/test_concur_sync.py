"""Concur sync: accounts from Identity v4.1, roles from Spend v4.1, via the real connector and simulator."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest

from reconciler.changes import Action, Change
from reconciler.connectors.concur import IDENTITY_PAGE, SPEND_PAGE, ConcurConnector
from reconciler.connectors.http import RetryPolicy
from reconciler.errors import VendorError
from reconciler.records import Grant, ResourceKey, Scope
from reconciler.sandbox.concur import simulated
from reconciler.sandbox_seed import DOMAIN
from reconciler.simulators.concur import ConcurSimulator
from reconciler.simulators.concur_sandbox import sandbox_state
from reconciler.simulators.concur_state import ConcurState

T = TypeVar("T")
ALL_ROLES = Scope(
    vendors=frozenset({"concur"}),
    tenants=frozenset({("concur", "")}),
    all_of=frozenset({("concur", "", "role")}),
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def sandbox() -> tuple[ConcurSimulator, ConcurConnector]:
    simulator = ConcurSimulator(sandbox_state())
    return simulator, simulated(simulator)


async def sync(connector: ConcurConnector, scope: Scope = ALL_ROLES) -> Any:
    try:
        return await connector.sync(scope)
    finally:
        await connector.aclose()


def test_sync_reads_accounts_with_email_principal_and_login() -> None:
    _, connector = sandbox()
    state = run(sync(connector))
    by_principal = {a.principal: a for a in state.accounts}
    frank = by_principal[f"frank.osei@{DOMAIN}"]
    assert frank.attribute("login") == f"fosei@{DOMAIN}"
    assert frank.email == f"frank.osei@{DOMAIN}"
    assert frank.display_name == "Frank Osei"
    assert frank.native_id
    assert f"judy.alvarez@{DOMAIN}" not in by_principal
    assert f"temp.auditor@{DOMAIN}" in by_principal
    assert all(a.vendor == "concur" and a.tenant == "" for a in state.accounts)


def test_sync_reads_roles_by_code_including_entitlement_backed_ones() -> None:
    _, connector = sandbox()
    state = run(sync(connector))
    carol = f"carol.okafor@{DOMAIN}"
    held = {g.resource for g in state.grants if g.principal == carol}
    assert held == {"EXP_USER", "REQ_USER", "EXP_APPROVER", "EXP_PROCESSOR"}
    assert all(g.entitlement == "member" and g.resource_type == "role" for g in state.grants)
    assert state.catalog == {"role": frozenset({"member"})}
    assert "SHD_WEB_SERVICES_ADMIN" in state.known_resources["role"]


def test_grants_are_spelled_as_the_scope_spells_them_and_limited_to_it() -> None:
    _, connector = sandbox()
    scope = Scope(
        vendors=frozenset({"concur"}),
        tenants=frozenset({("concur", "")}),
        resources={ResourceKey("concur", "", "role", "Expense Approver"): True},
    )
    state = run(sync(connector, scope))
    assert {g.resource for g in state.grants} == {"Expense Approver"}
    assert (
        Grant("concur", "", "role", "Expense Approver", "member", f"dan.whitfield@{DOMAIN}") in state.grants
    )


def test_inactive_accounts_are_synced_as_inactive() -> None:
    simulator, connector = sandbox()
    user = simulator.state.by_user_name(f"temp.auditor@{DOMAIN}")
    assert user is not None
    user.active = False
    state = run(sync(connector))
    assert {a.principal: a.active for a in state.accounts}[f"temp.auditor@{DOMAIN}"] is False


def test_account_without_email_gets_a_login_principal() -> None:
    simulator, connector = sandbox()
    user = simulator.state.by_user_name(f"temp.auditor@{DOMAIN}")
    assert user is not None
    user.email = ""
    state = run(sync(connector))
    assert f"login:temp.auditor@{DOMAIN}" in {a.principal for a in state.accounts}


@pytest.mark.parametrize("users", [250, 2500])
def test_sync_makes_the_minimum_number_of_requests(users: int) -> None:
    simulator = ConcurSimulator(ConcurState.generate(users, 30))
    state = run(sync(simulated(simulator)))
    minimum = 1 + math.ceil(users / IDENTITY_PAGE) + math.ceil(users / SPEND_PAGE)
    assert len(state.accounts) == users
    assert state.requests == minimum == simulator.request_count
    assert simulator.calls["GET /profile/identity/v4.1/Users"] == math.ceil(users / IDENTITY_PAGE)


def test_no_roles_in_scope_means_no_spend_requests() -> None:
    simulator, connector = sandbox()
    scope = Scope(vendors=frozenset({"concur"}), tenants=frozenset({("concur", "")}))
    state = run(sync(connector, scope))
    assert state.grants == frozenset()
    assert simulator.calls["GET /profile/spend/v4.1/Users"] == 0


def test_sync_retries_429_and_honours_retry_after() -> None:
    simulator = ConcurSimulator(sandbox_state())
    simulator.retry_after = "7"
    simulator.faults.add("429", 2, match="GET /profile/spend")
    simulator.faults.add("503", 1, match="GET /profile/identity")
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    connector = simulated(simulator, policy=RetryPolicy(sleep=sleep))
    state = run(sync(connector))
    assert len(state.accounts) == 12
    assert len([w for w in waits if 7 <= w <= 7.8]) == 3  # Retry-After plus at most 10% jitter
    assert connector.stats.throttled == 2


def test_a_dropped_connection_is_retried() -> None:
    simulator = ConcurSimulator(sandbox_state())
    simulator.faults.add("drop", 1, match="GET /profile/identity")
    state = run(sync(simulated(simulator)))
    assert len(state.accounts) == 12


def test_persistent_errors_surface_as_a_readable_scim_message() -> None:
    simulator = ConcurSimulator(sandbox_state())
    simulator.faults.add("500", 100, match="GET /profile/spend")
    with pytest.raises(VendorError) as caught:
        run(sync(simulated(simulator)))
    assert "HTTP 500 GET /profile/spend/v4.1/Users" in caught.value.message
    assert "Service Unavailable" in caught.value.message


def test_an_expired_access_token_is_refreshed_once() -> None:
    simulator, connector = sandbox()

    async def twice() -> int:
        await connector.sync(ALL_ROLES)
        simulator.faults.add("expire-token", 1, match="GET /profile/identity")
        state = await connector.sync(ALL_ROLES)
        await connector.aclose()
        return len(state.accounts)

    assert run(twice()) == 12
    assert simulator.calls["POST /oauth2/v0/token"] == 2


def test_sync_through_a_read_only_client_works() -> None:
    simulator = ConcurSimulator(sandbox_state())
    state = run(sync(simulated(simulator, writable=False)))
    assert len(state.accounts) == 12


def test_the_next_identity_page_asked_for_on_a_wrong_guess_is_dropped_for_the_right_one() -> None:
    """The next page is asked for when a page's bytes show its cursor, before the page is checked.
    Here the bytes mislead: the real cursor's key is written with an escape, and a user carries a
    decoy `nextCursor`. The checked page decides: every user is read once, in order."""
    simulator = ConcurSimulator(ConcurState.generate(2500, 30))

    class Misleading(httpx.AsyncBaseTransport):
        def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
            self.inner = inner

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await self.inner.handle_async_request(request)
            if request.url.path.endswith("/identity/v4.1/Users") and "cursor" not in request.url.params:
                body = (await response.aread()).replace(b'"nextCursor": "', b'"next\\u0043ursor": "')
                body = body.replace(
                    b'"Resources": [{', b'"Resources": [{"urn:decoy": {"nextCursor": "OTk5OQ=="}, ', 1
                )
                return httpx.Response(
                    response.status_code, headers={"content-type": "application/json"}, content=body
                )
            return response

    state = run(sync(simulated(simulator, wrap=Misleading)))
    assert [a.native_id for a in state.accounts] == [u.id for u in simulator.state.users.values()]
    assert simulator.calls["GET /profile/identity/v4.1/Users"] <= math.ceil(2500 / IDENTITY_PAGE) + 1


@pytest.mark.parametrize(
    ("body", "guess"),
    [
        (b'{"Resources": [], "nextCursor": "MTAwMA=="}', "MTAwMA=="),
        (b'{"nextCursor" : "MTAwMA==", "Resources": []}', "MTAwMA=="),
        (b'{"Resources": []}', None),  # the last page
        (b'{"nextCursor": null}', None),
        (b'{"nextCursor": "a\\"b"}', None),  # escapes: the checked page will say
        (b'{"Resources": [{"x": {"nextCursor": "decoy"}}], "nextCursor": "real"}', None),  # twice: unsure
    ],
)
def test_the_cursor_guessed_from_a_page_s_bytes(body: bytes, guess: str | None) -> None:
    from reconciler.connectors.concur_api import cursor_in

    assert cursor_in(body) == guess


def test_a_frozen_simulator_answers_the_same_bytes_and_sees_a_change() -> None:
    """The benchmark's server freezes its simulator (pages joined from each user's JSON made once):
    it must answer exactly what it answers unfrozen, and a write must show in the next pages."""
    simulator = ConcurSimulator(ConcurState.generate(250, 30))
    simulator.access_tokens["t"] = (time.time() + 3600, simulator.geolocation)
    queries = [
        "/profile/identity/v4.1/Users?count=100",
        "/profile/identity/v4.1/Users?count=100&cursor=MjAw",  # the last page: no nextCursor
        "/profile/identity/v4.1/Users?count=1000&attributes=id,userName,emails,"
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:companyId",
        "/profile/spend/v4.1/Users?startIndex=1&count=100",
        "/profile/spend/v4.1/Users?startIndex=201&count=100",
    ]

    def pages() -> list[bytes]:
        return [
            simulator.handle(
                httpx.Request("GET", simulator.geolocation + q, headers={"Authorization": "Bearer t"})
            ).content
            for q in queries
        ]

    unfrozen = pages()
    simulator.freeze()
    assert pages() == unfrozen
    user = next(iter(simulator.state.users.values()))
    change = Change(
        id="c1", vendor="concur", action=Action.UPDATE, tenant="", principal=user.email,
        resource_type="account", resource="login", entitlement="renamed@example.com", account_id=user.id,
    )  # fmt: skip
    connector = simulated(simulator)
    try:
        assert run(connector.apply(change)).ok
    finally:
        run(connector.aclose())
    changed = pages()
    assert changed != unfrozen and b'"userName": "renamed@example.com"' in changed[0]


class _Reordered(httpx.AsyncBaseTransport):
    """Spend pages answered last page first (and Identity pages slowly), with an optional change to
    one page's body: pages that come out of order must make the same state."""

    def __init__(self, inner: httpx.AsyncBaseTransport, edit: dict[int, Any] | None = None) -> None:
        self.inner = inner
        self.edit = edit or {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        start = request.url.params.get("startIndex")
        if request.url.path.endswith("/identity/v4.1/Users"):
            await asyncio.sleep(0.004)  # Spend profiles come before their Identity users
        if start is None:
            return response
        await asyncio.sleep(0.002 * (30 - int(start) // SPEND_PAGE))
        if int(start) in self.edit:
            body = json.loads(await response.aread())
            self.edit[int(start)](body)
            return httpx.Response(200, headers={"content-type": "application/json"}, content=json.dumps(body))
        return response


def test_pages_read_as_they_come_make_the_same_state_as_pages_read_in_order() -> None:
    state = ConcurState.generate(2500, 30)
    in_order = run(sync(simulated(ConcurSimulator(state), concurrency=1)))
    reordered = run(sync(simulated(ConcurSimulator(state), concurrency=8, wrap=_Reordered)))
    assert reordered.accounts == in_order.accounts
    assert reordered.grants == in_order.grants
    assert reordered.known_resources == in_order.known_resources
    assert len(reordered.grants) > 2500


def _listed_again_on_the_third_page(user_id: str) -> Callable[[httpx.AsyncBaseTransport], _Reordered]:
    """Spend pages answered out of order, the third (startIndex 201) listing the user `user_id`
    again with one role, SHD_CONFIG_ADMIN: Concur's list moved between two page reads."""

    def listed_again(body: dict[str, Any]) -> None:
        again = json.loads(json.dumps(body["Resources"][0]))
        again["id"] = user_id
        again["urn:ietf:params:scim:schemas:extension:spend:2.0:Role"] = {
            "roles": [{"roleName": "SHD_CONFIG_ADMIN"}]
        }
        body["Resources"].append(again)

    return lambda inner: _Reordered(inner, {201: listed_again})


def test_a_user_listed_on_two_spend_pages_keeps_the_roles_of_the_later_page() -> None:
    """Concur's list can move between two page reads: a user then shows on both pages, with the
    roles of two moments. The later page is the later moment, whichever page arrives first."""
    simulator = ConcurSimulator(ConcurState.generate(2500, 30))
    users = [u for u in simulator.state.users.values() if u.spend is not None]
    moved = users[150]  # on the second page (startIndex 101)
    state = run(sync(simulated(simulator, wrap=_listed_again_on_the_third_page(moved.id))))
    principal = moved.email.casefold()
    assert {g.resource for g in state.grants if g.principal == principal} == {"SHD_CONFIG_ADMIN"}


def test_two_users_with_one_email_keep_both_users_roles_when_one_is_listed_again() -> None:
    """Two Concur users may share a work email (one principal): its grants are both users' roles,
    and one user's second listing (fewer roles) leaves the other user's roles in place."""
    simulator = ConcurSimulator(ConcurState.generate(2500, 30))
    users = [u for u in simulator.state.users.values() if u.spend is not None and u.roles]
    first, second = users[150], users[160]  # both on the second Spend page (startIndex 101)
    second.email = first.email
    state = run(sync(simulated(simulator, wrap=_listed_again_on_the_third_page(first.id))))
    principal = first.email.casefold()
    assert {g.resource for g in state.grants if g.principal == principal} == {
        "SHD_CONFIG_ADMIN",
        *second.role_names(),
    }
