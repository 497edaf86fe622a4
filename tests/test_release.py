"""The release: one version, a tag that must match it and a CHANGELOG entry, and a workflow that
builds, smoke-tests, publishes and attests in that order, each job with only what it needs.
(actionlint and zizmor lint release.yml with the others in tests/test_workflows.py; it cannot run
here, so this reads it.)"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler import init_files, release
from reconciler.version import __version__
from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
CHECK = ROOT / ".ci" / "release-check"


def workflow() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    data["on"] = data.pop(True)
    assert isinstance(data, dict)
    return data


def test_the_version_is_written_once() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "reconciler.version.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    # Nothing else spells it out.
    for path in ("README.md", "Dockerfile", "setup.py", "docs/adopting.md"):
        assert f"=={__version__}" not in (ROOT / path).read_text(encoding="utf-8"), path


def _check(tmp_path: Path, tag: str, changelog: str) -> subprocess.CompletedProcess[str]:
    """.ci/release-check against a copy of the tree with `changelog` as CHANGELOG.md."""
    (tmp_path / ".ci").mkdir(exist_ok=True)
    (tmp_path / "reconciler").mkdir(exist_ok=True)
    (tmp_path / ".ci" / "release-check").write_text(CHECK.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "reconciler" / "version.py").write_text(
        (ROOT / "reconciler" / "version.py").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "CHANGELOG.md").write_text(changelog, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(tmp_path / ".ci" / "release-check"), tag, str(tmp_path / "notes.md")],
        capture_output=True, text=True, check=False, env={"GITHUB_OUTPUT": str(tmp_path / "output")},
    )  # fmt: skip


def test_the_release_check_passes_this_tree() -> None:
    done = subprocess.run(
        [sys.executable, str(CHECK), f"v{__version__}"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("tag", "changelog", "message"),
    [
        ("v9.9.9", f"## [{__version__}] - 2026-12-07\n\n- x\n", f"the tag v9.9.9 is not v{__version__}"),
        (
            f"v{__version__}",
            "## [0.0.1] - 2026-01-01\n\n- x\n",
            f"CHANGELOG.md has no entry `## [{__version__}]",
        ),
        (f"v{__version__}", f"## [{__version__}]\n\n- x\n", "has no date"),
        (f"v{__version__}", f"## [{__version__}] - 2026-12-07\n\n", "says nothing"),
        (
            f"v{__version__}",
            f"## [Unreleased]\n\n- y\n\n## [{__version__}] - 2026-12-07\n\n- x\n",
            "`## [Unreleased]` still has entries",
        ),
    ],
)
def test_the_release_check_refuses(tmp_path: Path, tag: str, changelog: str, message: str) -> None:
    done = _check(tmp_path, tag, changelog)
    assert done.returncode == 1 and message in done.stderr, done.stderr


def test_the_release_check_writes_the_notes_and_the_version(tmp_path: Path) -> None:
    changelog = f"# Changelog\n\n## [Unreleased]\n\n## [{__version__}] - 2026-12-07\n\n- first\n\n## [0.0.1] - 2026-01-01\n\n- old\n"
    done = _check(tmp_path, f"v{__version__}", changelog)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "notes.md").read_text() == "- first\n"
    assert (tmp_path / "output").read_text() == f"version={__version__}\n"


def _steps(job: dict[str, Any]) -> list[str]:
    return [s.get("name") or s["uses"].split("@")[0] for s in job["steps"]]


def test_the_release_workflow_runs_on_tags_and_checks_before_it_builds() -> None:
    data = workflow()
    assert data["on"] == {"push": {"tags": ["v*"]}}
    jobs = data["jobs"]
    assert jobs["check"]["steps"][-1]["run"] == 'python3 .ci/release-check "$TAG"'
    assert jobs["build"]["needs"] == "check" and jobs["image"]["needs"] == "check"
    # PyPI only after the image passed its smoke test; the GitHub release last.
    assert set(jobs["pypi"]["needs"]) == {"build", "image"}
    assert "pypi" in jobs["release"]["needs"]


def test_the_release_builds_from_the_hash_pinned_locks_and_attests_what_it_publishes() -> None:
    jobs = workflow()["jobs"]
    build = jobs["build"]
    installs = [s["run"] for s in build["steps"] if "pip install" in s.get("run", "")]
    assert installs == [
        "python -m pip install --require-hashes --no-deps -r requirements.lock -r .ci/build-requirements.lock"
    ]
    lock = (ROOT / ".ci" / "build-requirements.lock").read_text(encoding="utf-8")
    assert (
        set(release.pinned(lock)) == {"build", "packaging", "pyproject-hooks"}
        and lock.count("--hash=sha256:") == 3
    )
    script = next(s["run"] for s in build["steps"] if "python -m build" in s.get("run", ""))
    assert "--no-isolation" in script and "SOURCE_DATE_EPOCH" in script
    assert _steps(build).index("Attest the sdist and the wheel") > _steps(build).index(
        "Build the sdist and the wheel"
    )
    image = _steps(jobs["image"])
    assert (
        image.index("Build the image")
        < image.index("Smoke-test the image (as CI does)")
        < image.index("Push the image")
        < image.index("Attest the image")
    )
    smoke = next(s for s in jobs["image"]["steps"] if s.get("name", "").startswith("Smoke-test"))
    assert smoke["run"].startswith("bash .ci/container-test "), (
        "the same smoke test as tests/test_container.py"
    )
    attest = next(s for s in jobs["image"]["steps"] if s.get("name") == "Attest the image")
    assert attest["with"]["subject-digest"] == "${{ steps.push.outputs.digest }}"
    publish = jobs["pypi"]["steps"][-1]
    assert publish["uses"].startswith("pypa/gh-action-pypi-publish@") and "with" not in publish, "no token"


def test_each_release_job_holds_only_what_it_needs() -> None:
    jobs = workflow()["jobs"]
    assert jobs["check"]["permissions"] == {"contents": "read"}
    assert jobs["build"]["permissions"] == {"contents": "read", "id-token": "write", "attestations": "write"}
    assert jobs["image"]["permissions"] == {
        "contents": "read", "packages": "write", "id-token": "write", "attestations": "write",
    }  # fmt: skip
    assert jobs["pypi"]["permissions"] == {"id-token": "write"}
    assert jobs["pypi"]["environment"]["name"] == "pypi"
    assert jobs["release"]["permissions"] == {"contents": "write"}
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "secrets." not in text, "trusted publishing and the job token: no stored secret"
    for job in jobs.values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), "no expression expanded inside a script"
            if "actions/checkout@" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is False


def test_the_release_workflow_is_not_written_into_a_companys_repository() -> None:
    setup = (ROOT / "setup.py").read_text(encoding="utf-8")
    shipped_elsewhere = set(re.findall(r'"\.github/workflows/([^"]+)"', setup.split("NOT_SHIPPED =", 1)[1]))
    assert shipped_elsewhere == set(init_files.NOT_SHIPPED) == {"release.yml"}
