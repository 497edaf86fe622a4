"""`access init` scaffolds a repository that installs exactly this release, never overwrites what is
there, and `--upgrade` rewrites only the files it manages that nobody changed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from reconciler import init_files, release
from reconciler.version import __version__
from tests.conftest import ROOT
from tests.helpers import run_cli
from tests.package_index import serve_directory, write_simple_index

WORKFLOWS = ("access-request.yml", "apply.yml", "drift.yml", "plan.yml", "recertify.yml", "validate.yml")
WHEEL = f"access_reconciler-{__version__}-py3-none-any.whl"
SDIST = f"access_reconciler-{__version__}.tar.gz"
CHECKOUT_LATER = "08eba0b27e820071cde6df949e0beb9ba4906955"  # a later actions/checkout than the release pins


@pytest.fixture
def index(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A loopback index serving stand-ins for this release's wheel and sdist; yields (URL, hashes)."""
    files = tmp_path / "dist"
    files.mkdir()
    (files / WHEEL).write_bytes(b"a wheel")
    (files / SDIST).write_bytes(b"an sdist")
    (files / "access_reconciler-0.0.1-py3-none-any.whl").write_bytes(b"an older release")
    write_simple_index(files, tmp_path / "index")
    hashes = {name: hashlib.sha256((files / name).read_bytes()).hexdigest() for name in (WHEEL, SDIST)}
    with serve_directory(tmp_path / "index") as url:
        yield f"{url}/simple/", hashes


def test_init_writes_the_scaffold_and_workflows_that_install_this_release(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], index: tuple[str, dict[str, str]]
) -> None:
    repo = tmp_path / "company"
    code, out, err = run_cli(capsys, "--repo", str(repo), "init", "--index-url", index[0])
    assert code == 0, err
    for name in WORKFLOWS:
        shipped = (ROOT / ".github/workflows" / name).read_text()
        written = (repo / ".github/workflows" / name).read_text()
        assert written == init_files.adopter_workflow(name, shipped)
        assert (
            "requirements.lock" not in written and "install --no-deps --no-build-isolation ." not in written
        )
        installs = [line.strip() for line in written.splitlines() if "pip install" in line]
        assert installs and set(installs) == {
            "python -m pip install --require-hashes --no-deps -r requirements-access.lock"
        }, name
    lock = (repo / "requirements-access.lock").read_text()
    assert f"access-reconciler=={__version__} \\\n" in lock
    tool = lock.split(f"access-reconciler=={__version__} \\\n", 1)[1].split("\n", 2)
    assert {line.strip(" \\").removeprefix("--hash=sha256:") for line in tool[:2]} == set(index[1].values())
    release_lock = (ROOT / "requirements.lock").read_text()
    wanted = {n: v for n, v in release.pinned(release_lock).items() if n != "setuptools"}
    assert release.pinned(lock) == {"access-reconciler": __version__, **wanted}
    assert "--hash=sha256:" in lock and "setuptools" not in lock
    # The rest a repository needs.
    template = yaml.safe_load((repo / ".github/ISSUE_TEMPLATE/access-request.yml").read_text())
    assert template["labels"] == ["access-request"]  # what access-request.yml's `if:` looks for
    assert "/policies/ @" in (repo / ".github/CODEOWNERS").read_text()
    dependabot = yaml.safe_load((repo / ".github/dependabot.yml").read_text())
    assert dependabot["updates"][0]["package-ecosystem"] == "github-actions"
    hooks = yaml.safe_load((repo / ".pre-commit-config.yaml").read_text())["repos"][0]
    assert hooks["rev"] == f"v{__version__}" and hooks["hooks"] == [{"id": "access-validate"}]
    assert "recertification:" in (repo / "policies/recertification.yaml").read_text()
    assert "wrote policies/safety.yaml" in out and "wrote requirements-access.lock" in out
    assert (repo / "schema/access.schema.json").is_file()
    assert ".access-sandbox/" in (repo / ".gitignore").read_text()
    manifest = json.loads((repo / ".github/access-init.json").read_text())
    assert manifest["access"] == __version__
    assert set(manifest["files"]) == {
        *(f".github/workflows/{n}" for n in WORKFLOWS), ".github/ISSUE_TEMPLATE/access-request.yml",
        ".github/dependabot.yml", ".pre-commit-config.yaml", "requirements-access.lock",
        "schema/access.schema.json", "schema/policies.schema.json",
    }  # fmt: skip
    assert "access import" in err  # the next steps
    assert run_cli(capsys, "--repo", str(repo), "validate")[0] == 0  # the safe defaults load


