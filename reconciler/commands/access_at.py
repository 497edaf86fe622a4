"""`access report --at` and `access why --at`: who had what at a point in time, and why.

- **the YAML then**: the commit on `main` at that time (`history_at.commit_at`), loaded with that
  day as today;
- **the vendors then**: the stored snapshot nearest that day (`refs/access/snapshots/YYYY-MM-DD`,
  `reconciler/snapshot_store.py`: the latest on or before it, else the first after it), or
  `--state DIR`; never the vendors now. Without either (or with `--no-sync`), the YAML only;
- **why**: the approval ledger as it stood at that commit (`ledger_at.answers_at`), and when apply
  applied each grant up to that time (the audit trail's outcomes).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import git

from reconciler import snapshot_store
from reconciler.access_rows import build_rows
from reconciler.applied import applied_times
from reconciler.canonical import Aliases, aliases_of, canonical_access
from reconciler.commands.access_view import View, ViewOptions
from reconciler.commands.context import AppContext
from reconciler.commands.state import Desired, Source, open_connectors, sync_all
from reconciler.connectors.base import VendorState
from reconciler.errors import AccessError
from reconciler.event_loop import run
from reconciler.history_at import CommitAt, StateAt, commit_at, desired_at
from reconciler.ledger_at import Trail, answers_at, outcomes, read_trail
from reconciler.periods import Instant
from reconciler.provenance import History
from reconciler.records import Grant


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Where a view's actual state came from."""

    label: str  # "refs/access/snapshots/2026-09-30" or the --state directory
    day: str  # the stored snapshot's day ("" for --state)
    commit: str  # the stored snapshot's commit ("" for --state)


@dataclass(frozen=True, slots=True)
class ViewAt:
    view: View
    at: Instant
    commit: CommitAt
    snapshot: Snapshot | None
    trail: Trail


def locate(ctx: AppContext, at: Instant) -> tuple[git.Repo, CommitAt]:
    from reconciler import gate

    repo = gate.open_repo(ctx.repo)
    found = commit_at(repo, at.at)
    if found is None:
        raise AccessError(f"--at {at.label}: main's history starts later; nothing was in the YAML then")
    return repo, found


def actual_at(
    ctx: AppContext, repo: git.Repo, desired: Desired, source: Source, at: Instant, *, sync: bool
) -> tuple[dict[str, VendorState] | None, Snapshot | None, str]:
    """The vendors' state at `at`: `--state DIR`, else the stored snapshot nearest its day."""
    if not sync:
        return None, None, "the vendors were not read (--no-sync): the YAML only"
    if source.state_dir is not None:
        return _read(ctx, desired, source.state_dir), Snapshot(str(source.state_dir), "", ""), ""
    found = snapshot_store.nearest(snapshot_store.stored(repo), at.day)
    if found is None:
        return (
            None,
            None,
            (
                f"no stored snapshot of the vendors ({snapshot_store.PREFIX}*; fetch them with `git fetch origin "
                f"'+{snapshot_store.PREFIX}*:{snapshot_store.PREFIX}*'`): the YAML only"
            ),
        )
    with tempfile.TemporaryDirectory(prefix="access-snapshot-") as tmp:
        snapshot_store.export(repo, found, Path(tmp))
        actual = _read(ctx, desired, Path(tmp))
    note = "" if found.day <= at.day else f"no snapshot on or before {at.day}: the vendors as on {found.day}"
    return actual, Snapshot(found.ref, found.day.isoformat(), found.commit), note


def _read(ctx: AppContext, desired: Desired, directory: Path) -> dict[str, VendorState]:
    vendors = tuple(v for v in sorted(desired.access.scope.vendors) if (directory / f"{v}.json").is_file())

    async def go() -> dict[str, VendorState]:
        async with open_connectors(ctx, Source(state_dir=directory), vendors, writable=False) as connectors:
            return await sync_all(ctx, connectors, desired.access)

    return run(go())


@dataclass(frozen=True, slots=True)
class Then:
    """The repository at a point in time: the commit on main and its desired state."""

    repo: git.Repo
    commit: CommitAt
    state: StateAt


def then(ctx: AppContext, at: Instant) -> Then:
    repo, commit = locate(ctx, at)
    return Then(repo, commit, desired_at(ctx, repo, commit.sha, at.day))


def build_view_at(
    ctx: AppContext,
    options: ViewOptions,
    at: Instant,
    wanted: Callable[[Grant], bool] | None = None,
    *,
    loaded: Then | None = None,
    trail: tuple[Trail, git.Repo | None] | None = None,
) -> ViewAt:
    """The rows of `wanted` grants (all by default) as they stood at `at`; `loaded`: the repository
    then, and `trail`: the audit trail, if the caller has read them."""
    now = loaded or then(ctx, at)
    repo, commit, state = now.repo, now.commit, now.state
    desired = state.desired
    actual, snapshot, note = actual_at(ctx, repo, desired, options.source, at, sync=options.sync)
    notes = [f"as of {at.iso()}: main at {commit.sha[:12]} ({commit.date})"]
    if snapshot is not None:
        notes.append(f"the vendors as {snapshot.label} showed them")
    if note:
        notes.append(note)
    aliases = aliases_of(actual) if actual is not None else Aliases()
    if actual is not None:
        desired = replace(desired, access=canonical_access(desired.access, aliases))
    trail_read, trail_repo = trail or read_trail(ctx, options.source)
    found = run(
        answers_at(
            ctx, options.source, aliases, trail_read, trail_repo, commit.sha, at.at, github=options.github
        )
    )
    if found.note:
        notes.append(found.note)
    applied = applied_times(list(outcomes(trail_read, at.at)))
    rows = build_rows(
        desired.access,
        actual,
        state.policies,
        at.day,
        origins_of=found.origins,
        applied=applied,
        wanted=wanted,
    )
    view = View(desired, state.policies, actual, rows, History(repo, commit.sha), tuple(notes), found)
    return ViewAt(view, at, commit, snapshot, trail_read)
