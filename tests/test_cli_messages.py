"""Messages a new user met on a first walk (issue #22), each checked as they saw it: the console
script in its own process, in the directory they ran it from."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import git
import pytest

from tests.conftest import ROOT


def access(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`access ARGS` as a process in `cwd`, with this checkout's code and no terminal on stdin."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd, env=environment, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


@contextmanager
def sandbox_served(repo: Path) -> Iterator[dict[str, str]]:
    """`access sandbox serve` in `repo`, as a user starts it; yields the variables it printed."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-m", "reconciler", "sandbox", "serve"],
        cwd=repo, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    ) as server:  # fmt: skip
        try:
            assert server.stdout is not None
            exported: dict[str, str] = {}
            while "ACCESS_ALLOW_HOSTS" not in exported:
                line = server.stdout.readline()
                assert line.startswith("export "), line
                key, _, value = line.removeprefix("export ").rstrip("\n").partition("=")
                exported[key] = shlex.split(value)[0]
            yield exported
        finally:
            server.send_signal(signal.SIGINT)  # Ctrl-C: the state is saved
            server.wait(timeout=30)


# ---------------------------------------------------------------- concur setup without a terminal


def test_concur_setup_without_a_terminal_names_what_to_pass_and_exits_1(tmp_path: Path) -> None:
    result = access("concur", "setup", cwd=tmp_path)
    assert result.returncode == 1
    assert "Company id:" not in result.stdout + result.stderr  # no prompt nobody can answer
    assert result.stderr.strip() == (
        "concur setup: stdin is not a terminal, so nothing can be asked for; pass --company-id or set "
        "CONCUR_COMPANY_ID; pass --client-id or set CONCUR_CLIENT_ID; set CONCUR_CLIENT_SECRET; set "
        "CONCUR_REQUEST_TOKEN"
    )
    given = access("concur", "setup", "--company-id", "c-1", cwd=tmp_path, env={"CONCUR_CLIENT_ID": "app"})
    assert given.returncode == 1
    assert given.stderr.strip().endswith(
        "nothing can be asked for; set CONCUR_CLIENT_SECRET; set CONCUR_REQUEST_TOKEN"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
def test_concur_setup_on_a_terminal_still_asks(tmp_path: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "concur", "setup"],
        cwd=tmp_path, env=environment, stdin=follower, stdout=follower, stderr=follower,
    )  # fmt: skip
    os.close(follower)
    try:
        seen = b""
        while b"Company id:" not in seen:
            chunk = os.read(leader, 1024)
            assert chunk, seen
            seen += chunk
    finally:
        process.kill()
        process.wait(timeout=30)
        os.close(leader)


# ---------------------------------------------------------------- a repository git refuses to read


def test_a_repository_of_another_user_is_named_with_its_fix(git_repo: Callable[..., git.Repo]) -> None:
    """`docker run -v "$PWD:/repo"`: the mount belongs to another uid and git refuses it. Every
    command that reads git says so in one line with the fix; plan writes no plan without its commit."""
    root = Path(str(git_repo().working_tree_dir)).resolve()
    refused = {"GIT_TEST_ASSUME_DIFFERENT_OWNER": "1"}  # git's own switch for "another user owns it"
    expected = (
        f"git refuses to read the repository at {root}: it belongs to another user (git's dubious ownership "
        f"check); if you trust it, run: git config --global --add safe.directory {root}"
    )
    for args in (
        ("plan", "--sandbox", "--out", "plan.json"),
        ("apply", "--sandbox"),
        ("why", "alice", "--no-sync"),
        ("audit", "verify", "--sandbox"),
    ):
        result = access(*args, cwd=root, env=refused)
        assert result.returncode == 1, args
        assert result.stderr.strip().splitlines()[-1] == expected, args
    assert not (root / "plan.json").exists()
    assert access("validate", cwd=root, env=refused).returncode == 0  # no git needed: no refusal
    trusted = access("plan", "--sandbox", "--out", "plan.json", cwd=root)
    assert trusted.returncode == 0, trusted.stderr
    assert json.loads((root / "plan.json").read_text())["git_commit"] is not None


# ---------------------------------------------------------------- run from a subdirectory


