"""GitHub on a laptop without hand-set variables: the repository from the origin remote, the token
from `gh auth token`, the default branch from the remote (a `master` repository works)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import git
import pytest

from reconciler import github_local
from reconciler.scrub import Scrubber, scrubbing
from reconciler.simulators.github import DEFAULT_TOKEN, GitHubSimulator
from reconciler.simulators.github_git import git_branches
from reconciler.simulators.serve import serve
from tests.test_request import access

GITHUB_URL = "https://github.com/harborbuild/access.git"


def fake_gh(directory: Path, monkeypatch: pytest.MonkeyPatch, token: str | None) -> Path:
    """A `gh` first on PATH: logged in with `token` (recording what it was asked), or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "gh"
    answer = f'echo "{token}"' if token else 'echo "You are not logged into any GitHub hosts." >&2; exit 1'
    script.write_text(
        textwrap.dedent(f"""\
            #!/bin/sh
            echo "$@" >> "{directory}/asked"
            {answer}
            """),
        encoding="utf-8",
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    return directory / "asked"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/harborbuild/access.git", "harborbuild/access"),
        ("https://github.com/harborbuild/access", "harborbuild/access"),
        ("https://x-access-token@github.com/harborbuild/access.git/", "harborbuild/access"),
        ("git@github.com:harborbuild/access.git", "harborbuild/access"),
        ("ssh://git@github.com/harborbuild/access.git", "harborbuild/access"),
        ("ssh://git@github.com:22/harborbuild/access", "harborbuild/access"),
        ("https://gitlab.com/harborbuild/access.git", None),
        ("https://github.com.evil.example/harborbuild/access.git", None),
        ("/srv/git/access.git", None),
        ("https://github.com/harborbuild/access/extra", None),
    ],
)
def test_the_repository_is_read_from_a_github_remote_url_only(url: str, expected: str | None) -> None:
    assert github_local.repository_of_url(url) == expected


def test_github_enterprise_remotes_are_read_on_the_api_urls_host() -> None:
    env = {"GITHUB_API_URL": "https://ghe.harborbuild.example/api/v3"}
    host = github_local.web_host(env)
    assert host == "ghe.harborbuild.example"
    assert github_local.repository_of_url("git@ghe.harborbuild.example:it/access.git", host) == "it/access"
    assert github_local.repository_of_url("git@gitlab.com:it/access.git", host) is None


@pytest.fixture
def clone(git_repo: Callable[..., git.Repo], tmp_path: Path) -> Callable[..., tuple[git.Repo, Path]]:
    """A working clone whose origin is a bare repository with default branch `branch`, reached
    through its github.com URL (`url.<path>.insteadOf`, so git never leaves the machine)."""

    def make(branch: str = "master", *, set_head: bool = True) -> tuple[git.Repo, Path]:
        seed = git_repo("seed")
        seed.git.branch("-m", "main", branch)
        origin = tmp_path / "origin.git"
        git.Repo.clone_from(seed.working_dir, origin, bare=True)
        work = git.Repo.clone_from(str(origin), tmp_path / "work")
        with work.config_writer() as config:
            config.set_value(f'url "{origin}"', "insteadOf", GITHUB_URL)
            config.set_value("user", "name", "Test User")
            config.set_value("user", "email", "test@example.com")
        work.git.remote("set-url", "origin", GITHUB_URL)
        if not set_head:
            work.git.symbolic_ref("--delete", "refs/remotes/origin/HEAD")
        return work, origin

    return make


def test_the_default_branch_comes_from_the_clone_or_else_from_the_remote(
    clone: Callable[..., tuple[git.Repo, Path]],
) -> None:
    work, _ = clone("master")
    path = Path(work.working_dir)
    assert github_local.default_branch(path) == "master"  # refs/remotes/origin/HEAD, as cloned
    work.git.symbolic_ref("--delete", "refs/remotes/origin/HEAD")
    assert github_local.default_branch(path, ask_remote=False) is None
    assert github_local.default_branch(path) == "master"  # asked of the remote: ls-remote --symref


