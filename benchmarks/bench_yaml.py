"""Benchmark: reading access/*.yaml in-process, the plain-subset reader against libyaml's events.

    python benchmarks/bench_yaml.py                     # bench_cli's repository of 100,000 people
    python benchmarks/bench_yaml.py --people 20000
    python benchmarks/bench_yaml.py --repo DIR          # the access/ files of an existing repository

For each file: min and median wall time of `load_yaml(bytes)` (as `access validate` calls it,
with the garbage collector paused as the loader pauses it) and of `load_yaml(bytes, subset=False)`,
the builder alone, over `--runs` runs; and whether the two results are equal (values and the line of
every mapping, key and item). The CLI as a process is `bench_cli.py`'s job.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cli import load_average, write_repo

from reconciler.yaml_fast import DECLINED, read_subset
from reconciler.yaml_source import LineDict, LineList, YamlDocument, load_yaml


def timed(read: Callable[[], YamlDocument], runs: int) -> tuple[list[float], YamlDocument]:
    times: list[float] = []
    documents: list[YamlDocument] = []  # freed after the runs, not inside the next one
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            documents.append(read())
            times.append(time.perf_counter() - started)
        finally:
            gc.enable()
    return times, documents[-1]


def lines(value: Any) -> Any:
    """Every line the value remembers, in order (for the equality check)."""
    if isinstance(value, LineDict):
        return (value.line, list(value.key_lines.items()), [lines(item) for item in value.values()])
    if isinstance(value, LineList):
        return (value.line, value.item_lines, [lines(item) for item in value])
    return type(value).__name__


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000, help="people in the generated repository")
    parser.add_argument("--repo", type=Path, help="read this repository's access/ instead of generating one")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-yaml-") as tmp:
        repo = args.repo
        if repo is None:
            repo = Path(tmp)
            write_repo(repo, range(args.people))
        print(f"load average {load_average()}; min / median of {args.runs} runs")
        print(f"{'file':<16} {'size':>9} {'subset':>15} {'libyaml':>15} {'speed-up':>8}  same")
        for path in sorted((repo / "access").glob("*.yaml")):
            raw = path.read_bytes()
            name = f"access/{path.name}"
            fast_times, fast = timed(lambda raw=raw, name=name: load_yaml(raw, name), args.runs)
            slow_times, slow = timed(lambda raw=raw, name=name: load_yaml(raw, name, subset=False), args.runs)
            taken = read_subset(raw.decode("utf-8-sig")) is not DECLINED
            same = (
                fast.data == slow.data and lines(fast.data) == lines(slow.data) and fast.errors == slow.errors
            )
            print(
                f"{path.name:<16} {len(raw):>9,} "
                f"{min(fast_times):>6.3f} / {statistics.median(fast_times):.3f} "
                f"{min(slow_times):>6.3f} / {statistics.median(slow_times):.3f} "
                f"{min(slow_times) / min(fast_times):>7.1f}x  {same}{'' if taken else ' (declined)'}"
            )


if __name__ == "__main__":
    main()
