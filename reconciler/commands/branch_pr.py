"""Shared by `access request`, `recertify` and `cleanup`: the YAML of the default branch as data,
edited on a new branch (a temporary worktree: the user's checkout is untouched), committed,
pushed, and one pull request opened for it, or updated when one is already open."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import git

from reconciler import sandbox
from reconciler.canonical import aliases_of, canonical_access
from reconciler.changes import Plan, change_identity
from reconciler.commands.context import AppContext
from reconciler.commands.state import Desired, Source, load_desired, open_connectors, sync_all
from reconciler.connectors.base import VendorState
from reconciler.errors import AccessError, ConfigError
from reconciler.git_repo import base_commit, commit_all, has_remote, open_repo, push_branch, worktree
from reconciler.git_tree import export_tree
from reconciler.github_api import GitHubClient, PullRequest
from reconciler.github_local import default_branch
from reconciler.planner import build_plan
from reconciler.policy_loader import load_policies
from reconciler.render.markdown import render_markdown
from reconciler.rules import check_plan, plan_options
from reconciler.rules.aliases import canonical_policies

ClientFactory = Callable[[], GitHubClient]


@dataclass(frozen=True, slots=True)
class Target:
    """Where the branch goes: the base branch (None: the remote's default branch), the remote, and
    whether to use the sandbox GitHub."""

    base: str | None = None
    remote: str = "origin"
    sandbox: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The default branch's access/ and policies/, exported as data into a temporary directory."""

    repo: git.Repo
    start: str
    root: Path
    base: str  # the branch it was taken from, which the pull request targets


@contextmanager
def base_snapshot(ctx: AppContext, target: Target) -> Iterator[Snapshot]:
    repo = open_repo(ctx.repo)
    base = target.base or base_branch(Path(str(repo.working_tree_dir or ctx.repo)), target)
    start = base_commit(repo, target.remote, base, fetch=not target.sandbox, named=target.base is not None)
    with tempfile.TemporaryDirectory(prefix="access-base-") as tmp:
        root = Path(tmp)
        export_tree(repo, start, root)
        yield Snapshot(repo, start, root, base)


def base_branch(path: Path, target: Target) -> str:
    """The remote's default branch (`master` as well as `main`); `main` when it cannot be told."""
    if target.sandbox:
        return "main"
    return default_branch(path, target.remote) or "main"


def load_at(ctx: AppContext, root: Path, files: Mapping[str, str] | None = None) -> Desired:
    """The desired state of `root` (a snapshot), with `files` (relative path -> text) written over it."""
    if files:
        with tempfile.TemporaryDirectory(prefix="access-edit-") as tmp:
            edited = Path(tmp)
            for part in ("access", "policies"):
                if (root / part).is_dir():
                    _copy(root / part, edited / part)
            for rel, text in files.items():
                (edited / rel).write_text(text, encoding="utf-8")
            return load_desired(replace(ctx, repo=edited, vendors=None))
    return load_desired(replace(ctx, repo=root, vendors=None))


def _copy(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst)


async def _actual(ctx: AppContext, desired: Desired, source: Source) -> dict[str, VendorState]:
    vendors = tuple(sorted(desired.access.scope.vendors))
    async with open_connectors(ctx, source, vendors, writable=False) as connectors:
        return await sync_all(ctx, connectors, desired.access)


def preview(
    ctx: AppContext, root: Path, before: Desired, after: Desired, source: Source | None
) -> tuple[str, str]:
    """The plan the edit adds (plan(after) - plan(before)) as markdown, and a note on what it was
    planned against: the vendors when they can be read, else the YAML before the edit."""
    note = ""
    actual: dict[str, VendorState] | None = None
    if source is not None:
        try:
            actual = asyncio.run(_actual(ctx, after, source))
            note = f"planned against {source.describe()}"
        except ConfigError as exc:
            note = f"the vendors could not be read ({exc.message.splitlines()[0]}): planned against the YAML before this change"
    if actual is None:
        actual = {
            vendor: VendorState(
                vendor,
                tuple(a for a in before.access.accounts.values() if a.vendor == vendor),
                frozenset(g for g in before.access.grants if g.vendor == vendor),
            )
            for vendor in after.access.scope.vendors
        }
        note = note or "planned against the YAML before this change"
    aliases = aliases_of(actual)  # rules see resources as the plans name them (a project by id: its name)
    policies = canonical_policies(load_policies(root), aliases)
    options = plan_options(policies)
    old = build_plan(before.access, actual, today=ctx.today, options=options)
    new = build_plan(after.access, actual, today=ctx.today, options=options)
    known = {change_identity(c) for c in old.changes}
    added = tuple(c for c in new.changes if change_identity(c) not in known)
    checked = check_plan(
        replace(new, changes=added), canonical_access(after.access, aliases), policies, ctx.today
    )
    principals = {c.principal for c in added}
    findings = tuple(f for f in checked.findings if f.principal in principals)
    plan: Plan = replace(checked, changes=added, findings=findings)
    return render_markdown(plan, title="plan preview"), note


@contextmanager
def github(ctx: AppContext, target: Target) -> Iterator[ClientFactory]:
    """A writable GitHub client factory: the sandbox's simulated GitHub, or GITHUB_* settings."""
    if target.sandbox:
        with sandbox.github_session(ctx.repo, writable=True) as factory:
            if factory is None:
                raise ConfigError(
                    "the sandbox has no simulated GitHub: run `access demo --keep DIR` and work in DIR/repo"
                )
            yield factory
        return
    env = ctx.github().env
    GitHubClient.from_env(env, writable=True)  # fail early, before anything is pushed
    yield lambda: GitHubClient.from_env(env, writable=True)


async def _upsert(
    factory: ClientFactory, branch: str, base: str, title: str, body: str
) -> tuple[PullRequest, bool]:
    async with factory() as client:
        existing = await client.open_pull_for(branch)
        if existing is not None:
            return await client.update_pull(existing.number, title=title, body=body), False
        return await client.create_pull(title=title, head=branch, base=base, body=body), True


def publish(
    ctx: AppContext,
    snapshot: Snapshot,
    target: Target,
    *,
    branch: str,
    files: Mapping[str, str],
    message: str,
    title: str,
    body: str,
    author: git.Actor | None = None,
) -> tuple[PullRequest, bool]:
    """Commit `files` on `branch` (from the base), push it, and open or update its pull request.
    Returns the pull request and whether it was created."""
    with github(ctx, target) as factory:
        with worktree(snapshot.repo, branch, snapshot.start) as tree:
            root = Path(tree.working_tree_dir or ".")
            for rel, text in files.items():
                (root / rel).write_text(text, encoding="utf-8")
            commit_all(tree, list(files), message, author)
        if not target.sandbox and has_remote(snapshot.repo, target.remote):
            push_branch(snapshot.repo, target.remote, branch, ctx.env)
        elif not target.sandbox:
            raise ConfigError(f"no git remote {target.remote!r} to push the branch {branch} to")
        return asyncio.run(_upsert(factory, branch, snapshot.base, title, body))


def pushed_by_others(repo: git.Repo, target: Target, branch: str, ours: Callable[[str], bool]) -> bool:
    """Whether the branch's tip was written by someone other than the command (`ours` tells its
    commit messages): then an open pull request on it is theirs to finish, never overwritten."""
    ref = branch if target.sandbox else f"{target.remote}/{branch}"
    if not target.sandbox:
        try:
            repo.git.fetch(
                "--quiet",
                "--no-tags",
                target.remote,
                f"+refs/heads/{branch}:refs/remotes/{target.remote}/{branch}",
            )
        except git.GitCommandError as exc:
            if "couldn't find remote ref" in str(exc.stderr or ""):
                return False  # no such branch yet
            # Unknown: better to stop than to overwrite someone's work in progress.
            raise AccessError(
                f"git fetch {target.remote} {branch} failed: {str(exc.stderr or exc).strip()}"
            ) from None
    try:
        message = str(repo.commit(ref).message)
    except (git.BadName, ValueError):
        return False
    return not ours(message)


def open_pull(ctx: AppContext, target: Target, branch: str) -> PullRequest | None:
    """The open pull request of `branch`, if any."""

    async def ask() -> PullRequest | None:
        with github(ctx, target) as factory:
            async with factory() as client:
                return await client.open_pull_for(branch)

    return asyncio.run(ask())
