"""The PingOne sandbox: the real connector over the in-process simulator, state in `state_dir`."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.connectors.pingone import VENDOR, PingOneConnector, connect
from reconciler.connectors.pingone_settings import PingOneSettings
from reconciler.hosts import ALLOW_ENV
from reconciler.jsonfile import read_json, write_json
from reconciler.sandbox_seed import pingone as pingone_seed
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.pingone import PingOneSimulator
from reconciler.simulators.pingone_state import PingOneState
from reconciler.simulators.serve import serve

STATE_FILE = "pingone.sim.json"
# The sandbox's fixed, fake identity: no real credential is ever needed or read.
SANDBOX_ENVIRONMENT = "7a3c9e52-5b1d-4f0e-9a61-5a4db0c1e001"
SANDBOX_ORGANIZATION = "7a3c9e52-5b1d-4f0e-9a61-5a4db0c1e000"
SANDBOX_CLIENT_ID = "sandbox-worker-app"
SANDBOX_SECRET = "sandbox-not-a-secret"  # a fixed fake for the in-process simulator
SANDBOX_CLIENT_NAME = "access worker (sandbox)"
SANDBOX_LICENSED_USERS = 50  # the sandbox environment's licence: users.max


def sandbox_settings(**overrides: str) -> PingOneSettings:
    env = {
        "PINGONE_CLIENT_ID": SANDBOX_CLIENT_ID,
        "PINGONE_CLIENT_SECRET": SANDBOX_SECRET,
        "PINGONE_ENVIRONMENT_ID": SANDBOX_ENVIRONMENT,
        **overrides,
    }
    return PingOneSettings.from_env(env)


def seed_state(now: dt.datetime | None = None) -> PingOneState:
    state = PingOneState.from_seed(
        pingone_seed(), environment_id=SANDBOX_ENVIRONMENT, organization_id=SANDBOX_ORGANIZATION
    )
    state.clients[SANDBOX_CLIENT_ID] = SANDBOX_SECRET
    state.client_names[SANDBOX_CLIENT_ID] = SANDBOX_CLIENT_NAME
    state.add_license(SANDBOX_LICENSED_USERS)
    _seed_history(state, now or dt.datetime.now(dt.UTC))
    return state


def _seed_history(state: PingOneState, now: dt.datetime) -> None:
    """The audit trail behind the seed's hand-made drift: Heidi granted Bob Environment Admin in the
    admin console two days ago (what `access plan --sandbox` names as its cause)."""
    simulator = PingOneSimulator(state, wall=lambda: now - dt.timedelta(days=2))
    users = {u["email"].split("@")[0]: uid for uid, u in state.users.items()}
    heidi, bob = users["heidi.brandt"], users["bob.ruiz"]
    role = state.role_named("Environment Admin")
    assignment = next(a for a in state.user_assignments.get(bob, {}) if state.assignments[a]["role"] == role)
    simulator.actor = simulator.actors[simulator.console_token(heidi)]
    simulator.record(
        "ROLE_ASSIGNMENT.CREATED", "Role Assignment Created",
        [simulator.user_resource(bob), simulator.role_resource(assignment)],
    )  # fmt: skip


def write_state(path: Path, state: PingOneState) -> None:
    write_json(path, state.to_json())


def load_simulator(state_dir: Path) -> tuple[Path, PingOneSimulator]:
    """The sandbox simulator from its state file (seeded first if there is none)."""
    path = state_dir / STATE_FILE
    if not path.exists():
        write_state(path, seed_state())
    state = PingOneState.from_json(read_json(path))
    state.clients[SANDBOX_CLIENT_ID] = SANDBOX_SECRET
    state.client_names.setdefault(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_NAME)
    return path, PingOneSimulator(state)


class PingOneSandbox:
    name = VENDOR

    @asynccontextmanager
    async def connector(self, state_dir: Path, *, writable: bool) -> AsyncIterator[PingOneConnector]:
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

    def reset(self, state_dir: Path) -> None:
        write_state(state_dir / STATE_FILE, seed_state())

    @contextmanager
    def loopback(self, state_dir: Path) -> Iterator[dict[str, str]]:
        """Serve the sandbox simulator on 127.0.0.1; yields the PINGONE_* variables that reach it."""
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


SANDBOX = PingOneSandbox()
