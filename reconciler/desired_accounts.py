"""The accounts the YAML asks for, recorded a line at a time and made into records when first used.

Anyone granted something at Procore or Concur needs an account there, and every PingOne account
belongs to a population: at 100,000 people that is 300,000 accounts. `validate` only counts them,
so normalize records which principals each line gives an account (the first line to name an
account explains it) and `Account` records, with their provenance, are made on first use, in the
order the lines gave them.
"""

from __future__ import annotations

from collections.abc import Callable, Container, ItemsView, Iterator, KeysView, Mapping, Sequence, ValuesView
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import attrgetter, is_
from typing import NamedTuple, TypeVar, overload

from reconciler.location import Location
from reconciler.records import Account, AccountAttributes, AccountKey, Person, Provenance

K = TypeVar("K")
V = TypeVar("V")

_EMAIL = attrgetter("email")
_NAME = attrgetter("name")


class _Batch(NamedTuple):
    vendor: str
    tenant: str
    principals: Sequence[str]
    where: Location | list[Location | None] | None  # one line for all, or one each
    attributes: tuple[tuple[str, str], ...]


class AccountLines(NamedTuple):
    """A vendor's accounts as the YAML asks for them, line by line in order (what `records` makes
    of them, as columns: the planner compares them with the vendor's without making a record each),
    and, per tenant, whom it gives one."""

    lines: list[WantedAccounts]
    held: Mapping[str, Container[str]]  # tenant -> principals


class WantedAccounts(NamedTuple):
    """One line's accounts at a vendor: each principal's display name, email and attributes."""

    tenant: str
    principals: Sequence[str]
    names: Sequence[str]
    emails: Sequence[str]
    attributes: Sequence[tuple[tuple[str, str], ...]]


