"""HTTP machinery shared by every connector: clients, read-only guard, retries, tokens, pagination.

Vendor specifics (which statuses mean what, header names, token endpoints) are passed in by the
vendor's connector; nothing here knows a vendor.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import logging
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from reconciler import scrub as scrubbing
from reconciler.connectors.error_budget import ErrorBudget, budget_of
from reconciler.errors import AccessError, VendorError, VendorHalt, WritesStopped

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class ReadOnlyViolation(AccessError):
    """A write was attempted through a read-only client (validate, sync, plan)."""


class ReadOnlyTransport(httpx.AsyncBaseTransport):
    """Refuses every request that is not a read, except those `allow` permits (token endpoints).

    `plan` builds its clients with this transport, so a plan can never change a vendor.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, allow: Callable[[httpx.Request], bool]) -> None:
        self._inner = inner
        self._allow = allow

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method not in ("GET", "HEAD", "OPTIONS") and not self._allow(request):
            raise ReadOnlyViolation(
                f"refusing {request.method} {request.url.path}: this command is read-only"
            )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


CONNECT_TIMEOUT = 5.0  # seconds to open a connection: an unreachable host fails fast
READ_TIMEOUT = 30.0
ANNOUNCE_AFTER = 5.0  # a rate-limit wait at least this long is announced on stderr

log = logging.getLogger("reconciler.http")


class Announcer:
    """Says "waiting for the rate limit" once per wait, however many requests sit in it."""

    def __init__(self) -> None:
        self._until = 0.0

    def wait(self, vendor: str, seconds: float, reason: str) -> None:
        if seconds < ANNOUNCE_AFTER:
            return
        until = time.time() + seconds
        if until <= self._until + 2.0:  # the same window, already announced
            return
        self._until = until
        when = dt.datetime.fromtimestamp(until, dt.UTC).strftime("%H:%M:%S UTC")
        log.warning("%s: %s; waiting %.0f s, until %s", vendor, reason, seconds, when)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Who a client talks to, for messages: the vendor and the setting behind each host."""

    vendor: str
    settings: Mapping[str, str] = field(default_factory=dict)  # host -> the setting that names it
    default: str = ""  # the setting for any other host (Concur: wherever the geolocation moved)
    announcer: Announcer = field(default_factory=Announcer, compare=False)

    @classmethod
    def of(cls, vendor: str, *urls: tuple[str, str]) -> Endpoint:
        """From (url, setting) pairs; settings that name the same host are named together."""
        settings: dict[str, str] = {}
        for url, setting in urls:
            host = host_of(url)
            if setting not in settings.get(host, "").split(" / "):
                settings[host] = f"{settings[host]} / {setting}" if host in settings else setting
        return cls(vendor, settings)

    def setting(self, host: str) -> str:
        return self.settings.get(host, self.default)

    def where(self, url: httpx.URL) -> str:
        host = host_of(url)
        setting = self.setting(host)
        return f"{host} ({setting})" if setting else host


def host_of(url: str | httpx.URL) -> str:
    """host, or host:port when the URL names a port: what messages show and `Endpoint` keys on."""
    parsed = httpx.URL(url) if isinstance(url, str) else url
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


READS = frozenset({"GET", "HEAD", "OPTIONS"})
ANSWERED_BY = "access.client"  # response extension: the VendorClient that received it


class VendorClient(httpx.AsyncClient):
    """An AsyncClient that knows its vendor, so network failures can name vendor, host and setting.

    Its responses carry it (`answered_by`), so whoever reads an answer can name the vendor too, and
    `halt` it: after an answer the code did not expect, the client sends no more writes (requests
    `allow_write` lets a read-only client send, such as token requests, still go).
    """

    def __init__(
        self,
        *,
        endpoint: Endpoint,
        allow_write: Callable[[httpx.Request], bool] = lambda _: False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.halted: VendorHalt | None = None
        self._allow_write = allow_write

    def halt(self, cause: VendorHalt) -> None:
        if self.halted is None:
            self.halted = cause

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if self.halted is not None and request.method not in READS and not self._allow_write(request):
            raise WritesStopped(self.halted)
        response = await super().send(request, **kwargs)
        response.extensions[ANSWERED_BY] = self
        return response


def endpoint_of(client: httpx.AsyncClient) -> Endpoint:
    return client.endpoint if isinstance(client, VendorClient) else Endpoint("")


def answered_by(response: httpx.Response) -> VendorClient | None:
    client = response.extensions.get(ANSWERED_BY)
    return client if isinstance(client, VendorClient) else None


# httpcore's pool does work quadratic in its size on every request it assigns or releases (each
# idle connection is checked against a list of all of them, and polled for readability): at 64
# connections a PingOne sync spent 3x the CPU and took 2x the wall time of one at 16. Pools of at
# most POOL_SHARD connections, side by side, keep that cost flat whatever the concurrency.
POOL_SHARD = 8


def pooled_transport(max_connections: int) -> httpx.AsyncBaseTransport:
    """A real HTTP transport for `max_connections` concurrent requests."""
    shards = max(1, -(-max_connections // POOL_SHARD))
    sizes = [max_connections // shards + (i < max_connections % shards) for i in range(shards)]
    pools = [
        httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size), retries=0
        )
        for size in sizes
    ]
    return pools[0] if len(pools) == 1 else ShardedTransport(pools)


class ShardedTransport(httpx.AsyncBaseTransport):
    """Sends each request through the least busy of several small connection pools."""

    def __init__(self, pools: list[httpx.AsyncHTTPTransport]) -> None:
        self._pools = pools
        self._busy = [0] * len(pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self._pools)), key=self._busy.__getitem__)
        self._busy[index] += 1
        try:
            response = await self._pools[index].handle_async_request(request)
        except BaseException:
            self._busy[index] -= 1
            raise
        response.stream = _ReleasingStream(response.stream, lambda: self._release(index))
        return response

    def _release(self, index: int) -> None:
        self._busy[index] -= 1

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that tells its pool's counter when it is closed (once)."""

    def __init__(
        self, inner: httpx.SyncByteStream | httpx.AsyncByteStream, release: Callable[[], None]
    ) -> None:
        assert isinstance(inner, httpx.AsyncByteStream)
        self._inner = inner
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


