"""The built-in sandbox: each vendor's simulator behind its real connector, state kept on disk."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from reconciler.connectors.registry import plugin
from reconciler.github_api import GitHubClient, GitHubSettings

SANDBOX_DIR = ".access-sandbox"
GITHUB_FILE = "github.sim.json"  # the simulated GitHub `access demo` and the gate tests drive


def state_dir(repo: Path) -> Path:
    return repo / SANDBOX_DIR


def reset(repo: Path, vendors: tuple[str, ...], *, everything: bool = False) -> Path:
    """Seed `vendors` again; with `everything`, first drop all sandbox state (the simulated GitHub,
    the journal, the apply lock and the audit log of sandbox applies)."""
    directory = state_dir(repo)
    if everything and directory.is_dir():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for vendor in vendors:
        plugin(vendor).reset_sandbox(directory)
    return directory


def github_file(repo: Path) -> Path:
    return state_dir(repo) / GITHUB_FILE


def github_client_factory(repo: Path) -> Callable[[], GitHubClient] | None:
    """The gate's read-only GitHub client against the sandbox's simulated GitHub; None without one."""
    path = github_file(repo)
    if not path.exists():
        return None

    def make() -> GitHubClient:
        from reconciler.simulators.base import SimulatorTransport
        from reconciler.simulators.github import API, DEFAULT_TOKEN, GitHubSimulator

        simulator = GitHubSimulator.from_json(path.read_text(encoding="utf-8"))
        owner, _, name = simulator.default_repository.partition("/")
        settings = GitHubSettings(api_url=API, owner=owner, repo=name, token=SecretStr(DEFAULT_TOKEN))
        return GitHubClient(settings, writable=False, transport=SimulatorTransport(simulator.handle))

    return make
