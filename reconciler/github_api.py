"""The GitHub REST edge: pull requests, reviews, commits → pulls, issue comments, issues, contents,
and the facts an approval needs about people: users by login (with their stable ids), a
repository's activity (who pushed or merged what onto which ref), collaborator roles, and each
commit's git author and committer with the accounts GitHub links them to.

Configured from an env mapping the way GitHub Actions sets it: `GITHUB_API_URL` (default
https://api.github.com), `GITHUB_REPOSITORY` (owner/name) and `GITHUB_TOKEN`. The token lives in a
`SecretStr` and is sent only in the Authorization header, only to `GITHUB_API_URL`'s origin (a
pagination link to another host is refused). Lists are paginated by `Link: rel="next"` with
`per_page=100`. Rate limits are waited out: the primary limit (`x-ratelimit-remaining: 0` until
`x-ratelimit-reset`) and secondary limits (403/429 with `retry-after`, else a minute), through
`send_with_retries` and the policy's injectable sleep; a wait longer than `max_rate_limit_wait`
fails at once with the reset time instead. Errors are `GitHubError` (an `AccessError`) with a
message naming the request and what to check, never the token. A successful answer that is not JSON,
or of the wrong shape (not a list, a pull request without its number), is an `UnexpectedAnswer`
(`reconciler.connectors.answers`, the one place every vendor's garbage is described); a fact of the
wrong type inside one (an id that is not a number, a login that is not a string) reads as absent
(None, or "" for text), so that a caller can refuse what it cannot establish instead of crashing.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from reconciler import github_shapes as shapes
from reconciler.connectors.answers import Expected, conform, read, shape_problem, unexpected
from reconciler.connectors.http import (
    TRANSIENT_ERRORS,
    Endpoint,
    RequestStats,
    RetryPolicy,
    build_client,
    send_with_retries,
)
from reconciler.errors import ConfigError, VendorError
from reconciler.render.markdown import COMMENT_MARKER

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100
PLAN_COMMENT_MARKER = COMMENT_MARKER  # the one marker of the plan comment, written by render.markdown
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


# ---------------------------------------------------------------- errors


class GitHubError(VendorError):
    """The GitHub API answered with an error (message is user-facing and secret-free)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__("GitHub", message, status=status)


class GitHubAuthError(GitHubError):
    """401: the token is missing, wrong or expired."""


class GitHubPermissionError(GitHubError):
    """403 that is not a rate limit: the token may not do this."""


class GitHubNotFound(GitHubError):
    """404: no such repository, pull request, issue or comment (or the token cannot see it)."""


class GitHubRateLimited(GitHubError):
    """A rate limit that could not be waited out."""


