"""`plan --state DIR` reads the snapshot in a second process while the first loads the YAML.

Reading a large snapshot (decoding the JSON, checking it, hashing its fingerprint) takes a core for
about half a second at a million grants, while loading the YAML keeps the other busy for seconds.
The second process (niced: on a busy machine the YAML goes first) writes each vendor's answer as
it is ready: what `snapshot.state_of` needs (columns of strings, marshalled) and the fingerprint;
the first makes the records in C, in about a third of the time reading takes. When the first needs
the states, it takes the answers written and stops the second process: a vendor not answered yet
is read here (never waited for), so a machine with no idle core loses little. Errors come back as
the same one-line messages. A small snapshot, or one where no second process can start or answer,
is read in this process: the answer is the same either way.
"""

from __future__ import annotations

import marshal
import os
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

from reconciler.connectors.base import VendorState
from reconciler.errors import AccessError
from reconciler.snapshot import Parts, read_snapshot, read_state, state_of

_MAGIC = b"access-snapshot-1\n"  # what the second process writes first: its answer follows


class SnapshotReading:
    """`read_state(directory, vendor)` of several vendors, in a second process started now, each
    state taken later (`read`)."""

    def __init__(
        self, directory: Path, process: subprocess.Popen[bytes] | None = None, answer: IO[bytes] | None = None
    ) -> None:
        self.directory = directory
        self.process = process
        self.answer = answer  # the file the second process writes its answer to
        self.answers: dict[str, Any] | None = None if process is not None else {}

    @classmethod
    def start(
        cls, directory: Path, vendors: Iterable[str], *, background_from: int = 4 << 20
    ) -> SnapshotReading:
        """Start reading the snapshots of `vendors` in `directory` in a second process, if together
        they hold at least `background_from` bytes."""
        vendors = list(vendors)
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
        answer = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop, once read)
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", code, str(directory), *vendors],
                stdin=subprocess.DEVNULL, stdout=answer, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        except OSError:
            answer.close()
            return cls(directory)
        return cls(directory, process, answer)

    def read(self, vendor: str) -> VendorState | None:
        """What `read_state(directory, vendor)` returns, or raises."""
        answer = self._answers().pop(vendor, None)
        if answer is not None and answer[0] == "parts":
            parts: Parts = answer[1]
            return state_of(parts, answer[2])
        if answer is not None and answer[0] == "error":
            raise AccessError(answer[1])
        return read_state(self.directory, vendor)  # not read there: no file, or no answer

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

    def _answers(self) -> dict[str, Any]:
        """The answers the second process has written, taken once: it is stopped if still at work
        (the vendors it has not answered yet are read here rather than waited for: on a machine
        whose cores are all busy it may have had little time)."""
        if self.answers is None:
            self._end()
            answer, self.answer = self.answer, None
            self.answers = _answers_in(answer)
            if answer is not None:
                answer.close()
        return self.answers


def _answers_in(answer: IO[bytes] | None) -> dict[str, Any]:
    """The whole answers in what the second process wrote (one a vendor, as each was ready)."""
    found: dict[str, Any] = {}
    if answer is None:
        return found
    answer.seek(0)
    out = memoryview(answer.read())
    if out[: len(_MAGIC)] != _MAGIC:
        return found
    at = len(_MAGIC)
    while at + _LENGTH.size <= len(out):
        (size,) = _LENGTH.unpack_from(out, at)
        at += _LENGTH.size
        if at + size > len(out):
            break  # (cut short: stopped while writing it)
        with suppress(ValueError, EOFError, TypeError):
            vendor, reply = marshal.loads(out[at : at + size])
            found[vendor] = reply
        at += size
    return found


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
