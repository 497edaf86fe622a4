"""Benchmark: `access evidence` for a quarter, the CLI as a process (wall time, CPU, peak RSS), and
the size of a stored vendor snapshot.

    python benchmarks/bench_evidence.py                                # 100,000 people, 2026-Q3
    python benchmarks/bench_evidence.py --people 20000 --changes 200 --runs 1 --workdir bench-out

Setup (reusing bench_cli.py's generator and bench_gate.py's repository):
- bench_cli.py's repository of N people (~10 grants each, policies exercising every rule family)
  and its snapshot ~1% off the YAML; bench_gate.py's real git repository with it adopted and 20
  merged pull requests (merge, squash and rebase), all dated before the quarter; then one more
  commit in the quarter deleting `--leavers` people from people.yaml; the apply point signed at
  HEAD (everything applied);
- the audit trail: a record for the pull requests' approvals and grants before the quarter, then
  one record a day of the quarter with `--changes` outcomes (grants with their approvals, drift
  restored, expiries, a lapse, a held change), the leavers' revocations on their day;
- the snapshot kept as `refs/access/snapshots/<the quarter's last day>` (`access snapshots keep`).

Then `access evidence --period 2026-Q3 --out DIR` runs `--runs` times (each into a new directory:
the packs must be byte-identical), and `access evidence verify` once. The snapshot's size is
measured as JSON, gzipped, and in git: a day kept, and a second day ~1% different packed with it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import git

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_cli import (
    CO,
    DIRECT_EVERY,
    GITHUB_EVERY,
    TEAMS,
    access_command,
    email,
    load_average,
    workspace,
    write_snapshot,
)
from benchmarks.bench_gate import KEY, REPOSITORY, Addition, build_world, generated_setup
from reconciler import audit_trail, evidence_key, gate, snapshot_store

QUARTER = "2026-Q3"
START, END = dt.date(2026, 7, 1), dt.date(2026, 9, 30)
BEFORE = dt.datetime(2026, 6, 20, 9, 0, tzinfo=dt.UTC)  # the adoption and the pull requests
LEAVERS_AT = dt.datetime(2026, 8, 14, 16, 0, tzinfo=dt.UTC)
TIME = Path("/usr/bin/time")
SIGNING_KEY = "5e" * 32  # ACCESS_EVIDENCE_SIGNING_KEY (a fixed seed: the packs compare byte for byte)


def _stamp(when: dt.datetime) -> str:
    return f"{int(when.timestamp())} +0000"


def _iso(when: dt.datetime) -> str:
    return when.isoformat(timespec="seconds")


# ---------------------------------------------------------------- the repository


def leave(path: Path, people: int, count: int, keep: set[int]) -> list[int]:
    """Delete `count` people's lines from people.yaml (none with a line of their own elsewhere)."""
    gone: list[int] = []
    for i in range(7, people, max(1, people // (count * 2))):
        if len(gone) == count:
            break
        if i % DIRECT_EVERY == 0 or i % GITHUB_EVERY == 0 or i == 3 or i in keep:
            continue
        gone.append(i)
    file = path / "access/people.yaml"
    drop = {f"  p{i:06d}: " for i in gone}
    lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
    file.write_text("".join(line for line in lines if line[:11] not in drop), encoding="utf-8")
    return gone


def setup_repository(
    workdir: Path, people: int, leavers: int
) -> tuple[Path, list[int], list[Addition], list[str]]:
    setup = generated_setup(workdir, people, 20)
    env = {"GIT_COMMITTER_DATE": _stamp(BEFORE), "GIT_AUTHOR_DATE": _stamp(BEFORE)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        world = build_world(workdir / f"evidence-repo-{people}", setup)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    landings = world.repo.git.rev_list("--first-parent", "--reverse", f"{world.adopted}..HEAD").split()
    members = {int(a.member[1:]) for a in setup.additions}
    gone = leave(world.path, people, leavers, members)
    world.repo.git.add("access")
    actor = git.Actor("hr-sync", "hr-sync@example.com")
    world.repo.index.commit(
        f"{len(gone)} people left", author=actor, committer=actor,
        author_date=_stamp(LEAVERS_AT), commit_date=_stamp(LEAVERS_AT),
    )  # fmt: skip
    gate.record_apply_point(world.repo, str(world.repo.head.commit.hexsha), KEY.encode(), REPOSITORY)
    return world.path, gone, list(setup.additions), landings


# ---------------------------------------------------------------- the audit trail


def outcome(when: dt.datetime, n: int, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "kind": "outcome", "time": _iso(when), "run": f"run-{when:%Y%m%d}", "commit": "0" * 40,
        "vendor": "pingone", "action": "grant", "tenant": "", "principal": email(n), "person": f"p{n:06d}",
        "resource_type": "group", "resource": f"Group {n % TEAMS:02d}-0", "entitlement": "member", "before": None,
        "source": "access/pingone.yaml:9", "outcome": "applied", "message": "", "vendor_ref": f"ref-{n}",
        "basis": "restores", "rule": None, "why": "restores the approved state", "pull_request": None,
        "pull_request_url": None, "requested_by": None, "approved_by": [], "approvals": [],
        "pull_request_head": None, "landed_in": None,
    }  # fmt: skip
    base.update(fields)
    return base


def day_entries(day: dt.date, changes: int, people: int) -> list[dict[str, object]]:
    """One day's apply run: drift restored, Procore templates put back, expiries, a lapse, a hold."""
    when = dt.datetime.combine(day, dt.time(5, 17), tzinfo=dt.UTC)
    entries: list[dict[str, object]] = []
    for k in range(changes):
        n = (day.toordinal() * 7919 + k * 104729) % people
        kind = k % 4
        if kind == 0:
            entries.append(outcome(when, n))
        elif kind == 1:
            entries.append(outcome(when, n, action="revoke", principal=f"x{n}@bench.example", person=""))
        elif kind == 2:
            entries.append(
                outcome(
                    when,
                    n,
                    vendor="procore",
                    action="update",
                    tenant=CO,
                    resource_type="project",
                    resource=f"Project {n % TEAMS:02d}-0",
                    entitlement="Project Engineer",
                    before="Read Only",
                    vendor_ref=f"{CO}/{n}",
                )
            )
        else:
            entries.append(
                outcome(
                    when,
                    n,
                    vendor="procore",
                    action="revoke",
                    tenant=CO,
                    resource_type="project",
                    resource="Special Works",
                    entitlement="Superintendent",
                    basis="expired",
                    why="the approved expiry 2026-06-30 passed",
                )
            )
    entries.append(
        outcome(
            when,
            1,
            vendor="concur",
            resource_type="role",
            resource="EXP_APPROVER",
            action="revoke",
            basis="lapsed",
            rule="finance",
            why="recertification finance: due ..., not re-approved",
        )
    )
    entries.append(
        {
            "kind": "held",
            "vendor": "pingone",
            "action": "grant",
            "tenant": "",
            "principal": email(2),
            "person": "p000002",
            "resource_type": "group",
            "resource": "Group 05-1",
            "entitlement": "member",
            "verdict": "held",
            "commit": "1" * 40,
            "rule": "pull-request",
            "message": "pushed directly: brought without a merged pull request",
        }
    )
    return entries


def write_trail(path: Path, people: int, changes: int, gone: list[int], additions: Sequence[Addition],
                landings: Sequence[str], leaver_commit: str) -> int:  # fmt: skip
    """The audit trail, one record a run (appended without re-verifying the chain each time)."""
    repo = git.Repo(path)
    chain: list[audit_trail.Record] = []
    real = audit_trail.records
    audit_trail.records = lambda *_: tuple(chain)  # type: ignore[assignment]
    try:

        def append(entries: list[dict[str, object]], when: dt.datetime) -> None:
            run = f"run-{when:%Y%m%dT%H%M}"
            sha = audit_trail.append(
                repo, KEY.encode(), REPOSITORY, entries, run=run, when=int(when.timestamp())
            )
            chain.append(audit_trail.Record(sha, len(chain) + 1, chain[-1].id if chain else None, run, 0, ()))

        first = BEFORE + dt.timedelta(days=1)
        approvals: list[dict[str, object]] = []
        grants: list[dict[str, object]] = []
        for number, (addition, landing) in enumerate(zip(additions, landings, strict=False), start=1):
            principal = email(int(addition.member[1:]))
            item = ["grant", ["pingone", "", "group", addition.group, "member", principal]]
            record = {
                "verdict": "approved", "commit": landing, "pull": number,
                "url": f"https://github.com/{REPOSITORY}/pull/{number}", "author": "dev-alex",
                "approvers": [addition.approver], "approved_at": [_iso(BEFORE).replace("+00:00", "Z")],
                "edit": f"+ pingone {principal}: group {addition.group}", "merged_at": _iso(BEFORE),
            }  # fmt: skip
            approvals.append({"kind": "approval", "item": item, **record})
            grants.append(
                outcome(
                    first,
                    int(addition.member[1:]),
                    resource=addition.group,
                    basis="approved",
                    why=None,
                    pull_request=number,
                    approved_by=[addition.approver],
                    landed_in=landing,
                )
            )
        append(grants + approvals, first)
        entries = 1 + len(grants)
        day = START
        while day <= END:
            batch = day_entries(day, changes, people)
            when = dt.datetime.combine(day, dt.time(5, 17), tzinfo=dt.UTC)
            if day == LEAVERS_AT.date() + dt.timedelta(days=1):
                for i in gone:
                    batch += [
                        outcome(
                            when,
                            i,
                            vendor=v,
                            action="revoke",
                            resource=r,
                            basis="not-required",
                            why="a removal no approver rule covers",
                            landed_in=leaver_commit,
                        )
                        for v, r in (
                            ("pingone", f"Group {i % TEAMS:02d}-0"),
                            ("concur", "EXP_USER"),
                            ("procore", f"Project {i % TEAMS:02d}-0"),
                        )
                    ]
                    batch += [
                        {"kind": "approval", "item": ["account", [v, CO if v == "procore" else "", email(i)]],
                         "verdict": "not-required", "commit": leaver_commit,
                         "message": "a removal no approver rule covers", "edit": f"- {v} account {email(i)}"}
                        for v in ("pingone", "concur", "procore")
                    ]  # fmt: skip
            append(batch, when)
            entries += len(batch)
            day += dt.timedelta(days=1)
    finally:
        audit_trail.records = real  # type: ignore[assignment]
    return entries


# ---------------------------------------------------------------- snapshots


def snapshot_sizes(workdir: Path, path: Path, snapshot: Path, people: int) -> dict[str, float]:
    """JSON, gzip, and git: one day kept (loose objects), then two days packed (the second ~1% off)."""
    files = sorted(snapshot.glob("*.json"))
    raw = sum(f.stat().st_size for f in files)
    gz = sum(len(gzip.compress(f.read_bytes(), 6)) for f in files)
    store = workdir / "snapshot-store"
    shutil.rmtree(store, ignore_errors=True)
    repo = git.Repo.init(store, initial_branch="main")
    snapshot_store.keep(repo, snapshot, END, when=int(time.time()))
    repo.git.repack("-adq")
    one = _pack_bytes(store)
    second = workdir / "snapshot-day2"
    shutil.rmtree(second, ignore_errors=True)
    write_snapshot(second, range(people // 100, people + people // 100), True)  # 1% left, 1% joined
    snapshot_store.keep(repo, second, END + dt.timedelta(days=1), when=int(time.time()))
    repo.git.repack("-adq")
    two = _pack_bytes(store)
    return {"json_mib": raw / 2**20, "gzip_mib": gz / 2**20, "git_one_day_mib": one / 2**20,
            "git_second_day_mib": (two - one) / 2**20}  # fmt: skip


def _pack_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in (store / ".git/objects/pack").glob("*.pack"))


# ---------------------------------------------------------------- running it


def run_once(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float, float, str, str]:
    with tempfile.TemporaryDirectory(prefix="bench-evidence-") as tmp:
        stats, out, err = Path(tmp) / "time", Path(tmp) / "out", Path(tmp) / "err"
        timed = [str(TIME), "-f", "%e %M %U %S", "-o", str(stats), *argv] if TIME.exists() else list(argv)
        started = time.perf_counter()
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(timed, stdout=stdout, stderr=stderr, env=env)
            _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        text, problems = out.read_text(errors="replace"), err.read_text(errors="replace")
        if code != 0:
            sys.exit(f"{' '.join(argv)} exited {code}:\n{text[-2000:]}\n{problems[-3000:]}")
        cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
        if TIME.exists():
            fields = stats.read_text().split()[-4:]
            rss, cpu = int(fields[1]) / 1024, float(fields[2]) + float(fields[3])
        return seconds, cpu, rss, text, problems


def child_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROCORE_", "CONCUR_", "PINGONE_", "GITHUB_", "ACCESS_"))
    }
    env.update(
        ACCESS_TODAY="2026-10-05", ACCESS_APPLY_POINT_KEY=KEY, GITHUB_REPOSITORY=REPOSITORY,
        ACCESS_EVIDENCE_SIGNING_KEY=SIGNING_KEY,
        PYTHONPATH=os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")) if p),
    )  # fmt: skip
    return env


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=1_000, help="outcomes in each day's apply run")
    parser.add_argument(
        "--leavers", type=int, default=100, help="people deleted from people.yaml in the quarter"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="keep the generated repositories here")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()

    with workspace(args.workdir) as workdir:
        started = time.perf_counter()
        path, gone, additions, landings = setup_repository(workdir, args.people, args.leavers)
        leaver_commit = str(git.Repo(path).head.commit.hexsha)
        entries = write_trail(path, args.people, args.changes, gone, additions, landings, leaver_commit)
        snapshot = workdir / f"large-{args.people}-policies" / "snapshot"
        snapshot_store.keep(
            git.Repo(path), snapshot, END, when=int(dt.datetime(2026, 9, 30, 6, tzinfo=dt.UTC).timestamp())
        )
        public = path / "policies/evidence.pub"
        public.write_text(
            evidence_key.public_pem(evidence_key.parse_private(SIGNING_KEY).verify_key), encoding="utf-8"
        )
        print(
            f"set up {args.people:,} people, {len(additions)} pull requests, {len(gone)} leavers, an audit trail of "
            f"{entries:,} entries in {(END - START).days + 2} records in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        sizes = snapshot_sizes(workdir, path, snapshot, args.people)
        access = access_command()
        env = child_env()
        packs: list[Path] = []
        runs = []
        for n in range(args.runs):
            out = workdir / f"pack-{n}"
            shutil.rmtree(out, ignore_errors=True)
            argv = [*access, "--repo", str(path), "evidence", "--period", QUARTER, "--out", str(out)]
            runs.append(run_once(argv, env))
            packs.append(out)
            print(f"  run {n + 1}: {runs[-1][0]:.2f} s, {runs[-1][2]:,.0f} MiB", flush=True)
        identical = all(
            (packs[0] / f.name).read_bytes() == (p / f.name).read_bytes()
            for p in packs[1:]
            for f in packs[0].iterdir()
        )
        verify = run_once([*access, "--repo", str(path), "evidence", "verify", str(packs[0])], env)
        rows = {
            f.name: max(0, f.read_text(encoding="utf-8").count("\n") - 1)
            for f in sorted(packs[0].glob("*.csv"))
        }
        sizes_out = {f.name: f.stat().st_size for f in sorted(packs[0].iterdir())}

    print(
        f"\n{args.people:,} people, {QUARTER}; {os.cpu_count()} CPUs, load average {load_average()}; {len(runs)} run(s)"
    )
    print(f"{'':<34} {'min':>9} {'median':>9}")
    figures: dict[str, object] = {}
    for label, index, unit in (("evidence wall time", 0, "s"), ("evidence CPU (user+sys)", 1, "s"),
                               ("evidence peak RSS", 2, "MiB")):  # fmt: skip
        values = [r[index] for r in runs]
        figures[label] = {"min": min(values), "median": statistics.median(values)}
        print(f"{label:<34} {min(values):8.2f} {unit:<3} {statistics.median(values):8.2f} {unit}")
    print(f"{'evidence verify':<34} {verify[0]:8.2f} s   ({verify[3].strip()[:60]}…)")
    print("rows: " + ", ".join(f"{name} {count:,}" for name, count in rows.items()))
    print(
        "pack: "
        + ", ".join(f"{name} {size / 2**20:.1f} MiB" for name, size in sizes_out.items() if size > 2**20)
    )
    print(f"re-runs byte-identical: {'yes' if identical else 'NO'}")
    print(
        f"snapshot at {args.people:,} people: {sizes['json_mib']:.1f} MiB JSON, {sizes['gzip_mib']:.1f} MiB gzipped; "
        f"in git: {sizes['git_one_day_mib']:.1f} MiB for a day, +{sizes['git_second_day_mib']:.1f} MiB for a second "
        "day ~1% different (packed)"
    )
    if not identical:
        sys.exit("the packs of the same inputs differ")
    if args.json:
        figures.update(rows=rows, snapshot=sizes, identical=identical, verify_seconds=verify[0])
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
