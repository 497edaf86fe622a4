"""Drift with a cause, and adopting or reverting it, end to end.

The `World` of the gate tests (a real git repository, the GitHub simulator, the sandbox vendors, the
example applied): an administrator grants access by hand in PingOne's admin console; the plan, the
drift issue and `access why` name them; `access adopt` opens one pull request to keep it, which,
merged and approved, becomes approved access, and, closed, leaves the grant to apply's drift repair.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from reconciler import sandbox
from reconciler.changes import CauseKind, Plan
from reconciler.commands import comment as comment_cmd
from reconciler.commands.context import AppContext
from reconciler.commands.plan import with_causes
from reconciler.commands.state import Source
from reconciler.connectors.http import RetryPolicy
from reconciler.connectors.pingone import connect
from reconciler.console import Output
from reconciler.records import ResourceKey, Scope
from reconciler.sandbox.pingone import load_simulator, sandbox_settings, write_state
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.github import API, DEFAULT_TOKEN, GitHubSimulator
from reconciler.simulators.pingone import PingOneSimulator
from reconciler.simulators.pingone_audit import CONSOLE_NAME
from reconciler.yaml_edit import changed_lines
from tests.test_gate import REPOSITORY, World, adopted, world

__all__ = ["adopted", "world"]

DOMAIN = "harborbuild.example"
CAROL, HEIDI = f"carol.okafor@{DOMAIN}", f"heidi.brandt@{DOMAIN}"
BRANCH = "access-adopt/carol-pingone-vpn-member"
BY_HEIDI = f"granted by {HEIDI} (an administrator, through {CONSOLE_NAME}) at "


def pingone(world: World) -> tuple[Path, PingOneSimulator]:
    return load_simulator(sandbox.state_dir(world.path))


def user_id(sim: PingOneSimulator, email: str) -> str:
    return next(uid for uid, u in sim.state.users.items() if u["email"].casefold() == email)


def grant_by_hand(world: World, email: str = CAROL, group: str = "VPN", admin: str = HEIDI) -> None:
    """An administrator adds `email` to `group` in the admin console: drift, with a cause."""
    path, sim = pingone(world)
    token = sim.console_token(user_id(sim, admin))
    response = sim.handle(
        httpx.Request(
            "POST",
            f"https://api.pingone.com/v1/environments/{sim.state.environment_id}/users/{user_id(sim, email)}/memberOfGroups",
            json={"id": sim.state.group_named(group)},
            headers={"Authorization": f"Bearer {token}"},
        )
    )
    assert response.status_code == 201, response.text
    write_state(path, sim.state)


def in_vpn(world: World, email: str = CAROL) -> bool:
    _, sim = pingone(world)
    return user_id(sim, email) in sim.state.direct[sim.state.group_named("VPN")]


def plan_file(world: World) -> Path:
    out = world.path.parent / "plan.json"
    result = world.access("plan", "--sandbox", "--out", str(out))
    assert result.code == 0, result.out + result.err
    return out


def adopt(world: World, plan: Path, *args: str) -> str:
    result = world.access("adopt", "--plan", str(plan), "--sandbox", *args)
    assert result.code == 0, result.out + result.err
    world.sim = GitHubSimulator.from_json(sandbox.github_file(world.path).read_text(encoding="utf-8"))
    return result.out


# ---------------------------------------------------------------- the cause


def test_a_hand_made_grant_is_named_in_the_plan_the_drift_issue_and_why(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant_by_hand(world)
    out = world.pending()
    assert f"warning PingOne: carol holds group VPN, not in the YAML: {BY_HEIDI}" in out, out
    assert "(GROUP_MEMBERSHIP.CREATED), not through access/" in out

    plan = Plan.loads(plan_file(world).read_text(encoding="utf-8"))
    assert plan.causes is not None
    (carol,) = [c for c in plan.causes if c.principal == CAROL]
    assert (carol.kind, carol.actor, carol.client, carol.resource) == (
        CauseKind.OUT_OF_BAND, HEIDI, CONSOLE_NAME, "VPN",
    )  # fmt: skip
    assert carol.change == next(c.id for c in plan.changes if c.principal == CAROL)

    # The drift issue (what `access drift --plan plan.json` writes in the drift workflow).
    for name, value in {
        "GITHUB_API_URL": API,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_TOKEN": DEFAULT_TOKEN,
    }.items():
        monkeypatch.setenv(name, value)
    ctx = AppContext(repo=world.path, output=Output(quiet=True))
    path = world.path.parent / "plan.json"
    code = comment_cmd.run_drift(
        ctx, plan_file=path, source=Source(), transport=SimulatorTransport(world.sim.handle)
    )
    assert code == 0
    issue = world.sim.repo().issues[max(world.sim.repo().issues)]
    assert issue.title == comment_cmd.DRIFT_TITLE
    assert "#### Who made it" in issue.body and "1 of 3 difference(s) were made outside access/" in issue.body
    row = next(line for line in issue.body.splitlines() if line.startswith("| carol |"))
    assert f"| PingOne group VPN | {HEIDI} \\(an administrator, through {CONSOLE_NAME}\\) |" in row, row
    assert row.endswith("| GROUP_MEMBERSHIP.CREATED |")  # (the two unmanaged accounts: nobody named)

    why = world.access("why", "carol", "VPN", "--sandbox")
    assert f"  cause        {BY_HEIDI}" in why.out, why.out
    made = json.loads(world.access("why", "carol", "VPN", "--sandbox", "--format", "json").out)
    assert made["grants"][0]["made_by"]["kind"] == "out-of-band"


def test_accesss_own_revocation_of_its_earlier_grant_is_not_out_of_band(world: World) -> None:
    """The example's VPN line lists site-engineering: dropping mike from the YAML makes his grant,
    made by access's own worker when the example was applied, a revocation that is not drift."""
    result = world.apply()
    assert result.code == 0
    path = world.path / "access/people.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "teams: [site-engineering], github: mchen-site", "github: mchen-site"
        ),
        encoding="utf-8",
    )
    out = world.pending()
    assert (
        "info PingOne: mike holds group VPN, not in the YAML: granted by access itself (access worker (sandbox)) at "
        in out
    ), out
    assert "warning PingOne: mike" not in out


