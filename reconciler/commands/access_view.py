"""Shared by `access why` and `access report`: desired state, actual state (optional), the history
of each granting line (git + GitHub) and the audit log, joined into rows (`reconciler.access_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from reconciler.access_rows import Rows, build_rows
from reconciler.applied import Reading
from reconciler.audit import AUDIT_FILE
from reconciler.canonical import Aliases, aliases_of, canonical_access
from reconciler.catalog_check import check_names
from reconciler.changes import Cause
from reconciler.commands.causes import causes_of
from reconciler.commands.context import AppContext
from reconciler.commands.state import Desired, Source, load_desired, open_connectors, state_dir, sync_all
from reconciler.connectors.base import VendorState
from reconciler.drift import Item, by_grant
from reconciler.errors import ValidationErrors
from reconciler.event_loop import run
from reconciler.ledger_view import Answers, answers
from reconciler.origin import Origin
from reconciler.policy_loader import load_policies
from reconciler.policy_model import Policies
from reconciler.provenance import History
from reconciler.records import Grant, Head
from reconciler.snapshot_reading import SnapshotReading
from reconciler.vendors import VENDORS


@dataclass(frozen=True, slots=True)
class ViewOptions:
    source: Source
    sync: bool = True  # read the vendors (else: the YAML only)
    audit_log: Path | None = None
    github: bool = True  # ask GitHub who landed each line and who approved it
    causes: bool = False  # ask the vendors who made what they hold that the YAML does not list


@dataclass(frozen=True, slots=True)
class View:
    desired: Desired
    policies: Policies
    actual: dict[str, VendorState] | None
    rows: Rows
    history: History | None
    notes: tuple[str, ...]
    answers: Answers | None = None
    causes: Mapping[Grant, Cause] = field(default_factory=dict)  # for grants not in the YAML (`causes`)


async def _actual(
    ctx: AppContext,
    desired: Desired,
    source: Source,
    snapshots: SnapshotReading | None,
    explain: Callable[[Grant], bool] | None = None,
) -> tuple[dict[str, VendorState], dict[Grant, Cause]]:
    """The vendors' state, and who made the grants `explain` picks that the YAML does not list (when
    the vendors are read live or in the sandbox: a snapshot cannot say)."""
    vendors = tuple(sorted(desired.access.scope.vendors))
    causes: dict[Grant, Cause] = {}
    async with open_connectors(ctx, source, vendors, writable=False, snapshots=snapshots) as connectors:
        actual = await sync_all(ctx, connectors, desired.access)
        errors = check_names(desired.access, actual)  # unknown names in the YAML: errors, as in plan
        if errors:
            raise ValidationErrors(errors)
        if explain is not None and source.state_dir is None:
            access = canonical_access(desired.access, aliases_of(actual))
            items = [
                Item(g)
                for state in actual.values()
                for g in state.grants
                if explain(g) and not access.holds(g)
            ]
            causes = by_grant(await causes_of(connectors, items)) if items else {}
    return actual, causes


def _nobody(head: Head) -> tuple[Origin | None, Mapping[str, Origin]]:
    return None, {}


def build_view(
    ctx: AppContext,
    options: ViewOptions,
    wanted: Callable[[Grant], bool] | None = None,
    *,
    desired: Desired | None = None,
) -> View:
    """The rows of `wanted` grants (all by default); `desired`, if the caller already loaded it."""
    audit_path = options.audit_log or state_dir(ctx, options.source) / AUDIT_FILE
    # The audit log, and a snapshot, are read by second processes while the YAML loads (as in plan).
    reading = Reading.start(audit_path)
    snapshots = None
    if options.sync and options.source.state_dir is not None:
        snapshots = SnapshotReading.start(options.source.state_dir, ctx.vendors or VENDORS)
    try:
        desired = desired or load_desired(ctx, keep_files=False)
        return _build_view(ctx, options, wanted, reading, snapshots, desired)
    finally:
        reading.stop()
        if snapshots is not None:
            snapshots.stop()


def _build_view(
    ctx: AppContext,
    options: ViewOptions,
    wanted: Callable[[Grant], bool] | None,
    reading: Reading,
    snapshots: SnapshotReading | None,
    desired: Desired,
) -> View:
    policies = load_policies(ctx.repo)
    notes: list[str] = []
    actual, causes = (
        run(_actual(ctx, desired, options.source, snapshots, wanted if options.causes else None))
        if options.sync
        else (None, {})
    )
    if actual is None:
        notes.append("the vendors were not read (--no-sync): the YAML only")
    else:  # keyed as the vendors spell resources (a Procore project named by id: its name)
        desired = replace(desired, access=canonical_access(desired.access, aliases_of(actual)))
    history = History.open(ctx.repo)
    found: Answers | None = None
    if history is None:
        notes.append(f"{ctx.repo} is not a git repository: no commits, pull requests or approvals")
    else:
        aliases = aliases_of(actual) if actual is not None else Aliases()
        found = run(answers(ctx, options.source, aliases, github=options.github))
        if found.note:
            notes.append(found.note)
    rows = build_rows(
        desired.access, actual, policies, ctx.today,
        origins_of=found.origins if found is not None else _nobody, applied=reading.result, wanted=wanted,
    )  # fmt: skip
    return View(desired, policies, actual, rows, history, tuple(notes), found, causes)
