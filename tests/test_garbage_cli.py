"""`access plan` as a process, each vendor's simulator on loopback answering one request with
garbage (a captive portal's page, an answer cut short): exit 1, one line naming the vendor, the host,
the setting, the request and what to check, no traceback and no secret."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from reconciler.sandbox import concur as concur_sandbox
from reconciler.sandbox import pingone as pingone_sandbox
from reconciler.sandbox_seed import PROCORE_COMPANY
from reconciler.simulators.base import SimulatorBase
from reconciler.simulators.concur import ConcurSimulator
from reconciler.simulators.concur_sandbox import sandbox_state
from reconciler.simulators.pingone import PingOneSimulator
from reconciler.simulators.procore import ProcoreSimulator
from reconciler.simulators.procore_state import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, demo_state
from reconciler.simulators.serve import serve

ACCESS = Path(sys.executable).parent / "access"
PORTAL = (
    "with an HTML page (<!DOCTYPE html><html><head><title>Guest Wi-Fi: sign in</title></head><body><form…)"
)
_TOKEN = re.compile(rb'"(?:access|refresh)_token"\s*:\s*"([^"]+)')


class Recorder:
    """Serves a simulator and keeps every token it hands out, even in an answer cut short."""

    def __init__(self, simulator: SimulatorBase) -> None:
        self.simulator = simulator
        self.tokens: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self.simulator.handle(request)
        self.tokens.update(t.decode() for t in _TOKEN.findall(response.content))
        return response


@contextmanager
def procore(tmp_path: Path) -> Iterator[tuple[dict[str, str], Recorder, str]]:
    simulator = ProcoreSimulator(demo_state(), hourly_limit=None)
    simulator.faults.add("garbage", 1, match="GET /rest/v1.1/projects")
    recorder = Recorder(simulator)
    with serve(recorder) as url:
        host = url.removeprefix("http://")
        env = {"PROCORE_API_URL": url, "PROCORE_LOGIN_URL": url, "PROCORE_CLIENT_ID": SANDBOX_CLIENT_ID,
               "PROCORE_CLIENT_SECRET": SANDBOX_CLIENT_SECRET, "PROCORE_COMPANY_ID": PROCORE_COMPANY}  # fmt: skip
        setting = "PROCORE_API_URL / PROCORE_LOGIN_URL"
        yield (
            env,
            recorder,
            (
                f"procore: {host} ({setting}) answered HTTP 200 GET /rest/v1.1/projects {PORTAL}, not a list of "
                f"projects; check {setting} and any proxy, firewall or captive portal between here and {host}, "
                "then try again"
            ),
        )


@contextmanager
def concur(tmp_path: Path) -> Iterator[tuple[dict[str, str], Recorder, str]]:
    simulator = ConcurSimulator(sandbox_state())
    simulator.add_client(concur_sandbox.SANDBOX_CLIENT_ID, concur_sandbox.SANDBOX_CLIENT_SECRET)
    simulator.issue_refresh_token(concur_sandbox.SANDBOX_REFRESH_TOKEN)
    simulator.faults.add("garbage", 1, match="GET /profile/identity/v4.1/Users", garble=lambda b: b[:40])
    recorder = Recorder(simulator)
    with serve(recorder) as url:
        simulator.geolocation = simulator.glz = url
        host = url.removeprefix("http://")
        env = {"CONCUR_CLIENT_ID": concur_sandbox.SANDBOX_CLIENT_ID,
               "CONCUR_CLIENT_SECRET": concur_sandbox.SANDBOX_CLIENT_SECRET,
               "CONCUR_REFRESH_TOKEN": concur_sandbox.SANDBOX_REFRESH_TOKEN, "CONCUR_GEOLOCATION": url,
               "CONCUR_COMPANY_ID": simulator.state.company_id,
               "CONCUR_TOKEN_FILE": str(tmp_path / "concur-token.json")}  # fmt: skip
        yield (
            env,
            recorder,
            (
                f"concur: {host} (CONCUR_GEOLOCATION) answered HTTP 200 GET /profile/identity/v4.1/Users with JSON "
                'cut short ({"schemas": ["urn:ietf:params:scim:api:m), not a list of Identity users; the answer '
                f"was cut off: try again; if it persists, check CONCUR_GEOLOCATION and any proxy between here and "
                f"{host}"
            ),
        )


@contextmanager
def pingone(tmp_path: Path) -> Iterator[tuple[dict[str, str], Recorder, str]]:
    simulator = PingOneSimulator(pingone_sandbox.seed_state())
    simulator.faults.add("garbage", 1, match="/as/token", garble=lambda b: b[: len(b) // 2])
    recorder = Recorder(simulator)
    with serve(recorder) as url:
        host = url.removeprefix("http://")
        env = {"PINGONE_CLIENT_ID": pingone_sandbox.SANDBOX_CLIENT_ID,
               "PINGONE_CLIENT_SECRET": pingone_sandbox.SANDBOX_SECRET,
               "PINGONE_ENVIRONMENT_ID": pingone_sandbox.SANDBOX_ENVIRONMENT,
               "PINGONE_API_URL": f"{url}/v1", "PINGONE_AUTH_URL": url}  # fmt: skip
        yield (
            env,
            recorder,
            (
                f"pingone: {host} (PINGONE_API_URL / PINGONE_AUTH_URL) answered HTTP 200 POST "
                f"/{pingone_sandbox.SANDBOX_ENVIRONMENT}/as/token with JSON cut short "
                '({"access_token": "***), not a token with an access_token; the answer was cut off: try again; if '
                f"it persists, check PINGONE_API_URL / PINGONE_AUTH_URL and any proxy between here and {host}"
            ),
        )


@pytest.mark.loopback
@pytest.mark.parametrize("vendor", ["procore", "concur", "pingone"])
def test_plan_against_a_vendor_that_answers_garbage_is_one_line(
    vendor: str, example_repo: Path, tmp_path: Path
) -> None:
    setup = {"procore": procore, "concur": concur, "pingone": pingone}[vendor]
    with setup(tmp_path) as (env, recorder, expected):
        allow = env.get("PROCORE_API_URL") or env.get("CONCUR_GEOLOCATION") or env["PINGONE_AUTH_URL"]
        done = subprocess.run(
            [str(ACCESS), "--repo", str(example_repo), "--vendor", vendor, "plan"],
            env={**os.environ, **env, "ACCESS_ALLOW_HOSTS": allow.removeprefix("http://")},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [n for n in done.stderr.strip().splitlines() if not n.startswith("warning: ")]
    assert len(lines) == 1, done.stderr
    [line] = lines
    assert line == expected
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "crashed" not in output
    secrets = {env[k] for k in env if re.search("SECRET|TOKEN$", k)} | recorder.tokens
    assert recorder.tokens, "the simulator handed out no token: the check below would be vacuous"
    assert not [s for s in secrets if s in output]
