"""`access init` scaffolds a repository and never overwrites what is there."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import run_cli


def test_init_writes_the_scaffold_and_the_workflows_this_version_ships(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "--repo", str(tmp_path), "init")
    assert code == 0, err
    for name in ("plan.yml", "apply.yml", "drift.yml"):
        shipped = (ROOT / ".github/workflows" / name).read_text()
        assert (tmp_path / ".github/workflows" / name).read_text() == shipped
    assert "wrote policies/safety.yaml" in out
    assert (tmp_path / "schema/access.schema.json").is_file()
    assert ".access-sandbox/" in (tmp_path / ".gitignore").read_text()
    assert "access import" in err  # the next steps
    assert run_cli(capsys, "--repo", str(tmp_path), "validate")[0] == 0  # the safe defaults load


def test_init_keeps_existing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies/safety.yaml").write_text("# ours\n")
    (tmp_path / ".gitignore").write_text("node_modules/\n")
    code, _, err = run_cli(capsys, "--repo", str(tmp_path), "init")
    assert code == 0
    assert (tmp_path / "policies/safety.yaml").read_text() == "# ours\n"
    assert "kept policies/safety.yaml (exists)" in err
    assert (tmp_path / ".gitignore").read_text().startswith("node_modules/\n# access: local sandbox state")
