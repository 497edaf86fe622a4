"""CLI habits: options before or after the command, help with examples, -h, --version, --quiet,
GitHub Actions annotations, and JSON from validate and apply."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from reconciler.cli import app, hoist_global_options
from tests.conftest import ROOT
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
    "show",
    "why",
    "cleanup",
    "recertify",
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


# ---------------------------------------------------------------- show, colours, JSON, suggestions


def test_show_renders_a_saved_plan_as_plan_showed_it(
    example_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "plan.json"
    code, planned, _ = run_cli(capsys, "--repo", str(example_repo), "plan", "--sandbox", "--out", str(saved))
    assert code == 0 and "to grant" in planned
    code, shown, _ = run_cli(capsys, "show", str(saved))
    assert code == 0 and shown == planned
    _, markdown, _ = run_cli(capsys, "--repo", str(example_repo), "plan", "--sandbox", "--format", "markdown")
    assert run_cli(capsys, "show", str(saved), "--format", "markdown")[1] == markdown
    assert run_cli(capsys, "show", str(saved), "--format", "json")[1] == saved.read_text()


def test_show_of_something_else_says_what_a_plan_file_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "show", str(tmp_path / "missing.json"))
    assert code == 1 and f"{tmp_path / 'missing.json'}: cannot read the plan file" in err
    (tmp_path / "notes.txt").write_text("not a plan\n")
    code, _, err = run_cli(capsys, "show", str(tmp_path / "notes.txt"))
    assert code == 1
    assert err.strip() == (
        f"{tmp_path / 'notes.txt'}: plan file is not JSON: line 1: Expecting value (write one with "
        "`access plan --out FILE`)"
    )


COLOUR = re.compile(r"\x1b\[")


@pytest.mark.parametrize("how", ["--no-color", "NO_COLOR"])
def test_no_color_and_the_no_color_flag_leave_plain_text(
    how: str, example_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # as on a colour terminal
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    _, coloured, _ = run_cli(capsys, "--repo", str(example_repo), "plan", "--sandbox")
    _, _, error = run_cli(capsys, "plan", "--sandbox", "--state", "snap")
    assert COLOUR.search(coloured) and COLOUR.search(error)  # colours, unless asked not to
    flag = ["--no-color"] if how == "--no-color" else []
    if how == "NO_COLOR":
        monkeypatch.setenv("NO_COLOR", "1")
    _, plain, _ = run_cli(capsys, "--repo", str(example_repo), "plan", "--sandbox", *flag)
    _, _, error = run_cli(capsys, "plan", "--sandbox", "--state", "snap", *flag)
    assert not COLOUR.search(plain) and not COLOUR.search(error)
    assert COLOUR.sub("", coloured).replace("\x1b", "") != "" and "to grant" in plain
    assert error.strip() == "--sandbox and --state are alternatives: choose one"


def test_import_format_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "--repo", str(tmp_path), "import", "--sandbox", "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["vendors"] == ["procore", "concur", "pingone"]
    people = next(w for w in document["written"] if w["file"] == "access/people.yaml")
    assert people["counts"]["people added"] > 0
    assert "access/people.yaml: " in err  # the lines people read, on stderr


def test_why_an_unknown_person_suggests_the_closest(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "--repo", str(example_repo), "why", "carl", "--no-sync")
    assert code == 1
    assert err.strip() == (
        "no person 'carl' in access/people.yaml (did you mean 'carol' or 'oscar'?); give their key, email or GitHub "
        "login, or the email of an account nobody listed"
    )


def test_cleanup_format_json(
    git_repo: Callable[..., git.Repo], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = git_repo()
    monkeypatch.setenv("ACCESS_TODAY", "2026-10-20")  # ivan's project access ends on 2026-10-31
    code, out, err = run_cli(capsys, "--repo", str(repo.working_dir), "cleanup", "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document == {
        "pull_request": None,
        "expired": [],
        "expiring": [
            {"line": "access/procore.yaml:22", "member": "ivan",
             "resource": ["companies", "562949953421312", "projects", "Eastside Depot"], "expires": "2026-10-31"},
        ],
    }  # fmt: skip
    assert err.startswith("nothing expired; expiring soon: ivan (access/procore.yaml:22)")


# ---------------------------------------------------------------- the README a newcomer reads

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_opens_with_what_to_run_then_how_to_adopt_then_the_reference() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.DOTALL)
    assert blocks[0].strip() == (
        "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/access plan --sandbox"
    )
    assert blocks[1].strip() == (
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]' && .venv/bin/python -m pytest"
    )
    headings = re.findall(r"^## (.+)$", README, re.MULTILINE)
    assert headings[:4] == ["Try it", "Adopting it", "Commands", "The YAML"]
    assert "Python 3.11 or newer" in README.split("## Try it")[0]


def test_the_readme_command_table_is_the_cli() -> None:
    table = README[README.index("## Commands") : README.index("## The YAML")]
    rows = re.findall(r"^\| `access ([a-z-]+)(?: ([a-z-]+))?", table, re.MULTILINE)
    documented = {name for name, _ in rows}
    visible = {
        c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands if not c.hidden
    }
    visible |= {g.name for g in app.registered_groups if g.name}
    assert documented == visible


def test_every_file_the_readme_links_to_exists() -> None:
    links = re.findall(r"\]\(([^)#]+)\)", README)
    assert (
        links and [link for link in links if not link.startswith("http") and not (ROOT / link).exists()] == []
    )
    assert not [link for link in links if link.startswith("http")]  # the README points into the repository
