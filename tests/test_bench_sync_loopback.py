"""The sync benchmark runs as docs/performance.md says: each row of issue #26 over real loopback HTTP,
with its floor, its target and the client's CPU per request."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sync_loopback.py"


@pytest.mark.parametrize(
    ("row", "sizes", "floor"),
    [
        ("procore", ["--procore-users", "300", "--procore-projects", "10"], "requests x 1 ms / 8 at once"),
        (
            "pingone",
            ["--pingone-users", "300", "--pingone-groups", "5", "--pingone-memberships", "600"],
            "requests x 1 ms / 64 at once",
        ),
        ("concur", ["--concur-users", "300"], "3 round trips x 1 ms, the longer of"),
        (
            "procore-apply",
            ["--procore-users", "300", "--procore-projects", "10", "--apply-grants", "20"],
            "/ 4 at once (apply's concurrency; 20 grants, 20 applied)",
        ),
    ],
)
def test_the_loopback_benchmark_reports_each_row_against_its_floor(
    row: str, sizes: list[str], floor: str
) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--vendor", row, "--latency", "0.001", *sizes],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith(row + " "))
    requests, wall, floor_s, ratio, target, cpu, per_request, unit = line.split()[2:10]
    assert int(requests.replace(",", "")) > 0 and wall.endswith("s") and floor_s.endswith("s")
    assert ratio.endswith("x") and target.endswith("x") and cpu.endswith("s") and unit == "ms"
    assert float(per_request) > 0
    assert f"  {row} at " in done.stdout and floor in done.stdout
