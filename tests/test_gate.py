"""The approval gate end to end, as attackers with each role would try it.

A real git repository, the GitHub simulator and the sandbox vendors; every test runs
`access apply --sandbox` the way the apply job runs on main. Each bypass asserts that the vendor was
not changed (the change is still pending in a fresh plan) and that apply exits 1 with the reason.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import git
import pytest

from reconciler import apply_point, cli, gate, sandbox
from reconciler.commands import apply as apply_cmd
from reconciler.commands.context import AppContext
from reconciler.commands.plan import make_plan
from reconciler.commands.state import Source
from reconciler.console import Output
from reconciler.simulators.github import GitHubSimulator
from reconciler.simulators.github_state import CommentState
from reconciler.vendors import VENDORS
from tests.conftest import ROOT

Edit = Callable[[Path], None]
REPOSITORY = "harborbuild/access"


def add_member(file: str, line_pattern: str, member: str) -> Edit:
    """An edit adding `member` to the flow list on the first line matching `line_pattern`."""

    def edit(root: Path) -> None:
        path = root / file
        text = path.read_text(encoding="utf-8")
        new, count = re.subn(
            rf"^(\s*{line_pattern}:\s*\[[^\]]*)\]", rf"\1, {member}]", text, count=1, flags=re.M
        )
        assert count == 1, f"no {line_pattern!r} line in {file}"
        path.write_text(new, encoding="utf-8")

    return edit


def add_line(file: str, after: str, line: str) -> Edit:
    def edit(root: Path) -> None:
        path = root / file
        text = path.read_text(encoding="utf-8")
        assert after in text
        path.write_text(text.replace(after, f"{after}\n{line}", 1), encoding="utf-8")

    return edit


def replace_text(file: str, old: str, new: str) -> Edit:
    def edit(root: Path) -> None:
        path = root / file
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {file}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return edit


CAROL_VPN = add_member("access/pingone.yaml", "VPN", "carol")  # default rule: any reviewer
DAN_VPN = add_member("access/pingone.yaml", "VPN", "dan")
JUDY_HARBOR = add_line(
    "access/procore.yaml", "        Harbor Tower:", "          judy: Project Engineer"
)  # owner: carol
MIKE_ADMIN = add_line(  # a PingOne admin role: security must approve
    "access/pingone.yaml", "    Identity Data Admin:", "      mike: environment"
)
LOOSEN_POLICY = replace_text(  # PingOne admin roles: project managers instead of security
    "policies/approvers.yaml",
    "match: {vendor: pingone, resource_type: role}\n    approvers: [security]",
    "match: {vendor: pingone, resource_type: role}\n    approvers: [project-management]",
)
JOIN_SECURITY = replace_text(
    "access/people.yaml", "teams: [site-engineering], github: mchen-site", "teams: [site-engineering, security], github: mchen-site"
)  # fmt: skip


@dataclass
class Run:
    code: int
    out: str
    err: str


class World:
    """main with the example access/ adopted and applied; GitHub knows its first commit."""

    def __init__(self, repo: git.Repo, capsys: pytest.CaptureFixture[str] | None = None) -> None:
        self.repo = repo
        self.path = Path(repo.working_tree_dir or ".")
        self.capsys = capsys
        self.sim = GitHubSimulator.from_json(sandbox.github_file(self.path).read_text(encoding="utf-8"))

    @classmethod
    def adopt(cls, repo: git.Repo) -> World:
        """Commit the example, tell GitHub, sign the apply point, seed the vendors, repair their drift."""
        path = Path(repo.working_tree_dir or ".")
        (path / ".gitignore").write_text(".access-sandbox/\n.access/\n", encoding="utf-8")
        repo.index.add([".gitignore"])
        repo.index.commit("ignore local state")
        sim = GitHubSimulator("harborbuild/access")
        for login in re.findall(
            r"github: ([A-Za-z0-9-]+)", (path / "access/people.yaml").read_text(encoding="utf-8")
        ):
            sim.state.user(login)  # everyone the YAML names has a GitHub account
        for commit in reversed(list(repo.iter_commits())):
            sim.direct_push(commit.hexsha, author="hbrandt")
        file = sandbox.github_file(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(sim.to_json(), encoding="utf-8")
        gate.record_apply_point(
            repo, str(repo.head.commit.hexsha), apply_point.sandbox_key(file.parent), REPOSITORY
        )
        sandbox.reset(path, VENDORS)
        quiet = AppContext(repo=path, output=Output(quiet=True))
        assert apply_cmd.run(quiet, plan_file=None, source=Source(sandbox=True)) == 0
        return cls(repo)

    @property
    def head(self) -> str:
        return str(self.repo.head.commit.hexsha)

    @property
    def applied(self) -> str | None:
        point = apply_point.read(self.repo, apply_point.sandbox_key(sandbox.state_dir(self.path)), REPOSITORY)
        return point.sha if point else None

    def save(self) -> None:
        sandbox.github_file(self.path).write_text(self.sim.to_json(), encoding="utf-8")

    def access(self, *args: str) -> Run:
        assert self.capsys is not None
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["--repo", str(self.path), *args])
        captured = self.capsys.readouterr()
        return Run(int(exit_info.value.code or 0), captured.out, captured.err)

    def apply(self, *args: str) -> Run:
        return self.access("apply", "--sandbox", *args)

    def pending(self) -> str:
        return self.access("plan", "--sandbox").out

    def commit(self, edit: Edit, message: str, author: str = "someone") -> str:
        edit(self.path)
        self.repo.git.add("access", "policies")
        actor = git.Actor(author, f"{author}@example.com")
        return str(self.repo.index.commit(message, author=actor, committer=actor).hexsha)

    # -- pull requests ------------------------------------------------------------------------

    def open_pull(self, author: str, *edits: Edit, branch: str = "change") -> int:
        self.repo.git.checkout("-b", branch, "main")
        shas = [self.commit(edit, f"{author} asks", author) for edit in edits]
        number = self.sim.create_pull(author, shas[-1], commits=shas, head_ref=branch)
        self.save()
        return number

    def push(self, number: int, edit: Edit, *, pusher: str | None = None, message: str = "more") -> str:
        sha = self.commit(edit, message, pusher or "someone")
        self.sim.push(number, sha, pusher=pusher)
        self.save()
        return sha

    def approve(self, number: int, login: str, state: str = "APPROVED", *, force: bool = False) -> None:
        self.sim.review(number, login, state, force=force)
        self.save()

    def merge(self, number: int, branch: str = "change", *, extra: Edit | None = None) -> str:
        """A merge commit (optionally carrying an extra edit made while merging)."""
        self.repo.git.checkout("main")
        self.repo.git.merge("--no-ff", "--no-commit", branch)
        if extra is not None:
            extra(self.path)
            self.repo.git.add("access", "policies")
        self.repo.git.commit("-m", f"Merge pull request #{number}")
        self.sim.merge(number, self.head, merged_by="hbrandt")
        self.save()
        return self.head

    def squash(self, number: int, branch: str = "change", *, extra: Edit | None = None) -> str:
        self.repo.git.checkout("main")
        self.repo.git.merge("--squash", branch)
        if extra is not None:
            extra(self.path)
            self.repo.git.add("access", "policies")
        self.repo.git.commit("-m", f"Squashed pull request #{number}")
        self.sim.merge(number, self.head, merged_by="hbrandt", method="squash")
        self.save()
        return self.head

    def rebase(self, number: int, branch: str = "change") -> list[str]:
        self.repo.git.checkout("main")
        base = self.head
        self.repo.git.cherry_pick(f"main..{branch}")
        landed = self.repo.git.rev_list("--reverse", f"{base}..HEAD").split()
        self.sim.merge(number, landed[-1], merged_by="hbrandt", method="rebase", landed=landed)
        self.save()
        return landed

    def direct_push(self, edit: Edit, author: str = "mallory") -> str:
        sha = self.commit(edit, "sneak it in", author)
        self.sim.direct_push(sha, author=author)
        self.save()
        return sha

    def audit(self) -> list[dict[str, object]]:
        path = sandbox.state_dir(self.path) / "audit.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def adopt_example(
    root: Path, prepare: Callable[[Path], None] | None = None, message: str = "example access"
) -> Path:
    """The example committed in a new repository under `root` (after `prepare` edits it), adopted."""
    repo = git.Repo.init(root / "repo", initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test User")
        config.set_value("user", "email", "test@example.com")
    for part in ("access", "policies"):
        shutil.copytree(ROOT / part, root / "repo" / part)
    if prepare is not None:
        prepare(root / "repo")
    repo.index.add(["access", "policies"])
    repo.index.commit(message)
    World.adopt(repo)
    return root / "repo"


@pytest.fixture(scope="module")
def adopted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once: copying it is much faster than repairing the seed's drift in every test."""
    return adopt_example(tmp_path_factory.mktemp("adopted"))


