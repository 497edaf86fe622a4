"""Who wrote a line of access/: the commit on `main`, the pull request that landed it, and the
approvals that count on it (pure records; `reconciler/provenance.py` reads them from git and GitHub).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """A commit on `main`'s first-parent line that last wrote a line."""

    sha: str
    date: str  # committer date, ISO 8601 UTC
    author: str  # the git author's name (not a GitHub login: anyone can write it)
    summary: str


@dataclass(frozen=True, slots=True)
class PullInfo:
    """The merged pull request that landed a commit, and the approvals that count on it."""

    number: int
    url: str
    author: str | None
    merged_at: str
    head_sha: str
    approvals: tuple[tuple[str, str], ...]  # (login, ISO time), counted like the gate
    problems: tuple[str, ...] = ()  # why other reviews do not count

    def approvers_for(self, beneficiary: str) -> tuple[tuple[str, str], ...]:
        """The counted approvals, less the person receiving the access (they never count)."""
        folded = beneficiary.casefold()
        return tuple(a for a in self.approvals if not folded or a[0].casefold() != folded)


@dataclass(frozen=True, slots=True)
class Origin:
    """Who wrote a line: the commit, the pull request (None: pushed directly, or GitHub not asked)."""

    commit: CommitInfo
    pull: PullInfo | None = None
    note: str = ""  # e.g. "pushed directly to main", "GitHub is not configured: ..."
