"""A real git repository as the GitHub simulator sees it: `git_branches` is its `branch_source` (what
a `git push` to that repository made of each branch: its commits not on the default branch, oldest
first) and reads each pushed commit's author, committer and message; `read_commits` reads those for
`GitHubSimulator.record_git_commits`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

_FIELDS = "%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"


@dataclass(frozen=True, slots=True)
class GitCommit:
    sha: str
    author_name: str
    author_email: str
    authored_at: str  # GitHub's form, in UTC: 2026-01-05T09:00:00Z
    committer_name: str
    committer_email: str
    committed_at: str
    message: str  # the full message, trailers included, without git's final newline


@runtime_checkable
class CommitReader(Protocol):
    """A branch source that can also say who wrote and committed each commit."""

    def commits(self, shas: Sequence[str]) -> list[GitCommit]: ...


def read_commits(path: Path, shas: Sequence[str]) -> list[GitCommit]:
    import git

    repo = git.Repo(path)
    found: list[GitCommit] = []
    for sha in shas:
        out: str = repo.git.show("-s", f"--format={_FIELDS}", sha, strip_newline_in_stdout=False)
        an, ae, ad, cn, ce, cd, message = out.split("\x00", 6)
        full = str(repo.commit(sha).hexsha)
        found.append(GitCommit(full, an, ae, _utc(ad), cn, ce, _utc(cd), message.rstrip("\n")))
    return found


def _utc(stamp: str) -> str:
    return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitBranches:
    """The branches of the repository at `path`, read afresh on every call."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, branch: str, base: str) -> list[str] | None:
        import git

        repo = git.Repo(self.path)
        try:
            repo.git.rev_parse("--verify", "--quiet", f"refs/heads/{branch}")
        except git.GitCommandError:
            return None
        out: str = repo.git.rev_list("--reverse", f"refs/heads/{base}..refs/heads/{branch}")
        return out.split()

    def commits(self, shas: Sequence[str]) -> list[GitCommit]:
        return read_commits(self.path, shas)


def git_branches(path: Path) -> GitBranches:
    return GitBranches(path)
