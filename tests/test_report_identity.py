"""Speed work must not change what a report says: the same inputs give byte-identical output.

Each case is a repository (access/, policies/, a snapshot written by `access sync --out`) and an
audit log, reported with ACCESS_TODAY=2026-11-23 as a user runs it (the console script in its own
process), to a file and to stdout. Expected outputs were recorded with the code as it was before
the report was streamed (commit 0bc4603):
- quirks: the repository's example against the sandbox seed (tests/fixtures/plan_identity/example),
  with a name holding a comma, quotes and `</script>`, a non-ASCII name, a reason holding a comma,
  quotes and a line break, a person's own line re-explaining a grant their team's line makes, one
  taking a Procore project's template slot from their team's line, a `certified` day, drift,
  pending and indirect grants; expected/ holds the CSV, the HTML page and `why --format json`;
- bench-policies: tests/fixtures/plan_identity/bench-policies (300 people, ~3,000 grants); the CSV
  and the page are pinned by their SHA-256 (expected.sha256), being 400 and 250 KB.
The audit logs (`audit.jsonl`) hold grants, updates, failures, revocations, account lines, older
and newer lines for one grant, and blank lines. Regenerating expected/ is never the fix for a
failure here: the report changed, and it must not.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "fixtures"
CASES = {
    "quirks": HERE / "report_identity" / "quirks",
    "bench-policies": HERE / "plan_identity" / "bench-policies",
}


def _repo(case: str, tmp_path: Path) -> Path:
    repo = tmp_path / case  # outside any git repository: no approvals are read, as when recorded
    shutil.copytree(CASES[case], repo, ignore=shutil.ignore_patterns("expected", "expected.sha256"))
    shutil.copy(HERE / "report_identity" / case / "audit.jsonl", repo / "audit.jsonl")
    return repo


def _access(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "ACCESS_TODAY": "2026-11-23"}
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", *args, "--state", "snapshot", "--audit-log", "audit.jsonl"],
        cwd=repo, env=env, capture_output=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    return result


def _compared(case: str, name: str, output: bytes) -> tuple[str, str]:
    """(what was written, what was expected): the text, or for a large case its SHA-256."""
    folder = HERE / "report_identity" / case
    if (folder / "expected").is_dir():
        return output.decode("utf-8"), (folder / "expected" / name).read_bytes().decode("utf-8")
    lines = (folder / "expected.sha256").read_text(encoding="utf-8").splitlines()
    return hashlib.sha256(output).hexdigest(), {file: digest for digest, file in map(str.split, lines)}[name]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", ["report.csv", "report.html"])
def test_the_report_is_byte_identical_to_a_file_and_to_stdout(case: str, name: str, tmp_path: Path) -> None:
    repo = _repo(case, tmp_path)
    _access(repo, "report", "--out", name)
    written = (repo / name).read_bytes()
    got, expected = _compared(case, name, written)
    assert got == expected
    assert _access(repo, "report", "--format", name.rsplit(".", 1)[1]).stdout == written


@pytest.mark.parametrize("person", ["grace", "carol", "oscar"])
def test_why_says_the_same(person: str, tmp_path: Path) -> None:
    repo = _repo("quirks", tmp_path)
    printed = _access(repo, "why", person, "--format", "json").stdout
    got, expected = _compared("quirks", f"why-{person}.json", printed)
    assert got == expected
