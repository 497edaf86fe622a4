"""The PingOne HTTP edge: token, retries, the 403 propagation delay, paging, P1Error messages."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from reconciler.connectors import pingone_shapes as shapes
from reconciler.connectors.answers import Expected, read
from reconciler.connectors.http import CachedToken, RequestStats, RetryPolicy, host_of, send_with_retries
from reconciler.connectors.pingone_settings import PingOneSettings
from reconciler.errors import ConfigError, VendorError
from reconciler.scrub import quote_body

JSON = dict[str, Any]
T = TypeVar("T")
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
FORBIDDEN_HINT = (
    "PingOne refused this. If a role of the worker app changed in the last minutes, PingOne may still be "
    "propagating it; otherwise give the worker app a role that allows it (Identity Data Admin for users and "
    "groups; Environment Admin to assign admin roles)"
)


class PingOneHttpError(VendorError):
    """A PingOne error response, with its P1Error code and detail codes."""

    def __init__(self, response: httpx.Response, action: str) -> None:
        self.code, self.detail_codes, text = describe(response)
        hint = f". {FORBIDDEN_HINT}" if response.status_code == 403 else ""
        super().__init__(
            "pingone", f"{action}: HTTP {response.status_code} {text}{hint}", status=response.status_code
        )


def describe(response: httpx.Response) -> tuple[str, tuple[str, ...], str]:
    """(code, detail codes, readable text) from a P1Error body; never echoes request headers."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = quote_body(response.text, 200)
        return "", (), text or response.reason_phrase
    code = str(body.get("code") or body.get("error") or "")
    message = str(body.get("message") or body.get("error_description") or "")
    details = [d for d in body.get("details") or [] if isinstance(d, dict)]
    parts = [
        f"{d.get('target')}: {d.get('message')}" if d.get("target") else str(d.get("message"))
        for d in details
    ]
    text = f"{code}: {message}" if code else message
    if parts:
        text += " (" + "; ".join(parts) + ")"
    return code, tuple(str(d.get("code", "")) for d in details), quote_body(text)


class PingOneApi:
    """Every request the connector makes goes through `request`, which counts it in `stats`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: PingOneSettings,
        *,
        policy: RetryPolicy | None = None,
        forbidden_retries: int = 3,
    ) -> None:
        self.client = client
        self.settings = settings
        self.policy = policy or RetryPolicy()
        self.stats = RequestStats()
        self.forbidden_retries = forbidden_retries
        self.token = CachedToken(self._fetch_token)
        self._gate = asyncio.Semaphore(settings.max_concurrency)
        api = urlsplit(settings.api_url)
        self._api_origin = (api.scheme, api.netloc)

    async def _fetch_token(self) -> tuple[str, float]:
        s = self.settings
        form = {"grant_type": "client_credentials"}
        headers = {"Accept": "application/json"}
        if s.token_auth_method == "client_secret_post":
            form |= {"client_id": s.client_id, "client_secret": s.client_secret.get_secret_value()}
        else:
            pair = f"{s.client_id}:{s.client_secret.get_secret_value()}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        response = await send_with_retries(
            self.client,
            "POST",
            s.token_url,
            policy=self.policy,
            stats=self.stats,
            data=form,
            headers=headers,
            retry_statuses=RETRY_STATUSES,
        )
        # The worker app's environment comes from the setting in effect: only the one the user set is named.
        env = s.auth_environment_id or s.environment_id
        setting = "PINGONE_AUTH_ENVIRONMENT_ID" if s.auth_environment_id else "PINGONE_ENVIRONMENT_ID"
        if response.status_code == 404:
            raise ConfigError(
                f"pingone: {host_of(s.auth_url)} knows no environment {env} (the token endpoint answered "
                f"HTTP 404): check {setting} (the id of the environment the worker app lives in) and "
                "PINGONE_REGION"
            )
        if response.status_code != 200:
            _, _, text = describe(response)
            raise VendorError(
                "pingone",
                f"token request to {s.token_url} failed: HTTP {response.status_code} {text}; check "
                f"PINGONE_CLIENT_ID and PINGONE_CLIENT_SECRET, {setting}={env} (the environment the worker "
                "app lives in) and PINGONE_TOKEN_AUTH_METHOD",
                status=response.status_code,
            )
        body = read(response, shapes.TOKEN)
        expires_in = body.get("expires_in")
        return body["access_token"], 3600.0 if expires_in is None else expires_in

    def url(self, path: str) -> str:
        """`/users` is environment-relative; `//roles` is global (`/v1/roles`); absolute URLs pass."""
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            if (parts.scheme, parts.netloc) != self._api_origin:
                raise VendorError("pingone", f"refusing to follow a link off the API host: {parts.netloc}")
            return path
        if path.startswith("//"):
            return self.settings.api_url + path[1:]
        return self.settings.environment_url + path

    async def request(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """One request with retries (429/408/5xx, dropped connections), token renewal on 401, and a
        few spaced retries of a 403 (PingOne propagates role changes with a delay). Any final status
        is returned; callers decide what it means."""
        forbidden = 0
        while True:
            auth, stale = self.token.for_request()
            async with self._gate:
                response = await send_with_retries(
                    self.client,
                    method,
                    self.url(path),
                    policy=self.policy,
                    stats=self.stats,
                    auth_headers=auth,
                    on_unauthorized=stale,
                    retry_statuses=RETRY_STATUSES,
                    json=json,
                    params=params,
                )
            if response.status_code == 403 and forbidden < self.forbidden_retries:
                forbidden += 1
                await self.policy.sleep(self.policy.backoff(forbidden) + 1.0)
                continue
            return response

    async def get_json(
        self, path: str, expected: Expected[T], *, params: Mapping[str, str] | None = None, action: str = ""
    ) -> T:
        response = await self.request("GET", path, params=params)
        if response.status_code != 200:
            raise PingOneHttpError(response, action or f"GET {path}")
        return read(response, expected)

    async def items(self, path: str, listing: shapes.Listing[T], *, action: str = "") -> list[T]:
        """The `_embedded.<kind>` of one answer (a collection PingOne answers in one page)."""
        body = await self.get_json(path, listing.page, action=action)
        return (body.get("_embedded") or {}).get(listing.kind) or []

    async def pages(
        self,
        path: str,
        listing: shapes.Listing[T],
        *,
        params: Mapping[str, str] | None = None,
        action: str = "",
    ) -> AsyncIterator[list[T]]:
        """Each page's `_embedded.<kind>`, following `_links.next.href` (never assuming a page size)."""
        url: str | None = path
        query: Mapping[str, str] | None = params
        followed: set[str] = set()
        while url is not None:
            body = await self.get_json(
                url, listing.page, params=query, action=action or f"list {listing.kind}"
            )
            items = (body.get("_embedded") or {}).get(listing.kind) or []
            self.stats.pages += 1
            self.stats.resources += len(items)
            yield items
            next_link = ((body.get("_links") or {}).get("next") or {}).get("href")
            if next_link in followed:  # a cursor that does not move would page forever
                raise VendorError("pingone", f"the {listing.kind} pages link back to a page already read")
            if next_link:
                followed.add(next_link)
            url, query = (next_link, None) if next_link else (None, None)

    async def collect(
        self, path: str, listing: shapes.Listing[T], *, params: Mapping[str, str] | None = None
    ) -> list[T]:
        found: list[T] = []
        async for page in self.pages(path, listing, params=params):
            found.extend(page)
        return found
