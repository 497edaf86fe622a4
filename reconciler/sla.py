"""The deprovisioning SLA (pure): for each leaver, when they left, when each vendor's access was last
revoked, and whether that was within `leavers.sla_hours`.

"When they left" is what the IdP or HR said: PingOne's `updatedAt` of the user it disabled or moved to
the leavers population (the audit log records it beside each revocation of theirs: `left`), or the
day after HR's end date. "Revoked" is the last revocation or deactivation apply made (or found
already done) at each vendor for them, from the audit log. A vendor where they still hold access in
this run is open: the clock is still running (or has run out).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.usage import moment

_TAKES = ("revoke", "deactivate_account")
_DONE = ("applied", "already")
STILL_HELD = "still held"


@dataclass
class SlaRow:
    principal: str
    person: str  # key in people.yaml ("" once removed from it)
    left_at: str  # ISO 8601 ("" when nobody said when)
    why: str  # who said so: "PingOne user disabled", "HR end date 2026-11-30"
    revoked: dict[str, str] = field(default_factory=dict)  # vendor -> the last revocation's time
    held: set[str] = field(default_factory=set)  # vendors where they still hold access in this run

    def done_at(self) -> str:
        """When their last access anywhere went ("" while some is still held, or none was revoked)."""
        if self.held or not self.revoked:
            return ""
        return max(self.revoked.values(), key=lambda t: moment(t) or dt.datetime.min.replace(tzinfo=dt.UTC))

    def hours(self, now: dt.datetime) -> float | None:
        """Hours from leaving to the last revocation (to `now` while access is still held)."""
        left = moment(self.left_at)
        end = moment(self.done_at()) if not self.held else now
        if left is None or end is None:
            return None
        return max((end - left).total_seconds() / 3600, 0.0)

    def verdict(self, now: dt.datetime, sla_hours: int) -> str:
        """`within` or `breached` once every vendor's access is gone; `open` (still within) or
        `breached` while some is held; `unknown` without a time to count from."""
        hours = self.hours(now)
        if hours is None:
            return "unknown"
        if hours > sla_hours:
            return "breached"
        return "open" if self.held else "within"


def sla_rows(
    audit: Iterable[Mapping[str, object]],
    current: Mapping[str, tuple[str, str]],
    held_now: Mapping[str, set[str]],
    people: Mapping[str, str],
) -> list[SlaRow]:
    """One row per leaver: everyone the audit log records a revocation for with `left`, and those
    `current`ly said to have left (principal -> (when, why), from this run's IdP read and the HR
    export) whom the YAML still names or who still hold something; `held_now`: principal -> vendors
    where they hold access now; `people`: principal -> key."""
    rows: dict[str, SlaRow] = {}
    for entry in audit:
        left = entry.get("left")
        if (
            not isinstance(left, Mapping)
            or entry.get("action") not in _TAKES
            or entry.get("outcome") not in _DONE
        ):
            continue
        principal, vendor, time = (
            str(entry.get("principal", "")),
            str(entry.get("vendor", "")),
            str(entry.get("time", "")),
        )
        row = rows.get(principal)
        if row is None:
            row = rows[principal] = SlaRow(
                principal, people.get(principal, ""), "", str(left.get("why") or "")
            )
        row.left_at = _earliest(row.left_at, str(left.get("at") or ""))
        when, previous = moment(time), moment(row.revoked.get(vendor, ""))
        if when is not None and (previous is None or when > previous):
            row.revoked[vendor] = time
    for principal, (said_at, why) in current.items():
        row = rows.get(principal)
        if row is None and principal not in people and not held_now.get(principal):
            continue  # long gone: nothing of theirs is managed or held (a user disabled years ago)
        if row is None:
            row = rows[principal] = SlaRow(principal, people.get(principal, ""), said_at, why)
        else:
            row.left_at = _earliest(row.left_at, said_at)
    for principal, row in rows.items():
        row.held = set(held_now.get(principal, set()))
    return sorted(rows.values(), key=lambda r: (r.left_at or "~", r.person or r.principal))


def _earliest(a: str, b: str) -> str:
    ta, tb = moment(a), moment(b)
    if ta is None:
        return b if tb is not None else a
    if tb is None:
        return a
    return a if ta <= tb else b
