"""Benchmark: what the approval gate costs, as the apply job runs it (the CLI as a process).

    python benchmarks/bench_gate.py               # 20 merged pull requests since the apply point
    python benchmarks/bench_gate.py --pulls 50

A real git repository with the example access/ adopted and applied; then N pull requests, each
giving one person the VPN group, approved and merged (alternating merge commit, squash and
rebase). `access apply --sandbox` then judges them all. Prints the wall time of that apply, the
time of an apply with nothing new (the floor: sync + plan), and the GitHub requests the gate made
(read from the simulated GitHub's rate-limit counter): one per commit that changed access/, one
per pull request for its reviews.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import git

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler import apply_point, gate, sandbox
from reconciler.simulators.github import GitHubSimulator
from reconciler.vendors import VENDORS

ROOT = Path(__file__).resolve().parents[1]
ACCESS = Path(sys.executable).parent / "access"
NAMES = ("carol", "dan", "judy", "erin", "frank", "nina", "grace", "heidi")


def run_apply(repo: Path) -> tuple[float, int, str]:
    env = {**os.environ, "ACCESS_TODAY": "2026-11-23"}
    started = time.perf_counter()
    done = subprocess.run(
        [str(ACCESS), "--repo", str(repo), "--verbose", "apply", "--sandbox"],
        capture_output=True,
        text=True,
        env=env,
    )
    return time.perf_counter() - started, done.returncode, done.stdout + done.stderr


def github_requests(output: str) -> int:
    """Requests to GitHub, counted from --verbose's one line per request."""
    return sum(1 for line in output.splitlines() if re.match(r"^(GitHub|github) (GET|POST) ", line))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pulls", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp:
        path = Path(tmp) / "repo"
        repo = git.Repo.init(path, initial_branch="main")
        with repo.config_writer() as config:
            config.set_value("user", "name", "Bench")
            config.set_value("user", "email", "bench@example.com")
        for part in ("access", "policies"):
            shutil.copytree(ROOT / part, path / part)
        (path / ".gitignore").write_text(".access-sandbox/\n.access/\n", encoding="utf-8")
        repo.index.add(["access", "policies", ".gitignore"])
        adopted = repo.index.commit("adopt").hexsha
        sim = GitHubSimulator("harborbuild/access")
        sim.direct_push(adopted, author="hbrandt")
        sandbox.reset(path, VENDORS)
        sandbox.github_file(path).write_text(sim.to_json(), encoding="utf-8")
        gate.record_apply_point(
            repo, adopted, apply_point.sandbox_key(sandbox.state_dir(path)), sandbox.github_repository(path)
        )
        first, code, out = run_apply(path)  # repairs the seed's drift: restores only
        assert code == 0, out
        floor, code, out = run_apply(path)
        assert code == 0, out

        sim = GitHubSimulator.from_json(sandbox.github_file(path).read_text(encoding="utf-8"))
        methods = ("merge", "squash", "rebase")
        for i in range(args.pulls):
            branch = f"pr-{i}"
            repo.git.checkout("-b", branch, "main")
            pingone = path / "access" / "pingone.yaml"
            member = f"{NAMES[i % len(NAMES)]}" if i < len(NAMES) else "office"
            text = pingone.read_text(encoding="utf-8")
            line = re.search(r"^(\s*VPN:\s*\[)([^\]]*)\]", text, re.M)
            assert line is not None
            if member in line.group(2):
                text = text.replace(line.group(0), line.group(0) + f"  # {i}", 1)
            else:
                text = text.replace(line.group(0), f"{line.group(1)}{line.group(2)}, {member}]", 1)
            pingone.write_text(text, encoding="utf-8")
            repo.git.add("access")
            head = repo.index.commit(f"PR {i}").hexsha
            number = sim.create_pull("cokafor", head, head_ref=branch)
            sim.review(number, "hbrandt", "APPROVED")
            repo.git.checkout("main")
            method = methods[i % 3]
            if method == "merge":
                repo.git.merge("--no-ff", branch, "-m", f"Merge #{number}")
                sim.merge(number, repo.head.commit.hexsha)
            elif method == "squash":
                repo.git.merge("--squash", branch)
                repo.git.commit("-m", f"Squash #{number}")
                sim.merge(number, repo.head.commit.hexsha, method="squash")
            else:
                base = repo.head.commit.hexsha
                repo.git.cherry_pick(f"main..{branch}")
                landed = repo.git.rev_list("--reverse", f"{base}..HEAD").split()
                sim.merge(number, landed[-1], method="rebase", landed=landed)
        sandbox.github_file(path).write_text(sim.to_json(), encoding="utf-8")
        gated, code, out = run_apply(path)
        assert code == 0, out
        applied = re.search(r"Apply: (\d+) applied", out)
        requests = github_requests(out)
        print(
            f"apply with {args.pulls} merged pull requests since the apply point: {gated:.2f} s, exit {code}, "
            f"{applied.group(1) if applied else 0} changes applied"
        )
        print(f"  GitHub requests: {requests} (floor: {args.pulls} commits + {args.pulls} review lists)")
        print(
            f"apply with nothing new (sync + plan, no GitHub): {floor:.2f} s; first apply (drift repair): {first:.2f} s"
        )
        print(f"gate cost: {gated - floor:.2f} s for {args.pulls} pull requests")


if __name__ == "__main__":
    main()