def test_a_worker_that_may_not_read_activities_still_plans(tmp_path: Path) -> None:
    sim = PingOneSimulator(sandbox.pingone.seed_state())
    sim.forbidden.add("/activities")
    scope = Scope(
        vendors=frozenset({"pingone"}), tenants=frozenset({("pingone", "")}),
        resources={ResourceKey("pingone", "", "group", "VPN"): True}, all_of=frozenset({("pingone", "", "role")}),
    )  # fmt: skip

    async def sleep(seconds: float) -> None:
        return None

    async def plan_it() -> Plan:
        from reconciler.changes import Action, Change

        connector = connect(sandbox_settings(), writable=False, transport=SimulatorTransport(sim.handle),
                            policy=RetryPolicy(sleep=sleep))  # fmt: skip
        try:
            await connector.sync(scope)
            revoke = Change("c1", "pingone", Action.REVOKE, "", f"bob.ruiz@{DOMAIN}", "role", "Environment Admin",
                            "environment", note="not in the YAML")  # fmt: skip
            return await with_causes({"pingone": connector}, Plan(changes=(revoke,), vendors=("pingone",)))
        finally:
            await connector.aclose()

    plan = asyncio.run(plan_it())
    assert [f.message for f in plan.findings] == [
        "PingOne: bob.ruiz@harborbuild.example holds role Environment Admin, not in the YAML: "
        "not attributable (the worker may not read audit activities)"
    ]


# ---------------------------------------------------------------- adopt or revert


def pull_body(world: World, number: int) -> str:
    return world.sim.repo().pulls[number].body or ""


def branch_diff(world: World) -> list[str]:
    return list(
        changed_lines(
            world.repo.git.show("main:access/pingone.yaml"),
            world.repo.git.show(f"{BRANCH}:access/pingone.yaml"),
        )
    )


