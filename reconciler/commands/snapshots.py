"""`access snapshots keep|list|expired`: the vendors' daily snapshots, kept in git.

`keep DIR` stores what `access sync --out DIR` wrote as `refs/access/snapshots/<day>` (today by
default) and deletes the local refs past the retention (`ACCESS_SNAPSHOT_RETENTION_DAYS`, 400 days
by default); `list` prints the days kept; `expired [REF...]` prints which of the refs given (say,
`git ls-remote origin 'refs/access/snapshots/*'`'s) are past the retention, for the workflow to
delete at origin. See `reconciler/snapshot_store.py` and docs/audit.md.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from reconciler import snapshot_store
from reconciler.commands.context import AppContext
from reconciler.errors import AccessError
from reconciler.git_repo import open_repo


def keep(ctx: AppContext, directory: Path, day: str | None) -> int:
    repo = open_repo(ctx.repo)
    try:
        chosen = dt.date.fromisoformat(day) if day else ctx.today
    except ValueError:
        raise AccessError(f"--day {day!r} is not a date like 2026-09-30") from None
    stored = snapshot_store.keep(repo, directory, chosen, when=int(ctx.now.timestamp()))
    ctx.output.result(f"kept {directory} as {stored.ref} ({stored.commit[:12]})")
    days = snapshot_store.retention_days(ctx.env)
    old = snapshot_store.expired((s.ref for s in snapshot_store.stored(repo)), ctx.today, days)
    snapshot_store.delete(repo, old)
    if old:
        ctx.output.info(f"deleted {len(old)} snapshot(s) older than {days} days: {old[0]} … {old[-1]}")
    return 0


def show(ctx: AppContext) -> int:
    repo = open_repo(ctx.repo)
    found = snapshot_store.stored(repo)
    if not found:
        ctx.output.info(
            f"no snapshots here ({snapshot_store.PREFIX}*); fetch them: git fetch origin "
            f"'+{snapshot_store.PREFIX}*:{snapshot_store.PREFIX}*'"
        )
    for stored in found:
        ctx.output.raw(f"{stored.day.isoformat()} {stored.commit}\n")
    return 0


def expired(ctx: AppContext, refs: list[str]) -> int:
    names = refs or [s.ref for s in snapshot_store.stored(open_repo(ctx.repo))]
    for ref in snapshot_store.expired(names, ctx.today, snapshot_store.retention_days(ctx.env)):
        ctx.output.raw(ref + "\n")
    return 0
