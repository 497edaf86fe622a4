"""Shared by `access why` and `access report`: desired state, actual state (optional), the history
of each granting line (git + GitHub) and the audit log, joined into rows (`reconciler.access_rows`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress, repeat
from operator import attrgetter, itemgetter
from pathlib import Path

from reconciler import sandbox
from reconciler.access_rows import Row, applied_index, build_rows
from reconciler.audit import AUDIT_FILE
from reconciler.catalog_check import check_names
from reconciler.commands.apply import state_dir
from reconciler.commands.context import AppContext
from reconciler.commands.state import Desired, Source, load_desired, open_connectors, sync_all
from reconciler.connectors.base import VendorState
from reconciler.errors import AccessError, ConfigError, ValidationErrors
from reconciler.event_loop import run
from reconciler.github_api import GitHubClient
from reconciler.location import Location
from reconciler.origin import CommitInfo, Origin
from reconciler.policy_loader import load_policies
from reconciler.policy_model import Policies
from reconciler.provenance import History, origins
from reconciler.records import AccessSet, Grant


@dataclass(frozen=True, slots=True)
class ViewOptions:
    source: Source
    sync: bool = True  # read the vendors (else: the YAML only)
    audit_log: Path | None = None
    github: bool = True  # ask GitHub who landed each line and who approved it


@dataclass(frozen=True, slots=True)
class View:
    desired: Desired
    policies: Policies
    actual: dict[str, VendorState] | None
    rows: list[Row]
    history: History | None
    notes: tuple[str, ...]


def read_audit(path: Path) -> dict[Grant, str]:
    """The audit log's applied grants; a missing log is empty, a corrupt line is one clear error."""
    if not path.is_file():
        return {}
    entries = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AccessError(f"{path}:{number}: not a JSON line of the audit log ({exc.msg})") from None
            if isinstance(entry, dict):
                entries.append(entry)
    return applied_index(entries)


def github_client(ctx: AppContext, source: Source) -> tuple[GitHubClient | None, str]:
    """A read-only GitHub client, or None and why (the rows then say "GitHub not asked")."""
    if source.sandbox:
        factory = sandbox.github_client_factory(ctx.repo)
        if factory is None:
            return None, "the sandbox has no simulated GitHub (run `access demo --keep DIR`)"
        return factory(), ""
    try:
        return GitHubClient.from_env(ctx.env, writable=False), ""
    except ConfigError as exc:
        return None, f"GitHub not configured ({exc.message})"


async def _actual(ctx: AppContext, desired: Desired, source: Source) -> dict[str, VendorState]:
    vendors = tuple(sorted(desired.access.scope.vendors))
    async with open_connectors(ctx, source, vendors, writable=False) as connectors:
        actual = await sync_all(ctx, connectors, desired.access)
    errors = check_names(desired.access, actual)  # unknown names in the YAML: errors, as in plan
    if errors:
        raise ValidationErrors(errors)
    return actual


async def _origins(
    ctx: AppContext, options: ViewOptions, history: History, locations: set[Location]
) -> tuple[dict[Location, Origin], str]:
    commits: dict[Location, CommitInfo] = {}
    for location in locations:
        found = history.origin_commit(location.file, location.line)
        if found is not None:
            commits[location] = found
    client, missing = github_client(ctx, options.source) if options.github else (None, "GitHub not asked")
    try:
        by_sha = await origins(client, history, commits.values(), missing)
    finally:
        if client is not None:
            await client.aclose()
    return {loc: by_sha[c.sha] for loc, c in commits.items()}, missing


def _locations(access: AccessSet, wanted: Callable[[Grant], bool] | None) -> set[Location]:
    """The lines to blame: each (wanted) grant's own line, and its person's line when it comes
    through a team. Provenance is shared per line, so the million grants are walked in C."""
    keys = list(access.provenance)
    if wanted is None:
        chosen = list(map(isinstance, keys, repeat(Grant)))
    else:
        chosen = [isinstance(k, Grant) and wanted(k) for k in keys]
    picked = list(compress(access.provenance.items(), chosen))
    lines = {id(p): p for p in map(itemgetter(1), picked)}.values()
    locations = {p.source for p in lines if p.source is not None}
    via = compress(map(itemgetter(0), picked), map(attrgetter("via"), map(itemgetter(1), picked)))
    people = access.people
    for principal in set(map(itemgetter(5), via)):
        person = people.get(principal)
        if person is not None and person.source is not None:
            locations.add(person.source)
    return locations


def build_view(ctx: AppContext, options: ViewOptions, wanted: Callable[[Grant], bool] | None = None) -> View:
    desired = load_desired(ctx)
    policies = load_policies(ctx.repo)
    notes: list[str] = []
    actual = run(_actual(ctx, desired, options.source)) if options.sync else None
    if actual is None:
        notes.append("the vendors were not read (--no-sync): the YAML only")
    history = History.open(ctx.repo)
    located: dict[Location, Origin] = {}
    if history is None:
        notes.append(f"{ctx.repo} is not a git repository: no commits, pull requests or approvals")
    else:
        locations = _locations(desired.access, wanted)
        located, missing = run(_origins(ctx, options, history, locations))
        if missing:
            notes.append(missing)
    audit_path = options.audit_log or state_dir(ctx, options.source) / AUDIT_FILE
    applied = read_audit(audit_path)
    rows = build_rows(
        desired.access, actual, policies, ctx.today,
        origin_of=located.get, positions=history.positions() if history else {},
        applied=applied, wanted=wanted,
    )  # fmt: skip
    return View(desired, policies, actual, rows, history, tuple(notes))
