"""The desired grants kept as the lines that make them, expanded one grant at a time only when asked.

A team line grants thousands of people the same thing from the same place, so normalize records
each line once: a `Segment` (the grant's head, the principals the line adds, its shared
`Provenance`). A hundred thousand people with ten grants each are then a few hundred segments, not
a million grant tuples in a dict; `validate` and `plan` never expand them, and whoever iterates the
provenance (a report, recertification) gets exactly what a grant-by-grant dict held, in its order.

The rare line that changes what an earlier line decided is kept beside the segments:
- `overrides`: a person's own line re-explains a grant a team line already made;
- `replaced`: a person's own line takes an exclusive slot (one Procore template per project and
  person) that a team line held, with its own entitlement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import compress, repeat
from operator import is_, itemgetter
from typing import NamedTuple

from reconciler.desired_accounts import AccountSources
from reconciler.records import AccountKey, Grant, Head, Provenance

# An exclusive slot: (vendor, tenant, resource type, resource, principal).
Slot = tuple[str, str, str, str, str]


class Segment(NamedTuple):
    """The grants one line added: `head` + each of `principals`, explained by `provenance`."""

    head: Head
    principals: Sequence[str]
    provenance: Provenance
    exclusive: bool


def slot_of(grant: tuple[str, ...]) -> Slot:
    return (grant[0], grant[1], grant[2], grant[3], grant[5])


class LineGrants(Mapping["Grant | AccountKey", Provenance]):
    """Grant or account key -> Provenance, over segments (see the module's docstring).

    Iteration yields what normalize's grant-by-grant dict did, in the same order: the grants of
    non-exclusive types line by line, then those of exclusive types, then the accounts. Looking a
    grant up builds the index of its head's principals once, on first use.
    """

    __slots__ = ("_accounts", "_by_head", "_count", "_groups", "_indexes", "_overridden", "_overrides",
                 "_replaced", "_segments")  # fmt: skip

    def __init__(
        self,
        segments: Sequence[Segment],
        groups: Mapping[Head, Sequence[str]],
        overrides: Mapping[Grant, Provenance],
        replaced: Mapping[Slot, tuple[Grant, Provenance]],
        accounts: Mapping[AccountKey, Provenance],
    ) -> None:
        self._segments = sorted(segments, key=_EXCLUSIVE_LAST)  # stable: line order within each kind
        self._groups = groups
        self._overrides = overrides
        self._overridden = {grant[:5] for grant in overrides}
        self._replaced = replaced
        self._accounts = accounts
        self._by_head: dict[Head, list[Segment]] | None = None
        self._indexes: dict[Head, dict[str, Provenance]] = {}
        self._count = sum(map(len, groups.values()))

    def renamed(self, moved: Mapping[tuple[str, str, str, str], tuple[str, str, str, str]]) -> LineGrants:
        """These lines with resources re-keyed: (vendor, tenant, type, resource) -> another such key
        (`reconciler.canonical`). Per line, never per grant; the same order."""

        def head_of(head: Head) -> Head:
            new = moved.get(head[:4])
            return head if new is None else (*new, head[4])

        def grant_of(grant: Grant) -> Grant:
            new = moved.get(grant[:4])
            return grant if new is None else Grant(*new, grant[4], grant[5])

        def slot_of_renamed(slot: Slot) -> Slot:
            new = moved.get(slot[:4])
            return slot if new is None else (*new, slot[4])

        groups: dict[Head, Sequence[str]] = {}
        for head, held in self._groups.items():
            new = head_of(head)
            groups[new] = held if new not in groups else list(dict.fromkeys([*groups[new], *held]))
        return LineGrants(
            [Segment(head_of(s.head), s.principals, s.provenance, s.exclusive) for s in self._segments],
            groups,
            {grant_of(g): p for g, p in self._overrides.items()},
            {slot_of_renamed(slot): (grant_of(g), p) for slot, (g, p) in self._replaced.items()},
            self._accounts,
        )

    def segment_of(self, head: Head) -> Segment:
        """The first segment of `head` (its only one, when a single line grants it)."""
        return self._heads()[head][0]

    def _heads(self) -> dict[Head, list[Segment]]:
        if self._by_head is None:
            self._by_head = {}
            for segment in self._segments:
                self._by_head.setdefault(segment.head, []).append(segment)
        return self._by_head

    def _index(self, head: Head) -> dict[str, Provenance]:
        index = self._indexes.get(head)
        if index is None:
            index = {}
            for segment in self._heads().get(head, ()):
                index.update(zip(segment.principals, repeat(segment.provenance)))
            index = self._indexes[head] = index
        return index

    def __getitem__(self, key: Grant | AccountKey) -> Provenance:
        if len(key) != 6:
            return self._accounts[key]
        grant = key
        if self._overridden and grant[:5] in self._overridden:
            found = self._overrides.get(grant)
            if found is not None:
                return found
        if self._replaced:
            held = self._replaced.get(slot_of(grant))
            if held is not None:
                if held[0] == grant:
                    return held[1]
                raise KeyError(key)  # the slot is another entitlement's now
        return self._index(grant[:5])[grant[5]]

    def of_wanted(self, grants: Iterable[Grant]) -> list[Provenance | None]:
        """`[self.get(g) for g in grants]`, for grants the YAML wants (each in its head's group, as
        the planner's missing grants are): a head that one line grants alone, no other line
        re-explaining it, gives that line's provenance without indexing its principals."""
        grants = grants if isinstance(grants, list) else list(grants)
        of_head = list(map(_HEAD, grants))
        heads = self._heads()
        changed = {slot[:4] for slot in self._replaced}
        alone: dict[Head, Provenance | None] = {}
        for head in set(of_head):
            segments = heads.get(head, [])
            one = len(segments) == 1 and head not in self._overridden
            if one and segments[0].exclusive and head[:4] in changed:
                one = False
            alone[head] = segments[0].provenance if one else None
        found = list(map(alone.__getitem__, of_head))
        if None in alone.values():  # (heads more than one line explains: grant by grant)
            for i in compress(range(len(found)), map(is_, found, repeat(None))):
                found[i] = self.get(grants[i])
        return found

    def of_accounts(self, vendor: str, tenant: str, principals: Sequence[str]) -> list[Provenance | None]:
        """`[self.get(AccountKey(vendor, tenant, p)) for p in principals]` (a line's accounts at once)."""
        accounts = self._accounts
        if isinstance(accounts, AccountSources):
            return accounts.of_line(vendor, tenant, principals)
        return [accounts.get(AccountKey(vendor, tenant, p)) for p in principals]

    def get(self, key: Grant | AccountKey, default: Provenance | None = None) -> Provenance | None:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and self.get(key) is not None  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self._count + len(self._accounts)

    def __iter__(self) -> Iterator[Grant | AccountKey]:
        for grant, _ in self._grant_items():
            yield grant
        yield from self._accounts

    def items(self) -> Iterator[tuple[Grant | AccountKey, Provenance]]:  # type: ignore[override]
        yield from self._grant_items()
        yield from self._accounts.items()

    def values(self) -> Iterator[Provenance]:  # type: ignore[override]
        for _, provenance in self.items():
            yield provenance

    def items_where(self, wanted: Callable[[Provenance], object]) -> Iterator[tuple[Grant, Provenance]]:
        """The grants whose provenance is `wanted`, in order, expanding only the lines that can
        hold one (a rule about `expires` looks at the few lines that set it)."""
        changed = {slot[:4] for slot in self._replaced}
        for segment in self._segments:
            if (
                wanted(segment.provenance)
                or segment.head in self._overridden
                or (segment.exclusive and segment.head[:4] in changed)
            ):
                for grant, provenance in self._items_of(segment):
                    if wanted(provenance):
                        yield grant, provenance

    def runs(self) -> Iterator[tuple[Head, Sequence[str], Provenance]]:
        """The grants in iteration order, as runs of one head and one provenance: a line's grants
        are one run (its principals as kept, not copied) unless a person's own line re-explains
        some of them or takes their slot."""
        changed = {slot[:4] for slot in self._replaced}
        for segment in self._segments:
            head, principals, provenance, exclusive = segment
            if (head[:4] in changed) if exclusive else (head in self._overridden):
                yield from runs_of(self._items_of(segment))
            else:
                yield head, principals, provenance

    def _grant_items(self) -> Iterator[tuple[Grant, Provenance]]:
        for segment in self._segments:
            yield from self._items_of(segment)

    def _items_of(self, segment: Segment) -> Iterator[tuple[Grant, Provenance]]:
        head, principals, provenance, exclusive = segment
        grants = map(tuple.__new__, repeat(Grant), map(head.__add__, zip(principals)))
        if exclusive and self._replaced:
            replaced = self._replaced
            for grant in grants:
                yield replaced.get(slot_of(grant), (grant, provenance))
        elif not exclusive and head in self._overridden:
            overrides = self._overrides
            for grant in grants:
                yield grant, overrides.get(grant, provenance)
        else:
            yield from zip(grants, repeat(provenance))


def runs_of(items: Iterable[tuple[Grant, Provenance]]) -> Iterator[tuple[Head, list[str], Provenance]]:
    """Consecutive grants of one head explained by one provenance (the same object), as runs."""
    head: Head | None = None
    explained: Provenance | None = None
    principals: list[str] = []
    for grant, provenance in items:
        if provenance is not explained or grant[:5] != head:
            if head is not None and explained is not None:
                yield head, principals, explained
            head, explained, principals = grant[:5], provenance, []
        principals.append(grant[5])
    if head is not None and explained is not None:
        yield head, principals, explained


def _EXCLUSIVE_LAST(segment: Segment) -> bool:
    return segment.exclusive


_HEAD = itemgetter(slice(0, 5))  # a grant's head
