"""The code that guards access does not know its test doubles: only the sandbox imports simulators."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "reconciler"
ALLOWED = ("simulators", "sandbox")  # the simulators themselves, and the one place that plugs them in


def _imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def test_no_production_module_imports_a_simulator_even_inside_a_function() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = path.relative_to(PACKAGE).parts[0]
        if part in ALLOWED:
            continue
        offenders += [
            f"{path.relative_to(ROOT)}: {m}" for m in _imports(path) if m.startswith("reconciler.simulators")
        ]
    assert offenders == []


def test_loading_the_cli_the_gate_and_the_connectors_loads_no_simulator() -> None:
    code = (
        "import sys, reconciler.cli, reconciler.gate, reconciler.connectors.procore, "
        "reconciler.connectors.concur, reconciler.connectors.pingone\n"
        "print(sorted(m for m in sys.modules if m.startswith('reconciler.simulators')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"


def test_the_rule_is_really_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f():\n    from reconciler.simulators.github import GitHubSimulator\n", encoding="utf-8"
    )
    assert _imports(bad) == ["reconciler.simulators.github"]
