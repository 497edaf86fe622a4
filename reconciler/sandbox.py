"""The built-in sandbox: each vendor's simulator behind its real connector, state kept on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

from reconciler.connectors.registry import plugin

SANDBOX_DIR = ".access-sandbox"


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
