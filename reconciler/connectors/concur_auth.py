"""SAP Concur OAuth2: the company refresh token, its rotation, and the first-time password grant.

Concur answers every token request with `geolocation`, the data center where the company lives:
refreshes and API calls go there. A refresh may return a new refresh token; the old one then stops
working, so the new one (and a changed geolocation) is saved through the token store at once.
Numeric OAuth error codes become messages that say what to do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from reconciler.connectors import concur_shapes as shapes
from reconciler.connectors.answers import read
from reconciler.connectors.http import RequestStats, RetryPolicy, send_with_retries
from reconciler.errors import AccessError, ConfigError, VendorError, VendorHalt
from reconciler.hosts import CONCUR_COMPANY_GRANT_HOST, check_url
from reconciler.scrub import quote_body, remember_token_response
from reconciler.token_store import StoredToken, TokenStore

TOKEN_PATH = "/oauth2/v0/token"
SETUP_HINT = (
    "generate a Company Request Token (Administration > Company > Authentication Admin > Company Request"
    " Token, for this app's client id; valid 24 hours) and run `access concur setup`"
)

# Concur's /token response codes -> what the user should do.
OAUTH_ADVICE: dict[int, str] = {
    5: "incorrect credentials: check CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET; in setup, the Company Request"
    " Token may be wrong, for another app, or older than 24 hours",
    10: "the account is disabled; contact SAP Concur support",
    11: "the account is disabled; contact SAP Concur support",
    12: "logon denied; contact SAP Concur support",
    13: "logon denied; contact SAP Concur support",
    14: "the account is locked; contact SAP Concur support",
    16: "the company lives in another data center: set CONCUR_GEOLOCATION to the geolocation Concur names",
    19: "incorrect credentials: check CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET",
    20: "logon denied, typically by an IP restriction on the company; ask a Concur administrator",
    53: "the company has not enabled this app (client id): connect the app to the company in Concur first",
    54: "the requested scope exceeds what SAP Concur granted this app; ask SAP Concur to grant the scopes",
    59: "the app (client id) is disabled; ask SAP Concur or re-enable it in the App Management tool",
    61: "client not found: check CONCUR_CLIENT_ID and that CONCUR_GEOLOCATION is the company's data center"
    " (PSE companies migrated from Implementation must keep the -impl hosts)",
    64: "the client secret is wrong: check CONCUR_CLIENT_SECRET (was it rotated?)",
    107: "this app is not allowed to use refresh tokens; ask SAP Concur to enable the refresh_token grant",
    108: "the refresh token is expired (they last six months) or was replaced by a newer one that was not"
    " saved; " + SETUP_HINT,
    120: "credtype is invalid: the company grant needs credtype=authtoken",
    123: "the company principal is disabled; ask a Concur administrator",
}

GLZ = CONCUR_COMPANY_GRANT_HOST  # where the documented company (authtoken) grant goes


class ConcurAuthError(VendorHalt):
    """A token request Concur refused; the message says what to do. Every further request would be
    refused the same way: at apply it stops Concur's writes (a `VendorHalt`) instead of failing each
    change with one more refused token request."""

    def __init__(self, message: str, *, code: int | None, status: int | None) -> None:
        super().__init__("concur", message, status=status)
        self.code = code


def oauth_error(response: httpx.Response, *, action: str) -> ConcurAuthError:
    """A readable error for a failed token request (its body never holds a secret we sent)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    raw = body.get("code") if isinstance(body, dict) else None
    code = int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else None
    described = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    advice = OAUTH_ADVICE.get(code or -1, "")
    if code == 16 and isinstance(body, dict) and body.get("geolocation"):
        advice += f" ({body['geolocation']})"
    described = quote_body(described, 200)
    detail = f"Concur code {code}: {described}" if code is not None else f"HTTP {response.status_code}"
    text = f"{action} failed ({detail})" + (f": {advice}" if advice else "")
    return ConcurAuthError(text, code=code, status=response.status_code)


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: SecretStr
    expires_in: float
    refresh_token: SecretStr | None
    geolocation: str


def parse_grant(response: httpx.Response, *, answered_at: str = "") -> TokenGrant:
    """The grant in a token answer; a geolocation it does not name is where it came from."""
    body = read(response, shapes.TOKEN)
    remember_token_response(body)  # scrubbed from every message from now on
    refresh = body.get("refresh_token")
    return TokenGrant(
        SecretStr(body["access_token"]),
        body.get("expires_in") or 3600.0,
        SecretStr(refresh) if refresh else None,
        (body.get("geolocation") or answered_at).rstrip("/"),
    )


