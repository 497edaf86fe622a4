"""The first-parent history of access/ lines (git blame and line history of a revision).

Recertification reads it to date each line's last edit. Who *approved* a grant is never read
from here: a line's last editor is not its approver (a list line holds many grants); `why` and
`report` ask the approval ledger (`reconciler/ledger_view.py`), per grant.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.git_repo import check_readable
from reconciler.origin import CommitInfo

if TYPE_CHECKING:  # (gitpython is imported when a history is opened: every plan imports this module)
    import git

_CONCURRENCY = 8
UNCOMMITTED = "0" * 40


@dataclass
class History:
    """The first-parent history of one revision, blamed file by file (cached)."""

    repo: git.Repo
    rev: str = "HEAD"
    _blames: dict[str, dict[int, CommitInfo]] = field(default_factory=dict)
    _positions: dict[str, int] | None = None

    @classmethod
    def open(cls, path: Path, rev: str = "HEAD") -> History | None:
        """The history at `path`, or None outside a git repository (or before the first commit).
        A repository git refuses to read (another user's) is an error, not "no history"."""
        import git

        check_readable(path)
        try:
            repo = git.Repo(path, search_parent_directories=True)
            repo.head.commit  # noqa: B018 - raises ValueError without commits
        except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
            return None
        return cls(repo, rev)

    @property
    def root(self) -> Path:
        return Path(self.repo.working_tree_dir or ".")

    def positions(self) -> dict[str, int]:
        """Each first-parent commit of `rev` and its position (0 = the oldest)."""
        if self._positions is None:
            out = self.repo.git.rev_list("--first-parent", "--reverse", self.rev)
            self._positions = {sha: i for i, sha in enumerate(out.split())}
        return self._positions

    def blame(self, file: str) -> dict[int, CommitInfo]:
        """line number -> the first-parent commit that last wrote it; {} for an uncommitted file."""
        found = self._blames.get(file)
        if found is None:
            found = self._blames[file] = self._blame(file)
        return found

    def _blame(self, file: str) -> dict[int, CommitInfo]:
        # Blame the working tree at HEAD, so that line numbers match the files just loaded (an
        # uncommitted line is attributed to the all-zero commit); any other revision as it was.
        import git

        revision = () if self.rev == "HEAD" else (self.rev,)
        try:
            out = self.repo.git.blame("--first-parent", "--incremental", *revision, "--", file)
        except git.GitCommandError:
            return {}
        return parse_incremental(out)

    def origin_commit(self, file: str, line: int) -> CommitInfo | None:
        return self.blame(file).get(line)

    def line_history(self, file: str, line: int) -> list[CommitInfo]:
        """Every first-parent commit that changed `file:line` (as it is at `rev`), oldest first."""
        import git

        try:
            out = self.repo.git.log(
                "--first-parent",
                "--format=%x00%H%x1f%cI%x1f%an%x1f%s",
                "-L",
                f"{line},{line}:{file}",
                self.rev,
            )
        except git.GitCommandError:
            return []
        found: list[CommitInfo] = []
        for chunk in out.split("\x00")[1:]:
            head = chunk.split("\n", 1)[0]
            sha, date, author, summary = ([*head.split("\x1f"), "", "", ""])[:4]
            found.append(CommitInfo(sha, _utc(date), author, summary))
        found.reverse()
        return found


# `git blame --incremental` writes a block per run of lines that one commit last wrote: a header
# `<sha> <original line> <final line> <lines>`, the commit's details (author, committer-time,
# summary, ...) the first time the commit appears, and a closing `filename <path>` line.
_GROUP = re.compile(r"([0-9a-f]{40}) \d+ (\d+) (\d+)")


def parse_incremental(out: str) -> dict[int, CommitInfo]:
    """`git blame --incremental` -> line number -> commit (one CommitInfo per commit)."""
    details: dict[str, dict[str, str]] = {}
    groups: list[tuple[int, int, str]] = []
    meta: dict[str, str] = {}
    for row in out.split("\n"):
        group = _GROUP.fullmatch(row)
        if group is not None:
            sha, start, count = group[1], int(group[2]), int(group[3])
            groups.append((start, count, sha))
            meta = details.setdefault(sha, {})
            continue
        key, _, value = row.partition(" ")
        if key == "author":
            meta["author"] = value
        elif key == "committer-time":
            meta["date"] = _epoch(value)
        elif key == "summary":
            meta["summary"] = value
    commits = {
        sha: CommitInfo(sha, meta.get("date", ""), meta.get("author", ""), meta.get("summary", ""))
        for sha, meta in details.items()
    }
    lines: dict[int, CommitInfo] = {}
    for start, count, sha in sorted(groups):
        lines.update(zip(range(start, start + count), repeat(commits[sha])))
    return lines


def _epoch(value: str) -> str:
    return dt.datetime.fromtimestamp(int(value), dt.UTC).isoformat().replace("+00:00", "Z")


def _utc(value: str) -> str:
    try:
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    except ValueError:
        return value
