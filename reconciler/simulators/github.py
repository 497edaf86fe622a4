"""A simulator of the GitHub REST API: pull requests, reviews, commits → pulls, issues, comments,
repository activity, collaborator permissions and users.

Faithful to `api.github.com` as the OpenAPI description and the REST docs have it:
- token auth: no token → 401 "Requires authentication", a wrong one → 401 "Bad credentials";
- `x-ratelimit-*` headers on every response and a primary budget (`rate_limit`, reset hourly) that
  answers 403 with `x-ratelimit-remaining: 0` when spent; secondary limits injected as faults
  (`faults.add("secondary:60")` → 403 with `retry-after: 60`; `"secondary429:5"` → 429);
- Link-header pagination (`per_page` default 30, max 100; `page` from 1) with next/last/first/prev;
- `GET /commits/{sha}/pulls` lists the merged PR that brought a commit to the default branch, or the
  open PRs that contain a commit not (yet) on it, or nothing for a direct push;
- issues and pull requests share one number space; the issue list includes pull requests (with a
  `pull_request` key), as GitHub's does;
- users are accounts with stable ids: `rename_user` moves the id to the new login and frees the old
  one; commit emails link to accounts (verified emails, `ID+login@users.noreply.github.com`), else
  the commit's `author`/`committer` is `null`;
- pushes and merges write the repository activity log (`GET /repos/{o}/{r}/activity`, cursor
  pagination), each with the account that pushed, which need not be the pull request's author.

Tests and the sandbox drive it through `create_pull`, `push`, `push_branch`, `delete_branch`,
`review`, `merge`, `direct_push`, `open_issue`, `put_file`, `rename_user`, `add_email`,
`set_permission` and `record_commit`/`record_git_commits`, and persist it with `to_json`/`from_json`.
Request handlers for other endpoints (Actions secrets; environments, rulesets and branch protection)
compose in through `extensions`: each is
consulted for a path this simulator does not route, after authentication and rate limiting.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Protocol

import httpx

from reconciler.simulators.base import json_response
from reconciler.simulators.github_facts import GitHubFacts
from reconciler.simulators.github_git import CommitReader
from reconciler.simulators.github_http import error, not_found
from reconciler.simulators.github_payloads import API, fake_sha
from reconciler.simulators.github_secrets import GitHubSecretsSimulator
from reconciler.simulators.github_settings import GitHubSettingsSimulator
from reconciler.simulators.github_state import (
    ZERO_SHA,
    CommentState,
    GitHubState,
    PullState,
    RepoState,
    ReviewState,
)

__all__ = ["API", "DEFAULT_TOKEN", "Extension", "GitHubSimulator", "GitHubState", "fake_sha"]

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


class GitHubSimulator(GitHubFacts):
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
        fresh = state is None
        if state is None:
            state = GitHubState()
            state.tokens[token] = token_user
        super().__init__(state, clock=clock)
        self.default_repository = repository
        # Actions secrets (another module); kept in memory only, like GitHub never showing a value.
        self.secrets = GitHubSecretsSimulator(repositories=(repository,))
        # Environments, rulesets and branch protection (another module), in memory too.
        self.settings = GitHubSettingsSimulator(self._default_branch_of)
        self.secrets.environment_exists = self.settings.has_environment
        self.extensions: list[Extension] = [self.secrets, self.settings]
        # Where pushed branches come from (not persisted): (branch, default branch) -> the branch's
        # commits not on the default branch, or None. `github_git.git_branches` reads a real repository,
        # so that a `git push` by the code under test is what the simulated GitHub sees.
        self.branch_source: Callable[[str, str], list[str] | None] | None = None
        if fresh:
            self.add_repo(repository)
            state.user(token_user)  # the token's account exists, as on GitHub
        else:
            self.secrets.repositories.update(state.repos)

    def _default_branch_of(self, repository: str) -> str | None:
        found = self.state.repos.get(repository.casefold())
        return found.default_branch if found is not None else None

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
                id=self.state.new_id(),
                default_branch=default_branch,
                created_at=self._now(),
            )
            self.state.repos[full_name.casefold()] = repo
            self.secrets.repositories.add(full_name.casefold())
            self.state.user(owner)
            return repo

    def add_token(self, token: str, login: str) -> None:
        with self.lock:
            self.state.tokens[token] = login
            self.state.user(login)

    def set_rate_limit(self, limit: int, *, remaining: int | None = None, reset_in: float = 3600) -> None:
        """Configure the primary budget: `limit` per window, `remaining` left, resetting in `reset_in` s."""
        with self.lock:
            self.state.rate_limit = limit
            self.state.rate_used = limit - (limit if remaining is None else remaining)
            self.state.rate_reset = int(self.clock() + reset_in)

    def commit(self, sha: str, *, author: str = "", message: str = "", repo: str | None = None) -> None:
        """Make a commit known (without putting it on any branch), made as `author` (default: the
        owner) with their name and noreply email; a commit already known is left as it is."""
        with self.lock:
            r = self.repo(repo)
            if sha not in r.commits:
                r.commits[sha] = self.new_commit(r, sha, author or r.owner, message or f"commit {sha[:7]}")

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
        pusher: str | None = None,
        repo: str | None = None,
    ) -> int:
        """Open a pull request whose commits are `commits` (ending with `head_sha`); returns its number.

        Unless its head branch already has activity, `pusher` (default: the author) created and pushed
        it first: a branch_creation and a push on the head ref."""
        with self.lock:
            r = self.repo(repo)
            shas = list(commits or [])
            if not shas or shas[-1] != head_sha:
                shas.append(head_sha)
            for sha in shas:
                self.commit(sha, author=author, repo=repo)
            number = r.take_number()
            now = self._now()
            p = PullState(
                number=number, id=self.state.new_id(), title=title, body=body,
                author=self.state.user(author), head_ref=head_ref or f"{author}/change-{number}",
                base_ref=base, head_sha=head_sha,
                base_sha=r.default_branch_shas[-1] if r.default_branch_shas else fake_sha(f"base:{number}"),
                commits=shas, draft=draft, created_at=now, updated_at=now,
            )  # fmt: skip
            r.pulls[number] = p
            if self.branch_head(r, p.head_ref) is None:
                self.record_branch_push(r, p.head_ref, p.base_sha, shas, pusher or author)
            return number

    def push(
        self,
        pull: int,
        sha: str,
        *,
        force: bool = False,
        commits: list[str] | None = None,
        author: str | None = None,
        pusher: str | None = None,
        repo: str | None = None,
    ) -> None:
        """`pusher` (default: the pull request's author) pushes to its head branch: `commits` (default
        just `sha`, made as `author`, default the pusher) on top, or with `force=True` instead of what
        was there (a force_push). The pull request follows its new head, `sha`."""
        with self.lock:
            r = self.repo(repo)
            p = r.pulls[pull]
            if p.state != "open":
                raise ValueError(f"pull request #{pull} is {p.state}; cannot push to it")
            who = pusher or p.author
            shas = list(commits or [])
            if not shas or shas[-1] != sha:
                shas.append(sha)
            for each in shas:
                self.commit(each, author=author or who, repo=repo)
            before = p.head_sha
            p.commits = shas if force else [*p.commits, *shas]
            p.head_sha = sha
            p.updated_at = self._now()
            self.record_activity(r, p.head_ref, "force_push" if force else "push", before, sha, who)

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
            review_id = self.state.new_id()
            r.reviews.append(
                ReviewState(
                    id=review_id, pull=pull, user=self.state.user(reviewer), state=state,
                    commit_id=commit_id or p.head_sha, body=body,
                    submitted_at=None if state == "PENDING" else self._now(),
                )
            )  # fmt: skip
            return review_id

    def merge(
        self,
        pull: int,
        merge_commit_sha: str,
        *,
        merged_by: str | None = None,
        method: str = "merge",
        landed: list[str] | None = None,
        repo: str | None = None,
    ) -> None:
        """Merge as GitHub's three methods do: `merge` (the PR's commits and a merge commit land),
        `squash` (one new commit lands), `rebase` (`landed`, new commits, land; the last one is the
        `merge_commit_sha`, "the commit that the base branch was updated to")."""
        if method not in ("merge", "squash", "rebase"):
            raise ValueError(f"unknown merge method {method!r}")
        with self.lock:
            r = self.repo(repo)
            p = r.pulls[pull]
            if p.merged or p.state != "open":
                raise ValueError(f"pull request #{pull} is not open")
            now = self._now()
            if method == "rebase":
                onto = list(landed or [merge_commit_sha])
                if onto[-1] != merge_commit_sha:
                    onto.append(merge_commit_sha)
            elif method == "squash":
                onto = [merge_commit_sha]
            else:
                onto = [*p.commits, merge_commit_sha]
            for sha in onto:
                self.web_commit(sha, merged_by or p.author, f"Merge pull request #{pull}", repo=repo)
            p.state, p.merged, p.merged_at, p.closed_at, p.updated_at = "closed", True, now, now, now
            p.merged_by = self.state.user(merged_by or r.owner)
            p.merge_commit_sha = merge_commit_sha
            p.merge_method = method
            p.landed = onto
            before = self.branch_head(r, p.base_ref) or self._base_head(r, p)
            if p.base_ref == r.default_branch:
                for sha in onto:
                    if sha not in r.default_branch_shas:
                        r.default_branch_shas.append(sha)
            self.record_activity(r, p.base_ref, "pr_merge", before, merge_commit_sha, p.merged_by)

    def _base_head(self, r: RepoState, p: PullState) -> str:
        if p.base_ref == r.default_branch and r.default_branch_shas:
            return r.default_branch_shas[-1]
        return p.base_sha

    def outsider(self, login: str, *, repo: str | None = None) -> None:
        """A user without write access: their reviews carry author_association CONTRIBUTOR."""
        with self.lock:
            r = self.repo(repo)
            if login not in r.outsiders:
                r.outsiders.append(self.state.user(login))

    def close_pull(self, pull: int, *, repo: str | None = None) -> None:
        with self.lock:
            p = self.repo(repo).pulls[pull]
            now = self._now()
            p.state, p.closed_at, p.updated_at = "closed", now, now

    def direct_push(
        self, sha: str, *, author: str = "", pusher: str | None = None, repo: str | None = None
    ) -> None:
        """A commit pushed straight to the default branch by `pusher` (default: the author, else the
        owner): no pull request is associated with it."""
        with self.lock:
            r = self.repo(repo)
            self.commit(sha, author=author, repo=repo)
            before = self.branch_head(r, r.default_branch) or (
                r.default_branch_shas[-1] if r.default_branch_shas else ZERO_SHA
            )
            if sha not in r.default_branch_shas:
                r.default_branch_shas.append(sha)
            self.record_activity(r, r.default_branch, "push", before, sha, pusher or author or r.owner)

    def open_issue(
        self, title: str, body: str = "", labels: list[str] | None = None, *, author: str = "",
        repo: str | None = None,
    ) -> int:  # fmt: skip
        with self.lock:
            r = self.repo(repo)
            return self.state.create_issue(
                r, author or r.owner, title, body, labels or [], now=self._now()
            ).number

    def push_branch(
        self, branch: str, commits: list[str], *, pusher: str | None = None, repo: str | None = None
    ) -> None:
        """A `git push` of `branch` whose commits not on the default branch are `commits` (oldest
        first): as on GitHub, an open pull request from that branch follows its new head. `pusher`
        defaults to the author of the open pull request from the branch, else the owner; the activity
        log gets a branch_creation and a push for a new branch, a push or a force_push otherwise."""
        with self.lock:
            r = self.repo(repo)
            r.branches[branch] = list(commits)
            opened = [p for p in r.pulls.values() if p.state == "open" and p.head_ref == branch]
            for p in opened:
                if commits and p.head_sha != commits[-1]:
                    for sha in commits:
                        self.commit(sha, author=p.author, repo=repo)
                    p.commits, p.head_sha, p.updated_at = list(commits), commits[-1], self._now()
            base = r.default_branch_shas[-1] if r.default_branch_shas else fake_sha(f"base:{branch}")
            who = pusher or (opened[0].author if opened else r.owner)
            self.record_branch_push(r, branch, base, list(commits), who)

    def put_file(self, path: str, text: str, *, repo: str | None = None) -> None:
        with self.lock:
            self.repo(repo).files[path.strip("/")] = text

    def comments_on(self, number: int, *, repo: str | None = None) -> list[CommentState]:
        return self.repo(repo).comments_on(number)

    # ------------------------------------------------------------ request handling

    def branch_commits(self, repo: RepoState, branch: str) -> list[str] | None:
        if self.branch_source is not None:
            found = self.branch_source(branch, repo.default_branch)
            if found is not None and found != repo.branches.get(branch):
                if isinstance(self.branch_source, CommitReader):  # names, emails, messages from git
                    new = [sha for sha in found if sha not in repo.commits]
                    self.record_git(self.branch_source.commits(new), repo=repo.full_name)
                self.push_branch(branch, found, repo=repo.full_name)
        return repo.branches.get(branch)

    def _follow_pushes(self) -> None:
        """Open pull requests follow their head branch (a force-push moves the head)."""
        if self.branch_source is None:
            return
        for repo in self.state.repos.values():
            for branch in {p.head_ref for p in repo.pulls.values() if p.state == "open"}:
                self.branch_commits(repo, branch)

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self._follow_pushes()
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
            return error(int(kind), messages.get(int(kind), "Error"))
        return None

    def route(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if not auth:
            return error(401, "Requires authentication", self._rate_headers(authenticated=False))
        login = self.state.tokens.get(token) if scheme.lower() in ("bearer", "token") else None
        if login is None:
            return error(401, "Bad credentials", self._rate_headers(authenticated=False))
        limited = self._spend()
        if limited is not None:
            return limited
        user_route = self._match_users(request)
        if user_route is not None:
            fn, params = user_route
            return fn(request, **params)
        matched = self._match(request)
        if matched is not None:
            fn, params = matched
            repo = self.state.repos.get(f"{params.pop('owner')}/{params.pop('repo')}".casefold())
            if repo is None:
                return not_found()
            return fn(request, repo, login, **params)
        parts = request.url.path.strip("/").split("/")
        if request.method == "GET" and len(parts) > 4 and parts[0] == "repos" and parts[3] == "contents":
            repo = self.state.repos.get(f"{parts[1]}/{parts[2]}".casefold())
            return self._get_content(request, repo, "/".join(parts[4:])) if repo else not_found()
        for extension in self.extensions:
            response = extension.handle(request)
            if response is not None:
                return response
        return not_found()

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
            return error(
                403,
                "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, "
                "please include the request ID SIM.",
                self._rate_headers(authenticated=True),
                docs=RATE_DOCS,
            )
        self.state.rate_used += 1
        return None
