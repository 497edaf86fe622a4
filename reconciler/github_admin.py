"""The repository settings the approval gate relies on, read from GitHub's REST API (read-only):
the repository, deployment environments and their branch policies, the names of secrets
(repository, environment, organization's shared; never values), rulesets and the rules in force on
a branch, classic branch protection, and CODEOWNERS. For `access doctor --github`.

Every answer is read through `reconciler.connectors.answers` against the shapes below (what doctor
uses of it), so an answer of another shape is one line naming what was wrong, as for every vendor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NotRequired, TypeVar
from urllib.parse import quote

import httpx
from typing_extensions import TypedDict

from reconciler.codeowners import LOCATIONS
from reconciler.connectors.answers import Expected, answer, conform
from reconciler.github_api import PER_PAGE, GitHubClient, GitHubError, GitHubNotFound

T = TypeVar("T")


@answer
class Repository(TypedDict):
    full_name: str
    default_branch: str


@answer
class DeploymentBranchPolicy(TypedDict):
    protected_branches: bool
    custom_branch_policies: bool


@answer
class Environment(TypedDict):
    name: str
    deployment_branch_policy: NotRequired[DeploymentBranchPolicy | None]


@answer
class Environments(TypedDict):
    environments: list[Environment]


@answer
class BranchPolicy(TypedDict):
    name: str
    type: NotRequired[str]


@answer
class BranchPolicies(TypedDict):
    branch_policies: list[BranchPolicy]


@answer
class Secret(TypedDict):
    name: str


@answer
class Secrets(TypedDict):
    secrets: list[Secret]


@answer
class Rule(TypedDict):
    type: str
    parameters: NotRequired[dict[str, Any] | None]
    ruleset_id: NotRequired[int]


@answer
class RulesetSummary(TypedDict):
    id: int
    name: str
    enforcement: str
    target: NotRequired[str]
    source_type: NotRequired[str]


@answer
class RefName(TypedDict):
    include: NotRequired[list[str]]
    exclude: NotRequired[list[str]]


@answer
class Conditions(TypedDict):
    ref_name: NotRequired[RefName | None]


@answer
class Ruleset(RulesetSummary):
    rules: NotRequired[list[Rule]]
    conditions: NotRequired[Conditions | None]


REPOSITORY = Expected(Repository, "a repository")
ENVIRONMENTS = Expected(Environments, "a list of environments")
BRANCH_POLICIES = Expected(BranchPolicies, "a list of deployment branch policies")
SECRETS = Expected(Secrets, "a list of secrets")
RULE = Expected(Rule, "a rule")
RULESET_SUMMARY = Expected(RulesetSummary, "a ruleset")
RULESET = Expected(Ruleset, "a ruleset")
PROTECTION = Expected(dict[str, Any], "a branch protection")


class GitHubAdminReader(GitHubClient):
    """A read-only client (`writable=False`) with the settings endpoints."""

    async def _get(self, path: str, expected: Expected[T]) -> T:
        response = await self._send("GET", path)
        return conform(response, self._check(response, expected.description), expected)

    async def _pages(
        self, path: str, read: Callable[[httpx.Response], list[T]], params: Mapping[str, str] | None = None
    ) -> list[T]:
        """Every page's items (`Link: rel="next"`), each page read by `read`; a link to another host,
        or back to a page already read, is refused."""
        items: list[T] = []
        url: str | None = path
        query: Mapping[str, str] | None = {**(params or {}), "per_page": str(PER_PAGE)}
        followed: set[str] = set()
        while url is not None:
            response = await self._send("GET", url, params=query)
            items += read(response)
            url = response.links.get("next", {}).get("url")
            query = None
            if url is not None:
                if url in followed or httpx.URL(url).host != self._origin.host:
                    raise GitHubError(f"refusing to follow the pagination of {path} to {url}")
                followed.add(url)
        return items

    async def _listed(self, path: str, expected: Expected[Any], key: str) -> list[Any]:
        """A list GitHub wraps as `{total_count, <key>: [...]}`."""

        def read(response: httpx.Response) -> list[Any]:
            found: list[Any] = conform(response, self._check(response, expected.description), expected)[key]
            return found

        return await self._pages(path, read)

    async def _array(
        self, path: str, item: Expected[T], what: str, params: Mapping[str, str] | None = None
    ) -> list[T]:
        """A list GitHub answers as a JSON array."""

        def read(response: httpx.Response) -> list[T]:
            found = conform(response, self._check(response, what), Expected(list[Any], what))
            return [conform(response, each, item) for each in found]

        return await self._pages(path, read, params)

    def _environment_path(self, name: str) -> str:
        return f"{self._repo_path}/environments/{quote(name, safe='')}"

    async def repository(self) -> Repository:
        return await self._get(self._repo_path, REPOSITORY)

    async def environments(self) -> list[Environment]:
        return await self._listed(f"{self._repo_path}/environments", ENVIRONMENTS, "environments")

    async def branch_policies(self, environment: str) -> list[BranchPolicy]:
        path = f"{self._environment_path(environment)}/deployment-branch-policies"
        return await self._listed(path, BRANCH_POLICIES, "branch_policies")

    async def secret_names(self, environment: str | None = None) -> set[str]:
        """The names of the repository's secrets, or of an environment's."""
        path = (
            f"{self._repo_path}/actions/secrets"
            if environment is None
            else f"{self._environment_path(environment)}/secrets"
        )
        return {s["name"].upper() for s in await self._listed(path, SECRETS, "secrets")}

    async def organization_secret_names(self) -> set[str]:
        """The organization's secrets shared with this repository (none for a user's repository)."""
        try:
            found = await self._listed(f"{self._repo_path}/actions/organization-secrets", SECRETS, "secrets")
        except GitHubNotFound:
            return set()
        return {s["name"].upper() for s in found}

    async def rulesets(self) -> list[RulesetSummary]:
        """The rulesets that apply to the repository, the organization's included."""
        path = f"{self._repo_path}/rulesets"
        return await self._array(path, RULESET_SUMMARY, "a list of rulesets", {"includes_parents": "true"})

    async def ruleset(self, ruleset_id: int) -> Ruleset:
        return await self._get(f"{self._repo_path}/rulesets/{ruleset_id}?includes_parents=true", RULESET)

    async def branch_rules(self, branch: str) -> list[Rule]:
        """The rules in force on `branch`: those of every active ruleset that targets it."""
        return await self._array(
            f"{self._repo_path}/rules/branches/{quote(branch, safe='')}", RULE, "a list of rules"
        )

    async def branch_protection(self, branch: str) -> dict[str, Any] | None:
        """The classic branch protection of `branch`; None when it has none."""
        response = await self._send("GET", f"{self._repo_path}/branches/{quote(branch, safe='')}/protection")
        if response.status_code == 404:
            return None
        return conform(response, self._check(response, PROTECTION.description), PROTECTION)

    async def codeowners(self, ref: str) -> tuple[str, str] | None:
        """(path, text) of the CODEOWNERS file GitHub uses on `ref`: the first of its three places."""
        for path in LOCATIONS:
            found = await self.get_file(path, ref=ref)
            if found is not None:
                return found.path, found.text
        return None
