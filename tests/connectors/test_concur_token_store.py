"""The token store: a rotated Concur refresh token written back to a GitHub Actions secret, sealed.

Repository secrets by default; environment secrets (of the job's deployment environment) when
CONCUR_SECRETS_ENVIRONMENT is set, as the workflows do.
"""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from pydantic import SecretStr

from reconciler.connectors.http import RetryPolicy
from reconciler.errors import AccessError, ConfigError
from reconciler.records import Scope
from reconciler.sandbox.concur import simulated
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

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"

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
    def __init__(self, environments: tuple[str, ...] = ("access-read", "access-apply")) -> None:
        self.simulator = GitHubSecretsSimulator(
            repositories=(REPO,), tokens=(GH_TOKEN,), environments=environments
        )
        self.requests: list[httpx.Request] = []
        self.transport = SimulatorTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.simulator.handle_or_404(request)

    def store(self, env: dict[str, str] | None = None) -> GitHubSecretTokenStore:
        store = token_store_from_env(env or ACTIONS_ENV, transport=self.transport)
        assert isinstance(store, GitHubSecretTokenStore)
        return store


@pytest.mark.parametrize("environment", [None, "access-apply"], ids=["repository", "environment"])
def test_rotation_writes_the_newest_refresh_token_back_to_the_secret_it_came_from(
    environment: str | None,
) -> None:
    github = GitHub()
    concur = ConcurSimulator(sandbox_state())
    env = ACTIONS_ENV if environment is None else ACTIONS_ENV | {"CONCUR_SECRETS_ENVIRONMENT": environment}

    async def two_runs() -> None:
        for _ in range(2):
            live = _live_token(concur, github, environment)
            connector = simulated(concur, store=github.store(env), refresh_token=live)
            try:
                await connector.sync(SCOPE)
            finally:
                await connector.aclose()

    run(two_runs())
    sim = github.simulator
    newest = sim.secret(REPO, "CONCUR_REFRESH_TOKEN", environment=environment)
    assert newest is not None and set(concur.refresh_tokens) == {newest}
    assert sim.secret(REPO, "CONCUR_GEOLOCATION", environment=environment) is None  # unchanged: not written
    if environment is None:  # the default is unchanged: repository secrets, no environment touched
        base = f"/repos/{REPO}/actions/secrets"
        key_id = sim.key_id
        assert sim.secrets[(REPO, "CONCUR_REFRESH_TOKEN")].updated == 2 and sim.environment_secrets == {}
    else:  # only that environment's secret: nothing readable from every branch
        base = f"/repos/{REPO}/environments/{environment}/secrets"
        key_id = sim.environment_public_key(REPO, environment)[0]
        assert key_id != sim.key_id
        assert sim.environment_secrets[(REPO, environment, "CONCUR_REFRESH_TOKEN")].updated == 2
        assert (
            sim.secrets == {} and sim.secret(REPO, "CONCUR_REFRESH_TOKEN", environment="access-read") is None
        )
    assert [f"{r.method} {r.url.path}" for r in github.requests] == [
        f"GET {base}/public-key",
        f"PUT {base}/CONCUR_REFRESH_TOKEN",
    ] * 2
    for put in (r for r in github.requests if r.method == "PUT"):
        body = json.loads(put.content)
        assert set(body) == {"encrypted_value", "key_id"} and body["key_id"] == key_id
        assert newest not in put.content.decode() and "refresh" not in body["encrypted_value"]
        assert put.headers["authorization"] == f"Bearer {GH_TOKEN}"
        assert put.headers["x-github-api-version"] == "2022-11-28"


def _live_token(concur: ConcurSimulator, github: GitHub, environment: str | None = None) -> str:
    """The token a workflow would get: the secret once written, else the one set up first."""
    return github.simulator.secret(
        REPO, "CONCUR_REFRESH_TOKEN", environment=environment
    ) or concur.issue_refresh_token("initial-token")


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


# ---------------------------------------------------------------- environment secrets

READ_ENV = ACTIONS_ENV | {  # what plan.yml and drift.yml pass to `access plan`
    "CONCUR_SECRETS_ENVIRONMENT": "access-read",
    "CONCUR_REFRESH_TOKEN_SECRET": "CONCUR_READ_REFRESH_TOKEN",
    "CONCUR_GEOLOCATION_SECRET": "CONCUR_READ_GEOLOCATION",
}


