"""PingOne connection settings, read from the `env` mapping the CLI passes in (never os.environ)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr

from reconciler.connectors.http import Endpoint
from reconciler.errors import ConfigError
from reconciler.hosts import allowed_hosts, check_url

# Ping's regional domains: PINGONE_REGION -> (API base incl. /v1, auth host).
REGIONS: dict[str, tuple[str, str]] = {
    tld: (f"https://api.pingone.{tld}/v1", f"https://auth.pingone.{tld}")
    for tld in ("com", "ca", "eu", "com.au", "sg", "asia")
}

TokenAuthMethod = Literal["client_secret_basic", "client_secret_post"]


@dataclass(frozen=True, slots=True)
class PingOneSettings:
    environment_id: str
    client_id: str
    client_secret: SecretStr
    api_url: str = REGIONS["com"][0]
    auth_url: str = REGIONS["com"][1]
    auth_environment_id: str = ""  # where the worker app lives; default: environment_id
    token_auth_method: TokenAuthMethod = "client_secret_basic"
    organization_id: str = ""  # learned from the environment when empty
    max_concurrency: int = 16
    # The worker apps whose changes are access's own (its apply credentials may differ from the
    # read-only ones a plan runs with); empty: `client_id` alone.
    worker_client_ids: frozenset[str] = frozenset()
    activity_days: int = 30  # how far back the audit activities are read for a drift's cause

    @property
    def workers(self) -> frozenset[str]:
        return self.worker_client_ids or frozenset({self.client_id})

    @property
    def token_url(self) -> str:
        return f"{self.auth_url}/{self.auth_environment_id or self.environment_id}/as/token"

    @property
    def environment_url(self) -> str:
        return f"{self.api_url}/environments/{self.environment_id}"

    def endpoint(self) -> Endpoint:
        """The settings behind each host, for network failure messages."""
        regional = (self.api_url, self.auth_url) in REGIONS.values()
        return Endpoint.of(
            "pingone",
            (self.api_url, "PINGONE_REGION" if regional else "PINGONE_API_URL"),
            (self.auth_url, "PINGONE_REGION" if regional else "PINGONE_AUTH_URL"),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PingOneSettings:
        missing = [
            name
            for name in ("PINGONE_CLIENT_ID", "PINGONE_CLIENT_SECRET", "PINGONE_ENVIRONMENT_ID")
            if not env.get(name, "").strip()
        ]
        if missing:
            raise ConfigError(
                f"pingone: set {', '.join(missing)} (the worker app's credentials and environment)"
            )
        region = env.get("PINGONE_REGION", "com").strip().lower() or "com"
        if region not in REGIONS:
            raise ConfigError(f"pingone: PINGONE_REGION={region!r} is not one of {', '.join(REGIONS)}")
        api_url, auth_url = REGIONS[region]
        method = env.get("PINGONE_TOKEN_AUTH_METHOD", "client_secret_basic").strip().lower()
        if method not in ("client_secret_basic", "client_secret_post"):
            raise ConfigError(
                f"pingone: PINGONE_TOKEN_AUTH_METHOD={method!r} must be client_secret_basic or "
                "client_secret_post"
            )
        concurrency = env.get("PINGONE_MAX_CONCURRENCY", "16").strip()
        if not concurrency.isdigit() or not 1 <= int(concurrency) <= 256:
            raise ConfigError(
                f"pingone: PINGONE_MAX_CONCURRENCY={concurrency!r} must be a number from 1 to 256"
            )
        days = env.get("PINGONE_ACTIVITY_DAYS", "30").strip()
        if not days.isdigit() or not 1 <= int(days) <= 730:
            raise ConfigError(
                f"pingone: PINGONE_ACTIVITY_DAYS={days!r} must be a number of days from 1 to 730"
            )
        workers = frozenset(
            i.strip() for i in env.get("PINGONE_WORKER_CLIENT_IDS", "").split(",") if i.strip()
        )
        allowed = allowed_hosts(env)
        return cls(
            environment_id=env["PINGONE_ENVIRONMENT_ID"].strip(),
            client_id=env["PINGONE_CLIENT_ID"].strip(),
            client_secret=SecretStr(env["PINGONE_CLIENT_SECRET"]),
            api_url=check_url("pingone", "PINGONE_API_URL", env.get("PINGONE_API_URL") or api_url, allowed),
            auth_url=check_url(
                "pingone", "PINGONE_AUTH_URL", env.get("PINGONE_AUTH_URL") or auth_url, allowed
            ),
            auth_environment_id=env.get("PINGONE_AUTH_ENVIRONMENT_ID", "").strip(),
            token_auth_method="client_secret_post"
            if method == "client_secret_post"
            else "client_secret_basic",
            organization_id=env.get("PINGONE_ORGANIZATION_ID", "").strip(),
            max_concurrency=int(concurrency),
            worker_client_ids=workers,
            activity_days=int(days),
        )
