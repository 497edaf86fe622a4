"""Credentials go only to each vendor's documented hosts, unless ACCESS_ALLOW_HOSTS opts into another."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from reconciler.connectors.concur_settings import ConcurSettings
from reconciler.connectors.pingone_settings import PingOneSettings
from reconciler.connectors.procore_settings import settings_from_env
from reconciler.connectors.wire import Http11Transport
from reconciler.errors import ConfigError
from reconciler.hosts import check_url, documented, notice
from tests.helpers import run_cli

PROCORE = {"PROCORE_CLIENT_ID": "id", "PROCORE_CLIENT_SECRET": "secret", "PROCORE_COMPANY_ID": "7"}
PINGONE = {"PINGONE_CLIENT_ID": "id", "PINGONE_CLIENT_SECRET": "secret", "PINGONE_ENVIRONMENT_ID": "env"}
CONCUR = {
    "CONCUR_CLIENT_ID": "id",
    "CONCUR_CLIENT_SECRET": "secret",
    "CONCUR_REFRESH_TOKEN": "refresh",
    "CONCUR_COMPANY_ID": "company",
}


@pytest.mark.parametrize(
    ("vendor", "host"),
    [
        ("procore", "api.procore.com"),
        ("procore", "login-sandbox-monthly.procore.com"),
        ("procore", "api.procoregov.com"),
        ("concur", "us2.api.concursolutions.com"),
        ("concur", "www-us2.api.concursolutions.com"),
        ("concur", "emea-impl.api.concursolutions.com"),
        ("concur", "cn.api.concurcdc.cn"),
        ("pingone", "api.pingone.eu"),
        ("pingone", "auth.pingone.com.au"),
    ],
)
def test_documented_hosts(vendor: str, host: str) -> None:
    assert documented(vendor, host)
    assert check_url(vendor, "X", f"https://{host}/", frozenset()) == f"https://{host}"


@pytest.mark.parametrize(
    ("vendor", "host"),
    [
        ("procore", "api.procore.com.evil.example"),
        ("procore", "evil.example"),
        ("concur", "api.concursolutions.com.evil.example"),
        ("concur", "evil.example/us2.api.concursolutions.com"),
        ("concur", "x.y.api.concursolutions.com"),
        ("pingone", "api.pingone.com.evil.example"),
        ("pingone", "api.pingone.org"),
    ],
)
def test_other_hosts_are_refused(vendor: str, host: str) -> None:
    assert not documented(vendor, host.split("/")[0])
    with pytest.raises(ConfigError, match=r"not a documented|must be"):
        check_url(vendor, "X", f"https://{host}", frozenset())


def test_each_setting_is_checked_and_named() -> None:
    with pytest.raises(ConfigError, match=r"procore: PROCORE_API_URL points at evil\.example"):
        settings_from_env({**PROCORE, "PROCORE_API_URL": "https://evil.example"})
    with pytest.raises(ConfigError, match=r"pingone: PINGONE_AUTH_URL points at auth\.evil\.example"):
        PingOneSettings.from_env({**PINGONE, "PINGONE_AUTH_URL": "https://auth.evil.example"})
    with pytest.raises(ConfigError, match=r"concur: CONCUR_GEOLOCATION points at attacker\.example"):
        ConcurSettings.from_env({**CONCUR, "CONCUR_GEOLOCATION": "https://attacker.example"})


def test_plain_http_and_other_ports_need_the_opt_in() -> None:
    with pytest.raises(ConfigError, match="must use https"):
        check_url("procore", "PROCORE_API_URL", "http://api.procore.com", frozenset())
    with pytest.raises(ConfigError, match="not a documented"):
        check_url("procore", "PROCORE_API_URL", "https://api.procore.com:8443", frozenset())
    with pytest.raises(ConfigError, match="plain http only for a host listed in ACCESS_ALLOW_HOSTS"):
        check_url("procore", "PROCORE_API_URL", "http://127.0.0.1:5000", frozenset({"127.0.0.1:5001"}))
    assert check_url("procore", "PROCORE_API_URL", "http://127.0.0.1:5000", frozenset({"127.0.0.1:5000"}))


def test_an_opted_in_host_is_named_in_every_run() -> None:
    env = {**PROCORE, "PROCORE_API_URL": "http://127.0.0.1:5000", "ACCESS_ALLOW_HOSTS": "127.0.0.1:5000"}
    assert settings_from_env(env).api_url == "http://127.0.0.1:5000"
    assert notice(env, ("procore",)) == (
        "ACCESS_ALLOW_HOSTS: credentials go to 127.0.0.1:5000 (Procore); no vendor documents this host"
    )
    both = env | {"PINGONE_API_URL": "http://127.0.0.1:5001/v1", "PINGONE_AUTH_URL": "http://127.0.0.1:5001"}
    assert notice(both, ("pingone", "procore")) == (
        "ACCESS_ALLOW_HOSTS: credentials go to 127.0.0.1:5001 (PingOne), 127.0.0.1:5000 (Procore); no "
        "vendor documents these hosts"
    )
    assert notice({**PROCORE, "ACCESS_ALLOW_HOSTS": "127.0.0.1:5000"}, ("procore",)) is None


def test_a_geolocation_from_concurs_token_endpoint_pointing_elsewhere_gets_no_credentials() -> None:
    """A token answer naming another host (or an overwritten stored geolocation) is refused before
    the refresh token and client secret are sent there."""
    from reconciler.connectors.concur_auth import ConcurAuth
    from reconciler.connectors.http import RetryPolicy
    from reconciler.token_store import MemoryTokenStore

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.host))
        if request.url.host == "us2.api.concursolutions.com":
            return httpx.Response(
                400,
                json={"code": 16, "error": "invalid_grant", "geolocation": "https://attacker.example"},
            )
        return httpx.Response(200, json={"access_token": "a", "expires_in": 3600})

    async def refresh() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            auth = ConcurAuth(
                client,
                client_id="id",
                client_secret=SecretStr("secret"),
                refresh_token=SecretStr("refresh"),
                geolocation="https://us2.api.concursolutions.com",
                store=MemoryTokenStore(),
                policy=RetryPolicy(attempts=1),
            )
            await auth.fetch()

    with pytest.raises(ConfigError, match=r"attacker\.example, which is not a documented SAP Concur host"):
        asyncio.run(refresh())
    assert seen == ["us2.api.concursolutions.com"], "nothing was sent to the other host"


def test_apply_with_a_redirected_base_url_stops_before_sending_anything(
    example_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a writer who could overwrite a setting would try: point the write credentials elsewhere."""
    sent: list[str] = []
    monkeypatch.setattr(
        Http11Transport,  # every live client's transport
        "handle_async_request",
        lambda self, request: sent.append(str(request.url)) or httpx.Response(500),
    )
    for name, value in {
        **CONCUR,
        "CONCUR_CLIENT_SECRET": "write-client-canary-7f3a",
        "CONCUR_REFRESH_TOKEN": "refresh-canary-91bd",
        "CONCUR_GEOLOCATION": "https://us2.api.concursolutions.com.attacker.example",
        "CONCUR_TOKEN_STORE": "memory",
        "ACCESS_APPLY_POINT_KEY": "apply-point-key-canary-0123456789",
    }.items():
        monkeypatch.setenv(name, value)
    code, out, err = run_cli(capsys, "--repo", str(example_repo), "--vendor", "concur", "apply")
    assert code == 1
    assert "concur: CONCUR_GEOLOCATION points at us2.api.concursolutions.com.attacker.example" in err
    assert "Traceback" not in out + err and "canary" not in out + err
    assert sent == [], "no request left the process"
