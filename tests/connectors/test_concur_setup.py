"""`access concur setup` and a sync over real HTTP on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from reconciler.commands.concur import app
from reconciler.commands.concur_setup import run_setup
from reconciler.connectors.concur import PLUGIN
from reconciler.connectors.concur_auth import GLZ, ConcurAuthError
from reconciler.records import Scope
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.concur import US2, ConcurSimulator
from reconciler.simulators.concur_sandbox import sandbox_state
from reconciler.simulators.serve import serve
from reconciler.token_store import FileTokenStore, MemoryTokenStore

SECRET = "sekrit-canary-secret"
SCOPE = Scope(
    vendors=frozenset({"concur"}),
    tenants=frozenset({("concur", "")}),
    all_of=frozenset({("concur", "", "role")}),
)


def concur() -> ConcurSimulator:
    simulator = ConcurSimulator(sandbox_state())
    simulator.add_client("client-1", SECRET)
    return simulator


def setup(simulator: ConcurSimulator, request_token: str, host: str = GLZ) -> MemoryTokenStore:
    store = MemoryTokenStore()
    asyncio.run(
        run_setup(
            env={},
            client_id="client-1",
            client_secret=SecretStr(SECRET),
            company_id=simulator.state.company_id,
            request_token=SecretStr(request_token),
            host=host,
            store=store,
            transport=SimulatorTransport(simulator.handle),
        )
    )
    return store


def test_setup_exchanges_the_request_token_at_glz_for_a_stored_refresh_token() -> None:
    simulator = concur()
    simulator.keep_log = True
    store = setup(simulator, simulator.issue_request_token())
    assert store.token is not None and store.token.geolocation == US2
    assert store.token.refresh_token.get_secret_value() in simulator.refresh_tokens
    [request] = simulator.log
    assert str(request.url) == f"{GLZ}/oauth2/v0/token"
    form = dict(item.split("=", 1) for item in request.content.decode().split("&"))
    assert (form["grant_type"], form["credtype"], form["username"]) == (
        "password",
        "authtoken",
        simulator.state.company_id,
    )


def test_an_expired_request_token_says_how_to_get_a_new_one() -> None:
    simulator = concur()
    expired = simulator.issue_request_token(ttl=-1)
    with pytest.raises(ConcurAuthError) as caught:
        setup(simulator, expired)
    assert caught.value.code == 5
    assert (
        "Company Request Token may be wrong, for another app, or older than 24 hours" in caught.value.message
    )
    assert expired not in caught.value.message and SECRET not in caught.value.message


def test_the_company_grant_at_a_foreign_data_center_is_refused_with_code_16() -> None:
    simulator = concur()
    with pytest.raises(ConcurAuthError) as caught:
        setup(simulator, simulator.issue_request_token(), host="https://eu2.api.concursolutions.com")
    assert caught.value.code == 16 and US2 in caught.value.message


@pytest.mark.loopback
def test_setup_command_then_sync_over_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    simulator = concur()
    request_token = simulator.issue_request_token()
    token_file = tmp_path / "concur-token.json"
    with serve(simulator.handle) as base:
        simulator.glz = simulator.geolocation = base
        monkeypatch.setenv("CONCUR_CLIENT_SECRET", SECRET)
        monkeypatch.setenv("CONCUR_REQUEST_TOKEN", request_token)
        monkeypatch.setenv("CONCUR_TOKEN_FILE", str(token_file))
        monkeypatch.setenv("ACCESS_ALLOW_HOSTS", base.removeprefix("http://"))
        result = CliRunner().invoke(
            app,
            ["setup", "--company-id", simulator.state.company_id, "--client-id", "client-1", "--host", base],
        )
        code, out, err = result.exit_code, result.stdout, result.stderr
        assert code == 0, err
        assert (
            f"Stored the Concur refresh token for company {simulator.state.company_id} in file {token_file}"
            in out
        )
        stored = FileTokenStore(token_file).load()
        assert stored is not None and stored.geolocation == base
        for secret in (SECRET, request_token, stored.refresh_token.get_secret_value()):
            assert secret not in out + err

        env = {
            "CONCUR_CLIENT_ID": "client-1",
            "CONCUR_CLIENT_SECRET": SECRET,
            "CONCUR_COMPANY_ID": simulator.state.company_id,
            "CONCUR_TOKEN_FILE": str(token_file),
            "ACCESS_ALLOW_HOSTS": base.removeprefix("http://"),  # the simulator is not a Concur host
        }

        async def sync() -> int:
            connector = PLUGIN.from_env(env, writable=False)
            try:
                return len((await connector.sync(SCOPE)).accounts)
            finally:
                await connector.aclose()

        assert asyncio.run(sync()) == 12
    assert simulator.calls["GET /profile/spend/v4.1/Users"] == 1