@pytest.fixture
def world(adopted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> World:
    shutil.copytree(adopted, tmp_path / "repo")
    w = World(git.Repo(tmp_path / "repo"), capsys)
    assert w.apply().out.strip().endswith("No changes. The vendors match the YAML.")
    return w


def held(world: World, result: Run, line: str, rule: str) -> None:
    """The bypass failed: exit 1, the change held with `rule`, the vendor unchanged, the point kept."""
    assert result.code == 1, result.out + result.err
    assert f"held {line}" in result.out, result.out
    assert f"rule {rule}:" in result.out, result.out
    assert f"applied {line}" not in result.out
    sign, _vendor, rest = line.split(" ", 2)
    assert f"{sign} {rest}" in world.pending(), "the vendor was not changed: the change is still pending"


# ---------------------------------------------------------------- the happy paths


def test_an_approved_merge_commit_is_applied_and_audited(world: World) -> None:
    number = world.open_pull("cokafor", CAROL_VPN)
    world.approve(number, "hbrandt")
    merge = world.merge(number)
    result = world.apply()
    assert result.code == 0, result.out
    assert "applied + PingOne carol: group VPN (PR #1, approved by hbrandt)" in result.out
    (entry,) = [e for e in world.audit() if e["pull_request"] == 1]
    assert entry["requested_by"] == "cokafor" and entry["approved_by"] == ["hbrandt"]
    approvals = entry["approvals"]
    assert isinstance(approvals, list) and approvals[0]["login"] == "hbrandt" and approvals[0]["at"]
    assert entry["landed_in"] == merge and entry["commit"] == world.head
    assert entry["outcome"] == "applied" and entry["basis"] == "approved" and entry["vendor_ref"]
    assert world.applied == world.head
    assert "No changes" in world.pending()


def test_an_approved_squash_merge_is_applied(world: World) -> None:
    number = world.open_pull("cokafor", CAROL_VPN)
    world.approve(number, "hbrandt")
    world.squash(number)
    result = world.apply()
    assert result.code == 0, result.out
    assert "(PR #1, approved by hbrandt)" in result.out
    assert world.applied == world.head


def test_an_approved_rebase_merge_of_two_commits_is_applied(world: World) -> None:
    number = world.open_pull("cokafor", CAROL_VPN, DAN_VPN)
    world.approve(number, "hbrandt")
    landed = world.rebase(number)
    assert len(landed) == 2
    result = world.apply()
    assert result.code == 0, result.out
    assert "applied + PingOne carol: group VPN (PR #1" in result.out
    assert "applied + PingOne dan: group VPN (PR #1" in result.out
    assert world.applied == world.head


def test_the_pull_requests_head_is_fetched_when_the_clone_lacks_it(world: World, tmp_path: Path) -> None:
    """In CI the squashed branch is gone: the gate fetches refs/pull/N/head from origin."""
    number = world.open_pull("cokafor", CAROL_VPN)
    world.approve(number, "hbrandt")
    world.squash(number)
    head = world.sim.repo().pulls[number].head_sha
    world.repo.git.update_ref(f"refs/pull/{number}/head", head)  # what GitHub keeps for every PR
    clone = git.Repo.clone_from(
        world.path, tmp_path / "ci", branch="main", single_branch=True, multi_options=["--no-local"]
    )
    assert not gate.has_commit(clone, head)
    shutil.copytree(sandbox.state_dir(world.path), sandbox.state_dir(tmp_path / "ci"))
    clone.git.fetch("origin", f"+{gate.APPLIED_REF}:{gate.APPLIED_REF}")  # as the apply workflow does
    clone.git.fetch("origin", "+refs/access/audit:refs/access/audit")
    ci = World(clone, world.capsys)
    result = ci.apply()
    assert result.code == 0, result.out
    assert "(PR #1, approved by hbrandt)" in result.out
    assert gate.has_commit(clone, head)


def test_drift_is_repaired_without_a_pull_request(world: World) -> None:
    sandbox.reset(world.path, VENDORS)  # someone changed the vendors by hand: the seed's drift is back
    result = world.apply()
    assert result.code == 0, result.out
    assert (
        "applied - PingOne bob: role Environment Admin (environment) (restores approved state)" in result.out
    )
    assert "No changes" in world.pending()


def test_restores_need_no_github_at_all(world: World) -> None:
    """With nothing but restores, the gate decides from git alone: no GitHub call, no GITHUB_* needed."""
    sandbox.reset(world.path, VENDORS)
    world.commit(add_line("access/people.yaml", "# yaml-language-server", "# a comment"), "comment only")
    desired_ctx = AppContext(repo=world.path, output=Output(quiet=True))
    planned = asyncio.run(make_plan(desired_ctx, Source(sandbox=True)))

    def no_github() -> gate.GitHubClient:
        raise AssertionError("GitHub was asked although every change restores approved state")

    report = asyncio.run(
        gate.evaluate(
            desired_ctx, planned.plan, planned.actual, no_github,
            apply_point.sandbox_key(sandbox.state_dir(world.path)), REPOSITORY,
        )
    )  # fmt: skip
    assert report.decisions and all(d.verdict in ("restores", "expired") for d in report.decisions)
    assert not report.landings and report.may_advance


# ---------------------------------------------------------------- the bypass corpus


def test_a_direct_push_gets_nothing_applied(world: World) -> None:
    before = world.applied
    sha = world.direct_push(CAROL_VPN)
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "pull-request")
    assert f"commit {sha[:7]} brought this change without a merged pull request" in result.out
    assert "could approve: any repository writer known to access/people.yaml other than cokafor" in result.out
    assert world.applied != before, "the point moves on, carrying the held edit (it never freezes)"
    again = world.apply()
    assert again.code == 1 and "rule pull-request:" in again.out, "the held edit is named until reverted"


