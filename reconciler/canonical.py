"""One spelling per vendor resource, everywhere downstream of sync (pure).

access/ may name a Procore project by its name or by its numeric id (`"17179869685"`), and
`policies/` names projects too (`owners: {Harbor Tower: [carol]}`). Were each kept as written, a
grant written under the id would be another resource than the same grant under the name, and a rule
about the name would not see it. So the vendor's state says which spelling its grants use
(`VendorState.aliases`: the Procore connector maps each project id to the project's name when that
name is unique in the company), and everything the YAML says is keyed the same way before it meets
actual state: desired grants and their groups, scope, provenance, expired grants, resource sources.

- `aliases_of(actual) -> Aliases`: the spellings of every synced vendor state (a snapshot written
  before vendors reported them has none: then nothing is renamed, as before).
- `Aliases.canonical(vendor, tenant, resource_type, resource) -> str`: a Procore project id that
  names a project -> that project's name; anything else as it is (an unknown id stays, and plan
  reports it as unknown).
- `canonical_access(access, aliases) -> AccessSet`: any desired AccessSet keyed canonically. The
  planner calls it (`build_plan`), so `plan`, `apply` and the gate's plans of past states all see
  `Harbor Tower`, never its id. **The ledger**, which folds desired states without vendors, calls it
  on each desired AccessSet with the `Aliases` of apply's sync (`aliases_of(actual)`). When the
  YAML lists one resource under two spellings, the two lines meet on one resource and, as for a
  resource listed twice, that is a located error (`ValidationErrors`).
- `canonical_scope(scope, aliases) -> Scope`: a scope keyed canonically (a connector over stored
  state filters its grants with it).

Policies are made canonical with the same `Aliases` by `reconciler.rules.aliases.canonical_policies`.
Work is per resource (the resources the YAML lists, the heads of its grant groups), never per
grant, except for sets built grant by grant (tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from reconciler.connectors.base import VendorState
from reconciler.errors import LocatedError, ValidationErrors
from reconciler.line_grants import LineGrants
from reconciler.location import Location
from reconciler.records import AccessSet, AccountKey, Grant, Head, Provenance, ResourceKey, Scope
from reconciler.vendors import resource_type, vendor_label

# (vendor, tenant, resource type, resource): a ResourceKey, or the first four fields of a grant.
Key = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class Aliases:
    """(vendor, tenant, resource type) -> {another spelling: the canonical one}; only those that differ."""

    table: Mapping[tuple[str, str, str], Mapping[str, str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(self.table.values())

    def canonical(self, vendor: str, tenant: str, resource_type: str, resource: str) -> str:
        names = self.table.get((vendor, tenant, resource_type))
        return resource if names is None else names.get(resource, resource)

    def spellings(self, vendor: str) -> Iterable[tuple[str, str, Mapping[str, str]]]:
        """(tenant, resource type, {spelling: canonical}) of one vendor."""
        for (v, tenant, rtype), names in self.table.items():
            if v == vendor and names:
                yield tenant, rtype, names


def aliases_of(actual: Mapping[str, VendorState]) -> Aliases:
    """The spellings the synced vendors report (`VendorState.aliases`)."""
    return Aliases(
        {
            (vendor, tenant, rtype): names
            for vendor, state in actual.items()
            for (tenant, rtype), names in state.aliases.items()
            if names
        }
    )


def canonical_scope(scope: Scope, aliases: Aliases) -> Scope:
    """`scope` with each listed resource keyed canonically (two spellings of one: authoritative if
    either is)."""
    moved = _moved(scope.resources, aliases)
    if not moved:
        return scope
    resources: dict[ResourceKey, bool] = {}
    for key, authoritative in scope.resources.items():
        new = ResourceKey(*moved.get(key, key))
        resources[new] = resources.get(new, False) or authoritative
    return Scope(scope.vendors, scope.tenants, resources, scope.all_of)


def canonical_access(access: AccessSet, aliases: Aliases) -> AccessSet:
    """`access` keyed canonically: the same object when nothing is spelled otherwise.

    Raises ValidationErrors, located at the later line, when two listed resources are one."""
    if not aliases:
        return access
    groups = access.grant_groups
    keys: set[Key] = set(access.scope.resources) | set(access.resource_sources)
    keys.update(map(_KEY, groups if groups is not None else access.grants))
    keys.update(map(_KEY, access.expired))
    moved = _moved(keys, aliases)
    if not moved:
        return access
    _check_listed_once(access, moved)

    def key_of(key: Key) -> Key:
        return moved.get(key, key)

    def grant_of(grant: Grant) -> Grant:
        new = moved.get(grant[:4])
        return grant if new is None else Grant(*new, grant[4], grant[5])

    new_groups: dict[Head, Sequence[str]] | None = None
    grants: frozenset[Grant] | None = None
    if groups is not None:  # each head's principals kept as they are (merged only if two heads meet)
        new_groups = {}
        for head, held in groups.items():
            new_head: Head = (*key_of(head[:4]), head[4])
            before = new_groups.get(new_head)
            new_groups[new_head] = held if before is None else list(dict.fromkeys([*before, *held]))
    else:
        grants = frozenset(map(grant_of, access.grants))
    provenance = access.provenance
    if isinstance(provenance, LineGrants):
        renamed: Mapping[Grant | AccountKey, Provenance] = provenance.renamed(moved)
    else:
        renamed = {_renamed_key(k, grant_of): p for k, p in provenance.items()}
    scope = access.scope
    return AccessSet(
        accounts=access.accounts,
        grants=grants,
        provenance=renamed,
        expired={grant_of(g): p for g, p in access.expired.items()},
        scope=Scope(
            scope.vendors,
            scope.tenants,
            {ResourceKey(*key_of(k)): v for k, v in scope.resources.items()},
            scope.all_of,
        ),
        people=access.people,
        resource_sources={ResourceKey(*key_of(k)): where for k, where in access.resource_sources.items()},
        tenant_sources=access.tenant_sources,
        grant_groups=new_groups,
        accounts_of=access.accounts_of,
        account_attributes=access.account_attributes,
        account_lines=access.account_lines,
    )


def _moved(keys: Iterable[Key], aliases: Aliases) -> dict[Key, Key]:
    """Of `keys`, those spelled otherwise than canonically -> their canonical key."""
    table = aliases.table
    moved: dict[Key, Key] = {}
    for key in keys:
        names = table.get(key[:3])
        if names is not None and key[3] in names:
            name = names[key[3]]
            if name != key[3]:
                moved[key] = ResourceKey(key[0], key[1], key[2], name)
    return moved


def _check_listed_once(access: AccessSet, moved: Mapping[Key, Key]) -> None:
    """Two spellings of one resource, both listed: normalize's 'defined twice', at the later line."""
    sources = access.resource_sources
    listed: dict[Key, list[Key]] = {}
    for resource in access.scope.resources:
        listed.setdefault(moved.get(resource, resource), []).append(resource)
    errors: list[LocatedError] = []
    for canonical, spelled in listed.items():
        if len(spelled) < 2:
            continue
        spelled.sort(key=lambda k: _where(sources.get(ResourceKey(*k))))
        first, *later = spelled
        label = resource_type(canonical[0], canonical[2]).label
        also = f" as {first[3]!r}" if first[3] != canonical[3] else ""
        for key in later:
            what = f"{canonical[0]} {label} {key[3]!r}"
            if key[3] != canonical[3]:
                what += f" is {canonical[3]!r} at {vendor_label(canonical[0])}, which"
            errors.append(
                LocatedError(
                    sources.get(ResourceKey(*key)),
                    f"{what} is defined twice (first at {sources.get(ResourceKey(*first), '?')}{also})",
                )
            )
    if errors:
        raise ValidationErrors(errors)


def _renamed_key(key: Grant | AccountKey, grant_of: Callable[[Grant], Grant]) -> Grant | AccountKey:
    return grant_of(key) if len(key) == 6 else key


def _where(location: Location | None) -> tuple[str, int]:
    return ("", 0) if location is None else (location.file, location.line)


_KEY = itemgetter(0, 1, 2, 3)
