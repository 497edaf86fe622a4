"""The repository settings the approval gate relies on, read from GitHub's REST API (read-only):
the repository, deployment environments and their branch policies, the names of secrets
(repository, environment, organization's shared; never values), rulesets and the rules in force on
a branch, classic branch protection, and CODEOWNERS. For `access doctor --github`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from reconciler.codeowners import LOCATIONS
from reconciler.github_api import PER_PAGE, GitHubClient, GitHubError, GitHubNotFound


class GitHubAdminReader(GitHubClient):
    """A read-only client (`writable=False`) with the settings endpoints."""

    async def repository(self) -> dict[str, Any]:
        found = await self._json("GET", self._repo_path)
        if not isinstance(found, dict):
            raise GitHubError(f"unexpected answer from GET {self._repo_path}: not a repository")
        return found

    async def _listed(self, path: str, key: str) -> list[dict[str, Any]]:
        """A list GitHub wraps as `{total_count, <key>: [...]}`, every page of it."""
        items: list[dict[str, Any]] = []
        url: str | None = path
        query: dict[str, str] | None = {"per_page": str(PER_PAGE)}
        while url is not None:
            response = await self._send("GET", url, params=query)
            data = self._check(response)
            found = data.get(key) if isinstance(data, dict) else None
            if not isinstance(found, list):
                raise GitHubError(f"unexpected answer from GET {response.request.url.path}: no list of {key}")
            items += [i for i in found if isinstance(i, dict)]
            url = response.links.get("next", {}).get("url")
            query = None
            if url is not None and httpx.URL(url).host != self._origin.host:
                raise GitHubError(
                    f"refusing to follow a pagination link to another host: {httpx.URL(url).host}"
                )
        return items

    def _environment_path(self, name: str) -> str:
        return f"{self._repo_path}/environments/{quote(name, safe='')}"

    async def environments(self) -> list[dict[str, Any]]:
        return await self._listed(f"{self._repo_path}/environments", "environments")

    async def branch_policies(self, environment: str) -> list[dict[str, Any]]:
        path = f"{self._environment_path(environment)}/deployment-branch-policies"
        return await self._listed(path, "branch_policies")

    async def secret_names(self, environment: str | None = None) -> set[str]:
        """The names of the repository's secrets, or of an environment's."""
        path = (
            f"{self._repo_path}/actions/secrets"
            if environment is None
            else f"{self._environment_path(environment)}/secrets"
        )
        return {str(s.get("name", "")).upper() for s in await self._listed(path, "secrets")}

    async def organization_secret_names(self) -> set[str]:
        """The organization's secrets shared with this repository (none for a user's repository)."""
        try:
            found = await self._listed(f"{self._repo_path}/actions/organization-secrets", "secrets")
        except GitHubNotFound:
            return set()
        return {str(s.get("name", "")).upper() for s in found}

    async def rulesets(self) -> list[dict[str, Any]]:
        """The rulesets that apply to the repository, the organization's included."""
        return await self._paginate(f"{self._repo_path}/rulesets", {"includes_parents": "true"})

    async def ruleset(self, ruleset_id: int) -> dict[str, Any]:
        found = await self._json("GET", f"{self._repo_path}/rulesets/{ruleset_id}?includes_parents=true")
        if not isinstance(found, dict):
            raise GitHubError(f"unexpected answer for ruleset {ruleset_id}: not a ruleset")
        return found

    async def branch_rules(self, branch: str) -> list[dict[str, Any]]:
        """The rules in force on `branch`: those of every active ruleset that targets it."""
        return await self._paginate(f"{self._repo_path}/rules/branches/{quote(branch, safe='')}")

    async def branch_protection(self, branch: str) -> dict[str, Any] | None:
        """The classic branch protection of `branch`; None when it has none."""
        response = await self._send("GET", f"{self._repo_path}/branches/{quote(branch, safe='')}/protection")
        if response.status_code == 404:
            return None
        found = self._check(response)
        return found if isinstance(found, dict) else None

    async def codeowners(self, ref: str) -> tuple[str, str] | None:
        """(path, text) of the CODEOWNERS file GitHub uses on `ref`: the first of its three places."""
        for path in LOCATIONS:
            found = await self.get_file(path, ref=ref)
            if found is not None:
                return found.path, found.text
        return None
