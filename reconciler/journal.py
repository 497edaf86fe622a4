"""The apply journal: an append-only JSON-lines record of every change's outcome, as it happens.

Each run writes a `start` line, one `outcome` line per change the moment its result is known
(flushed and fsynced, so a kill -9 loses at most the change in flight), and an `end` line. A run
with no `end` was interrupted: the next apply resumes it, skipping the changes it finished (by
change identity, so a re-planned change with a new explanation is still recognised).

A change applied at the vendor but killed before its line was written is not lost either: the
next apply re-syncs, so it no longer appears in the plan, or the connector answers "already".
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from reconciler.changes import Change, change_identity
from reconciler.connectors.base import ChangeResult, Outcome
from reconciler.errors import AccessError
from reconciler.scrub import scrub

Clock = Callable[[], dt.datetime]
JOURNAL_FILE = "journal.jsonl"
_FINISHED = frozenset({Outcome.APPLIED, Outcome.ALREADY})


@dataclass(frozen=True, slots=True)
class Finished:
    """A change an interrupted run completed."""

    run: str
    outcome: Outcome
    at: str
    vendor_ref: str = ""


@dataclass(frozen=True, slots=True)
class Interrupted:
    run: str
    started: str
    finished: Mapping[str, Finished] = field(default_factory=dict)  # change identity -> what happened


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a crash mid-write
            if isinstance(entry, dict):
                yield entry


def interrupted_run(path: Path) -> Interrupted | None:
    """The last run if it has no `end` line (and what it finished), else None.

    A resuming run writes a `resumed` line for each change it carries forward, so a resume of a
    resume still knows them.
    """
    last: dict[str, Any] | None = None
    finished: dict[str, Finished] = {}
    for entry in _lines(path):
        event = entry.get("event")
        if event == "start":
            last = {"run": entry.get("run", ""), "started": entry.get("at", ""), "ended": False}
            finished = {}
        elif last is None or entry.get("run") != last["run"]:
            continue
        elif event == "end":
            last["ended"] = True
        elif event in ("outcome", "resumed") and entry.get("outcome") in _FINISHED:
            finished[str(entry["identity"])] = Finished(
                run=str(entry.get("from_run") or entry["run"]),
                outcome=Outcome(entry["outcome"]),
                at=str(entry.get("at", "")),
                vendor_ref=str(entry.get("vendor_ref", "")),
            )
    if last is None or last["ended"]:
        return None
    return Interrupted(str(last["run"]), str(last["started"]), finished)


class Journal:
    """Open with `Journal.begin(...)`; `record` each outcome; `finish` at the end."""

    def __init__(self, path: Path, run: str, handle: TextIO, clock: Clock) -> None:
        self.path = path
        self.run = run
        self._handle = handle
        self._clock = clock

    @classmethod
    def begin(
        cls,
        directory: Path,
        *,
        commit: str | None,
        changes_hash: str,
        resumes: str | None,
        clock: Clock | None = None,
    ) -> Journal:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / JOURNAL_FILE
        try:
            handle = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise AccessError(f"{path}: cannot open the apply journal ({exc.strerror})") from None
        run = uuid.uuid4().hex[:12]
        journal = cls(path, run, handle, clock or (lambda: dt.datetime.now(dt.UTC)))
        journal._write({"event": "start", "commit": commit, "changes_hash": changes_hash, "resumes": resumes})
        return journal

    def _write(self, entry: dict[str, Any], *, sync: bool = True) -> None:
        line = {"run": self.run, "at": self._clock().isoformat(timespec="seconds"), **entry}
        self._handle.write(scrub(json.dumps(line, sort_keys=True)) + "\n")
        self._handle.flush()
        if sync:
            self.sync()

    def sync(self) -> None:
        """fsync what was written (safe from a worker thread while the loop writes more)."""
        os.fsync(self._handle.fileno())

    def record(self, change: Change, result: ChangeResult, *, sync: bool = True) -> None:
        """One outcome line; with `sync=False` the caller fsyncs it (`sync()`) before going on."""
        self._write(
            {
                "event": "outcome",
                "identity": change_identity(change),
                "change": change.id,
                "outcome": str(result.outcome),
                "message": result.message,
                "vendor_ref": result.vendor_ref,
            },
            sync=sync,
        )

    def resumed(self, change: Change, done: Finished) -> None:
        """A change the interrupted run finished: carried forward, not repeated."""
        self._write(
            {
                "event": "resumed",
                "identity": change_identity(change),
                "change": change.id,
                "outcome": str(done.outcome),
                "from_run": done.run,
                "vendor_ref": done.vendor_ref,
            }
        )

    def finish(self, summary: Mapping[str, int]) -> None:
        self._write({"event": "end", "summary": dict(summary)})
        self.close()

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()
