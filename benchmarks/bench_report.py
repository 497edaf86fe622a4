"""Benchmark: `access report` at 100,000 people, run as users run it (the CLI, as a process).

    python benchmarks/bench_report.py                  # 100,000 people, ~3 grants each
    python benchmarks/bench_report.py --dense          # bench_plan's shape: ~10 grants each (1M)
    python benchmarks/bench_report.py --people 10000 --repeat 1
    python benchmarks/bench_report.py --workdir /tmp/report-bench   # keep the repository

Generates access/ YAML and an actual-state snapshot (~1% drift), commits the YAML in a real git
repository (so every row is blamed to its commit), writes an audit log with a line per grant, and
times `access report --state snapshot --out report.csv` and `--out report.html` (GitHub is not
configured: no network; the rows say so), and `access plan` on the same repository for comparison.
Each runs --repeat times (3 by default): the minimum and median wall time, and the CPU time of the
process and any it started (the report reads a large audit log in a second process).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_plan import generate as generate_dense
from bench_plan import perturb

from reconciler.loader import read_files
from reconciler.normalize import normalize

CO = "562949953421312"
TEAMS = 200


def generate_light(root: Path, people: int) -> None:
    """Each person in one of 200 teams; each team on one Procore project, one Concur role and one
    PingOne group: about three grants per person."""
    access = root / "access"
    access.mkdir(parents=True)
    lines = ["people:"]
    lines += [
        f"  p{i:06d}: {{email: p{i:06d}@bench.example, name: Person {i}, teams: [t{i % TEAMS:03d}]}}"
        for i in range(people)
    ]
    lines.append("teams:")
    lines += [f"  t{t:03d}: {{description: Team {t}}}" for t in range(TEAMS)]
    (access / "people.yaml").write_text("\n".join(lines) + "\n")
    procore = ["procore:", "  authoritative: true", "  companies:", f'    "{CO}":', "      projects:"]
    procore += [f"        Project {t:03d}:\n          t{t:03d}: Project Engineer" for t in range(TEAMS)]
    roles = ["Expense User", "Expense Approver", "Invoice Approver", "Request User"]
    concur = ["concur:", "  authoritative: true", "  roles:"]
    concur += [
        f"    {role}: [{', '.join(f't{t:03d}' for t in range(TEAMS) if t % 4 == k)}]"
        for k, role in enumerate(roles)
    ]
    pingone = ["pingone:", "  authoritative: true", "  populations:",
               "    Employees: [" + ", ".join(f"t{t:03d}" for t in range(TEAMS)) + "]", "  groups:"]  # fmt: skip
    pingone += [f"    Group {t:03d}: [t{t:03d}]" for t in range(TEAMS)]
    (access / "procore.yaml").write_text("\n".join(procore) + "\n")
    (access / "concur.yaml").write_text("\n".join(concur) + "\n")
    (access / "pingone.yaml").write_text("\n".join(pingone) + "\n")


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def timed(root: Path, *args: str) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, with the processes it started) of one `access` run."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "PROCORE_", "CONCUR_", "PINGONE_"))
    }
    env["ACCESS_TODAY"] = "2026-11-23"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "--repo", str(root), "--quiet", *args],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"access {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu


def figures(root: Path, repeat: int, *args: str) -> str:
    runs = [timed(root, *args) for _ in range(repeat)]
    walls = sorted(w for w, _ in runs)
    cpu = min(c for _, c in runs)
    return f"wall min {walls[0]:6.2f} s, median {statistics.median(walls):6.2f} s; cpu min {cpu:6.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--dense", action="store_true", help="bench_plan's shape: ~10 grants per person")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (default 3)")
    parser.add_argument("--workdir", type=Path, help="generate here and keep it (must not exist)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() if args.workdir is None else nullcontext(str(args.workdir)) as tmp:
        root = Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        if args.dense:
            generate_dense(root, args.people, rng)
        else:
            generate_light(root, args.people)
        import datetime as dt

        desired = normalize(read_files(root), today=dt.date(2026, 11, 23))
        by_vendor: dict[str, list[list[str]]] = {"procore": [], "concur": [], "pingone": []}
        for g in desired.grants:
            by_vendor[g.vendor].append(list(g[1:]))
        perturb(root, by_vendor, args.people, rng)
        state = root / ".access"
        state.mkdir()
        with (state / "audit.jsonl").open("w") as audit:
            for g in desired.grants:
                audit.write(json.dumps({"time": "2026-11-20T06:00:00+00:00", "action": "grant", "outcome": "applied",
                                        "vendor": g.vendor, "tenant": g.tenant, "resource_type": g.resource_type,
                                        "resource": g.resource, "entitlement": g.entitlement,
                                        "principal": g.principal}) + "\n")  # fmt: skip
        grants = len(desired.grants)
        del desired, by_vendor
        (root / ".gitignore").write_text("snapshot/\n.access/\n*.csv\n*.html\n")
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "access", ".gitignore")
        git(root, "-c", "user.name=Bench", "-c", "user.email=bench@example.com", "commit", "-qm", "access")
        print(
            f"people: {args.people:,}  desired grants: {grants:,}  ({'dense' if args.dense else 'light'} shape)"
        )
        snapshot = str(root / "snapshot")
        load = os.getloadavg()[0]
        csv_f = figures(root, args.repeat, "report", "--state", snapshot, "--out", str(root / "report.csv"))
        csv_mb = (root / "report.csv").stat().st_size / 1e6
        print(f"access report --state snapshot --out report.csv:  {csv_f}  ({csv_mb:,.0f} MB)")
        html_f = figures(root, args.repeat, "report", "--state", snapshot, "--out", str(root / "report.html"))
        html_mb = (root / "report.html").stat().st_size / 1e6
        print(f"access report --state snapshot --out report.html: {html_f}  ({html_mb:,.0f} MB)")
        plan_f = figures(root, args.repeat, "plan", "--state", snapshot, "--format", "json")
        print(f"for comparison, access plan --state snapshot:     {plan_f}")
        print(f"load average (1 min) at the start: {load:.2f}, at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