def test_a_development_build_writes_no_lock_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "--repo", str(tmp_path), "init")
    assert code == 0, err
    assert not (tmp_path / "requirements-access.lock").exists()
    assert "requirements-access.lock not written: this access is a development build" in err
    assert "--index-url" in err and "wrote .github/workflows/plan.yml" in out


def test_a_release_the_index_does_not_have_is_an_error_after_the_rest_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], index: tuple[str, dict[str, str]]
) -> None:
    empty = tmp_path / "empty-index"
    (tmp_path / "nothing").mkdir()
    write_simple_index(tmp_path / "nothing", empty)
    with serve_directory(empty) as url:
        code, _, err = run_cli(
            capsys, "--repo", str(tmp_path / "repo"), "init", "--index-url", f"{url}/simple/"
        )
    assert code == 1
    assert (
        f"requirements-access.lock not written: access-reconciler is not on the package index {url}/simple/"
        in err
    )
    assert (tmp_path / "repo/.github/workflows/plan.yml").is_file()
    assert not (tmp_path / "repo/requirements-access.lock").exists()
    # Credentials in the index URL are never shown.
    code, _, err = run_cli(
        capsys,
        "--repo",
        str(tmp_path / "repo"),
        "init",
        "--index-url",
        f"http://me:s3cr3t@{url[7:]}/nowhere/",
    )
    assert code == 1 and "s3cr3t" not in err and "me:" not in err


def test_init_keeps_existing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies/safety.yaml").write_text("# ours\n")
    (tmp_path / ".gitignore").write_text("node_modules/\n")
    code, _, err = run_cli(capsys, "--repo", str(tmp_path), "init")
    assert code == 0
    assert (tmp_path / "policies/safety.yaml").read_text() == "# ours\n"
    assert "kept policies/safety.yaml (exists)" in err
    assert (tmp_path / ".gitignore").read_text().startswith("node_modules/\n# access: local sandbox state")


def _as_an_older_release_wrote_it(repo: Path) -> None:
    """Make `repo` look as access 0.0.9 left it: other workflow text, a lock of 0.0.9, its record."""
    manifest = json.loads((repo / ".github/access-init.json").read_text())
    for path in manifest["files"]:
        file = repo / path
        file.write_text(file.read_text().replace("access ", "access  ", 1).replace(__version__, "0.0.9"))
        manifest["files"][path] = init_files.digest(file.read_text())
    manifest["access"] = "0.0.9"
    (repo / ".github/access-init.json").write_text(json.dumps(manifest))