def test_the_read_only_pair_goes_to_the_access_read_environment_under_its_own_names() -> None:
    github = GitHub()
    store = github.store(READ_ENV)
    assert store.description == (
        f"GitHub environment secret CONCUR_READ_REFRESH_TOKEN of environment access-read of {REPO}"
    )
    previous = StoredToken(SecretStr("old"), "https://us2.api.concursolutions.com")
    run(store.save(StoredToken(SecretStr("new"), "https://eu2.api.concursolutions.com"), previous=previous))
    sim = github.simulator
    assert sim.secret(REPO, "CONCUR_READ_REFRESH_TOKEN", environment="access-read") == "new"
    assert (
        sim.secret(REPO, "CONCUR_READ_GEOLOCATION", environment="access-read")
        == "https://eu2.api.concursolutions.com"
    )
    assert {key[1] for key in sim.environment_secrets} == {"access-read"} and sim.secrets == {}


def test_an_environment_name_is_url_encoded_and_not_case_sensitive() -> None:
    github = GitHub(environments=("Prod/Access",))
    store = github.store(ACTIONS_ENV | {"CONCUR_SECRETS_ENVIRONMENT": "prod/access"})
    run(store.save(StoredToken(SecretStr("v1"), "https://us2.api.concursolutions.com")))
    assert github.simulator.secret(REPO, "CONCUR_REFRESH_TOKEN", environment="PROD/ACCESS") == "v1"
    base = f"/repos/{REPO}/environments/prod%2Faccess/secrets"
    assert [r.url.raw_path.decode() for r in github.requests] == [
        f"{base}/public-key",  # fetched once per run
        f"{base}/CONCUR_REFRESH_TOKEN",
        f"{base}/CONCUR_GEOLOCATION",
    ]


def test_a_rotated_token_survives_github_going_away_sealed_and_is_recovered(tmp_path: Path) -> None:
    """GitHub answers the key, then stops answering: the new refresh token is kept SEALED (only GitHub
    can open it) in the state directory, and `access concur recover` writes it once GitHub is back."""
    from reconciler.token_store import recover_pending

    github = GitHub()
    env = ACTIONS_ENV | {"CONCUR_SECRETS_ENVIRONMENT": "access-apply", "ACCESS_STATE_DIR": str(tmp_path)}
    store = github.store(env)
    run(store.prepare())  # at the start of the run, while GitHub answers
    outage = [True]

    def down(request: httpx.Request) -> httpx.Response:
        if outage[0]:
            raise httpx.ConnectError("unreachable", request=request)
        return github.handle(request)

    store.client.transport = SimulatorTransport(down)
    store.client.policy = RetryPolicy(attempts=2, sleep=_no_sleep)
    with pytest.raises(AccessError) as caught:
        run(store.save(StoredToken(SecretStr("sekrit-rotated"), "https://us2.api.concursolutions.com"),
                       previous=StoredToken(SecretStr("old"), "https://us2.api.concursolutions.com")))  # fmt: skip
    pending = tmp_path / "concur.token.pending.json"
    assert f"in {pending}" in caught.value.message and "access concur recover" in caught.value.message
    assert "sekrit-rotated" not in caught.value.message + pending.read_text(encoding="utf-8")
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600
    assert github.simulator.secret(REPO, "CONCUR_REFRESH_TOKEN", environment="access-apply") is None

    outage[0] = False  # GitHub is back
    assert run(recover_pending(pending, store.client)) == ["CONCUR_REFRESH_TOKEN"]
    assert (
        github.simulator.secret(REPO, "CONCUR_REFRESH_TOKEN", environment="access-apply") == "sekrit-rotated"
    )
    assert not pending.exists()


async def _no_sleep(seconds: float) -> None:
    return None


