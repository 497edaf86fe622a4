"""Benchmark: the CLI as a user runs it, one process per command, wall time and peak RSS.

    python benchmarks/bench_cli.py                      # 100,000 people / 1,000,000 grants, and onboarding
    python benchmarks/bench_cli.py --people 20000 --onboard 2000 --runs 1   # quicker
    python benchmarks/bench_cli.py --workdir bench-out  # keep (and reuse) the generated repositories

Generates two repositories (access/ YAML plus an actual-state snapshot written with `access sync
--out`'s format):
- large: N people in 20 teams, each team on 5 Procore projects, 2 Concur roles and 3 PingOne groups
  (10 grants a person: 1,000,000 grants at 100,000 people). The snapshot differs by ~1%: missing
  grants, out-of-band grants held by strangers, template changes, renamed logins, deactivated and
  unmanaged accounts, expired and expiring assignments.
- onboard: M people nobody has onboarded yet (every account and grant is to create).
The large snapshot is also written in the format 1 layout (accounts as objects, a grant per row:
what `access sync --out` wrote before format 2) to `snapshot-v1/`, which `plan --state` still reads.
Then runs `access validate` and `access plan --state DIR --format json --out plan.json` (the large
repository against each snapshot, whose plans must be the same bytes, and the onboarding repository)
as subprocesses, `--runs` times each, and prints the min and median wall time, CPU time (user +
system, its children's included) and peak RSS (the child's own `ru_maxrss`, from `os.wait4`; the
repositories are generated in a process of their own, so that figure is the command's). Not part
of the test suite; `tests/test_plan_identity.py` plans small generated repositories and compares
the output byte for byte with files written by an earlier version.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler.connectors.base import VendorState
from reconciler.jsonfile import write_json
from reconciler.records import Account, Grant
from reconciler.snapshot import write_state

TODAY = "2026-11-23"
CO = "562949953421312"
TEAMS = 20
PROJECTS_PER_TEAM, ROLES_PER_TEAM, GROUPS_PER_TEAM = 5, 2, 3
TEMPLATES = ("Project Engineer", "Project Manager", "Superintendent", "Subcontractor")
DOMAIN = "bench.example"
# Every so many people: a PingOne login override, a direct Procore grant with a reason and an expiry
# (some already expired), a deactivated account, a renamed login at the vendor.
LOGIN_EVERY, DIRECT_EVERY, INACTIVE_EVERY, GITHUB_EVERY = 97, 101, 211, 250


def concur_roles() -> list[str]:
    from reconciler.catalogs import static_catalog

    catalog = static_catalog("concur", "role")
    return sorted(catalog.labels) if catalog else [f"ROLE_{i:02d}" for i in range(40)]


def email(i: int) -> str:
    return f"p{i:06d}@{DOMAIN}"


def expiry(i: int) -> str:
    """Direct grants: a third expired, a third expiring within 30 days of TODAY, a third later."""
    return ("2026-06-30", "2026-12-10", "2027-09-30")[(i // DIRECT_EVERY) % 3]


def team_roles() -> dict[int, list[str]]:
    roles = concur_roles()
    return {
        t: [roles[(t * ROLES_PER_TEAM + k) % len(roles)] for k in range(ROLES_PER_TEAM)] for t in range(TEAMS)
    }


def write_repo(root: Path, people: range) -> None:
    """access/ YAML for `people` (numbered), in TEAMS teams."""
    access = root / "access"
    access.mkdir(parents=True)
    lines = ["people:"]
    for i in people:
        extra = f", pingone: u{i:06d}" if i % LOGIN_EVERY == 0 else ""
        extra += f", github: gh{i}" if i % GITHUB_EVERY == 0 else ""
        lines.append(f"  p{i:06d}: {{email: {email(i)}, name: Person {i}, teams: [t{i % TEAMS:02d}]{extra}}}")
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
    direct = [i for i in people if i % DIRECT_EVERY == 0]
    if direct:
        procore.append("        Special Works:")
        procore += [
            f"          p{i:06d}: {{template: Superintendent, expires: {expiry(i)}, reason: PROJ-{i}}}"
            for i in direct
        ]
    holders: dict[str, list[str]] = {}
    for t, roles in team_roles().items():
        for role in roles:
            holders.setdefault(role, []).append(f"t{t:02d}")
    concur += [f"    {role}: [{', '.join(teams)}]" for role, teams in holders.items()]
    (access / "procore.yaml").write_text("\n".join(procore) + "\n")
    (access / "concur.yaml").write_text("\n".join(concur) + "\n")
    (access / "pingone.yaml").write_text("\n".join(pingone) + "\n")


def write_policies(root: Path) -> None:
    """Policies that exercise every rule family (`--policies`; the plan-identity test uses them)."""
    roles = team_roles()
    policies = root / "policies"
    policies.mkdir(parents=True, exist_ok=True)
    (policies / "controls.yaml").write_text(
        f"""separation_of_duties:
  team-zero-duties:
    description: nobody holds both of team zero's roles
    severity: warning
    conflicting:
      - {{vendor: concur, resource_type: role, resource: {roles[0][0]}}}
      - {{vendor: concur, resource_type: role, resource: {roles[0][1]}}}
