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
from pathlib import Path
from typing import Any, TextIO

from reconciler.changes import Action, Change
from reconciler.connectors.base import ChangeResult
from reconciler.errors import AccessError
from reconciler.ledger import Decision, Verdict
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
    left: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """`left`: principal -> (when, why) for the people the IdP (or HR) says have left in this run:
    a revocation of theirs records it (`left`), whatever its basis, for the deprovisioning SLA."""
    record = decision.record if decision is not None else None
    gone = left.get(change.principal) if left and change.action in _TAKES else None
    return {
        **({"left": {"at": gone[0] or None, "why": gone[1]}} if gone else {}),
        "time": at.isoformat(timespec="seconds"),
        "run": run,
        "commit": commit,
        **change_fields(change),
        "before": change.before,
        "source": change.source,
        "outcome": str(result.outcome),
        "message": result.message,
        "vendor_ref": result.vendor_ref,
        "basis": str(record.verdict) if record is not None else "ungated",
        # A decision by policy (lapsed, expired) names its rule and why; an approval names people.
        "rule": (record.rule or None) if record is not None else None,
        "why": (record.message or None)
        if record is not None and record.verdict is not Verdict.APPROVED
        else None,
        "pull_request": record.pull if record is not None else None,
        "pull_request_url": (record.url or None) if record is not None else None,
        "requested_by": record.author if record is not None else None,
        "approved_by": list(record.approvers) if record is not None else [],
        "approvals": [
            {"login": login, "at": when}
            for login, when in zip(record.approvers, record.approved_at, strict=False)
        ]
        if record is not None
        else [],
        "pull_request_head": (record.head or None) if record is not None else None,
        "landed_in": (record.commit or None) if record is not None else None,
    }


_TAKES = (Action.REVOKE, Action.DEACTIVATE_ACCOUNT)


@dataclass
class AuditLog:
    path: Path
    run: str
    commit: str | None
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    count: int = 0
    _handle: TextIO | None = None
    left: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # who has left: see `entry`

    def write(
        self, change: Change, result: ChangeResult, decision: Decision | None, *, sync: bool = True
    ) -> None:
        if self._handle is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = self.path.open("a", encoding="utf-8")
            except OSError as exc:
                raise AccessError(f"{self.path}: cannot open the audit log ({exc.strerror})") from None
        line = entry(
            change, result, decision, run=self.run, commit=self.commit, at=self.clock(), left=self.left
        )
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
