"""Stored snapshots of the vendors: one git ref a day, `refs/access/snapshots/YYYY-MM-DD`.

The scheduled drift run writes `access sync --out` files (`reconciler/snapshot.py`); a job without
secrets keeps them here (`access snapshots keep DIR`), so that `access report --at`, `access why
--at` and `access evidence` can say what the vendors held on a past day. Each day's ref points at a
commit with no parent whose tree holds the day's `<vendor>.json` files as `sync --out` wrote them,
and whose message names the day and each vendor's fingerprint. No parent, so that retention is
deleting a ref (`refs/access/snapshots/*` past `ACCESS_SNAPSHOT_RETENTION_DAYS`), never rewriting
history; git still stores consecutive days as deltas of each other when it packs them.

Reading goes back through `snapshot.read_state`: the files are written out to a directory first.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import git

from reconciler.errors import AccessError
from reconciler.vendors import VENDORS

PREFIX = "refs/access/snapshots/"
RETENTION_ENV = "ACCESS_SNAPSHOT_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 400  # a year's audit period, plus a quarter to produce its evidence
_IDENTITY = "access <access@localhost>"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FINGERPRINT = re.compile(r'"fingerprint":"([0-9a-f]*)"')


@dataclass(frozen=True, slots=True)
class Stored:
    day: dt.date
    commit: str

    @property
    def ref(self) -> str:
        return ref_of(self.day)


def ref_of(day: dt.date) -> str:
    return f"{PREFIX}{day.isoformat()}"


def retention_days(env: Mapping[str, str]) -> int:
    raw = env.get(RETENTION_ENV, "").strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    if not raw.isdigit() or int(raw) < 1:
        raise AccessError(f"{RETENTION_ENV} must be a number of days (1 or more), not {raw!r}")
    return int(raw)


def _git(repo: git.Repo, *args: str, data: bytes | None = None) -> str:
    done = subprocess.run(
        ["git", "--git-dir", str(repo.git_dir), *args], input=data, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise AccessError(f"git {args[0]}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode().strip()


def keep(repo: git.Repo, directory: Path, day: dt.date, *, when: int) -> Stored:
    """Store the snapshot files in `directory` as `day`'s snapshot (replacing one kept earlier that
    day: the latest of a day is its snapshot). `when`: the time the commit records."""
    files = sorted(p for p in (directory / f"{v}.json" for v in VENDORS) if p.is_file())
    if not files:
        raise AccessError(
            f"{directory}: no snapshot files ({', '.join(f'{v}.json' for v in VENDORS)}); write them with "
            "`access sync --out DIR`"
        )
    entries = []
    fields = [f"access-snapshot-day: {day.isoformat()}"]
    for path in files:
        blob = _git(repo, "hash-object", "-w", "--", str(path.resolve()))
        entries.append(f"100644 blob {blob}\t{path.name}\n")
        with path.open("rb") as handle:
            found = _FINGERPRINT.search(handle.read(4096).decode("utf-8", "replace"))
        fields.append(f"access-snapshot-{path.stem}: {found[1] if found else 'unknown'}")
    tree = _git(repo, "mktree", data="".join(entries).encode())
    text = (
        f"tree {tree}\nauthor {_IDENTITY} {when} +0000\ncommitter {_IDENTITY} {when} +0000\n\n"
        f"access snapshot {day.isoformat()}\n\n" + "\n".join(fields) + "\n"
    )
    commit = _git(repo, "hash-object", "-w", "-t", "commit", "--stdin", data=text.encode())
    _git(repo, "update-ref", ref_of(day), commit)
    return Stored(day, commit)


def stored(repo: git.Repo) -> list[Stored]:
    """Every day's snapshot, oldest first."""
    out = _git(repo, "for-each-ref", "--format=%(refname) %(objectname)", PREFIX)
    found = [s for line in out.splitlines() if (s := _parse(line)) is not None]
    return sorted(found, key=lambda s: s.day)


def _parse(line: str) -> Stored | None:
    name, _, sha = line.partition(" ")
    day = name.removeprefix(PREFIX)
    if not name.startswith(PREFIX) or not _DAY.match(day):
        return None
    try:
        return Stored(dt.date.fromisoformat(day), sha.strip())
    except ValueError:
        return None


def nearest(found: Iterable[Stored], day: dt.date) -> Stored | None:
    """The snapshot nearest `day`: the latest on or before it; else the first after it."""
    ordered = sorted(found, key=lambda s: s.day)
    before = [s for s in ordered if s.day <= day]
    if before:
        return before[-1]
    return ordered[0] if ordered else None


def export(repo: git.Repo, snapshot: Stored, directory: Path) -> list[str]:
    """Write the snapshot's files into `directory`; returns the vendors it holds."""
    listing = _git(repo, "ls-tree", snapshot.commit)
    vendors: list[str] = []
    directory.mkdir(parents=True, exist_ok=True)
    for line in listing.splitlines():
        meta, _, name = line.partition("\t")
        parts = meta.split()
        if len(parts) != 3 or parts[1] != "blob" or name.removesuffix(".json") not in VENDORS:
            continue
        with (directory / name).open("wb") as handle:
            done = subprocess.run(
                ["git", "--git-dir", str(repo.git_dir), "cat-file", "blob", parts[2]],
                stdout=handle, stderr=subprocess.PIPE, check=False,
            )  # fmt: skip
        if done.returncode != 0:
            raise AccessError(
                f"{snapshot.ref}: cannot read {name}: {done.stderr.decode(errors='replace').strip()}"
            )
        vendors.append(name.removesuffix(".json"))
    return vendors


def expired(names: Iterable[str], today: dt.date, days: int) -> list[str]:
    """The snapshot refs among `names` older than `days` days before `today` (the day `days` ago
    is still kept)."""
    limit = today - dt.timedelta(days=days)
    out = []
    for name in names:
        found = _parse(f"{name.strip()} -")
        if found is not None and found.day < limit:
            out.append(found.ref)
    return sorted(out)


def delete(repo: git.Repo, refs: Iterable[str]) -> None:
    for ref in refs:
        if ref.startswith(PREFIX):
            _git(repo, "update-ref", "-d", ref)
