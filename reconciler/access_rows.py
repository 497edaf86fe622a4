"""Who holds what, and why: one row per grant, desired or actual, with its provenance (pure).

A row joins the YAML line that grants the access (or none: drift or unmanaged access), the
approval ledger's record for the grant (the landing, pull request and approvers the gate counted,
looked up by the caller and passed in as `origin_of`: per grant, never per line), the reason and expiry, and when apply last applied it (the audit log). The same
rows feed `access why` (one person) and `access report` (everyone).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from itertools import compress, repeat
from operator import attrgetter, is_, itemgetter, methodcaller
from typing import NamedTuple, cast

from reconciler.connectors.base import VendorState
from reconciler.location import Location
from reconciler.origin import Origin
from reconciler.policy_model import Policies
from reconciler.records import AccessSet, Grant, Person, Provenance
from reconciler.rules.matching import grant_matches
from reconciler.usage import AccountIndex, sign_in_text


class Status(StrEnum):
    IN_FORCE = "in force"  # in the YAML and at the vendor
    PENDING = "pending"  # in the YAML, not (yet) at the vendor: the next apply grants it
    NOT_IN_YAML = "not in the YAML"  # at the vendor only: drift (a managed resource) or unmanaged
    INDIRECT = "indirect"  # held through nesting or a dynamic rule at the vendor: shown, never revoked
    DESIRED = "desired"  # in the YAML; the vendors were not read


OriginOf = Callable[[Grant], Origin | None]  # the approval ledger's answer for a grant


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
    # When the holder's account at the vendor last signed in (`usage.sign_in_text`: a time, "never",
    # "not available" where the vendor does not say, "no account"); "" when the vendors were not read.
    last_sign_in: str = ""

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


class Picked(NamedTuple):
    """The grants a view shows (all of the YAML's, or those `wanted` picks), worked out once for
    the lines to blame and the rows."""

    grants: list[Grant]
    sources: list[Provenance]  # each grant's (shared) provenance
    person_of: dict[str, Person | None]  # by the grants' own principal strings (found by identity)
    wanted: Callable[[Grant], bool] | None


def pick(desired: AccessSet, wanted: Callable[[Grant], bool] | None = None) -> Picked:
    provenance = desired.provenance
    is_grant = list(map(isinstance, provenance, repeat(Grant)))
    grants = cast(list[Grant], list(compress(provenance, is_grant)))
    sources: list[Provenance] = list(compress(provenance.values(), is_grant))
    if wanted is not None:
        chosen = list(map(wanted, grants))
        grants, sources = list(compress(grants, chosen)), list(compress(sources, chosen))
    distinct = list(set(map(itemgetter(5), grants)))
    return Picked(
        grants, sources, dict(zip(distinct, map(desired.people.get, distinct), strict=True)), wanted
    )


def build_rows(
    desired: AccessSet,
    actual: Mapping[str, VendorState] | None,
    policies: Policies,
    today: dt.date,
    *,
    origin_of: OriginOf,
    applied: Mapping[Grant, str],
    picked: Picked | None = None,
) -> list[Row]:
    """Every grant of the YAML and of the vendors (those `picked`, all by default), with provenance.

    Sorted by vendor, person (or principal), tenant, resource type and resource; grants that tie
    keep the order of the YAML. A report makes hundreds of thousands of rows, so they are made a
    column at a time, in C: what depends only on the source line (shared by every grant it makes),
    the person or the entitlement is worked out once for each, then looked up per grant.
    """
    privileged_of = _privileged_lookup(policies)
    expiring_of = _expiring_lookup(today, policies.expiry_warnings.within_days)
    grants, sources, person_of, wanted = picked or pick(desired)
    columns = [list(map(itemgetter(i), grants)) for i in range(6)]  # vendor, tenant, .., principal
    principals = columns[5]
    people = desired.people

    # What comes from the line: source, via, reason, expires, expiring, certified, who wrote it.
    per_line = {key: _line(p, expiring_of) for key, p in _distinct(sources).items()}
    lines = list(map(per_line.__getitem__, map(id, sources)))
    source, via, reason, expires, expiring, certified = (list(map(itemgetter(i), lines)) for i in range(6))
    # What comes from the person: key, name, GitHub login, and the name rows sort by.
    who = list(map(_people_columns(person_of).__getitem__, principals))
    key, name, github, sort_name = (list(map(itemgetter(i), who)) for i in range(4))
    # Through a team: the person's line in people.yaml (their membership) may be the later writer.
    per_member = _memberships(set(compress(principals, via)), person_of)
    membership = [per_member[p] if v else "" for p, v in zip(principals, via, strict=True)]
    origin = list(map(origin_of, grants))  # the approval ledger's answer, per grant
    heads = list(map(_HEAD, grants))
    per_entitlement = {head: privileged_of(g) for head, g in dict(zip(heads, grants, strict=True)).items()}
    privileged = list(map(per_entitlement.__getitem__, heads))

    held: set[Grant] = set()
    indirect: set[Grant] = set()
    drift: list[Grant] = []
    if actual is None:
        status = [Status.DESIRED] * len(grants)
    else:
        for state in actual.values():
            held.update(state.grants)
            indirect.update(state.indirect)
        present = held | indirect if indirect else held
        if wanted is None and len(grants) == len(desired.grants):  # all the grants (each has a line)
            # One pass over both sides finds what only one of them holds: the grants the next apply
            # makes (pending), and what the vendors hold that the YAML does not (drift).
            differ = present ^ desired.grants
            pending = differ & desired.grants
            status = list(
                map((Status.IN_FORCE, Status.PENDING).__getitem__, map(pending.__contains__, grants))
            )
            extra = differ - pending
            drift = sorted(extra & held) + sorted(extra - held)
        else:
            status = list(
                map((Status.PENDING, Status.IN_FORCE).__getitem__, map(present.__contains__, grants))
            )
            drift = sorted(held - desired.grants) + sorted(indirect - desired.grants - held)
    applied_at = list(map(applied.get, grants, repeat("")))
    sign_in_of = _sign_ins(actual, people)
    signed_in = list(map(sign_in_of, map(_ACCOUNT, grants))) if actual is not None else [""] * len(grants)
    rows: list[Row] = list(
        map(tuple.__new__, repeat(Row), zip(
            *columns, key, name, github, status, source, via, membership, reason, expires, privileged,
            expiring, origin, applied_at, certified, signed_in, strict=True,
        ))
    )  # fmt: skip
    keys = list(map(_KEY.join, zip(columns[0], sort_name, columns[1], columns[2], columns[3], strict=True)))

    empty = Provenance(None)
    for grant in drift:
        if wanted is not None and not wanted(grant):
            continue
        person = people.get(grant.principal)
        state_of = Status.INDIRECT if grant in indirect and grant not in held else Status.NOT_IN_YAML
        row = _row(grant, empty, person, state_of, None, None, privileged_of, expiring_of, applied)
        rows.append(row._replace(last_sign_in=sign_in_of(_ACCOUNT(grant))))
        keys.append(
            _KEY.join((row.vendor, row.person or row.principal, row.tenant, row.resource_type, row.resource))
        )
    return _in_order(rows, keys)


# Rows sort by vendor, person (or principal), tenant, resource type and resource. Joined by NUL,
# the lowest character, the five compare as one string exactly as they would field by field.
_KEY = "\0"


def _in_order(rows: list[Row], keys: list[str]) -> list[Row]:
    """`rows` sorted by their keys; a stable sort: rows that tie keep the order they were made in."""
    if sum(map(methodcaller("count", _KEY), keys)) != 4 * len(keys):  # a name with a NUL in it
        fields = [(r.vendor, r.person or r.principal, r.tenant, r.resource_type, r.resource) for r in rows]
        return list(map(rows.__getitem__, sorted(range(len(rows)), key=fields.__getitem__)))
    return list(map(rows.__getitem__, sorted(range(len(rows)), key=keys.__getitem__)))


def _distinct(objects: list[Provenance]) -> dict[int, Provenance]:
    return dict(zip(map(id, objects), objects, strict=True))


def _people_columns(person_of: Mapping[str, Person | None]) -> dict[str, tuple[str, str, str, str]]:
    """principal -> key, name, GitHub login, and the name to sort by (the key, else the principal)."""
    persons = list(person_of.values())
    if any(map(is_, persons, repeat(None))) or not all(map(attrgetter("key"), persons)):  # someone unlisted
        return {
            p: (w.key, w.name, w.github, w.key or p) if w else ("", "", "", p) for p, w in person_of.items()
        }
    return dict(zip(person_of, map(attrgetter("key", "name", "github", "key"), persons), strict=True))


_HEAD = itemgetter(0, 1, 2, 3, 4)  # a grant less its principal: what privileged rules match
_ACCOUNT = itemgetter(0, 1, 5)  # a grant's (vendor, tenant, principal): whose account holds it


def _sign_ins(
    actual: Mapping[str, VendorState] | None, people: Mapping[str, Person]
) -> Callable[[tuple[str, str, str]], str]:
    """(vendor, tenant, principal) -> when that account last signed in (`usage.sign_in_text`),
    worked out once per account; the account is found as the plan finds it (login, else email)."""
    index = AccountIndex((actual or {}).values())
    cache: dict[tuple[str, str, str], str] = {}

    def lookup(key: tuple[str, str, str]) -> str:
        found = cache.get(key)
        if found is None:
            vendor, tenant, principal = key
            found = cache[key] = sign_in_text(
                vendor, index.find(vendor, tenant, principal, people.get(principal))
            )
        return found

    return lookup


# What a row takes from its source line alone: source, via, reason, expires, expiring, certified.
_Line = tuple[str, str, str, str, bool, str]


def _line(provenance: Provenance, expiring_of: Callable[[str], bool]) -> _Line:
    source, expires = provenance.source, provenance.expires
    return (
        str(source) if source else "", provenance.via, provenance.reason, expires,
        expiring_of(expires) if expires else False, provenance.certified,
    )  # fmt: skip


def _memberships(principals: Iterable[str], person_of: Mapping[str, Person | None]) -> dict[str, str]:
    """Each person's line in people.yaml (their team memberships)."""
    found: dict[str, str] = {}
    for principal in principals:
        person = person_of[principal]
        found[principal] = str(person.source) if person is not None and person.source is not None else ""
    return found


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
