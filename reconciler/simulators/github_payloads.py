"""JSON bodies of the GitHub simulator: users, repositories, pull requests, reviews, commits,
labels, issues, comments and file contents, shaped as the REST API returns them.

Each builder reads the simulator's state; `user_json` registers a login it has not seen (giving it
an id), as every payload that names a user goes through it.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from reconciler.simulators.github_state import (
    ActivityState,
    CommentState,
    CommitState,
    GitHubState,
    PullState,
    RepoState,
    ReviewState,
)

API = "https://api.github.com"
WEB = "https://github.com"


def node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"{kind}:{ident}".encode()).decode().rstrip("=")


def fake_sha(text: str) -> str:
    """A stable 40-hex sha for a label (for tests and the demo)."""
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def association(state: GitHubState, repo: RepoState, login: str) -> str:
    if login == repo.owner:
        return "OWNER"
    uid = state.users.get(login)
    explicit = repo.permissions.get(uid) if uid is not None else None
    if login in repo.outsiders or explicit in ("triage", "read", "none"):
        return "CONTRIBUTOR"
    return "MEMBER"


def user_json(state: GitHubState, login: str) -> dict[str, Any]:
    uid = state.users[state.user(login)]
    url = f"{API}/users/{login}"
    return {
        "login": login, "id": uid, "node_id": node_id("User", uid),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4", "gravatar_id": "",
        "url": url, "html_url": f"{WEB}/{login}", "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}", "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs", "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}", "received_events_url": f"{url}/received_events",
        "type": "Bot" if login.endswith("[bot]") else "User", "site_admin": False,
        "user_view_type": "public",
    }  # fmt: skip


def public_user_json(state: GitHubState, login: str) -> dict[str, Any]:
    """`GET /users/{username}`: the user object plus the public profile ("public-user")."""
    return user_json(state, login) | {
        "name": None, "company": None, "blog": "", "location": None, "email": None, "hireable": None,
        "bio": None, "twitter_username": None, "public_repos": 0, "public_gists": 0, "followers": 0,
        "following": 0, "created_at": "2026-01-05T09:00:00Z", "updated_at": "2026-01-05T09:00:00Z",
    }  # fmt: skip


LEGACY_PERMISSION = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read",
                     "read": "read", "none": "none"}  # fmt: skip


def permission_json(state: GitHubState, repo: RepoState, login: str) -> dict[str, Any]:
    """`GET /repos/{owner}/{repo}/collaborators/{username}/permission` ("repository-collaborator-
    permission"): `permission` is the legacy base role (maintain reads as write, triage as read),
    `role_name` the role itself; for no access GitHub answers `none` with an empty `role_name`."""
    role = state.role(repo, login)
    rank = ("read", "triage", "write", "maintain", "admin")
    level = rank.index(role) if role in rank else -1
    permissions = {name: level >= rank.index(name) for name in ("admin", "maintain", "triage")} | {
        "push": level >= rank.index("write"), "pull": level >= rank.index("read"),
    }  # fmt: skip
    role_name = "" if role == "none" else role
    user = user_json(state, login) | {"permissions": permissions, "role_name": role_name}
    return {"permission": LEGACY_PERMISSION.get(role, "none"), "role_name": role_name, "user": user}


def activity_json(state: GitHubState, a: ActivityState) -> dict[str, Any]:
    actor = state.login_of(a.actor_id) if a.actor_id is not None else None
    return {
        "id": a.id, "node_id": node_id("RepositoryActivity", a.id), "before": a.before, "after": a.after,
        "ref": a.ref, "timestamp": a.timestamp, "activity_type": a.activity_type,
        "actor": user_json(state, actor) if actor is not None else None,
    }  # fmt: skip


def repo_json(state: GitHubState, repo: RepoState) -> dict[str, Any]:
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
        "id": repo.id, "node_id": node_id("Repository", repo.id), "name": repo.name, "full_name": full,
        "owner": user_json(state, repo.owner), "private": repo.private, "html_url": f"{WEB}/{full}",
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


def pull_json(state: GitHubState, repo: RepoState, p: PullState, *, full: bool) -> dict[str, Any]:
    full_name = repo.full_name
    url = f"{API}/repos/{full_name}/pulls/{p.number}"
    html = f"{WEB}/{full_name}/pull/{p.number}"
    issue_url = f"{API}/repos/{full_name}/issues/{p.number}"
    base_repo = repo_json(state, repo)

    def side(ref: str, sha: str) -> dict[str, Any]:
        return {"label": f"{repo.owner}:{ref}", "ref": ref, "sha": sha,
                "user": user_json(state, repo.owner), "repo": base_repo}  # fmt: skip

    data: dict[str, Any] = {
        "url": url, "id": p.id, "node_id": node_id("PullRequest", p.id), "html_url": html,
        "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": issue_url,
        "commits_url": f"{url}/commits", "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{API}/repos/{full_name}/pulls/comments{{/number}}",
        "comments_url": f"{issue_url}/comments",
        "statuses_url": f"{API}/repos/{full_name}/statuses/{p.head_sha}",
        "number": p.number, "state": p.state, "locked": False, "title": p.title,
        "user": user_json(state, p.author), "body": p.body, "labels": [], "milestone": None,
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
        "author_association": association(state, repo, p.author), "auto_merge": None, "draft": p.draft,
    }  # fmt: skip
    if full:
        data.update({
            "merged": p.merged, "mergeable": None if p.state == "closed" else True,
            "rebaseable": None if p.state == "closed" else True,
            "mergeable_state": "unknown" if p.state == "closed" else "clean",
            "merged_by": user_json(state, p.merged_by) if p.merged_by else None,
            "comments": len(repo.comments_on(p.number)),
            "review_comments": 0, "maintainer_can_modify": False, "commits": len(p.commits),
            "additions": len(p.commits), "deletions": 0, "changed_files": 1,
        })  # fmt: skip
    return data


def review_json(state: GitHubState, repo: RepoState, r: ReviewState) -> dict[str, Any]:
    html = f"{WEB}/{repo.full_name}/pull/{r.pull}#pullrequestreview-{r.id}"
    pull_url = f"{API}/repos/{repo.full_name}/pulls/{r.pull}"
    data: dict[str, Any] = {
        "id": r.id, "node_id": node_id("PullRequestReview", r.id), "user": user_json(state, r.user),
        "body": r.body, "state": r.state, "html_url": html, "pull_request_url": pull_url,
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
        "commit_id": r.commit_id, "author_association": association(state, repo, r.user),
    }  # fmt: skip
    if r.submitted_at is not None:
        data["submitted_at"] = r.submitted_at
    return data


def commit_people(state: GitHubState, c: CommitState) -> tuple[dict[str, str], dict[str, str]]:
    """The git author and committer (`name`, `email`, `date`) of a commit; a commit saved before
    emails were recorded is its `author` login's, with that account's noreply email."""
    if c.author_email is None:
        legacy = {"name": c.author, "email": state.noreply(c.author), "date": c.date}
        return legacy, dict(legacy)
    author = {"name": c.author_name or "", "email": c.author_email, "date": c.date}
    committer = {
        "name": c.committer_name if c.committer_name is not None else author["name"],
        "email": c.committer_email if c.committer_email is not None else c.author_email,
        "date": c.committed_at or c.date,
    }
    return author, committer


def account_json(state: GitHubState, email: str) -> dict[str, Any] | None:
    """The GitHub user a commit email links to, or None (GitHub's `null`) for an unknown email."""
    login = state.account_for_email(email)
    return user_json(state, login) if login is not None else None


def commit_json(state: GitHubState, repo: RepoState, c: CommitState, parent: str | None) -> dict[str, Any]:
    sha = c.sha
    url = f"{API}/repos/{repo.full_name}/commits/{sha}"
    author, committer = commit_people(state, c)
    tree = fake_sha(f"tree:{sha}")
    return {
        "url": url, "sha": sha, "node_id": node_id("Commit", int(sha[:8], 16)),
        "html_url": f"{WEB}/{repo.full_name}/commit/{sha}", "comments_url": f"{url}/comments",
        "commit": {
            "url": f"{API}/repos/{repo.full_name}/git/commits/{sha}", "author": author,
            "committer": committer, "message": c.message, "comment_count": 0,
            "tree": {"sha": tree, "url": f"{API}/repos/{repo.full_name}/git/trees/{tree}"},
            "verification": {"verified": False, "reason": "unsigned", "payload": None,
                             "signature": None, "verified_at": None},
        },
        "author": account_json(state, author["email"]), "committer": account_json(state, committer["email"]),
        "parents": [] if parent is None else [
            {"sha": parent, "url": f"{API}/repos/{repo.full_name}/commits/{parent}",
             "html_url": f"{WEB}/{repo.full_name}/commit/{parent}"}
        ],
    }  # fmt: skip


def label_json(repo: RepoState, name: str) -> dict[str, Any]:
    label = repo.labels[name]
    return {
        "id": label.id, "node_id": node_id("Label", label.id),
        "url": f"{API}/repos/{repo.full_name}/labels/{name}", "name": name,
        "description": label.description, "color": label.color, "default": False,
    }  # fmt: skip


def issue_json(state: GitHubState, repo: RepoState, number: int) -> dict[str, Any]:
    url = f"{API}/repos/{repo.full_name}/issues/{number}"
    common = {
        "url": url, "repository_url": f"{API}/repos/{repo.full_name}",
        "labels_url": f"{url}/labels{{/name}}", "comments_url": f"{url}/comments",
        "events_url": f"{url}/events", "number": number, "locked": False, "assignee": None,
        "assignees": [], "milestone": None,
        "comments": len(repo.comments_on(number)),
        "active_lock_reason": None,
    }  # fmt: skip
    if number in repo.pulls:
        p = repo.pulls[number]
        html = f"{WEB}/{repo.full_name}/pull/{number}"
        return common | {
            "id": p.id, "node_id": node_id("PullRequest", p.id), "html_url": html, "title": p.title,
            "body": p.body, "user": user_json(state, p.author), "labels": [], "state": p.state,
            "state_reason": None, "created_at": p.created_at, "updated_at": p.updated_at,
            "closed_at": p.closed_at, "author_association": association(state, repo, p.author),
            "draft": p.draft,
            "pull_request": {
                "url": f"{API}/repos/{repo.full_name}/pulls/{number}", "html_url": html,
                "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "merged_at": p.merged_at,
            },
        }  # fmt: skip
    i = repo.issues[number]
    return common | {
        "id": i.id, "node_id": node_id("Issue", i.id),
        "html_url": f"{WEB}/{repo.full_name}/issues/{number}",
        "title": i.title, "body": i.body, "user": user_json(state, i.author),
        "labels": [label_json(repo, name) for name in i.labels], "state": i.state,
        "state_reason": i.state_reason, "created_at": i.created_at, "updated_at": i.updated_at,
        "closed_at": i.closed_at, "closed_by": user_json(state, i.closed_by) if i.closed_by else None,
        "author_association": association(state, repo, i.author),
    }  # fmt: skip


def comment_json(state: GitHubState, repo: RepoState, c: CommentState) -> dict[str, Any]:
    kind = "pull" if c.issue in repo.pulls else "issues"
    return {
        "id": c.id, "node_id": node_id("IssueComment", c.id),
        "url": f"{API}/repos/{repo.full_name}/issues/comments/{c.id}",
        "html_url": f"{WEB}/{repo.full_name}/{kind}/{c.issue}#issuecomment-{c.id}",
        "body": c.body, "user": user_json(state, c.user), "created_at": c.created_at,
        "updated_at": c.updated_at, "issue_url": f"{API}/repos/{repo.full_name}/issues/{c.issue}",
        "author_association": association(state, repo, c.user), "performed_via_github_app": None,
    }  # fmt: skip


def content_json(repo: RepoState, path: str, text: str) -> dict[str, Any]:
    """A file on the default branch, as `GET /repos/{owner}/{repo}/contents/{path}` has it."""
    raw = text.encode()
    sha = hashlib.sha1(b"blob %d\0" % len(raw) + raw, usedforsecurity=False).hexdigest()
    url = f"{API}/repos/{repo.full_name}/contents/{path}?ref={repo.default_branch}"
    git_url = f"{API}/repos/{repo.full_name}/git/blobs/{sha}"
    html_url = f"{WEB}/{repo.full_name}/blob/{repo.default_branch}/{path}"
    return {
        "type": "file", "encoding": "base64", "size": len(raw), "name": path.rsplit("/", 1)[-1],
        "path": path, "content": base64.encodebytes(raw).decode(), "sha": sha, "url": url,
        "git_url": git_url, "html_url": html_url,
        "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{repo.default_branch}/{path}",
        "_links": {"git": git_url, "self": url, "html": html_url},
    }  # fmt: skip
