"""Where credentials may go: each vendor's documented hosts, and the explicit opt-in for others.

A vendor URL comes from the environment (`PROCORE_API_URL`, `CONCUR_GEOLOCATION`, ...) or, for
Concur, from the token endpoint's `geolocation` answer. Before any credential is sent there, its
host must be one the vendor documents (docs/procore.md, docs/concur.md, docs/pingone.md):

- Procore: `api.procore.com`, `login.procore.com`, the developer and monthly sandboxes
  (`sandbox.procore.com`, `login-sandbox.procore.com`, `api-monthly.procore.com`,
  `login-sandbox-monthly.procore.com`) and the federal zone (`api.procoregov.com`,
  `login.procoregov.com`);
- SAP Concur: any data center under `*.api.concursolutions.com` (us2, eu2, apj1, usg, glz, the
  `www-` and `-impl` variants, older us/emea) and China's `*.api.concurcdc.cn`;
- PingOne: `api.pingone.<tld>` and `auth.pingone.<tld>` for its regions (com, ca, eu, com.au, sg,
  asia).

Always over https. Any other host (a loopback simulator, a proxy) must be listed in
`ACCESS_ALLOW_HOSTS` (comma-separated `host` or `host:port`); the shipped workflows never set it,
and every run that uses such a host names it in its output. A credential that can change
`CONCUR_GEOLOCATION` therefore cannot send the write credentials anywhere but to Concur.
Pure: no I/O, no os.environ.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from reconciler.errors import ConfigError

# Where the documented company (authtoken) grant goes: Concur's global login zone (vendor-apis §2.2).
CONCUR_COMPANY_GRANT_HOST = "https://glz.api.concursolutions.com"

ALLOW_ENV = "ACCESS_ALLOW_HOSTS"

PROCORE_HOSTS = frozenset(
    {
        "api.procore.com",
        "login.procore.com",
        "sandbox.procore.com",
        "login-sandbox.procore.com",
        "api-monthly.procore.com",
        "login-sandbox-monthly.procore.com",
        "api.procoregov.com",
        "login.procoregov.com",
    }
)
CONCUR_SUFFIXES = (".api.concursolutions.com", ".api.concurcdc.cn")
PINGONE_TLDS = ("com", "ca", "eu", "com.au", "sg", "asia")
PINGONE_HOSTS = frozenset(f"{kind}.pingone.{tld}" for kind in ("api", "auth") for tld in PINGONE_TLDS)

_LABEL = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def documented(vendor: str, host: str) -> bool:
    """Whether `host` is one the vendor documents for its API or token endpoint."""
    host = host.lower().rstrip(".")
    if vendor == "procore":
        return host in PROCORE_HOSTS
    if vendor == "pingone":
        return host in PINGONE_HOSTS
    if vendor == "concur":
        for suffix in CONCUR_SUFFIXES:
            if host.endswith(suffix):
                label = host[: -len(suffix)]
                return bool(label) and set(label) <= _LABEL
        return False
    return False


def allowed_hosts(env: Mapping[str, str]) -> frozenset[str]:
    """The opt-in list from `ACCESS_ALLOW_HOSTS`: lower-case `host` or `host:port` entries."""
    raw = env.get(ALLOW_ENV, "")
    return frozenset(part.strip().lower() for part in raw.split(",") if part.strip())


def _opted_in(host: str, port: int | None, allowed: frozenset[str]) -> bool:
    host = host.lower()
    bare = host.strip("[]")
    candidates = {host, bare}
    if port is not None:
        candidates |= {f"{host}:{port}", f"{bare}:{port}", f"[{bare}]:{port}"}
    return bool(candidates & allowed)


def check_url(vendor: str, setting: str, url: str, allowed: frozenset[str]) -> str:
    """`url` without a trailing slash, or ConfigError when credentials must not go there."""
    label = vendor if vendor != "github" else "GitHub"
    raw = url.strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{label}: {setting} must be an https URL, got {raw!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(f"{label}: {setting} must be a plain base URL (no user, query or fragment)")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{label}: {setting} has an invalid port: {raw!r}") from None
    host = parts.hostname
    if _opted_in(host, port, allowed):
        return raw.rstrip("/")
    if parts.scheme != "https":
        raise ConfigError(
            f"{label}: {setting} must use https; plain http only for a host listed in {ALLOW_ENV}"
        )
    if port not in (None, 443) or not documented(vendor, host):
        raise ConfigError(
            f"{label}: {setting} points at {host}{f':{port}' if port else ''}, which is not a documented "
            f"{_NAMES.get(vendor, vendor)} host ({_HINTS.get(vendor, '')}); credentials are sent only to "
            f"documented hosts, or to a host listed in {ALLOW_ENV} (for simulators and proxies)"
        )
    return raw.rstrip("/")


URL_SETTINGS: dict[str, tuple[str, ...]] = {
    "procore": ("PROCORE_API_URL", "PROCORE_LOGIN_URL"),
    "concur": ("CONCUR_GEOLOCATION",),
    "pingone": ("PINGONE_API_URL", "PINGONE_AUTH_URL"),
}


def notice(env: Mapping[str, str], vendors: tuple[str, ...]) -> str | None:
    """One line naming every undocumented host of `vendors` that credentials go to because
    `ACCESS_ALLOW_HOSTS` lists it (every run that sends credentials to such a host says so), with
    the vendors it serves; None when there is none."""
    served: dict[str, list[str]] = {}
    for vendor in vendors:
        for setting in URL_SETTINGS.get(vendor, ()):
            parts = urlsplit((env.get(setting) or "").strip())
            if parts.hostname and not documented(vendor, parts.hostname):
                names = served.setdefault(parts.netloc.lower(), [])
                if _NAMES.get(vendor, vendor) not in names:
                    names.append(_NAMES.get(vendor, vendor))
    if not served:
        return None
    hosts = ", ".join(f"{host} ({', '.join(names)})" for host, names in served.items())
    return f"{ALLOW_ENV}: credentials go to {hosts}; no vendor documents {'these hosts' if len(served) > 1 else 'this host'}"


_NAMES = {"procore": "Procore", "concur": "SAP Concur", "pingone": "PingOne"}
_HINTS = {
    "procore": "api.procore.com, sandbox.procore.com, api-monthly.procore.com, api.procoregov.com and "
    "their login hosts",
    "concur": "a data center under *.api.concursolutions.com",
    "pingone": "api.pingone.<region> / auth.pingone.<region>",
}
