"""A server (or proxy) that echoes the whole request in its errors never makes a secret visible.

A loopback server answers every request with an error whose body holds the request line, every
header and the body: as JSON, as an HTML error page (a proxy's 502) or as plain text. Each vendor's
live code path and the GitHub client run against it, with canary secrets configured, and once with
its token endpoint granting tokens (so the echoed requests carry tokens obtained at run time). No
configured or obtained secret may appear, in any encoding, in stdout, stderr, the plan file, the
crash log or any file the run leaves in the repository.
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from reconciler.connectors import http as vendor_http
from tests.helpers import run_cli

# Characters that encode differently in each form (/, +, =, &, space, %).
CONFIGURED = {
    "PROCORE_CLIENT_SECRET": "procore-canary/Secret+1=x&y z%",
    "CONCUR_CLIENT_SECRET": "concur-canary/Secret+2=x&y z%",
    "CONCUR_REFRESH_TOKEN": "concur-canary-refresh/+3=",
    "PINGONE_CLIENT_SECRET": "pingone-canary/Secret+4=x&y z%",
    "GITHUB_TOKEN": "ghp_canaryGitHubToken0123456789abcdef",
}
OBTAINED = ("obtained-access-token/+5=AbCdEf", "obtained-refresh-token/+6=GhIjKl")
CLIENT_IDS = {"procore": "procore-client", "concur": "concur-client", "pingone": "pingone-client"}


def encodings(secret: str) -> set[str]:
    raw = secret.encode()
    forms = {
        secret, quote(secret, safe=""), quote(secret), quote_plus(secret), html.escape(secret),
        json.dumps(secret)[1:-1], raw.hex(), raw.hex().upper(),
        base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }  # fmt: skip
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), f) for f in forms if "%" in f}
    for client_id in CLIENT_IDS.values():
        forms.add(base64.b64encode(f"{client_id}:{secret}".encode()).decode())
    return forms


def leaks(text: str, secrets: list[str]) -> list[str]:
    """Which secrets appear in `text`: in a known encoding, or inside any base64 run."""
    found = [s for s in secrets if any(form in text for form in encodings(s))]
    for run in re.findall(r"[A-Za-z0-9+/_-]{8,}=*", text):
        for candidate in (run, run + "=" * (-len(run) % 4)):
            try:
                decoded = base64.b64decode(candidate.replace("-", "+").replace("_", "/"), validate=True)
            except ValueError:
                continue
            found += [s for s in secrets if s.encode() in decoded]
    return sorted(set(found))


def test_the_leak_detector_sees_every_encoding() -> None:
    for secret in (*CONFIGURED.values(), *OBTAINED):
        for form in encodings(secret):
            assert leaks(f"echo: {form} ...", [secret]) == [secret]
        basic = base64.b64encode(f"someone-else:{secret}".encode()).decode()
        assert leaks(f"Authorization: Basic {basic}", [secret]) == [secret]


@dataclass
class Echo:
    """What the echo server does: `grant` tokens or refuse them; errors as `style`."""

    style: str = "json"  # json | html | text
    grant: bool = False
    requests: list[str] = field(default_factory=list)


def serve(echo: Echo) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def handle_one(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            request = f"{self.command} {self.path} HTTP/1.1\n{self.headers}\n{body}"
            echo.requests.append(request)
            if echo.grant and self.command == "POST" and "grant_type" in body:
                payload = {"access_token": OBTAINED[0], "refresh_token": OBTAINED[1], "expires_in": 3600,
                           "token_type": "Bearer", "geolocation": f"http://127.0.0.1:{self.server.server_address[1]}"}  # fmt: skip
                self.reply(200, "application/json", json.dumps(payload))
            elif echo.style == "html":
                page = f"<html><head><title>502 Bad Gateway</title></head><body><pre>{html.escape(request)}</pre></body></html>"
                self.reply(502, "text/html", page)
            elif echo.style == "text":
                self.reply(400, "text/plain", f"bad request:\n{request}")
            else:
                payload = {"error": "invalid_request", "error_description": request, "message": request,
                           "detail": request, "code": "INVALID_REQUEST", "details": [{"message": request}]}  # fmt: skip
                self.reply(401 if "grant_type" in body else 400, "application/json", json.dumps(payload))

        def reply(self, status: int, content_type: str, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that hangs up early is not the test's subject

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@contextmanager
def echo_server(echo: Echo) -> Iterator[str]:
    server = serve(echo)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def vendor_env(vendor: str, url: str) -> dict[str, str]:
    return _vendor_env(vendor, url) | {"ACCESS_ALLOW_HOSTS": url.removeprefix("http://")}  # not a vendor host


def _vendor_env(vendor: str, url: str) -> dict[str, str]:
    if vendor == "procore":
        return {"PROCORE_API_URL": url, "PROCORE_LOGIN_URL": url, "PROCORE_CLIENT_ID": CLIENT_IDS[vendor],
                "PROCORE_CLIENT_SECRET": CONFIGURED["PROCORE_CLIENT_SECRET"], "PROCORE_COMPANY_ID": "562949953421312"}  # fmt: skip
    if vendor == "concur":
        return {"CONCUR_CLIENT_ID": CLIENT_IDS[vendor], "CONCUR_CLIENT_SECRET": CONFIGURED["CONCUR_CLIENT_SECRET"],
                "CONCUR_REFRESH_TOKEN": CONFIGURED["CONCUR_REFRESH_TOKEN"], "CONCUR_GEOLOCATION": url,
                "CONCUR_COMPANY_ID": "6d3ac6b4-6fa0-4c4e-9f5e-1f3b2c7a9e10", "CONCUR_TOKEN_STORE": "memory"}  # fmt: skip
    return {"PINGONE_CLIENT_ID": CLIENT_IDS[vendor], "PINGONE_CLIENT_SECRET": CONFIGURED["PINGONE_CLIENT_SECRET"],
            "PINGONE_ENVIRONMENT_ID": "7a3c9e52-5b1d-4f0e-9a61-5a4db0c1e001", "PINGONE_API_URL": f"{url}/v1",
            "PINGONE_AUTH_URL": url}  # fmt: skip


def files_text(root: Path) -> str:
    return "\n".join(p.read_text("utf-8", "replace") for p in sorted(root.rglob("*")) if p.is_file())


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries of the echoed 502s happen, but without waiting."""
    monkeypatch.setattr(vendor_http.RetryPolicy, "backoff", lambda self, attempt: 0.0)
    monkeypatch.setattr(vendor_http.RetryPolicy, "failure_backoff", lambda self, attempt: 0.0)
    monkeypatch.setattr(vendor_http.RetryPolicy, "jitter", lambda self, seconds: 0.0)