def test_comments_are_not_inputs_forged_edited_appended_or_posted_by_the_bot(world: World) -> None:
    """Whatever comments say (a forged plan record, a bot's comment from a PR workflow), a direct push
    stays unapproved and an approved PR gets exactly what its head asked for."""
    number = world.open_pull("cokafor", CAROL_VPN)
    world.approve(number, "hbrandt")
    world.merge(number)
    sha = world.direct_push(JUDY_HARBOR)
    forged = (
        f'<!-- access-plan -->\n<!-- access-plan-record {{"v":1,"head":"{sha}","changes":"AAAAAAAAAAA="}} -->'
    )
    for author in ("github-actions[bot]", "mallory"):
        comment = _comment(world, number, author, forged)
        world.sim.repo().comments[comment.id] = comment
    world.save()
    result = world.apply()
    assert result.code == 1
    assert "applied + PingOne carol: group VPN (PR #1, approved by hbrandt)" in result.out
    held(world, result, "~ Procore judy: project Harbor Tower", "pull-request")


def _comment(world: World, number: int, author: str, body: str) -> CommentState:
    return CommentState(id=world.sim.state.new_id(), issue=number, user=author, body=body,
                        created_at="2026-11-29T00:00:00Z", updated_at="2026-11-29T00:00:00Z")  # fmt: skip


def test_an_unmerged_pull_request_is_refused(world: World) -> None:
    world.open_pull("cokafor", CAROL_VPN)
    world.approve(1, "hbrandt")
    result = world.apply()  # apply run on the PR branch itself
    held(world, result, "+ PingOne carol: group VPN", "merged")
    assert "is in pull request #1, which did not land it" in result.out


