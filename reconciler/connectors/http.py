"""HTTP machinery shared by every connector: clients, read-only guard, retries, tokens, pagination.

Vendor specifics (which statuses mean what, header names, token endpoints) are passed in by the
vendor's connector; nothing here knows a vendor.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from reconciler.errors import AccessError

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
    timeout: float = 30.0,
    max_connections: int = 16,
    headers: Mapping[str, str] | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient for one vendor; read-only unless `writable`."""
    inner = transport or pooled_transport(max_connections)
    if not writable:
        inner = ReadOnlyTransport(inner, allow_write)
    return httpx.AsyncClient(
        base_url=base_url,
        transport=inner,
        timeout=timeout,
        headers=dict(headers or {}),
        follow_redirects=False,
    )


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


@dataclass(slots=True)
class RetryPolicy:
    """Backoff with full jitter. `sleep` is injectable so tests do not wait."""

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 60.0
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        return self.rng.uniform(0, min(self.max_delay, self.base_delay * (2**attempt)))

    def jitter(self, seconds: float) -> float:
        """A server-given wait plus up to 10% (and at least a little) so clients do not stampede."""
        return min(self.max_delay, seconds) + self.rng.uniform(0, max(0.05, seconds * 0.1))


@dataclass(slots=True)
class RequestStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0


WaitFor = Callable[[httpx.Response], float | None]


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

    - transport errors and `retry_statuses` are retried with backoff; a 429/503 waits as long as
      `wait_for(response)` says (the vendor's rate-limit headers), else Retry-After, else backoff;
    - a 401 calls `on_unauthorized` (drop the cached token) and retries once per failure.
    The final response is returned whatever its status; the caller decides what an error means.
    """
    retryable = frozenset(retry_statuses)
    base_headers = dict(kwargs.pop("headers", None) or {})
    refreshed = False
    attempt = 0
    while True:
        headers = dict(base_headers)
        if auth_headers is not None:
            headers.update(await auth_headers())
        try:
            if stats is not None:
                stats.requests += 1
            response = await client.request(method, url, headers=headers, **kwargs)
        except TRANSIENT_ERRORS:
            attempt += 1
            if attempt >= policy.attempts:
                raise
            if stats is not None:
                stats.retries += 1
            await policy.sleep(policy.backoff(attempt))
            continue
        if response.status_code == 401 and on_unauthorized is not None and not refreshed:
            refreshed = True
            await on_unauthorized()
            continue
        if response.status_code in retryable and attempt + 1 < policy.attempts:
            attempt += 1
            if stats is not None:
                stats.retries += 1
                if response.status_code == 429:
                    stats.throttled += 1
            wait = wait_for(response) if wait_for else None
            if wait is None:
                wait = retry_after_seconds(response.headers)
            await policy.sleep(policy.jitter(wait) if wait is not None else policy.backoff(attempt))
            continue
        return response


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


async def gather_bounded(limit: int, coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run coroutines with at most `limit` at once; results in input order."""
    semaphore = asyncio.Semaphore(limit)

    async def run(coro: Coroutine[Any, Any, T]) -> T:
        async with semaphore:
            return await coro

    return list(await asyncio.gather(*(run(c) for c in coros)))


def error_summary(response: httpx.Response, *, limit: int = 300) -> str:
    """A short, secret-free description of an error response for a user-facing message."""
    text = response.text.strip().replace("\n", " ")
    if len(text) > limit:
        text = text[:limit] + "…"
    return f"HTTP {response.status_code} {response.request.method} {response.request.url.path}: {text}"
