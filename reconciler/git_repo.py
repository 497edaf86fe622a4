"""The gitpython edge."""

from __future__ import annotations

from pathlib import Path

import git


def head_commit(path: Path) -> str | None:
    """The commit checked out at `path`, or None outside a git repository."""
    try:
        repo = git.Repo(path, search_parent_directories=True)
        return repo.head.commit.hexsha
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return None
