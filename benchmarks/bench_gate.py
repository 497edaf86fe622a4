"""Benchmark: what the approval gate adds to a plan, the CLI as a process (wall time, peak RSS).

    python benchmarks/bench_gate.py                                  # the example access/, 20 pull requests
    python benchmarks/bench_gate.py --people 100000 --pulls 20       # the issue's target
    python benchmarks/bench_gate.py --people 2000 --pulls 5 --runs 1 --workdir bench-out
    python benchmarks/bench_gate.py --people 100000 --profile py-spy --profile-out gate.txt

The issue's target: at `--people 100000 --pulls 20`, the gate adds at most the time of one `plan`
and 25% of its memory on top of apply's own sync and plan. Measured here as `access apply
--dry-run --state SNAP` (sync from the snapshot, plan, the gate, the approved plan, every verdict
printed; nothing written) against the same with the apply point at HEAD (apply's own sync, plan
and printing, nothing to judge), each set against `access plan --state SNAP --format json --out
/dev/null` on the same repository and snapshot.

Setup:
- access/ and policies/: the repository's example (with a snapshot made from the sandbox's seed
  state), or with `--people N` those of `bench_cli.py` (N people in 20 teams, ~10 grants each,
  policies exercising every rule family, a snapshot ~1% off the YAML);
- a real git repository with them committed, the apply point `refs/access/applied` signed on that
  commit with `ACCESS_APPLY_POINT_KEY`;
- P pull requests, each adding one person to one group or role line, opened by a contributor who
  is nobody in people.yaml, approved by a person with a `github:` login (not the one receiving the
  access) and merged in turn by merge commit, squash and rebase; the simulated GitHub
  (`reconciler/simulators/github.py`) learns each step and is served on loopback.

Then `plan` and `apply --dry-run` run alternately, `--runs` times each, under `/usr/bin/time`
(peak RSS of the command alone); the dry run must exit 0 and name every pull request as approved.
A third row, `apply --dry-run` with the apply point moved to HEAD (no landing to judge), splits
what apply and the gate cost with no pull request from what the pull requests cost.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import git

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_cli import (
    GITHUB_EVERY,
    INACTIVE_EVERY,
    LOGIN_EVERY,
    TEAMS,
    TODAY,
    access_command,
    generate,
    load_average,
    workspace,
)
from reconciler import gate
from reconciler.connectors.base import VendorState
from reconciler.sandbox_seed import SEEDS
from reconciler.simulators.github import DEFAULT_TOKEN, GitHubSimulator
from reconciler.simulators.serve import serve
from reconciler.snapshot import write_state

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = "harborbuild/access"
KEY = "bench-gate-apply-point-key-0123456789abcdef"  # ACCESS_APPLY_POINT_KEY
TIME = Path("/usr/bin/time")
METHODS = ("merge", "squash", "rebase")
CONTRIBUTORS = ("dev-alex", "dev-sam", "dev-kim")  # pull request authors: nobody in people.yaml


# ---------------------------------------------------------------- the YAML and the snapshot


@dataclass(frozen=True)
class Addition:
    """One pull request's edit: `member` joins the line of `group` in `file`; `approver` approves it."""

    file: str  # access/pingone.yaml
    group: str
    member: str
    approver: str


@dataclass(frozen=True)
class Setup:
    source: Path  # holds access/ and policies/
    snapshot: Path
    people: int
    additions: tuple[Addition, ...]


def example_setup(workdir: Path, pulls: int) -> Setup:
    """The repository's example, and a snapshot of the sandbox's seed state (its drift included)."""
    source = workdir / "example"
    shutil.rmtree(source, ignore_errors=True)
    for part in ("access", "policies"):
        shutil.copytree(ROOT / part, source / part)
    snapshot = source / "snapshot"
    snapshot.mkdir()
    for vendor, seed in SEEDS.items():
        made = seed()
        write_state(snapshot, VendorState(vendor, made.accounts, frozenset(made.grants)))
    # PingOne groups whose only rule is the default (any known reviewer), Finance Systems (finance
    # approves; nobody holding an admin role: separation of duties) and a Concur role (finance).
    vpn = [
        ("pingone", "VPN", k, "hbrandt")
        for k in ("carol", "dan", "judy", "erin", "frank", "nina", "grace", "oscar")
    ]
    invoices = [
        ("concur", "Invoice Approver", k, "fosei")
        for k in ("carol", "dan", "judy", "erin", "alice", "bob", "ivan", "mike")
    ]
    finance = [
        ("pingone", "Finance Systems", k, "ewalsh")
        for k in ("alice", "bob", "ivan", "mike", "carol", "dan", "judy", "oscar")
    ]
    candidates = [
        *vpn,
        *invoices[:4],
        ("pingone", "Concur Users", "oscar", "hbrandt"),
        *finance,
        *invoices[4:],
    ]
    if pulls > len(candidates):
        sys.exit(f"the example has room for {len(candidates)} pull requests; use --people N for more")
    additions = tuple(Addition(f"access/{v}.yaml", g, k, a) for v, g, k, a in candidates[:pulls])
    return Setup(source, snapshot, 13, additions)


