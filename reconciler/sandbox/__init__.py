"""The built-in sandbox: each vendor's simulator behind its real connector, state kept on disk.

This package is the ONE place that plugs the simulators into the connectors' and the GitHub
client's transports (`reconciler.sandbox.<vendor>`); the connectors, the gate and the commands
never import `reconciler.simulators` (a test keeps it so).
"""

from __future__ import annotations

import importlib
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from reconciler.connectors.base import Connector
from reconciler.errors import AccessError
from reconciler.github_api import GitHubClient, GitHubSettings
from reconciler.vendors import VENDORS

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
        vendor_sandbox(vendor).reset(directory)
    return directory


class VendorSandbox(Protocol):
    """A vendor's simulator behind its real connector (`reconciler.sandbox.<vendor>.SANDBOX`)."""

    name: str

    def connector(self, state_dir: Path, *, writable: bool) -> AbstractAsyncContextManager[Connector]:
        """The real connector against the vendor's simulator, whose state persists in `state_dir`."""
        ...

    def reset(self, state_dir: Path) -> None:
        """Write the sandbox seed for this vendor into `state_dir`."""
        ...

    def loopback(self, state_dir: Path) -> AbstractContextManager[dict[str, str]]:
        """Serve the simulator on 127.0.0.1, yielding the environment under which the vendor's
        `from_env` reaches it (the live code path, over real HTTP); state is saved on exit."""
        ...


def vendor_sandbox(vendor: str) -> VendorSandbox:
    if vendor not in VENDORS:
        raise AccessError(f"unknown vendor {vendor!r}; known: {', '.join(VENDORS)}")
    module = importlib.import_module(f"reconciler.sandbox.{vendor}")
    found: VendorSandbox = module.SANDBOX
    return found


def github_file(repo: Path) -> Path:
    return state_dir(repo) / GITHUB_FILE


SANDBOX_REPOSITORY = "sandbox/access"


def github_repository(repo: Path) -> str:
    """The repository the sandbox's apply point is signed for: the simulated GitHub's, if any."""
    path = github_file(repo)
    if not path.exists():
        return SANDBOX_REPOSITORY
    try:
        found = json.loads(path.read_text(encoding="utf-8")).get("default_repository")
    except (OSError, ValueError):
        return SANDBOX_REPOSITORY
    return found if isinstance(found, str) and found else SANDBOX_REPOSITORY


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


@contextmanager
def github_session(repo: Path, *, writable: bool) -> Iterator[Callable[[], GitHubClient] | None]:
    """GitHub clients against the sandbox's simulated GitHub, saved back on exit (`access request`,
    `recertify` and `cleanup` open pull requests there). Branches are the local repository's: with
    no remote in the sandbox, a branch made here is what the simulated GitHub sees pushed."""
    path = github_file(repo)
    if not path.exists():
        yield None
        return
    from reconciler.simulators.base import SimulatorTransport
    from reconciler.simulators.github import API, DEFAULT_TOKEN, GitHubSimulator
    from reconciler.simulators.github_git import git_branches

    simulator = GitHubSimulator.from_json(path.read_text(encoding="utf-8"))
    simulator.branch_source = git_branches(repo)
    owner, _, name = simulator.default_repository.partition("/")
    settings = GitHubSettings(api_url=API, owner=owner, repo=name, token=SecretStr(DEFAULT_TOKEN))

    def make() -> GitHubClient:
        return GitHubClient(settings, writable=writable, transport=SimulatorTransport(simulator.handle))

    try:
        yield make
    finally:
        path.write_text(simulator.to_json(), encoding="utf-8")
