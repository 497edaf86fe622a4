"""Who holds what, and why: one row per grant, desired or actual, with its provenance (pure).

A row joins the YAML line that grants the access (or none: drift or unmanaged access), the commit
and pull request that wrote that line and who approved it (looked up by the caller and passed in
as `origin_of`), the reason and expiry, and when apply last applied it (the audit log). The same
rows feed `access why` (one person) and `access report` (everyone).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from reconciler.connectors.base import VendorState
from reconciler.location import Location
from reconciler.origin import Origin
from reconciler.policy_model import Policies
from reconciler.records import AccessSet, Grant, Person, Provenance
from reconciler.rules.matching import grant_matches


class Status(StrEnum):
    IN_FORCE = "in force"  # in the YAML and at the vendor
    PENDING = "pending"  # in the YAML, not (yet) at the vendor: the next apply grants it
    NOT_IN_YAML = "not in the YAML"  # at the vendor only: drift (a managed resource) or unmanaged
    INDIRECT = "indirect"  # held through nesting or a dynamic rule at the vendor: shown, never revoked
    DESIRED = "desired"  # in the YAML; the vendors were not read


OriginOf = Callable[[Location], Origin | None]


class Row(NamedTuple):
    """One grant and its provenance (a NamedTuple: a report builds a million of them)."""

    vendor: str
    tenant: str
    resource_type: str
    resource: str
    entitlement: str
    principal: str
    person: str  # key in access/people.yaml, or "" for an account nobody listed
    name: str
    github: str
    status: Status
    source: str  # file:line of the YAML line that grants it; "" when not in the YAML
    via: str  # the team it comes through
    membership: str  # file:line of the person's line (their team memberships) when `via` is set
    reason: str
    expires: str
    privileged: str  # the privileged rules that match, comma-separated
    expiring: bool  # expires within the expiry-warning window
    origin: Origin | None  # who wrote the granting line (the later of grant line and membership)
    applied_at: str  # when apply last applied it (audit log), "" if never seen
    certified: str = ""  # the day the owner last re-approved the line (`certified:`), "" if never

    @property
    def commit(self) -> str:
        return self.origin.commit.sha if self.origin else ""

    @property
    def pull_number(self) -> int | None:
        return self.origin.pull.number if self.origin and self.origin.pull else None

    @property
    def approvals(self) -> tuple[tuple[str, str], ...]:
        if self.origin is None or self.origin.pull is None:
            return ()
        return self.origin.pull.approvers_for(self.github)

    @property
    def reviewed(self) -> bool:
        """Written by a merged pull request with an approval that counts (not the receiver's own)."""
        return bool(self.approvals)

    @property
    def grant(self) -> Grant:
        return Grant(
            self.vendor, self.tenant, self.resource_type, self.resource, self.entitlement, self.principal
        )


@dataclass(frozen=True, slots=True)
class Summary:
    vendor: str
    grants: int
    people: int
    privileged: int
    expiring: int
    unreviewed: int
    not_in_yaml: int
    pending: int


def _later(a: Origin | None, b: Origin | None, positions: Mapping[str, int]) -> Origin | None:
    if a is None or b is None:
        return a or b
    return b if positions.get(b.commit.sha, -1) > positions.get(a.commit.sha, -1) else a


def build_rows(
    desired: AccessSet,
    actual: Mapping[str, VendorState] | None,
    policies: Policies,
    today: dt.date,
    *,
    origin_of: OriginOf,
    positions: Mapping[str, int],
    applied: Mapping[Grant, str],
    wanted: Callable[[Grant], bool] | None = None,
) -> list[Row]:
    """Every grant of the YAML and of the vendors (restricted by `wanted`), with provenance."""
    window = policies.expiry_warnings.within_days
    privileged_of = _privileged_lookup(policies)
    held: set[Grant] = set()
    indirect: set[Grant] = set()
    if actual is not None:
        for state in actual.values():
            held.update(state.grants)
            indirect.update(state.indirect)
    people = desired.people
    origins: dict[tuple[int, int], Origin | None] = {}  # by the ids of the (shared) Location objects
    text: dict[int, str] = {}
    expiring_of = _expiring_lookup(today, window)
    rows: list[Row] = []
    append = rows.append
    empty = Provenance(None)
    for grant, provenance in desired.provenance.items():
        if not isinstance(grant, Grant) or (wanted is not None and not wanted(grant)):
            continue
        person = people.get(grant.principal)
        source, via = provenance.source, provenance.via
        membership = person.source if person is not None and via else None
        key = (id(source), id(membership))
        if key in origins:
            origin = origins[key]
        else:
            origin = origins[key] = _later(
                origin_of(source) if source else None,
                origin_of(membership) if membership else None,
                positions,
            )
            text[id(source)] = str(source) if source else ""
            text[id(membership)] = str(membership) if membership else ""
        if actual is None:
            status = Status.DESIRED
        elif grant in held or grant in indirect:
            status = Status.IN_FORCE
        else:
            status = Status.PENDING
        expires = provenance.expires
        append(
            Row(
                grant[0], grant[1], grant[2], grant[3], grant[4], grant[5],
                person.key if person else "", person.name if person else "",
                person.github if person else "", status, text[id(source)], via,
                text[id(membership)], provenance.reason, expires, privileged_of(grant),
                expiring_of(expires) if expires else False, origin, applied.get(grant, ""),
                provenance.certified,
            )
        )  # fmt: skip
    for grant in sorted(held - desired.grants) + sorted(indirect - desired.grants - held):
        if wanted is not None and not wanted(grant):
            continue
        person = people.get(grant.principal)
        status = Status.INDIRECT if grant in indirect and grant not in held else Status.NOT_IN_YAML
        rows.append(_row(grant, empty, person, status, None, None, privileged_of, expiring_of, applied))
    rows.sort(key=lambda r: (r.vendor, r.person or r.principal, r.tenant, r.resource_type, r.resource))
    return rows


def _row(
    grant: Grant,
    provenance: Provenance,
    person: Person | None,
    status: Status,
    membership: Location | None,
    origin: Origin | None,
    privileged_of: Callable[[Grant], str],
    expiring_of: Callable[[str], bool],
    applied: Mapping[Grant, str],
) -> Row:
    expires = provenance.expires
    expiring = expiring_of(expires) if expires else False
    return Row(
        grant.vendor, grant.tenant, grant.resource_type, grant.resource, grant.entitlement, grant.principal,
        person.key if person else "", person.name if person else "",
        person.github if person else "", status,
        str(provenance.source) if provenance.source else "", provenance.via,
        str(membership) if membership else "", provenance.reason, expires, privileged_of(grant), expiring,
        origin, applied.get(grant, ""), provenance.certified,
    )  # fmt: skip


def _expiring_lookup(today: dt.date, window: int) -> Callable[[str], bool]:
    cache: dict[str, bool] = {}

    def lookup(expires: str) -> bool:
        found = cache.get(expires)
        if found is None:
            days = (dt.date.fromisoformat(expires[:10]) - today).days
            found = cache[expires] = 0 <= days <= window
        return found

    return lookup


def _privileged_lookup(policies: Policies) -> Callable[[Grant], str]:
    """Which privileged rules a grant matches, cached per entitlement (not per person)."""
    cache: dict[tuple[str, ...], str] = {}
    rules = list(policies.privileged.items())

    def lookup(grant: Grant) -> str:
        key = grant[:5]
        found = cache.get(key)
        if found is None:
            found = cache[key] = ", ".join(
                name for name, rule in rules if any(grant_matches(m, grant) for m in rule.entitlements)
            )
        return found

    return lookup


def summarize(rows: Iterable[Row]) -> list[Summary]:
    """Per vendor: grants, people, privileged, expiring, unreviewed, not in the YAML, pending."""
    counts: dict[str, list[int]] = {}
    people: dict[str, set[str]] = {}
    for row in rows:
        c = counts.setdefault(row.vendor, [0] * 7)
        people.setdefault(row.vendor, set()).add(row.principal)
        c[0] += 1
        c[1] += bool(row.privileged)
        c[2] += row.expiring
        c[3] += not row.reviewed
        c[4] += row.status is Status.NOT_IN_YAML
        c[5] += row.status is Status.PENDING
    return [Summary(v, c[0], len(people[v]), c[1], c[2], c[3], c[4], c[5]) for v, c in sorted(counts.items())]


def applied_index(lines: Iterable[Mapping[str, object]]) -> dict[Grant, str]:
    """From audit-log entries: each grant -> the time apply last granted it (applied or already there)."""
    found: dict[Grant, str] = {}
    for entry in lines:
        if entry.get("action") not in ("grant", "update") or entry.get("resource_type") == "account":
            continue
        if entry.get("outcome") not in ("applied", "already"):
            continue
        grant = Grant(
            str(entry.get("vendor", "")), str(entry.get("tenant", "")), str(entry.get("resource_type", "")),
            str(entry.get("resource", "")), str(entry.get("entitlement", "")), str(entry.get("principal", "")),
        )  # fmt: skip
        at = str(entry.get("time", ""))
        if at >= found.get(grant, ""):
            found[grant] = at
    return found
