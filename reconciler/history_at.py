"""The repository as it was at a point in time: the commit on `main` then, and its desired state.

"On main at that time" is the last commit of HEAD's first-parent line (the line the gate reads)
whose committer date is on or before it: GitHub sets that date when it merges. The commit's access/
and policies/ are read blob by blob (`git_tree.export_tree`: no attributes or filters) into a
temporary directory and loaded as `plan` loads them, with that day as "today" (so what had expired
by then is dropped, as a plan that day would have).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

import git

from reconciler.commands.context import AppContext
from reconciler.commands.state import Desired, load_desired
from reconciler.errors import AccessError
from reconciler.git_tree import export_tree
from reconciler.policy_loader import load_policies
from reconciler.policy_model import Policies


@dataclass(frozen=True, slots=True)
class CommitAt:
    sha: str
    date: str  # committer date, ISO 8601 UTC


def commit_at(repo: git.Repo, at: dt.datetime) -> CommitAt | None:
    """HEAD's first-parent commit in force at `at` (None: the history starts later)."""
    stamp = int(at.timestamp())
    try:
        out = str(repo.git.rev_list("--first-parent", "-1", f"--before={stamp}", "HEAD")).strip()
    except git.GitCommandError as exc:
        raise AccessError(f"cannot read the history of HEAD: {exc.stderr.strip() or exc}") from None
    if not out:
        return None
    return CommitAt(out, commit_date(repo, out))


def commit_date(repo: git.Repo, sha: str) -> str:
    stamp = int(repo.commit(sha).committed_date)
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def first_parent_line(repo: git.Repo, sha: str) -> dict[str, int]:
    """The commits of `sha`'s first-parent line, each with its position (0: the oldest)."""
    out = str(repo.git.rev_list("--first-parent", "--reverse", sha))
    return {line: i for i, line in enumerate(out.split())}


def is_ancestor(repo: git.Repo, older: str, newer: str) -> bool:
    try:
        repo.git.merge_base("--is-ancestor", older, newer)
    except git.GitCommandError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class StateAt:
    desired: Desired
    policies: Policies


def desired_at(ctx: AppContext, repo: git.Repo, sha: str, day: dt.date) -> StateAt:
    """Commit `sha`'s access/ and policies/, loaded with `day` as today."""
    with tempfile.TemporaryDirectory(prefix="access-at-") as tmp:
        root = Path(tmp)
        export_tree(repo, sha, root)
        at = AppContext(
            repo=root, vendors=ctx.vendors, output=ctx.output, env={**ctx.env, "ACCESS_TODAY": day.isoformat()},
            retained=ctx.retained,
        )  # fmt: skip
        if not (root / "access").is_dir():
            raise AccessError(f"commit {sha[:12]} has no access/ directory: nothing was managed then")
        desired = load_desired(at)
        policies = load_policies(root)
    return StateAt(desired, policies)
