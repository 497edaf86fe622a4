"""`access export-tree SHA DIR`: a commit's access/ and policies/ as data, for the plan workflow.

The workflow that previews a pull request runs the default branch's `access` on the pull request's
files: this writes them into an empty DIR object by object from the commit's tree
(`reconciler.git_tree`), so that `.gitattributes` in the pull request (`export-ignore`,
`export-subst`, filters) cannot make the preview read other files than the gate judges.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from reconciler.commands.context import AppContext
from reconciler.errors import AccessError
from reconciler.git_repo import open_repo
from reconciler.git_tree import TOPS, export_tree


def run(ctx: AppContext, sha: str, dest: Path) -> int:
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise AccessError(f"{dest}: not an empty directory; export into a new one")
    repo = open_repo(ctx.repo)
    dest.mkdir(parents=True, exist_ok=True)
    export_tree(repo, sha, dest, TOPS)
    files = sum(1 for path in dest.rglob("*") if path.is_file())
    ctx.output.result(escape(f"{'/ and '.join(TOPS)}/ of {sha[:12]}: {files} file(s) written to {dest}"))
    return 0
