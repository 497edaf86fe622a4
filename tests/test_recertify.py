"""`access recertify`: per owner, one pull request re-approving the access due, end to end.

A real git repository, the GitHub simulator and the sandbox vendors (the `World` of the gate tests):
the owner deletes a line in the recertification pull request, approves, it is merged, and
`access apply --sandbox` revokes exactly that line's access through the real gate.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import git
import pytest

from reconciler import sandbox
from reconciler.commands.context import AppContext
from reconciler.commands.state import Desired, load_desired
from reconciler.errors import ValidationErrors
from reconciler.policy_loader import load_policies
from reconciler.recertification import MemberLine, find_due, grants_by_line, member_lines
from reconciler.simulators.github import GitHubSimulator
from reconciler.yaml_edit import changed_lines
from tests.github_markdown import pings, text_of, to_html
from tests.test_gate import World, adopted, replace_text, world
from tests.test_request import access, diff_lines, hub, origin_repo

__all__ = ["adopted", "hub", "origin_repo", "world"]

BRANCH = "access-recertify/security"


def written(world: World) -> dt.date:
    """The day the example's lines were committed (the real clock: the tests move ACCESS_TODAY)."""
    return list(world.repo.iter_commits("main"))[-1].committed_datetime.astimezone(dt.UTC).date()


def recertify(world: World, monkeypatch: pytest.MonkeyPatch, today: dt.date) -> str:
    monkeypatch.setenv("ACCESS_TODAY", today.isoformat())
    result = world.access("recertify", "--sandbox")
    assert result.code == 0, result.out + result.err
    world.sim = GitHubSimulator.from_json(sandbox.github_file(world.path).read_text(encoding="utf-8"))
    return result.out


def lapse(world: World, monkeypatch: pytest.MonkeyPatch, today: dt.date) -> None:
    """Move to `today` and apply: the example's lines that have expired by then are revoked first."""
    monkeypatch.setenv("ACCESS_TODAY", today.isoformat())
    assert world.apply().code == 0
    assert "No changes" in world.pending()


def load(root: Path) -> Desired:
    return load_desired(AppContext(repo=root, env={"ACCESS_TODAY": "2027-01-01"}))


def diff(world: World, branch: str, file: str = "access/pingone.yaml") -> list[str]:
    before = world.repo.git.show(f"main:{file}")
    after = world.repo.git.show(f"{branch}:{file}")
    return list(changed_lines(before, after))