def build_client(
    base_url: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    writable: bool,
    allow_write: Callable[[httpx.Request], bool] = lambda _: False,
    timeout: float = READ_TIMEOUT,
    max_connections: int = 16,
    headers: Mapping[str, str] | None = None,
    endpoint: Endpoint | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient for one vendor; read-only unless `writable`."""
    inner = transport or pooled_transport(max_connections)
    if not writable:
        inner = ReadOnlyTransport(inner, allow_write)
    return VendorClient(
        endpoint=endpoint or Endpoint(""),
        allow_write=allow_write,
        base_url=base_url,
        transport=inner,
        timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
        headers=dict(headers or {}),
        follow_redirects=False,
        event_hooks={"response": [remember_tokens]},
    )


async def remember_tokens(response: httpx.Response) -> None:
    """Every token a token endpoint hands out is scrubbed from every message from then on.

    One seam for every vendor: a POST carrying `grant_type` (form or JSON) is an OAuth token request.
    """
    request = response.request
    if request.method != "POST" or b"grant_type" not in (request.content or b""):
        return
    await response.aread()
    try:
        scrubbing.remember_token_response(response.json())
    except ValueError:
        return


def retry_after_seconds(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


class NetworkFailure(VendorError):
    """A vendor could not be reached, or kept failing, after the short retry budget: one line that
    names the vendor, the host and its setting, what failed, and what to check."""

    def __init__(self, vendor: str, message: str, *, status: int | None = None) -> None:
        AccessError.__init__(self, f"{vendor}: {message}" if vendor else message)
        self.vendor = vendor
        self.status = status


def said(response: httpx.Response, limit: int = 120) -> str:
    """What an error response says, briefly (its message field, else the start of its text)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "message", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:limit]
    text = " ".join(response.text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def _what_failed(exc: Exception) -> tuple[str, str]:
    """(what failed, what to check) for a transport error, without its (possibly long) text."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 10:  # httpx -> httpcore -> OSError -> the socket's error
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    text = " ".join(str(e) for e in chain).casefold()
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "the connection was refused", "the host and port"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "the host name does not resolve", "the spelling of the host (DNS)"
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return "the TLS handshake failed", "the host name and any TLS-intercepting proxy"
    if isinstance(exc, httpx.ConnectTimeout):
        return (
            f"no connection within {CONNECT_TIMEOUT:g} s",
            "that the host is right and reachable from here (firewall, proxy, VPN)",
        )
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout | httpx.PoolTimeout):
        return "no response in time", "the vendor's status page, then try again"
    if isinstance(exc, httpx.ConnectError):
        if any(
            m in text
            for m in (
                "name or service not known",
                "nodename nor servname",
                "getaddrinfo",
                "name resolution",
                "no address associated",
            )
        ):
            return "the host name does not resolve", "the spelling of the host (DNS)"
        if "refused" in text:
            return "the connection was refused", "the host and port"
        if "certificate" in text or "ssl" in text or "tls" in text:
            return "the TLS handshake failed", "the host name and any TLS-intercepting proxy"
        return (
            "the connection failed",
            "that the host is right and reachable from here (firewall, proxy, VPN)",
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection dropped without a response", "the vendor's status page, then try again"
    return "the network failed", "the connection from here to the host"


def unreachable(
    client: httpx.AsyncClient, method: str, url: httpx.URL, exc: Exception, attempts: int, why: str = ""
) -> NetworkFailure:
    """`why`: what the error budget says, when the host answered before and the vendor is failing."""
    endpoint = endpoint_of(client)
    what, check = _what_failed(exc)
    setting = endpoint.setting(host_of(url))
    advice = f"check {setting} and {check}" if setting else f"check {check}"
    return NetworkFailure(
        endpoint.vendor,
        f"cannot reach {endpoint.where(url)}: {what} ({method} {url.path}, {attempts} attempt"
        f"{'s' if attempts != 1 else ''}{f'; {why}' if why else ''}); {advice}",
    )


def kept_failing(
    client: httpx.AsyncClient, response: httpx.Response, attempts: int, why: str = ""
) -> NetworkFailure:
    endpoint = endpoint_of(client)
    request = response.request
    what = said(response)
    return NetworkFailure(
        endpoint.vendor,
        f"{endpoint.where(request.url)} answered HTTP {response.status_code} {request.method} "
        f"{request.url.path} {attempts} time{'s' if attempts != 1 else ''}{f' ({what})' if what else ''}"
        f"{f', and {why}' if why else ''}; the service is failing or overloaded: check the vendor's "
        "status page and try again later",
        status=response.status_code,
    )


@dataclass(slots=True)
class RetryPolicy:
    """Backoff with jitter. `sleep` (and the budget's `clock`) are injectable so tests do not wait.

    Three budgets (see `error_budget`):
    - rate limits (429, or 503 with Retry-After): up to `attempts`, as long as the vendor says;
    - a host that has not answered in this run: `failure_attempts`, so it fails in seconds;
    - a host that answers but fails (5xx, dropped connections): up to `flaky_attempts` per request,
      backoff capped at `failure_max_delay`, while the vendor's `ErrorBudget` holds: more than
      `budget_ratio` of the last `budget_window` requests failing, or none succeeding for
      `budget_seconds`, ends the run. At one failure in four, 12 attempts leave one request in
      ~17 million failing by chance (a 20,000-person PingOne sync makes ~21,000; 3 failed 1 in 64).
    """

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 60.0
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    failure_attempts: int = 3
    failure_max_delay: float = 4.0
    flaky_attempts: int = 12
    budget_window: int = 100
    budget_ratio: float = 0.5
    budget_seconds: float = 20.0
    clock: Clock = time.monotonic

    def backoff(self, attempt: int) -> float:
        return self.rng.uniform(0, min(self.max_delay, self.base_delay * (2**attempt)))

    def failure_backoff(self, attempt: int) -> float:
        """The wait after a request's `attempt`-th failure: exponential, half of it jittered."""
        cap = min(self.failure_max_delay, self.base_delay * (2**attempt))
        return self.rng.uniform(cap / 2, cap)

    def unreachable_backoff(self, attempt: int) -> float:
        """Shorter: a host that never answered is given a few quick chances, then named."""
        return self.failure_backoff(attempt - 1)

    def jitter(self, seconds: float) -> float:
        """A server-given wait plus up to 10% (and at least a little) so clients do not stampede."""
        return min(self.max_delay, seconds) + self.rng.uniform(0, max(0.05, seconds * 0.1))

    def error_budget(self) -> ErrorBudget:
        return ErrorBudget(self.budget_window, self.budget_ratio, self.budget_seconds, self.clock)


@dataclass(slots=True)
class RequestStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    pages: int = 0  # list pages read
    resources: int = 0  # items those pages held


WaitFor = Callable[[httpx.Response], float | None]
RETRIED = "access.retried"  # response extension: why the request was sent more than once


def retried(response: httpx.Response) -> list[str]:
    """Why `send_with_retries` sent this request more than once (empty if it did not). A write that
    was retried after a dropped connection may have been done by the attempt whose answer was lost."""
    reasons = response.extensions.get(RETRIED)
    return list(reasons) if isinstance(reasons, list) else []


def _throttled(response: httpx.Response) -> bool:
    return response.status_code == 429 or (response.status_code == 503 and "retry-after" in response.headers)


async def send_with_retries(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    stats: RequestStats | None = None,
    auth_headers: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
    on_unauthorized: Callable[[], Awaitable[None]] | None = None,
    wait_for: WaitFor | None = None,
    retry_statuses: Iterable[int] = (429, 500, 502, 503, 504),
    **kwargs: Any,
) -> httpx.Response:
    """Send one request, retrying transient failures.

    - a rate limit (429, or 503 with Retry-After) waits as long as `wait_for(response)` says (the
      vendor's rate-limit headers), else Retry-After, else backoff, up to `policy.attempts`; a long
      wait is announced once;
    - a transport error from a host that has not answered in this run is retried briefly, up to
      `policy.failure_attempts`, then a `NetworkFailure` names vendor, host, setting and what to check;
    - the other `retry_statuses`, and transport errors from a host that has answered, are retried
      with backoff up to `policy.flaky_attempts`, unless the client's `ErrorBudget` says the vendor
      is failing as a whole: then the same one-line `NetworkFailure`, with why (for a client built
      with an `Endpoint`; others get the last response back);
    - a 401 calls `on_unauthorized` (drop the cached token) and retries once per failure.
    The final response is returned whatever its status; the caller decides what an error means.
    """
    retryable = frozenset(retry_statuses)
    endpoint = endpoint_of(client)
    budget = budget_of(client, policy.error_budget)
    base_headers = dict(kwargs.pop("headers", None) or {})
    refreshed = False
    throttled = 0
    failures = 0
    reasons: list[str] = []
    while True:
        headers = dict(base_headers)
        if auth_headers is not None:
            headers.update(await auth_headers())
        started = time.monotonic()
        try:
            if stats is not None:
                stats.requests += 1
            response = await client.request(method, url, headers=headers, **kwargs)
        except TRANSIENT_ERRORS as exc:
            failures += 1
            target = client.build_request(method, url).url
            log.debug("%s %s %s -> %s after %.2f s", endpoint.vendor or "http", method, target.path,
                      type(exc).__name__, time.monotonic() - started)  # fmt: skip
            if budget.has_answered(host_of(target)):  # it answered before: flaky, not unreachable
                budget.failure()
                why = budget.spent()
                if why or failures >= policy.flaky_attempts:
                    raise unreachable(client, method, target, exc, failures, why) from None
                delay = policy.failure_backoff(failures)
            elif failures >= policy.failure_attempts:
                raise unreachable(client, method, target, exc, failures) from None
            else:
                delay = policy.unreachable_backoff(failures)
            reasons.append(type(exc).__name__)
            if stats is not None:
                stats.retries += 1
            await policy.sleep(delay)
            continue
        budget.answer(host_of(response.request.url))
        log.debug("%s %s %s -> %s in %.2f s%s", endpoint.vendor or "http", method, response.request.url.path,
                  response.status_code, time.monotonic() - started,
                  f" (retry after {reasons[-1]})" if reasons else "")  # fmt: skip
        if reasons:
            response.extensions[RETRIED] = list(reasons)
        if response.status_code not in retryable:
            budget.success()
        if response.status_code == 401 and on_unauthorized is not None and not refreshed:
            refreshed = True
            reasons.append("HTTP 401: new token")
            await on_unauthorized()
            continue
        if response.status_code not in retryable:
            return response
        if _throttled(response):
            throttled += 1
            if throttled >= policy.attempts:
                return response
            if stats is not None:
                stats.retries += 1
                stats.throttled += response.status_code == 429
            wait = wait_for(response) if wait_for else None
            if wait is None:
                wait = retry_after_seconds(response.headers)
            delay = policy.jitter(wait) if wait is not None else policy.backoff(throttled)
            reasons.append(f"HTTP {response.status_code}")
            endpoint.announcer.wait(
                endpoint.vendor or response.request.url.host,
                delay,
                f"rate limited (HTTP {response.status_code} on {method} {response.request.url.path})",
            )
            await policy.sleep(delay)
            continue
        failures += 1
        budget.failure()
        why = budget.spent()
        if why or failures >= policy.flaky_attempts:
            if endpoint.vendor:
                raise kept_failing(client, response, failures, why)
            return response
        reasons.append(f"HTTP {response.status_code}")
        if stats is not None:
            stats.retries += 1
        await policy.sleep(policy.failure_backoff(failures))


@dataclass(slots=True)
class CachedToken:
    """An access token reused until shortly before it expires; one fetch at a time."""

    fetch: Callable[[], Awaitable[tuple[str, float]]]  # -> (token, expires_in seconds)
    clock: Clock = time.monotonic
    margin: float = 60.0
    _token: str = ""
    _expires_at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    fetches: int = 0

    async def get(self) -> str:
        async with self._lock:
            if not self._token or self.clock() >= self._expires_at - self.margin:
                token, expires_in = await self.fetch()
                scrubbing.remember(token)
                self.fetches += 1
                self._token = token
                self._expires_at = self.clock() + expires_in
            return self._token

    async def invalidate(self, stale: str | None = None) -> None:
        async with self._lock:
            if stale is None or stale == self._token:
                self._token = ""

    async def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.get()}"}

    def for_request(
        self,
    ) -> tuple[Callable[[], Awaitable[Mapping[str, str]]], Callable[[], Awaitable[None]]]:
        """`auth_headers` and `on_unauthorized` for one request: a 401 drops only the token that
        request sent, so concurrent requests refused by one expiry share one new token."""
        used: list[str] = []

        async def auth() -> Mapping[str, str]:
            token = await self.get()
            used.append(token)
            return {"Authorization": f"Bearer {token}"}

        async def stale() -> None:
            if used:
                await self.invalidate(used[-1])

        return auth, stale


async def gather_bounded(limit: int, coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run coroutines with at most `limit` at once; results in input order."""
    semaphore = asyncio.Semaphore(limit)

    async def run(coro: Coroutine[Any, Any, T]) -> T:
        try:
            async with semaphore:
                return await coro
        finally:  # cancelled while waiting its turn (a sibling failed): it never started
            coro.close()

    return list(await asyncio.gather(*(run(c) for c in coros)))


def error_summary(response: httpx.Response, *, limit: int = 300) -> str:
    """A short, secret-free description of an error response for a user-facing message."""
    text = scrubbing.quote_body(response.text, limit)
    return f"HTTP {response.status_code} {response.request.method} {response.request.url.path}: {text}"
