"""How changes read, shared by every renderer."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from reconciler.catalogs import static_catalog
from reconciler.changes import Action, Change, Plan, Seats
from reconciler.vendors import resource_type, vendor_label

SIGNS: dict[Action, str] = {
    Action.CREATE_ACCOUNT: "+",
    Action.GRANT: "+",
    Action.UPDATE: "~",
    Action.REVOKE: "-",
    Action.DEACTIVATE_ACCOUNT: "-",
}

VERBS: dict[Action, str] = {
    Action.CREATE_ACCOUNT: "create account",
    Action.GRANT: "grant",
    Action.UPDATE: "update",
    Action.REVOKE: "revoke",
    Action.DEACTIVATE_ACCOUNT: "deactivate account",
}


def resource_name(change: Change) -> str:
    catalog = static_catalog(change.vendor, change.resource_type)
    name = catalog.label(change.resource) if catalog else change.resource
    return name


def entitlement_text(change: Change) -> str:
    """What is held on the resource: 'as Project Engineer', '(population/Contractors)', ''."""
    rtype = resource_type(change.vendor, change.resource_type)
    if change.action is Action.UPDATE:
        return f"{change.before or '(none)'} → {change.entitlement}"
    if rtype.entitlement_word == "as":
        return f"as {change.entitlement}"
    if rtype.entitlement_word == "scope":
        return f"({change.entitlement})"
    return ""


def target(change: Change) -> str:
    """The object of the change without the vendor: 'project Harbor Tower as Project Engineer'."""
    if change.is_account_change:
        tenant = f" in company {change.tenant}" if change.tenant and change.vendor == "procore" else ""
        if change.action is Action.UPDATE:
            return f"account {change.resource}: {change.before or '(none)'} → {change.entitlement}{tenant}"
        return f"account{tenant}"
    rtype = resource_type(change.vendor, change.resource_type)
    words = [rtype.label, resource_name(change)]
    extra = entitlement_text(change)
    if extra and change.action is Action.UPDATE:
        words[-1] += ":"
    if extra:
        words.append(extra)
    return " ".join(words)


def who(change: Change) -> str:
    return change.person or change.principal


def explain(change: Change) -> str:
    """source, reason, expiry, note: why this change is planned."""
    bits = [b for b in (change.source, change.reason, f"expires {change.expires}" if change.expires and
                        change.action is not Action.REVOKE else "", change.note) if b]  # fmt: skip
    return "; ".join(bits)


def per_person(changes: Iterable[Change]) -> dict[str, list[Change]]:
    grouped: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        grouped[who(change)].append(change)
    return dict(sorted(grouped.items()))


def person_line(person: str, changes: list[Change]) -> str:
    """'alice: + Procore project Harbor Tower as Project Engineer, - SAP Concur role Expense Approver'."""
    parts = [f"{SIGNS[c.action]} {vendor_label(c.vendor)} {target(c)}" for c in changes]
    return f"{person}: " + ", ".join(parts)


def shown_seats(plan: Plan) -> list[Seats]:
    """The vendors whose seats a plan shows: those it creates, re-enables or deactivates accounts at,
    or that have a budget or a licence figure."""
    return [s for s in plan.seats if s.changes or s.budget is not None or s.licensed is not None]


def seats_line(seats: Seats) -> str:
    """'SAP Concur: 12 now, 1 to create → 13 (budget 20; licence 50 identities)'."""
    parts = [f"{seats.active} now"]
    if seats.create:
        parts.append(f"{seats.create} to create")
    if seats.reactivate:
        parts.append(f"{seats.reactivate} to re-enable")
    if seats.deactivate:
        parts.append(f"{seats.deactivate} to deactivate")
    extra = []
    if seats.budget is not None:
        over = seats.after - seats.budget
        extra.append(f"budget {seats.budget}" + (f", {over} over" if over > 0 else ""))
    if seats.licensed is not None:
        extra.append(f"licence {seats.licensed} identities, {seats.held_after} after this plan")
    tail = f" ({'; '.join(extra)})" if extra else ""
    return f"{vendor_label(seats.vendor)}: {', '.join(parts)} → {seats.after}{tail}"