def test_every_command_finds_the_repository_upward_as_git_does(example_repo: Path) -> None:
    """`cd access && access validate` reads the same repository as the root; paths given on the
    command line stay relative to where the command was run."""
    deeper = example_repo / "access" / "notes"
    deeper.mkdir()
    at_root = access("validate", cwd=example_repo)
    assert at_root.returncode == 0 and at_root.stdout.startswith("valid: 4 files"), at_root.stderr
    for where in (example_repo / "access", deeper):
        assert access("validate", cwd=where).stdout == at_root.stdout
        planned = access("plan", "--sandbox", "--out", "plan.json", "--format", "json", cwd=where)
        assert planned.returncode == 0, planned.stderr
        assert (where / "plan.json").read_text() == planned.stdout  # --out: where it was run
        assert json.loads(planned.stdout)["summary"]
    assert (example_repo / ".access-sandbox").is_dir()  # the sandbox of the repository, not of access/
    assert not (example_repo / "access" / ".access-sandbox").exists()
    assert access("--repo", "..", "validate", cwd=example_repo / "access").stdout == at_root.stdout


def test_the_search_stops_at_the_git_work_tree_and_init_scaffolds_a_new_folder_where_it_is(
    git_repo: Callable[..., git.Repo],
) -> None:
    """A folder named access/ above the repository is not taken for it. `access init` in a new folder
    scaffolds that folder (not the repository around it); in an existing one's subdirectory, the
    existing one, as from its root."""
    root = Path(str(git_repo().working_tree_dir))
    inner = root / "tools"  # a repository of its own inside the example's
    git.Repo.init(inner)
    (inner / "sub").mkdir()
    result = access("validate", cwd=inner / "sub")
    assert result.returncode == 1
    assert result.stderr.strip() == "../access: no such directory (is --repo the repository root?)"
    assert access("init", "-q", cwd=inner / "sub").returncode == 0
    assert (inner / "sub" / "policies" / "safety.yaml").is_file() and not (inner / "policies").exists()
    (root / "policies" / "safety.yaml").unlink()
    again = access("init", "-q", cwd=root / "access")
    assert again.returncode == 0, again.stderr
    assert (root / "policies" / "safety.yaml").is_file()
    assert not (root / "access" / "policies").exists()


# ---------------------------------------------------------------- held back: one sentence per cause


def paren_depth(line: str) -> int:
    depth = deepest = 0
    for char in line:
        depth += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, depth)
    return deepest


def test_a_change_held_without_github_says_why_without_nested_parentheses(
    git_repo: Callable[..., git.Repo], tmp_path: Path
) -> None:
    repo = git_repo()
    repo.create_remote("origin", "https://github.com/acme/access.git")
    root = Path(str(repo.working_tree_dir))
    env = {"ACCESS_APPLY_POINT_KEY": "ab" * 32}
    assert access("apply-point", "set", "HEAD", cwd=root, env=env).returncode == 0
    assert access("sync", "--sandbox", "--out", str(tmp_path / "snap"), cwd=root).returncode == 0
    procore = root / "access" / "procore.yaml"
    procore.write_text(procore.read_text().replace(": Project Engineer", ": Project Manager", 1))
    repo.index.add(["access/procore.yaml"])
    repo.index.commit("a direct push")
    result = access("apply", "--dry-run", "--state", str(tmp_path / "snap"), cwd=root, env=env)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "held" in result.stdout
    assert (
        "brought this change without a merged pull request; open a pull request so that someone approves "
        "it. GitHub is not configured, so no pull request was looked up: GITHUB_TOKEN is not set; in a "
        "workflow, give it with `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`; locally, `gh auth login` is "
        "enough: access asks `gh auth token`"
    ) in result.stdout  # the repository came from the origin remote
    assert [line for line in output.splitlines() if paren_depth(line) > 1] == []


# ---------------------------------------------------------------- the sandbox over loopback


