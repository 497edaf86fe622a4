"""Serve a simulator on loopback (127.0.0.1) over real HTTP/1.1, from a background thread.

One asyncio event loop serves every connection (keep-alive): each request is answered by the
handler in the loop's thread as soon as it is in, and the answer goes out `latency` after the request
came in, as a vendor whose every answer takes that long (the simulator's own time to answer is part
of the latency, not added to it, unless it takes longer). Simulators are synchronous and hold their
lock for the whole of a request, so they answer one at a time whatever serves them; a thread per
connection (http.server) added only the cost of handing the GIL between 64 threads and of parsing
every request's headers with the email package: at 64 requests in flight it spent more CPU per
request than the connector under test, and became the bottleneck it was meant to measure.

Requests are read by a few rules (a request line `METHOD target HTTP/1.x`, `name: value` fields, a
body by Content-Length or chunked); anything else closes the connection unanswered. Answers carry
the simulator's status and headers, a Content-Length and a Date; HTTP/1.1 connections stay open
unless the request says `Connection: close`.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import selectors
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus

import httpx

from reconciler.simulators.base import DroppedConnection, Handler

MAX_HEAD = 100 * 1024
_REQUEST_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) HTTP/1\.([01])")
_FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:;[^\r\n]*)?[ \t]*")
_HOP_BY_HOP = frozenset({b"content-length", b"transfer-encoding", b"connection"})
_NO_BODY = frozenset({204, 304})

_dated: list[tuple[int, bytes]] = [(0, b"")]


def _date() -> bytes:
    """The Date header's value, made once a second."""
    now = int(time.time())
    second, text = _dated[0]
    if second != now:
        text = email.utils.formatdate(now, usegmt=True).encode()
        _dated[0] = (now, text)
    return text


class _Malformed(Exception):
    """A request that breaks HTTP/1.1's rules: the connection is closed unanswered."""


class _Request:
    __slots__ = ("body", "close", "headers", "method", "target")

    def __init__(self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], close: bool) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.close = close
        self.body = b""


def _dechunk(buffer: bytearray) -> tuple[bytes, int] | None:
    """A chunked body at the start of `buffer`: (the body, bytes it took), or None if not all in."""
    chunks: list[bytes] = []
    at = 0
    while True:
        end = buffer.find(b"\r\n", at)
        if end < 0:
            return None
        match = _CHUNK_SIZE.fullmatch(buffer, at, end)
        if match is None:
            raise _Malformed("illegal chunk-size line")
        size = int(match.group(1), 16)
        at = end + 2
        if size == 0:
            while True:  # trailer fields, then an empty line
                end = buffer.find(b"\r\n", at)
                if end < 0:
                    return None
                empty = end == at
                at = end + 2
                if empty:
                    return b"".join(chunks), at
        if len(buffer) < at + size + 2:
            return None
        if buffer[at + size : at + size + 2] != b"\r\n":
            raise _Malformed("a chunk does not end with CRLF")
        chunks.append(bytes(buffer[at : at + size]))
        at += size + 2


