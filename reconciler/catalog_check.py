"""Plan-time checks of names the YAML uses against what the vendor has: located errors.

A permission template or project that does not exist at Procore is a `file:line` error naming the
closest existing names, found once the vendor's catalogue has been synced.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter

from reconciler.catalogs import closest
from reconciler.connectors.base import VendorState
from reconciler.errors import LocatedError
from reconciler.location import Location
from reconciler.records import AccessSet
from reconciler.vendors import resource_type, vendor_label

_WHAT = itemgetter(0, 1, 2, 3, 4)
_ENTITLEMENT_WORDS = {("procore", "project"): "permission template"}


def check_names(desired: AccessSet, actual: Mapping[str, VendorState]) -> list[LocatedError]:
    errors: dict[tuple[str, str], LocatedError] = {}
    # (vendor, tenant, type, resource, entitlement) found to exist: a few hundred distinct among a
    # million grants, gathered in C and checked once each; the grants are walked only when one is not.
    known_good: set[tuple[str, ...]] = set()
    groups = desired.grant_groups
    named = set(groups) if groups is not None else set(map(_WHAT, desired.grants))
    for what in named:
        state = actual.get(what[0])
        if state is None or _exists(state, what[2], what[3], what[4]):
            known_good.add(what)
    for grant in desired.grants if len(known_good) < len(named) else ():
        what = grant[:5]
        if what in known_good:
            continue
        state = actual.get(grant.vendor)
        if state is None:
            continue
        if _exists(state, grant.resource_type, grant.resource, grant.entitlement):
            known_good.add(what)
            continue
        provenance = desired.provenance.get(grant)
        where = provenance.source if provenance and provenance.source else Location("access", 0)
        rtype = resource_type(grant.vendor, grant.resource_type)
        label = f"{vendor_label(grant.vendor)} {rtype.label}"
        known_resources = state.known_resources.get(grant.resource_type)
        if known_resources is not None and grant.resource not in known_resources:
            # at the resource's own line, not at one of its members'
            where = desired.resource_sources.get(grant.resource_key, where)
            key = (str(where), grant.resource)
            errors.setdefault(key, LocatedError(where, _unknown(f"{label}", grant.resource, known_resources)))
            continue
        known = state.catalog.get(grant.resource_type)
        if known is not None and grant.entitlement not in known:
            word = _ENTITLEMENT_WORDS.get((grant.vendor, grant.resource_type), "entitlement")
            key = (str(where), grant.entitlement)
            errors.setdefault(
                key,
                LocatedError(
                    where, _unknown(f"{vendor_label(grant.vendor)} {word}", grant.entitlement, known)
                ),
            )
    _check_populations(desired, actual, errors)
    return list(errors.values())


def _check_populations(
    desired: AccessSet, actual: Mapping[str, VendorState], errors: dict[tuple[str, str], LocatedError]
) -> None:
    """A population the YAML puts accounts in must exist (PingOne), or apply fails creating them."""
    for key, where in desired.resource_sources.items():
        state = actual.get(key.vendor)
        if key.resource_type != "population" or state is None:
            continue
        known = state.known_resources.get("population")
        if known is not None and key.resource not in known:
            label = f"{vendor_label(key.vendor)} population"
            errors.setdefault(
                (str(where), key.resource), LocatedError(where, _unknown(label, key.resource, known))
            )


def _exists(state: VendorState, rtype: str, resource: str, entitlement: str) -> bool:
    known_resources = state.known_resources.get(rtype)
    if known_resources is not None and resource not in known_resources:
        return False
    known = state.catalog.get(rtype)
    return known is None or entitlement in known


def _unknown(what: str, name: str, known: frozenset[str]) -> str:
    found = closest(name, sorted(known), 3)
    hint = f"; closest: {', '.join(repr(f) for f in found)}" if found else ""
    return f"{what} {name!r} does not exist{hint}"