privileged:
  special-works:
    description: Special Works is granted for a ticket and at most 90 days
    entitlements:
      - {{vendor: procore, resource_type: project, resource: Special Works}}
    max_days: 90
    severity: warning
    reason_pattern: '^PROJ-\\d+$'
expiry_warnings:
  within_days: 30
"""
    )
    (policies / "approvers.yaml").write_text(
        """default_approval:
  minimum: 1
approvers:
  concur-roles:
    match: {vendor: concur, resource_type: role}
    approvers: [t00]
    minimum: 2
  projects:
    match: {vendor: procore, resource_type: project}
    owners:
      Special Works: [p000000, "@site-lead"]
      Project 01-1: [t01]
    approvers: [t10]
"""
    )
    (policies / "safety.yaml").write_text(
        f"""protected:
  principals: [{email(3)}]
  resources:
    - {{vendor: pingone, resource_type: group, resource: Group 19-2}}
unmanaged_accounts:
  procore: report
  concur: ignore
  pingone: {{mode: deactivate, deprovision: disable}}
limits:
  max_revocations: 50
"""
    )


def person_grants(i: int, roles: dict[int, list[str]]) -> dict[str, list[tuple[str, str, str, str]]]:
    """What the YAML grants person i, per vendor: (tenant, resource_type, resource, entitlement)."""
    t = i % TEAMS
    procore = [
        (CO, "project", f"Project {t:02d}-{k}", TEMPLATES[k % len(TEMPLATES)])
        for k in range(PROJECTS_PER_TEAM)
    ]
    if i % DIRECT_EVERY == 0:
        procore.append((CO, "project", "Special Works", "Superintendent"))  # expired ones too: to revoke
    return {
        "procore": procore,
        "concur": [("", "role", role, "member") for role in roles[t]],
        "pingone": [("", "group", f"Group {t:02d}-{k}", "member") for k in range(GROUPS_PER_TEAM)],
    }


def write_snapshot(directory: Path, people: range, onboarded: bool) -> None:
    """Actual state: what the YAML says for `people`, perturbed by ~1% (or nothing, if not onboarded)."""
    roles = team_roles()
    accounts: dict[str, list[Account]] = {"procore": [], "concur": [], "pingone": []}
    grants: dict[str, list[Grant]] = {"procore": [], "concur": [], "pingone": []}
    tenants = {"procore": CO, "concur": "", "pingone": ""}
    # A few accounts nobody listed, whatever the size: unmanaged-account findings.
    for n in range(3):
        for vendor, tenant in tenants.items():
            accounts[vendor].append(
                Account(vendor, tenant, f"contractor{n}@{DOMAIN}", email=f"contractor{n}@{DOMAIN}")
            )
    for i in people if onboarded else ():
        principal = email(i)
        for vendor, rows in person_grants(i, roles).items():
            tenant = tenants[vendor]
            attributes: tuple[tuple[str, str], ...] = ()
            holder = principal
            if vendor == "pingone":
                attributes = (("population", "Employees"),)
                if i % LOGIN_EVERY == 0:  # renamed at the vendor: matched by the login override
                    holder = f"u{i:06d}.old@{DOMAIN}"
                    attributes = (("login", f"u{i:06d}"), ("population", "Employees"))
            accounts[vendor].append(
                Account(vendor, tenant, holder, active=i % INACTIVE_EVERY != 5, email=holder,
                        display_name=f"Person {i}", attributes=attributes, native_id=f"{vendor[:2]}{i}")
            )  # fmt: skip
            for n, (tenant, rtype, resource, entitlement) in enumerate(rows):
                roll = (i * 7919 + n * 104729 + len(vendor)) % 1000
                if roll < 10:
                    continue  # missing: a grant to plan
                if roll < 15 and vendor == "procore" and resource != "Special Works":
                    entitlement = "Read Only"  # template changed at the vendor: an update
                grants[vendor].append(Grant(vendor, tenant, rtype, resource, entitlement, holder))
                if roll >= 995:  # an out-of-band grant to someone without an account: a revoke
                    grants[vendor].append(
                        Grant(vendor, tenant, rtype, resource, entitlement, f"x{i}-{n}@{DOMAIN}")
                    )
    for vendor in accounts:
        state = VendorState(vendor, tuple(accounts[vendor]), frozenset(grants[vendor]))
        write_state(directory, state)
        if onboarded:
            write_state_v1(directory.with_name(directory.name + "-v1"), state)


def write_state_v1(directory: Path, state: VendorState) -> Path:
    """`state` as `access sync --out` wrote it before format 2: accounts as objects, a grant a row."""
    return write_json(
        directory / f"{state.vendor}.json",
        {
            "snapshot_version": 1,
            "vendor": state.vendor,
            "fingerprint": state.fingerprint,
            "accounts": [
                {
                    "tenant": a.tenant,
                    "principal": a.principal,
                    "active": a.active,
                    "email": a.email,
                    "display_name": a.display_name,
                    "attributes": dict(a.attributes),
                    "native_id": a.native_id,
                }
                for a in sorted(state.accounts, key=lambda a: (a.tenant, a.principal, a.native_id))
            ],
            "grants": [list(g[1:]) for g in sorted(state.grants)],
            "indirect": [list(g[1:]) for g in sorted(state.indirect)],
            "catalog": {k: sorted(v) for k, v in state.catalog.items()},
            "known_resources": {k: sorted(v) for k, v in state.known_resources.items()},
        },
    )


@dataclass(frozen=True)
class Scenario:
    name: str
    root: Path
    people: int
    grants: int


def generate(workdir: Path, people: int, onboard: int, policies: bool) -> list[Scenario]:
    scenarios = []
    for name, count, onboarded in (("large", people, True), ("onboard", onboard, False)):
        if count <= 0:
            continue
        root = workdir / f"{name}-{count}{'-policies' if policies else ''}"
        marker = root / "generated-2"  # (2: with snapshot-v1/)
        if not marker.exists():
            shutil.rmtree(root, ignore_errors=True)
            started = time.perf_counter()
            write_repo(root, range(count))
            write_snapshot(root / "snapshot", range(count), onboarded)
            if policies:
                write_policies(root)
            marker.write_text("ok\n")
            print(f"generated {root} in {time.perf_counter() - started:.1f} s", flush=True)
        scenarios.append(Scenario(name, root, count, count * 10 + count // DIRECT_EVERY))
    return scenarios


def access_command() -> list[str]:
    script = Path(sys.executable).parent / "access"
    return [str(script)] if script.exists() else [sys.executable, "-m", "reconciler"]


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu_seconds: float  # user + system: what the command costs, whatever else the machine is doing
    rss_mib: float
    code: int


def run_once(argv: Sequence[str], env: dict[str, str]) -> Run:
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 2):
            err.seek(0)
            sys.exit(
                f"{' '.join(argv)} exited {proc.returncode}:\n{err.read().decode(errors='replace')[-2000:]}"
            )
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode)


def measure(label: str, argv: Sequence[str], env: dict[str, str], runs: int) -> dict[str, float]:
    results = [run_once(argv, env) for _ in range(runs)]
    row: dict[str, float] = {}
    for name, values in (
        ("time", [r.seconds for r in results]),
        ("cpu", [r.cpu_seconds for r in results]),
        ("rss", [r.rss_mib for r in results]),
    ):
        row[f"{name}_min"], row[f"{name}_median"] = min(values), statistics.median(values)
    print(
        f"{label:<36} {row['time_min']:7.2f} s {row['time_median']:7.2f} s"
        f" {row['cpu_min']:7.2f} s {row['cpu_median']:7.2f} s"
        f" {row['rss_min']:7,.0f} MiB {row['rss_median']:7,.0f} MiB",
        flush=True,
    )
    return row


@contextmanager
def workspace(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        yield Path(tmp)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000, help="people in the large repository")
    parser.add_argument("--onboard", type=int, default=10_000, help="people to onboard (0: skip)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--workdir", type=Path, help="keep the generated repositories here (reused if present)"
    )
    parser.add_argument("--policies", action="store_true", help="with policies/ exercising every rule family")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    env = {**os.environ, "ACCESS_TODAY": TODAY}
    for name in list(env):
        if name.startswith(("PROCORE_", "CONCUR_", "PINGONE_", "GITHUB_")):
            del env[name]
    access = access_command()
    figures: dict[str, dict[str, float]] = {}
    with workspace(args.workdir) as workdir:
        # Generated in a process of its own: a child's peak RSS counts the memory of the process it
        # was started from (the kernel keeps the larger), so this one stays small.
        maker = multiprocessing.get_context("spawn").Process(
            target=generate, args=(workdir, args.people, args.onboard, args.policies)
        )
        maker.start()
        maker.join()
        if maker.exitcode:
            sys.exit(f"generating the repositories failed (exit {maker.exitcode})")
        scenarios = generate(workdir, args.people, args.onboard, args.policies)
        print(
            f"\n{os.cpu_count()} CPUs, load average {load_average()}; {args.runs} run(s) each; {' '.join(access)}"
        )
        print(f"{'':<36} {'wall time':^19} {'CPU (user+sys)':^19} {'peak RSS':^23}")
        print(f"{'command':<36} {'min':>9} {'median':>9} {'min':>9} {'median':>9} {'min':>11} {'median':>11}")
        for s in scenarios:
            out = s.root / "plan.json"
            plans = (
                {"snapshot": out}
                if s.name != "large"
                else {"snapshot": out, "snapshot-v1": s.root / "plan-v1.json"}
            )
            if s.name == "large":
                label = f"validate ({s.people:,} people)"
                figures[label] = measure(label, [*access, "--repo", str(s.root), "validate"], env, args.runs)
            for snapshot, written in plans.items():
                state = s.root / snapshot
                if snapshot == "snapshot-v1":  # plan converts it once: each measurement gets a fresh copy
                    state = s.root / "snapshot-v1-copy"
                    shutil.rmtree(state, ignore_errors=True)
                    shutil.copytree(s.root / snapshot, state)
                plan = [*access, "--repo", str(s.root), "plan", "--state", str(state),
                        "--format", "json", "--out", str(written)]  # fmt: skip
                if s.name != "large":
                    label = f"plan, onboarding {s.people:,} people"
                elif snapshot == "snapshot":
                    label = f"plan ({s.people:,} people, ~{s.grants:,} grants)"
                else:
                    label = "plan, format 1 snapshot (converts it)"
                    figures[label] = measure(label, plan, env, 1)
                    label = "plan, that snapshot once converted"
                figures[label] = measure(label, plan, env, args.runs)
                if written.read_bytes() != out.read_bytes():
                    sys.exit(f"{written} differs from {out}: the snapshot's format changed the plan")
            summary = json.loads(out.read_text())["summary"]
            print(f"{'':<36} {', '.join(f'{v:,} {k}' for k, v in summary.items() if v)}")
    print(f"load average after: {load_average()}  ({dt.datetime.now():%Y-%m-%d %H:%M})")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