def test_upgrade_rewrites_what_init_wrote_shows_the_diff_and_keeps_what_the_company_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], index: tuple[str, dict[str, str]]
) -> None:
    repo = tmp_path / "company"
    assert run_cli(capsys, "--repo", str(repo), "init", "--index-url", index[0])[0] == 0
    _as_an_older_release_wrote_it(repo)
    # The company's own edit, dependabot's newer pin, a workflow the company removed.
    validate = repo / ".github/workflows/validate.yml"
    validate.write_text(validate.read_text() + "# ours\n")
    plan = repo / ".github/workflows/plan.yml"
    pinned = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"
    assert pinned in plan.read_text()
    plan.write_text(plan.read_text().replace(pinned, f"actions/checkout@{CHECKOUT_LATER} # v4.9.0"))
    (repo / ".github/workflows/recertify.yml").unlink()
    before = {p: p.read_text() for p in repo.rglob("*") if p.is_file()}

    code, out, err = run_cli(
        capsys, "--repo", str(repo), "init", "--upgrade", "--dry-run", "--index-url", index[0]
    )
    assert code == 0, err
    assert {p: p.read_text() for p in repo.rglob("*") if p.is_file()} == before, "--dry-run writes nothing"
    assert "would upgrade .github/workflows/apply.yml" in out

    code, out, err = run_cli(capsys, "--repo", str(repo), "init", "--upgrade", "--index-url", index[0])
    assert code == 0, err
    assert "upgraded .github/workflows/apply.yml\n--- a/.github/workflows/apply.yml\n" in out
    assert "-access-reconciler==0.0.9 \\\n+access-reconciler==0.1.0 \\\n" in out  # the lock's diff
    shipped = init_files.adopter_workflow("apply.yml", (ROOT / ".github/workflows/apply.yml").read_text())
    assert (repo / ".github/workflows/apply.yml").read_text() == shipped
    assert f"access-reconciler=={__version__} " in (repo / "requirements-access.lock").read_text()
    assert f"rev: v{__version__}" in (repo / ".pre-commit-config.yaml").read_text()
    # dependabot's later pin is kept; the rest of plan.yml is the release's.
    upgraded_plan = plan.read_text()
    assert f"actions/checkout@{CHECKOUT_LATER} # v4.9.0" in upgraded_plan and pinned not in upgraded_plan
    assert upgraded_plan.replace(CHECKOUT_LATER, "11bd71901bbe5b1630ceea73d27597364c9af683").replace(
        "v4.9.0", "v4.2.2"
    ) == init_files.adopter_workflow("plan.yml", (ROOT / ".github/workflows/plan.yml").read_text())
    # The company's edit stays, with the release's diff to merge by hand; a removed file stays removed.
    assert validate.read_text() == before[validate]
    assert "kept .github/workflows/validate.yml: changed here since access init wrote it" in out
    assert "-# ours\n" in out
    assert not (repo / ".github/workflows/recertify.yml").exists()
    assert "left out .github/workflows/recertify.yml: removed here" in err
    manifest = json.loads((repo / ".github/access-init.json").read_text())
    assert manifest["access"] == __version__
    assert manifest["files"][".github/workflows/plan.yml"] == init_files.digest(upgraded_plan)
    assert manifest["files"][".github/workflows/validate.yml"] != init_files.digest(validate.read_text())

    # Again: nothing left to do, and the company's file is still theirs.
    code, out, _ = run_cli(capsys, "--repo", str(repo), "init", "--upgrade", "--index-url", index[0])
    assert code == 0 and "upgraded" not in out.replace("0 file(s) upgraded", "")
    assert "kept .github/workflows/validate.yml" in out


def test_upgrade_needs_a_release_and_never_goes_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], index: tuple[str, dict[str, str]]
) -> None:
    assert run_cli(capsys, "--repo", str(tmp_path), "init", "--index-url", index[0])[0] == 0
    before = {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    code, _, err = run_cli(capsys, "--repo", str(tmp_path), "init", "--upgrade")
    assert code == 1 and "this access is a development build" in err
    manifest = json.loads((tmp_path / ".github/access-init.json").read_text())
    manifest["access"] = "9.0.0"
    (tmp_path / ".github/access-init.json").write_text(json.dumps(manifest))
    code, _, err = run_cli(capsys, "--repo", str(tmp_path), "init", "--upgrade", "--index-url", index[0])
    assert code == 1 and "written by access 9.0.0, newer than this access" in err
    after = {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    assert {k: v for k, v in after.items() if k.name != "access-init.json"} == {
        k: v for k, v in before.items() if k.name != "access-init.json"
    }


def test_the_pins_a_dependabot_bump_moves_are_not_a_change_of_the_company() -> None:
    text = "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n"
    bumped = text.replace("11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2", f"{CHECKOUT_LATER} # v4.9.0")
    assert init_files.digest(text) == init_files.digest(bumped)
    assert init_files.digest(text) != init_files.digest(text.replace("checkout", "cache"))
    assert init_files.keep_newer_pins(bumped, text) == bumped
    assert init_files.keep_newer_pins(text, bumped) == bumped  # the release's newer pin wins too