# ---------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class GitHubSettings:
    api_url: str
    owner: str
    repo: str
    token: SecretStr

    @property
    def repository(self) -> str:
        return f"{self.owner}/{self.repo}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitHubSettings:
        api_url = (env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        if not api_url.startswith(("https://", "http://")):
            raise ConfigError(f"GITHUB_API_URL must be an http(s) URL, got {api_url!r}")
        repository = env.get("GITHUB_REPOSITORY", "").strip()
        if not repository:
            raise ConfigError("GITHUB_REPOSITORY is not set; set it to owner/name, as GitHub Actions does")
        if not _REPOSITORY.match(repository):
            raise ConfigError(f"GITHUB_REPOSITORY must look like owner/name, got {repository!r}")
        token = env.get("GITHUB_TOKEN", "").strip()
        if not token:
            raise ConfigError(
                "GITHUB_TOKEN is not set; in a workflow, give it with `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`"
            )
        owner, name = repository.split("/")
        return cls(api_url=api_url, owner=owner, repo=name, token=SecretStr(token))


# ---------------------------------------------------------------- typed results


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _login(user: Any) -> str | None:
    return _str(_obj(user).get("login")) or None


def _user_id(user: Any) -> int | None:
    return _int(_obj(user).get("id"))


class _FromApi(Protocol):
    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self: ...


R = TypeVar("R", bound=_FromApi)


def _parse(kind: type[R], expected: Expected[Any], data: Any, response: httpx.Response) -> R:
    """`kind.from_api(data)` once `data` has what `expected` requires, else an `UnexpectedAnswer`."""
    return kind.from_api(conform(response, data, expected))


def _reader(kind: type[R], expected: Expected[Any]) -> Callable[[Any, httpx.Response], R]:
    return lambda item, response: _parse(kind, expected, item, response)


def _commit(item: Any, _: httpx.Response) -> Commit:
    return Commit.from_api(_obj(item))


def _activity(item: Any, _: httpx.Response) -> Activity:
    return Activity.from_api(item)


@dataclass(frozen=True, slots=True)
class GitHubUser:
    """An account: `id` never changes; `login` can (a rename), and a freed login can be taken."""

    id: int
    login: str
    type: str  # User | Bot | Organization ("" when GitHub did not say)

    @classmethod
    def from_api(cls, data: Any) -> GitHubUser | None:
        """None unless the answer has an integer id and a login."""
        uid, login = _user_id(data), _login(data)
        if uid is None or login is None:
            return None
        return cls(id=uid, login=login, type=_str(_obj(data).get("type")) or "")


@dataclass(frozen=True, slots=True)
class Activity:
    """A ref moved (`GET /repos/{owner}/{repo}/activity`): push, force_push, branch_creation,
    branch_deletion, pr_merge or merge_queue_merge, by `actor` (None: a deleted account, or unknown)."""

    activity_type: str
    actor_login: str | None
    actor_id: int | None
    before: str
    after: str
    ref: str  # full: refs/heads/<branch>
    timestamp: datetime | None

    @classmethod
    def from_api(cls, data: Any) -> Activity:
        item = _obj(data)
        return cls(
            activity_type=_str(item.get("activity_type")) or "", actor_login=_login(item.get("actor")),
            actor_id=_user_id(item.get("actor")), before=_str(item.get("before")) or "",
            after=_str(item.get("after")) or "", ref=_str(item.get("ref")) or "",
            timestamp=_time(item.get("timestamp")),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class PullRequest:
    number: int
    title: str
    body: str
    state: str  # "open" | "closed"
    merged: bool
    merged_at: datetime | None
    merge_commit_sha: str | None
    head_sha: str
    head_ref: str
    base_ref: str
    author: str | None  # None for a deleted ("ghost") account
    html_url: str
    draft: bool
    author_id: int | None = None  # the author's account id (a login can be renamed or re-taken)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> PullRequest:
        merged_at = _time(data.get("merged_at"))
        return cls(
            number=int(data["number"]), title=str(data["title"]), body=_str(data.get("body")) or "",
            state=str(data["state"]), merged=bool(data.get("merged", merged_at is not None)),
            merged_at=merged_at, merge_commit_sha=_str(data.get("merge_commit_sha")),
            head_sha=str(data["head"]["sha"]), head_ref=str(data["head"]["ref"]),
            base_ref=str(data["base"]["ref"]), author=_login(data.get("user")),
            html_url=str(data["html_url"]), draft=bool(data.get("draft", False)),
            author_id=_user_id(data.get("user")),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit as git recorded it (names, emails, the full message with its trailers: all
    written by whoever made the commit) and the accounts GitHub links its author and committer
    emails to (None: no account has that email)."""

    sha: str
    message: str
    author_name: str | None
    author_email: str | None
    author_login: str | None
    author_id: int | None
    committer_name: str | None
    committer_email: str | None
    committer_login: str | None
    committer_id: int | None
    parents: tuple[str, ...] = ()

    @property
    def author(self) -> str | None:
        """The login GitHub linked the author email to."""
        return self.author_login

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Commit:
        git = _obj(data.get("commit"))
        author, committer = _obj(git.get("author")), _obj(git.get("committer"))
        listed = data.get("parents")
        parents = (
            tuple(sha for p in listed if (sha := _str(_obj(p).get("sha"))))
            if isinstance(listed, list)
            else ()
        )
        return cls(
            sha=_str(data.get("sha")) or "", message=_str(git.get("message")) or "",
            author_name=_str(author.get("name")), author_email=_str(author.get("email")),
            author_login=_login(data.get("author")), author_id=_user_id(data.get("author")),
            committer_name=_str(committer.get("name")), committer_email=_str(committer.get("email")),
            committer_login=_login(data.get("committer")), committer_id=_user_id(data.get("committer")),
            parents=parents,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Review:
    id: int
    user: str | None
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED | PENDING
    commit_id: str | None
    submitted_at: datetime | None
    html_url: str
    association: str = "NONE"  # author_association: OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, NONE, ...
    bot: bool = False  # the reviewer is a bot (user.type "Bot")
    user_id: int | None = None  # the reviewer's account id (None: a deleted account)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Review:
        user = data.get("user")
        return cls(
            id=int(data["id"]), user=_login(user), state=str(data["state"]),
            commit_id=_str(data.get("commit_id")), submitted_at=_time(data.get("submitted_at")),
            html_url=str(data["html_url"]),
            association=str(data.get("author_association") or "NONE"),
            bot=_obj(user).get("type") == "Bot", user_id=_user_id(user),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class IssueComment:
    id: int
    body: str
    user: str | None
    html_url: str
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> IssueComment:
        return cls(
            id=int(data["id"]), body=_str(data.get("body")) or "", user=_login(data.get("user")),
            html_url=str(data["html_url"]), created_at=_time(data.get("created_at")),
            updated_at=_time(data.get("updated_at")),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Issue:
    number: int
    title: str
    body: str
    state: str
    labels: tuple[str, ...]
    html_url: str
    is_pull_request: bool

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Issue:
        return cls(
            number=int(data["number"]), title=str(data["title"]), body=_str(data.get("body")) or "",
            state=str(data["state"]),
            labels=tuple(str(x["name"] if isinstance(x, dict) else x) for x in data.get("labels") or ()),
            html_url=str(data["html_url"]), is_pull_request="pull_request" in data,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class FileContent:
    path: str
    sha: str
    text: str


class Upsert(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


# ---------------------------------------------------------------- the client


class GitHubClient:
    """Async client for one repository. Use as `async with GitHubClient.from_env(env, ...) as gh:`."""

    def __init__(
        self,
        settings: GitHubSettings,
        *,
        writable: bool,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        max_rate_limit_wait: float = 900.0,
    ) -> None:
        self.settings = settings
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.max_rate_limit_wait = max_rate_limit_wait
        self.stats = RequestStats()
        self._origin = httpx.URL(settings.api_url)
        self._client = build_client(
            settings.api_url,
            transport=transport,
            writable=writable,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "access-reconciler",
            },
            endpoint=Endpoint.of("github", (settings.api_url, "GITHUB_API_URL")),
        )

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        writable: bool,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> GitHubClient:
        return cls(
            GitHubSettings.from_env(env), writable=writable, transport=transport, policy=policy, clock=clock
        )

    def __repr__(self) -> str:
        return f"GitHubClient({self.settings.api_url!r}, {self.settings.repository!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------ pull requests and reviews

    async def pulls_for_commit(self, sha: str) -> tuple[PullRequest, ...]:
        """The merged PR that brought `sha` to the default branch (or open PRs containing it).

        Empty for a commit pushed straight to the branch.
        """
        path = f"{self._repo_path}/commits/{sha}/pulls"
        return tuple(await self._paginate(path, parse=_reader(PullRequest, shapes.PULL)))

    async def get_pull(self, number: int) -> PullRequest:
        return await self._object(PullRequest, shapes.PULL, "GET", f"{self._repo_path}/pulls/{number}")

    async def pull_commits(self, number: int) -> tuple[Commit, ...]:
        """The pull request's commits, oldest first (GitHub lists at most 250), each with its git
        author and committer and the accounts GitHub links their emails to."""
        return tuple(await self._paginate(f"{self._repo_path}/pulls/{number}/commits", parse=_commit))

    async def reviews(self, number: int) -> tuple[Review, ...]:
        """Every review of the pull request, in the order they were submitted."""
        path = f"{self._repo_path}/pulls/{number}/reviews"
        return tuple(await self._paginate(path, parse=_reader(Review, shapes.REVIEW)))

    # ------------------------------------------------------------ people: users, roles, activity

    async def user(self, login: str) -> GitHubUser | None:
        """The account that holds `login` now (`GET /users/{username}`); None when none does (404),
        or when the answer has no integer id and login."""
        response = await self._send("GET", f"/users/{quote(login, safe='')}")
        if response.status_code == 404:
            return None
        return GitHubUser.from_api(self._check(response, "a user"))

    async def permission(self, login: str) -> str:
        """`login`'s role on the repository (`GET .../collaborators/{username}/permission`): admin,
        maintain, write, triage, read or a custom role's name; "none" when they have no access, when
        no account holds the login (404), or when the answer names no role."""
        path = f"{self._repo_path}/collaborators/{quote(login, safe='')}/permission"
        response = await self._send("GET", path)
        if response.status_code == 404:
            return "none"
        data = _obj(self._check(response, "a permission"))
        return _str(data.get("role_name")) or _str(data.get("permission")) or "none"

    async def activity(self, ref: str) -> tuple[Activity, ...]:
        """Every recorded move of `ref` (`refs/heads/BRANCH` or `BRANCH`), oldest first: pushes,
        force pushes, branch creations and deletions, merges, each with who did it. All pages, by
        the cursors in GitHub's `Link: rel="next"`."""
        params = {"ref": ref, "direction": "asc"}
        return tuple(await self._paginate(f"{self._repo_path}/activity", params, parse=_activity))

    async def create_pull(self, *, title: str, head: str, base: str, body: str) -> PullRequest:
        """Open a pull request from branch `head` into `base` (`POST /repos/{owner}/{repo}/pulls`)."""
        body_ = {"title": title, "head": head, "base": base, "body": body}
        return await self._object(PullRequest, shapes.PULL, "POST", f"{self._repo_path}/pulls", json=body_)

    async def update_pull(
        self, number: int, *, title: str | None = None, body: str | None = None
    ) -> PullRequest:
        payload: dict[str, Any] = {}
        if title is not None:
            payload["title"] = title
        if body is not None:
            payload["body"] = body
        path = f"{self._repo_path}/pulls/{number}"
        return await self._object(PullRequest, shapes.PULL, "PATCH", path, json=payload)

    async def open_pull_for(self, branch: str) -> PullRequest | None:
        """The open pull request whose head is `branch` of this repository, if any."""
        params = {"state": "open", "head": f"{self.settings.owner}:{branch}"}
        path = f"{self._repo_path}/pulls"
        items = await self._paginate(path, params, parse=_reader(PullRequest, shapes.PULL))
        return items[0] if items else None

    # ------------------------------------------------------------ issue comments

    async def issue_comments(self, number: int) -> tuple[IssueComment, ...]:
        path = f"{self._repo_path}/issues/{number}/comments"
        return tuple(await self._paginate(path, parse=_reader(IssueComment, shapes.COMMENT)))

    async def create_comment(self, number: int, body: str) -> IssueComment:
        path = f"{self._repo_path}/issues/{number}/comments"
        return await self._object(IssueComment, shapes.COMMENT, "POST", path, json={"body": body})

    async def update_comment(self, comment_id: int, body: str) -> IssueComment:
        path = f"{self._repo_path}/issues/comments/{comment_id}"
        return await self._object(IssueComment, shapes.COMMENT, "PATCH", path, json={"body": body})

    async def upsert_comment(
        self,
        number: int,
        body: str,
        *,
        marker: str = PLAN_COMMENT_MARKER,
        authors: Collection[str] | None = None,
    ) -> tuple[IssueComment, Upsert]:
        """Keep ONE comment carrying `marker` on the PR/issue: create it, or update it in place.

        With `authors`, only a comment written by one of them is reused (a look-alike planted by
        someone else is never edited, and never mistaken for ours).
        """
        if marker not in body:
            body = f"{marker}\n{body}"
        allowed = {a.casefold() for a in authors} if authors is not None else None
        existing = next(
            (
                c
                for c in await self.issue_comments(number)
                if marker in c.body and (allowed is None or (c.user or "").casefold() in allowed)
            ),
            None,
        )
        if existing is None:
            return await self.create_comment(number, body), Upsert.CREATED
        if existing.body == body:
            return existing, Upsert.UNCHANGED
        return await self.update_comment(existing.id, body), Upsert.UPDATED

    # ------------------------------------------------------------ issues (the drift issue)

    async def find_issue(
        self, *, title: str | None = None, label: str | None = None, state: str = "open"
    ) -> Issue | None:
        """The most recently created issue (not pull request) with this label and/or exact title."""
        params = {"state": state, "sort": "created", "direction": "desc"}
        if label:
            params["labels"] = label
        path = f"{self._repo_path}/issues"
        for issue in await self._paginate(path, params, parse=_reader(Issue, shapes.ISSUE)):
            if not issue.is_pull_request and (title is None or issue.title == title):
                return issue
        return None

    async def create_issue(self, title: str, body: str, labels: Sequence[str] = ()) -> Issue:
        payload: dict[str, Any] = {"title": title, "body": body}
        if labels:
            payload["labels"] = list(labels)
        return await self._object(Issue, shapes.ISSUE, "POST", f"{self._repo_path}/issues", json=payload)

    async def update_issue(
        self,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
        labels: Sequence[str] | None = None,
    ) -> Issue:
        payload: dict[str, Any] = {}
        if title is not None:
            payload["title"] = title
        if body is not None:
            payload["body"] = body
        if state is not None:
            payload["state"] = state
        if labels is not None:
            payload["labels"] = list(labels)
        path = f"{self._repo_path}/issues/{number}"
        return await self._object(Issue, shapes.ISSUE, "PATCH", path, json=payload)

    async def close_issue(self, number: int, *, comment: str | None = None) -> Issue:
        if comment:
            await self.create_comment(number, comment)
        return await self.update_issue(number, state="closed")

    async def upsert_issue(self, title: str, body: str, *, label: str) -> tuple[Issue, Upsert]:
        """Keep ONE open issue with `label` and `title`: create it, or update its body."""
        existing = await self.find_issue(title=title, label=label)
        if existing is None:
            return await self.create_issue(title, body, [label]), Upsert.CREATED
        if existing.body == body:
            return existing, Upsert.UNCHANGED
        return await self.update_issue(existing.number, body=body), Upsert.UPDATED

    # ------------------------------------------------------------ contents

    async def get_file(self, path: str, *, ref: str | None = None) -> FileContent | None:
        """A file's text at `ref` (default branch when None); None when there is no such file."""
        params = {"ref": ref} if ref else None
        response = await self._send("GET", f"{self._repo_path}/contents/{path.lstrip('/')}", params=params)
        if response.status_code == 404:
            return None
        data = self._check(response, "a file")
        if not isinstance(data, dict | list):
            raise unexpected(response, shape_problem("the body should be an object"), "a file")
        if isinstance(data, list) or data.get("type") != "file":  # a directory's listing, a submodule
            raise GitHubError(f"{path} is not a file in {self.settings.repository}")
        try:
            raw = base64.b64decode(data.get("content") or "")
            return FileContent(path=str(data["path"]), sha=str(data["sha"]), text=raw.decode())
        except (KeyError, TypeError, ValueError) as exc:
            detail = f"{exc} is missing" if isinstance(exc, KeyError) else "content is not base64 UTF-8 text"
            raise unexpected(response, shape_problem(detail), "a file") from None

    # ------------------------------------------------------------ HTTP machinery

    @property
    def _repo_path(self) -> str:
        return f"/repos/{self.settings.owner}/{self.settings.repo}"

    async def _auth(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.settings.token.get_secret_value()}"}

    def rate_limit_wait(self, response: httpx.Response) -> float | None:
        """Seconds to wait before retrying a rate-limited response; None if it is not one.

        Raises GitHubRateLimited when the wait is longer than `max_rate_limit_wait`.
        """
        if response.status_code not in (403, 429):
            return None
        headers = response.headers
        wait: float | None = None
        if "retry-after" in headers:
            try:
                wait = max(0.0, float(headers["retry-after"]))
            except ValueError:
                wait = 60.0
        elif headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            wait = max(0.0, float(headers["x-ratelimit-reset"]) - self.clock()) + 1.0
        elif response.status_code == 429 or "rate limit" in _message(response).lower():
            wait = 60.0  # GitHub: "wait for at least one minute before retrying"
        if wait is not None and wait > self.max_rate_limit_wait:
            reset = datetime.fromtimestamp(self.clock() + wait, UTC).strftime("%H:%M:%S UTC")
            raise GitHubRateLimited(
                f"rate limit exceeded ({_message(response)}) for {_line(response)}; "
                f"it resets at {reset}, in {wait:.0f}s, longer than the {self.max_rate_limit_wait:.0f}s "
                "this run will wait",
                status=response.status_code,
            )
        return wait

    async def _send(
        self, method: str, url: str, *, params: Mapping[str, str] | None = None, json: Any = None
    ) -> httpx.Response:
        kwargs: dict[str, Any] = {}
        if params:
            kwargs["params"] = dict(params)
        if json is not None:
            kwargs["json"] = json
        attempt = 0
        while True:
            try:
                response = await send_with_retries(
                    self._client, method, url, policy=self.policy, stats=self.stats,
                    auth_headers=self._auth, wait_for=self.rate_limit_wait, **kwargs,
                )  # fmt: skip
            except TRANSIENT_ERRORS as exc:
                raise GitHubError(
                    f"cannot reach {self.settings.api_url} ({type(exc).__name__}) for {method} "
                    f"{httpx.URL(url).path} after {self.policy.attempts} attempts"
                ) from None
            # send_with_retries retries 429s itself; GitHub also signals rate limits with 403.
            wait = self.rate_limit_wait(response) if response.status_code == 403 else None
            attempt += 1
            if wait is None or attempt >= self.policy.attempts:
                return response
            self.stats.retries += 1
            self.stats.throttled += 1
            await self.policy.sleep(wait + self.policy.rng.uniform(0.05, 1.0))

    def _check(self, response: httpx.Response, what: str) -> Any:
        """The JSON of a successful answer (None when empty), or the error GitHub's answer means."""
        status = response.status_code
        if status < 300:
            return read(response, Expected(object, what)) if response.content else None
        message = _message(response)
        where = _line(response)
        if status == 401:
            raise GitHubAuthError(
                f"authentication failed ({message}) for {where}: check that GITHUB_TOKEN is set to a valid, "
                "unexpired token",
                status=status,
            )
        if status in (403, 429) and (
            "rate limit" in message.lower() or response.headers.get("x-ratelimit-remaining") == "0"
        ):
            raise GitHubRateLimited(
                f"rate limit still exceeded after {self.policy.attempts} attempts ({message}) for {where}",
                status=status,
            )
        if status == 403:
            raise GitHubPermissionError(
                f"permission denied ({message}) for {where}: the token needs access to "
                f"{self.settings.repository} (workflow `permissions:` such as pull-requests: read, "
                "issues: write)",
                status=status,
            )
        if status == 404:
            raise GitHubNotFound(
                f"not found: {where} (check GITHUB_REPOSITORY={self.settings.repository} and that the "
                "token can see it)",
                status=status,
            )
        raise GitHubError(f"HTTP {status} for {where}: {message}", status=status)

    async def _object(
        self, kind: type[R], expected: Expected[Any], method: str, url: str, *, json: Any = None
    ) -> R:
        response = await self._send(method, url, json=json)
        return _parse(kind, expected, self._check(response, expected.description), response)

    async def _paginate(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        parse: Callable[[Any, httpx.Response], R],
    ) -> list[R]:
        """Every page's items, each read by `parse` (which sees the answer it came in)."""
        items: list[R] = []
        url: str | None = path
        query: Mapping[str, str] | None = {**(params or {}), "per_page": str(PER_PAGE)}
        followed: set[str] = set()
        while url is not None:
            response = await self._send("GET", url, params=query)
            page = self._check(response, "a list")
            if not isinstance(page, list):
                raise unexpected(response, shape_problem("the body should be a list"), "a list")
            items.extend(parse(item, response) for item in page)
            url = response.links.get("next", {}).get("url")
            query = None  # the next link carries the query
            if url is not None:
                if url in followed:  # a cursor that does not move would page forever
                    raise GitHubError(f"pagination of {path} links back to a page already read: {url}")
                followed.add(url)
                target = httpx.URL(url)
                if (target.scheme, target.host, target.port) != (
                    self._origin.scheme,
                    self._origin.host,
                    self._origin.port,
                ):
                    raise GitHubError(f"refusing to follow a pagination link to another host: {target.host}")
        return items


def _message(response: httpx.Response) -> str:
    """GitHub's error message (plus validation details), or the status reason."""
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or f"HTTP {response.status_code}"
    if not isinstance(data, dict):
        return response.reason_phrase
    message = str(data.get("message") or response.reason_phrase)
    details = [
        e.get("message") or f"{e.get('field')} {e.get('code')}"
        for e in data.get("errors") or ()
        if isinstance(e, dict)
    ]
    return f"{message}: {'; '.join(details)}" if details else message


def _line(response: httpx.Response) -> str:
    return f"{response.request.method} {response.request.url.path}"
