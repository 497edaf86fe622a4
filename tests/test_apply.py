"""Apply that survives faults: one at a time, safety limits, and a kill -9 mid-apply then resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from reconciler import cli, gate, sandbox
from reconciler.lock import apply_lock
from reconciler.sandbox.pingone import (
    SANDBOX_CLIENT_ID,
    SANDBOX_ENVIRONMENT,
    SANDBOX_SECRET,
    STATE_FILE,
    seed_state,
)
from reconciler.sandbox.pingone import write_state as write_pingone
from reconciler.simulators.github import DEFAULT_TOKEN, GitHubSimulator
from reconciler.simulators.pingone import PingOneSimulator
from reconciler.simulators.serve import serve
from reconciler.vendors import VENDORS

ACCESS = Path(sys.executable).parent / "access"


def access(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--repo", str(repo), *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_a_second_apply_is_refused_while_one_runs(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.reset(example_repo, VENDORS)
    with apply_lock(sandbox.state_dir(example_repo)):
        code, _, err = access(capsys, example_repo, "apply", "--sandbox")
    assert code == 1
    assert f"another `access apply` is running (pid {os.getpid()} on " in err
    assert "two applies must not interleave" in err
    code, out, _ = access(capsys, example_repo, "plan", "--sandbox")
    assert "Plan: " in out, "the refused apply changed nothing"
    assert access(capsys, example_repo, "apply", "--sandbox")[0] == 0, "the lock is released with its holder"


def set_limits(repo: Path, text: str) -> None:
    path = repo / "policies" / "safety.yaml"
    source = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"^limits:\n(  .*\n)+", f"limits:\n{text}", source, flags=re.M), encoding="utf-8")


def test_mass_revocation_is_refused_unless_overridden(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_limits(example_repo, "  max_revocations: 2\n")
    sandbox.reset(example_repo, VENDORS)
    code, out, err = access(capsys, example_repo, "apply", "--sandbox")
    assert code == 1
    assert "refusing to apply (nothing was changed):" in err
    assert re.search(
        r"refusing to make \d+ revocations and deactivations \(limit: 2\); pass --allow-mass-revocation", err
    )
    assert "applied" not in out
    code, out, _ = access(capsys, example_repo, "apply", "--sandbox", "--allow-mass-revocation")
    assert code == 0, out
    assert "applied - " in out


def test_a_vendor_that_suddenly_has_no_accounts_is_refused(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.reset(example_repo, VENDORS)
    empty = seed_state()  # a wrong environment looks like this: nobody there
    empty.users.clear()
    empty.direct.clear()
    empty.assignments.clear()
    empty.reindex()
    write_pingone(sandbox.state_dir(example_repo) / STATE_FILE, empty)
    code, out, err = access(capsys, example_repo, "apply", "--sandbox")
    assert code == 1
    assert "PingOne: the sync returned no accounts where the last one had" in err
    assert "pass --allow-empty-vendor if intended" in err
    code, out, _ = access(capsys, example_repo, "apply", "--sandbox", "--allow-empty-vendor")
    assert code == 0, out


# ---------------------------------------------------------------- kill -9 mid-apply, then resume


def _writes(sim: PingOneSimulator) -> Counter[tuple[str, str, bytes]]:
    return Counter(
        (r.method, r.url.path, r.content)
        for r in sim.log
        if r.method != "GET" and not r.url.path.endswith("/as/token")
    )


def _journal(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_killed_apply_resumes_without_applying_anything_twice(
    git_repo: Callable[..., git.Repo], tmp_path: Path
) -> None:
    repo = git_repo()
    root = Path(repo.working_tree_dir or ".")
    vpn = root / "access" / "pingone.yaml"
    text = vpn.read_text(encoding="utf-8")
    vpn.write_text(
        re.sub(r"(VPN: \[[^\]]*)\]", r"\1, carol, dan, judy, erin, frank, nina]", text), encoding="utf-8"
    )
    repo.index.add(["access"])
    repo.index.commit("more VPN")
    key = "test-apply-point-key-0123456789abcdef"
    gate.record_apply_point(
        repo, str(repo.head.commit.hexsha), key.encode(), "harborbuild/access"
    )  # drift repair only

    pingone = PingOneSimulator(seed_state())
    pingone.keep_log = True
    github = GitHubSimulator("harborbuild/access")
    state = tmp_path / "state"
    with serve(pingone.handle) as pingone_url, serve(github.handle) as github_url:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PINGONE_", "GITHUB_"))},
            "PINGONE_CLIENT_ID": SANDBOX_CLIENT_ID,
            "PINGONE_CLIENT_SECRET": SANDBOX_SECRET,
            "PINGONE_ENVIRONMENT_ID": SANDBOX_ENVIRONMENT,
            "PINGONE_API_URL": f"{pingone_url}/v1",
            "PINGONE_AUTH_URL": pingone_url,
            "GITHUB_API_URL": github_url,
            "GITHUB_REPOSITORY": "harborbuild/access",
            "GITHUB_TOKEN": DEFAULT_TOKEN,
            "ACCESS_STATE_DIR": str(state),
            "ACCESS_ALLOW_HOSTS": pingone_url.removeprefix("http://"),
            "ACCESS_APPLY_POINT_KEY": key,
        }
        command = [str(ACCESS), "--repo", str(root), "--vendor", "pingone", "apply"]
        process = subprocess.Popen(
            command, env={**env, "ACCESS_TEST_HANG_AFTER": "3"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("test hook: hanging after 3 outcomes"):
                break
        else:
            pytest.fail(f"the apply never reached the hook: {process.communicate()}")
        process.send_signal(signal.SIGKILL)  # kill -9 between changes
        process.communicate(timeout=10)
        assert process.returncode == -signal.SIGKILL

        first = _journal(state / "journal.jsonl")
        assert [e["event"] for e in first] == ["start", "outcome", "outcome", "outcome"], (
            "no `end`: interrupted"
        )
        done_first = {e["identity"] for e in first if e["event"] == "outcome"}

        resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert f"resuming interrupted apply {first[0]['run']}" in resumed.stderr
        assert "audit log: " in resumed.stderr

        entries = _journal(state / "journal.jsonl")
        second = [e for e in entries if e["run"] != first[0]["run"]]
        assert second[0]["event"] == "start" and second[0]["resumes"] == first[0]["run"]
        assert second[-1]["event"] == "end"
        done_second = [e["identity"] for e in second if e["event"] == "outcome" and e["outcome"] == "applied"]
        assert not done_first & set(done_second), "nothing the killed run finished was applied again"
        # Changes in flight at the kill reached PingOne without a journal line: the re-sync sees them
        # done, so they are not in the resumed plan at all.

        repeated = {key: n for key, n in _writes(pingone).items() if n > 1}
        assert not repeated, f"writes sent twice to PingOne: {repeated}"

        again = subprocess.run(
            [str(ACCESS), "--repo", str(root), "--vendor", "pingone", "plan", "--detailed-exitcode"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert again.returncode == 0, again.stdout
    audit = [json.loads(line) for line in (state / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    applied = [a for a in audit if a["outcome"] == "applied"]
    assert len({(a["action"], a["principal"], a["resource"]) for a in applied}) == len(applied)
    assert all(a["basis"] == "restores" for a in applied)
