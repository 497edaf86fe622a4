"""Where the repository is when `--repo` is not given: found upward from the working directory, as
git and gh find theirs, so that `cd access && access validate` reads the same files as the root."""

from __future__ import annotations

import os
from pathlib import Path

MARKERS = ("access", "policies")  # the folders a repository of access-as-code holds


def find_root(start: Path, *, new: bool = False) -> Path:
    """The nearest directory, `start` or above, holding `access/` or `policies/`. The search stops at
    the root of the git work tree (a directory holding `.git`), so a folder named `access` outside
    the repository is never taken for it; that root is the answer when nothing nearer holds them.
    Outside any repository and with no such folder above: `start` itself.

    `new` (for `access init`, which writes): only a repository's directory that already holds them,
    else `start`, so that `access init` in a new folder scaffolds that folder, never a larger
    repository around it or a folder above that merely has an `access/` in it."""
    found: Path | None = None
    for directory in (start, *start.parents):
        if found is None and any((directory / marker).is_dir() for marker in MARKERS):
            if not new:
                return directory
            found = directory
        if (directory / ".git").exists():
            return found or (start if new else directory)
    return start if new else (found or start)


def default_repo(cwd: Path, *, new: bool = False) -> Path:
    """`find_root(cwd)`, as short as it can be written: `.` at the root itself, else relative to the
    working directory (`..`, `../..`), as messages that name the repository then show it."""
    root = find_root(cwd, new=new)
    return Path(os.path.relpath(root, cwd)) if root != cwd else Path(".")