def test_a_closed_unmerged_pull_requests_commit_pushed_to_main_is_refused(world: World) -> None:
    number = world.open_pull("cokafor", CAROL_VPN)
    world.approve(number, "hbrandt")
    world.sim.close_pull(number)
    world.repo.git.checkout("main")
    world.repo.git.merge("--ff-only", "change")
    world.sim.direct_push(world.head, author="mallory")
    world.save()
    held(world, world.apply(), "+ PingOne carol: group VPN", "pull-request")


def test_self_approval_and_beneficiary_approval_are_refused(world: World) -> None:
    number = world.open_pull("dwhitfield", CAROL_VPN)
    world.approve(number, "cokafor")  # carol approves access for herself
    world.merge(number)
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "self-approval")
    assert "cokafor approved access for themselves: it does not count" in result.out
    assert (
        "could approve: any repository writer known to access/people.yaml other than cokafor, dwhitfield"
        in (result.out)
    )


def test_the_authors_own_approval_is_refused(world: World) -> None:
    number = world.open_pull("dwhitfield", CAROL_VPN)
    world.approve(number, "dwhitfield", force=True)  # GitHub refuses this; the gate must not rely on it
    world.merge(number)
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "reviewed")
    assert "dwhitfield opened the pull request: their own approval does not count" in result.out


def test_the_requester_of_a_bot_opened_pull_request_cannot_approve_it(world: World) -> None:
    """A PR the access-request workflow opened (author github-actions[bot]) whose commit names the
    person who filed the issue in a `Requested-by:` trailer: their own approval does not count."""
    world.repo.git.checkout("-b", "request", "main")
    CAROL_VPN(world.path)
    world.repo.git.add("access")
    requester = git.Actor("dwhitfield", "dwhitfield@users.noreply.github.com")
    message = "Access request: carol -> PingOne group VPN\n\nRequested-by: dwhitfield"
    sha = world.repo.index.commit(message, author=requester, committer=requester).hexsha
    number = world.sim.create_pull("github-actions[bot]", sha, head_ref="request")
    world.approve(number, "dwhitfield")
    world.merge(number, "request")
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "reviewed")
    assert "dwhitfield is named by dwhitfield@users.noreply.github.com in its commits" in result.out


def test_approvals_by_a_bot_or_an_outsider_are_refused(world: World) -> None:
    number = world.open_pull("cokafor", CAROL_VPN)
    world.sim.outsider("drive-by")
    world.approve(number, "drive-by")
    world.approve(number, "github-actions[bot]")
    world.merge(number)
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "reviewed")
    assert "drive-by is not a member of the repository (CONTRIBUTOR)" in result.out
    assert "github-actions[bot] is a bot" in result.out


def test_approval_by_someone_who_does_not_own_the_project_is_refused(world: World) -> None:
    number = world.open_pull("jalvarez", JUDY_HARBOR)
    world.approve(number, "dwhitfield")  # a project manager, but Harbor Tower's owner is carol
    world.merge(number)
    result = world.apply()
    held(world, result, "~ Procore judy: project Harbor Tower: Project Manager → Project Engineer",
         "procore-project-owners")  # fmt: skip
    assert "could approve: cokafor" in result.out


def test_the_owners_approval_lets_it_through(world: World) -> None:
    number = world.open_pull("jalvarez", JUDY_HARBOR)
    world.approve(number, "cokafor")
    world.merge(number)
    result = world.apply()
    assert result.code == 0, result.out
    assert "(PR #1, approved by cokafor)" in result.out


def test_a_stale_approval_after_a_push_is_refused(world: World) -> None:
    number = world.open_pull("cokafor", CAROL_VPN)
    world.approve(number, "hbrandt")
    world.push(number, DAN_VPN)  # pushed after the approval
    world.merge(number)
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "reviewed")
    assert "hbrandt's approval was given on" in result.out and "a stale approval does not count" in result.out


def test_a_force_push_after_approval_is_refused(world: World) -> None:
    number = world.open_pull("cokafor", CAROL_VPN)
    world.approve(number, "hbrandt")
    world.repo.git.reset("--hard", "main")  # rewrite the branch: a different head with more in it
    world.commit(CAROL_VPN, "amended", "cokafor")
    sha = world.commit(MIKE_ADMIN, "and this", "cokafor")
    world.sim.push(number, sha)
    world.save()
    world.merge(number)
    result = world.apply()
    held(world, result, "+ PingOne mike: role Identity Data Admin", "reviewed")
    assert "a stale approval does not count" in result.out


def test_a_withdrawn_approval_is_refused(world: World) -> None:
    number = world.open_pull("cokafor", CAROL_VPN)
    world.approve(number, "hbrandt")
    world.approve(number, "hbrandt", "CHANGES_REQUESTED")
    world.merge(number)
    held(world, world.apply(), "+ PingOne carol: group VPN", "reviewed")


def test_a_merge_commit_carrying_an_extra_change_gets_only_what_was_approved(world: World) -> None:
    number = world.open_pull("cokafor", CAROL_VPN)
    world.approve(number, "hbrandt")
    world.merge(number, extra=MIKE_ADMIN)
    result = world.apply()
    assert "applied + PingOne carol: group VPN (PR #1, approved by hbrandt)" in result.out
    held(world, result, "+ PingOne mike: role Identity Data Admin", "requested")
    assert "did not ask for it: a change added in the merge is not approved" in result.out


