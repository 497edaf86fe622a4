"""PingOne: the connector (users, populations, groups, admin roles) and its vendor plugin.

Configuration (env): PINGONE_CLIENT_ID, PINGONE_CLIENT_SECRET, PINGONE_ENVIRONMENT_ID, and
optionally PINGONE_REGION (com, ca, eu, com.au, sg, asia), PINGONE_API_URL / PINGONE_AUTH_URL,
PINGONE_AUTH_ENVIRONMENT_ID (where the worker app lives), PINGONE_TOKEN_AUTH_METHOD
(client_secret_basic | client_secret_post), PINGONE_ORGANIZATION_ID, PINGONE_MAX_CONCURRENCY.
See docs/pingone.md for what is synced and what it costs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from reconciler.changes import Change
from reconciler.connectors.base import ChangeResult, VendorState
from reconciler.connectors.http import RequestStats, RetryPolicy, build_client, host_of
from reconciler.connectors.pingone_api import PingOneApi, PingOneHttpError
from reconciler.connectors.pingone_apply import Applier
from reconciler.connectors.pingone_settings import PingOneSettings
from reconciler.connectors.pingone_sync import Directory, Syncer
from reconciler.errors import ConfigError
from reconciler.hosts import ALLOW_ENV
from reconciler.jsonfile import read_json, write_json
from reconciler.records import Scope
from reconciler.sandbox_seed import pingone as pingone_seed
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.pingone import PingOneSimulator
from reconciler.simulators.pingone_state import PingOneState

VENDOR = "pingone"
STATE_FILE = "pingone.sim.json"
# The sandbox's fixed, fake identity: no real credential is ever needed or read.
SANDBOX_ENVIRONMENT = "7a3c9e52-5b1d-4f0e-9a61-5a4db0c1e001"
SANDBOX_ORGANIZATION = "7a3c9e52-5b1d-4f0e-9a61-5a4db0c1e000"
SANDBOX_CLIENT_ID = "sandbox-worker-app"
SANDBOX_SECRET = "sandbox-not-a-secret"  # a fixed fake for the in-process simulator


def is_token_request(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/as/token")


class PingOneConnector:
    vendor = VENDOR

    def __init__(self, api: PingOneApi) -> None:
        self.api = api
        self.directory = Directory(api.settings.environment_id, api.settings.organization_id)
        self._applier = Applier(api, self.directory)

    async def sync(self, scope: Scope) -> VendorState:
        self.directory = Directory(self.api.settings.environment_id, self.api.settings.organization_id)
        self._applier = Applier(self.api, self.directory)
        try:
            return await Syncer(self.api, self.directory, scope).run()
        except PingOneHttpError as exc:
            if exc.status in (403, 404) and await self._environment_unknown():
                settings = self.api.settings
                raise ConfigError(
                    f"pingone: environment {settings.environment_id} is not found at "
                    f"{host_of(settings.api_url)} or not visible to the worker app: check "
                    "PINGONE_ENVIRONMENT_ID (and PINGONE_REGION), and that the worker app holds a role "
                    "in that environment"
                ) from None
            raise

    async def _environment_unknown(self) -> bool:
        """Whether reading the environment itself fails: then the id is wrong, not one permission."""
        response = await self.api.request("GET", "")
        return response.status_code in (403, 404)

    async def apply(self, change: Change) -> ChangeResult:
        return await self._applier.apply(change)

    @property
    def stats(self) -> RequestStats:
        return self.api.stats

    async def aclose(self) -> None:
        await self.api.client.aclose()


def connect(
    settings: PingOneSettings,
    *,
    writable: bool,
    transport: httpx.AsyncBaseTransport | None = None,
    policy: RetryPolicy | None = None,
) -> PingOneConnector:
    client = build_client(
        settings.api_url,
        transport=transport,
        writable=writable,
        allow_write=is_token_request,
        max_connections=settings.max_concurrency,
        headers={"Accept": "application/json"},
        endpoint=settings.endpoint(),
    )
    return PingOneConnector(PingOneApi(client, settings, policy=policy))


def sandbox_settings(**overrides: str) -> PingOneSettings:
    env = {
        "PINGONE_CLIENT_ID": SANDBOX_CLIENT_ID,
        "PINGONE_CLIENT_SECRET": SANDBOX_SECRET,
        "PINGONE_ENVIRONMENT_ID": SANDBOX_ENVIRONMENT,
        **overrides,
    }
    return PingOneSettings.from_env(env)


def seed_state() -> PingOneState:
    state = PingOneState.from_seed(
        pingone_seed(), environment_id=SANDBOX_ENVIRONMENT, organization_id=SANDBOX_ORGANIZATION
    )
    state.clients[SANDBOX_CLIENT_ID] = SANDBOX_SECRET
    return state


def write_state(path: Path, state: PingOneState) -> None:
    write_json(path, state.to_json())


def load_simulator(state_dir: Path) -> tuple[Path, PingOneSimulator]:
    """The sandbox simulator from its state file (seeded first if there is none)."""
    path = state_dir / STATE_FILE
    if not path.exists():
        write_state(path, seed_state())
    state = PingOneState.from_json(read_json(path))
    state.clients[SANDBOX_CLIENT_ID] = SANDBOX_SECRET
    return path, PingOneSimulator(state)


class PingOnePlugin:
    name = VENDOR

    def from_env(self, env: Mapping[str, str], *, writable: bool) -> PingOneConnector:
        return connect(PingOneSettings.from_env(env), writable=writable)

    @asynccontextmanager
    async def sandbox(self, state_dir: Path, *, writable: bool) -> AsyncIterator[PingOneConnector]:
        path, simulator = load_simulator(state_dir)
        connector = connect(
            sandbox_settings(), writable=writable, transport=SimulatorTransport(simulator.handle)
        )
        try:
            yield connector
        finally:
            await connector.aclose()
            if writable and simulator.version:
                write_state(path, simulator.state)

    def reset_sandbox(self, state_dir: Path) -> None:
        write_state(state_dir / STATE_FILE, seed_state())

    @contextmanager
    def loopback(self, state_dir: Path) -> Iterator[dict[str, str]]:
        """Serve the sandbox simulator on 127.0.0.1; yields the PINGONE_* variables that reach it."""
        from reconciler.simulators.serve import serve

        path, simulator = load_simulator(state_dir)
        with serve(simulator.handle) as url:
            yield {
                "PINGONE_CLIENT_ID": SANDBOX_CLIENT_ID,
                "PINGONE_CLIENT_SECRET": SANDBOX_SECRET,
                "PINGONE_ENVIRONMENT_ID": SANDBOX_ENVIRONMENT,
                "PINGONE_API_URL": f"{url}/v1",
                "PINGONE_AUTH_URL": url,
                ALLOW_ENV: urlsplit(url).netloc,
            }
        if simulator.version:
            write_state(path, simulator.state)


PLUGIN = PingOnePlugin()
