"""When apply last granted each grant, from the audit log (`access why`, `access report`).

The log has a line per change apply ever made, so it is read a megabyte of lines at a time,
keeping only what a row needs: the grant and the time, as columns of strings (one object per
distinct value). Lines as apply writes them are decoded by msgspec to those fields alone (`_Line`);
a batch holding any other line is read by orjson, or json a line at a time, to the same answer
and the same located errors. The answer is by head (vendor .. entitlement), then principal: the
rows of a line look their times up in one small dict. A report reads the log in a second process
while the first loads the YAML (`Reading.start`): this module imports nothing heavy, so that
process starts in a few hundredths of a second.
"""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import compress, count, islice, repeat
from operator import attrgetter, itemgetter, le, ne
from pathlib import Path
from typing import cast

import msgspec
import orjson

from reconciler.errors import AccessError
from reconciler.records import Head

# Each grant's last time, by head, then principal.
Applied = dict[Head, dict[str, str]]

_CHUNK = 1 << 20  # bytes of lines parsed at a time: the parsed entries are dropped before the next


def read_applied(path: Path) -> Applied:
    """Each grant apply granted (applied, or found already there) -> the last time it did so, by
    head, then principal.

    A missing log is empty; a line that is not JSON is one clear error naming it.
    """
    return _Applied.read(path).result()


def applied_times(entries: list[Mapping[str, object]]) -> Applied:
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

    def result(self) -> Applied:
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


_MAGIC = b"access-applied-2\n"  # what the second process writes first: its answer follows


def _serve() -> None:
    """The second process: the grants and times of the log named by argv[1], on stdout (marshal)."""
    import gc

    gc.disable()  # a short process building records that hold no cycles
    if hasattr(os, "nice"):  # on a busy machine the first process (and the snapshot's) go first
        os.nice(10)
    try:
        found = _Applied.read(Path(sys.argv[1]))
    except AccessError as exc:
        sys.stderr.buffer.write(_MAGIC + exc.message.encode("utf-8"))
        sys.exit(1)
    sys.stdout.buffer.write(_MAGIC + _dump(found.result()))


def _parse(path: Path, before: int, lines: list[bytes]) -> list[Mapping[str, object]]:
    """The JSON objects of `lines` (which follow line number `before`), blank lines skipped.

    orjson reads a batch of what apply writes in half the time json takes, to the same values; a
    batch it refuses (a blank line, a line that is not JSON, or JSON it does not take: NaN, an
    integer past 64 bits) is read a line at a time by json, which says where a line is not JSON."""
    try:
        parsed = list(map(orjson.loads, lines))
    except orjson.JSONDecodeError:
        parsed = []
        for number, line in enumerate(lines, before + 1):  # blank lines, or not JSON: say where
            if not line.strip():
                continue
            try:
                parsed.append(json.loads(line.decode("utf-8")))
            except UnicodeDecodeError as exc:
                raise AccessError(
                    f"{path}:{number}: not a JSON line of the audit log ({exc.reason})"
                ) from None
            except json.JSONDecodeError as exc:
                raise AccessError(f"{path}:{number}: not a JSON line of the audit log ({exc.msg})") from None
    return [entry for entry in parsed if type(entry) is dict]


# An entry says apply granted something: one of these actions and outcomes, on anything but an account.
_GRANTING = ("grant", "update")
_DONE = ("applied", "already")
_NAMES = ("vendor", "tenant", "resource_type", "resource", "entitlement", "principal", "time")
_ALL = itemgetter("action", "outcome", *_NAMES)


def _granted(action: object, outcome: object, resource_type: object) -> bool:
    return action in _GRANTING and outcome in _DONE and resource_type != "account"


class _Line(msgspec.Struct, gc=False):
    """What a line of the log says about the change it records: its other fields are checked as
    JSON and skipped. Every field must be there and a string, as apply writes them: a batch of
    lines holding one otherwise is read by `_parse` and `_Applied.add`."""

    vendor: str
    tenant: str
    resource_type: str
    resource: str
    entitlement: str
    action: str
    outcome: str
    principal: str
    time: str


_LINES = msgspec.json.Decoder(_Line)
_KEY = attrgetter("vendor", "tenant", "resource_type", "resource", "entitlement", "action", "outcome")
_PRINCIPAL = attrgetter("principal")
_TIME = attrgetter("time")
_SKIP = -1  # the number of a (head, action, outcome) that grants nothing