def test_when_the_default_branch_cannot_be_told_the_message_names_base(
    clone: Callable[..., tuple[git.Repo, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    work, origin = clone("master", set_head=False)
    git.Repo(origin).git.symbolic_ref("HEAD", "refs/heads/gone")  # the remote's HEAD names no branch
    code, _, err = access(capsys, Path(work.working_dir), "cleanup")
    assert code == 1
    assert "no branch 'main'" in err or "git fetch origin main failed" in err
    assert "name it with --base BRANCH" in err
    code, _, err = access(capsys, Path(work.working_dir), "cleanup", "--base", "master")
    assert "--base" not in err and "GITHUB_TOKEN is not set" in err  # past the branch, on to GitHub


@pytest.fixture
def github_for(
    clone: Callable[..., tuple[git.Repo, Path]],
) -> Iterator[tuple[git.Repo, GitHubSimulator, str]]:
    work, origin = clone("master", set_head=False)
    sim = GitHubSimulator("harborbuild/access", state=None)
    sim.state.repos.clear()
    sim.add_repo("harborbuild/access", default_branch="master")
    sim.branch_source = git_branches(origin)
    with serve(sim.handle) as url:
        yield work, sim, url


def test_request_without_variables_uses_the_origin_remote_gh_and_the_default_branch(
    github_for: tuple[git.Repo, GitHubSimulator, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    work, sim, url = github_for
    monkeypatch.setenv("GITHUB_API_URL", url)  # the simulator; GITHUB_REPOSITORY and GITHUB_TOKEN unset
    asked = fake_gh(tmp_path / "bin", monkeypatch, DEFAULT_TOKEN)
    code, out, err = access(
        capsys, Path(work.working_dir), "request", "judy", "Pier 7 Retrofit", "Project Engineer",
        "--reason", "PROC-412", "--no-sync",
    )  # fmt: skip
    assert code == 0, err
    assert "opened pull request #1" in out
    pull = sim.repo("harborbuild/access").pulls[1]
    assert pull.base_ref == "master"
    assert asked.read_text().split() == ["auth", "token", "--hostname", "github.com"]
    assert DEFAULT_TOKEN not in out + err


def test_cleanup_in_a_master_repository_opens_its_pull_request_against_master(
    github_for: tuple[git.Repo, GitHubSimulator, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work, sim, url = github_for
    for name, value in {"GITHUB_API_URL": url, "GITHUB_TOKEN": DEFAULT_TOKEN}.items():
        monkeypatch.setenv(name, value)  # GITHUB_REPOSITORY unset: the origin remote names it
    code, out, err = access(capsys, Path(work.working_dir), "cleanup")
    assert code == 0, err
    assert out.startswith("opened pull request #1")
    assert sim.repo("harborbuild/access").pulls[1].base_ref == "master"


def test_without_gh_or_a_token_the_message_says_how_to_log_in(
    github_for: tuple[git.Repo, GitHubSimulator, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    work, _, url = github_for
    monkeypatch.setenv("GITHUB_API_URL", url)
    fake_gh(tmp_path / "bin", monkeypatch, None)
    code, _, err = access(
        capsys, Path(work.working_dir), "request", "judy", "Pier 7 Retrofit", "Project Engineer", "--no-sync"
    )
    assert code == 1
    assert "GITHUB_TOKEN is not set" in err and "`gh auth login`" in err


def test_inside_github_actions_gh_is_never_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, git_repo: Callable[..., git.Repo]
) -> None:
    repo = git_repo()
    asked = fake_gh(tmp_path / "bin", monkeypatch, "gho_fromgh0000000000000000000000000000")
    found = github_local.complete({"GITHUB_ACTIONS": "true"}, Path(repo.working_dir))
    assert found.token_from == "" and "GITHUB_TOKEN" not in found.env and not asked.exists()
    found = github_local.complete({}, Path(repo.working_dir))
    assert found.token_from == "gh auth token" and found.env["GITHUB_TOKEN"].startswith("gho_")


def test_a_token_from_gh_is_scrubbed_from_everything_printed_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "gho_canary0000000000000000000000000000"
    fake_gh(tmp_path / "bin", monkeypatch, token)
    with scrubbing(Scrubber()) as scrubber:
        assert github_local.gh_token("github.com") == token
        assert scrubber(f"GET /user with {token}") == "GET /user with ***"