@pytest.mark.loopback
@pytest.mark.parametrize("vendor", ["procore", "concur", "pingone"])
@pytest.mark.parametrize("style", ["json", "html", "text"])
@pytest.mark.parametrize("grant", [False, True], ids=["token-refused", "token-granted"])
def test_vendor_errors_that_echo_the_request_show_no_secret(
    vendor: str,
    style: str,
    grant: bool,
    example_repo: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    echo = Echo(style=style, grant=grant)
    with echo_server(echo) as url:
        for key, value in vendor_env(vendor, url).items():
            monkeypatch.setenv(key, value)
        plan_file = example_repo / "plan.json"
        code, out, err = run_cli(
            capsys, "--repo", str(example_repo), "--vendor", vendor, "plan", "--out", str(plan_file)
        )
    assert code == 1 and err.strip(), "a refused request must say what failed"
    assert echo.requests, "the connector never reached the echo server"
    secrets = [*CONFIGURED.values(), *OBTAINED]
    echoed = "\n".join(echo.requests)
    assert leaks(echoed, secrets), "the server saw no secret: the test would prove nothing"
    if grant:
        assert OBTAINED[0] in echoed, "no request carried the token obtained at run time"
    crash = re.search(r"details in (\S+)", err)  # a crash would write its own log: that, too
    everything = out + err + files_text(example_repo) + (Path(crash[1]).read_text() if crash else "")
    assert leaks(everything, secrets) == []
    assert "Traceback" not in out + err


@pytest.mark.loopback
@pytest.mark.parametrize("style", ["json", "html", "text"])
def test_github_errors_that_echo_the_request_show_no_token(
    style: str, example_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_file = example_repo / "plan.json"
    code, _, err = run_cli(capsys, "--repo", str(example_repo), "plan", "--sandbox", "--out", str(plan_file))
    assert code == 0, err
    echo = Echo(style=style)
    with echo_server(echo) as url:
        monkeypatch.setenv("GITHUB_API_URL", url)
        monkeypatch.setenv("GITHUB_REPOSITORY", "harbor/access")
        monkeypatch.setenv("GITHUB_TOKEN", CONFIGURED["GITHUB_TOKEN"])
        code, out, err = run_cli(
            capsys, "--repo", str(example_repo), "comment", "--plan", str(plan_file), "--pr", "7",
            "--head", "0" * 40,
        )  # fmt: skip
    assert code == 1 and err.strip()
    assert CONFIGURED["GITHUB_TOKEN"] in "\n".join(echo.requests)
    assert leaks(out + err + files_text(example_repo), list(CONFIGURED.values())) == []
