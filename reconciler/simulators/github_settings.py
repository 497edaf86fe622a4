"""The repository settings the approval gate relies on, as GitHub's REST API reads them:
deployment environments and their branch policies, rulesets and the rules in force on a branch,
and classic branch protection. Read-only endpoints (tests and the demo set them up through the
driver methods), composed into `GitHubSimulator` as an extension, kept in memory.

- `GET /repos/{owner}/{repo}/environments` -> `{total_count, environments: [...]}` (`per_page`, `page`);
  each environment has `protection_rules` and `deployment_branch_policy`: null when every branch
  may deploy, else `{protected_branches, custom_branch_policies}` (exactly one of them true);
- `GET /repos/{owner}/{repo}/environments/{environment_name}` -> one environment, 404 when absent;
- `GET .../environments/{environment_name}/deployment-branch-policies` ->
  `{total_count, branch_policies: [{id, node_id, name, type: branch|tag}]}` (name: an fnmatch pattern);
- `GET /repos/{owner}/{repo}/rulesets` -> the rulesets' summaries (`includes_parents`, default true:
  with the organization's; `targets`: branch,tag,push), Link-paginated;
- `GET /repos/{owner}/{repo}/rulesets/{ruleset_id}` -> one ruleset with `conditions`, `rules`,
  `bypass_actors` and `current_user_can_bypass`;
- `GET /repos/{owner}/{repo}/rules/branches/{branch}` -> every rule of an **active** ruleset whose
  `ref_name` condition matches the branch (`~DEFAULT_BRANCH`, `~ALL`, fnmatch patterns on
  `refs/heads/...`, excludes win), each with `ruleset_source_type`, `ruleset_source`, `ruleset_id`:
  what GitHub enforces there; rulesets in `evaluate` or `disabled` contribute nothing;
- `GET /repos/{owner}/{repo}/branches/{branch}/protection` -> the classic protection, or 404
  "Branch not protected".

Environment names and branch names are URL-encoded in paths (a `/` is `%2F`); environment names are
not case-sensitive. `deny(area)` makes one area answer 403 "Resource not accessible by personal
access token", as for a fine-grained token without that permission (Administration, Environments,
Secrets).
"""

from __future__ import annotations

import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from reconciler.simulators.base import json_response
from reconciler.simulators.github_http import error, not_found, page
from reconciler.simulators.github_payloads import API, WEB, node_id

DEFAULT_ENVIRONMENTS = ("access-read", "access-apply")
RULE_TYPES = frozenset(
    {
        "creation", "update", "deletion", "required_linear_history", "merge_queue",
        "required_deployments", "required_signatures", "pull_request", "required_status_checks",
        "non_fast_forward", "commit_message_pattern", "commit_author_email_pattern",
        "committer_email_pattern", "branch_name_pattern", "tag_name_pattern", "workflows",
        "code_scanning", "copilot_code_review",
    }
)  # fmt: skip
AREAS = ("environments", "rulesets", "protection")
STAMP = "2026-01-05T09:00:00Z"
_REPO = r"^/repos/([^/]+)/([^/]+)"
_ROUTES = (
    ("environments", re.compile(_REPO + r"/environments$")),
    ("environment", re.compile(_REPO + r"/environments/([^/]+)$")),
    ("branch_policies", re.compile(_REPO + r"/environments/([^/]+)/deployment-branch-policies$")),
    ("rulesets", re.compile(_REPO + r"/rulesets$")),
    ("ruleset", re.compile(_REPO + r"/rulesets/([0-9]+)$")),
    ("branch_rules", re.compile(_REPO + r"/rules/branches/(.+)$")),
    ("protection", re.compile(_REPO + r"/branches/(.+)/protection$")),
)


@dataclass(slots=True)
class Environment:
    id: int
    name: str
    branch_policy: str = "all"  # all | protected | custom
    policies: list[tuple[int, str, str]] = field(default_factory=list)  # (id, pattern, branch|tag)
    reviewers: list[str] = field(default_factory=list)
    wait_timer: int = 0


