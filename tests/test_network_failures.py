"""Network trouble is not a crash: an unreachable host, or a vendor that keeps failing, ends the run
in one line naming the vendor, the host, the setting behind it, what failed and what to check; fast,
without a traceback or a secret. `--verbose` logs each request."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from reconciler import cli
from reconciler.connectors.http import (
    CONNECT_TIMEOUT,
    Endpoint,
    NetworkFailure,
    RetryPolicy,
    build_client,
    send_with_retries,
)
from reconciler.sandbox.procore import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from reconciler.sandbox_seed import PROCORE_COMPANY
from reconciler.simulators.procore import ProcoreSimulator
from reconciler.simulators.procore_state import demo_state
from reconciler.simulators.serve import serve

ACCESS = Path(sys.executable).parent / "access"
CANARY = "sekrit-canary-network"


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings(vendor: str, tmp_path: Path) -> tuple[dict[str, str], str]:
    """Settings that point `vendor` at a closed port on loopback, and the line `plan` must print."""
    port = dead_port()
    url = f"http://127.0.0.1:{port}"
    refused = "the connection was refused ({request}, 3 attempts); check {setting} and the host and port"
    if vendor == "procore":
        env = {"PROCORE_CLIENT_ID": "app", "PROCORE_CLIENT_SECRET": CANARY, "PROCORE_COMPANY_ID": PROCORE_COMPANY,
               "PROCORE_API_URL": url, "PROCORE_LOGIN_URL": url}  # fmt: skip
        both = "PROCORE_API_URL / PROCORE_LOGIN_URL"  # one host for both
        line = f"procore: cannot reach 127.0.0.1:{port} ({both}): " + refused.format(
            request="POST /oauth/token", setting=both
        )
    elif vendor == "concur":
        env = {"CONCUR_CLIENT_ID": "app", "CONCUR_CLIENT_SECRET": CANARY, "CONCUR_REFRESH_TOKEN": CANARY + "-r",
               "CONCUR_GEOLOCATION": url, "CONCUR_COMPANY_ID": "2a5bd0ff-4cd1-4b5e-9c4e-2d7d8f0b3f11",
               "CONCUR_TOKEN_STORE": "file", "CONCUR_TOKEN_FILE": str(tmp_path / "concur-token.json")}  # fmt: skip
        line = f"concur: cannot reach 127.0.0.1:{port} (CONCUR_GEOLOCATION): " + refused.format(
            request="POST /oauth2/v0/token", setting="CONCUR_GEOLOCATION"
        )
    else:
        env = {"PINGONE_CLIENT_ID": "app", "PINGONE_CLIENT_SECRET": CANARY,
               "PINGONE_ENVIRONMENT_ID": "7a3c9e52-5b1d-4f0e-9a61-5a4db0c1e001",
               "PINGONE_API_URL": f"http://127.0.0.1:{dead_port()}/v1", "PINGONE_AUTH_URL": url}  # fmt: skip
        line = f"pingone: cannot reach 127.0.0.1:{port} (PINGONE_AUTH_URL): " + refused.format(
            request="POST /7a3c9e52-5b1d-4f0e-9a61-5a4db0c1e001/as/token", setting="PINGONE_AUTH_URL"
        )
    return env | {"ACCESS_ALLOW_HOSTS": "127.0.0.1"}, line  # loopback is no documented vendor host


@pytest.mark.loopback
@pytest.mark.parametrize("vendor", ["procore", "concur", "pingone"])
def test_an_unreachable_host_fails_fast_in_one_line(vendor: str, example_repo: Path, tmp_path: Path) -> None:
    env, line = settings(vendor, tmp_path)
    started = time.monotonic()
    done = subprocess.run(
        [str(ACCESS), "--repo", str(example_repo), "--vendor", vendor, "plan"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 1
    *notices, last = done.stderr.strip().splitlines()
    assert last == line
    assert [n.partition(": credentials go to")[0] for n in notices] == ["warning: ACCESS_ALLOW_HOSTS"]
    assert "Traceback" not in done.stdout + done.stderr and CANARY not in done.stdout + done.stderr
    assert elapsed < 30, f"took {elapsed:.1f} s"


async def _never_connects(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectTimeout("timed out", request=request)


def test_a_host_that_never_answers_gives_up_within_the_budget() -> None:
    """A black-holed host costs failure_attempts connect timeouts plus short backoffs: under 30 s."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def go() -> None:
        client = build_client(
            "https://api.procore.com",
            transport=httpx.MockTransport(_never_connects),
            writable=False,
            endpoint=Endpoint("procore", {"api.procore.com": "PROCORE_ENVIRONMENT"}),
        )
        policy = RetryPolicy(sleep=sleep, rng=random.Random(1), attempts=10, max_delay=3700.0)
        async with client:
            await send_with_retries(client, "GET", "/rest/v1.0/companies", policy=policy)

    with pytest.raises(NetworkFailure) as caught:
        import asyncio

        asyncio.run(go())
    assert caught.value.message == (
        "procore: cannot reach api.procore.com (PROCORE_ENVIRONMENT): no connection within 5 s "
        "(GET /rest/v1.0/companies, 3 attempts); check PROCORE_ENVIRONMENT and that the host is right "
        "and reachable from here (firewall, proxy, VPN)"
    )
    assert len(slept) == 2
    assert 3 * CONNECT_TIMEOUT + sum(slept) < 30