def generated_setup(workdir: Path, people: int, pulls: int) -> Setup:
    """`bench_cli.py`'s repository of `people` (reused from `workdir` when already generated)."""
    (scenario,) = generate(workdir, people, 0, policies=True)
    logins = [f"gh{i}" for i in range(0, people, GITHUB_EVERY)]
    additions: list[Addition] = []
    seen: set[tuple[str, str]] = set()
    for n in range(people * 4):
        if len(additions) == pulls:
            break
        i = (17 + 7919 * n) % people
        # Plain people: no login of their own, no PingOne login override, an active account, not
        # the protected principal.
        if i % GITHUB_EVERY == 0 or i % LOGIN_EVERY == 0 or i % INACTIVE_EVERY == 5 or i == 3:
            continue
        team = i % TEAMS
        other = (team + 1 + n % (TEAMS - 1)) % TEAMS
        group = f"Group {other:02d}-{n % 2}"  # never Group 19-2 (protected)
        if (group, f"p{i:06d}") in seen:
            continue
        seen.add((group, f"p{i:06d}"))
        additions.append(
            Addition("access/pingone.yaml", group, f"p{i:06d}", logins[len(additions) % len(logins)])
        )
    if len(additions) < pulls:
        sys.exit(f"found only {len(additions)} people to add to groups at --people {people}")
    return Setup(scenario.root, scenario.root / "snapshot", people, tuple(additions))


def add_member(root: Path, addition: Addition) -> None:
    path = root / addition.file
    text = path.read_text(encoding="utf-8")
    line = re.search(rf"^(\s*{re.escape(addition.group)}:\s*\[)([^\]]*)\]", text, re.M)
    assert line is not None, f"no line {addition.group!r} in {path}"
    assert addition.member not in line.group(2).split(", "), addition
    text = text.replace(line.group(0), f"{line.group(1)}{line.group(2)}, {addition.member}]", 1)
    path.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------- git and GitHub


@dataclass
class World:
    path: Path
    repo: git.Repo
    sim: GitHubSimulator
    adopted: str
    pulls: list[int]


def build_world(path: Path, setup: Setup) -> World:
    """The repository with access/ adopted and the apply point on it, then the merged pull requests."""
    shutil.rmtree(path, ignore_errors=True)
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Bench")
        config.set_value("user", "email", "bench@example.com")
        config.set_value("gc", "auto", "0")
    for part in ("access", "policies"):
        shutil.copytree(setup.source / part, path / part)
    (path / ".gitignore").write_text(".access/\n", encoding="utf-8")
    repo.git.add("access", "policies", ".gitignore")
    repo.git.commit("-q", "-m", "adopt access-as-code")
    adopted = str(repo.head.commit.hexsha)
    sim = GitHubSimulator(REPOSITORY)
    sim.direct_push(adopted)
    people = (path / "access" / "people.yaml").read_text(encoding="utf-8")
    for login in sorted(set(re.findall(r"\bgithub: ([A-Za-z0-9-]+)", people))):
        sim.set_permission(login, "write")  # every person with a login is a repository writer
    gate.record_apply_point(repo, adopted, KEY.encode(), REPOSITORY)

    numbers: list[int] = []
    for i, addition in enumerate(setup.additions):
        author = CONTRIBUTORS[i % len(CONTRIBUTORS)]
        branch = f"{author}/access-{i}"
        repo.git.checkout("-q", "-b", branch, "main")
        add_member(path, addition)
        repo.git.add("access")
        actor = git.Actor(author, f"{author}@contractors.example")
        message = f"Add {addition.member} to {addition.group}"
        head = str(repo.index.commit(message, author=actor, committer=actor).hexsha)
        sim.record_git_commits(path, [head])
        number = sim.create_pull(author, head, title=message, head_ref=branch)
        sim.review(number, addition.approver, "APPROVED")
        repo.git.checkout("-q", "main")
        method = METHODS[i % len(METHODS)]
        if method == "merge":
            repo.git.merge("-q", "--no-ff", branch, "-m", f"Merge pull request #{number} from {branch}")
            sim.merge(number, str(repo.head.commit.hexsha), merged_by=addition.approver)
        elif method == "squash":
            repo.git.merge("-q", "--squash", branch)
            repo.git.commit("-q", "-m", f"{message} (#{number})")
            sim.merge(number, str(repo.head.commit.hexsha), merged_by=addition.approver, method="squash")
        else:
            base = str(repo.head.commit.hexsha)
            repo.git.cherry_pick(f"main..{branch}")
            landed = repo.git.rev_list("--reverse", f"{base}..HEAD").split()
            sim.merge(number, landed[-1], merged_by=addition.approver, method="rebase", landed=landed)
        numbers.append(number)
    return World(path, repo, sim, adopted, numbers)


