"""Seats (pure): the accounts a plan leaves each vendor with, against the budget in policies/ and the
licence the vendor reports.

`recount` counts the plan's account creations, re-enablings and deactivations again (after
protected changes were dropped); `budget_findings` compares the active accounts after the plan with
`seats:` in policies/ (a finding of the budget's severity, at its file:line); `with_licences` adds
what the vendors' licences allow (PingOne's `users.max`: identities, active or not) and a warning
when the plan would hold more.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from reconciler.changes import Finding, Plan, Seats, Severity, count_seats
from reconciler.policy_model import SeatBudgets
from reconciler.vendors import vendor_label

BUDGET = "seat-budget"
LICENCE = "seat-licence"


def recount(plan: Plan, budgets: SeatBudgets | None = None) -> Plan:
    """`plan` with its seats counted from its changes as they are now (and `budgets` set)."""
    if not plan.seats:
        return plan
    kept = {s.vendor: s for s in plan.seats}
    counted = count_seats(plan.changes, {s.vendor: (s.active, s.held) for s in plan.seats})
    seats = tuple(
        dataclasses.replace(
            s,
            budget=_budget(budgets, s.vendor) if budgets is not None else kept[s.vendor].budget,
            licensed=kept[s.vendor].licensed,
            licence_note=kept[s.vendor].licence_note,
        )
        for s in counted
    )
    return dataclasses.replace(plan, seats=seats)


def _budget(budgets: SeatBudgets, vendor: str) -> int | None:
    found = budgets.of(vendor)
    return found.max if found is not None else None


def budget_findings(plan: Plan, budgets: SeatBudgets, where: Mapping[str, str]) -> list[Finding]:
    """A finding per vendor whose active accounts after the plan exceed its budget. `where`: vendor ->
    the budget's file:line."""
    findings: list[Finding] = []
    for seats in plan.seats:
        budget = budgets.of(seats.vendor)
        if budget is None or seats.after <= budget.max:
            continue
        findings.append(
            Finding(
                Severity(budget.severity), BUDGET,
                f"{vendor_label(seats.vendor)}: {seats.after} active accounts after this plan "
                f"({_how(seats)}), over the budget of {budget.max} seats by {seats.after - budget.max}",
                vendor=seats.vendor, source=where.get(seats.vendor, ""),
                hint="deactivate accounts nobody needs, or raise the budget in policies/ (reviewed by the policy owners)",
            )
        )  # fmt: skip
    return findings


def with_licences(plan: Plan, licences: Mapping[str, tuple[int | None, str]]) -> Plan:
    """`plan` with each vendor's licensed identities (vendor -> (figure, why none)) and a warning
    where the plan would hold more accounts than the licence allows."""
    if not licences:
        return plan
    seats: list[Seats] = []
    findings = list(plan.findings)
    for s in plan.seats:
        if s.vendor not in licences:
            seats.append(s)
            continue
        licensed, note = licences[s.vendor]
        s = dataclasses.replace(s, licensed=licensed, licence_note="" if licensed is not None else note)
        seats.append(s)
        if licensed is not None and s.held_after > licensed:
            findings.append(
                Finding(
                    Severity.WARNING, LICENCE,
                    f"{vendor_label(s.vendor)}: {s.held_after} accounts after this plan ({_how(s, held=True)}), "
                    f"more than the {licensed} identities its licence allows",
                    vendor=s.vendor,
                    hint="delete accounts nobody needs (`deprovision: delete`), or extend the licence",
                )
            )  # fmt: skip
    return dataclasses.replace(plan, seats=tuple(seats), findings=tuple(findings))


def _how(seats: Seats, *, held: bool = False) -> str:
    """'12 now, 3 to create, 1 to deactivate'."""
    parts = [f"{seats.held if held else seats.active} now"]
    if seats.create:
        parts.append(f"{seats.create} to create")
    if seats.reactivate and not held:
        parts.append(f"{seats.reactivate} to re-enable")
    if held and seats.delete:
        parts.append(f"{seats.delete} to delete")
    elif seats.deactivate and not held:
        parts.append(f"{seats.deactivate} to deactivate")
    return ", ".join(parts)
