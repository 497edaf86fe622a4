"""`why` and `report` read the approval ledger, per grant: the same records the gate decided by.

Two sources, both signed with the apply-point key:
- the **audit trail** (`refs/access/audit`): each apply appended the ledger's approvals (`approval`
  entries: the item, the pull request, its approvers and when) and what it applied (`outcome`);
- the **window** since the apply point: the gate's own fold (`gate.judge`) over the landings not
  yet applied, with what is held and why.

A grant whose approval neither holds was in force when the ledger began (the first apply point an
administrator signed): it says so, rather than crediting whoever last edited its YAML line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import git

from reconciler import apply_point, audit_trail, gate_setup
from reconciler.canonical import Aliases
from reconciler.commands.context import AppContext
from reconciler.commands.state import Source
from reconciler.errors import AccessError, ConfigError
from reconciler.ledger import ItemId, Record, Verdict
from reconciler.ledger_state import GRANT
from reconciler.origin import CommitInfo, Origin, PullInfo
from reconciler.records import Head


@dataclass
class Answers:
    """Per item: its latest approval record, its history of records, and what is held."""

    point: str = ""  # the apply point's commit ("" when unknown)
    records: dict[ItemId, Record] = field(default_factory=dict)
    history: dict[ItemId, list[Record]] = field(default_factory=dict)
    held: dict[ItemId, Record] = field(default_factory=dict)
    dates: Mapping[str, str] = field(default_factory=dict)  # commit -> ISO date
    note: str = ""
    _origins: dict[int, Origin] = field(default_factory=dict)
    _by_head: dict[tuple[str, ...], dict[str, Origin]] | None = None

    def origins(self, head: Head) -> tuple[Origin | None, Mapping[str, Origin]]:
        """The answers for the grants of `head` as `Origin`s (one per record, shared by the rows it
        explains): that of a grant the ledger holds no record of (in force at the apply point, or
        unknown without one), and those of the grants it has a record of, by principal (what is
        held, else what was approved)."""
        if self._by_head is None:
            self._by_head = {}
            for found in (self.records, self.held):  # held last: it wins
                for (kind, key), record in found.items():
                    if kind == GRANT and len(key) == 6:
                        self._by_head.setdefault(tuple(key[:5]), {})[key[5]] = self._origin(
                            record, record.commit
                        )
        default = self._origin(_BEFORE, self.point) if self.point else None
        return default, self._by_head.get(tuple(head), {})

    def _origin(self, record: Record, commit: str) -> Origin:
        found = self._origins.get(id(record))
        if found is None:
            found = self._origins[id(record)] = origin(record, commit, self.dates.get(commit, ""), self.point)
        return found


_BEFORE = Record(Verdict.RESTORES)


def origin(record: Record, commit: str, date: str, point: str) -> Origin:
    info = CommitInfo(commit, date, "", "")
    if record is _BEFORE:
        return Origin(
            info, None,
            f"in force at the apply point {point[:12]}, before the ledger's records (no approval recorded "
            "in the audit trail)",
        )  # fmt: skip
    if record.verdict is Verdict.HELD:
        why = f"held by the approval gate (rule {record.rule}): {record.message}"
        if record.pull is None:
            return Origin(info, None, why)
        return Origin(
            info, PullInfo(record.pull, record.url, record.author, record.merged_at, record.head, (), (why,))
        )
    if record.pull is None:
        return Origin(info, None, record.message or str(record.verdict))
    approvals = tuple(zip(record.approvers, record.approved_at, strict=False))
    return Origin(
        info, PullInfo(record.pull, record.url, record.author, record.merged_at, record.head, approvals)
    )


def _trail(answers: Answers, repo: git.Repo, key: bytes, repository: str) -> None:
    for found in audit_trail.records(repo, key, repository):
        for entry in found.entries:
            item = _item(entry)
            if item is None:
                continue
            record = Record.from_json(entry)
            if not record.allowed or record.verdict is Verdict.RESTORES:
                continue
            answers.records[item] = record
            answers.history.setdefault(item, []).append(record)


def _item(entry: Mapping[str, object]) -> ItemId | None:
    if entry.get("kind") == "approval":
        raw = entry.get("item")
        if isinstance(raw, list) and len(raw) == 2 and isinstance(raw[1], list):
            return (str(raw[0]), tuple(str(k) for k in raw[1]))
    return None


async def answers(ctx: AppContext, source: Source, aliases: Aliases, *, github: bool = True) -> Answers:
    """The ledger's answers for this repository, or an empty set with why (`note`)."""
    try:
        repo = gate_setup.open_repo(ctx.repo)
        key = gate_setup.signing_key(ctx, source)
        repository = gate_setup.repository_identity(ctx, source)
        point = apply_point.read(repo, key, repository)
    except ConfigError as exc:
        return Answers(note=f"approvals not read: {exc.message}")
    except AccessError as exc:
        return Answers(note=f"approvals not read: {exc.message.splitlines()[0]}")
    if point is None:
        return Answers(
            note=f"no apply point ({apply_point.REF}): nothing has been approved through access yet"
        )
    found = Answers(point=point.sha)
    try:
        _trail(found, repo, key, audit_trail.normal_repository(repository))
    except AccessError as exc:
        found.note = f"the audit trail does not verify: {exc.message.splitlines()[0]}"
    from reconciler import gate  # (only with an apply point to judge from: GitHub, the planner)

    factory = gate.github_client_factory(ctx, source) if github else None
    judged = await gate.judge(ctx, repo, point, aliases, factory)
    for item, record in sorted(judged.ledger.records.items()):
        found.records[item] = record
        found.history.setdefault(item, []).append(record)
    found.held.update(judged.ledger.held)
    if judged.note:
        found.note = judged.note
    commits = (
        {r.commit for r in found.records.values()} | {r.commit for r in found.held.values()} | {point.sha}
    )
    found.dates = {sha: _date(repo, sha) for sha in commits if sha}
    return found


def _date(repo: git.Repo, sha: str) -> str:
    try:
        stamp = repo.commit(sha).committed_date
    except (ValueError, git.BadName, git.BadObject):
        return ""
    return dt.datetime.fromtimestamp(int(stamp), dt.UTC).isoformat().replace("+00:00", "Z")
