"""The Procore plugin: configuration from env, secrets, the sandbox seam, loopback, plan end to end."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from pathlib import Path

import pytest

from reconciler.changes import Action
from reconciler.connectors.base import Outcome
from reconciler.connectors.procore import PLUGIN
from reconciler.connectors.procore_api import procore_retry_policy
from reconciler.errors import AccessError, ConfigError, VendorError
from reconciler.sandbox.procore import SANDBOX, SIM_FILE
from reconciler.simulators.procore import ProcoreSimulator
from reconciler.simulators.procore_state import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, demo_state
from reconciler.simulators.serve import serve
from tests.connectors.procore_fixtures import COMPANY, FakeClock, change, email, scope

CANARY = "sekrit-canary"
BASE_ENV = {"PROCORE_CLIENT_ID": "cid", "PROCORE_CLIENT_SECRET": CANARY, "PROCORE_COMPANY_ID": COMPANY}


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("PROCORE_CLIENT_ID", "procore: PROCORE_CLIENT_ID is not set"),
        ("PROCORE_CLIENT_SECRET", "procore: PROCORE_CLIENT_SECRET is not set"),
        ("PROCORE_COMPANY_ID", "procore: PROCORE_COMPANY_ID is not set"),
    ],
)
def test_a_missing_setting_names_the_variable(missing: str, message: str) -> None:
    env = {k: v for k, v in BASE_ENV.items() if k != missing}
    with pytest.raises(ConfigError) as info:
        PLUGIN.from_env(env, writable=False)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "PROCORE_COMPANY_ID",
            "12, abc",
            "procore: PROCORE_COMPANY_ID has 'abc', which is not a Procore company id",
        ),
        ("PROCORE_ENVIRONMENT", "staging", "use one of: production, sandbox, monthly, federal"),
        ("PROCORE_API_URL", "ftp://x", "PROCORE_API_URL must be an http(s) URL"),
        ("PROCORE_LOGIN_URL", "http://login.example.com", "PROCORE_LOGIN_URL must use https"),
        ("PROCORE_CONCURRENCY", "0", "PROCORE_CONCURRENCY must be a number from 1 to 64"),
    ],
)
def test_a_malformed_setting_names_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        PLUGIN.from_env({**BASE_ENV, name: value}, writable=False)


@pytest.mark.parametrize(
    ("environment", "login", "api"),
    [
        ("production", "https://login.procore.com", "https://api.procore.com"),
        ("sandbox", "https://login-sandbox.procore.com", "https://sandbox.procore.com"),
        ("monthly", "https://login-sandbox-monthly.procore.com", "https://api-monthly.procore.com"),
        ("federal", "https://login.procoregov.com", "https://api.procoregov.com"),
    ],
)
def test_the_environment_picks_procores_hosts(environment: str, login: str, api: str) -> None:
    connector = PLUGIN.from_env({**BASE_ENV, "PROCORE_ENVIRONMENT": environment}, writable=False)
    assert (connector.api.settings.login_url, connector.api.settings.api_url) == (login, api)
    assert connector.api.settings.token_url == f"{login}/oauth/token"
    asyncio.run(connector.aclose())


def test_url_overrides_and_several_companies() -> None:
    env = {**BASE_ENV, "PROCORE_COMPANY_ID": f"{COMPANY}, 42", "PROCORE_API_URL": "http://127.0.0.1:9/",
           "PROCORE_LOGIN_URL": "https://login.example.com",
           "ACCESS_ALLOW_HOSTS": "127.0.0.1:9, login.example.com"}  # fmt: skip
    settings = PLUGIN.from_env(env, writable=False).api.settings
    assert settings.companies == (COMPANY, "42")
    assert (settings.api_url, settings.login_url) == ("http://127.0.0.1:9", "https://login.example.com")


def test_the_secret_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    """Canary: a refused secret, a crash mid-sync and every repr keep the secret out."""
    sim = ProcoreSimulator(demo_state(), hourly_limit=None)
    sim.state.clients["cid"] = "another-secret"  # the canary is wrong: the token endpoint refuses it
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG), serve(sim.handle) as url:
        env = {**BASE_ENV, "PROCORE_API_URL": url, "PROCORE_LOGIN_URL": url, "ACCESS_ALLOW_HOSTS": url[7:]}
        connector = PLUGIN.from_env(env, writable=False)
        texts += [
            repr(connector),
            repr(connector.api),
            repr(connector.api.settings),
            str(connector.api.settings),
        ]

        async def sync_then_close() -> None:
            try:
                await connector.sync(scope())
            finally:
                await connector.aclose()

        with pytest.raises(VendorError) as info:
            asyncio.run(sync_then_close())
        texts += [str(info.value), repr(info.value)]
    assert "PROCORE_CLIENT_SECRET" in str(info.value)
    texts.append(caplog.text)
    assert not [t for t in texts if CANARY in t]


@pytest.mark.loopback
def test_sync_and_apply_over_loopback_http() -> None:
    sim = ProcoreSimulator(demo_state(), hourly_limit=3600)
    sim.faults.add("drop", count=1, match="/users/inactive")  # a dropped connection is retried
    with serve(sim.handle) as url:
        env = {"PROCORE_CLIENT_ID": SANDBOX_CLIENT_ID, "PROCORE_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
               "PROCORE_COMPANY_ID": COMPANY, "PROCORE_API_URL": url, "PROCORE_LOGIN_URL": url,
               "ACCESS_ALLOW_HOSTS": url[7:]}  # fmt: skip
        connector = PLUGIN.from_env(env, writable=True)
        connector.api.policy = procore_retry_policy(sleep=FakeClock().sleep)  # no real backoff in tests

        async def go() -> tuple[int, Outcome]:
            state = await connector.sync(scope())
            grant = change(
                Action.GRANT, email("mike"), resource="Pier 7 Retrofit", entitlement="Project Engineer"
            )
            result = await connector.apply(grant)
            await connector.aclose()
            return len(state.grants), result.outcome

        grants, outcome = asyncio.run(go())
    assert (grants, outcome) == (13, Outcome.APPLIED)
    assert sim.faults.faults[0].remaining == 0  # the dropped connection happened and was retried
    assert connector.rate_budget.limit == 3600
    assert connector.rate_budget.remaining is not None and connector.rate_budget.remaining < 3600


def test_the_sandbox_persists_between_processes(tmp_path: Path) -> None:
    grant = change(Action.GRANT, email("mike"), resource="Pier 7 Retrofit", entitlement="Project Engineer")

    async def apply_once() -> Outcome:
        async with SANDBOX.connector(tmp_path, writable=True) as connector:
            await connector.sync(scope())
            return (await connector.apply(grant)).outcome

    async def grants_now() -> int:
        async with SANDBOX.connector(tmp_path, writable=False) as connector:
            return len((await connector.sync(scope())).grants)

    assert not (tmp_path / SIM_FILE).exists()
    assert asyncio.run(grants_now()) == 13  # seeded on first use
    assert asyncio.run(apply_once()) is Outcome.APPLIED
    assert asyncio.run(grants_now()) == 14
    assert asyncio.run(apply_once()) is Outcome.ALREADY
    SANDBOX.reset(tmp_path)
    assert asyncio.run(grants_now()) == 13


def test_a_read_only_sandbox_never_writes_its_file(tmp_path: Path) -> None:
    SANDBOX.reset(tmp_path)
    before = (tmp_path / SIM_FILE).read_bytes()

    async def sync() -> None:
        async with SANDBOX.connector(tmp_path, writable=False) as connector:
            await connector.sync(scope())

    asyncio.run(sync())
    assert (tmp_path / SIM_FILE).read_bytes() == before


def _desired(repo: Path) -> object:
    from reconciler.loader import read_files
    from reconciler.normalize import normalize

    return normalize(read_files(repo), today=dt.date(2026, 11, 23))


def test_plan_apply_plan_through_the_sandbox_reaches_no_changes(example_repo: Path, tmp_path: Path) -> None:
    from reconciler.planner import build_plan
    from reconciler.records import AccessSet

    desired = _desired(example_repo)
    assert isinstance(desired, AccessSet)
    procore_scope = desired.scope.for_vendor("procore")
    state_dir = tmp_path / "sandbox"

    async def plan(writable: bool) -> list[str]:
        async with SANDBOX.connector(state_dir, writable=writable) as connector:
            actual = await connector.sync(procore_scope)
            made = build_plan(desired, {"procore": actual}, today=dt.date(2026, 11, 23))
            if writable:
                for c in made.changes:
                    assert (await connector.apply(c)).outcome is Outcome.APPLIED, c
            return sorted(
                f"{c.action} {c.resource} {c.principal.split('@')[0]} {c.entitlement}" for c in made.changes
            )

    first = asyncio.run(plan(writable=True))
    assert first == [
        "create_account  heidi.brandt ",
        "grant Pier 7 Retrofit mike.chen Project Engineer",
        "revoke Eastside Depot ivan.petrov Project Engineer",
        "revoke Harbor Tower pat.sullivan Project Engineer",
        "update Harbor Tower bob.ruiz Project Engineer",
    ]
    assert asyncio.run(plan(writable=False)) == []


def test_an_unknown_template_in_the_yaml_is_a_located_error(example_repo: Path, tmp_path: Path) -> None:
    from reconciler.catalog_check import check_names
    from reconciler.records import AccessSet

    path = example_repo / "access" / "procore.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("mike: Project Engineer", "mike: Project Enginer"), encoding="utf-8")
    line = next(n for n, row in enumerate(path.read_text().splitlines(), 1) if "Project Enginer" in row)
    desired = _desired(example_repo)
    assert isinstance(desired, AccessSet)

    async def sync() -> object:
        async with SANDBOX.connector(tmp_path, writable=False) as connector:
            return await connector.sync(desired.scope.for_vendor("procore"))

    errors = check_names(desired, {"procore": asyncio.run(sync())})  # type: ignore[dict-item]
    assert [e.message for e in errors] == [
        f"access/procore.yaml:{line}: Procore permission template 'Project Enginer' does not exist; "
        "closest: 'Project Engineer', 'Project Manager'"
    ]
    assert isinstance(errors[0], AccessError)