@dataclass(slots=True)
class Ruleset:
    id: int
    name: str
    source: str  # owner/name, or the organization's login
    target: str = "branch"
    enforcement: str = "active"  # active | evaluate | disabled
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    source_type: str = "Repository"  # Repository | Organization
    bypass_actors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class RepoSettings:
    environments: dict[str, Environment] = field(default_factory=dict)  # casefolded name ->
    protection: dict[str, dict[str, Any]] = field(default_factory=dict)  # branch -> classic protection


def ref_matches(pattern: str, ref: str, default_branch: str) -> bool:
    """A ruleset `ref_name` pattern against a full ref: `~ALL`, `~DEFAULT_BRANCH`, or fnmatch where
    `*` stays within a path segment and `**` does not."""
    if pattern == "~ALL":
        return ref.startswith("refs/heads/")
    if pattern == "~DEFAULT_BRANCH":
        return ref == f"refs/heads/{default_branch}"
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.fullmatch("".join(out), ref) is not None


class GitHubSettingsSimulator:
    """Environments, rulesets and branch protection of the repositories `default_branch` knows."""

    def __init__(self, default_branch: Callable[[str], str | None]) -> None:
        self.lock = threading.RLock()
        self.default_branch = default_branch  # "owner/name" -> its default branch, None: no repository
        self.repos: dict[str, RepoSettings] = {}
        self.rulesets: dict[int, Ruleset] = {}  # repository and organization rulesets, by id
        self.denied: set[str] = set()
        self._next_id = 5000

    # ------------------------------------------------------------ driver API

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def settings(self, repository: str) -> RepoSettings:
        key = repository.casefold()
        if key not in self.repos:
            found = RepoSettings()
            for name in DEFAULT_ENVIRONMENTS:  # they exist, every branch may deploy (GitHub's default)
                found.environments[name] = Environment(self._id(), name)
            self.repos[key] = found
        return self.repos[key]

    def has_environment(self, repository: str, environment: str) -> bool:
        with self.lock:
            known = self.default_branch(repository) is not None
            return known and environment.casefold() in self.settings(repository).environments

    def add_environment(
        self,
        repository: str,
        name: str,
        *,
        branches: list[str] | None = None,
        protected_branches: bool = False,
        reviewers: list[str] | None = None,
    ) -> Environment:
        """Create (or replace) an environment: deployable from `branches` (fnmatch patterns; a
        `tag:` prefix makes a tag policy), from protected branches only, or from any branch."""
        with self.lock:
            env = Environment(self._id(), name, reviewers=list(reviewers or []))
            if protected_branches:
                env.branch_policy = "protected"
            elif branches is not None:
                env.branch_policy = "custom"
                for written in branches:
                    kind, pattern = (
                        ("tag", written[4:]) if written.startswith("tag:") else ("branch", written)
                    )
                    env.policies.append((self._id(), pattern, kind))
            self.settings(repository).environments[name.casefold()] = env
            return env

    def remove_environment(self, repository: str, name: str) -> None:
        with self.lock:
            self.settings(repository).environments.pop(name.casefold(), None)

    def add_ruleset(
        self,
        repository: str,
        name: str,
        rules: list[dict[str, Any]],
        *,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
        enforcement: str = "active",
        target: str = "branch",
        organization: str | None = None,
        bypass_actors: list[dict[str, Any]] | None = None,
    ) -> int:
        """A ruleset of `repository` (or of `organization`, applying to it); returns its id."""
        unknown = [r.get("type") for r in rules if r.get("type") not in RULE_TYPES]
        if unknown:
            raise ValueError(f"unknown rule types {unknown}")
        if enforcement not in ("active", "evaluate", "disabled") or target not in ("branch", "tag", "push"):
            raise ValueError(f"bad enforcement {enforcement!r} or target {target!r}")
        with self.lock:
            ruleset = Ruleset(
                self._id(), name, organization or repository, target, enforcement,
                list(include if include is not None else ["~DEFAULT_BRANCH"]), list(exclude or []),
                [dict(r) for r in rules], "Organization" if organization else "Repository",
                list(bypass_actors or []),
            )  # fmt: skip
            self.rulesets[ruleset.id] = ruleset
            self.settings(repository)
            return ruleset.id

    def protect(self, repository: str, branch: str, protection: dict[str, Any]) -> None:
        """Classic branch protection of `branch`, in the shape GET .../protection answers (its URLs
        are added when read)."""
        with self.lock:
            self.settings(repository).protection[branch] = dict(protection)

    def unprotect(self, repository: str, branch: str) -> None:
        with self.lock:
            self.settings(repository).protection.pop(branch, None)

    def deny(self, area: str) -> None:
        """`area` (environments, rulesets, protection) answers 403, as to a token without its permission."""
        if area not in AREAS:
            raise ValueError(f"unknown area {area!r}; known: {', '.join(AREAS)}")
        self.denied.add(area)

    # ------------------------------------------------------------ request handling

    def handle(self, request: httpx.Request) -> httpx.Response | None:
        raw = request.url.raw_path.decode("ascii").partition("?")[0]
        for kind, pattern in _ROUTES:
            match = pattern.match(raw)
            if match is None:
                continue
            if request.method != "GET":
                return not_found()
            owner, name, *rest = (urllib.parse.unquote(g) for g in match.groups())
            repository = f"{owner}/{name}"
            with self.lock:
                default = self.default_branch(repository)
                if default is None:
                    return not_found()
                area = {"environments": "environments", "environment": "environments",
                        "branch_policies": "environments", "protection": "protection"}.get(kind, "rulesets")  # fmt: skip
                if area in self.denied:
                    return error(403, "Resource not accessible by personal access token")
                handler = getattr(self, f"_{kind}")
                response: httpx.Response = handler(request, repository, default, *rest)
                return response
        return None

    def _environment_json(self, repository: str, env: Environment) -> dict[str, Any]:
        url = f"{API}/repos/{repository}/environments/{urllib.parse.quote(env.name, safe='')}"
        rules: list[dict[str, Any]] = []
        if env.wait_timer:
            rules.append({"id": env.id + 1, "node_id": node_id("Gate", env.id + 1), "type": "wait_timer",
                          "wait_timer": env.wait_timer})  # fmt: skip
        if env.reviewers:
            reviewers = [{"type": "User", "reviewer": {"login": login}} for login in env.reviewers]
            rules.append({"id": env.id + 2, "node_id": node_id("Gate", env.id + 2), "type": "required_reviewers",
                          "prevent_self_review": False, "reviewers": reviewers})  # fmt: skip
        policy = None
        if env.branch_policy != "all":
            rules.append({"id": env.id + 3, "node_id": node_id("Gate", env.id + 3), "type": "branch_policy"})
            policy = {
                "protected_branches": env.branch_policy == "protected",
                "custom_branch_policies": env.branch_policy == "custom",
            }
        return {
            "id": env.id, "node_id": node_id("Environment", env.id), "name": env.name, "url": url,
            "html_url": f"{WEB}/{repository}/deployments/activity_log?environments_filter={env.name}",
            "created_at": STAMP, "updated_at": STAMP, "protection_rules": rules,
            "deployment_branch_policy": policy,
        }  # fmt: skip

    def _environments(self, request: httpx.Request, repository: str, default: str) -> httpx.Response:
        envs = sorted(self.settings(repository).environments.values(), key=lambda e: e.name.casefold())
        listed = page(request, [self._environment_json(repository, e) for e in envs])
        body = {"total_count": len(envs), "environments": listed.json()}
        return json_response(
            200, body, {"link": listed.headers["link"]} if "link" in listed.headers else None
        )

    def _environment(
        self, request: httpx.Request, repository: str, default: str, name: str
    ) -> httpx.Response:
        env = self.settings(repository).environments.get(name.casefold())
        return json_response(200, self._environment_json(repository, env)) if env else not_found()

    def _branch_policies(
        self, request: httpx.Request, repository: str, default: str, name: str
    ) -> httpx.Response:
        env = self.settings(repository).environments.get(name.casefold())
        if env is None:
            return not_found()
        items = [
            {"id": pid, "node_id": node_id("GateBranchPolicy", pid), "name": pattern, "type": kind}
            for pid, pattern, kind in env.policies
        ]
        listed = page(request, items)
        body = {"total_count": len(items), "branch_policies": listed.json()}
        return json_response(
            200, body, {"link": listed.headers["link"]} if "link" in listed.headers else None
        )

    def _applies(self, ruleset: Ruleset, repository: str) -> bool:
        if ruleset.source_type == "Repository":
            return ruleset.source.casefold() == repository.casefold()
        return repository.casefold().startswith(ruleset.source.casefold() + "/")

    def _summary(self, repository: str, r: Ruleset) -> dict[str, Any]:
        url = f"{API}/repos/{repository}/rulesets/{r.id}"
        return {
            "id": r.id, "name": r.name, "target": r.target, "source_type": r.source_type,
            "source": r.source, "enforcement": r.enforcement, "node_id": node_id("RepositoryRuleset", r.id),
            "_links": {"self": {"href": url}, "html": {"href": f"{WEB}/{repository}/rules/{r.id}"}},
            "created_at": STAMP, "updated_at": STAMP,
        }  # fmt: skip

    def _rulesets(self, request: httpx.Request, repository: str, default: str) -> httpx.Response:
        q = request.url.params
        parents = q.get("includes_parents", "true") != "false"
        targets = set(q.get("targets", "").split(",")) - {""}
        found = [
            r for r in self.rulesets.values()
            if self._applies(r, repository) and (parents or r.source_type == "Repository")
            and (not targets or r.target in targets)
        ]  # fmt: skip
        return page(request, [self._summary(repository, r) for r in sorted(found, key=lambda r: r.id)])

    def _ruleset(self, request: httpx.Request, repository: str, default: str, ident: str) -> httpx.Response:
        r = self.rulesets.get(int(ident))
        if r is None or not self._applies(r, repository):
            return not_found()
        if r.source_type != "Repository" and request.url.params.get("includes_parents", "true") == "false":
            return not_found()
        body = self._summary(repository, r) | {
            "bypass_actors": r.bypass_actors,
            "current_user_can_bypass": "never",
            "conditions": {"ref_name": {"include": r.include, "exclude": r.exclude}},
            "rules": r.rules,
        }
        return json_response(200, body)

    def _branch_rules(
        self, request: httpx.Request, repository: str, default: str, branch: str
    ) -> httpx.Response:
        ref = f"refs/heads/{branch}"
        found: list[dict[str, Any]] = []
        for r in sorted(self.rulesets.values(), key=lambda r: r.id):
            if r.enforcement != "active" or r.target != "branch" or not self._applies(r, repository):
                continue
            if not any(ref_matches(p, ref, default) for p in r.include):
                continue
            if any(ref_matches(p, ref, default) for p in r.exclude):
                continue
            for rule in r.rules:
                found.append(
                    rule
                    | {"ruleset_source_type": r.source_type, "ruleset_source": r.source, "ruleset_id": r.id}
                )
        return page(request, found)

    def _protection(
        self, request: httpx.Request, repository: str, default: str, branch: str
    ) -> httpx.Response:
        found = self.settings(repository).protection.get(branch)
        if found is None:
            return error(404, "Branch not protected")
        url = f"{API}/repos/{repository}/branches/{urllib.parse.quote(branch, safe='')}/protection"
        body = {"url": url, **found}
        for key in ("required_status_checks", "required_pull_request_reviews", "enforce_admins"):
            if isinstance(body.get(key), dict):
                body[key] = {"url": f"{url}/{key}", **body[key]}
        return json_response(200, body)
