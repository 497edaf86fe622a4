"""A commit's access/ and policies/ written out as data, object by object from its tree.

What the gate judges and what the plan preview shows must be the same bytes: the blobs of the
commit's tree. So nothing here goes through git's attributes or filters, which `git archive` and a
checkout apply and which the commit itself controls through `.gitattributes`: `export-ignore` would
leave a file out, `export-subst` and `ident` would rewrite its text, `eol`/`text` would change its
line endings. Each blob is read from the object database as it is and written as a regular file.

Refused, with one line: a symbolic link (it could point outside the directory, or at another
file, so the preview would read what the gate does not); a top-level `access` or `policies` that is
not a directory; a path that would leave the destination. Submodules are skipped, as the gate skips
them: they hold no blob of this repository.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import AccessError
from reconciler.yaml_files import SUFFIXES

if TYPE_CHECKING:
    import git

TOPS: tuple[str, ...] = ("access", "policies")
_SYMLINK = 0o120000
_UNSAFE_PARTS = frozenset({"", ".", ".."})


def export_tree(repo: git.Repo, sha: str, dest: Path, tops: Sequence[str] = TOPS) -> None:
    """Write `tops` (access/ and policies/) as they are in commit `sha` into `dest`, blob by blob.

    A missing top is left out (a repository without policies/). Raises `AccessError` for a commit
    that is not in the repository, a symbolic link, a top that is not a directory, or an unsafe path.
    """
    for path, item in _blobs(repo, sha, tops):
        target = dest.joinpath(*path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item.data_stream.read())


def yaml_blobs(repo: git.Repo, sha: str, top: str) -> list[tuple[str, str, Callable[[], bytes]]]:
    """The YAML files of `top` in commit `sha` as (path, blob id, their bytes when asked): what
    `export_tree` would write and the loader read, for a reader that parses each blob once.
    Raises `AccessError` as `export_tree` does, and for a commit without `top`."""
    found: list[tuple[str, str, Callable[[], bytes]]] = [
        (path, str(item.hexsha), functools.partial(_data, item))
        for path, item in _blobs(repo, sha, (top,), missing_ok=False)
        if path.endswith(SUFFIXES)
    ]
    return found


def _data(blob: git.Blob) -> bytes:
    data: bytes = blob.data_stream.read()  # a stream of git's one cat-file process: read it whole
    return data


def _blobs(
    repo: git.Repo, sha: str, tops: Sequence[str], *, missing_ok: bool = True
) -> Iterator[tuple[str, git.Blob]]:
    """Every blob under `tops` in commit `sha` with its path, each checked as the docstring says."""
    import git

    try:
        tree = repo.commit(sha).tree
    except (git.BadName, git.BadObject, ValueError):
        raise AccessError(f"{sha}: no such commit in {repo.git_dir} (fetch it first)") from None
    short = sha[:12]
    for top in tops:
        try:
            sub = tree / top
        except KeyError:
            if missing_ok:
                continue
            raise AccessError(f"{top}/: no such directory at {short}") from None
        if sub.type != "tree" or not isinstance(sub, git.Tree):
            what = "a symbolic link" if getattr(sub, "mode", 0) == _SYMLINK else f"a {sub.type}"
            raise AccessError(f"{top}: {what} at {short}, not a directory: not allowed")
        for item in sub.traverse():
            if not isinstance(item, git.Blob):
                continue  # trees are made as their files need them; submodules hold no blob of ours
            path = str(item.path)
            if item.mode == _SYMLINK:
                raise AccessError(f"{path}: a symbolic link in {top}/ at {short}: not allowed")
            parts = path.split("/")
            if any(part in _UNSAFE_PARTS or part.casefold() == ".git" for part in parts):
                raise AccessError(f"{path!r}: an unsafe path in {top}/ at {short}: not allowed")
            yield path, item