def test_a_squash_carrying_an_extra_change_and_an_unapproved_squash_are_refused(world: World) -> None:
    number = world.open_pull("cokafor", CAROL_VPN)
    world.approve(number, "hbrandt")
    world.squash(number, extra=MIKE_ADMIN)
    held(world, world.apply(), "+ PingOne mike: role Identity Data Admin", "requested")

    other = world.open_pull("dwhitfield", DAN_VPN, branch="other")
    world.squash(other, branch="other")
    held(world, world.apply(), "+ PingOne dan: group VPN", "reviewed")


def test_an_unapproved_rebase_merge_is_refused(world: World) -> None:
    number = world.open_pull("cokafor", CAROL_VPN, DAN_VPN)
    world.rebase(number)
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "reviewed")
    assert "held + PingOne dan: group VPN" in result.out


def test_a_pull_request_loosening_policies_needs_the_policy_owners(world: World) -> None:
    """Dan's PR moves the PingOne-roles rule to project managers; a project manager approves it.
    Then Mike asks for an admin role and a project manager approves that too."""
    loosen = world.open_pull("dwhitfield", LOOSEN_POLICY)
    world.approve(loosen, "jalvarez")
    world.merge(loosen)
    ask = world.open_pull("mchen-site", MIKE_ADMIN, branch="ask")
    world.approve(ask, "jalvarez")
    world.merge(ask, branch="ask")
    result = world.apply()
    held(world, result, "+ PingOne mike: role Identity Data Admin", "policy-owners")
    assert (
        "pull request #1 changed policies/ or an approver team and needs 1 approval from 1 of security"
        in (result.out)
    )
    assert "could approve: glin-sec" in result.out
    assert "rule policy-owners:" in world.apply().out, "the held policy change is carried and named"


def test_joining_an_approver_team_needs_the_policy_owners(world: World) -> None:
    join = world.open_pull("mchen-site", JOIN_SECURITY)
    world.approve(join, "jalvarez")  # not security
    world.merge(join)
    ask = world.open_pull("bruiz", MIKE_ADMIN, branch="ask")
    world.approve(ask, "mchen-site")  # mike, now "in security", approves his own admin role? no: bob asks
    world.merge(ask, branch="ask")
    held(world, world.apply(), "+ PingOne mike: role Identity Data Admin", "policy-owners")


def test_the_policy_owners_approval_lets_a_policy_change_through(world: World) -> None:
    join = world.open_pull("mchen-site", JOIN_SECURITY)
    world.approve(join, "glin-sec")
    world.merge(join)
    result = world.apply()
    assert result.code == 0, result.out
    assert world.applied == world.head


def test_an_apply_point_moved_by_a_writer_is_refused(world: World) -> None:
    world.direct_push(CAROL_VPN)
    world.repo.git.update_ref(gate.APPLIED_REF, world.head)  # a writer moves the ref past their push
    result = world.apply()
    assert result.code == 1
    assert "points at a commit, not at a signed apply point" in result.err
    forged = apply_point.tag_text(b"not-the-key-not-the-key", REPOSITORY, world.head, when=1)
    with tempfile.TemporaryFile() as stream:
        stream.write(forged.encode())
        stream.seek(0)
        tag = world.repo.git.mktag(istream=stream)
    world.repo.git.update_ref(gate.APPLIED_REF, tag)
    result = world.apply()
    assert result.code == 1 and "is not signed with ACCESS_APPLY_POINT_KEY" in result.err
    assert "+ carol: group VPN" in world.pending()


def test_an_older_signed_apply_point_replayed_does_not_turn_requests_into_restores(world: World) -> None:
    old_tag = world.repo.git.rev_parse(gate.APPLIED_REF)
    remove = world.open_pull("cokafor", replace_text("access/pingone.yaml", "Procore Users: [staff, oscar]", "Procore Users: [staff]"))  # fmt: skip
    world.approve(remove, "hbrandt")
    world.merge(remove)
    assert world.apply().code == 0
    world.direct_push(
        replace_text("access/pingone.yaml", "Procore Users: [staff]", "Procore Users: [staff, oscar]")
    )
    world.repo.git.update_ref(gate.APPLIED_REF, old_tag)  # replay: oscar was in the approved state then
    held(world, world.apply(), "+ PingOne oscar: group Procore Users", "pull-request")


def test_without_an_apply_point_apply_says_how_to_set_one(world: World) -> None:
    world.repo.git.update_ref("-d", gate.APPLIED_REF)
    sandbox.reset(world.path, VENDORS)
    result = world.apply()
    assert result.code == 1
    assert "no apply point recorded (refs/access/applied)" in result.err
    assert "access apply-point set <commit>" in result.err


def test_the_apply_point_command_shows_and_sets_a_signed_point(world: World) -> None:
    shown = world.access("apply-point", "show", "--sandbox")
    assert shown.code == 0 and shown.out.startswith(world.head)
    world.direct_push(CAROL_VPN)
    set_ = world.access("apply-point", "set", world.head, "--sandbox")
    assert set_.code == 0 and f"set to {world.head} (signed)" in set_.out
    assert world.applied == world.head


# ---------------------------------------------------------------- the ledger's attack classes


