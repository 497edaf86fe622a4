"""Loopback receivers for `access notify`: webhooks (a real HTTP server on 127.0.0.1) and a tiny
SMTP server (socketserver; no aiosmtpd), each recording what it was sent."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    body: Any  # the JSON
    at: float  # time.monotonic() when it arrived


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)


class WebhookReceiver:
    """An incoming webhook on 127.0.0.1: records each POST; answers from `script` (then 200 "ok")."""

    def __init__(self) -> None:
        self.posted: list[Posted] = []
        self.script: list[Answer] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                receiver.attempts += 1
                answer = receiver.script.pop(0) if receiver.script else Answer()
                if answer.status < 300:
                    receiver.posted.append(
                        Posted(self.path, dict(self.headers.items()), json.loads(raw), time.monotonic())
                    )
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def url(self, path: str = "/services/T000/B000/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage
    auth: str = ""  # "user\0password" as AUTH PLAIN sent it


class SmtpReceiver:
    """Enough SMTP for smtplib: EHLO (offering AUTH PLAIN), AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def __init__(self, *, password: str = "") -> None:
        self.mails: list[Mail] = []
        self.auths: list[str] = []
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                self.reply("220 127.0.0.1 ESMTP test")
                sender, recipients, auth = "", [], ""
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    line = raw.decode().rstrip("\r\n")
                    verb = line.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.wfile.write(b"250-127.0.0.1\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n")
                    elif verb == "AUTH":
                        parts = line.split()
                        decoded = base64.b64decode(parts[2]).decode() if len(parts) > 2 else ""
                        auth = decoded.split("\0", 1)[1] if "\0" in decoded else decoded
                        receiver.auths.append(auth)
                        ok = not password or auth.endswith("\0" + password)
                        self.reply("235 2.7.0 accepted" if ok else "535 5.7.8 no")
                    elif verb == "MAIL":
                        sender, recipients = _address(line), []
                        self.reply("250 ok")
                    elif verb == "RCPT":
                        recipients.append(_address(line))
                        self.reply("250 ok")
                    elif verb == "DATA":
                        self.reply("354 go on")
                        data = b""
                        while not data.endswith(b"\r\n.\r\n"):
                            chunk = self.rfile.readline()
                            if not chunk:
                                return
                            data += chunk
                        body = data[: -len(b".\r\n")].replace(b"\r\n..", b"\r\n.")
                        parsed = email.message_from_bytes(body, policy=email.policy.default)
                        assert isinstance(parsed, EmailMessage)
                        receiver.mails.append(Mail(sender, recipients, parsed, auth))
                        self.reply("250 queued")
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 ok")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]


def _address(line: str) -> str:
    """`a@b` of `MAIL FROM:<a@b> SIZE=12` or `RCPT TO:<a@b>`."""
    value = line.split(":", 1)[1].strip()
    return value[1 : value.index(">")] if value.startswith("<") else value.split()[0]


@contextmanager
def smtp_receiver(*, password: str = "") -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(password=password)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
