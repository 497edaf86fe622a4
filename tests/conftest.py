"""Fixtures that fence off the outside world, and a real git repository factory."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import git
import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
VENDOR_PREFIXES = ("GITHUB_", "PROCORE_", "CONCUR_", "PINGONE_", "ACCESS_")


class YouForgotToUseLoopbackOrASimulator(Exception):
    """A test tried to reach a real host. Use a simulator transport, or serve one on 127.0.0.1."""


@pytest.fixture(autouse=True)
def _no_outbound_http(monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.connectors.wire import Http11Transport

    real_async = httpx.AsyncHTTPTransport.handle_async_request
    real_sync = httpx.HTTPTransport.handle_request
    real_wire = Http11Transport.handle_async_request

    def guard(request: httpx.Request) -> None:
        if request.url.host not in ("127.0.0.1", "localhost", "::1"):
            raise YouForgotToUseLoopbackOrASimulator(str(request.url))

    async def async_guarded(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        guard(request)
        return await real_async(self, request)

    def sync_guarded(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        guard(request)
        return real_sync(self, request)

    async def wire_guarded(self: Http11Transport, request: httpx.Request) -> httpx.Response:
        guard(request)
        return await real_wire(self, request)

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", async_guarded)
    monkeypatch.setattr(Http11Transport, "handle_async_request", wire_guarded)
    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", sync_guarded)


YOU_FORGOT_TO_FAKE_GH = """#!/bin/sh
echo "gh: tests never ask the real gh (write a fake gh on PATH, see tests/test_github_local.py)" >&2
exit 1
"""


@pytest.fixture(autouse=True)
def _no_real_gh(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's logged-in `gh` would hand tests a real token: put a `gh` that knows nothing first
    on PATH (a test that needs one puts its own fake in front)."""
    import os

    fence = tmp_path_factory.getbasetemp() / "no-real-gh"
    gh = fence / "gh"
    if not gh.exists():
        fence.mkdir(exist_ok=True)
        gh.write_text(YOU_FORGOT_TO_FAKE_GH, encoding="utf-8")
        gh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fence}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(VENDOR_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACCESS_TODAY", "2026-11-23")


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """A copy of the repository's example access/ and policies/ in a temp dir."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copytree(ROOT / "access", repo / "access")
    if (ROOT / "policies").is_dir():
        shutil.copytree(ROOT / "policies", repo / "policies")
    return repo


@pytest.fixture
def git_repo(tmp_path: Path) -> Callable[..., git.Repo]:
    """Make a real git repository in tmp_path, optionally with the example files committed."""

    def make(name: str = "gitrepo", *, with_example: bool = True) -> git.Repo:
        path = tmp_path / name
        path.mkdir()
        repo = git.Repo.init(path, initial_branch="main")
        with repo.config_writer() as config:
            config.set_value("user", "name", "Test User")
            config.set_value("user", "email", "test@example.com")
        if with_example:
            shutil.copytree(ROOT / "access", path / "access")
            if (ROOT / "policies").is_dir():
                shutil.copytree(ROOT / "policies", path / "policies")
            repo.index.add(["access"] + (["policies"] if (path / "policies").exists() else []))
            repo.index.commit("example access")
        return repo

    return make


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: vendor oracles are not available here")
    yield SHARED