def test_an_adopted_grant_merged_and_approved_is_approved_access(world: World) -> None:
    grant_by_hand(world)
    out = adopt(world, plan_file(world))
    assert "opened #1" in out and "carol → PingOne group VPN" in out, out
    pull = world.sim.repo().pulls[1]
    assert pull.head_ref == BRANCH and pull.title == "Adopt drift: carol → PingOne group VPN"
    (minus, plus) = branch_diff(world)
    assert minus == "-    VPN: [site-engineering, it-admins]"
    assert plus.startswith(
        f"+    VPN: [site-engineering, it-admins, carol: {{reason: adopted drift (granted by {HEIDI} at "
    ), plus
    assert plus.endswith(" UTC)}]"), plus
    assert "Requested-by: hbrandt" in world.repo.commit(BRANCH).message  # heidi cannot approve keeping it
    body = pull_body(world, 1)
    assert "**Keep it**" in body and "**Revert it**" in body and "<!-- access-adopt " in body

    # The scheduled run applies right after: the grant is drift until the pull request is merged.
    result = world.apply()
    assert "applied - PingOne carol: group VPN (restores approved state)" in result.out, result.out
    assert not in_vpn(world)

    world.approve(1, "hbrandt")  # made the change by hand (Requested-by): does not count
    world.approve(1, "dwhitfield")
    world.merge(1, branch=BRANCH)
    result = world.apply()
    assert result.code == 0, result.out
    assert "applied + PingOne carol: group VPN (PR #1, approved by dwhitfield)" in result.out, result.out
    assert in_vpn(world)
    assert "No changes" in world.pending()
    why = world.access("why", "carol", "VPN", "--sandbox")
    assert "pull request #1" in why.out and "approved by  dwhitfield" in why.out, why.out


def test_an_adoption_closed_unmerged_is_reverted_and_never_asked_again(world: World) -> None:
    grant_by_hand(world)
    plan = plan_file(world)
    assert "opened #1" in adopt(world, plan)
    assert "updated #1" in adopt(world, plan)  # a second run: the same pull request, rebuilt from main
    assert sorted(world.sim.repo().pulls) == [1]

    world.sim.close_pull(1)
    world.save()
    assert world.repo.git.branch("--list", BRANCH).strip()  # the closed pull request's branch stays
    result = world.apply()
    assert result.code == 0, result.out
    assert "applied - PingOne carol: group VPN (restores approved state)" in result.out, result.out
    assert not in_vpn(world)
    assert "No changes" in world.pending()

    again = adopt(world, plan)  # the same change at the vendor, from the old plan: decided already
    assert "skipped: carol → PingOne group VPN: decided in #1 (closed unmerged)" in again, again
    assert sorted(world.sim.repo().pulls) == [1]


def test_an_adoption_someone_pushed_to_is_left_as_it_is(world: World) -> None:
    grant_by_hand(world)
    plan = plan_file(world)
    adopt(world, plan)
    world.repo.git.checkout(BRANCH)
    path = world.path / "access/pingone.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "reason: adopted drift", "expires: 2027-01-31, reason: adopted drift"
    )
    path.write_text(text, encoding="utf-8")
    world.repo.git.add("access")
    world.repo.index.commit("until the end of January")
    world.repo.git.checkout("main")
    assert f"left: {BRANCH}: left as it is (someone has pushed to it)" in adopt(world, plan)
    assert "until the end of January" in world.repo.commit(BRANCH).message


def test_drift_nobody_can_name_is_offered_only_when_asked(world: World, tmp_path: Path) -> None:
    sandbox.reset(world.path, ("concur",))  # Concur's seed drift is back: carol's Expense Processor
    plan = plan_file(world)
    assert "no out-of-band drift to adopt" in adopt(world, plan)
    out = adopt(world, plan, "--unattributed")
    assert "opened #1" in out and "carol → SAP Concur role Expense Processor" in out, out
    assert "Who made it is not known: not attributable at this vendor" in pull_body(world, 1)


def test_adopting_needs_a_plan_that_asked_who_made_its_drift(world: World) -> None:
    snapshot = world.path.parent / "snapshot"
    assert world.access("sync", "--sandbox", "--out", str(snapshot)).code == 0
    out = world.path.parent / "offline.json"
    assert world.access("plan", "--state", str(snapshot), "--out", str(out)).code == 0
    assert "causes" not in json.loads(out.read_text(encoding="utf-8"))
    result = world.access("adopt", "--plan", str(out), "--sandbox")
    assert result.code == 1 and "was made from a snapshot" in result.err


def test_the_administrator_who_made_it_by_hand_cannot_approve_keeping_it(world: World) -> None:
    grant_by_hand(world)
    adopt(world, plan_file(world))
    world.approve(1, "hbrandt")  # heidi: named in the commit's Requested-by trailer
    world.merge(1, branch=BRANCH)
    result = world.apply()
    assert result.code == 1, result.out
    assert "held + pingone carol.okafor@harborbuild.example: group VPN" in result.out, result.out
    assert "hbrandt requested it (a `Requested-by:` trailer): their own approval does not count" in result.out
    assert "applied - PingOne carol: group VPN (restores approved state)" in result.out
    assert not in_vpn(world)  # the approved state never had it: drift repair revoked it
