"""Messages a new user met on a first walk (issue #22), each checked as they saw it: the console
script in its own process, in the directory they ran it from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def access(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`access ARGS` as a process in `cwd`, with this checkout's code and no terminal on stdin."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd, env=environment, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


# ---------------------------------------------------------------- concur setup without a terminal


def test_concur_setup_without_a_terminal_names_what_to_pass_and_exits_1(tmp_path: Path) -> None:
    result = access("concur", "setup", cwd=tmp_path)
    assert result.returncode == 1
    assert "Company id:" not in result.stdout + result.stderr  # no prompt nobody can answer
    assert result.stderr.strip() == (
        "concur setup: stdin is not a terminal, so nothing can be asked for; pass --company-id or set "
        "CONCUR_COMPANY_ID; pass --client-id or set CONCUR_CLIENT_ID; set CONCUR_CLIENT_SECRET; set "
        "CONCUR_REQUEST_TOKEN"
    )
    given = access("concur", "setup", "--company-id", "c-1", cwd=tmp_path, env={"CONCUR_CLIENT_ID": "app"})
    assert given.returncode == 1
    assert given.stderr.strip().endswith(
        "nothing can be asked for; set CONCUR_CLIENT_SECRET; set CONCUR_REQUEST_TOKEN"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
def test_concur_setup_on_a_terminal_still_asks(tmp_path: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "concur", "setup"],
        cwd=tmp_path, env=environment, stdin=follower, stdout=follower, stderr=follower,
    )  # fmt: skip
    os.close(follower)
    try:
        seen = b""
        while b"Company id:" not in seen:
            chunk = os.read(leader, 1024)
            assert chunk, seen
            seen += chunk
    finally:
        process.kill()
        process.wait(timeout=30)
        os.close(leader)
