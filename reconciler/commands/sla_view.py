"""The report's deprovisioning SLA view, put together: the audit log's revocations of leavers, who
the IdP read in this run (and the HR export) say has left, and what they still hold now."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reconciler.access_rows import Rows, Status
from reconciler.audit import AUDIT_FILE
from reconciler.commands.access_view import View, ViewOptions
from reconciler.commands.context import AppContext
from reconciler.commands.state import state_dir
from reconciler.errors import AccessError
from reconciler.leavers import IDP, departed, find_leavers
from reconciler.leaving import expected_at_idp, hr_export_path, people_written, read_hr_export
from reconciler.sla import SlaRow, sla_rows

_HELD = (Status.IN_FORCE, Status.NOT_IN_YAML, Status.INDIRECT)


@dataclass(frozen=True, slots=True)
class SlaView:
    rows: list[SlaRow]
    sla_hours: int


def sla_view(ctx: AppContext, view: View, options: ViewOptions) -> SlaView | None:
    """None without a `leavers` policy (nothing says what the SLA is)."""
    policy = view.policies.leavers
    if policy is None:
        return None
    hr_path = hr_export_path(ctx.repo, policy, None)
    hr = read_hr_export(hr_path) if hr_path is not None and hr_path.is_file() else []
    idp = view.actual.get(IDP) if view.actual is not None else None
    access = view.desired.access
    current = departed(idp, policy, hr, ctx.today, access.people.values())
    if idp is not None:  # the YAML's people the IdP no longer has (deleted): no time to count from
        for leaver in find_leavers(
            access.people.values(), idp, expected_at_idp(access), policy, ctx.today,
            written=people_written(ctx.repo),
        ):  # fmt: skip
            current.setdefault(leaver.principal, (leaver.left_at, leaver.why()))
    audit = list(_leaver_entries(options.audit_log or state_dir(ctx, options.source) / AUDIT_FILE))
    wanted = set(current) | {str(entry.get("principal", "")) for entry in audit}
    held = _held(view.rows, wanted) if view.actual is not None else {}
    people = {principal: person.key for principal, person in access.people.items()}
    return SlaView(sla_rows(audit, current, held, people), policy.sla_hours)


def _held(rows: Rows, wanted: set[str]) -> dict[str, set[str]]:
    """principal -> the vendors where they hold access now, for the `wanted` principals (a line's
    run at a time: a few leavers among a million rows)."""
    held: dict[str, set[str]] = {}
    for number, line in enumerate(rows.lines):
        run = rows.run_rows(number)
        principals = rows.principals[run]
        if wanted.isdisjoint(principals):
            continue
        for principal, status in zip(principals, rows.statuses[run], strict=True):
            if principal in wanted and status in _HELD:
                held.setdefault(principal, set()).add(line.head[0])
    return held


def _leaver_entries(path: Path) -> Iterator[dict[str, object]]:
    """The audit log's entries that record a leaver (a line is parsed only when it could be one)."""
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise AccessError(f"{path}: cannot read the audit log ({exc.strerror})") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if '"left"' not in line:
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                raise AccessError(f"{path}:{number}: not a JSON line of the audit log") from None
            if isinstance(entry, dict) and entry.get("left"):
                yield entry
