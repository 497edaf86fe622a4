"""The YAML files under a folder of the repository, and their bytes; what cannot be read is an error.

A file that is skipped is access that is silently missing (and revoked, on an authoritative vendor),
so every `*.yaml`/`*.yml` that cannot be read, every folder that cannot be listed, a dangling
symlink and a symlink loop are located errors. A symlink may point elsewhere inside the repository
(it is read once, under its own name); one that leaves the repository is refused, since a pull
request must not make the plan job read the runner's files.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.errors import LocatedError
from reconciler.location import Location

SUFFIXES = (".yaml", ".yml")


@dataclass(slots=True)
class Found:
    """Readable files (repository-relative name, bytes) and the problems met on the way."""

    files: list[tuple[str, bytes]] = field(default_factory=list)
    errors: list[LocatedError] = field(default_factory=list)


def read_folder(repo: Path, folder: str) -> Found:
    """Every YAML file under `repo/folder`, sorted by name, with its bytes."""
    found = Found()
    root = repo / folder
    try:
        top = repo.resolve(strict=True)
    except OSError as exc:
        found.errors.append(LocatedError(None, f"{repo}: cannot read the repository ({_why(exc)})"))
        return found
    _walk(root, folder, top, found, {_real(root)})
    found.files.sort(key=lambda item: item[0])
    return found


def _walk(directory: Path, name: str, top: Path, found: Found, seen: set[str]) -> None:
    try:
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError as exc:
        found.errors.append(LocatedError(Location(name, 0), f"cannot read this folder ({_why(exc)})"))
        return
    for entry in entries:
        child = f"{name}/{entry.name}"
        path = Path(entry.path)
        is_yaml = entry.name.endswith(SUFFIXES)
        try:
            if entry.is_symlink():
                target = _inside(path, top, child, found)
                if target is None:
                    continue
                if target.is_dir():
                    real = str(target)
                    if real in seen:
                        continue  # reached twice through links: read once
                    seen.add(real)
                    _walk(path, child, top, found, seen)
                    continue
            elif entry.is_dir(follow_symlinks=False):
                seen.add(_real(path))
                _walk(path, child, top, found, seen)
                continue
        except OSError as exc:
            found.errors.append(LocatedError(Location(child, 0), f"cannot read ({_why(exc)})"))
            continue
        if not is_yaml:
            continue
        try:
            found.files.append((child, _read(path)))
        except OSError as exc:
            found.errors.append(LocatedError(Location(child, 0), f"cannot read this file ({_why(exc)})"))


def _inside(path: Path, top: Path, name: str, found: Found) -> Path | None:
    """Where a symlink leads, if that exists and stays inside the repository; else an error."""
    try:
        target = path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a loop this way
        found.errors.append(LocatedError(Location(name, 0), "symlink loop: it leads back to itself"))
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            found.errors.append(LocatedError(Location(name, 0), "symlink loop: it leads back to itself"))
        elif exc.errno == errno.ENOENT:
            found.errors.append(
                LocatedError(Location(name, 0), f"dangling symlink: {os.readlink(path)} does not exist")
            )
        else:
            found.errors.append(LocatedError(Location(name, 0), f"cannot follow this symlink ({_why(exc)})"))
        return None
    if not target.is_relative_to(top):
        found.errors.append(
            LocatedError(
                Location(name, 0),
                f"symlink leaves the repository (to {os.readlink(path)}): access files must be in it",
            )
        )
        return None
    return target


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise OSError(errno.EINVAL, "not a regular file")
    with path.open("rb") as handle:
        return handle.read()


def _real(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):
        return str(path)


def _why(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()
