"""CLI habits: options before or after the command, help with examples, -h, --version, --quiet,
GitHub Actions annotations, and JSON from validate and apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli import app, hoist_global_options
from tests.helpers import run_cli

COMMANDS = (
    "validate",
    "plan",
    "apply",
    "import",
    "init",
    "doctor",
    "sync",
    "demo",
    "schema",
    "drift",
    "comment",
)


def test_global_options_work_after_the_command(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        capsys, "plan", "--sandbox", "--repo", str(example_repo), "--vendor", "procore", "-q"
    )
    assert code == 0
    assert "Procore" in out and "PingOne" not in out and "SAP Concur" not in out
    assert hoist_global_options(["plan", "--vendor=concur", "--out", "x", "-q"]) == [
        "--vendor=concur", "-q", "plan", "--out", "x",
    ]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_help_has_no_type_noise_and_ends_with_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, command, "-h")
    assert code == 0
    assert "<bool>" not in out
    lines = [line.strip() for line in out.rstrip().splitlines()]
    examples = lines[lines.index("Examples:") + 1 :]
    assert 2 <= len(examples) <= 3 and all(line.startswith("access ") for line in examples)


def test_version_and_completion(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.startswith("access ") and out.strip() != "access"
    code, out, _ = run_cli(capsys, "--help")
    assert "--install-completion" in out
    assert app.info.name == "access"


def test_quiet_leaves_only_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "--repo", str(tmp_path), "import", "--sandbox", "-q")
    assert code == 0 and "people added" in out
    assert err == ""
    code, out, err = run_cli(capsys, "--repo", str(tmp_path), "plan", "--sandbox", "--quiet")
    assert code == 0 and "No changes." in out and err == ""
    code, out, err = run_cli(capsys, "--repo", str(tmp_path / "new"), "init", "-q")
    assert code == 0 and "wrote policies/safety.yaml" in out and err == ""


def test_github_actions_annotations_for_validation_errors_and_findings(
    example_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    people = example_repo / "access/people.yaml"
    people.write_text(people.read_text().replace("teams: [finance]", "teams: [fnance]", 1))
    code, _, err = run_cli(capsys, "--repo", str(example_repo), "validate")
    assert code == 1
    assert (
        "::error file=access/people.yaml,line=13::people.erin.teams: unknown team 'fnance' (did you mean 'finance'?)"
    ) in err.splitlines()
    people.write_text(people.read_text().replace("teams: [fnance]", "teams: [finance]", 1))
    code, _, err = run_cli(capsys, "--repo", str(example_repo), "plan", "--sandbox", "--format", "json")
    assert any(line.startswith("::warning file=access/pingone.yaml,line=") for line in err.splitlines())
    monkeypatch.delenv("GITHUB_ACTIONS")
    code, _, err = run_cli(capsys, "--repo", str(example_repo), "plan", "--sandbox")
    assert "::warning" not in err


def test_validate_format_json(example_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--repo", str(example_repo), "validate", "--format", "json")
    document = json.loads(out)
    assert code == 0 and document["valid"] is True and document["people"] == 13
    people = example_repo / "access/people.yaml"
    people.write_text(people.read_text().replace("teams: [finance]", "teams: [fnance]", 1))
    code, out, _ = run_cli(capsys, "--repo", str(example_repo), "validate", "--format", "json")
    document = json.loads(out)
    assert code == 1 and document["valid"] is False
    assert document["errors"][0] == {
        "file": "access/people.yaml", "line": 13,
        "message": "people.erin.teams: unknown team 'fnance' (did you mean 'finance'?)",
    }  # fmt: skip


def test_apply_format_json(example_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "--repo", str(example_repo), "apply", "--sandbox", "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["totals"]["failed"] == 0 and document["totals"]["applied"] == len(document["results"])
    assert {r["action"] for r in document["results"]} >= {"grant", "revoke"}
    assert "applied" in err  # the human lines went to stderr
