"""The GitHub simulator's state: pydantic models persisted whole by `GitHubSimulator.to_json`.

Besides the records, the state hands out ids (one counter, as GitHub's ids are global), registers
users on first sight, numbers issues and pull requests in one space per repository, renames users
(the id stays with the account) and maps commit emails to accounts as GitHub does.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel, Field

ZERO_SHA = "0" * 40  # `before` of a branch creation, `after` of a branch deletion
NOREPLY = "users.noreply.github.com"
_NOREPLY_ID = re.compile(r"^(\d+)\+[^@]+@users\.noreply\.github\.com$", re.IGNORECASE)
_NOREPLY_LOGIN = re.compile(r"^([^@+]+)@users\.noreply\.github\.com$", re.IGNORECASE)
# Roles a repository grants, highest first; "none" is no access (not a collaborator).
ROLES = ("admin", "maintain", "write", "triage", "read", "none")


def iso(epoch: float) -> str:
    """GitHub's timestamp format, to the second: `2026-01-05T09:00:00Z`."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CommitState(BaseModel):
    """A commit as git recorded it. `author` is the login it was made as by the drivers (kept for
    states saved before names and emails were recorded: None there means "derive from `author`")."""

    sha: str
    author: str
    message: str
    date: str  # the author date
    author_name: str | None = None
    author_email: str | None = None
    committer_name: str | None = None
    committer_email: str | None = None
    committed_at: str | None = None


class ActivityState(BaseModel):
    """One entry of `GET /repos/{owner}/{repo}/activity`: a ref moved from `before` to `after`."""

    id: int
    ref: str  # full: refs/heads/<branch>
    before: str
    after: str
    activity_type: str  # push | force_push | branch_creation | branch_deletion | pr_merge | merge_queue_merge
    actor_id: int | None  # the account, not its login (a rename keeps it)
    timestamp: str


class PullState(BaseModel):
    number: int
    id: int
    title: str
    body: str | None
    author: str
    head_ref: str
    base_ref: str
    head_sha: str
    base_sha: str
    commits: list[str]
    state: str = "open"
    draft: bool = False
    merged: bool = False
    merged_at: str | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    merge_method: str | None = None  # merge | squash | rebase
    landed: list[str] = Field(default_factory=list)  # the commits the merge put on the base branch
    closed_at: str | None = None
    created_at: str
    updated_at: str


class ReviewState(BaseModel):
    id: int
    pull: int
    user: str
    state: str
    commit_id: str | None
    body: str = ""
    submitted_at: str | None


class LabelState(BaseModel):
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


class IssueState(BaseModel):
    number: int
    id: int
    title: str
    body: str | None
    author: str
    labels: list[str] = Field(default_factory=list)
    state: str = "open"
    state_reason: str | None = None
    closed_at: str | None = None
    closed_by: str | None = None
    created_at: str
    updated_at: str


class CommentState(BaseModel):
    id: int
    issue: int
    user: str
    body: str
    created_at: str
    updated_at: str


class RepoState(BaseModel):
    owner: str
    name: str
    id: int
    default_branch: str = "main"
    private: bool = True
    created_at: str = "2026-01-05T09:00:00Z"
    next_number: int = 1
    pulls: dict[int, PullState] = Field(default_factory=dict)
    issues: dict[int, IssueState] = Field(default_factory=dict)
    reviews: list[ReviewState] = Field(default_factory=list)
    comments: dict[int, CommentState] = Field(default_factory=dict)
    labels: dict[str, LabelState] = Field(default_factory=dict)
    commits: dict[str, CommitState] = Field(default_factory=dict)
    default_branch_shas: list[str] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict)  # path on the default branch -> text
    # branch -> its commits not on the default branch, oldest first (the last is the branch head)
    branches: dict[str, list[str]] = Field(default_factory=dict)
    outsiders: list[str] = Field(default_factory=list)  # logins without write access (CONTRIBUTOR)
    permissions: dict[int, str] = Field(default_factory=dict)  # user id -> role (see ROLES)
    activity: list[ActivityState] = Field(default_factory=list)  # oldest first

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def take_number(self) -> int:
        """The next issue or pull request number (they share one space)."""
        number = self.next_number
        self.next_number += 1
        return number

    def comments_on(self, number: int) -> list[CommentState]:
        return [c for c in self.comments.values() if c.issue == number]