async def password_grant(
    client: httpx.AsyncClient,
    *,
    host: str,
    client_id: str,
    client_secret: SecretStr,
    company_id: str,
    request_token: SecretStr,
    policy: RetryPolicy,
) -> TokenGrant:
    """Exchange a Company Request Token for the company's refresh token (first-time setup)."""
    form = {
        "client_id": client_id,
        "client_secret": client_secret.get_secret_value(),
        "grant_type": "password",
        "username": company_id,
        "password": request_token.get_secret_value(),
        "credtype": "authtoken",
    }
    response = await send_with_retries(
        client, "POST", host.rstrip("/") + TOKEN_PATH, policy=policy, data=form
    )
    if response.status_code != 200:
        error = oauth_error(response, action="exchanging the Company Request Token")
        if error.code in (5, 53):  # the token is issued for one company: a wrong company id fails here
            raise ConcurAuthError(
                f"{error.message}; also check the company id {company_id} (--company-id / CONCUR_COMPANY_ID):"
                " it must be the UUID of the company that generated the Company Request Token",
                code=error.code,
                status=error.status,
            )
        raise error
    grant = parse_grant(response)
    if grant.refresh_token is None:
        raise VendorError("concur", "Concur answered the company grant without a refresh token")
    return grant


class ConcurAuth:
    """Refreshes the company access token at the geolocation and saves rotated refresh tokens."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        client_id: str,
        client_secret: SecretStr,
        refresh_token: SecretStr,
        geolocation: str,
        store: TokenStore,
        policy: RetryPolicy,
        stats: RequestStats | None = None,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self._allowed = allowed_hosts
        self._client = client
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh = refresh_token
        self._geolocation = geolocation.rstrip("/")
        self._store = store
        self._policy = policy
        self._stats = stats
        self.rotations = 0
        self._lock = asyncio.Lock()
        self._prepared = False

    def __repr__(self) -> str:
        where = f"geolocation={self._geolocation!r}, store={self._store.description!r}"
        return f"ConcurAuth(client_id={self._client_id!r}, {where})"

    @property
    def geolocation(self) -> str:
        return self._geolocation

    async def fetch(self) -> tuple[str, float]:
        """For `CachedToken`: a fresh access token and its lifetime in seconds."""
        async with self._lock:
            prepare = getattr(self._store, "prepare", None)
            if prepare is not None and not self._prepared:
                self._prepared = True
                await prepare()  # e.g. fetch the key a rotated token is sealed with, before it rotates
            at = self._geolocation
            response = await self._refresh_at(at)
            if response.status_code != 200 and _code(response) == 16:
                moved = _geolocation(response)
                if moved and moved != self._geolocation:
                    at = self.checked(moved)
                    response = await self._refresh_at(at)
            if response.status_code != 200:
                raise oauth_error(response, action="refreshing the Concur access token")
            grant = parse_grant(response, answered_at=at)  # no geolocation named: keep the host that answered
            await self._keep(grant)
            return grant.access_token.get_secret_value(), grant.expires_in

    async def _refresh_at(self, geolocation: str) -> httpx.Response:
        form = {
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "grant_type": "refresh_token",
            "refresh_token": self._refresh.get_secret_value(),
        }
        return await send_with_retries(
            self._client, "POST", geolocation + TOKEN_PATH, policy=self._policy, stats=self._stats, data=form
        )

    def checked(self, geolocation: str) -> str:
        """A geolocation Concur named, if it is a documented Concur host: the refresh token and the
        client secret are sent there next, so a redirect elsewhere is refused."""
        return check_url(
            "concur", "the geolocation Concur's token endpoint returned", geolocation, self._allowed
        )

    async def _keep(self, grant: TokenGrant) -> None:
        previous = StoredToken(self._refresh, self._geolocation)
        refresh = grant.refresh_token or self._refresh
        geolocation = self.checked(grant.geolocation) if grant.geolocation else self._geolocation
        rotated = refresh.get_secret_value() != self._refresh.get_secret_value()
        moved = geolocation != self._geolocation
        self._refresh, self._geolocation = refresh, geolocation
        if not (rotated or moved):
            return
        self.rotations += int(rotated)
        try:
            await self._store.save(StoredToken(refresh, geolocation), previous=previous)
        except AccessError as exc:
            raise AccessError(
                f"concur: Concur issued a new refresh token, but saving it to {self._store.description}"
                " failed"
                f" ({exc.message}); the previous token no longer works: {SETUP_HINT}"
            ) from None


def _code(response: httpx.Response) -> int | None:
    try:
        raw = response.json().get("code")
    except (ValueError, AttributeError):
        return None
    return int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else None


def _geolocation(response: httpx.Response) -> str:
    try:
        return str(response.json().get("geolocation") or "").rstrip("/")
    except (ValueError, AttributeError):
        return ""


def require(env_value: str | None, name: str, missing: list[str]) -> str:
    if not env_value:
        missing.append(name)
        return ""
    return env_value


def missing_error(missing: list[str]) -> ConfigError:
    return ConfigError(
        f"concur: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. CONCUR_CLIENT_ID and"
        " CONCUR_CLIENT_SECRET come from the app's registration; CONCUR_REFRESH_TOKEN and CONCUR_GEOLOCATION"
        " from `access concur setup`; CONCUR_COMPANY_ID is the company UUID"
    )
