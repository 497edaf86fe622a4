"""Benchmark: `access report` at 100,000 people, run as users run it (the CLI, as a process).

    python benchmarks/bench_report.py                        # 300,000 and 1,000,000 grants, 3 runs each
    python benchmarks/bench_report.py --shape light --repeat 1
    python benchmarks/bench_report.py --workdir /tmp/report-bench   # keep (and reuse) the repositories
    python benchmarks/bench_report.py --profile py-spy       # and one CSV report of each under py-spy

Two repositories of `--people` people, each with access/ YAML, an actual-state snapshot (~1% drift,
written as `sync --out` writes it), the YAML committed in a real git repository and an audit log
with a line per grant (so every row has its applied time):
- light: each person in one of 200 teams, each team on one Procore project, one Concur role and one
  PingOne group: ~3 grants a person (300,000 grants, a 70 MB audit log);
- dense: bench_plan's shape, 20 teams on 5 projects, 2 roles and 3 groups: ~10 grants a person
  (1,000,000 grants, a 244 MB audit log).
Each times `access report --state snapshot --out report.csv` once without the audit log's index
(`.access/audit.jsonl.index`: that report reads the whole log and writes the index), then
`--out report.csv`, `--out report.html` (which find the index) and for comparison `access plan
--state snapshot --format json`, `--repeat` times, as processes: wall time
(min and median), CPU time (user + system, with the process the report starts to read the audit
log) and peak RSS (the largest of the process and those it started, `os.wait4`). GitHub is not
configured: no network; the rows say approvals were not read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cli import access_command, load_average, run_once, workspace
from bench_plan import generate as generate_dense
from bench_plan import perturb

from reconciler.loader import read_files
from reconciler.normalize import normalize

CO = "562949953421312"
TEAMS = 200
TODAY = "2026-11-23"
# The targets (min of 3, as processes, on the 2-core machine): seconds and MiB.
TARGETS = {"light": (2.0, None), "dense": (4.0, 500)}


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


def generate(root: Path, shape: str, people: int, seed: int) -> int:
    """The repository, its snapshot and audit log (reused when a previous run finished them);
    returns how many grants the YAML asks for."""
    marker = root / "generated"
    if marker.exists():
        return int(marker.read_text())
    started = time.perf_counter()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    rng = random.Random(seed)
    if shape == "dense":
        generate_dense(root, people, rng)
    else:
        generate_light(root, people)
    desired = normalize(read_files(root), today=dt.date.fromisoformat(TODAY))
    by_vendor: dict[str, list[list[str]]] = {"procore": [], "concur": [], "pingone": []}
    for g in desired.grants:
        by_vendor[g.vendor].append(list(g[1:]))
    perturb(root, by_vendor, people, rng)
    state = root / ".access"
    state.mkdir()
    with (state / "audit.jsonl").open("w") as audit:
        for g in desired.grants:
            audit.write(json.dumps({"time": "2026-11-20T06:00:00+00:00", "action": "grant", "outcome": "applied",
                                    "vendor": g.vendor, "tenant": g.tenant, "resource_type": g.resource_type,
                                    "resource": g.resource, "entitlement": g.entitlement,
                                    "principal": g.principal}) + "\n")  # fmt: skip
    grants = len(desired.grants)
    (root / ".gitignore").write_text("snapshot/\n.access/\n*.csv\n*.html\n*.json\ngenerated\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "access", ".gitignore")
    git(root, "-c", "user.name=Bench", "-c", "user.email=bench@example.com", "commit", "-qm", "access")
    marker.write_text(f"{grants}\n")
    print(f"generated {root} in {time.perf_counter() - started:.1f} s", flush=True)
    return grants


def measure(
    label: str, argv: list[str], env: dict[str, str], repeat: int, out: Path | None
) -> dict[str, float]:
    runs = [run_once(argv, env) for _ in range(repeat)]
    walls, rss = [r.seconds for r in runs], [r.rss_mib for r in runs]
    row = {
        "wall_min": min(walls), "wall_median": statistics.median(walls), "cpu_min": min(r.cpu_seconds for r in runs),
        "rss_min": min(rss), "rss_median": statistics.median(rss),
    }  # fmt: skip
    size = f"{out.stat().st_size / 1e6:6,.0f} MB" if out is not None else ""
    print(
        f"{label:<34} {row['wall_min']:7.2f} s {row['wall_median']:7.2f} s {row['cpu_min']:7.2f} s"
        f" {row['rss_min']:7,.0f} MiB {row['rss_median']:7,.0f} MiB  {size}",
        flush=True,
    )
    return row


def profile(root: Path, env: dict[str, str], output: Path) -> None:
    """One more CSV report under py-spy (CPU only; each process's own stacks), its raw samples in
    `output`; the report's own functions by inclusive time."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        sys.exit(f"{spy} is not installed: `{sys.executable} -m pip install py-spy`")
    argv = [*access_command(), "--repo", str(root), "report", "--state", str(root / "snapshot"),
            "--out", str(root / "profiled.csv")]  # fmt: skip
    subprocess.run([str(spy), "record", "--format", "raw", "--rate", "200", "--subprocesses", "-o", str(output),
                    "--", *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # fmt: skip
    total: dict[str, int] = {}
    samples = 0
    for line in output.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples += int(count)
        for frame in {f.rsplit(":", 1)[0] + ")" for f in stack.split(";") if "(reconciler/" in f}:
            total[frame] = total.get(frame, 0) + int(count)
    print(f"py-spy: {samples} samples at 200 Hz in {output}; the report's functions by inclusive time:")
    for frame, n in sorted(total.items(), key=lambda item: -item[1])[:20]:
        print(f"  {n / 200:6.2f} s  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--shape", choices=("light", "dense", "both"), default="both",
                        help="light: ~3 grants a person; dense: ~10 (default: both)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (default 3)")
    parser.add_argument("--workdir", type=Path, help="generate here and keep (and reuse) the repositories")
    parser.add_argument(
        "--profile", choices=("py-spy",), help="and one CSV report of each shape under py-spy"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "PROCORE_", "CONCUR_", "PINGONE_"))
    }
    env["ACCESS_TODAY"] = TODAY
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")) if p
    )  # this checkout's `access`, whatever the virtualenv has installed
    access = access_command()
    figures: dict[str, dict[str, float]] = {}
    with workspace(args.workdir) as workdir:
        for shape in ("light", "dense") if args.shape == "both" else (args.shape,):
            root = workdir / f"report-{shape}-{args.people}"
            grants = generate(root, shape, args.people, args.seed)
            print(
                f"\n{args.people:,} people, {grants:,} desired grants ({shape}); {os.cpu_count()} CPUs, "
                f"load average {load_average()}; {args.repeat} run(s) each; {' '.join(access)}"
            )
            print(f"{'':<34} {'wall time':^19} {'CPU':^9} {'peak RSS':^23}")
            print(f"{'command':<34} {'min':>9} {'median':>9} {'min':>9} {'min':>11} {'median':>11}  output")
            base = [*access, "--repo", str(root)]
            state = ["--state", str(root / "snapshot")]
            # The first report reads the whole audit log and writes its index; the others read
            # only what the index does not cover (nothing here) and hash what it does.
            (root / ".access" / "audit.jsonl.index").unlink(missing_ok=True)
            label = "report --out report.csv, no index"
            figures[f"{shape}: {label}"] = measure(label, [*base, "report", *state, "--out", str(root / "report.csv")],
                                                   env, 1, root / "report.csv")  # fmt: skip
            for name in ("report.csv", "report.html"):
                out = root / name
                label = f"report --out {name}"
                figures[f"{shape}: {label}"] = measure(label, [*base, "report", *state, "--out", str(out)],
                                                       env, args.repeat, out)  # fmt: skip
            label = "plan --format json (comparison)"
            figures[f"{shape}: {label}"] = measure(label, [*base, "plan", *state, "--format", "json"],
                                                   env, args.repeat, None)  # fmt: skip
            seconds, mib = TARGETS[shape]
            worst = max(
                figures[f"{shape}: report --out {n}"]["wall_min"] for n in ("report.csv", "report.html")
            )
            most = max(
                figures[f"{shape}: report --out {n}"]["rss_min"] for n in ("report.csv", "report.html")
            )
            print(
                f"target at 100,000 people: report ≤ {seconds:g} s" + (f" and ≤ {mib} MiB" if mib else "")
                + f" (min of the runs): {worst:.2f} s" + (f", {most:,.0f} MiB" if mib else "")
            )  # fmt: skip
            if args.profile:
                profile(root, env, root / "report.py-spy.txt")
    print(f"load average after: {load_average()}  ({dt.datetime.now():%Y-%m-%d %H:%M})")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
