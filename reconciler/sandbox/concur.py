"""The SAP Concur sandbox: the real connector over the in-process simulator, state in `state_dir`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from reconciler.connectors.concur import VENDOR, ConcurConnector, Sleep, allow_reads, concur_endpoint
from reconciler.connectors.concur_settings import ConcurSettings
from reconciler.connectors.http import RetryPolicy, build_client
from reconciler.hosts import ALLOW_ENV
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.concur import US2, ConcurSimulator
from reconciler.simulators.concur_sandbox import sandbox_state
from reconciler.simulators.concur_state import ConcurState
from reconciler.simulators.serve import serve
from reconciler.token_store import MemoryTokenStore, TokenStore


async def _no_wait(_: float) -> None:
    return None


SANDBOX_CLIENT_ID = "access-sandbox-client"
SANDBOX_CLIENT_SECRET = "access-sandbox-secret"  # fixed fakes: the sandbox needs no credentials
SANDBOX_REFRESH_TOKEN = "access-sandbox-refresh-token"
SANDBOX_FILE = "concur.sim.json"


def simulated(
    simulator: ConcurSimulator,
    *,
    writable: bool = True,
    store: TokenStore | None = None,
    latency: float = 0.0,
    policy: RetryPolicy | None = None,
    poll_sleep: Sleep | None = None,
    concurrency: int = 8,
    client_id: str = SANDBOX_CLIENT_ID,
    client_secret: str = SANDBOX_CLIENT_SECRET,
    refresh_token: str = SANDBOX_REFRESH_TOKEN,
    wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
) -> ConcurConnector:
    """The real connector against an in-process simulator (sandbox, tests, benchmarks).

    Registers the client and refresh token with the simulator; waits are skipped unless a policy or
    poll_sleep is given. `wrap` puts a transport between client and simulator (an oracle check).
    """
    simulator.add_client(client_id, client_secret)
    if refresh_token not in simulator.refresh_tokens:
        simulator.issue_refresh_token(refresh_token)
    settings = ConcurSettings(
        client_id=client_id,
        client_secret=SecretStr(client_secret),
        refresh_token=SecretStr(refresh_token),
        geolocation=simulator.geolocation,
        company_id=simulator.state.company_id,
        concurrency=concurrency,
        poll_delays=(5.0, 10.0, 20.0, 40.0, 60.0),
    )
    transport: httpx.AsyncBaseTransport = SimulatorTransport(simulator.handle, latency=latency)
    client = build_client(
        simulator.geolocation,
        transport=wrap(transport) if wrap else transport,
        writable=writable,
        allow_write=allow_reads,
        max_connections=concurrency + 2,
        endpoint=concur_endpoint(),
    )
    return ConcurConnector(
        client,
        settings,
        store or MemoryTokenStore(),
        policy=policy or RetryPolicy(sleep=_no_wait),
        poll_sleep=poll_sleep or _no_wait,
    )


class ConcurSandbox:
    name = VENDOR

    @asynccontextmanager
    async def connector(self, state_dir: Path, *, writable: bool) -> AsyncIterator[ConcurConnector]:
        path = state_dir / SANDBOX_FILE
        if not path.exists():
            self.reset(state_dir)
        simulator = ConcurSimulator(ConcurState.load(path), geolocation=US2)
        simulator.provision_polls = 1
        connector = simulated(simulator, writable=writable)
        try:
            yield connector
        finally:
            await connector.aclose()
            if writable and simulator.changed:
                simulator.state.save(path)

    def reset(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        sandbox_state().save(state_dir / SANDBOX_FILE)

    @contextmanager
    def loopback(self, state_dir: Path) -> Iterator[dict[str, str]]:
        """Serve the sandbox simulator on 127.0.0.1; yields the CONCUR_* variables that reach it.

        The rotating refresh token lives in a token file beside the simulator's state.
        """
        path = state_dir / SANDBOX_FILE
        if not path.exists():
            self.reset(state_dir)
        simulator = ConcurSimulator(ConcurState.load(path))
        simulator.provision_polls = 1
        simulator.add_client(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)
        simulator.issue_refresh_token(SANDBOX_REFRESH_TOKEN)
        token_file = state_dir / "concur.token.json"
        token_file.unlink(missing_ok=True)
        with serve(simulator.handle) as url:
            simulator.geolocation = url
            simulator.glz = url
            yield {
                "CONCUR_CLIENT_ID": SANDBOX_CLIENT_ID,
                "CONCUR_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
                "CONCUR_REFRESH_TOKEN": SANDBOX_REFRESH_TOKEN,
                "CONCUR_GEOLOCATION": url,
                ALLOW_ENV: urlsplit(url).netloc,
                "CONCUR_COMPANY_ID": simulator.state.company_id,
                "CONCUR_TOKEN_STORE": "file",
                "CONCUR_TOKEN_FILE": str(token_file),
            }
        if simulator.changed:
            simulator.state.save(path)


SANDBOX = ConcurSandbox()
