"""PingOne behaviours the docs describe, through the real connector (and the CLI) and the simulator:
application-scoped roles, a lost answer to POST /users, a wrong environment id, read-only role
assignments, and one token request per expiry."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler import cli, sandbox
from reconciler.changes import Action
from reconciler.connectors.base import Outcome
from reconciler.connectors.http import RetryPolicy
from reconciler.connectors.pingone import connect
from reconciler.errors import ConfigError
from reconciler.sandbox.pingone import STATE_FILE, sandbox_settings, write_state
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.pingone import PingOneSimulator
from reconciler.simulators.pingone_state import PingOneState
from reconciler.vendors import VENDORS
from tests.connectors.test_pingone import ACCOUNT, BOB, change, make, seed_state, synced, user_id, yaml_scope

NEW = "quinn.doe@harborbuild.example"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def access(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--repo", str(repo), "--vendor", "pingone", *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_a_role_scoped_to_an_application_is_planned_and_applied(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.reset(example_repo, VENDORS)
    yaml = example_repo / "access" / "pingone.yaml"
    yaml.write_text(
        yaml.read_text(encoding="utf-8").replace(
            "  roles:\n", "  roles:\n    Application Owner:\n      heidi: application/Harbor Intranet\n"
        ),
        encoding="utf-8",
    )
    code, out, err = access(capsys, example_repo, "plan", "--sandbox")
    assert code == 0, err
    assert "Application Owner" in out and "application/Harbor Intranet" in out
    assert access(capsys, example_repo, "apply", "--sandbox")[0] == 0
    code, out, _ = access(capsys, example_repo, "plan", "--sandbox", "--detailed-exitcode")
    assert code == 0, out


def test_a_read_only_role_assignment_is_a_finding_not_a_perpetual_revoke(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.reset(example_repo, VENDORS)
    assert access(capsys, example_repo, "apply", "--sandbox")[0] == 0
    path = sandbox.state_dir(example_repo) / STATE_FILE
    state = PingOneState.from_json(json.loads(path.read_text(encoding="utf-8")))
    bob = next(uid for uid, u in state.users.items() if u["username"] == "bruiz")
    state.add_assignment(
        ("user", bob),
        state.role_named("Help Desk Admin"),
        "ENVIRONMENT",
        state.environment_id,
        read_only=True,
    )
    write_state(path, state)

    code, out, _ = access(capsys, example_repo, "plan", "--sandbox", "--detailed-exitcode")
    assert code == 0, out  # nothing access could do: not a change
    assert "bob.ruiz@harborbuild.example holds role 'Help Desk Admin' (environment)" in out
    assert "read-only for these credentials" in out


def test_a_lost_answer_to_post_users_finds_the_user_it_created() -> None:
    sim = PingOneSimulator(seed_state())
    env = sim.state.environment_id
    sim.faults.add("lose-answer", 1, match=f"POST /v1/environments/{env}/users")
    create = change(
        Action.CREATE_ACCOUNT,
        NEW,
        ACCOUNT,
        "",
        "",
        attributes=(("email", NEW), ("name", "Quinn Doe"), ("population", "Employees")),
    )
    grant = change(Action.GRANT, NEW, "group", "VPN", "member")

    async def scenario() -> list[Any]:
        connector = await synced(sim)
        try:
            return [await connector.apply(create), await connector.apply(grant)]
        finally:
            await connector.aclose()

    created, granted = run(scenario())
    assert (created.outcome, created.message) == (
        Outcome.APPLIED,
        "created (PingOne's first answer was lost)",
    )
    assert created.vendor_ref == user_id(sim, NEW)
    assert granted.outcome is Outcome.APPLIED
    assert sum(u["email"] == NEW for u in sim.state.users.values()) == 1
    assert sim.calls[f"POST /v1/environments/{env}/users"] == 2


def test_a_wrong_environment_id_is_named_as_such() -> None:
    sim = PingOneSimulator(seed_state())
    wrong = "00000000-0000-4000-8000-000000000000"

    async def sync_with(**env: str) -> None:
        connector = make(sim, **env)
        try:
            await connector.sync(yaml_scope())
        finally:
            await connector.aclose()

    with pytest.raises(ConfigError) as caught:
        run(sync_with(PINGONE_ENVIRONMENT_ID=wrong))
    assert caught.value.message == (
        f"pingone: auth.pingone.com knows no environment {wrong} (the token endpoint answered HTTP 404): "
        "check PINGONE_ENVIRONMENT_ID (the id of the environment the worker app lives in) and PINGONE_REGION"
    )
    with pytest.raises(ConfigError) as caught:  # the worker app lives elsewhere: the API says it
        run(sync_with(PINGONE_ENVIRONMENT_ID=wrong, PINGONE_AUTH_ENVIRONMENT_ID=sim.state.environment_id))
    assert caught.value.message.startswith(f"pingone: environment {wrong} is not found at api.pingone.com")
    assert "check PINGONE_ENVIRONMENT_ID" in caught.value.message


def test_one_token_expiry_makes_exactly_one_token_request() -> None:
    sim = PingOneSimulator(seed_state())

    async def scenario() -> int:
        # latency, so that requests are in flight together when the token expires
        transport = SimulatorTransport(sim.handle, latency=0.002)
        connector = connect(sandbox_settings(), writable=False, transport=transport, policy=RetryPolicy())
        try:
            await connector.sync(yaml_scope())
            before = sim.calls[f"POST /{sim.state.environment_id}/as/token"]
            sim.faults.add("expire-token", 1, match="/roleAssignments")  # mid-way, requests in flight
            await connector.sync(yaml_scope())
            return sim.calls[f"POST /{sim.state.environment_id}/as/token"] - before
        finally:
            await connector.aclose()

    assert run(scenario()) == 1


def test_revoking_from_a_user_matched_by_username_reaches_that_user() -> None:
    sim = PingOneSimulator(seed_state())
    uid = user_id(sim, BOB)
    sim.state.users[uid]["email"] = "bob.ruiz@old-harbor.example"  # the plan matched by username
    revoke = change(Action.REVOKE, BOB, "group", "VPN", "member", account_id=uid)

    async def scenario() -> Any:
        connector = await synced(sim)
        try:
            return await connector.apply(revoke)
        finally:
            await connector.aclose()

    assert run(scenario()).outcome is Outcome.APPLIED
    assert uid not in sim.state.direct[sim.state.group_named("VPN")]


def test_a_lost_answer_to_adding_a_member_reports_the_change_it_made() -> None:
    sim = PingOneSimulator(seed_state())
    mike = user_id(sim, "mike.chen@harborbuild.example")
    sim.faults.add("lose-answer", 1, match=f"/users/{mike}/memberOfGroups")
    grant = change(Action.GRANT, "mike.chen@harborbuild.example", "group", "Finance Systems", "member")

    async def scenario() -> Any:
        connector = await synced(sim)
        try:
            return await connector.apply(grant)
        finally:
            await connector.aclose()

    result = run(scenario())
    assert (result.outcome, result.message) == (Outcome.APPLIED, "added (PingOne's first answer was lost)")
