"""The one protocol every vendor connector implements.

A connector syncs the actual state of the managed scope into normalized records, and applies one
`Change` at a time. Vendor quirks (auth, pagination, ids, rate limits) stay inside the connector.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import FrozenInstanceError, dataclass
from enum import StrEnum
from itertools import islice
from operator import lt
from typing import Protocol

from reconciler.changes import Change
from reconciler.records import Account, Grant, Head, ResourceKey, Scope, ungroup


class _Keep:
    """`VendorState.replace`'s default for what the caller leaves as it is."""


KEEP = _Keep()


class VendorState:
    """What a connector found at its vendor, in the normalized shape (frozen).

    `catalog` lists, per resource type, the entitlement names the vendor knows (Procore permission
    templates), and `known_resources` the resources that exist (projects, groups, roles): both
    let a pure check turn a typo in the YAML into a file:line error with the closest names.

    `aliases` gives, per (tenant, resource type), other spellings of a resource and the one spelling
    its grants are keyed by (a Procore project's id -> its name): `reconciler.canonical` keys the
    YAML the same way, so a rule about a resource sees it under one name however it is written.

    A reader that has the grants grouped by head (a snapshot does) passes `grant_groups` and no
    `grants`: the flat set of a million tuples is then built only if something asks for it, and
    the planner, which works on the groups, never does.
    """

    __slots__ = (
        "_fingerprint",
        "_grants",
        "accounts",
        "aliases",
        "catalog",
        "grant_groups",
        "indirect",
        "known_resources",
        "read_only",
        "requests",
        "unreadable",
        "vendor",
    )

    vendor: str
    accounts: tuple[Account, ...]
    catalog: Mapping[str, frozenset[str]]
    known_resources: Mapping[str, frozenset[str]]
    indirect: frozenset[Grant]  # held through nesting or dynamic rules: shown, never revoked
    requests: int  # HTTP requests the sync made (for benchmarks and the rate budget)
    # Held, but this connector may not change them (PingOne `readOnly` role assignments): they satisfy
    # the YAML, and are findings, never revocations, when the YAML does not want them.
    read_only: frozenset[Grant]
    # Managed resources the connector could not read, with why (a Procore project whose Directory
    # tool is disabled): findings; the plan makes no changes there.
    unreadable: Mapping[ResourceKey, str]
    # Exactly `grants`, grouped by (vendor, tenant, type, resource, entitlement), each principal
    # once per head, when the reader had them so (a snapshot does): checks and the planner then work
    # per resource instead of walking a million grants. None: not known.
    grant_groups: Mapping[Head, Sequence[str]] | None
    # (tenant, resource type) -> {another spelling: the spelling grants use}; only those that differ.
    aliases: Mapping[tuple[str, str], Mapping[str, str]]
    _grants: frozenset[Grant] | None
    _fingerprint: str

    def __init__(
        self,
        vendor: str,
        accounts: tuple[Account, ...],
        grants: frozenset[Grant] | None = None,
        *,
        catalog: Mapping[str, frozenset[str]] | None = None,
        known_resources: Mapping[str, frozenset[str]] | None = None,
        indirect: frozenset[Grant] = frozenset(),
        requests: int = 0,
        read_only: frozenset[Grant] = frozenset(),
        unreadable: Mapping[ResourceKey, str] | None = None,
        grant_groups: Mapping[Head, Sequence[str]] | None = None,
        aliases: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
    ) -> None:
        if grants is None and grant_groups is None:
            raise TypeError("VendorState needs its grants, or their grant_groups")
        put = object.__setattr__
        put(self, "vendor", vendor)
        put(self, "accounts", accounts)
        put(self, "_grants", grants)
        put(self, "catalog", {} if catalog is None else catalog)
        put(self, "known_resources", {} if known_resources is None else known_resources)
        put(self, "indirect", indirect)
        put(self, "requests", requests)
        put(self, "read_only", read_only)
        put(self, "unreadable", {} if unreadable is None else unreadable)
        put(self, "grant_groups", grant_groups)
        put(self, "aliases", {} if aliases is None else aliases)
        put(self, "_fingerprint", "")

    @property
    def grants(self) -> frozenset[Grant]:
        """Every grant held directly (built from `grant_groups` on first use, when not given)."""
        if self._grants is None:
            assert self.grant_groups is not None  # (the constructor sees to it)
            object.__setattr__(self, "_grants", frozenset(ungroup(self.grant_groups)))
        assert self._grants is not None
        return self._grants

    @property
    def grant_count(self) -> int:
        """len(grants), without building them."""
        if self._grants is None and self.grant_groups is not None:
            return sum(map(len, self.grant_groups.values()))
        return len(self.grants)

    @property
    def fingerprint(self) -> str:
        """Computed once (it sorts every grant), on first use."""
        if not self._fingerprint:
            object.__setattr__(
                self, "_fingerprint", fingerprint(self.accounts, self._grants, groups=self.grant_groups)
            )
        return self._fingerprint

    def replace(
        self,
        *,
        accounts: tuple[Account, ...] | None = None,
        grants: frozenset[Grant] | None = None,
        grant_groups: Mapping[Head, Sequence[str]] | _Keep | None = KEEP,
    ) -> VendorState:
        """This state with other records (the fingerprint is then worked out again). `grants`
        without `grant_groups` drops the groups (they would no longer match)."""
        if isinstance(grant_groups, _Keep):
            grant_groups = self.grant_groups if grants is None else None
        if grants is None and grant_groups is None:
            grants = self.grants
        return VendorState(
            self.vendor, self.accounts if accounts is None else accounts, grants, catalog=self.catalog,
            known_resources=self.known_resources, indirect=self.indirect, requests=self.requests,
            read_only=self.read_only, unreadable=self.unreadable, grant_groups=grant_groups,
            aliases=self.aliases,
        )  # fmt: skip

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VendorState):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # (its mappings are not hashable)

    def _fields(self) -> tuple[object, ...]:
        return (
            self.vendor, self.accounts, self.grants, self.catalog, self.known_resources, self.indirect,
            self.requests, self.read_only, self.unreadable, self.grant_groups, self.aliases,
        )  # fmt: skip

    def __repr__(self) -> str:  # never the records: a million of them
        return (
            f"VendorState({self.vendor!r}, {len(self.accounts):,} accounts, {self.grant_count:,} grants,"
            f" {len(self.indirect):,} indirect, {len(self.read_only):,} read-only)"
        )


