"""Drivers for who-is-who in the GitHub simulator: accounts (rename, verified emails), repository
roles, commits with their git author and committer, and the repository activity log that pushes
and merges write. `GitHubSimulator`'s pull-request drivers build on these.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from reconciler.simulators.github_activity import full_ref
from reconciler.simulators.github_endpoints import GitHubEndpoints
from reconciler.simulators.github_git import GitCommit, read_commits
from reconciler.simulators.github_state import ROLES, ZERO_SHA, ActivityState, CommitState, RepoState

WEB_FLOW = "web-flow"  # the account GitHub links to "GitHub <noreply@github.com>", its web commits' committer
WEB_FLOW_EMAIL = "noreply@github.com"


class GitHubFacts(GitHubEndpoints):
    default_repository: str

    def repo(self, full_name: str | None = None) -> RepoState:
        return self.state.repos[(full_name or self.default_repository).casefold()]

    # ------------------------------------------------------------ accounts and roles

    def rename_user(self, old: str, new: str) -> None:
        """`old` renames their account to `new`: the id (and everything they did) moves with it, and
        `old` is free; whoever uses `old` next is someone else, with a new id."""
        with self.lock:
            self.state.rename(old, new)

    def add_email(self, login: str, email: str) -> None:
        """A verified email of `login`'s account: commits with it as author or committer link there."""
        with self.lock:
            self.state.emails[email.strip().casefold()] = self.state.users[self.state.user(login)]

    def set_permission(self, login: str, role: str, *, repo: str | None = None) -> None:
        """`login`'s role on the repository: admin, maintain, write, triage, read, or none (no access).
        Without one, the owner is admin, an `outsider` reads, a bot has none and anyone else writes."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        with self.lock:
            self.repo(repo).permissions[self.state.users[self.state.user(login)]] = role

    # ------------------------------------------------------------ commits

    def record_commit(
        self,
        sha: str,
        *,
        author_name: str,
        author_email: str,
        committer_name: str,
        committer_email: str,
        message: str,
        date: str | None = None,
        committed_at: str | None = None,
        repo: str | None = None,
    ) -> None:
        """Record a commit as git has it (replacing what was known of that sha): names, emails, the
        full message with its trailers, and dates (GitHub's `2026-01-05T09:00:00Z`; default now)."""
        with self.lock:
            now = self._now()
            self.repo(repo).commits[sha] = CommitState(
                sha=sha, author=author_name, message=message, date=date or now, author_name=author_name,
                author_email=author_email, committer_name=committer_name, committer_email=committer_email,
                committed_at=committed_at or date or now,
            )  # fmt: skip

    def record_git_commits(self, repo_path: Path, shas: list[str], *, repo: str | None = None) -> None:
        """Record commits of a real git repository (as `git push` would show them to GitHub)."""
        self.record_git(read_commits(repo_path, shas), repo=repo)

    def record_git(self, commits: Iterable[GitCommit], *, repo: str | None = None) -> None:
        for c in commits:
            self.record_commit(
                c.sha, author_name=c.author_name, author_email=c.author_email, date=c.authored_at,
                committer_name=c.committer_name, committer_email=c.committer_email,
                committed_at=c.committed_at, message=c.message, repo=repo,
            )  # fmt: skip

    def web_commit(self, sha: str, author: str, message: str, *, repo: str | None = None) -> None:
        """A commit GitHub makes on the web (a merge, a squash): `author`'s, committed by GitHub."""
        with self.lock:
            if sha in self.repo(repo).commits:
                return
            self.add_email(WEB_FLOW, WEB_FLOW_EMAIL)
            self.record_commit(
                sha, author_name=author, author_email=self.state.noreply(author), committer_name="GitHub",
                committer_email=WEB_FLOW_EMAIL, message=message, repo=repo,
            )  # fmt: skip

    # ------------------------------------------------------------ activity

    def branch_head(self, r: RepoState, branch: str) -> str | None:
        """Where the activity log last left `branch` (None: no activity on it, or it was deleted)."""
        ref = full_ref(branch)
        last = next((a for a in reversed(r.activity) if a.ref == ref), None)
        return None if last is None or last.after == ZERO_SHA else last.after

    def record_activity(
        self, r: RepoState, branch: str, kind: str, before: str, after: str, actor: str
    ) -> None:
        r.activity.append(
            ActivityState(
                id=self.state.new_id(), ref=full_ref(branch), before=before, after=after, activity_type=kind,
                actor_id=self.state.users[self.state.user(actor)], timestamp=self._now(),
            )
        )  # fmt: skip

    def record_branch_push(
        self, r: RepoState, branch: str, base: str, commits: list[str], pusher: str
    ) -> None:
        """A `git push` that leaves `branch` at `commits[-1]` (or `base` when empty): a branch_creation
        (from `base`) and a push for a new branch; a push when the old head is kept, else a force_push."""
        head = commits[-1] if commits else base
        old = self.branch_head(r, branch)
        if old is None:
            self.record_activity(r, branch, "branch_creation", ZERO_SHA, base, pusher)
            if head != base:
                self.record_activity(r, branch, "push", base, head, pusher)
        elif old != head:
            kind = "push" if old in commits or old == base else "force_push"
            self.record_activity(r, branch, kind, old, head, pusher)

    def delete_branch(self, branch: str, *, pusher: str | None = None, repo: str | None = None) -> None:
        """`git push --delete`: a branch_deletion by `pusher` (default: the owner)."""
        with self.lock:
            r = self.repo(repo)
            old = self.branch_head(r, branch)
            r.branches.pop(branch, None)
            self.record_activity(r, branch, "branch_deletion", old or ZERO_SHA, ZERO_SHA, pusher or r.owner)
