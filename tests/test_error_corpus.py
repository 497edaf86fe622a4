"""Every malformed repository in tests/corpus/ is one clean, located error: exit 1, no traceback.

Each case is a small directory: `access/` (and maybe `policies/`) plus `expect`, which says where the
error is (`where: access/x.yaml:4`, or just the file for a problem with the whole file), a phrase
the message contains (`says:`), and optionally `stage: plan` (a name only the vendor can refuse, so
offline `validate` passes), `valid: True`, and `setup:` lines for what git cannot store (symlinks,
a socket where a file should be, a folder that cannot be listed).

Most cases run in-process through the CLI entry point (fast); a handful run as real processes.
`plan --sandbox` must also write nothing to any (simulated) vendor.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expect").is_file())
SECONDS = 5.0
SUBPROCESS_CASES = (
    "non-utf8-latin1",
    "alias-bomb",
    "unterminated-double-quote",
    "symlink-loop",
    "unknown-project",
)


@dataclass
class Expect:
    where: str
    says: str
    stage: str = "load"
    valid: bool = False
    setup: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, case: str) -> Expect:
        expect = cls("", "")
        for line in (CORPUS / case / "expect").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(": ")
            if key == "setup":
                expect.setup.append(value)
            elif key == "valid":
                expect.valid = value == "True"
            else:
                setattr(expect, key, value)
        return expect

    def found_in(self, stderr: str) -> bool:
        """Some line starts with the location (file:line, or the file alone) and says the phrase."""
        prefix = self.where if self.where.endswith(":") or ":" in self.where else self.where + ":"
        return any(line.startswith(prefix) and self.says in line for line in stderr.splitlines())


def test_the_corpus_covers_every_class_with_at_least_60_cases() -> None:
    assert len(CASES) >= 60
    names = " ".join(CASES)
    for kind in ("utf8", "nul", "quote", "alias-bomb", "impossible", "naive", "huge-integer", "symlink",
                 "unreadable", "unknown-project", "unknown-pingone-role", "unknown-company",
                 "unknown-pingone-population", "authoritative-conflict", "glob-reversed",
                 "merge-key", "yes-is-not-true", "field-from-elsewhere"):  # fmt: skip
        assert kind in names, f"no corpus case for {kind}"


def _refusing(locked: Path, real_scandir: Any) -> Any:
    """os.scandir that refuses `locked` as the OS would (root may list any folder)."""

    def scandir(path: Any = ".") -> Any:
        if Path(str(path)) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    return scandir


@contextmanager
def materialize(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    repo = tmp_path / "repo"
    shutil.copytree(CORPUS / case, repo, ignore=shutil.ignore_patterns("expect"))
    held: list[socket.socket] = []
    for line in Expect.read(case).setup:
        kind, _, rest = line.partition(" ")
        if kind == "symlink":
            link, _, target = rest.partition(" -> ")
            (repo / link).parent.mkdir(parents=True, exist_ok=True)
            (repo / link).symlink_to(target)
        elif kind == "socket":  # a path that exists and cannot be read, even by root
            monkeypatch.chdir((repo / rest).parent)
            server = socket.socket(socket.AF_UNIX)
            server.bind((repo / rest).name)
            held.append(server)
        elif kind == "unreadable":
            (repo / rest).chmod(0)
            monkeypatch.setattr(os, "scandir", _refusing(repo / rest, os.scandir))
        else:
            raise AssertionError(f"unknown setup {line!r}")
    try:
        yield repo
    finally:
        for server in held:
            server.close()
        for line in Expect.read(case).setup:
            if line.startswith("unreadable "):
                (repo / line.split(" ", 1)[1]).chmod(0o755)


def digest(directory: Path) -> str:
    hashed = hashlib.sha256()
    if directory.is_dir():
        for path in sorted(directory.rglob("*")):
            if path.is_file() and path.suffix == ".json":
                hashed.update(path.name.encode() + path.read_bytes())
    return hashed.hexdigest()


@pytest.mark.parametrize("case", CASES)
def test_case_is_one_located_error(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expect = Expect.read(case)
    with materialize(case, tmp_path, monkeypatch) as repo:
        started = time.monotonic()
        code, out, err = run_cli(capsys, "--repo", str(repo), "validate")
        assert time.monotonic() - started < SECONDS
        assert "Traceback" not in out + err and "crashed" not in err
        if expect.valid or expect.stage == "plan":
            assert code == 0, err
        else:
            assert code == 1, out
            assert expect.found_in(err), f"expected {expect.where}: ...{expect.says}... in:\n{err}"

        sandbox = repo / ".access-sandbox"
        if expect.stage == "plan":
            assert run_cli(capsys, "--repo", str(repo), "sandbox", "reset")[0] == 0
        before = digest(sandbox)
        started = time.monotonic()
        code, out, err = run_cli(capsys, "--repo", str(repo), "plan", "--sandbox")
        assert time.monotonic() - started < SECONDS
        assert "Traceback" not in out + err and "crashed" not in err
        if expect.valid:
            assert code == 0, err
            return
        assert code == 1, out
        assert expect.found_in(err), f"expected {expect.where}: ...{expect.says}... in:\n{err}"
        assert digest(sandbox) == before, "plan changed a (simulated) vendor"
        if expect.stage != "plan":
            assert not sandbox.exists(), "a file that does not load must not reach any vendor"


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_case_as_a_real_process(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expect = Expect.read(case)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROCORE_", "CONCUR_", "PINGONE_"))}
    with materialize(case, tmp_path, monkeypatch) as repo:
        for command in (["validate"], ["plan", "--sandbox"]):
            if command == ["validate"] and expect.stage == "plan":
                continue
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "reconciler", "--repo", str(repo), *command],
                capture_output=True, text=True, env=env, timeout=60, check=False,
            )  # fmt: skip
            assert time.monotonic() - started < SECONDS
            assert done.returncode == 1, done.stdout
            assert "Traceback" not in done.stdout + done.stderr
            assert expect.found_in(done.stderr), done.stderr