@dataclass
class AccountBatches:
    """The accounts lines give, deduplicated as they come (the first line wins)."""

    batches: list[_Batch] = field(default_factory=list)
    # (vendor, tenant) -> principal -> the batch that gives it
    principals: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    count: int = 0
    _wheres: dict[int, dict[str, Location | None]] = field(default_factory=dict)  # (batches with one each)
    _line_provenance: dict[Location, Provenance] = field(default_factory=dict)
    # batch number -> where its principals' people are in the people's columns, when the line
    # that gave it knew (a team's people, all new): their names are then taken by position.
    positions: dict[int, Sequence[int]] = field(default_factory=dict)

    def add(
        self,
        vendor: str,
        tenant: str,
        principals: Sequence[str],
        where: Location | list[Location | None] | None,
        attributes: tuple[tuple[str, str], ...],
        *,
        fresh: bool = False,
        positions: Sequence[int] | None = None,
    ) -> None:
        """`principals`' accounts, but those an earlier line gave (`fresh`: the caller knows there
        are none such, and no principal twice). `positions`: where each principal's person is in
        the people's columns (`lines` takes their names from there)."""
        held = self.principals.setdefault((vendor, tenant), {})
        if not fresh and not held.keys().isdisjoint(principals):
            kept = [principal not in held for principal in principals]
            principals = list(compress(principals, kept))
            positions = None
            if isinstance(where, list):
                where = list(compress(where, kept))
        if not principals:
            return
        if positions is not None:
            self.positions[len(self.batches)] = positions
        held.update(zip(principals, repeat(len(self.batches))))
        self.count += len(principals)
        self.batches.append(_Batch(vendor, tenant, principals, where, attributes))

    def lines(
        self,
        vendor: str,
        people: Mapping[str, Person],
        logins: Mapping[str, Mapping[str, str]],
        names_column: Sequence[str] = (),
    ) -> AccountLines:
        """`vendor`'s accounts as `records` would make them, a line at a time, as columns.
        `names_column`: the people's names in the order `positions` count."""
        lines = []
        overrides = logins.get(vendor)
        names: Mapping[str, str] | None = None
        for number, (batch_vendor, tenant, principals, _, attributes) in enumerate(self.batches):
            if batch_vendor != vendor:
                continue
            positions = self.positions.get(number) if names_column else None
            if positions is not None:
                their_names = list(map(names_column.__getitem__, positions))
            else:
                names = names if names is not None else _names_of(people)
                their_names = list(map(names.__getitem__, principals))
            every: Sequence[tuple[tuple[str, str], ...]] = [attributes] * len(principals)
            if overrides and not overrides.keys().isdisjoint(principals):
                every = [
                    tuple(sorted((("login", overrides[p]), *attributes))) if p in overrides else attributes
                    for p in principals
                ]
            emails = _Emails(principals, people)  # (read of the few accounts that change)
            lines.append(WantedAccounts(tenant, principals, their_names, emails, every))
        held = {tenant: found for (v, tenant), found in self.principals.items() if v == vendor}
        return AccountLines(lines, held)

    def source(self, key: AccountKey) -> Provenance | None:
        """The provenance of one account (`sources()[key]`), found without making them all."""
        held = self.principals.get((key[0], key[1]))
        number = held.get(key[2]) if held is not None else None
        if number is None:
            return None
        where = self.batches[number].where
        if isinstance(where, list):
            wheres = self._wheres.get(number)
            if wheres is None:
                batch = self.batches[number]
                wheres = self._wheres[number] = dict(zip(batch.principals, where, strict=True))
            where = wheres[key[2]]
        return self._source_only(where)

    def sources_of(self, vendor: str, tenant: str, principals: Sequence[str]) -> list[Provenance | None]:
        """`[self.source(AccountKey(vendor, tenant, p)) for p in principals]`, each batch's line
        looked at once (a line's accounts come from one batch, or a few)."""
        held = self.principals.get((vendor, tenant), {})
        numbers = list(map(held.get, principals))
        lines: dict[int | None, Provenance | None] = {}
        for number in set(numbers):
            where = self.batches[number].where if number is not None else None
            lines[number] = (
                self._source_only(where) if number is not None and not isinstance(where, list) else None
            )
        found = list(map(lines.__getitem__, numbers))
        if None in lines.values():  # (a batch with a line per account, or none)
            for i in compress(range(len(found)), map(is_, found, repeat(None))):
                found[i] = self.source(AccountKey(vendor, tenant, principals[i]))
        return found

    def _source_only(self, where: Location | None) -> Provenance:
        where = where or Location("", 0)
        found = self._line_provenance.get(where)
        if found is None:
            found = self._line_provenance[where] = Provenance(where)
        return found

    def records(
        self, people: Mapping[str, Person], logins: Mapping[str, Mapping[str, str]]
    ) -> tuple[dict[str, dict[AccountKey, Account]], list[list[AccountKey]]]:
        """Every account by vendor and each batch's keys, made in C a batch at a time.
        `people` by principal; `logins`: vendor -> principal -> login override."""
        by_vendor: dict[str, dict[AccountKey, Account]] = {}
        batch_keys: list[list[AccountKey]] = []
        for vendor, tenant, principals, _, attributes in self.batches:
            whom = list(map(people.__getitem__, principals))
            overrides = logins.get(vendor)
            every: Iterator[tuple[tuple[str, str], ...]] | list[tuple[tuple[str, str], ...]] = repeat(
                attributes
            )
            if overrides and not overrides.keys().isdisjoint(principals):
                every = [
                    tuple(sorted((("login", overrides[p]), *attributes))) if p in overrides else attributes
                    for p in principals
                ]
            rows = zip(
                repeat(vendor), repeat(tenant), principals, repeat(True), map(_EMAIL, whom), map(_NAME, whom),
                every, repeat(""), repeat(""), repeat(""),
            )  # fmt: skip
            keys = list(
                map(tuple.__new__, repeat(AccountKey), zip(repeat(vendor), repeat(tenant), principals))
            )
            batch_keys.append(keys)
            accounts = by_vendor.setdefault(vendor, {})
            accounts.update(zip(keys, map(tuple.__new__, repeat(Account), rows), strict=True))
        return by_vendor, batch_keys

    def attributes(self, logins: Mapping[str, Mapping[str, str]]) -> AccountAttributes:
        """(vendor, tenant) -> principal -> managed attributes: what `records` says of each account
        besides its person's email and name, without making the records."""
        found: dict[tuple[str, str], dict[str, tuple[tuple[str, str], ...]]] = {}
        for vendor, tenant, principals, _, attributes in self.batches:
            found.setdefault((vendor, tenant), {}).update(zip(principals, repeat(attributes)))
        for (vendor, _), held in found.items():
            overrides = logins.get(vendor) or {}
            for principal in overrides.keys() & held.keys():
                held[principal] = tuple(sorted((("login", overrides[principal]), *held[principal])))
        return found

    def sources(self) -> dict[AccountKey, Provenance]:
        """Each account's provenance: the line that first named it (only the line: a grant's
        reason and expiry are the grant's)."""
        sources: dict[AccountKey, Provenance] = {}
        source_only = self._source_only
        for vendor, tenant, principals, where, _ in self.batches:
            keys = map(tuple.__new__, repeat(AccountKey), zip(repeat(vendor), repeat(tenant), principals))
            if isinstance(where, list):
                lines = {w: source_only(w) for w in set(where)}  # a few hundred lines
                sources.update(zip(keys, map(lines.__getitem__, where), strict=True))
            else:
                sources.update(zip(keys, repeat(source_only(where), len(principals)), strict=True))
        return sources


