"""PingOne: the connector (users, populations, groups, admin roles) and its vendor plugin.

Configuration (env): PINGONE_CLIENT_ID, PINGONE_CLIENT_SECRET, PINGONE_ENVIRONMENT_ID, and
optionally PINGONE_REGION (com, ca, eu, com.au, sg, asia), PINGONE_API_URL / PINGONE_AUTH_URL,
PINGONE_AUTH_ENVIRONMENT_ID (where the worker app lives), PINGONE_TOKEN_AUTH_METHOD
(client_secret_basic | client_secret_post), PINGONE_ORGANIZATION_ID, PINGONE_MAX_CONCURRENCY.
See docs/pingone.md for what is synced and what it costs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx

from reconciler import drift
from reconciler.changes import Cause, Change
from reconciler.connectors.base import ChangeResult, VendorState
from reconciler.connectors.http import RequestStats, RetryPolicy, build_client, host_of
from reconciler.connectors.pingone_api import PingOneApi, PingOneHttpError
from reconciler.connectors.pingone_apply import Applier
from reconciler.connectors.pingone_audit import Auditor, Licence
from reconciler.connectors.pingone_settings import PingOneSettings
from reconciler.connectors.pingone_sync import Directory, Syncer
from reconciler.errors import ConfigError
from reconciler.records import Scope

VENDOR = "pingone"


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

    async def attribute(self, items: Sequence[drift.Item]) -> list[Cause]:
        """Who made each drifted grant or account (after `sync`): PingOne's audit activities."""
        return await Auditor(self.api, self.directory).causes(items)

    async def licence(self) -> Licence:
        """How many identities the environment's licence allows, where the credentials may read it."""
        return await Auditor(self.api, self.directory).licence()

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


class PingOnePlugin:
    name = VENDOR

    def from_env(self, env: Mapping[str, str], *, writable: bool) -> PingOneConnector:
        return connect(PingOneSettings.from_env(env), writable=writable)


PLUGIN = PingOnePlugin()
