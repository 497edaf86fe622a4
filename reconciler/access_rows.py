"""Who holds what, and why: one row per grant, desired or actual, with its provenance (pure).

A row joins the YAML line that grants the access (or none: drift or unmanaged access), the
approval ledger's record for the grant (the landing, pull request and approvers the gate counted,
looked up by the caller and passed in as `origins_of`: per grant, never per line), the reason and
expiry, and when apply last applied it (the audit log). The same rows feed `access why` (one
person) and `access report` (everyone).

A report has a row per grant, a million at 100,000 people, and they share a few hundred lines: so
the rows are kept as columns (`Rows`), each line's cells once (`Line`), each person's once, and per
grant only its principal, status, approval record and applied time, in the order they were made
(the YAML's lines, then drift). The order they are shown in is worked out once, as integers; `Row`
objects are made only for whoever iterates (`why`), and the report takes the columns a chunk at a
time (`Rows.chunks`) and writes each before it makes the next.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from itertools import chain, repeat
from operator import add, itemgetter, sub
from typing import NamedTuple

from reconciler.connectors.base import VendorState
from reconciler.line_grants import LineGrants, runs_of
from reconciler.origin import Origin
from reconciler.policy_model import Policies
from reconciler.records import AccessSet, Grant, Head, Person, Provenance
from reconciler.rules.matching import matches
from reconciler.usage import AccountIndex, reports_sign_ins


class Status(StrEnum):
    IN_FORCE = "in force"  # in the YAML and at the vendor
    PENDING = "pending"  # in the YAML, not (yet) at the vendor: the next apply grants it
    NOT_IN_YAML = "not in the YAML"  # at the vendor only: drift (a managed resource) or unmanaged
    INDIRECT = "indirect"  # held through nesting or a dynamic rule at the vendor: shown, never revoked
    DESIRED = "desired"  # in the YAML; the vendors were not read


# The approval ledger's answer for the grants of one head: the origin of a grant it holds no record
# of, and the origins of those it does, by principal (`ledger_view.Answers.origins`).
OriginsOf = Callable[[Head], tuple[Origin | None, Mapping[str, Origin]]]
# When apply last applied each grant, by head, then principal (`reconciler.applied`).
Applied = Mapping[Head, Mapping[str, str]]


class Row(NamedTuple):
    """One grant and its provenance."""

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
    origin: Origin | None  # the approval ledger's record for the grant
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


class Line(NamedTuple):
    """What every row of a run shares: the grant less its principal, and what its line says."""

    head: Head
    source: str  # file:line; "" for drift
    via: str
    reason: str
    expires: str
    expiring: bool
    certified: str
    privileged: str  # the privileged rules the head matches, comma-separated


class Chunk(NamedTuple):
    """Consecutive rows, in order, as columns: each row's run (an index into `Rows.lines`),
    principal, status, approval record and applied time."""

    lines: list[int]
    principals: list[str]
    statuses: list[Status]
    origins: list[Origin | None]
    applied: list[str]


CHUNK = 1 << 15  # rows made into text (or `Row` objects) at a time


class Rows:
    """Every row of a view, kept as columns (see the module's docstring). Iterating yields `Row`s
    in order; `chunks` gives the same rows as columns, a chunk at a time."""

    __slots__ = ("applied", "line_of", "lines", "order", "origins", "people", "persons", "principals", "sign_in",
                 "starts", "statuses")  # fmt: skip

    def __init__(
        self,
        lines: list[Line],
        starts: list[int],
        principals: list[str],
        statuses: list[Status],
        origins: list[Origin | None],
        applied: list[str],
        people: dict[str, Person],
        persons: Mapping[str, Person],
        order: array[int],
        sign_in: SignIns | None = None,
    ) -> None:
        self.lines = lines  # per run
        self.starts = starts  # where each run's rows start (and, last, how many rows there are)
        self.line_of = list(chain.from_iterable(map(repeat, range(len(lines)), map(sub, starts[1:], starts))))
        self.principals = principals  # per row, in the order made
        self.statuses = statuses
        self.origins = origins
        self.applied = applied
        self.people = (
            people  # principal -> their line in people.yaml, or NOBODY (their cells: key, name, github)
        )
        self.persons = persons  # principal -> their line in people.yaml (desired.people)
        self.order = order  # the rows' indexes in the order shown
        # (vendor, tenant, principal) -> when that account last signed in (`usage.sign_in_text`)
        self.sign_in = sign_in or SignIns(None, persons)

    def __len__(self) -> int:
        return len(self.order)

    def chunks(self, size: int = CHUNK) -> Iterator[Chunk]:
        for start in range(0, len(self.order), size):
            at = self.order[start : start + size].tolist()
            yield Chunk(
                list(map(self.line_of.__getitem__, at)),
                list(map(self.principals.__getitem__, at)),
                list(map(self.statuses.__getitem__, at)),
                list(map(self.origins.__getitem__, at)),
                list(map(self.applied.__getitem__, at)),
            )

    def __iter__(self) -> Iterator[Row]:
        for chunk in self.chunks():
            yield from map(self._row, *chunk)

    def _row(self, line: int, principal: str, status: Status, origin: Origin | None, applied: str) -> Row:
        found = self.lines[line]
        who = self.people[principal]
        membership = ""
        if found.via:
            person = self.persons.get(principal)
            membership = str(person.source) if person is not None and person.source is not None else ""
        return Row(
            *found.head, principal, who.key, who.name, who.github, status, found.source, found.via, membership, found.reason,
            found.expires, found.privileged, found.expiring, origin, applied, found.certified,
            self.sign_in((found.head[0], found.head[1], principal)),
        )  # fmt: skip

    def run_rows(self, run: int) -> slice:
        """The rows of one run, as a slice of the columns in the order made."""
        return slice(self.starts[run], self.starts[run + 1])


def build_rows(
    desired: AccessSet,
    actual: Mapping[str, VendorState] | None,
    policies: Policies,
    today: dt.date,
    *,
    origins_of: OriginsOf,
    applied: Applied | Callable[[], Applied],
    wanted: Callable[[Grant], bool] | None = None,
) -> Rows:
    """Every grant of the YAML and of the vendors (those `wanted`, all by default), with provenance.

    Sorted by vendor, person (or principal), tenant, resource type and resource; grants that tie
    keep the order of the YAML, then drift's (sorted). Each line's grants are one run: what depends
    on the line, the head or the person is worked out once for each; per grant, only lookups in C.
    """
    privileged_of = _privileged_lookup(policies)
    expiring_of = _expiring_lookup(today, policies.expiry_warnings.within_days)
    runs: list[tuple[Head, Sequence[str], Provenance | None]] = []
    for head, principals, provenance in _desired_runs(desired):
        if wanted is not None:
            principals = [p for p in principals if wanted(Grant(*head, p))]
        if principals:
            runs.append((head, principals, provenance))
    if actual is None:
        run_statuses: list[Iterable[Status]] = [repeat(Status.DESIRED, len(run[1])) for run in runs]
    else:
        run_statuses, drift = _against(desired, actual, runs)
        for status, head, principals in drift:
            if wanted is not None:
                principals = [p for p in principals if wanted(Grant(*head, p))]
            if principals:
                runs.append((head, principals, None))
                run_statuses.append(repeat(status, len(principals)))

    lines: list[Line] = []
    starts = [0]
    principals_of: list[str] = []
    statuses: list[Status] = []
    origins: list[Origin | None] = []
    per_line: dict[int, tuple[str, str, str, str, bool, str]] = {}
    for (head, principals, line), run_status in zip(runs, run_statuses, strict=True):
        said = per_line.get(id(line))
        if said is None:
            said = per_line[id(line)] = _line(line or _NOTHING, expiring_of)
        lines.append(Line(head, *said, privileged_of(head)))
        starts.append(starts[-1] + len(principals))
        principals_of += principals
        statuses += run_status
        if line is None:  # drift: no line, no approval
            origins += repeat(None, len(principals))
        else:
            default, known = origins_of(head)
            origins += (
                map(known.get, principals, repeat(default)) if known else repeat(default, len(principals))
            )

    held = [run[1] for run in runs]  # each run's principals: a team's members are one sequence for its lines
    distinct = list({id(principals): principals for principals in held}.values())
    people = _people(set().union(*distinct), desired.people)
    order = _order(lines, held, people)
    if callable(applied):  # (the audit log's answer, taken as late as can be: a second process reads it)
        applied = applied()
    applied_at: list[str] = []
    for made, principals in zip(lines, held, strict=True):
        times = applied.get(made.head)
        applied_at += map(times.get, principals, repeat("")) if times else repeat("", len(principals))
    sign_in = SignIns(actual, desired.people) if actual is not None else None
    return Rows(
        lines, starts, principals_of, statuses, origins, applied_at, people, desired.people, order, sign_in
    )


_NOTHING = Provenance(None)  # what explains drift: no line


class SignIns:
    """(vendor, tenant, principal) -> when that account last signed in (`usage.sign_in_text`),
    worked out once per account; the account is found as the plan finds it (login, else email).
    `many`: the same for a vendor's tenant's principals at once (one text for all of them where
    the vendor, or the state read, does not say)."""

    def __init__(self, actual: Mapping[str, VendorState] | None, people: Mapping[str, Person]) -> None:
        self.index = AccountIndex(actual.values()) if actual is not None else None
        self.people = people
        self.cache: dict[tuple[str, str, str], str] = {}

    def __call__(self, key: tuple[str, str, str]) -> str:
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = self._find(*key)
        return found

    def many(self, vendor: str, tenant: str, principals: Sequence[str]) -> Iterable[str]:
        index = self.index
        if index is None:
            return repeat("", len(principals))
        if not reports_sign_ins(vendor) or not index.knows(vendor):  # the same for every account
            return repeat(index.text(vendor, None), len(principals))
        return map(self, zip(repeat(vendor), repeat(tenant), principals))

    def _find(self, vendor: str, tenant: str, principal: str) -> str:
        if self.index is None:
            return ""
        return self.index.text(vendor, self.index.find(vendor, tenant, principal, self.people.get(principal)))


def _desired_runs(desired: AccessSet) -> Iterator[tuple[Head, Sequence[str], Provenance]]:
    """The YAML's grants in the order of its provenance, as runs of one head and one line."""
    provenance = desired.provenance
    if isinstance(provenance, LineGrants):
        return provenance.runs()
    return runs_of((key, p) for key, p in provenance.items() if isinstance(key, Grant))


def _against(
    desired: AccessSet,
    actual: Mapping[str, VendorState],
    runs: list[tuple[Head, Sequence[str], Provenance | None]],
) -> tuple[list[Iterable[Status]], list[tuple[Status, Head, list[str]]]]:
    """Each desired run's statuses (in force where a vendor holds the grant, else pending), and
    drift: what the vendors hold that the YAML does not, directly (sorted), then only indirectly
    (sorted). Worked out a head at a time, on sets of its principals."""
    held = _by_head(actual, direct=True)
    indirect = _by_head(actual, direct=False)
    listed = desired.grant_groups
    if listed is None:
        listed = _grouped(desired.grants)
    runs_of_head: dict[Head, list[int]] = {}
    for number, (head, _, _) in enumerate(runs):
        runs_of_head.setdefault(head, []).append(number)
    statuses: list[Iterable[Status]] = [()] * len(runs)
    not_in_yaml: list[tuple[Status, Head, list[str]]] = []
    only_indirect: list[tuple[Status, Head, list[str]]] = []
    nobody: Sequence[str] = ()
    for head in sorted(held.keys() | indirect.keys() | runs_of_head.keys()):
        direct = set(held.get(head, nobody))
        more = indirect.get(head)
        present = direct | set(more) if more else direct
        for number in runs_of_head.get(head, ()):
            principals = runs[number][1]
            if present.issuperset(principals):  # (most often: one pass in C, no list)
                statuses[number] = repeat(Status.IN_FORCE, len(principals))
            else:
                statuses[number] = list(map(_STATUS.__getitem__, map(present.__contains__, principals)))
        wanted = listed.get(head, nobody)
        extra = direct.difference(wanted)
        if extra:
            not_in_yaml.append((Status.NOT_IN_YAML, head, sorted(extra)))
        if more:
            extra = set(more).difference(wanted, direct)
            if extra:
                only_indirect.append((Status.INDIRECT, head, sorted(extra)))
    return statuses, not_in_yaml + only_indirect


_STATUS = (Status.PENDING, Status.IN_FORCE)  # by whether a vendor holds it


def _by_head(actual: Mapping[str, VendorState], *, direct: bool) -> dict[Head, Sequence[str]]:
    """The vendors' grants (held directly, or only indirectly), by head."""
    found: dict[Head, Sequence[str]] = {}
    for state in actual.values():
        if direct and state.grant_groups is not None:
            found.update(state.grant_groups)
        else:
            found.update(_grouped(state.grants if direct else state.indirect))
    return found


def _grouped(grants: Iterable[Grant]) -> dict[Head, list[str]]:
    groups: dict[Head, list[str]] = {}
    for grant in grants:
        groups.setdefault(grant[:5], []).append(grant[5])
    return groups


def _line(provenance: Provenance, expiring_of: Callable[[str], bool]) -> tuple[str, str, str, str, bool, str]:
    """What a row takes from its source line: source, via, reason, expires, expiring, certified."""
    source, expires = provenance.source, provenance.expires
    return (
        str(source) if source else "", provenance.via, provenance.reason, expires,
        expiring_of(expires) if expires else False, provenance.certified,
    )  # fmt: skip


def _people(principals: set[str], people: Mapping[str, Person]) -> dict[str, Person]:
    """principal -> their line in people.yaml (NOBODY for an account nobody listed), those listed
    in the order people.yaml lists them (often sorted already: `_order` sorts them in near-linear
    time), then the others."""
    listed = list(filter(principals.__contains__, people))
    found = dict(zip(listed, map(people.__getitem__, listed), strict=True))
    if len(found) < len(principals):
        found.update(zip(sorted(principals.difference(found)), repeat(NOBODY)))
    return found


NOBODY = Person("", "", "")  # the cells of an account nobody listed in people.yaml
_KEY = itemgetter(0)  # a Person's key


def _order(lines: list[Line], held: list[Sequence[str]], people: Mapping[str, Person]) -> array[int]:
    """The rows' indexes sorted by vendor, person (their key, else the principal), tenant, resource
    type and resource, ties in the order made: one stable sort of the rows' indexes by an integer
    key each, those fields' ranks packed (small integers, compared in C; a line's rows, as
    people.yaml lists its members, are runs already in order). A run's key is its person's part
    (worked out once for each sequence of principals: a team's members on each of its lines) plus
    its line's vendor's and place's."""
    vendors = {v: i for i, v in enumerate(sorted({line.head[0] for line in lines}))}
    places = {p: i for i, p in enumerate(sorted({line.head[1:4] for line in lines}))}
    everyone = list(people)
    names = [key or principal for key, principal in zip(map(_KEY, people.values()), everyone, strict=True)]
    ranked = sorted(range(len(names)), key=names.__getitem__)  # (in people.yaml's order: often sorted)
    per_name = max(len(places), 1)
    per_vendor = per_name * max(len(names), 1)
    steps = range(0, len(names) * per_name, per_name)
    scaled = dict(zip(map(everyone.__getitem__, ranked), steps, strict=True))
    if len(set(names)) < len(names):  # principals of one person: one rank, the first's
        first: dict[str, int] = {}
        scaled = dict(zip(scaled, map(first.setdefault, map(names.__getitem__, ranked), steps), strict=True))
    of_sequence: dict[int, list[int]] = {}
    keys: list[int] = []
    for line, principals in zip(lines, held, strict=True):
        ranks = of_sequence.get(id(principals))
        if ranks is None:
            ranks = of_sequence[id(principals)] = list(map(scaled.__getitem__, principals))
        keys += map(add, ranks, repeat(vendors[line.head[0]] * per_vendor + places[line.head[1:4]]))
    return array("q", sorted(range(len(keys)), key=keys.__getitem__))


def _expiring_lookup(today: dt.date, window: int) -> Callable[[str], bool]:
    cache: dict[str, bool] = {}

    def lookup(expires: str) -> bool:
        found = cache.get(expires)
        if found is None:
            days = (dt.date.fromisoformat(expires[:10]) - today).days
            found = cache[expires] = 0 <= days <= window
        return found

    return lookup


def _privileged_lookup(policies: Policies) -> Callable[[Head], str]:
    """Which privileged rules a head (vendor .. entitlement) matches, worked out once per head."""
    cache: dict[Head, str] = {}
    rules = list(policies.privileged.items())

    def lookup(head: Head) -> str:
        found = cache.get(head)
        if found is None:
            found = cache[head] = ", ".join(
                name for name, rule in rules if any(matches(m, *head) for m in rule.entitlements)
            )
        return found

    return lookup
