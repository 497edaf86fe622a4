"""Leavers: the IdP says who has left; `access leavers` opens ONE pull request removing them from
access/, and a `leavers` policy with `revoke: true` takes their access back at every vendor in the
same apply run, before that merges, audited as the policy's decision.

A real git repository, the GitHub simulator and the sandbox vendors, through the real gate (the
world of tests/test_gate.py). policies/leavers.yaml says `revoke: true`; Bob is disabled at PingOne.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from reconciler import sandbox
from reconciler.sandbox import pingone
from reconciler.simulators.pingone_state import PingOneState
from tests.test_gate import ROOT, World

BOB = "bob.ruiz@harborbuild.example"
DISABLED_AT = "2026-12-01T09:30:00.000Z"
POLICY = """\
leavers:
  population: Leavers
  revoke: true
  sla_hours: 24
"""


def adopt(root: Path, policy: str) -> Path:
    repo = git.Repo.init(root / "repo", initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test User")
        config.set_value("user", "email", "test@example.com")
    for part in ("access", "policies"):
        shutil.copytree(ROOT / part, root / "repo" / part)
    (root / "repo/policies/leavers.yaml").write_text(policy, encoding="utf-8")
    repo.index.add(["access", "policies"])
    repo.index.commit("example access, with a leavers policy")
    World.adopt(repo)
    return root / "repo"


@pytest.fixture(scope="module")
def adopted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return adopt(tmp_path_factory.mktemp("leavers"), POLICY)


@pytest.fixture(scope="module")
def adopted_keep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return adopt(tmp_path_factory.mktemp("leavers-keep"), POLICY.replace("revoke: true", "revoke: false"))


def copy(adopted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> World:
    shutil.copytree(adopted, tmp_path / "repo")
    return World(git.Repo(tmp_path / "repo"), capsys)


@pytest.fixture
def world(adopted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> World:
    return copy(adopted, tmp_path, capsys)


def at_pingone(world: World, edit: Callable[[PingOneState], None]) -> None:
    """What PingOne's administrators (or HR's provisioning into it) did."""
    path, simulator = pingone.load_simulator(sandbox.state_dir(world.path))
    edit(simulator.state)
    pingone.write_state(path, simulator.state)


def user_of(state: PingOneState, email: str) -> dict[str, object]:
    return next(u for u in state.users.values() if str(u["email"]).casefold() == email)


def disable(email: str, at: str = DISABLED_AT) -> Callable[[PingOneState], None]:
    def edit(state: PingOneState) -> None:
        user = user_of(state, email)
        user["enabled"], user["updatedAt"] = False, at

    return edit


def applied_lines(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.lstrip().startswith(("applied", "already"))]


# ---------------------------------------------------------------- revoke: true


def test_a_user_disabled_at_the_idp_loses_access_at_every_vendor_in_one_apply_audited_as_the_policys(
    world: World,
) -> None:
    assert world.apply().out.strip().endswith("No changes. The vendors match the YAML.")
    at_pingone(world, disable(BOB))
    result = world.apply()
    assert result.code == 0, result.out + result.err
    applied = applied_lines(result.out)
    why = "(left: bob: PingOne user disabled (2026-12-01 09:30 UTC) (policy leavers))"
    assert applied == [
        f"applied - SAP Concur bob: role Expense User {why}",
        f"applied - SAP Concur bob: role Request User {why}",
        f"applied - PingOne bob: group Concur Users {why}",
        f"applied - PingOne bob: group Procore Users {why}",
        f"applied - PingOne bob: group VPN {why}",
        f"applied - Procore bob: project Harbor Tower as Project Engineer {why}",
    ], result.out
    audit = world.audit()
    records = [r for r in audit if r["run"] == audit[-1]["run"]]
    assert {r["principal"] for r in records} == {BOB}
    assert {r["vendor"] for r in records} == {"concur", "pingone", "procore"}
    for record in records:
        assert record["basis"] == "left" and record["rule"] == "leavers" and record["approved_by"] == []
        assert str(record["why"]).startswith("left: bob: PingOne user disabled (2026-12-01 09:30 UTC)")
        assert record["left"] == {"at": DISABLED_AT, "why": "PingOne user disabled"}
    # The IdP's account is left as the IdP has it: never re-enabled, and nothing is given back.
    again = world.apply()
    assert again.out.strip().endswith("No changes. The vendors match the YAML."), again.out
    assert "bob has left (PingOne user disabled" in world.access("plan", "--sandbox").out


def test_a_user_moved_to_the_leavers_population_is_a_leaver_and_never_moved_back(world: World) -> None:
    def move(state: PingOneState) -> None:
        leavers = state.add_population("Leavers")
        user = user_of(state, BOB)
        user["population"], user["updatedAt"] = {"id": leavers}, "2026-12-02T10:00:00.000Z"

    at_pingone(world, move)
    plan = world.access("plan", "--sandbox").out
    assert "population" not in "\n".join(line for line in plan.splitlines() if line.lstrip().startswith("~"))
    assert (
        "- bob: group VPN  (left: bob: moved to the PingOne population Leavers (2026-12-02 10:00 UTC)" in plan
    )


def test_a_deleted_user_counts_once_the_person_is_on_main_long_enough_and_a_newcomer_never(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    at_pingone(world, lambda state: state.delete_user(str(user_of(state, BOB)["id"])))
    plan = world.access("plan", "--sandbox").out
    assert "left:" not in plan, "written today: too new to say deleted (the next apply creates the account)"
    assert "+ bob: create account" in plan
    monkeypatch.setenv("ACCESS_TODAY", (dt.date.today() + dt.timedelta(days=8)).isoformat())
    plan = world.access("plan", "--sandbox").out
    assert "- bob: role Expense User  (left: bob: no PingOne user (deleted) (policy leavers))" in plan, plan
    assert "+ bob: create account" not in plan, "a deleted leaver's account is never created again"


def test_an_unreviewed_policy_cannot_revoke_and_an_unreviewed_yaml_edit_cannot_make_a_leaver(
    adopted_keep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = copy(adopted_keep, tmp_path, capsys)
    at_pingone(world, disable(BOB))
    world.direct_push(lambda root: (root / "policies/leavers.yaml").write_text(POLICY, encoding="utf-8"))
    result = world.apply()
    assert not applied_lines(result.out), result.out  # revoke: true is held until the policy owners approve
    assert "rule policy-owners:" in result.out or "rule pull-request:" in result.out, result.out


# ---------------------------------------------------------------- revoke: false


def test_without_revoke_a_leaver_keeps_what_they_hold_but_is_given_nothing(
    adopted_keep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = copy(adopted_keep, tmp_path, capsys)
    at_pingone(world, disable(BOB))
    plan = world.access("plan", "--sandbox")
    assert "reactivate" not in plan.out, "the IdP disabled them: apply never turns the account back on"
    assert "No changes" in plan.out, plan.out
    assert "bob has left (PingOne user disabled (2026-12-01 09:30 UTC)): nothing more is given" in plan.out
    result = world.apply()
    assert result.code == 0 and not applied_lines(result.out), result.out
