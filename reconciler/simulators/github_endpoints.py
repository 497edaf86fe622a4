"""The GitHub simulator's REST endpoints: pull requests, reviews, commits → pulls, issues, comments,
file contents, repository activity, collaborator permissions and users. `GitHubSimulator` adds
authentication, rate limits and the driver API on top.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from reconciler.simulators.base import SimulatorBase, json_response, route_table
from reconciler.simulators.github_activity import list_activity
from reconciler.simulators.github_http import bad_json, error, json_body, not_found, page, validation
from reconciler.simulators.github_payloads import (
    comment_json,
    commit_json,
    content_json,
    issue_json,
    permission_json,
    public_user_json,
    pull_json,
    repo_json,
    review_json,
)
from reconciler.simulators.github_state import (
    CommentState,
    CommitState,
    GitHubState,
    IssueState,
    PullState,
    RepoState,
    iso,
)

Route = Callable[..., httpx.Response]


class GitHubEndpoints(SimulatorBase):
    """Handlers for `/repos/{owner}/{repo}/...`, called with the repository and the caller's login."""

    def __init__(self, state: GitHubState, *, clock: Callable[[], float]) -> None:
        super().__init__()
        self.state = state
        self.clock = clock
        self._match = route_table(self._routes())
        self._match_users = route_table({("GET", "/users/{username}"): self._get_user})

    def _now(self) -> str:
        return iso(self.clock())

    def _routes(self) -> dict[tuple[str, str], Route]:
        base = "/repos/{owner}/{repo}"
        return {
            ("GET", base): self._get_repo,
            ("GET", f"{base}/pulls"): self._list_pulls,
            ("POST", f"{base}/pulls"): self._post_pull,
            ("GET", f"{base}/pulls/{{number}}"): self._get_pull,
            ("PATCH", f"{base}/pulls/{{number}}"): self._patch_pull,
            ("GET", f"{base}/pulls/{{number}}/commits"): self._list_pull_commits,
            ("GET", f"{base}/pulls/{{number}}/merge"): self._check_merged,
            ("GET", f"{base}/pulls/{{number}}/reviews"): self._list_reviews,
            ("GET", f"{base}/commits/{{sha}}/pulls"): self._pulls_for_commit,
            ("GET", f"{base}/activity"): self._list_activity,
            ("GET", f"{base}/collaborators/{{username}}/permission"): self._get_permission,
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

    def _get_repo(self, request: httpx.Request, repo: RepoState, login: str) -> httpx.Response:
        """`GET /repos/{owner}/{repo}`: the repository, its `default_branch` among the rest."""
        return json_response(200, repo_json(self.state, repo))

    # ------------------------------------------------------------ pulls

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
        return page(request, [pull_json(self.state, repo, p, full=False) for p in pulls])

    def _get_pull(self, request: httpx.Request, repo: RepoState, login: str, number: str) -> httpx.Response:
        p = self._pull(repo, number)
        return json_response(200, pull_json(self.state, repo, p, full=True)) if p else not_found()

    def _post_pull(self, request: httpx.Request, repo: RepoState, login: str) -> httpx.Response:
        """`POST /repos/{owner}/{repo}/pulls`: `title`, `head` (a branch, or `owner:branch`), `base`,
        `body`, `draft`. 422 when the head or base branch does not exist, when there are no commits
        between them, or when an open pull request already exists for the head."""
        body = json_body(request)
        if body is None:
            return bad_json()
        title, head, base = body.get("title"), body.get("head"), body.get("base")
        if not isinstance(title, str) or not title:
            return validation("Validation Failed", "PullRequest", "title", "missing_field")
        if not isinstance(head, str) or not head:
            return validation("Validation Failed", "PullRequest", "head", "missing_field")
        if not isinstance(base, str) or not base:
            return validation("Validation Failed", "PullRequest", "base", "missing_field")
        owner, _, branch = head.rpartition(":")
        if owner and owner.casefold() != repo.owner.casefold():
            return validation("Validation Failed", "PullRequest", "head", "invalid")
        if base != repo.default_branch:
            return validation("Validation Failed", "PullRequest", "base", "invalid")
        commits = self.branch_commits(repo, branch)
        if commits is None:
            return validation("Validation Failed", "PullRequest", "head", "invalid")
        if not commits:
            return error(422, f"Validation Failed: No commits between {base} and {branch}")
        if any(
            p.state == "open" and p.head_ref == branch and p.base_ref == base for p in repo.pulls.values()
        ):
            return error(422, f"Validation Failed: A pull request already exists for {repo.owner}:{branch}.")
        now = self._now()
        for sha in commits:
            if sha not in repo.commits:
                repo.commits[sha] = self.new_commit(repo, sha, login, f"commit {sha[:7]}")
        number = repo.take_number()
        repo.pulls[number] = PullState(
            number=number, id=self.state.new_id(), title=title, body=body.get("body"),
            author=self.state.user(login), head_ref=branch, base_ref=base, head_sha=commits[-1],
            base_sha=repo.default_branch_shas[-1] if repo.default_branch_shas else commits[0],
            commits=list(commits), draft=bool(body.get("draft", False)), created_at=now, updated_at=now,
        )  # fmt: skip
        data = pull_json(self.state, repo, repo.pulls[number], full=True)
        return json_response(201, data, {"location": data["url"]})

    def _patch_pull(self, request: httpx.Request, repo: RepoState, login: str, number: str) -> httpx.Response:
        """`PATCH /repos/{owner}/{repo}/pulls/{n}`: `title`, `body`, `state` (open or closed)."""
        p = self._pull(repo, number)
        if p is None:
            return not_found()
        body = json_body(request)
        if body is None:
            return bad_json()
        if "title" in body:
            p.title = str(body["title"])
        if "body" in body:
            p.body = body["body"]
        if "state" in body:
            if body["state"] not in ("open", "closed"):
                return validation("Validation Failed", "PullRequest", "state", "invalid")
            if body["state"] == "closed" and p.state == "open" and not p.merged:
                p.state, p.closed_at = "closed", self._now()
            elif body["state"] == "open" and p.state == "closed" and not p.merged:
                p.state, p.closed_at = "open", None
        p.updated_at = self._now()
        return json_response(200, pull_json(self.state, repo, p, full=True))

    def branch_commits(self, repo: RepoState, branch: str) -> list[str] | None:
        """A branch's commits not on the default branch (oldest first); None: no such branch."""
        return repo.branches.get(branch)

    def _list_pull_commits(self, request: httpx.Request, repo: RepoState, login: str,
                           number: str) -> httpx.Response:  # fmt: skip
        p = self._pull(repo, number)
        if p is None:
            return not_found()
        shas = p.commits[:250]  # GitHub lists at most 250 commits of a pull request
        items = [
            commit_json(self.state, repo, self._commit(repo, sha), shas[i - 1] if i else None)
            for i, sha in enumerate(shas)
        ]
        return page(request, items)

    def _commit(self, repo: RepoState, sha: str) -> CommitState:
        return repo.commits.get(sha) or self.new_commit(repo, sha, repo.owner, "")

    def new_commit(self, repo: RepoState, sha: str, login: str, message: str) -> CommitState:
        """A commit made as `login` from the command line: their name and ID-based noreply email as
        author and committer."""
        email = self.state.noreply(login)
        return CommitState(
            sha=sha, author=login, message=message, date=self._now(), author_name=login,
            author_email=email, committer_name=login, committer_email=email,
        )  # fmt: skip

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
            return not_found()
        reviews = [r for r in repo.reviews if r.pull == p.number]
        return page(request, [review_json(self.state, repo, r) for r in reviews])

    def _pulls_for_commit(
        self, request: httpx.Request, repo: RepoState, login: str, sha: str
    ) -> httpx.Response:
        full = [s for s in repo.commits if len(sha) >= 7 and s.startswith(sha)]
        if not full:
            return error(422, f"No commit found for SHA: {sha}")
        sha = full[0]
        if sha in repo.default_branch_shas:
            pulls = [
                p
                for p in repo.pulls.values()
                if p.merged and (sha in (p.landed or p.commits) or p.merge_commit_sha == sha)
            ]
        else:
            pulls = [p for p in repo.pulls.values() if p.state == "open" and sha in p.commits]
        pulls.sort(key=lambda p: p.number, reverse=True)
        return page(request, [pull_json(self.state, repo, p, full=False) for p in pulls])

    # ------------------------------------------------------------ activity, permissions, users

    def _list_activity(self, request: httpx.Request, repo: RepoState, login: str) -> httpx.Response:
        return list_activity(self.state, repo, request, now=self.clock)

    def _get_permission(
        self, request: httpx.Request, repo: RepoState, login: str, username: str
    ) -> httpx.Response:
        """404 for a login no account holds; otherwise the role, `none` for a non-collaborator."""
        known = self.state.find(username)
        return not_found() if known is None else json_response(200, permission_json(self.state, repo, known))

    def _get_user(self, request: httpx.Request, username: str) -> httpx.Response:
        known = self.state.find(username)
        return not_found() if known is None else json_response(200, public_user_json(self.state, known))

    # ------------------------------------------------------------ issues and comments

    def _issue_number(self, repo: RepoState, number: str) -> int | None:
        """The number of an existing issue or pull request (one number space), else None."""
        n = int(number) if number.isdigit() else -1
        return n if n in repo.issues or n in repo.pulls else None

    def _list_issues(self, request: httpx.Request, repo: RepoState, login: str) -> httpx.Response:
        q = request.url.params
        state = q.get("state", "open")
        wanted = {name.strip() for name in q.get("labels", "").split(",") if name.strip()}
        items: list[IssueState | PullState] = [*repo.issues.values(), *repo.pulls.values()]
        numbers: list[tuple[str, int]] = []
        for item in items:
            labels = set(item.labels) if isinstance(item, IssueState) else set()
            if (state == "all" or item.state == state) and wanted <= labels:
                numbers.append((item.created_at, item.number))
        numbers.sort(reverse=q.get("direction", "desc") == "desc")
        return page(request, [issue_json(self.state, repo, n) for _, n in numbers])

    def _post_issue(self, request: httpx.Request, repo: RepoState, login: str) -> httpx.Response:
        body = json_body(request)
        if body is None:
            return bad_json()
        title = body.get("title")
        if not isinstance(title, str | int) or str(title) == "":
            return validation("Validation Failed", "Issue", "title")
        labels = [str(label) for label in body.get("labels") or []]
        issue = self.state.create_issue(repo, login, str(title), body.get("body"), labels, now=self._now())
        return json_response(201, issue_json(self.state, repo, issue.number))

    def _get_issue(self, request: httpx.Request, repo: RepoState, login: str, number: str) -> httpx.Response:
        n = self._issue_number(repo, number)
        return not_found() if n is None else json_response(200, issue_json(self.state, repo, n))

    def _patch_issue(
        self, request: httpx.Request, repo: RepoState, login: str, number: str
    ) -> httpx.Response:
        issue = repo.issues.get(int(number)) if number.isdigit() else None
        if issue is None:
            return not_found()  # pull requests are edited through /pulls (not simulated)
        body = json_body(request)
        if body is None:
            return bad_json()
        if "title" in body:
            issue.title = str(body["title"])
        if "body" in body:
            issue.body = body["body"]
        if "labels" in body:
            names = [str(x["name"] if isinstance(x, dict) else x) for x in body["labels"] or []]
            self.state.ensure_labels(repo, names)
            issue.labels = list(dict.fromkeys(names))
        if "state" in body:
            if body["state"] not in ("open", "closed"):
                return validation("Validation Failed", "Issue", "state", "invalid")
            if body["state"] == "closed" and issue.state == "open":
                issue.closed_at, issue.closed_by = self._now(), login
                issue.state_reason = body.get("state_reason") or "completed"
            elif body["state"] == "open" and issue.state == "closed":
                issue.closed_at, issue.closed_by, issue.state_reason = None, None, "reopened"
            issue.state = body["state"]
        issue.updated_at = self._now()
        return json_response(200, issue_json(self.state, repo, issue.number))

    def _list_comments(
        self, request: httpx.Request, repo: RepoState, login: str, number: str
    ) -> httpx.Response:
        n = self._issue_number(repo, number)
        if n is None:
            return not_found()
        comments = sorted(repo.comments_on(n), key=lambda c: c.id)
        return page(request, [comment_json(self.state, repo, c) for c in comments])

    def _post_comment(
        self, request: httpx.Request, repo: RepoState, login: str, number: str
    ) -> httpx.Response:
        n = self._issue_number(repo, number)
        if n is None:
            return not_found()
        text = _comment_body(request)
        if isinstance(text, httpx.Response):
            return text
        now = self._now()
        comment = CommentState(id=self.state.new_id(), issue=n, user=self.state.user(login), body=text,
                               created_at=now, updated_at=now)  # fmt: skip
        repo.comments[comment.id] = comment
        data = comment_json(self.state, repo, comment)
        return json_response(201, data, {"location": data["url"]})

    def _comment(self, repo: RepoState, comment_id: str) -> CommentState | None:
        return repo.comments.get(int(comment_id)) if comment_id.isdigit() else None

    def _get_comment(
        self, request: httpx.Request, repo: RepoState, login: str, comment_id: str
    ) -> httpx.Response:
        c = self._comment(repo, comment_id)
        return json_response(200, comment_json(self.state, repo, c)) if c else not_found()

    def _patch_comment(self, request: httpx.Request, repo: RepoState, login: str,
                       comment_id: str) -> httpx.Response:  # fmt: skip
        c = self._comment(repo, comment_id)
        if c is None:
            return not_found()
        text = _comment_body(request)
        if isinstance(text, httpx.Response):
            return text
        c.body, c.updated_at = text, self._now()
        return json_response(200, comment_json(self.state, repo, c))

    def _delete_comment(self, request: httpx.Request, repo: RepoState, login: str,
                        comment_id: str) -> httpx.Response:  # fmt: skip
        c = self._comment(repo, comment_id)
        if c is None:
            return not_found()
        del repo.comments[c.id]
        return httpx.Response(204)

    # ------------------------------------------------------------ contents

    def _get_content(self, request: httpx.Request, repo: RepoState, path: str) -> httpx.Response:
        text = repo.files.get(path.strip("/"))
        return not_found() if text is None else json_response(200, content_json(repo, path, text))


def _comment_body(request: httpx.Request) -> str | httpx.Response:
    """The `body` of a comment create or edit, or the error response for a missing or bad one."""
    body = json_body(request)
    if body is None:
        return bad_json()
    text = body.get("body")
    if not isinstance(text, str) or not text:
        return validation("Validation Failed", "IssueComment", "body")
    return text