def test_the_last_pusher_cannot_approve_what_they_pushed(world: World) -> None:
    """Dan opens a PR; Heidi (a writer) pushes a grant to Dan's branch, then approves."""
    number = world.open_pull("dwhitfield", DAN_VPN)
    world.push(number, CAROL_VPN, pusher="hbrandt")
    world.approve(number, "hbrandt")
    world.merge(number)
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "reviewed")
    assert "hbrandt pushed to its head branch (push): their own approval does not count" in result.out


def test_a_co_author_cannot_approve(world: World) -> None:
    number = world.open_pull("dwhitfield", DAN_VPN)
    world.push(
        number, CAROL_VPN, message="more\n\nCo-authored-by: Heidi Brandt <heidi.brandt@harborbuild.example>"
    )
    world.approve(number, "hbrandt")
    world.merge(number)
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "reviewed")
    assert "heidi.brandt@harborbuild.example" in result.out


def test_a_requester_who_force_pushes_away_the_trailer_cannot_approve(world: World) -> None:
    """The bot opened the request with `Requested-by: dwhitfield`; Dan force-pushes the branch
    without the trailer, then approves his own request: the force push names him."""
    world.repo.git.checkout("-b", "request", "main")
    CAROL_VPN(world.path)
    world.repo.git.add("access")
    bot = git.Actor("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")
    first = world.repo.index.commit(
        "Access request\n\nRequested-by: dwhitfield", author=bot, committer=bot
    ).hexsha
    number = world.sim.create_pull("github-actions[bot]", first, head_ref="request")
    world.repo.git.reset("--hard", "main")
    CAROL_VPN(world.path)
    world.repo.git.add("access")
    second = world.repo.index.commit("Access request", author=bot, committer=bot).hexsha
    world.sim.push(number, second, force=True, pusher="dwhitfield")
    world.save()
    world.approve(number, "dwhitfield")
    world.merge(number, "request")
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "reviewed")
    assert "dwhitfield pushed to its head branch (force_push)" in result.out


def test_the_beneficiary_cannot_approve_after_re_pointing_their_login(world: World) -> None:
    """Carol's PR changes her own `github:` login and asks for VPN; she approves as cokafor."""
    repoint = replace_text("access/people.yaml", "github: cokafor}", "github: someone-else}")
    number = world.open_pull("dwhitfield", repoint, CAROL_VPN)
    world.approve(number, "cokafor")
    world.merge(number)
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "self-approval")
    assert "rule policy-owners:" in result.out, "re-pointing a login is a governance change"


def test_a_login_re_pointed_earlier_still_names_the_beneficiary(world: World) -> None:
    """An innocuous-looking PR (approved by a non-owner) moved Carol's login; later she approves
    her own grant from her real account: the approved state never took the new login."""
    repoint = world.open_pull(
        "dwhitfield", replace_text("access/people.yaml", "github: cokafor}", "github: someone-else}")
    )
    world.approve(repoint, "jalvarez")
    world.merge(repoint)
    ask = world.open_pull("dwhitfield", CAROL_VPN, branch="ask")
    world.approve(ask, "cokafor")
    world.merge(ask, branch="ask")
    held(world, world.apply(), "+ PingOne carol: group VPN", "self-approval")


def test_an_approval_by_someone_the_yaml_does_not_know_never_counts(world: World) -> None:
    number = world.open_pull("dwhitfield", CAROL_VPN)
    world.approve(number, "newcomer-gh")  # a writer, but no person of access/ has this login
    world.merge(number)
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "reviewed")
    assert "is nobody access/people.yaml knows" in result.out


def test_an_approver_without_write_access_does_not_count(world: World) -> None:
    world.sim.set_permission("hbrandt", "read")
    number = world.open_pull("dwhitfield", CAROL_VPN)
    world.approve(number, "hbrandt")
    world.merge(number)
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "reviewed")
    assert "hbrandt" in result.out and "the approval does not count" in result.out


def test_a_held_change_does_not_freeze_the_apply_point(world: World) -> None:
    """A direct push is held and carried; the point still moves, so a tightening merged later is
    what judges the next pull request."""
    world.direct_push(CAROL_VPN)
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "pull-request")
    assert world.applied == world.head, "the point moves, carrying the held edit"
    again = world.apply()
    assert again.code == 1 and "held + PingOne carol: group VPN" in again.out, "still named"
    ask = world.open_pull("dwhitfield", DAN_VPN, branch="ask")
    world.approve(ask, "hbrandt")
    world.merge(ask, branch="ask")
    result = world.apply()
    assert "applied + PingOne dan: group VPN (PR #1, approved by hbrandt)" in result.out
    held(world, result, "+ PingOne carol: group VPN", "pull-request")


def test_reverting_a_held_change_clears_it(world: World) -> None:
    world.direct_push(CAROL_VPN)
    assert world.apply().code == 1
    world.direct_push(replace_text("access/pingone.yaml", ", carol]", "]"))
    result = world.apply()
    assert result.code == 0, result.out
    assert "held" not in result.out


def test_governance_laundering_through_a_later_owner_approved_edit_is_held(world: World) -> None:
    """A loosening pushed directly; the owners approve a later, unrelated policy edit whose diff
    never showed it; then a project manager approves Mike's admin role under the loosened rule."""
    world.direct_push(LOOSEN_POLICY)
    world.repo.git.checkout("main")
    confirm = world.open_pull("dwhitfield", replace_text("policies/approvers.yaml", "Finance approves every Concur role", "Finance approves each Concur role"), branch="confirm")  # fmt: skip
    world.approve(confirm, "glin-sec")
    world.merge(confirm, branch="confirm")
    ask = world.open_pull("mchen-site", MIKE_ADMIN, branch="ask")
    world.approve(ask, "jalvarez")
    world.merge(ask, branch="ask")
    result = world.apply()
    held(world, result, "+ PingOne mike: role Identity Data Admin", "pingone-roles")
    assert "merge base did not carry the approved ones" in result.out


