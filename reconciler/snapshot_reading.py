"""`plan --state DIR` reads the snapshot in a second process while the first loads the YAML.

Reading a large snapshot (decoding the JSON, checking it, hashing its fingerprint) takes a core for
about half a second at a million grants (format 1: a few times that), while loading the YAML keeps
the other busy. The second process (niced: on a busy machine the YAML goes first) reads the vendors
in the order the first will ask for them and writes each vendor's answer as it is ready: what
`snapshot.state_of` needs (columns of strings, marshalled) and the fingerprint; the first makes the
records in C, in about a third of the time reading takes. When the first asks for a vendor the
second has not answered yet, it never waits: it reads here the vendor the second would read last,
then looks again, and so on (the two work from either end of the list; the second is stopped once
nothing is left for it), so a machine with no idle core loses little and one with an idle core
loses nothing. Errors come back as the same one-line messages. A small snapshot, or one where no
second process can start or answer, is read in this process: the answer is the same either way.
"""

from __future__ import annotations

import marshal
import os
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

from reconciler.connectors.base import VendorState
from reconciler.errors import AccessError
from reconciler.snapshot import Parts, read_snapshot, read_state, state_of

_MAGIC = b"access-snapshot-1\n"  # what the second process writes first: its answer follows
# Readings started before their command asked (`start_early`), by directory and vendors.
_EARLY: dict[tuple[Path, tuple[str, ...]], SnapshotReading] = {}


