"""The approval ledger's answers as they stood at a commit on `main` (for `--at` and `evidence`).

The same two sources as `ledger_view.answers`, read up to a commit C (the commit on main at the
time asked about):
- the **audit trail**: every `approval` entry whose landing is on C's first-parent line (an approval
  recorded by a later run is still the approval of that landing), and the `held` entries of the
  last run on or before the time asked about (what the gate was holding back then);
- the **window** since the apply point, when C is in it: the gate's fold (`gate.judge`), its records
  and held edits kept where their landing is on C's line.

A held edit whose item a later landing on the line approved is superseded by that approval.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import git

from reconciler import apply_point, audit_trail, gate
from reconciler.canonical import Aliases
from reconciler.commands.context import AppContext
from reconciler.commands.state import Source
from reconciler.errors import AccessError, ConfigError
from reconciler.history_at import commit_date, first_parent_line, is_ancestor
from reconciler.ledger import ItemId, Record, Verdict
from reconciler.ledger_state import ACCOUNT_ITEM, GRANT
from reconciler.ledger_view import Answers


@dataclass(frozen=True, slots=True)
class Trail:
    """The verified audit trail (or why it could not be read), with what reading it needs."""

    records: tuple[audit_trail.Record, ...]
    repository: str = ""
    head: str | None = None
    point: apply_point.ApplyPoint | None = None
    note: str = ""

    def entries(
        self, kind: str, until: dt.datetime | None = None
    ) -> list[tuple[audit_trail.Record, dict[str, Any]]]:
        stamp = int(until.timestamp()) if until is not None else None
        return [
            (record, entry)
            for record in self.records
            if stamp is None or record.when <= stamp
            for entry in record.entries
            if entry.get("kind") == kind
        ]


def read_trail(ctx: AppContext, source: Source, *, strict: bool = False) -> tuple[Trail, git.Repo | None]:
    """The trail, verified; with `strict`, a trail that does not verify (or cannot be read) is an
    error rather than a note."""
    try:
        repo = gate.open_repo(ctx.repo)
        key = gate.signing_key(ctx, source)
        repository = audit_trail.normal_repository(gate.repository_identity(ctx, source))
        point = apply_point.read(repo, key, repository)
    except ConfigError as exc:
        if strict:
            raise
        return Trail((), note=f"approvals not read: {exc.message}"), None
    except AccessError as exc:
        if strict:
            raise
        return Trail((), note=f"approvals not read: {exc.message.splitlines()[0]}"), None
    try:
        records = audit_trail.records(repo, key, repository)  # every record verified, in one walk
    except AccessError as exc:
        if strict:
            raise AccessError(f"the audit trail does not verify: {exc.message}") from None
        return Trail((), repository, None, point, f"the audit trail does not verify: {exc.message}"), repo
    head = records[-1].id if records else None
    note = "" if records else f"no audit trail ({audit_trail.REF}): no apply has recorded anything"
    return Trail(records, repository, head, point, note), repo


def item_of_entry(entry: Mapping[str, Any]) -> ItemId | None:
    """The ledger item an `approval` entry names, or a `held`/`outcome` entry's change is about."""
    raw = entry.get("item")
    if entry.get("kind") == "approval":
        if isinstance(raw, list) and len(raw) == 2 and isinstance(raw[1], list):
            return (str(raw[0]), tuple(str(k) for k in raw[1]))
        return None
    fields = [str(entry.get(name) or "") for name in ("vendor", "tenant", "principal")]
    if entry.get("resource_type") == "account":
        return (ACCOUNT_ITEM, tuple(fields))
    vendor, tenant, principal = fields
    rest = [str(entry.get(name) or "") for name in ("resource_type", "resource", "entitlement")]
    return (GRANT, (vendor, tenant, *rest, principal))


async def answers_at(
    ctx: AppContext,
    source: Source,
    aliases: Aliases,
    trail: Trail,
    repo: git.Repo | None,
    commit: str,
    until: dt.datetime,
    *,
    github: bool = True,
) -> Answers:
    if repo is None or trail.point is None:
        return Answers(
            note=trail.note
            or f"no apply point ({apply_point.REF}): nothing has been approved through access yet"
        )
    point = trail.point
    line = first_parent_line(repo, commit)
    found = Answers(point=point.sha, note=trail.note)
    for _, entry in trail.entries("approval"):
        item = item_of_entry(entry)
        record = Record.from_json(entry)
        if (
            item is None
            or not record.allowed
            or record.verdict is Verdict.RESTORES
            or record.commit not in line
        ):
            continue
        _add(found, item, record)
    held: dict[ItemId, Record] = {}
    last = [r for r in trail.records if r.when <= int(until.timestamp())]
    if last:
        for entry in last[-1].entries:
            if entry.get("kind") == "held":
                item = item_of_entry(entry)
                record = Record.from_json(entry)
                if item is not None and (not record.commit or record.commit in line):
                    held[item] = record
    if point.sha != commit and point.sha in line and is_ancestor(repo, point.sha, commit):
        factory = gate.github_client_factory(ctx, source) if github else None
        judged = await gate.judge(ctx, repo, point, aliases, factory)
        for item, record in sorted(judged.ledger.records.items()):
            if record.commit in line and record.allowed and record.verdict is not Verdict.RESTORES:
                _add(found, item, record)
        for item, record in judged.ledger.held.items():
            if record.commit in line:
                held[item] = record
        if judged.note:
            found.note = judged.note
    for item, record in held.items():
        approved = found.records.get(item)
        if approved is None or line.get(approved.commit, -1) < line.get(record.commit, len(line)):
            found.held[item] = record
    commits = (
        {r.commit for r in found.records.values()} | {r.commit for r in found.held.values()} | {point.sha}
    )
    found.dates = {sha: _date(repo, sha) for sha in commits if sha}
    return found


def _add(found: Answers, item: ItemId, record: Record) -> None:
    history = found.history.setdefault(item, [])
    if any(r.commit == record.commit and r.pull == record.pull for r in history):
        return  # recorded again by a run that could not move the apply point
    history.append(record)
    found.records[item] = record


def _date(repo: git.Repo, sha: str) -> str:
    try:
        return commit_date(repo, sha)
    except (ValueError, git.BadName, git.BadObject):
        return ""


def outcomes(trail: Trail, until: dt.datetime | None = None) -> Sequence[dict[str, Any]]:
    """The `outcome` entries recorded up to `until`."""
    return [entry for _, entry in trail.entries("outcome", until)]