def in_order(
    by_vendor: Mapping[str, Mapping[AccountKey, Account]], batch_keys: list[list[AccountKey]]
) -> dict[AccountKey, Account]:
    """Every account in the order the lines gave them."""
    accounts: dict[AccountKey, Account] = {}
    for keys in batch_keys:
        if keys:
            accounts.update(zip(keys, map(by_vendor[keys[0].vendor].__getitem__, keys), strict=True))
    return accounts


class Deferred(Mapping[K, V]):
    """A mapping made by `make` on first use; its length may be known before that."""

    __slots__ = ("_length", "_made", "_make")

    def __init__(self, make: Callable[[], Mapping[K, V]], length: int | None = None) -> None:
        self._make = make
        self._made: Mapping[K, V] | None = None
        self._length = length

    def _mapping(self) -> Mapping[K, V]:
        if self._made is None:
            self._made = self._make()
        return self._made

    def __getitem__(self, key: K) -> V:
        return self._mapping()[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._mapping())

    def __len__(self) -> int:
        return self._length if self._length is not None and self._made is None else len(self._mapping())

    def __contains__(self, key: object) -> bool:
        return key in self._mapping()

    def get(self, key: K, default: V | None = None) -> V | None:  # type: ignore[override]
        return self._mapping().get(key, default)

    def items(self) -> ItemsView[K, V]:
        return self._mapping().items()

    def values(self) -> ValuesView[V]:
        return self._mapping().values()

    def keys(self) -> KeysView[K]:
        return self._mapping().keys()


class AccountSources(Deferred[AccountKey, Provenance]):
    """`AccountBatches.sources()`, made on first iteration; one account's looked up without it."""

    __slots__ = ("_batches",)

    def __init__(self, batches: AccountBatches) -> None:
        super().__init__(batches.sources, batches.count)
        self._batches = batches

    def __getitem__(self, key: AccountKey) -> Provenance:
        if self._made is not None:
            return self._made[key]
        found = self._batches.source(key) if isinstance(key, tuple) and len(key) == 3 else None
        if found is None:
            raise KeyError(key)
        return found

    def of_line(self, vendor: str, tenant: str, principals: Sequence[str]) -> list[Provenance | None]:
        """`[self.get(AccountKey(vendor, tenant, p)) for p in principals]`."""
        if self._made is not None:
            return [self._made.get(AccountKey(vendor, tenant, p)) for p in principals]
        return self._batches.sources_of(vendor, tenant, principals)

    def get(self, key: AccountKey, default: Provenance | None = None) -> Provenance | None:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None  # type: ignore[arg-type]


_NAMES: list[tuple[Mapping[str, Person], dict[str, str]]] = []  # (the last people's names, by principal)


def _names_of(people: Mapping[str, Person]) -> dict[str, str]:
    """Each person's name by principal, made once for a set of people (the vendors' lines share it)."""
    if not _NAMES or _NAMES[0][0] is not people:
        _NAMES[:] = [(people, dict(zip(people.keys(), map(_NAME, people.values()), strict=True)))]
    return _NAMES[0][1]


class _Emails(Sequence[str]):
    """The email of each of `principals`' people, looked up when asked."""

    __slots__ = ("_people", "_principals")

    def __init__(self, principals: Sequence[str], people: Mapping[str, Person]) -> None:
        self._principals = principals
        self._people = people

    def __len__(self) -> int:
        return len(self._principals)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self._people[p].email for p in self._principals[index]]
        return self._people[self._principals[index]].email
