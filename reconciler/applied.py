"""When apply last granted each grant, from the audit log (`access why`, `access report`).

The log has a line per change apply ever made, so it is read a megabyte of lines at a time,
keeping only what a row needs: the grant and the time, as columns of strings (one object per
distinct value). Lines as apply writes them are decoded by msgspec to those fields alone (`_Line`);
a batch holding any other line is read by orjson, or json a line at a time, to the same answer
and the same located errors. The answer is by head (vendor .. entitlement), then principal: the
rows of a line look their times up in one small dict.

The log is append-only, and each grant's answer is the latest of its lines' times: so the answer
for the log's first bytes, merged with the answer for the lines after them, is the answer for the
whole log. A log of a megabyte or more keeps an index beside it (`audit.jsonl.index`): the answer
for its complete lines, how many bytes and lines that is, and the SHA-256 of those bytes. A read
hashes those bytes again and, if they are the same, reads only the lines after them (and writes
the index again once those are a megabyte or more); a log rewritten or truncated, or an index
that is missing, corrupt (its own SHA-256 does not match), of another version or unwritable,
means the log is read whole, as it always was: the index can make a read faster, never
different. The last line, if it lacks its newline (apply writing it), is read but not indexed.

A report reads the log while it loads the YAML (`Reading.start`): when the index covers all but
the last few megabytes, in a thread (the hashing, and the reading of the file, run without the
GIL); otherwise in a second process (which writes the index for the next report). This module
imports nothing heavy, so that process starts in a few hundredths of a second.
"""

from __future__ import annotations

import hashlib
import json
import logging
import marshal
import os
import struct
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from io import BufferedReader
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
INDEX_FROM = 1 << 20  # a smaller log is read whole each time (a hundredth of a second): no index
# Lines the index leaves out are read on each read (a megabyte: a hundredth of a second) until
# there are this many bytes of them: writing the index again costs more (0.2 s at 1,000,000 grants).
REWRITE_FROM = 1 << 20


def read_applied(path: Path, *, index_from: int = INDEX_FROM, rewrite_from: int = REWRITE_FROM) -> Applied:
    """Each grant apply granted (applied, or found already there) -> the last time it did so, by
    head, then principal.

    A missing log is empty; a line that is not JSON is one clear error naming it. A log of at least
    `index_from` bytes is read from where its index says the last read stopped, if the bytes before
    are the same (see the module's docstring); the index is written again once it leaves out
    `rewrite_from` bytes of whole lines or more.
    """
    if not path.is_file():
        return {}
    index = index_path(path)
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        indexed = size >= index_from
        known = _load_index(index) if indexed else None
        digest = hashlib.sha256()
        if known is not None and (
            known.offset > size or _hashed(handle, digest, known.offset) != known.digest
        ):
            known = None  # the log was rewritten or truncated: read whole
            handle.seek(0)
            digest = hashlib.sha256()
        found = _Applied()
        read, lines, partial = found.read(path, handle, known.lines if known is not None else 0, digest)
    answer = found.result() if known is None else _merged(known.applied, found.result())
    if indexed and (known is None or (read and read >= rewrite_from)):
        offset = (known.offset if known is not None else 0) + read
        _save_index(index, _Index(offset, lines, digest.digest(), answer))
    if partial:  # the last line, lacking its newline: in this answer, not in the index
        last = _Applied()
        last.add_chunk(path, lines, partial)
        answer = _merged(answer, last.result())
    return answer


def applied_times(entries: list[Mapping[str, object]]) -> Applied:
    """`read_applied` of entries already read (the audit trail's `outcome` entries, say)."""
    found = _Applied()
    found.add(entries)
    return found.result()


def index_path(log: Path) -> Path:
    """Where the index of the log `log` is kept: beside it."""
    return log.with_name(log.name + ".index")


def _merged(into: Applied, more: Applied) -> Applied:
    """`into` with the grants of `more` (the answer for lines after those of `into`): each grant's
    latest time of the two."""
    for head, times in more.items():
        known = into.get(head)
        if known is None:
            into[head] = times
            continue
        for principal, at in times.items():
            before = known.get(principal)
            if before is None or at > before:
                known[principal] = at
    return into


