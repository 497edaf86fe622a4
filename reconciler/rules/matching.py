"""Does a grant or a change match a policy's `Match`? Names compare ignoring case; globs allowed.

A Concur role is held under its code (`EXP_APPROVER`); a policy may name it by code or by label,
so both sides are compared in canonical form.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from reconciler.catalogs import static_catalog
from reconciler.changes import Change
from reconciler.policy_model import Match, is_glob
from reconciler.records import Grant
from reconciler.vendors import resource_type, vendor_label


def _name_matches(pattern: str, *names: str) -> bool:
    folded = pattern.casefold()
    return any(fnmatchcase(name.casefold(), folded) for name in names if name or pattern == "*")


def resource_matches(match: Match, vendor: str, rtype: str, resource: str) -> bool:
    catalog = static_catalog(vendor, rtype)
    if catalog is None or match.resource == "*":
        return _name_matches(match.resource, resource)
    if is_glob(match.resource):
        return _name_matches(match.resource, resource, catalog.label(resource))
    return catalog.resolve(match.resource) == resource


def matches(match: Match, vendor: str, tenant: str, rtype: str, resource: str, entitlement: str) -> bool:
    return (
        match.vendor == vendor
        and (match.resource_type is None or match.resource_type == rtype)
        and _name_matches(match.tenant, tenant)
        and resource_matches(match, vendor, rtype, resource)
        and _name_matches(match.entitlement, entitlement)
    )


def grant_matches(match: Match, grant: Grant) -> bool:
    return matches(match, grant.vendor, grant.tenant, grant.resource_type, grant.resource, grant.entitlement)


def matching_grants(grants: Iterable[Grant], matches: Sequence[Match]) -> list[Grant]:
    """The grants any of `matches` covers. A match is decided once per distinct (vendor, tenant,
    resource type, resource, entitlement): a million grants share a few hundred of those."""
    if not matches:
        return []
    decided: dict[tuple[str, ...], bool] = {}
    found: list[Grant] = []
    for grant in grants:
        what = grant[:5]
        hit = decided.get(what)
        if hit is None:
            hit = decided[what] = any(grant_matches(m, grant) for m in matches)
        if hit:
            found.append(grant)
    return found


def change_matches(match: Match, change: Change) -> bool:
    entitlement = change.entitlement if not change.is_account_change else ""
    return matches(match, change.vendor, change.tenant, change.resource_type, change.resource, entitlement)


def describe_grant(grant: Grant) -> str:
    """'SAP Concur role Expense Approver', 'Procore project Harbor Tower as Project Manager'."""
    rtype = resource_type(grant.vendor, grant.resource_type)
    catalog = static_catalog(grant.vendor, grant.resource_type)
    name = catalog.label(grant.resource) if catalog else grant.resource
    text = f"{vendor_label(grant.vendor)} {rtype.label} {name}"
    if rtype.entitlement_word == "as":
        text += f" as {grant.entitlement}"
    elif rtype.entitlement_word == "scope" and grant.entitlement != "environment":
        text += f" ({grant.entitlement})"
    return text


def describe_match(match: Match) -> str:
    """'SAP Concur role Expense Approver', 'PingOne role *Admin*', 'any Procore resource'."""
    label = vendor_label(match.vendor)
    rtype = resource_type(match.vendor, match.resource_type).label if match.resource_type else "resource"
    resource = match.resource
    catalog = static_catalog(match.vendor, match.resource_type or "")
    if catalog is not None and not is_glob(resource):
        resource = catalog.label(catalog.resolve(resource) or resource)
    text = f"any {label} {rtype}" if resource == "*" else f"{label} {rtype} {resource}"
    if match.entitlement != "*":
        text += f" ({match.entitlement})"
    return text
