"""A CONCUR_COMPANY_ID that is not the refresh token's company, where plan cannot see it (an app
without identity.user.enterprise.read gets no companyId): the first account creation Concur refuses,
at once (400) or in the provision's status as the docs say validation failures usually come, stops
every Concur write with one line naming CONCUR_COMPANY_ID, instead of a raw HTTP 400 per change."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import git
import pytest

from reconciler import gate
from reconciler.changes import Action, Change
from reconciler.connectors.base import Outcome
from reconciler.executor import execute
from reconciler.records import Scope
from reconciler.sandbox import concur as concur_sandbox
from reconciler.simulators.concur import ConcurSimulator
from reconciler.simulators.concur_sandbox import sandbox_state
from reconciler.simulators.github import DEFAULT_TOKEN, GitHubSimulator
from reconciler.simulators.serve import serve

ACCESS = Path(sys.executable).parent / "access"
WRONG = "11111111-2222-4333-8444-555555555555"
SCOPE = Scope(
    vendors=frozenset({"concur"}),
    tenants=frozenset({("concur", "")}),
    all_of=frozenset({("concur", "", "role")}),
)
FIX = "set CONCUR_COMPANY_ID to the UUID of the company the token was set up for; no other Concur change was attempted"
STOPPED = "concur: not attempted: an earlier answer stopped the writes to this vendor"


def blind(simulator: ConcurSimulator) -> ConcurSimulator:
    """The app may not read the enterprise extension: plan sees no company id to compare."""
    simulator.granted_scope = simulator.granted_scope.replace("identity.user.enterprise.read", "").strip()
    simulator.keep_log = True
    return simulator


def writes(simulator: ConcurSimulator) -> list[str]:
    return [
        f"{r.method} {r.url.path}" for r in simulator.log if r.method != "GET" and "/token" not in r.url.path
    ]


def create(name: str) -> Change:
    email = f"{name}@harborbuild.example"
    return Change(f"create-{name}", "concur", Action.CREATE_ACCOUNT, "", email, "account", "", "",
                  attributes=(("email", email), ("name", name.title())))  # fmt: skip


def grant(name: str) -> Change:
    return Change(f"grant-{name}", "concur", Action.GRANT, "", f"{name}@harborbuild.example", "role",
                  "Expense Approver", "member")  # fmt: skip


@pytest.mark.parametrize("at_once", [False, True], ids=["in the provision status", "HTTP 400 at once"])
def test_the_first_refused_creation_stops_every_concur_write(at_once: bool) -> None:
    simulator = blind(ConcurSimulator(sandbox_state()))
    simulator.reject_company_at_once = at_once

    async def go() -> list[tuple[Change, object]]:
        connector = concur_sandbox.simulated(simulator)
        connector.settings = replace(connector.settings, company_id=WRONG)
        try:
            await connector.sync(SCOPE)  # nothing to compare: plan cannot tell
            changes = [create("quinn"), create("rosa"), create("sam"), grant("carol.okafor")]
            return list(await execute(changes, {"concur": connector}))  # side by side, 4 at a time
        finally:
            await connector.aclose()

    results = {c.id: r for c, r in asyncio.run(go())}
    failed = [r for r in results.values() if r.outcome is Outcome.FAILED]
    assert len(failed) == 1, results
    said = (
        "invalidValue: companyId does not match the company of the access token"
        if at_once
        else "User: companyId does not match the company of the access token (code 400)"
    )
    assert failed[0].message.startswith(
        f"concur: CONCUR_COMPANY_ID is {WRONG}, but Concur refused it as not the company of the refresh token ("
    )
    assert failed[0].message.endswith(f"{said}): {FIX}")
    assert sorted(r.message for r in results.values() if r is not failed[0]) == [STOPPED] * 3
    assert writes(simulator) == ["POST /profile/v4/Users"], "one creation, then nothing"


def test_plan_still_names_a_company_it_can_see() -> None:
    """With the enterprise extension readable, plan says it before any write (as before)."""
    simulator = ConcurSimulator(sandbox_state())

    async def go() -> None:
        connector = concur_sandbox.simulated(simulator, writable=False)
        connector.settings = replace(connector.settings, company_id=WRONG)
        try:
            await connector.sync(SCOPE)
        finally:
            await connector.aclose()

    with pytest.raises(
        Exception, match=f"CONCUR_COMPANY_ID is {WRONG}, but the refresh token belongs to company"
    ):
        asyncio.run(go())


@pytest.mark.loopback
def test_apply_with_a_wrong_company_id_is_one_line_and_no_further_concur_write(
    git_repo: Callable[..., git.Repo], tmp_path: Path
) -> None:
    repo = git_repo()
    root = Path(repo.working_tree_dir or ".")
    key = "test-apply-point-key-0123456789abcdef"
    gate.record_apply_point(repo, str(repo.head.commit.hexsha), key.encode(), "harborbuild/access")
    state = sandbox_state()
    for person in ("nina", "dan"):  # three accounts to create (judy's is missing already)
        del state.users[next(u.id for u in state.users.values() if u.user_name.startswith(person))]
    simulator = blind(ConcurSimulator(state))
    simulator.provision_polls = 1
    simulator.add_client(concur_sandbox.SANDBOX_CLIENT_ID, concur_sandbox.SANDBOX_CLIENT_SECRET)
    simulator.issue_refresh_token(concur_sandbox.SANDBOX_REFRESH_TOKEN)
    github = GitHubSimulator("harborbuild/access")
    with serve(simulator.handle) as url, serve(github.handle) as github_url:
        simulator.geolocation = simulator.glz = url
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CONCUR_", "GITHUB_"))},
            "CONCUR_CLIENT_ID": concur_sandbox.SANDBOX_CLIENT_ID,
            "CONCUR_CLIENT_SECRET": concur_sandbox.SANDBOX_CLIENT_SECRET,
            "CONCUR_REFRESH_TOKEN": concur_sandbox.SANDBOX_REFRESH_TOKEN,
            "CONCUR_GEOLOCATION": url,
            "CONCUR_COMPANY_ID": WRONG,
            "CONCUR_TOKEN_FILE": str(tmp_path / "concur-token.json"),
            "GITHUB_API_URL": github_url,
            "GITHUB_REPOSITORY": "harborbuild/access",
            "GITHUB_TOKEN": DEFAULT_TOKEN,
            "ACCESS_STATE_DIR": str(tmp_path / "state"),
            "ACCESS_ALLOW_HOSTS": url.removeprefix("http://"),
            "ACCESS_APPLY_POINT_KEY": key,
        }
        done = subprocess.run(
            [str(ACCESS), "--repo", str(root), "--vendor", "concur", "apply", "--allow-mass-revocation"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output and "crashed" not in output
    named = [line for line in output.splitlines() if "CONCUR_COMPANY_ID" in line]
    assert len(named) == 1, output  # once, not once per change
    assert re.fullmatch(
        re.escape(f" failed + SAP Concur dan: account — concur: CONCUR_COMPANY_ID is {WRONG}, but Concur refused "
                  "it as not the company of the refresh token (provision ")
        + "[0-9a-f-]{36}"
        + re.escape(": User: companyId does not match the company of the access token (code 400)): "
                    f"{FIX} (restores approved state)"),
        named[0],
    ), named[0]  # fmt: skip
    assert "HTTP 400" not in output.replace(named[0], ""), output
    assert writes(simulator) == ["POST /profile/v4/Users"], output
    stopped = [line.split(" — ")[0] for line in done.stdout.splitlines() if STOPPED in line]
    assert stopped == [
        "skipped + SAP Concur judy: account",
        "skipped + SAP Concur nina: account",
        "skipped - SAP Concur carol: role Expense Processor",
    ], done.stdout  # the grants of the three accounts: "its account could not be created"
    assert "Apply: 0 applied, 0 already in place, 13 skipped, 1 failed." in done.stdout
    assert concur_sandbox.SANDBOX_CLIENT_SECRET not in output


def test_a_refresh_token_revoked_mid_apply_stops_every_concur_write_after_one_refused_request() -> None:
    """The token Concur refuses at apply (revoked, or rotated by another process) would be refused for
    every change: the first change fails with what to do, the others are not attempted, and Concur's
    token endpoint is asked once, not once per change."""
    simulator = ConcurSimulator(sandbox_state())

    async def go() -> list[tuple[Change, object]]:
        connector = concur_sandbox.simulated(simulator)
        try:
            await connector.sync(SCOPE)
            simulator.refresh_tokens.clear()  # revoked at Concur while the plan was reviewed
            simulator.access_tokens.clear()  # and the access token expired
            changes = [grant("carol.okafor"), grant("dave.kim"), grant("grace.lin"), create("quinn")]
            return list(await execute(changes, {"concur": connector}))
        finally:
            await connector.aclose()

    results = [r for _, r in asyncio.run(go())]
    failed = [r for r in results if r.outcome is Outcome.FAILED]
    assert len(failed) == 1, results
    assert "access concur setup" in failed[0].message
    assert sorted(r.message for r in results if r is not failed[0]) == [STOPPED] * 3
    assert simulator.calls["POST /oauth2/v0/token"] == 2  # the sync's, and the one refused