def fingerprint(
    accounts: Iterable[Account],
    grants: Iterable[Grant] | None = None,
    *,
    groups: Mapping[Head, Sequence[str]] | None = None,
    groups_sorted: bool = False,
) -> str:
    """A digest of actual state: apply refuses a plan whose fingerprint no longer matches.

    What is hashed: every account's `f"{tenant}\x1f{principal}\x1f{active}\x1f{attributes}"`
    line, sorted, then every grant's `"\x1f".join(grant)` line, sorted, joined with newlines.
    Given `groups` (exactly the grants, grouped by head), the grant lines are hashed a head at a
    time without making a million strings; the same bytes, so a snapshot's state and a live sync's
    of the same content have the same fingerprint (see `_grouped_lines`). `groups_sorted`: the
    caller knows each group's principals are sorted and distinct.
    """
    columns = list(zip(*accounts, strict=True)) or [()] * len(Account._fields)
    _, tenant, principal, active, _, _, attributes, *_ = columns
    return columns_fingerprint(
        tenant, principal, active, attributes, grants, groups=groups, groups_sorted=groups_sorted
    )


def columns_fingerprint(
    tenant: Sequence[str],
    principal: Sequence[str],
    active: Sequence[bool],
    attributes: Sequence[tuple[tuple[str, str], ...]],
    grants: Iterable[Grant] | None = None,
    *,
    groups: Mapping[Head, Sequence[str]] | None = None,
    groups_sorted: bool = False,
) -> str:
    """`fingerprint`, of the accounts' columns (a snapshot's reader has them so)."""
    digest = hashlib.sha256()
    shown = {attrs: format(attrs) for attrs in set(attributes)}  # each distinct attribute set once
    account_lines = list(
        map(
            _SEPARATOR.join,
            zip(tenant, principal, map(format, active), map(shown.__getitem__, attributes), strict=True),
        )
    )
    account_lines.sort()
    digest.update("\n".join(account_lines).encode())
    digest.update(b"\n--\n")
    if groups is not None and not any(_SEPARATOR in "".join(head) for head in groups):
        for i, chunk in enumerate(_grouped_lines(groups, trusted=groups_sorted)):
            if i:
                digest.update(b"\n")
            digest.update(chunk.encode())
        return digest.hexdigest()
    lines = list(map(_SEPARATOR.join, grants if grants is not None else ungroup(groups or {})))
    lines.sort()
    digest.update("\n".join(lines).encode())
    return digest.hexdigest()


_SEPARATOR = "\x1f"


def _grouped_lines(groups: Mapping[Head, Sequence[str]], *, trusted: bool) -> Iterator[str]:
    """The sorted grant lines of `groups`, a head's lines joined into one string at a time.

    A grant's line is its head's prefix `P = "\x1f".join(head) + "\x1f"` followed by its principal.
    When no head's field holds the separator, no prefix is a proper prefix of another (each holds
    exactly five separators, the last at its end), so two lines of different heads compare as their
    prefixes do, whatever the principals: sorting every line is sorting the prefixes, then each
    head's principals.
    """
    prefixed = sorted((_SEPARATOR.join(head) + _SEPARATOR, head) for head in groups)
    for prefix, head in prefixed:
        held = groups[head]
        if not held:
            continue
        if not trusted and not all(map(lt, held, islice(held, 1, None))):
            held = sorted(set(held))  # one line per grant, in order
        yield prefix + ("\n" + prefix).join(held)


def with_fingerprint(state: VendorState, value: str) -> VendorState:
    """`state` with its fingerprint already known (the caller computed it from the same records)."""
    object.__setattr__(state, "_fingerprint", value)
    return state


class Outcome(StrEnum):
    APPLIED = "applied"  # the vendor changed
    ALREADY = "already"  # nothing to do: already granted, already gone
    FAILED = "failed"
    SKIPPED = "skipped"  # not attempted (held back, read-only assignment)


@dataclass(frozen=True, slots=True)
class ChangeResult:
    change_id: str
    outcome: Outcome
    message: str = ""
    vendor_ref: str = ""  # the vendor's id for what happened: provision id, assignment id, user id

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.APPLIED, Outcome.ALREADY)


class Connector(Protocol):
    vendor: str

    async def sync(self, scope: Scope) -> VendorState:
        """Read the actual state of `scope` (the scope of this connector's vendor only)."""
        ...

    async def apply(self, change: Change) -> ChangeResult:
        """Apply one change. Idempotent: 'already granted' and 'already gone' are ALREADY.

        Called after `sync` on the same connector, so ids found while syncing may be reused.
        """
        ...

    async def aclose(self) -> None: ...


class VendorPlugin(Protocol):
    """What the CLI needs from a vendor module (`reconciler.connectors.<vendor>`): a live connector.

    The sandbox's side (the simulators) is `reconciler.sandbox.<vendor>`."""

    name: str

    def from_env(self, env: Mapping[str, str], *, writable: bool) -> Connector:
        """A connector configured from environment variables; ConfigError names what is missing."""
        ...
