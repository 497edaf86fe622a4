"""The sync benchmark runs as docs/performance.md says: each vendor synced over real loopback HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sync_loopback.py"


@pytest.mark.parametrize(
    ("vendor", "sizes"),
    [
        ("procore", ["--procore-users", "300", "--procore-projects", "10"]),
        ("pingone", ["--pingone-users", "300", "--pingone-groups", "5", "--pingone-memberships", "600"]),
        ("concur", ["--concur-users", "300"]),
    ],
)
def test_the_loopback_sync_benchmark_reports_requests_against_the_floor(
    vendor: str, sizes: list[str]
) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--vendor", vendor, "--latency", "0.001", *sizes],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    row = next(line for line in done.stdout.splitlines() if line.startswith(vendor))
    requests, wall, floor = row.split()[2:5]
    assert int(requests.replace(",", "")) > 0 and wall.endswith("s") and floor.endswith("s")
