"""GitHub settings on a laptop, without hand-set variables.

GitHub Actions sets `GITHUB_REPOSITORY` and hands the job a `GITHUB_TOKEN`; a person running
`access why`, `access request` or `access doctor --github` in their clone has neither. What git and
the GitHub CLI already know fills the gaps, never overriding what the environment says:

- the repository (`owner/name`) from the `origin` remote's URL, when it is on GitHub's host
  (github.com, or the host of `GITHUB_API_URL` for GitHub Enterprise Server);
- the token from `gh auth token` when gh is installed and logged in (asked as a subprocess; the
  token goes into the run's scrubber at once, and is never printed). Not inside GitHub Actions:
  there the workflow's `env:` is the whole contract;
- the default branch from `refs/remotes/origin/HEAD`, else from the remote itself
  (`git ls-remote --symref origin HEAD`), so a repository whose default branch is `master` works.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.scrub import remember
from reconciler.settings import environment

REPOSITORY_ENV = "GITHUB_REPOSITORY"
TOKEN_ENV = "GITHUB_TOKEN"
API_URL_ENV = "GITHUB_API_URL"
REMOTE = "origin"
_PATH = re.compile(r"^/*([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/*$")
_SCP = re.compile(r"^(?:[^@/]+@)?([^:/]+):(.+)$")  # git@github.com:owner/name.git


@dataclass(frozen=True, slots=True)
class GitHubEnv:
    """The environment with GitHub's settings filled in where git or gh knew them, and where each came
    from (for `doctor`'s line and for messages): the variable's name, "the origin remote",
    "gh auth token", or "" when nothing was found."""

    env: Mapping[str, str]
    repository_from: str
    token_from: str

    @property
    def repository(self) -> str:
        return self.env.get(REPOSITORY_ENV, "")


def web_host(env: Mapping[str, str]) -> str:
    """The host repositories live on: github.com, or GitHub Enterprise Server's (`GITHUB_API_URL`
    https://ghe.example/api/v3 -> ghe.example)."""
    api = (env.get(API_URL_ENV) or "").strip()
    host = (urlsplit(api).hostname or "") if api else ""
    if not host or host == "api.github.com":
        return "github.com"
    return host.removeprefix("api.")


def _split(url: str) -> tuple[str, str] | None:
    """(host, path) of a remote URL: https, ssh:// or scp-like `git@host:owner/name.git`."""
    url = url.strip()
    if "://" in url:
        parts = urlsplit(url)
        return parts.hostname or "", parts.path
    scp = _SCP.match(url)
    return (scp.group(1), scp.group(2)) if scp else None


def repository_of_url(url: str, host: str = "github.com") -> str | None:
    """`owner/name` of a remote URL on github.com or on `host` (GitHub Enterprise Server's)."""
    split = _split(url)
    if split is None or split[0].casefold() not in {"github.com", host.casefold()}:
        return None
    match = _PATH.match(split[1])
    return f"{match.group(1)}/{match.group(2)}" if match else None


def _git(path: Path, *args: str, timeout: float = 30) -> str | None:
    """git's stdout, or None when git fails (no repository, no such remote, unreachable)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(path), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            env={**environment(), "GIT_TERMINAL_PROMPT": "0"},  # never wait for a password nobody types
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def remote_url(path: Path, remote: str = REMOTE) -> str | None:
    """The remote's URL as configured (`url.<base>.insteadOf` rewrites where git connects, not which
    repository it names)."""
    found = _git(path, "config", "--get", f"remote.{remote}.url")
    return found.strip() if found else None


def origin_repository(path: Path, env: Mapping[str, str]) -> str | None:
    """`owner/name` from the origin remote, when it is a GitHub repository."""
    url = remote_url(path)
    return repository_of_url(url, web_host(env)) if url else None


def origin_host(path: Path, env: Mapping[str, str]) -> str:
    """The host the repository lives on, for `gh auth token --hostname`: the origin remote's when it is
    a GitHub repository, else github.com (or GitHub Enterprise Server's, from GITHUB_API_URL)."""
    url = remote_url(path)
    split = _split(url) if url and repository_of_url(url, web_host(env)) else None
    return split[0] if split else web_host(env)


def default_branch(path: Path, remote: str = REMOTE, *, ask_remote: bool = True) -> str | None:
    """The remote's default branch: what `git clone` recorded as `refs/remotes/<remote>/HEAD`, else,
    with `ask_remote`, what the remote answers (`git ls-remote --symref <remote> HEAD`)."""
    found = _git(path, "symbolic-ref", "--quiet", f"refs/remotes/{remote}/HEAD")
    if found and found.strip().startswith(f"refs/remotes/{remote}/"):
        return found.strip().removeprefix(f"refs/remotes/{remote}/")
    if not ask_remote:
        return None
    listed = _git(path, "ls-remote", "--symref", remote, "HEAD", timeout=60)
    for line in (listed or "").splitlines():
        ref, _, name = line.partition("\t")
        if ref.startswith("ref: refs/heads/") and name == "HEAD":
            return ref.removeprefix("ref: refs/heads/")
    return None


def ls_remote(path: Path, remote: str, *refs: str) -> dict[str, str] | None:
    """ref -> object id of `refs` on the remote (those it has); None when the remote cannot be asked."""
    listed = _git(path, "ls-remote", remote, *refs, timeout=60)
    if listed is None:
        return None
    found: dict[str, str] = {}
    for line in listed.splitlines():
        sha, _, ref = line.partition("\t")
        found[ref.strip()] = sha.strip()
    return found


def fetch_objects(path: Path, remote: str, *refs: str) -> str:
    """Fetch the objects of `refs` without writing any ref (not even FETCH_HEAD); "" when done, else
    git's last line of complaint."""
    try:
        done = subprocess.run(
            ["git", "-C", str(path), "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, *refs],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
            env={**environment(), "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if done.returncode == 0:
        return ""
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"git fetch exited {done.returncode}"


def gh_token(host: str) -> str | None:
    """`gh auth token --hostname HOST`, or None when gh is not installed or not logged in there."""
    gh = shutil.which("gh")
    if gh is None:
        return None
    try:
        done = subprocess.run(
            [gh, "auth", "token", "--hostname", host],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    token = done.stdout.strip() if done.returncode == 0 else ""
    if not token or any(c.isspace() for c in token):
        return None
    remember(token)  # before anything can print it
    return token


def with_repository(env: Mapping[str, str], repo: Path) -> GitHubEnv:
    """`env` with GITHUB_REPOSITORY filled in from the origin remote where unset (no token asked)."""
    if env.get(REPOSITORY_ENV, "").strip():
        return GitHubEnv(env, REPOSITORY_ENV, "")
    found = origin_repository(repo, env)
    if found is None:
        return GitHubEnv(env, "", "")
    return GitHubEnv({**env, REPOSITORY_ENV: found}, "the origin remote", "")


def complete(env: Mapping[str, str], repo: Path) -> GitHubEnv:
    """`env` with GITHUB_REPOSITORY and GITHUB_TOKEN filled in from git and gh where unset."""
    named = with_repository(env, repo)
    filled = dict(named.env)
    repository_from = named.repository_from
    token_from = TOKEN_ENV if env.get(TOKEN_ENV, "").strip() else ""
    if not token_from and env.get("GITHUB_ACTIONS") != "true":
        token = gh_token(origin_host(repo, env))
        if token:
            filled[TOKEN_ENV] = token
            token_from = "gh auth token"
    return GitHubEnv(filled, repository_from, token_from)
