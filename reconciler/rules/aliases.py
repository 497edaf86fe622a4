"""Policies that name a resource by another spelling (a Procore project by its id), keyed canonically.

Changes and desired grants name each resource one way (`reconciler.canonical`); a policy's `Match`
(`resource: "17179869685"`) and an approver rule's `owners:` keys are rewritten with the same
`Aliases`, so a rule written with the id matches the project, and one written with the name is not
escaped by a grant written with the id. A name is resolved in the tenants and resource types the
rule's matches cover; a name that resolves to more than one resource there, a glob, or a name no
vendor reports is left as written.

`canonical_policies(policies, aliases)` is what the gate (and anything else that matches rules
against planned changes) calls with `aliases_of(actual)`; `alias_findings` reports owner lists that
name one resource twice (the first written wins, as for names that differ only in case).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase
from typing import Any, NamedTuple

from pydantic import BaseModel

from reconciler.canonical import Aliases
from reconciler.changes import Finding, Severity
from reconciler.policy_model import ApproverRule, Match, Policies, is_glob
from reconciler.vendors import vendor_label

CODE = "approvers"


def canonical_policies(policies: Policies, aliases: Aliases) -> Policies:
    """`policies` with every `Match.resource` and `owners:` key keyed canonically (the same object
    when nothing is spelled otherwise). Where each setting is written (`Policies.where`) is kept,
    renamed owner keys included."""
    if not aliases:
        return policies
    new: Policies = _walk(policies, aliases)
    if new is policies:
        return policies
    lines = dict(policies._lines)
    for name, rule in policies.approvers.items():
        keys = _owners(rule, aliases).keys
        for path, where in policies._lines.items():
            if path[:3] == ("approvers", name, "owners") and len(path) > 3 and keys.get(str(path[3])):
                lines.setdefault(("approvers", name, "owners", keys[str(path[3])], *path[4:]), where)
    return new.with_lines(lines)


def canonical_match(match: Match, aliases: Aliases) -> Match:
    """`match` with its resource keyed canonically, when it names one resource another way."""
    if match.resource == "*" or is_glob(match.resource):
        return match
    found = {name for _, name in _canonical_names(aliases, (match,), match.resource)}
    if len(found) != 1:
        return match
    (name,) = found
    return match if name == match.resource else match.model_copy(update={"resource": name})


def alias_findings(policies: Policies, aliases: Aliases) -> list[Finding]:
    """An error per owner key that names a resource an earlier key of the same rule names too."""
    findings: list[Finding] = []
    if not aliases:
        return findings
    for name, rule in policies.approvers.items():
        for written, first, canonical, vendor in _owners(rule, aliases).twice:
            findings.append(
                Finding(
                    Severity.ERROR, f"{CODE}/{name}",
                    f"approvers.{name}.owners: {written!r} and {first!r} both name {vendor_label(vendor)}"
                    f" {canonical!r}; only the owners listed under {first!r} count",
                    vendor=vendor, source=policies.where("approvers", name, "owners", written),
                    hint=f"list the owners of {canonical!r} once",
                )
            )  # fmt: skip
    return findings


def _canonical_names(aliases: Aliases, matches: Iterable[Match], name: str) -> Iterator[tuple[str, str]]:
    """(vendor, what `name` stands for) in each tenant and resource type `matches` cover."""
    for match in matches:
        tenant_glob = match.tenant.casefold()
        for tenant, rtype, names in aliases.spellings(match.vendor):
            if match.resource_type not in (None, rtype) or not fnmatchcase(tenant.casefold(), tenant_glob):
                continue
            if name in names:
                yield match.vendor, names[name]


class _Owners(NamedTuple):
    owners: dict[str, list[str]]  # keyed canonically, in the order written
    keys: dict[str, str]  # key as written -> canonical key, where they differ
    twice: list[tuple[str, str, str, str]]  # (key as written, earlier key, canonical, vendor)


def _owners(rule: ApproverRule, aliases: Aliases) -> _Owners:
    """The rule's owners keyed canonically. A key that names what an earlier key did is left out
    (`approvers_for` takes the first name that matches)."""
    found = _Owners({}, {}, [])
    first: dict[str, tuple[str, str]] = {}  # folded canonical key -> (key as written, canonical)
    for key, names in rule.owners.items():
        resolved = set(_canonical_names(aliases, rule.match, key))
        vendor, canonical = resolved.pop() if len(resolved) == 1 else ("", key)
        if canonical != key:
            found.keys[key] = canonical
        earlier = first.get(canonical.casefold())
        if earlier is None:
            first[canonical.casefold()] = (key, canonical)
            found.owners[canonical] = names
        elif canonical != key or earlier[0] != earlier[1]:  # two spellings of one resource
            found.twice.append((key, earlier[0], canonical, vendor or next(m.vendor for m in rule.match)))
        else:  # names that differ in case only: kept, as written
            found.owners[key] = names
    return found


def _walk(value: Any, aliases: Aliases) -> Any:
    """`value` with its matches and owners keyed canonically; the same object where nothing changes."""
    if isinstance(value, Match):
        return canonical_match(value, aliases)
    if isinstance(value, BaseModel):
        update: dict[str, Any] = {}
        for field in type(value).model_fields:
            old = getattr(value, field)
            new = _walk(old, aliases)
            if new is not old:
                update[field] = new
        if isinstance(value, ApproverRule) and value.owners:
            owners = _owners(value, aliases)
            if owners.keys or owners.twice:
                update["owners"] = owners.owners
        return value.model_copy(update=update) if update else value
    if isinstance(value, list):
        items = [_walk(item, aliases) for item in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, dict):
        changed = {k: _walk(v, aliases) for k, v in value.items()}
        return changed if any(changed[k] is not v for k, v in value.items()) else value
    return value
