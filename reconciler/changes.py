"""The closed vocabulary of a plan: actions, changes, findings, and the plan file's JSON."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, make_dataclass
from enum import StrEnum
from functools import partial
from itertools import chain, compress, islice, repeat, starmap
from operator import attrgetter, is_not, itemgetter, methodcaller
from typing import Any

from reconciler.errors import AccessError
from reconciler.jsonfile import dumps_indented, iter_records, iter_string_lists

FORMAT_VERSION = 1


class Action(StrEnum):
    CREATE_ACCOUNT = "create_account"
    UPDATE = "update"
    GRANT = "grant"
    REVOKE = "revoke"
    DEACTIVATE_ACCOUNT = "deactivate_account"


# The order apply runs them in: accounts first, revocations and deactivations last.
ACTION_ORDER: dict[Action, int] = {
    Action.CREATE_ACCOUNT: 0,
    Action.UPDATE: 1,
    Action.GRANT: 2,
    Action.REVOKE: 3,
    Action.DEACTIVATE_ACCOUNT: 4,
}

ACCOUNT = "account"  # the resource_type of changes to an account itself


@dataclass(frozen=True, slots=True)
class Change:
    """One thing apply will do. `source`, `reason` and `note` explain it; they never steer it.

    For an account `update`, `resource` names the attribute ("active", "population"), `before`
    holds the old value and `entitlement` the new one. For a grant `update` (an exclusive resource
    type), `before` is the old entitlement.

    `account_id` is the vendor's id of the account the plan matched for `principal` (by email or by
    a login override); empty when the account does not exist yet. Apply acts on exactly that
    account. It is not part of the change's identity (`change_identity`): what an approval covers
    is "this person gets this access", and the plan's state fingerprint already pins which
    accounts the vendor had; `apply` takes the id from its own fresh plan, never from a plan file.
    """

    id: str
    vendor: str
    action: Action
    tenant: str
    principal: str
    resource_type: str
    resource: str
    entitlement: str
    before: str = ""
    person: str = ""
    source: str = ""
    reason: str = ""
    expires: str = ""
    note: str = ""
    attributes: tuple[tuple[str, str], ...] = ()
    account_id: str = ""

    @property
    def sort_key(self) -> tuple[str, str, int, str, str, str, str]:
        return (
            self.vendor,
            self.tenant,
            ACTION_ORDER[self.action],
            self.resource_type,
            self.resource,
            self.principal,
            self.entitlement,
        )

    @property
    def is_account_change(self) -> bool:
        return self.resource_type == ACCOUNT

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _CHANGE_FIELDS}  # asdict, without its deep copies
        data["action"] = str(self.action)
        data["attributes"] = dict(self.attributes)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Change:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["action"] = Action(values["action"])
        values["attributes"] = tuple(sorted(dict(values.get("attributes") or {}).items()))
        return cls(**values)


def change_id(
    vendor: str,
    action: Action,
    tenant: str,
    resource_type: str,
    resource: str,
    entitlement: str,
    principal: str,
) -> str:
    """A stable id: the same change planned twice gets the same id."""
    text = "\x1f".join((vendor, str(action), tenant, resource_type, resource, entitlement, principal))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


_CHANGE_FIELDS = tuple(f.name for f in fields(Change))

# A twin of Change with the same slots, not frozen: its __init__ stores each field directly, where
# a frozen dataclass's calls object.__setattr__ once per field (16 calls: ~1.6 µs a change, a fifth
# of planning 130,000 changes). `changes_from_rows` builds drafts, then makes each a Change by
# __class__ assignment, which Python allows only between classes of identical layout.
_ChangeDraft = make_dataclass("_ChangeDraft", [(f.name, f.type) for f in fields(Change)], slots=True)


def changes_from_rows(rows: Iterable[tuple[Any, ...]]) -> list[Change]:
    """`[Change(*row) for row in rows]`, many times faster: each row holds all 16 fields, in order.

    The results are Changes in every respect (type, frozen, equality, hash, repr).
    """
    drafts: list[Any] = list(starmap(_ChangeDraft, rows))
    deque(map(setattr, drafts, repeat("__class__"), repeat(Change)), maxlen=0)
    return drafts


def change_ids(keys: Iterable[tuple[str, Action, str, str, str, str, str]]) -> list[str]:
    """`change_id(*key)` for many keys (vendor, action, tenant, resource_type, resource, entitlement,
    principal) at once, in C-level passes. (The action joins as its value: a StrEnum is a str.)"""
    texts = map(str.encode, map("\x1f".join, keys))
    return list(map(_TWELVE, map(_HEXDIGEST, map(hashlib.sha256, texts))))


_HEXDIGEST = methodcaller("hexdigest")
_TWELVE = itemgetter(slice(0, 12))
_ACTION = attrgetter("action")
# What differs from change to change; the rest (vendor, action, resource, entitlement, ...) is
# shared by many, and written once per combination (`jsonfile.iter_records`).
_VARYING = ("id", "principal", "person", "source", "account_id")


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    """Something the plan noticed that is not a change: an unmanaged account, a policy breach."""

    severity: Severity
    code: str  # "unmanaged-account", "no-account", "ambiguous-account", or a policy rule name
    message: str
    vendor: str = ""
    principal: str = ""
    source: str = ""
    hint: str = ""  # what would satisfy it

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _FINDING_FIELDS}
        data["severity"] = str(self.severity)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["severity"] = Severity(values["severity"])
        return cls(**values)


_FINDING_FIELDS = tuple(f.name for f in fields(Finding))


class CauseKind(StrEnum):
    OUT_OF_BAND = "out-of-band"  # the vendor records someone other than access making it
    ACCESS = "access"  # access's own worker made it (the YAML has since stopped asking for it)
    UNKNOWN = "unknown"  # nobody can be named: `note` says why


@dataclass(frozen=True, slots=True)
class Cause:
    """Who made a difference the plan found (a grant or an account the YAML does not want), as the
    vendor's own audit records name them. Shown to people; never an input to apply or the gate.

    The first six fields name the access (as a `Grant` does; an account: resource_type "account",
    resource and entitlement empty); `change` is the id of the plan's change that undoes it, if any.
    """

    vendor: str
    tenant: str
    resource_type: str
    resource: str
    entitlement: str
    principal: str
    kind: CauseKind
    actor: str = ""  # a person's name at the vendor, or an application's
    actor_id: str = ""
    actor_type: str = ""  # "user" (an administrator) or "client" (an application on its own)
    client: str = ""  # the application the administrator acted through (an admin console)
    at: str = ""  # when the vendor recorded it (ISO 8601, UTC)
    action: str = ""  # the vendor's name for what was done (ROLE_ASSIGNMENT.CREATED)
    note: str = ""  # why nobody is named, or what else to know
    change: str = ""

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _CAUSE_FIELDS}
        data["kind"] = str(self.kind)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cause:
        known = {f.name for f in fields(cls)}
        values = {k: str(v) for k, v in data.items() if k in known}
        values["kind"] = CauseKind(values["kind"])
        return cls(**values)  # type: ignore[arg-type]


_CAUSE_FIELDS = tuple(f.name for f in fields(Cause))


@dataclass(frozen=True, slots=True)
class Seats:
    """A vendor's accounts before and after the plan: what its seats and licence are counted in.

    `active`: accounts active now in what the YAML manages (Procore's companies, the Concur company,
    the PingOne environment); `held`: every account there, active or not (what a licence of
    identities counts: PingOne's `users.max`). `budget` comes from `seats:` in policies/, `licensed`
    from the vendor where its credentials may read it (`licence_note` says why not).
    """

    vendor: str
    active: int
    held: int
    create: int = 0
    reactivate: int = 0
    deactivate: int = 0
    delete: int = 0  # of `deactivate`, those that delete the account (free an identity)
    budget: int | None = None
    licensed: int | None = None
    licence_note: str = ""

    @property
    def after(self) -> int:
        """Active accounts once the plan is applied."""
        return self.active + self.create + self.reactivate - self.deactivate

    @property
    def held_after(self) -> int:
        """Accounts of any state once the plan is applied."""
        return self.held + self.create - self.delete

    @property
    def changes(self) -> bool:
        return bool(self.create or self.reactivate or self.deactivate)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "active": self.active, "create": self.create, "reactivate": self.reactivate,
            "deactivate": self.deactivate, "after": self.after, "held": self.held, "delete": self.delete,
            "held_after": self.held_after, "budget": self.budget, "licensed": self.licensed,
        }  # fmt: skip
        if self.licence_note:
            data["licence_note"] = self.licence_note
        return data

    @classmethod
    def from_json(cls, vendor: str, data: Mapping[str, Any]) -> Seats:
        def number(key: str) -> int | None:
            value = data.get(key)
            return int(value) if value is not None else None

        return cls(
            vendor,
            number("active") or 0,
            number("held") or 0,
            number("create") or 0,
            number("reactivate") or 0,
            number("deactivate") or 0,
            number("delete") or 0,
            number("budget"),
            number("licensed"),
            str(data.get("licence_note") or ""),
        )


def count_seats(changes: Iterable[Change], now: Mapping[str, tuple[int, int]]) -> tuple[Seats, ...]:
    """Per vendor of `now` (vendor -> (active, held) accounts today), the seats after `changes`.

    Only account changes count; they are picked out in a C-level pass (a plan that onboards people
    holds a hundred thousand grants and a few thousand accounts)."""
    every = changes if isinstance(changes, (tuple, list)) else list(changes)
    accounts = list(compress(every, map(ACCOUNT.__eq__, map(_RESOURCE_TYPE, every))))
    kinds = Counter(zip(map(_VENDOR, accounts), map(_ACTION, accounts), strict=True))
    reactivated: Counter[str] = Counter()
    deleted: Counter[str] = Counter()
    others = compress(accounts, map(is_not, map(_ACTION, accounts), repeat(Action.CREATE_ACCOUNT)))
    for change in others:  # (a Python loop only for the few that are not creations)
        if change.action is Action.DEACTIVATE_ACCOUNT:
            deleted[change.vendor] += dict(change.attributes).get("deprovision") == "delete"
        elif change.action is Action.UPDATE and change.resource == "active":
            reactivated[change.vendor] += change.entitlement == "true"
    return tuple(
        Seats(
            v,
            active,
            held,
            kinds[(v, Action.CREATE_ACCOUNT)],
            reactivated[v],
            kinds[(v, Action.DEACTIVATE_ACCOUNT)],
            deleted[v],
        )
        for v, (active, held) in sorted(now.items())
    )


_RESOURCE_TYPE = attrgetter("resource_type")
_VENDOR = attrgetter("vendor")


@dataclass(frozen=True, slots=True)
class Plan:
    changes: tuple[Change, ...]
    findings: tuple[Finding, ...] = ()
    vendors: tuple[str, ...] = ()
    desired_digest: str = ""
    git_commit: str | None = None
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    today: str = ""
    approvers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # change id -> who may approve
    # Who made each difference the plan found, where the vendors record it; None: nobody was asked
    # (a plan from a snapshot). Written to the plan file only when asked.
    causes: tuple[Cause, ...] | None = None
    seats: tuple[Seats, ...] = ()  # per vendor planned: accounts now and after the plan

    def seats_of(self, vendor: str) -> Seats | None:
        return next((s for s in self.seats if s.vendor == vendor), None)

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(map(_ACTION, self.changes))  # Actions: StrEnums, equal to their values
        return {str(a): counts.get(str(a), 0) for a in Action}

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def changes_hash(self) -> str:
        """A hash of what the plan would do, independent of order and explanations."""
        return changes_hash(self.changes)

    def summary_line(self) -> str:
        return summary_line(self.summary)

    def _head(self) -> dict[str, Any]:
        """The plan file's fields before its changes."""
        return {
            "format_version": FORMAT_VERSION,
            "today": self.today,
            "desired_digest": self.desired_digest,
            "git_commit": self.git_commit,
            "vendors": list(self.vendors),
            "fingerprints": dict(self.fingerprints),
            "changes_hash": self.changes_hash,
            "summary": self.summary,
            "seats": {s.vendor: s.to_json() for s in self.seats},
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self._head(),
            "changes": [c.to_json() for c in self.changes],
            "findings": [f.to_json() for f in self.findings],
            "approvers": {k: list(v) for k, v in self.approvers.items()},
            **({} if self.causes is None else {"causes": [c.to_json() for c in self.causes]}),
        }

    def dumps(self) -> str:
        """The plan file: `json.dumps(self.to_json(), indent=2) + "\\n"`, byte for byte."""
        return "".join(self.chunks())

    def chunks(self) -> Iterator[str]:
        """The plan file (`dumps`) in pieces of a few megabytes, made as they are taken: a command
        writing them out never holds the whole text (70 MB when onboarding 10,000 people).

        Changes, findings and approvers (nearly all of a big plan) are written by the record
        writers of `jsonfile`, without building their JSON dicts; a plan whose values are not all
        strings (only a hand-made one) takes the general way, in one piece (the writers say so
        before their first piece).
        """
        try:
            pieces = self._pieces()
        except TypeError:
            return iter((dumps_indented(self.to_json()) + "\n",))
        # A few thousand records joined at a time: their pieces are never all alive at once.
        return map("".join, iter(partial(_take, pieces, _BATCH), []))

    def _pieces(self) -> Iterator[str]:
        head = self._head()
        return chain(
            (dumps_indented(head)[:-2], ',\n  "changes": '),  # the head without its closing "\n}"
            iter_records(self.changes, _CHANGE_FIELDS, level=1, pairs="attributes", varying=_VARYING),
            (',\n  "findings": ',),
            iter_records(self.findings, _FINDING_FIELDS, level=1),
            (',\n  "approvers": ',),
            iter_string_lists(self.approvers, level=1),
            self._causes_tail(),
            ("\n}\n",),
        )

    def _causes_tail(self) -> tuple[str, ...]:
        if self.causes is None:
            return ()
        return (',\n  "causes": ', *iter_records(self.causes, _CAUSE_FIELDS, level=1))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise AccessError(
                f"plan file has format_version {version!r}; this access reads version {FORMAT_VERSION}"
            )
        plan = cls(
            changes=tuple(Change.from_json(c) for c in data.get("changes", [])),
            findings=tuple(Finding.from_json(f) for f in data.get("findings", [])),
            vendors=tuple(data.get("vendors", [])),
            desired_digest=str(data.get("desired_digest", "")),
            git_commit=data.get("git_commit"),
            fingerprints=dict(data.get("fingerprints", {})),
            today=str(data.get("today", "")),
            approvers={k: tuple(v) for k, v in dict(data.get("approvers", {})).items()},
            causes=(
                None if data.get("causes") is None else tuple(Cause.from_json(c) for c in data["causes"])
            ),
            seats=tuple(Seats.from_json(v, s) for v, s in dict(data.get("seats") or {}).items()),
        )
        recorded = data.get("changes_hash")
        if recorded and recorded != plan.changes_hash:
            raise AccessError("plan file was edited: its changes do not match its changes_hash")
        return plan

    @classmethod
    def loads(cls, text: str) -> Plan:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AccessError(f"plan file is not JSON: line {exc.lineno}: {exc.msg}") from None
        if not isinstance(data, dict):
            raise AccessError("plan file is not a JSON object")
        return cls.from_json(data)


_BATCH = 1 << 16  # pieces joined at a time (a few thousand records)


def _take(pieces: Iterator[str], count: int) -> list[str]:
    return list(islice(pieces, count))


def changes_hash(changes: Iterable[Change]) -> str:
    # One identity per change (`change_identity`, for all of them in C-level passes), sorted, each
    # followed by a newline: one update of the digest, the same bytes as one update per identity.
    keys = sorted(map("\x1f".join, map(_IDENTITY_FIELDS, changes)))
    digest = hashlib.sha256()
    if keys:
        digest.update("\n".join(keys).encode())
        digest.update(b"\n")
    return digest.hexdigest()


_IDENTITY_FIELDS = attrgetter(
    "vendor", "action", "tenant", "resource_type", "resource", "entitlement", "before", "principal"
)


def change_identity(change: Change) -> str:
    """What a change does, without its explanations: the unit an approval covers."""
    return "\x1f".join(_IDENTITY_FIELDS(change))  # the action as its value: a StrEnum is a str


_SUMMARY_WORDS: tuple[tuple[str, str, str], ...] = (
    ("grant", "to grant", "to grant"),
    ("revoke", "to revoke", "to revoke"),
    ("update", "to update", "to update"),
    ("create_account", "account to create", "accounts to create"),
    ("deactivate_account", "account to deactivate", "accounts to deactivate"),
)


def summary_line(summary: Mapping[str, int]) -> str:
    parts = [
        f"{summary[key]} {one if summary[key] == 1 else many}"
        for key, one, many in _SUMMARY_WORDS
        if summary.get(key)
    ]
    if not parts:
        return "No changes. The vendors match the YAML."
    return "Plan: " + ", ".join(parts) + "."