def test_a_commit_pushed_directly_is_not_credited_to_a_pull_request_that_contains_it(world: World) -> None:
    """Mallory's commit goes straight to main and is also on a branch whose PR is approved and
    merged later: GitHub lists that PR for the commit, but the PR did not land it."""
    world.repo.git.checkout("-b", "sneak", "main")
    sneak = world.commit(CAROL_VPN, "sneak", "mallory")
    world.repo.git.checkout("main")
    world.repo.git.merge("--ff-only", "sneak")
    world.sim.direct_push(sneak, author="mallory")
    world.repo.git.checkout("sneak")
    innocent = world.commit(DAN_VPN, "innocent", "mallory")
    number = world.sim.create_pull("mallory", innocent, commits=[sneak, innocent], head_ref="sneak")
    world.save()
    world.approve(number, "hbrandt")
    world.merge(number, "sneak")
    result = world.apply()
    assert "applied + PingOne dan: group VPN (PR #1, approved by hbrandt)" in result.out
    held(world, result, "+ PingOne carol: group VPN", "pull-request")


def test_access_granted_at_the_vendor_and_codified_without_approval_is_revoked(world: World) -> None:
    """Someone grants Carol VPN by hand at PingOne, then pushes the YAML line directly: vendor
    state launders nothing; apply restores the approved state (revokes) and holds the edit."""
    number = world.open_pull("dwhitfield", CAROL_VPN, branch="oob")
    world.approve(number, "hbrandt")
    world.repo.git.checkout("main")
    # The hand grant: apply the branch's YAML to the vendor without the gate (an administrator).
    world.repo.git.checkout("oob", "--", "access")
    ungated = sandbox.github_file(world.path).rename(world.path / "github.sim.json.off")
    assert world.apply().code == 0
    (world.path / "github.sim.json.off").rename(sandbox.github_file(world.path))
    assert ungated
    world.repo.git.checkout("main", "--", "access")
    world.direct_push(CAROL_VPN)
    result = world.apply()
    assert result.code == 1
    assert "applied - PingOne carol: group VPN (restores approved state)" in result.out
    assert "held + pingone carol.okafor@harborbuild.example: group VPN" in result.out


def test_an_expiry_extended_by_a_direct_push_still_expires(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.direct_push(replace_text("access/pingone.yaml", "expires: 2026-12-15", "expires: 2027-01-15"))
    monkeypatch.setenv("ACCESS_TODAY", "2026-12-20")
    result = world.apply()
    assert result.code == 1
    assert "applied - PingOne grace: role" in result.out and "approved expiry 2026-12-15 passed" in result.out
    assert "rule pull-request:" in result.out


def test_an_apply_point_signed_for_another_repository_is_refused(world: World) -> None:
    key = apply_point.sandbox_key(sandbox.state_dir(world.path))
    gate.record_apply_point(world.repo, world.head, key, "someone-else/access")
    result = world.apply()
    assert (
        result.code == 1 and "is not signed with ACCESS_APPLY_POINT_KEY for harborbuild/access" in result.err
    )


def test_dry_run_prints_every_verdict_and_writes_nothing(world: World) -> None:
    ok = world.open_pull("dwhitfield", CAROL_VPN)
    world.approve(ok, "hbrandt")
    world.merge(ok)
    world.direct_push(DAN_VPN)
    before = world.applied
    result = world.apply("--dry-run")
    assert result.code == 1
    assert "would + PingOne carol: group VPN (PR #1, approved by hbrandt)" in result.out
    assert "held + PingOne dan: group VPN" in result.out and "could approve:" in result.out
    assert "nothing was written" in result.out
    assert world.applied == before
    assert "+ PingOne carol: group VPN" in world.pending() or "+ carol: group VPN" in world.pending()


def test_why_and_report_agree_with_the_gate_on_one_list_line(world: World) -> None:
    """Two pull requests edit `VPN: [...]`: one approved, one not. Blame would credit the last
    editor of the line for everyone on it; the ledger answers per grant, as the gate decided."""
    ok = world.open_pull("dwhitfield", CAROL_VPN)
    world.approve(ok, "hbrandt")
    world.merge(ok)
    unapproved = world.open_pull("jalvarez", DAN_VPN, branch="dan")
    world.approve(unapproved, "cokafor")
    world.approve(unapproved, "cokafor", "CHANGES_REQUESTED")
    world.merge(unapproved, branch="dan")
    result = world.apply()
    assert "applied + PingOne carol: group VPN (PR #1, approved by hbrandt)" in result.out
    held(world, result, "+ PingOne dan: group VPN", "reviewed")

    def granted_in(person: str) -> dict[str, object]:
        run = world.access("why", person, "VPN", "--sandbox", "--format", "json")
        assert run.code == 0, run.err
        (grant,) = json.loads(run.out)["grants"]
        found = grant["granted_in"]
        assert isinstance(found, dict)
        return found

    carol, dan, alice = granted_in("carol"), granted_in("dan"), granted_in("alice")
    assert (carol["pull_request"], carol["approved_by"]) == (1, ["hbrandt"])
    assert (dan["pull_request"], dan["approved_by"]) == (2, [])
    assert "held by the approval gate (rule reviewed)" in str(dan["not_counted"])
    assert alice["pull_request"] is None and "in force at the apply point" in str(alice["note"])

    report = world.access("report", "--sandbox", "--format", "csv")
    rows = {r["person"]: r for r in csv.DictReader(io.StringIO(report.out)) if r["resource"] == "VPN"}
    assert (rows["carol"]["approved_by"], rows["carol"]["reviewed"]) == ("hbrandt", "yes")
    assert (rows["dan"]["pull_request"], rows["dan"]["reviewed"]) == ("2", "no")
    assert (rows["alice"]["pull_request"], rows["alice"]["reviewed"]) == ("", "no")
    trail = world.access("audit", "verify", "--sandbox")
    assert trail.code == 0 and "chain intact" in trail.out


def test_a_person_added_without_the_policy_owners_cannot_approve(world: World) -> None:
    """A writer pushes a new person with their second GitHub account into people.yaml, then that
    account approves a grant: the approved state never learned the login, so it counts for nothing."""
    world.direct_push(
        add_line(
            "access/people.yaml",
            "people:",
            "  zed: {email: zed@harborbuild.example, name: Zed, github: zed-alt}",
        )
    )
    number = world.open_pull("dwhitfield", CAROL_VPN)
    world.approve(number, "zed-alt")
    world.merge(number)
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "reviewed")
    assert "zed-alt (GitHub id" in result.out and "is nobody access/people.yaml knows" in result.out
    assert "rule pull-request:" in result.out, "the new identity itself is a held governance edit"


