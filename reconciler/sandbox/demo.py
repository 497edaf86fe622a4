"""`access demo`: the approval gate at work, in a temporary repository.

A real git repository with the example `access/`, the sandbox vendors, and the GitHub simulator
(persisted in the sandbox directory, as the vendor simulators are). The walkthrough: adopt the
YAML (first apply repairs drift: no approval needed), open a pull request, plan it (the plan
comment: a preview for reviewers), apply before approval (refused), approve, merge, apply
(applied, with the pull request and its approvers in the audit log), plan again (no changes).
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import git
from pydantic import SecretStr
from rich.console import Console

from reconciler import gate, sandbox
from reconciler.approvers import beneficiary_login, requirements_for
from reconciler.changes import Plan
from reconciler.commands import apply as apply_cmd
from reconciler.commands.comment import comment_body
from reconciler.commands.context import AppContext
from reconciler.commands.plan import make_plan
from reconciler.commands.state import Source, load_desired
from reconciler.console import Output
from reconciler.errors import AccessError
from reconciler.github_api import GitHubClient, GitHubSettings
from reconciler.policy_loader import load_policies
from reconciler.render.text import render_text
from reconciler.resources import data_dir
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.github import API, DEFAULT_TOKEN, GitHubSimulator
from reconciler.vendors import VENDORS

REPOSITORY = "harborbuild/access"
EXAMPLE = data_dir("example") / "access"
_VPN_LINE = re.compile(r"^(\s+VPN:\s*\[)([^\]]*)\]", re.MULTILINE)
SOURCE = Source(sandbox=True)


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        if any(keep.iterdir()):
            raise AccessError(f"{keep} is not empty: --keep needs a new or empty directory")
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="access-demo-") as tmp:
        yield Path(tmp)


class _Demo:
    def __init__(self, ctx: AppContext, root: Path) -> None:
        self.ctx = ctx
        self.out = ctx.output
        self.path = root / "repo"
        self.path.mkdir()
        self.repo = git.Repo.init(self.path, initial_branch="main")
        with self.repo.config_writer() as config:
            config.set_value("user", "name", "Harbor Build")
            config.set_value("user", "email", "it@harborbuild.example")
        self.sub = replace(ctx, repo=self.path)
        self.github_file = sandbox.github_file(self.path)
        self.step_no = 0

    # -- helpers ---------------------------------------------------------------------------------

    def step(self, title: str) -> None:
        self.step_no += 1
        self.out.result(f"\n[bold cyan]{self.step_no}. {title}[/bold cyan]")

    def say(self, text: str) -> None:
        self.out.result(f"   [dim]{text}[/dim]")

    def sim(self) -> GitHubSimulator:
        return GitHubSimulator.from_json(self.github_file.read_text(encoding="utf-8"))

    def save(self, sim: GitHubSimulator) -> None:
        self.github_file.parent.mkdir(parents=True, exist_ok=True)
        self.github_file.write_text(sim.to_json(), encoding="utf-8")

    def commit(self, message: str, author: str) -> str:
        self.repo.git.add(*(p for p in ("access", "policies", ".gitignore") if (self.path / p).exists()))
        actor = git.Actor(author, f"{author}@harborbuild.example")
        return str(self.repo.index.commit(message, author=actor, committer=actor).hexsha)

    def apply(self, *, quiet: bool = False) -> int:
        """`access apply --sandbox`, its results shown indented (or only its summary)."""
        buffer = io.StringIO()
        console = Console(file=buffer, soft_wrap=True, highlight=False, width=120, force_terminal=False)
        output = Output(quiet=quiet, out=console, err=console)
        try:
            code = apply_cmd.run(replace(self.sub, output=output), plan_file=None, source=SOURCE)
        except AccessError as exc:
            buffer.write(exc.message + "\n")
            code = exc.exit_code
        lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
        if quiet:
            lines = [line for line in lines if line.startswith(("Apply:", "No changes"))] or lines[-1:]
        for line in lines:
            self.out.result(f"   {_esc(line)}")
        self.out.result(f"   [dim]exit code {code}[/dim]")
        return code

    def plan(self) -> Plan:
        return asyncio.run(make_plan(replace(self.sub, output=Output(quiet=True)), SOURCE)).plan

    async def _comment(self, sim: GitHubSimulator, number: int, body: str) -> None:
        owner, _, name = REPOSITORY.partition("/")
        settings = GitHubSettings(api_url=API, owner=owner, repo=name, token=SecretStr(DEFAULT_TOKEN))
        async with GitHubClient(settings, writable=True, transport=SimulatorTransport(sim.handle)) as client:
            await client.upsert_comment(number, body)

    def approvers_for(self, plan: Plan, author: str) -> list[str]:
        """Reviewers who satisfy every requirement of the plan's changes (other than the author)."""
        policies = load_policies(self.path)
        desired = load_desired(self.sub)
        chosen: list[str] = []
        for change in plan.changes:
            excluded = {author.casefold(), (beneficiary_login(change, desired.access) or "").casefold()}
            for requirement in requirements_for(change, policies, desired.access):
                have = [a for a in chosen if not requirement.approvers or a in requirement.approvers]
                pool = sorted(a for a in requirement.approvers if a.casefold() not in excluded)
                for login in pool[: max(0, requirement.minimum - len(have))]:
                    chosen.append(login)
        return chosen or ["hbrandt"]

    # -- the walkthrough -------------------------------------------------------------------------

    def run(self) -> int:
        if not EXAMPLE.is_dir():
            raise AccessError(
                f"the demo needs the example access/ directory ({EXAMPLE}); run it from a checkout"
            )
        out = self.out
        out.result(f"[bold]access demo[/bold] in {self.path.parent}  (sandbox vendors, simulated GitHub)")

        self.step("The team adopts access-as-code: the example access/ is committed to main")
        shutil.copytree(EXAMPLE, self.path / "access")
        if (EXAMPLE.parent / "policies").is_dir():
            shutil.copytree(EXAMPLE.parent / "policies", self.path / "policies")
        (self.path / ".gitignore").write_text(f"{sandbox.SANDBOX_DIR}/\n.access/\n", encoding="utf-8")
        adopted = self.commit("Adopt access-as-code", "hbrandt")
        sim = GitHubSimulator(REPOSITORY)
        sim.direct_push(adopted, author="hbrandt")
        self.save(sim)
        sandbox.reset(self.path, VENDORS)
        gate.record_apply_point(
            self.repo, adopted, gate.signing_key(self.sub, SOURCE), gate.repository_identity(self.sub, SOURCE)
        )
        self.say(
            f"commit {adopted[:7]}; the apply point {gate.APPLIED_REF} marks it as the approved state "
            "(signed with the apply job's key, which no branch can read)"
        )

        self.step("First apply: the vendors are brought in line with the adopted YAML")
        self.say("drift repair restores the approved state, so it needs no pull request")
        self.apply(quiet=True)

        self.step("Carol opens a pull request asking for the VPN group")
        self.repo.git.checkout("-b", "carol/vpn")
        path = self.path / "access" / "pingone.yaml"
        text = path.read_text(encoding="utf-8")
        if not _VPN_LINE.search(text):
            raise AccessError(f"{path}: the demo expects a `VPN: [...]` group line")
        path.write_text(_VPN_LINE.sub(r"\1\2, carol]", text, count=1), encoding="utf-8")
        head = self.commit("Give carol the VPN", "cokafor")
        sim = self.sim()
        number = sim.create_pull("cokafor", head, title="Give carol the VPN", head_ref="carol/vpn")
        self.save(sim)
        self.say(f"pull request #{number} by @cokafor (carol), head {head[:7]}:")
        for line in self.repo.git.diff("main", "--unified=0", "--", "access").splitlines():
            if line[:1] in "+-" and not line.startswith(("+++", "---")):
                out.result(f"   {_esc(line)}")

        self.step("The plan workflow (trusted code, the PR's access/ as data) comments the plan")
        plan = self.plan()
        for line in render_text(plan).splitlines():
            out.result(f"   {line}")
        sim = self.sim()
        asyncio.run(self._comment(sim, number, comment_body(plan, head)))
        self.save(sim)
        self.say("the comment is a preview for reviewers; apply decides from git and the reviews alone")

        self.step("Apply before the pull request is approved and merged: refused")
        refused = self.apply()

        approvers = self.approvers_for(plan, "cokafor")
        self.step(f"{', '.join('@' + a for a in approvers)} approve(s) the pull request; it is merged")
        sim = self.sim()
        for login in approvers:
            sim.review(number, login, "APPROVED")
        self.repo.git.checkout("main")
        self.repo.git.merge("--no-ff", "carol/vpn", "-m", f"Merge pull request #{number} from carol/vpn")
        merge = head_sha = str(self.repo.head.commit.hexsha)
        sim.merge(number, merge, merged_by=approvers[0])
        self.save(sim)
        self.say(f"main is at the merge commit {head_sha[:7]}")

        self.step("Apply on main: the approved change is applied")
        applied = self.apply()
        self.say("the audit log records the pull request, its author, its approvers and when they approved")

        self.step("Plan again: nothing left to do")
        again = self.plan()
        out.result(f"   {again.summary_line()}")

        self.step("Mallory, a repository writer, pushes straight to main and edits the plan comment")
        path = self.path / "access" / "pingone.yaml"
        path.write_text(
            _VPN_LINE.sub(r"\1\2, dan]", path.read_text(encoding="utf-8"), count=1), encoding="utf-8"
        )
        pushed = self.commit("Give dan the VPN", "mallory")
        sim = self.sim()
        sim.direct_push(pushed, author="mallory")
        for comment in sim.comments_on(number):
            comment.body += (
                "\n\nApproved by @hbrandt ✅"  # comments are for people; the gate never reads them
            )
        self.save(sim)
        self.say(f"commit {pushed[:7]} on main, no pull request; the comment now claims an approval")
        bypass = self.apply()
        ok = refused == 1 and applied == 0 and not again.changes and bypass == 1
        out.result(
            "\n[bold green]The gate held the unapproved changes and applied the approved one.[/bold green]"
            if ok
            else "\n[bold red]The demo did not go as expected.[/bold red]"
        )
        return 0 if ok else 1


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def run(ctx: AppContext, *, keep: Path | None = None) -> int:
    with _workdir(keep) as root:
        return _Demo(ctx, root).run()