# ---------------------------------------------------------------- running the CLI


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu_seconds: float
    rss_mib: float
    code: int
    out: str
    err: str
    requests: int  # GitHub requests made during the run
    github_cpu: float  # CPU the simulated GitHub (this process's server thread) spent meanwhile


def run_once(argv: Sequence[str], env: dict[str, str], sim: GitHubSimulator) -> Run:
    """One command as a process; wall time, CPU and peak RSS from /usr/bin/time (the command and
    the processes it waited for, not this benchmark's pages)."""
    with tempfile.TemporaryDirectory(prefix="bench-gate-run-") as tmp:
        stats = Path(tmp) / "time"
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        timed = [str(TIME), "-f", "%e %M %U %S", "-o", str(stats), *argv] if TIME.exists() else list(argv)
        before = sim.request_count
        cpu_before = time.process_time()  # this process only serves GitHub while the command runs
        started = time.perf_counter()
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(timed, stdout=stdout, stderr=stderr, env=env)
            _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        requests = sim.request_count - before
        github_cpu = time.process_time() - cpu_before
        cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
        if TIME.exists():
            fields = stats.read_text().split()[-4:]
            rss, cpu = int(fields[1]) / 1024, float(fields[2]) + float(fields[3])
        return Run(seconds, cpu, rss, code, out.read_text(errors="replace"), err.read_text(errors="replace"),
                   requests, github_cpu)  # fmt: skip


@dataclass(frozen=True)
class Row:
    label: str
    runs: tuple[Run, ...]

    def stat(self, name: str, how: str) -> float:
        values = [getattr(r, name) for r in self.runs]
        return min(values) if how == "min" else statistics.median(values)


def check_dry_run(run: Run, pulls: Sequence[int], label: str) -> dict[str, int]:
    """The dry run exits 0 and names every pull request as approved; returns the verdict counts."""
    if run.code != 0:
        sys.exit(f"{label} exited {run.code}:\n{run.out[-3000:]}\n{run.err[-3000:]}")
    approved = {int(n) for n in re.findall(r"\(PR #(\d+), approved by [^)]*\)", run.out)}
    missing = [n for n in pulls if n not in approved]
    if missing:
        held = "\n".join(line for line in run.out.splitlines() if "held" in line or "rule " in line)
        sys.exit(f"{label}: pull requests not approved: {missing}\n{held[-3000:]}\n{run.err[-2000:]}")
    summary = re.search(r"Dry run: (\d+) change\(s\) would be applied, (\d+) held back", run.out)
    if summary is None:
        sys.exit(f"{label}: no summary line in its output:\n{run.out[-2000:]}")
    return {"would be applied": int(summary.group(1)), "held back": int(summary.group(2))}


# ---------------------------------------------------------------- profiling


