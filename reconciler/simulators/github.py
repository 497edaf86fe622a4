"""A simulator of the GitHub REST API: pull requests, reviews, commits → pulls, issues and comments.

Faithful to `api.github.com` as the OpenAPI description and the REST docs have it:
- token auth: no token → 401 "Requires authentication", a wrong one → 401 "Bad credentials";
- `x-ratelimit-*` headers on every response and a primary budget (`rate_limit`, reset hourly) that
  answers 403 with `x-ratelimit-remaining: 0` when spent; secondary limits injected as faults
  (`faults.add("secondary:60")` → 403 with `retry-after: 60`; `"secondary429:5"` → 429);
- Link-header pagination (`per_page` default 30, max 100; `page` from 1) with next/last/first/prev;
- `GET /commits/{sha}/pulls` lists the merged PR that brought a commit to the default branch, or the
  open PRs that contain a commit not (yet) on it, or nothing for a direct push;
- issues and pull requests share one number space; the issue list includes pull requests (with a
  `pull_request` key), as GitHub's does.

Tests and the sandbox drive it through `create_pull`, `push`, `review`, `merge`, `direct_push`,
`open_issue` and `put_file`, and persist it with `to_json`/`from_json`. Request handlers for other
endpoints (Actions secrets) compose in through `extensions`: each is consulted for a path this
simulator does not route, after authentication and rate limiting.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, Field

from reconciler.simulators.base import SimulatorBase, json_response, route_table
from reconciler.simulators.github_secrets import GitHubSecretsSimulator

API = "https://api.github.com"
WEB = "https://github.com"
DOCS = "https://docs.github.com/rest"
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
SECONDARY_DOCS = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits"
)
API_VERSION = "2022-11-28"
DEFAULT_TOKEN = "ghs_simulatortoken000000000000000000000"  # a fake, for the sandbox
DEFAULT_BOT = "github-actions[bot]"
REVIEW_STATES = frozenset({"APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING"})


class Extension(Protocol):
    """Another simulator part (e.g. Actions secrets): a response for its paths, else None."""

    def handle(self, request: httpx.Request) -> httpx.Response | None: ...


# ---------------------------------------------------------------- state (persisted with to_json)


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

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class GitHubState(BaseModel):
    repos: dict[str, RepoState] = Field(default_factory=dict)  # "owner/name" (casefolded) -> repo
    users: dict[str, int] = Field(default_factory=dict)  # login -> id
    tokens: dict[str, str] = Field(default_factory=dict)  # token -> login
    next_id: int = 1000
    rate_limit: int = 5000
    rate_used: int = 0
    rate_reset: int = 0  # epoch seconds when the current window ends


# ---------------------------------------------------------------- helpers


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"{kind}:{ident}".encode()).decode().rstrip("=")


def _error(
    status: int, message: str, headers: dict[str, str] | None = None, *, docs: str = DOCS
) -> httpx.Response:
    return json_response(
        status, {"message": message, "documentation_url": docs, "status": str(status)}, headers
    )


def _not_found() -> httpx.Response:
    return _error(404, "Not Found")


def _validation(message: str, resource: str, field: str, code: str = "missing_field") -> httpx.Response:
    return json_response(
        422,
        {
            "message": message,
            "errors": [{"resource": resource, "field": field, "code": code}],
            "documentation_url": DOCS,
            "status": "422",
        },
    )


def _json_body(request: httpx.Request) -> dict[str, Any] | None:
    try:
        data = json.loads(request.content or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def fake_sha(text: str) -> str:
    """A stable 40-hex sha for a label (for tests and the demo)."""
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


Route = Callable[..., httpx.Response]


class GitHubSimulator(SimulatorBase):
    """The GitHub REST API for one or more repositories, in memory."""

    def __init__(
        self,
        repository: str = "harborbuild/access",
        *,
        token: str = DEFAULT_TOKEN,
        token_user: str = DEFAULT_BOT,
        clock: Callable[[], float] = time.time,
        state: GitHubState | None = None,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.default_repository = repository
        # Actions secrets (another module); kept in memory only, like GitHub never showing a value.
        self.secrets = GitHubSecretsSimulator(repositories=(repository,))
        self.extensions: list[Extension] = [self.secrets]
        if state is None:
            state = GitHubState()
            state.tokens[token] = token_user
            self.state = state
            self.add_repo(repository)
        else:
            self.state = state
            self.secrets.repositories.update(state.repos)
        self._match = route_table(self._routes())

    # ------------------------------------------------------------ persistence

    def to_json(self) -> str:
        with self.lock:
            return json.dumps(
                {"default_repository": self.default_repository, "state": self.state.model_dump(mode="json")},
                indent=1,
                sort_keys=True,
            )

    @classmethod
    def from_json(cls, text: str, *, clock: Callable[[], float] = time.time) -> GitHubSimulator:
        data = json.loads(text)
        state = GitHubState.model_validate(data["state"])
        return cls(data["default_repository"], clock=clock, state=state)

    # ------------------------------------------------------------ driver API (tests, sandbox, demo)

    def add_repo(self, full_name: str, *, default_branch: str = "main") -> RepoState:
        owner, _, name = full_name.partition("/")
        with self.lock:
            repo = RepoState(
                owner=owner,
                name=name,
                id=self._new_id(),
                default_branch=default_branch,
                created_at=self._now(),
            )
            self.state.repos[full_name.casefold()] = repo
            self.secrets.repositories.add(full_name.casefold())
            self._user(owner)
            return repo

    def add_token(self, token: str, login: str) -> None:
        with self.lock:
            self.state.tokens[token] = login
            self._user(login)

    def set_rate_limit(self, limit: int, *, remaining: int | None = None, reset_in: float = 3600) -> None:
        """Configure the primary budget: `limit` per window, `remaining` left, resetting in `reset_in` s."""
        with self.lock:
            self.state.rate_limit = limit
            self.state.rate_used = limit - (limit if remaining is None else remaining)
            self.state.rate_reset = int(self.clock() + reset_in)

    def repo(self, full_name: str | None = None) -> RepoState:
        return self.state.repos[(full_name or self.default_repository).casefold()]

    def commit(self, sha: str, *, author: str = "", message: str = "", repo: str | None = None) -> None:
        """Make a commit known (without putting it on any branch)."""
        with self.lock:
            r = self.repo(repo)
            if sha not in r.commits:
                r.commits[sha] = CommitState(
                    sha=sha,
                    author=author or r.owner,
                    message=message or f"commit {sha[:7]}",
                    date=self._now(),
                )
                if author:
                    self._user(author)

    def create_pull(
        self,
        author: str,
        head_sha: str,
        base: str = "main",
        title: str = "Change access",
        commits: list[str] | None = None,
        *,
        body: str | None = "",
        head_ref: str | None = None,
        draft: bool = False,
        repo: str | None = None,
    ) -> int:
        """Open a pull request whose commits are `commits` (ending with `head_sha`); returns its number."""
        with self.lock:
            r = self.repo(repo)
            shas = list(commits or [])
            if not shas or shas[-1] != head_sha:
                shas.append(head_sha)
            for sha in shas:
                self.commit(sha, author=author, repo=repo)
            number = self._next_number(r)
            now = self._now()
            r.pulls[number] = PullState(
                number=number, id=self._new_id(), title=title, body=body, author=self._user(author),
                head_ref=head_ref or f"{author}/change-{number}", base_ref=base, head_sha=head_sha,
                base_sha=r.default_branch_shas[-1] if r.default_branch_shas else fake_sha(f"base:{number}"),
                commits=shas, draft=draft, created_at=now, updated_at=now,
            )  # fmt: skip
            return number

    def push(self, pull: int, sha: str, *, repo: str | None = None) -> None:
        """Push one more commit to the pull request's head branch."""
        with self.lock:
            r = self.repo(repo)
            p = r.pulls[pull]
            if p.state != "open":
                raise ValueError(f"pull request #{pull} is {p.state}; cannot push to it")
            self.commit(sha, author=p.author, repo=repo)
            p.commits.append(sha)
            p.head_sha = sha
            p.updated_at = self._now()

    def review(
        self,
        pull: int,
        reviewer: str,
        state: str = "APPROVED",
        commit_id: str | None = None,
        *,
        body: str = "",
        force: bool = False,
        repo: str | None = None,
    ) -> int:
        """Submit a review on the current head (or `commit_id`); returns the review id.

        GitHub refuses an author's approval of their own pull request; `force=True` records one
        anyway so that tests can check a gate does not trust GitHub alone.
        """
        if state not in REVIEW_STATES:
            raise ValueError(f"unknown review state {state!r}")
        with self.lock:
            r = self.repo(repo)
            p = r.pulls[pull]
            if state in ("APPROVED", "CHANGES_REQUESTED") and reviewer == p.author and not force:
                raise ValueError("Can not approve your own pull request")
            review_id = self._new_id()
            r.reviews.append(
                ReviewState(
                    id=review_id, pull=pull, user=self._user(reviewer), state=state,
                    commit_id=commit_id or p.head_sha, body=body,
                    submitted_at=None if state == "PENDING" else self._now(),
                )
            )  # fmt: skip
            return review_id

    def merge(
        self, pull: int, merge_commit_sha: str, *, merged_by: str | None = None, repo: str | None = None
    ) -> None:
        """Merge: the PR's commits and the merge commit land on the base branch."""
        with self.lock:
            r = self.repo(repo)
            p = r.pulls[pull]
            if p.merged or p.state != "open":
                raise ValueError(f"pull request #{pull} is not open")
            now = self._now()
            self.commit(merge_commit_sha, author=merged_by or p.author, message=f"Merge pull request #{pull}",
                        repo=repo)  # fmt: skip
            p.state, p.merged, p.merged_at, p.closed_at, p.updated_at = "closed", True, now, now, now
            p.merged_by = self._user(merged_by or r.owner)
            p.merge_commit_sha = merge_commit_sha
            if p.base_ref == r.default_branch:
                for sha in [*p.commits, merge_commit_sha]:
                    if sha not in r.default_branch_shas:
                        r.default_branch_shas.append(sha)

    def close_pull(self, pull: int, *, repo: str | None = None) -> None:
        with self.lock:
            p = self.repo(repo).pulls[pull]
            now = self._now()
            p.state, p.closed_at, p.updated_at = "closed", now, now

    def direct_push(self, sha: str, *, author: str = "", repo: str | None = None) -> None:
        """A commit pushed straight to the default branch: no pull request is associated with it."""
        with self.lock:
            r = self.repo(repo)
            self.commit(sha, author=author, repo=repo)
            if sha not in r.default_branch_shas:
                r.default_branch_shas.append(sha)

    def open_issue(
        self, title: str, body: str = "", labels: list[str] | None = None, *, author: str = "",
        repo: str | None = None,
    ) -> int:  # fmt: skip
        with self.lock:
            r = self.repo(repo)
            return self._create_issue(r, author or r.owner, title, body, labels or []).number

    def put_file(self, path: str, text: str, *, repo: str | None = None) -> None:
        with self.lock:
            self.repo(repo).files[path.strip("/")] = text

    def comments_on(self, number: int, *, repo: str | None = None) -> list[CommentState]:
        r = self.repo(repo)
        return [c for c in r.comments.values() if c.issue == number]

    # ------------------------------------------------------------ request handling

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            response = super().handle(request)
            if "x-ratelimit-limit" not in response.headers:
                response.headers.update(self._rate_headers(authenticated=True))
            response.headers.setdefault("x-github-api-version-selected", API_VERSION)
            response.headers.setdefault("x-github-request-id", f"SIM:{self.request_count:08X}")
            return response

    def fault_response(self, kind: str, request: httpx.Request) -> httpx.Response | None:
        if kind.startswith("secondary"):
            name, _, seconds = kind.partition(":")
            status = 429 if name == "secondary429" else 403
            headers = self._rate_headers(authenticated=True) | {"retry-after": seconds or "60"}
            return json_response(
                status,
                {
                    "message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                    "before you try again. If you reach out to GitHub Support for help, please include "
                    "the request ID SIM.",
                    "documentation_url": SECONDARY_DOCS,
                    "status": str(status),
                },
                headers,
            )
        if kind.isdigit():
            messages = {500: "Server Error", 502: "Server Error", 503: "Service Unavailable"}
            return _error(int(kind), messages.get(int(kind), "Error"))
        return None

    def route(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if not auth:
            return _error(401, "Requires authentication", self._rate_headers(authenticated=False))
        login = self.state.tokens.get(token) if scheme.lower() in ("bearer", "token") else None
        if login is None:
            return _error(401, "Bad credentials", self._rate_headers(authenticated=False))
        limited = self._spend()
        if limited is not None:
            return limited
        matched = self._match(request)
        if matched is not None:
            fn, params = matched
            repo = self.state.repos.get(f"{params.pop('owner')}/{params.pop('repo')}".casefold())
            if repo is None:
                return _not_found()
            return fn(request, repo, login, **params)
        parts = request.url.path.strip("/").split("/")
        if request.method == "GET" and len(parts) > 4 and parts[0] == "repos" and parts[3] == "contents":
            repo = self.state.repos.get(f"{parts[1]}/{parts[2]}".casefold())
            return self._get_content(request, repo, "/".join(parts[4:])) if repo else _not_found()
        for extension in self.extensions:
            response = extension.handle(request)
            if response is not None:
                return response
        return _not_found()

    def _routes(self) -> dict[tuple[str, str], Route]:
        base = "/repos/{owner}/{repo}"
        return {
            ("GET", f"{base}/pulls"): self._list_pulls,
            ("GET", f"{base}/pulls/{{number}}"): self._get_pull,
            ("GET", f"{base}/pulls/{{number}}/commits"): self._list_pull_commits,
            ("GET", f"{base}/pulls/{{number}}/merge"): self._check_merged,
            ("GET", f"{base}/pulls/{{number}}/reviews"): self._list_reviews,
            ("GET", f"{base}/commits/{{sha}}/pulls"): self._pulls_for_commit,
            ("GET", f"{base}/issues"): self._list_issues,
            ("POST", f"{base}/issues"): self._post_issue,
            ("GET", f"{base}/issues/comments/{{comment_id}}"): self._get_comment,
            ("PATCH", f"{base}/issues/comments/{{comment_id}}"): self._patch_comment,
            ("DELETE", f"{base}/issues/comments/{{comment_id}}"): self._delete_comment,
            ("GET", f"{base}/issues/{{number}}"): self._get_issue,
            ("PATCH", f"{base}/issues/{{number}}"): self._patch_issue,
            ("GET", f"{base}/issues/{{number}}/comments"): self._list_comments,
            ("POST", f"{base}/issues/{{number}}/comments"): self._post_comment,
        }

    # ------------------------------------------------------------ rate limits

    def _window(self) -> None:
        now = self.clock()
        if now >= self.state.rate_reset:
            self.state.rate_used = 0
            self.state.rate_reset = int(now) + 3600

    def _rate_headers(self, *, authenticated: bool) -> dict[str, str]:
        self._window()
        limit = self.state.rate_limit if authenticated else 60
        used = min(self.state.rate_used, limit) if authenticated else 1
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(limit - used),
            "x-ratelimit-reset": str(self.state.rate_reset),
            "x-ratelimit-used": str(used),
            "x-ratelimit-resource": "core",
        }

    def _spend(self) -> httpx.Response | None:
        self._window()
        if self.state.rate_used >= self.state.rate_limit:
            return _error(
                403,
                "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, "
                "please include the request ID SIM.",
                self._rate_headers(authenticated=True),
                docs=RATE_DOCS,
            )
        self.state.rate_used += 1
        return None

    # ------------------------------------------------------------ state helpers

    def _now(self) -> str:
        return _iso(self.clock())

    def _new_id(self) -> int:
        self.state.next_id += 1
        return self.state.next_id

    def _user(self, login: str) -> str:
        if login not in self.state.users:
            self.state.users[login] = self._new_id()
        return login

    def _next_number(self, repo: RepoState) -> int:
        number = repo.next_number
        repo.next_number += 1
        return number

    def _create_issue(self, repo: RepoState, author: str, title: str, body: str | None,
                      labels: list[str]) -> IssueState:  # fmt: skip
        now = self._now()
        for name in labels:
            if name not in repo.labels:
                repo.labels[name] = LabelState(id=self._new_id(), name=name)
        issue = IssueState(
            number=self._next_number(repo), id=self._new_id(), title=title, body=body,
            author=self._user(author), labels=list(dict.fromkeys(labels)), created_at=now, updated_at=now,
        )  # fmt: skip
        repo.issues[issue.number] = issue
        return issue

    def _association(self, repo: RepoState, login: str) -> str:
        return "OWNER" if login == repo.owner else "MEMBER"

    # ------------------------------------------------------------ pagination

    def _page(self, request: httpx.Request, items: list[dict[str, Any]]) -> httpx.Response:
        query = dict(request.url.params)
        per_page = max(1, min(100, _int(query.get("per_page"), 30)))
        page = max(1, _int(query.get("page"), 1))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links: list[str] = []

        def link(n: int, rel: str) -> None:
            params = {**query, "per_page": str(per_page), "page": str(n)}
            url = request.url.copy_with(query=urlencode(params).encode())
            links.append(f'<{url}>; rel="{rel}"')

        if page > 1:
            link(page - 1, "prev")
        if page < last:
            link(page + 1, "next")
            link(last, "last")
        if page > 1:
            link(1, "first")
        return json_response(200, chunk, {"link": ", ".join(links)} if links else None)

    # ------------------------------------------------------------ payloads

    def _user_json(self, login: str) -> dict[str, Any]:
        uid = self.state.users.get(login) or self.state.users.setdefault(login, self._new_id())
        url = f"{API}/users/{login}"
        return {
            "login": login, "id": uid, "node_id": _node_id("User", uid),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4", "gravatar_id": "",
            "url": url, "html_url": f"{WEB}/{login}", "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}", "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs", "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}", "received_events_url": f"{url}/received_events",
            "type": "Bot" if login.endswith("[bot]") else "User", "site_admin": False,
            "user_view_type": "public",
        }  # fmt: skip

    def _repo_json(self, repo: RepoState) -> dict[str, Any]:
        full = repo.full_name
        url = f"{API}/repos/{full}"
        templated = {
            "archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}",
            "blobs_url": "/git/blobs{/sha}", "branches_url": "/branches{/branch}",
            "collaborators_url": "/collaborators{/collaborator}", "comments_url": "/comments{/number}",
            "commits_url": "/commits{/sha}", "compare_url": "/compare/{base}...{head}",
            "contents_url": "/contents/{+path}", "contributors_url": "/contributors",
            "deployments_url": "/deployments", "downloads_url": "/downloads", "events_url": "/events",
            "forks_url": "/forks", "git_commits_url": "/git/commits{/sha}", "git_refs_url": "/git/refs{/sha}",
            "git_tags_url": "/git/tags{/sha}", "hooks_url": "/hooks",
            "issue_comment_url": "/issues/comments{/number}",
            "issue_events_url": "/issues/events{/number}", "issues_url": "/issues{/number}",
            "keys_url": "/keys{/key_id}", "labels_url": "/labels{/name}", "languages_url": "/languages",
            "merges_url": "/merges", "milestones_url": "/milestones{/number}",
            "notifications_url": "/notifications{?since,all,participating}", "pulls_url": "/pulls{/number}",
            "releases_url": "/releases{/id}", "stargazers_url": "/stargazers",
            "statuses_url": "/statuses/{sha}",
            "subscribers_url": "/subscribers", "subscription_url": "/subscription", "tags_url": "/tags",
            "teams_url": "/teams", "trees_url": "/git/trees{/sha}",
        }  # fmt: skip
        open_issues = sum(1 for i in repo.issues.values() if i.state == "open") + sum(
            1 for p in repo.pulls.values() if p.state == "open"
        )
        created = repo.created_at
        return {
            "id": repo.id, "node_id": _node_id("Repository", repo.id), "name": repo.name, "full_name": full,
            "owner": self._user_json(repo.owner), "private": repo.private, "html_url": f"{WEB}/{full}",
            "description": None, "fork": False, "url": url,
            **{key: url + suffix for key, suffix in templated.items()},
            "git_url": f"git://github.com/{full}.git", "ssh_url": f"git@github.com:{full}.git",
            "clone_url": f"{WEB}/{full}.git", "svn_url": f"{WEB}/{full}", "mirror_url": None,
            "homepage": None,
            "language": "Python", "forks": 0, "forks_count": 0, "stargazers_count": 0, "watchers_count": 0,
            "watchers": 0, "size": 0, "default_branch": repo.default_branch, "open_issues": open_issues,
            "open_issues_count": open_issues, "is_template": False, "topics": [], "has_issues": True,
            "has_projects": False, "has_wiki": False, "has_pages": False, "has_downloads": True,
            "has_discussions": False, "archived": False, "disabled": False,
            "visibility": "private" if repo.private else "public", "license": None,
            "pushed_at": created, "created_at": created, "updated_at": created,
        }  # fmt: skip

    def _pull_json(self, repo: RepoState, p: PullState, *, full: bool) -> dict[str, Any]:
        full_name = repo.full_name
        url = f"{API}/repos/{full_name}/pulls/{p.number}"
        html = f"{WEB}/{full_name}/pull/{p.number}"
        issue_url = f"{API}/repos/{full_name}/issues/{p.number}"
        repo_json = self._repo_json(repo)

        def side(ref: str, sha: str) -> dict[str, Any]:
            return {"label": f"{repo.owner}:{ref}", "ref": ref, "sha": sha,
                    "user": self._user_json(repo.owner), "repo": repo_json}  # fmt: skip

        data: dict[str, Any] = {
            "url": url, "id": p.id, "node_id": _node_id("PullRequest", p.id), "html_url": html,
            "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": issue_url,
            "commits_url": f"{url}/commits", "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{API}/repos/{full_name}/pulls/comments{{/number}}",
            "comments_url": f"{issue_url}/comments",
            "statuses_url": f"{API}/repos/{full_name}/statuses/{p.head_sha}",
            "number": p.number, "state": p.state, "locked": False, "title": p.title,
            "user": self._user_json(p.author), "body": p.body, "labels": [], "milestone": None,
            "active_lock_reason": None, "created_at": p.created_at, "updated_at": p.updated_at,
            "closed_at": p.closed_at, "merged_at": p.merged_at, "merge_commit_sha": p.merge_commit_sha,
            "assignee": None, "assignees": [], "requested_reviewers": [], "requested_teams": [],
            "head": side(p.head_ref, p.head_sha), "base": side(p.base_ref, p.base_sha),
            "_links": {
                "self": {"href": url}, "html": {"href": html}, "issue": {"href": issue_url},
                "comments": {"href": f"{issue_url}/comments"}, "review_comments": {"href": f"{url}/comments"},
                "review_comment": {"href": f"{API}/repos/{full_name}/pulls/comments{{/number}}"},
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": f"{API}/repos/{full_name}/statuses/{p.head_sha}"},
            },
            "author_association": self._association(repo, p.author), "auto_merge": None, "draft": p.draft,
        }  # fmt: skip
        if full:
            data.update({
                "merged": p.merged, "mergeable": None if p.state == "closed" else True,
                "rebaseable": None if p.state == "closed" else True,
                "mergeable_state": "unknown" if p.state == "closed" else "clean",
                "merged_by": self._user_json(p.merged_by) if p.merged_by else None,
                "comments": len(self.comments_on(p.number, repo=repo.full_name)),
                "review_comments": 0, "maintainer_can_modify": False, "commits": len(p.commits),
                "additions": len(p.commits), "deletions": 0, "changed_files": 1,
            })  # fmt: skip
        return data

    def _review_json(self, repo: RepoState, r: ReviewState) -> dict[str, Any]:
        html = f"{WEB}/{repo.full_name}/pull/{r.pull}#pullrequestreview-{r.id}"
        pull_url = f"{API}/repos/{repo.full_name}/pulls/{r.pull}"
        data: dict[str, Any] = {
            "id": r.id, "node_id": _node_id("PullRequestReview", r.id), "user": self._user_json(r.user),
            "body": r.body, "state": r.state, "html_url": html, "pull_request_url": pull_url,
            "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
            "commit_id": r.commit_id, "author_association": self._association(repo, r.user),
        }  # fmt: skip
        if r.submitted_at is not None:
            data["submitted_at"] = r.submitted_at
        return data

    def _commit_json(self, repo: RepoState, sha: str, parent: str | None) -> dict[str, Any]:
        c = repo.commits.get(sha) or CommitState(sha=sha, author=repo.owner, message="", date=self._now())
        url = f"{API}/repos/{repo.full_name}/commits/{sha}"
        person = {"name": c.author, "email": f"{c.author}@users.noreply.github.com", "date": c.date}
        tree = fake_sha(f"tree:{sha}")
        return {
            "url": url, "sha": sha, "node_id": _node_id("Commit", int(sha[:8], 16)),
            "html_url": f"{WEB}/{repo.full_name}/commit/{sha}", "comments_url": f"{url}/comments",
            "commit": {
                "url": f"{API}/repos/{repo.full_name}/git/commits/{sha}", "author": person,
                "committer": person, "message": c.message, "comment_count": 0,
                "tree": {"sha": tree, "url": f"{API}/repos/{repo.full_name}/git/trees/{tree}"},
                "verification": {"verified": False, "reason": "unsigned", "payload": None,
                                 "signature": None, "verified_at": None},
            },
            "author": self._user_json(c.author), "committer": self._user_json(c.author),
            "parents": [] if parent is None else [
                {"sha": parent, "url": f"{API}/repos/{repo.full_name}/commits/{parent}",
                 "html_url": f"{WEB}/{repo.full_name}/commit/{parent}"}
            ],
        }  # fmt: skip

    def _label_json(self, repo: RepoState, name: str) -> dict[str, Any]:
        label = repo.labels[name]
        return {
            "id": label.id, "node_id": _node_id("Label", label.id),
            "url": f"{API}/repos/{repo.full_name}/labels/{name}", "name": name,
            "description": label.description, "color": label.color, "default": False,
        }  # fmt: skip

    def _issue_json(self, repo: RepoState, number: int) -> dict[str, Any]:
        url = f"{API}/repos/{repo.full_name}/issues/{number}"
        common = {
            "url": url, "repository_url": f"{API}/repos/{repo.full_name}",
            "labels_url": f"{url}/labels{{/name}}", "comments_url": f"{url}/comments",
            "events_url": f"{url}/events", "number": number, "locked": False, "assignee": None,
            "assignees": [], "milestone": None,
            "comments": len(self.comments_on(number, repo=repo.full_name)),
            "active_lock_reason": None,
        }  # fmt: skip
        if number in repo.pulls:
            p = repo.pulls[number]
            html = f"{WEB}/{repo.full_name}/pull/{number}"
            return common | {
                "id": p.id, "node_id": _node_id("PullRequest", p.id), "html_url": html, "title": p.title,
                "body": p.body, "user": self._user_json(p.author), "labels": [], "state": p.state,
                "state_reason": None, "created_at": p.created_at, "updated_at": p.updated_at,
                "closed_at": p.closed_at, "author_association": self._association(repo, p.author),
                "draft": p.draft,
                "pull_request": {
                    "url": f"{API}/repos/{repo.full_name}/pulls/{number}", "html_url": html,
                    "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "merged_at": p.merged_at,
                },
            }  # fmt: skip
        i = repo.issues[number]
        return common | {
            "id": i.id, "node_id": _node_id("Issue", i.id),
            "html_url": f"{WEB}/{repo.full_name}/issues/{number}",
            "title": i.title, "body": i.body, "user": self._user_json(i.author),
            "labels": [self._label_json(repo, name) for name in i.labels], "state": i.state,
            "state_reason": i.state_reason, "created_at": i.created_at, "updated_at": i.updated_at,
            "closed_at": i.closed_at, "closed_by": self._user_json(i.closed_by) if i.closed_by else None,
            "author_association": self._association(repo, i.author),
        }  # fmt: skip

    def _comment_json(self, repo: RepoState, c: CommentState) -> dict[str, Any]:
        kind = "pull" if c.issue in repo.pulls else "issues"
        return {
            "id": c.id, "node_id": _node_id("IssueComment", c.id),
            "url": f"{API}/repos/{repo.full_name}/issues/comments/{c.id}",
            "html_url": f"{WEB}/{repo.full_name}/{kind}/{c.issue}#issuecomment-{c.id}",
            "body": c.body, "user": self._user_json(c.user), "created_at": c.created_at,
            "updated_at": c.updated_at, "issue_url": f"{API}/repos/{repo.full_name}/issues/{c.issue}",
            "author_association": self._association(repo, c.user), "performed_via_github_app": None,
        }  # fmt: skip

    # ------------------------------------------------------------ handlers: pulls

    def _pull(self, repo: RepoState, number: str) -> PullState | None:
        return repo.pulls.get(int(number)) if number.isdigit() else None

    def _list_pulls(self, request: httpx.Request, repo: RepoState, login: str) -> httpx.Response:
        q = request.url.params
        state = q.get("state", "open")
        pulls = [p for p in repo.pulls.values() if state == "all" or p.state == state]
        if "base" in q:
            pulls = [p for p in pulls if p.base_ref == q["base"]]
        if "head" in q:
            pulls = [p for p in pulls if f"{repo.owner}:{p.head_ref}" == q["head"]]
        key = {"updated": "updated_at"}.get(q.get("sort", "created"), "created_at")
        pulls.sort(key=lambda p: (getattr(p, key), p.number), reverse=q.get("direction", "desc") == "desc")
        return self._page(request, [self._pull_json(repo, p, full=False) for p in pulls])

    def _get_pull(self, request: httpx.Request, repo: RepoState, login: str, number: str) -> httpx.Response:
        p = self._pull(repo, number)
        return json_response(200, self._pull_json(repo, p, full=True)) if p else _not_found()

    def _list_pull_commits(self, request: httpx.Request, repo: RepoState, login: str,
                           number: str) -> httpx.Response:  # fmt: skip
        p = self._pull(repo, number)
        if p is None:
            return _not_found()
        shas = p.commits[:250]  # GitHub lists at most 250 commits of a pull request
        items = [self._commit_json(repo, sha, shas[i - 1] if i else None) for i, sha in enumerate(shas)]
        return self._page(request, items)

    def _check_merged(
        self, request: httpx.Request, repo: RepoState, login: str, number: str
    ) -> httpx.Response:
        p = self._pull(repo, number)
        return httpx.Response(204) if p and p.merged else httpx.Response(404)

    def _list_reviews(
        self, request: httpx.Request, repo: RepoState, login: str, number: str
    ) -> httpx.Response:
        p = self._pull(repo, number)
        if p is None:
            return _not_found()
        reviews = [r for r in repo.reviews if r.pull == p.number]
        return self._page(request, [self._review_json(repo, r) for r in reviews])

    def _pulls_for_commit(
        self, request: httpx.Request, repo: RepoState, login: str, sha: str
    ) -> httpx.Response:
        full = [s for s in repo.commits if len(sha) >= 7 and s.startswith(sha)]
        if not full:
            return _error(422, f"No commit found for SHA: {sha}")
        sha = full[0]
        if sha in repo.default_branch_shas:
            pulls = [
                p for p in repo.pulls.values() if p.merged and (sha in p.commits or p.merge_commit_sha == sha)
            ]
        else:
            pulls = [p for p in repo.pulls.values() if p.state == "open" and sha in p.commits]
        pulls.sort(key=lambda p: p.number, reverse=True)
        return self._page(request, [self._pull_json(repo, p, full=False) for p in pulls])

    # ------------------------------------------------------------ handlers: issues and comments

    def _list_issues(self, request: httpx.Request, repo: RepoState, login: str) -> httpx.Response:
        q = request.url.params
        state = q.get("state", "open")
        wanted = {name.strip() for name in q.get("labels", "").split(",") if name.strip()}
        numbers: list[tuple[str, int]] = []
        for number in [*repo.issues, *repo.pulls]:
            item_state = repo.issues[number].state if number in repo.issues else repo.pulls[number].state
            labels = set(repo.issues[number].labels) if number in repo.issues else set()
            if (state == "all" or item_state == state) and wanted <= labels:
                created = (
                    repo.issues[number].created_at if number in repo.issues else repo.pulls[number].created_at
                )
                numbers.append((created, number))
        numbers.sort(reverse=q.get("direction", "desc") == "desc")
        return self._page(request, [self._issue_json(repo, n) for _, n in numbers])

    def _post_issue(self, request: httpx.Request, repo: RepoState, login: str) -> httpx.Response:
        body = _json_body(request)
        if body is None:
            return _error(400, "Problems parsing JSON")
        title = body.get("title")
        if not isinstance(title, str | int) or str(title) == "":
            return _validation("Validation Failed", "Issue", "title")
        labels = [str(label) for label in body.get("labels") or []]
        issue = self._create_issue(repo, login, str(title), body.get("body"), labels)
        return json_response(201, self._issue_json(repo, issue.number))

    def _get_issue(self, request: httpx.Request, repo: RepoState, login: str, number: str) -> httpx.Response:
        n = int(number) if number.isdigit() else -1
        if n in repo.issues or n in repo.pulls:
            return json_response(200, self._issue_json(repo, n))
        return _not_found()

    def _patch_issue(
        self, request: httpx.Request, repo: RepoState, login: str, number: str
    ) -> httpx.Response:
        n = int(number) if number.isdigit() else -1
        issue = repo.issues.get(n)
        if issue is None:
            return _not_found()  # pull requests are edited through /pulls (not simulated)
        body = _json_body(request)
        if body is None:
            return _error(400, "Problems parsing JSON")
        if "title" in body:
            issue.title = str(body["title"])
        if "body" in body:
            issue.body = body["body"]
        if "labels" in body:
            names = [str(x["name"] if isinstance(x, dict) else x) for x in body["labels"] or []]
            for name in names:
                if name not in repo.labels:
                    repo.labels[name] = LabelState(id=self._new_id(), name=name)
            issue.labels = list(dict.fromkeys(names))
        if "state" in body:
            if body["state"] not in ("open", "closed"):
                return _validation("Validation Failed", "Issue", "state", "invalid")
            if body["state"] == "closed" and issue.state == "open":
                issue.closed_at, issue.closed_by = self._now(), login
                issue.state_reason = body.get("state_reason") or "completed"
            elif body["state"] == "open" and issue.state == "closed":
                issue.closed_at, issue.closed_by, issue.state_reason = None, None, "reopened"
            issue.state = body["state"]
        issue.updated_at = self._now()
        return json_response(200, self._issue_json(repo, n))

    def _list_comments(
        self, request: httpx.Request, repo: RepoState, login: str, number: str
    ) -> httpx.Response:
        n = int(number) if number.isdigit() else -1
        if n not in repo.issues and n not in repo.pulls:
            return _not_found()
        comments = sorted((c for c in repo.comments.values() if c.issue == n), key=lambda c: c.id)
        return self._page(request, [self._comment_json(repo, c) for c in comments])

    def _post_comment(
        self, request: httpx.Request, repo: RepoState, login: str, number: str
    ) -> httpx.Response:
        n = int(number) if number.isdigit() else -1
        if n not in repo.issues and n not in repo.pulls:
            return _not_found()
        body = _json_body(request)
        if body is None:
            return _error(400, "Problems parsing JSON")
        if not isinstance(body.get("body"), str) or not body["body"]:
            return _validation("Validation Failed", "IssueComment", "body")
        now = self._now()
        comment = CommentState(id=self._new_id(), issue=n, user=self._user(login), body=body["body"],
                               created_at=now, updated_at=now)  # fmt: skip
        repo.comments[comment.id] = comment
        return json_response(
            201, self._comment_json(repo, comment), {"location": self._comment_json(repo, comment)["url"]}
        )

    def _comment(self, repo: RepoState, comment_id: str) -> CommentState | None:
        return repo.comments.get(int(comment_id)) if comment_id.isdigit() else None

    def _get_comment(
        self, request: httpx.Request, repo: RepoState, login: str, comment_id: str
    ) -> httpx.Response:
        c = self._comment(repo, comment_id)
        return json_response(200, self._comment_json(repo, c)) if c else _not_found()

    def _patch_comment(self, request: httpx.Request, repo: RepoState, login: str,
                       comment_id: str) -> httpx.Response:  # fmt: skip
        c = self._comment(repo, comment_id)
        if c is None:
            return _not_found()
        body = _json_body(request)
        if body is None:
            return _error(400, "Problems parsing JSON")
        if not isinstance(body.get("body"), str) or not body["body"]:
            return _validation("Validation Failed", "IssueComment", "body")
        c.body, c.updated_at = body["body"], self._now()
        return json_response(200, self._comment_json(repo, c))

    def _delete_comment(self, request: httpx.Request, repo: RepoState, login: str,
                        comment_id: str) -> httpx.Response:  # fmt: skip
        c = self._comment(repo, comment_id)
        if c is None:
            return _not_found()
        del repo.comments[c.id]
        return httpx.Response(204)

    # ------------------------------------------------------------ handlers: contents

    def _get_content(self, request: httpx.Request, repo: RepoState, path: str) -> httpx.Response:
        text = repo.files.get(path.strip("/"))
        if text is None:
            return _not_found()
        raw = text.encode()
        sha = hashlib.sha1(b"blob %d\0" % len(raw) + raw, usedforsecurity=False).hexdigest()
        url = f"{API}/repos/{repo.full_name}/contents/{path}?ref={repo.default_branch}"
        git_url = f"{API}/repos/{repo.full_name}/git/blobs/{sha}"
        html_url = f"{WEB}/{repo.full_name}/blob/{repo.default_branch}/{path}"
        encoded = base64.encodebytes(raw).decode()
        return json_response(200, {
            "type": "file", "encoding": "base64", "size": len(raw), "name": path.rsplit("/", 1)[-1],
            "path": path, "content": encoded, "sha": sha, "url": url, "git_url": git_url,
            "html_url": html_url,
            "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{repo.default_branch}/{path}",
            "_links": {"git": git_url, "self": url, "html": html_url},
        })  # fmt: skip


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
