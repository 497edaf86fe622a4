"""The command line as a user meets it: exit codes, formats, the sandbox loop, snapshots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from tests.helpers import run_cli, write


def test_validate_exits_0_on_the_example_and_1_with_located_errors(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "--repo", str(example_repo), "validate")
    assert code == 0
    assert out.startswith("valid: 4 files, 13 people")
    people = example_repo / "access/people.yaml"
    people.write_text(people.read_text().replace("teams: [finance]", "teams: [fnance]", 1))
    code, out, err = run_cli(capsys, "--repo", str(example_repo), "validate")
    assert code == 1
    assert "access/people.yaml:13: people.erin.teams: unknown team 'fnance' (did you mean 'finance'?)" in err


def test_usage_errors_exit_1_not_2(example_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "--repo", str(example_repo), "plan", "--no-such-flag")
    assert code == 1
    assert "No such option: --no-such-flag" in err


def test_sandbox_apply_then_plan_shows_no_changes(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = ["--repo", str(example_repo)]
    assert run_cli(capsys, *repo, "sandbox", "reset")[0] == 0
    code, out, _ = run_cli(capsys, *repo, "plan", "--sandbox", "--detailed-exitcode")
    assert code == 2
    assert "~ bob: project Harbor Tower: Superintendent → Project Engineer" in out
    assert "- ivan: project Eastside Depot as Project Engineer" in out
    code, out, _ = run_cli(capsys, *repo, "apply", "--sandbox")
    assert code == 0, out
    assert "0 failed" in out
    code, out, _ = run_cli(capsys, *repo, "plan", "--sandbox", "--detailed-exitcode")
    assert code == 0
    assert "No changes." in out
    code, out, _ = run_cli(capsys, *repo, "apply", "--sandbox")
    assert code == 0
    assert out.strip().endswith("No changes. The vendors match the YAML.")
    assert run_cli(capsys, *repo, "sandbox", "reset")[0] == 0  # back to the seed: the changes return
    assert run_cli(capsys, *repo, "plan", "--sandbox", "--detailed-exitcode")[0] == 2


def test_format_json_prints_exactly_the_plan_file(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = ["--repo", str(example_repo)]
    run_cli(capsys, *repo, "sandbox", "reset")
    plan_file = example_repo / "plan.json"
    code, out, _ = run_cli(capsys, *repo, "plan", "--sandbox", "--format", "json", "--out", str(plan_file))
    assert code == 0
    assert json.loads(out) == json.loads(plan_file.read_text())
    assert json.loads(out)["format_version"] == 1


def test_sync_snapshot_replays_offline_to_the_same_plan(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = ["--repo", str(example_repo)]
    run_cli(capsys, *repo, "sandbox", "reset")
    snapshot = example_repo / "snapshot"
    assert run_cli(capsys, *repo, "sync", "--sandbox", "--out", str(snapshot))[0] == 0
    assert sorted(p.name for p in snapshot.iterdir()) == ["concur.json", "pingone.json", "procore.json"]
    live = json.loads(run_cli(capsys, *repo, "plan", "--sandbox", "--format", "json")[1])
    offline = json.loads(run_cli(capsys, *repo, "plan", "--state", str(snapshot), "--format", "json")[1])
    assert offline["changes"] == live["changes"]
    assert offline["fingerprints"] == live["fingerprints"]


def test_a_stale_plan_is_refused(example_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = ["--repo", str(example_repo)]
    run_cli(capsys, *repo, "sandbox", "reset")
    plan_file = example_repo / "plan.json"
    run_cli(capsys, *repo, "plan", "--sandbox", "--out", str(plan_file))
    run_cli(capsys, *repo, "--vendor", "procore", "apply", "--sandbox")  # the vendor moves on
    code, _, err = run_cli(capsys, *repo, "apply", str(plan_file), "--sandbox")
    assert code == 1
    assert "the plan is stale: the actual state at Procore changed since it was made" in err


def test_the_console_script_runs_and_ctrl_c_style_errors_are_short(example_repo: Path) -> None:
    env = {**os.environ, "ACCESS_TODAY": "2026-11-23"}
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "--repo", str(example_repo), "plan", "--state", "missing-dir"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "missing-dir: no snapshot for concur (concur.json)" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_console_script_prints_everything_and_keeps_its_exit_codes(
    example_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As a process the console script exits without freeing the plan's records (`entry`): the
    output must still be whole and the exit code the command's, as in-process."""
    env = {**os.environ, "ACCESS_TODAY": "2026-11-23"}
    run_cli(capsys, "--repo", str(example_repo), "sync", "--sandbox", "--out", str(tmp_path / "snap"))
    argv = ["--repo", str(example_repo), "plan", "--state", str(tmp_path / "snap"), "--format", "json"]
    in_process = run_cli(capsys, *argv, "--detailed-exitcode")
    for args, code in (([*argv, "--detailed-exitcode"], 2), (argv, 0)):
        result = subprocess.run(
            [sys.executable, "-m", "reconciler", *args], capture_output=True, text=True, env=env, check=False
        )
        assert result.returncode == code, result.stderr
        assert result.stdout == in_process[1]  # the whole plan, to its last byte
    validate = subprocess.run(
        [sys.executable, "-m", "reconciler", "--repo", str(example_repo), "validate"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert validate.returncode == 0 and validate.stdout.startswith("valid: ")


def test_plan_against_live_vendors_without_configuration_names_the_variable(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(example_repo, "access/procore.yaml", "procore:\n  companies: {}\n")
    code, _, err = run_cli(capsys, "--repo", str(example_repo), "--vendor", "procore", "plan")
    assert code == 1
    assert "PROCORE_" in err


def test_ctrl_c_exits_130(
    example_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.commands import validate as validate_cmd

    def interrupted(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(validate_cmd, "run", interrupted)
    code, _, err = run_cli(capsys, "--repo", str(example_repo), "validate")
    assert code == 130
    assert "interrupted" in err


def test_missing_credentials_of_every_vendor_are_reported_at_once(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "--repo", str(example_repo), "plan")
    assert code == 1
    assert "procore: PROCORE_CLIENT_ID, PROCORE_CLIENT_SECRET, PROCORE_COMPANY_ID are not set" in err
    assert "concur: CONCUR_CLIENT_ID" in err
    assert "pingone: set PINGONE_CLIENT_ID" in err
    assert "use --sandbox" in err


def test_the_plan_records_the_commit_it_was_made_from(
    git_repo: Callable[..., git.Repo], example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`git_commit` in the plan file: HEAD in a repository, null outside one."""
    repo = git_repo()
    root = Path(str(repo.working_tree_dir))
    for where, expected in ((root, repo.head.commit.hexsha), (example_repo, None)):
        out = where / "plan.json"
        assert run_cli(capsys, "--repo", str(where), "plan", "--sandbox", "--out", str(out))[0] == 0
        assert json.loads(out.read_text())["git_commit"] == expected