class GitHubState(BaseModel):
    repos: dict[str, RepoState] = Field(default_factory=dict)  # "owner/name" (casefolded) -> repo
    users: dict[str, int] = Field(default_factory=dict)  # login -> id
    emails: dict[str, int] = Field(default_factory=dict)  # verified email (casefolded) -> user id
    tokens: dict[str, str] = Field(default_factory=dict)  # token -> login
    next_id: int = 1000
    rate_limit: int = 5000
    rate_used: int = 0
    rate_reset: int = 0  # epoch seconds when the current window ends

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def user(self, login: str) -> str:
        """Register `login` (giving it an id) if it is new; returns it."""
        if login not in self.users:
            self.users[login] = self.new_id()
        return login

    def find(self, login: str) -> str | None:
        """The registered login spelled `login` in any case (GitHub logins are case-insensitive)."""
        if login in self.users:
            return login
        folded = login.casefold()
        return next((known for known in self.users if known.casefold() == folded), None)

    def login_of(self, user_id: int) -> str | None:
        """The account's current login; None when no account has that id (any more)."""
        return next((login for login, uid in self.users.items() if uid == user_id), None)

    def noreply(self, login: str) -> str:
        """The account's ID-based noreply commit email, `ID+login@users.noreply.github.com`."""
        return f"{self.users[self.user(login)]}+{login}@{NOREPLY}"

    def account_for_email(self, email: str) -> str | None:
        """The login GitHub links a commit email to: an account's verified email, an ID-based noreply
        address (by its ID, whatever login it names), a legacy `login@users.noreply.github.com`
        (by that login, so whoever holds it now); None for any other email."""
        folded = email.strip().casefold()
        if folded in self.emails:
            return self.login_of(self.emails[folded])
        by_id = _NOREPLY_ID.match(folded)
        if by_id:
            return self.login_of(int(by_id.group(1)))
        by_login = _NOREPLY_LOGIN.match(folded)
        return self.find(by_login.group(1)) if by_login else None

    def role(self, repo: RepoState, login: str) -> str:
        """`login`'s role on `repo`: the owner is admin; then what `set_permission` gave the account;
        an outsider reads; a bot is no collaborator (as GitHub answers for `github-actions[bot]`);
        anyone else writes."""
        if login == repo.owner:
            return "admin"
        uid = self.users.get(login)
        if uid is not None and uid in repo.permissions:
            return repo.permissions[uid]
        if login in repo.outsiders:
            return "read"
        return "none" if login.endswith("[bot]") else "write"

    def rename(self, old: str, new: str) -> None:
        """The account `old` becomes `new`: its id, tokens, emails and every record naming it follow;
        `old` is free for someone else to take (who then gets a new id)."""
        if old not in self.users:
            raise ValueError(f"no user {old!r}")
        taken = self.find(new)
        if taken is not None and taken != old:
            raise ValueError(f"login {new!r} is taken")
        if any(repo.owner == old for repo in self.repos.values()):
            raise ValueError(f"{old!r} owns a repository; renaming an owner is not simulated")
        uid = self.users[old]
        for repo in self.repos.values():
            for commit in repo.commits.values():  # git keeps what was written at commit time
                if commit.author == old and commit.author_email is None:
                    email = f"{uid}+{old}@{NOREPLY}"
                    commit.author_name, commit.author_email = old, email
                    commit.committer_name, commit.committer_email = old, email
            for pull in repo.pulls.values():
                pull.author = new if pull.author == old else pull.author
                pull.merged_by = new if pull.merged_by == old else pull.merged_by
            for review in repo.reviews:
                review.user = new if review.user == old else review.user
            for issue in repo.issues.values():
                issue.author = new if issue.author == old else issue.author
                issue.closed_by = new if issue.closed_by == old else issue.closed_by
            for comment in repo.comments.values():
                comment.user = new if comment.user == old else comment.user
            repo.outsiders = [new if login == old else login for login in repo.outsiders]
        self.tokens = {token: new if login == old else login for token, login in self.tokens.items()}
        del self.users[old]
        self.users[new] = uid

    def ensure_labels(self, repo: RepoState, names: list[str]) -> None:
        for name in names:
            if name not in repo.labels:
                repo.labels[name] = LabelState(id=self.new_id(), name=name)

    def create_issue(
        self, repo: RepoState, author: str, title: str, body: str | None, labels: list[str], *, now: str
    ) -> IssueState:
        self.ensure_labels(repo, labels)
        issue = IssueState(
            number=repo.take_number(), id=self.new_id(), title=title, body=body,
            author=self.user(author), labels=list(dict.fromkeys(labels)), created_at=now, updated_at=now,
        )  # fmt: skip
        repo.issues[issue.number] = issue
        return issue
