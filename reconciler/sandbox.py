"""The built-in sandbox: each vendor's simulator behind its real connector, state kept on disk."""

from __future__ import annotations

from pathlib import Path

from reconciler.connectors.registry import plugin

SANDBOX_DIR = ".access-sandbox"


def state_dir(repo: Path) -> Path:
    return repo / SANDBOX_DIR


def reset(repo: Path, vendors: tuple[str, ...]) -> Path:
    directory = state_dir(repo)
    directory.mkdir(parents=True, exist_ok=True)
    for vendor in vendors:
        plugin(vendor).reset_sandbox(directory)
    return directory