class _Applied:
    """Grants and the times apply granted them, a batch of entries at a time: each line's head as a
    number (the strings of a batch are dropped with it), principal and time (one string object per
    distinct value: the second process marshals each once, and the rows' lookups compare strings
    that sit together in memory)."""

    def __init__(self) -> None:
        self.numbers: dict[Head, int] = {}  # head -> its number
        self.kinds: dict[tuple[str, ...], int] = {}  # (head, action, outcome) -> its head's number, or _SKIP
        self.next = count()
        self.heads: list[int] = []
        self.principals: list[str] = []
        self.times: list[str] = []
        self.same: dict[str, str] = {}

    @classmethod
    def read(cls, path: Path) -> _Applied:
        found = cls()
        if not path.is_file():
            return found
        with path.open("rb") as handle:
            before = 0
            while chunk := handle.read(_CHUNK) + handle.readline():
                if b"\r" in chunk:  # lines end where text mode ends them (universal newlines)
                    chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                if chunk.isascii():  # as apply writes the log (JSON escapes all else): the fields only
                    try:
                        found.add_lines(_LINES.decode_lines(chunk))
                    except (msgspec.MsgspecError, RecursionError):  # not JSON, or not as apply writes it
                        pass
                    else:
                        before += chunk.count(b"\n") + (not chunk.endswith(b"\n"))
                        continue
                lines = chunk.split(b"\n")
                if not lines[-1]:
                    lines.pop()  # the chunk ends with a line's newline
                found.add(_parse(path, before, lines))
                before += len(lines)
        return found

    def add_lines(self, lines: list[_Line]) -> None:
        """Lines as apply writes them, decoded to the fields that say what it granted (strings)."""
        keys = list(map(_KEY, lines))
        try:
            numbers = list(map(self.kinds.__getitem__, keys))
        except KeyError:  # a head, action or outcome not met before
            for key in dict.fromkeys(keys):  # in the order first met: the heads are numbered so
                if key not in self.kinds:
                    granted = _granted(key[5], key[6], key[2])
                    self.kinds[key] = self.numbers.setdefault(key[:5], next(self.next)) if granted else _SKIP
            numbers = list(map(self.kinds.__getitem__, keys))
        principals = list(map(_PRINCIPAL, lines))
        times = list(map(_TIME, lines))
        if _SKIP in numbers:
            kept = list(map(ne, numbers, repeat(_SKIP)))
            numbers = list(compress(numbers, kept))
            principals, times = list(compress(principals, kept)), list(compress(times, kept))
        self.heads += numbers
        same = self.same.setdefault
        self.principals += map(same, principals, principals)
        self.times += map(same, times, times)

    def add(self, entries: list[Mapping[str, object]]) -> None:
        columns: Sequence[Sequence[object]]
        try:  # as the log writes every line: each field there, each a string
            action, outcome, *columns = zip(*map(_ALL, entries), strict=True) if entries else [()] * 9
            granted = list(map(_granted, action, outcome, columns[2]))
            if not all(granted):
                columns = [list(compress(column, granted)) for column in columns]
            for column in columns:
                "".join(column)  # type: ignore[arg-type]  # (a TypeError if one is not a string)
        except (KeyError, TypeError):  # a field missing or not a string: as written, missing ones empty
            picked = [
                e for e in entries if _granted(e.get("action"), e.get("outcome"), e.get("resource_type"))
            ]
            columns = list(zip(*([str(e.get(name, "")) for name in _NAMES] for e in picked), strict=True))
        if not columns or not columns[0]:
            return
        vendor, tenant, resource_type, resource, entitlement, principal, at = cast(
            list[Sequence[str]], columns
        )
        heads = zip(vendor, tenant, resource_type, resource, entitlement, strict=True)
        self.heads += map(self.numbers.setdefault, heads, self.next)
        same = self.same.setdefault
        self.principals += map(same, principal, principal)
        self.times += map(same, at, at)

    def result(self) -> Applied:
        """Each grant's latest time (times are ISO 8601: they sort as strings), by head then principal."""
        group, principal, at = self.heads, self.principals, self.times
        # Each head's lines together, in the log's order: a stable sort by head, compared in C.
        order = sorted(range(len(group)), key=group.__getitem__)
        sizes = Counter(group)
        found: Applied = {}
        start = 0
        for head, number in self.numbers.items():  # in the order of their numbers
            lines = order[start : start + sizes[number]]
            start += len(lines)
            times = list(map(at.__getitem__, lines))
            if not all(map(le, times, islice(times, 1, None))):  # a line older than one before it
                lines.sort(key=at.__getitem__)  # stable: of a grant's lines at one time, the last
                times = list(map(at.__getitem__, lines))
            found[head] = dict(zip(map(principal.__getitem__, lines), times, strict=True))
        return found


def _dump(applied: Applied) -> bytes:
    """The answer as marshal writes it (a string it has written before is a reference: the reader
    gets one object per distinct principal and time, and makes the dicts in C)."""
    return marshal.dumps(applied)


def _load(data: bytes) -> Applied:
    loaded = marshal.loads(data)
    if not isinstance(loaded, dict):
        raise TypeError("not an answer")
    return loaded
