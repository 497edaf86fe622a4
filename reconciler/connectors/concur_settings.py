"""SAP Concur connector settings from the environment mapping (never os.environ)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from reconciler.connectors.concur_auth import missing_error, require
from reconciler.errors import ConfigError
from reconciler.hosts import allowed_hosts, check_url
from reconciler.token_store import StoredToken


@dataclass(frozen=True, slots=True)
class ConcurSettings:
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr
    geolocation: str  # the data-center base URL, e.g. https://us2.api.concursolutions.com
    company_id: str  # the company UUID, needed to create users
    country: str = "US"  # Spend User defaults for new accounts (required by Concur)
    locale: str = "en-US"
    currency: str = "USD"
    concurrency: int = 8
    provision_timeout: float = 600.0  # seconds of polling before a provision is reported as failed
    poll_delays: tuple[float, ...] = (5.0, 5.0, 10.0, 15.0, 30.0, 60.0)  # the last one repeats
    allowed_hosts: frozenset[str] = frozenset()  # ACCESS_ALLOW_HOSTS: undocumented hosts opted into

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], stored: StoredToken | None = None, stored_where: str = "the token store"
    ) -> ConcurSettings:
        """Settings from `CONCUR_*`; a token saved by the token store wins over the configured one."""
        missing: list[str] = []
        client_id = require(env.get("CONCUR_CLIENT_ID"), "CONCUR_CLIENT_ID", missing)
        secret = require(env.get("CONCUR_CLIENT_SECRET"), "CONCUR_CLIENT_SECRET", missing)
        refresh = stored.refresh_token.get_secret_value() if stored else env.get("CONCUR_REFRESH_TOKEN")
        refresh = require(refresh, "CONCUR_REFRESH_TOKEN", missing)
        geolocation = require(
            stored.geolocation if stored else env.get("CONCUR_GEOLOCATION"), "CONCUR_GEOLOCATION", missing
        )
        company = require(env.get("CONCUR_COMPANY_ID"), "CONCUR_COMPANY_ID", missing)
        if missing:
            raise missing_error(missing)
        allowed = allowed_hosts(env)
        setting = "CONCUR_GEOLOCATION" if stored is None else f"the geolocation saved in {stored_where}"
        if not geolocation.startswith(("https://", "http://")):
            raise ConfigError(
                "CONCUR_GEOLOCATION must be a base URL such as https://us2.api.concursolutions.com,"
                f" not {geolocation!r}"
            )
        geolocation = check_url("concur", setting, geolocation, allowed)
        return cls(
            client_id=client_id,
            client_secret=SecretStr(secret),
            refresh_token=SecretStr(refresh),
            geolocation=geolocation,
            allowed_hosts=allowed,
            company_id=company,
            country=env.get("CONCUR_DEFAULT_COUNTRY") or "US",
            locale=env.get("CONCUR_DEFAULT_LOCALE") or "en-US",
            currency=env.get("CONCUR_DEFAULT_CURRENCY") or "USD",
            concurrency=int(_number(env, "CONCUR_CONCURRENCY", 8)),
            provision_timeout=_number(env, "CONCUR_PROVISION_TIMEOUT", 600.0),
        )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value