@pytest.mark.loopback
def test_a_vendor_that_keeps_failing_is_one_line_and_verbose_shows_each_request(
    example_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator = ProcoreSimulator(demo_state(), hourly_limit=None)
    simulator.faults.add("500", 100, match="GET /rest/v1.0/companies")
    monkeypatch.setattr(RetryPolicy, "failure_backoff", lambda self, attempt: 0.0)  # the count, not the waits
    with serve(simulator.handle) as url:
        for name, value in {
            "PROCORE_API_URL": url, "PROCORE_LOGIN_URL": url, "PROCORE_CLIENT_ID": SANDBOX_CLIENT_ID,
            "PROCORE_CLIENT_SECRET": SANDBOX_CLIENT_SECRET, "PROCORE_COMPANY_ID": PROCORE_COMPANY,
            "ACCESS_ALLOW_HOSTS": url.removeprefix("http://"),
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["--repo", str(example_repo), "--vendor", "procore", "--verbose", "plan"])
    _, err = capsys.readouterr()
    host = url.removeprefix("http://")
    lines = err.strip().splitlines()
    assert exit_info.value.code == 1
    assert lines[-1] == (
        f"procore: {host} (PROCORE_API_URL / PROCORE_LOGIN_URL) answered HTTP 500 GET /rest/v1.0/companies 12 times "
        "(Internal Server Error); the service is failing or overloaded: check the vendor's status page and "
        "try again later"
    )
    lines = [line for line in lines if not line.startswith("warning: ")]  # the opted-in host, named
    assert lines[0].startswith("procore POST /oauth/token -> 200 in ")
    requests = [x for x in lines if x.startswith("procore GET /rest/v1.0/companies -> 500 in ")]
    assert len(requests) == 12  # a vendor that answers is given longer than one that cannot be reached
    assert requests[1].endswith("(retry after HTTP 500)")
    assert SANDBOX_CLIENT_SECRET not in err


def test_verbose_sync_reports_requests_pages_and_resources_per_vendor(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--repo", str(example_repo), "--verbose", "plan", "--sandbox"])
    err = capsys.readouterr().err
    [line] = [x for x in err.splitlines() if x.startswith("synced in ")]
    counts = dict(part.split(" ", 1) for part in line.split(": ", 1)[1].split(" · "))
    assert set(counts) == {"concur", "pingone", "procore"}
    for vendor, text in counts.items():
        requests, pages, resources = (int(n.split()[0].replace(",", "")) for n in text.split(", ")[:3])
        assert requests >= pages >= 1 and resources >= 10, (vendor, text)
    assert sum(x.startswith("procore GET /rest/") for x in err.splitlines()) >= 5
