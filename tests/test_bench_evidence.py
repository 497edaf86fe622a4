"""The evidence benchmark runs as docs/audit.md says: the CLI as a process, a quarter's pack, twice
the same bytes, verified, and the snapshot measured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_evidence.py"


def test_the_evidence_benchmark_makes_the_same_verified_pack_twice(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--people", "600", "--changes", "20", "--leavers", "5", "--runs", "2",
         "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert "set up 600 people, 20 pull requests, 5 leavers" in out
    for label in ("evidence wall time", "evidence CPU (user+sys)", "evidence peak RSS", "evidence verify"):
        assert label in out, out
    assert "✓ " in out and "re-runs byte-identical: yes" in out
    assert "leavers.csv 15" in out, "5 leavers at 3 vendors"
    assert "snapshot at 600 people:" in out
