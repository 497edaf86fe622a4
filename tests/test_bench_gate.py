"""The gate benchmark runs as docs/performance.md says: the CLI as a process, the pull requests approved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gate.py"


@pytest.mark.parametrize("size", [[], ["--people", "600"]], ids=["example", "generated"])
def test_the_gate_benchmark_compares_the_dry_run_with_a_plan(size: list[str], tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), *size, "--pulls", "4", "--runs", "1", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert "4 merged pull requests" in out
    assert "every pull request approved" in out
    for label in (
        "plan ",
        "apply --dry-run, 4 pull requests",
        "apply --dry-run, point at HEAD",
        "dry run - plan",
        "apply's own (point at HEAD - plan)",
        "gate: the 4 pull requests judged",
    ):
        assert any(line.startswith(label) for line in out.splitlines()), label
    assert "target (medians, over apply with nothing to judge): added time" in out
    requests = int(out.split("GitHub requests per dry run: ")[1].split()[0].rstrip(";,"))
    assert requests >= 4 * 4  # per pull request: its reviews, activity, commits, an approver's permission
