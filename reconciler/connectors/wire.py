"""HTTP/1.1 on the wire for every live client: keep-alive connections on asyncio's own protocols.

httpx's default transport (httpcore over anyio) spent most of a sync's CPU on bookkeeping around each
request: locks, cancel scopes and events made and torn down per request, every idle connection polled
with a system call before each assignment, the async library looked up several times per request (a
failed `import sniffio` each time, as sniffio is no longer installed with httpx) and the body read
through four layers of async iterators. At 30 ms a request and 64 at once, a PingOne sync was bound
by that CPU (1.3 ms a request, against ~0.35 ms now).

`Http11Transport` keeps httpx's behaviour where a caller could tell: the TLS context httpx would make
(`httpx.create_ssl_context`: certifi, or SSL_CERT_FILE / SSL_CERT_DIR), connect, read, write and pool
timeouts from the request's `timeout` extension, the same exception types for the same failures
(`ConnectError` caused by the OS's error, `ConnectTimeout`, `ReadTimeout`, `ReadError`,
`RemoteProtocolError`, `PoolTimeout`), idle connections kept 5 s, and a connection the server closed,
asked to close, or that was left mid-answer never reused. A connection is an `asyncio.Protocol`:
`data_received` feeds the response reader (`http11`: the rules h11 applied) and completes the answer
in place, so a request costs one write and one wake-up of the task that sent it. Bodies are read whole
before the response is returned: every answer a connector reads is a JSON document it parses at once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
import time
from typing import Any

import httpx

from reconciler.connectors.http11 import ProtocolError, ResponseReader, request_bytes

KEEPALIVE_EXPIRY = 5.0  # seconds an idle connection is kept (httpx's default)
_DEFAULT_PORTS = {b"http": 80, b"https": 443}

Origin = tuple[bytes, str, int]  # scheme, host, port


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Origin) -> None:
        self.origin = origin
        self.idle_since = 0.0
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._closed = False  # the server closed it, it failed, or we closed it
        self._waiter: asyncio.Future[None] | None = None  # the response in flight
        self._reader: ResponseReader | None = None
        self._keep_alive = True
        self._last_read = 0.0
        self._read_timeout: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._writable: asyncio.Future[None] | None = None  # set while the socket's buffer is full
        self._lost: asyncio.Future[None] = loop.create_future()

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        reader = self._reader
        if waiter is None or waiter.done() or reader is None:  # bytes nobody asked for: unusable
            self._close()
            return
        self._last_read = self._loop.time()
        try:
            done = reader.feed(data)
        except ProtocolError as exc:
            self._fail(httpx.RemoteProtocolError(str(exc)))
            return
        if done:
            waiter.set_result(None)

    def eof_received(self) -> bool:
        self._closed = True
        waiter = self._waiter
        reader = self._reader
        if waiter is not None and not waiter.done() and reader is not None:
            if reader.eof():  # a body that runs until the connection closes ends here
                waiter.set_result(None)
            elif not reader.started:
                self._fail(httpx.RemoteProtocolError("Server disconnected without sending a response."))
            else:
                self._fail(
                    httpx.RemoteProtocolError("peer closed connection without sending complete message body")
                )
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if exc is None:
                self._fail(httpx.RemoteProtocolError("Server disconnected without sending a response."))
            else:
                error = httpx.ReadError(str(exc) or type(exc).__name__)
                error.__cause__ = exc
                self._fail(error)
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        if not self._lost.done():
            self._lost.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # -- one request ------------------------------------------------------------------------------

    @property
    def reusable(self) -> bool:
        return not self._closed and self._keep_alive

    async def exchange(self, request: httpx.Request, body: bytes, timeouts: dict[str, Any]) -> httpx.Response:
        """Send `request` and read its whole response; on any failure the connection is closed."""
        method = request.method.encode("ascii")
        headers = request.headers.raw
        try:
            data, close = request_bytes(method, request.url.raw_path, headers, body)
        except ProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from None
        reader = self._reader = ResponseReader(method, close=close)
        waiter = self._waiter = self._loop.create_future()
        try:
            if self._closed:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            assert self._transport is not None
            self._transport.write(data)
            if self._writable is not None and not self._writable.done():
                await self._drain(timeouts.get("write"))
            self._read_timeout = timeout = timeouts.get("read")
            self._last_read = self._loop.time()
            if timeout is not None and not waiter.done():
                self._timer = self._loop.call_later(timeout, self._check_read)
            await waiter
        except BaseException:
            self._close()
            raise
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._waiter = None
        self._keep_alive = reader.keep_alive
        if not reader.keep_alive:  # "Connection: close", or a body that ran to the end of the connection
            self._close()
        response = httpx.Response(
            reader.status,
            headers=reader.headers,
            stream=httpx.ByteStream(reader.body),
            extensions={"http_version": b"HTTP/" + reader.http_version, "reason_phrase": reader.reason},
        )
        if "content-encoding" not in response.headers:
            # The body as `aread()` returns it, already here: httpx keeps it in `_content` and then
            # skips the four async generators it would pass it through. Should httpx keep it
            # elsewhere one day, the stream above is read the usual way.
            response._content = reader.body
        return response

    async def _drain(self, timeout: float | None) -> None:
        writable = self._writable
        assert writable is not None
        try:
            async with asyncio.timeout(timeout):
                await writable
        except TimeoutError:
            raise httpx.WriteTimeout("timed out writing the request") from None

    def _check_read(self) -> None:
        self._timer = None
        timeout = self._read_timeout
        if timeout is None or self._waiter is None or self._waiter.done():
            return
        quiet = self._loop.time() - self._last_read
        if quiet >= timeout:
            self._fail(httpx.ReadTimeout("timed out waiting for the response"))
        else:
            self._timer = self._loop.call_later(timeout - quiet, self._check_read)

    def _fail(self, error: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self._close()

    def _close(self) -> None:
        self._closed = True
        if self._transport is not None and not self._transport.is_closing():
            self._transport.abort()

    async def aclose(self) -> None:
        self._close()
        if self._transport is not None:
            await self._lost


class Http11Transport(httpx.AsyncBaseTransport):
    """A pool of at most `max_connections` keep-alive HTTP/1.1 connections, over TLS for https."""

    def __init__(self, max_connections: int = 16, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._max = max_connections
        self._ssl = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open = 0  # connections open or being opened
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._connections: set[_Connection] = set()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        url = request.url
        scheme = url.raw_scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{url.scheme}://'.")
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        origin = (scheme, url.raw_host.decode("ascii"), url.port or _DEFAULT_PORTS[scheme])  # IDNA, as httpx
        connection = await self._acquire(origin, timeouts)
        try:
            response = await connection.exchange(request, body, timeouts)
        finally:
            self._release(connection)
        return response

    async def _acquire(self, origin: Origin, timeouts: dict[str, Any]) -> _Connection:
        if self._closed:
            raise RuntimeError("the transport is closed")
        deadline: float | None = None
        while True:
            idle = self._idle.get(origin)
            now = time.monotonic()
            while idle:
                connection = idle.pop()
                if connection.reusable and now - connection.idle_since < KEEPALIVE_EXPIRY:
                    return connection
                self._drop(connection)
            if self._open >= self._max:
                self._close_one_idle()  # an idle connection to another host makes room
            if self._open < self._max:
                self._open += 1
                try:
                    connection = await self._connect(origin, timeouts.get("connect"))
                except BaseException:
                    self._open -= 1
                    self._wake()
                    raise
                self._connections.add(connection)
                return connection
            pool = timeouts.get("pool")
            if pool is not None and deadline is None:
                deadline = now + pool
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                async with asyncio.timeout_at(None if deadline is None else _loop_time(deadline)):
                    await waiter
            except TimeoutError:
                raise httpx.PoolTimeout("no connection became free in time") from None
            except BaseException:  # cancelled: a turn it was given passes to the next in line
                if waiter.done() and not waiter.cancelled():
                    self._wake()
                raise
            finally:
                if not waiter.done():
                    waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiting.remove(waiter)

    async def _connect(self, origin: Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        connection = _Connection(loop, origin)
        context = None
        if scheme == b"https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
                self._ssl.set_alpn_protocols(["http/1.1"])
            context = self._ssl
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(
                    lambda: connection, host, port, ssl=context, server_hostname=host if context else None
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection to {host}:{port} in time") from None
        except OSError as exc:  # refused, unknown host (gaierror), TLS (SSLError), unreachable
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        return connection

    def _release(self, connection: _Connection) -> None:
        if connection.reusable and not self._closed:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(connection.origin, []).append(connection)
        else:
            self._drop(connection)
        self._wake()

    def _drop(self, connection: _Connection) -> None:
        connection._close()
        if connection in self._connections:
            self._connections.discard(connection)
            self._open -= 1

    def _close_one_idle(self) -> None:
        for connections in self._idle.values():
            if connections:
                self._drop(connections.pop(0))
                return

    def _wake(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        self._closed = True
        connections = list(self._connections)
        self._idle.clear()
        for connection in connections:
            self._drop(connection)
        await asyncio.gather(*(c.aclose() for c in connections), return_exceptions=True)


def _loop_time(monotonic_deadline: float) -> float:
    """A time.monotonic() deadline on the running loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())
