"""The GitHub simulator's state: pydantic models persisted whole by `GitHubSimulator.to_json`.

Besides the records, the state hands out ids (one counter, as GitHub's ids are global), registers
users on first sight, and numbers issues and pull requests in one space per repository.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field


def iso(epoch: float) -> str:
    """GitHub's timestamp format, to the second: `2026-01-05T09:00:00Z`."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CommitState(BaseModel):
    sha: str
    author: str
    message: str
    date: str


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
