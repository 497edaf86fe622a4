"""HTTP/1.1 messages for the client side (RFC 9112): a request's bytes, and a response read as it
arrives. Pure: no I/O; `wire.Http11Transport` moves the bytes.

The rules are h11's (which read every vendor answer before): a status line `HTTP/x.y NNN reason`
(the reason may be missing), header fields `token: value` (no NUL, CR or LF in a value; obsolete
line folding unfolded to a space), at most 100 KiB of head, and the body framed by RFC 9112 §6.3:
none for HEAD, 1xx, 204 and 304; `Transfer-Encoding: chunked` (the only transfer coding, and it
beats Content-Length); else one Content-Length (repeats must agree); else until the connection
closes. Anything else is a `ProtocolError`, and so are bytes after the end of a response (nothing is
pipelined, so they can only mean the connection lost its place). Why not h11 itself: its event
objects and state machine cost ~60 us a request, a sixth of a PingOne sync's CPU; these are the
same checks in a few regular expressions.
"""

from __future__ import annotations

import re

MAX_HEAD = 100 * 1024  # bytes of status line and header fields (h11's limit under httpx)
MAX_CHUNK_LINE = 1024  # a chunk-size line and its extensions

_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_VALUE = rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?"  # h11's field-value: no NUL, no bare CR or LF
_FIELDS = re.compile(rb"(?:" + _TOKEN + rb":[ \t]*" + _VALUE + rb"[ \t]*(?:\r\n|\Z))*")
_STATUS = re.compile(rb"HTTP/([0-9]\.[0-9]) ([0-9]{3})(?: ((?:[ \t]|[^\x00\s])*))?")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*")
_DIGITS = re.compile(rb"[0-9]{1,20}")
_REQUEST_LINE = re.compile(_TOKEN + rb" [\x21-\x7e]+")


class ProtocolError(ValueError):
    """A message that breaks HTTP/1.1's rules (the text says which)."""


