"""Serve a simulator on loopback (127.0.0.1) over real HTTP/1.1, from a background thread.

One asyncio event loop serves every connection (keep-alive, parsed by h11): each request waits out
`latency` on a timer, then the handler answers it in the loop's thread. Simulators are synchronous
and hold their lock for the whole of a request, so they answer one at a time whatever serves them;
a thread per connection (http.server) added only the cost of handing the GIL between 64 threads and
of parsing every request's headers with the email package: at 64 requests in flight it spent more
CPU per request than the connector under test, and became the bottleneck it was meant to measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import h11
import httpx

from reconciler.simulators.base import DroppedConnection, Handler

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


class _Exchange(asyncio.Protocol):
    """One client connection: requests are answered in the order they arrive."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=100 * 1024)
        self._transport: asyncio.Transport | None = None
        self._request: h11.Request | None = None
        self._body: list[bytes] = []
        self._busy = False  # a request is waiting out its latency or being answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._h11.receive_data(data)
        except h11.RemoteProtocolError:
            self.close()
            return
        self._next()

    def eof_received(self) -> bool:
        with contextlib.suppress(h11.RemoteProtocolError):
            self._h11.receive_data(b"")
        if not self._busy:
            self._next()
        return False

    def _next(self) -> None:
        """Read events until a whole request is in, then answer it (after the latency)."""
        if self._busy:
            return
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError:
                self.close()
                return
            kind = type(event)
            if kind is h11.Request:
                self._request = event  # type: ignore[assignment]
                self._body = []
            elif kind is h11.Data:
                self._body.append(bytes(event.data))  # type: ignore[union-attr]
            elif kind is h11.EndOfMessage:
                self._busy = True
                latency = self._server.latency
                if latency:
                    asyncio.get_running_loop().call_later(latency, self._answer)
                else:
                    self._answer()
                return
            elif kind is h11.ConnectionClosed:
                self.close()
                return
            else:  # NEED_DATA, or PAUSED until the answer is sent
                return

    def _answer(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        event = self._request
        assert event is not None
        headers = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in event.headers.raw_items()
        ]
        request = httpx.Request(
            event.method.decode("ascii"),
            self._server.base + event.target.decode("ascii"),
            headers=headers,
            content=b"".join(self._body),
        )
        try:
            response = self._server.handler(request)
            content = response.content
        except DroppedConnection:
            self.close()
            return
        except Exception:  # a bug in the simulator: reported, and the connection dropped
            traceback.print_exc(file=sys.stderr)
            self.close()
            return
        raw = [(name, value) for name, value in response.headers.raw if name.lower() not in _HOP_BY_HOP]
        raw.append((b"Date", _date()))
        status = response.status_code
        head_only = event.method == b"HEAD" or status in _NO_BODY or status < 200
        if status not in _NO_BODY:
            raw.append((b"Content-Length", str(len(content)).encode()))
        try:
            out = self._h11.send(h11.Response(status_code=status, headers=raw, reason=response.reason_phrase))
            if content and not head_only:
                out = (out or b"") + (self._h11.send(h11.Data(data=content)) or b"")
            out = (out or b"") + (self._h11.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError:
            traceback.print_exc(file=sys.stderr)
            self.close()
            return
        transport.write(out)
        if self._h11.our_state is h11.MUST_CLOSE or self._h11.their_state is h11.MUST_CLOSE:
            self.close()
            return
        try:
            self._h11.start_next_cycle()
        except h11.LocalProtocolError:  # the client closed its side: nothing more will come
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
    loop = asyncio.new_event_loop()
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