@dataclass(frozen=True, slots=True)
class _Index:
    """What a read of a log's first `offset` bytes (`lines` lines, each with its newline, hashed to
    `digest`) found."""

    offset: int
    lines: int
    digest: bytes
    applied: Applied


# The index file: the magic line, its header (offset, lines, the log's digest), the SHA-256 of the
# header and the answer, then the answer as marshal writes it (one object per distinct string).
_INDEX_MAGIC = b"access-applied-index-1\n"
_HEADER = struct.Struct("<QQ32s")
_CHECKSUM = 32
_HASHED = 1 << 24  # bytes of the log hashed at a time (each without the GIL)

log = logging.getLogger("reconciler.applied")


def _indexed_to(index: Path) -> int | None:
    """How many bytes of the log its index says it covers (the header alone), if there is one."""
    try:
        with index.open("rb") as handle:
            start = handle.read(len(_INDEX_MAGIC) + _HEADER.size)
    except OSError:
        return None
    if len(start) < len(_INDEX_MAGIC) + _HEADER.size or not start.startswith(_INDEX_MAGIC):
        return None
    offset: int = _HEADER.unpack_from(start, len(_INDEX_MAGIC))[0]
    return offset


def _load_index(index: Path) -> _Index | None:
    """The index, or None if there is none or it is not one this version wrote, whole."""
    try:
        data = index.read_bytes()
    except OSError:
        return None
    start = len(_INDEX_MAGIC) + _HEADER.size + _CHECKSUM
    if len(data) < start or not data.startswith(_INDEX_MAGIC):
        return None
    header = memoryview(data)[len(_INDEX_MAGIC) : len(_INDEX_MAGIC) + _HEADER.size]
    body = memoryview(data)[start:]
    checksum = hashlib.sha256(header)
    checksum.update(body)
    if checksum.digest() != data[start - _CHECKSUM : start]:
        return None  # cut short or corrupt
    offset, lines, digest = _HEADER.unpack(header)
    try:
        applied = marshal.loads(body)
    except (ValueError, EOFError, TypeError):
        return None
    if not isinstance(applied, dict):
        return None
    return _Index(offset, lines, digest, applied)


def _save_index(index: Path, found: _Index) -> None:
    """Write the index (to a file of its own, then renamed over the old: a reader sees one or the
    other, whole). One that cannot be written is left out: the next read reads the log whole."""
    import tempfile  # (only where an index is written)

    body = marshal.dumps(found.applied)
    header = _HEADER.pack(found.offset, found.lines, found.digest)
    checksum = hashlib.sha256(header)
    checksum.update(body)
    try:
        fd, name = tempfile.mkstemp(dir=index.parent, prefix=f".{index.name}.")
    except OSError as exc:
        log.debug("%s not written (%s): the next read reads the log whole", index, exc)
        return
    try:
        with open(fd, "wb") as handle:
            handle.write(_INDEX_MAGIC + header + checksum.digest())
            handle.write(body)
        os.replace(name, index)
    except BaseException as exc:
        with suppress(OSError):
            os.unlink(name)
        if not isinstance(exc, OSError):
            raise
        log.debug("%s not written (%s): the next read reads the log whole", index, exc)


def _hashed(handle: BufferedReader, digest: hashlib._Hash, size: int) -> bytes:
    """The SHA-256 of the next `size` bytes of `handle` (fewer if it ends first), added to `digest`."""
    buffer = memoryview(bytearray(min(size, _HASHED)))
    left = size
    while left > 0:
        got = handle.readinto(buffer[: min(left, _HASHED)])
        if not got:
            break
        digest.update(buffer[:got])
        left -= got
    return digest.digest()


class Reading:
    """`read_applied`, started now (in a thread or a second process), its answer taken later
    (`result`).

    A small log, or one where no second process can start, is read in this process when the
    answer is asked for; so is a log the second process failed on for any reason but a bad line.
    A log whose index covers all but its last `background_from` bytes is read in a thread: the
    work is hashing what the index covers (without the GIL) and loading the index.
    """

    def __init__(
        self,
        path: Path,
        process: subprocess.Popen[bytes] | None = None,
        thread: _Thread | None = None,
    ) -> None:
        self.path = path
        self.process = process
        self.thread = thread

    @classmethod
    def start(cls, path: Path, *, background_from: int = 4 << 20) -> Reading:
        """Start reading `path` if it holds at least `background_from` bytes."""
        try:
            size = path.stat().st_size
        except OSError:  # no log (or none readable): read_applied says what it finds
            return cls(path)
        if size < background_from:
            return cls(path)
        covered = _indexed_to(index_path(path))
        if covered is not None and covered <= size and size - covered < background_from:
            return cls(path, thread=_Thread(path))
        if not sys.executable or getattr(sys, "frozen", False):
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
        thread, self.thread = self.thread, None
        if thread is not None:
            return thread.result()
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
        """Stop the second process if it still runs (the command ended before it needed the answer).
        A thread is left to finish, so that it never leaves an index half written in a temporary
        file: a few tenths of a second, or a whole read if the log no longer matches its index."""
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.communicate()


