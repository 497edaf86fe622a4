"""The Procore sandbox: the real connector over the in-process simulator, state in `state_dir`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from reconciler.connectors.http import RetryPolicy
from reconciler.connectors.procore_api import ProcoreAPI
from reconciler.connectors.procore_connector import ProcoreConnector
from reconciler.connectors.procore_settings import ProcoreSettings
from reconciler.hosts import ALLOW_ENV
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.procore import ProcoreSimulator
from reconciler.simulators.procore_state import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    ProcoreState,
    demo_state,
)
from reconciler.simulators.serve import serve

SIM_FILE = "procore.sim.json"
SANDBOX_API = "https://api.procore.sandbox.invalid"  # never resolved: the transport is in-process
SANDBOX_LOGIN = "https://login.procore.sandbox.invalid"


def simulator_settings(state: ProcoreState, **overrides: object) -> ProcoreSettings:
    """Settings for a connector talking to a simulator: its fake client and all its companies."""
    values: dict[str, object] = {
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SecretStr(SANDBOX_CLIENT_SECRET),
        "companies": tuple(str(c) for c in state.companies),
        "api_url": SANDBOX_API,
        "login_url": SANDBOX_LOGIN,
        "environment": "sandbox",
    }
    values.update(overrides)
    return ProcoreSettings(**values)  # type: ignore[arg-type]


def simulator_connector(
    simulator: ProcoreSimulator,
    *,
    writable: bool,
    latency: float = 0.0,
    policy: RetryPolicy | None = None,
    settings: ProcoreSettings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    **api_options: object,
) -> ProcoreConnector:
    """The real connector over an in-process simulator (SimulatorTransport)."""
    api = ProcoreAPI(
        settings or simulator_settings(simulator.state),
        writable=writable,
        transport=transport or SimulatorTransport(simulator.handle, latency=latency),
        policy=policy,
        **api_options,  # type: ignore[arg-type]
    )
    return ProcoreConnector(api)


class ProcoreSandbox:
    name = "procore"

    @asynccontextmanager
    async def connector(self, state_dir: Path, *, writable: bool) -> AsyncIterator[ProcoreConnector]:
        path = state_dir / SIM_FILE
        if not path.exists():
            self.reset(state_dir)
        simulator = ProcoreSimulator.load(path, hourly_limit=None)
        connector = simulator_connector(simulator, writable=writable)
        try:
            yield connector
        finally:
            await connector.aclose()
            if writable and simulator.version:
                simulator.save(path)

    def reset(self, state_dir: Path) -> None:
        demo_state().save(state_dir / SIM_FILE)

    @contextmanager
    def loopback(self, state_dir: Path) -> Iterator[dict[str, str]]:
        """Serve the sandbox simulator on 127.0.0.1; yields the PROCORE_* variables that reach it."""
        path = state_dir / SIM_FILE
        if not path.exists():
            self.reset(state_dir)
        simulator = ProcoreSimulator.load(path, hourly_limit=None)
        with serve(simulator.handle) as url:
            yield {
                "PROCORE_API_URL": url,
                ALLOW_ENV: urlsplit(url).netloc,
                "PROCORE_LOGIN_URL": url,
                "PROCORE_CLIENT_ID": SANDBOX_CLIENT_ID,
                "PROCORE_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
                "PROCORE_COMPANY_ID": ",".join(str(c) for c in simulator.state.companies),
            }
        if simulator.version:
            simulator.save(path)


SANDBOX = ProcoreSandbox()
