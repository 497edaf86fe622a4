"""Concur OAuth: rotating refresh tokens saved through the token store, geolocation, actionable errors."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from reconciler.connectors.concur import PLUGIN, ConcurConnector
from reconciler.connectors.concur_auth import ConcurAuthError
from reconciler.connectors.concur_settings import ConcurSettings
from reconciler.errors import AccessError, ConfigError
from reconciler.records import Scope
from reconciler.sandbox.concur import simulated
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.concur import US2, ConcurSimulator
from reconciler.simulators.concur_sandbox import sandbox_state
from reconciler.token_store import FileTokenStore, MemoryTokenStore, StoredToken

T = TypeVar("T")
EU2 = "https://eu2.api.concursolutions.com"
SCOPE = Scope(
    vendors=frozenset({"concur"}),
    tenants=frozenset({("concur", "")}),
    all_of=frozenset({("concur", "", "role")}),
)
CANARY_SECRET = "sekrit-canary-client-secret"
CANARY_REFRESH = "sekrit-canary-refresh-token"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def sync(connector: ConcurConnector) -> Any:
    try:
        return await connector.sync(SCOPE)
    finally:
        await connector.aclose()


def env_for(simulator: ConcurSimulator, **extra: str) -> dict[str, str]:
    simulator.add_client("client-1", CANARY_SECRET)
    return {
        "CONCUR_CLIENT_ID": "client-1",
        "CONCUR_CLIENT_SECRET": CANARY_SECRET,
        "CONCUR_COMPANY_ID": simulator.state.company_id,
        "CONCUR_GEOLOCATION": simulator.geolocation,
        **extra,
    }


def token_request(simulator: ConcurSimulator, refresh_token: str, host: str = US2) -> httpx.Response:
    form = {
        "client_id": "client-1",
        "client_secret": CANARY_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    return simulator.handle(httpx.Request("POST", f"{host}/oauth2/v0/token", data=form))


def test_rotated_refresh_token_is_saved_and_the_old_one_is_rejected(tmp_path: Path) -> None:
    simulator = ConcurSimulator(sandbox_state())
    first = simulator.issue_refresh_token("first-refresh-token")
    env = env_for(
        simulator, CONCUR_REFRESH_TOKEN=first, CONCUR_TOKEN_FILE=str(tmp_path / "concur-token.json")
    )
    transport = SimulatorTransport(simulator.handle)

    state = run(sync(PLUGIN.from_env(env, writable=False, transport=transport)))
    assert len(state.accounts) == 12

    saved = FileTokenStore(tmp_path / "concur-token.json").load()
    assert saved is not None and saved.geolocation == US2
    newest = saved.refresh_token.get_secret_value()
    assert newest != first and set(simulator.refresh_tokens) == {newest}
    assert stat.S_IMODE((tmp_path / "concur-token.json").stat().st_mode) == 0o600

    rejected = token_request(simulator, first)
    assert rejected.status_code == 400 and rejected.json()["code"] == 108

    # the next run starts from the saved token, not the stale CONCUR_REFRESH_TOKEN, and rotates again
    run(sync(PLUGIN.from_env(env, writable=False, transport=transport)))
    again = FileTokenStore(tmp_path / "concur-token.json").load()
    assert again is not None and again.refresh_token.get_secret_value() not in (first, newest)


def test_a_stale_refresh_token_says_how_to_get_a_new_one() -> None:
    simulator = ConcurSimulator(sandbox_state())
    env = env_for(simulator, CONCUR_REFRESH_TOKEN="superseded-token", CONCUR_TOKEN_STORE="memory")
    connector = PLUGIN.from_env(env, writable=False, transport=SimulatorTransport(simulator.handle))
    with pytest.raises(ConcurAuthError) as caught:
        run(sync(connector))
    assert caught.value.code == 108
    assert "refresh token is expired" in caught.value.message
    assert "access concur setup" in caught.value.message
    assert "Company Request Token" in caught.value.message


@pytest.mark.parametrize(
    ("client_id", "secret", "code", "advice"),
    [
        ("client-1", "wrong-secret", 64, "check CONCUR_CLIENT_SECRET"),
        ("nobody", CANARY_SECRET, 61, "check CONCUR_CLIENT_ID"),
    ],
)
def test_client_errors_are_mapped_to_actionable_messages(
    client_id: str, secret: str, code: int, advice: str
) -> None:
    simulator = ConcurSimulator(sandbox_state())
    env = env_for(
        simulator, CONCUR_REFRESH_TOKEN=simulator.issue_refresh_token(), CONCUR_TOKEN_STORE="memory"
    )
    env |= {"CONCUR_CLIENT_ID": client_id, "CONCUR_CLIENT_SECRET": secret}
    connector = PLUGIN.from_env(env, writable=False, transport=SimulatorTransport(simulator.handle))
    with pytest.raises(ConcurAuthError) as caught:
        run(sync(connector))
    assert caught.value.code == code
    assert f"Concur code {code}" in caught.value.message and advice in caught.value.message


def test_a_new_geolocation_in_the_token_response_moves_every_call_and_is_saved() -> None:
    simulator = ConcurSimulator(sandbox_state())
    simulator.keep_log = True
    store = MemoryTokenStore()
    connector = simulated(simulator, store=store)
    simulator.next_geolocation = EU2
    run(sync(connector))
    api_hosts = {str(r.url.host) for r in simulator.log if r.url.path != "/oauth2/v0/token"}
    assert api_hosts == {"eu2.api.concursolutions.com"}
    assert store.saved[-1].geolocation == EU2


def test_user_lives_elsewhere_is_followed_to_the_named_geolocation() -> None:
    simulator = ConcurSimulator(sandbox_state())
    store = MemoryTokenStore()
    connector = simulated(simulator, store=store)  # configured for us2
    simulator.geolocation = EU2  # the company now lives in eu2: a refresh at us2 answers code 16

    env_for(simulator)  # registers the client the probe below uses
    elsewhere = token_request(simulator, next(iter(simulator.refresh_tokens)))
    assert elsewhere.status_code == 400
    assert elsewhere.json() == {
        "code": 16,
        "error": "invalid_request",
        "error_description": "user lives elsewhere",
        "geolocation": EU2,
    }
    state = run(sync(connector))
    assert len(state.accounts) == 12
    assert store.saved[-1].geolocation == EU2


def test_a_failed_save_stops_the_run_and_says_what_to_do() -> None:
    class BrokenStore(MemoryTokenStore):
        async def save(self, token: StoredToken, *, previous: StoredToken | None = None) -> None:
            raise AccessError("disk full")

    simulator = ConcurSimulator(sandbox_state())
    connector = simulated(simulator, store=BrokenStore())
    with pytest.raises(AccessError) as caught:
        run(sync(connector))
    assert "saving it to memory failed (disk full)" in caught.value.message
    assert "access concur setup" in caught.value.message


def test_missing_settings_are_named_together() -> None:
    with pytest.raises(ConfigError) as caught:
        ConcurSettings.from_env({"CONCUR_CLIENT_ID": "x"})
    assert (
        "CONCUR_CLIENT_SECRET, CONCUR_REFRESH_TOKEN, CONCUR_GEOLOCATION, CONCUR_COMPANY_ID are not set"
        in caught.value.message
    )


def test_secrets_never_appear_in_errors_reprs_or_logs(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    simulator = ConcurSimulator(sandbox_state())
    simulator.issue_refresh_token(CANARY_REFRESH)
    env = env_for(simulator, CONCUR_REFRESH_TOKEN=CANARY_REFRESH, CONCUR_TOKEN_FILE=str(tmp_path / "t.json"))
    transport = SimulatorTransport(simulator.handle)
    connector = PLUGIN.from_env(env, writable=False, transport=transport)
    texts = [repr(connector), repr(connector.settings), str(connector.settings)]
    run(sync(connector))
    rotated = FileTokenStore(tmp_path / "t.json").load()
    assert rotated is not None
    texts += [repr(rotated), str(rotated)]
    bad = PLUGIN.from_env(
        env | {"CONCUR_CLIENT_SECRET": CANARY_SECRET + "-wrong"}, writable=False, transport=transport
    )
    with pytest.raises(ConcurAuthError) as caught:
        run(sync(bad))
    texts += [str(caught.value), repr(caught.value), caplog.text]
    joined = "\n".join(texts)
    for secret in (CANARY_SECRET, CANARY_REFRESH, rotated.refresh_token.get_secret_value()):
        assert secret not in joined
    assert (
        json.loads((tmp_path / "t.json").read_text())["refresh_token"]
        == rotated.refresh_token.get_secret_value()
    )
