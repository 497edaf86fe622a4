"""Serve a simulator on loopback (127.0.0.1) over real HTTP, in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from reconciler.simulators.base import DroppedConnection, Handler


def _make_handler(handler: Handler, latency: float, base: list[str]) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes; with Nagle's algorithm the body waits for the
        # client's delayed ACK (40 ms on Linux), which real vendors do not add to every request.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            request = httpx.Request(
                self.command,
                base[0] + self.path,
                headers=[(k, v) for k, v in self.headers.items()],
                content=body,
            )
            if latency:
                time.sleep(latency)
            try:
                response = handler(request)
            except DroppedConnection:
                self.close_connection = True
                self.connection.close()
                return
            content = response.content
            self.send_response(response.status_code)
            for key, value in response.headers.multi_items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if content and self.command != "HEAD":
                self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    return RequestHandler


@contextmanager
def serve(handler: Handler, *, latency: float = 0.0, host: str = "127.0.0.1") -> Iterator[str]:
    """Run `handler` on an ephemeral loopback port; yields the base URL."""
    base: list[str] = [""]
    server = ThreadingHTTPServer((host, 0), _make_handler(handler, latency, base))
    server.daemon_threads = True
    base[0] = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="simulator", daemon=True)
    thread.start()
    try:
        yield base[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
