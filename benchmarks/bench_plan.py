"""Benchmark: plan 100,000 people, 20 teams and 1,000,000 grants from a generated snapshot.

    python benchmarks/bench_plan.py                # the issue's scale
    python benchmarks/bench_plan.py --people 10000 # smaller

Generates access/ YAML (people in 20 teams; teams assigned to Procore projects, Concur roles and
PingOne groups so that desired state has ~1,000,000 grants) and an actual-state snapshot that
differs by ~1% (missing grants, out-of-band grants, template changes), then times each phase and
reports the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler.connectors.base import VendorState
from reconciler.loader import read_files
from reconciler.normalize import normalize
from reconciler.planner import build_plan
from reconciler.records import Account, Grant
from reconciler.snapshot import read_state, write_state

CO = "562949953421312"
TEAMS = 20
PROJECTS_PER_TEAM, ROLES_PER_TEAM, GROUPS_PER_TEAM = 5, 2, 3
TEMPLATES = ("Project Engineer", "Project Manager", "Superintendent", "Subcontractor")


def concur_roles() -> list[str]:
    from reconciler.catalogs import static_catalog

    catalog = static_catalog("concur", "role")
    return sorted(catalog.labels) if catalog else [f"ROLE_{i:02d}" for i in range(40)]


def generate(root: Path, people: int, rng: random.Random) -> None:
    access = root / "access"
    access.mkdir(parents=True)
    lines = ["people:"]
    for i in range(people):
        lines.append(
            f"  p{i:06d}: {{email: p{i:06d}@bench.example, name: Person {i}, teams: [t{i % TEAMS:02d}]}}"
        )
    lines.append("teams:")
    lines += [f"  t{t:02d}: {{description: Team {t}}}" for t in range(TEAMS)]
    (access / "people.yaml").write_text("\n".join(lines) + "\n")
    procore = ["procore:", "  authoritative: true", "  companies:", f'    "{CO}":', "      projects:"]
    concur = ["concur:", "  authoritative: true", "  roles:"]
    pingone = ["pingone:", "  authoritative: true", "  populations:", "    Employees: [" +
               ", ".join(f"t{t:02d}" for t in range(TEAMS)) + "]", "  groups:"]  # fmt: skip
    for t in range(TEAMS):
        for k in range(PROJECTS_PER_TEAM):
            procore += [
                f"        Project {t:02d}-{k}:",
                f"          t{t:02d}: {TEMPLATES[k % len(TEMPLATES)]}",
            ]
        for k in range(GROUPS_PER_TEAM):
            pingone += [f"    Group {t:02d}-{k}: [t{t:02d}]"]
    roles = concur_roles()
    holders: dict[str, list[str]] = {}
    for t in range(TEAMS):
        for k in range(ROLES_PER_TEAM):
            holders.setdefault(roles[(t * ROLES_PER_TEAM + k) % len(roles)], []).append(f"t{t:02d}")
    concur += [f"    {role}: [{', '.join(teams)}]" for role, teams in holders.items()]
    (access / "procore.yaml").write_text("\n".join(procore) + "\n")
    (access / "concur.yaml").write_text("\n".join(concur) + "\n")
    (access / "pingone.yaml").write_text("\n".join(pingone) + "\n")


def perturb(root: Path, desired_grants: dict[str, list[list[str]]], people: int, rng: random.Random) -> None:
    """Write an actual snapshot: the desired grants, ~1% missing, ~0.5% extra, ~0.5% template changes."""
    snapshot = root / "snapshot"
    snapshot.mkdir()
    for vendor, rows in desired_grants.items():
        actual: list[list[str]] = []
        for row in rows:
            roll = rng.random()
            if roll < 0.01:
                continue  # missing: a grant to plan
            if roll < 0.015 and vendor == "procore":
                row = [row[0], row[1], row[2], "Read Only", row[4]]  # template change: an update
            actual.append(row)
            if roll > 0.995:
                actual.append([row[0], row[1], row[2], row[3], f"stranger{len(actual)}@bench.example"])
        tenant = CO if vendor == "procore" else ""
        attributes = (("population", "Employees"),) if vendor == "pingone" else ()
        accounts = tuple(
            Account(vendor, tenant, f"p{i:06d}@bench.example", attributes=attributes) for i in range(people)
        )
        # Written as `access sync --out` writes it (the format users' snapshots have).
        write_state(snapshot, VendorState(vendor, accounts, frozenset(Grant(vendor, *row) for row in actual)))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    today = dt.date(2026, 11, 23)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        generate(root, args.people, rng)
        t1 = time.perf_counter()
        files = read_files(root)
        t2 = time.perf_counter()
        desired = normalize(files, today=today)
        t3 = time.perf_counter()
        by_vendor: dict[str, list[list[str]]] = {"procore": [], "concur": [], "pingone": []}
        for g in desired.grants:
            by_vendor[g.vendor].append(list(g[1:]))
        for rows in by_vendor.values():
            rows.sort()
        perturb(root, by_vendor, args.people, rng)
        del by_vendor
        t4 = time.perf_counter()
        actual = {v: s for v in ("procore", "concur", "pingone") if (s := read_state(root / "snapshot", v))}
        t5 = time.perf_counter()
        rss_before_plan = peak_rss_mib()
        plan = build_plan(desired, actual, today=today)
        t6 = time.perf_counter()
    grants_actual = sum(len(s.grants) for s in actual.values())
    print(f"people: {len(desired.people):,}  teams: {TEAMS}  desired grants: {len(desired.grants):,}"
          f"  actual grants: {grants_actual:,}")  # fmt: skip
    print(f"generate YAML + snapshot setup: {t1 - t0:6.2f} s (not part of planning)")
    print(f"load YAML (access/):            {t2 - t1:6.2f} s")
    print(f"normalize:                      {t3 - t2:6.2f} s")
    print(f"read snapshot:                  {t5 - t4:6.2f} s")
    print(f"build_plan:                     {t6 - t5:6.2f} s   <- the plan computation itself")
    print(f"total (load + normalize + read snapshot + plan): {t2 - t1 + t3 - t2 + t5 - t4 + t6 - t5:.2f} s")
    print(f"peak RSS before build_plan: {rss_before_plan:,.0f} MiB; after: {peak_rss_mib():,.0f} MiB")
    print(plan.summary_line())


if __name__ == "__main__":
    main()
