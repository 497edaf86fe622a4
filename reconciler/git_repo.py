"""The gitpython edge (imported by each function that needs it: `plan` only asks for HEAD)."""

from __future__ import annotations

import base64
import re
import shlex
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import AccessError

if TYPE_CHECKING:
    import git


# What git says when the repository belongs to another user (since git 2.35.2): a repository mounted
# into a container (`docker run -v "$PWD:/repo"`) or a clone shared between accounts. Every git
# command then fails, and without this check that reads as "not a git repository".
DUBIOUS_OWNERSHIP = "detected dubious ownership"
_REFUSED_AT = re.compile(r"dubious ownership in repository at '(.*)'")


def ownership_error(stderr: str, path: Path) -> AccessError | None:
    """git's refusal to read a repository another user owns, as one line with its fix; else None."""
    if DUBIOUS_OWNERSHIP not in stderr:
        return None
    found = _REFUSED_AT.search(stderr)
    where = found.group(1) if found else str(path.resolve())
    return AccessError(
        f"git refuses to read the repository at {where}: it belongs to another user (git's dubious "
        f"ownership check); if you trust it, run: git config --global --add safe.directory {shlex.quote(where)}"
    )


def _rev_parse(path: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            ["git", "-C", str(path), "rev-parse", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None


def check_readable(path: Path) -> None:
    """Raise when git refuses the repository at `path` for its owner; anything else (no repository,
    no git) is left to the caller, which knows what it means there."""
    found = _rev_parse(path, "--git-dir")
    if found is not None and found.returncode != 0:
        refused = ownership_error(found.stderr, path)
        if refused is not None:
            raise refused


def head_commit(path: Path) -> str | None:
    """The commit checked out at `path`, or None outside a git repository (or before its first
    commit). Asked of git itself: every plan records it, and gitpython's import alone costs more.
    A repository git refuses to read is an error: its plan would say "no commit" of a commit."""
    found = _rev_parse(path, "--verify", "--quiet", "HEAD^{commit}")
    if found is None:
        return None
    sha = found.stdout.strip()
    if found.returncode == 0 and sha:
        return sha
    refused = ownership_error(found.stderr, path)
    if refused is not None:
        raise refused
    return None


def open_repo(path: Path) -> git.Repo:
    import git

    check_readable(path)
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise AccessError(f"{path} is not in a git repository") from None


def has_remote(repo: git.Repo, remote: str) -> bool:
    return any(r.name == remote for r in repo.remotes)


def base_commit(repo: git.Repo, remote: str, base: str, *, fetch: bool, named: bool = True) -> str:
    """The commit a new branch starts from: `remote/base` (fetched first) when the remote exists,
    else the local `base`. `named`: the user gave `base` (else it is a guess, and a missing branch
    says how to name one)."""
    import git

    if has_remote(repo, remote):
        if fetch:
            try:
                repo.git.fetch(
                    "--quiet", "--no-tags", remote, f"+refs/heads/{base}:refs/remotes/{remote}/{base}"
                )
            except git.GitCommandError as exc:
                hint = "" if named else _BASE_HINT
                raise AccessError(f"git fetch {remote} {base} failed: {_git_message(exc)}{hint}") from None
        ref = f"refs/remotes/{remote}/{base}"
    else:
        ref = f"refs/heads/{base}"
    try:
        return str(repo.git.rev_parse("--verify", f"{ref}^{{commit}}"))
    except git.GitCommandError:
        hint = "" if named else _BASE_HINT
        raise AccessError(f"no branch {base!r} to start from ({ref}){hint}") from None


_BASE_HINT = (
    "; the remote's default branch could not be told (no refs/remotes/origin/HEAD, and the remote did "
    "not say): name it with --base BRANCH, or run `git remote set-head origin --auto`"
)


@contextmanager
def worktree(repo: git.Repo, branch: str, start: str) -> Iterator[git.Repo]:
    """A temporary worktree with `branch` (re)created at `start`; the user's checkout is untouched."""
    import git

    with tempfile.TemporaryDirectory(prefix="access-branch-") as tmp:
        path = Path(tmp) / "tree"
        repo.git.worktree("add", "--quiet", "-B", branch, str(path), start)
        try:
            yield git.Repo(path)
        finally:
            repo.git.worktree("remove", "--force", str(path))


def commit_all(tree: git.Repo, paths: Sequence[str], message: str, author: git.Actor | None = None) -> str:
    tree.git.add("--", *paths)
    commit = tree.index.commit(message, author=author, committer=author)
    return str(commit.hexsha)


def push_branch(repo: git.Repo, remote: str, branch: str, env: Mapping[str, str]) -> None:
    """Push `branch` to `remote` (forced: the branch is ours). With GITHUB_TOKEN set and an https
    remote, the token goes in an HTTP header through git's environment, never on a command line."""
    import git

    extra: dict[str, str] = {}
    token = env.get("GITHUB_TOKEN", "").strip()
    url = next((u for r in repo.remotes if r.name == remote for u in r.urls), "")
    if token and url.startswith("https://"):
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        extra = {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraheader",
            "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
        }
    try:
        with repo.git.custom_environment(**extra):
            repo.git.push("--quiet", "--force", remote, f"refs/heads/{branch}:refs/heads/{branch}")
    except git.GitCommandError as exc:
        raise AccessError(f"git push {remote} {branch} failed: {_git_message(exc)}") from None


def _git_message(exc: git.GitCommandError) -> str:
    text = str(exc.stderr or "").strip().strip("'").strip()
    return text.splitlines()[-1] if text else f"exit {exc.status}"
