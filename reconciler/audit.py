"""The audit log: one JSON line per change apply attempted, with who asked and who approved.

Lines are appended (and fsynced) as outcomes arrive, so the log is complete up to a crash. Each
line is self-contained: time, run, commit, the change (vendor, action, tenant, principal,
resource, entitlement, before), its outcome and the vendor's id for it, and the approval basis:
the pull request (number, author, URL, final head), the commit on main that landed the change, and
its approvers with the time each approved, or why none was needed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any, TextIO

from reconciler.approval import Decision
from reconciler.changes import Change
from reconciler.connectors.base import ChangeResult
from reconciler.errors import AccessError
from reconciler.records import Grant
from reconciler.scrub import scrub

AUDIT_FILE = "audit.jsonl"


def change_fields(change: Change) -> dict[str, str]:
    """What a change does, for people and machines (the audit log, `apply --format json`)."""
    return {
        "vendor": change.vendor,
        "action": str(change.action),
        "tenant": change.tenant,
        "principal": change.principal,
        "person": change.person,
        "resource_type": change.resource_type,
        "resource": change.resource,
        "entitlement": change.entitlement,
    }


def entry(
    change: Change,
    result: ChangeResult,
    decision: Decision | None,
    *,
    run: str,
    commit: str | None,
    at: dt.datetime,
) -> dict[str, Any]:
    pull = decision.pull if decision is not None else None
    return {
        "time": at.isoformat(timespec="seconds"),
        "run": run,
        "commit": commit,
        **change_fields(change),
        "before": change.before,
        "source": change.source,
        "outcome": str(result.outcome),
        "message": result.message,
        "vendor_ref": result.vendor_ref,
        "basis": str(decision.verdict) if decision is not None else "ungated",
        "pull_request": pull.number if pull is not None else None,
        "pull_request_url": pull.url if pull is not None else None,
        "requested_by": pull.author if pull is not None else None,
        "approved_by": list(decision.approvers) if decision is not None else [],
        "approvals": [
            {"login": login, "at": at}
            for login, at in zip(decision.approvers, decision.approved_at, strict=False)
        ]
        if decision is not None
        else [],
        "pull_request_head": pull.head_sha if pull is not None else None,
        "landed_in": decision.commit or None if decision is not None else None,
    }


@dataclass
class AuditLog:
    path: Path
    run: str
    commit: str | None
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    count: int = 0
    _handle: TextIO | None = None

    def write(
        self, change: Change, result: ChangeResult, decision: Decision | None, *, sync: bool = True
    ) -> None:
        if self._handle is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = self.path.open("a", encoding="utf-8")
            except OSError as exc:
                raise AccessError(f"{self.path}: cannot open the audit log ({exc.strerror})") from None
        line = entry(change, result, decision, run=self.run, commit=self.commit, at=self.clock())
        self._handle.write(scrub(json.dumps(line, sort_keys=True)) + "\n")
        self._handle.flush()
        if sync:
            self.sync()
        self.count += 1

    def sync(self) -> None:
        """fsync what was written (safe from a worker thread while the loop writes more)."""
        if self._handle is not None and not self._handle.closed:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None and not self._handle.closed:
            self._handle.close()


# -- reading: when apply last granted each grant ------------------------------------------------

_GRANTING = ("grant", "update")
_DONE = ("applied", "already")
_NAMES = ("vendor", "tenant", "resource_type", "resource", "entitlement", "principal", "time")
_FIELDS = itemgetter(*_NAMES)
_CHUNK = 1 << 20  # characters of lines parsed at a time: the parsed entries are dropped before the next


def read_applied(path: Path) -> dict[Grant, str]:
    """Each grant apply granted (applied, or found already there) -> the last time it did so.

    A missing log is empty; a line that is not JSON is one clear error naming it. The log has a line
    per change ever applied, so it is read a chunk of lines at a time, keeping only what a grant's
    row needs.
    """
    if not path.is_file():
        return {}
    found = _Applied()
    decode = json.JSONDecoder().raw_decode
    with path.open(encoding="utf-8") as handle:
        before = 0
        while chunk := handle.read(_CHUNK) + handle.readline():
            lines = chunk.split("\n")
            if not lines[-1]:
                lines.pop()  # the chunk ends with a line's newline
            found.add(_parse(path, before, lines, decode))
            before += len(lines)
    return found.result()


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