class _Exchange(asyncio.Protocol):
    """One client connection: requests are answered in the order they arrive."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._request: _Request | None = None  # its head read, its body awaited
        self._length = 0  # of that body, when it has a Content-Length
        self._chunked = False
        self._busy = False  # a request is waiting out its latency or being answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._next()

    def eof_received(self) -> bool:
        return self._busy  # an answer on its way still goes out; then the connection closes

    def _next(self) -> None:
        """Read until a whole request is in, then answer it (after the latency)."""
        if self._busy:
            return
        try:
            request = self._read()
        except _Malformed:
            self.close()
            return
        if request is None:
            return
        self._busy = True
        loop = asyncio.get_running_loop()
        due = loop.time() + self._server.latency
        answer = self._answer(request)
        if self._server.latency:
            loop.call_at(due, self._send, answer, request.close)
        else:
            self._send(answer, request.close)

    def _read(self) -> _Request | None:
        buffer = self._buffer
        if self._request is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise _Malformed("the request head is too long")
                return None
            lines = bytes(buffer[:end]).split(b"\r\n")
            del buffer[: end + 4]
            match = _REQUEST_LINE.fullmatch(lines[0])
            if match is None:
                raise _Malformed("illegal request line")
            method, target, minor = match.groups()
            headers: list[tuple[bytes, bytes]] = []
            close = minor == b"0"
            self._length, self._chunked = 0, False
            for line in lines[1:]:
                field = _FIELD.fullmatch(line)
                if field is None:
                    raise _Malformed("illegal header field")
                name, value = field.groups()
                headers.append((name, value))
                lowered = name.lower()
                if lowered == b"content-length":
                    if not value.isdigit():
                        raise _Malformed("bad Content-Length")
                    self._length = int(value)
                elif lowered == b"transfer-encoding":
                    self._chunked = value.strip().lower() == b"chunked"
                    if not self._chunked:
                        raise _Malformed("only chunked transfer coding is supported")
                elif lowered == b"connection":
                    tokens = {t.strip().lower() for t in value.split(b",")}
                    close = b"close" in tokens or (close and b"keep-alive" not in tokens)
            self._request = _Request(method, target, headers, close)
        request = self._request
        if self._chunked:
            found = _dechunk(buffer)
            if found is None:
                return None
            request.body, taken = found
            del buffer[:taken]
        else:
            if len(buffer) < self._length:
                return None
            request.body = bytes(buffer[: self._length])
            del buffer[: self._length]
        self._request = None
        return request

    def _answer(self, request: _Request) -> bytes | None:
        """The bytes to send for `request`; None to drop the connection unanswered."""
        server = self._server
        try:
            response = server.handler(
                httpx.Request(
                    request.method.decode("ascii"),
                    server.base + request.target.decode("ascii"),
                    headers=request.headers,
                    content=request.body,
                )
            )
            content = response.content
        except DroppedConnection:
            return None
        except Exception:  # a bug in the simulator: reported, and the connection dropped
            traceback.print_exc(file=sys.stderr)
            return None
        status = response.status_code
        try:
            reason = HTTPStatus(status).phrase.encode()
        except ValueError:
            reason = b""
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        head += [
            name + b": " + value + b"\r\n"
            for name, value in response.headers.raw
            if name.lower() not in _HOP_BY_HOP
        ]
        head.append(b"Date: " + _date() + b"\r\n")
        head.append(b"Content-Length: %d\r\n" % len(content))
        if request.close:
            head.append(b"Connection: close\r\n")
        head.append(b"\r\n")
        if content and request.method != b"HEAD" and status not in _NO_BODY and status >= 200:
            head.append(content)
        return b"".join(head)

    def _send(self, answer: bytes | None, close: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if answer is None:
            self.close()
            return
        transport.write(answer)
        if close:
            self.close()
            return
        self._busy = False
        self._next()  # a request that arrived meanwhile

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


class _Server:
    def __init__(self, handler: Handler, latency: float) -> None:
        self.handler = handler
        self.latency = latency
        self.base = ""
        self.connections: set[_Exchange] = set()


@contextmanager
def serve(handler: Handler, *, latency: float = 0.0, host: str = "127.0.0.1") -> Iterator[str]:
    """Run `handler` on an ephemeral loopback port; yields the base URL."""
    state = _Server(handler, latency)
    # select() waits to the microsecond; epoll (asyncio's default) rounds every wait up to the next
    # millisecond, which made each simulated latency ~0.5-1 ms longer than asked.
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    started = threading.Event()
    failed: list[BaseException] = []
    listener: list[asyncio.AbstractServer] = []

    async def start() -> None:
        server = await loop.create_server(lambda: _Exchange(state), host, 0)
        listener.append(server)
        port = server.sockets[0].getsockname()[1]
        state.base = f"http://{host}:{port}"

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:
            failed.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()
        for connection in list(state.connections):
            connection.close()
        listener[0].close()
        loop.run_until_complete(listener[0].wait_closed())
        loop.run_until_complete(asyncio.sleep(0))  # let the closed connections go
        loop.close()

    thread = threading.Thread(target=run, name="simulator", daemon=True)
    thread.start()
    started.wait()
    if failed:
        raise failed[0]
    try:
        yield state.base
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
