"""Procore configuration from environment variables: hosts, DMSA credentials, companies.

Only the `env` mapping handed to `PLUGIN.from_env` is read. Secrets are `SecretStr`, so neither a
repr nor an error message can show them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import SecretStr

from reconciler.connectors.http import Endpoint
from reconciler.errors import ConfigError
from reconciler.hosts import allowed_hosts, check_url

# Procore's environment table (developers.procore.com, platform_concepts/development_environments.md
# and federal_zone_overview.md): environment -> (login host, API host).
ENVIRONMENTS: dict[str, tuple[str, str]] = {
    "production": ("https://login.procore.com", "https://api.procore.com"),
    "sandbox": ("https://login-sandbox.procore.com", "https://sandbox.procore.com"),
    "monthly": ("https://login-sandbox-monthly.procore.com", "https://api-monthly.procore.com"),
    "federal": ("https://login.procoregov.com", "https://api.procoregov.com"),
}

DEFAULT_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class ProcoreSettings:
    client_id: str
    client_secret: SecretStr
    companies: tuple[str, ...]  # the companies these credentials may act in, as configured
    api_url: str
    login_url: str
    environment: str = "production"
    concurrency: int = DEFAULT_CONCURRENCY

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/oauth/token"

    def endpoint(self) -> Endpoint:
        """The settings behind each host, for network failure messages."""
        named = (self.login_url, self.api_url) == ENVIRONMENTS.get(self.environment)
        return Endpoint.of(
            "procore",
            (self.api_url, "PROCORE_ENVIRONMENT" if named else "PROCORE_API_URL"),
            (self.login_url, "PROCORE_ENVIRONMENT" if named else "PROCORE_LOGIN_URL"),
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = (env.get(name) or "").strip()
    if not value:
        raise ConfigError(f"procore: {name} is not set")
    return value


def parse_companies(raw: str, *, variable: str = "PROCORE_COMPANY_ID") -> tuple[str, ...]:
    """'562949953421312, 7' -> ('562949953421312', '7'); ids are positive integers (64-bit)."""
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if not ids:
        raise ConfigError(f"procore: {variable} is empty; give one or more company ids, comma-separated")
    for value in ids:
        if not value.isdigit() or int(value) == 0 or int(value) >= 2**63:
            raise ConfigError(
                f"procore: {variable} has {value!r}, which is not a Procore company id (a number)"
            )
    return tuple(dict.fromkeys(str(int(v)) for v in ids))


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    """The configured URL (or the environment's default), checked against Procore's documented hosts."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(
            f"procore: {name} must be an http(s) URL such as https://api.procore.com, got {raw!r}"
        )
    return check_url("procore", name, raw, allowed_hosts(env))


REQUIRED = ("PROCORE_CLIENT_ID", "PROCORE_CLIENT_SECRET", "PROCORE_COMPANY_ID")


def settings_from_env(env: Mapping[str, str]) -> ProcoreSettings:
    missing = [name for name in REQUIRED if not (env.get(name) or "").strip()]
    if len(missing) > 1:
        raise ConfigError(
            f"procore: {', '.join(missing)} are not set (the Developer Managed Service Account's"
            " credentials, and the company ids the app is installed in)"
        )
    client_id = _required(env, "PROCORE_CLIENT_ID")
    secret = _required(env, "PROCORE_CLIENT_SECRET")
    companies = parse_companies(_required(env, "PROCORE_COMPANY_ID"))
    environment = (env.get("PROCORE_ENVIRONMENT") or "production").strip().lower()
    if environment not in ENVIRONMENTS:
        raise ConfigError(
            f"procore: PROCORE_ENVIRONMENT is {environment!r}; use one of: {', '.join(ENVIRONMENTS)}"
        )
    login_default, api_default = ENVIRONMENTS[environment]
    raw_concurrency = (env.get("PROCORE_CONCURRENCY") or "").strip()
    concurrency = DEFAULT_CONCURRENCY
    if raw_concurrency:
        if not raw_concurrency.isdigit() or not 1 <= int(raw_concurrency) <= 64:
            raise ConfigError(
                f"procore: PROCORE_CONCURRENCY must be a number from 1 to 64, got {raw_concurrency!r}"
            )
        concurrency = int(raw_concurrency)
    return ProcoreSettings(
        client_id=client_id,
        client_secret=SecretStr(secret),
        companies=companies,
        api_url=_url(env, "PROCORE_API_URL", api_default),
        login_url=_url(env, "PROCORE_LOGIN_URL", login_default),
        environment=environment,
        concurrency=concurrency,
    )
