"""Leavers: the IdP says who has left; `access leavers` opens ONE pull request removing them from
access/, and a `leavers` policy with `revoke: true` takes their access back at every vendor in the
same apply run, before that merges, audited as the policy's decision.

A real git repository, the GitHub simulator and the sandbox vendors, through the real gate (the
world of tests/test_gate.py). policies/leavers.yaml says `revoke: true`; Bob is disabled at PingOne.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from reconciler import sandbox
from reconciler.connectors.base import VendorState
from reconciler.hr_export import HrRow, parse_hr_export
from reconciler.leavers import find_leavers
from reconciler.location import Location
from reconciler.policy_model import Leavers
from reconciler.records import Account, Person
from reconciler.sandbox import pingone
from reconciler.simulators.github import GitHubSimulator
from reconciler.simulators.pingone_state import PingOneState
from reconciler.yaml_edit import changed_lines
from tests.test_gate import World, adopt_example

BOB = "bob.ruiz@harborbuild.example"
DISABLED_AT = "2026-12-01T09:30:00.000Z"
POLICY = """\
leavers:
  population: Leavers
  revoke: true
  sla_hours: 24
"""


def adopt(root: Path, policy: str) -> Path:
    def with_policy(repo: Path) -> None:
        (repo / "policies/leavers.yaml").write_text(policy, encoding="utf-8")

    return adopt_example(root, with_policy, "example access, with a leavers policy")


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


# ---------------------------------------------------------------- the pull request

BRANCH = "access-leavers/remove"


def pulls(world: World) -> GitHubSimulator:
    world.sim = GitHubSimulator.from_json(sandbox.github_file(world.path).read_text(encoding="utf-8"))
    return world.sim


def removed_lines(world: World, file: str) -> list[str]:
    return list(changed_lines(world.repo.git.show(f"main:{file}"), world.repo.git.show(f"{BRANCH}:{file}")))


def test_one_pull_request_removes_the_leaver_everywhere_and_a_second_run_updates_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "no leavers: no pull request needed" in world.access("leavers", "--sandbox").out
    at_pingone(world, disable(BOB))
    result = world.access("leavers", "--sandbox")
    assert result.code == 0, result.out + result.err
    assert "opened pull request #1 removing 1 leaver(s) (bob)" in result.out, result.out
    pull = pulls(world).repo().pulls[1]
    assert pull.head_ref == BRANCH and pull.title == "Remove leavers from access/"
    body = pull.body or ""
    assert r"| bob | PingOne user disabled \(2026-12-01 09:30 UTC\) | 2026-12-01 09:30 UTC | 1 |" in body, (
        body
    )
    assert "2026-11-19 08:09 UTC" in body  # his last PingOne sign-in
    assert "`revoke: true`" in body
    people = removed_lines(world, "access/people.yaml")
    assert len(people) == 1 and people[0].startswith("-  bob:   {email: bob.ruiz@harborbuild.example"), people
    # bob is named only in people.yaml (his team lines stay: they name the team, not him)
    assert world.repo.git.diff("--stat", f"main..{BRANCH}").count("|") == 1

    # A second run, a day later, rebuilds the same pull request from main: never a second one.
    monkeypatch.setenv("ACCESS_TODAY", (dt.date.today() + dt.timedelta(days=1)).isoformat())
    again = world.access("leavers", "--sandbox")
    assert "updated pull request #1 removing 1 leaver(s) (bob)" in again.out, again.out
    assert list(pulls(world).repo().pulls) == [1]

    # Someone pushes to it (say, keeping a line): later runs leave it alone.
    world.repo.git.checkout(BRANCH)
    actor = git.Actor("Grace Lin", "grace@example.com")
    tip = str(world.repo.index.commit("reviewing", author=actor, committer=actor).hexsha)
    world.repo.git.checkout("main")
    third = world.access("leavers", "--sandbox")
    assert f"{BRANCH}: left as it is (pull request #1 is open" in third.out, third.out
    assert world.repo.commit(BRANCH).hexsha == tip and list(pulls(world).repo().pulls) == [1]


def test_every_line_naming_a_leaver_goes_and_merging_the_pull_request_finishes_the_offboarding(
    adopted_keep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = copy(adopted_keep, tmp_path, capsys)
    oscar = "oscar.reyes@steelframe.example"  # named in people.yaml, a population, two groups, a project
    at_pingone(world, disable(oscar, "2026-12-03T08:00:00.000Z"))
    result = world.access("leavers", "--sandbox")
    assert result.code == 0, result.out + result.err
    assert removed_lines(world, "access/pingone.yaml") == [
        "-    Contractors: [oscar]",
        "+    Contractors: []",
        "-    Procore Users: [staff, oscar]",
        "+    Procore Users: [staff]",
    ]
    assert removed_lines(world, "access/procore.yaml") == [
        "-          oscar: {template: Subcontractor, expires: 2027-03-31, reason: PROC-311}"
    ]
    body = pulls(world).repo().pulls[1].body or ""
    assert (
        r"| oscar | PingOne user disabled \(2026-12-03 08:00 UTC\) | 2026-12-03 08:00 UTC | 4 | never |"
        in body
    )
    assert "Until this is merged, apply gives them nothing more" in body

    # The policy owners (security: grace) approve the removal of a person; merged, apply revokes.
    world.approve(1, "glin-sec")
    world.merge(1, branch=BRANCH)
    applied = world.apply()
    assert applied.code == 0, applied.out + applied.err
    assert f"applied - Procore {oscar}: project Harbor Tower as Subcontractor" in applied.out, applied.out
    record = next(r for r in world.audit() if r["principal"] == oscar and r["resource"] == "Harbor Tower")
    assert record["basis"] != "left" and record["pull_request"] == 1  # merged: approved, not by policy
    assert record["left"] == {"at": "2026-12-03T08:00:00.000Z", "why": "PingOne user disabled"}


def test_an_hr_export_adds_those_whose_end_date_passed_and_a_bad_one_is_located(
    world: World, tmp_path: Path
) -> None:
    hr = tmp_path / "hr.csv"
    hr.write_text(
        "Email,Person,End_Date,Department\n"
        "carol.okafor@harborbuild.example,,2026-11-10,PM\n"
        ",judy,2999-01-01,PM\n",  # still working
        encoding="utf-8",
    )
    result = world.access("leavers", "--sandbox", "--hr-export", str(hr))
    assert "opened pull request #1 removing 1 leaver(s) (carol)" in result.out, result.out + result.err
    body = pulls(world).repo().pulls[1].body or ""
    assert "| carol | HR end date 2026-11-10" in body and "| 2026-11-11 00:00 UTC |" in body, body
    assert "### Still named in policies/" in body and "`policies/approvers.yaml:" in body  # an owner
    hr.write_text("email,end_date\ncarol.okafor@harborbuild.example,30/11/2026\n", encoding="utf-8")
    bad = world.access("leavers", "--sandbox", "--hr-export", str(hr))
    assert bad.code == 1
    assert f"{hr}:2: end_date '30/11/2026' is not a date (YYYY-MM-DD)" in bad.err, bad.err


# ---------------------------------------------------------------- the deprovisioning SLA view


def test_the_sla_view_shows_when_each_leaver_left_when_each_vendor_revoked_and_whether_in_time(
    world: World,
) -> None:
    now = dt.datetime.now(dt.UTC)
    recently = (now - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    at_pingone(world, disable(BOB, recently))
    at_pingone(world, disable("erin.walsh@harborbuild.example", DISABLED_AT))  # a week ago: too late
    assert world.apply().code == 0
    at_pingone(world, disable("mike.chen@harborbuild.example", recently))  # not applied yet
    result = world.access("report", "--sandbox", "--sla")
    assert result.code == 0, result.err
    rows = {r["person"]: r for r in csv.DictReader(io.StringIO(result.out))}
    assert set(rows) == {"bob", "erin", "mike"}, result.out
    bob, erin, mike = rows["bob"], rows["erin"], rows["mike"]
    assert bob["left_at"] == recently and bob["said_by"] == "PingOne user disabled"
    for vendor in ("procore", "concur", "pingone"):
        assert dt.datetime.fromisoformat(bob[f"{vendor}_revoked_at"]) >= now - dt.timedelta(minutes=5)
    assert 1.9 <= float(bob["hours"]) <= 2.5 and bob["sla"] == "within"
    assert erin["left_at"] == DISABLED_AT and erin["sla"] == "breached" and erin["procore_revoked_at"] == ""
    assert mike["procore_revoked_at"] == mike["concur_revoked_at"] == "still held" and mike["sla"] == "open"
    page = world.path / "report.html"
    assert world.access("report", "--sandbox", "--out", str(page)).code == 0
    html = page.read_text(encoding="utf-8")
    assert "<h2>Deprovisioning SLA (24 h)</h2>" in html and '<td class="no">breached</td>' in html


# ---------------------------------------------------------------- the pure parts


def test_the_hr_export_is_read_by_its_header_and_every_bad_row_is_located() -> None:
    rows, errors = parse_hr_export("\ufeffKey,END_DATE\nbob,2026-11-30\n\n,2026-11-30\n", "hr.csv")
    assert [(r.person, r.end_date, str(r.where)) for r in rows] == [
        ("bob", dt.date(2026, 11, 30), "hr.csv:2")
    ]
    assert [str(e) for e in errors] == ["hr.csv:4: no person and no email"]
    _, errors = parse_hr_export("name,left\nbob,2026-11-30\n", "hr.csv")
    assert [str(e) for e in errors] == [
        "hr.csv:1: the header 'name, left' needs a person (or email) column and an end_date column"
    ]
    assert rows[0].left_at() == "2026-12-01T00:00:00Z"  # the end date is the last day worked


def test_only_the_idp_makes_a_leaver_for_apply_and_an_empty_or_unread_idp_deletes_nobody() -> None:
    bob = Person("bob", BOB, "Bob Ruiz", source=Location("access/people.yaml", 7))
    ann = Person("ann", "ann@harborbuild.example", "Ann")
    idp = VendorState("pingone", (Account("pingone", "", "ann@harborbuild.example"),), frozenset())
    policy = Leavers(deleted_after_days=7)
    today = dt.date(2027, 1, 10)

    def found(state: VendorState | None, written: dt.date | None, hr: tuple[HrRow, ...] = ()) -> list[str]:
        leavers = find_leavers(
            [bob, ann], state, lambda _: True, policy, today, written=lambda _: written, hr=hr
        )
        return [f"{x.person}:{','.join(s.kind for s in x.signals)}:{x.idp}" for x in leavers]

    assert found(idp, dt.date(2027, 1, 1)) == ["bob:deleted:True"]  # 9 days on main, no PingOne user
    assert found(idp, dt.date(2027, 1, 5)) == []  # 5 days: a newcomer, created by the next apply
    assert found(idp, None) == []  # not committed: never judged deleted
    assert (
        found(VendorState("pingone", (), frozenset()), dt.date(2026, 1, 1)) == []
    )  # an empty IdP says nothing
    assert found(None, dt.date(2026, 1, 1)) == []  # PingOne not read
    row = HrRow("", "ann@harborbuild.example", dt.date(2027, 1, 2), Location("hr.csv", 2))
    assert found(None, None, (row,)) == ["ann:end-date:False"]  # HR alone: the pull request, never apply


def test_a_reminder_goes_to_the_policy_owners_while_the_leavers_pull_request_is_open(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    at_pingone(world, disable(BOB))
    assert world.access("leavers", "--sandbox").code == 0
    monkeypatch.setenv("ACCESS_TODAY", "2026-12-01")
    result = world.access("notify", "--sandbox", "--dry-run", "--format", "json")
    assert result.code == 0, result.out + result.err
    messages = [m for m in json.loads(result.out)["messages"] if m["event"] == "leaver_pending"]
    assert [m["channel"] for m in messages] == ["access-admins"], result.out
    [item] = messages[0]["items"]
    assert item["step"] == "d-0"  # the day PingOne says he left
    assert item["headline"].startswith("bob left today (PingOne user disabled (2026-12-01 09:30 UTC))")
    assert item["link"] == "https://github.com/harborbuild/access/pull/1"

    pulls(world)  # (the pull request `access leavers` opened)
    world.approve(1, "glin-sec")
    world.merge(1, branch=BRANCH)  # merged: bob is no longer in access/, nothing to remind of
    after = json.loads(world.access("notify", "--sandbox", "--dry-run", "--format", "json").out)
    assert not [m for m in after["messages"] if m["event"] == "leaver_pending"]
