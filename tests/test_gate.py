"""The approval gate end to end: a real git repository, the GitHub simulator, the sandbox vendors.

Each test runs `access apply --sandbox` the way CI would run it on main, after driving pull
requests through the GitHub simulator (persisted in the sandbox, as `access demo` does).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import git
import pytest
from pydantic import SecretStr
from rich.console import Console

from reconciler import cli, gate, sandbox
from reconciler.approval import GateFacts, plan_record
from reconciler.commands import apply as apply_cmd
from reconciler.commands.context import AppContext
from reconciler.commands.plan import make_plan
from reconciler.commands.state import Source
from reconciler.console import Output
from reconciler.github_api import GitHubClient, GitHubSettings
from reconciler.render.markdown import render_markdown
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.github import API, DEFAULT_TOKEN, GitHubSimulator
from reconciler.vendors import VENDORS
from tests.conftest import ROOT

Edit = Callable[[Path], None]


def add_member(file: str, line_pattern: str, member: str) -> Edit:
    """An edit adding `member` to the flow list on the first line matching `line_pattern`."""

    def edit(root: Path) -> None:
        path = root / "access" / file
        text = path.read_text(encoding="utf-8")
        new, count = re.subn(
            rf"^(\s*{line_pattern}:\s*\[[^\]]*)\]", rf"\1, {member}]", text, count=1, flags=re.M
        )
        assert count == 1, f"no {line_pattern!r} line in {file}"
        path.write_text(new, encoding="utf-8")

    return edit


def add_line(file: str, after: str, line: str) -> Edit:
    def edit(root: Path) -> None:
        path = root / "access" / file
        text = path.read_text(encoding="utf-8")
        assert after in text
        path.write_text(text.replace(after, f"{after}\n{line}", 1), encoding="utf-8")

    return edit


CAROL_VPN = add_member("pingone.yaml", "VPN", "carol")  # default rule: any reviewer
JUDY_HARBOR = add_line(
    "procore.yaml", "        Harbor Tower:", "          judy: Project Engineer"
)  # owner: carol


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
        self.sim = GitHubSimulator.from_json(gate.sandbox_github_file(self.path).read_text(encoding="utf-8"))

    @classmethod
    def adopt(cls, repo: git.Repo) -> World:
        """Commit the example, tell GitHub, mark it applied, seed the vendors, repair their drift."""
        path = Path(repo.working_tree_dir or ".")
        (path / ".gitignore").write_text(".access-sandbox/\n.access/\n", encoding="utf-8")
        repo.index.add([".gitignore"])
        repo.index.commit("ignore local state")
        sim = GitHubSimulator("harborbuild/access")
        for commit in reversed(list(repo.iter_commits())):
            sim.direct_push(commit.hexsha, author="hbrandt")
        file = gate.sandbox_github_file(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(sim.to_json(), encoding="utf-8")
        gate.record_apply_point(repo, str(repo.head.commit.hexsha))
        sandbox.reset(path, VENDORS)
        quiet = AppContext(repo=path, output=Output(quiet=True, out=Console(file=io.StringIO())))
        assert apply_cmd.run(quiet, plan_file=None, source=Source(sandbox=True)) == 0
        return cls(repo)

    @property
    def head(self) -> str:
        return str(self.repo.head.commit.hexsha)

    @property
    def applied(self) -> str | None:
        return gate.apply_point(self.repo)

    def save(self) -> None:
        file = gate.sandbox_github_file(self.path)
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(self.sim.to_json(), encoding="utf-8")

    def access(self, *args: str) -> Run:
        assert self.capsys is not None
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["--repo", str(self.path), *args])
        captured = self.capsys.readouterr()
        return Run(int(exit_info.value.code or 0), captured.out, captured.err)

    def apply(self, *args: str) -> Run:
        return self.access("apply", "--sandbox", *args)

    def commit(self, edit: Edit, message: str, author: str = "someone") -> str:
        edit(self.path)
        self.repo.git.add("access")
        actor = git.Actor(author, f"{author}@example.com")
        return str(self.repo.index.commit(message, author=actor, committer=actor).hexsha)

    # -- pull requests ------------------------------------------------------------------------

    def open_pull(self, author: str, edit: Edit, *, branch: str = "change") -> int:
        self.repo.git.checkout("-b", branch, "main")
        sha = self.commit(edit, f"{author} asks", author)
        number = self.sim.create_pull(author, sha, head_ref=branch)
        self.post_plan(number)
        return number

    def push(self, number: int, edit: Edit) -> None:
        sha = self.commit(edit, "more", "someone")
        self.sim.push(number, sha)
        self.post_plan(number)

    def post_plan(self, number: int) -> None:
        """What the plan workflow does on each push: plan the head, keep one comment with the record."""
        ctx = AppContext(repo=self.path, output=Output(quiet=True))
        plan = asyncio.run(make_plan(ctx, Source(sandbox=True))).plan
        body = render_markdown(plan) + "\n" + plan_record(plan, self.head) + "\n"
        settings = GitHubSettings(API, "harborbuild", "access", SecretStr(DEFAULT_TOKEN))

        async def post() -> None:
            async with GitHubClient(
                settings, writable=True, transport=SimulatorTransport(self.sim.handle)
            ) as gh:
                await gh.upsert_comment(number, body)

        asyncio.run(post())
        self.save()

    def approve(self, number: int, login: str, *, force: bool = False) -> None:
        self.sim.review(number, login, "APPROVED", force=force)
        self.save()

    def merge(self, number: int, branch: str = "change") -> None:
        self.repo.git.checkout("main")
        self.repo.git.merge("--no-ff", branch, "-m", f"Merge pull request #{number}")
        self.sim.merge(number, self.head, merged_by="hbrandt")
        self.save()

    def audit(self) -> list[dict[str, object]]:
        path = sandbox.state_dir(self.path) / "audit.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def adopted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once: copying it is much faster than repairing the seed's drift in every test."""
    root = tmp_path_factory.mktemp("adopted")
    repo = git.Repo.init(root / "repo", initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test User")
        config.set_value("user", "email", "test@example.com")
    for part in ("access", "policies"):
        shutil.copytree(ROOT / part, root / "repo" / part)
    repo.index.add(["access", "policies"])
    repo.index.commit("example access")
    World.adopt(repo)
    return root / "repo"


@pytest.fixture
def world(adopted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> World:
    shutil.copytree(adopted, tmp_path / "repo")
    w = World(git.Repo(tmp_path / "repo"), capsys)
    assert w.apply().out.strip().endswith("No changes. The vendors match the YAML.")
    return w


def pending(world: World) -> str:
    return world.access("plan", "--sandbox").out


def test_an_approved_pull_request_is_applied_and_audited(world: World) -> None:
    number = world.open_pull("cokafor", CAROL_VPN)
    world.approve(number, "hbrandt")
    world.merge(number)
    result = world.apply()
    assert result.code == 0, result.out
    assert "applied + PingOne carol: group VPN (PR #1, approved by hbrandt)" in result.out
    assert "audit log: " in result.err and "audit.jsonl" in result.err
    (entry,) = [e for e in world.audit() if e["pull_request"] == 1]
    assert entry["requested_by"] == "cokafor"
    assert entry["approved_by"] == ["hbrandt"]
    assert entry["commit"] == world.head
    assert entry["outcome"] == "applied" and entry["basis"] == "approved"
    assert entry["vendor_ref"], "the vendor's id for the membership is recorded"
    assert world.applied == world.head
    assert "No changes" in pending(world)


def test_a_direct_push_gets_nothing_applied(world: World) -> None:
    before = world.applied
    sha = world.commit(CAROL_VPN, "sneak it in", "mallory")
    world.sim.direct_push(sha, author="mallory")
    world.save()
    result = world.apply()
    assert result.code == 1
    assert "held + PingOne carol: group VPN" in result.out
    assert f"rule pull-request: commit {sha[:7]} was pushed without a pull request" in result.out
    assert "could approve: any reviewer other than cokafor" in result.out
    assert "1 held back for approval" in result.out
    assert "+ carol: group VPN" in pending(world), "the vendor was not changed"
    assert world.applied == before, "the apply point does not move past an unapproved commit"


def test_an_unmerged_pull_request_is_refused(world: World) -> None:
    world.open_pull("cokafor", CAROL_VPN)  # apply run on the PR branch itself
    result = world.apply()
    assert result.code == 1
    assert "rule merged: pull request #1 is not merged" in result.out


def test_self_approval_is_refused(world: World) -> None:
    number = world.open_pull("dwhitfield", CAROL_VPN)
    world.approve(number, "cokafor")  # carol approves access for herself
    world.merge(number)
    result = world.apply()
    assert result.code == 1
    assert "rule self-approval: pull request #1 needs 1 approval" in result.out
    assert "cokafor approved access for themselves: it does not count" in result.out
    assert "could approve: any reviewer other than cokafor, dwhitfield" in result.out


def test_a_stale_approval_is_refused(world: World) -> None:
    number = world.open_pull("cokafor", CAROL_VPN)
    world.approve(number, "hbrandt")
    world.push(number, add_member("pingone.yaml", "VPN", "dan"))  # pushed after the approval
    world.merge(number)
    result = world.apply()
    assert result.code == 1
    assert "hbrandt's approval was given on" in result.out and "a stale approval does not count" in result.out
    assert "applied" not in result.out.replace("Apply: 0 applied", "")


def test_approval_by_someone_who_does_not_own_the_project_is_refused(world: World) -> None:
    number = world.open_pull("jalvarez", JUDY_HARBOR)
    world.approve(number, "dwhitfield")  # a project manager, but Harbor Tower's owner is carol
    world.merge(number)
    result = world.apply()
    assert result.code == 1
    assert "held ~ Procore judy: project Harbor Tower: Project Manager → Project Engineer" in result.out
    assert "rule procore-project-owners" in result.out
    assert "could approve: cokafor" in result.out


def test_the_owners_approval_lets_it_through(world: World) -> None:
    number = world.open_pull("jalvarez", JUDY_HARBOR)
    world.approve(number, "cokafor")
    world.merge(number)
    result = world.apply()
    assert result.code == 0, result.out
    assert "(PR #1, approved by cokafor)" in result.out


def test_drift_is_repaired_without_a_pull_request(world: World) -> None:
    sandbox.reset(world.path, VENDORS)  # someone changed the vendors by hand: the seed's drift is back
    result = world.apply()
    assert result.code == 0, result.out
    assert (
        "applied - PingOne bob: role Environment Admin (environment) (restores approved state)" in result.out
    )
    assert "No changes" in pending(world)


def test_a_plan_comment_edited_by_someone_else_is_not_trusted(world: World) -> None:
    number = world.open_pull("cokafor", CAROL_VPN)
    world.approve(number, "hbrandt")
    world.merge(number)
    repo = world.sim.repo()
    for comment in repo.comments.values():
        comment.user = "mallory"  # the record now comes from an untrusted author
    world.save()
    result = world.apply()
    assert result.code == 1
    assert "rule plan-record: pull request #1 has no plan recorded for its final head commit" in result.out


def test_without_an_apply_point_apply_says_how_to_set_one(world: World) -> None:
    world.repo.git.update_ref("-d", gate.APPLIED_REF)
    sandbox.reset(world.path, VENDORS)
    result = world.apply()
    assert result.code == 1
    assert "no apply point recorded (refs/access/applied)" in result.err
    assert "git update-ref refs/access/applied <commit>" in result.err


def test_gathering_facts_pages_through_reviews_and_waits_out_rate_limits() -> None:
    from reconciler.connectors.http import RetryPolicy

    sim = GitHubSimulator("harborbuild/access")
    sim.create_pull("cokafor", "c" * 40, commits=["b" * 40])
    for i in range(130):  # more than one page of 100
        sim.review(1, f"reviewer{i}", "COMMENTED")
    sim.review(1, "hbrandt", "APPROVED")
    sim.merge(1, "d" * 40)
    sim.faults.add("secondary:7", 1, "/reviews")  # a secondary rate limit: 403 + retry-after
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    settings = GitHubSettings(API, "harborbuild", "access", SecretStr(DEFAULT_TOKEN))

    async def gather() -> GateFacts:
        client = GitHubClient(
            settings,
            writable=False,
            transport=SimulatorTransport(sim.handle),
            policy=RetryPolicy(sleep=sleep),
        )
        async with client:
            return await gate.gather_facts(
                client, "a" * 40, ("b" * 40, "d" * 40), frozenset({"github-actions[bot]"})
            )

    facts = asyncio.run(gather())
    assert [c.pulls for c in facts.commits] == [(1,), (1,)]
    pull = facts.pulls[1]
    assert pull.merged and pull.author == "cokafor"
    assert len(pull.reviews) == 131 and pull.reviews[-1].user == "hbrandt"
    assert waits and waits[0] >= 7, "the retry-after of the rate limit was honoured"
    assert pull.record is None, "no plan comment: nothing approved"
