"""The README's adoption walk, run as written in a fresh repository: init, import, validate, plan."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT

MARKER = "<!-- adoption-walk"


def adoption_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    after = readme[readme.index(MARKER) :]
    found = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert found, "the README's adoption walk has no ```sh block after its marker"
    return found.group(1)


def test_the_readme_adoption_walk_ends_in_a_plan_with_no_changes(tmp_path: Path) -> None:
    script = adoption_block()
    assert [line.split()[1] for line in script.splitlines() if line.startswith("access ")] == [
        "init", "import", "validate", "plan",
    ]  # fmt: skip
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    started = time.monotonic()
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    repo = tmp_path / "company-access"
    assert (repo / "policies/safety.yaml").is_file() and (repo / ".github/workflows/plan.yml").is_file()
    assert (repo / "access/people.yaml").is_file()
    assert result.stdout.rstrip().endswith("No changes. The vendors match the YAML.")
    assert elapsed < 60, f"the walk took {elapsed:.1f} s"
