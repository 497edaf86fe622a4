"""When apply last granted each grant, from the audit log (`access why`, `access report`).

The log has a line per change apply ever made, so it is read a chunk of lines at a time, keeping
only what a row needs: the grant and the time. A report reads it in a second process while the
first loads the YAML (`Reading.start`): this module imports nothing heavy, so that process starts
in a few hundredths of a second.
"""

from __future__ import annotations

import json
import marshal
import subprocess
import sys
from collections.abc import Callable, Mapping
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

from reconciler.errors import AccessError
from reconciler.records import Grant

_GRANTING = ("grant", "update")
_DONE = ("applied", "already")
_NAMES = ("vendor", "tenant", "resource_type", "resource", "entitlement", "principal", "time")
_FIELDS = itemgetter(*_NAMES)
_CHUNK = 1 << 20  # characters of lines parsed at a time: the parsed entries are dropped before the next


def read_applied(path: Path) -> dict[Grant, str]:
    """Each grant apply granted (applied, or found already there) -> the last time it did so.

    A missing log is empty; a line that is not JSON is one clear error naming it.
    """
    return _Applied.read(path).result()


def applied_times(entries: list[Mapping[str, object]]) -> dict[Grant, str]:
    """`read_applied` of entries already read (the audit trail's `outcome` entries, say)."""
    found = _Applied()
    found.add(entries)
    return found.result()


class Reading:
    """`read_applied` in a second process, started now, its answer taken later (`result`).

    A small log, or one where no second process can start, is read in this process when the
    answer is asked for; so is a log the second process failed on for any reason but a bad line.
    """

    def __init__(self, path: Path, process: subprocess.Popen[bytes] | None = None) -> None:
        self.path = path
        self.process = process

    @classmethod
    def start(cls, path: Path, *, background_from: int = 4 << 20) -> Reading:
        """Start reading `path` in a second process if it holds at least `background_from` bytes."""
        try:
            if not sys.executable or getattr(sys, "frozen", False) or path.stat().st_size < background_from:
                return cls(path)
        except OSError:  # no log (or none readable): read_applied says what it finds
            return cls(path)
        root = str(Path(__file__).resolve().parents[1])
        code = f"import sys; sys.path.insert(0, {root!r}); from reconciler.applied import _serve; _serve()"
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", code, str(path)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
        except OSError:
            return cls(path)
        return cls(path, process)

    def result(self) -> dict[Grant, str]:
        process, self.process = self.process, None
        if process is None:
            return read_applied(self.path)
        out, err = process.communicate()
        if process.returncode == 0 and out.startswith(_MAGIC):
            try:
                return _load(out[len(_MAGIC) :])
            except (ValueError, EOFError, TypeError):
                pass
        elif process.returncode == 1 and err.startswith(_MAGIC):
            raise AccessError(err[len(_MAGIC) :].decode("utf-8", "replace"))
        return read_applied(self.path)

    def stop(self) -> None:
        """Stop the second process if it still runs (the command ended before it needed the answer)."""
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.communicate()


_MAGIC = b"access-applied-1\n"  # what the second process writes first: its answer follows


def _serve() -> None:
    """The second process: the grants and times of the log named by argv[1], on stdout (marshal)."""
    import gc

    gc.disable()  # a short process building records that hold no cycles
    try:
        found = _Applied.read(Path(sys.argv[1]))
    except AccessError as exc:
        sys.stderr.buffer.write(_MAGIC + exc.message.encode("utf-8"))
        sys.exit(1)
    sys.stdout.buffer.write(_MAGIC + _dump(found.result()))


def _parse(
    path: Path, before: int, lines: list[str], decode: Callable[[str], tuple[Any, int]]
) -> list[Mapping[str, object]]:
    """The JSON objects of `lines` (which follow line number `before`), blank lines skipped."""
    # Most lines are one JSON object and nothing else: taken when each ended at its line's end.
    try:
        parsed = list(map(decode, lines))
    except ValueError:
        parsed = []
    if list(map(itemgetter(1), parsed)) == list(map(len, lines)):
        return [entry for entry, _ in parsed if isinstance(entry, dict)]
    entries: list[Mapping[str, object]] = []  # blank lines, spaces around, or not JSON: say where
    for number, line in enumerate(lines, before + 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AccessError(f"{path}:{number}: not a JSON line of the audit log ({exc.msg})") from None
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


class _Applied:
    """Grants and the times apply granted them, entries a batch at a time."""

    def __init__(self) -> None:
        self.grants: list[Grant] = []
        self.times: list[str] = []
        # One string object per distinct vendor, resource, entitlement and time: the rows' lookups
        # then compare strings that sit together in memory, not a million scattered copies.
        self.same: dict[str, str] = {}

    @classmethod
    def read(cls, path: Path) -> _Applied:
        found = cls()
        if not path.is_file():
            return found
        decode = json.JSONDecoder().raw_decode
        with path.open(encoding="utf-8") as handle:
            before = 0
            while chunk := handle.read(_CHUNK) + handle.readline():
                lines = chunk.split("\n")
                if not lines[-1]:
                    lines.pop()  # the chunk ends with a line's newline
                found.add(_parse(path, before, lines, decode))
                before += len(lines)
        return found

    def add(self, entries: list[Mapping[str, object]]) -> None:
        picked = [
            e
            for e in entries
            if e.get("action") in _GRANTING
            and e.get("outcome") in _DONE
            and e.get("resource_type") != "account"
        ]
        try:
            fields = list(map(_FIELDS, picked))
            plain = set(map(type, chain.from_iterable(fields))) <= {str}
        except KeyError:
            plain = False
        if not plain:  # a field missing or not a string: as written, missing ones empty
            fields = [tuple(str(e.get(name, "")) for name in _NAMES) for e in picked]
        if not fields:
            return
        same = self.same.setdefault
        *written, principal, at = zip(*fields, strict=True)
        head = [list(map(same, column, column)) for column in written]
        self.grants += map(tuple.__new__, repeat(Grant), zip(*head, principal, strict=True))
        self.times += map(same, at, at)

    def result(self) -> dict[Grant, str]:
        """Each grant's latest time (times are ISO 8601: they sort as strings)."""
        grants, times = self.grants, self.times
        latest = sorted(range(len(times)), key=times.__getitem__)  # stable: the last of a grant's wins
        return dict(zip(map(grants.__getitem__, latest), map(times.__getitem__, latest), strict=True))


def _dump(applied: dict[Grant, str]) -> bytes:
    """The grants as six columns of strings, then their times (marshal shares repeated strings)."""
    return marshal.dumps((*map(list, zip(*applied, strict=True)), list(applied.values())) if applied else ())


def _load(data: bytes) -> dict[Grant, str]:
    columns = marshal.loads(data)
    if not columns:
        return {}
    *fields, times = columns
    return dict(zip(map(tuple.__new__, repeat(Grant), zip(*fields, strict=True)), times, strict=True))