def profile(kind: str, output: Path, argv: Sequence[str], env: dict[str, str], top: int) -> None:
    """One more dry run under cProfile or py-spy; the top functions by cumulative and own time."""
    script = argv[0]
    rest = list(argv[1:])
    if kind == "cprofile":
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(output), script, *rest],
                       env=env, stdout=subprocess.DEVNULL, check=False)  # fmt: skip
        import pstats

        for order in ("cumulative", "tottime"):
            print(f"\ncProfile of one dry run, by {order} ({output}):", flush=True)
            pstats.Stats(str(output)).sort_stats(order).print_stats(top)
        return
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        sys.exit(f"{spy} is not installed: `{sys.executable} -m pip install py-spy` (or --profile cprofile)")
    subprocess.run([str(spy), "record", "--format", "raw", "--rate", "200", "--subprocesses", "-o", str(output),
                    "--", sys.executable, script, *rest],
                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # fmt: skip
    total: Counter[str] = Counter()
    own: Counter[str] = Counter()
    samples = 0
    for line in output.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        # Per function, not per line; py-spy's "process N" root frame dropped.
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        for frame in set(frames):
            total[frame] += n
        own[frames[-1]] += n
    ours = Counter({frame: n for frame, n in total.items() if "(reconciler/" in frame})
    print(
        f"\npy-spy of one dry run: {samples} samples at 200 Hz (CPU only; waiting is not sampled), {output}"
    )
    for title, counts in (("inclusive time, reconciler's functions", ours), ("own time, any function", own)):
        print(f"top {top} by {title}:")
        for frame, n in counts.most_common(top):
            print(f"  {n / 200:7.2f} s {100 * n / samples:5.1f}%  {frame}")


# ---------------------------------------------------------------- main


def child_env(github_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROCORE_", "CONCUR_", "PINGONE_", "GITHUB_", "ACCESS_"))
    }
    env.update(
        ACCESS_TODAY=TODAY,
        GITHUB_API_URL=github_url,
        GITHUB_REPOSITORY=REPOSITORY,
        GITHUB_TOKEN=DEFAULT_TOKEN,
        ACCESS_ALLOW_HOSTS=github_url.removeprefix("http://"),
        ACCESS_APPLY_POINT_KEY=KEY,
        # This checkout's `access`, whatever the virtualenv has installed.
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    )
    return env


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--people", type=int, help="bench_cli.py's generated repository (default: the example)"
    )
    parser.add_argument("--pulls", type=int, default=20, help="merged pull requests since the apply point")
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (min and median)")
    parser.add_argument("--workdir", type=Path, help="keep the generated YAML and repository here")
    parser.add_argument("--no-floor", action="store_true", help="skip the dry runs with the point at HEAD")
    parser.add_argument("--profile", choices=("py-spy", "cprofile"), help="profile one more dry run")
    parser.add_argument("--profile-out", type=Path, help="where the profile goes (default: in the workdir)")
    parser.add_argument("--top", type=int, default=15, help="functions the profile lists")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()

    with workspace(args.workdir) as workdir:
        started = time.perf_counter()
        if args.people is None:
            setup = example_setup(workdir, args.pulls)
        else:
            setup = generated_setup(workdir, args.people, args.pulls)
        world = build_world(workdir / f"gate-repo-{setup.people}-{args.pulls}", setup)
        print(
            f"set up {setup.people:,} people and {len(world.pulls)} merged pull requests "
            f"({', '.join(METHODS[: min(3, len(world.pulls))])} in turn) in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        access = access_command()
        repo_args = ["--repo", str(world.path)]
        plan = [*access, *repo_args, "plan", "--state", str(setup.snapshot), "--format", "json",
                "--out", os.devnull]  # fmt: skip
        dry_run = [*access, *repo_args, "apply", "--dry-run", "--state", str(setup.snapshot)]
        with serve(world.sim.handle) as github_url:
            env = child_env(github_url)
            plans: list[Run] = []
            dry_runs: list[Run] = []
            for n in range(args.runs):  # alternately, so that both see the same machine
                plans.append(run_once(plan, env, world.sim))
                if plans[-1].code not in (0, 2):
                    sys.exit(f"plan exited {plans[-1].code}:\n{plans[-1].err[-3000:]}")
                dry_runs.append(run_once(dry_run, env, world.sim))
                verdicts = check_dry_run(dry_runs[-1], world.pulls, "apply --dry-run")
                print(
                    f"  run {n + 1}: plan {plans[-1].seconds:.2f} s, dry run {dry_runs[-1].seconds:.2f} s",
                    flush=True,
                )
            floors: list[Run] = []
            if not args.no_floor:
                head = str(world.repo.head.commit.hexsha)
                gate.record_apply_point(world.repo, head, KEY.encode(), REPOSITORY)
                try:
                    for _ in range(args.runs):
                        floors.append(run_once(dry_run, env, world.sim))
                        check_dry_run(floors[-1], [], "apply --dry-run (point at HEAD)")
                finally:
                    gate.record_apply_point(world.repo, world.adopted, KEY.encode(), REPOSITORY)
            if args.profile:
                out = args.profile_out or workdir / f"gate-{setup.people}-{args.pulls}.{args.profile}"
                profile(args.profile, out.resolve(), dry_run, env, args.top)

    rows = [
        Row("plan", tuple(plans)),
        Row(f"apply --dry-run, {len(world.pulls)} pull requests", tuple(dry_runs)),
    ]
    if floors:
        rows.append(Row("apply --dry-run, point at HEAD", tuple(floors)))
    report(rows, setup, world, verdicts, args)


def report(
    rows: list[Row], setup: Setup, world: World, verdicts: dict[str, int], args: argparse.Namespace
) -> None:
    plan, dry = rows[0], rows[1]
    print(
        f"\n{setup.people:,} people, {len(world.pulls)} merged pull requests; {os.cpu_count()} CPUs, "
        f"load average {load_average()}; {len(plan.runs)} run(s) each"
    )
    print(f"{'':<40} {'wall time':^19} {'CPU (user+sys)':^19} {'peak RSS':^23}")
    print(f"{'command':<40} {'min':>9} {'median':>9} {'min':>9} {'median':>9} {'min':>11} {'median':>11}")
    figures: dict[str, dict[str, float]] = {}
    for row in rows:
        figures[row.label] = {
            f"{name}_{how}": row.stat(name, how)
            for name in ("seconds", "cpu_seconds", "rss_mib")
            for how in ("min", "median")
        }
        f = figures[row.label]
        print(
            f"{row.label:<40} {f['seconds_min']:7.2f} s {f['seconds_median']:7.2f} s"
            f" {f['cpu_seconds_min']:7.2f} s {f['cpu_seconds_median']:7.2f} s"
            f" {f['rss_mib_min']:7,.0f} MiB {f['rss_mib_median']:7,.0f} MiB"
        )
    plan_f = figures[plan.label]

    def less(label: str, a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        found = {k: a[k] - b[k] for k in b}
        print(
            f"{label:<40} {found['seconds_min']:7.2f} s {found['seconds_median']:7.2f} s"
            f" {found['cpu_seconds_min']:7.2f} s {found['cpu_seconds_median']:7.2f} s"
            f" {found['rss_mib_min']:7,.0f} MiB {found['rss_mib_median']:7,.0f} MiB"
        )
        return found

    total = less("dry run - plan", figures[dry.label], plan_f)
    # The target is what the gate adds "on top of apply's own sync and plan": apply with the
    # point at HEAD syncs, plans and prints every verdict as the dry run does, with nothing to judge.
    added = total
    if len(rows) > 2:
        floor = figures[rows[2].label]
        less("apply's own (point at HEAD - plan)", floor, plan_f)
        added = less(f"gate: the {len(world.pulls)} pull requests judged", figures[dry.label], floor)
    time_ok = added["seconds_median"] <= plan_f["seconds_median"]
    memory_ok = added["rss_mib_median"] <= 0.25 * plan_f["rss_mib_median"]
    basis = "over apply with nothing to judge" if len(rows) > 2 else "over a plan (no floor row)"
    print(
        f"\ntarget (medians, {basis}): added time {added['seconds_median']:.2f} s ≤ one plan "
        f"{plan_f['seconds_median']:.2f} s: {'met' if time_ok else 'NOT met'} "
        f"({added['seconds_median'] / plan_f['seconds_median']:.1f} plans; CPU "
        f"{added['cpu_seconds_median']:.2f} s ≤ {plan_f['cpu_seconds_median']:.2f} s)"
    )
    print(
        f"                  added memory {added['rss_mib_median']:,.0f} MiB ≤ 25% of the plan's "
        f"{plan_f['rss_mib_median']:,.0f} MiB ({0.25 * plan_f['rss_mib_median']:,.0f} MiB): "
        f"{'met' if memory_ok else 'NOT met'} ({100 * added['rss_mib_median'] / plan_f['rss_mib_median']:.0f}%)"
    )
    requests = sorted({r.requests for r in dry.runs})
    served = statistics.median(r.github_cpu for r in dry.runs)
    print(
        f"GitHub requests per dry run: {', '.join(map(str, requests))} (the simulator's CPU answering them: "
        f"{served:.2f} s, part of the dry run's wall time); "
        f"dry run: {', '.join(f'{v:,} {k}' for k, v in verdicts.items())}; every pull request approved"
    )
    if args.json:
        data = {"people": setup.people, "pulls": len(world.pulls), "figures": figures, "added": added,
                "time_met": time_ok, "memory_met": memory_ok, "github_requests": requests}  # fmt: skip
        args.json.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
