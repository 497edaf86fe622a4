"""The transport behind every live client (`wire.Http11Transport`), over real loopback TCP and TLS:
connections kept and shared, answers read whole whatever their framing, and each failure the kind
of error the retries and messages are built on (`http.send_with_retries`, `http._what_failed`)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from reconciler.connectors.http import build_client
from reconciler.connectors.wire import Http11Transport

pytestmark = pytest.mark.loopback

# What the scripted server sends for a request: bytes (ending in CLOSE: then it hangs up), or None
# to hang up without answering.
Script = Callable[[bytes, int], bytes | None]  # (request head, the connection's request number)
CLOSE = b"<hang up>"


def ok(body: bytes = b"{}", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s" % (
        extra, len(body), body,
    )  # fmt: skip


@contextmanager
def scripted(script: Script, *, tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, dict[str, int]]]:
    """A loopback server that answers each request as `script` says; yields its URL and counts
    (connections accepted, requests at once at most)."""
    counts = {"connections": 0, "in_flight": 0, "most": 0, "hung_up": 0}
    lock = threading.Lock()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            conn: socket.socket = self.request
            if tls is not None:
                try:
                    conn = tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    return
            try:
                self.exchange(conn)
            finally:
                conn.close()

        def exchange(self, conn: socket.socket) -> None:
            with lock:
                counts["connections"] += 1
            buffer, number = b"", 0
            while True:
                while b"\r\n\r\n" not in buffer:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:  # the client hung up
                        with lock:
                            counts["hung_up"] += 1
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
                    0,
                )  # fmt: skip
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                buffer = buffer[length:]
                number += 1
                with lock:
                    counts["in_flight"] += 1
                    counts["most"] = max(counts["most"], counts["in_flight"])
                try:
                    answer = script(head, number)
                finally:
                    with lock:
                        counts["in_flight"] -= 1
                if answer is None:
                    return
                conn.sendall(answer.removesuffix(CLOSE))
                if answer.endswith(CLOSE):
                    return

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", counts
    finally:
        server.shutdown()
        server.server_close()


def get(
    url: str, paths: list[str], *, connections: int = 8, timeout: float = 10.0, **kwargs: object
) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        transport = Http11Transport(connections, **kwargs)  # type: ignore[arg-type]
        async with build_client(url, transport=transport, writable=False, timeout=timeout) as client:
            return list(await asyncio.gather(*(client.get(p) for p in paths)))

    return asyncio.run(go())


def test_requests_at_once_share_the_pool_and_each_gets_its_own_answer() -> None:
    def script(head: bytes, number: int) -> bytes:
        time.sleep(0.03)
        path = head.split(b" ")[1]
        return ok(b'{"path": "%s"}' % path)

    with scripted(script) as (url, counts):
        responses = get(url, [f"/item/{i}" for i in range(64)] * 2, connections=8)
    assert [r.json()["path"] for r in responses] == [f"/item/{i}" for i in range(64)] * 2
    assert counts["connections"] == 8, "at most 8 connections, each kept for the next request"
    assert counts["most"] > 1, "side by side"


@pytest.mark.parametrize(
    ("answer", "body"),
    [
        (
            b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n5\r\n": 1}\r\n0\r\n\r\n',
            b'{"a": 1}',
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"[1]"), b"[1]"),
        (ok(b"x" * 300_000), b"x" * 300_000),
    ],
)
def test_answers_are_read_whole_whatever_their_framing(answer: bytes, body: bytes) -> None:
    with scripted(lambda head, number: answer) as (url, counts):
        first, second = get(url, ["/a", "/b"], connections=1)
    assert first.content == second.content == body
    assert counts["connections"] == 1


def test_an_answer_that_runs_until_the_connection_closes_is_read_and_the_next_request_reconnects() -> None:
    def script(head: bytes, number: int) -> bytes:
        return b"HTTP/1.1 200 OK\r\n\r\nuntil close" + CLOSE if head.startswith(b"GET /a") else ok()

    with scripted(script) as (url, counts):
        first, second = get(url, ["/a", "/b"], connections=1)
    assert (first.content, second.json()) == (b"until close", {})
    assert counts["connections"] == 2


@pytest.mark.parametrize("said", [True, False])
def test_a_connection_the_server_closed_while_idle_is_not_reused(said: bool) -> None:
    """Whether the server said so (Connection: close) or just hung up after answering."""

    def script(head: bytes, number: int) -> bytes:
        if not head.startswith(b"GET /close"):
            return ok()
        return ok(extra=b"Connection: close\r\n") + CLOSE if said else ok() + CLOSE

    async def go(url: str) -> list[int]:
        async with build_client(url, transport=Http11Transport(1), writable=False) as client:
            statuses = [(await client.get("/close")).status_code]
            await asyncio.sleep(0.05)
            statuses.append((await client.get("/next")).status_code)
            return statuses

    with scripted(script) as (url, counts):
        assert asyncio.run(go(url)) == [200, 200]
    assert counts["connections"] == 2


def test_gzip_answers_are_decoded_and_cookies_are_kept() -> None:
    import gzip

    def script(head: bytes, number: int) -> bytes:
        if head.startswith(b"GET /gzip"):
            return ok(gzip.compress(b'{"a": 1}'), extra=b"Content-Encoding: gzip\r\n")
        if head.startswith(b"GET /cookie"):
            return ok(extra=b"Set-Cookie: lb=node-7; Path=/\r\n")
        return ok(
            b'{"cookie": "%s"}'
            % next((line for line in head.split(b"\r\n") if line.lower().startswith(b"cookie:")), b"")
        )

    async def go(url: str) -> tuple[object, object]:
        async with build_client(url, writable=False) as client:
            decoded = (await client.get("/gzip")).json()
            await client.get("/cookie")
            return decoded, (await client.get("/echo")).json()

    with scripted(script) as (url, _):
        assert asyncio.run(go(url)) == ({"a": 1}, {"cookie": "Cookie: lb=node-7"})


@pytest.mark.parametrize(
    ("script", "error", "text"),
    [
        (
            lambda head, number: None,
            httpx.RemoteProtocolError,
            "Server disconnected without sending a response.",
        ),
        (
            lambda head, number: b"<html>Guest Wi-Fi</html>\r\n\r\n",
            httpx.RemoteProtocolError,
            "illegal status line",
        ),
        (
            lambda head, number: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",
            httpx.ReadTimeout,
            "timed out",
        ),
    ],
)
def test_each_failure_is_the_error_the_retries_know(
    script: Script, error: type[Exception], text: str
) -> None:
    with scripted(script) as (url, _), pytest.raises(error, match=text):
        get(url, ["/a"], timeout=0.3)


def test_a_refused_connection_is_a_connect_error_caused_by_the_refusal() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(httpx.ConnectError) as caught:
        get(f"http://127.0.0.1:{port}", ["/"])
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


def test_tls_with_a_certificate_nobody_trusts_fails_as_a_tls_error(certificate: tuple[Path, Path]) -> None:
    key, cert = certificate
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    with (
        scripted(lambda head, number: ok(), tls=server) as (url, _),
        pytest.raises(httpx.ConnectError) as caught,
    ):
        get(url, ["/"])
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)


def test_tls_keeps_its_connections_like_plain_http(certificate: tuple[Path, Path]) -> None:
    key, cert = certificate
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    with scripted(lambda head, number: ok(b'{"n": %d}' % number), tls=server) as (url, counts):
        responses = get(url, ["/a", "/b", "/c"], connections=1, ssl_context=client)
    assert [r.json() for r in responses] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert counts["connections"] == 1


def test_closing_the_client_closes_its_connections() -> None:
    async def go(url: str) -> None:
        async with build_client(url, writable=False, max_connections=4) as client:
            await asyncio.gather(*(client.get(f"/{i}") for i in range(4)))

    with scripted(lambda head, number: ok()) as (url, counts):
        asyncio.run(go(url))
        deadline = time.monotonic() + 5
        while counts["hung_up"] < counts["connections"] and time.monotonic() < deadline:
            time.sleep(0.01)
    assert counts["hung_up"] == counts["connections"] > 0