def request_bytes(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[bytes, bool]:
    """The request as sent (request line, header fields as given, and the body: one chunk when the
    headers ask for chunked encoding), and whether it asks to close the connection after. Refuses
    what h11 refuses: a field that is not `token: value`, a value with CR, LF or NUL, no Host."""
    line = method + b" " + target
    if not _REQUEST_LINE.fullmatch(line):
        raise ProtocolError(f"illegal request line {line[:80]!r}")
    fields = b"".join([name + b": " + value + b"\r\n" for name, value in headers])
    if fields.count(b"\n") != len(headers) or not _FIELDS.fullmatch(fields):  # (a value's CRLF adds a line)
        raise ProtocolError("illegal header field in the request")
    chunked = False
    host = False
    close = False
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"host":
            host = True
        elif lowered == b"transfer-encoding":
            chunked = value.strip().lower() == b"chunked"
            if not chunked:
                raise ProtocolError("only Transfer-Encoding: chunked is supported")
        elif lowered == b"connection":
            close = close or _closes(value)
    if not host:
        raise ProtocolError("missing mandatory Host: header")
    head = line + b" HTTP/1.1\r\n" + fields + b"\r\n"
    if chunked:
        body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    return head + body, close


def _closes(connection: bytes) -> bool:
    """Whether a Connection header's tokens include `close`."""
    return any(token.strip().lower() == b"close" for token in connection.split(b","))


_HEAD, _LENGTH, _CHUNK_LINE, _CHUNK_DATA, _TRAILER, _UNTIL_CLOSE, _DONE = range(7)


class ResponseReader:
    """One response, fed as its bytes arrive; `done` once it is complete.

    After `done`: `status`, `reason`, `http_version` (b"1.1"), `headers` (raw names and values as
    sent, for httpx), `body`, and `keep_alive` (whether the connection may carry another request)."""

    __slots__ = (
        "_buffer",
        "_chunks",
        "_head_only",
        "_remaining",
        "_scan",
        "_state",
        "body",
        "headers",
        "http_version",
        "keep_alive",
        "reason",
        "status",
    )

    def __init__(self, method: bytes, *, close: bool = False) -> None:
        """`method`: the request's (HEAD has no body); `close`: the request said Connection: close."""
        self._head_only = method == b"HEAD"
        self._state = _HEAD
        self._buffer = bytearray()
        self._scan = 0  # where the search for the end of the head resumes
        self._chunks: list[bytes] = []
        self._remaining = 0
        self.status = 0
        self.reason = b""
        self.http_version = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.keep_alive = not close

    @property
    def done(self) -> bool:
        return self._state == _DONE

    @property
    def started(self) -> bool:
        """Whether any byte of the response has arrived."""
        return self._state != _HEAD or bool(self._buffer)

    def feed(self, data: bytes) -> bool:
        """Take the bytes that arrived; True when the response is complete."""
        if self._state == _DONE:
            if data:
                raise ProtocolError("the server sent more than one response")
            return True
        if (
            self._state == _LENGTH and not self._buffer and len(data) < self._remaining
        ):  # the body, streaming in
            self._chunks.append(data)
            self._remaining -= len(data)
            return False
        self._buffer += data
        return self._advance()

    def eof(self) -> bool:
        """The server closed the connection: True if that ends the response (one read until close)."""
        if self._state == _UNTIL_CLOSE:
            self._chunks.append(bytes(self._buffer))
            self._buffer.clear()
            self._finish()
            return True
        return self._state == _DONE

    def _advance(self) -> bool:
        buffer = self._buffer
        while True:
            state = self._state
            if state == _HEAD:
                end = buffer.find(b"\r\n\r\n", self._scan)
                if end < 0:
                    if len(buffer) > MAX_HEAD:
                        raise ProtocolError("the response head is too long")
                    self._scan = max(0, len(buffer) - 3)
                    return False
                head = bytes(buffer[:end])
                del buffer[: end + 4]
                self._scan = 0
                if end > MAX_HEAD:
                    raise ProtocolError("the response head is too long")
                self._head(head)
            elif state == _LENGTH:
                if len(buffer) < self._remaining:
                    self._chunks.append(bytes(buffer))
                    self._remaining -= len(buffer)
                    buffer.clear()
                    return False
                self._chunks.append(bytes(buffer[: self._remaining]))
                del buffer[: self._remaining]
                self._finish()
            elif state == _CHUNK_LINE:
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > MAX_CHUNK_LINE:
                        raise ProtocolError("a chunk-size line is too long")
                    return False
                match = _CHUNK_SIZE.fullmatch(buffer, 0, end)
                if match is None:
                    raise ProtocolError("illegal chunk-size line")
                size = int(match.group(1), 16)
                del buffer[: end + 2]
                self._remaining = size
                self._state = _CHUNK_DATA if size else _TRAILER
            elif state == _CHUNK_DATA:
                size = self._remaining
                if len(buffer) < size + 2:
                    return False
                if buffer[size : size + 2] != b"\r\n":
                    raise ProtocolError("a chunk does not end with CRLF")
                self._chunks.append(bytes(buffer[:size]))
                del buffer[: size + 2]
                self._state = _CHUNK_LINE
            elif state == _TRAILER:
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > MAX_HEAD:
                        raise ProtocolError("the trailer is too long")
                    return False
                line = bytes(buffer[:end])
                del buffer[: end + 2]
                if line:
                    if not _FIELDS.fullmatch(line):
                        raise ProtocolError("illegal trailer field")
                    continue
                self._finish()
            elif state == _UNTIL_CLOSE:
                self._chunks.append(bytes(buffer))
                buffer.clear()
                return False
            if self._state == _DONE:
                if buffer:
                    raise ProtocolError("the server sent more than one response")
                return True

    def _head(self, head: bytes) -> None:
        status_end = head.find(b"\r\n")
        if status_end < 0:
            status_line, fields = head, b""
        else:
            status_line, fields = head[:status_end], head[status_end + 2 :]
        match = _STATUS.fullmatch(status_line)
        if match is None:
            raise ProtocolError(f"illegal status line: {status_line[:80]!r}")
        version, status, reason = match.groups()
        if b"\r\n " in fields or b"\r\n\t" in fields:  # obsolete line folding: one space instead
            fields = re.sub(rb"\r\n[ \t]+", b" ", fields)
        if fields and not _FIELDS.fullmatch(fields):
            raise ProtocolError("illegal header field in the response")
        headers: list[tuple[bytes, bytes]] = []
        length: bytes | None = None
        chunked = False
        close = False
        for line in fields.split(b"\r\n") if fields else ():
            name, _, value = line.partition(b":")
            value = value.strip(b" \t")
            lowered = name.lower()
            if lowered == b"content-length":  # one value, however often it was repeated (as h11 has it)
                for part in value.split(b","):
                    part = part.strip()
                    if not _DIGITS.fullmatch(part) or (length is not None and part != length):
                        raise ProtocolError("bad or conflicting Content-Length")
                    length = part
                if any(n.lower() == b"content-length" for n, _ in headers):
                    continue
                value = length or b""
            elif lowered == b"transfer-encoding":
                value = value.lower()
                if chunked or value != b"chunked":
                    raise ProtocolError("only Transfer-Encoding: chunked is supported")
                chunked = True
            elif lowered == b"connection":
                close = close or _closes(value)
            headers.append((name, value))
        code = int(status)
        if code < 200:
            if code == 101:
                raise ProtocolError("the server switched protocols, which no request asked for")
            return  # 100 Continue, 103 Early Hints: the final response follows
        self.status = code
        self.reason = reason or b""
        self.http_version = version
        self.headers = headers
        if close or version != b"1.1":
            self.keep_alive = False
        if self._head_only or code in (204, 304):
            self._finish()
        elif chunked:
            self._state = _CHUNK_LINE
        elif length is not None:
            self._remaining = int(length)
            self._state = _LENGTH
            if not self._remaining:
                self._finish()
        else:
            self.keep_alive = False
            self._state = _UNTIL_CLOSE

    def _finish(self) -> None:
        chunks = self._chunks
        self.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        self._state = _DONE