class _Thread:
    """`read_applied(path)` in a thread, started now; its answer (or its error) taken by `result`."""

    def __init__(self, path: Path) -> None:
        self.answer: Applied | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._read, args=(path,), name="audit-log")
        self.thread.start()

    def _read(self, path: Path) -> None:
        try:
            self.answer = read_applied(path)
        except BaseException as exc:  # taken, and raised, by `result`
            self.error = exc

    def result(self) -> Applied:
        self.thread.join()
        if self.error is not None:
            raise self.error
        assert self.answer is not None
        return self.answer


_MAGIC = b"access-applied-2\n"  # what the second process writes first: its answer follows


def _serve() -> None:
    """The second process: the grants and times of the log named by argv[1], on stdout (marshal);
    it writes the log's index as it reads."""
    import gc

    gc.disable()  # a short process building records that hold no cycles
    if hasattr(os, "nice"):  # on a busy machine the first process (and the snapshot's) go first
        os.nice(10)
    try:
        found = read_applied(Path(sys.argv[1]))
    except AccessError as exc:
        sys.stderr.buffer.write(_MAGIC + exc.message.encode("utf-8"))
        sys.exit(1)
    sys.stdout.buffer.write(_MAGIC + _dump(found))


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


def _one_object_a_line(chunk: bytes) -> bool:
    """Whether each line of `chunk` starts with `{` and ends with `}`, as apply writes them: then no
    JSON value can run on from one line to the next (after a `}` inside an object or array comes
    `,`, `}` or `]`), and msgspec's values are the lines' if there are as many."""
    ends = chunk.count(b"}\n") + chunk.endswith(b"}")
    lines = chunk.count(b"\n") + (not chunk.endswith(b"\n"))
    return chunk.startswith(b"{") and ends == lines and chunk.count(b"\n{") == lines - 1


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

    def read(
        self, path: Path, handle: BufferedReader, before: int, digest: hashlib._Hash
    ) -> tuple[int, int, bytes]:
        """The lines of `handle` from where it is (after `before` lines of `path`) to its end: (the
        bytes of whole lines read, each added to `digest`; the lines read and before; and the last
        line if it lacks its newline, not read)."""
        read = 0
        while chunk := handle.read(_CHUNK) + handle.readline():
            partial = b""
            if not chunk.endswith(b"\n"):  # the end of the log, mid-line
                end = chunk.rfind(b"\n") + 1
                chunk, partial = chunk[:end], chunk[end:]
            if chunk:
                digest.update(chunk)
                read += len(chunk)
                before = self.add_chunk(path, before, chunk)
            if partial:
                return read, before, partial
        return read, before, b""

    def add_chunk(self, path: Path, before: int, chunk: bytes) -> int:
        """The lines of `chunk` (which follow line number `before` of `path`); returns the number of
        the last."""
        if b"\r" in chunk:  # lines end where text mode ends them (universal newlines)
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if chunk.isascii() and _one_object_a_line(chunk):  # as apply writes the log: the fields only
            try:
                found = _LINES.decode_lines(chunk)
            except (msgspec.MsgspecError, RecursionError):  # not JSON, or not as apply writes it
                pass
            else:
                many = chunk.count(b"\n") + (not chunk.endswith(b"\n"))
                if len(found) == many:  # (msgspec takes two values on a line, or one over two)
                    self.add_lines(found)
                    return before + many
        lines = chunk.split(b"\n")
        if not lines[-1]:
            lines.pop()  # the chunk ends with a line's newline
        self.add(_parse(path, before, lines))
        return before + len(lines)

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
