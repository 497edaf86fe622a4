"""Lapse on no response: a line nobody re-approves by its recertification deadline is taken back
by policy at the next apply, without a merge, and audited as the policy's decision.

A real git repository, the GitHub simulator and the sandbox vendors, through the real gate (the
world of tests/test_gate.py). policies/recertification.yaml's `admin-roles` (every 90 days, 14 days'
grace) says `on_no_response: revoke`; heidi's Identity Data Admin line says `certified: 2026-11-01`,
so it is due on 2027-01-30 and lapses after 2027-02-13. The days are moved with ACCESS_TODAY.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import git
import pytest

from reconciler import sandbox
from reconciler.location import Location
from reconciler.policy_model import Policies, RecertificationRule
from reconciler.recertification import lapses
from reconciler.records import AccessSet, Grant, Provenance
from reconciler.simulators.github import GitHubSimulator
from tests.test_gate import World, adopt_example, replace_text

HEIDI = "      heidi: environment"
CERTIFIED = "      heidi: {scope: environment, certified: 2026-11-01}"
REVOKE = "    grace_days: 14\n"
LINE = "- heidi: role Identity Data Admin (environment)  (access/pingone.yaml:18; lapsed: "


def lapsing(repo: Path) -> None:
    """heidi's admin role certified on 2026-11-01, and admin roles lapsing on no response."""
    pingone = repo / "access/pingone.yaml"
    pingone.write_text(pingone.read_text(encoding="utf-8").replace(HEIDI, CERTIFIED), encoding="utf-8")
    rules = repo / "policies/recertification.yaml"
    text = rules.read_text(encoding="utf-8")
    assert text.count(REVOKE) == 1
    rules.write_text(
        text.replace(REVOKE, REVOKE + "    on_no_response: revoke\n    notice_days: 14\n"), encoding="utf-8"
    )


@pytest.fixture(scope="module")
def adopted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return adopt_example(tmp_path_factory.mktemp("lapse"), lapsing)


@pytest.fixture
def world(adopted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> World:
    shutil.copytree(adopted, tmp_path / "repo")
    return World(git.Repo(tmp_path / "repo"), capsys)


def test_nothing_lapses_before_the_deadline_and_the_plan_warns_within_notice(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert world.apply().out.strip().endswith("No changes. The vendors match the YAML.")
    monkeypatch.setenv("ACCESS_TODAY", "2027-02-05")
    plan = world.access("plan", "--sandbox")
    assert plan.code == 0, plan.err
    assert "lapsed:" not in plan.out  # not yet: other access expires by then, this line lapses later
    assert "lapse after 2027-02-13 (8 day(s)): recertification admin-roles" in plan.out + plan.err


def test_the_line_lapses_after_its_deadline_and_apply_revokes_exactly_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCESS_TODAY", "2027-02-14")
    plan = world.access("plan", "--sandbox")
    assert LINE in plan.out, plan.out
    assert "lapsed: recertification admin-roles: due 2027-01-30, not re-approved by 2027-02-13" in plan.out
    result = world.apply()
    assert result.code == 0, result.out + result.err
    applied = [line for line in result.out.splitlines() if line.lstrip().startswith("applied")]
    lapsed = [line for line in applied if "lapsed:" in line]
    assert len(lapsed) == 1 and "Identity Data Admin" in lapsed[0], result.out  # the rest: expiries
    (record,) = [r for r in world.audit() if r.get("resource") == "Identity Data Admin"]
    assert record["basis"] == "lapsed" and record["rule"] == "admin-roles" and record["approved_by"] == []
    assert "not re-approved by 2027-02-13 (on_no_response: revoke)" in str(record["why"])
    assert world.apply().out.strip().endswith("No changes. The vendors match the YAML.")


def test_a_certified_day_pushed_without_review_does_not_stop_the_lapse(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.direct_push(replace_text("access/pingone.yaml", "certified: 2026-11-01", "certified: 2027-02-10"))
    monkeypatch.setenv("ACCESS_TODAY", "2027-02-14")
    result = world.apply()
    assert "rule pull-request:" in result.out, result.out  # the unreviewed certified day is held
    assert any(
        line.lstrip().startswith("applied") and "Identity Data Admin" in line
        for line in result.out.splitlines()
    ), result.out


def test_keep_never_lapses_and_a_line_with_no_day_is_not_judged() -> None:
    grant = Grant("pingone", "", "role", "Identity Data Admin", "environment", "heidi@harbor.example")
    line = Provenance(Location("access/pingone.yaml", 18), certified="2026-01-01")
    access = AccessSet({}, grant_groups={grant[:5]: (grant[5],)}, provenance={grant: line})
    rule = RecertificationRule.model_validate(
        {"match": {"vendor": "pingone", "resource_type": "role"}, "every_days": 90, "grace_days": 14}
    )
    policies = Policies(recertification={"admin-roles": rule})
    today = dt.date(2027, 1, 1)
    assert lapses(access, policies, today, lambda _: None) == []  # keep: the default
    policies = Policies(recertification={"admin-roles": rule.model_copy(update={"on_no_response": "revoke"})})
    (found,) = lapses(access, policies, today, lambda _: dt.date(2026, 6, 1))
    assert found.reviewed == dt.date(2026, 1, 1) and found.deadline == dt.date(2026, 4, 15)
    undated = AccessSet(
        {}, grant_groups={grant[:5]: (grant[5],)}, provenance={grant: Provenance(line.source)}
    )
    assert lapses(undated, policies, today, lambda _: None) == []


def test_the_recertification_pull_request_says_first_that_the_line_lapses(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCESS_TODAY", "2027-02-01")  # heidi's line is due, not yet lapsed
    result = world.access("recertify", "--sandbox")
    assert result.code == 0, result.out + result.err
    sim = GitHubSimulator.from_json(sandbox.github_file(world.path).read_text(encoding="utf-8"))
    (pull,) = [p for p in sim.repo().pulls.values() if "heidi" in (p.body or "")]
    first = (pull.body or "").splitlines()[0]
    assert first.startswith("**Lapses without an answer:** 1 line(s) here lose their access after 2027-02-13")
