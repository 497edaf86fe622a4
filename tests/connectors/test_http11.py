"""HTTP/1.1 as every live client reads it (`reconciler.connectors.http11`): the same answers h11 made
of the same bytes, however the network splits them, and the same refusals."""

from __future__ import annotations

import itertools

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.connectors.http11 import ProtocolError, ResponseReader, request_bytes

HOST = [(b"Host", b"api.example"), (b"Accept", b"application/json")]

# (request method, the bytes a server sends): every framing RFC 9112 §6.3 allows a response
RESPONSES = [
    ("GET", b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"a": [1]}\n'),
    (
        "GET",
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n7;ext=1\r\n: [1]}\n\r\n0\r\n\r\n',
    ),
    ("GET", b"HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: yes\r\n\r\n"),
    ("GET", b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    ("DELETE", b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"),
    ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"),
    ("GET", b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n"),
    ("GET", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"),
    ("GET", b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok"),  # no reason phrase
    ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nX-Folded: a\r\n  b\r\n\r\nabc"),
    (
        "GET",
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
    ),
    ("GET", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    ("GET", b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>until the connection closes</html>"),
    ("GET", b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"),
]


def h11_reads(method: str, data: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes, bool]:
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method=method, target="/", headers=HOST))
    connection.send(h11.EndOfMessage())
    connection.receive_data(data)
    response: h11.Response | None = None
    body = b""
    at_eof = False  # the body ran until the connection closed
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(b"")
            at_eof = True
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    assert response is not None
    keep_alive = connection.our_state is h11.DONE and connection.their_state is h11.DONE and not at_eof
    return response.status_code, response.reason, list(response.headers.raw_items()), body, keep_alive


def read(method: str, pieces: list[bytes]) -> ResponseReader:
    reader = ResponseReader(method.encode())
    done = False
    for piece in pieces:
        assert not done, "complete before its last byte"
        done = reader.feed(piece)
    if not done:
        assert reader.eof()
    return reader


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)] or [b""]


@pytest.mark.parametrize(("method", "data"), RESPONSES)
def test_every_framing_reads_as_h11_reads_it(method: str, data: bytes) -> None:
    status, reason, headers, body, keep_alive = h11_reads(method, data)
    reader = read(method, [data])
    assert (reader.status, reader.reason, reader.body) == (status, reason, body)
    assert [(n.lower(), v) for n, v in reader.headers] == [(n.lower(), v) for n, v in headers]
    assert reader.keep_alive == keep_alive


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(RESPONSES), st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_however_the_network_splits_a_response_it_reads_the_same(
    case: tuple[str, bytes], cuts: list[int]
) -> None:
    method, data = case
    whole = read(method, [data])
    pieces = read(method, split(data, cuts))
    assert (pieces.status, pieces.headers, pieces.body, pieces.keep_alive) == (
        whole.status, whole.headers, whole.body, whole.keep_alive,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"<html><head><title>Guest Wi-Fi</title></head></html>\r\n\r\n", "illegal status line"),
        (b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", "illegal header field"),
        (b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", "illegal header field"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
            "conflicting Content-Length",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "only Transfer-Encoding: chunked"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "illegal chunk-size line"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "does not end with CRLF"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n", "more than one response"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", "switched protocols"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 110_000, "too long"),
    ],
)
def test_what_breaks_the_rules_is_refused(data: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        ResponseReader(b"GET").feed(data)


def test_a_body_cut_short_is_not_complete_at_eof() -> None:
    reader = ResponseReader(b"GET")
    assert not reader.feed(b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"a":')
    assert reader.started and not reader.eof()
    assert not ResponseReader(b"GET").started


def test_a_request_is_written_as_h11_writes_it() -> None:
    headers = [*HOST, (b"Content-Length", b"2"), (b"Authorization", b"Bearer t0k")]
    data, close = request_bytes(b"POST", b"/users?a=1", headers, b"{}")
    connection = h11.Connection(h11.CLIENT)
    expected = connection.send(h11.Request(method="POST", target="/users?a=1", headers=headers))
    expected += connection.send(h11.Data(data=b"{}")) + connection.send(h11.EndOfMessage())
    assert (data, close) == (expected, False)
    chunked, _ = request_bytes(b"POST", b"/", [*HOST, (b"Transfer-Encoding", b"chunked")], b"abc")
    assert chunked.endswith(b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    assert request_bytes(b"GET", b"/", [*HOST, (b"Connection", b"close")], b"")[1]


@pytest.mark.parametrize(
    ("method", "target", "headers", "problem"),
    [
        (b"GET", b"/a b", HOST, "illegal request line"),
        (b"GET", b"/", [*HOST, (b"X", b"a\r\nInjected: 1")], "illegal header field"),
        (b"GET", b"/", [*HOST, (b"Bad Name", b"1")], "illegal header field"),
        (b"GET", b"/", [(b"Accept", b"*/*")], "missing mandatory Host"),
    ],
)
def test_a_request_that_breaks_the_rules_is_never_sent(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], problem: str
) -> None:
    with pytest.raises(ProtocolError, match=problem):
        request_bytes(method, target, headers, b"")
