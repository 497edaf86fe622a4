"""The one protocol every vendor connector implements.

A connector syncs the actual state of the managed scope into normalized records, and applies one
`Change` at a time. Vendor quirks (auth, pagination, ids, rate limits) stay inside the connector.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from reconciler.changes import Change
from reconciler.records import Account, Grant, Head, ResourceKey, Scope


@dataclass(frozen=True, slots=True)
class VendorState:
    """What a connector found at its vendor, in the normalized shape.

    `catalog` lists, per resource type, the entitlement names the vendor knows (Procore permission
    templates), and `known_resources` the resources that exist (projects, groups, roles): both
    let a pure check turn a typo in the YAML into a file:line error with the closest names.
    """

    vendor: str
    accounts: tuple[Account, ...]
    grants: frozenset[Grant]
    catalog: Mapping[str, frozenset[str]] = field(default_factory=dict)
    known_resources: Mapping[str, frozenset[str]] = field(default_factory=dict)
    indirect: frozenset[Grant] = frozenset()  # held through nesting or dynamic rules: shown, never revoked
    requests: int = 0  # HTTP requests the sync made (for benchmarks and the rate budget)
    # Held, but this connector may not change them (PingOne `readOnly` role assignments): they satisfy
    # the YAML, and are findings, never revocations, when the YAML does not want them.
    read_only: frozenset[Grant] = frozenset()
    # Managed resources the connector could not read, with why (a Procore project whose Directory
    # tool is disabled): findings; the plan makes no changes there.
    unreadable: Mapping[ResourceKey, str] = field(default_factory=dict)
    # Exactly `grants`, grouped by (vendor, tenant, type, resource, entitlement), when the reader had
    # them so (a snapshot does): checks and the planner then work per resource instead of walking
    # a million grants. None: not known. Whoever changes `grants` must change or drop it.
    grant_groups: Mapping[Head, Sequence[str]] | None = None
    _fingerprint: str = field(default="", init=False, repr=False, compare=False)

    @property
    def fingerprint(self) -> str:
        """Computed once (it sorts every grant), on first use."""
        if not self._fingerprint:
            object.__setattr__(self, "_fingerprint", fingerprint(self.accounts, self.grants))
        return self._fingerprint


def fingerprint(
    accounts: Iterable[Account], grants: Iterable[Grant], *, grant_lines: list[str] | None = None
) -> str:
    """A digest of actual state: apply refuses a plan whose fingerprint no longer matches.

    Grants are joined and sorted as strings with C-level map/sort (a million in about a second),
    then hashed once. A caller that already has the joined lines (`"\x1f".join(grant)` of every
    grant, in any order) passes them as `grant_lines`; lines already in order sort in linear time.
    """
    digest = hashlib.sha256()
    account_lines = sorted(f"{a.tenant}\x1f{a.principal}\x1f{a.active}\x1f{a.attributes}" for a in accounts)
    digest.update("\n".join(account_lines).encode())
    digest.update(b"\n--\n")
    lines = list(map("\x1f".join, grants)) if grant_lines is None else grant_lines
    lines.sort()
    digest.update("\n".join(lines).encode())
    return digest.hexdigest()


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