def test_a_missing_environment_fails_naming_the_environment_and_the_variable() -> None:
    github = GitHub()
    store = github.store(ACTIONS_ENV | {"CONCUR_SECRETS_ENVIRONMENT": "access-aply"})
    with pytest.raises(AccessError) as caught:
        run(store.save(StoredToken(SecretStr("sekrit-refresh"), "https://us2.api.concursolutions.com")))
    message = caught.value.message
    assert f"cannot read the public key of environment access-aply of {REPO}: HTTP 404 Not Found" in message
    assert "'access-aply' must exist" in message and "CONCUR_SECRETS_ENVIRONMENT" in message
    assert "Environments: write" in message
    assert github.simulator.environment_secrets == {} and github.simulator.secrets == {}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CONCUR_SECRETS_ENVIRONMENT": "  "}, "CONCUR_SECRETS_ENVIRONMENT is set but empty"),
        ({"CONCUR_SECRETS_ENVIRONMENT": "access\napply"}, "CONCUR_SECRETS_ENVIRONMENT='access\\napply'"),
        ({"CONCUR_SECRETS_ENVIRONMENT": "x" * 256}, "at most 255 printable characters"),
        (
            {"CONCUR_SECRETS_ENVIRONMENT": "access-apply", "CONCUR_TOKEN_STORE": "file"},
            "applies only to CONCUR_TOKEN_STORE=github",
        ),
        (
            {"CONCUR_SECRETS_ENVIRONMENT": "access-apply", "CONCUR_SECRETS_TOKEN": ""},
            "written back to a secret of environment 'access-apply', but CONCUR_SECRETS_TOKEN is not set",
        ),
    ],
    ids=["empty", "control-character", "too-long", "not-the-github-store", "no-secrets-token"],
)
def test_a_misconfigured_environment_is_a_config_error_naming_the_variable(
    env: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        token_store_from_env(ACTIONS_ENV | env)
    assert expected in caught.value.message
    assert GH_TOKEN not in caught.value.message


def test_no_secret_reaches_a_message_or_a_repr() -> None:
    github = GitHub()
    refresh = "sekrit-refresh-canary"
    messages: list[str] = []
    for env in (
        READ_ENV | {"CONCUR_SECRETS_TOKEN": "ghp-not-allowed-canary"},  # 401
        ACTIONS_ENV | {"CONCUR_SECRETS_ENVIRONMENT": "nope"},  # 404
    ):
        store = github.store(env)
        messages += [store.description, repr(store), repr(store.client)]
        with pytest.raises(AccessError) as caught:
            run(store.save(StoredToken(SecretStr(refresh), "https://us2.api.concursolutions.com")))
        messages += [caught.value.message, str(caught.value), repr(caught.value)]
    store = github.store(READ_ENV)
    run(store.save(StoredToken(SecretStr(refresh), "https://us2.api.concursolutions.com")))  # works
    messages += [repr(store), repr(github.simulator.environment_secrets.keys())]
    for text in messages:
        for secret in (GH_TOKEN, "ghp-not-allowed-canary", refresh):
            assert secret not in text, text


def test_the_simulator_refuses_a_value_sealed_for_the_repository_or_an_old_environment_key() -> None:
    github = GitHub()
    sim = github.simulator
    path = f"https://api.github.com/repos/{REPO}/environments/access-apply/secrets/X"
    auth = {"Authorization": f"Bearer {GH_TOKEN}"}

    def put(key_id: str, key: str) -> int:
        body = {"encrypted_value": seal(key, "v"), "key_id": key_id}
        response = sim.handle(httpx.Request("PUT", path, headers=auth, json=body))
        assert response is not None
        return response.status_code

    key_id, key = sim.environment_public_key(REPO, "access-apply")
    assert put(sim.key_id, sim.public_key) == 422  # the repository's key is not the environment's
    assert put(key_id, key) == 201 and put(key_id, key) == 204
    sim.rotate_environment_key(REPO, "access-apply")
    new_id, _ = sim.environment_public_key(REPO, "access-apply")
    assert new_id != key_id and put(new_id, key) == 422  # sealed for the old key
    assert sim.secret(REPO, "X", environment="access-apply") == "v"
    assert sim.secret(REPO, "X") is None and sim.secret(REPO, "X", environment="access-read") is None
    unknown = httpx.Request(
        "GET", f"https://api.github.com/repos/{REPO}/environments/staging/secrets/public-key", headers=auth
    )
    response = sim.handle(unknown)
    assert response is not None and response.status_code == 404


def test_each_workflow_step_with_a_concur_refresh_token_names_its_jobs_environment() -> None:
    """The workflows read the token from the job's environment, so the store must write it there."""
    found = 0
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job_id, job in yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"].items():
            for step in job.get("steps", []):
                env = step.get("env") or {}
                if "CONCUR_REFRESH_TOKEN" not in env:
                    continue
                found += 1
                where = f"{path.name} job {job_id}"
                assert env.get("CONCUR_SECRETS_ENVIRONMENT") == job["environment"], where
                secret = env.get("CONCUR_REFRESH_TOKEN_SECRET", "CONCUR_REFRESH_TOKEN")
                geolocation = env.get("CONCUR_GEOLOCATION_SECRET", "CONCUR_GEOLOCATION")
                assert env["CONCUR_REFRESH_TOKEN"] == f"${{{{ secrets.{secret} }}}}", where
                assert env["CONCUR_GEOLOCATION"] == f"${{{{ secrets.{geolocation} }}}}", where
    assert found == 3  # plan, drift detect, apply