class SnapshotReading:
    """`read_state(directory, vendor)` of several vendors, in a second process started now, each
    state taken later (`read`)."""

    def __init__(
        self,
        directory: Path,
        process: subprocess.Popen[bytes] | None = None,
        answer: IO[bytes] | None = None,
        vendors: Iterable[str] = (),
    ) -> None:
        self.directory = directory
        self.process = process
        self.answer = answer  # the file the second process writes its answer to
        self.vendors = list(vendors)  # in the order the second process reads them
        self.answers: dict[str, Any] = {}  # what it has answered (taken: popped)
        self._read_at = len(_MAGIC)  # how far its answer has been read
        self._here: dict[str, Callable[[], VendorState | None]] = {}  # read here ahead of being asked
        self._settled: set[str] = set()  # answered there, or read here

    @classmethod
    def start_early(
        cls, directory: Path, vendors: Iterable[str], *, background_from: int = 4 << 20
    ) -> SnapshotReading:
        """`start`, before the command that reads them is ready to: its own `start` with the same
        directory and vendors then takes this one (once). The caller stops it in any case."""
        vendors = list(vendors)
        reading = cls.start(directory, vendors, background_from=background_from)
        _EARLY[(directory, tuple(sorted(vendors)))] = reading
        return reading

    @classmethod
    def start(
        cls, directory: Path, vendors: Iterable[str], *, background_from: int = 4 << 20
    ) -> SnapshotReading:
        """Start reading the snapshots of `vendors` in `directory` in a second process, if together
        they hold at least `background_from` bytes (in sorted order: the order `read` is asked);
        or take the reading `start_early` began of the same."""
        vendors = sorted(vendors)
        early = _EARLY.pop((directory, tuple(vendors)), None)
        if early is not None:
            return early
        try:
            size = sum(
                (directory / f"{v}.json").stat().st_size
                for v in vendors
                if (directory / f"{v}.json").is_file()
            )
        except OSError:  # read_state says what it finds
            return cls(directory)
        if not sys.executable or getattr(sys, "frozen", False) or size < background_from or not vendors:
            return cls(directory)
        root = str(Path(__file__).resolve().parents[1])
        code = f"import sys; sys.path.insert(0, {root!r}); from reconciler.snapshot_reading import _serve; _serve()"
        # The answer goes to a file without a name, not a pipe: the second process writes it all while
        # this one is busy, and this one then reads it at once (a pipe would pass it 64 KiB a turn).
        answer = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop)
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", code, str(directory), *vendors],
                stdin=subprocess.DEVNULL, stdout=answer, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        except OSError:
            answer.close()
            return cls(directory)
        return cls(directory, process, answer, vendors)

    def read(self, vendor: str) -> VendorState | None:
        """What `read_state(directory, vendor)` returns, or raises."""
        while True:
            self._take_answers()
            answer = self.answers.pop(vendor, None)
            if answer is not None:
                if answer[0] == "error":
                    raise AccessError(answer[1])
                parts: Parts = answer[1]
                return state_of(parts, answer[2])
            early = self._here.pop(vendor, None)
            if early is not None:
                return early()
            pending = [v for v in self.vendors if v not in self._settled]
            if vendor not in pending or self.process is None or self.process.poll() is not None:
                self._settled.add(vendor)
                return read_state(self.directory, vendor)  # not read there: no file, or no answer
            if pending[-1] == vendor:  # nothing left for the second process but this: read here
                self._settled.add(vendor)
                if len(pending) == 1:
                    self.stop()
                return read_state(self.directory, vendor)
            last = pending[-1]  # the vendor it would read last: read here while it works on the others
            self._settled.add(last)
            self._here[last] = _outcome(self.directory, last)

    def stop(self) -> None:
        """Stop the second process if it still runs (the command ended before it needed the states)."""
        self._end()
        answer, self.answer = self.answer, None
        if answer is not None:
            answer.close()

    def _end(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait()

    def _take_answers(self) -> None:
        """The whole answers the second process has written since the last look (one a vendor)."""
        if self.answer is None:
            return
        done = self.process is None or self.process.poll() is not None  # (then all it wrote is there)
        # Read at an offset (os.pread): the second process may still be writing through the same
        # open file, whose position the two share.
        handle = self.answer.fileno()
        if os.pread(handle, len(_MAGIC), 0) == _MAGIC:
            size = os.fstat(handle).st_size - self._read_at
            found, used = _answers_in(os.pread(handle, size, self._read_at) if size > 0 else b"")
            self._read_at += used
            for vendor, reply in found.items():
                if vendor not in self._settled:
                    self.answers[vendor] = reply
                    self._settled.add(vendor)
        if done or self._settled.issuperset(self.vendors):
            self.stop()  # nothing more to come, or to wait for


def _outcome(directory: Path, vendor: str) -> Callable[[], VendorState | None]:
    """`read_state(directory, vendor)` now, its state or its error given when called."""
    try:
        state = read_state(directory, vendor)
    except AccessError as exc:
        error = exc

        def fail() -> VendorState | None:
            raise error

        return fail
    return lambda: state


def _answers_in(out: bytes) -> tuple[dict[str, Any], int]:
    """The whole answers at the start of `out` (what the second process wrote after its first line,
    one a vendor as each was ready), and how many bytes they take."""
    found: dict[str, Any] = {}
    view = memoryview(out)
    at = 0
    while at + _LENGTH.size <= len(view):
        (size,) = _LENGTH.unpack_from(view, at)
        if at + _LENGTH.size + size > len(view):
            break  # (cut short: not written yet, or stopped while writing it)
        with suppress(ValueError, EOFError, TypeError):
            vendor, reply = marshal.loads(view[at + _LENGTH.size : at + _LENGTH.size + size])
            found[vendor] = reply
        at += _LENGTH.size + size
    return found, at


_LENGTH = struct.Struct("<Q")  # each answer's length, before it


def _serve() -> None:
    """The second process: each vendor's answer (argv[2:]) from the directory argv[1], on stdout,
    written as soon as it is ready."""
    import gc

    gc.disable()  # a short process building records that hold no cycles
    if hasattr(os, "nice"):  # on a busy machine, the first process (loading the YAML) goes first
        os.nice(10)
    directory = Path(sys.argv[1])
    out = sys.stdout.buffer
    out.write(_MAGIC)
    for vendor in sys.argv[2:]:
        try:
            read = read_snapshot(directory, vendor)
        except AccessError as exc:
            reply: tuple[Any, ...] = ("error", exc.message)
        else:
            if read is None:  # no file: said there
                continue
            parts, fingerprint = read
            reply = ("parts", parts, fingerprint)
        answer = marshal.dumps((vendor, reply))
        out.write(_LENGTH.pack(len(answer)) + answer)
        out.flush()