def test_the_owner_removes_one_line_and_exactly_that_access_is_revoked(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = written(world) + dt.timedelta(days=100)  # PingOne roles: due after 90 days, deadline 104
    lapse(world, monkeypatch, today)
    out = recertify(world, monkeypatch, today)
    assert "opened pull request #1 for security (2 line(s))" in out, out
    assert "for finance" not in out and "for carol" not in out  # 180 and 365 days: not due yet
    pull = world.sim.repo().pulls[1]
    assert pull.head_ref == BRANCH and pull.title == "Recertify access owned by security"
    body = pull.body or ""
    assert "@glin-sec" in body and "| heidi | PingOne role Identity Data Admin |" in body
    assert diff(world, BRANCH) == [
        "-      heidi: environment",
        f"+      heidi: {{scope: environment, certified: {today}}}",
        "-      security: environment",
        f"+      security: {{scope: environment, certified: {today}}}",
    ]

    # grace (security) no longer wants heidi to be an Identity Data Admin: she deletes the line.
    world.repo.git.checkout(BRANCH)
    path = world.path / "access/pingone.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"^      heidi: \{[^\n]*\n", "", text, flags=re.M), encoding="utf-8")
    world.repo.git.add("access")
    actor = git.Actor("Grace Lin", "grace@example.com")
    sha = str(world.repo.index.commit("heidi no longer needs it", author=actor, committer=actor).hexsha)
    world.sim.push(1, sha)
    world.save()
    world.approve(1, "glin-sec")
    world.merge(1, branch=BRANCH)

    result = world.apply()
    assert result.code == 0, result.out + result.err
    applied = [line for line in result.out.splitlines() if line.lstrip().startswith("applied")]
    assert len(applied) == 1, result.out
    assert "- PingOne heidi" in applied[0] and "Identity Data Admin" in applied[0], applied
    assert "No changes" in world.pending()
    assert f"certified: {today}" in (world.path / "access/pingone.yaml").read_text(encoding="utf-8")
    why = world.access("why", "grace", "Identity Data Read Only", "--sandbox", "--format", "json")
    assert f'"last_certified": "{today}"' in why.out, why.out


def test_the_description_shows_the_policies_text_as_written_and_pings_only_the_owners(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recertification rule named like markup (policies/ is text a pull request wrote): its name
    reads as written in the table, makes no element or cell of its own and pings nobody; the
    owners are still asked by name."""
    fake = "**approved by @hbrandt** <img src=x> [x](https://evil.example) | fake | #12"
    rename = world.open_pull(
        "dwhitfield",
        replace_text("policies/recertification.yaml", "  admin-roles:", f"  {json.dumps(fake)}:"),
    )
    world.approve(rename, "glin-sec")  # a policies/ change: the policy owners approve it
    world.merge(rename)
    today = written(world) + dt.timedelta(days=100)
    lapse(world, monkeypatch, today)
    recertify(world, monkeypatch, today)
    rendered = to_html(world.sim.repo().pulls[2].body or "")
    assert re.findall(r"<strong>(.*?)</strong>", rendered)[0] == "security"
    assert "approved" not in "".join(re.findall(r"<strong>(.*?)</strong>", rendered))
    assert not re.search(r"<(img|a|h1|em)\b", rendered)
    rows = re.findall(r"<tr>(.*?)</tr>", rendered, re.S)
    assert {row.count("<t") for row in rows} == {8} and len(rows) == 3
    assert all(text_of(row).rstrip().endswith(fake) for row in rows[1:]), "the rule's name, as written"
    assert pings(rendered) == ["@glin-sec"], "grace owns security's lines: she is asked, nobody else"


def test_a_second_run_updates_the_same_pull_request_and_leaves_the_owners_pushes_alone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = written(world) + dt.timedelta(days=95)
    assert "opened pull request #1 for security" in recertify(world, monkeypatch, first)
    second = first + dt.timedelta(days=5)
    out = recertify(world, monkeypatch, second)
    assert "updated pull request #1 for security" in out, out
    assert list(world.sim.repo().pulls) == [1]
    assert f"+      heidi: {{scope: environment, certified: {second}}}" in diff(world, BRANCH)
    assert world.sim.repo().pulls[1].head_sha == world.repo.commit(BRANCH).hexsha

    # The owner pushes an edit: the next run must not overwrite it.
    world.repo.git.checkout(BRANCH)
    actor = git.Actor("Grace Lin", "grace@example.com")
    tip = str(world.repo.index.commit("reviewing", author=actor, committer=actor).hexsha)
    world.repo.git.checkout("main")
    out = recertify(world, monkeypatch, second + dt.timedelta(days=1))
    assert f"{BRANCH}: left as it is" in out, out
    assert world.repo.commit(BRANCH).hexsha == tip and list(world.sim.repo().pulls) == [1]


def test_past_the_deadline_the_pull_request_sets_an_expiry_that_lapses_once_merged(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    deadline = written(world) + dt.timedelta(days=104)
    lapse(world, monkeypatch, deadline + dt.timedelta(days=3))
    out = recertify(world, monkeypatch, deadline + dt.timedelta(days=3))
    assert "opened pull request #1 for security" in out, out
    assert f"+      heidi: {{scope: environment, expires: {deadline}}}" in diff(world, BRANCH)
    assert "### Past the deadline" in (world.sim.repo().pulls[1].body or "")
    assert "No changes" in world.pending(), "nothing lapses before the pull request is merged"

    world.approve(1, "glin-sec")
    world.merge(1, branch=BRANCH)
    result = world.apply()
    assert result.code == 0, result.out + result.err
    assert re.search(r"applied - PingOne heidi.*Identity Data Admin", result.out), result.out


def test_with_a_remote_the_branches_are_pushed_and_an_owners_push_is_never_overwritten(
    origin_repo: tuple[git.Repo, Path],
    hub: GitHubSimulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the scheduled workflow does: push to origin, open pull requests through the GitHub API."""
    repo, origin = origin_repo
    work = Path(repo.working_dir)
    first = repo.head.commit.committed_datetime.astimezone(dt.UTC).date() + dt.timedelta(days=200)
    monkeypatch.setenv("ACCESS_TODAY", first.isoformat())
    code, out, err = access(capsys, work, "recertify")
    assert code == 0, err
    owners = {p.head_ref: p for p in hub.repo().pulls.values()}
    assert {"access-recertify/security", "access-recertify/finance"} <= set(owners), out
    finance = owners["access-recertify/finance"]
    added = [line for line in diff_lines(origin, finance.head_ref) if line.startswith("+")]
    assert added and all(f"certified: {first}" in line for line in added), added
    assert finance.head_sha == git.Repo(origin).commit(finance.head_ref).hexsha

    # A week later: the same pull requests, updated.
    monkeypatch.setenv("ACCESS_TODAY", (first + dt.timedelta(days=7)).isoformat())
    code, out, err = access(capsys, work, "recertify")
    assert code == 0 and f"updated pull request #{finance.number} for finance" in out, err
    assert len(hub.repo().pulls) == len(owners)

    # The owner pushes to their branch (from another clone); the next run leaves it alone.
    clone = git.Repo.clone_from(str(origin), work.parent / "owner", branch=finance.head_ref)
    actor = git.Actor("Ed Walsh", "ewalsh@example.com")
    clone.index.commit("keep all but one", author=actor, committer=actor)
    clone.git.push("origin", finance.head_ref)
    tip = git.Repo(origin).commit(finance.head_ref).hexsha
    code, out, err = access(capsys, work, "recertify")
    assert code == 0 and f"{finance.head_ref}: left as it is" in out, err
    assert git.Repo(origin).commit(finance.head_ref).hexsha == tip


# ---------------------------------------------------------------- the policy and the field


def test_certified_and_the_rule_decide_what_is_due(tmp_path: Path) -> None:
    for part in ("access", "policies"):
        (tmp_path / part).mkdir()
    (tmp_path / "access/a.yaml").write_text(
        "people:\n"
        "  ann: {email: ann@x.example, name: Ann, github: ann}\n"
        "  bob: {email: bob@x.example, name: Bob, github: bob}\n"
        "pingone:\n"
        "  roles:\n"
        "    Environment Admin:\n"
        "      ann: {scope: environment, certified: 2027-01-10}\n"
        "      bob: {scope: environment, expires: 2027-01-03}\n"
        "  groups:\n"
        "    VPN: [ann, bob]\n",
        encoding="utf-8",
    )
    (tmp_path / "policies/p.yaml").write_text(
        "approvers:\n"
        "  roles: {match: {vendor: pingone, resource_type: role}, approvers: [bob]}\n"
        "recertification:\n"
        "  loose: {match: {vendor: pingone}, every_days: 365}\n"
        "  strict: {match: {vendor: pingone, resource_type: role}, every_days: 30, grace_days: 5}\n",
        encoding="utf-8",
    )
    desired = load(tmp_path)
    policies = load_policies(tmp_path)
    written_on = {"VPN": dt.date(2026, 1, 1), "ann": dt.date(2027, 1, 12)}  # ann's line: certified

    def when(line: MemberLine) -> tuple[dt.date, str]:
        day = written_on.get(line.path[-1]) or written_on.get(line.member, dt.date(2026, 12, 1))
        return day, "written in abc"

    due = find_due(
        member_lines(desired.files), grants_by_line(desired.access), policies, desired.access,
        dt.date(2027, 2, 12), when,
    )  # fmt: skip
    found = {(d.line.path[-1], d.line.member): d for d in due}
    # ann's role: certified 2027-01-10, strict rule (30 days) -> due 2027-02-09, deadline 02-14
    ann = found[("Environment Admin", "ann")]
    assert (ann.rule, ann.basis, ann.due, ann.overdue) == ("strict", "certified", dt.date(2027, 2, 9), False)
    assert ann.owner.key == "bob" and ann.owner.logins == ("bob",)
    # A `certified` later than the day its line reached main counts from that day.
    written_on["ann"] = dt.date(2027, 1, 5)
    early = find_due(
        member_lines(desired.files), grants_by_line(desired.access), policies, desired.access,
        dt.date(2027, 2, 5), when,
    )  # fmt: skip
    assert [(d.line.member, d.due) for d in early if d.line.path[-1] == "Environment Admin"] == [
        ("ann", dt.date(2027, 2, 4))
    ]
    # bob's role (due 2026-12-31) lapses before its deadline (2027-01-05): not asked. The VPN lines: written 2026-01-01, loose rule.
    assert ("Environment Admin", "bob") not in found
    assert found[("VPN", "ann")].due == dt.date(2027, 1, 1) and found[("VPN", "ann")].owner.key == "reviewers"


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("recertification:\n  r:\n    match: {vendor: pingone}\n    every_days: 0\n", "p.yaml:4"),
        ("recertification:\n  r:\n    match: {vendor: nope}\n    every_days: 9\n", "p.yaml:3"),
    ],
)
def test_a_bad_recertification_rule_is_one_located_error(tmp_path: Path, policy: str, message: str) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies/p.yaml").write_text(policy, encoding="utf-8")
    with pytest.raises(ValidationErrors) as info:
        load_policies(tmp_path)
    assert message in str(info.value), str(info.value)


def test_certified_must_be_a_date(tmp_path: Path) -> None:
    (tmp_path / "access").mkdir()
    (tmp_path / "access/a.yaml").write_text(
        "people:\n  ann: {email: ann@x.example, name: Ann}\n"
        "pingone:\n  groups:\n    VPN:\n      ann: {certified: soon}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationErrors) as info:
        load(tmp_path)
    assert "a.yaml:6" in str(info.value) and "expected a date like 2026-11-29" in str(info.value)


def test_recertify_format_json_lists_each_owners_pull_request_and_lines(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = written(world) + dt.timedelta(days=100)
    lapse(world, monkeypatch, today)
    monkeypatch.setenv("ACCESS_TODAY", today.isoformat())
    result = world.access("recertify", "--sandbox", "--format", "json")
    assert result.code == 0, result.err
    (owner,) = json.loads(result.out)["owners"]
    assert owner["owner"] == "security" and owner["branch"] == BRANCH and owner["left_as_is"] is False
    assert owner["pull_request"]["number"] == 1 and owner["pull_request"]["created"] is True
    assert sorted(line["member"] for line in owner["lines"]) == ["heidi", "security"]
    assert "opened pull request #1 for security" in result.err
