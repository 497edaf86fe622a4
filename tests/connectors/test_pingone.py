"""PingOne: the real connector against the simulator (in-process, and once on loopback)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from reconciler.changes import ACCOUNT, Action, Change
from reconciler.connectors.base import Outcome, VendorState
from reconciler.connectors.http import ReadOnlyViolation, RetryPolicy
from reconciler.connectors.pingone import PLUGIN, PingOneConnector, connect
from reconciler.connectors.pingone_settings import PingOneSettings
from reconciler.errors import ConfigError, VendorError
from reconciler.records import Grant, ResourceKey, Scope
from reconciler.sandbox.pingone import (
    SANDBOX,
    SANDBOX_CLIENT_ID,
    SANDBOX_ENVIRONMENT,
    SANDBOX_SECRET,
    sandbox_settings,
    seed_state,
)
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.pingone import PingOneSimulator
from reconciler.simulators.pingone_state import PingOneState
from reconciler.simulators.serve import serve

T = TypeVar("T")
DOMAIN = "harborbuild.example"
BOB, OSCAR, MIKE, GRACE = (
    f"bob.ruiz@{DOMAIN}",
    "oscar.reyes@steelframe.example",
    f"mike.chen@{DOMAIN}",
    f"grace.lin@{DOMAIN}",
)
GROUPS = ("Procore Users", "Concur Users", "VPN", "Finance Systems")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def yaml_scope(*, all_groups: bool = False) -> Scope:
    """What access/pingone.yaml manages: four groups authoritatively, every admin role exhaustively."""
    return Scope(
        vendors=frozenset({"pingone"}),
        tenants=frozenset({("pingone", "")}),
        resources={ResourceKey("pingone", "", "group", g): True for g in GROUPS},
        all_of=frozenset({("pingone", "", "role")} | ({("pingone", "", "group")} if all_groups else set())),
    )


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make(
    sim: PingOneSimulator, *, writable: bool = True, sleeps: Sleeps | None = None, **env: str
) -> PingOneConnector:
    policy = RetryPolicy(sleep=sleeps if sleeps is not None else Sleeps(), rng=random.Random(1))
    settings = sandbox_settings(PINGONE_MAX_CONCURRENCY="4", **env)
    return connect(settings, writable=writable, transport=SimulatorTransport(sim.handle), policy=policy)


async def sync_once(sim: PingOneSimulator, scope: Scope | None = None, **kwargs: Any) -> VendorState:
    connector = make(sim, **kwargs)
    try:
        return await connector.sync(scope or yaml_scope())
    finally:
        await connector.aclose()


def change(
    action: Action, principal: str, resource_type: str, resource: str, entitlement: str, **kw: Any
) -> Change:
    return Change(
        f"c-{action}-{resource}", "pingone", action, "", principal, resource_type, resource, entitlement, **kw
    )


def g(rtype: str, resource: str, entitlement: str, principal: str) -> Grant:
    return Grant("pingone", "", rtype, resource, entitlement, principal)


def user_id(sim: PingOneSimulator, email: str) -> str:
    return next(uid for uid, u in sim.state.users.items() if u["email"].casefold() == email)


# ----- sync -----


def test_sync_reads_accounts_with_population_and_login() -> None:
    state = run(sync_once(PingOneSimulator(seed_state())))
    accounts = {a.principal: a for a in state.accounts}
    assert len(accounts) == 14
    assert accounts[BOB].attribute("login") == "bruiz"
    assert accounts[OSCAR].attribute("population") == "Employees"
    assert accounts[f"svc-backup@{DOMAIN}"].attribute("login") == "svc-backup"
    assert accounts[BOB].native_id == user_id(PingOneSimulator(seed_state()), BOB)
    assert state.known_resources["population"] == {"Employees", "Contractors"}
    assert "population/Contractors" in state.catalog["role"]


def test_sync_reads_the_last_sign_on_and_when_the_user_was_last_changed() -> None:
    at = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
    sim = PingOneSimulator(seed_state(), wall=lambda: at)
    accounts = {a.principal: a for a in run(sync_once(sim)).accounts}
    assert accounts[BOB].last_sign_in == "2026-11-19T08:09:00.000Z"  # lastSignOn.at
    assert accounts[OSCAR].last_sign_in == ""  # never signed on: PingOne sends no lastSignOn
    assert accounts[BOB].changed_at == "2026-01-05T09:00:00.000Z"  # updatedAt
    response = sim.handle(
        httpx.Request(
            "PUT",
            f"https://api.pingone.com/v1/environments/{SANDBOX_ENVIRONMENT}/users/{user_id(sim, BOB)}/enabled",
            json={"enabled": False},
            headers={"authorization": "Bearer " + next(iter(sim.tokens))},
        )
    )
    assert response.status_code == 200
    accounts = {a.principal: a for a in run(sync_once(sim)).accounts}
    assert accounts[BOB].active is False and accounts[BOB].changed_at == "2026-12-01T09:30:00.000Z"
    assert accounts[BOB].last_sign_in == "2026-11-19T08:09:00.000Z"  # disabling is not a sign-on


def test_hand_granted_admin_role_shows_up_as_drift() -> None:
    state = run(sync_once(PingOneSimulator(seed_state())))
    desired_roles = {
        g("role", "Identity Data Admin", "environment", f"heidi.brandt@{DOMAIN}"),
        g("role", "Identity Data Read Only", "environment", GRACE),
        g("role", "Environment Admin", "environment", GRACE),
    }
    actual_roles = {x for x in state.grants if x.resource_type == "role"}
    assert actual_roles - desired_roles == {g("role", "Environment Admin", "environment", BOB)}
    assert desired_roles <= actual_roles


def test_a_role_granted_in_any_scope_is_found() -> None:
    sim = PingOneSimulator(seed_state())
    s = sim.state
    s.applications["app-1"] = {"id": "app-1", "name": "Payroll"}
    alice = user_id(sim, f"alice.ng@{DOMAIN}")
    s.add_assignment(
        ("user", alice), s.role_named("Help Desk Admin"), "POPULATION", s.population_named("Contractors")
    )
    s.add_assignment(("user", alice), s.role_named("Organization Admin"), "ORGANIZATION", s.organization_id)
    s.add_assignment(("user", alice), s.role_named("Application Owner"), "APPLICATION", "app-1")
    s.add_assignment(("user", alice), s.role_named("Environment Admin"), "ENVIRONMENT", "other-env")
    state = run(sync_once(sim))
    alices = {(x.resource, x.entitlement) for x in state.grants if x.principal == f"alice.ng@{DOMAIN}"}
    assert {
        ("Help Desk Admin", "population/Contractors"),
        ("Organization Admin", "organization"),
        ("Application Owner", "application/Payroll"),
        ("Environment Admin", "ENVIRONMENT/other-env"),
    } <= alices


def test_role_held_through_a_group_is_shown_not_managed() -> None:
    sim = PingOneSimulator(seed_state())
    s = sim.state
    s.add_assignment(
        ("group", s.group_named("Finance Systems")),
        s.role_named("Help Desk Admin"),
        "ENVIRONMENT",
        s.environment_id,
    )
    state = run(sync_once(sim))
    held = g("role", "Help Desk Admin", "environment", f"erin.walsh@{DOMAIN}")
    assert held in state.indirect and held not in state.grants


def test_only_direct_members_are_managed_nested_and_dynamic_are_indirect() -> None:
    state = run(sync_once(PingOneSimulator(seed_state()), yaml_scope(all_groups=True)))
    vpn = {x.principal for x in state.grants if x.resource == "VPN"}
    assert OSCAR not in vpn and MIKE not in vpn
    assert g("group", "VPN", "member", OSCAR) in state.indirect  # through the nested group Contractor Leads
    all_staff = {x for x in state.indirect if x.resource == "All Staff"}  # a dynamic group
    assert len(all_staff) == 14 and not any(x.resource == "All Staff" for x in state.grants)


def test_mixed_group_resolves_each_member_once() -> None:
    sim = PingOneSimulator(seed_state())
    vpn = sim.state.group_named("VPN")
    sim.state.add_member(user_id(sim, OSCAR), vpn)  # oscar now direct AND indirect
    state = run(sync_once(sim))
    assert g("group", "VPN", "member", OSCAR) in state.grants
    assert g("group", "VPN", "member", OSCAR) not in state.indirect


def test_pages_smaller_than_the_limit_are_all_followed() -> None:
    sim = PingOneSimulator(seed_state(), users_page_cap=3, page_cap=2)
    state = run(sync_once(sim))
    assert len(state.accounts) == 14
    assert len({x.principal for x in state.grants if x.resource == "Procore Users"}) == 13
    users_path = f"/v1/environments/{SANDBOX_ENVIRONMENT}/users"
    assert sim.calls[f"GET {users_path}"] >= 5 + 5  # 14 users / 3, and 13 Procore Users members / 3


def test_roles_unmanaged_cost_no_role_requests() -> None:
    sim = PingOneSimulator(seed_state())
    finance = {ResourceKey("pingone", "", "group", "Finance Systems"): True}
    state = run(sync_once(sim, Scope(tenants=frozenset({("pingone", "")}), resources=finance)))
    assert not any(x.resource_type == "role" for x in state.grants)
    assert not any("roleAssignments" in line or line.endswith("/roles") for line in sim.calls)
    assert state.requests == 5  # token, populations, groups, users, Finance Systems members
    vpn = {ResourceKey("pingone", "", "group", "VPN"): True}  # 4 direct members + Oscar through nesting
    state = run(sync_once(sim, Scope(tenants=frozenset({("pingone", "")}), resources=vpn)))
    assert state.requests == 5 + 5  # and each member's memberOfGroups, to tell DIRECT from INDIRECT


def test_sync_at_scale_counts_its_requests() -> None:
    state_data = PingOneState.generate(
        users=1200,
        groups=12,
        memberships=3000,
        role_assignments=6,
        environment_id=SANDBOX_ENVIRONMENT,
        organization_id="org",
    )
    state_data.clients[SANDBOX_CLIENT_ID] = SANDBOX_SECRET
    sim = PingOneSimulator(state_data)
    scope = Scope(
        tenants=frozenset({("pingone", "")}),
        all_of=frozenset({("pingone", "", "group"), ("pingone", "", "role")}),
    )
    state = run(sync_once(sim, scope))
    assert len(state.accounts) == 1200
    assert len([x for x in state.grants if x.resource_type == "group"]) == 3000
    assert len([x for x in state.grants if x.resource_type == "role"]) == 6
    member_pages = sum(-(-len(m) // 200) or 1 for m in state_data.direct.values())
    expected = (
        1 + 1 + 1 + 2 + 1 + 6 + member_pages + 1200 + 12
    )  # token, pops, groups, roles, apps, users, ...
    assert state.requests == sim.request_count == expected


# ----- apply -----


async def synced(sim: PingOneSimulator, **kwargs: Any) -> PingOneConnector:
    connector = make(sim, **kwargs)
    await connector.sync(yaml_scope())
    return connector


def test_create_account_in_the_population_the_yaml_names_then_already() -> None:
    sim = PingOneSimulator(seed_state())
    new = "quinn.doe@harborbuild.example"
    create = change(
        Action.CREATE_ACCOUNT,
        new,
        ACCOUNT,
        "",
        "",
        attributes=(
            ("email", "Quinn.Doe@harborbuild.example"),
            ("login", "qdoe"),
            ("name", "Quinn Doe"),
            ("population", "Contractors"),
        ),
    )

    async def scenario() -> tuple[Outcome, Outcome, str]:
        connector = await synced(sim)
        first = await connector.apply(create)
        second = await make(sim).apply(create)  # a fresh connector must look the user up
        await connector.aclose()
        return first.outcome, second.outcome, first.vendor_ref

    first, second, ref = run(scenario())
    assert (first, second) == (Outcome.APPLIED, Outcome.ALREADY)
    user = sim.state.users[ref]
    assert (user["username"], user["email"], user["name"]["family"]) == (
        "qdoe",
        "Quinn.Doe@harborbuild.example",
        "Doe",
    )
    assert user["population"]["id"] == sim.state.population_named("Contractors")


def test_population_move_uses_its_own_endpoint_and_is_idempotent() -> None:
    sim = PingOneSimulator(seed_state())
    move = change(Action.UPDATE, OSCAR, ACCOUNT, "population", "Contractors", before="Employees")

    async def scenario() -> list[Outcome]:
        connector = await synced(sim)
        outcomes = [(await connector.apply(move)).outcome]
        await connector.sync(yaml_scope())
        outcomes.append((await connector.apply(move)).outcome)
        await connector.aclose()
        return outcomes

    assert run(scenario()) == [Outcome.APPLIED, Outcome.ALREADY]
    assert sim.state.users[user_id(sim, OSCAR)]["population"]["id"] == sim.state.population_named(
        "Contractors"
    )
    assert any(line.startswith("PUT") and line.endswith("/population") for line in sim.calls)
    assert not any(
        line.startswith(("PUT", "PATCH")) and line.endswith(user_id(sim, OSCAR)) for line in sim.calls
    )


def test_deactivate_disables_and_reenable_enables() -> None:
    sim = PingOneSimulator(seed_state())
    deactivate = change(Action.DEACTIVATE_ACCOUNT, BOB, ACCOUNT, "", "")
    enable = change(Action.UPDATE, BOB, ACCOUNT, "active", "true", before="false")

    async def scenario() -> list[Outcome]:
        connector = await synced(sim)
        results = [(await connector.apply(deactivate)).outcome, (await connector.apply(deactivate)).outcome]
        disabled = sim.state.users[user_id(sim, BOB)]["enabled"]
        results.append((await connector.apply(enable)).outcome)
        await connector.aclose()
        assert disabled is False
        return results

    assert run(scenario()) == [Outcome.APPLIED, Outcome.ALREADY, Outcome.APPLIED]
    assert sim.state.users[user_id(sim, BOB)]["enabled"] is True


def test_deactivate_deletes_only_when_the_policy_says_so() -> None:
    sim = PingOneSimulator(seed_state())
    uid = user_id(sim, BOB)
    delete = change(
        Action.DEACTIVATE_ACCOUNT,
        BOB,
        ACCOUNT,
        "",
        "",
        attributes=(("deprovision", "delete"),),
        account_id=uid,
    )

    async def scenario() -> list[Outcome]:
        connector = await synced(sim)
        outcomes = [(await connector.apply(delete)).outcome, (await connector.apply(delete)).outcome]
        await connector.aclose()
        return outcomes

    assert run(scenario()) == [Outcome.APPLIED, Outcome.ALREADY]
    assert uid not in sim.state.users


def test_group_membership_grant_and_revoke_are_idempotent() -> None:
    sim = PingOneSimulator(seed_state())
    grant = change(Action.GRANT, MIKE, "group", "VPN", "member")
    revoke = change(Action.REVOKE, BOB, "group", "VPN", "member")

    async def scenario() -> list[Outcome]:
        connector = await synced(sim)
        outcomes = [(await connector.apply(c)).outcome for c in (grant, grant, revoke, revoke)]
        await connector.aclose()
        return outcomes

    assert run(scenario()) == [Outcome.APPLIED, Outcome.ALREADY, Outcome.APPLIED, Outcome.ALREADY]
    state = run(sync_once(sim))
    vpn = {x.principal for x in state.grants if x.resource == "VPN"}
    assert MIKE in vpn and BOB not in vpn


def test_indirect_membership_is_never_removed() -> None:
    sim = PingOneSimulator(seed_state())
    revoke = change(Action.REVOKE, OSCAR, "group", "VPN", "member")

    async def scenario() -> Outcome:
        connector = await synced(sim)
        result = await connector.apply(revoke)
        await connector.aclose()
        return result.outcome

    assert run(scenario()) is Outcome.ALREADY
    assert g("group", "VPN", "member", OSCAR) in run(sync_once(sim)).indirect


def test_role_assignment_with_scope_grant_and_revoke() -> None:
    sim = PingOneSimulator(seed_state())
    grant = change(Action.GRANT, MIKE, "role", "Identity Data Read Only", "population/Contractors")
    revoke = change(Action.REVOKE, BOB, "role", "Environment Admin", "environment")

    async def scenario() -> list[Outcome]:
        connector = await synced(sim)
        outcomes = [(await connector.apply(c)).outcome for c in (grant, grant, revoke, revoke)]
        await connector.aclose()
        return outcomes

    assert run(scenario()) == [Outcome.APPLIED, Outcome.ALREADY, Outcome.APPLIED, Outcome.ALREADY]
    roles = {x for x in run(sync_once(sim)).grants if x.resource_type == "role"}
    assert g("role", "Identity Data Read Only", "population/Contractors", MIKE) in roles
    assert g("role", "Environment Admin", "environment", BOB) not in roles


def test_read_only_role_assignment_is_reported_not_attempted() -> None:
    sim = PingOneSimulator(seed_state())
    aid = next(a for a in sim.state.user_assignments[user_id(sim, BOB)])
    sim.state.assignments[aid]["readOnly"] = True
    revoke = change(Action.REVOKE, BOB, "role", "Environment Admin", "environment")

    async def scenario() -> Any:
        connector = await synced(sim)
        result = await connector.apply(revoke)
        await connector.aclose()
        return result

    result = run(scenario())
    assert result.outcome is Outcome.SKIPPED and result.vendor_ref == aid
    assert "readOnly" in result.message
    assert aid in sim.state.assignments
    assert not any(line.startswith("DELETE") for line in sim.calls)


def test_vendor_error_is_reported_readably() -> None:
    sim = PingOneSimulator(seed_state())
    bad = change(Action.GRANT, MIKE, "role", "Organization Admin", "environment")  # org-only role

    async def scenario() -> Any:
        connector = await synced(sim)
        result = await connector.apply(bad)
        await connector.aclose()
        return result

    result = run(scenario())
    assert result.outcome is Outcome.FAILED
    assert "HTTP 400 INVALID_DATA" in result.message
    assert "scope: Organization Admin cannot be assigned at scope ENVIRONMENT" in result.message


# ----- limits, tokens, errors -----


def test_429_with_retry_after_is_waited_out() -> None:
    sim = PingOneSimulator(seed_state())
    sim.faults.add("429", 3, match="/users")
    sleeps = Sleeps()
    state = run(sync_once(sim, sleeps=sleeps))
    assert len(state.accounts) == 14
    assert sum(1 for s in sleeps if s >= 1.0) >= 3  # Retry-After: 1


def test_rate_budget_exhaustion_is_survived() -> None:
    now = [0.0]
    sim = PingOneSimulator(seed_state(), rate_limit=5, burst=5, clock=lambda: now[0])
    sleeps = Sleeps()

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    connector = connect(
        sandbox_settings(PINGONE_MAX_CONCURRENCY="2"),
        writable=False,
        transport=SimulatorTransport(sim.handle),
        policy=RetryPolicy(sleep=sleep, attempts=50),
    )

    async def scenario() -> VendorState:
        try:
            return await connector.sync(yaml_scope())
        finally:
            await connector.aclose()

    state = run(scenario())
    assert len(state.accounts) == 14 and len([x for x in state.grants if x.resource_type == "role"]) == 4
    assert sleeps, "the simulator should have answered 429 once its budget ran out"


def test_403_right_after_a_role_change_is_retried() -> None:
    sim = PingOneSimulator(seed_state())
    sim.forbidden_once.add("POST /v1/environments")
    grant = change(Action.GRANT, MIKE, "group", "VPN", "member")

    async def scenario() -> Outcome:
        connector = await synced(sim)
        result = await connector.apply(grant)
        await connector.aclose()
        return result.outcome

    assert run(scenario()) is Outcome.APPLIED


def test_persistent_403_fails_with_a_hint_about_the_worker_apps_roles() -> None:
    sim = PingOneSimulator(seed_state())
    grant = change(Action.GRANT, MIKE, "role", "Environment Admin", "environment")

    async def scenario() -> Any:
        connector = await synced(sim)
        sim.faults.add("403", 10, match="POST")
        result = await connector.apply(grant)
        await connector.aclose()
        return result

    result = run(scenario())
    assert result.outcome is Outcome.FAILED
    assert "HTTP 403 ACCESS_FAILED" in result.message and "worker app" in result.message
    assert (
        sim.calls[f"POST /v1/environments/{SANDBOX_ENVIRONMENT}/users/{user_id(sim, MIKE)}/roleAssignments"]
        == 4
    )


def test_expired_token_is_renewed_once() -> None:
    sim = PingOneSimulator(seed_state())
    sim.faults.add("expire-token", 1, match="/populations")
    state = run(sync_once(sim))
    assert len(state.accounts) == 14
    assert sim.calls[f"POST /{SANDBOX_ENVIRONMENT}/as/token"] == 2


def test_dropped_connections_and_5xx_are_retried() -> None:
    sim = PingOneSimulator(seed_state())
    sim.faults.add("drop", 2, match="/groups")
    sim.faults.add("503", 2, match="/roleAssignments")
    assert len(run(sync_once(sim)).accounts) == 14


def test_read_only_connector_syncs_but_refuses_writes() -> None:
    sim = PingOneSimulator(seed_state())

    async def scenario() -> None:
        connector = await synced(sim, writable=False)
        try:
            with pytest.raises(ReadOnlyViolation):
                await connector.apply(change(Action.GRANT, MIKE, "group", "VPN", "member"))
        finally:
            await connector.aclose()

    run(scenario())
    assert not any(line.startswith(("POST /v1", "PUT", "PATCH", "DELETE")) for line in sim.calls)


def test_secret_never_appears_in_errors_or_reprs() -> None:
    canary = "sekrit-canary"
    sim = PingOneSimulator(seed_state())
    env = {
        "PINGONE_CLIENT_ID": SANDBOX_CLIENT_ID,
        "PINGONE_CLIENT_SECRET": canary,
        "PINGONE_ENVIRONMENT_ID": SANDBOX_ENVIRONMENT,
    }
    settings = PingOneSettings.from_env(env)
    assert canary not in repr(settings) and canary not in str(settings)
    for method in ("client_secret_basic", "client_secret_post"):
        connector = connect(
            PingOneSettings.from_env({**env, "PINGONE_TOKEN_AUTH_METHOD": method}),
            writable=False,
            transport=SimulatorTransport(sim.handle),
            policy=RetryPolicy(sleep=Sleeps()),
        )
        with pytest.raises(VendorError) as caught:
            run(connector.sync(yaml_scope()))
        run(connector.aclose())
        assert "HTTP 401 invalid_client" in caught.value.message
        assert canary not in caught.value.message and canary not in repr(caught.value)


def test_settings_name_every_missing_variable_and_know_the_regions() -> None:
    with pytest.raises(ConfigError) as caught:
        PingOneSettings.from_env({"PINGONE_CLIENT_ID": "x"})
    assert "PINGONE_CLIENT_SECRET, PINGONE_ENVIRONMENT_ID" in caught.value.message
    eu = PingOneSettings.from_env(
        {
            "PINGONE_CLIENT_ID": "x",
            "PINGONE_CLIENT_SECRET": "y",
            "PINGONE_ENVIRONMENT_ID": "e",
            "PINGONE_REGION": "eu",
        }
    )
    assert (eu.api_url, eu.token_url) == ("https://api.pingone.eu/v1", "https://auth.pingone.eu/e/as/token")
    with pytest.raises(ConfigError, match="PINGONE_REGION='mars'"):
        PingOneSettings.from_env(
            {
                "PINGONE_CLIENT_ID": "x",
                "PINGONE_CLIENT_SECRET": "y",
                "PINGONE_ENVIRONMENT_ID": "e",
                "PINGONE_REGION": "mars",
            }
        )


# ----- sandbox and loopback -----


def test_sandbox_persists_applied_changes_between_runs(tmp_path: Path) -> None:
    grant = change(Action.GRANT, MIKE, "group", "VPN", "member")

    async def apply_then_sync() -> tuple[Outcome, VendorState, VendorState]:
        async with SANDBOX.connector(tmp_path, writable=True) as connector:
            await connector.sync(yaml_scope())
            outcome = (await connector.apply(grant)).outcome
        async with SANDBOX.connector(tmp_path, writable=False) as connector:
            after = await connector.sync(yaml_scope())
        SANDBOX.reset(tmp_path)
        async with SANDBOX.connector(tmp_path, writable=False) as connector:
            reset = await connector.sync(yaml_scope())
        return outcome, after, reset

    outcome, after, reset = run(apply_then_sync())
    assert outcome is Outcome.APPLIED
    assert g("group", "VPN", "member", MIKE) in after.grants
    assert g("group", "VPN", "member", MIKE) not in reset.grants


def test_read_only_sandbox_does_not_write_its_state(tmp_path: Path) -> None:
    SANDBOX.reset(tmp_path)
    before = (tmp_path / "pingone.sim.json").read_bytes()

    async def scenario() -> None:
        async with SANDBOX.connector(tmp_path, writable=False) as connector:
            await connector.sync(yaml_scope())

    run(scenario())
    assert (tmp_path / "pingone.sim.json").read_bytes() == before


@pytest.mark.loopback
def test_from_env_against_the_simulator_on_loopback() -> None:
    sim = PingOneSimulator(seed_state())
    with serve(sim.handle) as base:
        env = {
            "PINGONE_CLIENT_ID": SANDBOX_CLIENT_ID,
            "PINGONE_CLIENT_SECRET": SANDBOX_SECRET,
            "PINGONE_ENVIRONMENT_ID": SANDBOX_ENVIRONMENT,
            "PINGONE_API_URL": f"{base}/v1",
            "PINGONE_AUTH_URL": base,
            "PINGONE_TOKEN_AUTH_METHOD": "client_secret_post",
            "ACCESS_ALLOW_HOSTS": base.removeprefix("http://"),
        }

        async def scenario() -> tuple[VendorState, Outcome]:
            connector = PLUGIN.from_env(env, writable=True)
            try:
                state = await connector.sync(yaml_scope())
                result = await connector.apply(change(Action.GRANT, MIKE, "group", "VPN", "member"))
                return state, result.outcome
            finally:
                await connector.aclose()

        state, outcome = run(scenario())
    assert len(state.accounts) == 14 and outcome is Outcome.APPLIED
    assert user_id(sim, MIKE) in sim.state.direct[sim.state.group_named("VPN")]


def test_next_links_off_the_api_host_are_refused() -> None:
    sim = PingOneSimulator(seed_state(), users_page_cap=5)
    inner = SimulatorTransport(sim.handle)

    class Redirecting(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await inner.handle_async_request(request)
            body = response.content.replace(
                b"https://api.pingone.com/v1/environments", b"https://evil.example/v1/x"
            )
            return httpx.Response(
                response.status_code, headers={"content-type": "application/json"}, content=body
            )

    connector = connect(
        sandbox_settings(), writable=False, transport=Redirecting(), policy=RetryPolicy(sleep=Sleeps())
    )
    with pytest.raises(VendorError, match=r"off the API host: evil\.example"):
        run(connector.sync(yaml_scope()))
    run(connector.aclose())