@pytest.mark.loopback
def test_served_sandbox_paths_are_absolute_and_the_host_opt_in_is_one_line_even_with_q(
    example_repo: Path, tmp_path: Path
) -> None:
    """`access sandbox serve` prints variables that mean the same from any directory; a plan that
    uses them names the opted-in hosts once, in one line, with --quiet too."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with sandbox_served(example_repo) as served:
        token_file = Path(served["CONCUR_TOKEN_FILE"])
        assert token_file.is_absolute() and token_file.parent == example_repo / ".access-sandbox"
        result = access("--repo", str(example_repo), "plan", "-q", cwd=elsewhere, env=served)
    assert result.returncode == 0, result.stderr
    assert not (elsewhere / ".access-sandbox").exists()
    hosts = {
        served[name].removeprefix("http://").split("/")[0]
        for name in ("PROCORE_API_URL", "CONCUR_GEOLOCATION", "PINGONE_API_URL")
    }
    (line,) = result.stderr.splitlines()
    assert line.startswith("warning: ACCESS_ALLOW_HOSTS: credentials go to ")
    assert all(f"{host} (" in line for host in hosts) and line.endswith("no vendor documents these hosts")


@pytest.mark.loopback
def test_a_pingone_token_refusal_names_the_environment_setting_in_effect(example_repo: Path) -> None:
    """Without PINGONE_AUTH_ENVIRONMENT_ID the worker app's environment is PINGONE_ENVIRONMENT_ID:
    that is the setting to check, never one the user did not set."""
    wrong = "00000000-0000-0000-0000-000000000000"
    with sandbox_served(example_repo) as served:
        environment = served["PINGONE_ENVIRONMENT_ID"]

        def plan(**env: str) -> str:
            result = access("--vendor", "pingone", "plan", "-q", cwd=example_repo, env={**served, **env})
            assert result.returncode == 1
            return result.stderr.strip().splitlines()[-1]

        unknown = plan(PINGONE_ENVIRONMENT_ID=wrong)
        refused = plan(PINGONE_CLIENT_SECRET="not-the-secret")
        elsewhere = plan(PINGONE_CLIENT_SECRET="not-the-secret", PINGONE_AUTH_ENVIRONMENT_ID=environment)
    assert f"knows no environment {wrong}" in unknown and "check PINGONE_ENVIRONMENT_ID " in unknown
    assert "HTTP 401" in refused and f"PINGONE_ENVIRONMENT_ID={environment} (the environment" in refused
    assert f"PINGONE_AUTH_ENVIRONMENT_ID={environment} (the environment" in elsewhere
    assert all("PINGONE_AUTH_ENVIRONMENT_ID" not in line for line in (unknown, refused))


# ---------------------------------------------------------------- progress in a log


@pytest.mark.loopback
def test_without_a_terminal_a_long_sync_prints_plain_progress_lines_on_stderr(example_repo: Path) -> None:
    """A CI log shows how far each vendor got while it is read; stdout stays the JSON; -q hides it."""
    from urllib.parse import urlsplit

    from reconciler.simulators.procore import ProcoreSimulator
    from reconciler.simulators.procore_state import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, demo_state
    from reconciler.simulators.serve import serve

    simulator = ProcoreSimulator(demo_state())
    with serve(simulator.handle, latency=0.25) as url:  # a slow vendor: the sync takes a second or two
        env = {
            "PROCORE_API_URL": url, "PROCORE_LOGIN_URL": url, "ACCESS_ALLOW_HOSTS": urlsplit(url).netloc,
            "PROCORE_CLIENT_ID": SANDBOX_CLIENT_ID, "PROCORE_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
            "PROCORE_COMPANY_ID": ",".join(str(c) for c in simulator.state.companies),
            "ACCESS_PROGRESS_INTERVAL": "0.2",
        }  # fmt: skip
        argv = ("--vendor", "procore", "plan", "--format", "json")
        result = access(*argv, cwd=example_repo, env=env)
        quiet = access(*argv, "-q", cwd=example_repo, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["format_version"] == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("syncing procore: ")]
    assert lines, result.stderr
    assert all(
        re.fullmatch(r"syncing procore: \d+ requests, \d+ pages, \d+ resources after [\d.]+ s", x)
        for x in lines
    )
    assert int(lines[-1].split()[2]) > 0  # requests counted as they were made
    assert quiet.returncode == 0 and "syncing" not in quiet.stderr
