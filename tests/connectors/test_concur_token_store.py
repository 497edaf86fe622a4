"""The token store: a rotated Concur refresh token written back to a GitHub Actions secret, sealed."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import SecretStr

from reconciler.connectors.concur import simulated
from reconciler.errors import AccessError, ConfigError
from reconciler.records import Scope
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.concur import ConcurSimulator
from reconciler.simulators.concur_sandbox import sandbox_state
from reconciler.simulators.github_secrets import GitHubSecretsSimulator
from reconciler.token_store import (
    FileTokenStore,
    GitHubSecretTokenStore,
    StoredToken,
    default_token_file,
    seal,
    token_store_from_env,
)

T = TypeVar("T")
REPO = "harborbuild/access"
GH_TOKEN = "ghp-sekrit-canary"
SCOPE = Scope(vendors=frozenset({"concur"}), tenants=frozenset({("concur", "")}))
ACTIONS_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_REPOSITORY": REPO,
    "GITHUB_API_URL": "https://api.github.com",
    "CONCUR_SECRETS_TOKEN": GH_TOKEN,
}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class GitHub:
    def __init__(self) -> None:
        self.simulator = GitHubSecretsSimulator(repositories=(REPO,), tokens=(GH_TOKEN,))
        self.requests: list[httpx.Request] = []
        self.transport = SimulatorTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.simulator.handle_or_404(request)

    def store(self, env: dict[str, str] | None = None) -> GitHubSecretTokenStore:
        store = token_store_from_env(env or ACTIONS_ENV, transport=self.transport)
        assert isinstance(store, GitHubSecretTokenStore)
        return store


def test_rotation_writes_the_newest_refresh_token_back_to_the_repository_secret() -> None:
    github = GitHub()
    concur = ConcurSimulator(sandbox_state())

    async def two_runs() -> None:
        for _ in range(2):
            connector = simulated(concur, store=github.store(), refresh_token=_live_token(concur, github))
            try:
                await connector.sync(SCOPE)
            finally:
                await connector.aclose()

    run(two_runs())
    newest = github.simulator.secret(REPO, "CONCUR_REFRESH_TOKEN")
    assert newest is not None and set(concur.refresh_tokens) == {newest}
    assert github.simulator.secrets[(REPO, "CONCUR_REFRESH_TOKEN")].updated == 2
    assert github.simulator.secret(REPO, "CONCUR_GEOLOCATION") is None  # unchanged: not written
    puts = [r for r in github.requests if r.method == "PUT"]
    assert [r.url.path for r in puts] == [f"/repos/{REPO}/actions/secrets/CONCUR_REFRESH_TOKEN"] * 2
    for put in puts:
        body = json.loads(put.content)
        assert set(body) == {"encrypted_value", "key_id"} and body["key_id"] == github.simulator.key_id
        assert newest not in put.content.decode() and "refresh" not in body["encrypted_value"]
        assert put.headers["authorization"] == f"Bearer {GH_TOKEN}"
        assert put.headers["x-github-api-version"] == "2022-11-28"


def _live_token(concur: ConcurSimulator, github: GitHub) -> str:
    """The token a workflow would get: the secret once written, else the one set up first."""
    return github.simulator.secret(REPO, "CONCUR_REFRESH_TOKEN") or concur.issue_refresh_token(
        "initial-token"
    )


def test_a_moved_geolocation_is_written_too() -> None:
    github = GitHub()
    store = github.store()
    previous = StoredToken(SecretStr("old"), "https://us2.api.concursolutions.com")
    run(store.save(StoredToken(SecretStr("new"), "https://eu2.api.concursolutions.com"), previous=previous))
    assert github.simulator.secret(REPO, "CONCUR_REFRESH_TOKEN") == "new"
    assert github.simulator.secret(REPO, "CONCUR_GEOLOCATION") == "https://eu2.api.concursolutions.com"


def test_a_token_without_secrets_permission_fails_readably_and_secret_free() -> None:
    github = GitHub()
    store = github.store(ACTIONS_ENV | {"CONCUR_SECRETS_TOKEN": "ghp-not-allowed"})
    with pytest.raises(AccessError) as caught:
        run(store.save(StoredToken(SecretStr("sekrit-refresh"), "https://us2.api.concursolutions.com")))
    message = caught.value.message
    assert "HTTP 401 Bad credentials" in message and "Secrets: write" in message
    assert "ghp-not-allowed" not in message and "sekrit-refresh" not in message


def test_a_value_sealed_for_another_key_is_refused_by_the_simulator() -> None:
    github = GitHub()
    old_key = github.simulator.public_key
    github.simulator.rotate_key()
    response = github.simulator.handle(
        httpx.Request(
            "PUT",
            f"https://api.github.com/repos/{REPO}/actions/secrets/X",
            headers={"Authorization": f"Bearer {GH_TOKEN}"},
            json={"encrypted_value": seal(old_key, "v"), "key_id": github.simulator.key_id},
        )
    )
    assert response is not None and response.status_code == 422


def test_the_github_store_is_the_default_in_actions_and_needs_a_secrets_token() -> None:
    with pytest.raises(ConfigError) as caught:
        token_store_from_env({"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": REPO})
    assert "CONCUR_SECRETS_TOKEN is not set" in caught.value.message
    assert "GITHUB_TOKEN cannot write secrets" in caught.value.message
    assert isinstance(
        token_store_from_env({"GITHUB_ACTIONS": "true", "CONCUR_TOKEN_STORE": "file"}), FileTokenStore
    )


def test_the_file_store_round_trips_privately(tmp_path: Path) -> None:
    store = token_store_from_env({"XDG_CONFIG_HOME": str(tmp_path)})
    assert isinstance(store, FileTokenStore)
    assert (
        store.path
        == default_token_file({"XDG_CONFIG_HOME": str(tmp_path)})
        == tmp_path / "access/concur-token.json"
    )
    assert store.load() is None
    run(store.save(StoredToken(SecretStr("r1"), "https://us2.api.concursolutions.com")))
    loaded = store.load()
    assert loaded is not None and loaded.refresh_token.get_secret_value() == "r1"
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    store.path.write_text("not json")
    with pytest.raises(ConfigError, match="access concur setup"):
        store.load()
