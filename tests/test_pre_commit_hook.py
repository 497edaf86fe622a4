"""The `access-validate` hook as another repository uses it: `pre-commit try-repo` against this one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _pre_commit(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip


def test_access_validate_hook_passes_valid_yaml_and_fails_with_the_located_error(tmp_path: Path) -> None:
    pytest.importorskip("pre_commit")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "company-access"
    shutil.copytree(ROOT / "access", repo / "access")
    shutil.copytree(ROOT / "policies", repo / "policies")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    home = tmp_path / "pre-commit-home"
    hook = [
        "try-repo", str(ROOT), "access-validate", "--all-files", "--verbose",
    ]  # fmt: skip
    passed = _pre_commit(hook, repo, home)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "access validate" in passed.stdout and "Passed" in passed.stdout
    people = repo / "access/people.yaml"
    people.write_text(people.read_text().replace("teams: [finance]", "teams: [fnance]", 1))
    failed = _pre_commit(hook, repo, home)
    assert failed.returncode == 1
    assert (
        "access/people.yaml:13: people.erin.teams: unknown team 'fnance' (did you mean 'finance'?)"
        in failed.stdout
    )
