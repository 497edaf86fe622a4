"""Branches of a real git repository, as the GitHub simulator's `branch_source`: what a `git push`
to that repository made of each branch (its commits not on the default branch, oldest first)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import git


def git_branches(path: Path) -> Callable[[str, str], list[str] | None]:
    def source(branch: str, base: str) -> list[str] | None:
        repo = git.Repo(path)
        try:
            repo.git.rev_parse("--verify", "--quiet", f"refs/heads/{branch}")
        except git.GitCommandError:
            return None
        out: str = repo.git.rev_list("--reverse", f"refs/heads/{base}..refs/heads/{branch}")
        return out.split()

    return source