def test_an_audit_trail_moved_back_stops_apply_before_any_write(world: World) -> None:
    number = world.open_pull("dwhitfield", CAROL_VPN)
    world.approve(number, "hbrandt")
    world.merge(number)
    assert world.apply().code == 0
    head = world.repo.git.rev_parse("refs/access/audit")
    world.repo.git.update_ref("refs/access/audit", f"{head}~1")  # a writer drops the last record
    world.direct_push(replace_text("access/pingone.yaml", ", carol]", "]"))  # something to apply
    result = world.apply()
    assert result.code == 1 and "the audit trail does not verify" in result.err
    assert "- carol: group VPN" in world.pending() or "- PingOne carol" in world.pending()


def test_a_login_renamed_on_github_is_still_the_same_person(world: World) -> None:
    """The ledger recorded cokafor's user id; Carol renames her GitHub account and someone else
    takes the old login. Her approval of her own grant is still hers; the newcomer's is nobody's."""
    first = world.open_pull("dwhitfield", DAN_VPN, branch="first")
    world.approve(first, "hbrandt")
    world.merge(first, branch="first")
    assert world.apply().code == 0  # the point now records the ids of every login the YAML names
    world.sim.rename_user("cokafor", "carol-okafor")
    world.sim.state.user("cokafor")  # an impostor registers the freed login
    world.save()
    ask = world.open_pull("dwhitfield", CAROL_VPN, branch="ask")
    world.approve(ask, "carol-okafor")
    world.approve(ask, "cokafor")
    world.merge(ask, branch="ask")
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "self-approval")
    assert "carol-okafor approved access for themselves" in result.out
    assert "cokafor (GitHub id" in result.out and "is nobody access/people.yaml knows" in result.out


TIGHTEN_VPN = replace_text(  # VPN now needs security
    "policies/approvers.yaml",
    "approvers:\n",
    "approvers:\n  vpn:\n    description: Security approves the VPN\n"
    "    match: {vendor: pingone, resource_type: group, resource: VPN}\n    approvers: [security]\n",
)


def test_a_replayed_older_point_judges_each_landing_under_the_rules_it_had(world: World) -> None:
    """Security tightens the VPN rule; a writer then replays the older signed point, hoping the PR
    after the tightening is judged under the looser rules of that point. The fold re-reads the
    tightening where it landed and judges the later PR under it."""
    old_tag = world.repo.git.rev_parse(gate.APPLIED_REF)
    tighten = world.open_pull("dwhitfield", TIGHTEN_VPN, branch="tighten")
    world.approve(tighten, "glin-sec")
    world.merge(tighten, branch="tighten")
    assert world.apply().code == 0
    ask = world.open_pull("dwhitfield", CAROL_VPN, branch="ask")
    world.approve(ask, "hbrandt")  # enough under the old rules, not under the tightened one
    world.merge(ask, branch="ask")
    world.repo.git.update_ref(gate.APPLIED_REF, old_tag)  # the replay
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "vpn")
    assert "could approve: glin-sec" in result.out


def test_a_held_change_does_not_keep_a_later_tightening_out_of_force(world: World) -> None:
    world.direct_push(JUDY_HARBOR)  # held, and kept held by a writer who never reverts it
    tighten = world.open_pull("dwhitfield", TIGHTEN_VPN, branch="tighten")
    world.approve(tighten, "glin-sec")
    world.merge(tighten, branch="tighten")
    assert world.apply().code == 1  # the held change is named; the tightening is in force
    ask = world.open_pull("dwhitfield", CAROL_VPN, branch="ask")
    world.approve(ask, "hbrandt")
    world.merge(ask, branch="ask")
    result = world.apply()
    held(world, result, "+ PingOne carol: group VPN", "vpn")
    assert "rule pull-request:" in result.out
