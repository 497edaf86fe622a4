"""Where a line of access/ came from: the commit on `main` that wrote it, the pull request that
landed that commit, and the approvals that count on it (judged like the gate).

The I/O edge of `access why` and `access report`: git (first-parent blame and line history of
HEAD) and GitHub (`GET /commits/{sha}/pulls`, `GET /pulls/{n}/reviews`). Like the gate, it reads
only what a repository writer cannot rewrite: first-parent history, merged pull requests, reviews.
Comments are never read.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

import git

from reconciler.connectors.http import gather_bounded
from reconciler.errors import AccessError
from reconciler.github_api import GitHubClient, GitHubError, PullRequest
from reconciler.ledger import PullFacts, ReviewFact, counted
from reconciler.origin import CommitInfo, Origin, PullInfo

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
        """The history at `path`, or None outside a git repository (or before the first commit)."""
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


def _iso(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value is not None else ""


def landing_pull(sha: str, pulls: Sequence[PullRequest], positions: Mapping[str, int]) -> PullRequest | None:
    """The merged pull request that landed `sha` on this first-parent line (as the gate attributes)."""
    if sha not in positions:
        return None
    landed = [
        p
        for p in pulls
        if p.merged_at is not None
        and p.merge_commit_sha is not None
        and p.merge_commit_sha in positions
        and positions[p.merge_commit_sha] >= positions[sha]
    ]
    landed.sort(key=lambda p: (p.merge_commit_sha != sha, positions[p.merge_commit_sha or ""]))
    return landed[0] if landed else None


async def pull_info(client: GitHubClient, pr: PullRequest) -> PullInfo:
    """The pull request's approvals that count (latest verdict, final head, before the merge, a member,
    not a bot, not the author)."""
    reviews = await client.reviews(pr.number)
    facts = PullFacts(
        number=pr.number, author=pr.author, head_sha=pr.head_sha, merged_at=pr.merged_at,
        reviews=tuple(ReviewFact(r.user, r.state, r.commit_id, r.submitted_at, r.association, r.bot)
                      for r in reviews),
    )  # fmt: skip
    found = counted(facts)
    approvals = tuple((a.login, _iso(a.at)) for a in found.valid)
    return PullInfo(
        pr.number, pr.html_url, pr.author, _iso(pr.merged_at), pr.head_sha, approvals, found.problems
    )


async def origins(
    client: GitHubClient | None, history: History, commits: Iterable[CommitInfo], missing: str = ""
) -> dict[str, Origin]:
    """For each commit: the merged pull request that landed it and its counted approvals."""
    unique = {c.sha: c for c in commits}
    out: dict[str, Origin] = {}
    for sha in [s for s in unique if s == UNCOMMITTED]:
        out[sha] = Origin(unique.pop(sha), None, "not committed: an edit in the working tree")
    if client is None:
        note = missing or "GitHub not asked"
        return out | {sha: Origin(c, None, note) for sha, c in unique.items()}
    positions = history.positions()
    shas = list(unique)
    try:
        found = await gather_bounded(_CONCURRENCY, (client.pulls_for_commit(s) for s in shas))
    except GitHubError as exc:
        raise AccessError(f"cannot read who landed the access/ lines: {exc.message}") from None
    landing = {sha: landing_pull(sha, prs, positions) for sha, prs in zip(shas, found, strict=True)}
    chosen = {p.number: p for p in landing.values() if p is not None}
    infos = await gather_bounded(_CONCURRENCY, (pull_info(client, p) for p in chosen.values()))
    by_number = {info.number: info for info in infos}
    for sha, pr in landing.items():
        if pr is None:
            out[sha] = Origin(unique[sha], None, "no merged pull request landed it (pushed directly?)")
        else:
            out[sha] = Origin(unique[sha], by_number[pr.number])
    return out
